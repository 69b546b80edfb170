"""Bitget WebSocket frames -> order books, events and pushes, on picows.

``BitgetListener`` is a picows ``WSListener`` in Cython: it reads the frame's payload
pointer, routes the message from its first keys in C (src/bf_book.c), and for the
``books*`` channels hands the same pointer to :class:`OrderBook` — no Python object per
message or level on that path. Everything else (events, trades, tickers) goes to the
Python session (bitget_fast.market) as bytes.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport INT64_MAX, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec
from picows.picows cimport WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from bitget_fast._c cimport (
    BF_CH_BOOKS, BF_CH_BOOKS1, BF_CH_BOOKS5, BF_CH_BOOKS15, BF_OK, BF_ROUTE_EVENT,
    BF_ROUTE_PUSH, bf_err, bf_route, bf_route_message,
)
from bitget_fast.book cimport OrderBook

from bitget_fast.errors import BookIntegrityError, ProtocolError

__all__ = ["BitgetListener", "BookHandler", "BookRouter", "FrameLog", "count_records", "replay_records",
           "RECORD_HEADER_SIZE", "REC_TEXT", "REC_BINARY", "REC_CONNECTED", "REC_DISCONNECTED",
           "REC_SENT"]

RECORD_HEADER_SIZE = REC_HEADER


cdef inline int64_t _wall_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline void _put_u32(char *p, uint32_t v) noexcept nogil:
    p[0] = <char>(v & 0xff)
    p[1] = <char>((v >> 8) & 0xff)
    p[2] = <char>((v >> 16) & 0xff)
    p[3] = <char>((v >> 24) & 0xff)


cdef inline uint32_t _get_u32(const uint8_t *p) noexcept nogil:
    return <uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline void _put_i64(char *p, int64_t v) noexcept nogil:
    cdef uint64_t u = <uint64_t>v
    cdef int i
    for i in range(8):
        p[i] = <char>((u >> (8 * i)) & 0xff)


cdef inline int64_t _get_i64(const uint8_t *p) noexcept nogil:
    cdef uint64_t u = 0
    cdef int i
    for i in range(8):
        u |= (<uint64_t>p[i]) << (8 * i)
    return <int64_t>u


cdef class FrameLog:
    """An append-only buffer of records (see bitget_fast.record for the file format).

    ``add`` stamps a record with the wall clock and copies its payload into one C buffer;
    when ``chunk_bytes`` have gathered, the whole records go to ``sink(bytes)`` (the
    :class:`~bitget_fast.record.Recorder` hands them to its writer thread). A record that
    cannot be stored (out of memory, a sink that raised) is counted in ``dropped``.
    """

    def __cinit__(self, sink, Py_ssize_t chunk_bytes=1 << 18):
        if not callable(sink):
            raise TypeError("sink must be callable")
        if chunk_bytes < 4096:
            raise ValueError("chunk_bytes must be >= 4096")
        self._sink = sink
        self._chunk = chunk_bytes
        self._cap = chunk_bytes + (chunk_bytes >> 2)
        self._len = 0
        self._buf = <char *>PyMem_Malloc(<size_t>self._cap)
        if self._buf == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self._buf)

    @property
    def buffered_bytes(self):
        """Bytes of whole records not yet handed to the sink."""
        return self._len

    cdef int _grow(self, Py_ssize_t need) noexcept:
        cdef Py_ssize_t cap = self._cap
        while cap < need:
            cap *= 2
        cdef char *buf = <char *>PyMem_Realloc(self._buf, <size_t>cap)
        if buf == NULL:
            return -1
        self._buf = buf
        self._cap = cap
        return 0

    cdef void add(self, int kind, int conn, const char *data, Py_ssize_t n) noexcept:
        cdef Py_ssize_t need = REC_HEADER + n
        cdef char *p
        if n < 0 or n > 0xFFFFFFFF:
            self.dropped += 1
            return
        if self._len + need > self._cap and self._grow(self._len + need) < 0:
            self.dropped += 1
            return
        p = self._buf + self._len
        _put_u32(p, <uint32_t>n)
        p[4] = <char>kind
        p[5] = <char>conn
        p[6] = 0
        p[7] = 0
        _put_i64(p + 8, _wall_ns())
        if n:
            memcpy(p + REC_HEADER, data, <size_t>n)
        self._len += need
        self.records += 1
        self.payload_bytes += <uint64_t>n
        if self._len >= self._chunk:
            try:
                self.flush()
            except BaseException:
                pass  # flush counted what it lost

    def append(self, int kind, int conn, payload=b""):
        """Append a record of ``payload`` (bytes-like) stamped now."""
        cdef const uint8_t[:] view
        if not 1 <= kind <= 255 or not 0 <= conn <= 255:
            raise ValueError("kind must be 1..255 and conn 0..255")
        if type(payload) is bytes:   # the common case, without a buffer acquisition
            self.add(kind, conn, PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
            return
        view = payload
        if view.shape[0] == 0:
            self.add(kind, conn, NULL, 0)
        else:
            self.add(kind, conn, <const char *>&view[0], view.shape[0])

    cpdef flush(self):
        """Hand the buffered whole records to the sink now (one ``bytes``)."""
        cdef bytes chunk
        cdef Py_ssize_t n = self._len
        if n == 0:
            return
        chunk = PyBytes_FromStringAndSize(self._buf, n)
        self._len = 0
        if self._cap > 4 * self._chunk:  # one huge record grew it: give the memory back
            buf = <char *>PyMem_Realloc(self._buf, <size_t>(self._chunk + (self._chunk >> 2)))
            if buf != NULL:
                self._buf = buf
                self._cap = self._chunk + (self._chunk >> 2)
        try:
            self._sink(chunk)
        except BaseException:
            self.dropped += <uint64_t>count_records(chunk)
            raise


cpdef Py_ssize_t count_records(bytes chunk) except -1:
    """Whole records at the start of ``chunk``."""
    cdef const uint8_t *p = <const uint8_t *>PyBytes_AS_STRING(chunk)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(chunk), pos = 0, count = 0
    cdef uint32_t size
    while n - pos >= REC_HEADER:
        size = _get_u32(p + pos)
        if <Py_ssize_t>size > n - pos - REC_HEADER:
            break
        pos += REC_HEADER + <Py_ssize_t>size
        count += 1
    return count


def replay_records(bytes buf, Py_ssize_t pos, list listeners, int64_t until_ns=INT64_MAX,
                   Py_ssize_t max_frames=1 << 62):
    """Feed the frame records of ``buf[pos:]`` to ``listeners[conn].on_ws_frame``.

    The same :class:`BitgetListener` path as live frames, each payload read in place
    through a picows ``WSFrame``. Stops before a record that is not a received frame, one
    whose connection has no listener, one received after ``until_ns``, an incomplete
    record, or after ``max_frames``; returns ``(pos, frames fed, receive time of the last
    fed)``. Every length is checked
    against the buffer.
    """
    cdef const uint8_t *base = <const uint8_t *>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf), fed = 0
    cdef int64_t ts, last_ts = 0
    cdef Py_ssize_t nlisteners = PyList_GET_SIZE(listeners)
    cdef const uint8_t *p
    cdef uint32_t size
    cdef int kind, conn
    cdef object item
    cdef BitgetListener listener
    cdef WSFrame frame = <WSFrame>WSFrame.__new__(WSFrame)
    if pos < 0 or pos > n:
        raise ValueError("pos outside the buffer")
    frame.tail_size = 0
    frame.fin = 1
    frame.rsv1 = frame.rsv2 = frame.rsv3 = 0
    frame.last_in_buffer = 0
    while fed < max_frames and n - pos >= REC_HEADER:
        p = base + pos
        size = _get_u32(p)
        if <Py_ssize_t>size > n - pos - REC_HEADER:
            break
        kind = p[4]
        conn = p[5]
        if kind != REC_TEXT and kind != REC_BINARY:
            break
        ts = _get_i64(p + 8)
        if conn >= nlisteners or ts > until_ns:
            break
        item = <object>PyList_GET_ITEM(listeners, conn)
        if not isinstance(item, BitgetListener):
            break
        listener = <BitgetListener>item
        frame.payload_ptr = <char *>(p + REC_HEADER)
        frame.payload_size = <Py_ssize_t>size
        frame.msg_type = WSMsgType.TEXT if kind == REC_TEXT else WSMsgType.BINARY
        pos += REC_HEADER + <Py_ssize_t>size
        fed += 1
        last_ts = ts
        listener.on_ws_frame(listener.transport, frame)
    return pos, fed, last_ts


cdef class BookHandler:
    """Receives every applied book message; override ``on_book`` (a Cython subclass runs at C speed)."""

    cpdef on_book(self, OrderBook book):
        """Called after each applied ``books*`` message; ``book`` is valid during the call."""
        pass


cdef inline size_t _fnv1a(const char *p, size_t n) noexcept:
    cdef size_t h = <size_t>14695981039346656037ULL
    cdef size_t i
    for i in range(n):
        h = (h ^ <uint8_t>p[i]) * <size_t>1099511628211ULL
    return h


cdef class BookRouter:
    """Maps ``instId`` to its :class:`OrderBook` (one router per stream, shared by its connections)."""

    def __cinit__(self):
        self._books = []
        self._keys = []
        self._table = NULL
        self._mask = 0

    def __dealloc__(self):
        PyMem_Free(self._table)

    def __len__(self):
        return len(self._books)

    cpdef add(self, OrderBook book):
        """Route ``book.symbol`` to ``book`` (replacing any earlier book of that symbol)."""
        cdef bytes key = book.symbol.encode("utf-8")
        cdef Py_ssize_t i
        for i in range(len(self._keys)):
            if self._keys[i] == key:
                self._books[i] = book
                return
        self._keys.append(key)
        self._books.append(book)
        self._rebuild()

    cdef int _rebuild(self) except -1:
        cdef size_t cap = 8, i, h
        cdef Py_ssize_t slot
        cdef bytes key
        while cap < 2 * <size_t>len(self._keys):
            cap *= 2
        cdef Py_ssize_t *table = <Py_ssize_t *>PyMem_Malloc(cap * sizeof(Py_ssize_t))
        if table == NULL:
            raise MemoryError()
        for i in range(cap):
            table[i] = -1
        for slot in range(len(self._keys)):
            key = self._keys[slot]
            h = _fnv1a(key, len(key)) & (cap - 1)
            while table[h] != -1:
                h = (h + 1) & (cap - 1)
            table[h] = slot
        PyMem_Free(self._table)
        self._table = table
        self._mask = cap - 1
        return 0

    cdef OrderBook lookup(self, const char *inst, size_t n):
        cdef size_t h
        cdef Py_ssize_t slot
        cdef bytes key
        if self._table == NULL:
            return None
        h = _fnv1a(inst, n) & self._mask
        while True:
            slot = self._table[h]
            if slot < 0:
                return None
            key = <bytes>self._keys[slot]
            if <size_t>len(key) == n and memcmp(<const char *>key, inst, n) == 0:
                return <OrderBook>self._books[slot]
            h = (h + 1) & self._mask

    def get(self, str symbol):
        """The book routed for ``symbol``, or None."""
        cdef bytes key = symbol.encode("utf-8")
        return self.lookup(key, len(key))


cdef class BitgetListener(WSListener):
    """One Bitget public WebSocket connection's frame handler.

    ``session`` receives what is not a book update: ``_ws_connected(transport)``,
    ``_ws_disconnected()``, ``_ws_event(bytes)``, ``_ws_push(channel, bytes)``,
    ``_ws_book_error(book, exc)``, ``_ws_rejected(bytes, exc, maybe_book)``, ``_ws_callback_error(exc)``
    and ``_send_ping()``. ``on_book`` is a :class:`BookHandler`, a callable taking the
    book, or None.
    """

    def __init__(self, session, BookRouter router, on_book=None, FrameLog recorder=None,
                 int conn_id=0):
        self.session = session
        self.router = router
        self.recorder = recorder
        self.conn_id = conn_id
        if isinstance(on_book, BookHandler):
            self._handler = on_book
            self._on_book = None
        else:
            self._handler = None
            self._on_book = on_book

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        if self.recorder is not None:
            self.recorder.add(REC_CONNECTED, self.conn_id, NULL, 0)
        self.session._ws_connected(transport)

    cpdef on_ws_disconnected(self, WSTransport transport):
        if self.recorder is not None:
            self.recorder.add(REC_DISCONNECTED, self.conn_id, NULL, 0)
        self.session._ws_disconnected()

    cpdef send_user_specific_ping(self, WSTransport transport):
        # Bitget's heartbeat is the text "ping" (not a protocol PING frame); it counts
        # toward the 10 messages/s, so the session's throttle sends it.
        self.session._send_ping()

    cpdef is_user_specific_pong(self, WSFrame frame):
        if frame.msg_type == WSMsgType.TEXT and frame.payload_size == 4 and \
                memcmp(frame.payload_ptr, b"pong", 4) == 0:
            self.pongs += 1
            return True
        return False

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef const char *data = frame.payload_ptr
        cdef Py_ssize_t size = frame.payload_size
        cdef Py_ssize_t off, lo, hi
        cdef bf_route route
        cdef bf_err err
        self.frames += 1
        if self.recorder is not None and (frame.msg_type == WSMsgType.TEXT or
                                          frame.msg_type == WSMsgType.BINARY):
            self.recorder.add(REC_TEXT if frame.msg_type == WSMsgType.TEXT else REC_BINARY,
                              self.conn_id, data, size)
        if frame.msg_type != WSMsgType.TEXT:
            if frame.msg_type == WSMsgType.CLOSE:
                code = frame.get_close_code()
                transport.send_close(code if code != WSCloseCode.NO_INFO else WSCloseCode.OK)
                transport.disconnect()
            elif frame.msg_type == WSMsgType.BINARY:
                self.rejected += 1
                self.session._ws_rejected(frame.get_payload_as_bytes(), ProtocolError(
                    "a binary WebSocket frame (Bitget sends text); dropped"), True)
            return
        if size == 4 and memcmp(data, b"pong", 4) == 0:
            self.pongs += 1  # a late or unsolicited heartbeat reply
            return
        if bf_route_message(<const uint8_t *>data, <size_t>size, &route, &err) != BF_OK:
            self.rejected += 1
            msg = err.msg.decode("utf-8", "replace")
            # the excerpt stays inside the payload: 32 bytes each side of the error, clamped
            # (an error near the end once read up to 32 bytes past it)
            off = <Py_ssize_t>err.offset if err.offset < <size_t>size else size
            lo = off - 32 if off > 32 else 0
            hi = off + 32 if off + 32 < size else size
            self.session._ws_rejected(frame.get_payload_as_bytes(), ProtocolError(
                f"{'not JSON: ' if err.not_json else ''}{msg} (byte {err.offset}); "
                "message dropped", offset=err.offset, excerpt=data[lo:hi]), True)
            return
        if route.kind == BF_ROUTE_PUSH and (route.channel == BF_CH_BOOKS or
                                            route.channel == BF_CH_BOOKS1 or
                                            route.channel == BF_CH_BOOKS5 or
                                            route.channel == BF_CH_BOOKS15):
            self._book_message(route.channel, <const char *>route.inst, route.inst_len,
                               data, size)
            return
        if route.kind == BF_ROUTE_EVENT:
            self.session._ws_event(frame.get_payload_as_bytes())
            return
        self.session._ws_push(route.channel, frame.get_payload_as_bytes())

    cdef int _book_message(self, int channel, const char *inst, size_t inst_len,
                           const char *data, Py_ssize_t size) except -1:
        cdef OrderBook book = None
        if inst != NULL:
            book = self.router.lookup(inst, inst_len)
        if book is None:
            self.rejected += 1
            self.session._ws_rejected(data[:size], ProtocolError(
                "a books message for a symbol this stream did not subscribe; dropped"), False)
            return 0
        try:
            if not book.apply_ptr(data, size):
                self.dropped_book_messages += 1
                return 0
        except ProtocolError as exc:  # BookIntegrityError included
            self.session._ws_book_error(book, exc)
            return 0
        self.book_messages += 1
        try:
            if self._handler is not None:
                self._handler.on_book(book)
            elif self._on_book is not None:
                self._on_book(book)
        except BaseException as exc:
            self.session._ws_callback_error(exc)
        return 1
