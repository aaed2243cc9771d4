"""Shared fixtures: a fresh runtime per test, shut down after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rp_jupyter.runtime import Runtime


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    """A private runtime (its own loop thread), shut down in stages after the test."""
    rt = Runtime()
    yield rt
    rt.shutdown(timeout=2.0)
