# cython: binding=False
"""Bitget request signing: base64(HMAC-SHA256(secret, prehash)).

The kernels are chosen once at import: SHA-NI SHA-256 and SSSE3 base64 where the
CPU has them, portable C otherwise. ``BITGET_FAST_SHA256=portable`` forces the
portable ones.
"""
import os

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.unicode cimport PyUnicode_1BYTE_DATA, PyUnicode_GET_LENGTH
from libc.stdint cimport uint8_t, uint32_t

from bitget_fast._c cimport (
    BF_BASE64_LEN, BF_I64_MAX_DIGITS, BF_SHA256_PORTABLE, BF_SHA256_SHANI,
    bf_base64_encode, bf_base64_mac, bf_base64_select, bf_fmt_i64, bf_hmac_key,
    bf_hmac_key_clear, bf_hmac_key_init, bf_hmac_sha256, bf_hmac_sha256_parts, bf_sha256,
    bf_sha256_current, bf_sha256_select, bf_sha256_shani_available, bf_span,
)

from bitget_fast._text cimport ascii_view
from bitget_fast.errors import ConfigurationError

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL


__all__ = ["Signer", "prehash", "sha256_backend", "SHA256_BACKENDS"]

# Names of the SHA-256 kernels, in the order of bf_sha256_impl.
SHA256_BACKENDS = ("portable", "sha-ni")

_ENV_BACKEND = "BITGET_FAST_SHA256"


def sha256_backend():
    """Name of the SHA-256 kernel in use: ``"sha-ni"`` or ``"portable"``."""
    return SHA256_BACKENDS[<int>bf_sha256_current()]


def _use_backend(str name):
    """Switch the kernels (tests, diagnostics); returns the SHA-256 one now in use.

    ``"portable"``: portable C SHA-256 and scalar base64. ``"sha-ni"`` or
    ``"auto"``: SHA-NI and SSSE3 base64 where the CPU has them (else portable).
    """
    if name == "portable":
        bf_sha256_select(BF_SHA256_PORTABLE)
        bf_base64_select(0)
    elif name in ("sha-ni", "auto"):
        if bf_sha256_select(BF_SHA256_SHANI) == BF_SHA256_SHANI:
            bf_base64_select(1)
        else:
            bf_base64_select(0)
    else:
        raise ConfigurationError(
            f"unknown SHA-256 backend {name!r}: expected 'auto', 'sha-ni' or 'portable'")
    return sha256_backend()


def _shani_available():
    """True if this CPU can run the SHA-NI kernel."""
    return bool(bf_sha256_shani_available())


def _sha256(data):
    """SHA-256 digest of a bytes-like object with the current kernel (tests)."""
    cdef Py_buffer view
    cdef uint8_t out[32]
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        bf_sha256(<const uint8_t *>view.buf, <size_t>view.len, out)
    finally:
        PyBuffer_Release(&view)
    return PyBytes_FromStringAndSize(<char *>out, 32)


def _b64encode(data):
    """Standard base64 with padding of a bytes-like object, as str (tests)."""
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        res = PyUnicode_New(<Py_ssize_t>BF_BASE64_LEN(<size_t>view.len), 127)
        bf_base64_encode(<const uint8_t *>view.buf, <size_t>view.len,
                         <char *>PyUnicode_1BYTE_DATA(res))
    finally:
        PyBuffer_Release(&view)
    return res


_use_backend(os.environ.get(_ENV_BACKEND, "auto") or "auto")

# Signer keeps a bf_hmac_key in a uint32_t[16] so that its public .pxd needs no
# C header; the two must have the same size.
if sizeof(bf_hmac_key) != 16 * sizeof(uint32_t):
    raise ImportError("bitget_fast.signing: bf_hmac_key layout does not match Signer")




def prehash(long long timestamp, str method not None, str path not None, query=None, body=None):
    """Bitget's prehash bytes: timestamp + METHOD + path + ('?' + query if query) + body.

    ``body`` is the exact bytes (bytes-like or str) sent on the wire; ``query``
    the exact str after ``?`` (empty or None for none). Same type rules as
    :meth:`Signer.sign_request`.
    """
    cdef char ts[BF_I64_MAX_DIGITS]
    cdef Py_ssize_t n = <Py_ssize_t>bf_fmt_i64(timestamp, ts)
    cdef Py_ssize_t size
    parts = [PyBytes_FromStringAndSize(ts, n), method.encode("ascii"), path.encode("ascii")]
    if query is not None:
        if not isinstance(query, str):
            raise TypeError("query must be str or None")
        ascii_view(<str>query, &size, "query")
        if size:
            parts.append(b"?")
            parts.append((<str>query).encode("ascii"))
    if body is not None:
        parts.append(body.encode("utf-8") if isinstance(body, str) else memoryview(body).tobytes())
    return b"".join(parts)


cdef class Signer:
    """HMAC-SHA256 signer for one API secret.

    Built once per secret: the inner and outer HMAC key states are computed in
    the constructor, so each signature costs only the message blocks and two
    finalisations. Holds key-derived material: it cannot be pickled or copied,
    its repr shows nothing of the key, and the states are zeroed when it is freed.
    """

    def __cinit__(self, secret):
        cdef Py_buffer view
        if isinstance(secret, str):
            # UnicodeEncodeError (lone surrogates, e.g. undecodable bytes from
            # os.environ) carries the whole string: never let it, or a chained
            # __context__, escape. The error is raised outside the except block.
            try:
                secret = (<str>secret).encode("utf-8")
            except UnicodeError:
                secret = None
            if secret is None:
                raise ConfigurationError("Signer secret is not valid Unicode text "
                                         "(it contains unpaired surrogates)")
        elif not isinstance(secret, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"Signer secret must be str or bytes, not {type(secret).__name__}")
        PyObject_GetBuffer(secret, &view, PyBUF_SIMPLE)
        try:
            bf_hmac_key_init(<bf_hmac_key *>self._key_state, <const uint8_t *>view.buf, <size_t>view.len)
        finally:
            PyBuffer_Release(&view)

    def __dealloc__(self):
        bf_hmac_key_clear(<bf_hmac_key *>self._key_state)

    def __repr__(self):
        return f"<Signer hmac-sha256 backend={sha256_backend()}>"

    def __reduce__(self):
        raise TypeError("Signer holds key material and cannot be pickled or copied")

    def __reduce_ex__(self, protocol):
        raise TypeError("Signer holds key material and cannot be pickled or copied")

    def __copy__(self):
        raise TypeError("Signer holds key material and cannot be pickled or copied")

    def __getstate__(self):
        raise TypeError("Signer holds key material and cannot be pickled or copied")

    def __deepcopy__(self, memo):
        raise TypeError("Signer holds key material and cannot be pickled or copied")

    cdef void sign_into(self, const unsigned char *data, Py_ssize_t size,
                        char *out) noexcept nogil:
        cdef uint8_t mac[32]
        if size < 0:  # a C caller's bad length signs the empty message, never reads out of bounds
            size = 0
        bf_hmac_sha256(<bf_hmac_key *>self._key_state, data, <size_t>size, mac)
        bf_base64_mac(mac, out)

    cdef void sign_parts_into(self, long long timestamp,
                              const char *method, Py_ssize_t method_len,
                              const char *path, Py_ssize_t path_len,
                              const char *query, Py_ssize_t query_len,
                              const char *body, Py_ssize_t body_len,
                              char *out) noexcept nogil:
        # The prehash is hashed from its parts in place: nothing is concatenated.
        cdef bf_span parts[6]
        cdef size_t n = 0
        cdef uint8_t mac[32]
        cdef char ts[BF_I64_MAX_DIGITS]
        parts[0].ptr = <const uint8_t *>ts
        parts[0].len = <size_t>bf_fmt_i64(timestamp, ts)
        parts[1].ptr = <const uint8_t *>method
        parts[1].len = <size_t>method_len if method_len > 0 else 0
        parts[2].ptr = <const uint8_t *>path
        parts[2].len = <size_t>path_len if path_len > 0 else 0
        n = 3
        if query_len > 0:
            parts[3].ptr = <const uint8_t *>"?"
            parts[3].len = 1
            parts[4].ptr = <const uint8_t *>query
            parts[4].len = <size_t>query_len
            n = 5
        if body_len > 0:
            parts[n].ptr = <const uint8_t *>body
            parts[n].len = <size_t>body_len
            n += 1
        bf_hmac_sha256_parts(<bf_hmac_key *>self._key_state, parts, n, mac)
        bf_base64_mac(mac, out)

    cpdef str sign(self, object prehash):
        """Base64 HMAC-SHA256 of ``prehash`` (bytes or any bytes-like object)."""
        cdef Py_buffer view
        cdef str res = <str>PyUnicode_New(SIGNATURE_LEN, 127)
        cdef char *out = <char *>PyUnicode_1BYTE_DATA(res)
        if PyBytes_CheckExact(prehash):
            self.sign_into(<const unsigned char *>PyBytes_AS_STRING(prehash),
                           PyBytes_GET_SIZE(prehash), out)
            return res
        if isinstance(prehash, str):
            raise TypeError("Signer.sign takes the prehash as bytes (encode the str first)")
        PyObject_GetBuffer(prehash, &view, PyBUF_SIMPLE)
        try:
            self.sign_into(<const unsigned char *>view.buf, view.len, out)
        finally:
            PyBuffer_Release(&view)
        return res

    def digest(self, prehash):
        """Raw 32-byte HMAC-SHA256 of a bytes-like ``prehash``."""
        cdef Py_buffer view
        cdef uint8_t mac[32]
        PyObject_GetBuffer(prehash, &view, PyBUF_SIMPLE)
        try:
            bf_hmac_sha256(<bf_hmac_key *>self._key_state, <const uint8_t *>view.buf, <size_t>view.len, mac)
        finally:
            PyBuffer_Release(&view)
        return PyBytes_FromStringAndSize(<char *>mac, 32)

    cpdef str sign_request(self, long long timestamp, str method, str path,
                           object query=None, object body=None):
        """Signature of Bitget's prehash built from its parts, without building it.

        ``timestamp`` is the integer sent as ACCESS-TIMESTAMP (ms) or in the
        WebSocket login (s); ``method`` upper case; ``query`` the exact string
        after ``?`` (None or empty for none); ``body`` the exact bytes (or str)
        on the wire.
        """
        cdef Py_ssize_t mlen, plen, qlen = 0, blen = 0
        cdef const char *m = ascii_view(method, &mlen, "method")
        cdef const char *p = ascii_view(path, &plen, "path")
        cdef const char *q = NULL
        cdef const char *b = NULL
        cdef Py_buffer view
        cdef bint have_view = False
        cdef str res = <str>PyUnicode_New(SIGNATURE_LEN, 127)
        if query is not None:
            if not isinstance(query, str):
                raise TypeError("query must be str or None")
            q = ascii_view(<str>query, &qlen, "query")
        if body is not None:
            if PyBytes_CheckExact(body):
                b = PyBytes_AS_STRING(body)
                blen = PyBytes_GET_SIZE(body)
            elif isinstance(body, str):
                b = PyUnicode_AsUTF8AndSize(body, &blen)
            else:
                PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
                have_view = True
                b = <const char *>view.buf
                blen = view.len
        try:
            self.sign_parts_into(timestamp, m, mlen, p, plen, q, qlen, b, blen,
                                 <char *>PyUnicode_1BYTE_DATA(res))
        finally:
            if have_view:
                PyBuffer_Release(&view)
        return res
