"""What a registered handler is, and what a request may be: RunPod's rules, checked up front."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..exceptions import PayloadTooLargeError, RegistrationError, RequestError
from ._prestart import check_hooks, hook_name
from ._shaping import MAX_JSON_DEPTH, HandlerKind, WireError, classify, wire_text

__all__ = [
    "DEFAULT_EXECUTION_TIMEOUT",
    "POLICY_RANGES_MS",
    "HandlerSpec",
    "execution_timeout",
    "json_problem",
    "load_json",
    "make_spec",
    "parse_request",
]

DEFAULT_EXECUTION_TIMEOUT = 600.0
"""RunPod's default execution timeout (``policy.executionTimeout`` 600000 ms), in seconds."""

log = logging.getLogger("rp_jupyter")
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
    prestart_hooks: tuple[Callable[[], Any], ...] = ()
    """runpod 2.x's prestart hooks: each worker of this version runs them once, in order, before its first call."""
    prestart_timeout: float | None = None
    """Seconds allowed for the whole prestart phase (None: no limit), as ``start()``'s ``prestart_timeout``."""
    prestart_kept: tuple[Callable[[], Any], ...] = ()
    """Hooks of the handler that already ran for an earlier version in this kernel: not run again, but
    part of the handler (export writes them before ``prestart_hooks``)."""
    prestart_done: threading.Event = dataclasses.field(default_factory=threading.Event, compare=False, repr=False)
    """Set once a worker of this version has run its hooks to the end."""

    def describe(self) -> str:
        parts = [str(self.kind)]
        if self.kind.is_generator:
            parts.append(f"aggregate={'yes' if self.return_aggregate_stream else 'no'}")
        if self.concurrency_modifier is not None:
            parts.append("concurrency_modifier")
        if self.refresh_worker:
            parts.append("refresh_worker")
        if self.prestart_hooks or self.prestart_kept:
            hooks = [hook_name(h) + " (ran before)" for h in self.prestart_kept] + list(map(hook_name, self.prestart_hooks))
            limit = f" within {self.prestart_timeout:g} s" if self.prestart_timeout is not None else ""
            parts.append(f"prestart hooks{limit}: {', '.join(hooks)}")
        return ", ".join(parts)

    def target_concurrency(self, current: int) -> int:
        """What ``concurrency_modifier`` asks for now (``current`` without one; 1 when it answers nonsense)."""
        modifier = self.concurrency_modifier
        if modifier is None:
            return current
        try:
            target = modifier(current)
        except Exception:
            log.exception("concurrency_modifier of %r raised; keeping %d", self.name, current)
            return current
        if isinstance(target, bool) or not isinstance(target, int) or target < 1:
            log.warning("concurrency_modifier of %r returned %r, not an int >= 1; using 1", self.name, target)
            return 1
        return target

    @property
    def all_prestart_hooks(self) -> tuple[Callable[[], Any], ...]:
        """Every hook of the handler in registration order: those kept from earlier versions, then its own."""
        return self.prestart_kept + self.prestart_hooks


def make_spec(
    fn: Any,
    name: str | None,
    aggregate: bool,
    modifier: Any,
    refresh: bool,
    timeout: float | None,
    tokenizer: Any = None,
    prestart_hooks: Any = (),
    prestart_timeout: Any = None,
    prestart_kept: Any = (),
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
    hooks, prestart_timeout = check_hooks(prestart_hooks, prestart_timeout)
    kept, _ = check_hooks(prestart_kept, None)
    return HandlerSpec(name, fn, classify(fn), bool(aggregate), modifier, bool(refresh), timeout or None, tokenizer,
                       hooks, prestart_timeout, kept)


def json_problem(text: str, exc: json.JSONDecodeError) -> str:
    """Where ``text`` stops being JSON, in one line: the message, line and column, and the text there
    (or that the text ends before the JSON does)."""
    lines = text.split("\n")  # as json counts them (a trailing newline opens one more line)
    line = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
    where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    if exc.pos >= len(text.rstrip()):
        return f"{where} (the text ends before the JSON does)"
    return f"{where} near {line[max(0, exc.colno - 20): exc.colno + 20]!r}" if line.strip() else where


def load_json(data: str | bytes | bytearray, what: str = "the request") -> Any:
    """Parse JSON as RunPod's API would take it; a :class:`RequestError` with one line otherwise.

    Refuses what Python's ``json`` lets through but JSON has not (``NaN``, ``Infinity``), and turns
    what it raises past ``JSONDecodeError`` (a number over the 4,300-digit limit, nesting that runs out
    of stack, bytes that are not text) into the same one-line error.
    """
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(f"{what} is not valid JSON: {json_problem(exc.doc, exc)}") from None
    except _Constant as exc:
        raise RequestError(f"{what} holds {exc}, which is not JSON (JSON has no NaN or Infinity)") from None
    except RecursionError:
        raise RequestError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels: rp_jupyter's limit for JSON") from None
    except UnicodeDecodeError as exc:
        raise RequestError(f"{what} is not UTF-8 JSON: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # Python's limit on digits: "Exceeds the limit (4300 digits) ..."
        digits = re.search(r"value has (\d+) digits", str(exc))
        raise RequestError(
            f"{what} holds a whole number of {digits.group(1) + ' digits' if digits else 'too many digits'}, over "
            f"Python's limit of {sys.get_int_max_str_digits()} digits for converting text to integers"
        ) from None


class _Constant(ValueError):
    pass


def _refuse_constant(token: str) -> Any:
    raise _Constant(token)


def parse_request(request: Any, limit: int, route: str) -> dict[str, Any]:
    """Validate a request body as RunPod's API would; returns a private JSON copy of it.

    JSON text or bytes is parsed with :func:`load_json`; a dict must be JSON all the way down (no NaN,
    no lone surrogates, not circular, at most :data:`MAX_JSON_DEPTH` levels); ``policy`` values must be
    in RunPod's ranges. Every refusal is a :class:`RequestError` with one line.
    """
    if isinstance(request, (str, bytes, bytearray)):
        request = load_json(request)  # bytes in any encoding json detects, as before
    if not isinstance(request, dict):
        raise RequestError(
            f'a request is a JSON object like {{"input": {{...}}}}, got {type(request).__name__}'
        )
    if request.get("input") is None:
        raise RequestError('the request has no "input" (RunPod requires {"input": ...})')
    try:
        text = wire_text(request, "request")
    except WireError as exc:
        raise RequestError(f"the request {exc}") from None
    size = len(text.encode())
    if size > limit:
        raise PayloadTooLargeError(
            f"the request is {size / 1e6:.1f} MB, over RunPod's {limit // (1024 * 1024)} MB limit for {route}"
        )
    body: dict[str, Any] = json.loads(text)
    _check_policy(body.get("policy"))
    return body


POLICY_RANGES_MS = {"executionTimeout": (1, 7 * 24 * 3600 * 1000), "ttl": (10_000, 7 * 24 * 3600 * 1000)}
"""``policy`` values RunPod takes, in ms: ``ttl`` 10 s to 7 days; ``executionTimeout`` up to 7 days (RunPod's
minimum of 5 s is not enforced: a 1 s timeout makes a quick test)."""


def _check_policy(policy: Any) -> None:
    if policy is None:
        return
    if not isinstance(policy, dict):
        raise RequestError(f'"policy" must be an object, got {type(policy).__name__}')
    for key, (low, high) in POLICY_RANGES_MS.items():
        value = policy.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            shown = repr(value) if len(repr(value)) <= 40 else f"{type(value).__name__} {repr(value)[:20]}…"
            raise RequestError(f'"policy.{key}" must be whole ms from {low} to {high} (7 days), got {shown}')
    if "lowPriority" in policy and not isinstance(policy["lowPriority"], bool):
        raise RequestError(f'"policy.lowPriority" must be true or false, got {policy["lowPriority"]!r}')


def execution_timeout(body: dict[str, Any], default: float | None) -> float | None:
    """``policy.executionTimeout`` in s (validated by :func:`parse_request`), else ``default``."""
    policy = body.get("policy")
    value = policy.get("executionTimeout") if isinstance(policy, dict) else None
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:  # a body not from parse_request
        raise RequestError(f'"policy.executionTimeout" must be a positive number of ms, got {value!r}')
    return min(value, POLICY_RANGES_MS["executionTimeout"][1]) / 1000
