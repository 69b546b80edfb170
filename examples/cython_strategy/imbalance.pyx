# cython: language_level=3, boundscheck=False, wraparound=False
"""A strategy signal in Cython, reading the book through bitget_fast's .pxd.

``ImbalanceSignal`` is a ``BookHandler``: the listener calls its ``on_book`` from C after
every applied ``books`` message, with no Python call and no Python object per level. It
reads the top ``DEPTH`` levels of each side as int64 mantissas (``copy_levels``) and the
best level (``top``), and computes two figures in integer arithmetic:

* the depth imbalance over the top ``DEPTH`` levels, in basis points: +10000 when all the
  size is on the bid side, -10000 when all of it is on the ask side;
* the microprice, in price mantissas: the best bid and ask weighted by the opposite size.

A signal fires when the imbalance crosses ``threshold_bps`` in either direction (the side
the book leans to); a real strategy would quote or hedge there. Python reads the results as
attributes.
"""

from libc.stdint cimport int64_t

from bitget_fast.book cimport BookTop, OrderBook
from bitget_fast.wire cimport BookHandler

cdef enum:
    DEPTH = 10          # levels per side the imbalance covers


cdef class ImbalanceSignal(BookHandler):
    """Depth imbalance and microprice of a book, with signals when the imbalance crosses a threshold."""

    cdef public long updates          # book messages seen while the book was valid
    cdef public long signals          # threshold crossings
    cdef public int side              # +1 leaning bid, -1 leaning ask, 0 neutral
    cdef public long imbalance_bps    # the last imbalance
    cdef public long long microprice  # the last microprice, in price mantissas
    cdef public int price_scale       # decimals of those mantissas
    cdef public long threshold_bps
    cdef public list crossings        # (imbalance_bps, side) of each signal, oldest first

    def __init__(self, long threshold_bps=3000):
        if not 0 < threshold_bps < 10000:
            raise ValueError("threshold_bps must be in (0, 10000)")
        self.threshold_bps = threshold_bps
        self.crossings = []

    cpdef on_book(self, OrderBook book):
        cdef BookTop t
        cdef int64_t prices[DEPTH]
        cdef int64_t sizes[DEPTH]
        cdef Py_ssize_t i, n
        cdef int64_t bid_depth = 0, ask_depth = 0
        cdef int side
        if not book.top(&t) or not t.has_bid or not t.has_ask:
            return
        self.updates += 1
        n = book.copy_levels(True, prices, sizes, DEPTH)
        for i in range(n):
            bid_depth += sizes[i]
        n = book.copy_levels(False, prices, sizes, DEPTH)
        for i in range(n):
            ask_depth += sizes[i]
        if bid_depth + ask_depth == 0:
            return
        self.imbalance_bps = <long>((bid_depth - ask_depth) * 10000 // (bid_depth + ask_depth))
        # size-weighted mid: the bid weighted by the ask size and the other way round; the
        # products fit int64 while prices stay under 2**32 and sizes under 2**31 mantissas
        # (the mid otherwise)
        if (t.bid_size + t.ask_size > 0 and t.bid_size < 2147483648 and t.ask_size < 2147483648
                and t.ask_price < 4294967296):
            self.microprice = (t.bid_price * t.ask_size + t.ask_price * t.bid_size) // \
                (t.bid_size + t.ask_size)
        else:
            self.microprice = (t.bid_price + t.ask_price) // 2
        self.price_scale = t.price_scale
        side = 1 if self.imbalance_bps >= self.threshold_bps else (
            -1 if self.imbalance_bps <= -self.threshold_bps else 0)
        if side != 0 and side != self.side:
            self.signals += 1
            self.crossings.append((self.imbalance_bps, side))
        self.side = side
