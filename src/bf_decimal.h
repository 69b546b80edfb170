/* ASCII decimal formatting of integers. Header-only (static inline), no Python.h. */
#ifndef BF_DECIMAL_H
#define BF_DECIMAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Enough for any int64 with its sign. */
#define BF_I64_MAX_DIGITS 20

static const char bf_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Exactly 8 digits of v < 10^8, leading zeros kept. */
static inline void bf_fmt_8digits(uint32_t v, char *out)
{
    uint32_t hi = v / 10000u, lo = v % 10000u;
    memcpy(out, bf_digit_pairs + 2 * (hi / 100u), 2);
    memcpy(out + 2, bf_digit_pairs + 2 * (hi % 100u), 2);
    memcpy(out + 4, bf_digit_pairs + 2 * (lo / 100u), 2);
    memcpy(out + 6, bf_digit_pairs + 2 * (lo % 100u), 2);
}

/* Digits of v < 10^8 without leading zeros (at least one digit); returns the count. */
static inline size_t bf_fmt_u32_small(uint32_t v, char *out)
{
    char tmp[8];
    size_t n;
    bf_fmt_8digits(v, tmp);
    for (n = 8; n > 1 && tmp[8 - n] == '0'; n--)
        ;
    memcpy(out, tmp + 8 - n, n);
    return n;
}

/* Decimal digits of v (with '-' when negative) into out, which holds at least
 * BF_I64_MAX_DIGITS bytes; returns the length. Splitting into 8-digit groups
 * gives short independent dependency chains: a 13-digit ms timestamp takes
 * two short chains instead of thirteen dependent divisions by ten. */
static inline size_t bf_fmt_i64(int64_t v, char *out)
{
    uint64_t u;
    size_t n = 0;
    if (v < 0) {
        out[n++] = '-';
        u = (uint64_t)0 - (uint64_t)v; /* well defined for INT64_MIN too */
    } else {
        u = (uint64_t)v;
    }
    if (u < 100000000u)
        return n + bf_fmt_u32_small((uint32_t)u, out + n);
    if (u < 10000000000000000u) {
        n += bf_fmt_u32_small((uint32_t)(u / 100000000u), out + n);
        bf_fmt_8digits((uint32_t)(u % 100000000u), out + n);
        return n + 8;
    }
    n += bf_fmt_u32_small((uint32_t)(u / 10000000000000000u), out + n);
    u %= 10000000000000000u;
    bf_fmt_8digits((uint32_t)(u / 100000000u), out + n);
    bf_fmt_8digits((uint32_t)(u % 100000000u), out + n + 8);
    return n + 16;
}

#endif /* BF_DECIMAL_H */
