"""Property-based: over generated notebook histories, the exported handler.py, run under the real runpod
SDK, gives the notebook's result, reads every name after its import, and holds no statement the handler
does not need (dropping any one of them changes the result or breaks the module).

Histories mix what notebooks do: values built and changed in place across cells, functions run at
module level, imports under aliases and with ``*``, unrelated handler cells re-importing modules,
redefinitions after the handler's cell. "Needed" counts what a later call of a function kept in the
export would return (the slicer keeps a function's globals' latest values: it may be called later).
Every value is a fresh list of fresh numbers, changed only by
adding to it, so each statement's effect is visible in what the handler returns. (A store that a later
value overwrites through a copy, ``a[0] = 2; a = a + [3]; a[0] = 4``, is beyond a slicer by names: only
a store overwritten in place, ``a[0] = 2; a[0] = 4``, is left out; tests/exporter/test_slice.py.)
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rp_jupyter.exporter import Cell, HandlerConfig, build_export

from . import cases
from .test_slice import assert_imports_before_use

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
EXAMPLES = int(os.environ.get("RP_JUPYTER_HYPOTHESIS_EXAMPLES", "30"))
VARIABLES = ["a", "b", "c", "d"]
FUNCTIONS = ["f", "g"]
IMPORTS = {  # statement -> (name it binds, an expression using it)
    "import math": ("math", "math.floor(2.5)"),
    "import math as m": ("m", "m.floor(3.5)"),
    "from math import floor": ("floor", "floor(4.5)"),
    "from math import *": ("floor", "floor(5.5) + int(pi)"),
    "import json": ("json", "len(json.dumps([1]))"),
}


class History:
    """A notebook history being generated: cells of statements, and what is bound so far."""

    def __init__(self, draw: Any) -> None:
        self.draw, self.counter = draw, 0
        self.cells: list[str] = []
        self.lists: set[str] = set()
        self.functions: set[str] = set()
        self.modules: dict[str, str] = {}  # bound name -> an expression using it

    def fresh(self) -> int:
        self.counter += 1
        return self.counter

    def statement(self) -> str:
        choices = ["new", "import"]
        if self.lists:
            choices += ["derived", "append", "item", "function"]
        if self.functions:
            choices.append("call")
        if self.modules:
            choices.append("module")
        kind = self.draw(st.sampled_from(choices))
        target = self.draw(st.sampled_from(VARIABLES))
        used = self.draw(st.sampled_from(sorted(self.lists))) if self.lists else ""
        if kind == "import":
            text = self.draw(st.sampled_from(sorted(IMPORTS)))
            name, expression = IMPORTS[text]
            self.modules[name] = expression
            return text
        if kind == "function":
            name = self.draw(st.sampled_from(FUNCTIONS))
            self.functions.add(name)
            return f"def {name}():\n    return {used} + [{self.fresh()}]"
        if kind in ("append", "item"):
            return f"{used}.append({self.fresh()})" if kind == "append" else f"{used}[0:0] = [{self.fresh()}]"
        self.lists.add(target)
        if kind == "derived":
            return f"{target} = {used} + [{self.fresh()}]"
        if kind == "call":
            return f"{target} = {self.draw(st.sampled_from(sorted(self.functions)))}()"
        if kind == "module":
            return f"{target} = [{self.modules[self.draw(st.sampled_from(sorted(self.modules)))]}, {self.fresh()}]"
        return f"{target} = [{self.fresh()}]"

    def cell(self) -> None:
        if self.lists and self.draw(st.integers(0, 4)) == 0:  # an unrelated handler cell
            other = f"other_{self.fresh()}"
            self.cells.append(f"import json\nimport math\n\n\ndef {other}(job):\n    return json.dumps({sorted(self.lists)[0]})")
            self.modules.update({"json": IMPORTS["import json"][1], "math": IMPORTS["import math"][1]})
            return
        self.cells.append("\n".join(self.statement() for _ in range(self.draw(st.integers(1, 3)))))

    def handler(self) -> str:
        names = sorted(self.lists) + sorted(self.functions) + sorted(self.modules)
        picked = self.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True)) if names else []
        parts = ['"input": job["input"]']
        for name in picked:
            value = (f"list({name})" if name in self.lists else f"{name}()" if name in self.functions
                     else self.modules[name])
            parts.append(f'"{name}": {value}')
        text = "def handler(job):\n    return {" + ", ".join(parts) + "}"
        self.cells.append(text)
        return text


@st.composite
def histories(draw: Any) -> tuple[list[str], str]:
    history = History(draw)
    for _ in range(draw(st.integers(1, 5))):
        history.cell()
    handler = history.handler()
    for _ in range(draw(st.integers(0, 3))):
        history.cell()
    return history.cells, handler


@pytest.fixture(scope="module")
def sdk() -> Iterator[subprocess.Popen[str]]:
    runner = Path(__file__).with_name("sdk_runner.py")
    process = subprocess.Popen([sys.executable, "-u", str(runner)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None and json.loads(process.stdout.readline()) == {"ready": True}
    yield process
    process.stdin.close()  # type: ignore[union-attr]
    process.wait(30)
    process.stdout.close()


def run_in_sdk(sdk: subprocess.Popen[str], folder: Path, value: Any) -> Any:
    """The result the real SDK's local test mode logs for ``{"input": value}``."""
    log = folder / "worker.log"
    sdk.stdin.write(json.dumps({"dir": str(folder), "input": value, "log": str(log)}) + "\n")  # type: ignore[union-attr]
    sdk.stdin.flush()  # type: ignore[union-attr]
    answer = json.loads(sdk.stdout.readline())  # type: ignore[union-attr]
    text = log.read_text()
    for line in text.splitlines():
        if "| Job result: " in line:
            return ast.literal_eval(line.split("| Job result: ", 1)[1])
    raise AssertionError(f"the exported worker gave no result (exit {answer['code']}):\n{text}")


def in_notebook(raw: list[str], value: Any) -> Any:
    """The cells run in one namespace, as a kernel runs them; the handler's job as the real SDK runs it."""
    from runpod.serverless.modules.rp_job import run_job

    namespace: dict[str, Any] = {"__name__": "__main__"}
    for source in raw:
        exec(compile(source, "<cell>", "exec"), namespace)
    return asyncio.run(run_job(namespace["handler"], {"input": value, "id": "local_test"}))


def without(text: str, index: int) -> str:
    tree = ast.parse(text)
    del tree.body[index]
    return ast.unparse(tree)


def body_result(text: str, value: Any) -> Any:
    namespace: dict[str, Any] = {"__name__": "handler_module"}
    try:
        exec(compile(text, "handler.py", "exec"), namespace)
        return namespace["handler"]({"input": value, "id": "local_test"})
    except Exception as exc:
        return f"failed: {type(exc).__name__}"


def later_calls(text: str) -> Any:
    """What each function the module defines returns when called after it ran — as the handler, an alias
    or a closure could call it later, reading its globals' latest values (which the slicer keeps, also
    when the history calls the function only before them: ``b = f()`` then ``a = [5]``, ``f`` reading
    ``a``)."""
    namespace: dict[str, Any] = {"__name__": "handler_module"}
    try:
        exec(compile(text, "handler.py", "exec"), namespace)
        return {name: namespace[name]() for name in FUNCTIONS if callable(namespace.get(name))}
    except Exception as exc:
        return f"failed: {type(exc).__name__}"


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(history=histories())
def test_the_export_gives_the_notebooks_result_with_only_what_the_handler_needs(
        history: tuple[list[str], str], sdk: subprocess.Popen[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    raw, handler = history
    expected = in_notebook(raw, 7)
    config = HandlerConfig("h", "handler", source=handler)
    export = build_export(config, [Cell(f"In[{i}]", c) for i, c in enumerate(raw, 1)], cases.CPU_ENV)
    text = export.files["handler.py"]
    folder = tmp_path_factory.mktemp("worker")
    (folder / "handler.py").write_text(text)
    assert run_in_sdk(sdk, folder, 7) == expected, text
    assert_imports_before_use(text)
    body = ast.unparse(ast.Module(ast.parse(text).body[:-1], []))  # without the start call
    tree = ast.parse(body)
    later = later_calls(body)
    for index, node in enumerate(tree.body):
        if ast.unparse(node) == "import runpod":
            continue  # the start call's
        rest = without(body, index)
        assert (body_result(rest, 7), later_calls(rest)) != (expected["output"], later), \
            f"not needed: {ast.unparse(node)}\n{text}"
