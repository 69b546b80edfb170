# cython: binding=False
"""The REST client's compiled connections: HTTP/1.1 framing in C, requests built and
signed into one buffer, and the common reply (HTTP 200, code ``00000``) completed here.

Private to :mod:`bitget_fast.rest`, which holds the pool, the limiter, the retries and
every failure path; this module only keeps the per-request work out of the interpreter.

* :class:`HttpConnection` -- an :class:`asyncio.Protocol` whose ``data_received``
  frames responses with ``bf_http_frame`` (status line, Content-Length or chunked or
  read-to-close, Connection) straight from the received bytes, copying only what an
  incomplete response leaves over. Malformed input aborts the connection with a
  message naming what was wrong.
* :class:`RequestBuilder` -- request line, the pre-built header block, timestamp,
  ``ACCESS-SIGN`` (the compiled Signer hashing the prehash from its parts) and body,
  written into one ``bytes`` of the exact size.
* :class:`RestConnection` -- one keep-alive connection of a ``RestClient``: ``send``
  builds and writes; a success reply is decoded (msgspec envelope, then ``data``) and
  sets the request's future without a Python frame; anything else goes to
  ``RestClient._reply``.
"""
import logging

import msgspec
import orjson

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.dict cimport PyDict_Next
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_CheckExact
from libc.stdint cimport uint8_t
from libc.string cimport memcpy, memmove, memset
from posix.time cimport CLOCK_MONOTONIC, CLOCK_REALTIME, clock_gettime, timespec

from bitget_fast._c cimport (
    BF_HTTP_DONE, BF_HTTP_ERROR, BF_HTTP_MORE, BF_I64_MAX_DIGITS, bf_fmt_i64, bf_http_dechunk,
    bf_http_frame, bf_http_msg,
)
from bitget_fast._text cimport (
    PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_IS_COMPACT_ASCII, ascii_view,
)
from bitget_fast.signing cimport SIGNATURE_LEN, Signer

from bitget_fast.auth import encode_query as _encode_query
from bitget_fast.errors import ConfigurationError, ProtocolError, TransportError
from bitget_fast.limits import ORDER_PATHS as _ORDER_PATHS

__all__ = ["HttpConnection", "HttpFramer", "Request", "RequestBuilder", "RestBase", "RestConnection",
           "DEFAULT_MAX_BODY", "flat_json"]

log = logging.getLogger("bitget_fast.rest")

# Largest reply body accepted (a whole account history is a few MB).
DEFAULT_MAX_BODY = 64 * 1024 * 1024
# Bytes of the stream quoted in a framing error.
cdef Py_ssize_t EXCERPT = 64

# msgspec raises UnicodeDecodeError (not DecodeError) for invalid UTF-8 inside a str field
cdef object _DecodeErrors = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError)
cdef object _DataErrors = (msgspec.DecodeError, msgspec.ValidationError, orjson.JSONDecodeError,
                           UnicodeDecodeError)
cdef object _orjson_loads = orjson.loads
cdef object _orjson_dumps = orjson.dumps
cdef str _SUCCESS = "00000"
# A request that waited this long for a connection after the limiter counted it is
# re-counted when it is written: the server counts it when it arrives.
cdef double RESTAMP_MIN_S = 0.002


cdef inline double _now() noexcept nogil:
    """``time.monotonic()`` (the same clock, CLOCK_MONOTONIC) without a Python call: the
    limiter's stamps and these must compare."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef inline long long _wall_ms() noexcept nogil:
    """``time.time_ns() // 1_000_000`` (CLOCK_REALTIME) without a Python call."""
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <long long>ts.tv_sec * 1000 + ts.tv_nsec // 1_000_000


cdef class HttpConnection:
    """asyncio protocol framing HTTP/1.1 responses in C; subclasses handle each response."""

    def __cinit__(self, *args, **kwargs):
        self._buf = NULL
        self._len = self._cap = self._need = 0
        memset(&self._msg, 0, sizeof(bf_http_msg))
        self.max_body = DEFAULT_MAX_BODY

    def __dealloc__(self):
        PyMem_Free(self._buf)
        self._buf = NULL

    # -- asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        cdef Py_buffer view
        if self.closed:
            return
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._feed(<const unsigned char *>view.buf, view.len, False)
        finally:
            PyBuffer_Release(&view)

    def eof_received(self):
        if not self.closed and self._len:
            self._feed(NULL, 0, True)
        return False

    def connection_lost(self, exc):
        self.closed = True
        PyMem_Free(self._buf)
        self._buf = NULL
        self._len = self._cap = 0
        self._lost(exc)

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass

    @property
    def buffered(self):
        """Bytes of an incomplete response held until the rest arrives."""
        return self._len

    # -- framing
    cdef int _feed(self, const unsigned char *data, Py_ssize_t n, bint eof) except -1:
        cdef const unsigned char *src
        cdef Py_ssize_t end, off = 0
        cdef int r
        if self._len == 0:
            src, end = data, n
        else:
            if n:
                self._keep(data, n)
            if self._len < self._need and not eof:
                return 0
            src, end = self._buf, self._len
        while off < end:
            r = bf_http_frame(<const uint8_t *>src + off, <size_t>(end - off), eof,
                              <size_t>self.max_body, &self._msg)
            if r == BF_HTTP_DONE:
                self._need = 0
                try:
                    if self._msg.status >= 200:
                        self._deliver(src + off)
                finally:
                    off += <Py_ssize_t>self._msg.total
                    memset(&self._msg, 0, sizeof(bf_http_msg))
                if self.closed:
                    self._len = 0
                    return 0
                if eof:
                    break
                continue
            if r == BF_HTTP_MORE:
                self._need = <Py_ssize_t>self._msg.need
                break
            # BF_HTTP_ERROR
            excerpt = PyBytes_FromStringAndSize(
                <const char *>src + off + min(<Py_ssize_t>self._msg.error_at, end - off),
                min(EXCERPT, end - off - min(<Py_ssize_t>self._msg.error_at, end - off)))
            message = (<bytes>self._msg.error).decode("ascii") + \
                f" (byte {self._msg.error_at} of the reply)"
            self.closed = True
            self._len = 0
            if self.transport is not None:
                self.transport.abort()
            self._framing_error(message, excerpt)
            return 0
        # what is left of the stream: an incomplete response
        if src == self._buf:
            if off:
                memmove(self._buf, self._buf + off, <size_t>(self._len - off))
                self._len -= off
        else:
            self._keep(src + off, end - off)
        if eof and self._len:
            self._len = 0
        return 0

    cdef int _keep(self, const unsigned char *p, Py_ssize_t n) except -1:
        cdef Py_ssize_t want = self._len + n
        cdef Py_ssize_t cap
        cdef unsigned char *nb
        if n <= 0:
            return 0
        if want > self._cap:
            cap = max(want, 2 * self._cap, 4096)
            nb = <unsigned char *>PyMem_Realloc(self._buf, <size_t>cap)
            if nb == NULL:
                raise MemoryError()
            self._buf, self._cap = nb, cap
        memcpy(self._buf + self._len, p, <size_t>n)
        self._len = want
        return 0

    cdef int _deliver(self, const unsigned char *p) except -1:
        cdef bytes body
        if self._msg.chunked:
            body = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>self._msg.body_len)
            bf_http_dechunk(<const uint8_t *>p, &self._msg, <uint8_t *>PyBytes_AS_STRING(body))
        else:
            body = PyBytes_FromStringAndSize(<const char *>p + self._msg.head_len,
                                             <Py_ssize_t>self._msg.body_len)
        return self._response(self._msg.status, body, self._msg.keep_alive != 0)

    cdef int _response(self, int status, bytes body, bint keep_alive) except -1:
        return 0

    cdef int _framing_error(self, str message, bytes excerpt) except -1:
        return 0

    cdef int _lost(self, object exc) except -1:
        return 0


cdef class HttpFramer(HttpConnection):
    """The framer alone (tests, fuzzing): ``feed`` bytes, read whole responses from
    ``responses`` as ``(status, body, keep_alive)``; a framing error is kept in ``error``."""

    cdef public list responses
    cdef public object error

    def __init__(self, Py_ssize_t max_body=DEFAULT_MAX_BODY):
        self.max_body = max_body
        self.responses = []
        self.error = None

    def feed(self, data):
        """Feed received bytes (``data_received``)."""
        self.data_received(data)

    def feed_eof(self):
        """The peer closed its side (``eof_received``)."""
        self.eof_received()

    cdef int _response(self, int status, bytes body, bint keep_alive) except -1:
        self.responses.append((status, body, keep_alive))
        return 0

    cdef int _framing_error(self, str message, bytes excerpt) except -1:
        self.error = ProtocolError(message, excerpt=excerpt)
        return 0


cdef const char *_HEX = b"0123456789abcdef"


cdef inline Py_ssize_t _json_str_len(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    # the quoted JSON string's length: `"` and `\` take 2 bytes, \b \t \n \f \r 2,
    # other control bytes 6 (\u00XX), anything else 1
    cdef Py_ssize_t i, k = n + 2
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if c < 0x20:
            k += 1 if (c == 8 or c == 9 or c == 10 or c == 12 or c == 13) else 5
        elif c == 34 or c == 92:
            k += 1
    return k


cdef inline Py_ssize_t _json_str_write(char *w, const unsigned char *p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, k = 1
    cdef unsigned char c
    w[0] = b'"'
    for i in range(n):
        c = p[i]
        if c >= 0x20 and c != 34 and c != 92:
            w[k] = <char>c
            k += 1
            continue
        w[k] = b'\\'
        if c == 34 or c == 92:
            w[k + 1] = <char>c
        elif c == 8:
            w[k + 1] = b'b'
        elif c == 9:
            w[k + 1] = b't'
        elif c == 10:
            w[k + 1] = b'n'
        elif c == 12:
            w[k + 1] = b'f'
        elif c == 13:
            w[k + 1] = b'r'
        else:
            memcpy(w + k + 1, b"u00", 3)
            w[k + 4] = _HEX[c >> 4]
            w[k + 5] = _HEX[c & 15]
            k += 4
        k += 2
    w[k] = b'"'
    return k + 1


cdef object _flat_json(dict d):
    # The JSON of a dict of ASCII str keys and values (every Bitget order parameter), in
    # this module, so the order path touches no JSON library's code (NOTES.md: each library
    # an order touches costs ~1-2 us of cache and TLB misses after the event loop's sleep).
    # None for anything else: the caller falls back to orjson.
    cdef PyObject *k
    cdef PyObject *v
    cdef Py_ssize_t pos = 0, total = 1, n = 0, w = 0
    cdef bytes out
    cdef char *o
    # pass 1: every key and value an exact, compact ASCII str; the size. No Python code runs
    # between the passes, so the dict cannot change.
    while PyDict_Next(d, &pos, &k, &v):
        if not (PyUnicode_CheckExact(<object>k) and PyUnicode_IS_COMPACT_ASCII(<object>k)
                and PyUnicode_CheckExact(<object>v) and PyUnicode_IS_COMPACT_ASCII(<object>v)):
            return None
        total += 2 + _json_str_len(<const unsigned char *>PyUnicode_DATA(<object>k),
                                   PyUnicode_GET_LENGTH(<object>k)) \
            + _json_str_len(<const unsigned char *>PyUnicode_DATA(<object>v),
                            PyUnicode_GET_LENGTH(<object>v))
        n += 1
    if n == 0:
        total = 2
    out = PyBytes_FromStringAndSize(NULL, total)
    o = PyBytes_AS_STRING(out)
    o[0] = b'{'
    w = 1
    pos = 0
    while PyDict_Next(d, &pos, &k, &v):
        if w > 1:
            o[w] = b','
            w += 1
        w += _json_str_write(o + w, <const unsigned char *>PyUnicode_DATA(<object>k),
                             PyUnicode_GET_LENGTH(<object>k))
        o[w] = b':'
        w += 1
        w += _json_str_write(o + w, <const unsigned char *>PyUnicode_DATA(<object>v),
                             PyUnicode_GET_LENGTH(<object>v))
    o[w] = b'}'
    assert w + 1 == total
    return out


def flat_json(dict d not None):
    """``orjson.dumps(d)`` for a dict of ASCII str keys and values, written in this module;
    None for any other dict (the caller uses orjson)."""
    return _flat_json(d)


cdef inline int _check_target(const char *p, Py_ssize_t n, str what) except -1:
    # The request line is built from these bytes: no space, control byte or non-ASCII.
    cdef Py_ssize_t i
    for i in range(n):
        if <unsigned char>p[i] <= 0x20 or <unsigned char>p[i] >= 0x7f:
            raise ValueError(f"{what} holds a byte that cannot go in a request line: "
                             f"{PyBytes_FromStringAndSize(p, n)!r}")
    return 0


cdef class Request:
    """One REST request and the future its caller awaits."""

    def __init__(self, str method, str path, str query, bytes body, bint signed,
                 bint changes_orders, future, decode):
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.signed = signed
        self.changes_orders = changes_orders
        self.future = future
        self.decode = decode
        self.clock_retried = False
        self.conn = None
        self.t_sent = 0.0
        self.t_counted = 0.0

    def __repr__(self):
        return f"<Request {self.method} {self.path}>"


cdef inline Request _new_request(str method, str path, str query, bytes body, bint signed,
                                 bint changes_orders, future, decode):
    # Request(...) without the Python-level call of __init__ (the same fields)
    cdef Request req = Request.__new__(Request)
    req.method = method
    req.path = path
    req.query = query
    req.body = body
    req.signed = signed
    req.changes_orders = changes_orders
    req.future = future
    req.decode = decode
    return req


cdef class RequestBuilder:
    """Builds whole HTTP/1.1 requests: request line, header block, signature, body."""

    def __init__(self, Signer signer, bytes signed_head not None, bytes public_head not None):
        self._signer = signer
        self._signed_head = signed_head
        self._public_head = public_head
        self.offset_ms = 0

    def __repr__(self):
        return f"<RequestBuilder signed={self._signer is not None}>"

    def __reduce__(self):
        raise TypeError("a RequestBuilder holds key material and cannot be pickled")

    cpdef bytes build(self, Request req, long long now_ms=0):
        """The request's bytes, signed with ``now_ms`` (0: the local clock + offset_ms)."""
        cdef Py_ssize_t mlen, plen, qlen = 0, blen, hlen, total, k
        cdef const char *m = ascii_view(req.method, &mlen, "method")
        cdef const char *p = ascii_view(req.path, &plen, "path")
        cdef const char *q = NULL
        cdef const char *b
        cdef bytes head, out
        cdef char *w
        cdef char ts[BF_I64_MAX_DIGITS]
        cdef char cl[BF_I64_MAX_DIGITS]
        cdef Py_ssize_t tslen = 0, cllen
        cdef bint signed = req.signed
        _check_target(m, mlen, "method")
        _check_target(p, plen, "path")
        if req.query:
            q = ascii_view(req.query, &qlen, "query")
            _check_target(q, qlen, "query")
        body = req.body
        if body is None:
            body = b""
        b = PyBytes_AS_STRING(body)
        blen = PyBytes_GET_SIZE(body)
        cllen = <Py_ssize_t>bf_fmt_i64(blen, cl)
        if signed:
            if self._signer is None:
                raise ValueError(f"{req.path} needs credentials; this client has none")
            if now_ms == 0:
                now_ms = _wall_ms() + self.offset_ms
            tslen = <Py_ssize_t>bf_fmt_i64(now_ms, ts)
            head = self._signed_head
        else:
            head = self._public_head
        hlen = PyBytes_GET_SIZE(head)
        # METHOD SP path [? query] SP HTTP/1.1 CRLF head
        # [ACCESS-TIMESTAMP: ts CRLF ACCESS-SIGN: sig CRLF] Content-Length: n CRLF CRLF body
        total = mlen + 1 + plen + (1 + qlen if qlen else 0) + 11 + hlen
        if signed:
            total += 18 + tslen + 2 + 13 + SIGNATURE_LEN + 2
        total += 16 + cllen + 4 + blen
        out = PyBytes_FromStringAndSize(NULL, total)
        w = PyBytes_AS_STRING(out)
        k = 0
        memcpy(w + k, m, mlen); k += mlen
        w[k] = b' '; k += 1
        memcpy(w + k, p, plen); k += plen
        if qlen:
            w[k] = b'?'; k += 1
            memcpy(w + k, q, qlen); k += qlen
        memcpy(w + k, b" HTTP/1.1\r\n", 11); k += 11
        memcpy(w + k, PyBytes_AS_STRING(head), hlen); k += hlen
        if signed:
            memcpy(w + k, b"ACCESS-TIMESTAMP: ", 18); k += 18
            memcpy(w + k, ts, tslen); k += tslen
            memcpy(w + k, b"\r\nACCESS-SIGN: ", 15); k += 15
            self._signer.sign_parts_into(now_ms, m, mlen, p, plen, q, qlen, b, blen, w + k)
            k += SIGNATURE_LEN
            memcpy(w + k, b"\r\n", 2); k += 2
        memcpy(w + k, b"Content-Length: ", 16); k += 16
        memcpy(w + k, cl, cllen); k += cllen
        memcpy(w + k, b"\r\n\r\n", 4); k += 4
        memcpy(w + k, b, blen); k += blen
        assert k == total
        return out


cdef class RestConnection(HttpConnection):
    """One keep-alive connection of a RestClient, one request at a time."""

    def __init__(self, client, RequestBuilder builder, list idle, queue, limiter,
                 dict decoders, Py_ssize_t max_body=DEFAULT_MAX_BODY):
        self.client = client
        self._base = <RestBase?>client
        self._builder = builder
        self._idle = idle
        self._queue = queue
        self._limiter = limiter
        self._backoff = limiter.backoff
        self._decoders = decoders
        self.max_body = max_body
        self.req = None
        self.last_used = _now()

    def __repr__(self):
        return f"<RestConnection closed={self.closed} busy={self.req is not None}>"

    cpdef send(self, Request req):
        """Build, sign and write ``req``; it is this connection's request until its reply."""
        data = self._builder.build(req)
        self.req = req
        req.conn = self
        self._base.n_requests += 1
        # no timer per request: the client's watchdog looks at the busy connections' send times
        cdef double now = _now()
        req.t_sent = now
        self.last_used = now   # idle from the last request on (its reply follows within ms)
        if req.t_counted != 0.0 and now - req.t_counted > RESTAMP_MIN_S:
            # it waited for a connection: the server counts it from now
            self._limiter.restamp(req.path, req.t_counted, now)
        self.transport.write(data)

    def abort(self):
        """Close at once; the request in flight (if any) is left to the caller."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    cdef int _lost(self, object exc) except -1:
        req, self.req = self.req, None
        self.client._conn_lost(self)
        if req is not None:
            self.client._fail_unknown(
                req, "disconnected", f"the connection was lost ({exc or 'closed by the server'})")
        return 0

    cdef int _framing_error(self, str message, bytes excerpt) except -1:
        req, self.req = self.req, None
        if req is not None:
            self.client._fail_unreadable(req, ProtocolError(
                f"malformed HTTP reply from {self.client.host}: {message}; connection closed",
                excerpt=excerpt))
        return 0

    cdef int _response(self, int status, bytes body, bint keep_alive) except -1:
        cdef Request req = self.req
        self.req = None
        if req is None:
            # a reply nobody asked for: the stream is out of step
            self.abort()
            return 0
        if not keep_alive:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        try:
            self._base.n_replies += 1
            if not self.closed:
                if self._queue:
                    self.client._release(self)
                else:
                    self._idle.append(self)
            fut = req.future
            if fut.done():
                return 0
            if status == 200:
                # one decode of the whole reply; anything unexpected (an error code, a
                # shape the type does not accept, not JSON) is left to RestClient._reply
                dec = req.decode
                if dec is None:
                    try:
                        env = _orjson_loads(body)
                    except _DataErrors:
                        env = None
                    if type(env) is dict and (<dict>env).get("code") == _SUCCESS:
                        if self._backoff:
                            self._limiter.ok(req.path)
                        fut.set_result((<dict>env).get("data"))
                        return 0
                else:
                    decoder = self._decoders.get(dec)
                    if decoder is None:
                        decoder = self.client._typed_decoder(dec)
                    try:
                        env = decoder(body)
                    except _DataErrors:
                        env = None
                    if env is not None and env.code == _SUCCESS:
                        if self._backoff:
                            self._limiter.ok(req.path)
                        fut.set_result(env.data)
                        return 0
            self.client._reply(req, status, body)
        except Exception as exc:  # never lose a request inside the protocol callback
            log.exception("REST reply handling failed on %s", req.path)
            self.client._fail_unreadable(req, ProtocolError(
                f"{req.path}: the reply could not be handled ({type(exc).__name__}: {exc})"))
        return 0


cdef class RestBase:
    """The compiled part of :class:`bitget_fast.RestClient`: ``submit``'s common path (a
    free connection, the endpoint under its limit) runs without a Python frame."""

    def submit(self, str method not None, str path not None, *, params=None, body=None,
               bint signed=True, decode=None, changes_orders=None):
        """Send now (or as soon as a connection and the endpoint's limit allow); a future of ``data``.

        ``params`` become the query string (GET), ``body`` the JSON body (POST; a dict, or
        bytes sent as they are). ``decode`` is a msgspec type for ``data`` (None: built-in
        types). No retry for order-changing paths; see :meth:`request` for reads.
        """
        cdef bytes raw
        cdef RestConnection conn
        cdef bint limited = self.enforce_rate_limits
        loop = self._loop
        if loop is None:
            raise TransportError("RestClient.start() has not been awaited")
        fut = loop.create_future()
        if self._closed:
            fut.set_exception(TransportError("the REST client is closed"))
            return fut
        if signed and self._signer is None:
            raise ConfigurationError(f"{path} needs credentials; this client has none")
        query = _encode_query(params) if params else ""
        if body is None:
            raw = b""
        elif type(body) is bytes:
            raw = <bytes>body
        else:
            raw = _flat_json(<dict>body) if type(body) is dict else None
            if raw is None:
                raw = _orjson_dumps(body)
        if changes_orders is None:
            changes_orders = path in _ORDER_PATHS
        req = _new_request(method, path, query, raw, signed, changes_orders, fut, decode)
        if limited:
            now = _now()
            wait = self.limiter.delay(path, now)
            if wait > 0:
                self._rate_wait(req, wait)   # waits for the window (or refuses)
                return fut
            req.t_counted = now
        while self._idle:
            conn = <RestConnection>self._idle.pop()
            if not conn.closed:
                conn.send(req)
                return fut
        self._dispatch(req, False)
        return fut
