"""A fresh environment with only the core packages, and what installing rp-jupyter adds to it.

Used by ``tests/install/`` and by ``bench/bench_install.py`` (the figures in docs/install.md).
The core packages are pinned to the versions of the running environment, so the measure is of
rp-jupyter's own additions, and uv takes everything from its cache.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ("ipykernel", "ipywidgets", "anywidget", "httpx", "runpod")
"""What a kernel that uses RunPod widgets already has: the five core packages of the issue."""

__all__ = ["CORE", "Footprint", "Venv", "build_wheel", "core_pins", "footprint", "uv"]


def uv() -> str:
    found = Path(sys.executable).parent / "uv"
    path = str(found) if found.exists() else shutil.which("uv")
    if path is None:
        raise RuntimeError("uv is needed (python3 dev.py setup installs it into .venv)")
    return path


def _run(*cmd: str | Path, timeout: float = 300, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def build_wheel(out: Path) -> Path:
    """``uv build --wheel`` of the working tree (the prebuilt extension is packed in, not rebuilt)."""
    _run(uv(), "build", "--wheel", "--quiet", "--out-dir", out, ROOT, timeout=600)
    (wheel,) = out.glob("rp_jupyter-*.whl")
    return wheel


def core_pins() -> list[str]:
    """``name==version`` for the five core packages, as installed here."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in CORE]


@dataclasses.dataclass(frozen=True)
class Venv:
    path: Path

    @classmethod
    def create(cls, path: Path, python: str = sys.executable) -> Venv:
        _run(uv(), "venv", "--quiet", "--python", python, path)
        return cls(path)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def install(self, *requirements: str | Path) -> None:
        _run(uv(), "pip", "install", "--quiet", "--python", self.python, *requirements, timeout=600)

    def packages(self) -> dict[str, str]:
        listed = json.loads(_run(uv(), "pip", "list", "--python", self.python, "--format", "json"))
        return {entry["name"].lower().replace("_", "-"): entry["version"] for entry in listed}

    def size(self) -> int:
        """Bytes of files in the venv (``__pycache__`` left out: uv installs without compiling)."""
        total = 0
        for folder, dirs, files in os.walk(self.path):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
        return total

    def env(self) -> dict[str, str]:
        """Environment for a process of this venv: its bin first, its Jupyter data first."""
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONPATH")}
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.path)
        env["JUPYTER_PATH"] = str(self.path / "share" / "jupyter")
        return env


@dataclasses.dataclass(frozen=True)
class Footprint:
    """What one install added to an environment."""

    added: dict[str, str]
    changed: dict[str, tuple[str, str]]
    added_bytes: int

    @property
    def added_mb(self) -> float:
        return self.added_bytes / 1e6

    def summary(self) -> str:
        changed = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in sorted(self.changed.items()))
        return (f"{len(self.added)} packages added, {self.added_mb:.1f} MB"
                f"{'; changed: ' + changed if changed else '; nothing upgraded'}\n"
                f"  added: {', '.join(f'{name} {version}' for name, version in sorted(self.added.items()))}")


def footprint(venv: Venv, *requirements: str | Path) -> Footprint:
    """Install ``requirements`` into ``venv``; what that added (packages, bytes) and changed."""
    before, size = venv.packages(), venv.size()
    venv.install(*requirements)
    after = venv.packages()
    added = {name: version for name, version in after.items() if name not in before}
    changed = {name: (before[name], version) for name, version in after.items()
               if name in before and before[name] != version}
    return Footprint(added, changed, venv.size() - size)
