"""The ``rp_jupyter`` comm: the JupyterLab extension's view of this kernel's runtime, and its commands.

Out (kernel → pages): ``{"type": "hello", "target"}`` once on ``%load_ext``; ``{"type": "snapshot", ...}``
— handlers, the latest jobs with their states and times (a concurrency-lab run as one entry of
``lab_runs``), state counts, the GPU name (or "CPU"), which magics exist and the local server's URL —
sent only when it changed, through the views' clock (≤ 5 a second, at once when a job ends), never per
chunk; ``{"type": "ack", "id"}`` when a command starts and ``{"type": "reply", "id", "ok", "text"}``
when it ends; ``{"type": "bye"}`` on ``%unload_ext``.
In (pages → kernel): ``subscribe``, ``run`` (a handler with its last request), ``cancel``, ``export``
(through ``%rp_export``, ``hub`` adds ``--hub``), ``serve`` / ``stop_serve`` (through ``%rp_serve``),
``keep`` (a job kept as a test, through ``%rp_tests add``).

One comm for the kernel, owned by it and never opened on a page (see :class:`Hub`): a page load leaves
nothing behind, and the page never sends comm messages over a kernel subshell.
No key of the data is named ``state``: nbclient would store it as widget state.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from typing import Any

from .. import session
from ..runtime import HandlerSpec, Job, JobEvent, JobStatus
from ..widgets._clock import CLOCK, keep_page_shell
from ..widgets._jobs_table import abandoned_lines, group_of, lab_runs

__all__ = ["TARGET", "gpu_name", "handler_info", "job_info", "register", "snapshot", "unregister"]

TARGET = "rp_jupyter"
MAX_JOBS = 100
MIN_INTERVAL = 0.2  # s between snapshots while jobs only progress; a finished job is sent at once
MAX_ANSWERS = 200  # answers kept for retried command ids
MAX_LAB_RUNS = 20
_PREVIEW = 200


# ---- the snapshot: plain data, built from the runtime -----------------------------------------
def handler_info(spec: HandlerSpec, jobs: list[Job]) -> dict[str, Any]:
    modifier = spec.concurrency_modifier
    fixed = getattr(modifier, "fixed_concurrency", None)
    concurrency: Any = fixed if fixed is not None else getattr(modifier, "__name__", "modifier") if modifier else 1
    mine = [job for job in jobs if job.handler == spec.name]
    return {
        "name": spec.name,
        "kind": str(spec.kind),
        "aggregate": spec.return_aggregate_stream,
        "concurrency": concurrency,
        "refresh_worker": spec.refresh_worker,
        "timeout": spec.execution_timeout,
        "jobs": len(mine),
        "request": _preview(last_request(spec.name, mine)),
    }


def job_info(job: Job) -> dict[str, Any]:
    progress = job.progress if job.status is JobStatus.IN_PROGRESS else None
    return {
        "id": job.id,
        "handler": job.handler,
        "status": job.status.value,
        "submitted_at": job.submitted_at,
        "delay_ms": job.delay_time,
        "execution_ms": job.execution_time,
        "elapsed_s": round(job.elapsed, 3),
        "progress": None if progress is None else _preview(progress),
        "chunks": len(job.stream),
    }


def snapshot(handlers: dict[str, HandlerSpec], jobs: list[Job], gpu: str | None,
             features: dict[str, bool], server: str | None, abandoned: list[str] | None = None) -> dict[str, Any]:
    """What the sidebar and the status bar show. A concurrency-lab run's jobs (and its probe handlers)
    are one entry of ``lab_runs``, not 80 jobs; the counts still count every job (the status bar).
    ``abandoned``: the runtime's abandoned calls still running, one line each."""
    counts = {status.value: 0 for status in JobStatus}
    for job in jobs:
        counts[job.status.value] += 1
    plain, runs = lab_runs(jobs)
    return {
        "type": "snapshot",
        "handlers": [handler_info(spec, plain) for name, spec in sorted(handlers.items()) if group_of(name) is None],
        "jobs": [job_info(job) for job in plain[-MAX_JOBS:]],
        "lab_runs": [{key: run[key] for key in ("run", "handler", "jobs", "levels", "counts", "status")}
                     for run in runs[-MAX_LAB_RUNS:]],
        "counts": counts,
        "gpu": gpu,
        "features": features,
        "server": server,
        "abandoned": abandoned or [],
    }


def last_request(name: str, jobs: list[Job]) -> dict[str, Any]:
    """The request "Run" sends: the handler's last one, else ./test_input.json, else an empty input."""
    for job in reversed(jobs):
        if job.handler == name:
            return job.request
    try:
        with open("test_input.json", encoding="utf-8") as handle:
            found = json.load(handle)
        if isinstance(found, dict):
            return found
    except (OSError, ValueError):
        pass
    return {"input": {}}


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


_gpu: list[str] = []


def gpu_name() -> str:
    """torch's device name when torch is already imported, else ``nvidia-smi -L`` (once), else "CPU"."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return str(torch.cuda.get_device_name(0))
        except Exception:
            pass
    if not _gpu:
        _gpu.append(_nvidia_smi() or "CPU")
    return _gpu[0]


def _nvidia_smi() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = next((line for line in out.splitlines() if line.startswith("GPU ")), None)
    if first is None:
        return None
    name = first.split(":", 1)[1].split("(UUID")[0].strip()
    return name or None


# ---- the hub: the kernel's comm, subscriptions, commands -----------------------------------------
class Hub:
    """The kernel's one ``rp_jupyter`` comm, shared by every page; flushed by the views' clock.

    The kernel owns the comm and never opens it on a page (no ``comm_open``): pages find it with
    ``comm_info`` or through the ``hello`` it broadcasts on ``%load_ext``, and talk to it with plain
    ``comm_msg`` on the main shell channel. So a page load creates nothing in the kernel — no comm, no
    subshell — and every snapshot is sent once, whatever the number of pages. Commands carry an id: the
    kernel acks it when it starts (a page that hears no ack within 5 s says the kernel is busy and offers
    Retry), and a retried id gets the first answer again instead of running twice.

    Snapshots flow from ``%load_ext`` on, whether a page listens or not (≤ 5 a second, only when something
    changed, never per chunk): a page's ``subscribe`` is a comm message on the main shell, which waits
    behind a running Run All, while snapshots leave from the clock's thread — so the sidebar follows a
    Run All as it happens.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.comm: Any = None
        self.closed = False
        self._runtime: Any = None
        self._unsubscribe: Any = None
        self._gpu: str | None = None
        self._last_text = ""
        self._last_sent = 0.0
        self._ended = False  # a job ended since the last snapshot: send it now, whatever the interval
        self._lock = threading.Lock()
        self._answers: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()

    # -- the comm
    def announce(self) -> None:
        """Create the kernel's comm (registered, not opened on any page) and say hello to open pages."""
        from comm import create_comm, get_comm_manager

        self.comm = create_comm(target_name=TARGET, primary=False)
        keep_page_shell(self.comm)  # pages send on the main shell: route there (see keep_page_shell)
        get_comm_manager().register_comm(self.comm)
        self.comm.on_msg(self.on_message)
        self.comm.on_close(self._reopen)
        self.comm.send({"type": "hello", "target": TARGET})
        self.refresh(urgent=True)

    def _reopen(self, msg: dict[str, Any]) -> None:
        """A front end closed the comm (one that does not know it): make a new one, so pages find it."""
        if not self.closed:
            self.announce()

    def close(self) -> None:
        """Say goodbye and forget the comm (pages reset); no ``comm_close``: no page holds a comm to close."""
        self.closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.comm is not None:
            from comm import get_comm_manager

            with contextlib.suppress(Exception):
                self.comm.send({"type": "bye"})
            self.comm._closed = True  # nothing to close on the pages' side
            get_comm_manager().comms.pop(self.comm.comm_id, None)

    def _send(self, data: dict[str, Any]) -> None:
        if self.comm is not None and not self.closed:
            self.comm.send(data)

    # -- commands (the kernel's main thread, between cells)
    def on_message(self, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data") or {}
        command, request_id = data.get("cmd"), data.get("id")
        if command == "subscribe":
            self._last_text = ""  # a new page needs the whole picture
            self.refresh(urgent=True)
            return
        if request_id is not None and str(request_id) in self._answers:  # a retry: the first answer again
            self._send(self._answers[str(request_id)])
            return
        self._send({"type": "ack", "id": request_id})
        reply = {"type": "reply", "id": request_id, **self._run(command, data)}
        if request_id is not None:
            self._answers[str(request_id)] = reply
            while len(self._answers) > MAX_ANSWERS:
                self._answers.popitem(last=False)
        self._send(reply)
        self.refresh(urgent=True)

    def _run(self, command: Any, data: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            return {"ok": False, "text": f"unknown command {command!r}"}
        extra: dict[str, Any] = {}
        try:
            ok, text, *more = handler(data)
            extra = more[0] if more else {}
        except Exception as exc:  # the lab shows it; the kernel goes on
            ok, text = False, f"{type(exc).__name__}: {exc}"
        return {"ok": ok, "text": text, **extra}

    def _cmd_run(self, data: dict[str, Any]) -> tuple[bool, str]:
        name = str(data["handler"])
        request = last_request(name, session.jobs())
        job = session.run(name, request)
        return True, f"job {job.id} queued for {name!r}"

    def _cmd_cancel(self, data: dict[str, Any]) -> tuple[bool, str]:
        job = next((j for j in session.jobs() if j.id == data["job"]), None)
        if job is None:
            return False, f"no job {data['job']!r} in this kernel"
        job.cancel()
        return True, f"job {job.id}: {job.status.value}"

    def _cmd_export(self, data: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        """``%rp_export``; the reply also gives the folder, absolute (the dialog links it in the file browser)."""
        line = shlex.join([str(data["handler"]), "--out", str(data["out"])])
        if data.get("base_image"):
            line += " " + shlex.join(["--base-image", str(data["base_image"])])
        if data.get("hub"):
            line += " --hub"
        ok, text = self._magic("rp_export", line)
        from ..exporter import expand_path  # here: %load_ext does not import the exporter

        return ok, text, ({"directory": os.path.abspath(expand_path(str(data["out"])))} if ok else {})

    def _cmd_keep(self, data: dict[str, Any]) -> tuple[bool, str]:
        return self._magic("rp_tests", shlex.join(["add", str(data["handler"]), str(data["job"])]))

    def _cmd_serve(self, data: dict[str, Any]) -> tuple[bool, str]:
        return self._magic("rp_serve", f"--port {int(data.get('port', 8000))}")

    def _cmd_stop_serve(self, data: dict[str, Any]) -> tuple[bool, str]:
        return self._magic("rp_serve", "--stop")

    def _magic(self, name: str, line: str) -> tuple[bool, str]:
        """Run ``%name line`` as the user would; its printed and returned text is the reply."""
        if name not in self.shell.magics_manager.magics["line"]:
            return False, f"%{name} is not available in this kernel"
        from IPython.utils.capture import capture_output

        with capture_output(display=False) as captured:
            try:
                value = self.shell.run_line_magic(name, line)
            except Exception as exc:
                return False, (captured.stdout + f"{type(exc).__name__}: {exc}").strip()
        shown = self.shell.display_formatter.format(value)[0].get("text/plain", "") if value is not None else ""
        return True, (captured.stdout + captured.stderr + shown).strip()

    # -- updates
    def refresh(self, urgent: bool = False) -> None:
        """Re-read the runtime (handlers come and go with cells) and schedule a flush."""
        if self.closed or self.comm is None:
            return
        runtime = session.get_runtime()
        if runtime is not self._runtime:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._runtime, self._unsubscribe = runtime, runtime.subscribe(self._on_event)
        CLOCK.mark(self, urgent=urgent)

    def _on_event(self, event: JobEvent) -> None:  # the runtime's thread: cheap
        if event.kind not in ("chunk", "log") and not self.closed:
            if event.kind == "finished":
                self._ended = True
            CLOCK.mark(self, urgent=event.kind == "finished")

    def flush(self) -> None:  # the clock's thread
        if self.closed or self.comm is None or self._runtime is None:
            return
        with self._lock:
            now = time.monotonic()
            if now - self._last_sent < MIN_INTERVAL and not self._ended:
                CLOCK.mark(self)
                return
            self._ended = False
            if self._gpu is None:  # here, on the clock's thread: nvidia-smi never delays %load_ext or a cell
                self._gpu = gpu_name()
            data = snapshot(self._runtime.handlers, self._runtime.jobs, self._gpu, self._features(),
                            self._server_url(), abandoned_lines(self._runtime))
            text = json.dumps(data, sort_keys=True, default=repr)
            if text == self._last_text:
                return
            self._last_text, self._last_sent = text, now
        self._send(json.loads(text))

    def _features(self) -> dict[str, bool]:
        line = self.shell.magics_manager.magics["line"]
        return {"export": "rp_export" in line, "serve": "rp_serve" in line, "tests": "rp_tests" in line}

    @staticmethod
    def _server_url() -> str | None:
        server = getattr(session, "_server", None)  # the server %rp_serve started, if any
        return getattr(server, "base_url", None) if server is not None else None


# ---- load / unload ------------------------------------------------------------------------------
_hubs: list[Hub] = []


def register(ipython: Any) -> None:
    """Create the kernel's comm and say hello to open pages; a refresh after each cell."""
    if getattr(ipython, "kernel", None) is None or os.environ.get("RP_JUPYTER_NO_COMM"):
        return  # a terminal IPython: no front end to talk to
    unregister(ipython)
    hub = Hub(ipython)
    _hubs.append(hub)
    ipython.events.register("post_run_cell", _after_cell)
    hub.announce()


def unregister(ipython: Any) -> None:
    while _hubs:
        _hubs.pop().close()
        with contextlib.suppress(ValueError):
            ipython.events.unregister("post_run_cell", _after_cell)


def _after_cell(result: Any = None) -> None:
    for hub in _hubs:
        hub.refresh()
