"""Tick to order, in process: a books message -> the user's book callback -> an order ->
its signed request handed to the socket. Wall time per tick, one order per tick.

Group:
  tick-to-order: books message to signed request written (per tick)
      bitget_fast   ``OrderBook.apply(frame)`` (parse, apply, checksum) -> the callback reads
                    ``best_bid`` -> ``BitgetPerpetual.submit_order(symbol, "buy", size, price,
                    order_type="post_only")`` (rules checked, the order tracked, the body
                    serialized, signed by the compiled Signer into one buffer, one
                    ``transport.write`` on a keep-alive connection)
      plain Python  ``baseline_book.BaselineBook.apply(frame)`` (orjson + SortedDict + zlib
                    checksum) -> the callback reads the best bid -> Decimal tick / step /
                    notional checks -> params dict -> ``orjson.dumps`` -> ``hmac`` +
                    ``base64`` signature -> header bytes -> one ``transport.write`` on a raw
                    asyncio connection to the same exchange

Each round is ONE tick (pytest-benchmark ``pedantic``, ``rounds`` = ticks): the timed call
applies the next frame of a ``gen_books`` stream and places one order from the callback.
Between ticks, outside the timing, the event loop runs once so replies are read and the
tracker updated (what a real loop does between frames). The exchange is the simulator in
its own process (``order_clients.SimProcess``, no rate limits); orders are post-only buys at
the generated book's best bid (~27,000, far below the simulator's ~60,000 BTCUSDT market:
they rest and never fill) and are all canceled after the run, outside the timing.

What this leaves out: picows' framing of the WebSocket frame before ``on_ws_frame`` (part of
the 1.04 us frame -> book figure of ``bench_wire.py``: on the order of 0.3 us) and the
kernel's receive. Target (the trading issue): <= 15 us median.

``BENCH_TICKS`` (3000) ticks when timed; 50 untimed with benchmarks disabled.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
import time
from decimal import Decimal
from hashlib import sha256
from typing import Any

import orjson
import pytest

import order_clients  # beside this file (benchmarks/conftest.py puts it on sys.path)
from benchutil import benchmarks_disabled

GROUP = "tick-to-order: books message to signed request written (per tick)"
N_TICKS = int(os.environ.get("BENCH_TICKS", "3000"))
N_TICKS_DISABLED = 50
SIZE = "0.001"
PLACE_PATH = "/api/v2/mix/order/place-order"


@pytest.fixture(scope="module")
def exchange():
    proc = order_clients.SimProcess()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def frames(request):
    import gen_books
    n = N_TICKS_DISABLED if benchmarks_disabled(request.config) else N_TICKS
    return gen_books.generate(n + 1, seed=7, symbol="BTCUSDT")   # snapshot + n updates


def _cancel_all(exchange: Any) -> None:
    from bitget_fast import RestClient

    async def go() -> None:
        async with RestClient(exchange.rest_url, exchange.credentials,
                              enforce_rate_limits=False) as rc:
            await rc.request("POST", "/api/v2/mix/order/cancel-all-orders",
                             body={"productType": "USDT-FUTURES", "marginCoin": "USDT"})
    asyncio.run(go())


def _run_ticks(bench_pedantic: Any, loop: Any, frames: list[bytes], apply: Any, callback: Any,
               impl: str) -> None:
    """One timed tick per frame after the snapshot: apply it, run the callback (which places
    the order); the loop runs once between ticks, untimed. With benchmarks disabled
    pytest-benchmark calls the tick once: the remaining ticks then run untimed."""
    it = iter(frames[1:])
    ticks = [0]

    def tick() -> None:
        apply(next(it))
        callback()
        ticks[0] += 1

    def between() -> None:
        loop.run_until_complete(asyncio.sleep(0))

    bench_pedantic(tick, setup=between, rounds=len(frames) - 1, group=GROUP, impl=impl,
                   warmup_rounds=0)
    for _ in range(len(frames) - 1 - ticks[0]):
        between()
        tick()


def test_tick_to_order_bitget_fast(bench_pedantic, exchange, frames):
    from bitget_fast import BitgetPerpetual, OrderBook

    loop = order_clients.loop_factory()[1]()
    asyncio.set_event_loop(loop)
    bp = BitgetPerpetual(exchange.credentials, rest_url=exchange.rest_url,
                         ws_public_url=exchange.ws_public_url,
                         ws_private_url=exchange.ws_private_url, symbols=["BTCUSDT"],
                         enforce_rate_limits=False, rest_connections=4)
    loop.run_until_complete(bp.start())
    book = OrderBook("BTCUSDT", price_place=1, volume_place=3)
    book.apply(frames[0])
    orders: list[Any] = []

    def on_book(b: OrderBook) -> None:
        price = b.best_bid[0]
        orders.append(bp.submit_order("BTCUSDT", "buy", SIZE, price, order_type="post_only"))

    try:
        _run_ticks(bench_pedantic, loop, frames, book.apply, lambda: on_book(book),
                   "bitget_fast")
        # every order was written and answered: none lost, none refused
        async def all_live() -> None:
            await asyncio.wait_for(asyncio.gather(*(o.wait_status("live") for o in orders)), 30)
        loop.run_until_complete(all_live())
        assert len(orders) == len(frames) - 1
        assert all(o.status == "live" and o.order_id for o in orders), orders[:3]
    finally:
        loop.run_until_complete(bp.close())
        asyncio.set_event_loop(None)
        loop.close()
        _cancel_all(exchange)


class _Sink(asyncio.Protocol):
    """The baseline's connection: counts the replies (a 200 with code 00000 each)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data


def test_tick_to_order_plain_python(bench_pedantic, exchange, frames):
    from baseline_book import BaselineBook

    loop = order_clients.loop_factory()[1]()
    _, sink = loop.run_until_complete(loop.create_connection(_Sink, exchange.host, exchange.port))
    asyncio.set_event_loop(loop)
    key = exchange.credentials.api_key.encode()
    secret = order_clients.SECRET.encode()
    passphrase = order_clients.PASSPHRASE.encode()
    host = f"{exchange.host}:{exchange.port}".encode()
    tick_size, step, min_usdt = Decimal("0.1"), Decimal("0.0001"), Decimal("5")
    book = BaselineBook("BTCUSDT")
    book.apply(frames[0])
    counter = [0]

    def on_book(b: BaselineBook) -> None:
        price = Decimal(b.bids(1)[0][0])
        size = Decimal(SIZE)
        if price % tick_size or size % step or price * size < min_usdt:
            raise ValueError("off the rules")
        counter[0] += 1
        body = orjson.dumps({
            "symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed",
            "marginCoin": "USDT", "size": SIZE, "price": str(price), "side": "buy",
            "orderType": "limit", "force": "post_only", "clientOid": f"pp{os.getpid()}n{counter[0]}"})
        ts = str(time.time_ns() // 1_000_000).encode()
        sign = base64.b64encode(hmac.new(secret, ts + b"POST" + PLACE_PATH.encode() + body,
                                         sha256).digest())
        head = (b"POST %s HTTP/1.1\r\nHost: %s\r\nACCESS-KEY: %s\r\nACCESS-SIGN: %s\r\n"
                b"ACCESS-TIMESTAMP: %s\r\nACCESS-PASSPHRASE: %s\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
                    PLACE_PATH.encode(), host, key, sign, ts, passphrase, len(body)))
        sink.transport.write(head + body)

    try:
        _run_ticks(bench_pedantic, loop, frames, book.apply, lambda: on_book(book),
                   "plain Python")
        deadline = time.monotonic() + 30
        while sink.data.count(b'"code":"00000"') < counter[0] and time.monotonic() < deadline:
            loop.run_until_complete(asyncio.sleep(0.01))
        assert sink.data.count(b'"code":"00000"') == counter[0] == len(frames) - 1
    finally:
        sink.transport.close()
        loop.run_until_complete(asyncio.sleep(0))
        asyncio.set_event_loop(None)
        loop.close()
        _cancel_all(exchange)
