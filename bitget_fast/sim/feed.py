"""Seeded synthetic market activity: a moving fair price, background makers and takers.

Each :meth:`Flow.step` is one exchange event (a maker order, a cancel, a market order
or a fair-price move) run through the real matching engine, so users' resting orders
fill when background takers reach them. The random stream comes only from
``random.Random(f"{seed}:{symbol}")``: without user orders, the same seed gives the
same sequence of book changes and trades, message for message.
"""

from __future__ import annotations

import random

from .engine import Engine, Market, Resting

__all__ = ["Flow"]


class Flow:
    """The background market of one symbol."""

    def __init__(self, engine: Engine, market: Market, seed: int, *, depth: int = 50) -> None:
        self.engine = engine
        self.market = market
        self.rng = random.Random(f"{seed}:{market.symbol}")
        self.depth = depth
        spec = market.spec
        self.tick = spec.tick
        self.lot = spec.lot
        self.fair = market.mark - market.mark % self.tick
        # order sizes: 1..k lots, k chosen so the largest order is ~20k USDT
        unit = spec.notional(self.fair, self.lot)
        self.max_lots = max(3, int(20_000 / float(unit)))
        self.bg: list[Resting] = []
        self.steps = 0
        self._prune_at = 8 * depth

    def _size(self, small: bool = False) -> int:
        k = self.max_lots // 20 if small else self.max_lots
        return self.lot * (1 + int(self.rng.random() ** 3 * max(1, k)))

    def seed_book(self) -> None:
        """Put ``depth`` levels on each side around the fair price (no events pushed)."""
        m = self.market
        for d in range(1, self.depth + 1):
            for is_bid in (True, False):
                price = self.fair - d * self.tick if is_bid else self.fair + d * self.tick
                if price <= 0:
                    continue
                o = Resting(price, self._size(), is_bid, None)
                m.add_resting(o)
                self.bg.append(o)
        m.d_bids.clear()
        m.d_asks.clear()

    def step(self) -> None:
        """One background event, flushed to the listener as one book change (or none)."""
        rng = self.rng
        m = self.market
        eng = self.engine
        r = rng.random()
        self.steps += 1
        if r < 0.46 and len(self.bg) < 12 * self.depth:
            is_bid = r < 0.23
            d = 1 + int(rng.expovariate(0.12))
            if d > self.depth:
                d = 1 + d % self.depth
            price = self.fair - d * self.tick if is_bid else self.fair + d * self.tick
            if price > 0:
                o = eng.bg_add(m, is_bid, price, self._size())
                if o is not None:
                    self.bg.append(o)
        elif r < 0.86 or r < 0.46:
            bg = self.bg
            while bg:
                i = int(rng.random() * len(bg))
                o = bg[i]
                bg[i] = bg[-1]
                bg.pop()
                if o.live:
                    m.remove_resting(o)
                    break
        elif r < 0.97:
            # like Bitget's market orders, never beyond a price band (5%) around the fair
            # price: a user's absurd resting price must not become the market's last trade
            is_bid = r < 0.915
            band = self.fair // 20
            eng.bg_take(m, is_bid, self._size(small=True),
                        self.fair + band if is_bid else self.fair - band)
        else:
            self.fair += self.tick if rng.random() < 0.5 else -self.tick
            if self.fair <= self.tick * 10:
                self.fair = self.tick * 10
            m.mark = m.index = self.fair
        if len(self.bg) > self._prune_at:
            self.bg = [o for o in self.bg if o.live]
            self._prune_at = max(8 * self.depth, 2 * len(self.bg))
        eng.flush_market(m)
