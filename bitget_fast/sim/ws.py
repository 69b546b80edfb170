"""The simulator's WebSocket side on picows: ``/v2/ws/public`` and ``/v2/ws/private``.

Implements :class:`~bitget_fast.sim.engine.EngineListener`: book changes become ``books``
updates (seq +1 per change, checksum of the top 25 from :func:`reference.checksum`),
``books1/5/15`` snapshots when their levels change, ``trade`` and ``ticker`` pushes,
``candle<interval>`` snapshots and updates (from the sweep tick, at most one per channel per
tick), and private ``orders``/``fill``/``positions``/``account`` pushes for logged-in connections.
Bitget's limits are enforced: 10 inbound messages/s per connection (more closes it),
240 subscribe requests per hour and 1000 channels per connection, requests <= 4096 bytes,
100 connections per IP, and no ``ping`` for ``idle_timeout_s`` closes the connection.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from bisect import bisect_left
from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest

from ..intervals import INTERVALS, Interval, candle_start
from . import reference
from .contracts import PRODUCT_TYPE, fixed, fmt_units
from .engine import Account, Market, SimError

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["WsHub", "Conn", "answer_control", "BOOK_CHANNELS", "PUBLIC_CHANNELS", "PRIVATE_CHANNELS",
           "CANDLE_CHANNELS", "CANDLE_SNAPSHOT_ROWS"]

_log = logging.getLogger("bitget_fast.sim.ws")

BOOK_CHANNELS = {"books": 0, "books1": 1, "books5": 5, "books15": 15}
CANDLE_CHANNELS: dict[str, Interval] = {iv.ws_channel: iv for iv in INTERVALS.values()
                                        if iv.ws_channel is not None}
"""``candle<interval>`` channel -> its interval (market candles; no 3m, no 2H on Bitget's WS)."""
PUBLIC_CHANNELS = frozenset(BOOK_CHANNELS) | {"trade", "ticker"} | frozenset(CANDLE_CHANNELS)
CANDLE_SNAPSHOT_ROWS = 1000
"""Rows in a candle channel's snapshot, the last one in progress (undocumented; the real V1
recording in tests/fixtures has snapshots of 1000 rows)."""
PRIVATE_CHANNELS = frozenset({"orders", "fill", "positions", "account"})
CHECKSUM_DEPTH = 25
SNAPSHOT_DEPTH = 400           # levels per side in a books snapshot (UNCERTAIN on Bitget: "full")
MAX_IN_PER_S = 10
MAX_SUBSCRIBES_PER_H = 240
MAX_CHANNELS = 1000
MAX_REQUEST_BYTES = 4096
MAX_CONNS_PER_IP = 100
SLOW_CONSUMER_BYTES = 64 << 20   # a connection with more unread output than this is dropped
TRADE_SNAPSHOT = 50
# WS login: accept seconds (what clients send) or milliseconds (the doc's prose); 30 s window.
LOGIN_WINDOW_S = 30


class _MarketFeed:
    """Per-symbol push state: subscribers, the pushed levels as strings, faults.

    The level strings are kept in sorted parallel lists (prices ascending on both sides)
    that mirror the matching book, so the top 25 for the checksum is two slices.
    """

    __slots__ = ("market", "subs", "bp", "bs", "ap", "as_", "last_cs", "last_top", "corrupt",
                 "skip_top", "skip_deep", "ticker_dirty", "arg_cache", "pstr", "books_head",
                 "books_subs", "candle_dirty", "candle_last")

    def __init__(self, market: Market) -> None:
        self.market = market
        self.subs: dict[str, set[Conn]] = {ch: set() for ch in PUBLIC_CHANNELS}
        self.books_subs = self.subs["books"]     # the same set, without a dict lookup per push
        self.bp: list[int] = []        # bid prices, ascending
        self.bs: list[str] = []        # "price:size" of each, exactly as pushed
        self.ap: list[int] = []
        self.as_: list[str] = []
        self.pstr: dict[int, str] = {}
        self.last_cs = 0
        self.last_top: dict[str, str] = {}
        self.corrupt = 0
        self.skip_top = 0
        self.skip_deep = 0
        self.ticker_dirty = True
        self.candle_dirty = False      # trades since the last candle pushes
        # candle channel -> (start, row) of the in-progress candle last pushed to its subscribers
        self.candle_last: dict[str, tuple[int, list[str]]] = {}
        self.arg_cache = {ch: b'{"instType":"USDT-FUTURES","channel":"%s","instId":"%s"}'
                          % (ch.encode(), market.symbol.encode()) for ch in PUBLIC_CHANNELS}
        self.books_head = ('{"action":"update","arg":' + self.arg_cache["books"].decode()
                           + ',"data":[{"asks":[')

    def rebuild(self) -> None:
        """Rebuild the level strings from the matching book."""
        m = self.market
        spec = m.spec
        self.bp = list(m.bids.prices)
        self.bs = [f"{spec.price_str(p)}:{spec.size_str(m.bids.levels[p][0])}" for p in self.bp]
        self.ap = list(m.asks.prices)
        self.as_ = [f"{spec.price_str(p)}:{spec.size_str(m.asks.levels[p][0])}" for p in self.ap]
        self.last_cs = self.checksum()

    def price(self, p: int) -> str:
        """The price string of ``p`` (cached: prices repeat)."""
        s = self.pstr[p] = self.market.spec.price_str(p)
        return s

    @property
    def depth_subs(self) -> bool:
        """Whether anybody is subscribed to books1/5/15."""
        subs = self.subs
        return bool(subs["books1"] or subs["books5"] or subs["books15"])

    def top_joined(self, n: int) -> tuple[list[str], list[str]]:
        """The best ``n`` levels of each side as "price:size", best first."""
        bs = self.bs
        return (bs[:-n - 1:-1] if n < len(bs) else bs[::-1]), self.as_[:n]

    def top(self, n: int) -> tuple[list[list[str]], list[list[str]]]:
        """The best ``n`` levels of each side as [price, size] pairs, best first."""
        b, a = self.top_joined(n)
        return [x.split(":") for x in b], [x.split(":") for x in a]

    def checksum(self) -> int:
        """Bitget's checksum of the pushed book (reference.checksum_joined of the top 25)."""
        bs = self.bs
        return reference.checksum_joined(bs[:-CHECKSUM_DEPTH - 1:-1], self.as_[:CHECKSUM_DEPTH])


def _levels_json(levels: list[list[str]]) -> bytes:
    if not levels:
        return b"[]"
    return ("[" + ",".join([f'["{p}","{s}"]' for p, s in levels]) + "]").encode()


def _apply_side(f: _MarketFeed, changes: dict[int, int], prices: list[int], strs: list[str],
                bids: bool, vp: int) -> list[str]:
    """Mirror one side's changed levels into the feed's sorted lists; the "p:s" of each, best first."""
    pstr = f.pstr
    out = []
    for p in (sorted(changes, reverse=bids) if len(changes) > 1 else changes):
        q = changes[p]
        t = (pstr.get(p) or f.price(p)) + ":" + fmt_units(q, vp)
        out.append(t)
        i = bisect_left(prices, p)
        if i < len(prices) and prices[i] == p:
            if q:
                strs[i] = t
            else:
                del prices[i]
                del strs[i]
        elif q:
            prices.insert(i, p)
            strs.insert(i, t)
    return out


def _joined_json(levels: list[str]) -> str:
    """'["p","s"],["p","s"]' from "p:s" strings (prices and sizes hold no ':' or quote)."""
    if not levels:
        return ""
    return ('["' + '"],["'.join(levels) + '"]').replace(":", '","')


def answer_control(transport: WSTransport, frame: WSFrame) -> bool:
    """A server's answer to a frame that is not a request: a CLOSE is echoed with the peer's
    code (picows reads "no code" as 0, which is no valid code to send) and the connection
    ended. True when there is nothing more to do with ``frame`` (not text or binary)."""
    if frame.msg_type == WSMsgType.CLOSE:
        code = frame.get_close_code()
        transport.send_close(code if code != WSCloseCode.NO_INFO else WSCloseCode.OK)
        transport.disconnect()
        return True
    return frame.msg_type not in (WSMsgType.TEXT, WSMsgType.BINARY)


class Conn(WSListener):  # type: ignore[misc]
    """One WebSocket connection (public or private)."""

    def __init__(self, hub: "WsHub", private: bool) -> None:
        super().__init__()
        self.hub = hub
        self.private = private
        self.transport: WSTransport | None = None
        self.peer = ""
        self.inbound: deque[float] = deque()
        self.subscribe_times: deque[float] = deque()
        self.channels: set[tuple[str, str]] = set()
        self.account: Account | None = None
        self.priv_args: dict[str, set[str]] = {}     # channel -> instIds ("default" or symbols)
        self.last_ping = time.monotonic()
        self.backlog: list[Any] | None = None   # bytes, or (bytes, True) for binary
        self.out: list[bytes] = []

    # picows callbacks -------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        peer = transport.underlying_transport.get_extra_info("peername")
        self.peer = peer[0] if peer else "?"
        if not self.hub.admit(self):
            self.send_json({"event": "error", "code": 30007,
                            "msg": "Too many connections from this IP, connection closed"})
            self.close()
            return
        self.hub.conns.add(self)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.hub.forget(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.flush()
        if answer_control(transport, frame):
            return
        now = time.monotonic()
        q = self.inbound
        q.append(now)
        while q and now - q[0] > 1.0:
            q.popleft()
        if len(q) > MAX_IN_PER_S:
            self.send_json({"event": "error", "code": 30006,
                            "msg": "Too many requests: over 10 messages per second, connection closed"})
            self.close()
            return
        data = frame.get_payload_as_bytes()
        if data == b"ping":
            self.last_ping = now
            self.send_raw(b"pong")
            return
        if len(data) > MAX_REQUEST_BYTES:
            self.error(30002, f"Request too long: {len(data)} bytes > {MAX_REQUEST_BYTES}")
            return
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.error(30002, "Illegal request: not JSON")
            return
        if not isinstance(msg, dict):
            self.error(30002, "Illegal request")
            return
        op = msg.get("op")
        args = msg.get("args")
        if op in ("subscribe", "unsubscribe"):
            self.on_subscribe(op, args)
        elif op == "login" and self.private:
            self.hub.login(self, args)
        elif op == "trade" and self.private:
            self.hub.trade(self, args)
        else:
            self.error(30003, f"Invalid op: {op!r}")

    # sending ------------------------------------------------------------------
    def send_raw(self, data: bytes, binary: bool = False) -> None:
        """Queue one text frame; frames are written in one batch per event-loop iteration.

        Batching is what makes a 100k msgs/s feed possible from Python: one write (one
        syscall) per connection per iteration instead of one per message. The frame is
        built here (server frames are unmasked) and written to picows' own transport, so
        ordering with picows' control frames is preserved (``close`` flushes first).
        While a ``stall`` fault holds the connection, frames wait in the backlog.
        """
        if self.backlog is not None:
            self.backlog.append((data, True) if binary else data)
            return
        n = len(data)
        op = 0x82 if binary else 0x81   # binary: a fault (Bitget's V2 streams send text)
        if n < 126:
            head = bytes((op, n)) if binary else _SMALL_HEADS[n]
        elif n < 65536:
            head = bytes((op, 0x7e)) + n.to_bytes(2, "big")
        else:
            head = bytes((op, 0x7f)) + n.to_bytes(8, "big")
        out = self.out
        if not out:
            self.hub.pending.append(self)
            if not self.hub.flush_scheduled:
                self.hub.flush_scheduled = True
                asyncio.get_running_loop().call_soon(self.hub.flush)
        out.append(head)
        out.append(data)

    def flush(self) -> None:
        """Write the queued frames now; a client that stopped reading is cut off."""
        out = self.out
        if not out:
            return
        self.out = []
        t = self.transport
        if t is not None and not t.is_disconnected:
            ut = t.underlying_transport
            ut.write(b"".join(out))
            if ut.get_write_buffer_size() > SLOW_CONSUMER_BYTES:
                _log.warning("closing a %s connection from %s: over %d bytes unread",
                             "private" if self.private else "public", self.peer,
                             SLOW_CONSUMER_BYTES)
                ut.abort()

    def close(self) -> None:
        """Flush what is queued, then close the connection (with a close frame)."""
        self.flush()
        if self.transport is not None:
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()

    def send_json(self, obj: Any) -> None:
        self.send_raw(orjson.dumps(obj))

    def error(self, code: int, msg: str, arg: Any = None) -> None:
        obj: dict[str, Any] = {"event": "error", "code": code, "msg": msg}
        if arg is not None:
            obj["arg"] = arg
        self.send_json(obj)

    def stall(self, seconds: float) -> None:
        """Hold every push for ``seconds``, then deliver them in order."""
        if self.backlog is None:
            self.backlog = []

        def resume() -> None:
            backlog, self.backlog = self.backlog or [], None
            for data in backlog:
                if type(data) is tuple:
                    self.send_raw(*data)
                else:
                    self.send_raw(data)

        asyncio.get_running_loop().call_later(seconds, resume)

    # subscriptions ------------------------------------------------------------
    def on_subscribe(self, op: str, args: Any) -> None:
        if not isinstance(args, list) or not args:
            self.error(30016, "Param error: args must be a non-empty list")
            return
        if op == "subscribe":
            now = time.monotonic()
            st = self.subscribe_times
            while st and now - st[0] > 3600:
                st.popleft()
            if len(st) >= MAX_SUBSCRIBES_PER_H:
                self.error(30007, "Subscribe requests over 240 per hour, connection closed")
                self.close()
                return
            st.append(now)
        for arg in args:
            if not isinstance(arg, dict):
                self.error(30016, "Param error: each arg must be an object")
                continue
            if self.private:
                self.hub.private_subscribe(self, op, arg)
            else:
                self.hub.public_subscribe(self, op, arg)


class WsHub:
    """Every WebSocket connection of one simulator, and the engine's listener."""

    def __init__(self, sim: "Simulator") -> None:
        self.sim = sim
        self.engine = sim.engine
        self.feeds = {s: _MarketFeed(m) for s, m in sim.engine.markets.items()}
        self.conns: set[Conn] = set()
        self.by_account: dict[str, set[Conn]] = {}
        self.attempts: dict[str, deque[float]] = {}
        self.defer_private = True
        self.idle_timeout_s = sim.ws_idle_timeout_s
        self.pending: list[Conn] = []
        self.flush_scheduled = False

    def flush(self) -> None:
        """Write every connection's queued frames (scheduled once per loop iteration)."""
        self.flush_scheduled = False
        pending, self.pending = self.pending, []
        for c in pending:
            c.flush()

    def rebuild(self) -> None:
        """Level caches from the current books (after seeding)."""
        for f in self.feeds.values():
            f.rebuild()

    def factory(self, request: WSUpgradeRequest) -> Conn | None:
        """picows listener factory: routes by path."""
        path = request.path.split(b"?", 1)[0]
        if path == b"/v2/ws/public":
            return Conn(self, False)
        if path == b"/v2/ws/private":
            return Conn(self, True)
        return None

    def admit(self, conn: Conn) -> bool:
        """Bitget's per-IP limits: 100 concurrent connections, 300 attempts per 5 minutes."""
        now = time.monotonic()
        q = self.attempts.setdefault(conn.peer, deque())
        q.append(now)
        while q and now - q[0] > 300:
            q.popleft()
        if len(q) > 300:
            return False
        return sum(1 for c in self.conns if c.peer == conn.peer) < MAX_CONNS_PER_IP

    def forget(self, conn: Conn) -> None:
        self.conns.discard(conn)
        for key in conn.channels:
            f = self.feeds.get(key[1])
            if f is not None:
                f.subs[key[0]].discard(conn)
        conn.channels.clear()
        if conn.account is not None:
            s = self.by_account.get(conn.account.api_key)
            if s is not None:
                s.discard(conn)

    def backlogged(self, limit: int = 1 << 20) -> bool:
        """True while some connection has more than ``limit`` bytes waiting to be sent."""
        for c in self.conns:
            t = c.transport
            if t is not None and not t.is_disconnected and \
                    t.underlying_transport.get_write_buffer_size() > limit:
                return True
        return False

    def select(self, which: str) -> list[Conn]:
        """Connections of a kind: public, private or all."""
        if which not in ("public", "private", "all"):
            raise ValueError("which must be 'public', 'private' or 'all'")
        return [c for c in self.conns if which == "all" or c.private == (which == "private")]

    def sweep(self) -> None:
        """Close connections that sent no ping within the idle timeout; push due tickers."""
        now = time.monotonic()
        for c in list(self.conns):
            if now - c.last_ping > self.idle_timeout_s and c.transport is not None:
                c.error(30008, "No ping received, connection closed")
                c.close()
        for f in self.feeds.values():
            if f.ticker_dirty and f.subs["ticker"]:
                f.ticker_dirty = False
                self._push(f, "ticker", self.ticker_msg(f))
            self.candle_pushes(f)

    def candle_pushes(self, f: _MarketFeed) -> None:
        """One sweep tick of candle updates: for each subscribed channel, the in-progress
        candle when trades changed it, or, once the clock has entered a new bucket, the
        final rows of the buckets since the last push and the new in-progress one."""
        subs = f.subs
        dirty, f.candle_dirty = f.candle_dirty, False
        now = -1
        for ch, iv in CANDLE_CHANNELS.items():
            if not subs[ch]:
                continue
            if now < 0:
                now = self.engine.now_ms()
            last = f.candle_last.get(ch)
            b = candle_start(now, iv)
            if last is not None and last[0] == b:
                if not dirty:
                    continue
                _, row = self.sim._live_candle(f.market, iv, now)
                if row == last[1]:
                    continue
                rows = [row]
            else:
                # a roll: from the last pushed bucket (final now) to the in-progress one
                rows = self.sim._candle_rows(f.market, iv, last[0] if last else b, now,
                                             CANDLE_SNAPSHOT_ROWS, "market", now)
                if not rows:
                    continue
                row = rows[-1]
            f.candle_last[ch] = (b, row)
            self._push(f, ch, self.candle_msg(f, ch, "update", rows, now))

    def candle_msg(self, f: _MarketFeed, ch: str, action: str, rows: list[list[str]],
                   now: int) -> bytes:
        """A candle push: each row's 7 strings plus usdtVolume (= quoteVolume)."""
        return b'{"action":"%s","arg":%s,"data":%s,"ts":%d}' % (
            action.encode(), f.arg_cache[ch], orjson.dumps([[*r, r[6]] for r in rows]), now)

    # public -------------------------------------------------------------------
    def public_subscribe(self, conn: Conn, op: str, arg: dict[str, Any]) -> None:
        ch = arg.get("channel")
        inst = str(arg.get("instId") or "").upper()
        itype = str(arg.get("instType") or "").upper()
        f = self.feeds.get(inst)
        if itype != PRODUCT_TYPE or not isinstance(ch, str) or ch not in PUBLIC_CHANNELS \
                or f is None:
            conn.error(30001, f"instType:{arg.get('instType')},channel:{ch},"
                       f"instId:{arg.get('instId')} doesn't exist", arg)
            return
        key = (ch, inst)
        ack_arg = {"instType": PRODUCT_TYPE, "channel": ch, "instId": inst}
        if op == "unsubscribe":
            conn.channels.discard(key)
            f.subs[ch].discard(conn)
            conn.send_json({"event": "unsubscribe", "arg": ack_arg})
            return
        if key not in conn.channels and len(conn.channels) >= MAX_CHANNELS:
            conn.error(30002, "Over 1000 channels on this connection", arg)
            return
        conn.channels.add(key)
        first = not f.subs[ch]
        f.subs[ch].add(conn)
        conn.send_json({"event": "subscribe", "arg": ack_arg})
        iv = CANDLE_CHANNELS.get(ch)
        if iv is not None:
            now = self.engine.now_ms()
            rows = self.sim._candle_rows(f.market, iv, 0, now, CANDLE_SNAPSHOT_ROWS, "market",
                                         now)
            if rows and (first or ch not in f.candle_last):
                f.candle_last[ch] = (int(rows[-1][0]), rows[-1])
            conn.send_raw(self.candle_msg(f, ch, "snapshot", rows, now))
            return
        if ch == "books":
            f.last_cs = f.checksum()
            conn.send_raw(self.books_snapshot(f))
        elif ch in BOOK_CHANNELS:
            b, a = f.top_joined(BOOK_CHANNELS[ch])
            f.last_top[ch] = "|".join(b) + "/" + "|".join(a)
            conn.send_raw(self.depth_msg(f, ch, BOOK_CHANNELS[ch]))
        elif ch == "trade":
            trades = list(f.market.trades)[-TRADE_SNAPSHOT:]
            conn.send_raw(self.trade_msg(f, trades))
        elif ch == "ticker":
            conn.send_raw(self.ticker_msg(f))

    def books_snapshot(self, f: _MarketFeed) -> bytes:
        m = f.market
        b, a = f.top(SNAPSHOT_DEPTH)
        now = self.engine.now_ms()
        cs = reference.checksum(b, a)
        return (b'{"action":"snapshot","arg":%s,"data":[{"asks":%s,"bids":%s,"checksum":%d,'
                b'"seq":%d,"ts":"%d"}],"ts":%d}' % (f.arg_cache["books"], _levels_json(a),
                                                     _levels_json(b), cs, m.seq, now, now))

    def depth_msg(self, f: _MarketFeed, ch: str, n: int) -> bytes:
        b, a = f.top(n)
        now = self.engine.now_ms()
        return (b'{"action":"snapshot","arg":%s,"data":[{"asks":%s,"bids":%s,"checksum":%d,'
                b'"seq":%d,"ts":"%d"}],"ts":%d}' % (f.arg_cache[ch], _levels_json(a),
                                                     _levels_json(b), reference.checksum(b, a),
                                                     f.market.seq, now, now))

    def trade_msg(self, f: _MarketFeed, trades: list[tuple[str, int, int, str, int]]) -> bytes:
        spec = f.market.spec
        rows = ",".join([f'{{"ts":"{ts}","price":"{spec.price_str(p)}","size":"{spec.size_str(q)}",'
                         f'"side":"{side}","tradeId":"{tid}"}}'
                         for tid, p, q, side, ts in reversed(trades)])
        now = self.engine.now_ms()
        return b'{"action":"snapshot","arg":%s,"data":[%s],"ts":%d}' % (
            f.arg_cache["trade"], rows.encode(), now)

    def ticker_row(self, m: Market) -> dict[str, Any]:
        """The ticker fields shared by the WS channel and the REST tickers."""
        spec = m.spec
        bb, ba = m.best_bid(), m.best_ask()
        now = self.engine.now_ms()
        chg = (spec.price_dec(m.last) - spec.price_dec(m.open_24h)) / spec.price_dec(m.open_24h)
        return {
            "instId": m.symbol, "symbol": m.symbol, "lastPr": spec.price_str(m.last),
            "bidPr": spec.price_str(bb) if bb else "", "askPr": spec.price_str(ba) if ba else "",
            "bidSz": spec.size_str(m.level_size(True, bb)) if bb else "",
            "askSz": spec.size_str(m.level_size(False, ba)) if ba else "",
            "open24h": spec.price_str(m.open_24h), "high24h": spec.price_str(m.high_24h),
            "low24h": spec.price_str(m.low_24h), "change24h": format(fixed(chg, _CHG), "f"),
            "fundingRate": format(m.funding_rate, "f"), "nextFundingTime": str(m.next_funding_ms),
            "markPrice": spec.price_str(m.mark), "indexPrice": spec.price_str(m.index),
            "holdingAmount": spec.size_str(m.open_interest), "baseVolume": spec.size_str(m.volume_base),
            "quoteVolume": format(m.volume_quote, "f"), "usdtVolume": format(m.volume_quote, "f"),
            "openUtc": spec.price_str(m.open_24h), "changeUtc24h": format(fixed(chg, _CHG), "f"),
            "symbolType": 1, "deliveryPrice": "0", "deliveryStartTime": None,
            "deliveryTime": None, "deliveryStatus": "", "ts": str(now),
        }

    def ticker_msg(self, f: _MarketFeed) -> bytes:
        row = self.ticker_row(f.market)
        row.pop("usdtVolume")
        for k in ("deliveryStartTime", "deliveryTime", "deliveryStatus", "changeUtc24h"):
            row.pop(k)
        return b'{"action":"snapshot","arg":%s,"data":[%s],"ts":%d}' % (
            f.arg_cache["ticker"], orjson.dumps(row), self.engine.now_ms())

    def _push(self, f: _MarketFeed, ch: str, data: bytes) -> None:
        for c in f.subs[ch]:
            c.send_raw(data)

    # EngineListener -------------------------------------------------------------
    def on_book(self, market: Market, bids: dict[int, int], asks: dict[int, int]) -> None:
        # The feed's hot path: one call per books message.
        f = self.feeds[market.symbol]
        market.seq += 1
        f.ticker_dirty = True
        vp = market.spec.volume_place
        ch_b = _apply_side(f, bids, f.bp, f.bs, True, vp) if bids else []
        ch_a = _apply_side(f, asks, f.ap, f.as_, False, vp) if asks else []
        books_subs = f.books_subs
        if not (books_subs or f.skip_top or f.skip_deep or f.corrupt):
            if f.depth_subs:
                self._depth_pushes(f)
            return
        bs = f.bs
        cs = reference.checksum_joined(bs[:-CHECKSUM_DEPTH - 1:-1], f.as_[:CHECKSUM_DEPTH])
        top_changed = cs != f.last_cs
        f.last_cs = cs
        if f.skip_top and top_changed:
            f.skip_top -= 1
            _log.info("fault: dropped books update seq %d of %s (top 25 changed)", market.seq,
                      market.symbol)
        elif f.skip_deep and not top_changed:
            f.skip_deep -= 1
            _log.info("fault: dropped books update seq %d of %s (deep levels only)", market.seq,
                      market.symbol)
        elif books_subs:
            if f.corrupt:
                f.corrupt -= 1
                cs = ((cs ^ 0x5A5A5A5A) + 0x80000000) % 0x100000000 - 0x80000000
            now = self.engine.now_ms()
            data = (f'{f.books_head}{_joined_json(ch_a)}],"bids":[{_joined_json(ch_b)}],'
                    f'"checksum":{cs},"seq":{market.seq},"ts":"{now}"}}],"ts":{now}}}').encode()
            for c in books_subs:
                c.send_raw(data)
        if f.depth_subs:
            self._depth_pushes(f)

    def _depth_pushes(self, f: _MarketFeed) -> None:
        subs = f.subs
        for ch in ("books1", "books5", "books15"):
            if subs[ch]:
                b, a = f.top_joined(BOOK_CHANNELS[ch])
                key = "|".join(b) + "/" + "|".join(a)
                if f.last_top.get(ch) != key:
                    f.last_top[ch] = key
                    self._push(f, ch, self.depth_msg(f, ch, BOOK_CHANNELS[ch]))

    def on_trades(self, market: Market, trades: list[tuple[str, int, int, str, int]]) -> None:
        f = self.feeds[market.symbol]
        f.ticker_dirty = True
        f.candle_dirty = True
        self.sim.record_trades(market, trades)
        if f.subs["trade"]:
            self._push(f, "trade", self.trade_msg(f, trades))

    def on_private(self, account: Account, events: list[tuple[str, Any]]) -> None:
        conns = self.by_account.get(account.api_key)
        if not conns:
            return
        msgs = []
        now = self.engine.now_ms()
        for ch, payload in events:
            rows = payload if isinstance(payload, list) else [payload]
            for c in conns:
                insts = c.priv_args.get(ch)
                if not insts:
                    continue
                for inst in insts:
                    if inst == "default":
                        data = rows
                    else:
                        data = [r for r in rows if r.get("instId", r.get("symbol")) == inst]
                        if not data and ch != "positions":
                            continue
                    key = "coin" if ch == "account" else "instId"
                    msgs.append((c, orjson.dumps({
                        "action": "snapshot",
                        "arg": {"instType": PRODUCT_TYPE, "channel": ch, key: inst},
                        "data": data, "ts": now})))
        if not msgs:
            return
        if self.defer_private:
            asyncio.get_running_loop().call_soon(_send_all, msgs)
        else:
            _send_all(msgs)

    # private --------------------------------------------------------------------
    def login(self, conn: Conn, args: Any) -> None:
        """Bitget's WS login: sign = base64(hmac(secret, timestamp + 'GET' + '/user/verify'))."""
        a = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else None
        if a is None:
            conn.error(30016, "Param error: login needs args[0]")
            return
        acc = self.engine.accounts.get(str(a.get("apiKey") or ""))
        code, msg = 0, ""
        ts = str(a.get("timestamp") or "")
        if acc is None:
            code, msg = 30011, "Invalid ACCESS_KEY"
        elif not hmac.compare_digest(str(a.get("passphrase") or "").encode(),
                                     acc.passphrase.encode()):
            code, msg = 30012, "Invalid ACCESS_PASSPHRASE"
        elif not ts.isdigit() or not ts.isascii() or len(ts) > 16:
            code, msg = 30013, "Invalid ACCESS_TIMESTAMP"
        else:
            t = int(ts)
            t_s = t / 1000 if t > 10**11 else t
            if abs(t_s - self.engine.now_ms() / 1000) > LOGIN_WINDOW_S:
                code, msg = 30014, "Request timestamp expired"
            else:
                want = reference.sign(acc.secret, f"{ts}GET/user/verify".encode())
                if not hmac.compare_digest(str(a.get("sign") or "").encode(), want.encode()):
                    code, msg = 30015, "Invalid sign"
        if code:
            conn.send_json({"event": "error", "code": code, "msg": msg})
            conn.close()
            return
        assert acc is not None
        if conn.account is not None:   # a second login: the old account's pushes stop here
            self.by_account.get(conn.account.api_key, set()).discard(conn)
        conn.account = acc
        self.by_account.setdefault(acc.api_key, set()).add(conn)
        conn.send_json({"event": "login", "code": 0, "msg": ""})

    def private_subscribe(self, conn: Conn, op: str, arg: dict[str, Any]) -> None:
        if conn.account is None:
            conn.send_json({"event": "error", "arg": arg, "code": 30004, "msg": "User not logged in"})
            return
        ch = arg.get("channel")
        key = "coin" if ch == "account" else "instId"
        inst = str(arg.get(key) or "")
        itype = str(arg.get("instType") or "").upper()
        ok_inst = inst == "default" or (ch != "account" and inst.upper() in self.feeds)
        if itype != PRODUCT_TYPE or not isinstance(ch, str) or ch not in PRIVATE_CHANNELS \
                or not ok_inst:
            conn.error(30001, f"instType:{arg.get('instType')},channel:{ch},{key}:{inst} "
                       "doesn't exist", arg)
            return
        inst = inst if inst == "default" else inst.upper()
        ack = {"instType": PRODUCT_TYPE, "channel": ch, key: inst}
        insts = conn.priv_args.setdefault(ch, set())
        if op == "unsubscribe":
            insts.discard(inst)
            conn.send_json({"event": "unsubscribe", "arg": ack})
            return
        insts.add(inst)
        conn.send_json({"event": "subscribe", "arg": ack})
        acc = conn.account
        now = self.engine.now_ms()
        if ch == "account":
            conn.send_json({"action": "snapshot", "arg": ack,
                            "data": [self.engine.account_payload(acc)], "ts": now})
        elif ch == "positions":
            rows = self.engine.positions_payload(acc)
            if inst != "default":
                rows = [r for r in rows if r["instId"] == inst]
            conn.send_json({"action": "snapshot", "arg": ack, "data": rows, "ts": now})

    def trade(self, conn: Conn, args: Any) -> None:
        """WS order entry (``op: trade``): place-order / cancel-order, for accounts with access."""
        if conn.account is None:
            conn.send_json({"event": "error", "code": 30004, "msg": "User not logged in"})
            return
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            conn.error(30016, "Param error: op trade takes exactly one arg (no batch on V2)")
            return
        a = args[0]
        echo = {k: a.get(k) for k in ("id", "instType", "channel", "instId")}
        params = a.get("params") if isinstance(a.get("params"), dict) else {}
        acc = conn.account
        try:
            if not acc.ws_trading:
                raise SimError("40014", "Incorrect permissions: WebSocket trading is not enabled "
                               "for this key (apply via your BD/RM)")
            limited = self.sim.rest.take_rate(acc, "/api/v2/mix/order/" + str(a.get("channel")))
            if limited:
                raise SimError("429", "Too Many Requests", 429)
            if str(a.get("instType") or "").upper() != PRODUCT_TYPE:
                raise SimError("40017", "instType must be USDT-FUTURES")
            if a.get("channel") == "place-order":
                p = dict(params)
                p["productType"] = PRODUCT_TYPE
                o = self.engine.place_order(acc, p, symbol=a.get("instId"))
            elif a.get("channel") == "cancel-order":
                o = self.engine.cancel_order(acc, a.get("instId"), params.get("orderId"),
                                             params.get("clientOid"))
            else:
                raise SimError("40017", f"Unknown trade channel {a.get('channel')!r}")
        except SimError as e:
            self.engine.flush()
            reply = {"event": "error", "arg": [{**echo, "params": params}],
                     "code": int(e.code), "msg": e.msg, "ts": self.engine.now_ms()}
        else:
            reply = {"event": "trade", "arg": [{**echo, "params": {
                "orderId": o.order_id, "clientOid": o.client_oid}}],
                "code": 0, "msg": "Success", "ts": self.engine.now_ms()}
            self.engine.flush()
        delay = self.sim.rest.take_ack_delay("ws:trade")
        if delay:
            asyncio.get_running_loop().call_later(delay, conn.send_json, reply)
        else:
            conn.send_json(reply)


_CHG = Decimal("1e-5")
_SMALL_HEADS = [bytes((0x81, n)) for n in range(126)]


def _send_all(msgs: list[tuple[Conn, bytes]]) -> None:
    for c, data in msgs:
        c.send_raw(data)

