# Private: declarations of the C kernels in src/. Promises nothing to cimporters
# beyond what bitget_fast.signing's public .pxd needs to name.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t


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


cdef extern from "bf_crc32.h" nogil:
    ctypedef enum bf_crc32_impl:
        BF_CRC32_PORTABLE
        BF_CRC32_PCLMUL

    int bf_crc32_pclmul_available()
    bf_crc32_impl bf_crc32_select(bf_crc32_impl want)
    bf_crc32_impl bf_crc32_current()
    uint32_t bf_crc32(uint32_t crc, const void *data, size_t len)


cdef extern from "bf_book.h" nogil:
    enum:
        BF_LEVEL_STR
        BF_CHECKSUM_LEVELS
        BF_MAX_SCALE
        BF_CHECKSUM_TEXT
        BF_OK
        BF_EPROTO
        BF_ENOMEM
        BF_CH_BOOKS
        BF_CH_BOOKS1
        BF_CH_BOOKS5
        BF_CH_BOOKS15
        BF_CH_UNKNOWN

    ctypedef struct bf_level:
        int64_t key
        int64_t size
        uint8_t plen
        uint8_t slen
        char p[BF_LEVEL_STR]
        char s[BF_LEVEL_STR]

    ctypedef struct bf_side:
        bf_level *lv
        size_t n
        size_t cap

    ctypedef struct bf_msg:
        int channel
        int snapshot
        int has_seq, has_pseq, has_checksum, has_ts
        int64_t seq, pseq, checksum, ts_ms

    ctypedef struct bf_err:
        size_t offset
        int not_json
        char msg[192]

    ctypedef struct bf_book:
        bf_side bids
        bf_side asks
        int price_scale
        int size_scale
        uint64_t absent_deletes
        bf_msg msg

    void bf_book_init(bf_book *b, int price_scale, int size_scale)
    void bf_book_free(bf_book *b)
    size_t bf_book_memory(const bf_book *b)
    int bf_book_parse(bf_book *b, const uint8_t *raw, size_t len,
                      const char *symbol, size_t symbol_len, bf_err *err)
    int bf_book_apply(bf_book *b, const uint8_t *raw, bf_err *err)
    int32_t bf_book_checksum(bf_book *b)
    size_t bf_book_checksum_text(const bf_book *b, char *out)
    int bf_book_crossed(const bf_book *b)
    int64_t bf_pow10(int k)

    enum:
        BF_CH_TRADE
        BF_CH_TICKER
        BF_CH_OTHER
        BF_ROUTE_PUSH
        BF_ROUTE_EVENT

    ctypedef struct bf_route:
        int kind
        int channel
        const uint8_t *inst
        size_t inst_len
        int inst_esc
        const uint8_t *chan
        size_t chan_len

    int bf_route_message(const uint8_t *raw, size_t len, bf_route *r, bf_err *err)


cdef extern from "bf_http.h" nogil:
    enum:
        BF_HTTP_MAX_HEAD
        BF_HTTP_ERROR
        BF_HTTP_MORE
        BF_HTTP_DONE

    ctypedef struct bf_http_msg:
        int status
        int minor
        int keep_alive
        int chunked
        int until_eof
        size_t head_len
        size_t body_len
        size_t total
        size_t need
        const char *error
        size_t error_at

    int bf_http_frame(const uint8_t *buf, size_t len, int eof, size_t max_body, bf_http_msg *m)
    size_t bf_http_body_offset(const bf_http_msg *m)
    void bf_http_dechunk(const uint8_t *buf, const bf_http_msg *m, uint8_t *out)
