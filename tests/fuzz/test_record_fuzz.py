"""Fuzzing the recording format's C code (bitget_fast.wire.FrameLog and replay_records).

* FrameLog round trip: random records appended with random chunk sizes come back from the
  concatenated chunks exactly (kind, connection, payload), with non-decreasing receive times,
  whole records in every chunk.
* replay_records against a plain-Python reading of the format, on valid, random and mutated
  buffers: the same frames handed over (payload, text/binary, connection) and the same stop
  position, whatever the bytes; lengths that point past the buffer are never followed.
* Mutated gzip recordings through the whole Replayer: replayed, or refused with a
  RecordingError -- nothing else.

BITGET_FAST_FUZZ_EXAMPLES sets hypothesis' example count (default 200).
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitget_fast.errors import BitgetError
from bitget_fast.record import MAGIC, Record, Replayer, write_recording
from bitget_fast.wire import (
    REC_BINARY,
    REC_CONNECTED,
    REC_SENT,
    REC_TEXT,
    BitgetListener,
    BookRouter,
    FrameLog,
    count_records,
    replay_records,
)

EXAMPLES = int(os.environ.get("BITGET_FAST_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HEAD = struct.Struct("<IBBHq")


class Capture(BitgetListener):
    """A listener that keeps what it is handed (the real one's routing is fuzzed elsewhere)."""

    def __init__(self, conn: int, got: list) -> None:
        super().__init__(None, BookRouter())
        self.conn, self.got = conn, got

    def on_ws_frame(self, transport, frame):  # noqa: ARG002
        self.got.append((self.conn, int(frame.msg_type), frame.get_payload_as_bytes()))


def reference(buf: bytes, pos: int, present: set[int], until: int, max_frames: int):
    """What replay_records must do, in plain Python."""
    got = []
    while len(got) < max_frames and len(buf) - pos >= 16:
        size, kind, conn, _, ts = HEAD.unpack_from(buf, pos)
        if size > len(buf) - pos - 16 or kind not in (REC_TEXT, REC_BINARY):
            break
        if conn not in present or ts > until:
            break
        got.append((conn, 1 if kind == REC_TEXT else 2, buf[pos + 16:pos + 16 + size]))
        pos += 16 + size
    return pos, got


records = st.lists(st.tuples(st.sampled_from([REC_TEXT, REC_BINARY, REC_CONNECTED, REC_SENT]),
                             st.integers(0, 3), st.binary(max_size=300)), max_size=40)


@FUZZ
@given(records, st.integers(4096, 9000))
def test_framelog_round_trip(recs, chunk):
    chunks: list[bytes] = []
    log = FrameLog(chunks.append, chunk)
    for kind, conn, payload in recs:
        log.append(kind, conn, payload)
        assert log.buffered_bytes < chunk   # a full chunk goes at once
    log.flush()
    data = b"".join(chunks)
    out, pos, last = [], 0, 0
    for c in chunks:            # every chunk holds whole records only
        n, p = count_records(c), 0
        for _ in range(n):
            p += 16 + HEAD.unpack_from(c, p)[0]
        assert p == len(c)
    while pos < len(data):
        size, kind, conn, zero, ts = HEAD.unpack_from(data, pos)
        assert zero == 0 and ts >= last
        last = ts
        out.append((kind, conn, data[pos + 16:pos + 16 + size]))
        pos += 16 + size
    assert out == [tuple(r) for r in recs]
    assert log.records == len(recs) and log.dropped == 0
    assert log.payload_bytes == sum(len(r[2]) for r in recs)


def test_framelog_counts_what_a_failing_sink_lost():
    def sink(_chunk: bytes) -> None:
        raise OSError("disk full")
    log = FrameLog(sink, 4096)
    for _ in range(10):
        log.append(REC_TEXT, 0, b"x" * 1000)   # every fifth fills a chunk: the sink raises
    assert log.dropped == 10 and log.records == 10 and log.buffered_bytes == 0
    big = FrameLog(lambda c: None, 4096)
    big.append(REC_TEXT, 0, b"y" * 100_000)     # bigger than a chunk: grown, then handed over
    assert big.records == 1 and big.dropped == 0 and big.buffered_bytes == 0


def _encode(items) -> bytes:
    return b"".join(HEAD.pack(len(p), k, c, 0, ts) + p for k, c, ts, p in items)


def _mutate(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for op, at, val in ops:
        if not b:
            break
        i = at % len(b)
        if op == 0:
            b[i] = val
        elif op == 1:
            del b[i:i + 1 + val % 8]
        elif op == 2:
            b[i:i] = bytes([val]) * (1 + val % 5)
        else:
            b[i:i + 4] = struct.pack("<I", val * 0x01010101 & 0xFFFFFFFF)[: len(b[i:i + 4])]
    return bytes(b)


frames = st.lists(st.tuples(st.sampled_from([REC_TEXT, REC_BINARY, REC_SENT, REC_CONNECTED, 9]),
                            st.integers(0, 4), st.integers(0, 2000), st.binary(max_size=200)),
                  max_size=30)
ops = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255)),
               max_size=6)


@FUZZ
@given(frames, ops, st.integers(0, 3000), st.integers(1, 40), st.sets(st.integers(0, 4)),
       st.binary(max_size=64), st.integers(0, 20))
def test_replay_records_matches_the_format_on_any_bytes(items, mutations, until, max_frames,
                                                        present, junk, start):
    buf = _mutate(_encode(sorted(items, key=lambda x: x[2])), mutations) + junk
    start = min(start, len(buf))
    got: list = []
    listeners = [Capture(i, got) if i in present else None for i in range(5)]
    pos, fed, last = replay_records(buf, start, listeners, until, max_frames)
    want_pos, want = reference(buf, start, present, until, max_frames)
    assert (pos, got) == (want_pos, want)
    assert fed == len(want)
    if want:
        assert last == HEAD.unpack_from(buf, pos - 16 - len(want[-1][2]))[4]


def test_replay_records_refuses_a_position_outside_the_buffer():
    import pytest
    with pytest.raises(ValueError):
        replay_records(b"abc", 4, [])
    with pytest.raises(ValueError):
        replay_records(b"abc", -1, [])


def _recording(tmp_path) -> bytes:
    book = (b'{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"books",'
            b'"instId":"BTCUSDT"},"data":[{"asks":[["101","1"]],"bids":[["100","2"]],'
            b'"checksum":0,"seq":1,"ts":"1"}]}')
    recs = [Record(REC_CONNECTED, 0, 1, b"")] + [Record(REC_TEXT, 0, 2 + i, book)
                                                for i in range(20)]
    p = write_recording(tmp_path / "base.bfrec", recs, {"symbols": ["BTCUSDT"]}, compress=False)
    return p.read_bytes()


@settings(max_examples=max(50, EXAMPLES // 4), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops, st.booleans(), st.integers(0, 400))
def test_mutated_recordings_replay_or_are_refused(tmp_path, mutations, gz, cut):
    raw = _recording(tmp_path) if not (tmp_path / "raw").exists() else (tmp_path / "raw").read_bytes()
    (tmp_path / "raw").write_bytes(raw)
    body = _mutate(raw[len(MAGIC) + 4:], mutations)   # mutate after the header...
    data = raw[:len(MAGIC) + 4] + body if mutations else raw
    if gz:
        z = zlib.compressobj(1, zlib.DEFLATED, 31)
        data = z.compress(data) + z.flush()
        data = data[: max(10, len(data) - cut)] if cut else data
    path = tmp_path / ("m.bfrec.gz" if gz else "m.bfrec")
    path.write_bytes(data)

    async def go():
        try:
            r = Replayer(path)
            st_ = await r.run()
        except BitgetError as exc:        # RecordingError, or a header naming no symbols
            assert str(exc)
            return
        assert st_.frames <= 20
    asyncio.run(go())
