"""Recording and replaying raw frames (bitget_fast.record).

Groups:
  record: keep a received frame with its receive time (per frame)
      bitget_fast      ``FrameLog.append(REC_TEXT, 0, frame)`` for every frame: the wall clock
                       read and a 16-byte header and the payload copied into one C buffer,
                       whole 256 KB chunks handed to a sink (here a list; the Recorder's is a
                       queue to its writer thread). Called from Python here, so each figure
                       includes a Python method call the listener does not make: the listener
                       calls the same C function directly on the frame's payload pointer.
      plain Python     ``time.time_ns()``, ``struct.pack`` of the same header and
                       ``bytearray +=`` for header and payload, chunks of 256 KB to a list
  replay: recording to checked book (per frame)
      bitget_fast      ``Replayer(file).run()``: the file read, each record's frame through
                       ``wire.BitgetListener`` (the live path: router, C book, checksum, seq)
      bitget_fast + Recorder
                       the same with a Recorder (uncompressed) on the listeners, so every
                       replayed frame is also recorded: the difference to the row above is
                       what recording costs on the live path
      struct+orjson+sortedcontainers
                       the plain-Python reading of the same file: ``struct.unpack_from`` per
                       record header, the payload sliced, then ``baseline_book.BaselineBook``
                       (orjson.loads, SortedDict keyed by Decimal, zlib.crc32 of the top 25)

Input: ``gen_books.generate(20_000, seed=1)`` (bench_book.py's stream), written as an
uncompressed recording (gzip's cost is the writer thread's and zlib's, not ours). Before a
figure counts, both replays end with the book the reference (``sim.reference.Book``) holds:
top 25 of both sides, checksum, seq; and the recorded bytes read back as the same frames.
With benchmarks disabled (CI) the stream has 2,000 updates and each case runs once.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time

import pytest

from bitget_fast.record import (
    REC_CONNECTED,
    REC_TEXT,
    Record,
    Recorder,
    Replayer,
    write_recording,
)
from bitget_fast.sim.reference import Book
from bitget_fast.wire import FrameLog

import baseline_book  # beside this file: benchmarks/conftest.py puts it on sys.path
import gen_books
from benchutil import benchmarks_disabled

GROUP_RECORD = "record: keep a received frame with its receive time (per frame)"
GROUP_REPLAY = "replay: recording to checked book (per frame)"
SYMBOL, SEED = "BTCUSDT", 1
N = int(os.environ.get("BENCH_RECORD_UPDATES", "20000"))
CHUNK = 256 << 10
HEAD = struct.Struct("<IBBHq")


class Stream:
    def __init__(self, n: int, tmp) -> None:
        self.frames = gen_books.generate(n, SEED, SYMBOL)
        ref = Book(SYMBOL, strict_seq=True)
        for raw in self.frames:
            ref.apply(raw)
        self.want = (ref.bids[:25], ref.asks[:25], ref.checksum(), ref.seq)
        base = time.time_ns()
        recs = [Record(REC_CONNECTED, 0, base, b"")] + [
            Record(REC_TEXT, 0, base + i, f) for i, f in enumerate(self.frames)]
        self.path = write_recording(tmp / "bench.bfrec", recs,
                                    {"symbols": [SYMBOL], "strict_seq": True}, compress=False)
        self.info = {"frames": len(self.frames), "file_bytes": self.path.stat().st_size,
                     "mean_frame_bytes": round(sum(map(len, self.frames)) / len(self.frames))}


@pytest.fixture(scope="module")
def stream(request, tmp_path_factory) -> Stream:
    n = 2000 if benchmarks_disabled(request.config) else N
    return Stream(n, tmp_path_factory.mktemp("bench_record"))


def test_record_bitget_fast(bench, stream):
    def run(frames=stream.frames):
        chunks: list[bytes] = []
        log = FrameLog(chunks.append, CHUNK)
        append = log.append
        for f in frames:
            append(REC_TEXT, 0, f)
        log.flush()
        return chunks

    chunks = run()
    data = b"".join(chunks)
    got, pos = [], 0
    while pos < len(data):
        size = HEAD.unpack_from(data, pos)[0]
        got.append(data[pos + 16:pos + 16 + size])
        pos += 16 + size
    assert got == stream.frames
    bench(run, group=GROUP_RECORD, impl="bitget_fast", items=len(stream.frames), **stream.info)


def test_record_baseline(bench, stream):
    def run(frames=stream.frames, pack=HEAD.pack, now=time.time_ns):
        chunks: list[bytes] = []
        buf = bytearray()
        for f in frames:
            buf += pack(len(f), REC_TEXT, 0, 0, now())
            buf += f
            if len(buf) >= CHUNK:
                chunks.append(bytes(buf))
                buf.clear()
        if buf:
            chunks.append(bytes(buf))
        return chunks

    assert len(b"".join(run())) == sum(16 + len(f) for f in stream.frames)
    bench(run, group=GROUP_RECORD, impl="plain Python", items=len(stream.frames), **stream.info)


def test_replay_bitget_fast(bench, stream):
    loop = asyncio.new_event_loop()
    try:
        def run(path=stream.path):
            r = Replayer(path)
            md = r.market_data()
            st = loop.run_until_complete(r.run(md))
            return md, st

        md, st = run()
        b = md.books[SYMBOL]
        assert st.ok and st.book_messages == len(stream.frames)
        assert (b.bids(25), b.asks(25), b.checksum(), b.seq) == stream.want
        bench(run, group=GROUP_REPLAY, impl="bitget_fast", items=len(stream.frames),
              **stream.info)
    finally:
        loop.close()


def test_replay_bitget_fast_recording(bench, stream, tmp_path):
    """The replay again with a Recorder on the listeners: the difference to the row above is
    what keeping every frame costs on the live path (the C call the listener makes)."""
    loop = asyncio.new_event_loop()
    recorders: list[Recorder] = []
    try:
        def run(path=stream.path):
            rec = Recorder(tmp_path / f"r{len(recorders)}", compress=False)
            recorders.append(rec)
            rec.begin({"symbols": [SYMBOL]})
            r = Replayer(path)
            md = r.market_data(recorder=rec)
            st = loop.run_until_complete(r.run(md))
            return md, st, rec

        md, st, rec = run()
        assert st.ok and rec.log.records == len(stream.frames) + 1 and rec.log.dropped == 0
        bench(run, group=GROUP_REPLAY, impl="bitget_fast + Recorder", items=len(stream.frames),
              **stream.info)
    finally:
        for rec in recorders:
            rec.close()
        loop.close()


def test_replay_baseline(bench, stream):
    def run(path=stream.path, unpack=HEAD.unpack_from):
        data = path.read_bytes()
        mlen = struct.unpack_from("<I", data, 8)[0]
        pos = 12 + mlen
        book = baseline_book.BaselineBook(SYMBOL)
        n = len(data)
        while pos < n:
            size, kind, _, _, _ = unpack(data, pos)
            if kind == REC_TEXT:
                book.apply(data[pos + 16:pos + 16 + size])
            pos += 16 + size
        return book

    book = run()
    assert (book.bids(25), book.asks(25), book.checksum(), book.seq) == stream.want
    bench(run, group=GROUP_REPLAY, impl="struct+orjson+sortedcontainers",
          items=len(stream.frames), **stream.info)
