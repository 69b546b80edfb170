"""The simulator's candles over loopback: REST (/candles, history, mark, index), WebSocket
``candle<interval>`` channels, and the broker header it records per order.

Most tests drive the exchange clock: ``Simulator(clock_ms=...)`` is a :class:`Clock` the
test moves, with the background
flow frozen (``flow_rate=0``). Trades then happen only when the test runs ``sim.advance``
(background events through the real matching engine), at the instant the clock shows.
Nothing here depends on how fast the machine is: waits are bounded by generous timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from decimal import Decimal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bitget_fast.intervals import (DAY_MS, HISTORY_LIMIT, INTERVALS, MAX_SPAN_MS, RECENT_LIMIT,
                                   candle_start, next_start)
from bitget_fast.sim import Simulator
from bitget_fast.sim import api as sim_api
from bitget_fast.sim.server import MAX_CANDLE_HISTORY_MINUTES
from bitget_fast.sim.ws import CANDLE_CHANNELS, CANDLE_SNAPSHOT_ROWS

PT = "USDT-FUTURES"
V2 = "/api/v2/mix/market/"
MIN = 60_000
# 2024-03-05 10:02:20 UTC: a Tuesday, in the 10:00 5m bucket; the history reaches February
T0 = int(dt.datetime(2024, 3, 5, 10, 2, 20, tzinfo=dt.timezone.utc).timestamp() * 1000)
BAD_GRANULARITIES = ["1min", "1h", "7m", "1d", "", "1mutc", "1MUTC", "3M", " 1m", "1m ", "1W ",
                     "60", "1s", "2D", "candle1m"]


class Clock:
    """The exchange clock, in ms, moved by the test."""

    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def clocked(clock: Clock, **kw: Any) -> Simulator:
    """A frozen simulator (no background flow) on ``clock``."""
    kw.setdefault("flow_rate", 0)
    kw.setdefault("enforce_rate_limits", False)
    return Simulator(["BTCUSDT"], seed=kw.pop("seed", 4), clock_ms=clock, **kw)


@contextlib.asynccontextmanager
async def clocked_rest(h: Any, clock: Clock, **kw: Any) -> AsyncIterator[tuple[Simulator, Any]]:
    """A started :func:`clocked` simulator and a loopback REST client to it, both closed after."""
    async with clocked(clock, **kw) as sim:
        rest = h.Rest(sim)
        try:
            yield sim, rest
        finally:
            await rest.close()


def trade(sim: Simulator, symbol: str = "BTCUSDT", n: int = 1) -> list[tuple]:
    """Run background events until at least ``n`` new public trades happened; returns them."""
    m = sim.market(symbol)
    last = int(m.trades[-1][0]) if m.trades else 0
    for _ in range(20_000):
        sim.advance(1, symbol)
        new = [t for t in m.trades if int(t[0]) > last]
        if len(new) >= n:
            return new
    raise AssertionError("no trade in 20000 background events")


def trade_away(sim: Simulator, symbol: str = "BTCUSDT") -> list[tuple]:
    """One background market order on the side opposite the last trade: its price differs
    from the last one (the book is never crossed). Returns the new trades."""
    m = sim.market(symbol)
    last = m.trades[-1]
    sim.engine.bg_take(m, last[3] == "sell", m.spec.lot)
    sim.engine.flush()
    new = [t for t in m.trades if int(t[0]) > int(last[0])]
    assert new and new[0][1] != last[1]
    return new


def settle_mark(sim: Simulator, symbol: str = "BTCUSDT") -> None:
    """Sample the mark price now (the background events move it; the sweep would sample it
    at its next tick, which could fall between two reads of a test)."""
    m = sim.market(symbol)
    sim.set_mark_price(symbol, m.spec.price_str(m.mark))


def q(symbol: str = "BTCUSDT", **kw: Any) -> dict[str, str]:
    return {"productType": PT, "symbol": symbol, **{k: str(v) for k, v in kw.items()}}


def agg(rows: list[list[str]]) -> list[Any]:
    """Candles folded into one, with exact decimals: open, high, low, close, base, quote."""
    return [Decimal(rows[0][1]), max(Decimal(r[2]) for r in rows),
            min(Decimal(r[3]) for r in rows), Decimal(rows[-1][4]),
            sum(Decimal(r[5]) for r in rows), sum(Decimal(r[6]) for r in rows)]


def dec(row: list[str]) -> list[Any]:
    return [Decimal(x) for x in row[1:7]]


def is_flat(row: list[str], price: str) -> bool:
    return row[1:] == [price] * 4 + ["0", "0"]


async def rest_rows(rest: Any, path: str, **kw: Any) -> list[list[str]]:
    r = await rest.get(V2 + path, q(**kw), signed=False)
    assert r.status == 200 and r.code == "00000", r
    return r.data


# ------------------------------------------------------------------------------ REST
def test_every_interval_on_every_endpoint_and_bad_ones_refused(h):
    @h.run_async(60)
    async def body():
        clock = Clock(T0)
        async with clocked(clock, candle_history_minutes=3 * 1440) as sim:
            trade(sim, n=3)
            settle_mark(sim)
            rest = h.Rest(sim)
            try:
                for name, iv in INTERVALS.items():
                    want = sim.candles("BTCUSDT", name)[-5:]
                    assert want and int(want[-1][0]) == candle_start(T0, iv), name
                    for path, extra in (("candles", {}), ("candles", {"kLineType": "MARKET"}),
                                        ("history-candles", {})):
                        rows = await rest_rows(rest, path, granularity=name, limit=5, **extra)
                        assert rows == want, (name, path)
                    for kind, path in (("mark", "history-mark-candles"),
                                       ("index", "history-index-candles")):
                        want_k = sim.candles("BTCUSDT", name, limit=5, kind=kind)
                        assert await rest_rows(rest, path, granularity=name, limit=5) == want_k
                        assert await rest_rows(rest, "candles", granularity=name, limit=5,
                                               kLineType=kind.upper()) == want_k
                        assert all(r[5:] == ["0", "0"] for r in want_k)
                    for r in want:
                        assert len(r) == 7 and all(isinstance(x, str) for x in r)
                        o, hi, lo, c = (Decimal(x) for x in r[1:5])
                        assert lo <= min(o, c) <= max(o, c) <= hi
                for path in ("candles", "history-candles", "history-mark-candles",
                             "history-index-candles"):
                    for bad in BAD_GRANULARITIES:
                        r = await rest.get(V2 + path, q(granularity=bad), signed=False)
                        assert (r.status, r.code, r.data) == (400, "40017", None), (path, bad, r)
                        assert repr(bad) in r.json["msg"]
                    r = await rest.get(V2 + path, q(), signed=False)     # no granularity
                    assert (r.status, r.code) == (400, "40017"), r
                for bad in ("mark", "LAST", "Market", "1"):
                    r = await rest.get(V2 + "candles", q(granularity="1m", kLineType=bad),
                                       signed=False)
                    assert (r.status, r.code) == (400, "40017"), (bad, r)
                r = await rest.get(V2 + "candles", q(symbol="NOPEUSDT", granularity="1m"),
                                   signed=False)
                assert (r.status, r.code) == (400, "40034"), r
            finally:
                await rest.close()
    body()


def test_limits_span_and_recent_depth(h):
    @h.run_async(60)
    async def body():
        clock = Clock(T0)
        # 35 days of 1-minute history: more than /candles serves for 1m (30 days)
        async with clocked_rest(h, clock, candle_history_minutes=35 * 1440) as (sim, rest):
            assert len(await rest_rows(rest, "candles", granularity="1m")) == 100
            assert len(await rest_rows(rest, "history-candles", granularity="1m")) == 100
            rows = await rest_rows(rest, "candles", granularity="1m", limit=RECENT_LIMIT)
            assert len(rows) == 1000
            for path, most in (("candles", RECENT_LIMIT), ("history-candles", HISTORY_LIMIT),
                               ("history-mark-candles", HISTORY_LIMIT),
                               ("history-index-candles", HISTORY_LIMIT)):
                assert len(await rest_rows(rest, path, granularity="1m", limit=most)) == most
                for bad in (most + 1, 0, -1, "x", "1.5"):
                    r = await rest.get(V2 + path, q(granularity="1m", limit=bad), signed=False)
                    assert (r.status, r.code) == (400, "40017"), (path, bad, r)
                # the 90-day range rule, whatever the granularity
                for gran in ("1m", "1D"):
                    end = T0 - 2 * DAY_MS
                    ok = await rest.get(V2 + path, q(granularity=gran, startTime=end - MAX_SPAN_MS,
                                                     endTime=end), signed=False)
                    assert ok.status == 200, ok
                    r = await rest.get(V2 + path, q(granularity=gran,
                                                    startTime=end - MAX_SPAN_MS - 1,
                                                    endTime=end), signed=False)
                    assert (r.status, r.code) == (400, "40017"), r
                    assert "90 days" in r.json["msg"]
            # /candles serves 1m only from the last 30 days; the history endpoint all of it
            old = candle_start(T0, INTERVALS["1m"]) - 35 * DAY_MS + 10 * MIN
            edge = T0 - 30 * DAY_MS
            recent = await rest_rows(rest, "candles", granularity="1m", startTime=old,
                                     endTime=edge + 5 * MIN, limit=1000)
            assert recent and all(int(r[0]) >= edge for r in recent)
            assert int(recent[-1][0]) == candle_start(edge + 5 * MIN, INTERVALS["1m"])
            assert len(recent) <= 6
            hist = await rest_rows(rest, "history-candles", granularity="1m", startTime=old,
                                   endTime=edge + 5 * MIN, limit=200)
            assert len(hist) == 200 and int(hist[0][0]) < edge
            assert hist[-len(recent):] == recent
            # nothing older than 30 days at all: empty, not an error
            assert await rest_rows(rest, "candles", granularity="1m", startTime=old,
                                   endTime=old + 60 * MIN) == []
            assert len(await rest_rows(rest, "history-candles", granularity="1m",
                                       startTime=old, endTime=old + 59 * MIN)) == 60
            # 15m: 52 days; 1D: no bound (35 days of history: all of them)
            r15 = await rest_rows(rest, "candles", granularity="15m", limit=1000,
                                  startTime=T0 - 40 * DAY_MS, endTime=T0 - 30 * DAY_MS)
            assert int(r15[0][0]) == candle_start(T0 - 35 * DAY_MS, INTERVALS["15m"])
            assert len(r15) == 5 * 96 + 1     # both ends: the first bucket holds 10:02
            days = await rest_rows(rest, "candles", granularity="1Dutc", limit=1000)
            assert int(days[0][0]) == candle_start(T0 - 35 * DAY_MS, INTERVALS["1Dutc"])
            assert len(days) == 36
    body()


def test_newest_limit_rows_align_from_end_time(h):
    @h.run_async()
    async def body():
        clock = Clock(T0)
        async with clocked_rest(h, clock, candle_history_minutes=1440) as (sim, rest):
            full = sim.candles("BTCUSDT", "5m")
            assert len(full) == 1440 // 5 + 1      # the in-progress bucket included
            starts = [int(r[0]) for r in full]
            assert starts == list(range(starts[0], starts[-1] + 1, 5 * MIN))
            end = starts[100] + 2 * MIN            # inside bucket 100: it counts
            rows = await rest_rows(rest, "candles", granularity="5m", startTime=starts[3],
                                   endTime=end, limit=10)
            assert rows == full[91:101]
            rows = await rest_rows(rest, "candles", granularity="5m", startTime=starts[3] + 1,
                                   endTime=end, limit=1000)
            assert rows == full[4:101]             # a bucket starting before startTime: out
            rows = await rest_rows(rest, "history-candles", granularity="5m", endTime=end)
            assert rows == full[1:101]             # the default limit: 100
            assert sim.candles("BTCUSDT", "5m", limit=0) == []
            assert sim.candles("BTCUSDT", "5m", starts[5], starts[4]) == []
            with pytest.raises(ValueError):
                sim.candles("BTCUSDT", "7m")
            with pytest.raises(ValueError):
                sim.candles("BTCUSDT", "5m", kind="last")
    body()


def test_dense_series_with_flat_candles_and_exact_minutes(h):
    @h.run_async()
    async def body():
        clock = Clock(T0)
        async with clocked(clock, candle_history_minutes=60) as sim:
            m0 = candle_start(T0, INTERVALS["1m"])
            hist_close = sim.candles("BTCUSDT", "1m", end_ms=m0 - 1)[-1][4]
            # the in-progress minute before any trade: flat at the previous close
            assert is_flat(sim.candles("BTCUSDT", "1m", limit=1)[0], hist_close)
            first = trade(sim, n=5)
            clock.t = m0 + 4 * MIN + 10_000            # 10:06: after a quiet 10:05
            later = trade_away(sim)
            later += trade(sim)
            clock.t = m0 + 6 * MIN + 1_000              # a quiet in-progress minute again
            rest = h.Rest(sim)
            try:
                rows = await rest_rows(rest, "candles", granularity="1m", startTime=m0 - 2 * MIN,
                                       limit=1000)
            finally:
                await rest.close()
            assert [int(r[0]) for r in rows] == [m0 + i * MIN for i in range(-2, 7)]
            spec = sim.market("BTCUSDT").spec

            def minute_of(trades: list[tuple]) -> list[Any]:
                ps = [spec.price_dec(t[1]) for t in trades]
                return [ps[0], max(ps), min(ps), ps[-1], sum(spec.size_dec(t[2]) for t in trades),
                        sum(spec.price_dec(t[1]) * spec.size_dec(t[2]) for t in trades)]

            assert dec(rows[2]) == minute_of(first)
            close0 = rows[2][4]
            assert all(is_flat(r, close0) for r in rows[3:6])
            assert dec(rows[6]) == minute_of(later)
            assert is_flat(rows[7], rows[6][4])
            assert is_flat(rows[8], rows[6][4])          # in progress, no trade yet
            # a 5m candle is the dense 1m rows folded: flat minutes count
            five = sim.candles("BTCUSDT", "5m", start_ms=m0 - 2 * MIN, limit=10)
            by_start = {int(r[0]): r for r in rows}
            for c in five:
                mins = [by_start[int(c[0]) + i * MIN] for i in range(5)
                        if int(c[0]) + i * MIN in by_start]
                if len(mins) == 5 or int(c[0]) + 5 * MIN > clock.t:
                    assert dec(c) == agg(mins), c
            # the 10:00 bucket ends on two flat minutes; the 10:05 one opens on a flat minute,
            # at the previous close, and its high and low count that close too
            assert five[-2][4] == close0 and five[-1][1] == close0
            assert Decimal(five[-1][2]) >= Decimal(close0) >= Decimal(five[-1][3])
    body()


def test_no_history_starts_flat_at_the_start_price(h):
    @h.run_async()
    async def body():
        clock = Clock(T0)
        async with clocked(clock, candle_history_minutes=0) as sim:
            price = sim.market("BTCUSDT").spec.price_str(sim.market("BTCUSDT").last)
            for name, iv in INTERVALS.items():
                rows = sim.candles("BTCUSDT", name)
                assert len(rows) == 1 and int(rows[0][0]) == candle_start(T0, iv), name
                assert is_flat(rows[0], price), (name, rows)
            clock.t = T0 + 3 * MIN
            assert [int(r[0]) for r in sim.candles("BTCUSDT", "1m")] == \
                [candle_start(T0, INTERVALS["1m"]) + i * MIN for i in range(4)]
    body()


@pytest.mark.parametrize("bad", [-1, MAX_CANDLE_HISTORY_MINUTES + 1, 1.5, True, "60", None])
def test_candle_history_minutes_is_checked(bad):
    with pytest.raises(ValueError):
        Simulator(["BTCUSDT"], candle_history_minutes=bad)


def test_longer_intervals_fold_the_minutes_exactly(h):
    @h.run_async(60)
    async def body():
        clock = Clock(T0)
        async with clocked(clock, candle_history_minutes=10 * 1440) as sim:
            trade(sim, n=5)
            clock.t += 2 * MIN
            trade(sim, n=5)
            minutes = sim.candles("BTCUSDT", "1m")
            assert len(minutes) == 10 * 1440 + 3
            for name, iv in INTERVALS.items():
                if name == "1m":
                    continue
                groups: dict[int, list[list[str]]] = {}
                for r in minutes:
                    groups.setdefault(candle_start(int(r[0]), iv), []).append(r)
                got = sim.candles("BTCUSDT", name)
                assert [int(r[0]) for r in got] == sorted(groups), name
                for r in got:
                    assert dec(r) == agg(groups[int(r[0])]), (name, r)
                    assert next_start(int(r[0]), iv) > int(r[0])
            # where the buckets start: UTC+8 unless "utc", weeks on Monday, calendar months
            hour = 3_600_000
            for r in sim.candles("BTCUSDT", "1D"):
                assert (int(r[0]) + 8 * hour) % DAY_MS == 0
            for r in sim.candles("BTCUSDT", "1Dutc"):
                assert int(r[0]) % DAY_MS == 0
            for name, zone in (("1W", 8), ("1Wutc", 0)):
                for r in sim.candles("BTCUSDT", name):
                    d = dt.datetime.fromtimestamp(int(r[0]) / 1000 + zone * 3600, dt.timezone.utc)
                    assert (d.weekday(), d.hour, d.minute) == (0, 0, 0), (name, d)
            assert [r[0] for r in sim.candles("BTCUSDT", "1Mutc")] == [
                str(int(dt.datetime(2024, mo, 1, tzinfo=dt.timezone.utc).timestamp() * 1000))
                for mo in (2, 3)]
            # the same through REST for a few, from 1m rows paged out of /candles
            rest = h.Rest(sim)
            try:
                for name in ("5m", "1H", "1D", "1W", "1M"):
                    iv = INTERVALS[name]
                    c = (await rest_rows(rest, "candles", granularity=name, limit=2))[0]
                    b, e = int(c[0]), next_start(int(c[0]), iv)
                    got: list[list[str]] = []
                    end = e - 1
                    while True:
                        page = await rest_rows(rest, "candles", granularity="1m", startTime=b,
                                               endTime=end, limit=1000)
                        got = page + got
                        if len(page) < 1000:
                            break
                        end = int(page[0][0]) - 1
                    assert int(got[0][0]) == max(b, int(minutes[0][0]))
                    assert dec(c) == agg(got), name
            finally:
                await rest.close()
    body()


def test_mark_and_index_candles_follow_the_mark_price(h):
    @h.run_async()
    async def body():
        clock = Clock(T0)
        async with clocked_rest(h, clock, candle_history_minutes=30) as (sim, rest):
            market_before = sim.candles("BTCUSDT", "1m", limit=1)
            start = sim.market("BTCUSDT").spec.price_str(sim.market("BTCUSDT").mark)
            sim.set_mark_price("BTCUSDT", "61000.0")
            sim.set_mark_price("BTCUSDT", "59000.0")
            sim.set_mark_price("BTCUSDT", "60500.0")
            for kind in ("MARK", "INDEX"):
                row = (await rest_rows(rest, "candles", granularity="1m", limit=1,
                                       kLineType=kind))[0]
                assert row[1:] == [start, "61000.0", "59000.0", "60500.0", "0", "0"], row
                path = f"history-{kind.lower()}-candles"
                assert (await rest_rows(rest, path, granularity="1m", limit=1))[0] == row
            assert sim.candles("BTCUSDT", "1m", limit=1) == market_before  # no trade
            clock.t += MIN          # next minute: opens at its first sample
            sim.set_mark_price("BTCUSDT", "60600.0")
            sim.set_mark_price("BTCUSDT", "60550.0")
            row = (await rest_rows(rest, "history-mark-candles", granularity="1m",
                                   limit=2))
            assert row[0][1:] == [start, "61000.0", "59000.0", "60500.0", "0", "0"], row
            assert row[1][1:] == ["60600.0", "60600.0", "60550.0", "60550.0", "0", "0"], row
            # the sweep samples the mark every tick: a move made by the background flow
            clock.t += MIN
            m = sim.market("BTCUSDT")
            before = m.mark
            while m.mark == before:
                sim.advance(1)
            want = m.spec.price_str(m.mark)
            for kind in ("mark", "index"):
                for _ in range(100):
                    row = (await rest_rows(rest, f"history-{kind}-candles", granularity="1m",
                                           limit=1))[0]
                    if row[4] == want:
                        break
                    await asyncio.sleep(0.05)
                assert row[0] == str(candle_start(clock.t, INTERVALS["1m"]))
                assert row[4] == want and row[1] in ("60550.0", want), row
            hour = (await rest_rows(rest, "history-mark-candles", granularity="1H",
                                    limit=1))[0]
            assert Decimal(hour[2]) >= Decimal("61000.0")
            assert Decimal(hour[3]) <= Decimal("59000.0")
    body()


# ------------------------------------------------------------------------------ WebSocket
def candle_arg(channel: str, symbol: str = "BTCUSDT") -> dict[str, str]:
    return {"instType": PT, "channel": channel, "instId": symbol}


class Inbox:
    """The JSON messages of one connection; those not asked for yet are kept, in order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.kept: list[Any] = []

    async def take(self, pred: Any, timeout: float = 5.0) -> Any:
        for i, msg in enumerate(self.kept):
            if pred(msg):
                return self.kept.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.ws.recv_json(max(0.01, deadline - loop.time()))
            if pred(msg):
                return msg
            self.kept.append(msg)

    async def push(self, channel: str, timeout: float = 5.0) -> Any:
        return await self.take(lambda m: "action" in m and m["arg"]["channel"] == channel,
                               timeout)

    async def quiet(self, channel: str, seconds: float = 0.35) -> None:
        """No push on ``channel`` for ``seconds`` (several sweep ticks)."""
        try:
            msg = await self.push(channel, seconds)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected push: {msg}")


def test_ws_every_channel_snapshot_and_unknown_ones(h):
    @h.run_async()
    async def body():
        clock = Clock(T0)
        async with clocked(clock, candle_history_minutes=3 * 1440) as sim:
            assert len(CANDLE_CHANNELS) == 18
            ws = await h.Ws.connect(sim.ws_public_url)
            try:
                for bad in ("candle3m", "candle2H", "candle1h", "candle", "candle1mutc"):
                    ws.send({"op": "subscribe", "args": [candle_arg(bad)]})
                    err = await ws.recv_json()
                    assert err["event"] == "error" and err["code"] == 30001, err
                names = list(CANDLE_CHANNELS)
                for i in range(0, len(names), 6):
                    await ws.subscribe(*(candle_arg(ch) for ch in names[i:i + 6]))
                    await asyncio.sleep(0.15)        # 10 messages/s per connection
                seen = {}
                while len(seen) < len(names):
                    msg = await ws.recv_json()
                    if msg.get("event") == "subscribe":
                        continue
                    assert msg["action"] == "snapshot", msg
                    ch = msg["arg"]["channel"]
                    iv = CANDLE_CHANNELS[ch]
                    rows = msg["data"]
                    assert all(len(r) == 8 and r[7] == r[6] for r in rows)
                    want = sim.candles("BTCUSDT", iv.name, limit=CANDLE_SNAPSHOT_ROWS)
                    assert [r[:7] for r in rows] == want, ch
                    assert int(rows[-1][0]) == candle_start(T0, iv)
                    assert isinstance(msg["ts"], int)
                    seen[ch] = len(rows)
                assert seen["candle1m"] == CANDLE_SNAPSHOT_ROWS
                assert seen["candle1Mutc"] == 1            # history reaches back 3 days only
                assert seen["candle1Wutc"] == 2
                assert set(seen) == {iv.ws_channel for iv in INTERVALS.values()} - {None}
            finally:
                await ws.close()
    body()


def test_ws_updates_rolls_and_rest_agree(h):
    @h.run_async(60)
    async def body():
        clock = Clock(T0)            # 10:02:20, in the 10:00 5m bucket
        m0 = candle_start(T0, INTERVALS["1m"])
        async with clocked(clock, candle_history_minutes=120) as sim:
            ws = await h.Ws.connect(sim.ws_public_url)
            inbox = Inbox(ws)
            rest = h.Rest(sim)

            async def rest_row(gran: str, start: int) -> list[str]:
                rows = await rest_rows(rest, "candles", granularity=gran, startTime=start,
                                       endTime=start)
                assert len(rows) == 1
                return rows[0]

            async def push(ch: str) -> list[list[str]]:
                msg = await inbox.push(ch)
                assert msg["action"] == "update" and msg["ts"] == clock.t, msg
                assert all(len(r) == 8 and r[7] == r[6] for r in msg["data"])
                return [r[:7] for r in msg["data"]]

            try:
                await ws.subscribe(candle_arg("candle1m"), candle_arg("candle5m"))
                snaps = {ch: (await inbox.push(ch))["data"] for ch in ("candle1m", "candle5m")}
                assert int(snaps["candle1m"][-1][0]) == m0
                await inbox.quiet("candle1m")          # nothing changes: nothing pushed
                # trades in the current minute: one update (per tick) with the in-progress row
                sim.advance(400)                     # many events at once: within one tick
                rows = await push("candle1m")
                assert len(rows) == 1 and int(rows[0][0]) == m0
                assert rows[0] == await rest_row("1m", m0)
                assert rows[0][5] != "0"
                five = await push("candle5m")
                assert five == [await rest_row("5m", m0 - 2 * MIN)]
                await inbox.quiet("candle1m")
                # the clock crosses into the next minute, no trade: the roll message
                clock.t = m0 + MIN + 5_000
                rows = await push("candle1m")
                assert len(rows) == 2 and int(rows[0][0]) == m0 and int(rows[1][0]) == m0 + MIN
                assert rows[0] == await rest_row("1m", m0)        # final
                assert is_flat(rows[1], rows[0][4])
                assert rows[1] == await rest_row("1m", m0 + MIN)
                await inbox.quiet("candle5m")           # same 5m bucket, nothing new
                # a trade is the first event of the next minute: the roll carries it
                clock.t = m0 + 2 * MIN + 1_000
                trade(sim)
                rows = await push("candle1m")
                assert [int(r[0]) for r in rows] == [m0 + MIN, m0 + 2 * MIN]
                assert is_flat(rows[0], rows[0][1]) and not is_flat(rows[1], rows[0][4])
                assert rows == [await rest_row("1m", m0 + MIN), await rest_row("1m", m0 + 2 * MIN)]
                five = await push("candle5m")
                assert len(five) == 1 and five[0] == await rest_row("5m", m0 - 2 * MIN)
                # the 5m bucket rolls at 10:05 (with a trade), 1m too
                clock.t = m0 + 3 * MIN + 30_000
                trade(sim)
                five = await push("candle5m")
                assert [int(r[0]) for r in five] == [m0 - 2 * MIN, m0 + 3 * MIN]
                assert five == [await rest_row("5m", m0 - 2 * MIN),
                                await rest_row("5m", m0 + 3 * MIN)]
                rows = await push("candle1m")
                assert [int(r[0]) for r in rows] == [m0 + 2 * MIN, m0 + 3 * MIN]
                # a jump over several buckets: every bucket since the last push, final
                clock.t = m0 + 6 * MIN + 1_000
                rows = await push("candle1m")
                assert [int(r[0]) for r in rows] == [m0 + i * MIN for i in range(3, 7)]
                assert rows == await rest_rows(rest, "candles", granularity="1m",
                                               startTime=m0 + 3 * MIN, endTime=clock.t)
                # unsubscribe: candle5m goes on, candle1m stops
                ws.send({"op": "unsubscribe", "args": [candle_arg("candle1m")]})
                ack = await inbox.take(lambda m: m.get("event") == "unsubscribe")
                assert ack["arg"] == candle_arg("candle1m")
                trade(sim)
                await push("candle5m")
                await inbox.quiet("candle1m")
                # subscribing again: a fresh snapshot, then updates from there
                await ws.subscribe(candle_arg("candle1m"))
                snap = await inbox.push("candle1m")
                assert snap["action"] == "snapshot"
                assert snap["data"][-1][:7] == await rest_row("1m", m0 + 6 * MIN)
                await inbox.quiet("candle1m")
            finally:
                await ws.close()
                await rest.close()
    body()


def test_ws_candle_channels_under_faults(h):
    @h.run_async()
    async def body():
        clock = Clock(T0)
        async with clocked(clock, candle_history_minutes=60) as sim:
            ws = await h.Ws.connect(sim.ws_public_url)
            try:
                await ws.subscribe(candle_arg("candle1m"))
                await ws.wait_for(lambda m: m.get("action") == "snapshot")
                # a stall holds the update, then delivers it
                assert sim.stall("public", 0.4) == 1
                trade(sim)
                inbox = Inbox(ws)
                await inbox.quiet("candle1m", 0.25)
                msg = await inbox.push("candle1m")
                assert msg["data"][0][:7] == sim.candles("BTCUSDT", "1m", limit=1)[0]
                # a malformed frame goes out on the same connection
                assert sim.send_malformed("public") == 1
                raw = await ws.recv()
                assert raw.startswith(b'{"action":"update"') and not raw.endswith(b"}")
                # a dropped connection: a new one gets a snapshot equal to REST
                assert sim.drop_connections("public") == 1
                await asyncio.wait_for(ws.closed.wait(), 5)
                ws = await h.Ws.connect(sim.ws_public_url)
                await ws.subscribe(candle_arg("candle1m"))
                snap = await Inbox(ws).push("candle1m")
                assert [r[:7] for r in snap["data"]] == sim.candles("BTCUSDT", "1m", limit=100)
            finally:
                await ws.close()
    body()


# ------------------------------------------------------------------------------ broker header
def place(cid: str, price: str = "50000.0", **kw: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "productType": PT, "marginMode": "crossed", "marginCoin": "USDT",
            "size": "0.0100", "price": price, "side": "buy", "orderType": "limit",
            "force": "gtc", "clientOid": cid, **kw}


def test_channel_api_code_recorded_per_order(h, creds):
    """Requests are signed by the test helper (``conftest.Rest``: the package's
    ``Credentials.rest_headers``) with ``X-CHANNEL-API-CODE`` added as one more header line,
    since the client's own option for it is not on this branch."""
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=2, flow_rate=0) as sim:
            sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE, usdt=100_000)
            rest = h.Rest(sim, creds)
            code = {"X-CHANNEL-API-CODE": "brk-7"}
            o = "/api/v2/mix/order/"
            try:
                r = await rest.post(o + "place-order", place("c1"), headers=code)
                assert r.code == "00000", r
                with_code = r.data["orderId"]
                r = await rest.post(o + "place-order", place("c2"))
                assert r.code == "00000", r
                without = r.data["orderId"]
                assert sim.channel_api_code(with_code) == "brk-7"
                assert sim.channel_api_code(without) is None
                # batch: each order of it
                r = await rest.post(o + "batch-place-order", {
                    "symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT",
                    "marginMode": "crossed",
                    "orderList": [{k: v for k, v in place(f"b{i}").items()
                                   if k not in ("symbol", "productType", "marginCoin",
                                                "marginMode")} for i in range(3)]},
                    headers={"x-channel-api-code": "brk-b"})
                ids = [x["orderId"] for x in r.data["successList"]]
                assert len(ids) == 3 and all(sim.channel_api_code(i) == "brk-b" for i in ids)
                # modify: the new order carries the code of the modify request
                r = await rest.post(o + "modify-order", {
                    "symbol": "BTCUSDT", "productType": PT, "orderId": without,
                    "newClientOid": "c2-new", "newPrice": "50001.0", "newSize": "0.0100"},
                    headers={"X-CHANNEL-API-CODE": "brk-m"})
                assert r.code == "00000", r
                new = sim.engine.accounts[h.KEY].by_client_oid["c2-new"].order_id
                assert sim.channel_api_code(new) == "brk-m"
                assert sim.channel_api_code(without) is None     # the old one keeps its own
                # close-positions: its market orders
                r = await rest.post(o + "place-order",
                                    {**place("open1"), "orderType": "market", "price": ""})
                assert r.code == "00000", r
                assert sim.channel_api_code(r.data["orderId"]) is None
                r = await rest.post(o + "close-positions", {"productType": PT,
                                                            "symbol": "BTCUSDT"}, headers=code)
                closed = [x["orderId"] for x in r.data["successList"]]
                assert closed and all(sim.channel_api_code(i) == "brk-7" for i in closed)
                # a rejected order records nothing; an unknown id is a KeyError
                n = len(sim.rest.channel_codes)
                r = await rest.post(o + "place-order", place("c1"), headers=code)  # duplicate
                assert r.code == "45034" and len(sim.rest.channel_codes) == n
                with pytest.raises(KeyError):
                    sim.channel_api_code("1")
            finally:
                await rest.close()
    body()


def test_channel_codes_stay_bounded(monkeypatch):
    """The codes of orders the engine has forgotten are dropped as the table grows."""
    monkeypatch.setattr(sim_api, "_CODES_PRUNE_AT", 8)
    sim = Simulator(["BTCUSDT"], flow_rate=0)
    api = sim.rest
    acc = sim.add_account("k", "s", "p")
    for i in range(30):
        api._channel_code = f"c{i}"
        api._remember_code(str(i))
        if i % 2:   # odd ids stand for orders the engine still holds
            acc.orders[str(i)] = None   # type: ignore[assignment]
    assert len(api.channel_codes) < 30
    assert all(int(k) % 2 or int(k) >= 24 for k in api.channel_codes)
    assert sim.channel_api_code("29") == "c29"
