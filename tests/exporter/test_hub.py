"""The RunPod Hub's files, pure parts: env var discovery, GPU mapping, disk, schemas, listing text."""

from __future__ import annotations

import json

import pytest

from rp_jupyter.exporter import (
    Cell,
    GpuFacts,
    HubFacts,
    HubTest,
    build_export,
    env_reads,
    hub_problems,
    looks_secret,
    plan_gpus,
    probe_environment,
)
from rp_jupyter.exporter._disk import estimate_disk, requirement_names
from rp_jupyter.exporter._gpu import GPU_IDS, POOLS, allowed_cuda
from rp_jupyter.exporter._model import HandlerConfig
from rp_jupyter.exporter._schema import load_schema

GB = 1024  # MB


# ---- env vars -------------------------------------------------------------------------------
ENV_SOURCE = '''
import os
import os as system
from os import environ as env, getenv

MODEL = os.environ["MODEL_NAME"]
URL = os.environ.get("DATABASE_URL")


def handler(job):
    tokens = int(os.environ.get("MAX_TOKENS", 256))
    token = system.getenv("HF_TOKEN")
    mode = env.get("MODE", "fast")
    temperature = getenv("TEMPERATURE", 0.7)
    key = os.environ["OPENAI_API_KEY"]
    other = os.environ[job["input"]["which"]]
    os.environ.setdefault("CACHE_DIR", "/tmp/cache")
    return os.environ.get("RUNPOD_POD_ID"), MODEL, URL
'''


def test_env_vars_are_found_in_all_three_access_forms_through_aliases():
    reads = {r.name: r for r in env_reads(ENV_SOURCE) if r.name}
    assert list(reads) == ["MODEL_NAME", "DATABASE_URL", "MAX_TOKENS", "HF_TOKEN", "MODE", "TEMPERATURE", "OPENAI_API_KEY",
                           "CACHE_DIR", "RUNPOD_POD_ID"]
    assert (reads["MAX_TOKENS"].default, reads["MAX_TOKENS"].kind) == (256, "number")
    assert (reads["MODE"].default, reads["MODE"].kind) == ("fast", "string")
    assert reads["TEMPERATURE"].kind == "number" and reads["MODEL_NAME"].default is None
    computed = [r for r in env_reads(ENV_SOURCE) if r.name is None]
    assert [r.line for r in computed] == [16]


@pytest.mark.parametrize(("name", "value", "secret"), [
    ("HF_TOKEN", None, True), ("OPENAI_API_KEY", None, True), ("DB_PASSWORD", None, True),
    ("AWS_SECRET_ACCESS_KEY", None, True), ("GCP_CREDENTIALS", None, True), ("API_KEYS", None, True),
    ("TOKENIZER_NAME", None, False), ("MAX_TOKENS", None, False), ("MODEL_NAME", None, False),
    ("DATABASE_URL", "postgres://user:hunter2@db/app", True), ("WEIGHTS", "hf_abcdefgh", True),
    ("HOMEPAGE", "https://example.com/a", False),
])
def test_secret_looking_names_and_values(name, value, secret):
    assert looks_secret(name, value) is secret


def build_hub(source: str, environ: dict[str, str] | None = None, tests=(), gpu=GpuFacts(), **config):
    cfg = HandlerConfig("echo", "handler", None, **config)
    facts = HubFacts(gpu, environ or {}, tuple(tests))
    return build_export(cfg, [Cell("In[1]", source)], probe_environment(), hub=facts)


def test_env_entries_carry_the_kernels_values_and_never_a_secret_one():
    secrets = {"HF_TOKEN": "hf_thisisasecret", "OPENAI_API_KEY": "sk-alsosecret", "DATABASE_URL": "x://u:pw@h"}
    export = build_hub(ENV_SOURCE, {**secrets, "MAX_TOKENS": "512", "MODEL_NAME": "gpt2"},
                       [HubTest("t", {"a": 1}, 10_000)])
    hub = json.loads(export.files[".runpod/hub.json"])
    env = {e["key"]: e for e in hub["config"]["env"]}
    assert set(env) == {"MODEL_NAME", "MAX_TOKENS", "HF_TOKEN", "MODE", "TEMPERATURE", "OPENAI_API_KEY",
                        "CACHE_DIR", "DATABASE_URL"}  # RUNPOD_POD_ID: RunPod sets it
    assert env["MAX_TOKENS"]["input"] == {"name": "Max tokens", "type": "number", "default": 512,
                                          "description": "Read by handler.py (line 16); default: the notebook's kernel had this value."}
    assert env["MODE"]["input"]["default"] == "fast" and env["MODEL_NAME"]["input"]["default"] == "gpt2"
    for name in secrets:
        assert "default" not in env[name]["input"] and "value" not in env[name], name
    tests = json.loads(export.files[".runpod/tests.json"])
    assert {e["key"] for e in tests["config"]["env"]} == {"MAX_TOKENS", "MODEL_NAME", "MODE", "TEMPERATURE", "CACHE_DIR"}
    everything = "\n".join(export.files.values()) + "\n".join(export.notes)
    for value in secrets.values():
        assert value not in everything
    assert any("line 21 reads an environment variable whose name is computed" in n for n in export.notes)
    assert not export.hub_problems, export.hub_problems


# ---- GPU ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("facts", "pools", "test_gpu"), [
    (GpuFacts("NVIDIA H100 80GB HBM3", 80 * GB, 10 * GB), ("AMPERE_16", "AMPERE_24", "ADA_24"), "NVIDIA RTX A4000"),
    (GpuFacts("NVIDIA GeForce RTX 4090", 24 * GB, 20 * GB), ("AMPERE_48", "ADA_48_PRO", "AMPERE_80"), "NVIDIA RTX A6000"),
    (GpuFacts("NVIDIA H200", 141 * GB, 100 * GB), ("HOPPER_141",), "NVIDIA H200"),
    (GpuFacts("NVIDIA H200", 141 * GB, 12.5 * GB), ("AMPERE_16", "AMPERE_24", "ADA_24"), "NVIDIA RTX A4000"),
    (GpuFacts("NVIDIA H200", 141 * GB, 12.6 * GB), ("AMPERE_24", "ADA_24", "AMPERE_48"), "NVIDIA L4"),
    (GpuFacts("NVIDIA A100-SXM4-80GB", 80 * GB, None), ("AMPERE_80", "ADA_80_PRO", "HOPPER_141"), "NVIDIA A100 80GB PCIe"),
    (GpuFacts("Tesla T4", 15 * GB, 3 * GB), ("AMPERE_16", "AMPERE_24", "ADA_24"), "NVIDIA RTX A4000"),
    (GpuFacts("NVIDIA H200", 141 * GB, 150 * GB), ("HOPPER_141",), "NVIDIA H200"),
    (GpuFacts(), ("AMPERE_16", "AMPERE_24", "ADA_24"), "NVIDIA RTX A4000"),
])
def test_gpu_pools_from_the_kernels_device_and_peak_memory(facts, pools, test_gpu):
    plan = plan_gpus(facts)
    assert (plan.pools, plan.test_gpu) == (pools, test_gpu), plan.notes
    memory = {pool.id: pool.memory_gb for pool in POOLS}
    if facts.peak_mb is not None and facts.peak_mb < 140 * GB:  # the headroom holds in every chosen pool
        assert all(memory[p] >= facts.peak_mb / GB * 1.2 + 1 for p in plan.pools)


def test_gpu_notes_say_how_the_need_was_found():
    assert "20 %" in plan_gpus(GpuFacts("NVIDIA H200", 141 * GB, 10 * GB, "torch")).notes[0]
    assert "developed on NVIDIA H200 (pool HOPPER_141)" in plan_gpus(GpuFacts("NVIDIA H200", 141 * GB, 1)).notes
    assert "no peak GPU memory was measured" in plan_gpus(GpuFacts("NVIDIA L4", 24 * GB)).notes[0]
    assert "more than one GPU" in plan_gpus(GpuFacts(None, None, 200 * GB)).notes[-1]


@pytest.mark.parametrize(("image", "build", "first"), [
    ("runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2204", "12.6", "12.8"),
    ("runpod/base:1.0.2-cuda1300-ubuntu2204", None, "13.0"),
    ("my/image:1", "12.4", "12.4"),
])
def test_allowed_cuda_versions_start_at_the_images_cuda(image, build, first):
    versions = allowed_cuda(image, build)
    assert versions[0] == first and versions[-1] == "13.0"
    assert allowed_cuda("python:3.11-slim", None) == []


def test_a_cuda_torch_handler_runs_on_gpu_pools():
    env = probe_environment()
    env = type(env)(env.python, env.rp_jupyter, {**env.modules, "torch": ("torch",)},
                    {**env.versions, "torch": ("torch", "2.8.0+cu128")}, "12.8")
    source = "import torch\n\n\ndef handler(job):\n    return torch.__version__\n"
    facts = HubFacts(GpuFacts("NVIDIA H100 80GB HBM3", 80 * GB, 30 * GB, "torch"), {}, (HubTest("t", {}, 5000),),
                     installed=lambda name: (2 * 1024**3, []) if name == "torch" else None)
    export = build_export(HandlerConfig("gen", "handler"), [Cell("In[1]", source)], env, hub=facts)
    hub = json.loads(export.files[".runpod/hub.json"])["config"]
    tests = json.loads(export.files[".runpod/tests.json"])["config"]
    assert hub["runsOn"] == "GPU" and hub["gpuIds"] == "AMPERE_48,ADA_48_PRO,AMPERE_80" and hub["gpuCount"] == 1
    assert hub["allowedCudaVersions"] == ["12.8", "12.9", "13.0"]
    assert tests["gpuTypeId"] == "NVIDIA RTX A6000" and tests["gpuCount"] == 1 and "cpuFlavor" not in tests
    assert hub["containerDiskInGb"] == 20  # the image brings torch (not counted again): 12 GB x 1.25 + 5
    assert not export.hub_problems, export.hub_problems


# ---- disk -----------------------------------------------------------------------------------
def test_disk_counts_the_requirements_and_their_dependencies_once():
    sizes = {"a": (1024**3, ["b", "c"]), "b": (1024**3, ["c"]), "c": (1024**3, []), "torch": (5 * 1024**3, ["c"])}
    estimate = estimate_disk("python:3.11-slim", ["a", "torch"], ["torch"], lambda n: sizes.get(n))
    assert (estimate.distributions, round(estimate.packages_gb)) == (3, 3)
    assert estimate.gb == 9  # (0.2 + 3) x 1.25 + 5 = 9.0
    real = estimate_disk("python:3.11-slim", ["httpx"])  # the kernel's own installed sizes
    assert real.distributions >= 4 and real.packages_gb > 0
    assert requirement_names("# c\n--extra-index-url https://x\nTorch==2.8.0+cu128\nruntime_x[a]==1\n") == [
        "torch", "runtime-x"]


# ---- schema ---------------------------------------------------------------------------------
def test_the_schemas_list_runpods_documented_pools_and_gpu_ids():
    hub, tests = load_schema("hub"), load_schema("tests")
    assert hub["$defs"]["gpuPool"]["enum"] == [pool.id for pool in POOLS]
    assert hub["$defs"]["gpuId"]["enum"] == tests["$defs"]["gpuId"]["enum"] == sorted(GPU_IDS)
    assert hub["properties"]["category"]["enum"] == ["audio", "embedding", "language", "video", "image"]


def valid_files() -> dict[str, str]:
    hub = {"title": "t", "description": "d", "type": "serverless", "category": "image",
           "config": {"runsOn": "GPU", "containerDiskInGb": 20, "gpuCount": 1,
                      "gpuIds": "ADA_24,AMPERE_24,-NVIDIA GeForce RTX 3090", "allowedCudaVersions": ["12.8"],
                      "env": [{"key": "A", "value": "1"},
                              {"key": "B", "input": {"name": "B", "type": "number", "default": 2, "min": 1}}],
                      "presets": [{"name": "fast", "defaults": {"B": 3}}]}}
    tests = {"tests": [{"name": "one", "input": {"x": 1}, "timeout": 10000}],
             "config": {"gpuTypeId": "NVIDIA GeForce RTX 4090", "gpuCount": 1}}
    return {".runpod/hub.json": json.dumps(hub), ".runpod/tests.json": json.dumps(tests)}


def edited(path: str, change) -> dict[str, str]:
    files = valid_files()
    data = json.loads(files[path])
    change(data)
    files[path] = json.dumps(data)
    return files


def test_valid_files_have_no_problem():
    assert hub_problems(valid_files()) == []


@pytest.mark.parametrize(("path", "change", "problem"), [
    (".runpod/hub.json", lambda d: d.update(category="chat"), "category: 'chat' is not one of"),
    (".runpod/hub.json", lambda d: d.update(type="pod"), "type: 'serverless' was expected"),
    (".runpod/hub.json", lambda d: d.pop("title"), "(top level): 'title' is a required property"),
    (".runpod/hub.json", lambda d: d.update(catgory="x"), "Additional properties are not allowed ('catgory'"),
    (".runpod/hub.json", lambda d: d["config"].update(gpuIds="ADA_24,ADA_99"),
     "config.gpuIds: item 2 'ADA_99': must be a GPU pool id, a GPU id, or a GPU id negated"),
    (".runpod/hub.json", lambda d: d["config"].pop("gpuCount"), "config: 'gpuCount' is a required property"),
    (".runpod/hub.json", lambda d: d["config"].update(runsOn="CPU"), "config: 'cpuFlavor' is a required property"),
    (".runpod/hub.json", lambda d: d["config"].update(containerDiskInGb=20.5), "config.containerDiskInGb: 20.5 is not of type 'integer'"),
    (".runpod/hub.json", lambda d: d["config"]["env"].append({"key": "C", "value": "1", "input": {"name": "C", "type": "string"}}),
     "config.env[2]: needs either a static value or an input, not both"),
    (".runpod/hub.json", lambda d: d["config"]["env"][1]["input"].update(default="two"),
     "config.env[1].input.default: 'two' is not of type 'number'"),
    (".runpod/hub.json", lambda d: d["config"]["env"].append({"key": "1BAD", "value": "x"}),
     "config.env[2].key: '1BAD' does not match"),
    (".runpod/tests.json", lambda d: d["tests"][0].update(timeout="10s"), "tests[0].timeout: '10s' is not of type 'integer'"),
    (".runpod/tests.json", lambda d: d["tests"][0].update(input="hello"), "tests[0].input: 'hello' is not of type 'object'"),
    (".runpod/tests.json", lambda d: d.update(tests=[]), "tests: [] should be non-empty"),
    (".runpod/tests.json", lambda d: d["config"].update(gpuTypeId="RTX 4090"),
     "config.gpuTypeId: 'RTX 4090' is not one of the 38 allowed values"),
    (".runpod/tests.json", lambda d: d["config"].clear(),
     "config: a GPU listing (runsOn GPU) needs gpuTypeId and gpuCount to test on"),
])
def test_each_problem_is_one_line_naming_file_and_field(path, change, problem):
    problems = hub_problems(edited(path, change))
    assert any(p.startswith(path) and problem in p for p in problems), problems
    assert all("\n" not in p for p in problems)


EDITS = [(path, change) for path, change, problem in [
    *[(c[0], c[1], c[2]) for c in [
        (".runpod/hub.json", lambda d: d["config"].update(allowedCudaVersions=["12.8", "12.8"]), ""),
        (".runpod/hub.json", lambda d: d["config"]["presets"][0]["defaults"].update({"bad key": 1}), ""),
        (".runpod/hub.json", lambda d: d["config"]["env"][1]["input"].update(type="boolean", default=True), ""),
        (".runpod/hub.json", lambda d: d["config"]["env"][1]["input"].update(default=True), ""),
        (".runpod/hub.json", lambda d: d["config"].update(containerDiskInGb=20.0), ""),
        (".runpod/hub.json", lambda d: d["config"].update(containerDiskInGb=0), ""),
        (".runpod/hub.json", lambda d: d.update(iconUrl="not a url"), ""),
        (".runpod/tests.json", lambda d: d["config"].update(cpuFlavor="cpu3c"), ""),
        (".runpod/tests.json", lambda d: d["config"].pop("gpuCount"), ""),
        (".runpod/tests.json", lambda d: d["tests"][0].update(timeout=True), ""),
    ]],
]]


@pytest.mark.parametrize(("path", "change", "problem"), [
    *[(p, c, "") for p, c in EDITS],
    *[(p, c, m) for p, c, m in test_each_problem_is_one_line_naming_file_and_field.pytestmark[0].args[1]
      if "needs gpuTypeId" not in m],  # the cross-file rule is rp_jupyter's, not the schema's
])
def test_the_checks_agree_with_jsonschema(path, change, problem):
    """jsonschema (the reference implementation, draft 2020-12, with the one extra keyword added the way
    jsonschema adds keywords) is the oracle of rp_jupyter's own checks: same verdict, as many errors."""
    import jsonschema

    def comma_separated(validator, item_schema, instance, schema):
        for item in instance.split(",") if isinstance(instance, str) else []:
            yield from validator.descend(item.strip(), item_schema)

    oracle_class = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-comma-separated": comma_separated})
    name = path.split("/")[-1].split(".")[0]
    data = json.loads(edited(path, change)[path])
    oracle = oracle_class(load_schema(name))
    ours = [p for p in hub_problems(edited(path, change)) if p.startswith(path)]
    assert oracle.is_valid(data) == (not ours), ours
    assert len(ours) == len(list(oracle.iter_errors(data))), ours


def test_every_keyword_the_schemas_use_is_checked():
    from rp_jupyter.exporter._schema import _Validator

    used: set[str] = set()

    def walk(node, named=False):
        if isinstance(node, dict):
            for key, value in node.items():
                if not named:
                    used.add(key)
                walk(value, key in ("properties", "$defs", "dependentRequired") and not named)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for name in ("hub", "tests"):
        walk(load_schema(name))
    annotations = {"$schema", "$id", "$defs", "title", "description", "then", "else"}
    checked = {k for k in used - annotations if hasattr(_Validator, "k_" + k.replace("-", "_").lstrip("$"))}
    assert used - annotations == checked


def test_files_that_are_not_json_or_missing_are_reported():
    files = valid_files()
    files[".runpod/hub.json"] = "{not json"
    del files[".runpod/tests.json"]
    assert hub_problems(files) == [".runpod/hub.json: not JSON: Expecting property name enclosed in double "
                                   "quotes: line 1 column 2 (char 1)", ".runpod/tests.json: missing"]


# ---- listing --------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "title", "description"), [
    ('def handler(job):\n    """Upscale an image.\n\n    Takes a URL, returns a PNG."""\n    return 1\n',
     "Upscale an image", "Takes a URL, returns a PNG."),
    ("# Sentiment of a text\n# Returns a label and a score.\nimport os\n\n\ndef handler(job):\n    return 1\n",
     "Sentiment of a text", "Returns a label and a score."),
    ("def handler(job):\n    return 1\n", "echo", "RunPod Serverless worker 'echo', exported from a Jupyter notebook by rp_jupyter."),
])
def test_title_and_description_from_the_docstring_or_the_cells_leading_comment(source, title, description):
    export = build_hub(source, tests=[HubTest("t", {}, 1000)])
    hub = json.loads(export.files[".runpod/hub.json"])
    assert (hub["title"], hub["description"]) == (title, description)


def test_category_is_guessed_from_imports_and_cpu_only_is_said():
    export = build_hub("import PIL\n\n\ndef handler(job):\n    return PIL.__name__\n", tests=[HubTest("t", {}, 1000)])
    hub = json.loads(export.files[".runpod/hub.json"])
    assert hub["category"] == "image" and hub["config"]["runsOn"] == "CPU" and hub["config"]["cpuFlavor"] == "cpu3c"
    assert any("CPU-only" in note for note in export.notes)
    assert json.loads(export.files[".runpod/tests.json"])["config"] == {"cpuFlavor": "cpu3c"}


def test_tests_with_a_non_object_input_are_left_out_with_a_note():
    export = build_hub("def handler(job):\n    return 1\n", tests=[HubTest("s", "text", 1000), HubTest("o", {"a": 1}, 2000)])
    assert json.loads(export.files[".runpod/tests.json"])["tests"] == [{"name": "o", "input": {"a": 1}, "timeout": 2000}]
    assert any("test 's' left out" in note for note in export.notes)
    empty = build_hub("def handler(job):\n    return 1\n")
    assert empty.hub_problems == [".runpod/tests.json: tests: [] should be non-empty"]


def test_the_readme_explains_publishing_and_every_file():
    readme = build_hub("def handler(job):\n    return 1\n").files["README.md"]
    for expected in ("## Publish on the RunPod Hub", "GitHub release", "the Hub indexes releases, not commits",
                     "reviews it", "| `.runpod/hub.json` |", "| `.runpod/tests.json` |", "| `Dockerfile` |"):
        assert expected in readme, expected


def test_a_verdicts_diff_is_capped_for_the_notebook():
    from rp_jupyter.exporter import Outcome, RecordedTest, check

    test = RecordedTest("big", {"input": {}}, 1000, "COMPLETED", {"output": list(range(500))}, [], [], "job-a")
    changed = check(test, Outcome("job-b", "COMPLETED", {"output": [-n for n in range(500)]}, [], []))
    assert changed.verdict == "changed" and len(changed.diff.splitlines()) == 61
    assert changed.diff.endswith("more diff lines)")
