/* SHA-256 (FIPS 180-4): portable C99 and x86 SHA-NI, chosen at run time. */
#include "bf_sha256.h"
#include "bf_atomic.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define BF_HAVE_X86_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define BF_HAVE_X86_SHANI 0
#endif

static const uint32_t K256[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static const uint32_t H0[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

/* ---------------------------------------------------------------- portable */

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (ROR32(x, 2) ^ ROR32(x, 13) ^ ROR32(x, 22))
#define BSIG1(x) (ROR32(x, 6) ^ ROR32(x, 11) ^ ROR32(x, 25))
#define SSIG0(x) (ROR32(x, 7) ^ ROR32(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROR32(x, 17) ^ ROR32(x, 19) ^ ((x) >> 10))

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void bf_sha256_blocks_portable(bf_sha256_state *st, const uint8_t *data, size_t nblocks)
{
    uint32_t w[64];
    while (nblocks--) {
        uint32_t a = st->h[0], b = st->h[1], c = st->h[2], d = st->h[3];
        uint32_t e = st->h[4], f = st->h[5], g = st->h[6], h = st->h[7];
        int t;
        for (t = 0; t < 16; t++)
            w[t] = load_be32(data + 4 * t);
        for (t = 16; t < 64; t++)
            w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) + w[t - 16];
        for (t = 0; t < 64; t++) {
            uint32_t t1 = h + BSIG1(e) + CH(e, f, g) + K256[t] + w[t];
            uint32_t t2 = BSIG0(a) + MAJ(a, b, c);
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        st->h[0] += a;
        st->h[1] += b;
        st->h[2] += c;
        st->h[3] += d;
        st->h[4] += e;
        st->h[5] += f;
        st->h[6] += g;
        st->h[7] += h;
        data += BF_SHA256_BLOCK;
    }
    /* The schedule is derived from the message, which may be key material. */
    bf_secure_zero(w, sizeof w);
}

/* ------------------------------------------------------------------ SHA-NI */

#if BF_HAVE_X86_SHANI

/* Four rounds: add the round constants to the message words, then two
 * sha256rnds2 steps (the second uses the upper two words). After them the
 * register that held ABEF holds CDGH and vice versa, so the macro swaps the
 * roles by naming its outputs. */
#define BF_SHANI_4ROUNDS(abef, cdgh, msg, k)                          \
    do {                                                              \
        __m128i wk_ = _mm_add_epi32((msg), (k));                      \
        (cdgh) = _mm_sha256rnds2_epu32((cdgh), (abef), wk_);          \
        wk_ = _mm_shuffle_epi32(wk_, 0x0E);                           \
        (abef) = _mm_sha256rnds2_epu32((abef), (cdgh), wk_);          \
    } while (0)

/* Next four schedule words from the previous sixteen (m0 oldest). */
#define BF_SHANI_SCHED(m0, m1, m2, m3)                                \
    do {                                                              \
        (m0) = _mm_sha256msg1_epu32((m0), (m1));                      \
        (m0) = _mm_add_epi32((m0), _mm_alignr_epi8((m3), (m2), 4));   \
        (m0) = _mm_sha256msg2_epu32((m0), (m3));                      \
    } while (0)

#define BF_SHANI __attribute__((target("sha,sse4.1,ssse3")))

/* One 64-byte block, message already in four big-endian-word vectors. */
BF_SHANI static inline void shani_block(__m128i *abef_p, __m128i *cdgh_p,
                                        __m128i m0, __m128i m1, __m128i m2, __m128i m3)
{
    const __m128i *kv = (const __m128i *)(const void *)K256;
    __m128i abef = *abef_p, cdgh = *cdgh_p;
    const __m128i abef0 = abef, cdgh0 = cdgh;

    BF_SHANI_4ROUNDS(abef, cdgh, m0, _mm_loadu_si128(kv + 0));
    BF_SHANI_4ROUNDS(abef, cdgh, m1, _mm_loadu_si128(kv + 1));
    BF_SHANI_4ROUNDS(abef, cdgh, m2, _mm_loadu_si128(kv + 2));
    BF_SHANI_4ROUNDS(abef, cdgh, m3, _mm_loadu_si128(kv + 3));
    BF_SHANI_SCHED(m0, m1, m2, m3);
    BF_SHANI_4ROUNDS(abef, cdgh, m0, _mm_loadu_si128(kv + 4));
    BF_SHANI_SCHED(m1, m2, m3, m0);
    BF_SHANI_4ROUNDS(abef, cdgh, m1, _mm_loadu_si128(kv + 5));
    BF_SHANI_SCHED(m2, m3, m0, m1);
    BF_SHANI_4ROUNDS(abef, cdgh, m2, _mm_loadu_si128(kv + 6));
    BF_SHANI_SCHED(m3, m0, m1, m2);
    BF_SHANI_4ROUNDS(abef, cdgh, m3, _mm_loadu_si128(kv + 7));
    BF_SHANI_SCHED(m0, m1, m2, m3);
    BF_SHANI_4ROUNDS(abef, cdgh, m0, _mm_loadu_si128(kv + 8));
    BF_SHANI_SCHED(m1, m2, m3, m0);
    BF_SHANI_4ROUNDS(abef, cdgh, m1, _mm_loadu_si128(kv + 9));
    BF_SHANI_SCHED(m2, m3, m0, m1);
    BF_SHANI_4ROUNDS(abef, cdgh, m2, _mm_loadu_si128(kv + 10));
    BF_SHANI_SCHED(m3, m0, m1, m2);
    BF_SHANI_4ROUNDS(abef, cdgh, m3, _mm_loadu_si128(kv + 11));
    BF_SHANI_SCHED(m0, m1, m2, m3);
    BF_SHANI_4ROUNDS(abef, cdgh, m0, _mm_loadu_si128(kv + 12));
    BF_SHANI_SCHED(m1, m2, m3, m0);
    BF_SHANI_4ROUNDS(abef, cdgh, m1, _mm_loadu_si128(kv + 13));
    BF_SHANI_SCHED(m2, m3, m0, m1);
    BF_SHANI_4ROUNDS(abef, cdgh, m2, _mm_loadu_si128(kv + 14));
    BF_SHANI_SCHED(m3, m0, m1, m2);
    BF_SHANI_4ROUNDS(abef, cdgh, m3, _mm_loadu_si128(kv + 15));

    *abef_p = _mm_add_epi32(abef, abef0);
    *cdgh_p = _mm_add_epi32(cdgh, cdgh0);
}

BF_SHANI static inline __m128i shani_bswap_mask(void)
{
    return _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
}

/* Bytes -> one block's message vectors, then compress. */
BF_SHANI static inline void shani_block_bytes(__m128i *abef, __m128i *cdgh, const uint8_t *p)
{
    const __m128i bswap = shani_bswap_mask();
    shani_block(abef, cdgh,
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 0)), bswap),
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), bswap),
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), bswap),
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), bswap));
}

/* h[0..7] in memory -> the ABEF / CDGH register layout sha256rnds2 works on. */
BF_SHANI static inline void shani_load(const bf_sha256_state *st, __m128i *abef, __m128i *cdgh)
{
    __m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)&st->h[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)&st->h[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    *abef = _mm_alignr_epi8(cdab, efgh, 8);
    *cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
}

/* The inverse: ABEF / CDGH -> (h0..h3), (h4..h7) as 32-bit lanes, lane 0 first. */
BF_SHANI static inline void shani_unload(__m128i abef, __m128i cdgh, __m128i *dcba, __m128i *hgfe)
{
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    *dcba = _mm_blend_epi16(feba, dchg, 0xF0);
    *hgfe = _mm_alignr_epi8(dchg, feba, 8);
}

BF_SHANI void bf_sha256_blocks_shani(bf_sha256_state *st, const uint8_t *data, size_t nblocks)
{
    __m128i abef, cdgh, lo, hi;
    shani_load(st, &abef, &cdgh);
    while (nblocks--) {
        shani_block_bytes(&abef, &cdgh, data);
        data += BF_SHA256_BLOCK;
    }
    shani_unload(abef, cdgh, &lo, &hi);
    _mm_storeu_si128((__m128i *)(void *)&st->h[0], lo);
    _mm_storeu_si128((__m128i *)(void *)&st->h[4], hi);
}

/* Nested hash with the state kept in registers from the first inner block to
 * the outer digest: whole blocks are read straight from the parts; only a
 * block that straddles two parts, and the padded tail, go through a buffer.
 * The inner digest becomes the outer block's first eight message words
 * directly, and the outer block's padding is constant. */
BF_SHANI static void nested_shani(const bf_sha256_state *inner, const bf_sha256_state *outer,
                                  uint64_t prefix_len, const bf_span *parts, size_t nparts,
                                  uint8_t out[BF_SHA256_DIGEST])
{
    uint8_t blk[2 * BF_SHA256_BLOCK];
    size_t fill = 0, end, k;
    uint64_t total = prefix_len;
    uint64_t obits = (prefix_len + BF_SHA256_DIGEST) * 8u;
    __m128i abef, cdgh, w0, w1;
    int i;

    shani_load(inner, &abef, &cdgh);
    for (k = 0; k < nparts; k++) {
        const uint8_t *p = parts[k].ptr;
        size_t n = parts[k].len;
        if (!n)
            continue; /* an empty part may have a NULL pointer */
        total += n;
        if (fill) {
            size_t take = BF_SHA256_BLOCK - fill < n ? BF_SHA256_BLOCK - fill : n;
            memcpy(blk + fill, p, take);
            fill += take;
            p += take;
            n -= take;
            if (fill < BF_SHA256_BLOCK)
                continue;
            shani_block_bytes(&abef, &cdgh, blk);
            fill = 0;
        }
        for (; n >= BF_SHA256_BLOCK; n -= BF_SHA256_BLOCK, p += BF_SHA256_BLOCK)
            shani_block_bytes(&abef, &cdgh, p);
        if (n) {
            memcpy(blk, p, n);
            fill = n;
        }
    }
    end = fill + 9 > BF_SHA256_BLOCK ? 2 * BF_SHA256_BLOCK : BF_SHA256_BLOCK;
    blk[fill] = 0x80;
    memset(blk + fill + 1, 0, end - 8 - fill - 1);
    for (i = 0; i < 8; i++)
        blk[end - 1 - i] = (uint8_t)((total * 8u) >> (8 * i));
    shani_block_bytes(&abef, &cdgh, blk);
    if (end > BF_SHA256_BLOCK)
        shani_block_bytes(&abef, &cdgh, blk + BF_SHA256_BLOCK);
    shani_unload(abef, cdgh, &w0, &w1);

    shani_load(outer, &abef, &cdgh);
    shani_block(&abef, &cdgh, w0, w1,
                _mm_set_epi32(0, 0, 0, (int)0x80000000u),
                _mm_set_epi32((int)(uint32_t)obits, (int)(uint32_t)(obits >> 32), 0, 0));
    shani_unload(abef, cdgh, &w0, &w1);
    _mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(w0, shani_bswap_mask()));
    _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_shuffle_epi8(w1, shani_bswap_mask()));
}

int bf_sha256_shani_available(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19))) /* SSSE3, SSE4.1 */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 29)) != 0; /* SHA */
}

#else /* no SHA-NI on this target: the entry point exists and runs the portable code */

static void nested_portable(const bf_sha256_state *inner, const bf_sha256_state *outer,
                            uint64_t prefix_len, const bf_span *parts, size_t nparts,
                            uint8_t out[BF_SHA256_DIGEST]);
#define nested_shani nested_portable

void bf_sha256_blocks_shani(bf_sha256_state *st, const uint8_t *data, size_t nblocks)
{
    bf_sha256_blocks_portable(st, data, nblocks);
}

int bf_sha256_shani_available(void)
{
    return 0;
}

#endif

/* ------------------------------------------------------- nested, portable */

static void nested_portable(const bf_sha256_state *inner, const bf_sha256_state *outer,
                            uint64_t prefix_len, const bf_span *parts, size_t nparts,
                            uint8_t out[BF_SHA256_DIGEST])
{
    bf_sha256_ctx c;
    uint8_t digest[BF_SHA256_DIGEST];
    size_t k;
    c.st = *inner;
    c.nbytes = prefix_len;
    c.buflen = 0;
    for (k = 0; k < nparts; k++)
        bf_sha256_update(&c, parts[k].ptr, parts[k].len);
    bf_sha256_final(&c, digest);
    c.st = *outer;
    c.nbytes = prefix_len;
    c.buflen = 0;
    bf_sha256_update(&c, digest, sizeof digest);
    bf_sha256_final(&c, out);
}

/* --------------------------------------------------------------- dispatch */


typedef void (*blocks_fn)(bf_sha256_state *, const uint8_t *, size_t);
typedef void (*nested_fn)(const bf_sha256_state *, const bf_sha256_state *, uint64_t,
                          const bf_span *, size_t, uint8_t *);

static blocks_fn g_blocks = bf_sha256_blocks_portable;
static nested_fn g_nested = nested_portable;
static bf_sha256_impl g_impl = BF_SHA256_PORTABLE;

bf_sha256_impl bf_sha256_select(bf_sha256_impl want)
{
    if (want == BF_SHA256_SHANI && bf_sha256_shani_available()) {
        BF_STORE(g_blocks, bf_sha256_blocks_shani);
        BF_STORE(g_nested, nested_shani);
        BF_STORE(g_impl, BF_SHA256_SHANI);
    } else {
        BF_STORE(g_blocks, bf_sha256_blocks_portable);
        BF_STORE(g_nested, nested_portable);
        BF_STORE(g_impl, BF_SHA256_PORTABLE);
    }
    return BF_LOAD(g_impl);
}

bf_sha256_impl bf_sha256_current(void)
{
    return BF_LOAD(g_impl);
}

void bf_sha256_blocks(bf_sha256_state *st, const uint8_t *data, size_t nblocks)
{
    BF_LOAD(g_blocks)(st, data, nblocks);
}

void bf_sha256_nested(const bf_sha256_state *inner, const bf_sha256_state *outer,
                      uint64_t prefix_len, const bf_span *parts, size_t nparts,
                      uint8_t out[BF_SHA256_DIGEST])
{
    BF_LOAD(g_nested)(inner, outer, prefix_len, parts, nparts, out);
}

/* ------------------------------------------------------------ incremental */

void bf_sha256_init(bf_sha256_ctx *ctx)
{
    memcpy(ctx->st.h, H0, sizeof H0);
    ctx->nbytes = 0;
    ctx->buflen = 0;
}

void bf_sha256_update(bf_sha256_ctx *ctx, const uint8_t *data, size_t len)
{
    if (!len)
        return; /* data may be NULL */
    ctx->nbytes += (uint64_t)len;
    if (ctx->buflen) {
        size_t take = BF_SHA256_BLOCK - ctx->buflen;
        if (take > len)
            take = len;
        memcpy(ctx->buf + ctx->buflen, data, take);
        ctx->buflen += take;
        data += take;
        len -= take;
        if (ctx->buflen < BF_SHA256_BLOCK)
            return;
        bf_sha256_blocks(&ctx->st, ctx->buf, 1);
        ctx->buflen = 0;
    }
    if (len >= BF_SHA256_BLOCK) {
        size_t n = len / BF_SHA256_BLOCK;
        bf_sha256_blocks(&ctx->st, data, n);
        data += n * BF_SHA256_BLOCK;
        len -= n * BF_SHA256_BLOCK;
    }
    if (len) {
        memcpy(ctx->buf, data, len);
        ctx->buflen = len;
    }
}

void bf_sha256_final(bf_sha256_ctx *ctx, uint8_t out[BF_SHA256_DIGEST])
{
    uint64_t bits = ctx->nbytes * 8u;
    size_t n = ctx->buflen;
    int i;
    ctx->buf[n++] = 0x80;
    if (n > BF_SHA256_BLOCK - 8) {
        memset(ctx->buf + n, 0, BF_SHA256_BLOCK - n);
        bf_sha256_blocks(&ctx->st, ctx->buf, 1);
        n = 0;
    }
    memset(ctx->buf + n, 0, BF_SHA256_BLOCK - 8 - n);
    for (i = 0; i < 8; i++)
        ctx->buf[BF_SHA256_BLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
    bf_sha256_blocks(&ctx->st, ctx->buf, 1);
    for (i = 0; i < 8; i++)
        store_be32(out + 4 * i, ctx->st.h[i]);
}

void bf_sha256(const uint8_t *data, size_t len, uint8_t out[BF_SHA256_DIGEST])
{
    bf_sha256_ctx ctx;
    bf_sha256_init(&ctx);
    bf_sha256_update(&ctx, data, len);
    bf_sha256_final(&ctx, out);
    bf_secure_zero(&ctx, sizeof ctx);
}

void bf_secure_zero(void *p, size_t n)
{
#if defined(__GNUC__) || defined(__clang__)
    /* memset is fast; the empty asm that "reads" p keeps the compiler from
     * treating the stores as dead. */
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
#else
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--)
        *v++ = 0;
#endif
}
