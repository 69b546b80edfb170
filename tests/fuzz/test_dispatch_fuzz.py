"""Mutation fuzzing of everything after the book parser that reads exchange bytes.

Three targets, each fed mutated real and documented Bitget input (tests/fixtures) with the
mutators of test_book_fuzz.py:

* ``public``: a sequence of frames through the live WebSocket path of :class:`MarketData`
  (the C router in BitgetListener, the books, events, trades and tickers), offline as the
  Replayer drives it. Never an exception; every frame counted once; a valid book is sorted
  and uncrossed; trades and tickers come out typed.
* ``private``: one private push (orders, fill, positions, account) through PrivateStream's
  reader into the order tracker and account state. Only :class:`BitgetError` may escape the
  state's appliers (the connector then reconciles); orders keep a known status and a filled
  size in [0, size]; positions and balances stay typed.
* ``rest``: one HTTP reply body and status through the REST client's envelope decoding, then
  its data into the consumer of that endpoint (contracts -> rules, order detail -> tracker,
  fills, positions, accounts). Typed errors only.
* ``candles``: one candle push through MarketData's candle path into the candle feed's live
  reader, and its rows as a REST page through the page checks. The live reader never raises
  and keeps only real candles (on the grid, low <= open, close <= high, volumes >= 0, not
  ahead of the clock); a page is a typed :class:`CandleError` or sorted, unique candles of
  the window asked for.

``pytest`` runs a seeded smoke of each (a few seconds). ``BITGET_FAST_FUZZ_SECONDS=N`` runs
each target for N seconds more (seed ``BITGET_FAST_FUZZ_SEED``) and prints its count;
``tests/fuzz/atheris_fuzz.py`` runs the same targets under atheris, coverage-guided.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import struct
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from bitget_fast.account import AccountState
from bitget_fast.connector import apply_private_rows, rows_of
from bitget_fast.errors import BitgetError
from bitget_fast.market import MarketData
from bitget_fast.models import Ticker, Trade
from bitget_fast.orders import OrderTracker
from bitget_fast.rules import TradingRules
from bitget_fast.wire import REC_TEXT, replay_records

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
DOCS = FIXTURES / "docs-examples"
REAL = FIXTURES / "real"
FUZZ_SECONDS = float(os.environ.get("BITGET_FAST_FUZZ_SECONDS", "0") or 0)
SMOKE = {"public": 600, "private": 4000, "rest": 4000, "candles": 3000}
_HEAD = struct.Struct("<IBBHq")


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bookfuzz = _load("_bitget_fast_book_fuzz", HERE / "test_book_fuzz.py")


def _doc_push(name: str) -> bytes:
    text = (DOCS / name).read_bytes()
    return text.partition(b"\n=")[2].partition(b"\n")[2].strip()


def _doc_rest(name: str) -> tuple[str, bytes]:
    lines = (DOCS / name).read_bytes().split(b"\n", 3)
    return lines[1].decode().strip(), lines[3].strip()


# ------------------------------------------------------------------------------- seeds
def public_seeds() -> list[list[bytes]]:
    """Sessions of frames: real books streams with the real trades/candles/errors spliced in."""
    others = bookfuzz.other_frames()
    out = []
    for symbol, _, frames in bookfuzz.real_streams():
        out.append(frames[:40] + others[:20])
    out.append(others)
    out.append([b'{"event":"subscribe","arg":{"instType":"USDT-FUTURES","channel":"books",'
                b'"instId":"DASHUSDT"}}', b"pong", b'{"event":"error","code":30001,"msg":"x"}'])
    return out


PRIVATE_DOCS = {"orders": "bitgetnet_futures_ws_orders.txt", "fill": "bitgetnet_futures_ws_fill.txt",
                "positions": "bitgetnet_futures_ws_positions.txt",
                "account": "bitgetnet_futures_ws_account.txt"}


def private_seeds() -> list[bytes]:
    out = [_doc_push(f) for f in PRIVATE_DOCS.values()]
    out.append((REAL / "ccxt_issue25524_ws_usdt_futures_orders_oneway_live.json").read_bytes())
    return out


REST_DOCS = ["bitgetnet_futures_rest_accounts.txt", "bitgetnet_futures_rest_all_position.txt",
             "bitgetnet_futures_rest_contracts.txt", "bitgetnet_futures_rest_fills.txt",
             "bitgetnet_futures_rest_order_detail.txt",
             "bitgetnet_futures_rest_batch_place_order.txt"]


def rest_seeds() -> list[tuple[str, bytes]]:
    return [_doc_rest(f) for f in REST_DOCS]


# ------------------------------------------------------------------------------- targets
class Public:
    """A MarketData that is never started, fed through its listener as the Replayer does."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

    def close(self) -> None:
        asyncio.set_event_loop(None)
        self.loop.close()

    def run(self, frames: list[bytes]) -> None:
        self.loop.run_until_complete(self._run(frames))

    async def _run(self, frames: list[bytes]) -> None:
        md = MarketData(["DASHUSDT", "UNIUSDT", "BTCUSDT"], trades=True, tickers=True,
                        channels_per_connection=1000)
        trades, tickers = md.trades(), md.tickers()
        md._closed = asyncio.Event()
        conn = md._conns[0]
        listener = conn._make_listener()
        listener.on_ws_connected(None)
        buf = b"".join(_HEAD.pack(len(f), REC_TEXT, 0, 0, 1 + i) + f for i, f in enumerate(frames))
        pos, fed, _ = replay_records(buf, 0, [listener])
        assert pos == len(buf) and fed == len(frames), (pos, len(buf), fed, len(frames))
        assert listener.frames == len(frames), (listener.frames, len(frames))
        for symbol, book in md.books.items():
            if book.is_valid:
                bids, asks = book.bids_raw(), book.asks_raw()
                assert all(bids[i][0] > bids[i + 1][0] for i in range(len(bids) - 1)), symbol
                assert all(asks[i][0] < asks[i + 1][0] for i in range(len(asks) - 1)), symbol
                assert all(s > 0 for _, s in bids + asks), symbol
        for t in trades._items:
            assert type(t) is Trade and type(t.price) is Decimal and type(t.size) is Decimal
        for k in tickers._items:
            assert type(k) is Ticker
        conn._ws_disconnected()
        await md.close()


STATUSES = {"pending_new", "live", "partially_filled", "filled", "canceled", "rejected", "unknown"}


apply_push = apply_private_rows   # what the connector's ``_on_push`` does with the rows


def run_private(raw: bytes) -> None:
    tracker, account = OrderTracker(), AccountState()
    try:
        msg = orjson.loads(raw)
        name = msg["arg"]["channel"]
        rows = msg.get("data") or []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return   # PrivateStream rejects it, counts it and reconnects (tested elsewhere)
    for _ in range(2):   # twice: the second time is a duplicate or a stale update
        try:
            apply_push(tracker, account, name, rows)
        except BitgetError:
            pass
    for o in tracker.values():
        assert o.status in STATUSES, o.status
        assert type(o.filled_size) is Decimal and o.filled_size >= 0, o
        for f in o.fills.values():
            assert type(f.size) is Decimal and type(f.price) is Decimal
    for p in account.positions.values():
        assert type(p.size) is Decimal and p.size >= 0, p
    for b in account.balances.values():
        assert type(b.equity) is Decimal and type(b.available) is Decimal, b


class Rest:
    """A RestClient that is never started: replies go through its own ``_reply``."""

    def __init__(self) -> None:
        from bitget_fast import RestClient

        self.loop = asyncio.new_event_loop()
        self.client = RestClient("http://127.0.0.1:9", None)

    def close(self) -> None:
        self.loop.close()

    def reply(self, path: str, status: int, body: bytes, changes_orders: bool) -> Any:
        """``(True, data)`` or ``(False, the typed exception)``."""
        from bitget_fast._http import Request

        fut = self.loop.create_future()
        req = Request("POST" if changes_orders else "GET", path, "", b"", True, changes_orders,
                      fut, None)
        req.clock_retried = True   # a clock code would resync over the network: not here
        self.client._reply(req, status, body)
        assert fut.done(), "a reply left its request unanswered"
        exc = fut.exception()
        if exc is not None:
            assert isinstance(exc, BitgetError), repr(exc)
            if changes_orders:
                # an order's reply that cannot be read never says "refused"
                assert not (status == 200 and type(exc).__name__ in ("ProtocolError",)), exc
            return False, exc
        return True, fut.result()


_REST: Rest | None = None


def run_rest(path: str, body: bytes, status: int = 200, changes_orders: bool = False) -> None:
    global _REST
    if _REST is None:
        _REST = Rest()
    ok, data = _REST.reply(path, status, body, changes_orders)
    if not ok:
        return
    tracker, account = OrderTracker(), AccountState()
    try:   # what the connector does with each endpoint's data (reconcile, reload_rules)
        if path.endswith("/contracts"):
            for c in TradingRules.from_response(data).values():
                assert type(c.size_multiplier) is Decimal
        elif path.endswith("/detail"):
            if isinstance(data, dict):
                tracker.apply_row(data, "reconcile")
        elif path.endswith("/fills"):
            for row in rows_of(data, "fillList", path):
                tracker.apply_fill(row, "reconcile")
        elif path.endswith("/all-position"):
            account.apply_positions(rows_of(data, None, path), "rest")
        elif path.endswith("/accounts"):
            account.apply_balances(rows_of(data, None, path), "rest")
    except BitgetError:
        pass
    for o in tracker.values():
        assert o.status in STATUSES and o.filled_size >= 0, o


def candle_seeds() -> list[bytes]:
    """The real recording's candle pushes (V1: 6 fields) in V2's shape: USDT-FUTURES, 8 fields."""
    out = []
    for line in (REAL / "cryptofeed_BITGET.ws.2.0.txt").read_bytes().splitlines():
        if b'"channel":"candle1m"' not in line or b'"data"' not in line:
            continue
        msg = orjson.loads(line.partition(b": ")[2])
        msg["arg"]["instType"] = "USDT-FUTURES"
        rows = msg["data"][-3:]    # a snapshot's last rows, or an update's one
        quote = [str(Decimal(r[4]) * Decimal(r[5])) for r in rows]
        msg["data"] = [r + [q, q] for r, q in zip(rows, quote)]
        msg["ts"] = int(rows[-1][0]) + 1500
        out.append(orjson.dumps(msg))
    return out


class Candles:
    """MarketData's candle path (never started) into a CandleFeed's readers."""

    LATEST = 1649290080000 + 60_000   # the clock: the recording's last candle, plus one

    def __init__(self) -> None:
        from bitget_fast import CandleFeed, RestClient

        self.got: list[tuple[str, Any]] = []
        md = MarketData(["DASHUSDT", "UNIUSDT"], book_channel=None, candles=["candle1m"],
                        on_candles=lambda s, ch, a, d: self.got.append((a, d)))
        self.md, self.conn = md, md._conns[0]
        self.feed = CandleFeed(RestClient("http://127.0.0.1:9"), "DASHUSDT", "1m")

    def run(self, raw: bytes) -> None:
        from bitget_fast.candles import CandleError

        self.got.clear()
        self.conn._ws_push(102, raw)
        if not self.got:
            return    # not a candle push on a subscribed channel: counted by MarketData
        assert len(self.got) == 1
        _action, data = self.got[0]
        rows, dropped = self.feed._live_rows(data, self.LATEST)
        n = len(data) if isinstance(data, list) else 1
        assert len(rows) + dropped == n, (len(rows), dropped, n)
        for c in rows:
            assert c.start_ms % 60_000 == 0 and c.start_ms <= self.LATEST
            assert 0 < c.low <= min(c.open, c.close) and max(c.open, c.close) <= c.high
            assert c.base_volume >= 0 and c.quote_volume >= 0 and not c.closed
        lo, hi = 1649230080000, self.LATEST + 60_000
        try:
            page = self.feed._check_page(data, lo, hi, "/api/v2/mix/market/candles")
        except CandleError:
            return
        starts = [c.start_ms for c in page]
        assert starts == sorted(set(starts)) and all(lo <= t < hi for t in starts)


# ------------------------------------------------------------------------------- driver
def _mutate_frames(rng: random.Random, frames: list[bytes], pool: list[bytes]) -> list[bytes]:
    out = list(frames)
    for _ in range(1 + int(rng.expovariate(0.7))):
        if not out:
            break
        i = rng.randrange(len(out))
        r = rng.random()
        if r < 0.8:
            out[i] = bookfuzz.mutate(rng, out[i], pool)
        elif r < 0.9:
            out.insert(i, rng.choice(pool))
        else:
            del out[i]
    return out


def fuzz(target: str, seed: int, *, count: int | None = None,
         seconds: float | None = None) -> int:
    """Run ``target`` on mutated seeds for ``count`` inputs or ``seconds``; returns how many."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds if seconds else None
    n = 0
    if target == "public":
        sessions = public_seeds()
        pool = [f for s in sessions for f in s]
        pub = Public()
        try:
            for s in sessions:
                pub.run(s)
            while (count is None or n < count) and (deadline is None or time.monotonic() < deadline):
                frames = _mutate_frames(rng, rng.choice(sessions), pool)
                try:
                    pub.run(frames)
                except AssertionError as exc:
                    raise AssertionError(f"public seed={seed} input {n}: {exc}; frames "
                                         f"{[f[:200] for f in frames]!r}") from exc
                n += 1
        finally:
            pub.close()
        return n
    if target == "candles":
        cseeds = candle_seeds()
        cand = Candles()
        for raw in cseeds:
            cand.run(raw)
        while (count is None or n < count) and (deadline is None or time.monotonic() < deadline):
            raw = rng.choice(cseeds)
            for _ in range(1 + int(rng.expovariate(1.0))):
                raw = bookfuzz.mutate(rng, raw, cseeds)
            try:
                cand.run(raw)
            except AssertionError as exc:
                raise AssertionError(f"candles seed={seed} input {n}: {exc}; {raw[:300]!r}") \
                    from exc
            n += 1
        return n
    seeds: list[Any] = private_seeds() if target == "private" else rest_seeds()
    pool = [s if isinstance(s, bytes) else s[1] for s in seeds]
    run: Callable[..., None] = run_private if target == "private" else run_rest
    for s in seeds:
        run(s) if target == "private" else run(*s)
    while (count is None or n < count) and (deadline is None or time.monotonic() < deadline):
        s = rng.choice(seeds)
        raw = s if target == "private" else s[1]
        for _ in range(1 + int(rng.expovariate(1.0))):
            raw = bookfuzz.mutate(rng, raw, pool)
        try:
            if target == "private":
                run(raw)
            else:
                run(s[0], raw, rng.choice((200, 200, 200, 400, 429, 500, 502)),
                    rng.random() < 0.3)
        except AssertionError as exc:
            raise AssertionError(f"{target} seed={seed} input {n}: {exc}; {raw[:300]!r}") from exc
        n += 1
    return n


@pytest.mark.parametrize("target", list(SMOKE))
def test_smoke(target: str) -> None:
    assert fuzz(target, 20261124, count=SMOKE[target]) == SMOKE[target]


def test_seeds_are_accepted_as_documented() -> None:
    """The unmutated documentation examples fill the state they describe."""
    tracker, account = OrderTracker(), AccountState()
    for name, f in PRIVATE_DOCS.items():
        apply_push(tracker, account, name, orjson.loads(_doc_push(f))["data"])
    assert len(tracker) >= 1 and account.positions and account.balances
    pub = Public()
    try:
        md_frames = public_seeds()[0]
        pub.run(md_frames)
    finally:
        pub.close()
    cand = Candles()
    for raw in candle_seeds():
        cand.run(raw)
        _action, data = cand.got[0]
        assert cand.feed._live_rows(data, Candles.LATEST)[1] == 0    # every real row kept


@pytest.mark.skipif(not FUZZ_SECONDS, reason="set BITGET_FAST_FUZZ_SECONDS for a long run")
@pytest.mark.timeout(0)
@pytest.mark.parametrize("target", list(SMOKE))
def test_long_run(target: str) -> None:
    seed = int(os.environ.get("BITGET_FAST_FUZZ_SEED") or random.SystemRandom().getrandbits(32))
    t0 = time.monotonic()
    n = fuzz(target, seed, seconds=FUZZ_SECONDS)
    print(f"\ndispatch fuzz {target}: seed {seed}, {n:,} inputs in {time.monotonic() - t0:.0f} s, "
          "0 failures")
