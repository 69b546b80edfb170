# Public Cython API of bitget_fast.wire (versioned like the Python API).
from libc.stdint cimport int64_t, uint64_t
from picows.picows cimport WSFrame, WSListener, WSTransport

from bitget_fast.book cimport OrderBook


cdef class BookHandler:
    """Subclass in Cython (or Python) to receive every applied book message."""
    # Called after each applied books* message; the book is valid when called.
    cpdef on_book(self, OrderBook book)


cdef class BookRouter:
    """instId -> OrderBook, looked up from the raw bytes without a Python object."""
    cdef list _books
    cdef list _keys
    cdef Py_ssize_t *_table
    cdef size_t _mask

    # The book of symbol bytes inst[0:n], or None.
    cdef OrderBook lookup(self, const char *inst, size_t n)
    cpdef add(self, OrderBook book)
    cdef int _rebuild(self) except -1


cpdef enum:
    # The record layout of bitget_fast.record files: a 16-byte little-endian header
    # (u32 payload length, u8 kind, u8 connection, u16 zero, i64 receive time in ns
    # since the epoch), then the payload.
    REC_HEADER = 16
    REC_TEXT = 1            # a text frame received
    REC_BINARY = 2          # a binary frame received
    REC_CONNECTED = 3       # the connection came up (payload: the URL)
    REC_DISCONNECTED = 4    # the connection went down
    REC_SENT = 5            # a text message sent (subscribe, ping...)


cdef class FrameLog:
    """Append-only record buffer; whole records go to ``sink`` in chunks."""
    cdef char *_buf
    cdef Py_ssize_t _len
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _chunk
    cdef object _sink
    cdef readonly uint64_t records
    cdef readonly uint64_t payload_bytes
    cdef readonly uint64_t dropped

    # Append one record stamped now (CLOCK_REALTIME); never raises: a record that cannot
    # be stored is counted in ``dropped``.
    cdef void add(self, int kind, int conn, const char *data, Py_ssize_t n) noexcept
    cdef int _grow(self, Py_ssize_t need) noexcept
    cpdef flush(self)


cpdef Py_ssize_t count_records(bytes chunk) except -1


cdef class BitgetListener(WSListener):
    """picows listener of one Bitget public connection: frame -> book / event / push."""
    cdef readonly object session
    cdef readonly BookRouter router
    cdef readonly WSTransport transport
    cdef object _on_book
    cdef BookHandler _handler
    cdef readonly uint64_t frames
    cdef readonly uint64_t book_messages
    cdef readonly uint64_t dropped_book_messages
    cdef readonly uint64_t pongs
    cdef readonly uint64_t rejected
    # When set, every frame received (and the connect/disconnect) is appended to it.
    cdef public FrameLog recorder
    cdef public int conn_id

    cdef int _book_message(self, int channel, const char *inst, size_t inst_len,
                           const char *data, Py_ssize_t size) except -1
