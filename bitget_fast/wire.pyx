"""Bitget WebSocket frames -> order books, events and pushes, on picows.

``BitgetListener`` is a picows ``WSListener`` in Cython: it reads the frame's payload
pointer, routes the message from its first keys in C (src/bf_book.c), and for the
``books*`` channels hands the same pointer to :class:`OrderBook` — no Python object per
message or level on that path. Everything else (events, trades, tickers) goes to the
Python session (bitget_fast.market) as bytes.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcmp
from picows.picows cimport WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from bitget_fast._c cimport (
    BF_CH_BOOKS, BF_CH_BOOKS1, BF_CH_BOOKS5, BF_CH_BOOKS15, BF_OK, BF_ROUTE_EVENT,
    BF_ROUTE_PUSH, bf_err, bf_route, bf_route_message,
)
from bitget_fast.book cimport OrderBook

from bitget_fast.errors import BookIntegrityError, ProtocolError

__all__ = ["BitgetListener", "BookHandler", "BookRouter"]


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

    def __init__(self, session, BookRouter router, on_book=None):
        self.session = session
        self.router = router
        if isinstance(on_book, BookHandler):
            self._handler = on_book
            self._on_book = None
        else:
            self._handler = None
            self._on_book = on_book

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        self.session._ws_connected(transport)

    cpdef on_ws_disconnected(self, WSTransport transport):
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
        cdef bf_route route
        cdef bf_err err
        self.frames += 1
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
            lo = err.offset - 32 if err.offset > 32 else 0
            self.session._ws_rejected(frame.get_payload_as_bytes(), ProtocolError(
                f"{'not JSON: ' if err.not_json else ''}{msg} (byte {err.offset}); "
                "message dropped", offset=err.offset, excerpt=data[lo:err.offset + 32]), True)
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
