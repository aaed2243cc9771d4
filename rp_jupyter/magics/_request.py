"""Parsing ``%rp_run`` lines: ``NAME [REQUEST_JSON] [--file PATH] [--sync] [--wait S]``."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
from typing import Any

from IPython.core.error import UsageError

from ..exceptions import RequestError
from ..runtime import load_json as load_request_json

__all__ = ["RunArgs", "load_json", "parse_run_line"]

_FLAGS_WITH_VALUE = {"--file", "--wait", "--endpoint"}
_FLAGS = {"--sync"}


@dataclasses.dataclass
class RunArgs:
    name: str
    request: Any = None
    file: str | None = None
    sync: bool = False
    wait: float | None = None
    endpoint: str | None = None


def load_json(text: str, where: str) -> Any:
    """The runtime's ``load_json`` (one line that says where the JSON breaks, or what JSON cannot
    carry: NaN, a number over Python's digit limit, nesting past the stack) as a ``UsageError``."""
    try:
        return load_request_json(text, where)
    except RequestError as exc:
        raise UsageError(str(exc)) from None


def _refuse_constant(token: str) -> Any:
    raise ValueError(token)


def parse_run_line(line: str) -> RunArgs:
    """Split the handler name, flags and an inline JSON request (flags may come before or after it)."""
    line = line.strip()
    if not line:
        raise UsageError("usage: %rp_run NAME [REQUEST_JSON] [--file PATH] [--sync] [--wait S] [--endpoint ID_OR_URL]")
    name, _, rest = line.partition(" ")
    if name.startswith("-"):
        raise UsageError(f"%rp_run needs the handler name first, got {name!r}")
    args = RunArgs(name)
    tokens = _flags_and_json(rest.strip(), args)
    _apply_flags(tokens, args)
    return args


def _flags_and_json(rest: str, args: RunArgs) -> list[str]:
    """Cut the JSON value out of ``rest`` (where it starts with ``{``); the rest are flag tokens."""
    start = rest.find("{")
    if start < 0:
        return _split(rest)
    before = rest[:start]
    try:
        args.request, end = json.JSONDecoder(parse_constant=_refuse_constant).raw_decode(rest, start)
    except json.JSONDecodeError as exc:
        load_json(rest[start:], "the request")  # raises with the position
        raise UsageError(f"the request is not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError):  # NaN, too many digits, too deep: said as the runtime says it
        load_json(rest[start:], "the request")
        raise UsageError("the request is not JSON") from None
    return _split(before) + _split(rest[end:])


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"cannot parse the %rp_run arguments: {exc}") from None


def _apply_flags(tokens: list[str], args: RunArgs) -> None:
    tokens = list(tokens)
    while tokens:
        flag = tokens.pop(0)
        if flag in _FLAGS:
            args.sync = True
        elif flag in _FLAGS_WITH_VALUE:
            if not tokens:
                raise UsageError(f"{flag} needs a value")
            _set_value(args, flag, tokens.pop(0))
        else:
            raise UsageError(
                f"unexpected argument {flag!r}: a request is JSON starting with '{{', "
                "flags are --file PATH, --sync, --wait S, --endpoint ID_OR_URL"
            )


def _set_value(args: RunArgs, flag: str, value: str) -> None:
    if flag == "--file":
        args.file = value
        return
    if flag == "--endpoint":
        args.endpoint = value
        return
    try:
        args.wait = float(value)
    except ValueError:
        raise UsageError(f"--wait takes seconds, got {value!r}") from None
    if not (math.isfinite(args.wait) and args.wait > 0):
        raise UsageError(f"--wait takes a positive, finite number of seconds, got {value!r}")


def read_request_file(path: str) -> Any:
    """A request from a file (``test_input.json`` as RunPod's local mode reads it)."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read the request file {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"the request file {path!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at position "
            f"{exc.start}): RunPod's requests are JSON in UTF-8"
        ) from None
    return load_json(text, f"the request file {path!r}")
