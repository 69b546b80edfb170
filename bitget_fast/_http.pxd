# Private Cython API of the REST client's connections (bitget_fast.rest). Promises
# nothing to cimporters: names and layout change with the REST client.
from bitget_fast._c cimport bf_http_msg
from bitget_fast.signing cimport Signer


cdef class HttpConnection:
    # An asyncio protocol that frames HTTP/1.1 responses in C and hands each whole
    # one to _response (a virtual cdef method).
    cdef readonly object transport
    cdef public bint closed
    cdef readonly Py_ssize_t max_body
    cdef bf_http_msg _msg
    cdef unsigned char *_buf
    cdef Py_ssize_t _len
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _need

    cdef int _feed(self, const unsigned char *data, Py_ssize_t n, bint eof) except -1
    cdef int _deliver(self, const unsigned char *p) except -1
    cdef int _keep(self, const unsigned char *p, Py_ssize_t n) except -1
    # One whole response; body is valid beyond the call (a bytes object).
    cdef int _response(self, int status, bytes body, bint keep_alive) except -1
    # The byte stream cannot be framed: the transport is already aborted.
    cdef int _framing_error(self, str message, bytes excerpt) except -1
    cdef int _lost(self, object exc) except -1


cdef class Request:
    cdef public str method
    cdef public str path
    cdef public str query
    cdef public bytes body
    cdef public bint signed
    cdef public bint changes_orders
    cdef public bint clock_retried
    cdef public object future
    cdef public object decode
    cdef public object conn
    cdef public double t_sent
    cdef public double t_counted


cdef class RequestBuilder:
    cdef Signer _signer
    cdef bytes _signed_head
    cdef bytes _public_head
    cdef public long long offset_ms

    cpdef bytes build(self, Request req, long long now_ms=*)


cdef class RestBase:
    cdef public object _loop
    cdef public bint _closed
    cdef public object _signer
    cdef public list _idle
    cdef public object _queue
    cdef public bint enforce_rate_limits
    cdef public object limiter
    # requests written and replies framed, on every connection (kept in C: the order path
    # adds 1 to each)
    cdef public unsigned long long n_requests
    cdef public unsigned long long n_replies


cdef class RestConnection(HttpConnection):
    cdef public object client
    cdef RestBase _base
    cdef public Request req
    cdef public double last_used
    cdef RequestBuilder _builder
    cdef list _idle
    cdef object _queue
    cdef dict _backoff
    cdef object _limiter
    cdef dict _decoders

    cpdef send(self, Request req)
