"""Runs exported handler.py files under the real runpod SDK, in its local test mode, for many examples.

A helper process for the property tests: it imports ``runpod`` once (1–2 s), then forks a child per
request that runs ``python handler.py --test_input ...`` as the SDK would (``runpy`` as ``__main__``,
``sys.argv`` as on the command line, the real ``runpod.serverless.start``). Requests are JSON lines on
stdin (``{"dir", "input", "log"}``); each answer is a JSON line with the child's exit code.
Standard library and runpod only: it is never imported by the tests, only started.
"""

import json
import os
import runpy
import sys

import runpod  # noqa: F401  (imported once, before the forks)


def _child(request: dict) -> None:
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.chdir(request["dir"])
    sys.path[0] = request["dir"]
    sys.argv = ["handler.py", "--test_input", json.dumps({"input": request["input"]}), "--rp_log_level", "INFO"]
    code = 0
    try:
        runpy.run_path("handler.py", run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # the module itself failed (NameError, ...)
        print(f"MODULE FAILED: {type(exc).__name__}: {exc}")
        code = 3
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
