"""Bitget's private WebSocket: login, the orders / fill / positions / account channels,
WebSocket order entry (``op: trade``), and reconnection that never loses an event.

Each (re)connection runs the same handshake: connect, log in and wait for the ack,
subscribe the four channels and wait for their acks, then call ``on_ready`` -- the
connector's REST reconciliation, which recovers whatever happened while the stream was
down. Pushes are handed to ``on_push(channel, rows)`` as they arrive, before and after
that point: the trackers they feed accept evidence in any order.

The connection uses the same Cython frame listener as market data
(``wire.BitgetListener``, no books routed), picows' automatic heartbeat with Bitget's
text ``ping``, and a send throttle under Bitget's 10 messages per second.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from picows import WSAutoPingStrategy, ws_connect

from bitget_fast._urls import require_secure
from bitget_fast.auth import Credentials
from bitget_fast.errors import (
    AuthenticationError,
    ConfigurationError,
    ExchangeError,
    OutcomeUnknownError,
    ProtocolError,
    RateLimitError,
    TransportError,
    exchange_error,
)
from bitget_fast.limits import RISK_REDUCING_PATHS, V2_MIX
from bitget_fast.models import StreamEvent
from bitget_fast.wire import BitgetListener, BookRouter

__all__ = ["PrivateStream", "PRIVATE_WS_URL", "DEMO_PRIVATE_WS_URL", "PRIVATE_CHANNELS"]

log = logging.getLogger("bitget_fast.private")

PRIVATE_WS_URL = "wss://ws.bitget.com/v2/ws/private"
"""Bitget's private WebSocket."""
DEMO_PRIVATE_WS_URL = "wss://wspap.bitget.com/v2/ws/private"
"""Bitget Demo Trading's private WebSocket."""
INST_TYPE = "USDT-FUTURES"
PRIVATE_CHANNELS = ("orders", "fill", "positions", "account")
"""The private channels subscribed after login."""
# Bitget's WS login error codes (protocol reference 3.2): the key itself is refused.
_LOGIN_CODES = frozenset(("30005", "30011", "30012", "30013", "30014", "30015"))
MAX_SENDS_PER_WINDOW = 10
SEND_WINDOW_S = 1.1


def _sub_args() -> list[dict[str, str]]:
    return [{"instType": INST_TYPE, "channel": ch,
             ("coin" if ch == "account" else "instId"): "default"} for ch in PRIVATE_CHANNELS]


class PrivateStream:
    """One logged-in private connection, kept up; see the module docstring."""

    def __init__(self, url: str, credentials: Credentials, *,
                 on_push: Callable[[str, list[dict[str, Any]]], None],
                 on_ready: Callable[[], Awaitable[None]],
                 on_event: Callable[[StreamEvent], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None, ping_interval_s: float = 25.0,
                 pong_timeout_s: float = 10.0, connect_timeout_s: float = 10.0,
                 reconnect_min_s: float = 0.2, reconnect_max_s: float = 10.0,
                 trade_timeout_s: float = 10.0, max_rate_wait_s: float = 1.0,
                 limiter: Any = None, allow_insecure: bool = False) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("ws", "wss"):
            raise ConfigurationError(f"url must be ws:// or wss://, not {url!r}")
        require_secure(url, allow_insecure, "private WebSocket")
        self.url = url
        self._creds = credentials
        self._on_push = on_push
        self._on_ready = on_ready
        self._on_event = on_event
        self._ssl = ssl_context
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.trade_timeout_s = trade_timeout_s
        self.max_rate_wait_s = max_rate_wait_s
        # WS trading shares the REST buckets (protocol reference 5): the REST client's limiter
        self._limiter = limiter
        self.transport: Any = None
        self._router = BookRouter()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._login: asyncio.Future[None] | None = None
        self._acks: dict[str, asyncio.Future[None]] = {}
        self._ready = asyncio.Event()
        self._ready_error: BaseException | None = None
        self._first: asyncio.Future[None] | None = None
        self._sent: deque[float] = deque()
        self._queue: deque[bytes] = deque()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._trades: dict[str, tuple[asyncio.Future[Any], asyncio.TimerHandle | None, str]] = {}
        # trade requests waiting for their endpoint's slot (shared with REST): not yet sent
        self._unsent: dict[str, asyncio.TimerHandle] = {}
        self._trade_ids = itertools.count(1)
        self.failure: BaseException | None = None
        self.counters = {"connects": 0, "disconnects": 0, "pushes": 0, "rejected": 0,
                         "logins": 0, "trade_requests": 0, "ready": 0}

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:
        """True while logged in, subscribed and reconciled."""
        return self._ready.is_set()

    async def start(self) -> None:
        """Connect and complete the first handshake (login, subscribe, reconcile)."""
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._task = loop.create_task(self._run())
        await self._first

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until the stream is logged in, subscribed and reconciled."""
        await asyncio.wait_for(self._ready.wait(), timeout_s)

    async def close(self) -> None:
        """Disconnect; trade requests in flight fail with :class:`TransportError`."""
        self._closing = True
        if self.transport is not None:
            self.transport.disconnect(graceful=False)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing
                pass
        self._fail_trades(TransportError("the private stream was closed"), unknown=True)

    def disconnect(self) -> None:
        """Drop the connection now (it reconnects by itself); for tests and operators."""
        if self.transport is not None:
            self.transport.disconnect(graceful=False)

    def _event(self, kind: str, detail: str) -> None:
        if self._on_event is not None:
            self._on_event(StreamEvent(kind, "", "private", detail, time.time_ns()))

    async def _run(self) -> None:
        delay = self.reconnect_min_s
        while not self._closing:
            started = time.monotonic()
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except AuthenticationError as exc:
                # the key is refused: retrying would only hammer Bitget with bad logins
                self.failure = exc
                self._event("error", str(exc))
                if self._first is not None and not self._first.done():
                    self._first.set_exception(exc)
                return
            except Exception as exc:  # noqa: BLE001 - any failure is retried after a pause
                log.warning("private stream: %s", exc)
                self._event("disconnected", f"{type(exc).__name__}: {exc}")
                if self._first is not None and not self._first.done() and \
                        not isinstance(exc, (TransportError, OSError, asyncio.TimeoutError)):
                    self._first.set_exception(exc)
                    return
            if self._closing:
                break
            if time.monotonic() - started > 30:
                delay = self.reconnect_min_s
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self.reconnect_max_s)

    async def _connect_once(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await ws_connect(
                lambda: BitgetListener(self, self._router, None), self.url,
                ssl_context=self._ssl, websocket_handshake_timeout=self.connect_timeout_s,
                enable_auto_ping=True, auto_ping_idle_timeout=self.ping_interval_s,
                auto_ping_reply_timeout=self.pong_timeout_s,
                auto_ping_strategy=WSAutoPingStrategy.PING_PERIODICALLY,
                logger_name="bitget_fast.private")
        except (OSError, asyncio.TimeoutError) as exc:
            raise TransportError(f"cannot connect to {self.url}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - picows' handshake errors
            raise TransportError(f"cannot connect to {self.url}: {exc}") from exc
        try:
            self._login = loop.create_future()
            self._send(self._creds.ws_login_message())
            await asyncio.wait_for(self._login, self.connect_timeout_s)
            self.counters["logins"] += 1
            self._acks = {ch: loop.create_future() for ch in PRIVATE_CHANNELS}
            self._send(orjson.dumps({"op": "subscribe", "args": _sub_args()}))
            await asyncio.wait_for(asyncio.gather(*self._acks.values()), self.connect_timeout_s)
            self._event("subscribed", "logged in; orders, fill, positions, account subscribed")
            await self._on_ready()
            self.counters["ready"] += 1
            self._ready.set()
            self._event("ready", "reconciled with REST")
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            await transport.wait_disconnected()
        except asyncio.TimeoutError as exc:
            raise TransportError("the private stream's login or subscription was not "
                                 f"acknowledged within {self.connect_timeout_s} s") from exc
        finally:
            self._ready.clear()
            transport.disconnect(graceful=False)
            try:
                await transport.wait_disconnected()
            except Exception:  # noqa: BLE001 - the error that closed it is already raising
                pass

    # ------------------------------------------------------------------ sending
    def _send(self, msg: bytes) -> None:
        self._queue.append(msg)
        self._flush()

    def _flush(self) -> None:
        self._flush_handle = None
        t = self.transport
        if t is None:
            self._queue.clear()
            return
        now = time.monotonic()
        while self._sent and now - self._sent[0] >= SEND_WINDOW_S:
            self._sent.popleft()
        while self._queue and len(self._sent) < MAX_SENDS_PER_WINDOW:
            t.send(1, self._queue.popleft())   # WSMsgType.TEXT
            self._sent.append(now)
        if self._queue and self._flush_handle is None:
            wait = self._sent[0] + SEND_WINDOW_S - now
            self._flush_handle = asyncio.get_running_loop().call_later(max(wait, 0.001), self._flush)

    def send_delay(self) -> float:
        """Seconds before one more message could leave (0: now)."""
        now = time.monotonic()
        while self._sent and now - self._sent[0] >= SEND_WINDOW_S:
            self._sent.popleft()
        if len(self._sent) + len(self._queue) < MAX_SENDS_PER_WINDOW:
            return 0.0
        return self._sent[0] + SEND_WINDOW_S * (1 + len(self._queue) // MAX_SENDS_PER_WINDOW) - now

    def trade(self, channel: str, symbol: str, params: dict[str, Any]) -> asyncio.Future[Any]:
        """Send one ``op: trade`` request (``place-order``/``cancel-order``); a future of its params.

        The future fails with the mapped :class:`ExchangeError` on an error reply, or
        :class:`OutcomeUnknownError` if the connection drops or no reply comes in time.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self.ready or self.transport is None:
            fut.set_exception(TransportError("the private stream is not connected: order not sent"))
            return fut
        path = V2_MIX + "order/" + channel
        bucket = self._limiter.delay(path, time.monotonic()) if self._limiter is not None else 0.0
        wait = max(bucket, self.send_delay())
        if wait > self.max_rate_wait_s and path not in RISK_REDUCING_PATHS:
            fut.set_exception(RateLimitError(
                "429", f"not sent: WS {channel} is over its rate limit for another {wait:.2f} s",
                path=f"ws:{channel}"))
            return fut
        rid = f"bf{next(self._trade_ids)}"
        msg = orjson.dumps({"op": "trade", "args": [{
            "id": rid, "instType": INST_TYPE, "instId": symbol, "channel": channel,
            "params": params}]})
        self.counters["trade_requests"] += 1
        self._trades[rid] = (fut, None, channel)   # its reply timer starts when it is written
        self._send_after(rid, path, msg, bucket)
        return fut

    def _send_after(self, rid: str, path: str, msg: bytes, wait: float) -> None:
        """Write trade request ``rid`` now (``wait`` 0: its slot in the endpoint's window,
        shared with REST, is counted) or look for a slot again in ``wait`` s."""
        loop = asyncio.get_running_loop()
        if wait > 0:
            self._unsent[rid] = loop.call_later(wait, self._retry_slot, rid, path, msg)
            return
        fut, _, channel = self._trades[rid]
        self._trades[rid] = (fut, loop.call_later(self.trade_timeout_s, self._trade_timeout, rid),
                             channel)
        self._send(msg)

    def _retry_slot(self, rid: str, path: str, msg: bytes) -> None:
        """A trade request's wait for its slot is over: send it if it is still wanted."""
        self._unsent.pop(rid, None)
        entry = self._trades.get(rid)
        if entry is None or entry[0].done():
            self._trades.pop(rid, None)
            return
        assert self._limiter is not None
        self._send_after(rid, path, msg, self._limiter.delay(path, time.monotonic()))

    def _trade_timeout(self, rid: str) -> None:
        entry = self._trades.pop(rid, None)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(OutcomeUnknownError(
                "timeout", f"no reply to WS {entry[2]} within {self.trade_timeout_s} s; "
                "reconcile by clientOid", path=f"ws:{entry[2]}"))

    def _fail_trades(self, exc: BaseException, *, unknown: bool) -> None:
        trades, self._trades = self._trades, {}
        unsent, self._unsent = self._unsent, {}
        for rid, (fut, timer, channel) in trades.items():
            if timer is not None:
                timer.cancel()
            if fut.done():
                continue
            handle = unsent.get(rid)
            if handle is not None:
                # still waiting for its rate-limit slot: it never left
                handle.cancel()
                fut.set_exception(TransportError(
                    f"not sent: the private stream dropped while WS {channel} waited for its "
                    "rate-limit slot"))
            else:
                fut.set_exception(OutcomeUnknownError(
                    "disconnected", f"the private stream dropped before the reply to WS {channel}; "
                    "reconcile by clientOid", path=f"ws:{channel}") if unknown else exc)

    # ------------------------------------------------------------------ listener session
    def _ws_connected(self, transport: Any) -> None:
        self.transport = transport
        self.counters["connects"] += 1
        self._sent.clear()
        self._queue.clear()
        self._event("connected", "private stream up")

    def _ws_disconnected(self) -> None:
        self.transport = None
        self.counters["disconnects"] += 1
        self._ready.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._fail_trades(TransportError("disconnected"), unknown=True)
        for f in (self._login, *self._acks.values()):
            if f is not None and not f.done():
                f.set_exception(TransportError("the private stream dropped during the handshake"))
        self._event("disconnected", "private stream down; reconnecting")

    def _send_ping(self) -> None:
        self._send(b"ping")

    def _ws_event(self, raw: bytes) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._ws_rejected(raw, ProtocolError("an event that is not JSON"), False)
            return
        event = msg.get("event")
        code = str(msg.get("code", "0"))
        arg = msg.get("arg")
        if event == "login":
            if code in ("0", "00000"):
                if self._login is not None and not self._login.done():
                    self._login.set_result(None)
                return
            self._login_failed(code, msg.get("msg", ""))
            return
        if event == "subscribe" and isinstance(arg, dict):
            fut = self._acks.get(str(arg.get("channel")))
            if fut is not None and not fut.done():
                fut.set_result(None)
            return
        if event in ("trade", "error") and isinstance(arg, list) and arg and isinstance(arg[0], dict) \
                and "id" in arg[0]:
            self._trade_reply(msg, arg[0], code)
            return
        if event == "error":
            if code in _LOGIN_CODES or code == "30004":
                self._login_failed(code, msg.get("msg", ""))
                return
            err = exchange_error(code, str(msg.get("msg", "")), path="ws:private")
            self._event("error", str(err))
            if isinstance(arg, dict) and str(arg.get("channel")) in self._acks:
                fut = self._acks[str(arg.get("channel"))]
                if not fut.done():
                    fut.set_exception(err)

    def _login_failed(self, code: str, text: str) -> None:
        err: ExchangeError = AuthenticationError(code, f"WebSocket login refused: {text}",
                                                 path="ws:login")
        if self._login is not None and not self._login.done():
            self._login.set_exception(err)
        else:
            self._event("error", str(err))

    def _trade_reply(self, msg: dict[str, Any], arg: dict[str, Any], code: str) -> None:
        rid = str(arg.get("id"))
        entry = self._trades.pop(rid, None)
        if entry is None:
            return
        fut, timer, channel = entry
        if timer is not None:
            timer.cancel()
        handle = self._unsent.pop(rid, None)
        if handle is not None:   # a reply to what we have not sent: it is not sent now
            handle.cancel()
        if fut.done():
            return
        if msg.get("event") == "trade" and code in ("0", "00000"):
            fut.set_result(arg.get("params") or {})
        else:
            fut.set_exception(exchange_error(code, str(msg.get("msg", "")), path=f"ws:{channel}",
                                             changes_orders=True))

    def _ws_push(self, channel: int, raw: bytes) -> None:
        try:
            msg = orjson.loads(raw)
            name = msg["arg"]["channel"]
            rows = msg.get("data") or []
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise TypeError("data is not a list of objects")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self._ws_rejected(raw, ProtocolError(f"a private push without the expected shape ({exc})"),
                              False)
            return
        self.counters["pushes"] += 1
        self._on_push(str(name), rows)

    def _ws_book_error(self, book: Any, exc: ProtocolError) -> None:  # no books on this stream
        self._ws_rejected(b"", exc, True)

    def _ws_rejected(self, raw: bytes, exc: ProtocolError, maybe_book: bool = False) -> None:
        self.counters["rejected"] += 1
        self._event("rejected", f"{exc} ({raw[:120]!r})")
        # a push we could not read may have carried an order change: reconcile by REST
        if self.transport is not None:
            log.warning("private stream: unreadable message (%s); reconnecting to reconcile", exc)
            self.transport.disconnect(graceful=False)

    def _ws_callback_error(self, exc: BaseException) -> None:
        self._ws_rejected(b"", ProtocolError(f"callback failed: {exc}"), False)
