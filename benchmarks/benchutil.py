"""Small helpers shared by the benchmark files (on sys.path through benchmarks/conftest.py)."""

from __future__ import annotations

import pathlib

import pytest

HERE = pathlib.Path(__file__).resolve().parent


def benchmarks_disabled(config: pytest.Config) -> bool:
    """True when pytest-benchmark will not time (CI's --benchmark-disable): use small inputs."""
    session = getattr(config, "_benchmarksession", None)
    if session is not None:
        return bool(session.disabled)
    return bool(config.getoption("benchmark_disable", False)
                and not config.getoption("benchmark_enable", False))


def conftest_results(config: pytest.Config) -> list | None:
    """conftest.py's result list, so its end-of-session table shows cases that time
    themselves with ``benchmark.pedantic`` (not through the ``bench`` fixture) too."""
    for plugin in config.pluginmanager.get_plugins():
        f = getattr(plugin, "__file__", None)
        if f and pathlib.Path(f).resolve() == HERE / "conftest.py":
            return getattr(plugin, "_RESULTS", None)
    return None
