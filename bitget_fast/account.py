"""Positions and balances, kept from the private stream and checked against REST snapshots.

Bitget's ``positions`` push (subscribed with ``instId: default``) and REST
``all-position`` both list every open position of the product type, so each is applied
as a full snapshot: a position absent from it is closed. ``account`` pushes and REST
``accounts`` rows are one balance per margin coin. A REST snapshot that disagrees with
what the stream built is applied and counted (``drift_corrections``): it means the
stream missed something, which reconciliation just repaired.

A REST snapshot can also be older than the stream: it was computed when it was asked for,
and a push that arrived while its reply was on the way says more. So a snapshot asked for
(``asked_at``, ``time.monotonic()``) before the stream's latest positions push, or the
latest account push of that coin, is not applied (``stale_snapshots``); any change after
that push comes as another push.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bitget_fast.models import Balance, BalanceUpdate, Position, PositionUpdate
from bitget_fast.orders import D0, ms_field, to_decimal

__all__ = ["AccountState", "position_from_row", "balance_from_row"]


def position_from_row(row: Mapping[str, Any]) -> Position:
    """A :class:`Position` from a ``positions`` push row or a REST position row."""
    liq = to_decimal(row.get("liquidationPrice"), None)
    mark = to_decimal(row.get("markPrice"), None)
    margin_mode = str(row.get("marginMode", "")).lower()
    if margin_mode == "cross":
        margin_mode = "crossed"
    return Position(
        symbol=str(row.get("instId") or row.get("symbol") or "").upper(),
        hold_side=str(row.get("holdSide", "")).lower(),
        size=to_decimal(row.get("total")) or D0,
        available=to_decimal(row.get("available")) or D0,
        avg_entry_price=to_decimal(row.get("openPriceAvg")) or D0,
        unrealized_pnl=to_decimal(row.get("unrealizedPL")) or D0,
        realized_pnl=to_decimal(row.get("achievedProfits")) or D0,
        liquidation_price=liq if liq is not None and liq > 0 else None,
        leverage=to_decimal(row.get("leverage")) or D0,
        margin_mode=margin_mode,
        margin=to_decimal(row.get("marginSize")) or D0,
        mark_price=mark if mark else None,
        pos_mode=str(row.get("posMode", "")),
        updated_ms=ms_field(row.get("uTime")) or time.time_ns() // 1_000_000,
    )


def balance_from_row(row: Mapping[str, Any]) -> Balance:
    """A :class:`Balance` from an ``account`` push row or a REST ``accounts`` row."""
    get = row.get
    equity = get("accountEquity") if "accountEquity" in row else get("equity")
    locked = get("locked") if "locked" in row else get("frozen")
    coin = get("marginCoin", "")
    return Balance(coin.upper() if type(coin) is str else str(coin).upper(), _amount(equity),
                   _amount(get("available")), _amount(locked), _amount(get("unrealizedPL")),
                   _amount(get("maxTransferOut")), time.time_ns() // 1_000_000)


def _amount(v: Any) -> Decimal:
    """A balance figure: Bitget's numeric string (or number); missing or '' is 0."""
    if type(v) is str and v:
        try:
            return Decimal(v)
        except InvalidOperation:
            pass   # to_decimal says what was wrong
    return to_decimal(v) or D0


def _same_position(a: Position, b: Position) -> bool:
    # what a trader acts on; PnL and mark move with the market and are not drift
    return (a.size == b.size and a.avg_entry_price == b.avg_entry_price
            and a.leverage == b.leverage and a.margin_mode == b.margin_mode)


class AccountState:
    """Positions keyed by ``(symbol, hold_side)`` and balances keyed by coin."""

    def __init__(self, on_position: Callable[[PositionUpdate], None] | None = None,
                 on_balance: Callable[[BalanceUpdate], None] | None = None) -> None:
        self.positions: dict[tuple[str, str], Position] = {}
        self.balances: dict[str, Balance] = {}
        self._on_position = on_position
        self._on_balance = on_balance
        self.counters = {"position_updates": 0, "balance_updates": 0, "drift_corrections": 0,
                         "stale_snapshots": 0}
        self.pos_mode = ""
        self.seeded = False   # a REST snapshot has been applied: later differences are drift
        # when (time.monotonic()) the stream last told us all positions / a coin's balance
        self.positions_pushed_at = 0.0
        self.balance_pushed_at: dict[str, float] = {}

    def net_position(self, symbol: str) -> Decimal:
        """Long size minus short size of ``symbol`` (0 when flat)."""
        total = D0
        for side in ("long", "short"):
            p = self.positions.get((symbol, side))
            if p is not None:
                total += p.signed_size
        return total

    def apply_positions(self, rows: Iterable[Mapping[str, Any]], source: str, *,
                        snapshot: bool = True, asked_at: float | None = None) -> None:
        """Apply position rows; ``snapshot``: positions not listed are closed. A REST snapshot
        ``asked_at`` a time before the stream's latest positions push is not applied."""
        if source != "ws" and asked_at is not None and asked_at < self.positions_pushed_at:
            self.counters["stale_snapshots"] += 1
            self.seeded = True
            return
        fresh: dict[tuple[str, str], Position] = {}
        for row in rows:
            p = position_from_row(row)
            if p.size > 0 and p.hold_side in ("long", "short"):
                fresh[(p.symbol, p.hold_side)] = p
            elif not snapshot:
                fresh.setdefault((p.symbol, p.hold_side), p)   # size 0: closed
            if p.pos_mode:
                self.pos_mode = p.pos_mode
        if source == "ws" and snapshot:
            self.positions_pushed_at = time.monotonic()
        old = self.positions
        keys = set(fresh) | (set(old) if snapshot else set())
        for key in keys:
            new = fresh.get(key)
            if new is not None and new.size <= 0:
                new = None
            prev = old.get(key)
            if new is None and prev is None:
                continue
            if new is not None and prev is not None and new == prev:
                continue
            if source != "ws" and self.seeded and \
                    (new is None or prev is None or not _same_position(new, prev)):
                self.counters["drift_corrections"] += 1
            if new is None:
                del old[key]
            else:
                old[key] = new
            self.counters["position_updates"] += 1
            if self._on_position is not None:
                self._on_position(PositionUpdate(key[0], key[1], new, source))
        if source != "ws" and snapshot:
            self.seeded = True

    def apply_balances(self, rows: Iterable[Mapping[str, Any]], source: str, *,
                       asked_at: float | None = None) -> None:
        """Apply balance rows (one per margin coin); a REST row ``asked_at`` a time before
        the stream's latest push of that coin is not applied."""
        for row in rows:
            b = balance_from_row(row)
            if not b.coin:
                continue
            if source == "ws":
                self.balance_pushed_at[b.coin] = time.monotonic()
            elif asked_at is not None and asked_at < self.balance_pushed_at.get(b.coin, 0.0):
                self.counters["stale_snapshots"] += 1
                continue
            prev = self.balances.get(b.coin)
            if prev is not None and _same_balance(prev, b):
                continue
            if source != "ws" and prev is not None and \
                    (prev.available != b.available or prev.locked != b.locked):
                self.counters["drift_corrections"] += 1
            self.balances[b.coin] = b
            self.counters["balance_updates"] += 1
            if self._on_balance is not None:
                self._on_balance(BalanceUpdate(b.coin, b, source))


def _same_balance(a: Balance, b: Balance) -> bool:
    return (a.equity == b.equity and a.available == b.available and a.locked == b.locked
            and a.unrealized_pnl == b.unrealized_pnl and a.max_transfer_out == b.max_transfer_out)
