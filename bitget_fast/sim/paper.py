"""Paper trading's matching: the simulator's engine kept equal to a live book.

:class:`BookMirror` keeps one engine market's background liquidity equal to the top
``depth`` levels of a live :class:`~bitget_fast.book.OrderBook` (real Bitget's, or a
replayed recording's). Paper orders then meet the market the exchange shows:

* a paper taker (market, IOC, FOK, a crossing limit) fills against the live levels, at
  their prices, level by level;
* a resting paper order fills, as a maker at its own price, when the live book's other
  side reaches its price (the live levels that would cross it are added to the engine and
  match it first);
* what is not modelled: queue position (a paper order at the touch does not fill from
  trades at its price, only when the price trades through it: conservative) and market
  impact (liquidity a paper taker consumed comes back with the next live update of its
  level, since the real exchange never saw the order).

Each update runs in two phases so the engine's book never crosses itself: first every
level that shrank or vanished on either side is reduced (newest background liquidity
first), then every level that grew or appeared is added (where it crosses a paper order,
that order fills). The mark and index prices follow the live mid.
"""

from __future__ import annotations

from collections.abc import Sequence

from .contracts import parse_units
from .engine import Engine, Market, Resting

__all__ = ["BookMirror"]


class BookMirror:
    """One engine market mirroring a live book's top ``depth`` levels per side."""

    def __init__(self, engine: Engine, market: Market, *, depth: int = 50) -> None:
        if depth < 1:
            raise ValueError("depth must be >= 1")
        self.engine = engine
        self.market = market
        self.depth = depth
        # is_bid -> price units -> the background orders making up the level
        self._bg: dict[bool, dict[int, list[Resting]]] = {True: {}, False: {}}
        self.updates = 0
        #: live levels whose price or size does not fit the contract's decimals (skipped)
        self.unparseable = 0

    def _target(self, levels: Sequence[tuple[str, str]]) -> dict[int, int]:
        spec = self.market.spec
        out: dict[int, int] = {}
        for price, size in levels[: self.depth]:
            p = parse_units(price, spec.price_place)
            q = parse_units(size, spec.volume_place)
            if p is None or q is None or p <= 0 or q < 0:
                self.unparseable += 1
                continue
            if q:
                out[p] = q
        return out

    def _have(self, is_bid: bool, price: int) -> int:
        orders = self._bg[is_bid].get(price)
        if not orders:
            return 0
        live = [o for o in orders if o.live and o.remaining > 0]
        if len(live) != len(orders):
            if live:
                self._bg[is_bid][price] = live
            else:
                del self._bg[is_bid][price]
        return sum(o.remaining for o in live)

    def _shrink(self, is_bid: bool, price: int, amount: int) -> None:
        m = self.market
        side = m.side(is_bid)
        orders = self._bg[is_bid][price]
        while amount > 0 and orders:
            o = orders[-1]
            if o.remaining <= amount:
                amount -= o.remaining
                m.remove_resting(o)
                orders.pop()
            else:
                o.remaining -= amount
                lvl = side.levels[price]
                lvl[0] -= amount
                m._level_changed(side, price, lvl)
                amount = 0
        if not orders:
            del self._bg[is_bid][price]

    def update(self, bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]) -> None:
        """Make the engine's background liquidity equal these levels (best first, as strings)."""
        targets = {True: self._target(bids), False: self._target(asks)}
        grow: list[tuple[bool, int, int]] = []
        for is_bid, target in targets.items():
            for price in set(self._bg[is_bid]) | set(target):
                have = self._have(is_bid, price)
                want = target.get(price, 0)
                if want < have:
                    self._shrink(is_bid, price, have - want)
                elif want > have:
                    grow.append((is_bid, price, want - have))
        m = self.market
        eng = self.engine
        for is_bid, price, size in grow:
            o = eng.bg_add(m, is_bid, price, size)
            if o is not None:
                self._bg[is_bid].setdefault(price, []).append(o)
        if targets[True] and targets[False]:
            mid = (max(targets[True]) + min(targets[False])) // 2
            m.mark = m.index = mid - mid % m.spec.tick
        self.updates += 1
        eng.flush_market(m)

    def update_from(self, book: object) -> None:
        """:meth:`update` from an :class:`~bitget_fast.book.OrderBook` (its top ``depth``)."""
        self.update(book.bids(self.depth), book.asks(self.depth))  # type: ignore[attr-defined]
