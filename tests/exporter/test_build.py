"""What goes into handler.py and requirements.txt: names followed through the cells, hidden state, images."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from rp_jupyter.exceptions import ExportError, UsageProblem
from rp_jupyter.exporter import Cell, HandlerConfig, build_export, probe_environment

from . import cases
from .conftest import cells

SYNC = HandlerConfig("h", "handler")


def handler_py(raw: list[str], config: HandlerConfig = SYNC) -> str:
    return build_export(config, cells(raw), cases.CPU_ENV).files["handler.py"]


def body(raw: list[str], config: HandlerConfig = SYNC) -> str:
    """handler.py without its header and start call."""
    text = handler_py(raw, config)
    return text.split("\n\n", 1)[1].rsplit("\n\n\n", 1)[0]


def test_a_name_read_inside_the_handler_takes_its_latest_value_in_the_kernel() -> None:
    text = body(["X = 1", "def handler(job):\n    return X", "X = 2", "print(X)"])
    assert "X = 1" not in text
    assert text.index("def handler") < text.index("X = 2")


def test_a_name_read_at_module_level_takes_its_value_at_that_point() -> None:
    text = body(["base = 1", "y = base + 1", "base = 5", "def handler(job):\n    return y"])
    assert "base = 1" in text and "y = base + 1" in text and "base = 5" not in text


def test_changes_to_an_object_come_along_but_calls_on_modules_do_not() -> None:
    raw = ["import time\nclass M:\n    def to(self, d):\n        pass", "m = M()\nm.to('cuda')\nm.cfg = 1\ntime.sleep(0)",
           "def handler(job):\n    time.time()\n    return m"]
    text = body(raw)
    assert "m.to('cuda')" in text and "m.cfg = 1" in text
    assert "time.sleep" not in text


def test_a_function_assigning_a_global_defines_it_where_it_is_called() -> None:
    raw = ["def load():\n    global model\n    model = 3", "load()", "def handler(job):\n    return model"]
    assert "load()" in body(raw)


def test_magics_shell_commands_display_and_start_calls_are_left_out() -> None:
    raw = ["%load_ext rp_jupyter\n!ls\nimport runpod", "%%bash\necho hi",
           '%%rp_handler\nx = 1\ndisplay(x)\n%time y = 2\ndef handler(job):\n    return x\nrunpod.serverless.start({"handler": handler})']
    text = handler_py(raw)
    assert "get_ipython" not in text and "display" not in text and "echo" not in text
    assert text.count("runpod.serverless.start") == 1
    assert text.rstrip().endswith('runpod.serverless.start({"handler": handler})')


def test_display_calls_inside_functions_become_pass() -> None:
    raw = ["import runpod", "def handler(job):\n    if job['input']:\n        display(\n            job)\n"
           "    for x in job['input']:\n        display(x)  # shown\n    return 1"]
    text = handler_py(raw)
    assert "display(job" not in text and "display(x)" not in text
    assert text.count("pass  # display(...) left out") == 2
    namespace: dict[str, object] = {}
    exec(compile(text.split("runpod.serverless.start")[0], "handler.py", "exec"), namespace)  # valid Python
    assert namespace["handler"]({"input": [1, 2]}) == 1


def test_the_notebooks_own_display_is_kept_and_columns_are_read_as_utf8() -> None:
    own = ["import runpod", "LOG = []\ndef display(message):\n    LOG.append(message)",
           "def handler(job):\n    display(job)\n    return LOG"]
    text = handler_py(own)
    assert "    display(job)" in text and "def display(message)" in text  # not IPython's: exported as it is
    accents = ["import runpod", 'def handler(job):\n    display("éééééé"); y = 1\n    return y']
    with pytest.raises(ExportError, match=r"display \(used in In\[2\]\)"):  # shares its line: not rewritten
        handler_py(accents)


def test_display_sharing_a_line_is_reported_not_exported() -> None:
    raw = ["import runpod", "def handler(job):\n    x = 1; display(x)\n    return x"]
    with pytest.raises(ExportError, match=r"display \(used in In\[2\]\)"):
        handler_py(raw)


def test_the_registered_definition_wins_over_a_later_unregistered_edit() -> None:
    registered = "def handler(job):\n    return 'registered'"
    raw = [registered, "def handler(job):\n    return 'edited, not run through %%rp_handler'"]
    text = handler_py(raw, HandlerConfig("h", "handler", registered))
    assert "'registered'" in text and "edited" not in text


def test_rp_jupyter_decorators_and_imports_are_dropped() -> None:
    raw = ["import rp_jupyter\nimport runpod", "@rp_jupyter.handler(name='h')\ndef handler(job):\n    return 1"]
    text = handler_py(raw)
    assert "rp_jupyter." not in text and "import rp_jupyter" not in text
    assert "import runpod" in text


def test_hidden_state_is_an_export_error_listing_each_name() -> None:
    raw = ["import runpod", "def handler(job):\n    return model(job) + tokenizer + In[1]"]
    with pytest.raises(ExportError) as caught:
        handler_py(raw)
    message = str(caught.value)
    assert isinstance(caught.value, UsageProblem) and "\n" not in message
    for name in ("model (used in In[2])", "tokenizer (used in In[2])", "In (used in In[2])"):
        assert name in message


def test_a_name_set_by_a_magic_cannot_be_exported() -> None:
    with pytest.raises(ExportError, match=r"In\[1\] sets files with IPython syntax"):
        handler_py(["files = !ls", "def handler(job):\n    return files"])


def test_a_handler_that_is_not_a_def_in_the_cells_is_an_export_error() -> None:
    with pytest.raises(ExportError, match="'handler' is not defined by a def"):
        handler_py(["handler = lambda job: 1"])


def test_a_named_concurrency_modifier_is_exported_by_its_source() -> None:
    raw = ["def handler(job):\n    return 1", "def more(current):\n    return min(current + 1, 4)"]
    text = handler_py(raw, HandlerConfig("h", "handler", concurrency_modifier="more"))
    assert "def more(current)" in text and '"concurrency_modifier": more' in text
    with pytest.raises(ExportError, match="concurrency_modifier '<lambda>'"):
        handler_py(raw, HandlerConfig("h", "handler", concurrency_modifier="<lambda>"))


def test_distributions_are_found_for_import_names_that_differ_from_them() -> None:
    env = probe_environment()
    raw = ["import yaml\nfrom dateutil import parser\nimport json\nimport IPython",
           "def handler(job):\n    IPython.version_info\n    return yaml.safe_dump(parser.parse('2024').year)"]
    lines = build_export(SYNC, cells(raw), env).files["requirements.txt"].splitlines()
    pins = [line for line in lines if not line.startswith("#")]
    assert pins == [
        f"python-dateutil=={importlib.metadata.version('python-dateutil')}",
        f"PyYAML=={importlib.metadata.version('PyYAML')}",
        f"runpod=={importlib.metadata.version('runpod')}",
    ]  # json is the standard library; IPython is the Jupyter stack


def test_a_distribution_without_top_level_txt_maps_the_modules_its_record_lists(tmp_path: Path) -> None:
    # wheels built by hatchling or flit (attrs: modules attr and attrs) have no top_level.txt; Python
    # 3.10's packages_distributions() reads only that file, so the clean room refused `import attr`
    from rp_jupyter.exporter._model import _top_level

    site = tmp_path / "site-packages"
    info = site / "demo_pkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n")
    listed = ["demo/__init__.py", "demo/__pycache__/__init__.cpython-310.pyc", "demo_two/x.py", "single.py",
              "_speed.cpython-310-x86_64-linux-gnu.so", "demo_pkg-1.0.dist-info/RECORD", "../bin/demo",
              "__pycache__/single.cpython-310.pyc", "demo_pkg.pth"]
    (info / "RECORD").write_text("".join(f"{name},,\n" for name in listed))
    for name in listed:  # (Python 3.12+ lists only the files that exist)
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).touch(exist_ok=True)
    assert _top_level(importlib.metadata.PathDistribution(info)) == {"demo", "demo_two", "single", "_speed"}
    (info / "top_level.txt").write_text("demo\n")
    assert _top_level(importlib.metadata.PathDistribution(info)) == {"demo"}
    assert "attrs" in probe_environment().modules["attr"]  # the real one, on every Python of the matrix


def test_torch_is_pinned_with_its_index_when_the_image_does_not_provide_it() -> None:
    raw = ["import torch", "def handler(job):\n    return torch.__version__"]
    files = build_export(SYNC, cells(raw), cases.GPU_ENV, base_image="nvidia/cuda:12.8.1-runtime-ubuntu22.04").files
    lines = files["requirements.txt"].splitlines()
    torch = lines.index("torch==2.8.0+cu128")  # the kernel's own build, from PyTorch's index: pip reads the option line
    assert "--extra-index-url https://download.pytorch.org/whl/cu128" in lines[:torch]
    assert "FROM nvidia/cuda:12.8.1-runtime-ubuntu22.04" in files["Dockerfile"]
    cpu = build_export(SYNC, cells(raw), cases.CPU_ENV).files
    assert "FROM python:3.11-slim" in cpu["Dockerfile"]
    plain = dataclasses.replace(cases.CPU_ENV, versions={**cases.CPU_ENV.versions, "torch": ("torch", "2.8.0")})
    pypi = build_export(SYNC, cells(raw), plain).files["requirements.txt"].splitlines()
    assert "torch==2.8.0" in pypi and not any(line.startswith("--") for line in pypi)  # PyPI's build: no index


@pytest.mark.parametrize("image", ["python", "python:latest", "runpod/base:latest"])
def test_an_unpinned_base_image_is_refused(image: str) -> None:
    with pytest.raises(ExportError, match="not pinned"):
        build_export(SYNC, [Cell("In[1]", "def handler(job):\n    return 1")], cases.CPU_ENV, base_image=image)


def test_test_input_is_the_last_successful_request_input_only() -> None:
    files = build_export(cases.TOKENS, cells(cases.TOKENS_CELLS), cases.CPU_ENV, request=cases.REQUEST).files
    assert json.loads(files["test_input.json"]) == {"input": cases.REQUEST["input"]}


@pytest.mark.parametrize("raw, config, env", [
    (cases.TOKENS_CELLS, cases.TOKENS, cases.CPU_ENV), (cases.GPU_CELLS, cases.GPU, cases.GPU_ENV),
])
def test_the_dockerfile_follows_runpods_conventions(raw: list[str], config: HandlerConfig, env: object) -> None:
    text = build_export(config, cells(raw), env).files["Dockerfile"]  # type: ignore[arg-type]
    parser = DockerfileParser(fileobj=StringIO(text))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"]
    kinds = [kind for kind, _ in instructions]
    assert kinds == ["FROM", "WORKDIR", "COPY", "RUN", "COPY", "CMD"]
    base = parser.baseimage
    assert ":" in base and not base.endswith(":latest")
    assert instructions[2][1] == "requirements.txt /requirements.txt"  # dependencies before the code
    assert "handler.py" in instructions[4][1] and "test_input.json" in instructions[4][1]
    assert json.loads(instructions[5][1]) == ["python", "-u", "/handler.py"]


def test_hadolint_finds_no_problem_in_the_dockerfile(tmp_path: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(build_export(cases.TOKENS, cells(cases.TOKENS_CELLS), cases.CPU_ENV).files["Dockerfile"])
    result = subprocess.run([str(hadolint), "-f", "json", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert json.loads(result.stdout) == [], result.stdout


def test_the_base_image_follows_the_kernels_gpu_framework_and_cuda_major() -> None:
    from rp_jupyter.exporter._docker import CUDA_IMAGES, PYTORCH_IMAGES, choose_base_image

    cuda12 = dataclasses.replace(cases.CPU_ENV, cuda="12.8")
    cuda13 = dataclasses.replace(cases.CPU_ENV, cuda="13.0")
    assert choose_base_image(cuda12, {"torch"}, None).name == PYTORCH_IMAGES["12"][0]
    assert choose_base_image(cuda12, {"jax"}, None).name == CUDA_IMAGES["12"]  # no torch: a CUDA base
    assert choose_base_image(cuda13, {"cupy", "numpy"}, None).name == CUDA_IMAGES["13"]
    assert choose_base_image(cases.CPU_ENV, {"torch"}, None).name == "python:3.11-slim"  # a CPU build
    assert choose_base_image(cuda12, {"numpy"}, None).name == "python:3.11-slim"  # no GPU framework
    with pytest.raises(ExportError, match=r"no pinned RunPod image is known for CUDA 11\.8"):
        choose_base_image(dataclasses.replace(cases.CPU_ENV, cuda="11.8"), {"tensorflow"}, None)


def test_every_build_from_pytorchs_index_gets_the_index_line_once_even_when_torch_is_in_the_image() -> None:
    env = dataclasses.replace(
        cases.GPU_ENV,
        modules={**cases.GPU_ENV.modules, "torchvision": ("torchvision",), "torchaudio": ("torchaudio",)},
        versions={**cases.GPU_ENV.versions, "torchvision": ("torchvision", "0.23.0+cu128"),
                  "torchaudio": ("torchaudio", "2.8.0+cu128")},
    )
    raw = ["import torch, torchvision, torchaudio", "def handler(job):\n    return torchvision.__version__"]
    lines = build_export(SYNC, cells(raw), env).files["requirements.txt"].splitlines()
    assert not any(line.startswith("torch==") for line in lines)  # the runpod/pytorch image brings torch 2.8
    assert "torchvision==0.23.0+cu128" in lines and "torchaudio==2.8.0+cu128" in lines
    index = "--extra-index-url https://download.pytorch.org/whl/cu128"
    assert lines.count(index) == 1 and lines.index(index) < lines.index("torchaudio==2.8.0+cu128")


def test_a_secret_spelled_out_in_the_kept_cells_is_noted_by_line_never_by_value() -> None:
    raw = ["import os\nfrom huggingface_hub import login\nHF_TOKEN = 'hf_abcdefghijklmnop'\n"
           "API_URL = 'https://user:pa55word@example.com/v1'\nMAX_TOKENS = 64",
           "def handler(job):\n    login(token=HF_TOKEN)\n    return [API_URL, MAX_TOKENS, os.getenv('MODEL', 'gpt2')]"]
    export = build_export(SYNC, cells(raw), cases.CPU_ENV)
    lines = export.files["handler.py"].splitlines()
    notes = [note for note in export.notes if "looks like a secret" in note]
    assert len(notes) == 2, export.notes
    for note, (name, what) in zip(notes, [("HF_TOKEN", "HF_TOKEN is set to a string literal"),
                                          ("API_URL", "a string literal is shaped like a credential")], strict=True):
        line = int(note.split("handler.py line ")[1].split(":")[0])
        assert lines[line - 1].startswith(f"{name} = "), (note, lines)
        assert what in note and "hf_abc" not in note and "pa55word" not in note
        assert note in repr(export)


def test_secrets_read_from_the_environment_are_not_noted() -> None:
    raw = ["import os\nHF_TOKEN = os.environ['HF_TOKEN']\nKEY = os.getenv('API_KEY', '')\nTOKENIZER_NAME = 'gpt2'",
           "def handler(job):\n    return [HF_TOKEN, KEY, TOKENIZER_NAME]"]
    assert not [note for note in build_export(SYNC, cells(raw), cases.CPU_ENV).notes if "secret" in note]
