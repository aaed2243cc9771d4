"""Endpoints opened by a test are closed before its runtime stops (their connections live on its loop)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rp_jupyter._remote import close_all
from rp_jupyter.runtime import Runtime


@pytest.fixture(autouse=True)
def _close_endpoints(runtime: Runtime) -> Iterator[None]:
    yield
    close_all()
