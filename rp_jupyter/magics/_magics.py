"""The magics: ``%%rp_handler``, ``%rp_run`` / ``%%rp_run``, ``%rp_jobs``."""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Float, observe

from .. import session
from ..exceptions import UsageProblem
from ..runtime import DEFAULT_EXECUTION_TIMEOUT, DEFAULT_STALL_THRESHOLD, HandlerSpec
from ..widgets import JobsPanel, RunForm
from . import _comm
from ._args import parse_flags
from ._bench import BenchMagics
from ._display import JobsTable
from ._export import ExportMagics, unload_export
from ._request import load_json, parse_run_line, read_request_file
from ._serve import ServeMagics
from ._serve import unload as unload_serve
from ._show import has_widgets, install_display, uninstall_display
from ._tests import TestsMagics, retest
from ._worker_cell import run_as_worker_module

__all__ = ["RunPodMagics", "load", "unload"]

_MISSING = object()


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Our "you called it wrong" errors become IPython's one-line ``UsageError``."""
    try:
        yield
    except UsageProblem as exc:
        raise UsageError(str(exc)) from None


def _fixed_concurrency(n: int) -> Callable[[int], int]:
    def concurrency_modifier(current: int) -> int:
        return n

    concurrency_modifier.fixed_concurrency = n  # type: ignore[attr-defined]  # read by export
    return concurrency_modifier


@magics_class
class RunPodMagics(Magics):
    """Develop RunPod Serverless handlers in the kernel. Settings work with ``%config``."""

    sync_wait = Float(
        90.0, config=True, help="Seconds %rp_run --sync waits before returning the job's status (RunPod: 90)."
    )
    execution_timeout = Float(
        DEFAULT_EXECUTION_TIMEOUT,
        config=True,
        help="Default execution timeout of handlers in seconds (RunPod's default: 600); 0 = none.",
    )
    watchdog_threshold = Float(
        DEFAULT_STALL_THRESHOLD,
        config=True,
        help="Seconds a handler may block its event loop (or ignore a cancel or timeout) before its job's "
        "warnings say where it is stuck, and a stopped call is abandoned.",
    )

    @observe("watchdog_threshold")
    def _threshold_changed(self, change: dict[str, Any]) -> None:
        with _usage_errors():
            session.configure(stall_threshold=change["new"])

    @magic_arguments()
    @argument("name", nargs="?", help="endpoint name for the handler (default: the function's name)")
    @argument("--aggregate", action="store_true", help="return_aggregate_stream=True for generators")
    @argument("--concurrency", type=int, metavar="N", help="a fixed concurrency_modifier returning N")
    @argument("--timeout", type=float, metavar="S", help="execution timeout in seconds (0 = none)")
    @argument("--tokenizer", metavar="FN", help="a function text -> token count, for the views' tokens/s")
    @argument("--retest", action="store_true", help="replay the handler's kept tests (%%rp_tests) once registered")
    @no_var_expand
    @line_cell_magic
    def rp_handler(self, line: str, cell: str | None = None) -> None:
        """%%rp_handler [NAME] [--aggregate] [--concurrency N] [--timeout S] [--retest]

        Run the cell (a RunPod handler.py, ``runpod.serverless.start({...})`` line included) and
        register its handler: the one passed to ``start``, else the function named ``handler``.
        """
        if cell is None:
            raise UsageError("%%rp_handler is a cell magic: put it on the first line of the handler's cell")
        args = parse_flags(self.rp_handler, line)
        if args.concurrency is not None and args.concurrency < 1:
            raise UsageError(f"--concurrency takes a whole number >= 1, got {args.concurrency}")
        if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout >= 0):
            raise UsageError(f"--timeout takes a finite number of seconds >= 0 (0 = none), got {args.timeout}")
        config = self._run_handler_cell(cell)
        overrides: dict[str, Any] = {"execution_timeout": self.execution_timeout}
        if args.aggregate:
            overrides["return_aggregate_stream"] = True
        if args.concurrency is not None:
            overrides["concurrency_modifier"] = _fixed_concurrency(args.concurrency)
        if args.timeout is not None:
            overrides["execution_timeout"] = args.timeout
        if args.tokenizer is not None:
            overrides["tokenizer"] = self._user_function(args.tokenizer)
        with _usage_errors():
            replaced = args.name or getattr(config["handler"], "__name__", None)
            existed = replaced in session.get_runtime().handlers
            spec = session.register_config(config, args.name, **overrides)
        print(_registered_line(spec, existed))
        if args.retest:
            retest(self.shell, spec.name)

    def _user_function(self, name: str) -> Any:
        found = self.shell.user_ns.get(name) if self.shell is not None else None
        if not callable(found):
            raise UsageError(f"--tokenizer {name}: no function named {name!r} in the notebook")
        return found

    def _run_handler_cell(self, cell: str) -> dict[str, Any]:
        shell = self.shell
        assert shell is not None, "magics are registered with a shell"
        before = shell.user_ns.get("handler", _MISSING)
        with session.capture_starts() as configs:
            outcome = run_as_worker_module(shell, cell)
        if outcome is not None:
            raise UsageError(outcome)
        if configs:
            return configs[-1]
        found = shell.user_ns.get("handler", _MISSING)
        if found is _MISSING or found is before or not callable(found):
            raise UsageError(
                "no handler found: the cell neither calls runpod.serverless.start({\"handler\": ...}) "
                "nor defines a function named handler"
            )
        return configs.handler_config(found)  # with the prestart hooks the cell registered

    @no_var_expand
    @line_cell_magic
    def rp_run(self, line: str, cell: str | None = None) -> Any:
        """%rp_run NAME [REQUEST_JSON] [--file PATH] [--sync] [--wait S] [--endpoint ID_OR_URL]

        Queue a job (``POST /run``) and return the Job at once; with ``--sync`` wait as ``/runsync``
        does and return its body. As a cell magic the body is the request JSON. Without a request,
        ``./test_input.json`` is used, as RunPod's local mode does.
        """
        args = parse_run_line(line)
        if cell is not None and cell.strip():
            if args.request is not None or args.file:
                raise UsageError("give the request either in the cell body or on the magic line, not both")
            args.request = load_json(cell, "the cell's request")
        elif args.file:
            args.request = read_request_file(args.file)
        elif args.request is None:
            if not os.path.exists("test_input.json"):
                raise UsageError(
                    "no request: give JSON (%rp_run NAME {\"input\": {...}}), --file PATH, "
                    "or put the JSON in a %%rp_run cell"
                )
            args.request = read_request_file("test_input.json")
        with _usage_errors():
            if args.endpoint:
                return _run_remote(args)
            if args.sync:
                wait = args.wait if args.wait is not None else self.sync_wait
                try:
                    return session.run_sync(args.name, args.request, wait=wait)
                except KeyboardInterrupt as exc:  # the job is cancelled: the runtime's frames are noise
                    raise exc.with_traceback(None) from None
            return session.run(args.name, args.request)

    @line_magic
    def rp_jobs(self, line: str) -> Any:
        """%rp_jobs — the jobs of this kernel, live: state, handler, times; click one to open its view."""
        if line.strip():
            raise UsageError("%rp_jobs takes no arguments")
        if has_widgets(self.shell):
            return JobsPanel(session.get_runtime())
        return JobsTable(session.jobs())

    @line_magic
    def rp_ui(self, line: str) -> Any:
        """%rp_ui NAME — a request editor for handler NAME with Run / Cancel and its jobs' history."""
        name = line.strip()
        if not name or " " in name:
            raise UsageError("usage: %rp_ui NAME")
        with _usage_errors():
            session.get_runtime().handler(name)
        if not has_widgets(self.shell):
            raise UsageError("%rp_ui needs a Jupyter front end with widgets; use %rp_run in a terminal")
        return RunForm(name, lambda request: session.run(name, request), session.get_runtime(),
                       _initial_request(name))


def _run_remote(args: Any) -> Any:
    """``%rp_run NAME --endpoint ID_OR_URL``: the same request on a RunPod endpoint; NAME labels the job."""
    from .._remote import endpoint_for

    endpoint = endpoint_for(args.endpoint)
    if args.sync:
        return endpoint.run_sync(args.request, round(args.wait * 1000) if args.wait else None)
    return endpoint.run(args.request, label=args.name)


def _initial_request(name: str) -> str:
    """The form's first text: the handler's last request, else ./test_input.json, else an empty input."""
    for job in reversed(session.jobs()):
        if job.handler == name:
            return json.dumps(job.request, indent=2, ensure_ascii=False)
    if os.path.exists("test_input.json"):
        with open("test_input.json", encoding="utf-8") as handle:
            return handle.read()
    return '{\n  "input": {}\n}'


def _registered_line(spec: HandlerSpec, replaced: bool) -> str:
    verb = "replaced" if replaced else "registered"
    return f"rp_jupyter: {verb} handler {spec.name!r} ({spec.describe()})"


_loaded: list[Any] = []
MAGICS: tuple[type[Magics], ...] = (RunPodMagics, ExportMagics, ServeMagics, BenchMagics, TestsMagics)
"""Every magics class of the extension: registered on load, removed on unload."""


def load(ipython: Any) -> None:
    if ipython is None:
        raise RuntimeError("rp_jupyter's magics need an IPython shell (use %load_ext rp_jupyter)")
    for magics in MAGICS:
        ipython.register_magics(magics)
    install_display(ipython)
    session.install_bridge()
    session.configure(namer=_cell_namer(ipython))
    _comm.register(ipython)  # the JupyterLab extension's comm target (labextension/)
    if not _loaded:
        atexit.register(session.shutdown)
    _loaded.append(ipython)


def _cell_namer(ipython: Any) -> Callable[[str, int], str]:
    """Names code in warnings as IPython's tracebacks do: ``In[5], line 7`` for a cell's code."""

    def name(filename: str, lineno: int) -> str:
        number = getattr(getattr(ipython, "compile", None), "_filename_map", {}).get(filename)
        return f"In[{number}], line {lineno}" if number is not None else f"{filename}, line {lineno}"

    return name


def unload(ipython: Any) -> None:
    _comm.unregister(ipython)
    uninstall_display(ipython)
    runtime = session.current_runtime()
    cancelled = session.shutdown()
    if cancelled:
        print(f"rp_jupyter: cancelled {len(cancelled)} running job(s) while unloading: "
              + ", ".join(f"{job.id} ({job.handler})" for job in cancelled), file=sys.stderr)
    for call in runtime.abandoned if runtime is not None else []:
        print(f"rp_jupyter: unloaded, leaving an {call.describe()}", file=sys.stderr)
    atexit.unregister(session.shutdown)
    _loaded.clear()
    unload_export()
    unload_serve(ipython)
    registered = ipython.magics_manager.magics
    for magics in MAGICS:
        for kind, names in magics.magics.items():
            for name in names:
                registered[kind].pop(name, None)
