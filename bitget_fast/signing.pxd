# Public Cython API of bitget_fast.signing (versioned like the Python API).
# Cimporters need no C header: the key states are a plain array here.
from libc.stdint cimport uint32_t

# Length of a base64 HMAC-SHA256 signature (32 bytes -> 44 characters).
cdef enum:
    SIGNATURE_LEN = 44


cdef class Signer:
    """HMAC-SHA256 signer for one API secret, with precomputed key states."""
    # Inner then outer HMAC-SHA256 chaining state (a bf_hmac_key); private.
    cdef uint32_t _key_state[16]

    # Sign size bytes at data; write the 44 base64 characters to out (no NUL).
    # data and out are only read/written during the call. Never fails; a
    # negative size counts as 0.
    cdef void sign_into(self, const unsigned char *data, Py_ssize_t size,
                        char *out) noexcept nogil

    # Sign the prehash timestamp + method + path + ('?' + query if query) + body
    # without building it; write the 44 base64 characters to out.
    cdef void sign_parts_into(self, long long timestamp,
                              const char *method, Py_ssize_t method_len,
                              const char *path, Py_ssize_t path_len,
                              const char *query, Py_ssize_t query_len,
                              const char *body, Py_ssize_t body_len,
                              char *out) noexcept nogil

    cpdef str sign(self, object prehash)
    cpdef str sign_request(self, long long timestamp, str method, str path,
                           object query=*, object body=*)
