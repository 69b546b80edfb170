"""Paper trading: Bitget's live public market data, orders matched locally against it.

``BitgetPerpetual(symbols=[...], paper=True)`` reads the contracts and streams the books
from real Bitget (no keys needed: both are public), and sends every order, cancel and
query to a :class:`~bitget_fast.sim.Simulator` started on loopback, whose engine is kept
equal to each live book's top :data:`PAPER_DEPTH` levels by a
:class:`~bitget_fast.sim.paper.BookMirror`. The strategy sees the same classes, callbacks,
pushes and errors as live, so it runs unchanged from paper to live.

What is and is not modelled (also in docs/trading.md):

* matched: takers fill level by level at the live prices; a resting order fills, as a
  maker at its own price, when the live book's other side reaches it; Bitget's order
  checks, rate limits, fees (the contract's base maker/taker rates), margin and positions
  are the simulator's;
* not modelled: queue position (an order at the touch fills only when the price trades
  through it: conservative), market impact (liquidity a paper taker consumed comes back
  with the next live update), live funding rates and mark price (the mark follows the
  live mid), and your account's VIP fee tier.

This module imports ``bitget_fast.sim`` only inside :meth:`PaperExchange.open`, so the live
path never loads the simulator (DECISIONS §4).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .book import OrderBook
from .errors import ConfigurationError

__all__ = ["PaperExchange", "PAPER_DEPTH", "paper_keys"]

PAPER_DEPTH = 50
"""Live levels per side the paper engine holds (deeper takers see an empty book past them)."""


def paper_keys() -> tuple[str, str, str]:
    """A fresh API key, secret and passphrase for a paper account (they exist nowhere else)."""
    return ("bg_paper_" + secrets.token_hex(8), secrets.token_hex(16),
            "Paper" + secrets.token_hex(4))


class PaperExchange:
    """The local half of a paper session: the simulator, the paper account and one mirror per
    symbol. Built by :meth:`open`; ``BitgetPerpetual(paper=True)`` owns and closes it."""

    def __init__(self, sim: Any, account: Any, mirrors: Mapping[str, Any]) -> None:
        self.sim = sim
        self.account = account
        self.mirrors = dict(mirrors)

    @classmethod
    async def open(cls, rows: Sequence[Mapping[str, Any]], books: Mapping[str, OrderBook],
                   keys: tuple[str, str, str], *, usdt: Any = 10_000,
                   depth: int = PAPER_DEPTH, seed: int = 1) -> PaperExchange:
        """Start a simulator trading ``rows`` (Bitget's contracts rows) at the prices of
        ``books`` (each live and ready), with one account of ``keys`` holding ``usdt``."""
        from .sim import Simulator
        from .sim.contracts import ContractSpec
        from .sim.paper import BookMirror

        specs = []
        for row in rows:
            symbol = str(row.get("symbol"))
            book = books.get(symbol)
            bids = book.bids(1) if book is not None else []
            asks = book.asks(1) if book is not None else []
            if not bids and not asks:
                raise ConfigurationError(f"paper trading {symbol}: the live book is empty, "
                                         "so there is no price to open the paper market at")
            try:
                specs.append(ContractSpec.from_rest(dict(row), (bids or asks)[0][0]))
            except ValueError as e:
                raise ConfigurationError(f"paper trading: {e}") from None
        sim = Simulator(contracts=specs, seed=seed, flow_rate=0, book_depth=0)
        await sim.start()
        try:
            account = sim.add_account(*keys, usdt=usdt, ws_trading=True)
            mirrors = {}
            for spec in specs:
                m = mirrors[spec.symbol] = BookMirror(sim.engine, sim.market(spec.symbol),
                                                      depth=depth)
                m.update_from(books[spec.symbol])
        except BaseException:
            await sim.close()
            raise
        return cls(sim, account, mirrors)

    @property
    def rest_url(self) -> str:
        """The simulator's REST URL (where the paper connector's orders go)."""
        return str(self.sim.rest_url)

    @property
    def ws_private_url(self) -> str:
        """The simulator's private WebSocket URL."""
        return str(self.sim.ws_private_url)

    def on_book(self, book: OrderBook) -> None:
        """Make the engine equal ``book`` (called on every live book message, before the
        strategy's own callback, so a decision sees the engine the order will meet)."""
        m = self.mirrors.get(book.symbol)
        if m is not None:
            m.update_from(book)

    def equity(self) -> Decimal:
        """The paper account's equity as the engine computes it."""
        return Decimal(self.sim.engine.accounts_row(self.account)["accountEquity"])

    def stats(self) -> dict[str, Any]:
        """Per symbol: live book messages mirrored, live levels that did not fit the contract."""
        return {s: {"mirrored": m.updates, "unparseable_levels": m.unparseable}
                for s, m in self.mirrors.items()}

    async def close(self) -> None:
        """Stop the simulator (the paper account's state goes with it)."""
        await self.sim.close()
