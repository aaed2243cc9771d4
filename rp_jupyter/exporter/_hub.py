"""``.runpod/hub.json`` and ``.runpod/tests.json`` for the RunPod Hub, filled from the notebook.

Format: RunPod's Hub publishing guide (https://docs.runpod.io/hub/publishing-guide). The listing's
title and description come from the handler's docstring (else its cell's leading comment), the GPU
config from the kernel's GPU and peak memory (:mod:`._gpu`), the container disk from the installed
sizes of the requirements (:mod:`._disk`), ``env`` from the variables handler.py reads
(:mod:`._envvars`) with the kernel's values — never a secret-looking one — and the tests from the
jobs kept with ``%rp_tests add``. Pure: plain data in, text out.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from ._cells import Cell, Statement
from ._disk import Installed, estimate_disk, requirement_names
from ._docker import GPU_FRAMEWORKS, BaseImage
from ._envvars import EnvRead, env_reads, looks_secret, platform_variable
from ._gpu import GpuFacts, allowed_cuda, plan_gpus
from ._handler import find_function
from ._model import Environment, HandlerConfig

__all__ = ["HubFacts", "HubTest", "guess_category", "hub_files", "listing_text", "publishing_readme"]

CPU_FLAVOR = "cpu3c"
CATEGORIES = {  # checked in this order: the first category whose modules handler.py imports
    "embedding": {"sentence_transformers", "FlagEmbedding", "infinity_emb", "fastembed"},
    "audio": {"whisper", "faster_whisper", "whisperx", "torchaudio", "librosa", "soundfile", "TTS", "bark",
              "pyannote", "speechbrain", "kokoro", "audiocraft", "pydub"},
    "video": {"decord", "av", "moviepy", "imageio_ffmpeg", "ffmpeg"},
    "image": {"diffusers", "PIL", "torchvision", "cv2", "controlnet_aux", "insightface", "skimage"},
}


@dataclasses.dataclass(frozen=True)
class HubTest:
    """One request the Hub sends to a release: a name, the request's ``input``, a timeout in ms."""

    name: str
    input: Any
    timeout_ms: int


@dataclasses.dataclass(frozen=True)
class HubFacts:
    """What the notebook knows beyond the export's own inputs: the GPU and its peak memory, the
    kernel's environment variables, the kept tests, a chosen category."""

    gpu: GpuFacts = dataclasses.field(default_factory=GpuFacts)
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tests: tuple[HubTest, ...] = ()
    category: str | None = None
    installed: Installed | None = None  # distribution sizes (default: the kernel's own)


def hub_files(
    config: HandlerConfig, cells: list[Cell], statements: list[Statement], modules: set[str], env: Environment,
    base: BaseImage, files: Mapping[str, str], facts: HubFacts,
) -> tuple[dict[str, str], list[str]]:
    """``{".runpod/hub.json": ..., ".runpod/tests.json": ...}`` and notes on what was guessed."""
    notes: list[str] = []
    title, description = listing_text(config, cells, statements, notes)
    category = facts.category or guess_category(modules, notes)
    gpu = (bool(modules & GPU_FRAMEWORKS) and env.cuda is not None) or bool(allowed_cuda(base.name, None))
    disk = estimate_disk(base.name, requirement_names(files["requirements.txt"]),
                         ("torch",) if base.torch else (), facts.installed)
    notes.append(disk.note)
    machine, test_machine = _machine(gpu, base, env, facts.gpu, notes)
    entries, test_env = _env(files["handler.py"], facts.environ, notes)
    hub: dict[str, Any] = {"title": title, "description": description, "type": "serverless", "category": category,
                           "config": {"runsOn": "GPU" if gpu else "CPU", "containerDiskInGb": disk.gb, **machine}}
    if entries:
        hub["config"]["env"] = entries
    tests = {"tests": _tests(facts.tests, notes), "config": {**test_machine, **({"env": test_env} if test_env else {})}}
    return {".runpod/hub.json": _text(hub), ".runpod/tests.json": _text(tests)}, notes


def _text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def listing_text(config: HandlerConfig, cells: list[Cell], statements: list[Statement], notes: list[str]) -> tuple[str, str]:
    """The listing's title and description: the handler's docstring (first line, then the rest), else
    its cell's leading comment, else the handler's name."""
    statement = find_function(statements, config.function, config.source, "handler")
    doc = ast.get_docstring(statement.node) if isinstance(statement.node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    text = doc or _leading_comment(cells[statement.cell].source if statement.cell < len(cells) else "")
    if not text:
        notes.append(f"no docstring on {config.function}() nor a leading comment in its cell: the listing's title "
                     "and description are placeholders (a docstring fills them)")
        return config.name, f"RunPod Serverless worker {config.name!r}, exported from a Jupyter notebook by rp_jupyter."
    first, _, rest = text.strip().partition("\n")
    title = " ".join(first.split()).rstrip(".")
    return title, " ".join(rest.split()) or f"{title}."


def _leading_comment(source: str) -> str:
    lines: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped and not lines:
            continue
        if not stripped.startswith("#") or stripped.startswith(("#!", "# -*-", "# noqa", "# type:")):
            break
        lines.append(stripped.lstrip("#").strip())
    return "\n".join(lines)


def guess_category(modules: set[str], notes: list[str]) -> str:
    for category, wanted in CATEGORIES.items():
        found = sorted(modules & wanted)
        if found:
            notes.append(f"category {category!r} guessed from import {found[0]} (--category to change)")
            return category
    notes.append("category 'language' (the default: no audio, image, video or embedding library is imported; "
                 "--category to change)")
    return "language"


def _machine(gpu: bool, base: BaseImage, env: Environment, facts: GpuFacts,
             notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """hub.json's machine keys and tests.json's: GPU pools, count, CUDA versions; or a CPU flavor."""
    if not gpu:
        notes.append(f"CPU-only: handler.py uses no GPU framework with CUDA; runs on {CPU_FLAVOR!r} workers")
        return {"cpuFlavor": CPU_FLAVOR}, {"cpuFlavor": CPU_FLAVOR}
    plan = plan_gpus(facts)
    notes += [f"GPU: {note}" for note in plan.notes]
    notes.append(f"GPU pools {plan.gpu_ids}; the Hub tests on {plan.test_gpu}")
    cuda = allowed_cuda(base.name, env.cuda)
    hub: dict[str, Any] = {"gpuCount": 1, "gpuIds": plan.gpu_ids}
    test: dict[str, Any] = {"gpuTypeId": plan.test_gpu, "gpuCount": 1}
    if cuda:
        hub["allowedCudaVersions"] = test["allowedCudaVersions"] = cuda
    return hub, test


def _env(handler_py: str, environ: Mapping[str, str], notes: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """hub.json's ``env`` entries and tests.json's ``env`` values; secrets get an input without a value."""
    entries: list[dict[str, Any]] = []
    values: list[dict[str, str]] = []
    skipped = []
    for read in env_reads(handler_py):
        if read.name is None:
            notes.append(f"handler.py line {read.line} reads an environment variable whose name is computed: not listed in env")
        elif platform_variable(read.name):
            skipped.append(read.name)
        else:
            entry, value = _env_entry(read, environ.get(read.name))
            entries.append(entry)
            if value is not None:
                values.append({"key": read.name, "value": value})
    if skipped:
        notes.append(f"env: {', '.join(skipped)} left out (set by RunPod or the container)")
    return entries, values


def _env_entry(read: EnvRead, kernel: str | None) -> tuple[dict[str, Any], str | None]:
    assert read.name is not None
    label = read.name.replace("_", " ").strip().capitalize()
    if looks_secret(read.name, kernel) or looks_secret(read.name, str(read.default) if read.default else None):
        described = "Secret (read by handler.py): give it when you deploy; rp_jupyter never writes its value."
        return {"key": read.name, "input": {"name": label, "type": "string", "description": described}}, None
    value = kernel if kernel is not None else read.default
    where = "the notebook's kernel had this value" if kernel is not None else "handler.py's default"
    entry: dict[str, Any] = {"name": label, "type": read.kind, "description": f"Read by handler.py (line {read.line})"}
    if value is not None:
        typed = _number(value) if read.kind == "number" else str(value)
        if typed is None:  # converted with int() in the code, but the kernel's value is not a number
            entry["type"], typed = "string", str(value)
        entry["default"] = typed
        entry["description"] += f"; default: {where}."
    return {"key": read.name, "input": entry}, None if value is None else str(value)


def _number(value: object) -> int | float | None:
    if isinstance(value, (int, float)):
        return value
    try:
        number = float(str(value))
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def _tests(tests: tuple[HubTest, ...], notes: list[str]) -> list[dict[str, Any]]:
    out = []
    for test in tests:
        if not isinstance(test.input, dict):
            notes.append(f"test {test.name!r} left out of tests.json: the Hub's tests take an object as input, "
                         f"this one is {type(test.input).__name__}")
            continue
        out.append({"name": test.name, "input": test.input, "timeout": test.timeout_ms})
    if not out:
        notes.append("tests.json has no test: keep jobs as tests first (%rp_tests add NAME)")
    return out


def publishing_readme(name: str, hub: bool) -> str:
    """The worker README's section on publishing to the Hub, and what each generated file is for."""
    hub_line = ("`.runpod/hub.json` and `.runpod/tests.json` are here (`%rp_export ... --hub`)." if hub else
                f"Export with `%rp_export {name} --hub`: it adds `.runpod/hub.json` and `.runpod/tests.json`.")
    return "\n".join([
        "## Publish on the RunPod Hub", "",
        "The [RunPod Hub](https://www.runpod.io/console/hub) lists worker repositories from GitHub",
        "([publishing guide](https://docs.runpod.io/hub/publishing-guide)):", "",
        f"1. {hub_line}",
        "   Read them before publishing: `hub.json` is the listing (title, description, category, GPU pools,",
        "   container disk, the environment variables a deployer can set) and `tests.json` the requests the",
        "   Hub sends to every release, with their timeouts and the machine they run on.",
        "2. Push this folder as the root of a GitHub repository.",
        "3. In the RunPod console open **Hub**, then **Add your repo** > **Get Started**, and give the",
        "   repository's URL.",
        "4. Create a **GitHub release**: the Hub indexes releases, not commits. It builds the image, runs",
        "   `tests.json` (a test passes when the endpoint answers 200) and marks the repo *Pending*; then",
        "   the RunPod team reviews it before it is published.",
        "5. To update the listing, export again and create a new release (indexed within about an hour).", "",
        "## Files", "",
        "| file | what it is for |", "| --- | --- |",
        "| `handler.py` | the handler and exactly the notebook code it needs; `runpod.serverless.start(...)` |",
        "| `requirements.txt` | the distributions handler.py imports, pinned to the notebook kernel's versions |",
        "| `Dockerfile` | the image: a pinned base, the requirements layer, then the code |",
        "| `.dockerignore` | keeps everything else out of the image |",
        "| `.rp_jupyter.json` | what the export wrote (so a later export never replaces a file of yours) |",
        "| `test_input.json` | a request for RunPod's local test mode (`python handler.py`) |",
        "| `.runpod/hub.json` | the Hub listing and deployment settings (with `--hub`) |",
        "| `.runpod/tests.json` | the Hub's release tests (with `--hub`) |",
        "| `README.md` | this file |", "",
    ])
