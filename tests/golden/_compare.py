"""Putting our values in the recording's terms, and comparing error strings by what they mean.

Our values are normalised the way the recorder normalised the SDK's (``golden/tools/normalize.py``):
our job id becomes the recorded one, our handler cell's file name becomes ``<CASE_DIR>/handler.py``,
real site-packages / stdlib paths become ``<SITE_PACKAGES>`` / ``<PYTHON_LIB>``, and the same regexes
replace object addresses, uuids, handler timestamps and ports.

Error strings (spec §5, §6) are compared field by field; their tracebacks by the handler's frames:
the SDK's own ``rp_job.py`` frame (first in the recording) is not shown by rp_jupyter, by design, and
its line numbers differ between SDK versions anyway. runpod 2.x's ``prestart_failed`` body (a failing or
timed-out prestart hook) likewise, key by key: a hook's traceback by the hook's frames (the SDK's
``rp_prestart.py`` frames left out), and a timeout's by its last line only — the SDK's is its own
``asyncio.wait_for`` chain, ours shows where the hook was when the deadline passed
(docs/differences.md). ``runpod_version`` must be the installed SDK's,
and of the recording's line (runpod 2.0.0 compares with the newest 2.x recordings there are).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sysconfig
from pathlib import Path
from typing import Any

import runpod

__all__ = ["assert_same_body", "normalise_ours", "same_json", "traceback_frames"]

_EXCEPTION_KEYS = [
    "error_type",
    "error_message",
    "error_traceback",
    "hostname",
    "worker_id",
    "runpod_version",
]
_GENERATOR_SEPARATOR = " \ntraceback: "
_LOGS_SEPARATOR = "\nlogs:\n"  # runpod 2.x, RUNPOD_LOG_CAPTURE=all: a generator error's captured output
_SDK_LOG_LINE = re.compile(r'^\{"requestId": .*"level": "[A-Z]+"\}$\n?', re.M)
_SDK_WORKER_FRAMES = ("/runpod/serverless/modules/rp_job.py", "/runpod/serverless/worker.py",
                      "/runpod/serverless/modules/rp_prestart.py")
_PRESTART_KEYS = ["event", "error_type", "error_message", "error_traceback", "worker_id", "runpod_version", "hook"]

# The recorder's own volatile-field rules (golden/tools/normalize.py), minus its absolute paths.
_RULES = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<UUID>"),
    (re.compile(r"0x[0-9a-fA-F]{6,16}"), "0x<ADDR>"),
    (re.compile(r"\d+\.\d+ms"), "<N>ms"),
    (re.compile(r"'(start|end)': \d+\.\d+"), r"'\1': <TS>"),
    (re.compile(r'"(start|end)": \d+\.\d+'), r'"\1": "<TS>"'),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00)?Z?"), "<ISO_TS>"),
    (re.compile(r"127\.0\.0\.1:\d{4,5}"), "127.0.0.1:<PORT>"),
]


def _path_rules(handler_file: str) -> list[tuple[str, str]]:
    site_packages = str(Path(runpod.__file__).resolve().parents[1])
    stdlib = sysconfig.get_paths()["stdlib"]
    return [
        (handler_file, "<CASE_DIR>/handler.py"),
        (site_packages, "<SITE_PACKAGES>"),
        (stdlib, "<PYTHON_LIB>"),
    ]


def normalise_ours(value: Any, our_id: str, recorded_id: str, handler_file: str) -> Any:
    """A JSON value of ours, with volatile fields replaced as in the recording."""
    text = json.dumps(value, ensure_ascii=False)
    text = text.replace(our_id, recorded_id)
    for real, placeholder in _path_rules(handler_file):
        text = text.replace(real, placeholder)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return json.loads(text)


def same_json(ours: Any, recorded: Any) -> bool:
    """Equal as JSON text: ``1`` is not ``true`` and ``1.0`` is not ``1`` (Python's ``==`` says they are)."""
    return json.dumps(ours, sort_keys=True) == json.dumps(recorded, sort_keys=True)


# ---- bodies ------------------------------------------------------------------------------------
def assert_same_body(ours: Any, recorded: Any, where: str) -> None:
    """Equal job-done bodies, with ``error`` strings compared by meaning (see module docstring)."""
    assert isinstance(ours, dict), f"{where}: our body is {ours!r}, the recording posted {recorded!r}"
    assert sorted(ours) == sorted(recorded), (
        f"{where}: body keys {sorted(ours)} != recorded {sorted(recorded)}"
    )
    for key, expected in recorded.items():
        if key == "error" and isinstance(expected, str) and isinstance(ours[key], str):
            assert_same_error(ours[key], expected, f"{where}: error")
        else:
            assert same_json(ours[key], expected), f"{where}: {key!r} is {ours[key]!r}, recorded {expected!r}"


def assert_same_error(ours: str, recorded: str, where: str) -> None:
    """Compare the §5 JSON exception string, the §6 generator string, or any other string exactly."""
    exception = _exception_info(recorded)
    if exception is not None and exception.get("event") == "prestart_failed":
        assert_same_prestart_failure(ours, exception, where)
        return
    if exception is not None:
        mine = _exception_info(ours)
        assert mine is not None, f"{where}: expected the six-key exception JSON string, got {ours!r}"
        assert list(exception)[:6] == _EXCEPTION_KEYS, f"{where}: the recording's keys {list(exception)}"
        assert list(mine) == list(exception), f"{where}: keys {list(mine)} != recorded {list(exception)}"
        for key in exception:
            if key == "error_traceback":
                assert_same_traceback(mine[key], exception[key], f"{where}: error_traceback")
            elif key == "runpod_version":
                assert_same_sdk_version(mine[key], exception[key], where)
            elif key == "logs":
                assert_same_logs(mine[key], exception[key], f"{where}: logs")
            else:
                assert same_json(mine[key], exception[key]), (
                    f"{where}: {key} is {mine[key]!r}, recorded {exception[key]!r}"
                )
        return
    if recorded.startswith("handler: ") and _GENERATOR_SEPARATOR in recorded:
        assert ours.startswith("handler: ") and _GENERATOR_SEPARATOR in ours, (
            f"{where}: expected 'handler: <msg> \\ntraceback: <tb>', got {ours!r}"
        )
        expected_message, expected_tb = recorded.split(_GENERATOR_SEPARATOR, 1)
        message, tb = ours.split(_GENERATOR_SEPARATOR, 1)
        assert message == expected_message, f"{where}: {message!r} != recorded {expected_message!r}"
        expected_tb, expected_cut, expected_logs = expected_tb.partition(_LOGS_SEPARATOR)
        tb, cut, logs = tb.partition(_LOGS_SEPARATOR)
        assert_same_traceback(tb, expected_tb, f"{where}: traceback")
        assert bool(cut) == bool(expected_cut), f"{where}: a 'logs:' suffix in one only: {ours!r}"
        assert_same_logs(logs, expected_logs, f"{where}: logs")
        return
    assert ours == recorded, f"{where}: {ours!r} != recorded {recorded!r}"


def assert_same_prestart_failure(ours: str, recorded: dict[str, Any], where: str) -> None:
    """runpod 2.x's ``prestart_failed`` body (see the module docstring)."""
    mine = _exception_info(ours)
    assert mine is not None, f"{where}: expected the prestart_failed JSON string, got {ours!r}"
    assert list(recorded)[:7] == _PRESTART_KEYS, f"{where}: the recording's keys {list(recorded)}"
    assert list(mine) == list(recorded), f"{where}: keys {list(mine)} != recorded {list(recorded)}"
    for key, expected in recorded.items():
        if key == "error_traceback" and recorded["error_type"] == "PrestartTimeout":
            last, expected_last = mine[key].rstrip("\n").splitlines()[-1], expected.rstrip("\n").splitlines()[-1]
            assert last == expected_last, f"{where}: the timeout's last line {last!r} != recorded {expected_last!r}"
        elif key == "error_traceback":
            assert_same_traceback(mine[key], expected, f"{where}: error_traceback")
        elif key == "runpod_version":
            assert_same_sdk_version(mine[key], expected, where)
        elif key == "logs":
            assert_same_logs(mine[key], expected, f"{where}: logs")
        else:
            assert same_json(mine[key], expected), f"{where}: {key} is {mine[key]!r}, recorded {expected!r}"


def assert_same_logs(mine: Any, recorded: Any, where: str) -> None:
    """The captured output of ``RUNPOD_LOG_CAPTURE=all``: the handler's own output must be the same.

    The deployed worker's capture also holds the SDK's own log lines written while the job ran (JSON
    lines, as ``RUNPOD_ENDPOINT_ID`` is set); the notebook has no SDK worker writing them, so they are
    left out of the recording before comparing (docs/differences.md)."""
    assert isinstance(mine, str) and isinstance(recorded, str), f"{where}: {mine!r} / {recorded!r}"
    expected = _SDK_LOG_LINE.sub("", recorded)
    assert mine == expected, f"{where}: {mine[-300:]!r} != recorded (SDK lines left out) {expected[-300:]!r}"


def assert_same_sdk_version(mine: Any, recorded: Any, where: str) -> None:
    """Ours follows the installed SDK; the recording is of the same SDK line."""
    installed = importlib.metadata.version("runpod")
    assert mine == installed, f"{where}: runpod_version is {mine!r}, the installed SDK is {installed}"
    assert str(recorded).split(".")[0] == installed.split(".")[0], (
        f"{where}: the recording is of runpod {recorded}, another line than the installed {installed}"
    )


def _exception_info(text: str) -> dict[str, Any] | None:
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) and "error_traceback" in info else None


# ---- tracebacks ----------------------------------------------------------------------------------
_FRAME = re.compile(r'^  File "(?P<file>[^"]*)", line \d+, in .*$')
_CARETS = re.compile(r"^\s*[\^~]+\s*$")


def traceback_frames(text: str) -> list[str]:
    """The traceback's lines without the SDK worker's own frames, caret lines and continuation lines.

    rp_jupyter's frames are *not* dropped: they must not appear in our tracebacks at all.

    Presentation that differs between Python versions is left out: caret lines (``^^^^``, ``~~~^``,
    3.11+) and the further lines of a statement that spans several (3.13 shows them all, earlier
    versions its first line only). The handler's frames (file, line number, function, first source
    line) and the exception lines are kept.
    """
    kept: list[str] = []
    skipping = False
    sources = 0  # source lines seen since the last frame line
    for line in text.splitlines():
        frame = _FRAME.match(line)
        if frame is not None:
            skipping, sources = frame["file"].endswith(_SDK_WORKER_FRAMES), 0
        elif not line.startswith("    "):
            skipping = False
        elif not _CARETS.match(line):
            sources += 1
            if sources > 1:
                continue
        if skipping or _CARETS.match(line):
            continue
        kept.append(line)
    return kept


def assert_same_traceback(ours: str, recorded: str, where: str) -> None:
    mine, expected = traceback_frames(ours), traceback_frames(recorded)
    assert mine == expected, f"{where}: handler frames differ\n--- ours\n{ours}\n--- recorded\n{recorded}"
