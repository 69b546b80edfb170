"""Every example runs against the embedded simulator, as its README says, from a child process
with the installed package (cwd="/": not a source checkout)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import sysconfig
from decimal import Decimal

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _run(*args: str, cwd: str = "/", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def test_market_maker_quotes_and_ends_flat_and_equal_to_the_exchange():
    r = _run(str(EXAMPLES / "market_maker.py"), "--duration", "4", "--flow-rate", "100",
             "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["book_updates"] > 50 and s["placed"] >= 2
    assert s["position"] == "0" and s["open_orders"] == 0
    assert s["state_equals_exchange"] is True


def test_recorder_example_replays_to_the_live_books(tmp_path):
    r = _run(str(EXAMPLES / "record_books.py"), "-o", str(tmp_path / "rec" / "books"),
             "--duration", "2", "BTCUSDT", "SOLUSDT")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    assert s["books_equal"] is True and s["replay_ok"] is True and s["dropped_records"] == 0
    assert s["replayed_book_messages"] == s["live_book_messages"] > 50
    assert s["checksums_verified"] == s["replayed_book_messages"]
    assert all(pathlib.Path(f).exists() for f in s["files"])


def test_cython_strategy_builds_against_the_pxd_and_runs(tmp_path):
    if shutil.which(sysconfig.get_config_var("CC").split()[0] or "cc") is None:
        pytest.skip("no C compiler")
    pytest.importorskip("Cython")
    work = tmp_path / "cython_strategy"
    shutil.copytree(EXAMPLES / "cython_strategy", work)
    b = _run("setup.py", "build_ext", "--inplace", cwd=str(work), timeout=300)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    assert "warning:" not in (b.stdout + b.stderr).lower(), b.stderr[-3000:]
    r = _run("run.py", "--duration", "2", cwd=str(work))
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    assert s["updates"] == s["book_messages"] > 50 and s["integrity_errors"] == 0
    bid, ask = Decimal(s["best_bid"][0]), Decimal(s["best_ask"][0])
    assert bid <= Decimal(str(s["microprice"])) <= ask
    assert -10000 <= s["imbalance_bps"] <= 10000
