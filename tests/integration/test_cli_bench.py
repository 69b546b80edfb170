"""``bitget-fast bench`` through the real entry point: it runs (part of) the checkout's
benchmark suite in a child pytest, prints the ratio table, writes RESULTS.md and the raw
JSON (and bench.png with matplotlib), and says clearly when there is no suite to run."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

SUITE = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bitget_fast", "bench", *args],
                          capture_output=True, text=True, timeout=timeout, cwd="/")


def test_bench_runs_the_suite_and_writes_the_report(tmp_path):
    r = _cli("--suite", str(SUITE), "-k", "bench_record", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    out = json.loads(r.stdout)
    group = out["groups"]["replay: recording to checked book (per frame)"]
    assert {"bitget_fast", "struct+orjson+sortedcontainers"} <= set(group)
    assert all(v["correct"] and v["median_ns"] > 0 for v in group.values())
    results = (tmp_path / "RESULTS.md").read_text()
    assert "| replay: recording to checked book (per frame) | bitget_fast |" in results
    assert "- Machine: " in results and (tmp_path / "bench.json").is_file()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert out["chart"] is None
    else:
        assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    r = _cli("--suite", str(SUITE), "-k", "bench_record and record_", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "record: keep a received frame" in r.stdout and "ratio" in r.stdout
    assert "report:  " in r.stdout and "chart:   " in r.stdout


def test_bench_without_a_suite_says_where_it_is(tmp_path):
    r = _cli("--suite", str(tmp_path))
    assert r.returncode == 2
    assert "no benchmark suite at" in r.stderr and "clone" in r.stderr
    assert "Traceback" not in r.stderr


def test_bench_with_nothing_selected_says_so(tmp_path):
    r = _cli("--suite", str(SUITE), "-k", "no_such_benchmark_xyz", "--out", str(tmp_path))
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    assert "no benchmark matched" in r.stderr
