"""What `pip install rp-jupyter` adds to a kernel environment that already has the five core packages.

    .venv/bin/python bench/bench_install.py [--wheel OLD.whl ...] [--extras plots,lab,all]

Builds the wheel of this working tree; for it (and for each ``--wheel`` given, e.g. one built from an
older commit) makes a fresh venv holding only ipykernel, ipywidgets, anywidget, httpx and runpod (at
the versions of the running environment: the baseline, measured in the same run), installs the wheel
and prints the packages and megabytes it added and any package it changed. ``--extras`` also measures
``wheel[extra]`` for each extra named. The figures are in docs/install.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "install"))
from _env import Venv, build_wheel, core_pins, footprint


def measure(label: str, requirement: str, scratch: Path) -> None:
    venv = Venv.create(scratch / f"venv-{abs(hash(label))}")
    venv.install(*core_pins())
    core = venv.packages()
    print(f"{label}: over the core ({len(core)} packages, {venv.size() / 1e6:.0f} MB): "
          f"{footprint(venv, requirement).summary()}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", action="append", default=[], help="also measure this wheel (e.g. an older build)")
    parser.add_argument("--extras", default="", help="comma-separated extras to measure too, e.g. plots,lab,all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rp-install-") as scratch:
        here = build_wheel(Path(scratch) / "wheel")
        print(f"core pins: {' '.join(core_pins())}")
        for old in args.wheel:
            measure(f"{Path(old).name}", str(Path(old).resolve()), Path(scratch))
        measure("this tree", str(here), Path(scratch))
        for extra in filter(None, args.extras.split(",")):
            measure(f"this tree [{extra}]", f"rp-jupyter[{extra}] @ {here.as_uri()}", Path(scratch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
