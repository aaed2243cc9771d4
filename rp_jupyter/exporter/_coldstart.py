"""The cold-start rehearsal: how long the exported worker takes from ``python -u handler.py`` to its
first job, step by step (interpreter, each top-level statement of handler.py with its cell, the SDK
until the first job is taken), the slowest three named with RunPod's remedies. State is data; the
text and HTML renderings are pure functions of it.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import re
from typing import Any

from ._cleanroom import cell_of_line

__all__ = ["ColdStart", "ColdStep", "cold_start"]

_WEIGHTS = re.compile(r"from_pretrained|hf_hub_download|snapshot_download|\bpipeline\(|torch\.load|load_state_dict"
                      r"|safetensors|load_model|load_checkpoint|urlretrieve|requests\.get|httpx\.get|wget|download")
_REMEDIES = {
    "weights": "loads or downloads model weights on every cold start: use RunPod's cached models (Hugging Face), "
               "or bake the weights into the image at build time (a RUN step in the Dockerfile), or keep them on "
               "a network volume (/runpod-volume) — never download them per start",
    "import": "an import, paid on every cold start: import only what the handler uses; for latency-sensitive "
              "endpoints keep active workers (or rely on FlashBoot) so fewer requests meet a cold start",
    "code": "runs on every cold start: if it computes or fetches something fixed, do it at build time and ship "
            "the result in the image; keep it at module level (once per worker), never inside the handler",
    "interpreter": "Python's own start-up and site-packages: the same on every cold start (a slimmer image "
                   "starts faster; active workers avoid cold starts)",
    "sdk": "the runpod SDK's own import: a fixed cost of the SDK version (runpod 1.12 imports boto3, fastapi, "
           "aiohttp…), not of your code",
    "start": "the runpod SDK starting its worker loop until it takes the first job (FlashBoot restores a "
             "started worker; active workers skip this)",
}


@dataclasses.dataclass(frozen=True)
class ColdStep:
    """One step of the cold start: ``kind`` is interpreter, sdk (``import runpod``), statement (the
    user's code) or start (``runpod.serverless.start`` until the first job); ``cell`` its In[N]."""

    label: str
    seconds: float | None
    kind: str
    cell: str | None = None
    line: int | None = None
    failed: str | None = None

    @property
    def remedy(self) -> str:
        if self.kind in ("interpreter", "sdk", "start"):
            return _REMEDIES[self.kind]
        if _WEIGHTS.search(self.label):
            return _REMEDIES["weights"]
        return _REMEDIES["import" if self.label.startswith(("import ", "from ")) else "code"]


@dataclasses.dataclass
class ColdStart:
    """The worker's cold start, rehearsed in the spawned process (this machine's CPU and disk, not RunPod's)."""

    steps: list[ColdStep]
    per_job: list[str] = dataclasses.field(default_factory=list)  # weights loaded inside the handler

    @property
    def total(self) -> float:
        return sum(step.seconds or 0.0 for step in self.steps)

    @property
    def first_job_taken(self) -> bool:
        return bool(self.steps) and self.steps[-1].kind == "start" and self.steps[-1].seconds is not None

    def slowest(self, n: int = 3) -> list[ColdStep]:
        """The user's slowest statements taking 50 ms or more (the interpreter, the SDK's import and its
        start are fixed costs)."""
        mine = [s for s in self.steps if s.kind == "statement" and (s.seconds or 0.0) >= 0.05]
        return sorted(mine, key=lambda s: -(s.seconds or 0.0))[:n]

    def rows(self) -> list[dict[str, Any]]:
        """The steps as plain data (``pandas.DataFrame(report.cold_start.rows())``)."""
        return [{"step": s.label, "cell": s.cell, "seconds": s.seconds, "kind": s.kind, "failed": s.failed}
                for s in self.steps]

    def __repr__(self) -> str:
        end = "until the first job was taken" if self.first_job_taken else "(no job was taken)"
        lines = [f"cold start {self.total:.2f} s {end} (rehearsed here: this machine, not RunPod's):"]
        longest = max((s.seconds or 0.0 for s in self.steps), default=0.0) or 1.0
        for step in self.steps:
            seconds = "   —   " if step.seconds is None else f"{step.seconds:6.2f} s"
            bar = "█" * round(20 * (step.seconds or 0.0) / longest)
            failed = f"  failed: {step.failed}" if step.failed else ""
            lines.append(f"  {_short(step.label, 46):46} {step.cell or '':>15} {seconds} {bar}{failed}")
        lines += [f"slowest {i}: {_short(s.label, 60)} ({s.seconds:.2f} s): {s.remedy}"
                  for i, s in enumerate(self.slowest(), 1)]
        lines += [f"per job: {note}" for note in self.per_job]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        longest = max((s.seconds or 0.0 for s in self.steps), default=0.0) or 1.0
        rows = "".join(
            f"<tr><td><code>{html.escape(_short(s.label, 70))}</code></td><td>{html.escape(s.cell or '')}</td>"
            f"<td style='text-align:right'>{'—' if s.seconds is None else f'{s.seconds:.2f} s'}</td>"
            f"<td style='width:40%'><div style='background:#673ab7;height:0.8em;width:"
            f"{100 * (s.seconds or 0.0) / longest:.1f}%'></div></td></tr>"
            for s in self.steps)
        slow = "".join(f"<li><code>{html.escape(_short(s.label, 60))}</code> ({s.seconds:.2f} s): "
                       f"{html.escape(s.remedy)}</li>" for s in self.slowest())
        per_job = "".join(f"<li>{html.escape(note)}</li>" for note in self.per_job)
        return (f"<div class='rp-cold-start'><b>Cold start: {self.total:.2f} s</b> until the first job was taken "
                f"(rehearsed here)<table><tr><th>step</th><th>cell</th><th>time</th><th></th></tr>{rows}</table>"
                f"<ol>{slow}</ol>{f'<ul>{per_job}</ul>' if per_job else ''}</div>")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def cold_start(events: list[dict[str, Any]], spawned: float, first_take: float | None, handler_text: str) -> ColdStart:
    """The first start's steps from the worker's events (``_boot``) and the kernel's clock readings."""
    lines = handler_text.splitlines()
    statements = [e for e in events if e["event"] == "statement"]
    failed = next((e for e in events if e["event"] == "failed"), None)
    if not statements:
        return ColdStart([ColdStep("interpreter start", None, "interpreter")])
    steps = [ColdStep("interpreter start", statements[0]["at"] - spawned, "interpreter")]  # to handler.py's 1st line
    for index, event in enumerate(statements):
        last = index + 1 == len(statements)
        end = statements[index + 1]["at"] if not last else (failed or {}).get("at", first_take)
        text = " ".join(line.strip() for line in lines[event["line"] - 1: event["end"]])
        broke = failed["error"] if failed is not None and failed["line"] == event["line"] else None
        is_start = last and broke is None and "serverless.start" in text
        label = "runpod.serverless.start(...) until the first job is taken" if is_start else text
        cell = None if is_start else cell_of_line(handler_text, event["line"]) or (
            "added by export" if text == "import runpod" else None)
        seconds = None if end is None else max(0.0, end - event["at"])
        kind = "start" if is_start else "sdk" if text == "import runpod" else "statement"
        steps.append(ColdStep(label, seconds, kind, cell, event["line"], broke))
    return ColdStart(steps, per_job_loading(handler_text))


def per_job_loading(handler_text: str) -> list[str]:
    """Weights loaded inside a function of handler.py (run per job, not once per worker)."""
    try:
        tree = ast.parse(handler_text)
    except SyntaxError:
        return []
    notes = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Call) and _WEIGHTS.search(ast.unparse(inner.func) + "("):
                cell = cell_of_line(handler_text, node.lineno)
                notes.append(f"{node.name}() calls {ast.unparse(inner.func)}() (line {inner.lineno}"
                             f"{f', {cell}' if cell else ''}) on every call: load the model once at module level, "
                             "outside the handler, so every job after a cold start reuses it")
                break
    return notes
