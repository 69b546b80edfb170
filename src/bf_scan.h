/* A bounded cursor over untrusted bytes, and the JSON lexing built on it.
 *
 * Every read of exchange input in the C kernels goes through this header. The
 * rule (asyncpg's frb_read): check how many bytes are left, then read; short
 * input gives -1 (or an error), never a read past `end`. Header-only, static
 * inline, C99, no Python.h.
 */
#ifndef BF_SCAN_H
#define BF_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *start; /* first byte of the message (for offsets) */
    const uint8_t *p;     /* next byte to read */
    const uint8_t *end;   /* one past the last byte */
} bf_cur;

static inline void bf_cur_init(bf_cur *c, const void *data, size_t len)
{
    c->start = (const uint8_t *)data;
    c->p = c->start;
    c->end = c->start + len;
}

static inline size_t bf_cur_left(const bf_cur *c) { return (size_t)(c->end - c->p); }

static inline size_t bf_cur_offset(const bf_cur *c) { return (size_t)(c->p - c->start); }

/* The next byte, or -1 at the end. */
static inline int bf_peek(const bf_cur *c) { return c->p < c->end ? *c->p : -1; }

/* Consume `ch` if it is next. */
static inline int bf_eat(bf_cur *c, uint8_t ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* JSON insignificant whitespace: space, tab, LF, CR (nothing else). */
static inline void bf_skip_ws(bf_cur *c)
{
    while (c->p < c->end) {
        uint8_t ch = *c->p;
        if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t')
            break;
        c->p++;
    }
}

/* Consume the literal `lit` (e.g. "null") if the input holds all of it. */
static inline int bf_eat_lit(bf_cur *c, const char *lit, size_t n)
{
    if (bf_cur_left(c) < n || memcmp(c->p, lit, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static inline int bf_is_digit(int ch) { return ch >= '0' && ch <= '9'; }

static inline int bf_hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Length of the valid UTF-8 sequence starting at c->p (its first byte >= 0x80),
 * or 0 when it is invalid: overlong forms, surrogates, > U+10FFFF or truncated.
 * The same rules as orjson, so both reject the same bytes. */
static inline size_t bf_utf8_seq(const bf_cur *c)
{
    size_t left = bf_cur_left(c);
    const uint8_t *s = c->p;
    uint8_t b0 = s[0];
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        return (left >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (left < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (b0 == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (b0 == 0xED && s[1] >= 0xA0)
            return 0; /* UTF-16 surrogate */
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (left < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80)
            return 0;
        if (b0 == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (b0 == 0xF4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

#endif /* BF_SCAN_H */
