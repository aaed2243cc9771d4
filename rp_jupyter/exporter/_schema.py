"""Checking ``.runpod/hub.json`` and ``.runpod/tests.json`` against the JSON Schemas shipped in
``rp_jupyter/exporter/schemas/`` (written from RunPod's Hub publishing guide): one line a problem.

The schemas are plain JSON Schema (draft 2020-12, so any validator reads them) plus one keyword,
``x-comma-separated``, which applies its schema to each item of a comma-separated string (``gpuIds``).
They are checked here by a small validator of the keywords they use, every problem reported, with
jsonschema's wording: ``import jsonschema`` costs 7-11 s in a Jupyter environment (its format checks
import ``rfc3987-syntax``, which compiles 38 grammars; measured, docs/hub.md), more than the whole
export. The tests hold it to jsonschema's verdicts. Two rules span both files and are checked here:
a GPU listing tests on a GPU, a CPU listing on a CPU.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from typing import Any

__all__ = ["hub_problems", "load_schema", "schema_errors"]

Path = tuple[Any, ...]
Error = tuple[Path, str]


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """``hub`` or ``tests``: the shipped schema."""
    text = resources.files(__package__).joinpath("schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


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
        errors = sorted(schema_errors(parsed[name], load_schema(name)), key=lambda e: [str(p) for p in e[0]])
        problems += [f"{path}: {_where(where)}: {message}" for where, message in errors]
    problems += _across(parsed.get("hub"), parsed.get("tests"))
    return [problem.replace("\n", " ") for problem in problems]


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[Error]:
    """Every place ``instance`` breaks ``schema`` (``$ref`` resolved in ``schema``), with a message."""
    return list(_Validator(schema).errors(instance, schema, ()))


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


def _where(path: Path) -> str:
    parts = ""
    for part in path:
        parts += f"[{part}]" if isinstance(part, int) else f".{part}" if parts else str(part)
    return parts or "(top level)"


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _TYPES["number"](a) and _TYPES["number"](b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


class _Validator:
    """The draft 2020-12 keywords the Hub schemas use; errors worded as jsonschema words them."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def valid(self, instance: Any, schema: Any) -> bool:
        return not any(True for _ in self.errors(instance, schema, ()))

    def errors(self, instance: Any, schema: Any, path: Path) -> Iterator[Error]:
        if schema is True or schema is False:
            yield from [] if schema else [(path, f"False schema does not allow {instance!r}")]
            return
        for keyword, value in schema.items():
            check = getattr(self, "k_" + keyword.replace("-", "_").lstrip("$"), None)
            if check is not None:
                yield from check(instance, value, schema, path)

    def _described(self, schema: dict[str, Any], fallback: str) -> str:
        return str(schema.get("description") or fallback)

    # ---- keywords ----------------------------------------------------------------------------
    def k_ref(self, instance: Any, ref: str, schema: Any, path: Path) -> Iterator[Error]:
        target: Any = self.root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        yield from self.errors(instance, target, path)

    def k_type(self, instance: Any, types: Any, schema: Any, path: Path) -> Iterator[Error]:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[name](instance) for name in names):
            yield path, f"{instance!r} is not of type {', '.join(map(repr, names))}"

    def k_enum(self, instance: Any, allowed: list[Any], schema: Any, path: Path) -> Iterator[Error]:
        if not any(_equal(instance, a) for a in allowed):
            if len(allowed) > 8:
                yield path, f"{instance!r} is not one of the {len(allowed)} allowed values ({self._described(schema, 'see the schema')})"
            else:
                yield path, f"{instance!r} is not one of {allowed!r}"

    def k_const(self, instance: Any, const: Any, schema: Any, path: Path) -> Iterator[Error]:
        if not _equal(instance, const):
            yield path, f"{const!r} was expected"

    def k_required(self, instance: Any, names: list[str], schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, dict):
            yield from ((path, f"{name!r} is a required property") for name in names if name not in instance)

    def k_properties(self, instance: Any, properties: dict[str, Any], schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if name in instance:
                    yield from self.errors(instance[name], sub, (*path, name))

    def k_additionalProperties(self, instance: Any, extra: Any, schema: Any, path: Path) -> Iterator[Error]:
        if not isinstance(instance, dict):
            return
        unknown = [name for name in instance if name not in schema.get("properties", {})]
        if extra is False and unknown:
            verb = "was" if len(unknown) == 1 else "were"
            yield path, f"Additional properties are not allowed ({', '.join(map(repr, unknown))} {verb} unexpected)"
        elif isinstance(extra, dict):
            for name in unknown:
                yield from self.errors(instance[name], extra, (*path, name))

    def k_propertyNames(self, instance: Any, names: Any, schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, dict):
            for name in instance:
                yield from self.errors(name, names, path)

    def k_dependentRequired(self, instance: Any, needs: dict[str, list[str]], schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, dict):
            for name, others in needs.items():
                if name in instance:
                    yield from ((path, f"{other!r} is a dependency of {name!r}") for other in others if other not in instance)

    def k_items(self, instance: Any, items: Any, schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, list):
            for index, item in enumerate(instance):
                yield from self.errors(item, items, (*path, index))

    def k_minItems(self, instance: Any, least: int, schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, list) and len(instance) < least:
            yield path, f"{instance!r} should be non-empty" if least == 1 else f"{instance!r} is too short"

    def k_uniqueItems(self, instance: Any, unique: bool, schema: Any, path: Path) -> Iterator[Error]:
        if unique and isinstance(instance, list) and len({json.dumps(i, sort_keys=True) for i in instance}) < len(instance):
            yield path, f"{instance!r} has non-unique elements"

    def k_minLength(self, instance: Any, least: int, schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, str) and len(instance) < least:
            yield path, f"{instance!r} should be non-empty" if least == 1 else f"{instance!r} is too short"

    def k_minimum(self, instance: Any, least: float, schema: Any, path: Path) -> Iterator[Error]:
        if _TYPES["number"](instance) and instance < least:
            yield path, f"{instance!r} is less than the minimum of {least!r}"

    def k_pattern(self, instance: Any, pattern: str, schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, str) and not re.search(pattern, instance):
            yield path, f"{instance!r} does not match {pattern!r}"

    def k_allOf(self, instance: Any, schemas: list[Any], schema: Any, path: Path) -> Iterator[Error]:
        for sub in schemas:
            yield from self.errors(instance, sub, path)

    def k_anyOf(self, instance: Any, schemas: list[Any], schema: Any, path: Path) -> Iterator[Error]:
        if not any(self.valid(instance, sub) for sub in schemas):
            yield path, self._described(schema, f"{instance!r} is not valid under any of the given schemas")

    def k_not(self, instance: Any, sub: Any, schema: Any, path: Path) -> Iterator[Error]:
        if self.valid(instance, sub):
            yield path, self._described(schema, f"{instance!r} should not be valid under {sub!r}")

    def k_if(self, instance: Any, condition: Any, schema: Any, path: Path) -> Iterator[Error]:
        if self.valid(instance, condition) and "then" in schema:
            yield from self.errors(instance, schema["then"], path)
        elif not self.valid(instance, condition) and "else" in schema:
            yield from self.errors(instance, schema["else"], path)

    def k_x_comma_separated(self, instance: Any, item_schema: Any, schema: Any, path: Path) -> Iterator[Error]:
        if isinstance(instance, str):
            for index, item in enumerate(instance.split(",")):
                for where, message in self.errors(item.strip(), item_schema, path):
                    yield where, f"item {index + 1} {item.strip()!r}: {message}"
