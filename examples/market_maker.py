"""A two-sided market maker on bitget_fast, in plain Python.

Where it trades (one flag each; the strategy code is the same for all three):

    python examples/market_maker.py                  # the embedded simulator: no network, no keys
    python examples/market_maker.py --paper          # Bitget's live book, orders matched locally
    python examples/market_maker.py --live --size 0.001   # Bitget, real money: BITGET_API_KEY, ...

The strategy:
- fair value is the microprice of the best level (the size-weighted mid);
- it quotes a post-only bid and ask ``--half-spread`` ticks around fair, shifted against its
  position by ``--skew`` ticks per quote size held;
- a quote is replaced only when its target moved ``--requote`` ticks or more;
- no quote may take the position beyond ``--max-position``.

The design is to decide in the book callback and act in one task. ``on_book`` only computes
the targets, a few microseconds of work, and wakes the task. The task cancels and places with
``await``, one side at a time, so a slow reply never blocks the book. Orders it no longer
wants are canceled before new ones are placed. On exit, or on an error, everything is
canceled and the position closed. On the simulator and on paper it then checks that its
fills, position and balance equal the engine's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from bitget_fast import BitgetPerpetual, Credentials, ExchangeError, OrderBook, ValidationError


class MarketMaker:
    """Quotes one symbol around the microprice, skewed against the position."""

    def __init__(self, bp: BitgetPerpetual, symbol: str, size: str, half_spread: int,
                 requote: int, skew: int, max_position: str) -> None:
        self.bp = bp
        self.symbol = symbol
        self.size = Decimal(size)
        self.max_position = Decimal(max_position)
        self.half_spread, self.requote, self.skew = half_spread, requote, skew
        self.tick = bp.contract(symbol).tick
        self.targets: dict[str, Decimal | None] = {"buy": None, "sell": None}
        self.quotes: dict[str, Any] = {"buy": None, "sell": None}
        self.wake = asyncio.Event()
        self.counts = {"book_updates": 0, "placed": 0, "canceled": 0, "refused": 0}

    def on_book(self, book: OrderBook) -> None:
        """Book callback: new targets from the top of book; the task does the orders."""
        self.counts["book_updates"] += 1
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None:
            self.targets = {"buy": None, "sell": None}
            self.wake.set()
            return
        bp_, bs, ap, as_ = Decimal(bid[0]), Decimal(bid[1]), Decimal(ask[0]), Decimal(ask[1])
        fair = (bp_ * as_ + ap * bs) / (bs + as_) if bs + as_ else (bp_ + ap) / 2
        pos = self.bp.net_position(self.symbol)
        shift = (pos / self.size) * self.skew * self.tick if self.size else Decimal(0)
        buy = self._round(fair - self.half_spread * self.tick - shift, ROUND_FLOOR)
        sell = self._round(fair + self.half_spread * self.tick - shift, ROUND_CEILING)
        # post-only: never at or through the other side's best price
        self.targets = {
            "buy": min(buy, ap - self.tick) if pos + self.size <= self.max_position else None,
            "sell": max(sell, bp_ + self.tick) if pos - self.size >= -self.max_position else None,
        }
        self.wake.set()

    def _round(self, price: Decimal, rounding: str) -> Decimal:
        return (price / self.tick).to_integral_value(rounding) * self.tick

    async def run(self) -> None:
        """Keep the quotes at their targets until cancelled."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            for side in ("buy", "sell"):
                await self._side(side)

    async def _side(self, side: str) -> None:
        q, target = self.quotes[side], self.targets[side]
        if q is not None and not q.is_open:
            q = self.quotes[side] = None
        if q is not None and target is not None and abs(q.price - target) < self.requote * self.tick:
            return                                           # close enough: keep its place
        if q is not None:
            try:
                await self.bp.cancel_order(self.symbol, q.client_oid)
                self.counts["canceled"] += 1
            except ExchangeError:
                pass                                         # filled meanwhile: the tracker knows
            self.quotes[side] = None
        if target is None:
            return
        try:
            self.quotes[side] = await self.bp.place_order(self.symbol, side, self.size, target,
                                                          order_type="post_only")
            self.counts["placed"] += 1
        except (ExchangeError, ValidationError) as e:        # e.g. post-only would have crossed
            self.counts["refused"] += 1
            print(f"{side} at {target} refused: {e}", file=sys.stderr)

    async def flatten(self) -> None:
        """Cancel everything and close the position."""
        await self.bp.cancel_all(self.symbol)
        for o in (await self.bp.close_positions(self.symbol)
                  if self.bp.net_position(self.symbol) else []):
            await o.wait_done(10)


class BookRelay:
    """The connector's ``on_book``: passes books on once a market maker listens (it can
    only be built after start, when the contract's tick is known)."""

    def __init__(self) -> None:
        self.target: Any = None

    def __call__(self, book: OrderBook) -> None:
        if self.target is not None:
            self.target(book)


async def trade(bp: BitgetPerpetual, relay: BookRelay, args: argparse.Namespace,
                exchange: tuple[Any, Any] | None) -> dict[str, Any]:
    """Run the market maker on ``bp`` for ``args.duration`` seconds; the summary."""
    mm = MarketMaker(bp, args.symbol, args.size, args.half_spread, args.requote, args.skew,
                     args.max_position)
    fills: list[Any] = []
    feed = bp.fills()

    async def collect() -> None:
        async for f in feed:
            fills.append(f)

    collector = asyncio.create_task(collect())
    relay.target = mm.on_book
    await bp.book(args.symbol)
    worker = asyncio.create_task(mm.run())
    t0 = time.monotonic()
    try:
        while (left := args.duration - (time.monotonic() - t0)) > 0:
            await asyncio.sleep(min(5.0, left))
            if not args.json:
                print(f"{time.monotonic() - t0:5.1f} s  position {bp.net_position(args.symbol)}"
                      f"  fills {len(fills)}  {mm.counts}", flush=True)
    finally:
        relay.target = None
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await mm.flatten()
    await asyncio.sleep(0.5)                                  # the last pushes
    collector.cancel()
    await asyncio.gather(collector, return_exceptions=True)
    summary: dict[str, Any] = dict(mm.counts, symbol=args.symbol, fills=len(fills),
                                   position=str(bp.net_position(args.symbol)),
                                   open_orders=len(bp.open_orders(args.symbol)))
    bal = bp.balances.get("USDT")
    summary["equity"] = str(bal.equity) if bal else None
    if exchange is not None:
        engine, account = exchange
        theirs = engine.accounts_row(account)
        summary["state_equals_exchange"] = (
            {f.trade_id for f in fills} == {f["tradeId"] for f in account.fills}
            and bal is not None and bal.equity == Decimal(theirs["accountEquity"])
            and not bp.net_position(args.symbol) and not bp.open_orders(args.symbol))
    return summary


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Connect where the flags say, trade, and return the summary."""
    relay = BookRelay()
    common = dict(symbols=[args.symbol], on_book=relay)
    if args.live:
        async with BitgetPerpetual(**common) as bp:           # credentials from the environment
            return await trade(bp, relay, args, None)
    if args.paper:
        async with BitgetPerpetual(paper=True, paper_usdt=args.usdt, **common) as bp:
            return await trade(bp, relay, args, (bp.paper_exchange.sim.engine,
                                          bp.paper_exchange.account))
    from bitget_fast.sim import Simulator

    key, secret, passphrase = "mm_" + secrets.token_hex(6), secrets.token_hex(16), "MM1"
    async with Simulator([args.symbol], seed=args.seed, flow_rate=args.flow_rate) as sim:
        account = sim.add_account(key, secret, passphrase, usdt=args.usdt)
        async with BitgetPerpetual(Credentials(key, secret, passphrase), rest_url=sim.rest_url,
                                   ws_public_url=sim.ws_public_url,
                                   ws_private_url=sim.ws_private_url, **common) as bp:
            return await trade(bp, relay, args, (sim.engine, account))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--paper", action="store_true", help="Bitget's live book, matched locally")
    where.add_argument("--live", action="store_true", help="Bitget, real orders (needs keys)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--size", default="0.01", help="size of each quote")
    p.add_argument("--half-spread", type=int, default=1, help="ticks from fair to each quote")
    p.add_argument("--requote", type=int, default=2, help="ticks a target moves before a requote")
    p.add_argument("--skew", type=int, default=1, help="ticks of shift per quote size held")
    p.add_argument("--max-position", default="0.05")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of quoting")
    p.add_argument("--usdt", default="10000", help="simulator / paper account balance")
    p.add_argument("--seed", type=int, default=1, help="simulator market seed")
    p.add_argument("--flow-rate", type=float, default=40.0, help="simulator events per second")
    p.add_argument("--json", action="store_true", help="print only the summary, as JSON")
    return p.parse_args(argv)


if __name__ == "__main__":
    a = parse_args()
    result = asyncio.run(main(a))
    print(json.dumps(result) if a.json else result)
    sys.exit(0 if result.get("state_equals_exchange", True) else 3)
