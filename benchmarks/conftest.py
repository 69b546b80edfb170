"""Benchmark plumbing: every case records its stats; the session ends with a ratio table.

Each group holds a ``bitget_fast`` case and its plain-Python baseline, timed in
the same run; the summary prints median time per item and baseline / ours.
Timings never decide pass or fail (CI runs these with --benchmark-disable).
"""

from __future__ import annotations

import pathlib
import sys

import pytest

# The benchmark helpers (gen_books, baseline_book, benchutil) are plain modules beside this file;
# --import-mode=importlib leaves sys.path alone, so put this directory (never the repo
# root, which would shadow the installed bitget_fast) on it once, here.
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

_RESULTS: list[dict] = []


@pytest.fixture
def bench(benchmark, request):
    """``bench(fn, *args, group=..., impl=..., items=1, **extra)``: time fn(*args), record it."""

    def run(fn, *args, group: str, impl: str, items: int = 1, **extra):
        benchmark.group = group
        benchmark.extra_info.update({"implementation": impl, "items_per_call": items,
                                     "correct": True, **extra})
        result = benchmark(fn, *args)
        stats = getattr(benchmark, "stats", None)
        if stats is not None:
            s = stats.stats
            _RESULTS.append({"group": group, "impl": impl, "items": items,
                             "median_ns": s.median * 1e9 / items, "min_ns": s.min * 1e9 / items,
                             "test": request.node.name})
        return result

    return run


@pytest.fixture
def bench_pedantic(benchmark, request):
    """``bench_pedantic(fn, setup=..., rounds=..., group=..., impl=...)``: one call of ``fn``
    per round (``setup`` untimed before each), recorded like :func:`bench`."""

    def run(fn, *, setup, rounds: int, group: str, impl: str, warmup_rounds: int = 0, **extra):
        benchmark.group = group
        benchmark.extra_info.update({"implementation": impl, "items_per_call": 1,
                                     "correct": True, **extra})
        result = benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1,
                                    warmup_rounds=warmup_rounds)
        stats = getattr(benchmark, "stats", None)
        if stats is not None:
            s = stats.stats
            _RESULTS.append({"group": group, "impl": impl, "items": 1,
                             "median_ns": s.median * 1e9, "min_ns": s.min * 1e9,
                             "test": request.node.name})
        return result

    return run


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("bitget_fast vs baseline (same run, median per item)")
    groups: dict[str, dict[str, dict]] = {}
    for r in _RESULTS:
        groups.setdefault(r["group"], {})[r["impl"]] = r
    for group, impls in groups.items():
        ours = impls.get("bitget_fast")
        for impl, r in impls.items():
            line = f"{group:<48} {impl:<22} {r['median_ns']:>10.1f} ns"
            if ours is not None and impl != "bitget_fast":
                line += f"   ratio {r['median_ns'] / ours['median_ns']:>6.2f}x"
            tr.write_line(line)
