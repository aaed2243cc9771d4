"""binder/: repo2docker's recipe, checked without Docker — the files as repo2docker reads them, then
(slow) the project installed the way repo2docker would, in a clean venv, running every notebook."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
SKIP_SLOW = os.environ.get("RP_JUPYTER_SLOW") == "0"


def test_requirements_install_the_project_itself() -> None:
    lines = [ln.strip() for ln in (BINDER / "requirements.txt").read_text().splitlines()]
    project = [ln for ln in lines if re.fullmatch(r"(-e )?\.(\[[a-z,-]+\])?", ln)]
    assert project, "with binder/ present, repo2docker does not install the repo by itself"
    extras = set(re.findall(r"[a-z-]+", project[0].partition("[")[2]))
    assert {"lab", "plots"} <= extras, "the light install leaves JupyterLab and matplotlib to extras"


def test_runtime_and_post_build() -> None:
    assert re.fullmatch(r"python-3\.\d+\s*", (BINDER / "runtime.txt").read_text())
    post = BINDER / "postBuild"
    assert post.stat().st_mode & stat.S_IXUSR, "postBuild must be executable"
    commands = [ln for ln in post.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert commands[0].startswith("set -e"), "postBuild must stop at the first failing command"
    assert "notebooks/quickstart.ipynb" in post.read_text()
    assert (ROOT / "notebooks" / "quickstart.ipynb").exists()


def test_no_root_dockerfile_takes_over_the_build() -> None:
    assert not (ROOT / "Dockerfile").exists()


def _copy_repo(dest: Path) -> Path:
    """The files a clone has (tracked and not ignored): no node_modules, no built extension."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(SKIP_SLOW, reason="RP_JUPYTER_SLOW=0: skips the clean-venv install (~50 s)")
def test_a_clean_venv_installed_as_repo2docker_does_runs_every_notebook(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "HOME": str(tmp_path / "home"), "JUPYTER_CONFIG_DIR": str(tmp_path / "home" / ".jupyter")}
    env.pop("JUPYTER_PATH", None)
    uv = Path(sys.executable).parent / "uv"
    install = ([str(uv), "pip", "install", "--python", str(python)] if uv.exists()
               else [str(python), "-m", "pip", "install", "--quiet"])
    run = subprocess.run([*install, "-r", "binder/requirements.txt"], cwd=repo, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    post = subprocess.run(["bash", "binder/postBuild"], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert post.returncode == 0, post.stdout + post.stderr
    config = json.loads((tmp_path / "home" / ".jupyter" / "jupyter_server_config.d" / "rp_jupyter_binder.json").read_text())
    assert config["ServerApp"]["default_url"].endswith("notebooks/quickstart.ipynb")

    notebooks = sorted(str(path) for path in (repo / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 6
    executed = subprocess.run([str(python), "-c", _EXECUTE, *notebooks], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=400)
    assert executed.returncode == 0, executed.stdout[-3000:] + executed.stderr[-3000:]
    assert executed.stdout.count(" ok\n") == len(notebooks), executed.stdout


_EXECUTE = """
import sys, nbclient, nbformat
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, startup_timeout=60,
                            resources={"metadata": {"path": path.rsplit("/", 1)[0]}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, (path, errors)
    print(path.rsplit("/", 1)[1], "ok", flush=True)
"""
