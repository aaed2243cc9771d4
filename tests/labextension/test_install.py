"""`pip install` (dev.py setup) gives JupyterLab with the prebuilt extension enabled."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_jupyter_labextension_list_shows_it_enabled() -> None:
    jupyter = Path(sys.executable).parent / "jupyter"
    env = {**os.environ, "PATH": f"{jupyter.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, env=env,
                            timeout=60, check=False)
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # colours off before matching
    assert result.returncode == 0, output
    assert re.search(r"rp-jupyter v\d+\.\d+\.\d+\S* enabled\s+OK", output), output


def test_the_prebuilt_extension_ships_its_schema_and_entry() -> None:
    built = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "rp-jupyter"
    assert (built / "package.json").exists() and (built / "install.json").exists()
    assert (built / "schemas" / "rp-jupyter" / "plugin.json").exists()
    assert list((built / "static").glob("remoteEntry.*.js"))
