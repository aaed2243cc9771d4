"""Checking ``.runpod/hub.json`` and ``.runpod/tests.json`` against the JSON Schemas shipped in
``rp_jupyter/exporter/schemas/`` (written from RunPod's Hub publishing guide): one line a problem.

The schemas are plain JSON Schema (draft 2020-12) plus one keyword, ``x-comma-separated``, which
applies its schema to each item of a comma-separated string (``gpuIds``); other validators ignore it.
Two rules span both files and are checked here: a GPU listing tests on a GPU, a CPU listing on a CPU.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

__all__ = ["hub_problems", "load_schema"]


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """``hub`` or ``tests``: the shipped schema."""
    text = resources.files(__package__).joinpath("schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema  # type: ignore[import-untyped]

    def comma_separated(validator: Any, item_schema: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not isinstance(instance, str):
            return
        for index, item in enumerate(instance.split(",")):
            for error in validator.descend(item.strip(), item_schema):
                error.rp_message = f"item {index + 1} {item.strip()!r}: {_message(error)}"
                yield error

    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-comma-separated": comma_separated})
    return cls(load_schema(name))


def hub_problems(files: Mapping[str, str]) -> list[str]:
    """Every problem of the ``.runpod/hub.json`` and ``.runpod/tests.json`` texts in ``files`` (paths as
    export writes them), one line each: ``.runpod/hub.json: config.gpuIds: ...``."""
    problems: list[str] = []
    parsed: dict[str, Any] = {}
    for name in ("hub", "tests"):
        path = f".runpod/{name}.json"
        if path not in files:
            problems.append(f"{path}: missing")
            continue
        try:
            parsed[name] = json.loads(files[path])
        except ValueError as exc:
            problems.append(f"{path}: not JSON: {exc}")
            continue
        errors = sorted(_validator(name).iter_errors(parsed[name]), key=lambda e: list(e.absolute_path))
        problems += [f"{path}: {_where(error.absolute_path)}: {_message(error)}" for error in errors]
    problems += _across(parsed.get("hub"), parsed.get("tests"))
    return [problem.replace("\n", " ") for problem in problems]


def _across(hub: Any, tests: Any) -> list[str]:
    """The tests' machine matches the listing's: a GPU listing tests on a GPU, a CPU one on a CPU."""
    if not isinstance(hub, dict) or not isinstance(tests, dict):
        return []
    hub_config, config = hub.get("config"), tests.get("config")
    runs_on = hub_config.get("runsOn") if isinstance(hub_config, dict) else None
    config = config if isinstance(config, dict) else {}
    if runs_on == "GPU" and "gpuTypeId" not in config:
        return [".runpod/tests.json: config: a GPU listing (runsOn GPU) needs gpuTypeId and gpuCount to test on"]
    if runs_on == "CPU" and "cpuFlavor" not in config:
        return [".runpod/tests.json: config: a CPU listing (runsOn CPU) needs cpuFlavor to test on"]
    return []


def _where(path: Any) -> str:
    parts = ""
    for part in path:
        parts += f"[{part}]" if isinstance(part, int) else f".{part}" if parts else str(part)
    return parts or "(top level)"


def _message(error: Any) -> str:
    """jsonschema's message, or for a combination (anyOf, not) the description the schema gives it."""
    if getattr(error, "rp_message", None):
        return str(error.rp_message)
    if error.validator in ("anyOf", "oneOf", "not") and isinstance(error.schema, dict):
        described = error.schema.get("description")
        if described:
            return str(described)
    if error.validator == "enum" and len(error.validator_value) > 8:
        return f"{error.instance!r} is not one of the {len(error.validator_value)} allowed values ({error.schema.get('description', 'see the schema')})"
    return str(error.message)
