/* Standard base64 encoding with padding. */
#include "bf_base64.h"
#include "bf_atomic.h"

#include <string.h>

static const char B64[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t bf_base64_encode(const uint8_t *in, size_t len, char *out)
{
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | (uint32_t)in[i + 2];
        o[0] = B64[(v >> 18) & 63];
        o[1] = B64[(v >> 12) & 63];
        o[2] = B64[(v >> 6) & 63];
        o[3] = B64[v & 63];
        o += 4;
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        o[0] = B64[(v >> 18) & 63];
        o[1] = B64[(v >> 12) & 63];
        o[2] = '=';
        o[3] = '=';
        o += 4;
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        o[0] = B64[(v >> 18) & 63];
        o[1] = B64[(v >> 12) & 63];
        o[2] = B64[(v >> 6) & 63];
        o[3] = '=';
        o += 4;
    }
    return (size_t)(o - out);
}

/* ------------------------------------------------------- 32-byte MAC, SSSE3 */

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

/* 12 input bytes -> 16 characters (Mula's SSSE3 method): spread each 3-byte
 * group over 4 bytes, cut out the four 6-bit indices with two multiplies, then
 * map index ranges A-Z / a-z / 0-9 / + / to their ASCII offsets by a shuffle. */
__attribute__((target("ssse3"))) static inline __m128i enc12(__m128i in)
{
    const __m128i spread = _mm_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const __m128i offsets = _mm_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16,
                                          65, 0, 0);
    __m128i v = _mm_shuffle_epi8(in, spread);
    __m128i hi = _mm_mulhi_epu16(_mm_and_si128(v, _mm_set1_epi32(0x0fc0fc00)),
                                 _mm_set1_epi32(0x04000040));
    __m128i lo = _mm_mullo_epi16(_mm_and_si128(v, _mm_set1_epi32(0x003f03f0)),
                                 _mm_set1_epi32(0x01000010));
    __m128i idx = _mm_or_si128(hi, lo);
    /* 0..51 -> 0, 52..61 -> 1..10, 62 -> 11, 63 -> 12; then 0..25 -> 13 */
    __m128i cls = _mm_subs_epu8(idx, _mm_set1_epi8(51));
    __m128i upper = _mm_cmpgt_epi8(_mm_set1_epi8(26), idx);
    cls = _mm_or_si128(cls, _mm_and_si128(upper, _mm_set1_epi8(13)));
    return _mm_add_epi8(idx, _mm_shuffle_epi8(offsets, cls));
}

__attribute__((target("ssse3"))) static void mac_ssse3(const uint8_t mac[32],
                                                         char out[44])
{
    char last[16];
    _mm_storeu_si128((__m128i *)(void *)out,
                     enc12(_mm_loadu_si128((const __m128i *)(const void *)mac)));
    _mm_storeu_si128((__m128i *)(void *)(out + 16),
                     enc12(_mm_loadu_si128((const __m128i *)(const void *)(mac + 12))));
    /* Bytes 24..31 then zeros (load 16..31, shift right 8 bytes: never reads
     * past the MAC). The last group is (30, 31, 0), whose first three
     * characters are those of the 2-byte tail; the fourth becomes the padding. */
    _mm_storeu_si128((__m128i *)(void *)last,
                     enc12(_mm_srli_si128(
                         _mm_loadu_si128((const __m128i *)(const void *)(mac + 16)), 8)));
    memcpy(out + 32, last, 11);
    out[43] = '=';
}

static int ssse3_available(void)
{
    unsigned int a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 9));
}
#else
static void mac_ssse3(const uint8_t mac[32], char out[44])
{
    bf_base64_encode(mac, 32, out);
}

static int ssse3_available(void)
{
    return 0;
}
#endif

static void mac_scalar(const uint8_t mac[32], char out[44])
{
    bf_base64_encode(mac, 32, out);
}

static void (*g_mac)(const uint8_t *, char *) = mac_scalar;

int bf_base64_select(int simd)
{
    int use = simd && ssse3_available();
    BF_STORE(g_mac, use ? mac_ssse3 : mac_scalar);
    return use;
}

void bf_base64_mac(const uint8_t mac[32], char out[44])
{
    BF_LOAD(g_mac)(mac, out);
}
