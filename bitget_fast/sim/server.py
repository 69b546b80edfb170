"""`Simulator`: a local Bitget V2 USDT-M futures exchange on loopback sockets.

    async with Simulator(symbols=["BTCUSDT", "ETHUSDT"], seed=1) as sim:
        sim.add_account("key", "secret", "passphrase", usdt=10_000)
        ...  # point a client at sim.rest_url, sim.ws_public_url, sim.ws_private_url

REST runs on an httptools server (``http.py``), the WebSocket endpoints on picows' server
side (``ws.py``), both over the same engine (``engine.py``) and the seeded background flow
(``feed.py``). Every fault a trading client must survive can be scripted from here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import ssl
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from picows import ws_create_server

from .api import RestApi, RestFault, check_count, check_seconds
from .contracts import ContractSpec, contract_for, fixed
from .engine import SYMBOL_STATUS_ERRORS, Account, Engine, Market
from .feed import Flow
from .http import HttpServer, start_http_server
from .ws import WsHub

__all__ = ["Simulator", "TLS_CERT", "TLS_KEY"]

_log = logging.getLogger("bitget_fast.sim")

_TLS_DIR = Path(__file__).with_name("tls")
TLS_CERT = _TLS_DIR / "localhost-cert.pem"
"""Self-signed certificate for localhost/127.0.0.1/::1 (a public test key: loopback only)."""
TLS_KEY = _TLS_DIR / "localhost-key.pem"
"""Its private key. It is published with the package, so it protects nothing beyond tests."""

_MALFORMED = b'{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books","instId":'
_HISTORY_MINUTES = 1440


class Simulator:
    """A local Bitget V2 exchange: REST, public and private WebSocket, matching, faults."""

    def __init__(self, symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT"), *, seed: int = 1,
                 host: str = "127.0.0.1", rest_port: int = 0, ws_port: int = 0,
                 tls: bool = False, flow_rate: float = 20.0, book_depth: int = 50,
                 enforce_rate_limits: bool = True, funding_interval_s: float | None = None,
                 ws_idle_timeout_s: float = 120.0,
                 contracts: Sequence[ContractSpec] | None = None) -> None:
        specs = list(contracts) if contracts is not None else [contract_for(s) for s in symbols]
        if not specs:
            raise ValueError("the simulator needs at least one symbol")
        if flow_rate < 0:
            raise ValueError("flow_rate must be >= 0 (events per second per symbol; 0 = paused)")
        self.seed = seed
        self.host = host
        self.tls = tls
        self.flow_rate = flow_rate
        self.book_depth = book_depth
        self.enforce_rate_limits = enforce_rate_limits
        self.funding_interval_s = funding_interval_s
        self.ws_idle_timeout_s = ws_idle_timeout_s
        self.ws_events_first = False
        self.engine = Engine(specs)
        self.flows = {m.symbol: Flow(self.engine, m, seed, depth=max(book_depth, 1))
                      for m in self.engine.markets.values()}
        self.hub = WsHub(self)
        self.engine.listener = self.hub
        self.rest = RestApi(self)
        self._rest_port = rest_port
        self._ws_port = ws_port
        self._http: HttpServer | None = None
        self._ws: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._candles: dict[str, dict[int, list[Any]]] = {}
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> "Simulator":
        """Seed the books, open the listeners and start the background flow."""
        if self._started:
            return self
        now = self.engine.now_ms()
        for sym, flow in self.flows.items():
            m = self.engine.markets[sym]
            if self.book_depth > 0:
                flow.seed_book()
            m.next_funding_ms = now + int(self._funding_interval_s(m) * 1000)
            self._candles[sym] = self._history(m, now)
        self.hub.rebuild()
        await self._listen()
        self._tasks = [asyncio.create_task(self._flow_loop(), name="bitget-fast-sim-flow"),
                       asyncio.create_task(self._sweep_loop(), name="bitget-fast-sim-sweep")]
        self._started = True
        return self

    async def _listen(self) -> None:
        ctx = self.server_ssl_context() if self.tls else None
        self._http = await start_http_server(self.rest, self.host, self._rest_port, ssl=ctx)
        self._rest_port = self._http.port
        self._ws = await ws_create_server(self.hub.factory, self.host, self._ws_port, ssl=ctx,
                                          websocket_handshake_timeout=5,
                                          max_frame_size=1 << 20)
        self._ws_port = self._ws.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        for c in list(self.hub.conns):
            if c.transport is not None:
                c.transport.underlying_transport.abort()
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
            self._ws = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Stop the flow, close every connection and both listeners."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        self._tasks = []
        await self._unlisten()
        self._started = False

    async def __aenter__(self) -> "Simulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ addresses
    @property
    def rest_url(self) -> str:
        """Base URL of the REST API (``http://127.0.0.1:<port>``; https with ``tls=True``)."""
        return f"{'https' if self.tls else 'http'}://{self._host_for_url()}:{self._rest_port}"

    @property
    def ws_public_url(self) -> str:
        """URL of the public WebSocket (``.../v2/ws/public``)."""
        return f"{'wss' if self.tls else 'ws'}://{self._host_for_url()}:{self._ws_port}/v2/ws/public"

    @property
    def ws_private_url(self) -> str:
        """URL of the private WebSocket (``.../v2/ws/private``)."""
        return f"{'wss' if self.tls else 'ws'}://{self._host_for_url()}:{self._ws_port}/v2/ws/private"

    @property
    def rest_port(self) -> int:
        """Bound REST port."""
        return self._rest_port

    @property
    def ws_port(self) -> int:
        """Bound WebSocket port."""
        return self._ws_port

    def _host_for_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @staticmethod
    def server_ssl_context() -> ssl.SSLContext:
        """The server side TLS context (the bundled self-signed localhost certificate)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(TLS_CERT, TLS_KEY)
        return ctx

    @staticmethod
    def client_ssl_context() -> ssl.SSLContext:
        """A client TLS context that trusts the simulator's certificate (and verifies it)."""
        ctx = ssl.create_default_context(cafile=str(TLS_CERT))
        return ctx

    # ------------------------------------------------------------------ accounts, market control
    def add_account(self, api_key: str, secret: str, passphrase: str, *, usdt: Any = 10_000,
                    ws_trading: bool = False) -> Account:
        """Create a trading account; ``ws_trading`` grants WebSocket order entry."""
        return self.engine.add_account(api_key, secret, passphrase, usdt=usdt, ws_trading=ws_trading)

    def market(self, symbol: str) -> Market:
        """The engine's market of ``symbol``."""
        return self.engine.market(symbol)

    def advance(self, steps: int = 1, symbol: str | None = None) -> None:
        """Run ``steps`` background events now (per symbol, or only ``symbol``); at most 1,000,000."""
        if type(steps) is not int or not 0 <= steps <= 1_000_000:
            raise ValueError(f"steps must be an integer in [0, 1000000], not {steps!r}")
        flows = [self.flows[self.engine.market(symbol).symbol]] if symbol else list(self.flows.values())
        for _ in range(steps):
            for f in flows:
                f.step()

    def set_mark_price(self, symbol: str, price: str) -> None:
        """Move the fair, mark and index price of ``symbol`` (the flow follows it)."""
        m = self.engine.market(symbol)
        units = int(_number(price, "price", 0, Decimal("1e30")).scaleb(m.spec.price_place))
        units -= units % m.spec.tick
        if units <= 0:
            raise ValueError(f"price must be at least one tick, not {price!r}")
        m.mark = m.index = units
        self.flows[m.symbol].fair = units
        self.engine.flush()

    def set_symbol_status(self, symbol: str, status: str) -> None:
        """Set ``symbol``'s symbolStatus (``normal``, ``maintain``, ``limit_open``, ``off``, ...).

        The contracts endpoint shows it; orders it does not allow are refused with the codes
        of ``engine.SYMBOL_STATUS_ERRORS`` (``limit_open`` still accepts closing orders).
        """
        if status != "normal" and status not in SYMBOL_STATUS_ERRORS:
            raise ValueError(f"status must be normal or one of {sorted(SYMBOL_STATUS_ERRORS)}, "
                             f"not {status!r}")
        self.engine.market(symbol).status = status

    def set_funding_rate(self, symbol: str, rate: str) -> None:
        """The funding rate charged at the next settlement of ``symbol``."""
        self.engine.market(symbol).funding_rate = _number(rate, "rate", -1, 1)

    def settle_funding(self, symbol: str | None = None) -> None:
        """Run a funding settlement now (all symbols, or ``symbol``)."""
        self.engine.settle_funding(self.engine.market(symbol).symbol if symbol else None)

    def _funding_interval_s(self, m: Market) -> float:
        if self.funding_interval_s is not None:
            return self.funding_interval_s
        return m.spec.fund_interval_h * 3600.0

    def funding_interval_h(self, m: Market) -> int:
        """Funding interval shown by the REST API, in whole hours (at least 1)."""
        return max(1, round(self._funding_interval_s(m) / 3600))

    # ------------------------------------------------------------------ faults
    def drop_connections(self, which: str = "all") -> int:
        """Cut connections abruptly (no close frame): public, private, rest or all. Returns how many."""
        n = 0
        if which in ("rest", "all") and self._http is not None:
            n += self._http.connection_count
            self._http.abort_connections()
        if which != "rest":
            for c in self.hub.select(which):
                if c.transport is not None:
                    c.transport.underlying_transport.abort()
                    n += 1
        return n

    def stall(self, which: str = "public", seconds: float = 1.0) -> int:
        """Hold every WebSocket push of these connections for ``seconds``, then deliver in order."""
        seconds = check_seconds(seconds, "seconds")
        conns = self.hub.select(which)
        for c in conns:
            c.stall(seconds)
        return len(conns)

    def corrupt_checksum(self, symbol: str, count: int = 1) -> None:
        """The next ``count`` books updates of ``symbol`` carry a wrong checksum."""
        check_count(count)
        self.hub.feeds[self.engine.market(symbol).symbol].corrupt += count

    def skip_seq(self, symbol: str, *, deep: bool = False, count: int = 1) -> None:
        """Drop the next books update of ``symbol`` that changes the top 25 (or, ``deep``, only deeper levels)."""
        check_count(count)
        f = self.hub.feeds[self.engine.market(symbol).symbol]
        if deep:
            f.skip_deep += count
        else:
            f.skip_top += count

    def send_malformed(self, which: str = "public", data: bytes = _MALFORMED,
                       binary: bool = False) -> int:
        """Send a malformed frame (truncated JSON by default; ``binary``: a binary frame) on these WebSocket connections."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("data must be bytes")
        conns = self.hub.select(which)
        for c in conns:
            c.send_raw(bytes(data), binary=bool(binary))
        return len(conns)

    def send_oversized(self, which: str = "public", size: int = 16 << 20) -> int:
        """Send one frame of ``size`` bytes (default 16 MiB) on these WebSocket connections."""
        if type(size) is not int or not 0 <= size <= 1 << 28:
            raise ValueError("size must be an integer number of bytes up to 256 MiB")
        head = b'{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"X"},"pad":"'
        data = head + b"x" * max(0, size - len(head) - 2) + b'"}'
        conns = self.hub.select(which)
        for c in conns:
            c.send_raw(data)
        return len(conns)

    def fail_rest(self, status: int = 500, *, path: str | None = None, count: int = 1,
                  code: str | None = None, execute: bool = False) -> None:
        """Answer the next ``count`` REST requests (to ``path``) with ``status``; ``execute`` runs them first."""
        if status < 400:
            raise ValueError("fail_rest needs an error status (429, 5xx, ...)")
        self.rest.faults.append(RestFault("status", path, count, status, code or str(status), execute))

    def never_answer(self, *, path: str | None = None, count: int = 1, execute: bool = False) -> None:
        """Never reply to the next ``count`` REST requests; ``execute`` runs them (a lost reply)."""
        self.rest.faults.append(RestFault("never", path, count, execute=execute))

    def reply_raw(self, data: bytes, *, path: str | None = None, count: int = 1,
                  execute: bool = False) -> None:
        """Answer the next ``count`` REST requests (to ``path``) with exactly ``data`` (an HTML
        page, a wrong Content-Length, not HTTP at all), then close; ``execute`` runs them first."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("data must be bytes")
        self.rest.faults.append(RestFault("raw", path, count, execute=execute, data=bytes(data)))

    def delay_acks(self, seconds: float, *, path: str | None = None, count: int = 1) -> None:
        """Delay the next ``count`` replies (REST ``path``, or ``"ws:trade"`` for WS order acks)."""
        self.rest.ack_delays.append(RestFault("delay", path, count, delay_s=seconds))

    def ws_events_before_rest(self, enabled: bool = True) -> None:
        """Deliver private WS events before the REST reply of the request that caused them."""
        self.ws_events_first = enabled
        self.hub.defer_private = not enabled

    def clear_faults(self) -> None:
        """Forget every scripted REST fault, ack delay and book fault."""
        self.rest.faults.clear()
        self.rest.ack_delays.clear()
        for f in self.hub.feeds.values():
            f.corrupt = f.skip_top = f.skip_deep = 0
        self.ws_events_before_rest(False)

    async def restart(self, downtime_s: float = 0.2) -> None:
        """Restart the exchange: every connection drops, ports refuse for ``downtime_s``, state is kept."""
        await self._unlisten()
        await asyncio.sleep(downtime_s)
        await self._listen()

    # ------------------------------------------------------------------ background tasks
    async def _flow_loop(self) -> None:
        flows = list(self.flows.values())
        loop = asyncio.get_running_loop()
        if math.isinf(self.flow_rate):
            # as fast as the slowest subscriber reads: wait while any write buffer is full
            hub = self.hub
            while True:
                for _ in range(64):
                    for f in flows:
                        f.step()
                await asyncio.sleep(0)
                while hub.backlogged():
                    await asyncio.sleep(0.0005)
        last = loop.time()
        credit = 0.0
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            credit = min(credit + (now - last) * self.flow_rate, 10_000.0)
            last = now
            n = int(credit)
            credit -= n
            for _ in range(n):
                for f in flows:
                    f.step()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            try:
                self.hub.sweep()
                now = self.engine.now_ms()
                for m in self.engine.markets.values():
                    if now >= m.next_funding_ms:
                        self.engine.settle_funding(m.symbol)
                        m.next_funding_ms += int(self._funding_interval_s(m) * 1000)
            except Exception:  # a bug here must not silently stop funding and tickers
                _log.exception("simulator sweep failed")

    # ------------------------------------------------------------------ candles
    def _history(self, m: Market, now_ms: int) -> dict[int, list[Any]]:
        """Seeded 1-minute candles for the day before start, ending at the start price."""
        rng = random.Random(f"{self.seed}:{m.symbol}:candles")
        spec = m.spec
        minute = now_ms - now_ms % 60_000
        price = m.mark
        rows: dict[int, list[Any]] = {}
        lot = spec.lot
        for i in range(1, _HISTORY_MINUTES + 1):
            t = minute - i * 60_000
            close = price
            moves = [close + spec.tick * int(rng.gauss(0, 3)) for _ in range(4)]
            open_ = max(spec.tick, moves[0])
            hi = max(open_, close, *moves)
            lo = max(spec.tick, min(open_, close, *moves))
            vol = lot * (1 + int(rng.random() * 2000))
            rows[t] = [open_, hi, lo, close, vol, spec.notional((hi + lo) // 2, vol)]
            price = open_
        return rows

    def record_trades(self, m: Market, trades: list[tuple[str, int, int, str, int]]) -> None:
        """Fold public trades into the 1-minute candles."""
        rows = self._candles.get(m.symbol)
        if rows is None:
            return
        for _tid, p, q, _side, ts in trades:
            t = ts - ts % 60_000
            r = rows.get(t)
            if r is None:
                rows[t] = [p, p, p, p, q, m.spec.notional(p, q)]
            else:
                if p > r[1]:
                    r[1] = p
                if p < r[2]:
                    r[2] = p
                r[3] = p
                r[4] += q
                r[5] += m.spec.notional(p, q)

    def candles(self, m: Market, gran_ms: int, gran: str, start: int, end: int,
                limit: int) -> list[list[str]]:
        """Candles of ``gran`` in [start, end], oldest first, the newest ``limit`` of them."""
        rows = self._candles.get(m.symbol, {})
        offset = 0 if gran.endswith("utc") or gran_ms < 21_600_000 else 8 * 3_600_000
        buckets: dict[int, list[Any]] = {}
        for t in sorted(rows):
            b = (t + offset) // gran_ms * gran_ms - offset
            if not start <= b <= end:
                continue
            o, h, lo, c, v, qv = rows[t]
            agg = buckets.get(b)
            if agg is None:
                buckets[b] = [o, h, lo, c, v, qv]
            else:
                agg[1] = max(agg[1], h)
                agg[2] = min(agg[2], lo)
                agg[3] = c
                agg[4] += v
                agg[5] += qv
        spec = m.spec
        out = [[str(b), spec.price_str(o), spec.price_str(h), spec.price_str(lo), spec.price_str(c),
                spec.size_str(v), format(fixed(qv, Decimal("1e-4")), "f")]
               for b, (o, h, lo, c, v, qv) in sorted(buckets.items())]
        return out[-limit:]


def _number(v: Any, name: str, lo: Any, hi: Any) -> Decimal:
    """``v`` as a Decimal in [lo, hi], or ValueError (a control's argument: money stays sane)."""
    try:
        d = Decimal(v)
    except (ArithmeticError, TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {v!r}") from None
    if not d.is_finite() or not lo <= d <= hi:
        raise ValueError(f"{name} must be a number in [{lo}, {hi}], not {v!r}")
    return d
