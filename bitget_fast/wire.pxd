# Public Cython API of bitget_fast.wire (versioned like the Python API).
from libc.stdint cimport uint64_t
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

    cdef int _book_message(self, int channel, const char *inst, size_t inst_len,
                           const char *data, Py_ssize_t size) except -1
