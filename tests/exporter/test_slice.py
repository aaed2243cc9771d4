"""Exact slices: imports from the handler's own cells, before their use; star imports resolved or reported."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from rp_jupyter.exceptions import ExportError
from rp_jupyter.exporter import HandlerConfig, build_export

from . import cases
from .conftest import cells

SYNC = HandlerConfig("h", "handler")
QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def handler_py(raw: list[str], config: HandlerConfig = SYNC) -> str:
    return build_export(config, cells(raw), cases.CPU_ENV).files["handler.py"]


def sections(text: str) -> list[tuple[str, str]]:
    """handler.py as (cell label, statement source) pairs, in file order, without the start call."""
    out, label = [], ""
    tree = ast.parse(text)
    lines = text.splitlines()
    for node in tree.body[:-1]:
        above = [line for line in lines[: node.lineno - 1] if line.startswith("# In[")]
        label = above[-1][2:] if above else ""
        out.append((label, ast.unparse(node)))
    return out


def assert_imports_before_use(text: str) -> None:
    """Every name an import binds is bound before any top-level statement (a def included) reads it."""
    tree = ast.parse(text)
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
            continue
        imported_later = {(a.asname or a.name).split(".")[0] for later in tree.body[tree.body.index(node):]
                          if isinstance(later, (ast.Import, ast.ImportFrom)) for a in later.names}
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        assert not (used & imported_later - bound), f"{ast.unparse(node)[:60]!r} reads {used & imported_later} before its import"


def quickstart_cells() -> list[str]:
    notebook = nbformat.read(QUICKSTART, as_version=4)
    return [c.source for c in notebook.cells if c.cell_type == "code"]


def test_the_quickstarts_exports_have_no_foreign_imports_and_import_before_use() -> None:
    raw = quickstart_cells()
    tokens_cell = next(i for i, c in enumerate(raw, 1) if c.startswith("%%rp_handler tokens"))
    text = handler_py(raw, HandlerConfig("tokens", "generate", kind="generator", return_aggregate_stream=True))
    labels = {label for label, _ in sections(text)}
    assert labels == {f"In[{tokens_cell}]"}, text  # nothing from the later handler cells (their `import runpod`)
    assert_imports_before_use(text)
    last = max(i for i, c in enumerate(raw, 1) if c.startswith("%%rp_handler\n") and "steps" in c)
    body = raw[last - 1].split("\n", 1)[1]
    source = next(ast.get_source_segment(body, n) for n in ast.parse(body).body if isinstance(n, ast.FunctionDef))
    handler = handler_py(raw, HandlerConfig("handler", "handler", source=source))
    assert {label for label, _ in sections(handler)} == {f"In[{last}]"}
    assert_imports_before_use(handler)
    fetch_cell = next(i for i, c in enumerate(raw, 1) if c.startswith("%%rp_handler fetch"))
    body = raw[fetch_cell - 1].split("\n", 1)[1]
    source = next(ast.get_source_segment(body, n) for n in ast.parse(body).body if isinstance(n, ast.AsyncFunctionDef))
    fetch = handler_py(raw, HandlerConfig("fetch", "handler", source=source, kind="async"))
    assert sections(fetch)[0] == ("", "import runpod")  # its cell has none: added, not another handler's
    assert {label for label, _ in sections(fetch)} == {"", f"In[{fetch_cell}]"}, fetch


def test_a_later_import_of_the_same_module_does_not_replace_the_handlers_own() -> None:
    raw = ["import json\nimport runpod", "def handler(job):\n    return json.dumps(job)",
           "import json\nimport runpod\ndef other(job):\n    return 2"]
    assert sections(handler_py(raw)) == [("", "import runpod"), ("In[1]", "import json"),
                                         ("In[2]", "def handler(job):\n    return json.dumps(job)")]


def test_a_later_rebinding_of_the_name_is_what_the_handler_sees() -> None:
    raw = ["import json", "def handler(job):\n    return json.dumps(job)", "import ujson_like as json"]
    assert ("In[3]", "import ujson_like as json") in sections(handler_py(raw))


def test_an_import_only_a_later_cell_made_is_placed_before_the_def_using_it() -> None:
    raw = ["def helper():\n    return time.time()", "def handler(job):\n    return helper()", "x = 1\nimport time"]
    found = sections(handler_py(raw))
    assert found[:2] == [("", "import runpod"), ("In[3]", "import time")]
    assert_imports_before_use(handler_py(raw))


def test_an_import_does_not_move_past_other_code() -> None:
    raw = ["import os\ndef handler(job):\n    return mylib.run()", "os.environ['MYLIB_MODE'] = 'fast'",
           "import mylib"]
    found = [statement for _, statement in sections(handler_py(raw))]
    assert found.index("os.environ['MYLIB_MODE'] = 'fast'") < found.index("import mylib")


def test_a_function_called_at_module_level_reads_its_names_then() -> None:
    raw = ["scale = 2", "def load():\n    return [scale]", "model = load()", "scale = 3",
           "def handler(job):\n    return model + [scale]"]
    namespace: dict[str, object] = {}
    text = handler_py(raw)
    exec(compile(text.split("runpod.serverless.start")[0], "handler.py", "exec"), namespace)
    assert namespace["handler"]({}) == [2, 3]  # as in the notebook


def test_a_star_import_defines_what_its_module_exports_and_no_more() -> None:
    raw = ["from math import *", "def handler(job):\n    return floor(job['input']) + sqrt(4)"]
    assert ("In[1]", "from math import *") in sections(handler_py(raw))
    hole = ["from math import *", "globals()['model'] = 1", "def handler(job):\n    return floor(model)"]
    with pytest.raises(ExportError, match=r"model \(used in In\[3\]\)"):  # no longer hidden by the star
        handler_py(hole)
    unused = ["from math import *", "def handler(job):\n    return 1"]
    assert "from math import" not in handler_py(unused)


def test_a_star_import_whose_names_cannot_be_read_reports_the_name_as_unresolved() -> None:
    raw = ["from rp_no_such_module_here import *", "def handler(job):\n    return model(job)"]
    with pytest.raises(ExportError) as caught:
        handler_py(raw)
    message = str(caught.value)
    assert "model (used in In[2]) is unresolved" in message
    assert "from rp_no_such_module_here import * (In[1]) cannot be read here: import it by name" in message


def test_a_star_import_of_a_module_not_imported_in_the_kernel_is_read_from_its_source() -> None:
    import sys

    from rp_jupyter.exporter._model import module_exports

    assert "tabnanny" not in sys.modules
    assert module_exports("tabnanny") == frozenset({"check", "NannyNag", "process_tokens"})  # its literal __all__
    assert "tabnanny" not in sys.modules  # read, not imported
    assert module_exports("json") == frozenset(__import__("json").__all__)  # a module the kernel imported
    assert module_exports("rp_no_such_module_here") is None


def test_a_store_overwritten_in_place_is_left_out_and_one_read_in_between_is_kept() -> None:
    dead = [label for label, _ in sections(handler_py(["a = [1]", "a[0] = 2", "a[0] = 3", "def handler(job):\n    return a"]))]
    assert dead == ["", "In[1]", "In[3]", "In[4]"]  # import runpod, a = [1], a[0] = 3, the handler
    read = handler_py(["a = [1]", "a[0] = 2", "b = list(a)", "a[0] = 3", "def handler(job):\n    return a, b"])
    assert "a[0] = 2" in read and "a[0] = 3" in read
