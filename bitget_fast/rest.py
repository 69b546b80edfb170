"""Bitget REST over persistent HTTP/1.1 connections: one buffer per request, signed in place.

:class:`RestClient` keeps a small pool of keep-alive connections (TLS for ``https``);
each carries one request at a time. The per-request work is compiled
(:mod:`bitget_fast._http`): a request is built into one ``bytes`` -- request line, a
pre-built header block (key, passphrase, content type), the timestamp, the signature from
the compiled :class:`~bitget_fast.Signer` hashing the prehash from its parts, the body (a
flat dict of ASCII strings is written as JSON there too; anything else through orjson) --
and handed to the transport with one ``write``; replies are framed in C (``src/bf_http.c``:
Content-Length, chunked, read-to-close; malformed input is refused, never guessed at) and
a success reply is decoded in one msgspec/orjson pass straight into the caller's future.
Everything else (errors, retries, the limiter, the pool) is this module's Python.

Failures, by kind (DECISIONS.md section 5):

* a Bitget error code -> the exception class of :mod:`bitget_fast.errors`' table, with
  the code, message, HTTP status and path (never the headers);
* 40005/40008 (timestamp) -> the clock is resynchronised and the request re-signed and
  sent once more (it was refused before execution), then :class:`ClockSkewError`;
* 429 -> :class:`RateLimitError`; the endpoint is paused with an exponential back-off
  (reads wait it out and retry);
* 5xx, a transient code, a timeout or a dropped connection -> reads are retried with
  back-off, then :class:`ExchangeUnavailableError`; order-changing calls are NEVER
  resent: they raise :class:`OutcomeUnknownError` and the caller reconciles by clientOid.

Requests are kept under Bitget's per-endpoint limits (:mod:`bitget_fast.limits`) by a
sliding-window limiter on this side, so a well-behaved program never sees a 429.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec
import orjson

from bitget_fast._urls import require_secure
from bitget_fast.auth import Credentials
from bitget_fast.auth import _header_value as header_value
from bitget_fast.errors import (
    ClockSkewError,
    ConfigurationError,
    ExchangeError,
    ExchangeUnavailableError,
    OutcomeUnknownError,
    ProtocolError,
    RateLimitError,
    TransportError,
    exchange_error,
)
from bitget_fast.limits import ORDER_PATHS, REST_RATE_LIMITS, RISK_REDUCING_PATHS

from bitget_fast._http import Request as _Request
from bitget_fast._http import RequestBuilder, RestBase, RestConnection

__all__ = ["RestClient", "REST_URL", "TIME_PATH", "CLOCK_CODES", "CHANNEL_API_CODE_HEADER"]

log = logging.getLogger("bitget_fast.rest")

REST_URL = "https://api.bitget.com"
"""Bitget's REST API (live and Demo Trading alike)."""
TIME_PATH = "/api/v2/public/time"
"""The server-time endpoint, used to measure clock skew."""
CHANNEL_API_CODE_HEADER = "X-CHANNEL-API-CODE"
"""The broker (channel) code header, sent on signed requests when ``channel_api_code`` is set."""
CLOCK_CODES = frozenset(("40005", "40008"))
"""Bitget codes that mean our timestamp was refused (the clock is re-measured, the request retried once)."""
SUCCESS = "00000"
# The limiter's window is a little longer than Bitget's second: the server counts
# arrivals, which network jitter bunches together.
LIMIT_WINDOW_S = 1.05
# Back-off after a 429 (doubles per consecutive 429, capped; a 429 on a request that was
# already in flight when the pause began does not double it); reads retried this many times.
BACKOFF_429_S = 1.0
BACKOFF_429_MAX_S = 30.0
READ_RETRIES = 3
READ_RETRY_BASE_S = 0.2
# Idle connections are exercised with a time request this often: it keeps them open through
# middleboxes and the clock offset fresh.
KEEPALIVE_S = 20.0
MAX_REPLY_BYTES = 64 * 1024 * 1024   # largest reply body accepted


class _Envelope(msgspec.Struct):
    code: str | int = ""
    msg: str | None = ""
    requestTime: int | str | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")


T = TypeVar("T")


class _TypedEnvelope(msgspec.Struct, Generic[T]):
    """The envelope with ``data`` of the request's type: a success reply in one decode."""
    code: str | int = ""
    msg: str | None = ""
    requestTime: int | str | None = None
    data: T | None = None


class _ServerTime(msgspec.Struct):
    serverTime: int | str


_envelope_decoder = msgspec.json.Decoder(_Envelope)


class _Limiter:
    """Sliding one-second windows per endpoint, and back-off after a 429 (shared with WS
    trading, which Bitget counts in the same buckets)."""

    __slots__ = ("windows", "blocked_until", "backoff", "paused_at")

    def __init__(self) -> None:
        self.windows: dict[str, deque[float]] = {}
        self.blocked_until: dict[str, float] = {}
        self.backoff: dict[str, float] = {}
        self.paused_at: dict[str, float] = {}

    def delay(self, path: str, now: float) -> float:
        """Seconds until ``path`` may be sent; 0 means now (and the send is counted at ``now``)."""
        wait = self.blocked_until.get(path, 0.0) - now
        if wait > 0:
            return wait
        lim = REST_RATE_LIMITS.get(path)
        if lim is None:
            return 0.0
        q = self.windows.get(path)
        if q is None:
            q = self.windows[path] = deque()
        while q and now - q[0] >= LIMIT_WINDOW_S:
            q.popleft()
        if len(q) >= lim[0]:
            return q[0] + LIMIT_WINDOW_S - now
        q.append(now)
        return 0.0

    def restamp(self, path: str, counted: float, sent: float) -> None:
        """A send counted at ``counted`` went on the wire only at ``sent`` (it waited for a
        connection): move its place in the window, so the window follows what the server sees.
        Every stamp is in the past, so appending keeps the window in order."""
        q = self.windows.get(path)
        if q is None:
            return
        try:
            q.remove(counted)
        except ValueError:
            pass   # already expired: it is counted again from now, which errs on the safe side
        q.append(sent)

    def hit_429(self, path: str, now: float, sent: float | None = None) -> float:
        """Pause ``path`` after a 429 on a request written at ``sent``; the seconds paused.

        The pause doubles per consecutive 429, except for requests that were already in flight
        when the current pause began: a burst refused together is one refusal, not several."""
        began = self.paused_at.get(path)
        if sent is not None and began is not None and sent < began and path in self.backoff:
            return max(self.blocked_until.get(path, 0.0) - now, 0.0)
        b = min(self.backoff.get(path, BACKOFF_429_S / 2) * 2, BACKOFF_429_MAX_S)
        self.backoff[path] = b
        self.blocked_until[path] = now + b
        self.paused_at[path] = now
        return b

    def ok(self, path: str) -> None:
        if self.backoff:
            self.backoff.pop(path, None)


class RestClient(RestBase):
    """Bitget V2 REST on keep-alive HTTP/1.1 connections; signed requests built in one buffer.

    ``submit`` writes a request at once (when a connection is free and the endpoint's
    limit allows) and returns a future of the reply's ``data``; ``request`` awaits it,
    retrying reads on transient failures. Order-changing calls are never resent.
    Plain ``http://`` is refused for a host that is not loopback unless ``allow_insecure``.
    ``channel_api_code``: a Bitget broker (channel) code sent as ``X-CHANNEL-API-CODE`` on
    every signed request, never signed itself; absent by default.
    """

    def __init__(self, base_url: str = REST_URL, credentials: Credentials | None = None, *,
                 demo: bool = False, connections: int = 2, max_connections: int = 8,
                 timeout_s: float = 10.0, locale: str = "en-US", enforce_rate_limits: bool = True,
                 ssl_context: ssl.SSLContext | None = None,
                 max_rate_wait_s: float = 1.0, allow_insecure: bool = False,
                 channel_api_code: str | None = None) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ConfigurationError(f"REST URL must be http(s)://host[:port], not {base_url!r}")
        require_secure(base_url, allow_insecure, "REST")
        if not 1 <= connections <= max_connections:
            raise ConfigurationError("need 1 <= connections <= max_connections")
        if timeout_s <= 0:
            raise ConfigurationError("timeout_s must be > 0")
        self.base_url = base_url
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.tls = u.scheme == "https"
        self._ssl = ssl_context if ssl_context is not None else (
            ssl.create_default_context() if self.tls else None)
        self.demo = demo
        self.timeout_s = timeout_s
        self.connections = connections
        self.max_connections = max_connections
        self.enforce_rate_limits = enforce_rate_limits
        self.max_rate_wait_s = max_rate_wait_s
        self._creds = credentials
        self._signer = credentials.signer if credentials is not None else None
        default_port = 443 if self.tls else 80
        host_hdr = self.host if self.port == default_port else f"{self.host}:{self.port}"
        common = f"Host: {host_hdr}\r\nUser-Agent: bitget-fast\r\n".encode("ascii")
        self._public_head = common + b"Content-Type: application/json\r\n"
        self._signed_head = common + (credentials.header_block(demo=demo, locale=locale)
                                      if credentials is not None else b"")
        if channel_api_code is not None:
            code = header_value("channel_api_code", channel_api_code)
            if credentials is None:
                raise ConfigurationError("channel_api_code is sent on signed requests only: "
                                         "it needs credentials")
            # one more header line; the signature covers timestamp, method, path and body only
            self._signed_head += f"{CHANNEL_API_CODE_HEADER}: {code}\r\n".encode("ascii")
        self.channel_api_code = channel_api_code
        if demo and credentials is None:
            self._public_head += b"paptrading: 1\r\n"
        self._builder = RequestBuilder(self._signer, self._signed_head, self._public_head)
        self._decoders: dict[Any, Callable[[bytes], Any]] = {}
        self._idle: list[RestConnection] = []
        self._conns: set[RestConnection] = set()
        self._connecting = 0
        self._queue: deque[_Request] = deque()
        self.limiter = _Limiter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._keepalive: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.rtt_ms = 0.0
        self.last_connect_error: TransportError | None = None
        # requests and replies are counted in n_requests / n_replies (RestBase, in C)
        self.counters = {"errors": 0, "retries": 0, "rate_waits": 0,
                         "rate_limited": 0, "clock_resyncs": 0, "connections_opened": 0,
                         "connections_lost": 0, "timeouts": 0}

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def offset_ms(self) -> int:
        """Server time - local time, ms (what every signed request's timestamp adds)."""
        return self._builder.offset_ms

    @offset_ms.setter
    def offset_ms(self, value: int) -> None:
        self._builder.offset_ms = value

    def __repr__(self) -> str:
        return (f"RestClient({self.base_url!r}, signed={self._creds is not None}, "
                f"connections={len(self._conns)}, offset_ms={self.offset_ms})")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the connections and synchronise the clock with the server."""
        self._loop = asyncio.get_running_loop()
        opened = await asyncio.gather(*(self._open() for _ in range(self.connections)))
        if not any(opened):
            raise self.last_connect_error
        await self.sync_clock()
        self._keepalive = self._loop.create_task(self._keepalive_loop())

    async def close(self) -> None:
        """Close every connection. Queued requests fail with :class:`TransportError`; those in
        flight as if the connection dropped (order-changing ones: :class:`OutcomeUnknownError`)."""
        self._closed = True
        for t in (self._keepalive, *self._tasks):
            if t is not None and not t.done():
                t.cancel()
        while self._queue:
            req = self._queue.popleft()
            self._finish_error(req, TransportError("the REST client was closed before sending"))
        for c in list(self._conns):
            if c.transport is not None:
                c.transport.close()
        self._conns.clear()
        self._idle.clear()

    async def __aenter__(self) -> RestClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def now_ms(self) -> int:
        """Bitget's clock as this client estimates it (local time + offset), in ms."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sync_clock(self) -> None:
        """Estimate the server-time offset from ``/api/v2/public/time`` (the midpoint of 3 tries)."""
        best: tuple[float, int] | None = None
        for _ in range(3):
            t0 = time.time_ns()
            data = await self.request("GET", TIME_PATH, signed=False, decode=_ServerTime)
            t1 = time.time_ns()
            rtt = (t1 - t0) / 1e6
            offset = int(data.serverTime) - (t0 + t1) // 2_000_000
            if best is None or rtt < best[0]:
                best = (rtt, offset)
        assert best is not None
        self.rtt_ms, self.offset_ms = best
        self.counters["clock_resyncs"] += 1

    def stats(self) -> dict[str, int]:
        """Counters: requests, replies, errors, retries, rate waits, reconnects..."""
        return {"requests": self.n_requests, "replies": self.n_replies, **self.counters,
                "open_connections": len(self._conns),
                "queued": len(self._queue)}

    # ------------------------------------------------------------------ requests
    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      body: Any = None, signed: bool = True, decode: Any = None,
                      changes_orders: bool | None = None) -> Any:
        """Send and await ``data``; reads (not order-changing) are retried on transient failures."""
        if changes_orders is None:
            changes_orders = path in ORDER_PATHS
        attempt = 0
        while True:
            try:
                return await self.submit(method, path, params=params, body=body, signed=signed,
                                         decode=decode, changes_orders=changes_orders)
            except (ExchangeUnavailableError, RateLimitError, TransportError, ProtocolError) as exc:
                if changes_orders or attempt >= READ_RETRIES or self._closed or (
                        isinstance(exc, ProtocolError) and not exc.transient):
                    raise
                if isinstance(exc, RateLimitError):
                    delay = self.limiter.blocked_until.get(path, 0.0) - time.monotonic()
                    delay = max(delay, BACKOFF_429_S)
                else:
                    delay = READ_RETRY_BASE_S * (2 ** attempt) * (0.5 + random.random())
                attempt += 1
                self.counters["retries"] += 1
                log.info("GET %s failed (%s); retry %d in %.2f s", path, exc, attempt, delay)
                await asyncio.sleep(delay)

    # ------------------------------------------------------------------ internals
    def _dispatch(self, req: _Request, limited: bool = True) -> None:
        """Send ``req`` when its endpoint's limit allows (``limited``: not yet counted) and a
        connection is free; queue it (opening a connection) otherwise."""
        if limited and self.enforce_rate_limits:
            now = time.monotonic()
            wait = self.limiter.delay(req.path, now)
            if wait > 0:
                self._rate_wait(req, wait)
                return
            req.t_counted = now
        if self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                self._send(conn, req)
                return
            self._dispatch(req, False)  # that one died while idle: try the next
            return
        self._queue.append(req)
        if len(self._conns) + self._connecting < self.max_connections:
            self._spawn(self._open())

    def _rate_wait(self, req: _Request, wait: float) -> None:
        """``req``'s endpoint is over its limit for ``wait`` s: dispatch it then, or refuse
        an order that would wait longer than ``max_rate_wait_s`` (cancels always wait)."""
        if req.changes_orders and wait > self.max_rate_wait_s and \
                req.path not in RISK_REDUCING_PATHS:
            self._finish_error(req, RateLimitError(
                "429", f"not sent: {req.path} is over its rate limit for another "
                f"{wait:.2f} s (client-side limiter; max_rate_wait_s="
                f"{self.max_rate_wait_s})", path=req.path))
            return
        self.counters["rate_waits"] += 1
        assert self._loop is not None
        self._loop.call_later(wait, self._dispatch, req)

    def _send(self, conn: RestConnection, req: _Request) -> None:
        if req.future.done():  # the caller gave up (cancelled) before it could be sent
            self._release(conn)
            return
        conn.send(req)

    def _build(self, req: _Request) -> bytes:
        """The request's bytes as they would be sent now (signed with the current clock)."""
        return self._builder.build(req)

    def _release(self, conn: RestConnection) -> None:
        if conn.closed:
            return
        while self._queue:
            req = self._queue.popleft()
            if not req.future.done():
                self._send(conn, req)
                return
        self._idle.append(conn)

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        t = self._loop.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _open(self) -> bool:
        """Open one connection and put it to work; False (queued requests failed) if impossible."""
        assert self._loop is not None
        self._connecting += 1
        try:
            _, conn = await asyncio.wait_for(self._loop.create_connection(
                self._new_conn, self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self._ssl else None), self.timeout_s)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            self._connecting -= 1
            self.last_connect_error = TransportError(
                f"cannot connect to {self.base_url}: {exc or type(exc).__name__}")
            log.warning("%s", self.last_connect_error)
            # nothing was sent: queued requests fail cleanly when no connection is left
            if not self._conns and not self._connecting:
                while self._queue:
                    self._finish_error(self._queue.popleft(), self.last_connect_error)
            return False
        self._connecting -= 1
        if self._closed:
            conn.transport.close()
            return False
        self.counters["connections_opened"] += 1
        self._conns.add(conn)
        self._release(conn)
        return True

    def _new_conn(self) -> RestConnection:
        return RestConnection(self, self._builder, self._idle, self._queue,
                              self.limiter, self._decoders, MAX_REPLY_BYTES)

    def _typed_decoder(self, tp: Any) -> Callable[[bytes], Any]:
        """The one-pass decoder of a whole reply whose ``data`` is a ``tp`` (cached)."""
        dec = self._decoders.get(tp)
        if dec is None:
            dec = self._decoders[tp] = msgspec.json.Decoder(_TypedEnvelope[tp]).decode
        return dec

    def _conn_lost(self, conn: RestConnection) -> None:
        self._conns.discard(conn)
        try:
            self._idle.remove(conn)
        except ValueError:
            pass
        if not self._closed:
            self.counters["connections_lost"] += 1
            if self._queue and len(self._conns) + self._connecting < self.max_connections:
                self._spawn(self._open())

    def _timed_out(self, req: _Request) -> None:
        conn = req.conn
        if conn is None or conn.req is not req:
            return
        self.counters["timeouts"] += 1
        log.warning("%s %s: no reply within %s s; dropping that connection", req.method,
                    req.path, self.timeout_s)
        # the reply may still come: this connection is out of step, never reuse it
        conn.req = None
        conn.closed = True
        if conn.transport is not None:
            conn.transport.abort()
        self._fail_unknown(req, "timeout", f"no reply within {self.timeout_s} s")

    def _fail_unknown(self, req: _Request, code: str, why: str) -> None:
        if req.changes_orders:
            exc: ExchangeError = OutcomeUnknownError(
                code, f"{why}; the request was sent, so it may or may not have taken effect: "
                "reconcile by clientOid", path=req.path)
        else:
            exc = ExchangeUnavailableError(code, why, path=req.path)
        self._finish_error(req, exc)

    def _fail_unreadable(self, req: _Request, exc: ProtocolError, transient: bool = True) -> None:
        """The request was sent but its reply cannot be read: for an order-changing call the
        outcome is unknown (the caller reconciles); a read gets the ProtocolError itself,
        which :meth:`request` retries when ``transient`` (a reply that could not be framed or
        was not Bitget's envelope: a proxy's page, a cut connection), not when Bitget's own
        data had another shape."""
        exc.transient = transient
        if req.changes_orders:
            self._finish_error(req, OutcomeUnknownError(
                "malformed", f"{exc}; the request was sent, so it may or may not have taken "
                "effect: reconcile by clientOid", path=req.path))
        else:
            self._finish_error(req, exc)

    def _finish_error(self, req: _Request, exc: BaseException) -> None:
        self.counters["errors"] += 1
        if not req.future.done():
            req.future.set_exception(exc)

    def _reply(self, req: _Request, status: int, body: bytes) -> None:
        """A reply the connection did not complete itself (not HTTP 200 + code 00000); the
        connection is already released and the reply counted."""
        fut = req.future
        if fut.done():
            return
        try:
            env = _envelope_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            env = None
        if env is not None and env.code == SUCCESS and status < 300:
            self.limiter.ok(req.path)
            try:
                data = (msgspec.json.decode(env.data, type=req.decode) if req.decode is not None
                        else orjson.loads(memoryview(env.data)))
            except (msgspec.DecodeError, msgspec.ValidationError, orjson.JSONDecodeError,
                    UnicodeDecodeError) as exc:
                self._fail_unreadable(req, ProtocolError(
                    f"{req.path}: the reply's data does not have the expected shape ({exc})",
                    excerpt=bytes(env.data)[:200]), transient=False)
                return
            fut.set_result(data)
            return
        if env is not None:
            code = str(env.code)
            msg = env.msg or ""
        elif status < 300:
            # a success status with a body that is not Bitget's envelope
            self._fail_unreadable(req, ProtocolError(
                f"{req.path}: HTTP {status} with a body that is not a Bitget envelope",
                excerpt=body[:200]))
            return
        else:
            code = str(status)
            msg = f"HTTP {status} with a non-Bitget body: {body[:200]!r}"
        if code in CLOCK_CODES and not req.clock_retried:
            # refused before execution: resync the clock, re-sign and send once more
            req.clock_retried = True
            self.counters["errors"] += 1
            self._spawn(self._resync_and_resend(req))
            return
        exc = exchange_error(code, msg, http_status=status, path=req.path,
                             changes_orders=req.changes_orders)
        if isinstance(exc, RateLimitError):
            self.counters["rate_limited"] += 1
            wait = self.limiter.hit_429(req.path, time.monotonic(), req.t_sent or None)
            log.warning("429 on %s: paused for another %.1f s", req.path, wait)
        elif code in CLOCK_CODES:
            exc = ClockSkewError(code, f"{msg} (after a clock resync and one retry; local clock "
                                 f"offset {self.offset_ms} ms)", http_status=status, path=req.path)
        self._finish_error(req, exc)

    async def _resync_and_resend(self, req: _Request) -> None:
        try:
            await self.sync_clock()
        except Exception as exc:  # noqa: BLE001 - reported through the request's future
            self._finish_error(req, ClockSkewError(
                "40008", f"timestamp refused and the clock resync failed: {exc}", path=req.path))
            return
        req.conn = None
        self._dispatch(req)

    async def _keepalive_loop(self) -> None:
        """Every ``timeout_s``/8 (at most 1 s): time out requests, exercise idle connections."""
        period = min(self.timeout_s / 8, 1.0)
        last_ping = time.monotonic()
        while not self._closed:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self._conns):
                req = conn.req
                if req is not None and now - req.t_sent > self.timeout_s:
                    self._timed_out(req)
            if now - last_ping > KEEPALIVE_S / 4:
                last_ping = now
                for conn in [c for c in self._idle if now - c.last_used > KEEPALIVE_S]:
                    self._ping(conn)

    def _ping(self, conn: RestConnection) -> None:
        """A time request on this idle connection: keeps it open and refreshes the offset."""
        assert self._loop is not None
        self._idle.remove(conn)
        fut = self._loop.create_future()
        req = _Request("GET", TIME_PATH, "", b"", False, False, fut, _ServerTime)
        t0 = time.time_ns()

        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled() or f.exception() is not None:
                return
            t1 = time.time_ns()
            rtt = (t1 - t0) / 1e6
            if rtt <= max(2.0 * self.rtt_ms, 5.0):  # a slow sample says little about the offset
                self.offset_ms = int(f.result().serverTime) - (t0 + t1) // 2_000_000
        fut.add_done_callback(done)
        self._send(conn, req)


def decoder(tp: Any) -> Callable[[bytes], Any]:
    """A msgspec JSON decoder for ``tp`` (used for the reply types of the trading layer)."""
    return msgspec.json.Decoder(tp).decode
