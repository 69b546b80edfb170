"""The candle feed against the simulator over loopback: history paged across endpoints equals
the simulator's own candles, live continuation stays gapless across a dropped connection,
bad rows give a typed error or a counted drop, and the broker header arrives when set.

The simulator builds its candles from its own trades (``Simulator.candles`` is its view,
read directly, not through any client path). The live tests move the simulator's clock
forward a minute at a time (``clock_ms``) instead of waiting for real minutes, and the
client's estimate of it (``RestClient.offset_ms``, which ``/api/v2/public/time`` keeps in
step) by the same amount at the same instant.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import orjson
import pytest

from bitget_fast import (
    BitgetPerpetual,
    Candle,
    CandleError,
    CandleFeed,
    ConfigurationError,
    Credentials,
    RestClient,
)
from bitget_fast.intervals import DAY_MS, INTERVALS, MINUTE_MS, candle_start, next_start
from bitget_fast.sim import Simulator

from .conftest import run_async

SYM = "BTCUSDT"
KEY, SECRET, PASS = "candle_key_1", "candle-secret-1", "CandlePass1"


def as_candle(row: list[str]) -> Candle:
    return Candle(int(row[0]), *(Decimal(x) for x in row[1:7]), True)


def sim_closed(sim: Simulator, name: str, lo: int, hi: int, now: int,
               kind: str = "market") -> list[Candle]:
    """The simulator's own closed candles starting in [lo, hi)."""
    iv = INTERVALS[name]
    rows = sim.candles(SYM, name, lo, hi - 1, kind=kind)
    return [as_candle(r) for r in rows if next_start(int(r[0]), iv) <= now]


def assert_series(got: list[Candle], name: str) -> None:
    iv = INTERVALS[name]
    starts = [c.start_ms for c in got]
    assert len(set(starts)) == len(starts), "a duplicate start"
    for a, b in zip(starts, starts[1:]):
        assert b == next_start(a, iv), f"a gap or disorder between {a} and {b}"
    assert all(c.closed for c in got)


class Clock:
    """The simulator's clock: real time plus a shift the test moves forward."""

    def __init__(self) -> None:
        self.shift_ms = 0

    def __call__(self) -> int:
        return time.time_ns() // 1_000_000 + self.shift_ms


@run_async(120)
async def test_history_over_several_pages_equals_the_simulator():
    async with Simulator([SYM], seed=5, flow_rate=30, candle_history_minutes=3 * 1440) as sim:
        async with RestClient(sim.rest_url) as rest:
            feed = CandleFeed(rest, SYM, "1m")
            since = rest.now_ms() - 2 * DAY_MS - 17 * MINUTE_MS
            got = [c async for c in feed.history(since)]
            now = rest.now_ms()
            assert feed.stats["pages"] >= 3 and feed.stats["rows"] >= 2 * 1440
            assert_series(got, "1m")
            assert got[0].start_ms == feed.first_start(since)
            assert got == sim_closed(sim, "1m", got[0].start_ms, got[-1].start_ms + 1, now)
            # it reached the last closed candle (allowing a minute that closed since)
            assert next_start(got[-1].start_ms, INTERVALS["1m"]) >= candle_start(now, INTERVALS["1m"]) - MINUTE_MS
            # the same range bounded by `until`, and with the candle in progress
            until = got[100].start_ms
            part = [c async for c in feed.history(since, until)]
            assert part == got[:100]
            live = [c async for c in feed.history(got[-1].start_ms, include_open=True)]
            assert live[-1].closed is False and live[-1].start_ms > got[-1].start_ms


@run_async(180)
async def test_history_older_than_the_recent_depth_uses_the_history_endpoints():
    # 5m candles are served by /candles for 30 days: older ones come 200 at a time from
    # /history-candles (and its mark and index twins), each call within 90 days
    async with Simulator([SYM], seed=6, flow_rate=5, candle_history_minutes=33 * 1440) as sim:
        async with RestClient(sim.rest_url) as rest:
            since = rest.now_ms() - 32 * DAY_MS
            for kind in ("market", "mark", "index"):
                feed = CandleFeed(rest, SYM, "5m", kind=kind)
                got = [c async for c in feed.history(since)]
                now = rest.now_ms()
                assert feed.stats["history_pages"] >= 2, (kind, feed.stats)
                assert feed.stats["pages"] > feed.stats["history_pages"]
                assert_series(got, "5m")
                assert len(got) >= 32 * 288 - 2
                assert got == sim_closed(sim, "5m", got[0].start_ms, got[-1].start_ms + 1, now,
                                         kind), kind
            # over 30 pages, 4 in flight: the client's limiter holds each endpoint to 20/s
            # (how often it has to wait depends on the machine's speed: not asserted); the
            # simulator enforces Bitget's limits, and a rare 429 from requests bunched on the
            # wire was retried: the series above is whole
            st = rest.stats()
            assert st["rate_limited"] <= 2, st
            # and it does hold them: 25 pages asked at once, 20 go, 5 wait for the next second
            waits = st["rate_waits"]
            path = "/api/v2/mix/market/history-mark-candles"
            q = {"symbol": SYM, "productType": "USDT-FUTURES", "granularity": "1H", "limit": "1"}
            await asyncio.gather(*(rest.request("GET", path, params=q, signed=False)
                                   for _ in range(25)))
            st = rest.stats()
            assert st["rate_waits"] - waits >= 5 and st["rate_limited"] <= 2, st


@run_async(120)
async def test_every_interval_reads_back_as_the_simulator_has_it():
    async with Simulator([SYM], seed=7, flow_rate=20, candle_history_minutes=40 * 1440) as sim:
        async with RestClient(sim.rest_url) as rest:
            for name in INTERVALS:
                feed = CandleFeed(rest, SYM, name)
                since = rest.now_ms() - 39 * DAY_MS
                got = [c async for c in feed.history(since)]
                now = rest.now_ms()
                assert_series(got, name)
                want = sim_closed(sim, name, feed.first_start(since), now, now)
                assert got == want[:len(got)] and len(want) - len(got) <= 1, name


async def collect(it: Any, out: list[Candle], done: asyncio.Event) -> None:
    try:
        async for c in it:
            out.append(c)
    finally:
        done.set()


def live_feed(sim: Simulator, rest: RestClient, minutes_back: int, **kw: Any
              ) -> tuple[CandleFeed, int, list[Candle], asyncio.Event, asyncio.Task[None]]:
    """A 1m feed streaming (in a task, into a list) from ``minutes_back`` minutes ago."""
    feed = CandleFeed(rest, SYM, "1m", ws_url=sim.ws_public_url, close_grace_s=0.5)
    since = rest.now_ms() - minutes_back * MINUTE_MS
    got: list[Candle] = []
    done = asyncio.Event()
    task = asyncio.create_task(collect(feed.stream(since, **kw), got, done))
    return feed, since, got, done, task


async def until_true(pred: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@run_async(120)
async def test_live_continues_gapless_across_a_dropped_connection():
    clock = Clock()
    async with Simulator([SYM], seed=8, flow_rate=40, clock_ms=clock) as sim:
        async with RestClient(sim.rest_url) as rest:
            iv = INTERVALS["1m"]
            feed, since, got, done, task = live_feed(sim, rest, 30, include_open=True)

            def closed() -> list[Candle]:
                return [c for c in got if c.closed]

            async def next_minute() -> None:
                clock.shift_ms += MINUTE_MS     # the exchange's clock, and ours with it
                rest.offset_ms += MINUTE_MS

            await until_true(lambda: len(closed()) >= 29 and feed.market is not None)
            await until_true(lambda: any(not c.closed for c in got))   # the live candle shows
            for _ in range(2):                     # closes told by the WebSocket
                n = len(closed())
                await next_minute()
                await until_true(lambda: len(closed()) > n)
            assert feed.stats["ws_closes"] >= 1
            # the connection drops; two minutes pass before it is back
            assert sim.drop_connections("public") >= 1
            await next_minute()
            await next_minute()
            await until_true(lambda: feed.stats["snapshots"] >= 2)
            n = len(closed())
            await next_minute()
            await until_true(lambda: len(closed()) >= n + 1)
            # quiet: no trade in the minute; it closes all the same
            sim.flow_rate = 0
            n = len(closed())
            await next_minute()
            await until_true(lambda: len(closed()) > n)
            task.cancel()
            await done.wait()
            now = rest.now_ms()
            series = closed()
            assert_series(series, "1m")
            assert series[0].start_ms == feed.first_start(since)
            assert series == sim_closed(sim, "1m", series[0].start_ms, series[-1].start_ms + 1, now)
            assert next_start(series[-1].start_ms, iv) >= candle_start(now, iv) - MINUTE_MS
            assert feed.stats["rest_closes"] >= 2 and feed.stats["ws_dropped"] == 0
            # the in-progress candles shown were for candles not closed yet, each later replaced
            for c in got:
                if not c.closed:
                    assert c.start_ms >= series[0].start_ms
            assert feed.market is None


@run_async(60)
async def test_bad_rows_give_a_typed_error_or_a_counted_drop():
    async with Simulator([SYM], seed=9, flow_rate=20) as sim:
        async with RestClient(sim.rest_url) as rest:
            iv = INTERVALS["1m"]
            lo = candle_start(rest.now_ms(), iv) - 60 * MINUTE_MS
            rows = sim.candles(SYM, "1m", lo, lo + 5 * MINUTE_MS - 1)
            assert len(rows) == 5

            def reply(data: Any) -> bytes:
                body = orjson.dumps({"code": "00000", "msg": "success",
                                     "requestTime": rest.now_ms(), "data": data})
                return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

            path = "/api/v2/mix/market/candles"
            cases = [
                ([r[:6] for r in rows], "7 or 8 fields"),                      # wrong arity
                ([rows[0][:2] + ["abc"] + rows[0][3:]] + rows[1:], "not a number"),
                ([[str(lo + 1)] + rows[0][1:]] + rows[1:], "off the 1m grid"),
                (rows + [[str(lo + 5 * MINUTE_MS)] + rows[0][1:]], "outside the window"),
                (rows + [rows[2][:4] + ["1"] + rows[2][5:]], "two different candles|not one"),
                ({"rows": rows}, "not a list"),
            ]
            for data, why in cases:
                feed = CandleFeed(rest, SYM, "1m")
                sim.reply_raw(reply(data), path=path)
                with pytest.raises(CandleError, match=why):
                    [c async for c in feed.history(lo, lo + 5 * MINUTE_MS)]
            # out of order: sorted, counted, and the series is right
            feed = CandleFeed(rest, SYM, "1m")
            sim.reply_raw(reply(rows[::-1]), path=path)
            got = [c async for c in feed.history(lo, lo + 5 * MINUTE_MS)]
            assert got == [as_candle(r) for r in rows] and feed.stats["reordered_pages"] == 1
            # a hole in the exchange's own history: a flat candle at the previous close
            feed = CandleFeed(rest, SYM, "1m")
            sim.reply_raw(reply(rows[:2] + rows[3:]), path=path)
            got = [c async for c in feed.history(lo, lo + 5 * MINUTE_MS)]
            assert_series(got, "1m")
            flat = got[2]
            assert flat.start_ms == lo + 2 * MINUTE_MS and feed.stats["filled"] == 1
            assert flat.open == flat.high == flat.low == flat.close == got[1].close
            assert flat.base_volume == flat.quote_volume == 0


@run_async(90)
async def test_bad_websocket_rows_are_dropped_and_the_candle_read_over_rest():
    clock = Clock()
    async with Simulator([SYM], seed=10, flow_rate=40, clock_ms=clock) as sim:
        async with RestClient(sim.rest_url) as rest:
            iv = INTERVALS["1m"]
            feed, _since, got, done, task = live_feed(sim, rest, 5)
            await until_true(lambda: len(got) >= 4 and feed.market is not None
                             and feed.stats["snapshots"] >= 1)
            cur = candle_start(rest.now_ms(), iv)
            arg = {"instType": "USDT-FUTURES", "channel": "candle1m", "instId": SYM}
            bad = [
                [str(cur), "1", "2"],                                        # wrong arity
                [str(cur), "x", "1", "1", "1", "1", "1", "1"],               # not a number
                [str(cur + 7), "1", "1", "1", "1", "1", "1", "1"],            # off the grid
                [str(cur + 10 * MINUTE_MS), "1", "1", "1", "1", "1", "1", "1"],   # the future
            ]
            for row in bad:
                sim.send_malformed("public", orjson.dumps(
                    {"action": "update", "arg": arg, "data": [row], "ts": rest.now_ms()}))
            sim.send_malformed("public", orjson.dumps(
                {"action": "update", "arg": arg, "data": "not rows", "ts": rest.now_ms()}))
            await until_true(lambda: feed.stats["ws_dropped"] >= 5)
            n = len(got)
            clock.shift_ms += MINUTE_MS
            rest.offset_ms += MINUTE_MS
            await until_true(lambda: len(got) > n)
            task.cancel()
            await done.wait()
            assert_series(got, "1m")
            now = rest.now_ms()
            assert got == sim_closed(sim, "1m", got[0].start_ms, got[-1].start_ms + 1, now)
            assert feed.stats["rest_closes"] >= 1


@run_async(60)
async def test_channel_api_code_arrives_when_set_and_not_otherwise():
    async with Simulator([SYM], seed=11, flow_rate=0) as sim:
        sim.add_account(KEY, SECRET, PASS)
        for code in ("bf-broker-42", None):
            bp = BitgetPerpetual(Credentials(KEY, SECRET, PASS), rest_url=sim.rest_url,
                                 ws_public_url=sim.ws_public_url,
                                 ws_private_url=sim.ws_private_url, symbols=[SYM],
                                 channel_api_code=code)
            async with bp:
                book = await bp.book(SYM)
                bid = Decimal(book.best_bid[0])
                o = await bp.place_order(SYM, "buy", "0.01", bid - 50, order_type="post_only")
                assert o.order_id
                # signed with the header present: the simulator verified the signature, so the
                # header was not part of what was signed
                assert sim.channel_api_code(o.order_id) == code
                await bp.cancel_all(SYM)
                # candles come over bp's own public client (unsigned: no header), and a live
                # stream of them ends when the connector closes
                assert bp.public_rest is not bp.rest
                hour = candle_start(bp.rest.now_ms(), INTERVALS["1H"])
                rows = [c async for c in bp.candles(SYM, "1H", rest_since(bp), hour)]
                assert rows
                got: list[Candle] = []
                done = asyncio.Event()
                task = asyncio.create_task(collect(
                    bp.candles(SYM, "1m", bp.rest.now_ms() - 5 * MINUTE_MS), got, done))
                await until_true(lambda: len(got) >= 4 and len(bp._candle_feeds) == 1)
            await asyncio.wait_for(done.wait(), 5)
            assert task.exception() is None and not bp._candle_feeds
    for bad in ("a\r\nX-Evil: 1", "", "é", 42):
        with pytest.raises(ConfigurationError, match="channel_api_code"):
            RestClient("http://127.0.0.1:9", Credentials(KEY, SECRET, PASS),
                       channel_api_code=bad)
    with pytest.raises(ConfigurationError, match="needs credentials"):
        RestClient("http://127.0.0.1:9", None, channel_api_code="bf-broker-42")


def rest_since(bp: BitgetPerpetual) -> int:
    return bp.rest.now_ms() - 12 * 3_600_000


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # from "/": run from the checkout, `-m bitget_fast` would find its uncompiled sources
    return subprocess.run([sys.executable, "-m", "bitget_fast", "candles", *args], cwd="/",
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"})


def test_cli_writes_csv_and_json_lines(tmp_path):
    now = time.time()
    since = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(now - 3 * 86400))
    until = time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(now - 3600))
    out = tmp_path / "btc.csv"
    r = run_cli("btcusdt", "--sim", "--interval", "5m", "--since", since, "--until", until,
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "start,start_ms,open,high,low,close,base_volume,quote_volume"
    starts = [int(line.split(",")[1]) for line in lines[1:]]
    assert starts == list(range(starts[0], starts[-1] + 1, 300_000))
    assert len(starts) >= (3 * 86400 - 2 * 3600 - 600) // 300 - 1   # until: an hour floored
    assert "candles of BTCUSDT" in r.stderr and "pages" in r.stderr
    r = run_cli("BTCUSDT", "--sim", "--interval", "1H", "--since", since, "--until", until,
                "--json", "--kind", "mark")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) >= 70 and set(rows[0]) == {"start", "start_ms", "open", "high", "low",
                                                "close", "base_volume", "quote_volume"}
    assert all(Decimal(x["low"]) <= Decimal(x["high"]) for x in rows)
    r = run_cli("BTCUSDT", "--sim", "--interval", "1h", "--since", since)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = run_cli("BTCUSDT", "--sim", "--since", until, "--until", since)
    assert r.returncode == 1 and "--until must be after --since" in r.stderr
    r = run_cli("BTCUSDT", "--sim", "--since", "yesterday")
    assert r.returncode == 1 and "ISO-8601" in r.stderr


def envelope(data: Any) -> bytes:
    body = orjson.dumps({"code": "00000", "msg": "success", "requestTime": 0, "data": data})
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


@run_async(60)
async def test_short_or_empty_recent_pages_are_completed_from_the_history_endpoint():
    async with Simulator([SYM], seed=12, flow_rate=10, candle_history_minutes=10 * 1440) as sim:
        async with RestClient(sim.rest_url) as rest:
            iv = INTERVALS["1m"]
            lo = candle_start(rest.now_ms(), iv) - 90 * MINUTE_MS
            rows = sim.candles(SYM, "1m", lo, lo + 5 * MINUTE_MS - 1)
            # /candles answers without the window's first two candles (its depth ends there)
            feed = CandleFeed(rest, SYM, "1m")
            sim.reply_raw(envelope(rows[2:]), path="/api/v2/mix/market/candles")
            got = [c async for c in feed.history(lo, lo + 5 * MINUTE_MS)]
            assert got == [as_candle(r) for r in rows]
            assert feed.stats["history_fallbacks"] == 1 and feed.stats["filled"] == 0
            # 12H: /candles has no documented depth, and an empty page is asked again too
            h12 = INTERVALS["12H"]
            lo = candle_start(rest.now_ms(), h12) - 8 * h12.ms
            feed = CandleFeed(rest, SYM, "12H")
            sim.reply_raw(envelope([]), path="/api/v2/mix/market/candles")
            got = [c async for c in feed.history(lo, lo + 6 * h12.ms)]
            want = sim.candles(SYM, "12H", lo, lo + 6 * h12.ms - 1)
            assert got == [as_candle(r) for r in want] and len(got) == 6
            assert feed.stats["history_fallbacks"] == 1


@run_async(60)
async def test_a_candle_ended_within_the_grace_is_not_final_yet():
    # the exchange's clock stands 0.3 s after a minute's end: that minute may still change
    t = (time.time_ns() // 1_000_000 // MINUTE_MS - 3) * MINUTE_MS + 300
    async with Simulator([SYM], seed=13, flow_rate=0, candle_history_minutes=120,
                         clock_ms=lambda: t) as sim:
        async with RestClient(sim.rest_url) as rest:
            feed = CandleFeed(rest, SYM, "1m", close_grace_s=2)
            got = [c async for c in feed.history(t - 10 * MINUTE_MS, include_open=True)]
            assert got[-1].closed is False and got[-1].start_ms == t - 300 - MINUTE_MS
            assert all(c.closed for c in got[:-1]) and len(got) == 9


@run_async(60)
async def test_until_inside_a_candle_waits_for_it_to_close():
    clock = Clock()
    async with Simulator([SYM], seed=14, flow_rate=20, clock_ms=clock) as sim:
        async with RestClient(sim.rest_url) as rest:
            iv = INTERVALS["1m"]
            cur = candle_start(rest.now_ms(), iv)
            feed = CandleFeed(rest, SYM, "1m", ws_url=sim.ws_public_url, close_grace_s=0.5)
            got: list[Candle] = []
            done = asyncio.Event()
            asyncio.create_task(collect(feed.stream(cur - 5 * MINUTE_MS, cur + 1), got, done))
            await until_true(lambda: len(got) == 5)
            await asyncio.sleep(0.3)
            assert not done.is_set()            # the candle holding `until` is not final yet
            clock.shift_ms += MINUTE_MS
            rest.offset_ms += MINUTE_MS
            await asyncio.wait_for(done.wait(), 10)
            assert [c.start_ms for c in got] == [cur + (i - 5) * MINUTE_MS for i in range(6)]
            assert got == sim_closed(sim, "1m", cur - 5 * MINUTE_MS, cur + 1, rest.now_ms())
            assert feed.market is None          # its connection closed with it


@run_async(60)
async def test_a_row_from_the_next_minute_does_not_close_this_one():
    clock = Clock()
    clock.shift_ms = 30_000 - time.time_ns() // 1_000_000 % MINUTE_MS   # mid-minute
    async with Simulator([SYM], seed=15, flow_rate=40, clock_ms=clock) as sim:
        async with RestClient(sim.rest_url) as rest:
            iv = INTERVALS["1m"]
            feed, _since, got, done, task = live_feed(sim, rest, 3)
            await until_true(lambda: len(got) >= 2 and feed.stats["snapshots"] >= 1)
            cur = candle_start(rest.now_ms(), iv)
            arg = {"instType": "USDT-FUTURES", "channel": "candle1m", "instId": SYM}
            row = [str(cur + MINUTE_MS), "1", "1", "1", "1", "1", "1", "1"]
            sim.send_malformed("public", orjson.dumps(
                {"action": "update", "arg": arg, "data": [row], "ts": rest.now_ms()}))
            await until_true(lambda: feed.stats["ws_dropped"] >= 1)
            await asyncio.sleep(0.2)
            assert all(c.start_ms < cur for c in got)     # the current minute still open
            clock.shift_ms += MINUTE_MS
            rest.offset_ms += MINUTE_MS
            await until_true(lambda: any(c.start_ms == cur for c in got))
            await feed.close()                           # ends the iterator, not an error
            await asyncio.wait_for(done.wait(), 5)
            assert task.done() and task.exception() is None
            assert_series(got, "1m")
            assert got == sim_closed(sim, "1m", got[0].start_ms, got[-1].start_ms + 1,
                                     rest.now_ms())


@run_async(60)
async def test_years_before_the_first_candle_cost_one_call_per_90_days():
    # the symbol's history starts 2 days ago; asked from 200 days back, the history endpoint
    # is probed a span at a time instead of paged 200 candles at a time (~250 calls)
    async with Simulator([SYM], seed=16, flow_rate=5, candle_history_minutes=2 * 1440) as sim:
        async with RestClient(sim.rest_url) as rest:
            feed = CandleFeed(rest, SYM, "5m")
            since = rest.now_ms() - 200 * DAY_MS
            got = [c async for c in feed.history(since)]
            now = rest.now_ms()
            assert feed.stats["empty_spans"] == 2 and feed.stats["history_pages"] == 0
            assert rest.stats()["requests"] < 30, (rest.stats(), feed.stats)
            assert_series(got, "5m")
            assert got == sim_closed(sim, "5m", got[0].start_ms, got[-1].start_ms + 1, now)
            assert got[0].start_ms <= now - 2 * DAY_MS + 5 * MINUTE_MS
