"""Order tracking keyed by clientOid: one state machine fed by REST replies, the private
stream and reconciliation queries, in whatever order they arrive.

States: ``pending_new`` (sent, no answer yet) -> ``live`` -> ``partially_filled`` ->
``filled`` / ``canceled``; ``rejected`` when Bitget refused it (or it was never sent);
``unknown`` when a reply was lost, until a query resolves it. Evidence only moves an
order forward: a stale or replayed push (lower state, smaller filled size) is ignored,
and a terminal state is final -- except that ``rejected``/``unknown`` give way to what
the exchange later shows (a "rejected" order that the stream reports live is live).

Fills are deduplicated by ``tradeId`` and ``orderId`` (both sides of a self-trade share the
``tradeId``) whichever way they arrive (``fill`` channel, the fill fields of an ``orders``
push, REST ``/order/fills``); an order's filled size is the larger of Bitget's cumulative
figure and the sum of its fills, its fee the sum of its fills' fees.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from bitget_fast.errors import ProtocolError
from bitget_fast.models import Fill, OrderUpdate

__all__ = ["Order", "OrderTracker", "OrderStatus", "new_client_oid", "CLIENT_OID_PREFIX",
           "TERMINAL", "to_decimal", "ms_field"]

D0 = Decimal(0)


class OrderStatus:
    """The states of a tracked order (plain strings)."""

    PENDING_NEW = "pending_new"
    LIVE = "live"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


_RANK = {"pending_new": 0, "unknown": 0, "live": 1, "partially_filled": 2,
         "filled": 3, "canceled": 3, "rejected": 3}
TERMINAL = frozenset(("filled", "canceled", "rejected"))
"""The final statuses: an order in one of them never changes again."""
# Bitget's status words (orders channel "status", REST detail "state") -> ours.
_WIRE_STATUS = {"live": "live", "new": "live", "init": "pending_new",
                "partially_filled": "partially_filled", "partial_fill": "partially_filled",
                "filled": "filled", "full_fill": "filled", "canceled": "canceled",
                "cancelled": "canceled"}

# clientOid: [A-Za-z0-9_-], at most 32 characters (protocol reference 10.3). A session
# prefix (start time in ms, base 36, plus 3 random bytes) makes ids unique across
# restarts and processes; a per-session counter makes them unique within.
CLIENT_OID_PREFIX = "bf"
"""How our clientOids begin (others' orders on the account are tracked too)."""
# Orders first seen through a fill without clientOid (REST fills rows have none) are
# tracked as "ext-<orderId>" until a query or push names them.
EXT_PREFIX = "ext-"
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    out = []
    while True:
        n, r = divmod(n, 36)
        out.append(_B36[r])
        if not n:
            return "".join(reversed(out))


def _session_prefix() -> str:
    return f"{CLIENT_OID_PREFIX}{_b36(time.time_ns() // 1_000_000)}{os.urandom(3).hex()}"


class _OidSource:
    __slots__ = ("prefix", "n")

    def __init__(self) -> None:
        self.prefix = _session_prefix()
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:x}"


new_client_oid: Callable[[], str] = _OidSource()
"""A fresh clientOid, unique across restarts (``bf`` + start ms + random + counter, <= 32 chars)."""


def to_decimal(v: Any, default: Decimal | None = D0) -> Decimal | None:
    """Bitget's numeric strings ('' or None -> ``default``). A value that is not a finite
    number of at most 64 characters with an exponent within +-40 is a ProtocolError: no
    price, size or amount comes near, and arithmetic on 1E400000 would overflow later."""
    if v is None or v == "":
        return default
    if isinstance(v, Decimal):
        d = v
    elif (type(v) is str and len(v) <= 64) or type(v) is int:
        try:
            d = Decimal(v)
        except (InvalidOperation, ValueError):
            raise ProtocolError(f"not a number: {str(v)[:40]!r}") from None
    else:
        raise ProtocolError(f"not a number: {type(v).__name__} {str(v)[:40]!r}")
    if not d.is_finite() or not -40 <= d.adjusted() <= 40:
        raise ProtocolError(f"not a usable number: {str(v)[:40]!r}")
    return d


def _price_avg(row: Mapping[str, Any]) -> Decimal | None:
    """An order row's average fill price; None when there is none yet ('', '0')."""
    v = row.get("priceAvg")
    return None if v == "0" else to_decimal(v, None)


def ms_field(v: Any) -> int:
    """Bitget's millisecond time strings ('' or junk -> 0)."""
    try:
        return int(v) if v not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


class Order:
    """One order as this client knows it; updated in place as evidence arrives.

    ``side`` is the execution direction (``buy``/``sell``), ``size``/``price`` what was
    asked, ``filled_size``/``avg_price``/``fee`` what happened (``fee`` positive = paid).
    ``error`` holds the exception of a rejection. ``replaced_by`` names the clientOid of
    the order an amend created; ``replaces`` the one it replaced.
    """

    __slots__ = ("client_oid", "symbol", "side", "order_type", "size", "price", "reduce_only",
                 "hold_side", "order_id", "status", "filled_size", "avg_price", "fee",
                 "cancel_reason", "error", "replaced_by", "replaces", "created_ms",
                 "updated_ms", "fills", "external", "_waiters", "__weakref__")

    def __init__(self, client_oid: str, symbol: str, side: str, order_type: str, size: Decimal,
                 price: Decimal | None, *, reduce_only: bool = False, hold_side: str = "",
                 external: bool = False) -> None:
        self.client_oid = client_oid
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.size = size
        self.price = price
        self.reduce_only = reduce_only
        self.hold_side = hold_side
        self.order_id = ""
        self.status = OrderStatus.PENDING_NEW
        self.filled_size = D0
        self.avg_price: Decimal | None = None
        self.fee = D0
        self.cancel_reason = ""
        self.error: BaseException | None = None
        self.replaced_by = ""
        self.replaces = ""
        self.created_ms = time.time_ns() // 1_000_000
        self.updated_ms = self.created_ms
        self.fills: dict[str, Fill] = {}
        self.external = external
        self._waiters: list[asyncio.Future[None]] | None = None

    @property
    def is_done(self) -> bool:
        """True in a final state (filled, canceled, rejected)."""
        return self.status in TERMINAL

    @property
    def is_open(self) -> bool:
        """True while the order may rest on the book or fill (pending, live, partial, unknown)."""
        return self.status not in TERMINAL

    @property
    def remaining_size(self) -> Decimal:
        """What is left to fill (0 once done)."""
        return D0 if self.is_done else max(self.size - self.filled_size, D0)

    async def wait_done(self, timeout_s: float | None = None) -> Order:
        """Wait until the order is filled, canceled or rejected."""
        while not self.is_done:
            await self._wait_change(timeout_s)
        return self

    async def wait_status(self, *statuses: str, timeout_s: float | None = None) -> Order:
        """Wait until the order's status is one of ``statuses`` (or it is done)."""
        while self.status not in statuses and not self.is_done:
            await self._wait_change(timeout_s)
        return self

    async def _wait_change(self, timeout_s: float | None) -> None:
        fut = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout_s)
        finally:
            if self._waiters and fut in self._waiters:
                self._waiters.remove(fut)

    def _wake(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, None
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def __repr__(self) -> str:
        px = f" @ {self.price}" if self.price is not None else ""
        return (f"Order({self.client_oid!r} {self.symbol} {self.side} {self.size}{px} "
                f"{self.order_type}{' reduce-only' if self.reduce_only else ''}: {self.status}, "
                f"filled {self.filled_size})")


def _id(row: Mapping[str, Any], key: str) -> str:
    """An id field (orderId, clientOid, tradeId) as a str: "" when absent or empty; Bitget
    sends strings, a number is taken as its digits; anything else is a ProtocolError."""
    v = row.get(key)
    if type(v) is str:
        return v
    if v is None:
        return ""
    if type(v) is int:
        return str(v)
    raise ProtocolError(f"{key} must be a string, not {type(v).__name__} {str(v)[:60]!r}")


class OrderTracker:
    """Every order of this session (and foreign ones the stream shows), keyed by clientOid."""

    def __init__(self, on_update: Callable[[Order, str], None] | None = None,
                 on_fill: Callable[[Fill], None] | None = None, *, max_done: int = 100_000) -> None:
        self._orders: dict[str, Order] = {}
        self._by_id: dict[str, Order] = {}
        self._trade_ids: set[tuple[str, str]] = set()
        self._on_update = on_update
        self._on_fill = on_fill
        self.max_done = max_done
        self._done_order: list[str] = []
        self.last_fill_ms = 0
        self.counters = {"stale_updates": 0, "duplicate_fills": 0, "adopted": 0, "revived": 0}

    # ------------------------------------------------------------------ access
    def __getitem__(self, client_oid: str) -> Order:
        return self._orders[client_oid]

    def get(self, client_oid: str) -> Order | None:
        """The order with this clientOid, or None."""
        return self._orders.get(client_oid)

    def by_order_id(self, order_id: str) -> Order | None:
        """The order with this exchange orderId, or None."""
        return self._by_id.get(order_id)

    def __contains__(self, client_oid: object) -> bool:
        return client_oid in self._orders

    def __iter__(self) -> Iterator[str]:
        return iter(self._orders)

    def __len__(self) -> int:
        return len(self._orders)

    def values(self) -> Iterator[Order]:
        """Every tracked order."""
        return iter(list(self._orders.values()))

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders not in a final state (optionally of one symbol)."""
        return [o for o in self._orders.values()
                if o.is_open and (symbol is None or o.symbol == symbol)]

    # ------------------------------------------------------------------ changes
    def add(self, order: Order) -> None:
        """Start tracking a new order of ours (before it is sent)."""
        if order.client_oid in self._orders:
            raise ValueError(f"clientOid {order.client_oid!r} is already tracked")
        self._orders[order.client_oid] = order

    def _changed(self, o: Order, source: str) -> None:
        o.updated_ms = time.time_ns() // 1_000_000
        o._wake()
        if o.is_done:
            self._done_order.append(o.client_oid)
            if len(self._done_order) > self.max_done:
                self._forget_some()
        if self._on_update is not None:
            self._on_update(o, source)

    def _forget_some(self) -> None:
        keep: list[str] = []
        drop = len(self._done_order) - self.max_done // 2
        for oid in self._done_order:
            o = self._orders.get(oid)
            if drop > 0 and o is not None and o.is_done:
                del self._orders[oid]
                self._by_id.pop(o.order_id, None)
                drop -= 1
            elif o is not None and o.is_done:
                keep.append(oid)
        self._done_order = keep

    def set_status(self, o: Order, status: str, source: str, *, error: BaseException | None = None,
                   reason: str = "") -> bool:
        """Move ``o`` to ``status`` if that is forward (or resolves rejected/unknown); True if changed."""
        cur = o.status
        if cur == status:
            return False
        if status == OrderStatus.PENDING_NEW:
            return False                            # only ever the initial state
        if cur == OrderStatus.FILLED or cur == OrderStatus.CANCELED:
            self.counters["stale_updates"] += 1     # final: nothing moves it
            return False
        if status == OrderStatus.UNKNOWN or status == OrderStatus.REJECTED:
            if cur != OrderStatus.PENDING_NEW and cur != OrderStatus.UNKNOWN:
                return False                        # we already know more than that
        elif cur == OrderStatus.REJECTED:
            self.counters["revived"] += 1           # the exchange shows it after all
            o.error = None
        elif _RANK[status] < _RANK[cur]:
            self.counters["stale_updates"] += 1     # an older push arriving late
            return False
        o.status = status
        if error is not None:
            o.error = error
        if reason:
            o.cancel_reason = reason
        self._changed(o, source)
        return True

    def set_order_id(self, o: Order, order_id: str | None, source: str = "rest") -> None:
        """Record the exchange's orderId for ``o`` (absorbing a placeholder made for it)."""
        if order_id and not o.order_id:
            o.order_id = order_id
            ph = self._by_id.get(order_id)
            self._by_id[order_id] = o
            if ph is not None and ph is not o and ph.client_oid.startswith(EXT_PREFIX):
                self._absorb(o, ph, source)

    def _absorb(self, o: Order, ph: Order, source: str) -> None:
        """``ph`` was made from fills of ``o`` before we knew ``o``'s orderId (REST fills rows
        carry no clientOid): its fills are ``o``'s, and it goes."""
        if self._orders.get(ph.client_oid) is ph:
            del self._orders[ph.client_oid]
        for tid, f in ph.fills.items():
            if tid not in o.fills:
                o.fills[tid] = msgspec.structs.replace(f, client_oid=o.client_oid)
                o.fee += f.fee
        self._sum_fills(o, source)

    def apply_row(self, row: Mapping[str, Any], source: str) -> Order | None:
        """Apply an order as Bitget shows it (``orders`` push, detail, pending, history)."""
        oid = _id(row, "clientOid") or _id(row, "clientOId")
        order_id = _id(row, "orderId")
        trade_id = _id(row, "tradeId")   # every id checked before anything changes
        o = self._orders.get(oid) if oid else None
        if o is None and order_id:
            o = self._by_id.get(order_id)
            if o is not None and oid and o.client_oid != oid and o.client_oid.startswith(EXT_PREFIX):
                self._rekey(o, oid)   # a placeholder made from a fill: now we know its clientOid
        if o is None:
            o = self._adopt(row, oid or f"{EXT_PREFIX}{order_id}")
        elif not o.size:   # made from a fill: the row tells what was ordered
            o.size = to_decimal(row.get("size")) or D0
            o.price = to_decimal(row.get("price"), None) or o.price
        self.set_order_id(o, order_id, source)
        changed = False
        raw = row.get("accBaseVolume") if "accBaseVolume" in row else row.get("baseVolume")
        # most pushes (live, canceled) carry "0": no Decimal to build for them
        filled = None if raw == "0" else to_decimal(raw)
        # a fill carried by an orders push
        if trade_id and "accBaseVolume" in row:
            self.apply_fill({
                "tradeId": trade_id, "orderId": order_id, "clientOid": o.client_oid,
                "symbol": row.get("instId") or o.symbol, "side": o.side,
                "price": row.get("fillPrice"), "baseVolume": row.get("baseVolume"),
                "profit": row.get("pnl"), "tradeSide": row.get("tradeSide", ""),
                "tradeScope": "maker" if row.get("tradeScope") in ("M", "maker") else "taker",
                "fillFee": row.get("fillFee"), "fillFeeCoin": row.get("fillFeeCoin", ""),
                "cTime": row.get("fillTime") or row.get("uTime")}, source)
        if filled is not None and filled > o.filled_size:
            o.filled_size = filled
            changed = True
            avg = _price_avg(row)
            if avg:
                o.avg_price = avg
        elif o.avg_price is None:
            avg = _price_avg(row)
            if avg:
                o.avg_price = avg
        st = row.get("status") or row.get("state")
        status = _WIRE_STATUS.get(st) if type(st) is str else None
        if status is None and st:
            status = _WIRE_STATUS.get(str(st).lower())
        reason = row.get("cancelReason") or ""
        if status is not None and self.set_status(o, status, source, reason=reason):
            return o
        if changed:
            if o.status in (OrderStatus.LIVE, OrderStatus.PENDING_NEW, OrderStatus.UNKNOWN) \
                    and o.filled_size < o.size:
                o.status = OrderStatus.PARTIALLY_FILLED
            self._changed(o, source)
        return o

    def _rekey(self, o: Order, oid: str) -> None:
        del self._orders[o.client_oid]
        o.client_oid = oid
        o.external = not oid.startswith(CLIENT_OID_PREFIX)
        self._orders[oid] = o
        fills = {tid: msgspec.structs.replace(f, client_oid=oid) for tid, f in o.fills.items()}
        o.fills = fills

    def placeholders(self) -> list[Order]:
        """Orders known only from a fill (no clientOid yet): reconciliation looks them up."""
        return [o for o in self._orders.values() if o.client_oid.startswith(EXT_PREFIX)]

    def _adopt(self, row: Mapping[str, Any], oid: str) -> Order:
        """An order this session did not place (another process, the web UI): track it too."""
        side = str(row.get("side", "")).lower()
        trade_side = str(row.get("tradeSide", "")).lower()
        if trade_side == "close":   # hedge close: the wire side is the position's, not the execution's
            side = "sell" if side == "buy" else "buy"
        o = Order(oid, str(row.get("instId") or row.get("symbol") or "").upper(), side,
                  str(row.get("orderType", "")), to_decimal(row.get("size")) or D0,
                  to_decimal(row.get("price"), None) or None,
                  reduce_only=str(row.get("reduceOnly", "")).lower() == "yes" or trade_side == "close",
                  hold_side=str(row.get("posSide", "")) if row.get("posSide") in ("long", "short") else "",
                  external=not oid.startswith(CLIENT_OID_PREFIX))
        ctime = ms_field(row.get("cTime"))
        if ctime:
            o.created_ms = ctime
        self._orders[oid] = o
        self.counters["adopted"] += 1
        return o

    def apply_fill(self, row: Mapping[str, Any], source: str) -> Fill | None:
        """Apply one execution (``fill`` push row, REST fills row, or an orders push's fill)."""
        tid = _id(row, "tradeId")
        if not tid:
            return None
        order_id = _id(row, "orderId")
        # a tradeId names a match: both sides of a self-trade carry it, one fill per order
        key = (tid, order_id)
        if key in self._trade_ids:
            self.counters["duplicate_fills"] += 1
            return None
        oid = _id(row, "clientOid")
        # every number read before anything changes: a bad row leaves no trace
        fee_coin = ""
        if "fillFee" in row:
            fee = -(to_decimal(row.get("fillFee")) or D0)
            fee_coin = str(row.get("fillFeeCoin") or "")
        else:
            fee = D0
            details = row.get("feeDetail") or []
            if not isinstance(details, list) or not all(isinstance(fd, dict) for fd in details):
                raise ProtocolError(f"fill {tid}: feeDetail must be a list of objects, not "
                                    f"{str(details)[:80]!r}")
            for fd in details:
                deducted = str(fd.get("deduction", "")).lower() == "yes"
                fee -= to_decimal(fd.get("totalDeductionFee") if deducted else fd.get("totalFee")) or D0
                fee_coin = str(fd.get("feeCoin") or fee_coin)
        size = to_decimal(row.get("baseVolume")) or D0
        price = to_decimal(row.get("price")) or D0
        profit = to_decimal(row.get("profit")) or D0
        ts = ms_field(row.get("cTime") or row.get("uTime"))
        o = self._orders.get(oid) if oid else None
        if o is None and order_id:
            o = self._by_id.get(order_id)
        if o is None:   # its size is not known yet (0): a fill never makes it filled
            o = self._adopt({**row, "status": "", "size": ""}, oid or f"{EXT_PREFIX}{order_id}")
        self.set_order_id(o, order_id, source)
        fill = Fill(tid, o.client_oid, order_id, str(row.get("symbol") or o.symbol).upper(),
                    str(row.get("side") or o.side).lower(), price, size, fee, fee_coin,
                    str(row.get("tradeScope", "")).lower() in ("maker", "m"),
                    profit, str(row.get("tradeSide") or ""), ts)
        self._trade_ids.add(key)
        o.fills[tid] = fill
        o.fee += fee
        if ts > self.last_fill_ms:
            self.last_fill_ms = ts
        self._sum_fills(o, source)
        if self._on_fill is not None:
            self._on_fill(fill)
        return fill

    def _sum_fills(self, o: Order, source: str) -> None:
        """Filled size, average price and status from ``o``'s fills, when they say more."""
        total = sum((f.size for f in o.fills.values()), D0)
        if total > o.filled_size:
            notional = sum((f.size * f.price for f in o.fills.values()), D0)
            o.filled_size = total
            o.avg_price = notional / total if total else None
            whole = bool(o.size) and total >= o.size   # size 0: not known yet
            if o.status in (OrderStatus.LIVE, OrderStatus.PENDING_NEW, OrderStatus.UNKNOWN,
                            OrderStatus.REJECTED):
                o.status = OrderStatus.FILLED if whole else OrderStatus.PARTIALLY_FILLED
            elif o.status == OrderStatus.PARTIALLY_FILLED and whole:
                o.status = OrderStatus.FILLED
            self._changed(o, source)

    def update_event(self, o: Order, source: str) -> OrderUpdate:
        """The :class:`OrderUpdate` describing ``o`` now."""
        return OrderUpdate(o.client_oid, o.order_id, o.symbol, o.status, o.filled_size,
                           o.avg_price, o.fee, o.cancel_reason, source, o.updated_ms)
