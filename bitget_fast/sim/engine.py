"""The simulated exchange's state: matching engine, accounts, positions, fees, funding.

One :class:`Engine` holds every market and account. It is synchronous and knows nothing
about sockets: the server calls it, and it reports what changed to an
:class:`EngineListener` (book levels, public trades, private pushes). Everything a
request changes happens inside the call, so a REST reply and the WebSocket pushes it
causes always agree.

Arithmetic: prices and sizes are integers in contract units (see ``contracts.py``);
money is exact :class:`~decimal.Decimal`. The model, written down so users know what
they test against:

* fee = fill notional x maker/taker rate, charged to the wallet balance at the fill;
* realized PnL = (exit - entry) x size for longs, (entry - exit) x size for shorts,
  credited at the fill; entry price is the size-weighted average of opening fills;
* position margin = size x entry / leverage (cross and isolated alike);
  order margin (``locked``) = remaining size x limit price / leverage of resting
  opening orders;
* ``available`` = wallet + unrealized PnL of crossed positions - position margins
  - locked; an opening order needs margin + taker fee <= available (else 40762);
* funding: at each settlement every position pays (long, rate > 0) or receives
  size x mark x rate; no liquidation engine (``liquidationPrice`` is an estimate).
"""

from __future__ import annotations

import itertools
import time
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Protocol

from .contracts import (MARGIN_COIN, PRODUCT_TYPE, WIDE, ContractSpec, fixed, money,
                        parse_units)

__all__ = ["Engine", "EngineListener", "SimError", "Account", "Order", "Position", "Market",
           "SIM_CODES"]

D0 = Decimal(0)
STP_MODES = ("none", "cancel_taker", "cancel_maker", "cancel_both")
_E12 = Decimal("1e-12")

# The codes the simulator sends, by situation (DECISIONS §5). tests/unit check each maps
# to the client class the table promises.
SIM_CODES = {
    "unknown_key": "40006", "bad_sign": "40009", "bad_passphrase": "40012",
    "no_key": "40001", "no_sign": "40002", "no_timestamp": "40003", "no_passphrase": "40011",
    "bad_timestamp": "40005", "stale_timestamp": "40008",
    "rate_limit": "429", "bad_param": "40017", "missing_param": "40019", "no_symbol": "40034",
    "bad_scale": "40808", "off_tick": "45115", "below_min_usdt": "45110", "below_min_qty": "45111",
    "above_max_qty": "45112", "insufficient": "40762", "no_order": "40768",
    "pos_mode": "40774", "mode_locked": "40920", "no_position": "45006",
    "dup_client_oid": "45034", "modify_nothing": "40923", "modify_pair": "40925",
    "modify_new_oid": "22003", "margin_locked": "45117", "no_permission": "40014",
    "bad_lever": "40017", "system": "40015", "batch_too_big": "40017",
    "price_high": "40815",
    # a symbol not open for the order (protocol reference 3.2 lists these codes together,
    # "stop trading the symbol"; which code goes with which status is UNCERTAIN)
    "symbol_maintain": "41114", "symbol_off": "40309", "symbol_listed": "43115",
    "symbol_api": "22004", "symbol_limit_open": "40308",
}
"""Situation -> the Bitget error code the simulator answers with (DECISIONS §5)."""
# symbolStatus -> (SIM_CODES kind, message) for an order the status does not allow;
# limit_open still accepts orders that only close (reduce-only, tradeSide close).
SYMBOL_STATUS_ERRORS = {
    "maintain": ("symbol_maintain", "The symbol is under maintenance"),
    "off": ("symbol_off", "The symbol has been removed"),
    "listed": ("symbol_listed", "The symbol is not open for trading yet"),
    "restrictedAPI": ("symbol_api", "The symbol does not support API trading"),
    "limit_open": ("symbol_limit_open", "The symbol only accepts orders that close positions"),
}
# Bitget's price limit. The contracts endpoint advertises buyLimitPriceRatio /
# sellLimitPriceRatio, but the band's formula is UNCERTAIN (protocol reference section 12)
# and is not modelled; what is: a limit price above PRICE_CEILING_X times the mark is
# refused with 40815, which keeps absurd prices (30 digits) out of the books, as on the
# exchange.
PRICE_CEILING_X = 100


class SimError(Exception):
    """A Bitget business error: the server turns it into the JSON envelope and HTTP status."""

    def __init__(self, code: str, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


def _err(kind: str, msg: str, status: int = 400) -> SimError:
    return SimError(SIM_CODES[kind], msg, status)


class EngineListener(Protocol):
    """What the engine reports; the WebSocket server implements it."""

    def on_book(self, market: "Market", bids: dict[int, int], asks: dict[int, int]) -> None:
        """Levels that changed: price units -> new total size units (0 = level gone)."""

    def on_trades(self, market: "Market", trades: list[tuple[str, int, int, str, int]]) -> None:
        """Public trades (trade_id, price, size, taker side, ts_ms) in execution order."""

    def on_private(self, account: "Account", events: list[tuple[str, Any]]) -> None:
        """Private pushes for one account: (channel, payload) with channel orders/fill/positions/account."""


class _Null:
    def on_book(self, market: Any, bids: Any, asks: Any) -> None:
        pass

    def on_trades(self, market: Any, trades: Any) -> None:
        pass

    def on_private(self, account: Any, events: Any) -> None:
        pass


class Resting:
    """An order resting in the book (background makers use this class directly)."""

    __slots__ = ("price", "remaining", "account", "live", "is_bid")

    def __init__(self, price: int, remaining: int, is_bid: bool, account: "Account | None") -> None:
        self.price = price
        self.remaining = remaining
        self.is_bid = is_bid
        self.account = account
        self.live = True


class Order(Resting):
    """A user order with everything Bitget reports about it."""

    __slots__ = ("order_id", "client_oid", "market", "side", "trade_side", "pos_side",
                 "hold_side", "order_type", "force", "size", "filled", "status", "reduce_only",
                 "margin_mode", "leverage", "c_time", "u_time", "fee", "quote_filled", "pnl",
                 "cancel_reason", "stp_mode", "preset_tp", "preset_sl", "limit_price",
                 "is_open", "source", "pos_mode")

    status: str


@dataclass
class Position:
    """One position (symbol, hold side) of an account."""

    symbol: str
    hold_side: str
    pos_id: str
    margin_mode: str
    leverage: int
    size: int = 0
    entry: Decimal = D0
    frozen: int = 0
    achieved: Decimal = D0
    fees: Decimal = D0
    funding: Decimal = D0
    c_time: int = 0
    u_time: int = 0


@dataclass
class Account:
    """A simulated trading account (one API key)."""

    uid: str
    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    wallet: Decimal
    ws_trading: bool = False
    pos_mode: str = "one_way_mode"
    margin_mode: dict[str, str] = field(default_factory=dict)
    leverage: dict[str, dict[str, int]] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    open_orders: dict[str, Order] = field(default_factory=dict)
    by_client_oid: dict[str, Order] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)
    bills: list[dict[str, Any]] = field(default_factory=list)

    def mode(self, symbol: str) -> str:
        """Margin mode of ``symbol``: crossed or isolated."""
        return self.margin_mode.get(symbol, "crossed")

    def lever(self, symbol: str, hold_side: str) -> int:
        """Leverage used for ``hold_side`` of ``symbol`` in the symbol's margin mode."""
        lev = self.leverage.setdefault(symbol, {"crossed": 20, "long": 20, "short": 20})
        return lev["crossed"] if self.mode(symbol) == "crossed" else lev[hold_side]


class _BookSide:
    __slots__ = ("levels", "prices", "is_bid")

    def __init__(self, is_bid: bool) -> None:
        self.levels: dict[int, list[Any]] = {}     # price -> [total, deque[Resting]]
        self.prices: list[int] = []                 # ascending
        self.is_bid = is_bid

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def top(self, n: int) -> list[int]:
        """The best ``n`` prices, best first."""
        if self.is_bid:
            return self.prices[:-n - 1:-1] if n < len(self.prices) else self.prices[::-1]
        return self.prices[:n]

    def depth_beyond(self, n: int) -> int:
        return max(0, len(self.prices) - n)


class Market:
    """One symbol: its matching book, mark price, funding rate and public history."""

    def __init__(self, spec: ContractSpec) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        # symbolStatus (Simulator.set_symbol_status); SYMBOL_STATUS_ERRORS says what it refuses
        self.status = spec.extra.get("symbolStatus", "normal")
        self.bids = _BookSide(True)
        self.asks = _BookSide(False)
        start = parse_units(spec.start_price, spec.price_place)
        assert start, spec.start_price
        self.mark = start
        self.index = start
        self.last = start
        self.funding_rate = Decimal("0.0001")
        self.next_funding_ms = 0
        self.seq = 0
        self.trades: deque[tuple[str, int, int, str, int]] = deque(maxlen=1000)
        self.volume_base = 0
        self.volume_quote = D0
        self.open_24h = start
        self.high_24h = start
        self.low_24h = start
        self.open_interest = 0
        # dirty levels since the last flush: price -> new total
        self.d_bids: dict[int, int] = {}
        self.d_asks: dict[int, int] = {}
        self.d_trades: list[tuple[str, int, int, str, int]] = []

    def side(self, is_bid: bool) -> _BookSide:
        """The bid side (``is_bid``) or the ask side of the matching book."""
        return self.bids if is_bid else self.asks

    def best_bid(self) -> int | None:
        """Best bid price units, or None."""
        return self.bids.best()

    def best_ask(self) -> int | None:
        """Best ask price units, or None."""
        return self.asks.best()

    def level_size(self, is_bid: bool, price: int) -> int:
        """Total resting size at ``price`` (0 when no level)."""
        lvl = self.side(is_bid).levels.get(price)
        return lvl[0] if lvl else 0

    def add_resting(self, o: Resting) -> None:
        """Put ``o`` at the back of its price level."""
        side = self.bids if o.is_bid else self.asks
        lvl = side.levels.get(o.price)
        if lvl is None:
            lvl = side.levels[o.price] = [0, deque()]
            insort(side.prices, o.price)
        lvl[0] += o.remaining
        lvl[1].append(o)
        (self.d_bids if o.is_bid else self.d_asks)[o.price] = lvl[0]

    def remove_resting(self, o: Resting) -> None:
        """Take a live resting order out of the book (lazy: the deque entry is skipped later)."""
        if not o.live:
            return
        o.live = False
        side = self.bids if o.is_bid else self.asks
        lvl = side.levels[o.price]
        lvl[0] -= o.remaining
        self._level_changed(side, o.price, lvl)

    def _level_changed(self, side: _BookSide, price: int, lvl: list[Any]) -> None:
        total = lvl[0]
        if total == 0:
            del side.levels[price]
            del side.prices[bisect_left(side.prices, price)]
        (self.d_bids if side.is_bid else self.d_asks)[price] = total


class Engine:
    """Markets and accounts of one simulated exchange."""

    def __init__(self, specs: Iterable[ContractSpec], *, clock_ms: Any = None) -> None:
        self.markets: dict[str, Market] = {s.symbol: Market(s) for s in specs}
        self.accounts: dict[str, Account] = {}
        self.listener: EngineListener = _Null()
        self._clock = clock_ms or (lambda: int(time.time() * 1000))
        self._order_ids = itertools.count(1_300_000_000_000_000_001)
        self._trade_ids = itertools.count(1_200_000_000_000_000_001)
        self._uids = itertools.count(6_000_000_001)
        self._pos_ids = itertools.count(1_100_000_000_000_000_001)
        self._bill_ids = itertools.count(1_000_000_000_000_000_001)
        self._dirty_accounts: dict[str, Account] = {}
        self._events: dict[str, list[tuple[str, Any]]] = {}
        self._pos_dirty: set[str] = set()
        self._flat: list[tuple[Account, Market, str]] = []

    def forget_history(self, acc: Account, before_ms: int
                       ) -> tuple[list[str], list[tuple[str, str]]]:
        """Drop ``acc``'s final orders last changed before ``before_ms``, and its fills and
        bills from before then (a long-running simulator's memory stays bounded; queries no
        longer find them). Returns the clientOids and (tradeId, orderId) pairs dropped."""
        orders = [o for o in acc.orders.values()
                  if o.order_id not in acc.open_orders and o.u_time < before_ms]
        for o in orders:
            del acc.orders[o.order_id]
            if acc.by_client_oid.get(o.client_oid) is o:
                del acc.by_client_oid[o.client_oid]
        keep = [f for f in acc.fills if int(f["cTime"]) >= before_ms]
        gone = [(f["tradeId"], f["orderId"]) for f in acc.fills if int(f["cTime"]) < before_ms]
        acc.fills[:] = keep
        acc.bills[:] = [b for b in acc.bills if int(b.get("cTime", before_ms)) >= before_ms]
        return [o.client_oid for o in orders], gone

    # ------------------------------------------------------------------ helpers
    def now_ms(self) -> int:
        """The exchange clock in ms."""
        return int(self._clock())

    def market(self, symbol: Any) -> Market:
        """The market of ``symbol`` (case-insensitive) or 40034."""
        m = self.markets.get(str(symbol).upper()) if symbol else None
        if m is None:
            if not symbol:
                raise _err("missing_param", "symbol cannot be empty")
            raise _err("no_symbol", f"Parameter {symbol} does not exist")
        return m

    def add_account(self, api_key: str, secret: str, passphrase: str, *, usdt: Any = 10_000,
                    ws_trading: bool = False, uid: str | None = None) -> Account:
        """Create an account with ``usdt`` in its futures wallet."""
        if api_key in self.accounts:
            raise ValueError(f"an account with api key {api_key[:4]}... exists already")
        acc = Account(uid or str(next(self._uids)), api_key, secret, passphrase, Decimal(str(usdt)),
                      ws_trading=ws_trading)
        self.accounts[api_key] = acc
        return acc

    def _push(self, acc: Account, channel: str, payload: Any) -> None:
        self._events.setdefault(acc.api_key, []).append((channel, payload))
        self._dirty_accounts[acc.api_key] = acc

    def flush(self) -> None:
        """Report everything that changed since the last flush to the listener."""
        for m in self.markets.values():
            self._flush_public(m)
        if self._dirty_accounts:
            dirty, events, pos_dirty = self._dirty_accounts, self._events, self._pos_dirty
            self._dirty_accounts, self._events, self._pos_dirty = {}, {}, set()
            for key, acc in dirty.items():
                evs = events.get(key, [])
                if key in pos_dirty:
                    evs.append(("positions", self.positions_payload(acc)))
                evs.append(("account", [self.account_payload(acc)]))
                self.listener.on_private(acc, evs)

    def flush_market(self, m: Market) -> None:
        """Flush one market (the synthetic flow's fast path), and accounts if it filled users."""
        self._flush_public(m)
        if self._dirty_accounts:
            self.flush()

    def _flush_public(self, m: Market) -> None:
        if m.d_bids or m.d_asks:
            bids, asks = m.d_bids, m.d_asks
            m.d_bids, m.d_asks = {}, {}
            self.listener.on_book(m, bids, asks)
        if m.d_trades:
            trades, m.d_trades = m.d_trades, []
            self.listener.on_trades(m, trades)

    # ------------------------------------------------------------------ background flow
    def bg_add(self, m: Market, is_bid: bool, price: int, size: int) -> Resting | None:
        """A background maker order; crosses like any order (then it is a taker)."""
        opp = m.asks if is_bid else m.bids
        best = opp.best()
        if best is not None and (price >= best if is_bid else price <= best):
            left = self._match(m, None, is_bid, price, size, "none")
            if left <= 0:
                return None
            size = left
        o = Resting(price, size, is_bid, None)
        m.add_resting(o)
        return o

    def bg_take(self, m: Market, is_bid: bool, size: int, limit: int | None = None) -> int:
        """A background market order (protected at ``limit``); returns the unfilled size."""
        return self._match(m, None, is_bid, limit, size, "none")

    # ------------------------------------------------------------------ matching
    def _match(self, m: Market, taker: Order | None, is_bid: bool, limit: int | None, qty: int,
               stp: str) -> int:
        """Fill ``qty`` against the opposite side up to ``limit``; returns what is left."""
        opp = m.asks if is_bid else m.bids
        levels, prices = opp.levels, opp.prices
        now = self.now_ms()
        spec = m.spec
        while qty > 0 and prices:
            best = prices[0] if is_bid else prices[-1]
            if limit is not None and (best > limit if is_bid else best < limit):
                break
            lvl = levels[best]
            queue = lvl[1]
            while qty > 0 and queue:
                mk = queue[0]
                if not mk.live:
                    queue.popleft()
                    continue
                if (taker is not None and mk.account is taker.account and stp != "none"):
                    assert isinstance(mk, Order)
                    if stp in ("cancel_maker", "cancel_both"):
                        self._cancel(mk, "stp_cancel")
                    if stp in ("cancel_taker", "cancel_both"):
                        taker.cancel_reason = "stp_cancel"
                        self._trim_level(m, opp, best)
                        return -qty
                    continue
                q = qty if qty < mk.remaining else mk.remaining
                if mk.account is not None and mk.is_open is False:   # type: ignore[attr-defined]
                    room = self._reducible(mk)                          # type: ignore[arg-type]
                    if room <= 0:
                        self._cancel(mk, "reduce_only_cancel")          # type: ignore[arg-type]
                        continue
                    q = min(q, room)
                if taker is not None and taker.is_open is False:
                    q = min(q, self._reducible(taker))
                    if q <= 0:
                        self._trim_level(m, opp, best)
                        return qty
                mk.remaining -= q
                lvl[0] -= q
                qty -= q
                if mk.remaining == 0:
                    mk.live = False
                    queue.popleft()
                tid = str(next(self._trade_ids))
                m.d_trades.append((tid, best, q, "buy" if is_bid else "sell", now))
                m.trades.append((tid, best, q, "buy" if is_bid else "sell", now))
                m.last = best
                m.volume_base += q
                m.volume_quote += spec.notional(best, q)
                if best > m.high_24h:
                    m.high_24h = best
                if best < m.low_24h:
                    m.low_24h = best
                if mk.account is not None:
                    assert isinstance(mk, Order)
                    self._fill(mk, best, q, True, tid, now)
                if taker is not None:
                    self._fill(taker, best, q, False, tid, now)
            self._trim_level(m, opp, best)
        return qty

    def _trim_level(self, m: Market, side: _BookSide, price: int) -> None:
        lvl = side.levels.get(price)
        if lvl is not None:
            m._level_changed(side, price, lvl)

    # ------------------------------------------------------------------ accounts: fills
    def _reducible(self, o: Order) -> int:
        """How much of a reduce-only / close order may still fill (the position's size)."""
        pos = o.account.positions.get((o.market.symbol, o.hold_side))  # type: ignore[union-attr]
        return pos.size if pos else 0

    def _fill(self, o: Order, price: int, q: int, maker: bool, tid: str, now: int) -> None:
        acc = o.account
        assert acc is not None
        m = o.market
        spec = m.spec
        notional = spec.notional(price, q)
        rate = Decimal(spec.maker_fee_rate if maker else spec.taker_fee_rate)
        fee = notional * rate
        acc.wallet -= fee
        realized = D0
        if o.is_open is True:
            self._pos_open(acc, m, o.hold_side, price, q, now, fee)
        elif o.is_open is False:
            realized += self._pos_close(acc, m, o.hold_side, price, q, now, fee, frozen=q)
        else:
            # one-way, not reduce-only: close the opposite position first, open the rest
            opp = "short" if o.is_bid else "long"   # a buy closes a short first
            pos = acc.positions.get((m.symbol, opp))
            close_q = min(q, pos.size) if pos else 0
            if close_q:
                realized += self._pos_close(acc, m, opp, price, close_q, now, fee * close_q / q)
            if q - close_q:
                self._pos_open(acc, m, "long" if o.is_bid else "short", price, q - close_q, now,
                               fee * (q - close_q) / q)
        acc.wallet += realized
        o.filled += q
        o.fee -= fee
        o.pnl += realized
        o.quote_filled += notional
        o.u_time = now
        o.status = "filled" if o.filled >= o.size else "partially_filled"
        if o.status == "filled":
            o.live = False
            acc.open_orders.pop(o.order_id, None)
        self._pos_dirty.add(acc.api_key)
        fill = {
            "orderId": o.order_id, "clientOid": o.client_oid, "tradeId": tid, "symbol": m.symbol,
            "side": "buy" if o.is_bid else "sell", "orderType": o.order_type,
            "posMode": acc.pos_mode, "price": spec.price_str(price),
            "baseVolume": spec.size_str(q), "quoteVolume": _dec_str(notional),
            "profit": _dec_str(realized), "enterPointSource": "api",
            "tradeSide": o.trade_side, "tradeScope": "maker" if maker else "taker",
            "feeDetail": [{"feeCoin": MARGIN_COIN, "deduction": "no", "totalDeductionFee": "0",
                           "totalFee": _dec_str(-fee)}],
            "cTime": str(now), "uTime": str(now),
        }
        acc.fills.append(fill)
        self._bill(acc, m.symbol, realized, -fee, self._bill_type(o), now)
        flat, self._flat = self._flat, []
        push = self.order_payload(o)
        push.update({"tradeId": tid, "fillPrice": spec.price_str(price), "baseVolume": spec.size_str(q),
                     "fillTime": str(now), "fillFee": _dec_str(-fee), "fillFeeCoin": MARGIN_COIN,
                     "fillNotionalUsd": _dec_str(notional), "tradeScope": "M" if maker else "T",
                     "pnl": _dec_str(realized)})
        self._push(acc, "orders", push)
        self._push(acc, "fill", fill)
        for f_acc, f_m, f_hold in flat:
            # a position went flat: its remaining close / reduce-only orders can never fill
            for other in list(f_acc.open_orders.values()):
                if other is not o and other.market is f_m and other.hold_side == f_hold \
                        and other.is_open is False:
                    self._cancel(other, "reduce_only_cancel")

    def _bill_type(self, o: Order) -> str:
        if o.trade_side in ("open", "close"):
            return f"{o.trade_side}_{o.hold_side}"
        return "buy" if o.is_bid else "sell"

    def _bill(self, acc: Account, symbol: str, amount: Decimal, fee: Decimal, kind: str,
              now: int) -> None:
        acc.bills.append({"billId": str(next(self._bill_ids)), "symbol": symbol,
                          "amount": _dec_str(amount), "fee": _dec_str(fee), "feeByCoupon": "",
                          "businessType": kind, "coin": MARGIN_COIN,
                          "balance": _dec_str(acc.wallet), "cTime": str(now)})

    def _pos_open(self, acc: Account, m: Market, hold: str, price: int, q: int, now: int,
                  fee: Decimal) -> None:
        key = (m.symbol, hold)
        pos = acc.positions.get(key)
        if pos is None:
            pos = acc.positions[key] = Position(m.symbol, hold, str(next(self._pos_ids)),
                                                acc.mode(m.symbol), acc.lever(m.symbol, hold),
                                                c_time=now)
        px = m.spec.price_dec(price)
        pos.entry = (pos.entry * pos.size + px * q) / (pos.size + q)
        pos.size += q
        pos.fees += fee
        pos.u_time = now
        m.open_interest += q

    def _pos_close(self, acc: Account, m: Market, hold: str, price: int, q: int, now: int,
                   fee: Decimal, frozen: int = 0) -> Decimal:
        pos = acc.positions[(m.symbol, hold)]
        px = m.spec.price_dec(price)
        size = m.spec.size_dec(q)
        pnl = (px - pos.entry) * size if hold == "long" else (pos.entry - px) * size
        pos.size -= q
        pos.frozen = max(0, pos.frozen - frozen)
        pos.achieved += pnl
        pos.fees += fee
        pos.u_time = now
        m.open_interest -= q
        if pos.size <= 0:
            del acc.positions[(m.symbol, hold)]
            self._flat.append((acc, m, hold))
        return pnl

    # ------------------------------------------------------------------ accounts: orders
    def _new_order_id(self) -> str:
        return str(next(self._order_ids))

    def place_order(self, acc: Account, p: dict[str, Any], *, symbol: Any = None) -> Order:
        """Validate and place one order from Bitget's place-order parameters."""
        o = self._place(acc, p, symbol)
        assert o is not None
        return o

    def _place(self, acc: Account, p: dict[str, Any], symbol: Any,
               replacing: Order | None = None) -> Order | None:
        """Validate and place; with ``replacing`` only validate, as if that order were gone."""
        m = self.market(symbol if symbol is not None else p.get("symbol"))
        spec = m.spec
        _check_product(p.get("productType"))
        _check_coin(p.get("marginCoin"))
        mm = _lower(p.get("marginMode"), "marginMode")
        if mm == "cross":
            mm = "crossed"
        if mm not in ("crossed", "isolated"):
            raise _err("bad_param", "marginMode must be crossed or isolated")
        if mm != acc.mode(m.symbol):
            raise _err("bad_param", f"marginMode {mm} does not match the {m.symbol} setting "
                       f"{acc.mode(m.symbol)}")
        side = _lower(p.get("side"), "side")
        if side not in ("buy", "sell"):
            raise _err("bad_param", "side must be buy or sell")
        otype = _lower(p.get("orderType"), "orderType")
        if otype not in ("limit", "market"):
            raise _err("bad_param", "orderType must be limit or market")
        force = str(p.get("force") or "gtc").lower()
        if force not in ("gtc", "ioc", "fok", "post_only"):
            raise _err("bad_param", "force must be gtc, ioc, fok or post_only")
        if otype == "market":
            force = "gtc"
        size = _units(p.get("size"), spec.volume_place, "size")
        if size <= 0 or size % spec.lot:
            raise _err("bad_scale", f"size must be a positive multiple of {spec.size_multiplier}")
        if size < (parse_units(spec.min_trade_num, spec.volume_place) or 0):
            raise _err("below_min_qty", f"The order quantity is less than the minimum {spec.min_trade_num}")
        max_qty = spec.max_market_order_qty if otype == "market" else spec.max_order_qty
        if size > (parse_units(max_qty, spec.volume_place) or 0):
            raise _err("above_max_qty", f"The order quantity exceeds the maximum {max_qty}")
        price: int | None = None
        if otype == "limit":
            if p.get("price") in (None, ""):
                raise _err("missing_param", "price cannot be empty for a limit order")
            price = parse_units(str(p.get("price")), spec.price_place)
            if price is None or price <= 0 or price % spec.tick:
                tick = spec.price_str(spec.tick)
                raise _err("off_tick", f"The price should be a multiple of {tick}")
            if price > m.mark * PRICE_CEILING_X:
                raise _err("price_high", "The order price is higher than the highest price "
                           f"limit {spec.price_str(m.mark * PRICE_CEILING_X)}")
        trade_side = str(p.get("tradeSide") or "").lower()
        reduce_only = str(p.get("reduceOnly") or "NO").upper() == "YES"
        is_bid = side == "buy"
        if acc.pos_mode == "hedge_mode":
            if trade_side not in ("open", "close"):
                raise _err("pos_mode", "tradeSide open or close is required in hedge mode")
            hold = "long" if is_bid else "short"
            is_open: bool | None = trade_side == "open"
            if not is_open:
                is_bid = not is_bid            # close long executes a sell
            reduce_only = False
            pos_side = hold
        else:
            if trade_side:
                raise _err("pos_mode", "The order type for unilateral position must also be the "
                           "unilateral position type")
            hold = "short" if is_bid else "long"   # the position a reduce-only order closes
            is_open = False if reduce_only else None
            trade_side = "buy_single" if is_bid else "sell_single"
            pos_side = "net"
        if m.status != "normal" and not (m.status == "limit_open" and is_open is False):
            kind, why = SYMBOL_STATUS_ERRORS.get(m.status, ("symbol_off", "The symbol is not open"))
            raise _err(kind, why)
        client_oid = p.get("clientOid")
        if client_oid in (None, ""):
            client_oid = None
        else:
            client_oid = str(client_oid)
            if len(client_oid) > 50 or not all(c.isalnum() or c in "-+_#" for c in client_oid) \
                    or not client_oid.isascii():
                raise SimError("40305", "clientOid must be at most 50 of [0-9a-zA-Z-+_#]")
            if client_oid in acc.by_client_oid:
                raise _err("dup_client_oid", "Duplicate clientOid")
        stp = str(p.get("stpMode") or "none").lower()
        if stp not in STP_MODES:
            raise _err("bad_param", "stpMode must be none, cancel_taker, cancel_maker or "
                       "cancel_both")
        ref_price = price if price is not None else (m.best_ask() if is_bid else m.best_bid()) or m.mark
        o_hold = hold if is_open is not None else ("long" if is_bid else "short")
        lev = acc.lever(m.symbol, o_hold)
        # what part of the order opens exposure
        if is_open is True:
            opening = size
        elif is_open is False:
            pos = acc.positions.get((m.symbol, hold))
            if pos is None or pos.size <= 0:
                raise _err("no_position", "No position to close")
            frozen = pos.frozen
            if replacing is not None and replacing.is_open is False \
                    and replacing.market is m and replacing.hold_side == hold:
                frozen -= replacing.size - replacing.filled
            if acc.pos_mode == "hedge_mode" and size > pos.size - frozen:
                raise _err("no_position", f"Insufficient position to close: available "
                           f"{spec.size_str(pos.size - frozen)}")
            opening = 0
        else:
            pos = acc.positions.get((m.symbol, hold))
            opening = max(0, size - (pos.size if pos else 0))
        if opening:
            notional = spec.notional(ref_price, opening)
            if notional < Decimal(spec.min_trade_usdt):
                raise _err("below_min_usdt", f"less than the minimum amount {spec.min_trade_usdt} USDT")
            need = notional / lev + notional * Decimal(spec.taker_fee_rate)
            freed = self._margin_of(acc, replacing) if replacing is not None else D0
            if need > self.available(acc) + freed:
                raise _err("insufficient", "The order amount exceeds the balance")
        if replacing is not None:
            return None
        now = self.now_ms()
        o = Order(price or 0, size, is_bid, acc)
        o.order_id = self._new_order_id()
        o.client_oid = client_oid or o.order_id
        o.market = m
        o.side = side
        o.trade_side = trade_side
        o.pos_side = pos_side
        o.hold_side = o_hold
        o.order_type = otype
        o.force = force
        o.size = size
        o.filled = 0
        o.status = "live"
        o.reduce_only = reduce_only
        o.margin_mode = acc.mode(m.symbol)
        o.leverage = lev
        o.c_time = o.u_time = now
        o.fee = D0
        o.quote_filled = D0
        o.pnl = D0
        o.cancel_reason = ""
        o.stp_mode = stp
        o.preset_tp = str(p.get("presetStopSurplusPrice") or "")
        o.preset_sl = str(p.get("presetStopLossPrice") or "")
        o.limit_price = price
        o.is_open = is_open
        o.source = "market" if otype == "market" else "normal"
        o.pos_mode = acc.pos_mode      # an order keeps the mode it was placed in
        o.live = False
        acc.orders[o.order_id] = o
        acc.by_client_oid[o.client_oid] = o
        if is_open is False and acc.pos_mode == "hedge_mode":
            acc.positions[(m.symbol, hold)].frozen += size
        self._execute(o)
        return o

    def _execute(self, o: Order) -> None:
        """Post a freshly accepted order: live push, match, rest or cancel the rest."""
        m, acc = o.market, o.account
        assert acc is not None
        self._push(acc, "orders", self.order_payload(o))
        opp_best = m.best_ask() if o.is_bid else m.best_bid()
        crosses = opp_best is not None and (o.order_type == "market" or (
            opp_best <= o.price if o.is_bid else opp_best >= o.price))
        if o.force == "post_only" and crosses:
            self._cancel(o, "post_only_cancel")
            return
        limit = None if o.order_type == "market" else o.price
        if o.force == "fok" and not self._fok_fills(o, limit):
            self._cancel(o, "fok_cancel")
            return
        left = o.size
        if crosses:
            left = self._match(m, o, o.is_bid, limit, o.size, o.stp_mode)
        if o.status == "filled":
            return
        if left < 0 or o.order_type == "market" or o.force in ("ioc", "fok") or (
                o.reduce_only and self._reducible(o) <= 0):
            reason = o.cancel_reason or ("ioc_cancel" if o.force in ("ioc", "fok") else
                                         "market_cancel" if o.order_type == "market" else
                                         "reduce_only_cancel")
            self._cancel(o, reason)
            return
        o.remaining = o.size - o.filled
        o.live = True
        acc.open_orders[o.order_id] = o
        m.add_resting(o)

    def _fok_fills(self, o: Order, limit: int | None) -> bool:
        """Whether ``_match`` would fill all of ``o``: the book's size up to ``limit``, less
        what self-trade prevention and reduce-only limits (taker's and makers') take away."""
        if o.is_open is False and self._reducible(o) < o.size:
            return False
        m = o.market
        side = m.asks if o.is_bid else m.bids
        room: dict[tuple[str, str], int] = {}   # what reduce-only makers' positions allow
        got = 0
        for p in (side.prices if o.is_bid else reversed(side.prices)):
            if limit is not None and (p > limit if o.is_bid else p < limit):
                break
            for mk in side.levels[p][1]:
                if not mk.live:
                    continue
                q = mk.remaining
                if mk.account is not None:
                    assert isinstance(mk, Order)
                    if mk.account is o.account and o.stp_mode != "none":
                        if o.stp_mode == "cancel_maker":
                            continue        # canceled, not matched
                        return False        # the taker is canceled here
                    if mk.is_open is False:
                        key = (mk.account.api_key, mk.hold_side)
                        left = room[key] if key in room else self._reducible(mk)
                        q = min(q, left)
                        room[key] = left - q
                got += q
                if got >= o.size:
                    return True
        return False

    def _cancel(self, o: Order, reason: str) -> None:
        acc = o.account
        assert acc is not None
        if o.status in ("filled", "canceled"):
            return
        o.market.remove_resting(o)
        o.live = False
        o.status = "canceled"
        o.cancel_reason = reason
        o.u_time = self.now_ms()
        acc.open_orders.pop(o.order_id, None)
        if o.is_open is False and acc.pos_mode == "hedge_mode":
            pos = acc.positions.get((o.market.symbol, o.hold_side))
            if pos is not None:
                pos.frozen = max(0, pos.frozen - (o.size - o.filled))
        self._push(acc, "orders", self.order_payload(o))

    def find_order(self, acc: Account, symbol: Any, order_id: Any, client_oid: Any) -> Order:
        """An order by orderId (wins) or clientOid, or 40768."""
        o = None
        if order_id not in (None, ""):
            o = acc.orders.get(str(order_id))
        elif client_oid not in (None, ""):
            o = acc.by_client_oid.get(str(client_oid))
        else:
            raise _err("missing_param", "orderId or clientOid is required")
        if o is None or (symbol and o.market.symbol != str(symbol).upper()):
            raise _err("no_order", "Order does not exist")
        return o

    def cancel_order(self, acc: Account, symbol: Any, order_id: Any, client_oid: Any) -> Order:
        """Cancel one open order, or 40768 when it is unknown or already final."""
        self.market(symbol)
        o = self.find_order(acc, symbol, order_id, client_oid)
        if o.status in ("filled", "canceled"):
            raise _err("no_order", "Order does not exist or is already final")
        self._cancel(o, "normal_cancel")
        return o

    def cancel_all(self, acc: Account, symbol: str | None = None) -> list[Order]:
        """Cancel every open order (of ``symbol`` when given)."""
        done = []
        for o in list(acc.open_orders.values()):
            if symbol is None or o.market.symbol == symbol:
                self._cancel(o, "normal_cancel")
                done.append(o)
        return done

    def close_positions(self, acc: Account, symbol: str | None = None,
                        hold_side: str | None = None) -> tuple[list[Order], list[dict[str, str]]]:
        """Bitget's flash close: each position (of ``symbol``; ``hold_side`` in hedge mode)
        closed whole by a market order. The position's pending closing orders are canceled
        first so all of it is free to close (whether Bitget does that is UNCERTAIN).
        Returns the closing orders and the failures (``errorCode``, ``errorMsg``)."""
        if hold_side not in (None, "", "long", "short"):
            raise _err("bad_param", "holdSide must be long or short")
        done: list[Order] = []
        failed: list[dict[str, str]] = []
        for (sym, hold), pos in list(acc.positions.items()):
            if pos.size <= 0 or (symbol and sym != symbol):
                continue
            if hold_side and acc.pos_mode == "hedge_mode" and hold != hold_side:
                continue
            m = self.markets[sym]
            for o in list(acc.open_orders.values()):
                if o.market is m and o.is_open is False and o.hold_side == hold:
                    self._cancel(o, "normal_cancel")
            p = {"symbol": sym, "productType": PRODUCT_TYPE, "marginMode": acc.mode(sym),
                 "marginCoin": MARGIN_COIN, "size": m.spec.size_str(pos.size),
                 "orderType": "market"}
            if acc.pos_mode == "hedge_mode":
                p["side"] = "buy" if hold == "long" else "sell"   # Bitget's hedge close sides
                p["tradeSide"] = "close"
            else:
                p["side"] = "sell" if hold == "long" else "buy"
                p["reduceOnly"] = "YES"
            try:
                done.append(self.place_order(acc, p))
            except SimError as e:
                failed.append({"orderId": "", "clientOid": "", "errorCode": e.code,
                               "errorMsg": e.msg})
        return done, failed

    def modify_order(self, acc: Account, p: dict[str, Any]) -> Order:
        """Bitget's modify-order: cancel the live limit order and place a new one (newClientOid)."""
        m = self.market(p.get("symbol"))
        _check_product(p.get("productType"))
        o = self.find_order(acc, m.symbol, p.get("orderId"), p.get("clientOid"))
        new_oid = p.get("newClientOid")
        if not new_oid:
            raise _err("modify_new_oid", "newClientOid is required")
        new_price, new_size = p.get("newPrice"), p.get("newSize")
        if (new_price in (None, "")) != (new_size in (None, "")):
            raise _err("modify_pair", "newPrice and newSize must be passed together")
        if new_price in (None, ""):
            raise _err("modify_nothing", "Nothing was changed")
        if o.status != "live" or o.order_type != "limit":
            raise _err("no_order" if o.status in ("filled", "canceled") else "bad_param",
                       "Only an unfilled live limit order can be modified")
        if str(new_oid) in acc.by_client_oid:
            raise _err("dup_client_oid", "Duplicate clientOid")
        params = {"symbol": m.symbol, "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN,
                  "marginMode": o.margin_mode, "side": o.side, "orderType": "limit",
                  "force": o.force, "price": new_price, "size": new_size,
                  "clientOid": new_oid, "stpMode": o.stp_mode}
        if o.trade_side in ("open", "close"):
            params["tradeSide"] = o.trade_side
        if o.reduce_only:
            params["reduceOnly"] = "YES"
        # validate the replacement before touching the old order: an error leaves it as it was
        self._place(acc, params, None, o)
        self._cancel(o, "modify_cancel")
        self.place_order(acc, params)
        return o

    # ------------------------------------------------------------------ settings
    def set_position_mode(self, acc: Account, mode: Any) -> None:
        """one_way_mode / hedge_mode; 40920 while any position or order exists."""
        mode = str(mode or "")
        if mode not in ("one_way_mode", "hedge_mode"):
            raise _err("bad_param", "posMode must be one_way_mode or hedge_mode")
        if mode != acc.pos_mode and (acc.positions or acc.open_orders):
            raise _err("mode_locked", "Position or order exists, the position mode cannot be switched")
        acc.pos_mode = mode

    def set_margin_mode(self, acc: Account, symbol: Any, mode: Any) -> None:
        """crossed / isolated for one symbol; 45117 with a position or order on it."""
        m = self.market(symbol)
        mode = str(mode or "").lower()
        if mode not in ("crossed", "isolated"):
            raise _err("bad_param", "marginMode must be crossed or isolated")
        busy = any(k[0] == m.symbol for k in acc.positions) or any(
            o.market is m for o in acc.open_orders.values())
        if busy and mode != acc.mode(m.symbol):
            raise _err("margin_locked", "Holding positions or orders, margin mode cannot be adjusted")
        acc.margin_mode[m.symbol] = mode

    def set_leverage(self, acc: Account, symbol: Any, p: dict[str, Any]) -> dict[str, int]:
        """Leverage per Bitget's rules (cross, isolated one side or both)."""
        m = self.market(symbol)
        lev = acc.leverage.setdefault(m.symbol, {"crossed": 20, "long": 20, "short": 20})

        def check(v: Any) -> int:
            try:
                n = int(str(v))
            except ValueError:
                raise _err("bad_lever", f"leverage {v!r} is not an integer") from None
            if not m.spec.min_lever <= n <= m.spec.max_lever:
                raise _err("bad_lever", f"leverage must be between {m.spec.min_lever} and "
                           f"{m.spec.max_lever}")
            return n

        hold = str(p.get("holdSide") or "").lower()
        if p.get("longLeverage") not in (None, "") or p.get("shortLeverage") not in (None, ""):
            if p.get("longLeverage") not in (None, ""):
                lev["long"] = check(p["longLeverage"])
            if p.get("shortLeverage") not in (None, ""):
                lev["short"] = check(p["shortLeverage"])
        elif p.get("leverage") in (None, ""):
            raise _err("missing_param", "leverage cannot be empty")
        else:
            n = check(p["leverage"])
            if acc.mode(m.symbol) == "crossed":
                lev["crossed"] = n
            elif hold in ("long", "short"):
                lev[hold] = n
            else:
                lev["long"] = lev["short"] = n
        for (sym, side), pos in acc.positions.items():
            if sym == m.symbol:
                pos.leverage = acc.lever(sym, side)
        return lev

    # ------------------------------------------------------------------ money
    def upnl(self, pos: Position) -> Decimal:
        """Unrealized PnL of ``pos`` at the mark price."""
        spec = self.markets[pos.symbol].spec
        mark = spec.price_dec(self.markets[pos.symbol].mark)
        size = spec.size_dec(pos.size)
        return (mark - pos.entry) * size if pos.hold_side == "long" else (pos.entry - mark) * size

    def pos_margin(self, pos: Position) -> Decimal:
        """Margin held by ``pos``: size x entry / leverage."""
        spec = self.markets[pos.symbol].spec
        return spec.size_dec(pos.size) * pos.entry / pos.leverage

    def order_margin(self, acc: Account) -> Decimal:
        """Margin locked by resting opening orders."""
        return sum((self._margin_of(acc, o) for o in acc.open_orders.values()), D0)

    def _margin_of(self, acc: Account, o: Order) -> Decimal:
        """Margin one resting order locks: its opening part x limit price / leverage."""
        if o.is_open is False or o.reduce_only:
            return D0
        opening = o.size - o.filled
        if o.is_open is None:
            opp = acc.positions.get((o.market.symbol, "short" if o.is_bid else "long"))
            opening = max(0, opening - (opp.size if opp else 0))
        return o.market.spec.notional(o.price, opening) / o.leverage

    def balance(self, acc: Account) -> dict[str, Decimal]:
        """The numbers behind the accounts endpoint and the account push."""
        cross_m = iso_m = cross_u = iso_u = D0
        for pos in acc.positions.values():
            if pos.margin_mode == "crossed":
                cross_m += self.pos_margin(pos)
                cross_u += self.upnl(pos)
            else:
                iso_m += self.pos_margin(pos)
                iso_u += self.upnl(pos)
        locked = self.order_margin(acc)
        equity = acc.wallet + cross_u + iso_u
        available = acc.wallet + cross_u - cross_m - iso_m - locked
        transfer = min(available, acc.wallet - cross_m - iso_m - locked)
        return {"wallet": acc.wallet, "equity": equity, "available": available, "locked": locked,
                "crossedMargin": cross_m, "isolatedMargin": iso_m, "crossedUPL": cross_u,
                "isolatedUPL": iso_u, "maxTransferOut": max(D0, transfer)}

    def available(self, acc: Account) -> Decimal:
        """Balance usable to open positions."""
        return self.balance(acc)["available"]

    def settle_funding(self, symbol: str | None = None) -> None:
        """Funding settlement now: every position pays or receives size x mark x rate."""
        now = self.now_ms()
        for acc in self.accounts.values():
            for pos in list(acc.positions.values()):
                if symbol is not None and pos.symbol != symbol:
                    continue
                m = self.markets[pos.symbol]
                value = m.spec.size_dec(pos.size) * m.spec.price_dec(m.mark) * m.funding_rate
                amount = -value if pos.hold_side == "long" else value
                acc.wallet += amount
                pos.funding += amount
                pos.u_time = now
                self._bill(acc, pos.symbol, amount, D0, "contract_settle_fee", now)
                self._dirty_accounts[acc.api_key] = acc
                self._events.setdefault(acc.api_key, [])
                self._pos_dirty.add(acc.api_key)
        self.flush()

    # ------------------------------------------------------------------ payloads
    def order_payload(self, o: Order, *, state_key: str = "status") -> dict[str, Any]:
        """An order as the orders channel (and, with ``state_key``, REST) shows it."""
        spec = o.market.spec
        avg = (o.quote_filled / o.market.spec.size_dec(o.filled)) if o.filled else None
        return {
            "orderId": o.order_id, "clientOid": o.client_oid, "instId": o.market.symbol,
            "symbol": o.market.symbol,
            "price": spec.price_str(o.limit_price) if o.limit_price else "0",
            "size": spec.size_str(o.size), "orderType": o.order_type, "force": o.force,
            "side": o.side, "posSide": o.pos_side, "tradeSide": o.trade_side,
            "posMode": o.pos_mode,
            "marginMode": o.margin_mode, "marginCoin": MARGIN_COIN, "leverage": str(o.leverage),
            "reduceOnly": "yes" if o.reduce_only else "no", state_key: o.status,
            "accBaseVolume": spec.size_str(o.filled), "baseVolume": spec.size_str(o.filled),
            "priceAvg": _dec_str(avg) if avg is not None else "",
            "notionalUsd": _dec_str(spec.notional(o.limit_price or o.market.mark, o.size)),
            "quoteVolume": _dec_str(o.quote_filled), "totalProfits": _dec_str(o.pnl),
            "fee": _dec_str(o.fee), "enterPointSource": "API", "orderSource": o.source,
            "cancelReason": o.cancel_reason, "stpMode": o.stp_mode,
            "presetStopSurplusPrice": o.preset_tp, "presetStopLossPrice": o.preset_sl,
            "feeDetail": [{"feeCoin": MARGIN_COIN, "fee": _dec_str(o.fee)}],
            "cTime": str(o.c_time), "uTime": str(o.u_time),
        }

    def rest_order(self, o: Order, *, state_key: str = "status") -> dict[str, Any]:
        """An order as the REST endpoints show it (reduceOnly YES/NO)."""
        d = self.order_payload(o, state_key=state_key)
        d["reduceOnly"] = "YES" if o.reduce_only else "NO"
        for k in ("instId", "accBaseVolume", "feeDetail", "notionalUsd", "stpMode"):
            d.pop(k, None)
        return d

    def position_row(self, acc: Account, pos: Position) -> dict[str, Any]:
        """A position as REST and the positions channel show it."""
        m = self.markets[pos.symbol]
        spec = m.spec
        margin = self.pos_margin(pos)
        upnl = self.upnl(pos)
        kmr = Decimal(spec.keep_margin_rate)
        entry = pos.entry
        if pos.hold_side == "long":
            liq = entry * (1 - Decimal(1) / pos.leverage + kmr)
        else:
            liq = entry * (1 + Decimal(1) / pos.leverage - kmr)
        return {
            "posId": pos.pos_id, "instId": pos.symbol, "symbol": pos.symbol,
            "marginCoin": MARGIN_COIN, "marginSize": _dec_str(margin),
            "marginMode": pos.margin_mode, "holdSide": pos.hold_side, "posMode": acc.pos_mode,
            "total": spec.size_str(pos.size), "available": spec.size_str(pos.size - pos.frozen),
            "frozen": spec.size_str(pos.frozen), "locked": spec.size_str(pos.frozen),
            "openDelegateSize": spec.size_str(sum(
                o.size - o.filled for o in acc.open_orders.values()
                if o.market is m and o.is_open is True and o.hold_side == pos.hold_side)),
            "openPriceAvg": _dec_str(entry), "leverage": str(pos.leverage),
            "achievedProfits": _dec_str(pos.achieved), "unrealizedPL": _dec_str(upnl),
            "unrealizedPLR": _dec_str(upnl / margin) if margin else "0",
            "liquidationPrice": _dec_str(max(D0, liq)), "keepMarginRate": spec.keep_margin_rate,
            "marginRate": "0", "marginRatio": "0",
            "breakEvenPrice": _dec_str(entry), "totalFee": _dec_str(pos.funding),
            "deductedFee": _dec_str(pos.fees), "markPrice": spec.price_str(m.mark),
            "assetMode": "single", "autoMargin": "off",
            "cTime": str(pos.c_time), "uTime": str(pos.u_time),
        }

    def positions_payload(self, acc: Account) -> list[dict[str, Any]]:
        """The positions push: every open position of the account (a full snapshot)."""
        return [self.position_row(acc, p) for p in acc.positions.values()]

    def account_payload(self, acc: Account) -> dict[str, Any]:
        """The account push row."""
        b = self.balance(acc)
        upl = b["crossedUPL"] + b["isolatedUPL"]
        return {"marginCoin": MARGIN_COIN, "frozen": money(b["locked"]),
                "available": money(b["available"]), "maxOpenPosAvailable": money(b["available"]),
                "maxTransferOut": money(b["maxTransferOut"]), "equity": money(b["equity"]),
                "usdtEquity": money(b["equity"]), "crossedRiskRate": "0",
                "unrealizedPL": money(upl), "assetMode": "single"}

    def accounts_row(self, acc: Account) -> dict[str, Any]:
        """The accounts endpoint row."""
        b = self.balance(acc)
        upl = b["crossedUPL"] + b["isolatedUPL"]
        btc = self.markets.get("BTCUSDT")
        btc_eq = b["equity"] / btc.spec.price_dec(btc.mark) if btc else D0
        return {"marginCoin": MARGIN_COIN, "locked": money(b["locked"]),
                "available": money(b["available"]), "crossedMaxAvailable": money(b["available"]),
                "isolatedMaxAvailable": money(b["available"]),
                "maxTransferOut": money(b["maxTransferOut"]), "accountEquity": money(b["equity"]),
                "usdtEquity": money(b["equity"]), "btcEquity": money(btc_eq),
                "crossedRiskRate": "0", "unrealizedPL": money(upl), "coupon": "0",
                "unionTotalMargin": money(b["equity"]), "unionAvailable": money(b["available"]),
                "unionMm": "0", "assetList": [], "isolatedMargin": money(b["isolatedMargin"]),
                "crossedMargin": money(b["crossedMargin"]),
                "crossedUnrealizedPL": money(b["crossedUPL"]),
                "isolatedUnrealizedPL": money(b["isolatedUPL"]), "assetMode": "single"}


def _dec_str(d: Decimal) -> str:
    """An exact Decimal without exponent or needless trailing zeros ('0' for zero)."""
    if not d:
        return "0"
    return format(fixed(d, _E12).normalize(WIDE), "f")


def _lower(v: Any, name: str) -> str:
    if v in (None, ""):
        raise _err("missing_param", f"{name} cannot be empty")
    return str(v).lower()


def _units(v: Any, places: int, name: str) -> int:
    if v in (None, ""):
        raise _err("missing_param", f"{name} cannot be empty")
    n = parse_units(str(v), places)
    if n is None:
        raise _err("bad_scale", f"Parameter verification exception {name} checkBDScale error")
    return n


def _check_product(v: Any) -> None:
    if v in (None, ""):
        raise _err("missing_param", "productType cannot be empty")
    if str(v).upper() != PRODUCT_TYPE:
        raise _err("bad_param", f"productType {v} is not supported by the simulator (USDT-FUTURES only)")


def _check_coin(v: Any) -> None:
    if v in (None, ""):
        raise _err("missing_param", "marginCoin cannot be empty")
    if str(v).upper() != MARGIN_COIN:
        raise _err("bad_param", f"marginCoin {v} is not supported (USDT only)")
