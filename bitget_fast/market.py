"""Public market data: checked order books, trades and tickers over Bitget's WebSocket.

:class:`MarketData` owns one or more picows connections (``wire.BitgetListener``), spreads
the subscriptions over them (Bitget advises < 50 channels per connection), keeps each
under Bitget's limits (<= 10 messages/s including the text ``ping``; 240 subscribe or
unsubscribe requests per hour; requests <= 4096 bytes), reconnects with jittered back-off
and resubscribes. A book that fails a check (checksum, sequence, crossed, malformed
update) is marked invalid and resubscribed for a fresh snapshot, rationed so that the
hourly limit is never hit.

Usage::

    async with MarketData(["BTCUSDT"], on_book=lambda book: ...) as md:
        await md.wait_ready()
        async for trade in md.trades():
            ...
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
import orjson
from picows import WSAutoPingStrategy, WSMsgType, ws_connect

from bitget_fast._urls import is_loopback as _is_loopback
from bitget_fast._urls import require_secure
from bitget_fast.book import OrderBook
from bitget_fast.errors import (
    BookIntegrityError,
    ConfigurationError,
    ExchangeError,
    ProtocolError,
    TransportError,
)
from bitget_fast.models import StreamEvent, Ticker, Trade, tickers_from_push, trades_from_push
from bitget_fast.wire import BitgetListener, BookHandler, BookRouter

if TYPE_CHECKING:
    from bitget_fast.record import Recorder

__all__ = ["MarketData", "PUBLIC_WS_URL", "DEMO_PUBLIC_WS_URL", "check_reachable"]

log = logging.getLogger("bitget_fast.market")

PUBLIC_WS_URL = "wss://ws.bitget.com/v2/ws/public"
"""Bitget's public WebSocket."""
DEMO_PUBLIC_WS_URL = "wss://wspap.bitget.com/v2/ws/public"
"""Bitget Demo Trading's public WebSocket."""
INST_TYPE = "USDT-FUTURES"
BOOK_CHANNELS = ("books", "books1", "books5", "books15")

# Bitget's per-connection limits (protocol reference section 6.1).
MAX_SENDS_PER_WINDOW = 10        # <= 10 messages per second, "ping" included
SEND_WINDOW_S = 1.1              # a 10% margin: the server counts arrivals, which jitter bunches
SUBSCRIBE_REQUESTS_PER_HOUR = 240
SUBSCRIBE_RATION = SUBSCRIBE_REQUESTS_PER_HOUR - 4   # never spend the last few
MAX_REQUEST_BYTES = 4096
DEFAULT_CHANNELS_PER_CONNECTION = 50
MAX_CHANNELS_PER_CONNECTION = 1000
# Channel codes from the C router (bf_book.h).
_CH_TRADE, _CH_TICKER, _CH_OTHER = 100, 101, 102

_LISTENER_COUNTERS = ("frames", "book_messages", "dropped_book_messages", "pongs", "rejected")

_T = TypeVar("_T")


def _describe(exc: BaseException) -> str:
    """``Type: message`` (an ``ssl`` error's repr drops the reason its str has)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else repr(exc)


async def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`TransportError` saying why when ``url``'s host cannot be resolved or reached.

    A stream retries its connects forever; call this first to fail at once (and clearly)
    on a machine without network.
    """
    import socket

    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_s)
    except socket.gaierror as exc:
        raise TransportError(f"cannot resolve {host} ({exc.strerror}): is this machine "
                             "offline, or its DNS blocked?") from None
    except asyncio.TimeoutError:
        raise TransportError(f"looking up {host} took over {timeout_s:g} s: is this machine "
                             "offline?") from None
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except asyncio.TimeoutError:
        raise TransportError(f"no answer from {host}:{port} within {timeout_s:g} s (a "
                             "firewall, or no route out?)") from None
    except OSError as exc:
        raise TransportError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    writer.close()


class _Feed(Generic[_T]):
    """An async iterator over one kind of push, fed by the connections; bounded, drops oldest."""

    def __init__(self, owner: MarketData, kind: str, maxsize: int) -> None:
        self._owner = owner
        self._kind = kind
        self._items: deque[_T] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.dropped = 0

    def _put(self, item: _T) -> None:
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                self._owner._event("rejected", "", self._kind,
                                   f"{self.dropped} {self._kind} dropped: the consumer is slower "
                                   f"than the feed (queue of {self._maxsize})")
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _close(self) -> None:
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> _Feed[_T]:
        return self

    async def __anext__(self) -> _T:
        while not self._items:
            if self._closed:
                self._owner._forget_feed(self)
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    async def aclose(self) -> None:
        """Stop receiving (the iterator ends)."""
        self._close()
        self._owner._forget_feed(self)


class _Conn:
    """One WebSocket connection: its subscriptions, throttle, ration and resyncs."""

    def __init__(self, md: MarketData, index: int, args: list[dict[str, str]]) -> None:
        self.md = md
        self.index = index
        self.args = args
        self.keys = {(a["channel"], a["instId"]) for a in args}
        self.book_symbols = [a["instId"] for a in args if a["channel"] in BOOK_CHANNELS]
        self.transport: Any = None
        self.listener: BitgetListener | None = None
        self.task: asyncio.Task[None] | None = None
        # throttle (sends in the current window) and queue of messages waiting for it
        self.sent: deque[float] = deque()
        self.queue: deque[bytes] = deque()
        self.flush_handle: asyncio.TimerHandle | None = None
        # ration: times of subscribe/unsubscribe requests on this connection
        self.sub_times: deque[float] = deque()
        # resync state
        self.resync_pending: set[str] = set()
        self.resync_inflight: dict[str, float] = {}
        self.resync_history: dict[str, deque[float]] = {}
        self.resync_handle: asyncio.Handle | None = None
        self.connects = 0
        self.disconnects = 0
        # counters of the listeners of earlier connections (each connect has a new one)
        self.totals: dict[str, int] = dict.fromkeys(_LISTENER_COUNTERS, 0)

    # -- picows session interface (called by wire.BitgetListener) --------------------------

    def _ws_connected(self, transport: Any) -> None:
        self.transport = transport
        self.connects += 1
        self.sent.clear()
        self.queue.clear()
        self.sub_times.clear()  # the ration is per connection
        self.md._event("connected", "", "", f"connection {self.index} up", self.index)

    def _ws_disconnected(self) -> None:
        self.transport = None
        if self.listener is not None:
            for key in _LISTENER_COUNTERS:
                self.totals[key] += getattr(self.listener, key)
            self.listener = None
        self.disconnects += 1
        if self.flush_handle is not None:
            self.flush_handle.cancel()
            self.flush_handle = None
        self.queue.clear()
        self.resync_pending.clear()
        self.resync_inflight.clear()
        for symbol in self.book_symbols:
            book = self.md.books.get(symbol)
            if book is not None:
                book.invalidate()  # until the snapshot after the reconnect
        if not self.md._closing:
            self.md._event("disconnected", "", "", f"connection {self.index} lost; books "
                           "invalid until the resubscribe snapshot; reconnecting", self.index)

    def _send_ping(self) -> None:
        self.send(b"ping", first=True)

    def _ws_event(self, raw: bytes) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._ws_rejected(raw, ProtocolError(f"an event that is not JSON ({exc})"), True)
            return
        if not isinstance(msg, dict):
            self._ws_rejected(raw, ProtocolError("an event that is not a JSON object"), True)
            return
        event = msg.get("event")
        args = msg.get("arg")
        arg_list = args if isinstance(args, list) else [args] if isinstance(args, dict) else []
        if event == "subscribe":
            for arg in arg_list:
                key = (str(arg.get("channel")), str(arg.get("instId")))
                self.md._acked(key)
        elif event == "unsubscribe":
            pass
        elif event == "error":
            self.md.counters["error_events"] += 1
            code, text = msg.get("code"), str(msg.get("msg", ""))
            keys = [(str(a.get("channel")), str(a.get("instId"))) for a in arg_list]
            if not keys:  # no arg: find the subscriptions the message names
                keys = [k for k in self.keys if k[0] in text and k[1] in text]
            for key in keys:
                self.md._subscribe_failed(key, ExchangeError(
                    str(code), text, path=f"WebSocket subscribe {key[0]} {key[1]}"))
            self.md._event("error", keys[0][1] if len(keys) == 1 else "",
                           keys[0][0] if len(keys) == 1 else "",
                           f"Bitget error event {code}: {text}", self.index)
        else:
            self.md.counters["unknown_events"] += 1
            self.md._event("rejected", "", "", f"unknown event {event!r} ignored", self.index)

    def _ws_push(self, channel: int, raw: bytes) -> None:
        md = self.md
        try:
            if channel == _CH_TRADE:
                md._on_trades(trades_from_push(raw))
            elif channel == _CH_TICKER:
                for ticker in tickers_from_push(raw):
                    for feed in md._ticker_feeds:
                        feed._put(ticker)
            elif channel == _CH_OTHER and md._on_candles is not None:
                self._candle_push(raw)
            else:
                self._unexpected_push(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            self._ws_rejected(raw, ProtocolError(f"{'trade' if channel == _CH_TRADE else 'ticker'}"
                                                 f" push does not match Bitget's shape: {exc}"))

    def _unexpected_push(self, raw: bytes) -> None:
        self.md.counters["unexpected_pushes"] += 1
        self.md._event("rejected", "", "", "a push on a channel this connection did not "
                       f"subscribe to, dropped; excerpt {bytes(raw[:96])!r}", self.index)

    def _candle_push(self, raw: bytes) -> None:
        md = self.md
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._ws_rejected(raw, ProtocolError(f"a candle push that is not JSON ({exc})"))
            return
        arg = msg.get("arg") if isinstance(msg, dict) else None
        ch = arg.get("channel") if isinstance(arg, dict) else None
        inst = arg.get("instId") if isinstance(arg, dict) else None
        if (ch, inst) not in self.keys or not isinstance(ch, str) or not ch.startswith("candle"):
            self._unexpected_push(raw)
            return
        md.counters["candle_pushes"] += 1
        action = msg.get("action")
        assert md._on_candles is not None
        try:
            md._on_candles(inst, ch, action if isinstance(action, str) else "",
                           msg.get("data"))
        except Exception as exc:  # noqa: BLE001 - the stream stops, the caller sees it
            md._callback_failed(exc)

    def _ws_book_error(self, book: OrderBook, exc: ProtocolError) -> None:
        md = self.md
        symbol = book.symbol
        integrity = isinstance(exc, BookIntegrityError)
        md.counters["integrity_errors" if integrity else "rejected_book_messages"] += 1
        if not integrity:
            if symbol in self.resync_inflight:
                return  # already resubscribing; the snapshot will replace everything
            book.invalidate()  # a lost update: the book can no longer be trusted
        self.resync_inflight.pop(symbol, None)
        md._event("integrity", symbol, str(exc.channel or md.book_channel),
                  f"{type(exc).__name__}: {exc}", self.index)
        self.resync_pending.add(symbol)
        self._schedule_resync(0.0)

    def _ws_rejected(self, raw: bytes, exc: ProtocolError, maybe_book: bool = False) -> None:
        self.md.counters["rejected_messages"] += 1
        self.md._event("rejected", "", "", f"{exc}; excerpt {bytes(raw[:96])!r}", self.index)
        if not maybe_book:
            return
        # A message that could not even be routed may have been an update of any book on
        # this connection: none of them can be trusted until a fresh snapshot.
        for symbol in self.book_symbols:
            book = self.md.books[symbol]
            if symbol not in self.resync_inflight and book.is_valid:
                book.invalidate()
                self.resync_pending.add(symbol)
        if self.resync_pending:
            self._schedule_resync(0.0)

    def _ws_callback_error(self, exc: BaseException) -> None:
        self.md._callback_failed(exc)

    # -- sending ------------------------------------------------------------------------

    def send(self, msg: bytes, *, first: bool = False) -> None:
        """Queue a text message; it leaves as soon as the 10/s throttle allows."""
        if self.transport is None:
            return
        if first:
            self.queue.appendleft(msg)
        else:
            self.queue.append(msg)
        self._flush()

    def _flush(self) -> None:
        self.flush_handle = None
        transport = self.transport
        if transport is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        sent = self.sent
        while self.queue:
            while sent and now - sent[0] >= SEND_WINDOW_S:
                sent.popleft()
            if len(sent) >= MAX_SENDS_PER_WINDOW:
                self.flush_handle = loop.call_at(sent[0] + SEND_WINDOW_S, self._flush)
                return
            msg = self.queue.popleft()
            transport.send(WSMsgType.TEXT, msg)
            sent.append(now)
            if self.md.recorder is not None:
                self.md.recorder.note_sent(self.index, msg)

    def _ration_left(self, now: float) -> int:
        while self.sub_times and now - self.sub_times[0] >= 3600.0:
            self.sub_times.popleft()
        return self.md.subscribe_ration - len(self.sub_times)

    def _requests(self, op: str, args: list[dict[str, str]]) -> list[bytes]:
        """``op`` requests carrying ``args``, each <= 4096 bytes (sizes summed, not re-dumped)."""
        empty = len(orjson.dumps({"op": op, "args": []}))
        out: list[bytes] = []
        batch: list[dict[str, str]] = []
        size = empty
        for arg in args:
            n = len(orjson.dumps(arg)) + (1 if batch else 0)   # "," between args
            if batch and size + n > MAX_REQUEST_BYTES:
                out.append(orjson.dumps({"op": op, "args": batch}))
                batch, size, n = [], empty, n - 1
            batch.append(arg)
            size += n
        if batch:
            out.append(orjson.dumps({"op": op, "args": batch}))
        return out

    def _send_requests(self, requests: list[bytes]) -> None:
        now = asyncio.get_running_loop().time()
        for req in requests:
            self.sub_times.append(now)
            self.send(req)

    def subscribe_all(self) -> None:
        self._send_requests(self._requests("subscribe", self.args))

    # -- resync -------------------------------------------------------------------------

    def _schedule_resync(self, delay: float) -> None:
        if self.resync_handle is not None:
            return
        loop = asyncio.get_running_loop()
        self.resync_handle = (loop.call_soon(self._run_resyncs) if delay <= 0
                              else loop.call_later(delay, self._run_resyncs))

    def _run_resyncs(self) -> None:
        self.resync_handle = None
        md = self.md
        if self.transport is None or md._closing:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due: list[str] = []
        wait = float("inf")
        for symbol in sorted(self.resync_pending):
            history = self.resync_history.setdefault(symbol, deque())
            while history and now - history[0] > md.resync_backoff_window_s:
                history.popleft()
            # The first resync of a book goes at once; repeats back off (1, 2, 4 ... 60 s)
            # so a broken feed cannot spend the hourly ration in a loop.
            delay = 0.0 if not history else min(md.resync_backoff_max_s, 2.0 ** (len(history) - 1))
            ready_at = history[-1] + delay if history else now
            if ready_at <= now:
                due.append(symbol)
            else:
                wait = min(wait, ready_at - now)
        if due:
            args = [{"instType": INST_TYPE, "channel": md.book_channel, "instId": s} for s in due]
            unsub, sub = self._requests("unsubscribe", args), self._requests("subscribe", args)
            left = self._ration_left(now)
            if left < len(unsub) + len(sub):
                retry = self.sub_times[0] + 3600.0 - now if self.sub_times else 1.0
                md.counters["resyncs_deferred"] += 1
                md._event("resync_deferred", ",".join(due), md.book_channel,
                          f"the hourly ration of {SUBSCRIBE_REQUESTS_PER_HOUR} subscribe "
                          f"requests on connection {self.index} is spent; resync in "
                          f"{retry:.0f} s", self.index)
                wait = min(wait, max(retry, 0.05))
            else:
                self._send_requests(unsub + sub)
                for symbol in due:
                    self.resync_pending.discard(symbol)
                    self.resync_history[symbol].append(now)
                    self.resync_inflight[symbol] = now + md.resync_timeout_s
                md.counters["resyncs"] += len(due)
                md._event("resync", ",".join(due), md.book_channel,
                          f"unsubscribe + subscribe sent for a fresh snapshot "
                          f"({self._ration_left(now)} subscribe requests left this hour)",
                          self.index)
                loop.call_later(md.resync_timeout_s, self._check_resyncs)
        if self.resync_pending and wait != float("inf"):
            self._schedule_resync(wait)

    def _check_resyncs(self) -> None:
        """A resync whose snapshot never came (or failed) is tried again."""
        if self.transport is None:
            return
        now = asyncio.get_running_loop().time()
        for symbol, deadline in list(self.resync_inflight.items()):
            if deadline > now + 1e-3:
                continue
            del self.resync_inflight[symbol]
            if not self.md.books[symbol].is_valid:
                self.md._event("integrity", symbol, self.md.book_channel,
                               f"no valid snapshot {self.md.resync_timeout_s} s after the "
                               "resubscribe; trying again", self.index)
                self.resync_pending.add(symbol)
        if self.resync_pending:
            self._schedule_resync(0.0)

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        md = self.md
        delay = md.reconnect_min_s
        while not md._closing:
            started = time.monotonic()
            try:
                transport, _ = await ws_connect(
                    self._make_listener, md.url, ssl_context=md._ssl_context,
                    websocket_handshake_timeout=md.connect_timeout_s,
                    enable_auto_ping=True, auto_ping_idle_timeout=md.ping_interval_s,
                    auto_ping_reply_timeout=md.pong_timeout_s,
                    auto_ping_strategy=WSAutoPingStrategy.PING_PERIODICALLY,
                    logger_name=f"bitget_fast.{self.index}",
                    max_frame_size=md.max_frame_bytes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any connect failure is retried
                md._connect_failed(self, exc)
            else:
                self.subscribe_all()
                try:
                    await transport.wait_disconnected()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - reconnect whatever closed it
                    # picows re-raises here the protocol error it closed the connection on
                    # (a frame over max_frame_bytes, a bad frame header): reconnect as after
                    # any other loss; without this the reconnect loop ended with it
                    md.counters["protocol_errors"] += 1
                    log.warning("public connection %d closed on a WebSocket protocol error: "
                                "%s; reconnecting", self.index, _describe(exc))
                if time.monotonic() - started > md.reconnect_reset_after_s:
                    delay = md.reconnect_min_s
            if md._closing:
                break
            md.counters["reconnects"] += 1
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, md.reconnect_max_s)

    def _make_listener(self) -> BitgetListener:
        rec = self.md.recorder
        self.listener = BitgetListener(self, self.md.router, self.md._on_book,
                                       rec.log if rec is not None else None, self.index & 0xFF)
        return self.listener

    def disconnect(self) -> None:
        if self.transport is not None:
            self.transport.disconnect(graceful=False)


class MarketData:
    """Checked order books, trades and tickers of some USDT-M symbols, kept live.

    ``async with MarketData(symbols, ...) as md`` connects, subscribes and waits for every
    subscription's ack (raising :class:`ExchangeError` for a refused one and
    :class:`TransportError` when nothing answers within ``subscribe_timeout_s``).

    * ``on_book(book)``: a sync callable (or a :class:`~bitget_fast.wire.BookHandler`)
      called after every applied book message, on the event loop; keep it short. An
      exception in it stops the stream and is re-raised from :meth:`wait` / the ``async
      with`` block.
    * ``on_event(event)``: a sync callable receiving every :class:`StreamEvent`
      (integrity failures, resyncs, reconnects, rejected messages); they are also kept in
      :attr:`events` (the last 1000) and logged on ``bitget_fast.market``.
    * ``book_channel``: ``"books"`` (full depth, checksummed updates) or ``"books1"``,
      ``"books5"``, ``"books15"`` (snapshots of the top N); ``None``: no books.
    * ``candles``: candle channels (``"candle1m"``, ``"candle1H"``... protocol reference 7.5)
      to subscribe for every symbol; each push's ``data`` goes, unchecked, to
      ``on_candles(symbol, channel, action, data)`` (a sync callable, on the event loop).
      :class:`~bitget_fast.candles.CandleFeed` is what reads them.
    * ``strict_seq``: every ``seq`` must follow its predecessor by 1; ``None`` (default)
      turns it on for loopback URLs (the simulator, which sends contiguous ``seq``) only.
    * ``subscribe_ration``: subscribe + unsubscribe requests one connection may send per
      rolling hour (Bitget allows 240; the default keeps 4 spare). Resyncs beyond it wait.
    * ``recorder``: a :class:`~bitget_fast.record.Recorder` that keeps every frame received
      (with its receive time) and every message sent, for :class:`~bitget_fast.record.Replayer`.
      The stream starts it; closing the stream flushes it; the caller closes it.
    * ``allow_insecure``: accept a plain ``ws://`` URL to a host that is not loopback
      (refused by default).
    """

    def __init__(self, symbols: Iterable[str], *, book_channel: str | None = "books",
                 trades: bool = False, tickers: bool = False, candles: Iterable[str] = (),
                 on_candles: Callable[[str, str, str, Any], Any] | None = None,
                 on_book: Callable[[OrderBook], Any] | BookHandler | None = None,
                 on_event: Callable[[StreamEvent], Any] | None = None,
                 url: str | None = None, demo: bool = False,
                 ssl_context: ssl.SSLContext | None = None,
                 channels_per_connection: int = DEFAULT_CHANNELS_PER_CONNECTION,
                 strict_seq: bool | None = None,
                 price_places: dict[str, int] | None = None,
                 ping_interval_s: float = 25.0, pong_timeout_s: float = 10.0,
                 connect_timeout_s: float = 10.0, subscribe_timeout_s: float = 15.0,
                 reconnect_min_s: float = 0.25, reconnect_max_s: float = 30.0,
                 reconnect_reset_after_s: float = 30.0, resync_timeout_s: float = 10.0,
                 resync_backoff_window_s: float = 300.0, resync_backoff_max_s: float = 60.0,
                 subscribe_ration: int = SUBSCRIBE_RATION,
                 queue_size: int = 100_000, max_frame_bytes: int = 16 << 20,
                 recorder: Recorder | None = None, allow_insecure: bool = False) -> None:
        syms = list(dict.fromkeys(symbols))
        if not syms or not all(isinstance(s, str) and s for s in syms):
            raise ConfigurationError(f"symbols must be non-empty strings, got {syms!r}")
        if book_channel is not None and book_channel not in BOOK_CHANNELS:
            raise ConfigurationError(f"book_channel must be one of {BOOK_CHANNELS} or None, not "
                                     f"{book_channel!r}")
        candle_channels = list(dict.fromkeys(candles))
        for ch in candle_channels:
            if not isinstance(ch, str) or not ch.startswith("candle") or len(ch) > 16:
                raise ConfigurationError(f"not a candle channel: {ch!r} (e.g. 'candle1m')")
        if candle_channels and on_candles is None:
            raise ConfigurationError("candles=[...] needs on_candles to receive them")
        if book_channel is None and not (trades or tickers or candle_channels):
            raise ConfigurationError("nothing to subscribe: no book channel, trades, tickers "
                                     "or candles")
        if not 1 <= channels_per_connection <= MAX_CHANNELS_PER_CONNECTION:
            raise ConfigurationError("channels_per_connection must be 1 to "
                                     f"{MAX_CHANNELS_PER_CONNECTION}")
        if on_book is not None and not callable(on_book) and not isinstance(on_book, BookHandler):
            raise ConfigurationError("on_book must be a callable or a BookHandler")
        self.url = url or (DEMO_PUBLIC_WS_URL if demo else PUBLIC_WS_URL)
        scheme = urllib.parse.urlsplit(self.url).scheme
        if scheme not in ("ws", "wss"):
            raise ConfigurationError(f"url must be ws:// or wss://, not {self.url!r}")
        require_secure(self.url, allow_insecure, "public WebSocket")
        self.symbols = syms
        self.book_channel = book_channel
        self.strict_seq = _is_loopback(self.url) if strict_seq is None else bool(strict_seq)
        self._ssl_context = ssl_context if scheme == "wss" else None
        if not 0 < pong_timeout_s <= ping_interval_s:
            raise ConfigurationError("pong_timeout_s must be > 0 and <= ping_interval_s "
                                     f"(got {pong_timeout_s} and {ping_interval_s})")
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.subscribe_timeout_s = subscribe_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.reconnect_reset_after_s = reconnect_reset_after_s
        self.resync_timeout_s = resync_timeout_s
        self.resync_backoff_window_s = resync_backoff_window_s
        self.resync_backoff_max_s = resync_backoff_max_s
        self.max_frame_bytes = max_frame_bytes
        if not 3 <= subscribe_ration <= SUBSCRIBE_REQUESTS_PER_HOUR:
            raise ConfigurationError("subscribe_ration must be 3 to "
                                     f"{SUBSCRIBE_REQUESTS_PER_HOUR} requests per hour")
        self.subscribe_ration = subscribe_ration
        self._on_book = on_book
        self._on_user_event = on_event
        self.recorder = recorder
        self._trades_on = trades
        self._tickers_on = tickers
        self._candle_channels = candle_channels
        self._on_candles = on_candles
        self._channels_per_connection = channels_per_connection
        self._queue_size = queue_size
        places = price_places or {}
        self.router = BookRouter()
        #: symbol -> its :class:`OrderBook` (read it any time; check ``is_valid``).
        self.books: dict[str, OrderBook] = {}
        for s in syms if book_channel is not None else ():
            book = OrderBook(s, price_place=places.get(s), strict_seq=self.strict_seq)
            self.books[s] = book
            self.router.add(book)
        #: The last 1000 :class:`StreamEvent` s.
        self.events: deque[StreamEvent] = deque(maxlen=1000)
        self.counters: dict[str, int] = dict.fromkeys(
            ("integrity_errors", "rejected_book_messages", "rejected_messages", "resyncs",
             "resyncs_deferred", "reconnects", "unexpected_pushes", "error_events",
             "unknown_events", "protocol_errors", "trades_duplicate", "candle_pushes"), 0)
        args = []
        for s in syms:
            if book_channel is not None:
                args.append({"instType": INST_TYPE, "channel": book_channel, "instId": s})
            for ch in candle_channels:
                args.append({"instType": INST_TYPE, "channel": ch, "instId": s})
            if trades:
                args.append({"instType": INST_TYPE, "channel": "trade", "instId": s})
            if tickers:
                args.append({"instType": INST_TYPE, "channel": "ticker", "instId": s})
        n = channels_per_connection
        self._conns = [_Conn(self, i, args[j:j + n]) for i, j in enumerate(range(0, len(args), n))]
        self._trade_feeds: list[_Feed[Trade]] = []
        self._ticker_feeds: list[_Feed[Ticker]] = []
        self._seen_trades: dict[str, dict[str, None]] = {s: {} for s in syms}
        self._pending: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._closing = False
        self._closed: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._last_connect_error: BaseException | None = None

    # -- public API -----------------------------------------------------------------------

    def book(self, symbol: str) -> OrderBook:
        """The :class:`OrderBook` of ``symbol`` (check ``is_valid`` before trusting it)."""
        try:
            return self.books[symbol]
        except KeyError:
            raise KeyError(f"{symbol!r} is not one of this stream's symbols "
                           f"{self.symbols}") from None

    @property
    def connections(self) -> int:
        """How many WebSocket connections the subscriptions are spread over."""
        return len(self._conns)

    def stats(self) -> dict[str, int]:
        """Counters: frames, book messages, drops, rejects, resyncs, reconnects."""
        out = dict(self.counters)
        for key in _LISTENER_COUNTERS:
            out[key] = sum(c.totals[key] + (getattr(c.listener, key) if c.listener else 0)
                           for c in self._conns)
        out["connects"] = sum(c.connects for c in self._conns)
        out["trades_dropped"] = sum(f.dropped for f in self._trade_feeds)
        out["tickers_dropped"] = sum(f.dropped for f in self._ticker_feeds)
        return out

    def trades(self) -> _Feed[Trade]:
        """An async iterator of :class:`Trade` s (oldest first, deduplicated by trade id)."""
        if not any(a["channel"] == "trade" for c in self._conns for a in c.args):
            raise ConfigurationError("this stream was created without trades=True")
        feed: _Feed[Trade] = _Feed(self, "trades", self._queue_size)
        self._trade_feeds.append(feed)
        return feed

    def tickers(self) -> _Feed[Ticker]:
        """An async iterator of :class:`Ticker` s (mark, index, funding rate and time)."""
        if not any(a["channel"] == "ticker" for c in self._conns for a in c.args):
            raise ConfigurationError("this stream was created without tickers=True")
        feed: _Feed[Ticker] = _Feed(self, "tickers", self._queue_size)
        self._ticker_feeds.append(feed)
        return feed

    async def start(self) -> None:
        """Connect and subscribe; returns once every subscription is acknowledged."""
        if self._closed is not None:
            raise RuntimeError("a MarketData stream can be started once")
        self._closed = asyncio.Event()
        loop = asyncio.get_running_loop()
        if self.recorder is not None:
            self.recorder.begin(self.recording_meta())
        for c in self._conns:
            for a in c.args:
                self._pending[(a["channel"], a["instId"])] = loop.create_future()
        for c in self._conns:
            c.task = asyncio.create_task(c.run(), name=f"bitget_fast-ws-{c.index}")
        futures = list(self._pending.values())
        try:
            done, _ = await asyncio.wait(futures, timeout=self.subscribe_timeout_s)
            for f in done:
                if f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
            if len(done) < len(futures):
                missing = sorted(k for k, f in self._pending.items() if not f.done())
                why = f" (last connect error: {_describe(self._last_connect_error)})" \
                    if self._last_connect_error else ""
                raise TransportError(
                    f"{len(missing)} of {len(futures)} subscriptions not acknowledged within "
                    f"{self.subscribe_timeout_s} s on {self.url}, e.g. {missing[:3]}{why}")
        except BaseException:
            await self.close()
            raise

    def recording_meta(self) -> dict[str, Any]:
        """What a recording of this stream says about it (its file headers)."""
        return {"url": self.url, "symbols": self.symbols, "book_channel": self.book_channel,
                "trades": self._trades_on, "tickers": self._tickers_on,
                "candles": self._candle_channels,
                "strict_seq": self.strict_seq,
                "channels_per_connection": self._channels_per_connection,
                "connections": len(self._conns), "started_ns": time.time_ns()}

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until every book holds a valid snapshot; TimeoutError names the ones that do not."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not all(b.is_valid for b in self.books.values()):
            self._raise_failure()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("books not valid after "
                                   f"{timeout_s} s: {[s for s, b in self.books.items() if not b.is_valid]}")
            await asyncio.sleep(0.005)

    async def wait(self) -> None:
        """Run until :meth:`close`; re-raises an exception from a user callback."""
        if self._closed is None:
            raise RuntimeError("start the stream first")
        await self._closed.wait()
        self._raise_failure()

    async def close(self) -> None:
        """Disconnect every connection and end the trade/ticker iterators."""
        if self._closing:
            if self._closed is not None:
                await self._closed.wait()
            return
        self._closing = True
        for c in self._conns:
            if c.listener is not None:
                c.listener.recorder = None  # closing is not a connection loss: not recorded
            c.disconnect()
        tasks = [c.task for c in self._conns if c.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for feed in self._trade_feeds + self._ticker_feeds:
            feed._close()
        if self.recorder is not None:
            try:
                self.recorder.flush()
            except RuntimeError:
                pass  # the recorder was closed first
        for f in self._pending.values():
            if not f.done():
                f.cancel()
        if self._closed is not None:
            self._closed.set()

    async def __aenter__(self) -> MarketData:
        await self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()
        if exc_type is None:
            self._raise_failure()

    def __repr__(self) -> str:
        valid = sum(b.is_valid for b in self.books.values())
        return (f"<MarketData {self.book_channel} {len(self.books)} symbols, {valid} valid, "
                f"{len(self._conns)} connections, url={self.url}>")

    # -- internal -------------------------------------------------------------------------

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _event(self, kind: str, symbol: str, channel: str, detail: str, conn: int = 0) -> None:
        ev = StreamEvent(kind, symbol, channel, detail, time.time_ns(), conn)
        self.events.append(ev)
        level = logging.WARNING if kind in ("integrity", "resync_deferred", "rejected",
                                            "error") else logging.INFO
        log.log(level, "%s %s %s: %s", kind, symbol, channel, detail)
        if self._on_user_event is not None:
            try:
                self._on_user_event(ev)
            except Exception as exc:  # noqa: BLE001 - the stream stops, the caller sees it
                self._callback_failed(exc)

    def _acked(self, key: tuple[str, str]) -> None:
        f = self._pending.get(key)
        if f is not None and not f.done():
            f.set_result(None)

    def _subscribe_failed(self, key: tuple[str, str], exc: ExchangeError) -> None:
        f = self._pending.get(key)
        if f is not None and not f.done():
            f.set_exception(exc)

    def _connect_failed(self, conn: _Conn, exc: BaseException) -> None:
        self._last_connect_error = exc
        self._event("disconnected", "", "", f"connection {conn.index} could not connect to "
                    f"{self.url}: {_describe(exc)}; retrying", conn.index)

    def _callback_failed(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            log.error("a user callback raised %r: stopping the stream", exc)
            asyncio.get_running_loop().create_task(self.close())

    def _on_trades(self, trades: list[Trade]) -> None:
        for t in trades:
            seen = self._seen_trades.get(t.symbol)
            if seen is None:
                continue
            if t.trade_id in seen:
                self.counters["trades_duplicate"] += 1
                continue
            seen[t.trade_id] = None
            if len(seen) > 4096:
                del seen[next(iter(seen))]
            for feed in self._trade_feeds:
                feed._put(t)

    def _forget_feed(self, feed: _Feed[Any]) -> None:
        for feeds in (self._trade_feeds, self._ticker_feeds):
            if feed in feeds:
                feeds.remove(feed)
