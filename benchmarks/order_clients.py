"""The order round-trip benchmark's parts: the simulator process, the orders, the clients,
and :func:`measure`. ``bench_order.py`` holds the pytest cases; its docstring says what is
measured and why. Plain module beside the benchmarks (on sys.path through conftest.py).

A client is any object built as ``factory(sim, orders)`` (a :class:`SimProcess` and the
round's :class:`Orders`) with::

    async def connect(self) -> None        # before the window: connect, load what it needs
    async def place(self, i: int) -> None  # place order i, return once its reply is parsed
    async def cancel(self, i: int) -> None # cancel order i (by its clientOid), same
    async def close(self) -> None          # after the window; may check what it deferred
    def prepare(self, start: int, stop: int) -> None   # optional, outside the window:
                                           # called before orders [start, stop) are timed

``place``/``cancel`` raise when the exchange did not accept the request (or defer that
check to ``close``, as the floor does). Only one request is ever in flight.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

import msgspec
import orjson

from bitget_fast.auth import Credentials, encode_query

SYMBOL = "BTCUSDT"
CCXT_SYMBOL = "BTC/USDT:USDT"
PRODUCT_TYPE = "USDT-FUTURES"
MARGIN_COIN = "USDT"
PLACE_PATH = "/api/v2/mix/order/place-order"
CANCEL_PATH = "/api/v2/mix/order/cancel-order"
# The simulator's demo account for this benchmark (a local simulator only, never a real key).
API_KEY, SECRET, PASSPHRASE = "bench_order_key", "bench-order-secret-0123456789", "BenchOrder1"
# BTCUSDT in the simulator (sim/contracts.py): tick 0.1, lot and minimum 0.0001, >= 5 USDT.
# 0.001 BTC at half the best bid (~30,000) is ~30 USDT: valid, rests, never fills.
ORDER_SIZE = "0.001"
PRICE_FRACTION = Decimal("0.5")
TICK = Decimal("0.1")

WARMUP_ORDERS = 5          # per round, before the window (first-call costs, connection warm)
CHUNK_ORDERS = 500         # window segments: prepare() runs between them (pre-signed requests
                           # must reach the simulator within its 30 s timestamp window)
PLACE_SAMPLE_EVERY = 16    # every 16th place is timed alone, for the place / cancel split


def pinned_cpu() -> int | None:
    """The CPU the simulator and the measured client share (``BENCH_ORDER_CPU``: a CPU
    number, or ``off``; default: the last CPU this process may run on), None when not pinned.

    With one request in flight the two strictly alternate. On one CPU each hand-over is a
    context switch; on two, the scheduler places them as it likes, and on a VM a wake-up
    across CPUs (an IPI, the idle CPU's exit from halt) costs 20-25 us more, so rounds land
    at ~28 or ~50 us per request depending on placement (NOTES.md)."""
    want = os.environ.get("BENCH_ORDER_CPU", "")
    if want == "off" or not hasattr(os, "sched_setaffinity"):
        return None
    if want:
        return int(want)
    return max(os.sched_getaffinity(0))


def _pin_process(pid: int, cpu: int) -> None:
    """Every thread of process ``pid`` onto ``cpu`` (threads made later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except ProcessLookupError:
            pass   # a thread that has just ended


class OrderClient(Protocol):
    async def connect(self) -> None: ...
    async def place(self, i: int) -> None: ...
    async def cancel(self, i: int) -> None: ...
    async def close(self) -> None: ...


# -- the simulator, in its own process ----------------------------------------------------

class SimProcess:
    """``python -m bitget_fast sim`` on a free port with no rate limits and no background
    flow (a still book), in its own process with its cwd outside the checkout."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        cmd = [sys.executable, "-m", "bitget_fast", "sim", "--port", "0", "--symbols", SYMBOL,
               "--flow-rate", "0", "--no-rate-limits", "--seed", "1", "--api-key", API_KEY,
               "--secret", SECRET, "--passphrase", PASSPHRASE]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                     cwd=tempfile.gettempdir(),
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            self.rest_url = self._read_url(timeout_s)
            m = re.fullmatch(r"http://([^:/]+):(\d+)", self.rest_url)
            assert m, self.rest_url
            self.host, self.port = m.group(1), int(m.group(2))
            self._wait_serving(timeout_s)
            self.cpu = pinned_cpu()
            if self.cpu is not None:
                _pin_process(self.proc.pid, self.cpu)
        except BaseException:
            self.stop()
            raise
        self.credentials = Credentials(API_KEY, SECRET, PASSPHRASE)
        self.price = self._order_price()

    def _read_url(self, timeout_s: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(r"REST\s+(http://\S+)", line)
            if m:
                rest = m.group(1).rstrip("/")
            m = re.search(r"WS public\s+(ws://\S+)", line)
            if m:
                self.ws_public_url = m.group(1)
            m = re.search(r"WS private\s+(ws://\S+)", line)
            if m:
                self.ws_private_url = m.group(1)
                return rest
        raise RuntimeError(f"the simulator did not start; it printed {''.join(seen)!r}")

    def _wait_serving(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.get("/api/v2/public/time")
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def get(self, path: str, params: dict[str, Any] | None = None, *,
            signed: bool = False) -> Any:
        """A GET answered with code 00000; returns ``data`` (for setup and checks, never timed)."""
        query = encode_query(params)
        headers = self.credentials.rest_headers("GET", path, query or None) if signed else {}
        url = self.rest_url + path + (f"?{query}" if query else "")
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as resp:
            reply = json.loads(resp.read())
        assert reply["code"] == "00000", reply
        return reply["data"]

    def _order_price(self) -> str:
        row = self.get("/api/v2/mix/market/ticker",
                       {"symbol": SYMBOL, "productType": PRODUCT_TYPE})[0]
        bid = Decimal(row["bidPr"])
        return str((bid * PRICE_FRACTION).quantize(TICK, rounding=ROUND_DOWN))

    def check_round(self, orders: Orders) -> None:
        """After a round: nothing left open, and the last order ended canceled."""
        pending = self.get("/api/v2/mix/order/orders-pending",
                           {"productType": PRODUCT_TYPE, "symbol": SYMBOL}, signed=True)
        assert not pending.get("entrustedList"), f"orders left open: {pending}"
        last = self.get("/api/v2/mix/order/detail",
                        {"symbol": SYMBOL, "productType": PRODUCT_TYPE,
                         "clientOid": orders.client_oid(orders.total - 1)}, signed=True)
        assert last["state"] == "canceled" and Decimal(last["baseVolume"]) == 0, last

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        elif self.proc.stdout is not None:
            self.proc.stdout.close()


# -- the orders of one round ------------------------------------------------------------

class Orders:
    """``total`` post-only limit buys of ``ORDER_SIZE`` BTCUSDT at ``price`` (far below the
    book: they rest, never fill), each canceled by its clientOid. ClientOids are unique in
    this process (the simulator remembers every one)."""

    _rounds = itertools.count()

    def __init__(self, total: int, price: str) -> None:
        self.total, self.price, self.size = total, price, ORDER_SIZE
        self.symbol = SYMBOL
        prefix = f"bo{os.getpid() % 100_000:05d}r{next(Orders._rounds):05d}n"
        # The clientOids are the user's input, made before the window for every row (the
        # floor's requests are built before it too): no row pays for formatting them.
        self._oids = [f"{prefix}{i:07d}" for i in range(total)]

    def client_oid(self, i: int) -> str:
        return self._oids[i]

    def place_params(self, i: int) -> dict[str, str]:
        return {"symbol": SYMBOL, "productType": PRODUCT_TYPE, "marginMode": "crossed",
                "marginCoin": MARGIN_COIN, "size": self.size, "price": self.price,
                "side": "buy", "orderType": "limit", "force": "post_only",
                "clientOid": self.client_oid(i)}

    def cancel_params(self, i: int) -> dict[str, str]:
        return {"symbol": SYMBOL, "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN,
                "clientOid": self.client_oid(i)}


# -- the clients --------------------------------------------------------------------------

class _FloorProtocol(asyncio.Protocol):
    """A raw keep-alive connection; httptools parses each reply, the body is kept whole
    (not decoded) for the check after the window."""

    def __init__(self) -> None:
        import httptools  # noqa: PLC0415

        self.parser = httptools.HttpResponseParser(self)
        self.chunks: list[bytes] = []
        self.replies: list[tuple[int, bytes]] = []
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.Transport) -> None:   # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"the simulator closed: {exc}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        chunks = self.chunks
        self.replies.append((self.parser.get_status_code(),
                             chunks[0] if len(chunks) == 1 else b"".join(chunks)))
        self.chunks = []
        self.waiter.set_result(None)   # type: ignore[union-attr]


class FloorClient:
    """The floor (DECISIONS.md section 1): every request built and signed in advance
    (``prepare``, outside the window) as complete HTTP/1.1 bytes, written with one
    ``transport.write``; the reply parsed by httptools, no JSON. Status and body
    (``"code":"00000"`` and the order's clientOid) are checked in ``close``."""

    def __init__(self, sim: SimProcess, orders: Orders) -> None:
        self._sim, self._orders = sim, orders
        self._host = f"{sim.host}:{sim.port}".encode()
        self._place: list[bytes] = [b""] * orders.total
        self._cancel: list[bytes] = [b""] * orders.total

    def _request(self, path: str, params: dict[str, str]) -> bytes:
        body = orjson.dumps(params)
        headers = self._sim.credentials.rest_headers("POST", path, None, body)
        head = [b"POST %s HTTP/1.1\r\nHost: %s\r\n" % (path.encode(), self._host)]
        head += [b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in headers.items()]
        head.append(b"Content-Length: %d\r\n\r\n" % len(body))
        return b"".join(head) + body

    def prepare(self, start: int, stop: int) -> None:
        o = self._orders
        for i in range(start, stop):
            self._place[i] = self._request(PLACE_PATH, o.place_params(i))
            self._cancel[i] = self._request(CANCEL_PATH, o.cancel_params(i))

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        _, self._proto = await loop.create_connection(_FloorProtocol, self._sim.host,
                                                      self._sim.port)
        self._transport = self._proto.transport

    async def place(self, i: int) -> None:
        fut = self._proto.waiter = self._loop.create_future()
        self._transport.write(self._place[i])
        await fut

    async def cancel(self, i: int) -> None:
        fut = self._proto.waiter = self._loop.create_future()
        self._transport.write(self._cancel[i])
        await fut

    async def close(self) -> None:
        self._transport.close()
        replies = self._proto.replies
        # place, cancel, place, cancel ... of orders 0, 1, 2 ... (all of this round's orders)
        assert len(replies) == 2 * self._orders.total, (len(replies), self._orders.total)
        for k, (status, body) in enumerate(replies):
            cid = self._orders.client_oid(k // 2).encode()
            if status != 200 or b'"code":"00000"' not in body or cid not in body:
                raise AssertionError(f"{'cancel' if k % 2 else 'place'} of order {k // 2}: "
                                     f"HTTP {status} {body[:300]!r}")


class AiohttpClient:
    """What a competent user writes with aiohttp: one ``ClientSession`` (keep-alive), the
    body serialized with orjson and signed per request (``Credentials.rest_headers``),
    ``await resp.read()`` + ``orjson.loads``, ``code`` checked."""

    def __init__(self, sim: SimProcess, orders: Orders) -> None:
        import aiohttp  # noqa: PLC0415

        self._aiohttp = aiohttp
        self._url, self._creds, self._orders = sim.rest_url, sim.credentials, orders

    async def connect(self) -> None:
        self._session = self._aiohttp.ClientSession(base_url=self._url)
        async with self._session.get("/api/v2/public/time") as resp:   # opens the connection
            assert resp.status == 200

    async def _post(self, path: str, params: dict[str, str]) -> Any:
        body = orjson.dumps(params)
        headers = self._creds.rest_headers("POST", path, None, body)
        async with self._session.post(path, data=body, headers=headers) as resp:
            raw = await resp.read()
        reply = orjson.loads(raw)
        if reply.get("code") != "00000":
            raise RuntimeError(f"POST {path}: HTTP {resp.status} {reply}")
        return reply["data"]

    async def place(self, i: int) -> None:
        o = self._orders
        cid = o.client_oid(i)
        data = await self._post(PLACE_PATH, {
            "symbol": o.symbol, "productType": PRODUCT_TYPE, "marginMode": "crossed",
            "marginCoin": MARGIN_COIN, "size": o.size, "price": o.price, "side": "buy",
            "orderType": "limit", "force": "post_only", "clientOid": cid})
        if data["clientOid"] != cid:
            raise RuntimeError(f"place-order answered for {data['clientOid']}, not {cid}")

    async def cancel(self, i: int) -> None:
        o = self._orders
        cid = o.client_oid(i)
        data = await self._post(CANCEL_PATH, {"symbol": o.symbol, "productType": PRODUCT_TYPE,
                                              "marginCoin": MARGIN_COIN, "clientOid": cid})
        if data["clientOid"] != cid:
            raise RuntimeError(f"cancel-order answered for {data['clientOid']}, not {cid}")

    async def close(self) -> None:
        await self._session.close()


class CcxtClient:
    """ccxt's async ``bitget`` pointed at the simulator the way tests/integration/
    test_sim_ccxt.py does, its rate limiter off (it would sleep, not spend CPU):
    ``create_order(..., {"postOnly": True, "clientOrderId": ...})`` and
    ``cancel_order(None, symbol, {"clientOrderId": ...})``."""

    def __init__(self, sim: SimProcess, orders: Orders) -> None:
        import ccxt.async_support as ccxt_async  # noqa: PLC0415

        self._ccxt, self._sim, self._orders = ccxt_async, sim, orders

    async def connect(self) -> None:
        ex = self._ccxt.bitget({
            "apiKey": API_KEY, "secret": SECRET, "password": PASSPHRASE,
            "enableRateLimit": False,
            "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"},
        })
        ex.has["fetchCurrencies"] = False
        for section in ex.urls["api"]:
            ex.urls["api"][section] = self._sim.rest_url
        self._ex = ex
        await ex.load_markets()
        self._price, self._size = float(self._orders.price), float(self._orders.size)

    async def place(self, i: int) -> None:
        cid = self._orders.client_oid(i)
        o = await self._ex.create_order(CCXT_SYMBOL, "limit", "buy", self._size, self._price,
                                        {"postOnly": True, "clientOrderId": cid})
        if o["clientOrderId"] != cid or not o["id"]:
            raise RuntimeError(f"create_order answered {o}")

    async def cancel(self, i: int) -> None:
        cid = self._orders.client_oid(i)
        o = await self._ex.cancel_order(None, CCXT_SYMBOL, {"clientOrderId": cid})
        if o["clientOrderId"] != cid:
            raise RuntimeError(f"cancel_order answered {o}")

    async def close(self) -> None:
        await self._ex.close()


# -- the measuring window -----------------------------------------------------------------

_CLOCK = [0.0]


class BitgetFastClient:
    """bitget_fast's connector as a user holds it: ``await bp.place_order(...)`` and
    ``await bp.cancel_order(...)`` with the whole trading layer running -- rules checked,
    the order tracked, and the private stream's pushes (live, canceled, account) parsed and
    applied in this same thread, inside the window."""

    def __init__(self, sim: SimProcess, orders: Orders) -> None:
        self.sim, self.orders = sim, orders
        self.bp: Any = None

    async def connect(self) -> None:
        from bitget_fast import BitgetPerpetual
        # the simulator runs without limits here; ours would pace 2,000 orders at 10/s
        self.bp = BitgetPerpetual(self.sim.credentials, rest_url=self.sim.rest_url,
                                  ws_public_url=self.sim.ws_public_url,
                                  ws_private_url=self.sim.ws_private_url, symbols=[SYMBOL],
                                  enforce_rate_limits=False)
        await self.bp.start()

    async def place(self, i: int) -> None:
        o = await self.bp.place_order(SYMBOL, "buy", self.orders.size, self.orders.price,
                                      order_type="post_only", client_oid=self.orders.client_oid(i))
        if o.status not in ("live", "canceled"):
            raise AssertionError(f"order {i}: {o}")

    async def cancel(self, i: int) -> None:
        await self.bp.cancel_order(SYMBOL, self.orders.client_oid(i))

    async def close(self) -> None:
        await asyncio.sleep(0.2)   # the last pushes
        bp, self.bp = self.bp, None
        open_ = [o for o in bp.open_orders() if o.client_oid.startswith(self.orders.client_oid(0)[:-7])]
        await bp.close()
        if open_:
            raise AssertionError(f"orders the stream did not show canceled: {open_[:3]}")


class _Ack(msgspec.Struct):
    """What the connector reads from a place or cancel reply."""
    orderId: str | None = None
    clientOid: str | None = None


class BitgetFastRestClient:
    """bitget_fast's REST layer alone (what ``place_order`` rides on): ``RestClient.submit``
    of the params dict -- JSON body, signed into one buffer by the compiled Signer, one
    write, the reply framed in C and the envelope and ack decoded in one msgspec pass (the
    connector's own ``decode``)."""

    def __init__(self, sim: SimProcess, orders: Orders) -> None:
        self.sim, self.orders = sim, orders
        self.rc: Any = None

    async def connect(self) -> None:
        from bitget_fast import RestClient
        self.rc = RestClient(self.sim.rest_url, self.sim.credentials, connections=1,
                             enforce_rate_limits=False)
        await self.rc.start()

    async def place(self, i: int) -> None:
        ack = await self.rc.submit("POST", "/api/v2/mix/order/place-order",
                                   body=self.orders.place_params(i), decode=_Ack)
        if ack.clientOid != self.orders.client_oid(i):
            raise AssertionError(ack)

    async def cancel(self, i: int) -> None:
        await self.rc.submit("POST", "/api/v2/mix/order/cancel-order",
                             body=self.orders.cancel_params(i), decode=_Ack)

    async def close(self) -> None:
        await self.rc.close()


def client_cpu_clock() -> float:
    """pytest-benchmark timer: client CPU seconds inside measuring windows so far. It moves
    only when a round's window closes, so a timed call's "duration" is that window alone."""
    return _CLOCK[0]


def loop_factory(name: str | None = None) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The event loop to run on: ``name``, else ``BENCH_ORDER_LOOP`` (``uvloop`` /
    ``asyncio``), else uvloop when installed (DECISIONS.md section 10), else asyncio."""
    want = name or os.environ.get("BENCH_ORDER_LOOP", "")
    if want not in ("", "uvloop", "asyncio"):
        raise ValueError(f"the loop must be uvloop or asyncio, not {want!r}")
    if want != "asyncio":
        try:
            import uvloop  # noqa: PLC0415
            return "uvloop", uvloop.new_event_loop
        except ImportError:
            if want == "uvloop":
                raise
    return "asyncio", asyncio.new_event_loop


def _thread_time_overhead_s() -> float:
    """What an interval between two back-to-back ``time.thread_time()`` reads measures
    (the reads' own cost, subtracted from the sampled place intervals)."""
    tt = time.thread_time
    deltas = []
    for _ in range(400):
        a = tt()
        deltas.append(tt() - a)
    deltas.sort()
    return deltas[len(deltas) // 2]


async def _round(client: Any, n: int, warmup: int) -> dict[str, Any]:
    total = warmup + n
    prepare = getattr(client, "prepare", None)
    tt, pt, wall = time.thread_time, time.process_time, time.perf_counter
    getrusage, who = resource.getrusage, resource.RUSAGE_THREAD
    cpu = wall_s = proc = user = system = 0.0
    nvcsw = nivcsw = 0
    samples: list[float] = []
    await client.connect()
    try:
        place, cancel = client.place, client.cancel
        if prepare is not None:
            prepare(0, warmup)
        for i in range(warmup):
            await place(i)
            await cancel(i)
        overhead = _thread_time_overhead_s()
        start = warmup
        while start < total:
            stop = min(total, start + CHUNK_ORDERS)
            if prepare is not None:
                prepare(start, stop)
            r0 = getrusage(who)
            p0, w0, c0 = pt(), wall(), tt()
            for i in range(start, stop):
                if i % PLACE_SAMPLE_EVERY == 0:
                    a = tt()
                    await place(i)
                    samples.append(tt() - a)
                else:
                    await place(i)
                await cancel(i)
            c1, w1, p1 = tt(), wall(), pt()
            r1 = getrusage(who)
            cpu += c1 - c0
            wall_s += w1 - w0
            proc += p1 - p0
            user += r1.ru_utime - r0.ru_utime
            system += r1.ru_stime - r0.ru_stime
            nvcsw += r1.ru_nvcsw - r0.ru_nvcsw
            nivcsw += r1.ru_nivcsw - r0.ru_nivcsw
            start = stop
    finally:
        await client.close()
    place_s = sum(samples) / len(samples) - overhead if samples else float("nan")
    return {"orders": n, "requests": 2 * n, "cpu_s": cpu, "wall_s": wall_s,
            "process_cpu_s": proc, "user_s": user, "sys_s": system,
            "voluntary_switches": nvcsw, "involuntary_switches": nivcsw,
            "place_cpu_s": place_s, "place_samples": len(samples),
            "thread_time_overhead_s": overhead}


def measure(client_factory: Callable[[SimProcess, Orders], Any], sim: SimProcess, n: int, *,
            loop: str | None = None, warmup: int = WARMUP_ORDERS,
            count: bool = True) -> dict[str, Any]:
    """One round on a fresh event loop: connect, ``warmup`` untimed orders, then ``n`` timed
    place + cancel pairs, one request in flight; close; check with the simulator that every
    order ended canceled. Adds the window's thread CPU to :func:`client_cpu_clock` and
    returns the round's figures (seconds, totals over the ``n`` orders). ``count=False``
    leaves the clock alone (a reference round inside another client's timed call)."""
    name, factory = loop_factory(loop)
    orders = Orders(warmup + n, sim.price)
    client = client_factory(sim, orders)
    before = os.sched_getaffinity(0) if sim.cpu is not None else None
    try:
        if sim.cpu is not None:
            os.sched_setaffinity(0, {sim.cpu})   # this thread, beside the simulator
        with asyncio.Runner(loop_factory=factory) as runner:
            figures = runner.run(_round(client, n, warmup))
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    sim.check_round(orders)
    if count:
        _CLOCK[0] += figures["cpu_s"]
    figures["loop"] = name
    figures["cpu"] = sim.cpu
    return figures


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds, per request (the headline), per place and per place+cancel pair,
    in microseconds, for ``extra_info``."""
    def med(xs: list[float]) -> float:
        xs = sorted(xs)
        m = len(xs) // 2
        return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2

    n = rounds[0]["orders"]
    per_req = [r["cpu_s"] * 1e6 / (2 * n) for r in rounds]
    wall = [r["wall_s"] * 1e6 / (2 * n) for r in rounds]
    place = med([r["place_cpu_s"] * 1e6 for r in rounds])
    pair = med(per_req) * 2
    return {
        "cpu_us_per_request": round(med(per_req), 2),
        "cpu_us_per_request_rounds": [round(x, 2) for x in per_req],
        "cpu_us_per_pair": round(pair, 2),
        "cpu_us_per_place": round(place, 2),
        "cpu_us_per_cancel": round(pair - place, 2),
        "place_samples_per_round": rounds[0]["place_samples"],
        "wall_us_per_request": round(med(wall), 1),
        "wall_us_per_request_rounds": [round(x, 1) for x in wall],
        "process_cpu_us_per_request": round(med([r["process_cpu_s"] * 1e6 / (2 * n)
                                                 for r in rounds]), 2),
        # tick-sampled by the kernel: coarse over short windows
        "user_us_per_request": round(med([r["user_s"] * 1e6 / (2 * n) for r in rounds]), 2),
        "sys_us_per_request": round(med([r["sys_s"] * 1e6 / (2 * n) for r in rounds]), 2),
        "client_busy": round(med([r["cpu_s"] / r["wall_s"] for r in rounds]), 3),
        "involuntary_switches": rounds[-1]["involuntary_switches"],
        "thread_time_read_ns": round(rounds[-1]["thread_time_overhead_s"] * 1e9),
        "orders_per_round": n,
    }
