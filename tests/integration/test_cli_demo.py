"""``bitget-fast demo`` through its real entry point (a child process): it quotes on the
embedded simulator, ends flat with nothing open, and says so; bad arguments get a clear
message and a meaningful exit status, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest


def _demo(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    # cwd="/": the installed package, not a source checkout
    return subprocess.run([sys.executable, "-m", "bitget_fast", "demo", *args],
                          capture_output=True, text=True, timeout=timeout, cwd="/")


def test_demo_quotes_fills_and_ends_equal_to_the_exchange():
    r = _demo("--duration", "6", "--edge", "-1", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["state_equals_exchange"] is True
    assert s["book_messages"] > 50 and s["book_integrity_errors"] == 0
    assert s["orders_placed"] >= 2 and s["orders_rejected"] == 0
    # flat at the end: everything canceled or filled, the position closed
    assert s["orders_placed"] <= s["orders_filled"] + s["orders_canceled"]
    assert s["tick_to_order_us_median"] > 0 and s["ack_ms_median"] > 0
    assert Decimal(s["equity_usdt"]) - Decimal("10000") == Decimal(s["pnl_usdt"])
    assert "Traceback" not in r.stderr


def test_demo_without_a_terminal_prints_progress_and_a_summary():
    r = _demo("--duration", "2", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "bitget-fast demo: BTCUSDT on the embedded simulator (seed 3)" in r.stdout
    assert "\x1b[" not in r.stdout          # no cursor movement into a pipe
    assert "summary  BTCUSDT" in r.stdout
    assert "equal the exchange's: yes" in r.stdout


@pytest.mark.parametrize("args, status, message", [
    (["--duration", "0"], 2, "--duration must be > 0"),
    (["--symbol", "NOPE"], 1, "USDT-M perpetuals like 'BTCUSDT', not 'NOPE'"),
    (["--size", "0.00001"], 1, "below minTradeNum"),
    (["--max-position", "0.001"], 1, "below one quote"),
    (["--edge", "x"], 2, "invalid int value"),
])
def test_demo_refuses_bad_arguments_clearly(args, status, message):
    r = _demo(*args, "--duration", "1") if "--duration" not in args else _demo(*args)
    assert r.returncode == status, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


def test_demo_help_explains_itself():
    r = _demo("--help")
    assert r.returncode == 0
    assert "no network" in r.stdout.lower() or "nothing leaves this machine" in r.stdout.lower()
    for opt in ("--duration", "--symbol", "--size", "--edge", "--max-position", "--json"):
        assert opt in r.stdout
