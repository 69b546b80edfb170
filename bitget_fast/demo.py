"""``bitget-fast demo``: the embedded simulator, a demo account and a small two-sided quoting
loop, shown live in the terminal.

:func:`run_demo` starts a :class:`~bitget_fast.sim.Simulator` on loopback (no network, no
keys), connects a :class:`~bitget_fast.BitgetPerpetual` to it with a fresh demo account,
and quotes one symbol with :class:`Quoter` for ``duration_s`` seconds: post-only orders
``edge_ticks`` behind the best price on each side, skewed against the position, replaced
when the market moves away from them. The quotes are decided in the book callback and sent
from it with ``submit_order``, so the time from a book message to the signed request
written is measured on every quote (``tick_to_order_us``). At the end every order is
canceled and the position closed; the summary says what happened and whether the
connector's state equals the exchange's.

With ``paper=True`` no simulator is started here: the connector runs in paper mode
(:mod:`bitget_fast.paper`), reading Bitget's live books and matching the quotes locally,
and "the exchange" of the final check is the paper engine.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from bitget_fast._term import Screen
from bitget_fast.auth import Credentials
from bitget_fast.book import OrderBook
from bitget_fast.connector import BitgetPerpetual
from bitget_fast.errors import ExchangeError, ValidationError
from bitget_fast.market import PUBLIC_WS_URL
from bitget_fast.models import Fill
from bitget_fast.orders import TERMINAL, Order

__all__ = ["DemoConfig", "Quoter", "QuoterStats", "print_summary", "run_demo"]

# Actions per second the quoter allows itself per endpoint (Bitget allows 10).
ACTIONS_PER_S = 8


@dataclass
class DemoConfig:
    """What the demo runs: the symbol, for how long, and the quoting parameters."""

    symbol: str = "BTCUSDT"
    duration_s: float = 30.0
    size: str = "0.01"                 # per quote
    edge_ticks: int = 0                # behind the best price of others (< 0: inside it)
    requote_ticks: int = 3             # replace a quote this far from its target
    max_position: str = "0.05"         # no quote that would take |position| beyond this
    skew_ticks: int = 2                # ticks the quotes move per quote size of position
    seed: int = 1                      # the simulator's market
    flow_rate: float = 40.0            # the simulator's background events per second
    usdt: str = "10000"
    paper: bool = False                # live Bitget books, orders matched locally (no keys)
    rest_url: str | None = None        # paper: where the contracts come from (Bitget's)
    ws_url: str | None = None          # paper: the public WebSocket (Bitget's, or a replay)
    allow_insecure: bool = False       # paper: plain ws/http to a host off loopback


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _r(x: float | None, places: int) -> float | None:
    return None if x is None else round(x, places)


def _num(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


@dataclass
class _Side:
    side: str
    order: Order | None = None


@dataclass
class QuoterStats:
    """Counters and latency samples of a :class:`Quoter`."""

    book_updates: int = 0
    placed: int = 0
    replaced: int = 0
    refused: int = 0              # not sent: the quote broke a trading rule (ValidationError)
    tick_to_order_us: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)


class Quoter:
    """Two-sided post-only quotes for one symbol, decided and sent from the book callback.

    Each side quotes ``edge_ticks`` behind the best price of the others' orders (our own
    quote is taken out of the book it reads), moved ``skew_ticks`` per quote size of
    position against the position. A quote further than ``requote_ticks`` from its target
    is canceled and replaced; a side whose quote would take the position beyond
    ``max_position`` is not quoted. At most :data:`ACTIONS_PER_S` places and cancels per
    second each.
    """

    def __init__(self, bp: BitgetPerpetual, cfg: DemoConfig) -> None:
        self.bp, self.cfg = bp, cfg
        self.symbol = cfg.symbol
        self.size = Decimal(cfg.size)
        self.max_position = Decimal(cfg.max_position)
        self.sides = {"buy": _Side("buy"), "sell": _Side("sell")}
        self.stats = QuoterStats()
        self.active = False
        self.tick = bp.contract(cfg.symbol).tick
        # the top of book and our orders as last decided on: a book message that changes
        # neither (most of them: deeper levels) costs one comparison
        self._seen: tuple[Any, ...] | None = None
        self._dirty = True
        self._places: deque[float] = deque()
        self._cancels: deque[float] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()

    def changed(self, *_: Any) -> None:
        """An order of ours changed or filled (the connector's on_order / on_fill)."""
        self._dirty = True

    # -- the book callback: the hot path
    def on_book(self, book: OrderBook) -> None:
        """Called by the connector for every applied book message of the symbol."""
        t0 = time.perf_counter_ns()
        self.stats.book_updates += 1
        if not self.active or not book.is_valid:
            return
        seen = (book.best_bid, book.best_ask)
        if seen == self._seen and not self._dirty:
            return
        self._seen, self._dirty = seen, False
        tick = self.tick
        pos = self.bp.net_position(self.symbol)
        skew = int(pos / self.size) * self.cfg.skew_ticks * tick if self.size else Decimal(0)
        bid = self._best_other(book.bids(5), self.sides["buy"].order)
        ask = self._best_other(book.asks(5), self.sides["sell"].order)
        if bid is None or ask is None:
            return
        # a negative edge improves on the others' best price, never onto or through the
        # other side (a post-only order there would be canceled)
        targets = {"buy": min(bid - self.cfg.edge_ticks * tick - skew, ask - tick),
                   "sell": max(ask + self.cfg.edge_ticks * tick - skew, bid + tick)}
        sent = False
        for name, s in self.sides.items():
            target = targets[name]
            o = s.order
            if o is not None and o.status in TERMINAL:
                o = s.order = None
            opens = pos if name == "buy" else -pos
            if opens + self.size > self.max_position:      # this side would add risk
                if o is not None and o.status == "live":
                    self._cancel(s)
                continue
            if o is None:
                sent |= self._place(s, target)
            elif o.status == "live" and o.price is not None and \
                    abs(o.price - target) >= self.cfg.requote_ticks * tick:
                if self._cancel(s):
                    self.stats.replaced += 1
                    sent |= self._place(s, target)
        if sent:
            self.stats.tick_to_order_us.append((time.perf_counter_ns() - t0) / 1000)

    @staticmethod
    def _best_other(levels: list[tuple[str, str]], ours: Order | None) -> Decimal | None:
        """The best price with someone else's size at it (our own quote taken out)."""
        for p, sz in levels:
            price = Decimal(p)
            if ours is not None and ours.price == price and ours.status == "live" and \
                    Decimal(sz) <= ours.size - ours.filled_size:
                continue
            return price
        return None

    def _budget(self, q: deque[float]) -> bool:
        now = time.monotonic()
        while q and now - q[0] >= 1.0:
            q.popleft()
        if len(q) >= ACTIONS_PER_S:
            return False
        q.append(now)
        return True

    def _place(self, s: _Side, price: Decimal) -> bool:
        if not self._budget(self._places):
            self._dirty = True   # decide again at the next book message
            return False
        try:
            o = self.bp.submit_order(self.symbol, s.side, self.size, price, order_type="post_only")
        except ValidationError:
            self.stats.refused += 1
            return False
        s.order = o
        self.stats.placed += 1
        self._spawn(self._ack(o, time.perf_counter()))
        return True

    def _cancel(self, s: _Side) -> bool:
        o = s.order
        if o is None:
            return False
        if not self._budget(self._cancels):
            self._dirty = True
            return False
        s.order = None
        self._spawn(self._cancel_quietly(o))
        return True

    async def _ack(self, o: Order, t0: float) -> None:
        try:
            await o.wait_status("live", "partially_filled", "filled", "canceled", "rejected",
                                timeout_s=10)
        except (asyncio.TimeoutError, ExchangeError):
            return
        if o.status != "rejected":
            self.stats.ack_ms.append((time.perf_counter() - t0) * 1000)

    async def _cancel_quietly(self, o: Order) -> None:
        try:
            await self.bp.cancel_order(self.symbol, o.client_oid)
        except ExchangeError:
            pass   # filled or canceled meanwhile: the tracker has its final state

    def _spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop quoting and wait for the requests in flight."""
        self.active = False
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _fmt(d: Decimal | None, places: int = 2) -> str:
    if d is None:
        return "-"
    return f"{d:,.{places}f}"


def _draw(screen: Screen, lines: list[str]) -> None:
    screen.draw(lines, f"{lines[0]} | {lines[3]} | {lines[5]}")


def _view(bp: BitgetPerpetual, q: Quoter, cfg: DemoConfig, book: OrderBook, elapsed: float,
          start_equity: Decimal, fills: list[Fill]) -> list[str]:
    pp = bp.contract(cfg.symbol).price_place
    bb, ba = book.best_bid, book.best_ask
    md = bp.stats()["market"].get(cfg.symbol, {})

    def quote(s: _Side) -> str:
        o = s.order
        if o is None:
            return f"{s.side:4s} -"
        return f"{s.side:4s} {o.size} @ {_fmt(o.price, pp)} ({o.status})"

    pos = bp.net_position(cfg.symbol)
    p = next((p for (sym, _), p in bp.positions.items() if sym == cfg.symbol), None)
    bal = bp.balances.get("USDT")
    eq = bal.equity if bal else None
    orders = [o for o in bp.orders.values() if o.symbol == cfg.symbol]
    st = q.stats
    t2o, ack = st.tick_to_order_us, st.ack_ms
    return [
        f"bitget-fast demo: {cfg.symbol} {_where(cfg)}   "
        f"{elapsed:5.1f} s / {cfg.duration_s:g} s",
        f"book     bid {_fmt(Decimal(bb[0]), pp) if bb else '-'} x {bb[1] if bb else '-'}   "
        f"ask {_fmt(Decimal(ba[0]), pp) if ba else '-'} x {ba[1] if ba else '-'}   "
        f"messages {md.get('book_messages', 0)}, checksum failures "
        f"{md.get('integrity_errors', 0)}, resyncs {md.get('resyncs', 0)}",
        f"quotes   {quote(q.sides['buy'])}   {quote(q.sides['sell'])}",
        f"orders   placed {st.placed}, replaced {st.replaced}, filled "
        f"{sum(o.status == 'filled' for o in orders)}, canceled "
        f"{sum(o.status == 'canceled' for o in orders)}, rejected "
        f"{sum(o.status == 'rejected' for o in orders)}",
        f"fills    {len(fills)}, volume {sum((f.size for f in fills), Decimal(0))}, "
        f"fees {_fmt(sum((f.fee for f in fills), Decimal(0)), 4)} USDT",
        f"position {pos:+} @ {_fmt(p.avg_entry_price if p else None, pp)}, uPnL "
        f"{_fmt(p.unrealized_pnl if p else Decimal(0), 4)}   equity {_fmt(eq, 4)} USDT "
        f"(PnL {_fmt((eq - start_equity) if eq is not None else None, 4)})",
        f"latency  book message -> order written: median {_num(_pct(t2o, 0.5), '.1f')} us, "
        f"p99 {_num(_pct(t2o, 0.99), '.1f')} us ({len(t2o)})   order ack: median "
        f"{_num(_pct(ack, 0.5), '.2f')} ms, p99 {_num(_pct(ack, 0.99), '.2f')} ms",
    ]


async def run_demo(cfg: DemoConfig, *, out: TextIO | None = None, live: bool | None = None,
                   on_tick: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Run the demo; returns its summary (what ``--json`` prints).

    ``out``: where the live view goes (None: nowhere); ``live``: redraw in place (default:
    when ``out`` is a terminal). ``on_tick`` is called after every redraw (tests).
    """
    from bitget_fast.sim import Simulator

    if live is None:
        live = out is not None and out.isatty()
    screen = Screen(out, live) if out is not None else None
    # a fresh account of the local simulator: these keys exist nowhere else
    key, secret = "bg_demo_" + secrets.token_hex(8), secrets.token_hex(16)
    passphrase = "Demo" + secrets.token_hex(4)
    creds = Credentials(key, secret, passphrase)
    fills: list[Fill] = []
    t_start = time.monotonic()
    quoter: Quoter | None = None

    def on_book(book: OrderBook) -> None:
        if quoter is not None:
            quoter.on_book(book)

    def on_fill(f: Fill) -> None:
        fills.append(f)
        if quoter is not None:
            quoter.changed()

    def on_order(u: Any) -> None:
        if quoter is not None:
            quoter.changed()

    callbacks = dict(symbols=[cfg.symbol], on_book=on_book, on_fill=on_fill, on_order=on_order)

    async def quote(bp: BitgetPerpetual, sim: Any, acc: Any) -> dict[str, Any]:
        nonlocal quoter
        c = bp.contract(cfg.symbol)
        c.size_str(cfg.size)   # a size the exchange would refuse: ValidationError now
        if Decimal(cfg.max_position) < Decimal(cfg.size):
            raise ValidationError(f"max_position {cfg.max_position} is below one quote "
                                  f"({cfg.size}): nothing could be quoted")
        quoter = Quoter(bp, cfg)
        book = await bp.book(cfg.symbol)
        bal = bp.balances.get("USDT")
        start_equity = bal.equity if bal else Decimal(cfg.usdt)
        quoter.active = True
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < cfg.duration_s:
            if screen is not None:
                _draw(screen, _view(bp, quoter, cfg, book, elapsed, start_equity, fills))
            if on_tick is not None:
                on_tick()
            await asyncio.sleep(0.25)
        await quoter.stop()
        # flat and nothing open: cancel everything, close the position
        canceled = await bp.cancel_all(cfg.symbol)
        closing = await bp.close_positions(cfg.symbol) if bp.net_position(cfg.symbol) else []
        for o in closing:
            await o.wait_done(10)
        await asyncio.sleep(0.3)   # the last pushes
        if screen is not None:
            _draw(screen, _view(bp, quoter, cfg, book, time.monotonic() - t0, start_equity,
                                fills))
        return _summary(bp, sim, acc, quoter, cfg, start_equity, fills, canceled,
                        time.monotonic() - t_start)

    if cfg.paper:
        kw: dict[str, Any] = {"rest_url": cfg.rest_url} if cfg.rest_url else {}
        async with BitgetPerpetual(paper=True, paper_usdt=cfg.usdt, ws_public_url=cfg.ws_url,
                                   allow_insecure=cfg.allow_insecure, **kw, **callbacks) as bp:
            paper = bp.paper_exchange
            return await quote(bp, paper.sim, paper.account)
    async with Simulator([cfg.symbol], seed=cfg.seed, flow_rate=cfg.flow_rate) as sim:
        acc = sim.add_account(key, secret, passphrase, usdt=cfg.usdt)
        async with BitgetPerpetual(creds, rest_url=sim.rest_url, ws_public_url=sim.ws_public_url,
                                   ws_private_url=sim.ws_private_url, **callbacks) as bp:
            return await quote(bp, sim, acc)


def _where(cfg: DemoConfig) -> str:
    if cfg.paper:
        return f"paper trading on live books from {cfg.ws_url or PUBLIC_WS_URL}"
    return f"on the embedded simulator (seed {cfg.seed})"


def _summary(bp: BitgetPerpetual, sim: Any, acc: Any, q: Quoter, cfg: DemoConfig,
             start_equity: Decimal, fills: list[Fill], canceled_at_end: int,
             wall_s: float) -> dict[str, Any]:
    md = bp.stats()["market"].get(cfg.symbol, {})
    orders = [o for o in bp.orders.values() if o.symbol == cfg.symbol]
    bal = bp.balances.get("USDT")
    theirs = sim.engine.accounts_row(acc)
    ours_eq = bal.equity if bal else None
    agree = (ours_eq == Decimal(theirs["accountEquity"]) and
             not any(o.is_open for o in orders) and
             {f.trade_id for f in fills} == {f["tradeId"] for f in acc.fills} and
             not bp.net_position(cfg.symbol))
    st = q.stats
    return {
        "symbol": cfg.symbol,
        "mode": "paper" if cfg.paper else "simulator",
        "duration_s": cfg.duration_s,
        "wall_s": round(wall_s, 2),
        "book_messages": md.get("book_messages", 0),
        "book_integrity_errors": md.get("integrity_errors", 0),
        "book_resyncs": md.get("resyncs", 0),
        "orders_placed": st.placed,
        "orders_replaced": st.replaced,
        "orders_filled": sum(o.status == "filled" for o in orders),
        "orders_canceled": sum(o.status == "canceled" for o in orders),
        "orders_rejected": sum(o.status == "rejected" for o in orders),
        "canceled_at_end": canceled_at_end,
        "fills": len(fills),
        "volume": str(sum((f.size for f in fills), Decimal(0))),
        "fees_usdt": str(sum((f.fee for f in fills), Decimal(0))),
        "pnl_usdt": format(ours_eq - start_equity, "f") if ours_eq is not None else None,
        "equity_usdt": str(ours_eq) if ours_eq is not None else None,
        "tick_to_order_us_median": _r(_pct(st.tick_to_order_us, 0.5), 1),
        "tick_to_order_us_p99": _r(_pct(st.tick_to_order_us, 0.99), 1),
        "ack_ms_median": _r(_pct(st.ack_ms, 0.5), 3),
        "ack_ms_p99": _r(_pct(st.ack_ms, 0.99), 3),
        "state_equals_exchange": agree,
    }


def print_summary(s: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """The human-readable end of ``bitget-fast demo``."""
    ok = "yes" if s["state_equals_exchange"] else "NO"
    lines = [
        f"summary  {s['symbol']}, {s['duration_s']:g} s of quoting "
        f"{'on paper ' if s['mode'] == 'paper' else ''}({s['wall_s']:.1f} s in all)",
        f"  book      {s['book_messages']} messages applied, every checksum checked: "
        f"{s['book_integrity_errors']} failures, {s['book_resyncs']} resyncs",
        f"  orders    {s['orders_placed']} placed ({s['orders_replaced']} replacing a quote), "
        f"{s['orders_filled']} filled, {s['orders_canceled']} canceled, "
        f"{s['orders_rejected']} rejected",
        f"  fills     {s['fills']}, volume {s['volume']}, fees "
        f"{_fmt(Decimal(s['fees_usdt']), 4)} USDT",
        f"  PnL       {_fmt(Decimal(s['pnl_usdt']), 4) if s['pnl_usdt'] else '-'} USDT, fees "
        f"included (flat at the end; equity {s['equity_usdt']})",
        f"  latency   book message -> signed order written: median "
        f"{_num(s['tick_to_order_us_median'], '.1f')} us, p99 "
        f"{_num(s['tick_to_order_us_p99'], '.1f')} us; order ack (loopback): median "
        f"{_num(s['ack_ms_median'], '.2f')} ms, p99 {_num(s['ack_ms_p99'], '.2f')} ms",
        f"  state     orders, fills, position and balance equal the "
        f"{'paper engine' if s['mode'] == 'paper' else 'exchange'}'s: {ok}",
    ]
    out.write("\n".join(lines) + "\n")
