# A Cython user of bitget_fast's public .pxd: signs into its own buffer, no Python objects.
from bitget_fast.signing cimport Signer, SIGNATURE_LEN


def sign_raw(Signer signer, bytes prehash):
    cdef char out[SIGNATURE_LEN]
    signer.sign_into(prehash, len(prehash), out)
    return out[:SIGNATURE_LEN]


def sign_parts(Signer signer, long long ts, bytes method, bytes path, bytes query, bytes body):
    cdef char out[SIGNATURE_LEN]
    signer.sign_parts_into(ts, method, len(method), path, len(path), query, len(query),
                           body, len(body), out)
    return out[:SIGNATURE_LEN]


def signature_len():
    return SIGNATURE_LEN


def sign_negative_size(Signer signer):
    # A bad length from C code must not read out of bounds: it signs b"".
    cdef char out[SIGNATURE_LEN]
    signer.sign_into(b"", -1, out)
    return out[:SIGNATURE_LEN]


# --- bitget_fast.book / bitget_fast.wire: top of book with no Python object -----------------
from libc.stdint cimport int64_t
from bitget_fast.book cimport BookTop, OrderBook
from bitget_fast.wire cimport BookHandler


def top_of(OrderBook book):
    cdef BookTop t
    cdef bint valid = book.top(&t)
    return (valid, t.has_bid, t.bid_price, t.bid_size, t.has_ask, t.ask_price, t.ask_size,
            t.price_scale, t.size_scale)


def apply_bytes(OrderBook book, bytes raw):
    return book.apply_ptr(raw, len(raw))


def levels(OrderBook book, bint bids, Py_ssize_t n):
    cdef int64_t prices[8]
    cdef int64_t sizes[8]
    cdef Py_ssize_t got = book.copy_levels(bids, prices, sizes, n if n < 8 else 8)
    return [(prices[i], sizes[i]) for i in range(got)]


cdef class SpreadWatcher(BookHandler):
    """A strategy in Cython: called at C speed for every applied book message."""
    cdef public list spreads

    def __init__(self):
        self.spreads = []

    cpdef on_book(self, OrderBook book):
        cdef BookTop t
        book.top(&t)
        self.spreads.append(t.ask_price - t.bid_price)
