"""The extension's TypeScript unit tests (labextension/test/, `node --test`), run from pytest so CI runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "labextension"


@pytest.mark.skipif(not (EXTENSION / "node_modules").exists(),
                    reason="labextension/node_modules is missing: `python3 dev.py setup` installs it with the build")
def test_typescript_unit_tests_pass() -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(bin_dir / "jlpm"), "test"], cwd=EXTENSION, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "# fail 0" in output and "# pass " in output
