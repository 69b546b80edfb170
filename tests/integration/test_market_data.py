"""MarketData against the simulator over loopback: books equal the exchange's, every fault recovers.

Real picows connections to the simulator's WebSocket server; faults come from the
simulator (corrupt checksum, skipped seq, malformed frame, dropped connection, stall),
never from mocks of our own classes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bitget_fast import ExchangeError, OrderBook, TransportError
from bitget_fast.market import MarketData
from bitget_fast.models import StreamEvent, Ticker, Trade
from bitget_fast.sim import Simulator
from bitget_fast.wire import BookHandler

from .conftest import run_async

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def sim_levels(sim: Simulator, symbol: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The simulator's whole pushed book of ``symbol`` as (price, size) strings, best first."""
    f = sim.hub.feeds[symbol]
    b, a = f.top(len(f.bs) + len(f.as_))
    return [tuple(x) for x in b], [tuple(x) for x in a]


async def caught_up(sim: Simulator, md: MarketData, timeout: float = 5.0) -> None:
    """Wait until every book is valid at the engine's current seq."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        lag = {s: (b.seq, sim.engine.markets[s].seq, b.is_valid) for s, b in md.books.items()
               if not b.is_valid or b.seq != sim.engine.markets[s].seq}
        if not lag:
            return
        assert loop.time() < deadline, f"books not caught up: {lag}; events {list(md.events)[-5:]}"
        await asyncio.sleep(0.01)


def assert_equal_to_sim(sim: Simulator, md: MarketData) -> None:
    for s, book in md.books.items():
        bids, asks = sim_levels(sim, s)
        assert book.is_valid
        assert (book.bids(), book.asks()) == (bids, asks), s
        assert book.checksum() == sim.hub.feeds[s].checksum()


def kinds(md: MarketData) -> list[str]:
    return [e.kind for e in md.events]


@run_async(60)
async def test_long_stream_ends_equal_to_the_simulator() -> None:
    async with Simulator(SYMBOLS, seed=5, flow_rate=0) as sim:
        calls: dict[str, int] = {s: 0 for s in SYMBOLS}

        def on_book(book: OrderBook) -> None:
            assert book.is_valid
            calls[book.symbol] += 1

        async with MarketData(SYMBOLS, url=sim.ws_public_url, on_book=on_book) as md:
            assert md.strict_seq  # loopback: the simulator sends contiguous seq
            await md.wait_ready(5)
            for _ in range(40):
                sim.advance(100)
                await asyncio.sleep(0.005)
            await caught_up(sim, md)
            assert_equal_to_sim(sim, md)
            stats = md.stats()
            assert stats["book_messages"] == sum(calls.values()) > 3000
            assert stats["integrity_errors"] == stats["resyncs"] == stats["rejected"] == 0
            for book in md.books.values():
                assert book.checksums_verified == book.updates_applied + 1  # + the snapshot
                assert book.seq_jumps == 0 and book.dropped_updates == 0


@pytest.mark.parametrize("fault", ["checksum", "seq-top", "seq-deep", "malformed", "drop"])
def test_each_fault_leads_to_a_resync_and_a_correct_book(fault: str) -> None:
    @run_async(60)
    async def body() -> None:
        async with Simulator(SYMBOLS, seed=7, flow_rate=0) as sim:
            events: list[StreamEvent] = []
            async with MarketData(SYMBOLS, url=sim.ws_public_url, on_event=events.append,
                                  reconnect_min_s=0.05) as md:
                await md.wait_ready(5)
                sim.advance(50)
                await caught_up(sim, md)
                if fault == "checksum":
                    sim.corrupt_checksum("ETHUSDT")
                elif fault == "seq-top":
                    sim.skip_seq("ETHUSDT")
                elif fault == "seq-deep":
                    sim.skip_seq("ETHUSDT", deep=True)
                elif fault == "malformed":
                    sim.send_malformed()
                else:
                    sim.drop_connections()
                for _ in range(30):
                    sim.advance(20)
                    await asyncio.sleep(0.01)
                await caught_up(sim, md)
                assert_equal_to_sim(sim, md)
                seen = [e.kind for e in events]
                if fault == "drop":
                    assert "disconnected" in seen and md.stats()["connects"] == 2
                else:
                    assert ("integrity" if fault != "malformed" else "rejected") in seen, seen
                    assert "resync" in seen, seen
                if fault in ("checksum", "seq-top", "seq-deep"):
                    integrity = next(e for e in events if e.kind == "integrity")
                    assert integrity.symbol == "ETHUSDT" and integrity.channel == "books"
                    name = "ChecksumMismatch" if fault == "checksum" else "SequenceGap"
                    assert integrity.detail.startswith(name), integrity.detail
                    resync = next(e for e in events if e.kind == "resync")
                    assert resync.symbol == "ETHUSDT"  # only the broken book
                if fault == "malformed":
                    resync = next(e for e in events if e.kind == "resync")
                    assert resync.symbol == ",".join(sorted(SYMBOLS))  # any book may be hit
                # the simulator never had to refuse anything
                assert "error" not in seen, [e for e in events if e.kind == "error"]

    body()


@run_async(30)
async def test_an_unknown_symbol_fails_the_start_clearly() -> None:
    async with Simulator(["BTCUSDT"], seed=1, flow_rate=0) as sim:
        md = MarketData(["BTCUSDT", "NOPEUSDT"], url=sim.ws_public_url)
        with pytest.raises(ExchangeError) as err:
            await md.start()
        assert err.value.code == "30001" and "NOPEUSDT" in str(err.value)


@run_async(30)
async def test_nothing_listening_is_a_transport_error() -> None:
    md = MarketData(["BTCUSDT"], url="ws://127.0.0.1:9/v2/ws/public", subscribe_timeout_s=0.5,
                    reconnect_min_s=0.05)
    with pytest.raises(TransportError) as err:
        async with md:
            pass
    assert "not acknowledged" in str(err.value) and "last connect error" in str(err.value)


@run_async(60)
async def test_many_symbols_spread_over_connections_within_bitget_limits() -> None:
    symbols = [f"C{i:02d}USDT" for i in range(24)] + ["BTCUSDT"]
    async with Simulator(symbols, seed=2, flow_rate=0) as sim:
        async with MarketData(symbols, url=sim.ws_public_url, trades=True, tickers=True,
                              channels_per_connection=10) as md:
            assert md.connections == 8   # 75 channels, 10 per connection
            await md.wait_ready(10)
            # a resync storm: every book of the first connection fails at once
            first = [a["instId"] for a in md._conns[0].args if a["channel"] == "books"]
            for s in first:
                sim.corrupt_checksum(s)
            for _ in range(20):
                sim.advance(5)
                await asyncio.sleep(0.02)
            await caught_up(sim, md, 10)
            assert_equal_to_sim(sim, md)
            resyncs = [e for e in md.events if e.kind == "resync"]
            assert sorted(",".join(e.symbol for e in resyncs).split(",")) == sorted(first)
            # batched: far fewer request pairs than books
            assert len(resyncs) < len(first)
            assert not [e for e in md.events if e.kind == "error"]  # 30006 never sent


@run_async(60)
async def test_spent_subscribe_ration_defers_the_resync() -> None:
    async with Simulator(["BTCUSDT"], seed=4, flow_rate=0) as sim:
        async with MarketData(["BTCUSDT"], url=sim.ws_public_url, subscribe_ration=3) as md:
            await md.wait_ready(5)
            sim.corrupt_checksum("BTCUSDT")      # 1 subscribe + 2 for this resync = 3
            sim.advance(30)
            await caught_up(sim, md)
            sim.corrupt_checksum("BTCUSDT")
            sim.advance(30)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while "resync_deferred" not in kinds(md):
                assert loop.time() < deadline, kinds(md)
                await asyncio.sleep(0.01)
            book = md.book("BTCUSDT")
            assert not book.is_valid and md.counters["resyncs"] == 1
            deferred = next(e for e in md.events if e.kind == "resync_deferred")
            assert "ration" in deferred.detail and "resync in" in deferred.detail
            # a reconnect starts a fresh connection, with a fresh ration
            sim.drop_connections()
            await caught_up(sim, md)
            assert_equal_to_sim(sim, md)


@run_async(60)
async def test_heartbeat_and_a_silent_server_lead_to_a_reconnect() -> None:
    async with Simulator(["BTCUSDT"], seed=4, flow_rate=0) as sim:
        async with MarketData(["BTCUSDT"], url=sim.ws_public_url, ping_interval_s=0.25,
                              pong_timeout_s=0.25, reconnect_min_s=0.05) as md:
            await md.wait_ready(5)
            await asyncio.sleep(1.2)   # a ping every 0.25 s + 0.25 s for its pong
            assert md.stats()["pongs"] >= 2
            sim.stall("public", 2.0)          # nothing comes back, not even "pong"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while md.stats()["connects"] < 2:
                assert loop.time() < deadline, kinds(md)
                await asyncio.sleep(0.02)
            sim.advance(20)
            await caught_up(sim, md)
            assert_equal_to_sim(sim, md)


@run_async(30)
async def test_a_callback_exception_stops_the_stream_and_is_reraised() -> None:
    async with Simulator(["BTCUSDT"], seed=4, flow_rate=0) as sim:
        def on_book(book: OrderBook) -> None:
            if book.updates_applied == 3:
                raise RuntimeError("strategy bug")

        with pytest.raises(RuntimeError, match="strategy bug"):
            async with MarketData(["BTCUSDT"], url=sim.ws_public_url, on_book=on_book) as md:
                await md.wait_ready(5)
                sim.advance(50)
                await asyncio.wait_for(md.wait(), 5)


class Counter(BookHandler):
    """A BookHandler subclass (in Python here; in Cython it runs at C speed)."""

    def __init__(self) -> None:
        self.tops: list[Any] = []

    def on_book(self, book: OrderBook) -> None:
        self.tops.append(book.best_bid)


@run_async(30)
async def test_book_handler_trades_and_tickers() -> None:
    async with Simulator(["BTCUSDT", "ETHUSDT"], seed=9, flow_rate=0) as sim:
        handler = Counter()
        async with MarketData(["BTCUSDT", "ETHUSDT"], url=sim.ws_public_url, trades=True,
                              tickers=True, on_book=handler, reconnect_min_s=0.05) as md:
            trades, tickers = md.trades(), md.tickers()
            await md.wait_ready(5)
            sim.advance(200)
            got: list[Trade] = []
            while len(got) < 20:
                got.append(await asyncio.wait_for(trades.__anext__(), 5))
            ticker = await asyncio.wait_for(tickers.__anext__(), 5)
            assert isinstance(ticker, Ticker) and ticker.symbol in ("BTCUSDT", "ETHUSDT")
            assert ticker.mark_price > 0 and ticker.next_funding_time_ms > 0
            # a reconnect re-sends the recent trades: none is delivered twice
            sim.drop_connections()
            await caught_up(sim, md)
            sim.advance(100)
            await asyncio.sleep(0.3)
            while True:
                try:
                    got.append(await asyncio.wait_for(trades.__anext__(), 0.3))
                except asyncio.TimeoutError:
                    break
            ids = [t.trade_id for t in got]
            assert len(ids) == len(set(ids))
            assert md.counters["trades_duplicate"] > 0
            assert handler.tops and all(t is not None for t in handler.tops)
        # closing ends the iterators
        with pytest.raises(StopAsyncIteration):
            await trades.__anext__()
