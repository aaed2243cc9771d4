"""Clean-room verification and the cold-start rehearsal, in a real IPython shell, under the real SDK:
the worker may import only what the image will hold, and its start is timed statement by statement."""

from __future__ import annotations

import importlib.metadata
import json
import time
from pathlib import Path
from typing import Any as Shell  # the `shell` fixture (tests/conftest.py)

import pytest

import rp_jupyter
from rp_jupyter.exporter import clean_room, probe_environment

pytestmark = pytest.mark.slow

PARSER = ("%%rp_handler parse\nimport runpod\nimport dockerfile_parse\n\n\ndef handler(job):\n"
          "    return {'parser': dockerfile_parse.__name__, 'x': job['input']['x']}\n\n\n"
          "runpod.serverless.start({'handler': handler})")


def drop_requirement(folder: str, distribution: str) -> None:
    path = Path(folder) / "requirements.txt"
    lines = [line for line in path.read_text().splitlines() if not line.lower().startswith(distribution)]
    path.write_text("\n".join(lines) + "\n")


def test_the_image_holds_the_requirements_their_dependencies_and_the_base_images_packages(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("runpod==1.12.0\n# a comment\n--extra-index-url https://x\n")
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY handler.py utils.py /\n")
    (tmp_path / ".dockerignore").write_text("*\n!handler.py\n")
    (tmp_path / "utils.py").write_text("")
    (tmp_path / "handler.py").write_text("")
    room = clean_room(str(tmp_path), probe_environment())
    assert {"runpod", "aiohttp", "fastapi", "pip"} <= room.distributions  # runpod's Requires-Dist, followed
    assert {"runpod", "aiohttp", "boto3"} <= room.allowed_modules
    assert "dockerfile_parse" not in room.allowed_modules and "IPython" not in room.allowed_modules
    assert room.copied == {"handler.py", "utils.py"}
    assert room.notes == ("the Dockerfile copies utils.py but .dockerignore leaves it out of the build context "
                          "(docker build would fail): add a !utils.py line to .dockerignore",)


def test_a_package_dropped_from_requirements_fails_verify_naming_the_import_and_its_cell(shell: Shell) -> None:
    shell.run(PARSER)
    shell.run('%rp_run parse {"input": {"x": 1}} --sync')
    shell.run("%rp_export parse --out parse-worker")
    version = importlib.metadata.version("dockerfile-parse")
    assert f"dockerfile-parse=={version}" in Path("parse-worker/requirements.txt").read_text()
    assert rp_jupyter.verify("parse", "parse-worker").ok  # as exported: the image has it
    drop_requirement("parse-worker", "dockerfile-parse")  # installed in the kernel, dropped from the image
    report = rp_jupyter.verify("parse", "parse-worker")
    assert not report.ok
    assert report.problems == [
        f"handler.py imports dockerfile_parse (In[1]) but requirements.txt does not list it (the kernel has it "
        f"from dockerfile-parse {version})"]
    assert f"clean room: {report.problems[0]}" in repr(report)


@pytest.fixture
def helpers_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "helpers"
    package.mkdir()
    (package / "__init__.py").write_text("import dockerfile_parse\nNAME = dockerfile_parse.__name__\n")
    monkeypatch.delitem(__import__("sys").modules, "helpers", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


def test_local_modules_must_be_copied_and_packages_they_import_listed(shell: Shell, helpers_package: Path) -> None:
    shell.run("%%rp_handler via\nimport runpod\nimport helpers\n\n\ndef handler(job):\n    return helpers.NAME\n\n\n"
              "runpod.serverless.start({'handler': handler})")
    shell.run('%rp_run via {"input": {}} --sync')
    result = shell.run("%rp_export via --out via-worker")
    assert "module 'helpers' is not from an installed distribution" in repr(result)
    report = rp_jupyter.verify("via", "via-worker")
    assert not report.ok
    assert report.problems[0].startswith("handler.py imports helpers (In[1]): it is a local module (")
    assert "copy __init__.py" not in report.problems[0] and "copy helpers next to handler.py" in report.problems[0]
    # copied as the report says: now its own import of a package requirements.txt lacks is named, through it
    (Path("via-worker") / "helpers").mkdir()
    (Path("via-worker") / "helpers" / "__init__.py").write_text((helpers_package / "__init__.py").read_text())
    dockerfile = Path("via-worker/Dockerfile")
    dockerfile.write_text(dockerfile.read_text().replace("COPY handler.py", "COPY helpers /helpers\nCOPY handler.py"))
    Path("via-worker/.dockerignore").write_text(Path("via-worker/.dockerignore").read_text() + "!helpers\n")
    report = rp_jupyter.verify("via", "via-worker")
    assert report.problems == [
        "handler.py imports dockerfile_parse (In[1], through helpers) but requirements.txt does not list it "
        f"(the kernel has it from dockerfile-parse {importlib.metadata.version('dockerfile-parse')})"]


def test_a_local_module_in_the_folder_that_the_dockerfile_does_not_copy(
        shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("rp_demo_utils.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(Path.cwd()))  # the notebook's folder, as a kernel has it
    shell.run("%%rp_handler util\nimport runpod\nfrom rp_demo_utils import double\n\n\ndef handler(job):\n"
              "    return double(job['input'])\n\n\nrunpod.serverless.start({'handler': handler})")
    shell.run('%rp_run util {"input": 2} --sync')
    shell.run("%rp_export util --out util-worker")
    # next to handler.py, as export's note says, but not yet in the Dockerfile's COPY line
    Path("util-worker/rp_demo_utils.py").write_text(Path("rp_demo_utils.py").read_text())
    report = rp_jupyter.verify("util", "util-worker")
    assert report.problems == [
        "handler.py imports rp_demo_utils (In[1]): local module rp_demo_utils.py is in the folder but the Dockerfile "
        "does not copy it: add it to the COPY line, and a !rp_demo_utils.py line to .dockerignore"]


def test_the_cold_start_has_one_line_per_statement_and_names_a_slow_one_first(shell: Shell) -> None:
    shell.run("import time\nimport json")
    shell.run("%%rp_handler slow\nimport runpod\n\n\ndef load_model():\n    time.sleep(1)  # stands in for loading weights\n"
              "    return {'scale': 2}\n\n\nMODEL = load_model()\nCONFIG = json.loads('{\"offset\": 1}')\n\n\n"
              "def handler(job):\n    return job['input'] * MODEL['scale'] + CONFIG['offset']\n\n\n"
              "runpod.serverless.start({'handler': handler})")
    shell.run('%rp_run slow {"input": 2} --sync')
    started = time.perf_counter()
    result = shell.run("%rp_export slow --out slow-worker --verify")
    took = time.perf_counter() - started
    report = result.report
    assert report.ok, repr(report)
    cold = report.cold_start
    labels = [(s.label, s.cell) for s in cold.steps[1:]]
    assert labels == [("import time", "In[1]"), ("import json", "In[1]"), ("import runpod", "In[2]"),
                      ("def load_model(): time.sleep(1)  # stands in for loading weights return {'scale': 2}", "In[2]"),
                      ("MODEL = load_model()", "In[2]"), ("CONFIG = json.loads('{\"offset\": 1}')", "In[2]"),
                      ("def handler(job): return job['input'] * MODEL['scale'] + CONFIG['offset']", "In[2]"),
                      ("runpod.serverless.start(...) until the first job is taken", None)], labels
    assert [s.kind for s in cold.steps] == ["interpreter", "statement", "statement", "sdk", "statement", "statement",
                                            "statement", "statement", "start"]
    slowest = cold.slowest()
    assert slowest[0].label == "MODEL = load_model()" and slowest[0].seconds >= 1.0
    assert all(s.seconds < slowest[0].seconds for s in cold.steps if s.kind == "statement" and s is not slowest[0])
    assert "bake the weights into the image at build time" in slowest[0].remedy and cold.first_job_taken
    assert "slowest 1: MODEL = load_model() (" in repr(report)
    html = result._repr_html_()
    assert "<table>" in html and "MODEL = load_model()" in html
    rows = rp_jupyter.verify("slow", "slow-worker").cold_start.rows()  # the Python API returns it as data
    assert [r["kind"] for r in rows][:2] == ["interpreter", "statement"] and json.dumps(rows)
    assert took < 60, took  # a small handler verifies in < 10 s (docs/benchmarks.md); room for a loaded CI


def test_weights_loaded_inside_the_handler_are_named_per_job(shell: Shell) -> None:
    shell.run("%%rp_handler heavy\nimport runpod\nimport json\n\n\ndef load_model(path):\n    return json.loads('[1]')\n\n\n"
              "def handler(job):\n    model = load_model('/weights')\n    return model\n\n\n"
              "runpod.serverless.start({'handler': handler})")
    shell.run('%rp_run heavy {"input": 1} --sync')
    shell.run("%rp_export heavy --out heavy-worker")
    report = rp_jupyter.verify("heavy", "heavy-worker")
    assert report.ok and report.cold_start.per_job
    assert report.cold_start.per_job[0].startswith("handler() calls load_model() (line ")
    assert "load the model once at module level" in report.cold_start.per_job[0]
