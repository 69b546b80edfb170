"""Order book hot path: one Bitget ``books`` message in, book updated and checksum verified.

Group:
  book: parse+apply+checksum per message
      bitget_fast          ``OrderBook("BTCUSDT").apply(raw)`` for every message
      orjson+sortedcontainers   the plain-Python baseline the issue names
                           (``baseline_book.py``: orjson.loads, SortedDict keyed by Decimal,
                           zlib.crc32 of the top 25 checked on every message)
      orjson.loads (no book)    parsing the same messages alone, no book at all

Input: ``gen_books.generate(20_000, seed=1)``, a seeded BTCUSDT stream (one 400-level
snapshot, then updates of 1-20 levels, ~15% deletions, a walking mid price), every
message with the correct checksum of the top 25. One timed call replays the whole
stream into a fresh book (snapshot, then every update, each checksum verified), so the
book's state is the same every round; the figure is time per message (items_per_call =
number of messages; the snapshot's cost is spread over the stream). 20,000 rather than
100,000 updates: the frames then stay in cache as a just-received frame is (NOTES.md);
``BENCH_BOOK_UPDATES=100000`` times the long stream.

Before timing: the stream is checked against ``sim.reference.Book`` (strict seq, every
checksum verified); after a replay, each book's top 25 of both sides, checksum and seq
equal the reference's; and each book must reject a message carrying a wrong checksum (so
nothing skips the check). With benchmarks disabled (CI's ``--benchmark-disable``) the
stream has 2,000 updates so the one untimed run stays quick.

Targets (the issue): bitget_fast <= 0.8 us median per message, >= 20x the baseline, and
faster than orjson.loads alone.
"""

from __future__ import annotations

import os
import re
import time

import orjson
import pytest

import bitget_fast
from bitget_fast.sim.reference import Book

import baseline_book  # beside this file: benchmarks/conftest.py puts it on sys.path
import gen_books
from benchutil import benchmarks_disabled

GROUP = "book: parse+apply+checksum per message"
SYMBOL = "BTCUSDT"
SEED = 1
# Timed runs replay 20,000 updates per call: ~6 MB of frames, which stay in cache between
# rounds as a just-received frame is (see NOTES.md); BENCH_BOOK_UPDATES overrides it.
N_UPDATES = int(os.environ.get("BENCH_BOOK_UPDATES", "20000"))
N_UPDATES_DISABLED = 2_000   # --benchmark-disable (CI): one untimed run each


class Stream:
    """The frames, what the reference book holds after them, and the stream's statistics."""

    def __init__(self, n_updates: int) -> None:
        t0 = time.perf_counter()
        self.frames: list[bytes] = gen_books.generate(n_updates, SEED, SYMBOL)
        generate_s = time.perf_counter() - t0
        ref = Book(SYMBOL, strict_seq=True)
        for raw in self.frames:
            ref.apply(raw)
        assert ref.is_valid and ref.checksums_verified == len(self.frames), \
            "the generated stream does not verify against sim.reference.Book"
        self.bids, self.asks = ref.bids[:25], ref.asks[:25]
        self.checksum, self.seq = ref.checksum(), ref.seq
        self.best_bid, self.best_ask = ref.best_bid, ref.best_ask
        self.depth = ref.depth
        self.info = {"seed": SEED, **gen_books.message_stats(self.frames),
                     "generate_s": round(generate_s, 2)}
        # the first update with its checksum altered: every book must refuse it
        first_update = self.frames[1]
        cs = int(re.search(rb'"checksum":(-?\d+)', first_update).group(1))
        wrong = cs + 1 if cs < 0x7FFFFFFF else cs - 1
        self.tampered = first_update.replace(b'"checksum":%d,' % cs, b'"checksum":%d,' % wrong)
        assert self.tampered != first_update


@pytest.fixture(scope="session")
def stream(request) -> Stream:
    n = N_UPDATES_DISABLED if benchmarks_disabled(request.config) else N_UPDATES
    return Stream(n)


def _replay(make, frames):
    """One timed call: a fresh book, then every frame applied in order; returns the book."""

    def run(make=make, frames=frames):
        book = make(SYMBOL)
        apply = book.apply
        for raw in frames:
            apply(raw)
        return book

    return run


def _order_book_class():
    cls = getattr(bitget_fast, "OrderBook", None)
    if cls is None:
        pytest.fail("bitget_fast.OrderBook is missing from the installed package "
                    f"({bitget_fast.__file__}): build and install the compiled order book")
    return cls


def test_book_bitget_fast(bench, stream):
    # the fixture is in the signature: --benchmark-only skips tests that lack it
    OrderBook = _order_book_class()
    probe = OrderBook(SYMBOL)
    probe.apply(stream.frames[0])
    with pytest.raises(bitget_fast.ChecksumMismatch):
        probe.apply(stream.tampered)

    run = _replay(OrderBook, stream.frames)
    book = run()
    assert book.is_valid
    assert book.bids(25) == stream.bids
    assert book.asks(25) == stream.asks
    assert book.checksum() == stream.checksum
    assert book.seq == stream.seq
    assert book.best_bid == stream.best_bid and book.best_ask == stream.best_ask
    bench(run, group=GROUP, impl="bitget_fast", items=len(stream.frames), **stream.info)


def test_book_baseline(bench, stream):
    Baseline = baseline_book.BaselineBook
    probe = Baseline(SYMBOL)
    probe.apply(stream.frames[0])
    with pytest.raises(baseline_book.ChecksumError):
        probe.apply(stream.tampered)

    run = _replay(Baseline, stream.frames)
    book = run()
    assert book.bids(25) == stream.bids
    assert book.asks(25) == stream.asks
    assert book.checksum() == stream.checksum
    assert book.seq == stream.seq
    bench(run, group=GROUP, impl="orjson+sortedcontainers", items=len(stream.frames),
          **stream.info)


def test_orjson_loads_alone(bench, stream):
    def run(frames=stream.frames, loads=orjson.loads):
        for raw in frames:
            loads(raw)
        return loads(raw)

    last = run()
    assert last["data"][0]["seq"] == stream.seq
    bench(run, group=GROUP, impl="orjson.loads (no book)", items=len(stream.frames),
          **stream.info)


_UPDATE = re.compile(
    rb'\{"action":"update","arg":\{"instType":"USDT-FUTURES","channel":"books",'
    rb'"instId":"BTCUSDT"\},"data":\[\{"asks":\[(?P<asks>.*)\],"bids":\[(?P<bids>.*)\],'
    rb'"checksum":-?\d+,"seq":\d+,"ts":"\d{13}"\}\],"ts":\d{13}\}')
_LEVEL = re.compile(rb'\["(\d+\.\d)","(0|\d+\.\d{3})"\]')


def test_stream_shape(stream):
    """The generated stream looks like Bitget's: shapes, number formats, sizes, depth."""
    frames = stream.frames
    assert frames[0].startswith(b'{"action":"snapshot","arg":{"instType":"USDT-FUTURES",'
                                b'"channel":"books","instId":"BTCUSDT"},"data":[{"asks":[')
    snap = orjson.loads(frames[0])["data"][0]
    assert len(snap["asks"]) == len(snap["bids"]) == 400
    for raw in frames[1:200]:
        m = _UPDATE.fullmatch(raw)
        assert m, raw
        for side in ("asks", "bids"):
            text = m.group(side)
            levels = _LEVEL.findall(text)
            assert b",".join(b'["%s","%s"]' % lv for lv in levels) == text
            prices = [float(p) for p, _ in levels]
            assert prices == sorted(prices, reverse=side == "bids")
            assert len(set(prices)) == len(prices)
    info = stream.info
    assert 1 <= info["levels_per_update"] <= 20
    assert 0.12 <= info["deletion_share"] <= 0.18
    assert all(300 <= d <= 500 for d in stream.depth)
    assert gen_books.generate(50, SEED, SYMBOL) == frames[:51]   # deterministic
