# Private: declarations of the C kernels in src/. Promises nothing to cimporters
# beyond what bitget_fast.signing's public .pxd needs to name.
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef extern from "bf_sha256.h" nogil:

    ctypedef enum bf_sha256_impl:
        BF_SHA256_PORTABLE
        BF_SHA256_SHANI

    ctypedef struct bf_sha256_state:
        uint32_t h[8]

    ctypedef struct bf_span:
        const uint8_t *ptr
        size_t len

    int bf_sha256_shani_available()
    bf_sha256_impl bf_sha256_select(bf_sha256_impl want)
    bf_sha256_impl bf_sha256_current()
    void bf_sha256(const uint8_t *data, size_t len, uint8_t *out)


cdef extern from "bf_hmac.h" nogil:
    ctypedef struct bf_hmac_key:
        bf_sha256_state inner
        bf_sha256_state outer

    void bf_hmac_key_init(bf_hmac_key *key, const uint8_t *secret, size_t secret_len)
    void bf_hmac_key_clear(bf_hmac_key *key)
    void bf_hmac_sha256(const bf_hmac_key *key, const uint8_t *msg, size_t len, uint8_t *out)
    void bf_hmac_sha256_parts(const bf_hmac_key *key, const bf_span *parts, size_t nparts,
                              uint8_t *out)


cdef extern from "bf_base64.h" nogil:
    size_t BF_BASE64_LEN(size_t n)
    size_t bf_base64_encode(const uint8_t *inp, size_t len, char *out)
    void bf_base64_mac(const uint8_t *mac, char *out)
    int bf_base64_select(int simd)


cdef extern from "bf_decimal.h" nogil:
    enum: BF_I64_MAX_DIGITS
    size_t bf_fmt_i64(long long v, char *out)
