"""Small helpers shared by the benchmark files (on sys.path through benchmarks/conftest.py)."""

from __future__ import annotations

import pytest


def benchmarks_disabled(config: pytest.Config) -> bool:
    """True when pytest-benchmark will not time (CI's --benchmark-disable): use small inputs."""
    session = getattr(config, "_benchmarksession", None)
    if session is not None:
        return bool(session.disabled)
    return bool(config.getoption("benchmark_disable", False)
                and not config.getoption("benchmark_enable", False))
