"""What a registered handler is, and what a request may be: RunPod's rules, checked up front."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

from ..exceptions import PayloadTooLargeError, RegistrationError, RequestError
from ._shaping import HandlerKind, classify

__all__ = ["DEFAULT_EXECUTION_TIMEOUT", "HandlerSpec", "execution_timeout", "json_problem", "make_spec", "parse_request"]

DEFAULT_EXECUTION_TIMEOUT = 600.0
"""RunPod's default execution timeout (``policy.executionTimeout`` 600000 ms), in seconds."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclasses.dataclass(frozen=True)
class HandlerSpec:
    """A registered handler and the ``runpod.serverless.start`` config it runs with."""

    name: str
    fn: Callable[..., Any]
    kind: HandlerKind
    return_aggregate_stream: bool = False
    concurrency_modifier: Callable[[int], int] | None = None
    refresh_worker: bool = False
    execution_timeout: float | None = DEFAULT_EXECUTION_TIMEOUT
    tokenizer: Callable[[str], int] | None = None
    """Counts the tokens in a text, for the job views' tokens/s (default: whitespace tokens)."""

    def describe(self) -> str:
        parts = [str(self.kind)]
        if self.kind.is_generator:
            parts.append(f"aggregate={'yes' if self.return_aggregate_stream else 'no'}")
        if self.concurrency_modifier is not None:
            parts.append("concurrency_modifier")
        if self.refresh_worker:
            parts.append("refresh_worker")
        return ", ".join(parts)


def make_spec(
    fn: Any,
    name: str | None,
    aggregate: bool,
    modifier: Any,
    refresh: bool,
    timeout: float | None,
    tokenizer: Any = None,
) -> HandlerSpec:
    if not callable(fn):
        raise RegistrationError(f"a handler must be callable, got {type(fn).__name__}")
    name = name or getattr(fn, "__name__", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistrationError(
            f"invalid handler name {name!r}: use letters, digits, '_', '-' or '.' (it becomes the endpoint id)"
        )
    if modifier is not None and not callable(modifier):
        raise RegistrationError(
            f"concurrency_modifier must be a function of the current concurrency, got {type(modifier).__name__}"
        )
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
        raise RegistrationError(f"execution timeout must be a number of seconds >= 0, got {timeout!r}")
    if tokenizer is not None and not callable(tokenizer):
        raise RegistrationError(f"tokenizer must be a function text -> token count, got {type(tokenizer).__name__}")
    return HandlerSpec(name, fn, classify(fn), bool(aggregate), modifier, bool(refresh), timeout or None, tokenizer)


def json_problem(text: str, exc: json.JSONDecodeError) -> str:
    """Where ``text`` stops being JSON, in one line: the message, line and column, and the text there
    (or that the text ends before the JSON does)."""
    lines = text.split("\n")  # as json counts them (a trailing newline opens one more line)
    line = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
    where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    if exc.pos >= len(text.rstrip()):
        return f"{where} (the text ends before the JSON does)"
    return f"{where} near {line[max(0, exc.colno - 20): exc.colno + 20]!r}" if line.strip() else where


def parse_request(request: Any, limit: int, route: str) -> dict[str, Any]:
    """Validate a request body as RunPod's API would; returns a private JSON copy of it."""
    if isinstance(request, (str, bytes)):
        try:
            request = json.loads(request)  # bytes in any encoding json detects, as before
        except json.JSONDecodeError as exc:
            raise RequestError(f"the request is not valid JSON: {json_problem(exc.doc, exc)}") from None
    if not isinstance(request, dict):
        raise RequestError(
            f'a request is a JSON object like {{"input": {{...}}}}, got {type(request).__name__}'
        )
    if request.get("input") is None:
        raise RequestError('the request has no "input" (RunPod requires {"input": ...})')
    try:
        text = json.dumps(request, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"the request is not JSON-serialisable: {exc}") from None
    size = len(text.encode())
    if size > limit:
        raise PayloadTooLargeError(
            f"the request is {size / 1e6:.1f} MB, over RunPod's {limit // (1024 * 1024)} MB limit for {route}"
        )
    body: dict[str, Any] = json.loads(text)
    return body


def execution_timeout(body: dict[str, Any], default: float | None) -> float | None:
    policy = body.get("policy")
    if policy is None:
        return default
    if not isinstance(policy, dict):
        raise RequestError(f'"policy" must be an object, got {type(policy).__name__}')
    value = policy.get("executionTimeout")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RequestError(f'"policy.executionTimeout" must be a positive number of ms, got {value!r}')
    return value / 1000
