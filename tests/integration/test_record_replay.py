"""Record / replay: a stream recorded live from the simulator over loopback replays, through
the same listener path, into the same books, counters and trades; files rotate, cut-short
and foreign files are named; the real Bitget recording replays with every checksum verified."""

from __future__ import annotations

import asyncio
import gzip
import pathlib
import re
import shutil
import time

import pytest

from bitget_fast import MarketData
from bitget_fast.errors import ConfigurationError
from bitget_fast.record import (
    MAGIC,
    REC_CONNECTED,
    REC_DISCONNECTED,
    REC_SENT,
    REC_TEXT,
    Record,
    Recorder,
    RecordingError,
    Replayer,
    write_recording,
)
from bitget_fast.sim import Simulator

from .conftest import cryptofeed_recording, run_async

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def _state(md: MarketData) -> dict[str, object]:
    return {s: (b.is_valid, b.seq, b.checksum(), b.bids(25), b.asks(25), b.updates_applied,
                b.checksums_verified) for s, b in md.books.items()}


async def _record_live(prefix: pathlib.Path) -> tuple[dict, dict, list, Recorder]:
    """Record ~2 s of books, trades and tickers with a disconnect and a bad checksum in it."""
    async with Simulator(SYMBOLS, flow_rate=300) as sim:
        rec = Recorder(prefix, max_bytes=20_000, chunk_bytes=4096)
        trades: list = []
        async with MarketData(SYMBOLS, url=sim.ws_public_url, trades=True, tickers=True,
                              recorder=rec, resync_timeout_s=1.0) as md:
            feed = md.trades()

            async def take() -> None:
                async for t in feed:
                    trades.append(t.trade_id)
            task = asyncio.create_task(take())
            await md.wait_ready(10)
            await asyncio.sleep(0.5)
            sim.corrupt_checksum("BTCUSDT")
            await asyncio.sleep(0.5)
            sim.drop_connections("public")
            await asyncio.sleep(0.3)
            await md.wait_ready(10)
            sim.skip_seq("ETHUSDT")
            await asyncio.sleep(0.7)
            await md.wait_ready(10)
            live_state, live_stats = _state(md), md.stats()
        await asyncio.wait_for(task, 5)
        rec.close()
    return live_state, live_stats, trades, rec


@run_async(60)
async def test_replay_reproduces_the_live_stream(tmp_path):
    live_state, live, live_trades, rec = await _record_live(tmp_path / "rec" / "s")
    assert len(rec.files) >= 3, "max_bytes=20000 rotates several times"
    assert rec.stats()["dropped_records"] == 0 and rec.stats()["error"] is None
    assert live["integrity_errors"] >= 2 and live["reconnects"] == 1

    r = Replayer(tmp_path / "rec")
    assert r.files == rec.files
    assert r.meta["symbols"] == SYMBOLS and r.meta["trades"] and r.meta["part"] == 1
    md = r.market_data()
    trades: list = []
    feed = md.trades()

    async def take() -> None:
        async for t in feed:
            trades.append(t.trade_id)
    task = asyncio.create_task(take())
    st = await r.run(md)
    await md.close()
    await task
    # the same frames through the same path: the same books, counters and trades
    assert st.frames == live["frames"]
    assert st.book_messages == live["book_messages"]
    assert st.integrity_errors == live["integrity_errors"]
    assert st.rejected_messages == live["rejected_messages"] == 0
    assert st.connects == 2 and st.disconnects == 1
    assert _state(md) == live_state
    assert trades == live_trades and trades
    assert st.truncated == () and not st.ok  # the scripted bad checksum is reported
    assert st.checksums_verified == sum(v[6] for v in live_state.values())

    # deterministic: a second replay gives the same result
    md2 = r.market_data()
    st2 = await r.run(md2)
    await md2.close()
    assert _state(md2) == live_state
    assert st2._replace(elapsed_s=0) == st._replace(elapsed_s=0)

    # every record is there, in order, with the sent subscribe requests
    recs = list(r.records())
    assert len(recs) == st.records == rec.stats()["records"]
    kinds = [x.kind for x in recs]
    assert kinds[0] == REC_CONNECTED and kinds[1] == REC_SENT
    assert b'"op":"subscribe"' in recs[1].payload
    assert kinds.count(REC_DISCONNECTED) == 1
    assert all(a.recv_ns <= b.recv_ns for a, b in zip(recs, recs[1:]))


@run_async(30)
async def test_replay_at_the_recorded_pace(tmp_path):
    base = 1_700_000_000_000_000_000
    snap = (FIXTURES / "docs-examples" / "nautilus_pr3782_ws_public_depth_snapshot.json").read_bytes()
    recs = [Record(REC_CONNECTED, 0, base, b"")] + [
        Record(REC_TEXT, 0, base + i * 100_000_000, snap.strip()) for i in range(5)]
    sym = re.search(rb'"instId":\s*"(\w+)"', snap).group(1).decode()
    path = write_recording(tmp_path / "paced.bfrec.gz", recs, {"symbols": [sym]})
    r = Replayer(path)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    st = await r.run(speed=2.0)          # 0.4 s recorded: at least 0.2 s at twice the pace
    assert loop.time() - t0 >= 0.19
    assert st.frames == 5 and st.recorded_span_s == pytest.approx(0.4)
    t0 = loop.time()
    st = await r.run(speed=None)
    assert st.frames == 5


@run_async(30)
async def test_the_real_bitget_recording_replays_with_every_checksum_verified(tmp_path):
    # tests/fixtures/real/cryptofeed_BITGET.ws.2.0.txt: cryptofeed's capture of Bitget's
    # (V1) futures stream, converted to a recording
    path, recs = cryptofeed_recording(FIXTURES / "real" / "cryptofeed_BITGET.ws.2.0.txt",
                                      tmp_path / "bitget-v1.bfrec.gz", ["DASHUSDT", "UNIUSDT"])
    st = await Replayer(path).run()
    assert st.book_messages == 194 and st.checksums_verified == 194
    assert st.integrity_errors == 0 and st.books_valid == 2
    # V1's trade and ticker pushes are not V2's shape: each is rejected, none silently taken
    v1_other = sum(1 for x in recs if x.kind == REC_TEXT and (
        b'"channel":"trade"' in x.payload or b'"channel":"ticker"' in x.payload)
        and b'"action"' in x.payload)
    assert st.rejected_messages == v1_other > 0   # (candle pushes: not subscribed, counted)


@run_async(30)
async def test_a_file_cut_short_replays_up_to_the_cut_and_says_so(tmp_path):
    _, live, _, rec = await _record_live(tmp_path / "cut")
    whole = await Replayer(*rec.files).run()
    victim = rec.files[-1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) * 2 // 3])
    st = await Replayer(*rec.files).run()
    assert st.truncated == (victim.name,) and not st.ok
    assert 0 < st.frames < whole.frames


@run_async(10)
async def test_what_is_not_a_recording_is_refused_clearly(tmp_path):
    (tmp_path / "a.bfrec").write_bytes(b"{'op': 'subscribe'}\n" * 10)
    with pytest.raises(RecordingError, match="not a bitget_fast recording"):
        Replayer(tmp_path / "a.bfrec")
    (tmp_path / "b.bfrec").write_bytes(MAGIC[:6] + b"\x09\n" + b"\0" * 8)
    with pytest.raises(RecordingError, match="format version 9"):
        Replayer(tmp_path / "b.bfrec")
    (tmp_path / "c.bfrec.gz").write_bytes(gzip.compress(MAGIC + b"\x05\0\0\0{oops"))
    with pytest.raises(RecordingError, match="header is not JSON"):
        Replayer(tmp_path / "c.bfrec.gz")
    with pytest.raises(ConfigurationError, match="no recording at"):
        Replayer(tmp_path / "missing-*.bfrec.gz")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="holds no"):
        Replayer(empty)
    # a record of an unknown kind is corrupt, not skipped
    p = write_recording(tmp_path / "d.bfrec", [Record(77, 0, 1, b"x")], {"symbols": ["BTCUSDT"]},
                        compress=False)
    with pytest.raises(RecordingError, match="unknown kind 77"):
        await Replayer(p).run()


def test_a_recorder_that_cannot_write_says_so(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rec = Recorder(blocker / "sub" / "x")
    with pytest.raises(OSError):
        rec.begin({"symbols": ["BTCUSDT"]})   # the directory cannot be made: at once
    ro = tmp_path / "ro"
    ro.mkdir()
    rec = Recorder(ro / "x")
    rec.begin({"symbols": ["BTCUSDT"]})
    shutil.rmtree(ro)                          # the directory vanishes under the recorder
    rec.log.append(REC_TEXT, 0, b"{}")
    with pytest.raises(RecordingError, match="incomplete"):
        rec.close()
    assert rec.stats()["dropped_chunks"] == 1 and "FileNotFoundError" in rec.stats()["error"]


def test_recorder_refuses_bad_settings(tmp_path):
    for kw in ({"max_bytes": 10}, {"rotate_s": 0}, {"compress_level": 11}):
        with pytest.raises(ConfigurationError):
            Recorder(tmp_path / "x", **kw)
    with pytest.raises(ConfigurationError):
        Recorder(tmp_path / "..")
    rec = Recorder(tmp_path / "x", rotate_s=0.05, compress=False)
    rec.begin({"symbols": ["BTCUSDT"]})
    with pytest.raises(RuntimeError, match="one stream"):
        rec.begin({"symbols": ["BTCUSDT"]})
    for i in range(3):   # rotation by age: each flush after 50 ms starts a new file
        rec.log.append(REC_TEXT, 0, b'{"n":%d}' % i)
        rec.flush()
        time.sleep(0.08)
    rec.close()
    assert len(rec.files) >= 2 and all(p.suffix == ".bfrec" for p in rec.files)
    got = [x.payload for x in Replayer(*rec.files).records()]
    assert got == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    metas = [Replayer(p).meta for p in rec.files]
    assert [m["part"] for m in metas] == list(range(1, len(rec.files) + 1))
    assert metas[1]["continues"] == rec.files[0].name
