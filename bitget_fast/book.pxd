# Public Cython API of bitget_fast.book (versioned like the Python API).
# Cimporters need no C header: the level storage is behind an opaque pointer and
# read through the methods below.
from libc.stdint cimport int64_t, uint64_t


# Top of book as mantissas: price = bid_price / 10**price_scale, and so on.
# A side that is empty has has_bid / has_ask = 0 and zeros in its fields.
cdef struct BookTop:
    int64_t bid_price
    int64_t bid_size
    int64_t ask_price
    int64_t ask_size
    int price_scale
    int size_scale
    bint has_bid
    bint has_ask


cdef class OrderBook:
    """Bitget books/books1/5/15 order book of one symbol: int64 levels, checksum, seq."""
    cdef void *_b                  # bf_book *; private
    cdef bytes _symbol_b
    cdef readonly str symbol
    cdef readonly bint strict_seq
    # False until the first snapshot, after a checksum mismatch, a sequence gap,
    # a crossed book or invalidate(); updates are dropped until the next snapshot.
    cdef readonly bint is_valid
    cdef bint _has_seq
    cdef int64_t _seq
    cdef bint _has_ts
    cdef int64_t _ts_ms
    cdef readonly uint64_t seq_jumps
    cdef readonly uint64_t checksums_verified
    cdef readonly uint64_t checksums_skipped
    cdef readonly uint64_t dropped_updates
    cdef readonly uint64_t updates_applied

    # Apply one raw books* message of size bytes at data (read only during the
    # call). Returns 1 when applied, 0 when dropped because the book is invalid;
    # raises ProtocolError (book unchanged), SequenceGap, ChecksumMismatch or
    # CrossedBook (applied, book now invalid).
    cdef int apply_ptr(self, const char *data, Py_ssize_t size) except -1

    # Fill *out with the best levels; returns is_valid. Never fails.
    cdef bint top(self, BookTop *out) noexcept

    # Copy up to n levels of one side (best first) as mantissas into prices and
    # sizes (each holding n int64); returns how many were written. Never fails.
    cdef Py_ssize_t copy_levels(self, bint bids, int64_t *prices, int64_t *sizes,
                                Py_ssize_t n) noexcept

    cpdef bint apply(self, object raw) except -1
    cpdef int checksum(self)
    cpdef void invalidate(self)
