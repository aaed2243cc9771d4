"""``%rp_bench NAME [--requests FILE] [--concurrency 1,2,4,8,16] [--jobs N]``: the concurrency lab."""

from __future__ import annotations

import json
import os
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import Image, display

from .. import lab, session
from ..exceptions import MissingDependencyError, UsageProblem
from ._args import parse_flags
from ._request import read_request_file

__all__ = ["BenchMagics"]


def _levels(text: str) -> list[int]:
    try:
        levels = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UsageError(f"--concurrency takes whole numbers separated by commas, got {text!r}") from None
    if not levels or levels[0] < 1:
        raise UsageError(f"--concurrency levels must be >= 1, got {text!r}")
    return levels


def _requests(path: str | None, name: str) -> list[Any]:
    """Requests from a file (one request, a list of them, or JSON lines), else the handler's last one."""
    if path is not None:
        if not os.path.isfile(path):
            raise UsageError(f"cannot read the requests file {path!r}: no such file")
        try:
            loaded = read_request_file(path)
        except UsageError:
            loaded = _json_lines(path)
        return loaded if isinstance(loaded, list) else [loaded]
    for job in reversed(session.jobs()):
        if job.handler == name:
            return [job.request]
    raise UsageError(f"no request to bench {name!r} with: run a job first (%rp_run {name} ...) or pass --requests FILE")


def _json_lines(path: str) -> list[Any]:
    with open(path, encoding="utf-8") as handle:
        try:
            return [json.loads(line) for line in handle if line.strip()]
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path} is neither JSON nor JSON lines: {exc.msg} at line {exc.lineno}") from None


@magics_class
class BenchMagics(Magics):
    @magic_arguments()
    @argument("name", help="the registered handler to measure")
    @argument("--requests", metavar="FILE", help="request JSON (one, a list, or JSON lines); default: its last request")
    @argument("--concurrency", default="1,2,4,8,16", metavar="LEVELS", help="levels to try, e.g. 1,2,4,8,16")
    @argument("--jobs", type=int, default=32, metavar="N", help="jobs per level (default 32)")
    @line_magic
    def rp_bench(self, line: str) -> lab.LabReport:
        """Run the handler at increasing concurrency; plot throughput, latency, TTFC, GPU memory; recommend."""
        args = parse_flags(self.rp_bench, line)
        if args.jobs < 1:
            raise UsageError(f"--jobs takes a whole number >= 1, got {args.jobs}")
        levels = _levels(args.concurrency)
        try:
            runtime = session.get_runtime()
            runtime.handler(args.name)
            requests = _requests(args.requests, args.name)
            report = lab.measure(runtime, args.name, requests, levels, args.jobs)
        except UsageProblem as exc:
            raise UsageError(str(exc)) from None
        try:
            display(Image(data=lab.plot_png(report), format="png"))
        except MissingDependencyError as exc:  # the light install: the table (the returned report) alone
            print(f"rp_jupyter: {exc}; showing the table only")
        return report
