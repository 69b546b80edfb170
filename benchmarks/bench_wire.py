"""Frame on the wire to updated book: the client's CPU per message over loopback.

Groups:
  wire: frame to updated book over loopback (per message)
      bitget_fast      ``MarketData([sym], url=..., strict_seq=True, on_book=<counter>)``:
                       picows + the Cython listener (wire.pyx) + the C book, checksum verified
      picows+orjson+sortedcontainers
                       a plain-Python client on the same sender: a Python picows
                       ``WSListener`` handing each data frame to ``baseline_book.BaselineBook``
                       (``orjson.loads``, SortedDict keyed by Decimal, zlib.crc32 of the top 25)
  wire: 200 symbols interleaved on a few connections
      bitget_fast      200 symbols, their streams interleaved round-robin, ``MarketData`` with
                       ``channels_per_connection=50`` (4 connections), strict seq
      picows+orjson+sortedcontainers   the same, 4 connections, routed by ``instId``

The sender is ``replay_sender.py`` in its own process (DECISIONS.md section 1): the
pre-serialized frames of ``gen_books`` streams, written in chunks of whole frames as fast
as the client reads. What is measured is the client (this process): the CPU time of the
thread running the event loop (``time.thread_time``: user + system, the recv syscalls
included) from the first book message applied (the snapshot) to the last, divided by the
messages in between. The client is that one thread; the whole process's CPU
(``time.process_time``) is in ``extra_info`` too, but it is not the headline: uvloop's
libuv starts an io_uring SQPOLL kernel thread (``iou-sqp-<pid>``) per loop, which spins
~14 ms after the loop is closed before it exits, and that CPU lands in the process total
inside the next round's window (~100 ns per message of 100,000).
The benchmarks use a timer that is exactly that window (:func:`client_cpu_clock`), so
pytest-benchmark's median / ``items_per_call`` -- what ``report.py`` prints -- is client
CPU per message; connecting, subscribing and the checks after the stream are outside it.
Wall time per message, the user/system split and messages/s are in ``extra_info``.

Before a figure counts (every round): every message applied (``book_messages`` = messages
sent, no integrity error, nothing rejected or dropped), and every book's top 25 of both
sides, checksum and seq equal ``sim.reference.Book`` fed the same stream.

Memory: ``OrderBook.memory_bytes()`` after a 400-level snapshot and after the stream, and
what 200 books of 400 levels per side cost this process (glibc malloc in-use delta, RSS
delta, tracemalloc delta, in a fresh interpreter), in the ``bitget_fast`` benchmarks'
``extra_info`` and checked against a loose bound by :func:`test_book_memory` (no timing
decides pass or fail).

With benchmarks disabled (CI's ``--benchmark-disable``) the streams are small (2,000
updates; 40 symbols x 20 updates on 4 connections) and each case runs once, untimed.
Environment: ``BENCH_WIRE_UPDATES`` (100000), ``BENCH_WIRE_SYMBOLS`` (200),
``BENCH_WIRE_SYMBOL_UPDATES`` (1000), ``BENCH_WIRE_LOOP`` (``uvloop`` when installed,
else ``asyncio``).

Targets (the market-data issue): <= 1.5 us of client CPU per message for one symbol;
>= 400,000 messages/s of client CPU on one core for 200 symbols (<= 2.5 us per message).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from picows import WSListener, WSMsgType, ws_connect

from bitget_fast.sim.reference import Book

HERE = pathlib.Path(__file__).resolve().parent


import baseline_book  # beside this file: benchmarks/conftest.py puts it on sys.path
import gen_books
from benchutil import benchmarks_disabled, conftest_results

GROUP_ONE = "wire: frame to updated book over loopback (per message)"
GROUP_MANY = "wire: 200 symbols interleaved on a few connections"
BASELINE = "picows+orjson+sortedcontainers"
SYMBOL = "BTCUSDT"
SEED = 1

N_UPDATES = int(os.environ.get("BENCH_WIRE_UPDATES", "100000"))
N_SYMBOLS = int(os.environ.get("BENCH_WIRE_SYMBOLS", "200"))
SYMBOL_UPDATES = int(os.environ.get("BENCH_WIRE_SYMBOL_UPDATES", "1000"))
CHANNELS_PER_CONNECTION = 50            # 200 symbols -> 4 connections
# --benchmark-disable (CI): one untimed run of each, small streams, still 4 connections
N_UPDATES_DISABLED = 2_000
N_SYMBOLS_DISABLED, SYMBOL_UPDATES_DISABLED, CHANNELS_DISABLED = 40, 20, 10
ROUNDS = {"bitget_fast": (5, 1), BASELINE: (3, 0)}   # (rounds, warmup rounds) when enabled
ROUNDS_MANY = {"bitget_fast": (5, 1), BASELINE: (2, 0)}

MEMORY_BOOKS = 200                      # books of 400 levels per side for the memory figure
MEMORY_BOUND_PER_BOOK = 512 * 1024      # loose sanity bound (bytes), never a timing


# -- the measuring window ----------------------------------------------------------------

_CLOCK = [0.0]


def client_cpu_clock() -> float:
    """pytest-benchmark timer: the client CPU seconds spent inside measuring windows so far.

    It moves only when a window closes (by the CPU time from the first message to the
    last), so a timed call's "duration" is that call's window and nothing else.
    """
    return _CLOCK[0]


class Window:
    """Counts book messages; marks thread CPU, process CPU, wall and the thread's rusage
    at the first and at the last."""

    def __init__(self, total: int, loop: asyncio.AbstractEventLoop) -> None:
        self.total = total
        self.done: asyncio.Future[None] = loop.create_future()
        self.start: tuple[float, float, float, Any] | None = None
        self.end: tuple[float, float, float, Any] | None = None
        self.on_book = self._make_callback()
        self.count: Callable[[], int]      # book messages so far (set by _make_callback)

    def _make_callback(self) -> Callable[[Any], None]:
        total = self.total
        n = 0
        thread_time, process_time, perf_counter = time.thread_time, time.process_time, \
            time.perf_counter
        getrusage, thread = resource.getrusage, resource.RUSAGE_THREAD

        def on_book(book: Any) -> None:   # what a user's book callback costs at least
            nonlocal n
            n += 1
            if n == 1 or n == total:
                if n == 1:
                    ru, pt = getrusage(thread), process_time()
                    self.start = (perf_counter(), thread_time(), pt, ru)
                if n == total:
                    cpu, pt = thread_time(), process_time()
                    self.end = (perf_counter(), cpu, pt, getrusage(thread))
                    if not self.done.done():
                        self.done.set_result(None)

        self.count = lambda: n
        return on_book

    def fail(self, why: str) -> None:
        if not self.done.done():
            self.done.set_exception(AssertionError(why))

    def close(self) -> dict[str, float]:
        """The window's figures; adds its CPU time to :func:`client_cpu_clock`."""
        assert self.start is not None and self.end is not None
        (w0, c0, p0, r0), (w1, c1, p1, r1) = self.start, self.end
        msgs = self.total - 1
        _CLOCK[0] += c1 - c0
        return {"msgs": msgs, "cpu_s": c1 - c0, "wall_s": w1 - w0, "process_cpu_s": p1 - p0,
                "user_s": r1.ru_utime - r0.ru_utime, "sys_s": r1.ru_stime - r0.ru_stime,
                "voluntary_switches": r1.ru_nvcsw - r0.ru_nvcsw,
                "involuntary_switches": r1.ru_nivcsw - r0.ru_nivcsw}


def _callback_ns() -> float:
    """What the counting callback alone costs per call (included in every figure)."""
    loop = asyncio.new_event_loop()
    try:
        w = Window(1 << 60, loop)
        cb, n = w.on_book, 200_000
        t0 = time.perf_counter()
        for _ in range(n):
            cb(None)
        return (time.perf_counter() - t0) * 1e9 / n
    finally:
        loop.close()


# -- streams and the sender --------------------------------------------------------------

class Stream:
    """Frames in sending order, their symbols, and what the reference book ends at."""

    def __init__(self, per_symbol: dict[str, list[bytes]], directory: pathlib.Path,
                 name: str) -> None:
        t0 = time.perf_counter()
        self.symbols = list(per_symbol)
        self.expected: dict[str, tuple] = {}
        for sym, frames in per_symbol.items():
            ref = Book(sym, strict_seq=True)
            for raw in frames:
                ref.apply(raw)
            assert ref.is_valid and ref.checksums_verified == len(frames), \
                f"the generated stream of {sym} does not verify against sim.reference.Book"
            self.expected[sym] = (ref.bids[:25], ref.asks[:25], ref.checksum(), ref.seq)
        self.reference_s = time.perf_counter() - t0
        # round-robin: message j of every symbol, then message j + 1 ...
        streams = list(per_symbol.values())
        self.frames: list[bytes] = [s[j] for j in range(max(map(len, streams)))
                                    for s in streams if j < len(s)]
        self.path = directory / f"{name}.jsonl"
        self.path.write_bytes(b"\n".join(self.frames) + b"\n")
        first = streams[0]
        self.info = {**gen_books.message_stats(first), "symbols": len(self.symbols),
                     "messages": len(self.frames)}
        if len(streams) > 1:
            self.info["updates_per_symbol"] = len(first) - 1

    def check_book(self, sym: str, bids: list, asks: list, checksum: int, seq: int) -> None:
        e_bids, e_asks, e_cs, e_seq = self.expected[sym]
        assert list(bids) == e_bids, f"{sym}: bids differ from the reference"
        assert list(asks) == e_asks, f"{sym}: asks differ from the reference"
        assert checksum == e_cs, f"{sym}: checksum {checksum} != reference {e_cs}"
        assert seq == e_seq, f"{sym}: seq {seq} != reference {e_seq}"


class Sender:
    """``replay_sender.py FRAMES_FILE`` in its own process (cwd outside the checkout)."""

    def __init__(self, path: pathlib.Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "replay_sender.py"), str(path)],
            stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"replay_sender.py did not start (printed {line!r})")
        self.url = f"ws://127.0.0.1:{int(line)}/v2/ws/public"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.communicate()


@pytest.fixture(scope="session")
def wire_disabled(request) -> bool:
    return benchmarks_disabled(request.config)


@pytest.fixture(scope="session")
def one_symbol(wire_disabled, tmp_path_factory):
    n = N_UPDATES_DISABLED if wire_disabled else N_UPDATES
    t0 = time.perf_counter()
    frames = gen_books.generate(n, SEED, SYMBOL)
    generate_s = time.perf_counter() - t0
    stream = Stream({SYMBOL: frames}, tmp_path_factory.mktemp("wire"), "one")
    stream.info["generate_s"] = round(generate_s, 2)
    sender = Sender(stream.path)
    yield stream, sender
    sender.stop()


@pytest.fixture(scope="session")
def many_symbols(wire_disabled, tmp_path_factory):
    if wire_disabled:
        count, updates, per_conn = N_SYMBOLS_DISABLED, SYMBOL_UPDATES_DISABLED, CHANNELS_DISABLED
    else:
        count, updates, per_conn = N_SYMBOLS, SYMBOL_UPDATES, CHANNELS_PER_CONNECTION
    t0 = time.perf_counter()
    per_symbol = {f"S{i:03d}USDT": gen_books.generate(updates, 1000 + i, f"S{i:03d}USDT")
                  for i in range(count)}
    generate_s = time.perf_counter() - t0
    stream = Stream(per_symbol, tmp_path_factory.mktemp("wire"), "many")
    stream.info["generate_s"] = round(generate_s, 2)
    stream.info["channels_per_connection"] = per_conn
    sender = Sender(stream.path)
    yield stream, sender, per_conn
    sender.stop()


# -- the event loop ----------------------------------------------------------------------

def _loop_factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    want = os.environ.get("BENCH_WIRE_LOOP", "")
    if want != "asyncio":
        try:
            import uvloop  # noqa: PLC0415
            return "uvloop", uvloop.new_event_loop
        except ImportError:
            if want == "uvloop":
                raise
    return "asyncio", asyncio.new_event_loop


def _run(coro_fn: Callable[[], Any]) -> Any:
    name, factory = _loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro_fn())


def _timeout(total: int) -> float:
    return 30.0 + total * 50e-6     # far above the slowest client (~20 us per message)


# -- the clients -------------------------------------------------------------------------

async def _bitget_fast_round(stream: Stream, url: str, per_conn: int) -> dict[str, Any]:
    from bitget_fast.market import MarketData  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    total = len(stream.frames)
    window = Window(total, loop)

    def on_event(ev) -> None:
        if ev.kind in ("integrity", "rejected", "error", "disconnected", "resync"):
            window.fail(f"{ev.kind} {ev.symbol}: {ev.detail}")

    md = MarketData(stream.symbols, url=url, strict_seq=True, on_book=window.on_book,
                    on_event=on_event, channels_per_connection=per_conn)
    async with md:
        try:
            await asyncio.wait_for(asyncio.shield(window.done), _timeout(total))
        except (TimeoutError, asyncio.TimeoutError):
            raise AssertionError(f"{window.count()} of {total} book messages in "
                                 f"{_timeout(total):.0f} s; stats {md.stats()}; "
                                 f"events {list(md.events)[-5:]}") from None
        stats = md.stats()
        books = {s: (b.bids(25), b.asks(25), b.checksum(), b.seq, b.is_valid,
                     b.memory_bytes()) for s, b in md.books.items()}
        connections = md.connections
    figures = window.close()
    assert stats["book_messages"] == total, stats
    assert stats["frames"] == total + len(stream.symbols), stats   # + one ack per symbol
    for key in ("integrity_errors", "rejected_book_messages", "rejected_messages",
                "dropped_book_messages", "rejected", "resyncs", "reconnects"):
        assert stats[key] == 0, (key, stats)
    for s, (bids, asks, cs, seq, valid, _) in books.items():
        assert valid, f"{s}: book invalid after the stream"
        stream.check_book(s, bids, asks, cs, seq)
    figures["connections"] = connections
    figures["memory_bytes_after_stream"] = max(b[5] for b in books.values())
    return figures


class _BaselineListener(WSListener):
    """A plain-Python client: each data frame to its BaselineBook, events through orjson."""

    def __init__(self, books: dict[bytes, Any], window: Window,
                 acked: asyncio.Future[None], expect_acks: int) -> None:
        super().__init__()
        self.books = books
        self.single = next(iter(books.values())) if len(books) == 1 else None
        self.on_book = window.on_book
        self.window = window
        self.acked = acked
        self.expect_acks = expect_acks
        self.reads = 0

    def on_ws_frame(self, transport, frame) -> None:
        if frame.last_in_buffer:
            self.reads += 1
        if frame.msg_type != WSMsgType.TEXT:
            return
        raw = frame.get_payload_as_bytes()
        if raw.startswith(b'{"action"'):
            book = self.single
            if book is None:   # route by instId without parsing twice
                i = raw.index(b'"instId":"') + 10
                book = self.books[raw[i:raw.index(b'"', i)]]
            try:
                book.apply(raw)
            except Exception as exc:  # noqa: BLE001 - the round fails with it
                self.window.fail(f"baseline book: {exc!r}")
                return
            self.on_book(book)
        elif raw != b"pong":
            msg = orjson.loads(raw)
            if msg.get("event") == "subscribe":
                self.expect_acks -= 1
                if self.expect_acks == 0 and not self.acked.done():
                    self.acked.set_result(None)
            else:
                self.window.fail(f"unexpected event {msg!r}")


async def _baseline_round(stream: Stream, url: str, per_conn: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    total = len(stream.frames)
    window = Window(total, loop)
    books = {s.encode(): baseline_book.BaselineBook(s) for s in stream.symbols}
    conns = []
    try:
        for i in range(0, len(stream.symbols), per_conn):
            syms = stream.symbols[i:i + per_conn]
            acked = loop.create_future()
            mine = {s.encode(): books[s.encode()] for s in syms}
            transport, listener = await ws_connect(
                functools.partial(_BaselineListener, mine, window, acked, len(syms)), url)
            conns.append((transport, listener, acked))
            args = [{"instType": "USDT-FUTURES", "channel": "books", "instId": s} for s in syms]
            for j in range(0, len(args), 25):    # requests <= 4096 bytes
                transport.send(WSMsgType.TEXT,
                               orjson.dumps({"op": "subscribe", "args": args[j:j + 25]}))
        await asyncio.wait_for(asyncio.gather(*(a for _, _, a in conns)), 30)
        await asyncio.wait_for(asyncio.shield(window.done), _timeout(total))
    finally:
        for transport, _, _ in conns:
            transport.disconnect(graceful=False)
        for transport, _, _ in conns:
            await transport.wait_disconnected()
    figures = window.close()
    for s, book in books.items():
        stream.check_book(s.decode(), book.bids(25), book.asks(25), book.checksum(), book.seq)
    figures["connections"] = len(conns)
    figures["frames_per_read"] = round(total / max(1, sum(c[1].reads for c in conns)), 1)
    return figures


CLIENTS = {"bitget_fast": _bitget_fast_round, BASELINE: _baseline_round}


# -- reporting ---------------------------------------------------------------------------

def _summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
    def med(xs: list[float]) -> float:
        xs = sorted(xs)
        m = len(xs) // 2
        return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2

    msgs = windows[0]["msgs"]
    cpu = [w["cpu_s"] * 1e9 / msgs for w in windows]
    wall = [w["wall_s"] * 1e9 / msgs for w in windows]
    out = {
        "cpu_ns_per_msg": round(med(cpu), 1),
        "cpu_ns_per_msg_rounds": [round(x, 1) for x in cpu],
        "wall_ns_per_msg": round(med(wall), 1),
        "wall_ns_per_msg_rounds": [round(x, 1) for x in wall],
        "process_cpu_ns_per_msg": round(med([w["process_cpu_s"] * 1e9 / msgs
                                             for w in windows]), 1),
        # the kernel splits user/system by tick sampling: coarse over a ~0.1 s window
        "user_ns_per_msg": round(med([w["user_s"] * 1e9 / msgs for w in windows]), 1),
        "sys_ns_per_msg": round(med([w["sys_s"] * 1e9 / msgs for w in windows]), 1),
        "msgs_per_s_client_cpu": round(1e9 / med(cpu)),
        "msgs_per_s_wall": round(1e9 / med(wall)),
        # ~1.0: the client was busy the whole window (the sender kept ahead of it)
        "client_busy": round(med([w["cpu_s"] / w["wall_s"] for w in windows]), 3),
        "involuntary_switches": windows[-1]["involuntary_switches"],
        "connections": windows[-1]["connections"],
        "messages_timed": msgs,
    }
    if "frames_per_read" in windows[-1]:
        out["frames_per_read"] = windows[-1]["frames_per_read"]
    if "memory_bytes_after_stream" in windows[-1]:
        out["book_memory_bytes_after_stream"] = windows[-1]["memory_bytes_after_stream"]
    return out


def _measure(request, benchmark, group: str, impl: str, stream: Stream, url: str,
             per_conn: int, rounds: tuple[int, int], extra: dict[str, Any]) -> dict[str, Any]:
    client = CLIENTS[impl]
    windows: list[dict[str, Any]] = []

    def one_round() -> None:
        windows.append(_run(lambda: client(stream, url, per_conn)))

    n_rounds, warmup = rounds
    benchmark.group = group
    loop_name = _loop_factory()[0]
    benchmark.extra_info.update({"implementation": impl, "items_per_call": len(stream.frames) - 1,
                                 "correct": True, "timer": "client CPU, first to last message",
                                 "loop": loop_name, **stream.info, **extra})
    benchmark.pedantic(one_round, rounds=n_rounds, warmup_rounds=warmup, iterations=1)
    timed = windows[warmup:] if len(windows) > warmup else windows
    summary = _summary(timed)
    benchmark.extra_info.update(summary)
    stats = getattr(benchmark, "stats", None)
    results = conftest_results(request.config)
    if stats is not None and results is not None:
        s, items = stats.stats, len(stream.frames) - 1
        results.append({"group": group, "impl": impl, "items": items,
                        "median_ns": s.median * 1e9 / items, "min_ns": s.min * 1e9 / items,
                        "test": request.node.name})
    return summary


# -- memory ------------------------------------------------------------------------------

# Run in a fresh interpreter, so that the heap it measures is not memory an earlier test
# freed (which a new book would reuse, hiding its cost from RSS).
_MEMORY_SCRIPT = textwrap.dedent("""
    import ctypes, ctypes.util, gc, json, os, sys, tracemalloc
    from bitget_fast import OrderBook

    snapshot, n = open(sys.argv[1], "rb").readline().rstrip(b"\\n"), int(sys.argv[2])
    frames = [snapshot.replace(b'"instId":"BTCUSDT"', b'"instId":"M%03dUSDT"' % i)
              for i in range(n)]

    class MallInfo2(ctypes.Structure):
        _fields_ = [(f, ctypes.c_size_t) for f in ("arena", "ordblks", "smblks", "hblks",
                    "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    try:
        mallinfo2 = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallinfo2
        mallinfo2.restype = MallInfo2
        def in_use():
            m = mallinfo2()
            return m.uordblks + m.hblkhd
    except (OSError, AttributeError):
        def in_use():
            return None

    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def make():
        books = []
        for i, raw in enumerate(frames):
            b = OrderBook("M%03dUSDT" % i, strict_seq=True)
            b.apply(raw)
            books.append(b)
        return books

    gc.collect()
    rss0, mall0 = rss(), in_use()
    books = make()
    rss1, mall1 = rss(), in_use()
    assert all(b.depth == (400, 400) and b.is_valid for b in books)
    own = sum(b.memory_bytes() for b in books)
    del books
    gc.collect()
    tracemalloc.start()
    t0 = tracemalloc.get_traced_memory()[0]
    books = make()
    t1 = tracemalloc.get_traced_memory()[0]
    print(json.dumps({"memory_bytes": own // n,
                      "malloc_bytes": None if mall0 is None else (mall1 - mall0) // n,
                      "rss_bytes": (rss1 - rss0) // n, "tracemalloc_bytes": (t1 - t0) // n}))
""")


@pytest.fixture(scope="session")
def memory(one_symbol) -> dict[str, Any]:
    """Bytes per 400-level book: the book's own count, then malloc, RSS and tracemalloc deltas
    of creating 200 such books in a fresh interpreter."""
    from bitget_fast import OrderBook  # noqa: PLC0415

    stream, _ = one_symbol
    book = OrderBook(SYMBOL, strict_seq=True)
    empty = book.memory_bytes()
    book.apply(stream.frames[0])
    assert book.depth == (400, 400)
    after_snapshot = book.memory_bytes()
    for raw in stream.frames[1:]:
        book.apply(raw)
    assert book.is_valid
    after_stream = book.memory_bytes()
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(stream.path),
                          str(MEMORY_BOOKS)], capture_output=True, text=True,
                         cwd=tempfile.gettempdir(), timeout=120)
    assert out.returncode == 0, out.stderr
    many = json.loads(out.stdout)
    return {
        "book_memory_bytes_empty": empty,
        "book_memory_bytes_after_400_level_snapshot": after_snapshot,
        "book_memory_bytes_after_stream": after_stream,
        **{f"books_200x400_{k}_per_book": v for k, v in many.items()},
    }


# -- the tests ---------------------------------------------------------------------------

@pytest.mark.benchmark(timer=client_cpu_clock)
@pytest.mark.parametrize("impl", ["bitget_fast", BASELINE])
def test_wire_one_symbol(request, benchmark, one_symbol, impl):
    stream, sender = one_symbol
    extra: dict[str, Any] = {"callback_ns": round(_callback_ns(), 1)}
    if impl == "bitget_fast":
        extra.update(request.getfixturevalue("memory"))
    rounds = (1, 0) if benchmark.disabled else ROUNDS[impl]
    _measure(request, benchmark, GROUP_ONE, impl, stream, sender.url, 1, rounds, extra)


@pytest.mark.benchmark(timer=client_cpu_clock)
@pytest.mark.parametrize("impl", ["bitget_fast", BASELINE])
def test_wire_many_symbols(request, benchmark, many_symbols, impl):
    stream, sender, per_conn = many_symbols
    extra: dict[str, Any] = {"callback_ns": round(_callback_ns(), 1)}
    if impl == "bitget_fast":
        extra.update(request.getfixturevalue("memory"))
    rounds = (1, 0) if benchmark.disabled else ROUNDS_MANY[impl]
    summary = _measure(request, benchmark, GROUP_MANY, impl, stream, sender.url, per_conn,
                       rounds, extra)
    assert summary["connections"] == 4


def test_book_memory(memory):
    """A 400-level book's memory is sane (a loose bound; the figures go to extra_info)."""
    assert 0 < memory["book_memory_bytes_after_400_level_snapshot"] <= MEMORY_BOUND_PER_BOOK
    assert memory["book_memory_bytes_after_stream"] <= MEMORY_BOUND_PER_BOOK
    assert memory["books_200x400_memory_bytes_per_book"] <= MEMORY_BOUND_PER_BOOK
    mall = memory["books_200x400_malloc_bytes_per_book"]
    assert mall is None or mall <= 2 * MEMORY_BOUND_PER_BOOK
    assert memory["books_200x400_rss_bytes_per_book"] <= 2 * MEMORY_BOUND_PER_BOOK


def test_replay_sender_splits_symbols_by_connection(many_symbols):
    """Each connection gets exactly the frames of the symbols it subscribed, in file order."""
    stream, sender, _ = many_symbols
    half = len(stream.symbols) // 2
    groups = [stream.symbols[:half], stream.symbols[half:]]

    class Collect(WSListener):
        def __init__(self, acked: asyncio.Future[None], n_acks: int) -> None:
            super().__init__()
            self.frames: list[bytes] = []
            self.acked, self.n_acks = acked, n_acks

        def on_ws_frame(self, transport, frame) -> None:
            raw = frame.get_payload_as_bytes()
            if raw.startswith(b'{"event"'):
                self.n_acks -= 1
                if self.n_acks == 0:
                    self.acked.set_result(None)
            else:
                self.frames.append(raw)

    async def main() -> list[list[bytes]]:
        loop = asyncio.get_running_loop()
        conns = []
        for syms in groups:
            acked = loop.create_future()
            t, lis = await ws_connect(functools.partial(Collect, acked, len(syms)), sender.url)
            conns.append((t, lis, acked, syms))
        try:
            for t, _, _, syms in conns:
                t.send(WSMsgType.TEXT, orjson.dumps({"op": "subscribe", "args": [
                    {"instType": "USDT-FUTURES", "channel": "books", "instId": s}
                    for s in syms]}))
                t.send(WSMsgType.TEXT, b"ping")
            await asyncio.wait_for(asyncio.gather(*(c[2] for c in conns)), 10)
            deadline = loop.time() + 20
            want = [sum(1 for f in stream.frames if _inst(f) in sset) + 1   # + the pong
                    for sset in map(set, groups)]
            while [len(c[1].frames) for c in conns] != want and loop.time() < deadline:
                await asyncio.sleep(0.01)
            return [c[1].frames for c in conns]
        finally:
            for t, *_ in conns:
                t.disconnect(graceful=False)
            for t, *_ in conns:
                await t.wait_disconnected()

    got = _run(main)
    for syms, frames in zip(groups, got):
        sset = set(syms)
        assert b"pong" in frames
        data = [f for f in frames if f != b"pong"]
        assert data == [f for f in stream.frames if _inst(f) in sset]


def _inst(raw: bytes) -> str:
    i = raw.index(b'"instId":"') + 10
    return raw[i:raw.index(b'"', i)].decode()
