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
import itertools
import logging
import math
import random
import ssl
from bisect import bisect_left, insort
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from picows import ws_create_server

from ..intervals import KINDS, Interval, candle_start, next_start
from ..intervals import interval as interval_named

from .api import RestApi, RestFault, check_count, check_seconds
from .contracts import ContractSpec, contract_for, fmt_units
from .engine import SYMBOL_STATUS_ERRORS, Account, Engine, Market
from .feed import Flow
from .http import HttpServer, start_http_server
from .ws import WsHub

__all__ = ["Simulator", "TLS_CERT", "TLS_KEY", "MAX_CANDLE_HISTORY_MINUTES"]

_log = logging.getLogger("bitget_fast.sim")

_TLS_DIR = Path(__file__).with_name("tls")
TLS_CERT = _TLS_DIR / "localhost-cert.pem"
"""Self-signed certificate for localhost/127.0.0.1/::1 (a public test key: loopback only)."""
TLS_KEY = _TLS_DIR / "localhost-key.pem"
"""Its private key. It is published with the package, so it protects nothing beyond tests."""

def _phi(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


_MALFORMED = b'{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books","instId":'
_MINUTE = 60_000
MAX_CANDLE_HISTORY_MINUTES = 200 * 1440
"""Most seeded 1-minute candles before start (``candle_history_minutes``): 200 days."""
# int(X) for X ~ N(0, 3), as ticks a seeded minute moves: values and cumulative weights
_MOVES = range(-15, 16)
_MOVE_WEIGHTS = list(itertools.accumulate(
    _phi((abs(k) + 1) / 3) - _phi(abs(k) / 3) if k else _phi(1 / 3) - _phi(-1 / 3)
    for k in _MOVES))


class Simulator:
    """A local Bitget V2 exchange: REST, public and private WebSocket, matching, faults."""

    def __init__(self, symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT"), *, seed: int = 1,
                 host: str = "127.0.0.1", rest_port: int = 0, ws_port: int = 0,
                 tls: bool = False, flow_rate: float = 20.0, book_depth: int = 50,
                 enforce_rate_limits: bool = True, funding_interval_s: float | None = None,
                 ws_idle_timeout_s: float = 120.0,
                 contracts: Sequence[ContractSpec] | None = None,
                 candle_history_minutes: int = 1440,
                 clock_ms: Callable[[], int] | None = None) -> None:
        specs = list(contracts) if contracts is not None else [contract_for(s) for s in symbols]
        if not specs:
            raise ValueError("the simulator needs at least one symbol")
        if flow_rate < 0:
            raise ValueError("flow_rate must be >= 0 (events per second per symbol; 0 = paused)")
        if type(candle_history_minutes) is not int or \
                not 0 <= candle_history_minutes <= MAX_CANDLE_HISTORY_MINUTES:
            raise ValueError(f"candle_history_minutes must be an integer in [0, "
                             f"{MAX_CANDLE_HISTORY_MINUTES}] (200 days), not "
                             f"{candle_history_minutes!r}")
        self.candle_history_minutes = candle_history_minutes
        self.seed = seed
        self.host = host
        self.tls = tls
        self.flow_rate = flow_rate
        self.book_depth = book_depth
        self.enforce_rate_limits = enforce_rate_limits
        self.funding_interval_s = funding_interval_s
        self.ws_idle_timeout_s = ws_idle_timeout_s
        self.ws_events_first = False
        self.engine = Engine(specs, clock_ms=clock_ms)
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
        # symbol -> kind (market, mark, index) -> its 1-minute candles
        self._series: dict[str, dict[str, _CandleSeries]] = {}
        # (symbol, interval) -> [bucket, folded up to, row of the folded minutes, late, prev close]
        self._live_cache: dict[tuple[str, str], list[Any]] = {}
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
            self._seed_candles(m, now)
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
        self._sample_prices(m, self.engine.now_ms())
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
                now = self.engine.now_ms()
                for m in self.engine.markets.values():
                    self._sample_prices(m, now)
                self.hub.sweep()
                for m in self.engine.markets.values():
                    if now >= m.next_funding_ms:
                        self.engine.settle_funding(m.symbol)
                        m.next_funding_ms += int(self._funding_interval_s(m) * 1000)
            except Exception:  # a bug here must not silently stop funding and tickers
                _log.exception("simulator sweep failed")

    # ------------------------------------------------------------------ candles
    def _seed_candles(self, m: Market, now_ms: int) -> None:
        """Seeded 1-minute history before start, ending at the start price, for each kind.

        Market: a seeded random walk back from the last price, one minute at a time. Mark
        and index: each minute goes from the market minute's open to its close
        with no wick beyond them (the two prices are one fair price here, and a fair price
        does not follow single trades); volumes 0.
        """
        rng = random.Random(f"{self.seed}:{m.symbol}:candles")
        rand = rng.random
        spec = m.spec
        tick, lot = spec.tick, spec.lot
        minute = now_ms - now_ms % _MINUTE
        n = self.candle_history_minutes
        first = minute - n * _MINUTE
        price = m.last
        market: dict[int, list[int]] = {}
        mark: dict[int, list[int]] = {}
        index: dict[int, list[int]] = {}
        # four moves a minute, in ticks: int(N(0, 3)) drawn in one call (gauss() one by one
        # was most of the time a long history took)
        moves = iter(rng.choices(_MOVES, cum_weights=_MOVE_WEIGHTS, k=4 * n))
        t = minute
        for a, b, c, d in zip(moves, moves, moves, moves):
            t -= _MINUTE
            close = price
            a = close + tick * a
            b = close + tick * b
            c = close + tick * c
            d = close + tick * d
            open_ = a if a > tick else tick
            hi = max(open_, close, a, b, c, d)
            lo = min(open_, close, a, b, c, d)
            if lo < tick:
                lo = tick
            vol = lot * (1 + int(rand() * 2000))
            market[t] = [open_, hi, lo, close, vol, (hi + lo) // 2 * vol]
            if open_ < close:
                mark[t] = [open_, close, open_, close, 0, 0]
                index[t] = [open_, close, open_, close, 0, 0]
            else:
                mark[t] = [open_, open_, close, close, 0, 0]
                index[t] = [open_, open_, close, close, 0, 0]
            price = open_
        keys = list(range(first, minute, _MINUTE))
        self._series[m.symbol] = {
            "market": _CandleSeries(market, keys, first, m.last),
            "mark": _CandleSeries(mark, keys[:], first, m.mark),
            "index": _CandleSeries(index, keys[:], first, m.index)}
        self._sample_prices(m, now_ms)

    def _sample_prices(self, m: Market, now_ms: int) -> None:
        """Fold the current mark and index prices into their 1-minute candles."""
        series = self._series.get(m.symbol)
        if series is not None:
            series["mark"].sample(now_ms, m.mark)
            series["index"].sample(now_ms, m.index)

    def record_trades(self, m: Market, trades: list[tuple[str, int, int, str, int]]) -> None:
        """Fold public trades into the market 1-minute candles."""
        series = self._series.get(m.symbol)
        if series is None:
            return
        s = series["market"]
        for _tid, p, q, _side, ts in trades:
            s.trade(ts, p, q)

    def candles(self, symbol: str, interval: str, start_ms: int = 0, end_ms: int = 2**62,
                limit: int | None = None, kind: str = "market") -> list[list[str]]:
        """Candles of ``interval`` (an ``intervals.INTERVALS`` name) and ``kind`` (``market``,
        ``mark`` or ``index``) starting in [start_ms, end_ms], oldest first; the newest
        ``limit`` of them when more match (Bitget aligns from endTime).

        Rows are ``[start, open, high, low, close, baseVolume, quoteVolume]`` strings, built
        from 1-minute candles (open first, high max, low min, close last, volumes summed).
        The series is dense from the bucket of the first history minute to the in-progress
        bucket, which is included: a bucket without trades is flat at the previous close
        with volumes "0" (UNCERTAIN: our reading of Bitget, which may omit such buckets).
        Empty before :meth:`start`.
        """
        m = self.engine.market(symbol)
        iv = interval_named(interval)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if limit is not None and (type(limit) is not int or limit < 0):
            raise ValueError(f"limit must be None or an integer >= 0, not {limit!r}")
        return self._candle_rows(m, iv, start_ms, end_ms, limit, kind, self.engine.now_ms())

    def _candle_rows(self, m: Market, iv: Interval, start_ms: int, end_ms: int,
                     limit: int | None, kind: str, now: int) -> list[list[str]]:
        series = self._series.get(m.symbol)
        if series is None or limit == 0:
            return []
        s = series[kind]
        first_b = candle_start(s.first, iv)
        hi = min(end_ms, now)
        lo = max(start_ms, first_b)
        if hi < lo:
            return []
        b_hi = candle_start(hi, iv)
        starts: list[int] | range
        if iv.ms:
            b_lo = candle_start(lo, iv)
            if b_lo < lo:
                b_lo += iv.ms
            count = (b_hi - b_lo) // iv.ms + 1 if b_hi >= b_lo else 0
            if limit is not None and count > limit:
                count = limit
            starts = range(b_hi - (count - 1) * iv.ms, b_hi + 1, iv.ms)
        else:
            starts = []
            b = b_hi
            while b >= lo and (limit is None or len(starts) < limit):
                starts.append(b)
                b = candle_start(b - 1, iv)
            starts.reverse()
        if not starts:
            return []
        end_minute = now - now % _MINUTE + _MINUTE
        prev = s.close_before(max(starts[0], s.first))
        out = []
        fmt = self._candle_strs
        for b in starts:
            row = s.dense(max(b, s.first), min(next_start(b, iv), end_minute), prev)
            if row is None:
                continue
            prev = row[3]
            out.append(fmt(m, b, row))
        return out

    @staticmethod
    def _candle_strs(m: Market, b: int, row: list[int]) -> list[str]:
        """One candle as Bitget's 7 strings. The quote volume is exact (price decimals plus
        size decimals), so candles add up to their 1-minute rows; zero volumes print "0"."""
        spec = m.spec
        o, h, lo, c, v, qv = row
        price = spec.price_str
        return [str(b), price(o), price(h), price(lo), price(c), spec.size_str(v) if v else "0",
                fmt_units(qv, spec.price_place + spec.volume_place) if qv else "0"]

    def _live_candle(self, m: Market, iv: Interval, now: int) -> tuple[int, list[str]]:
        """The in-progress market candle of ``iv`` at ``now`` (start, 7 strings), equal to
        what :meth:`candles` gives for it; the completed minutes of the bucket are folded
        once and cached, so a WebSocket tick costs one minute's work."""
        s = self._series[m.symbol]["market"]
        b = candle_start(now, iv)
        lo = max(b, s.first)
        cur = max(now - now % _MINUTE, lo)
        key = (m.symbol, iv.name)
        c = self._live_cache.get(key)
        if c is None or c[0] != b or c[3] != s.late or c[1] > cur:
            c = self._live_cache[key] = [b, lo, None, s.late, s.close_before(lo)]
        if c[1] < cur:
            part = s.dense(c[1], cur, c[2][3] if c[2] else c[4])
            c[2] = part if c[2] is None else _combine(c[2], part)  # type: ignore[arg-type]
            c[1] = cur
            if cur > s.sealed:
                s.sealed = cur
        tail = s.dense(cur, cur + _MINUTE, c[2][3] if c[2] else c[4])
        assert tail is not None
        return b, self._candle_strs(m, b, tail if c[2] is None else _combine(c[2], tail))

    def channel_api_code(self, order_id: str) -> str | None:
        """The ``X-CHANNEL-API-CODE`` header of the REST request that created ``order_id``
        (None: sent without it); KeyError for an order the REST API did not create (or one
        forgotten since by ``Engine.forget_history``)."""
        return self.rest.channel_codes[str(order_id)]


class _CandleSeries:
    """One symbol's 1-minute candles of one kind: rows ``[open, high, low, close, base
    units, quote units]`` (quote units: price units x size units, exact) keyed by minute
    start, and their keys in order, so a range is two bisections and a walk."""

    __slots__ = ("rows", "keys", "first", "base", "late", "sealed")

    def __init__(self, rows: dict[int, list[int]], keys: list[int], first: int, base: int) -> None:
        self.rows = rows
        self.keys = keys
        self.first = first          # the first minute of the series (dense from here)
        self.base = base            # the close before any row
        self.late = 0               # writes into minutes a reader has taken as final
        self.sealed = first         # minutes before this were cached as final

    def _row(self, minute: int, p: int) -> list[int]:
        """The row of ``minute`` (created flat at ``p``); counts a write a reader took as final."""
        if minute < self.sealed:
            self.late += 1
        r = self.rows.get(minute)
        if r is None:
            r = self.rows[minute] = [p, p, p, p, 0, 0]
            keys = self.keys
            if not keys or minute > keys[-1]:
                keys.append(minute)
            else:
                insort(keys, minute)
        return r

    def trade(self, ts: int, p: int, q: int) -> None:
        """Fold one trade in."""
        r = self.sample(ts, p)
        r[4] += q
        r[5] += p * q

    def sample(self, ts: int, p: int) -> list[int]:
        """Fold one price in (a trade's, or a mark or index sample): open first, close last;
        returns the minute's row."""
        minute = ts - ts % _MINUTE
        r = self.rows.get(minute)
        if r is None or minute < self.sealed:
            r = self._row(minute, p)
        if p > r[1]:
            r[1] = p
        if p < r[2]:
            r[2] = p
        r[3] = p
        return r

    def close_before(self, t: int) -> int:
        """The close of the last row before ``t`` (the base price when there is none)."""
        i = bisect_left(self.keys, t)
        return self.rows[self.keys[i - 1]][3] if i else self.base

    def dense(self, lo: int, hi: int, prev: int) -> list[int] | None:
        """The minutes [lo, hi) folded into one row, a missing minute being flat at the close
        before it (``prev`` before ``lo``); None when the range is empty."""
        if lo >= hi:
            return None
        keys = self.keys
        i = bisect_left(keys, lo)
        j = bisect_left(keys, hi, i)
        if i == j:
            return [prev, prev, prev, prev, 0, 0]
        rows = self.rows
        k = keys[i]
        o, h, low, c, v, qv = rows[k]
        if k != lo:        # flat minutes at ``prev`` come first
            o = prev
            if prev > h:
                h = prev
            if prev < low:
                low = prev
        for k in keys[i + 1:j]:
            r = rows[k]
            if r[1] > h:
                h = r[1]
            if r[2] < low:
                low = r[2]
            c = r[3]
            v += r[4]
            qv += r[5]
        return [o, h, low, c, v, qv]


def _combine(a: list[int], b: list[int]) -> list[int]:
    """Two consecutive candles as one."""
    return [a[0], a[1] if a[1] > b[1] else b[1], a[2] if a[2] < b[2] else b[2], b[3],
            a[4] + b[4], a[5] + b[5]]


def _number(v: Any, name: str, lo: Any, hi: Any) -> Decimal:
    """``v`` as a Decimal in [lo, hi], or ValueError (a control's argument: money stays sane)."""
    try:
        d = Decimal(v)
    except (ArithmeticError, TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {v!r}") from None
    if not d.is_finite() or not lo <= d <= hi:
        raise ValueError(f"{name} must be a number in [{lo}, {hi}], not {v!r}")
    return d
