"""Shared test setup: the tests always run against the installed, compiled package."""

from __future__ import annotations

import pytest

from bitget_fast import signing


@pytest.fixture(params=["sha-ni", "portable"])
def sha256_backend(request):
    """Run a test once per SHA-256 kernel; sha-ni is skipped on CPUs without it."""
    if request.param == "sha-ni" and not signing._shani_available():
        pytest.skip("this CPU has no SHA extensions")
    before = signing.sha256_backend()
    got = signing._use_backend(request.param)
    assert got == request.param
    yield got
    signing._use_backend(before)
