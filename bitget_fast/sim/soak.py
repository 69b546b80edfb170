"""Fault-injection soak: the connector quotes against the simulator while faults rain on it.

:func:`run_soak` starts a :class:`~bitget_fast.sim.Simulator` with background market flow,
connects a real :class:`~bitget_fast.BitgetPerpetual` to it over loopback, and runs the
demo's post-only :class:`~bitget_fast.demo.Quoter` on every symbol. Every few seconds it
injects one fault from :data:`FAULTS` (disconnects, stalls, corrupt checksums, seq gaps, 429,
5xx, lost REST replies, delayed acks, malformed and oversized frames, exchange restarts), and
checks:

* **continuously**: an order never leaves ``filled``/``canceled``/``rejected``, its filled
  size never shrinks, no fill is delivered twice, and every log record of ``bitget_fast``,
  ``asyncio`` and ``picows`` (every level, down to picows' per-chunk level 9) is free of the
  secret, the passphrase and the full API key;
* **after every resync** of a book: once caught up with the exchange, the book equals the
  simulator's, level for level and checksum;
* **at every checkpoint** (every ``check_every_s`` and at the end, with faults paused and
  the market still): every order's status, filled size and id as the callbacks reported
  them equal the simulator's; the fills delivered equal the simulator's one for one (size,
  price, fee) and in sum; positions and balances equal the engine's. At the end every order
  is canceled first, so each one must have reached the final state the simulator has.
  Balances are compared after a REST read: equity moves with the mark price, which Bitget
  pushes only with the next account event;
* **memory**: resident memory, sampled every second, may not grow by more than
  ``max_rss_growth_mb`` from the first to the last quarter of the run after warm-up (the
  lowest sample of each: what stays, not a large frame in flight). History both sides have
  verified equal and that is older than :data:`HISTORY_KEEP_S` is forgotten at checkpoints,
  so a long soak measures leaks, not its own ledger.

Faults are drawn in rounds: each round injects every fault of ``faults`` once, in a
seeded random order. ``bitget-fast soak`` runs it from the command line.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from bitget_fast.auth import Credentials
from bitget_fast.book import OrderBook
from bitget_fast.connector import BitgetPerpetual
from bitget_fast.demo import DemoConfig, Quoter
from bitget_fast.errors import BitgetError
from bitget_fast.models import Fill, OrderUpdate, StreamEvent

from .engine import Account
from .server import Simulator

__all__ = ["FAULTS", "HISTORY_KEEP_S", "SoakConfig", "SoakReport", "run_soak"]

FAULTS: dict[str, str] = {
    "drop_public": "cut the public WebSocket connections (no close frame)",
    "drop_private": "cut the private WebSocket connection",
    "drop_rest": "cut every REST connection",
    "stall_public": "hold the public pushes for 0.5-3 s, then deliver them in order",
    "stall_private": "hold the private pushes for 0.5-3 s",
    "corrupt_checksum": "the next books update of a symbol carries a wrong checksum",
    "skip_seq": "drop a books update that changes the top 25 (checksum and seq catch it)",
    "skip_seq_deep": "drop a books update that changes only deep levels (seq catches it)",
    "malformed": "push a malformed frame on the public connections",
    "oversized": "push a frame one byte over the 16 MiB limit: the client closes and reconnects",
    "rest_429": "answer the next 1-3 REST requests with HTTP 429",
    "rest_5xx": "answer the next order request with a 5xx, executed or not",
    "lost_reply": "never answer the next order request, executed or not",
    "delay_acks": "delay the next 1-3 order replies by 0.2-1.5 s",
    "events_first": "deliver private pushes before the REST reply, for a few seconds",
    "restart": "restart the exchange: every connection drops, ports refuse for 0.2-1 s",
}
"""Every fault the soak injects, by name, with what it does."""

HISTORY_KEEP_S = 300.0
"""Verified terminal orders and fills older than this are forgotten at checkpoints."""

_ORDER_PATHS = ("/api/v2/mix/order/place-order", "/api/v2/mix/order/cancel-order")
_TERMINAL = frozenset(("filled", "canceled", "rejected"))
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int:
    """Resident set size of this process (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class SoakConfig:
    """What a soak runs: how long, on which symbols, which faults how often."""

    duration_s: float = 120.0
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    seed: int = 1
    fault_every_s: float = 3.0           # mean seconds between faults (jittered +-50%)
    faults: tuple[str, ...] = tuple(FAULTS)
    check_every_s: float = 30.0          # full-state checkpoints (plus one at the end)
    warmup_s: float = 20.0               # RSS baseline taken after this
    max_rss_growth_mb: float = 64.0
    flow_rate: float = 40.0              # simulator background events per second per symbol
    order_transport: str = "rest"
    converge_timeout_s: float = 60.0

    def check(self) -> None:
        """Raise ValueError naming the first bad setting."""
        if not self.duration_s > 0:
            raise ValueError("duration_s must be > 0")
        if not self.symbols:
            raise ValueError("symbols must not be empty")
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
        if not self.fault_every_s > 0 or not self.check_every_s > 0:
            raise ValueError("fault_every_s and check_every_s must be > 0")
        if self.order_transport not in ("rest", "ws"):
            raise ValueError("order_transport must be 'rest' or 'ws'")


@dataclass
class SoakReport:
    """What a soak did and found; ``ok`` when nothing was violated."""

    config: SoakConfig
    elapsed_s: float = 0.0
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    checkpoints: int = 0
    book_checks: int = 0
    book_checks_superseded: int = 0
    orders: int = 0
    orders_by_status: collections.Counter[str] = field(default_factory=collections.Counter)
    fills: int = 0
    fill_volume: Decimal = Decimal(0)
    resyncs: int = 0
    integrity_errors: int = 0
    reconnects: int = 0
    reconciles: int = 0
    rejected_frames: int = 0
    tolerated_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    log_records: int = 0
    secret_leaks: int = 0
    forgotten_orders: int = 0
    rss_start_mb: float = 0.0
    rss_warm_mb: float = 0.0
    rss_max_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_settled_end_mb: float = 0.0   # lowest RSS of the last quarter
    rss_checkpoints_mb: list[float] = field(default_factory=list)   # RSS at each checkpoint
    lost_fills: int = 0
    lost_orders: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every invariant held."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        c = self.config
        return {
            "ok": self.ok, "duration_s": c.duration_s, "elapsed_s": round(self.elapsed_s, 1),
            "seed": c.seed, "symbols": list(c.symbols), "order_transport": c.order_transport,
            "faults_injected": sum(self.faults.values()), "faults": dict(sorted(self.faults.items())),
            "checkpoints": self.checkpoints, "book_checks": self.book_checks,
            "book_checks_superseded": self.book_checks_superseded,
            "resyncs": self.resyncs, "integrity_errors": self.integrity_errors,
            "reconnects": self.reconnects, "reconciles": self.reconciles,
            "rejected_frames": self.rejected_frames,
            "orders": self.orders, "orders_by_status": dict(sorted(self.orders_by_status.items())),
            "fills": self.fills, "fill_volume": str(self.fill_volume),
            "lost_fills": self.lost_fills, "lost_orders": self.lost_orders,
            "tolerated_errors": dict(sorted(self.tolerated_errors.items())),
            "log_records": self.log_records, "secret_leaks": self.secret_leaks,
            "forgotten_orders": self.forgotten_orders,
            "rss_mb": {"start": round(self.rss_start_mb, 1), "after_warmup": round(self.rss_warm_mb, 1),
                       "last_quarter": round(self.rss_settled_end_mb, 1),
                       "max": round(self.rss_max_mb, 1), "end": round(self.rss_end_mb, 1),
                       "at_checkpoints": [round(x, 1) for x in self.rss_checkpoints_mb]},
            "violations": self.violations[:50],
        }


def fill_differs(f: Fill, row: dict[str, Any]) -> bool:
    """Whether our fill's size, price or fee differs from the engine's fill row."""
    return (f.size != Decimal(row["baseVolume"]) or f.price != Decimal(row["price"])
            or f.fee != -Decimal(row["feeDetail"][0]["totalFee"]))


def account_differences(bp: BitgetPerpetual, eng: Any, acc: Account, *,
                        balances: bool = True) -> list[str]:
    """Positions (size, entry as the exchange reports it) and the USDT balance (available,
    equity) of ``bp`` against the engine's account ``acc``."""
    diffs: list[str] = []
    theirs_pos = {k: (eng.markets[k[0]].spec.size_dec(p.size),
                      Decimal(eng.position_row(acc, p)["openPriceAvg"]))
                  for k, p in acc.positions.items() if p.size}
    ours_pos = {k: (p.size, p.avg_entry_price) for k, p in bp.positions.items()}
    if theirs_pos != ours_pos:
        diffs.append(f"positions: ours {ours_pos} != exchange {theirs_pos}")
    if not balances:
        return diffs
    row = eng.accounts_row(acc)
    b = bp.balances.get("USDT")
    if b is None:
        diffs.append("no USDT balance")
    elif b.available != Decimal(row["available"]) or b.equity != Decimal(row["accountEquity"]):
        diffs.append(f"balance: ours available {b.available} equity {b.equity} != exchange "
                     f"available {row['available']} equity {row['accountEquity']}")
    return diffs


class _LeakWatch(logging.Handler):
    """Formats every record (message, arguments, traceback) and looks for the secrets."""

    def __init__(self, needles: list[str], report: SoakReport) -> None:
        super().__init__(1)
        self.needles = [n for n in needles if n]
        self.report = report
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # noqa: BLE001 - a record that cannot be formatted is reported
            text = f"unformattable record {record.msg!r}: {exc!r}"
        self.report.log_records += 1
        for n in self.needles:
            if n in text:
                self.report.secret_leaks += 1
                self.report.violations.append(f"a log record holds a secret: {record.name} "
                                              f"{record.levelname} at {record.pathname}:{record.lineno}")
                return


class _Soak:
    def __init__(self, cfg: SoakConfig, report: SoakReport) -> None:
        self.cfg = cfg
        self.report = report
        self.rng = random.Random(cfg.seed)
        # fresh random keys: a leak check needs secrets nobody else prints
        self.key = "bg_" + secrets.token_hex(16)
        self.secret = secrets.token_hex(32)
        self.passphrase = "Pp" + secrets.token_urlsafe(12)
        self.sim: Simulator | None = None
        self.acc: Account | None = None
        self.bp: BitgetPerpetual | None = None
        self.quoters: dict[str, Quoter] = {}
        # what the callbacks told us: clientOid -> (status, filled, orderId)
        self.orders: dict[str, tuple[str, Decimal, str]] = {}
        self.forgotten: set[str] = set()
        self.fills: dict[tuple[str, str], Fill] = {}
        self.pending_books: set[str] = set()
        self.checking: set[str] = set()
        self.flow_paused = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.checkpoint_reads = 0   # reconciles the checkpoints asked for
        self.bag: list[str] = []

    # ------------------------------------------------------------------ callbacks
    def violation(self, what: str) -> None:
        self.report.violations.append(f"t={self.report.elapsed_s:.1f}s {what}")

    def on_order(self, u: OrderUpdate) -> None:
        prev = self.orders.get(u.client_oid)
        if u.client_oid in self.forgotten:
            self.violation(f"order {u.client_oid} changed after it was verified final: {u.status}")
            return
        if prev is not None:
            if prev[0] in _TERMINAL and u.status != prev[0]:
                self.violation(f"order {u.client_oid} left {prev[0]} for {u.status} ({u.source})")
            if u.filled_size < prev[1]:
                self.violation(f"order {u.client_oid}: filled size shrank {prev[1]} -> "
                               f"{u.filled_size} ({u.source})")
        self.orders[u.client_oid] = (u.status, u.filled_size, u.order_id)

    def on_fill(self, f: Fill) -> None:
        key = (f.trade_id, f.order_id)
        if key in self.fills:
            self.violation(f"fill {key} delivered twice")
        self.fills[key] = f
        self.report.fills += 1
        self.report.fill_volume += f.size
        q = self.quoters.get(f.symbol)
        if q is not None:
            q.changed()

    def on_event(self, e: StreamEvent) -> None:
        if e.channel == "private" or e.kind not in ("integrity", "resync", "disconnected",
                                                    "rejected", "connected"):
            return
        syms = [s for s in e.symbol.split(",") if s in self.quoters] or list(self.quoters)
        self.pending_books.update(syms)

    def on_book(self, book: OrderBook) -> None:
        q = self.quoters.get(book.symbol)
        if q is not None:
            q.on_book(book)
        s = book.symbol
        if s in self.pending_books and book.is_valid and s not in self.checking:
            self.pending_books.discard(s)
            self.checking.add(s)
            self.spawn(self.check_book(s))

    # ------------------------------------------------------------------ plumbing
    def spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    def pause_flow(self) -> None:
        assert self.sim is not None
        self.flow_paused += 1
        self.sim.flow_rate = 0.0

    def resume_flow(self) -> None:
        assert self.sim is not None
        self.flow_paused -= 1
        if self.flow_paused == 0:
            self.sim.flow_rate = self.cfg.flow_rate

    def book_diff(self, symbol: str) -> str | None:
        """None when our book equals the simulator's now; what differs otherwise."""
        assert self.sim is not None and self.bp is not None
        md = self.bp._markets[symbol]
        book = md.book(symbol)
        f = self.sim.hub.feeds[symbol]
        b, a = f.top(len(f.bs) + len(f.as_))
        theirs = ([tuple(x) for x in b], [tuple(x) for x in a])
        ours = (book.bids(), book.asks())
        if ours != theirs:
            n = next((i for i, (x, y) in enumerate(zip(ours[0] + ours[1], theirs[0] + theirs[1]))
                      if x != y), None)
            return (f"{symbol} book differs at seq {book.seq}: {len(ours[0])}/{len(ours[1])} "
                    f"levels vs {len(theirs[0])}/{len(theirs[1])}, first difference at level {n}")
        if book.checksum() != f.checksum():
            return f"{symbol} checksum {book.checksum()} != simulator's {f.checksum()}"
        return None

    def caught_up(self, symbol: str) -> bool:
        assert self.sim is not None and self.bp is not None
        md = self.bp._markets.get(symbol)
        if md is None:
            return False
        book = md.book(symbol)
        return book.is_valid and book.seq == self.sim.engine.markets[symbol].seq

    async def check_book(self, symbol: str, timeout_s: float = 10.0) -> bool:
        """Still the market, wait for our book to reach the engine's seq, compare."""
        self.pause_flow()
        try:
            deadline = time.monotonic() + timeout_s
            while not self.caught_up(symbol):
                if time.monotonic() > deadline:
                    # another fault came first: its own resync is checked again
                    self.report.book_checks_superseded += 1
                    self.pending_books.add(symbol)
                    return False
                await asyncio.sleep(0.005)
            diff = self.book_diff(symbol)
            self.report.book_checks += 1
            if diff is not None:
                self.violation(diff)
            return diff is None
        finally:
            self.checking.discard(symbol)
            self.resume_flow()

    # ------------------------------------------------------------------ faults
    async def inject(self) -> None:
        assert self.sim is not None
        sim, rng = self.sim, self.rng
        if not self.bag:   # every fault once per round, in a random order
            self.bag = list(self.cfg.faults)
            rng.shuffle(self.bag)
        name = self.bag.pop()
        sym = rng.choice(self.cfg.symbols)
        self.report.faults[name] += 1
        if name == "drop_public":
            sim.drop_connections("public")
        elif name == "drop_private":
            sim.drop_connections("private")
        elif name == "drop_rest":
            sim.drop_connections("rest")
        elif name == "stall_public":
            sim.stall("public", rng.uniform(0.5, 3.0))
        elif name == "stall_private":
            sim.stall("private", rng.uniform(0.5, 3.0))
        elif name == "corrupt_checksum":
            sim.corrupt_checksum(sym)
        elif name == "skip_seq":
            sim.skip_seq(sym)
        elif name == "skip_seq_deep":
            sim.skip_seq(sym, deep=True)
        elif name == "malformed":
            sim.send_malformed("public", rng.choice(_MALFORMED_FRAMES))
        elif name == "oversized":
            sim.send_oversized("public", (16 << 20) + 1)
        elif name == "rest_429":
            sim.fail_rest(429, count=rng.randint(1, 3))
        elif name == "rest_5xx":
            sim.fail_rest(rng.choice((500, 502, 503)), path=rng.choice(_ORDER_PATHS),
                          execute=rng.random() < 0.5)
        elif name == "lost_reply":
            sim.never_answer(path=rng.choice(_ORDER_PATHS), execute=rng.random() < 0.5)
        elif name == "delay_acks":
            sim.delay_acks(rng.uniform(0.2, 1.5), path=_ORDER_PATHS[0], count=rng.randint(1, 3))
        elif name == "events_first":
            sim.ws_events_before_rest(True)
            loop = asyncio.get_running_loop()
            loop.call_later(rng.uniform(1.0, 4.0), sim.ws_events_before_rest, False)
        elif name == "restart":
            self.spawn(sim.restart(rng.uniform(0.2, 1.0)))

    # ------------------------------------------------------------------ checkpoints
    def differences(self, balances: bool = True) -> list[str]:
        """What differs between what we were told and the engine's own state."""
        assert self.sim is not None and self.acc is not None and self.bp is not None
        eng, acc, bp = self.sim.engine, self.acc, self.bp
        diffs: list[str] = []
        for o in acc.orders.values():
            spec = o.market.spec
            ours = self.orders.get(o.client_oid)
            if ours is None:
                diffs.append(f"order {o.client_oid} ({o.status}) never reported to us")
                continue
            if ours[0] != o.status:
                diffs.append(f"order {o.client_oid}: status {ours[0]} != {o.status}")
            if ours[1] != spec.size_dec(o.filled):
                diffs.append(f"order {o.client_oid}: filled {ours[1]} != {spec.size_dec(o.filled)}")
            if ours[2] != o.order_id:
                diffs.append(f"order {o.client_oid}: id {ours[2]} != {o.order_id}")
        for oid, (status, _, _) in self.orders.items():
            if oid not in acc.by_client_oid and status != "rejected":
                diffs.append(f"order {oid} ({status}) not on the exchange")
        theirs = {(f["tradeId"], f["orderId"]): f for f in acc.fills}
        missing = set(theirs) - set(self.fills)
        extra = set(self.fills) - set(theirs)
        if missing or extra:
            diffs.append(f"fills differ: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
                         f"{len(extra)} extra (e.g. {sorted(extra)[:3]})")
        for key, f in self.fills.items():
            t = theirs.get(key)
            if t is not None and fill_differs(f, t):
                diffs.append(f"fill {key} differs: {f.size}@{f.price} fee {f.fee} vs {t}")
        ours_sum = sum((f.size for f in self.fills.values()), Decimal(0))
        theirs_sum = sum((Decimal(t["baseVolume"]) for t in theirs.values()), Decimal(0))
        if ours_sum != theirs_sum:
            diffs.append(f"fill volume {ours_sum} != simulator's {theirs_sum}")
        return diffs + account_differences(bp, eng, acc, balances=balances)

    async def checkpoint(self, final: bool) -> None:
        assert self.sim is not None and self.bp is not None
        sim, bp, cfg = self.sim, self.bp, self.cfg
        sim.clear_faults()
        for q in self.quoters.values():
            await q.stop()
        self.pause_flow()
        try:
            deadline = time.monotonic() + cfg.converge_timeout_s
            if final:
                while bp.open_orders() or self.acc.open_orders:  # type: ignore[union-attr]
                    try:
                        for s in cfg.symbols:
                            await bp.cancel_all(s)
                    except BitgetError as exc:
                        self.report.tolerated_errors[type(exc).__name__] += 1
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
            diffs: list[str] = []
            refreshed = False
            while True:
                diffs = [] if bp.ready else ["the private stream is not ready"]
                # equity and available move with the mark price, which Bitget pushes only
                # with the next account event: balances are compared after a REST read
                diffs += self.differences(balances=refreshed)
                if not diffs and not refreshed:
                    try:
                        self.checkpoint_reads += 1
                        await bp.reconcile()
                        refreshed = True
                    except BitgetError as exc:
                        self.report.tolerated_errors[type(exc).__name__] += 1
                    continue
                if not diffs or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            for d in diffs[:20]:
                self.violation(f"checkpoint: {d}")
            if final:
                self.report.lost_fills = sum(1 for f in self.acc.fills  # type: ignore[union-attr]
                                             if (f["tradeId"], f["orderId"]) not in self.fills)
                self.report.lost_orders = sum(1 for o in self.acc.orders.values()  # type: ignore[union-attr]
                                              if o.client_oid not in self.orders)
            for s in cfg.symbols:
                while not self.caught_up(s) and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                diff = self.book_diff(s) if self.caught_up(s) else \
                    f"{s} book not caught up with the simulator"
                self.report.book_checks += 1
                if diff is not None:
                    self.violation(f"checkpoint: {diff}")
            self.report.checkpoints += 1
            if not diffs:
                self.forget_history()
            self.report.rss_checkpoints_mb.append(_rss_bytes() / 2**20)
        finally:
            self.resume_flow()
            if not final:
                for q in self.quoters.values():
                    q.active = True
                    q.changed()

    def forget_history(self) -> None:
        """Drop verified terminal orders and fills older than HISTORY_KEEP_S on both sides."""
        assert self.sim is not None and self.acc is not None
        before = self.sim.engine.now_ms() - int(HISTORY_KEEP_S * 1000)
        gone_orders, gone_fills = self.sim.engine.forget_history(self.acc, before)
        for oid in gone_orders:
            self.orders.pop(oid, None)
            self.forgotten.add(oid)
        for key in gone_fills:
            self.fills.pop(key, None)
        self.report.forgotten_orders += len(gone_orders)

    # ------------------------------------------------------------------ run
    async def run(self, progress: Callable[[SoakReport], Any] | None) -> None:
        cfg, report = self.cfg, self.report
        report.rss_start_mb = report.rss_max_mb = _rss_bytes() / 2**20
        t0 = time.monotonic()
        async with Simulator(cfg.symbols, seed=cfg.seed, flow_rate=cfg.flow_rate) as sim:
            self.sim = sim
            self.acc = sim.add_account(self.key, self.secret, self.passphrase, usdt=100_000,
                                       ws_trading=cfg.order_transport == "ws")
            bp = BitgetPerpetual(Credentials(self.key, self.secret, self.passphrase),
                                 rest_url=sim.rest_url, ws_public_url=sim.ws_public_url,
                                 ws_private_url=sim.ws_private_url, symbols=list(cfg.symbols),
                                 order_transport=cfg.order_transport, on_order=self.on_order,
                                 on_fill=self.on_fill, on_book=self.on_book,
                                 on_event=self.on_event, request_timeout_s=2.0)
            self.bp = bp
            bp.tracker.max_done = 2000   # the tracker forgets old final orders itself
            async with bp:
                for s in cfg.symbols:
                    c = bp.contract(s)
                    mid = sim.engine.markets[s].spec.price_dec(sim.engine.markets[s].mark)
                    lots = max(c.min_trade_num, (Decimal(12) / mid).quantize(c.min_trade_num,
                                                                              rounding="ROUND_UP"))
                    size = (lots / c.size_multiplier).to_integral_value("ROUND_UP") * c.size_multiplier
                    q = Quoter(bp, DemoConfig(symbol=s, size=str(size), edge_ticks=-1,
                                              max_position=str(size * 5)))
                    self.quoters[s] = q
                for s in cfg.symbols:
                    await bp.book(s)
                for q in self.quoters.values():
                    q.active = True
                t_run = time.monotonic()
                end = t_run + cfg.duration_s
                next_fault = t_run + cfg.fault_every_s * self.rng.uniform(0.5, 1.5)
                next_check = t_run + cfg.check_every_s
                next_sample = t_run
                samples: list[float] = []   # RSS once a second after warm-up
                warm_s = min(cfg.warmup_s, cfg.duration_s / 4)
                while True:
                    now = time.monotonic()
                    report.elapsed_s = now - t0
                    if now >= next_sample:
                        rss = _rss_bytes() / 2**20
                        report.rss_max_mb = max(report.rss_max_mb, rss)
                        report.rss_end_mb = rss
                        if now - t_run >= warm_s:
                            samples.append(rss)
                        next_sample = now + 1.0
                        self.tally()
                        if progress is not None:
                            progress(report)
                    if now >= end:
                        break
                    if now >= next_fault:
                        await self.inject()
                        next_fault = now + cfg.fault_every_s * self.rng.uniform(0.5, 1.5)
                    if now >= next_check and end - now > cfg.check_every_s / 3:
                        await self.checkpoint(final=False)
                        next_check = time.monotonic() + cfg.check_every_s
                        next_fault = time.monotonic() + cfg.fault_every_s * self.rng.uniform(0.5, 1.5)
                    await asyncio.sleep(0.05)
                await self.checkpoint(final=True)
                if self.tasks:
                    await asyncio.gather(*list(self.tasks), return_exceptions=True)
                self.tally()
        rss = _rss_bytes() / 2**20
        report.rss_end_mb = rss
        report.rss_max_mb = max(report.rss_max_mb, rss)
        report.elapsed_s = time.monotonic() - t0
        # what stays, not what passes: the lowest RSS of the first and of the last quarter
        # after warm-up (a 16 MiB frame in flight lifts single samples for a few seconds)
        samples.append(rss)
        q = max(1, len(samples) // 4)
        report.rss_warm_mb, report.rss_settled_end_mb = min(samples[:q]), min(samples[-q:])
        growth = report.rss_settled_end_mb - report.rss_warm_mb
        if growth > cfg.max_rss_growth_mb:
            self.violation(f"resident memory grew {growth:.1f} MB after warm-up "
                           f"(lowest of the first vs the last quarter; limit "
                           f"{cfg.max_rss_growth_mb:g} MB)")

    def tally(self) -> None:
        bp, report = self.bp, self.report
        if bp is None:
            return
        st = bp.stats()
        report.resyncs = sum(m.get("resyncs", 0) for m in st["market"].values())
        report.integrity_errors = sum(m.get("integrity_errors", 0) for m in st["market"].values())
        report.rejected_frames = sum(m.get(k, 0) for m in st["market"].values()
                                     for k in ("rejected", "rejected_messages",
                                               "rejected_book_messages", "unexpected_pushes",
                                               "unknown_events")) + st["private"].get("rejected", 0)
        report.reconnects = sum(max(0, m.get("connects", 1) - 1) for m in st["market"].values()) + \
            max(0, st["private"].get("connects", 1) - 1)
        report.reconciles = st["connector"].get("reconciles", 0) - self.checkpoint_reads
        report.orders = sum(q.stats.placed for q in self.quoters.values())
        report.orders_by_status = collections.Counter(s for s, _, _ in self.orders.values())


_MALFORMED_FRAMES = (
    b'{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books","instId":"BTC',
    b'\xff\xfe not utf-8 \xc3\x28',
    b'{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books","instId":"BTCUSDT"},'
    b'"data":[{"asks":[["abc","1"]],"bids":[],"checksum":1,"seq":1}]}',
    b'[' * 2000,
    b'{"event":"nonsense","code":"x"}',
    b'{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"candle1m","instId":"BTCUSDT"},"data":[]}',
)


async def run_soak(cfg: SoakConfig | None = None, *,
                   progress: Callable[[SoakReport], Any] | None = None) -> SoakReport:
    """Run a soak (see the module docstring) and return what it found; never raises for a
    violated invariant (``report.ok`` is False and ``report.violations`` says which)."""
    cfg = cfg or SoakConfig()
    cfg.check()
    report = SoakReport(cfg)
    soak = _Soak(cfg, report)
    watch = _LeakWatch([soak.secret, soak.passphrase, soak.key], report)
    # picows logs under "picows.<our logger name>", down to its own level 9 (every chunk
    # received); all of it is read
    loggers = [logging.getLogger("bitget_fast"), logging.getLogger("asyncio"),
               logging.getLogger("picows")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(watch)
        lg.setLevel(1)
    try:
        await soak.run(progress)
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(watch)
            lg.setLevel(level)
    return report
