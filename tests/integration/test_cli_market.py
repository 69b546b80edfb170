"""``bitget-fast book``, ``record`` and ``replay`` through the real entry point (a child
process): against the embedded simulator they stream, record and replay with every check
passing; without network, with a bad file or bad arguments they say what is wrong, with a
meaningful exit status and no traceback."""

from __future__ import annotations

import gzip
import json
import pathlib
import subprocess
import sys

import pytest


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # cwd="/": the installed package, not a source checkout
    return subprocess.run([sys.executable, "-m", "bitget_fast", *args], capture_output=True,
                          text=True, timeout=timeout, cwd="/")


def test_book_on_the_simulator_streams_checked_books():
    r = _cli("book", "BTCUSDT", "ETHUSDT", "--sim", "--duration", "2", "--depth", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["stats"]["integrity_errors"] == 0 and out["stats"]["book_messages"] > 20
    for sym in ("BTCUSDT", "ETHUSDT"):
        b = out["books"][sym]
        assert b["valid"] and b["checksums_verified"] > 5
        assert len(b["bids"]) == len(b["asks"]) == 3
        assert float(b["bids"][0][0]) < float(b["asks"][0][0])


def test_book_without_a_terminal_prints_lines_and_a_summary():
    r = _cli("book", "BTCUSDT", "--sim", "--duration", "1.5")
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stdout
    assert "BTCUSDT " in r.stdout and "checksums verified, 0 integrity errors" in r.stdout


def test_book_without_network_fails_at_once_and_says_why():
    # .invalid never resolves (RFC 2606): what a machine without network sees for Bitget
    r = _cli("book", "BTCUSDT", "--url", "wss://ws.bitget.invalid/v2/ws/public", timeout=30)
    assert r.returncode == 1
    assert "cannot resolve ws.bitget.invalid" in r.stderr and "--sim" in r.stderr
    assert "Traceback" not in r.stderr


def test_record_then_replay_through_the_cli(tmp_path):
    prefix = tmp_path / "rec" / "sim"
    r = _cli("record", "BTCUSDT", "ETHUSDT", "--sim", "--trades", "--tickers", "-o", str(prefix),
             "--duration", "3", "--max-mb", "0.01", "--json")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert len(rec["files"]) >= 2 and rec["records"] > 100 and rec["dropped_records"] == 0
    assert rec["stream"]["integrity_errors"] == 0
    assert all(f.endswith(".bfrec.gz") and f.startswith(str(prefix)) for f in rec["files"])

    r = _cli("replay", str(tmp_path / "rec"), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["ok"] and rep["files"] == len(rec["files"]) and rep["records"] == rec["records"]
    assert rep["book_messages"] == rec["stream"]["book_messages"]
    assert rep["checksums_verified"] == rep["book_messages"] and rep["books_valid"] == 2
    assert rep["frames_per_s"] > 0 and rep["symbols"] == ["BTCUSDT", "ETHUSDT"]

    r = _cli("replay", *rec["files"])          # the human summary
    assert r.returncode == 0, r.stderr
    assert "0 integrity errors" in r.stdout and "result     ok" in r.stdout

    # the last file cut short (a recorder killed mid-write): replayed up to the cut, exit 3
    last = pathlib.Path(rec["files"][-1])
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    r = _cli("replay", *rec["files"])
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "cut short" in r.stdout and "Traceback" not in r.stderr


@pytest.mark.parametrize("setup, args, status, message", [
    (None, ["replay", "{tmp}/nothing-*.bfrec"], 1, "no recording at"),
    ("junk", ["replay", "{tmp}/junk.bfrec"], 1, "not a bitget_fast recording"),
    ("gz", ["replay", "{tmp}/x.bfrec.gz"], 1, "not a bitget_fast recording"),
    (None, ["replay", "{tmp}", "--speed", "-1"], 2, "--speed must be >= 0"),
    (None, ["record", "BTCUSDT", "--sim", "-o", "{tmp}/x", "--duration", "0"], 2,
     "--duration must be > 0"),
    (None, ["record", "BTCUSDT", "--sim"], 2, "the following arguments are required: -o"),
    (None, ["book", "NOPE", "--sim", "--duration", "1"], 1, "NOPE"),
    (None, ["book", "BTCUSDT", "--sim", "--depth", "0"], 2, "--depth must be 1 to 400"),
])
def test_market_commands_refuse_bad_input_clearly(tmp_path, setup, args, status, message):
    if setup == "junk":
        (tmp_path / "junk.bfrec").write_bytes(b"hello, not a recording\n" * 4)
    elif setup == "gz":
        (tmp_path / "x.bfrec.gz").write_bytes(gzip.compress(b'{"op":"subscribe"}' * 10))
    r = _cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == status, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("cmd, words", [
    ("book", ["--sim", "examples:"]),
    ("record", ["--rotate-s", "--max-mb", "replay"]),
    ("replay", ["--speed", "integrity", "Exit status 3"]),
])
def test_help_teaches(cmd, words):
    r = _cli(cmd, "--help")
    assert r.returncode == 0
    for w in words:
        assert w in r.stdout, w


def test_record_stops_at_ctrl_c_with_every_record_on_disk(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "bitget_fast", "record", "BTCUSDT", "--sim",
                             "-o", str(tmp_path / "c"), "--json"], cwd="/",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("c-*.bfrec.gz")) and time.monotonic() < deadline:
        time.sleep(0.1)   # the first file exists once the first chunk is written
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    rec = json.loads(out)
    assert rec["records"] > 10 and rec["dropped_records"] == 0
    r = _cli("replay", *rec["files"], "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["ok"] and rep["records"] == rec["records"] and not rep["truncated"]
