# cython: freethreading_compatible = False
"""Bitget order book: int64 levels with the exact strings, checksum and seq checks.

The parser, the level arrays and the CRC32 are C (src/bf_book.c, src/bf_crc32.c);
this module is the typed face and the integrity state machine (DECISIONS.md
sections 2 and 3). The plain-Python twin is bitget_fast.sim.reference.Book: both
run the same tests and must agree on every message.
"""

import os

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from bitget_fast._c cimport (
    BF_CH_BOOKS, BF_CH_BOOKS1, BF_CH_BOOKS5, BF_CH_BOOKS15, BF_CHECKSUM_LEVELS,
    BF_CHECKSUM_TEXT, BF_CRC32_PCLMUL, BF_CRC32_PORTABLE, BF_ENOMEM, BF_EPROTO, BF_LEVEL_STR,
    BF_MAX_SCALE, BF_OK, bf_book, bf_book_apply, bf_book_checksum, bf_book_checksum_text,
    bf_book_crossed, bf_book_free, bf_book_init, bf_book_memory, bf_book_parse, bf_crc32,
    bf_crc32_current, bf_crc32_pclmul_available, bf_crc32_select, bf_err, bf_level, bf_msg,
    bf_pow10, bf_side,
)
from bitget_fast.errors import ChecksumMismatch, CrossedBook, ProtocolError, SequenceGap

__all__ = ["OrderBook", "crc32_backend", "CHECKSUM_LEVELS"]

CHECKSUM_LEVELS = BF_CHECKSUM_LEVELS
_EXCERPT_HALF = 32
_ENV_CRC32 = "BITGET_FAST_CRC32"


def crc32_backend():
    """The CRC32 kernel in use: ``'pclmul'`` or ``'portable'``."""
    return "pclmul" if bf_crc32_current() == BF_CRC32_PCLMUL else "portable"


def _pclmul_available():
    return bool(bf_crc32_pclmul_available())


def _use_crc32_backend(str name):
    """Force a CRC32 kernel (tests, benchmarks): 'auto', 'pclmul' or 'portable'."""
    if name in ("auto", "pclmul"):
        bf_crc32_select(BF_CRC32_PCLMUL)
    elif name == "portable":
        bf_crc32_select(BF_CRC32_PORTABLE)
    else:
        raise ValueError(f"unknown CRC32 backend {name!r}: expected 'auto', 'pclmul' or "
                         "'portable'")
    return crc32_backend()


def _crc32(data, unsigned int crc=0):
    """zlib.crc32 semantics through the selected kernel (tests compare it with zlib)."""
    cdef const unsigned char[::1] view = data
    if view.shape[0] == 0:
        return crc
    return bf_crc32(crc, &view[0], view.shape[0])


_use_crc32_backend(os.environ.get(_ENV_CRC32, "auto") or "auto")

cdef inline str _channel_name(int ch):
    if ch == BF_CH_BOOKS:
        return "books"
    if ch == BF_CH_BOOKS1:
        return "books1"
    if ch == BF_CH_BOOKS5:
        return "books5"
    if ch == BF_CH_BOOKS15:
        return "books15"
    return None


cdef inline str _ascii(const char *p, Py_ssize_t n):
    return PyUnicode_DecodeASCII(p, n, NULL)


cdef inline bf_level *_level(bf_side *s, Py_ssize_t i) noexcept:
    """The i-th best level of a side (0 = best); the caller checks i < n."""
    return &s.lv[<Py_ssize_t>s.n - 1 - i]


cdef int _sequence_problem(OrderBook self, bf_msg *m) noexcept:
    """0 fine, 1 pseq mismatch, 2 stale seq, 3 jump under strict_seq, 4 jump (counted)."""
    if m.has_pseq:
        if not self._has_seq or m.pseq != self._seq:
            return 1
        return 0
    if not m.has_seq or not self._has_seq:
        return 0
    if m.seq <= self._seq:
        return 2
    if m.seq - self._seq != 1:
        return 3 if self.strict_seq else 4
    return 0


cdef int _raise_gap(OrderBook self, int gap, bf_msg *m, bint prev_has, int64_t prev_seq) except -1:
    prev = prev_seq if prev_has else None
    if gap == 1:
        what = f"pseq {m.pseq} does not match the book's seq {prev}"
    elif gap == 2:
        what = f"seq {m.seq} is not after the book's seq {prev} (stale or replayed)"
    else:
        what = f"seq jumped from {prev} to {m.seq} (strict_seq)"
    raise SequenceGap(f"{_where(self, m.channel)}: {what}; the update is applied and the "
                      "book is invalid until the next snapshot (resubscribe)",
                      channel=_channel_name(m.channel))


cdef str _where(OrderBook self, int channel):
    where = f"{_channel_name(channel) or 'book'} {self.symbol}"
    return f"{where} seq {self._seq}" if self._has_seq else where


cdef int _raise_rejected(OrderBook self, int rc, bf_err *err, const char *data,
                         Py_ssize_t size) except -1:
    cdef Py_ssize_t off = <Py_ssize_t>err.offset
    cdef Py_ssize_t lo, hi
    if rc == BF_ENOMEM:
        raise MemoryError(f"book {self.symbol}: out of memory applying a message; "
                          "book unchanged")
    if off > size:
        off = size
    lo = off - _EXCERPT_HALF if off > _EXCERPT_HALF else 0
    hi = off + _EXCERPT_HALF if off + _EXCERPT_HALF < size else size
    excerpt = data[lo:hi]
    channel = _channel_name((<bf_book *>self._b).msg.channel)
    reason = err.msg.decode("utf-8", "replace")
    if err.not_json:
        reason = f"not JSON: {reason}"
    raise ProtocolError(f"{channel or 'book'} {self.symbol}: {reason} (byte {off}); "
                        "message rejected, book unchanged",
                        channel=channel, offset=off, excerpt=excerpt)


cdef Py_ssize_t _count(OrderBook self, bf_side *s, object n) except -1:
    cdef Py_ssize_t count = <Py_ssize_t>s.n
    if n is None:
        return count
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"n must be an int or None, not {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    return n if n < count else count


cdef list _strings(OrderBook self, bf_side *s, object n):
    cdef Py_ssize_t i, count = _count(self, s, n)
    cdef bf_level *lv
    cdef list out = []
    for i in range(count):
        lv = _level(s, i)
        out.append((_ascii(lv.p, lv.plen), _ascii(lv.s, lv.slen)))
    return out


cdef list _raw(OrderBook self, bf_side *s, object n, bint negate):
    cdef Py_ssize_t i, count = _count(self, s, n)
    cdef bf_level *lv
    cdef list out = []
    for i in range(count):
        lv = _level(s, i)
        out.append((-lv.key if negate else lv.key, lv.size))
    return out


cdef list _floats(OrderBook self, bf_side *s, object n, bint negate):
    cdef Py_ssize_t i, count = _count(self, s, n)
    cdef bf_level *lv
    cdef bf_book *b = <bf_book *>self._b
    cdef double ps = <double>bf_pow10(b.price_scale), ss = <double>bf_pow10(b.size_scale)
    cdef list out = []
    for i in range(count):
        lv = _level(s, i)
        out.append(((-lv.key if negate else lv.key) / ps, lv.size / ss))
    return out


cdef class OrderBook:
    """Order book of one symbol fed with raw Bitget ``books``/``books1``/``books5``/``books15`` messages.

    ``OrderBook(symbol, *, price_place=None, volume_place=None, strict_seq=False)``:
    the places set the initial fixed-point scales (``None``: inferred from the strings);
    an update with more decimals widens a scale and a snapshot starts again from its own (never
    below the places), so no digit is ever lost. Semantics are
    those of :class:`bitget_fast.sim.reference.Book` (DECISIONS.md sections 2 and 3).
    """

    def __cinit__(self):
        self._b = PyMem_Malloc(sizeof(bf_book))
        if self._b == NULL:
            raise MemoryError()
        bf_book_init(<bf_book *>self._b, -1, -1)

    def __init__(self, symbol, *, price_place=None, volume_place=None, bint strict_seq=False):
        cdef bf_book *b = <bf_book *>self._b
        if not isinstance(symbol, str) or not symbol:
            raise TypeError(f"symbol must be a non-empty str, not {symbol!r}")
        for name, value in (("price_place", price_place), ("volume_place", volume_place)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or not 0 <= value <= BF_MAX_SCALE):
                raise ValueError(f"{name} must be an int from 0 to {BF_MAX_SCALE} or None, "
                                 f"not {value!r}")
        self.symbol = symbol
        self._symbol_b = symbol.encode("utf-8")
        self.strict_seq = strict_seq
        bf_book_free(b)
        bf_book_init(b, -1 if price_place is None else price_place,
                     -1 if volume_place is None else volume_place)

    def __dealloc__(self):
        if self._b != NULL:
            bf_book_free(<bf_book *>self._b)
            PyMem_Free(self._b)
            self._b = NULL

    def __reduce__(self):
        raise TypeError("OrderBook cannot be pickled: copy its levels with bids()/asks()")

    # ------------------------------------------------------------------ applying

    cpdef bint apply(self, object raw) except -1:
        """Apply one raw ``books*`` message (bytes-like or str); False when dropped.

        Raises :class:`ProtocolError` (nothing changed), or :class:`SequenceGap`,
        :class:`ChecksumMismatch` or :class:`CrossedBook` (the message is applied and
        the book is invalid until the next snapshot). While invalid, updates are
        dropped (counted in ``dropped_updates``) and ``apply`` returns False.
        """
        cdef Py_buffer view
        cdef int rc
        if PyBytes_CheckExact(raw):
            return self.apply_ptr(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
        if isinstance(raw, str):
            raw = (<str>raw).encode("utf-8", "surrogatepass")
            return self.apply_ptr(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
        if isinstance(raw, (dict, list, int, float)) or raw is None:
            raise TypeError(f"OrderBook.apply takes the raw message (bytes-like or str), "
                            f"not {type(raw).__name__}")
        PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)
        try:
            rc = self.apply_ptr(<const char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        return rc

    cdef int apply_ptr(self, const char *data, Py_ssize_t size) except -1:
        cdef bf_book *b = <bf_book *>self._b
        cdef bf_msg *m = &b.msg
        cdef bf_err err
        cdef int rc, gap = 0
        cdef int32_t got
        cdef bint prev_has = self._has_seq
        cdef int64_t prev_seq = self._seq
        if size < 0:
            size = 0
        rc = bf_book_parse(b, <const uint8_t *>data, <size_t>size,
                           PyBytes_AS_STRING(self._symbol_b), PyBytes_GET_SIZE(self._symbol_b),
                           &err)
        if rc != BF_OK:
            _raise_rejected(self, rc, &err, data, size)
        if not m.snapshot:
            if not self.is_valid:
                self.dropped_updates += 1
                return 0
            gap = _sequence_problem(self, m)
        rc = bf_book_apply(b, <const uint8_t *>data, &err)
        if rc != BF_OK:
            _raise_rejected(self, rc, &err, data, size)
        if m.has_ts:
            self._has_ts = True
            self._ts_ms = m.ts_ms
        if m.snapshot:
            self._has_seq = m.has_seq
            self._seq = m.seq
            self.is_valid = True
        else:
            self.updates_applied += 1
            if gap == 4:
                self.seq_jumps += 1
            if m.has_seq:
                self._has_seq = True
                self._seq = m.seq
            if gap != 0 and gap != 4:
                self.is_valid = False
                _raise_gap(self, gap, m, prev_has, prev_seq)
        if not m.has_checksum or (m.snapshot and m.checksum == 0):
            self.checksums_skipped += 1
        else:
            got = bf_book_checksum(b)
            if got != m.checksum:
                self.is_valid = False
                raise ChecksumMismatch(
                    f"{_where(self, m.channel)}: checksum mismatch: the message says "
                    f"{m.checksum}, the local top {BF_CHECKSUM_LEVELS} levels give {got}; the "
                    f"{'snapshot' if m.snapshot else 'update'} is applied and the book is "
                    "invalid until the next snapshot (resubscribe)",
                    channel=_channel_name(m.channel))
            self.checksums_verified += 1
        if bf_book_crossed(b):
            self.is_valid = False
            raise CrossedBook(
                f"{_where(self, m.channel)}: crossed book: best bid {self.best_bid[0]} >= best "
                f"ask {self.best_ask[0]}; the message is applied and the book is invalid until "
                "the next snapshot (resubscribe)", channel=_channel_name(m.channel))
        return 1

    cpdef void invalidate(self):
        """Mark the book untrusted (e.g. its connection dropped); updates are dropped until a snapshot."""
        self.is_valid = False

    # ------------------------------------------------------------------ reading

    @property
    def seq(self):
        """``seq`` of the last snapshot or update that carried one; None without."""
        return self._seq if self._has_seq else None

    @property
    def ts_ms(self):
        """``data[0].ts`` (matching-engine time, ms) of the last applied message; None without."""
        return self._ts_ms if self._has_ts else None

    @property
    def price_scale(self):
        """Decimals of the price mantissas (``*_raw`` values / 10**price_scale)."""
        return (<bf_book *>self._b).price_scale

    @property
    def size_scale(self):
        """Decimals of the size mantissas."""
        return (<bf_book *>self._b).size_scale

    @property
    def depth(self):
        """``(number of bid levels, number of ask levels)``."""
        cdef bf_book *b = <bf_book *>self._b
        return (b.bids.n, b.asks.n)

    @property
    def absent_deletes(self):
        """Deletes (size "0") of levels that were not in the book: counted, not errors."""
        return (<bf_book *>self._b).absent_deletes

    @property
    def best_bid(self):
        """``(price_str, size_str)`` of the best bid, or None when there is none."""
        cdef bf_side *s = &(<bf_book *>self._b).bids
        if s.n == 0:
            return None
        cdef bf_level *lv = _level(s, 0)
        return (_ascii(lv.p, lv.plen), _ascii(lv.s, lv.slen))

    @property
    def best_ask(self):
        """``(price_str, size_str)`` of the best ask, or None when there is none."""
        cdef bf_side *s = &(<bf_book *>self._b).asks
        if s.n == 0:
            return None
        cdef bf_level *lv = _level(s, 0)
        return (_ascii(lv.p, lv.plen), _ascii(lv.s, lv.slen))

    def bids(self, n=None):
        """Up to ``n`` (all when None) bids as ``(price_str, size_str)``, best first."""
        return _strings(self, &(<bf_book *>self._b).bids, n)

    def asks(self, n=None):
        """Up to ``n`` (all when None) asks as ``(price_str, size_str)``, best first."""
        return _strings(self, &(<bf_book *>self._b).asks, n)

    def bids_raw(self, n=None):
        """Up to ``n`` bids as ``(price_mantissa, size_mantissa)`` ints at price/size_scale."""
        return _raw(self, &(<bf_book *>self._b).bids, n, False)

    def asks_raw(self, n=None):
        """Up to ``n`` asks as ``(price_mantissa, size_mantissa)`` ints at price/size_scale."""
        return _raw(self, &(<bf_book *>self._b).asks, n, True)

    def bids_float(self, n=None):
        """Up to ``n`` bids as ``(price, size)`` floats (rounded: for signals, not for orders)."""
        return _floats(self, &(<bf_book *>self._b).bids, n, False)

    def asks_float(self, n=None):
        """Up to ``n`` asks as ``(price, size)`` floats (rounded: for signals, not for orders)."""
        return _floats(self, &(<bf_book *>self._b).asks, n, True)

    def top_float(self):
        """``(bid_price, bid_size, ask_price, ask_size)`` floats; NaN for an empty side."""
        cdef BookTop t
        cdef double ps, ss
        self.top(&t)
        ps = <double>bf_pow10(t.price_scale)
        ss = <double>bf_pow10(t.size_scale)
        nan = float("nan")
        return ((t.bid_price / ps, t.bid_size / ss) if t.has_bid else (nan, nan)) + \
               ((t.ask_price / ps, t.ask_size / ss) if t.has_ask else (nan, nan))

    cpdef int checksum(self):
        """Bitget's signed CRC32 of the current top 25 levels."""
        return bf_book_checksum(<bf_book *>self._b)

    def checksum_text(self):
        """The text the checksum is computed over: ``bid0p:bid0s:ask0p:ask0s:...``."""
        cdef char buf[BF_CHECKSUM_TEXT]
        cdef size_t n = bf_book_checksum_text(<bf_book *>self._b, buf)
        return _ascii(buf, n)

    def memory_bytes(self):
        """Bytes this book holds in C memory (levels and parse scratch)."""
        return bf_book_memory(<bf_book *>self._b)

    def __repr__(self):
        return (f"<OrderBook {self.symbol} seq={self.seq} valid={bool(self.is_valid)} "
                f"depth={self.depth} bid={self.best_bid} ask={self.best_ask}>")

    cdef bint top(self, BookTop *out) noexcept:
        cdef bf_book *b = <bf_book *>self._b
        cdef bf_level *lv
        out.price_scale = b.price_scale
        out.size_scale = b.size_scale
        out.has_bid = b.bids.n > 0
        out.has_ask = b.asks.n > 0
        out.bid_price = out.bid_size = out.ask_price = out.ask_size = 0
        if out.has_bid:
            lv = _level(&b.bids, 0)
            out.bid_price = lv.key
            out.bid_size = lv.size
        if out.has_ask:
            lv = _level(&b.asks, 0)
            out.ask_price = -lv.key
            out.ask_size = lv.size
        return self.is_valid

    cdef Py_ssize_t copy_levels(self, bint bids, int64_t *prices, int64_t *sizes,
                                Py_ssize_t n) noexcept:
        cdef bf_side *s = &(<bf_book *>self._b).bids if bids else &(<bf_book *>self._b).asks
        cdef Py_ssize_t i, count = <Py_ssize_t>s.n
        cdef bf_level *lv
        if n < count:
            count = n if n > 0 else 0
        for i in range(count):
            lv = _level(s, i)
            prices[i] = lv.key if bids else -lv.key
            sizes[i] = lv.size
        return count
