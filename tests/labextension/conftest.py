"""The browser fixtures of tests/browser (JupyterLab on 127.0.0.1, Debian chromium via Playwright)."""

from __future__ import annotations

from browser.conftest import (
    ARTIFACTS,
    Lab,
    browser,
    explain,
    lab,
    page,
    pytest_runtest_makereport,
    screenshot,
)

__all__ = ["ARTIFACTS", "Lab", "browser", "explain", "lab", "page", "pytest_runtest_makereport", "screenshot"]
