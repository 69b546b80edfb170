"""Record raw WebSocket frames with their receive times; replay them through the live path.

A :class:`Recorder` attached to a :class:`~bitget_fast.market.MarketData` (``recorder=``)
copies every frame its connections receive, as picows hands it over, into one C buffer
(``wire.FrameLog``: a 16-byte header and a memcpy, no Python object per frame); a writer
thread compresses whole chunks and writes them, so the event loop never waits on the
disk. Files rotate by size and age and never overwrite.

A :class:`Replayer` reads them back and feeds each frame through the same
``wire.BitgetListener`` code live frames go through (parser, router, checked books,
trades, tickers, events), deterministically, at full speed or paced by the recorded
receive times.

File format (``.bfrec``, gzip-compressed as ``.bfrec.gz``; docs/record-replay.md):

* ``MAGIC`` (8 bytes, ``BFREC``, 0, the format version, ``\\n``), a little-endian u32 and
  that many bytes of JSON metadata (what was recorded, from where, which part);
* records: u32 payload length, u8 kind (``REC_*`` in :mod:`bitget_fast.wire`), u8
  connection, u16 zero, i64 receive time (ns since the epoch, CLOCK_REALTIME), payload.

Each gzip chunk is sync-flushed, so a recorder that dies (power, kill -9) leaves a file
readable up to its last chunk (at most ``flush_interval_s`` of data lost); the replayer
says the file was cut short.
"""

from __future__ import annotations

import asyncio
import datetime
import glob
import os
import pathlib
import queue
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from bitget_fast import __version__
from bitget_fast.errors import ConfigurationError, ProtocolError
from bitget_fast.wire import (
    REC_BINARY,
    REC_CONNECTED,
    REC_DISCONNECTED,
    REC_SENT,
    REC_TEXT,
    RECORD_HEADER_SIZE,
    FrameLog,
    replay_records,
)

if TYPE_CHECKING:
    from bitget_fast.market import MarketData

__all__ = ["Recorder", "Replayer", "Record", "ReplayStats", "write_recording", "MAGIC",
           "FORMAT_VERSION",
           "RecordingError", "RecordingTruncated"]

FORMAT_VERSION = 1
"""Version of the recording format this package writes and reads."""
MAGIC = b"BFREC\x00" + bytes([FORMAT_VERSION]) + b"\n"
"""The first bytes of every recording (``BFREC\\0``, the version, a newline)."""
_HEAD = struct.Struct("<IBBHq")
_META_LEN = struct.Struct("<I")
_MAX_META = 1 << 20
_READ_BYTES = 1 << 20
SUFFIX = ".bfrec"
KIND_NAMES = {REC_TEXT: "text", REC_BINARY: "binary", REC_CONNECTED: "connected",
              REC_DISCONNECTED: "disconnected", REC_SENT: "sent"}


class RecordingError(ProtocolError):
    """A recording cannot be read (not a recording, unknown version, corrupt or cut short)."""


class RecordingTruncated(RecordingError):
    """A gzip recording ends without its trailer (the recorder was killed); all before the cut is read."""


class Record(NamedTuple):
    """One record: ``kind`` (``REC_*``), connection, receive time (ns since the epoch), payload."""

    kind: int
    conn: int
    recv_ns: int
    payload: bytes


class Recorder:
    """Writes every frame a :class:`MarketData` receives to rotating ``.bfrec[.gz]`` files.

    ``prefix`` is a path prefix: files are ``{prefix}-{UTC start}.bfrec.gz``. A file is
    closed and the next begun after ``max_bytes`` (on disk) or ``rotate_s`` seconds.
    Use it as a context manager, or call :meth:`close`; :meth:`stats` says what was
    written and :attr:`error` what failed (a failed write is never silent: :meth:`close`
    raises it).
    """

    def __init__(self, prefix: str | os.PathLike[str], *, max_bytes: int = 256 << 20,
                 rotate_s: float = 3600.0, compress: bool = True, compress_level: int = 1,
                 chunk_bytes: int = 256 << 10, flush_interval_s: float = 1.0) -> None:
        if max_bytes < 4096:
            raise ConfigurationError("max_bytes must be >= 4096")
        if rotate_s <= 0 or flush_interval_s <= 0:
            raise ConfigurationError("rotate_s and flush_interval_s must be > 0")
        if not 0 <= compress_level <= 9:
            raise ConfigurationError("compress_level must be 0..9")
        self.prefix = pathlib.Path(prefix)
        if self.prefix.name in ("", ".", ".."):
            raise ConfigurationError(f"prefix must end in a file name prefix, not {prefix!r}")
        self.max_bytes = max_bytes
        self.rotate_s = rotate_s
        self.compress = compress
        self.compress_level = compress_level
        self.flush_interval_s = flush_interval_s
        #: The C buffer the listeners append to.
        self.log = FrameLog(self._submit, chunk_bytes)
        #: Paths of the files written so far (the last one may still be open).
        self.files: list[pathlib.Path] = []
        #: The first exception the writer hit (the recording is incomplete after it).
        self.error: BaseException | None = None
        self.meta: dict[str, Any] = {}
        self.bytes_written = 0
        self.dropped_chunks = 0
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        # writer-thread state
        self._file: Any = None
        self._zip: Any = None
        self._file_bytes = 0
        self._opened_at = 0.0
        self._part = 0

    # -- wiring -------------------------------------------------------------------------

    def begin(self, meta: dict[str, Any]) -> None:
        """Start the writer with ``meta`` (JSON-able) in every file's header."""
        if self._closed:
            raise RuntimeError("this Recorder is closed")
        if self._thread is not None:
            raise RuntimeError("a Recorder records one stream; make another for a second")
        self.meta = {"format": FORMAT_VERSION, "bitget_fast": __version__, **meta}
        orjson.dumps(self.meta)  # fail here, not in the thread
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._writer, name="bitget_fast-recorder",
                                        daemon=True)
        self._thread.start()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self.flush_interval_s, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self.flush()
        if not self._closed:
            self._timer = loop.call_later(self.flush_interval_s, self._tick, loop)

    def note_sent(self, conn: int, msg: bytes) -> None:
        """Record a message sent on connection ``conn`` (subscribe requests, pings)."""
        self.log.append(REC_SENT, conn & 0xFF, msg)

    def flush(self) -> None:
        """Hand what is buffered to the writer thread now."""
        self.log.flush()

    def _submit(self, chunk: bytes) -> None:
        if self._thread is None or self._closed:
            raise RuntimeError("the Recorder is not writing (begin() not called, or closed)")
        self._queue.put(chunk)

    def close(self) -> None:
        """Flush, finish the current file and stop the writer; raises what the writer hit."""
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._thread is not None:
            try:
                self.log.flush()
            except RuntimeError:
                pass
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        self._closed = True
        if self.error is not None:
            raise RecordingError(f"the recording to {self.prefix}* is incomplete: {self.error!r} "
                                 f"({self.dropped_chunks} chunks lost)") from self.error

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Records and payload bytes taken, bytes on disk, files, and what was lost."""
        return {"records": self.log.records, "payload_bytes": self.log.payload_bytes,
                "bytes_written": self.bytes_written, "files": len(self.files),
                "dropped_records": self.log.dropped, "dropped_chunks": self.dropped_chunks,
                "error": None if self.error is None else repr(self.error)}

    def __repr__(self) -> str:
        return (f"<Recorder {self.prefix}* {len(self.files)} files, {self.log.records} records, "
                f"{self.bytes_written} bytes written>")

    # -- writer thread ------------------------------------------------------------------

    def _writer(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                break
            if self.error is not None:
                self.dropped_chunks += 1
                continue
            try:
                self._write(chunk)
            except BaseException as exc:  # noqa: BLE001 - kept, raised by close()
                self.error = exc
                self.dropped_chunks += 1
        try:
            self._finish_file()
        except BaseException as exc:  # noqa: BLE001
            if self.error is None:
                self.error = exc

    def _write(self, chunk: bytes) -> None:
        now = time.monotonic()
        if self._file is not None and (self._file_bytes >= self.max_bytes or
                                       now - self._opened_at >= self.rotate_s):
            self._finish_file()
        if self._file is None:
            self._open_file(now)
        self._put(chunk)

    def _put(self, data: bytes) -> None:
        if self._zip is not None:
            data = self._zip.compress(data) + self._zip.flush(zlib.Z_SYNC_FLUSH)
        self._file.write(data)
        self._file.flush()
        self._file_bytes += len(data)
        self.bytes_written += len(data)

    def _open_file(self, now: float) -> None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        suffix = SUFFIX + (".gz" if self.compress else "")
        path = self.prefix.with_name(f"{self.prefix.name}-{stamp}{suffix}")
        n = 1
        while True:
            try:
                self._file = open(path, "xb")  # noqa: SIM115 - closed by _finish_file
                break
            except FileExistsError:
                n += 1
                path = self.prefix.with_name(f"{self.prefix.name}-{stamp}-{n}{suffix}")
        self._zip = (zlib.compressobj(self.compress_level, zlib.DEFLATED, 31)
                     if self.compress else None)
        self._file_bytes = 0
        self._opened_at = now
        self._part += 1
        meta = dict(self.meta, part=self._part,
                    continues=self.files[-1].name if self.files else None)
        body = orjson.dumps(meta)
        self.files.append(path)
        self._put(MAGIC + _META_LEN.pack(len(body)) + body)

    def _finish_file(self) -> None:
        if self._file is None:
            return
        try:
            if self._zip is not None:
                tail = self._zip.flush(zlib.Z_FINISH)
                self._file.write(tail)
                self.bytes_written += len(tail)
            self._file.close()
        finally:
            self._file = None
            self._zip = None


def write_recording(path: str | os.PathLike[str], records: Iterable[Record],
                    meta: dict[str, Any], *, compress: bool = True) -> pathlib.Path:
    """Write ``records`` as one recording file (e.g. to convert another capture); returns its path."""
    head = {"format": FORMAT_VERSION, "bitget_fast": __version__, "part": 1, "continues": None,
            **meta}
    body = orjson.dumps(head)
    out = bytearray(MAGIC + _META_LEN.pack(len(body)) + body)
    for r in records:
        if not (1 <= r.kind <= 255 and 0 <= r.conn <= 255):
            raise ValueError(f"record kind/conn out of range: {r.kind}/{r.conn}")
        out += _HEAD.pack(len(r.payload), r.kind, r.conn, 0, r.recv_ns)
        out += r.payload
    p = pathlib.Path(path)
    data = bytes(out)
    if compress:
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        data = z.compress(data) + z.flush()
    with open(p, "xb") as f:
        f.write(data)
    return p


class ReplayStats(NamedTuple):
    """What a replay fed and found (see :meth:`Replayer.run`)."""

    files: int
    records: int
    frames: int
    book_messages: int
    integrity_errors: int
    rejected_messages: int
    dropped_book_messages: int
    checksums_verified: int
    books_valid: int
    books: int
    connects: int
    disconnects: int
    recorded_span_s: float
    elapsed_s: float
    payload_bytes: int
    truncated: tuple[str, ...]

    @property
    def frames_per_s(self) -> float:
        """Frames fed per second of wall time."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """No integrity error, nothing rejected, every file whole."""
        return not (self.integrity_errors or self.rejected_messages or self.truncated)


def _expand(sources: Iterable[str | os.PathLike[str]]) -> list[pathlib.Path]:
    files: list[pathlib.Path] = []
    for src in sources:
        p = pathlib.Path(src)
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.name.endswith((SUFFIX, SUFFIX + ".gz")))
            if not found:
                raise ConfigurationError(f"{p} holds no {SUFFIX} or {SUFFIX}.gz files")
            files += found
        elif p.exists():
            files.append(p)
        else:
            matches = sorted(glob.glob(str(src)))
            if not matches:
                raise ConfigurationError(f"no recording at {src}")
            files += [pathlib.Path(m) for m in matches]
    return files


class Replayer:
    """Reads recordings (files, directories of them, or glob patterns, in that order).

    Files given together are one stream: rotation's parts replay as they were received.
    """

    def __init__(self, *sources: str | os.PathLike[str]) -> None:
        if not sources:
            raise ConfigurationError("give at least one recording")
        self.files = _expand(sources)
        #: The header metadata of the first file.
        self.meta: dict[str, Any] = self._read_meta(self.files[0])

    @staticmethod
    def _read_meta(path: pathlib.Path) -> dict[str, Any]:
        for meta, _ in Replayer._chunks(path):
            return meta
        raise RecordingError(f"{path}: empty")  # pragma: no cover - _chunks raises first

    @staticmethod
    def _chunks(path: pathlib.Path) -> Iterator[tuple[dict[str, Any], bytes]]:
        """(meta, bytes) pieces of the decompressed file; the first piece is empty.

        Raises RecordingError at the end for a gzip stream cut short.
        """
        with open(path, "rb") as f:
            first = f.read(2)
            f.seek(0)
            z = zlib.decompressobj(31) if first == b"\x1f\x8b" else None
            buf = b""
            meta: dict[str, Any] | None = None
            while True:
                raw = f.read(_READ_BYTES)
                if not raw:
                    break
                data = z.decompress(raw) if z is not None else raw
                if meta is None:
                    buf += data
                    need = len(MAGIC) + _META_LEN.size
                    if len(buf) < need:
                        continue
                    if buf[:5] != MAGIC[:5] or buf[5:6] != b"\x00" or buf[7:8] != b"\n":
                        raise RecordingError(f"{path}: not a bitget_fast recording")
                    if buf[6] != FORMAT_VERSION:
                        raise RecordingError(f"{path}: format version {buf[6]}; this "
                                             f"bitget_fast reads version {FORMAT_VERSION}")
                    (mlen,) = _META_LEN.unpack_from(buf, len(MAGIC))
                    if mlen > _MAX_META:
                        raise RecordingError(f"{path}: a {mlen}-byte header; corrupt")
                    if len(buf) < need + mlen:
                        continue
                    try:
                        meta = orjson.loads(buf[need:need + mlen])
                    except orjson.JSONDecodeError as exc:
                        raise RecordingError(f"{path}: header is not JSON ({exc})") from None
                    if not isinstance(meta, dict):
                        raise RecordingError(f"{path}: header is not a JSON object")
                    yield meta, b""
                    data = buf[need + mlen:]
                if data:
                    yield meta, data
                if z is not None and z.eof:
                    if z.unused_data.strip(b"\x00"):
                        raise RecordingError(f"{path}: bytes after the end of the gzip stream")
                    return
            if meta is None:
                raise RecordingError(f"{path}: not a bitget_fast recording (too short)")
            if z is not None and not z.eof:
                raise RecordingTruncated(f"{path}: cut short (the recorder did not close it); "
                                     "everything before the cut was replayed")

    def records(self) -> Iterator[Record]:
        """Every record of every file, in order (for inspection; :meth:`run` is faster)."""
        for path in self.files:
            rest = b""
            for _, data in self._chunks(path):
                buf = rest + data
                pos = 0
                while len(buf) - pos >= RECORD_HEADER_SIZE:
                    size, kind, conn, _, ts = _HEAD.unpack_from(buf, pos)
                    end = pos + RECORD_HEADER_SIZE + size
                    if end > len(buf):
                        break
                    yield Record(kind, conn, ts, buf[pos + RECORD_HEADER_SIZE:end])
                    pos = end
                rest = buf[pos:]
            if rest:
                raise RecordingError(f"{path}: ends inside a record ({len(rest)} bytes)")

    def market_data(self, **kwargs: Any) -> MarketData:
        """A :class:`MarketData` set up as the recorded one was (``kwargs`` override)."""
        from bitget_fast.market import MarketData

        m = self.meta
        want = {"book_channel": (str, "books"), "trades": (bool, False),
                "tickers": (bool, False), "strict_seq": (bool, False),
                "channels_per_connection": (int, 50)}
        opts: dict[str, Any] = {}
        for key, (kind, default) in want.items():
            value = m.get(key, default)
            if type(value) is not kind:
                raise RecordingError(f"{self.files[0]}: header field {key!r} is "
                                     f"{value!r}, not a {kind.__name__}")
            opts[key] = value
        opts.update(kwargs)
        symbols = m.get("symbols")
        if not symbols or not isinstance(symbols, list) or \
                not all(isinstance(s, str) and s for s in symbols):
            raise RecordingError(f"{self.files[0]}: the header names no symbols")
        return MarketData(symbols, **opts)

    async def run(self, md: MarketData | None = None, *, speed: float | None = None,
                  on_book: Any = None, progress: Callable[[int, int], Any] | None = None,
                  yield_every: int = 256) -> ReplayStats:
        """Feed every frame through ``md``'s listeners (a fresh :meth:`market_data` if None).

        ``speed=None`` (or 0) replays as fast as the CPU allows; ``speed=1.0`` at the
        recorded pace, ``10.0`` ten times faster. ``md`` must not be started: the
        replay stands in for its connections (nothing is sent). It stays open afterwards,
        books and counters as the recording left them; close it when done.
        ``progress(files_done, frames)`` is called about every 100k frames and per file.
        A file cut short replays up to the cut and is named in ``truncated``.
        """
        if speed is not None and speed < 0:
            raise ConfigurationError("speed must be None, 0 (full speed) or > 0")
        if md is None:
            md = self.market_data(on_book=on_book)
        elif on_book is not None:
            raise ConfigurationError("pass on_book to the MarketData you give")
        if md._closed is not None:
            raise RuntimeError("replay into a MarketData that was not started")
        md._closed = asyncio.Event()
        loop = asyncio.get_running_loop()
        conns = md._conns
        listeners: list[Any] = [None] * 256
        records = frames = payload = connects = disconnects = 0
        first_ns: int | None = None
        last_ns = 0
        truncated: list[str] = []
        t0 = time.perf_counter()
        pace_t0 = loop.time()
        next_progress = 100_000

        def listener_for(conn: int) -> Any:
            c = conns[conn % len(conns)]
            if c.listener is not None:  # the recorded one never went down: fold it
                c._ws_disconnected()
            lst = c._make_listener()
            lst.on_ws_connected(None)
            listeners[conn] = lst
            return lst

        for done, path in enumerate(self.files):
            rest = b""
            try:
                for _, data in self._chunks(path):
                    buf = rest + data if rest else data
                    pos, n = 0, len(buf)
                    while n - pos >= RECORD_HEADER_SIZE:
                        size, kind, conn, _, ts = _HEAD.unpack_from(buf, pos)
                        if first_ns is None:
                            first_ns = ts
                        until = 2**63 - 1
                        if speed:
                            until = first_ns + int((loop.time() - pace_t0) * speed * 1e9)
                        if pos + RECORD_HEADER_SIZE + size > n:
                            break  # incomplete: the rest comes with the next piece
                        if kind == REC_TEXT or kind == REC_BINARY:
                            if listeners[conn] is None:
                                listener_for(conn)
                            if speed and ts > until:
                                await asyncio.sleep((ts - first_ns) / (speed * 1e9)
                                                    - (loop.time() - pace_t0))
                                continue
                            start = pos
                            pos, fed, last_ns = replay_records(buf, pos, listeners, until,
                                                               yield_every)
                            new_bytes = pos - start
                            frames += fed
                            records += fed
                            payload += new_bytes - fed * RECORD_HEADER_SIZE
                            md._raise_failure()
                            if frames >= next_progress and progress is not None:
                                progress(done, frames)
                                next_progress = frames + 100_000
                            await asyncio.sleep(0)
                            continue
                        end = pos + RECORD_HEADER_SIZE + size
                        records += 1
                        last_ns = ts
                        payload += size
                        if kind == REC_CONNECTED:
                            connects += 1
                            listener_for(conn)
                        elif kind == REC_DISCONNECTED:
                            disconnects += 1
                            lst = listeners[conn]
                            if lst is not None:
                                lst.on_ws_disconnected(None)
                                listeners[conn] = None
                        elif kind != REC_SENT:
                            raise RecordingError(f"{path}: record {records} has unknown kind "
                                                 f"{kind} (corrupt, or from a newer writer)")
                        pos = end
                    rest = buf[pos:]
            except RecordingTruncated:
                truncated.append(path.name)
            else:
                if rest:
                    truncated.append(path.name)
            if progress is not None:
                progress(done + 1, frames)
        elapsed = time.perf_counter() - t0
        md._raise_failure()
        st = md.stats()
        books = list(md.books.values())
        return ReplayStats(
            files=len(self.files), records=records, frames=frames,
            book_messages=st["book_messages"], integrity_errors=st["integrity_errors"],
            rejected_messages=st["rejected_messages"],
            dropped_book_messages=st["dropped_book_messages"],
            checksums_verified=sum(b.checksums_verified for b in books),
            books_valid=sum(b.is_valid for b in books), books=len(books),
            connects=connects, disconnects=disconnects,
            recorded_span_s=(last_ns - first_ns) / 1e9 if first_ns is not None else 0.0,
            elapsed_s=elapsed, payload_bytes=payload, truncated=tuple(truncated))
