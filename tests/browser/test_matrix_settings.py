"""The browser suite runs with the kernel-comms setting its matrix cell asked for (dev.py matrix):
JupyterLab's ``commsOverSubshells`` as the app applies it, not only as the settings file says."""

from __future__ import annotations

import importlib.metadata

from .conftest import COMMS_OVER_SUBSHELLS


def _lab_version() -> tuple[int, int]:
    major, minor = importlib.metadata.version("jupyterlab").split(".")[:2]
    return int(major), int(minor)


def test_the_app_uses_the_comms_over_subshells_setting_of_the_cell(lab, page) -> None:
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.serviceManager", timeout=60_000)
    if _lab_version() < (4, 4):  # no kernel subshells in the front end: comms go over the main shell
        assert page.evaluate("() => window.jupyterapp.serviceManager.kernels.commsOverSubshells") is None
        return
    expected = COMMS_OVER_SUBSHELLS or "perCommTarget"  # JupyterLab's default
    page.wait_for_function(  # the settings plugin applies it once the app has started and loaded them
        "(expected) => window.jupyterapp.serviceManager.kernels.commsOverSubshells === expected",
        arg=expected, timeout=60_000,
    )
