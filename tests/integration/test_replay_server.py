"""ReplayServer: a recording served as Bitget's public WebSocket, over loopback.

The real futures recording (tests/fixtures/real: cryptofeed's capture of Bitget's DASHUSDT
and UNIUSDT books) is served to the package's own MarketData and to a bare picows client;
what they receive must verify as it did live (every checksum), whenever they subscribe,
at full speed, at a pace, or stepped by hand."""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from bitget_fast.errors import ExchangeError
from bitget_fast.market import MarketData
from bitget_fast.record import Record, RecordingError, Replayer, write_recording, REC_TEXT
from bitget_fast.sim import ReplayServer

from .conftest import Ws, cryptofeed_recording, run_async

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
SYMS = ["DASHUSDT", "UNIUSDT"]


@pytest.fixture
def recording(tmp_path: pathlib.Path) -> pathlib.Path:
    return cryptofeed_recording(FIXTURES / "real" / "cryptofeed_BITGET.ws.2.0.txt",
                                tmp_path / "real.bfrec.gz", SYMS)[0]


def _top(book) -> tuple:
    return book.bids(25), book.asks(25), book.checksum()


async def _offline_books(path: pathlib.Path) -> dict[str, tuple]:
    """The final books when the recording is replayed straight into the listener."""
    r = Replayer(path)
    md = r.market_data(trades=False, tickers=False)
    st = await r.run(md)
    await md.close()
    assert st.integrity_errors == 0
    return {s: _top(md.book(s)) for s in SYMS}


def _count(rs: ReplayServer, channel: str, sym: str, start: int = 0) -> int:
    return sum(1 for f in rs.frames[start:] if (f.channel, f.inst_id) == (channel, sym))


@run_async(60)
async def test_full_speed_every_message_verifies_and_the_books_end_as_recorded(recording):
    want = await _offline_books(recording)
    async with ReplayServer(recording, speed=None) as rs:
        assert rs.truncated == "" and len(rs.frames) == 465
        md = MarketData(SYMS, url=rs.url, strict_seq=False)
        await md.start()
        await rs.wait_finished(20)
        total = sum(_count(rs, "books", s) for s in SYMS)
        deadline = time.monotonic() + 10
        while md.stats()["book_messages"] < total and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        st = md.stats()
        assert st["book_messages"] == total == 194 and st["integrity_errors"] == 0
        assert {s: _top(md.book(s)) for s in SYMS} == want
        await md.close()
    assert rs.counters["subscribes"] == 2 and rs.counters["refused"] == 0


@run_async(60)
async def test_a_late_subscriber_catches_up_from_the_latest_snapshot(recording):
    want = await _offline_books(recording)
    async with ReplayServer(recording, speed=0) as rs:
        rs.advance_to("books", "DASHUSDT")
        rs.advance(200)                       # the market has moved on before we subscribe
        assert rs.position > 200 and not rs.finished
        md = MarketData(SYMS, url=rs.url, strict_seq=False)
        await md.start()
        rs.advance(len(rs.frames))
        assert rs.finished
        await rs.wait_finished(1)
        deadline = time.monotonic() + 10
        while {s: _top(md.book(s)) for s in SYMS} != want and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert {s: _top(md.book(s)) for s in SYMS} == want
        assert md.stats()["integrity_errors"] == 0
        await md.close()


@run_async(60)
async def test_paced_playback_follows_the_recorded_clock_and_answers_pings(recording):
    async with ReplayServer(recording, speed=25) as rs:
        span = (rs.frames[-1].recv_ns - rs.frames[0].recv_ns) / 1e9
        md = MarketData(["DASHUSDT"], url=rs.url, strict_seq=False, ping_interval_s=0.1,
                        pong_timeout_s=0.1)
        t0 = time.monotonic()
        await md.start()
        await rs.wait_finished(30)
        elapsed = time.monotonic() - t0
        await asyncio.sleep(0.3)
        st = md.stats()
        await md.close()
    assert span > 25 and elapsed >= 0.9 * span / 25, (span, elapsed)
    assert st["pongs"] >= 2 and st["integrity_errors"] == 0
    assert st["book_messages"] == _count(rs, "books", "DASHUSDT")


@run_async(30)
async def test_what_the_recording_does_not_hold_is_refused_as_bitget_does(recording):
    async with ReplayServer(recording, speed=0) as rs:
        md = MarketData(["BTCUSDT"], url=rs.url, strict_seq=False)
        with pytest.raises(ExchangeError, match="30001|doesn't exist"):
            await md.start()
        await md.close()
        ws = await Ws.connect(rs.url)
        ws.send(b"not json")
        assert (await ws.recv_json())["code"] == 30002
        ws.send({"op": "login", "args": []})
        assert (await ws.recv_json())["code"] == 30003
        ws.send({"op": "subscribe", "args": ["books"]})
        assert (await ws.recv_json())["code"] == 30002
        ws.send(b"ping")
        assert await ws.recv() == b"pong"
        # subscribe, get pushes, unsubscribe: the ack, then nothing more for that channel
        arg = {"instType": "USDT-FUTURES", "channel": "books", "instId": "UNIUSDT"}
        await ws.subscribe(arg)
        assert await ws.recv_json() == {"event": "subscribe", "arg": arg}
        rs.advance_to("books", "UNIUSDT")
        first = await ws.recv_json()
        assert first["action"] == "snapshot" and first["arg"]["instId"] == "UNIUSDT"
        ws.send({"op": "unsubscribe", "args": [arg]})
        assert await ws.recv_json() == {"event": "unsubscribe", "arg": arg}
        rs.advance(len(rs.frames))
        ws.send(b"ping")
        assert await ws.recv() == b"pong"      # nothing was queued before it
        await ws.close()
    assert rs.counters["refused"] >= 2


def test_bad_arguments_and_recordings_without_pushes_are_refused(tmp_path, recording):
    for speed in (-1, float("nan"), float("inf"), "fast"):
        with pytest.raises(ValueError, match="speed"):
            ReplayServer(recording, speed=speed)
    empty = write_recording(tmp_path / "acks.bfrec", [
        Record(REC_TEXT, 0, 1, b'{"event":"subscribe","arg":{"channel":"books","instId":"X"}}'),
        Record(REC_TEXT, 0, 2, b"pong")], {"symbols": ["X"]})
    with pytest.raises(RecordingError, match="no snapshot or update pushes"):
        ReplayServer(empty)
    rs = ReplayServer(recording, speed=0)
    with pytest.raises(ValueError, match="no update of books/BTCUSDT"):
        rs.advance_to("books", "BTCUSDT", "update")
    with pytest.raises(ValueError, match="non-negative"):
        rs.advance(-1)


def test_cli_replay_serve_serves_until_ctrl_c(recording):
    proc = subprocess.Popen([sys.executable, "-m", "bitget_fast", "replay", str(recording),
                             "--serve", "--json"], cwd="/", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        hello = json.loads(proc.stdout.readline())
        assert hello["frames"] == 465 and "books:DASHUSDT" in hello["channels"]

        async def client() -> dict:
            md = MarketData(["DASHUSDT"], url=hello["url"], strict_seq=False)
            await md.start()
            deadline = time.monotonic() + 20
            while md.stats()["book_messages"] < 98 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            st = md.stats()
            await md.close()
            return st

        st = asyncio.run(client())
        assert st["book_messages"] == 98 and st["integrity_errors"] == 0
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    bye = json.loads(out.strip().splitlines()[-1])
    assert bye["finished"] is True and bye["subscribes"] == 1 and bye["frames_sent"] >= 98
