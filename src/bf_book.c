/* Bitget order book: books* message parser, level storage, checksum. See bf_book.h. */
#include "bf_book.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf_crc32.h"
#include "bf_scan.h"

#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#include <emmintrin.h> /* baseline on x86-64: no run-time dispatch needed */
#define BF_SSE2 1
#endif

/* The checksum text copies BF_LEVEL_STR bytes from each string field at once
 * (fixed-size copies compile to a few moves); that is only in bounds because a
 * level is exactly these fields, with s[] last. */
typedef char bf_level_is_64_bytes[(sizeof(bf_level) == 64) ? 1 : -1];
typedef char bf_level_s_is_last[(offsetof(bf_level, s) + BF_LEVEL_STR == sizeof(bf_level)) ? 1 : -1];

static const int64_t POW10[BF_MAX_SCALE + 1] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL,
    1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL,
    100000000000000LL, 1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL,
};

int64_t bf_pow10(int k) { return (k >= 0 && k <= BF_MAX_SCALE) ? POW10[k] : 0; }

/* ---------------------------------------------------------------- errors */

typedef struct {
    bf_cur c;
    bf_err *err;
    bf_book *b;
} parser;

static int fail_at(bf_err *err, size_t offset, const char *fmt, ...)
{
    va_list ap;
    err->offset = offset;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return BF_EPROTO;
}

#define FAIL(P, ...) fail_at((P)->err, bf_cur_offset(&(P)->c), __VA_ARGS__)
/* The bytes are not JSON at all (as opposed to JSON that is not a books message). */
#define SYNTAX(P, ...) ((P)->err->not_json = 1, FAIL(P, __VA_ARGS__))

/* ---------------------------------------------------------------- JSON lexing */

static int read_hex4(bf_cur *c, unsigned *out)
{
    unsigned v = 0;
    int i;
    if (bf_cur_left(c) < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        int h = bf_hex_value(c->p[i]);
        if (h < 0)
            return -1;
        v = (v << 4) | (unsigned)h;
    }
    c->p += 4;
    *out = v;
    return 0;
}

/* A JSON string at the opening quote: validated (escapes, surrogate pairs,
 * UTF-8, no control characters) and returned as the raw span between the quotes. */
static int scan_string(parser *P, const uint8_t **out, size_t *len, int *esc)
{
    bf_cur *c = &P->c;
    const uint8_t *s;
    c->p++; /* the opening quote, checked by the caller */
    s = c->p;
    *esc = 0;
    for (;;) {
        int ch;
#ifdef BF_SSE2
        /* 16 bytes at a time while 16 remain: stop at '"', '\\', a control byte or a
         * non-ASCII byte (signed < 0x20 catches both), then finish byte by byte. */
        while (bf_cur_left(c) >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)c->p);
            __m128i hit = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            unsigned mask = (unsigned)_mm_movemask_epi8(hit);
            if (mask) {
                c->p += __builtin_ctz(mask);
                break;
            }
            c->p += 16;
        }
#endif
        while (c->p < c->end) {
            ch = *c->p;
            if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x80)
                break;
            c->p++;
        }
        if (c->p >= c->end)
            return SYNTAX(P, "unterminated string");
        ch = *c->p;
        if (ch == '"') {
            *out = s;
            *len = (size_t)(c->p - s);
            c->p++;
            return BF_OK;
        }
        if (ch == '\\') {
            *esc = 1;
            c->p++;
            switch (bf_peek(c)) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                c->p++;
                break;
            case 'u': {
                unsigned cp, lo;
                c->p++;
                if (read_hex4(c, &cp) < 0)
                    return SYNTAX(P, "invalid \\u escape in string");
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return SYNTAX(P, "lone low surrogate in string");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (!bf_eat_lit(c, "\\u", 2) || read_hex4(c, &lo) < 0 || lo < 0xDC00 ||
                        lo > 0xDFFF)
                        return SYNTAX(P, "high surrogate without a low surrogate in string");
                }
                break;
            }
            default:
                return SYNTAX(P, "invalid escape in string");
            }
            continue;
        }
        if (ch < 0x20)
            return SYNTAX(P, "control character in string");
        {
            size_t k = bf_utf8_seq(c);
            if (k == 0)
                return SYNTAX(P, "invalid UTF-8 in string");
            c->p += k;
        }
    }
}

/* Append the UTF-8 encoding of code point cp (< 0x110000). */
static size_t put_utf8(unsigned cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static unsigned hex4_at(const uint8_t *s)
{
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++)
        v = (v << 4) | (unsigned)bf_hex_value(s[i]);
    return v;
}

/* Does the string span (already validated by scan_string) decode to lit? */
static int str_equals(const uint8_t *s, size_t len, int esc, const char *lit, size_t litlen)
{
    const uint8_t *e = s + len;
    size_t k = 0;
    if (!esc)
        return len == litlen && memcmp(s, lit, len) == 0;
    while (s < e) {
        uint8_t tmp[4];
        size_t n = 1;
        if (*s != '\\') {
            tmp[0] = *s++;
        } else {
            s++;
            switch (*s) {
            case 'b': tmp[0] = '\b'; s++; break;
            case 'f': tmp[0] = '\f'; s++; break;
            case 'n': tmp[0] = '\n'; s++; break;
            case 'r': tmp[0] = '\r'; s++; break;
            case 't': tmp[0] = '\t'; s++; break;
            case 'u': {
                unsigned cp = hex4_at(s + 1);
                s += 5;
                if (cp >= 0xD800 && cp <= 0xDBFF) { /* validated: \uDCxx follows */
                    unsigned lo = hex4_at(s + 2);
                    s += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                n = put_utf8(cp, tmp);
                break;
            }
            default: tmp[0] = *s++; break; /* " \ / */
            }
        }
        if (k + n > litlen || memcmp(lit + k, tmp, n) != 0)
            return 0;
        k += n;
    }
    return k == litlen;
}

/* A JSON number. *is_int: no fraction or exponent; *fits: an integer in int64. */
static int scan_number(parser *P, int *is_int, int *fits, int64_t *value)
{
    bf_cur *c = &P->c;
    uint64_t acc = 0;
    int neg = bf_eat(c, '-'), ovf = 0;
    if (!bf_is_digit(bf_peek(c)))
        return SYNTAX(P, "invalid number");
    if (*c->p == '0') {
        c->p++;
        if (bf_is_digit(bf_peek(c)))
            return SYNTAX(P, "number with a leading zero");
    } else {
        while (bf_is_digit(bf_peek(c))) {
            unsigned d = (unsigned)(*c->p - '0');
            if (acc > (UINT64_MAX - d) / 10)
                ovf = 1;
            else
                acc = acc * 10 + d;
            c->p++;
        }
    }
    *is_int = 1;
    if (bf_eat(c, '.')) {
        *is_int = 0;
        if (!bf_is_digit(bf_peek(c)))
            return SYNTAX(P, "invalid number: no digit after the point");
        while (bf_is_digit(bf_peek(c)))
            c->p++;
    }
    if (bf_peek(c) == 'e' || bf_peek(c) == 'E') {
        *is_int = 0;
        c->p++;
        if (bf_peek(c) == '+' || bf_peek(c) == '-')
            c->p++;
        if (!bf_is_digit(bf_peek(c)))
            return SYNTAX(P, "invalid number: no digit in the exponent");
        while (bf_is_digit(bf_peek(c)))
            c->p++;
    }
    *fits = !ovf && (neg ? acc <= (uint64_t)INT64_MAX + 1 : acc <= (uint64_t)INT64_MAX);
    if (*fits)
        *value = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    return BF_OK;
}

/* Validate and skip one JSON value; `depth` containers are open around it. */
static int skip_value(parser *P, int depth)
{
    bf_cur *c = &P->c;
    const uint8_t *s;
    size_t n;
    int esc, rc;
    bf_skip_ws(c);
    switch (bf_peek(c)) {
    case '{':
        if (depth >= BF_MAX_DEPTH)
            return SYNTAX(P, "JSON nested deeper than %d levels", BF_MAX_DEPTH);
        c->p++;
        bf_skip_ws(c);
        if (bf_eat(c, '}'))
            return BF_OK;
        for (;;) {
            bf_skip_ws(c);
            if (bf_peek(c) != '"')
                return SYNTAX(P, "expected an object key");
            if ((rc = scan_string(P, &s, &n, &esc)) != BF_OK)
                return rc;
            bf_skip_ws(c);
            if (!bf_eat(c, ':'))
                return SYNTAX(P, "expected ':' after an object key");
            if ((rc = skip_value(P, depth + 1)) != BF_OK)
                return rc;
            bf_skip_ws(c);
            if (bf_eat(c, ','))
                continue;
            if (bf_eat(c, '}'))
                return BF_OK;
            return SYNTAX(P, "expected ',' or '}' in an object");
        }
    case '[':
        if (depth >= BF_MAX_DEPTH)
            return SYNTAX(P, "JSON nested deeper than %d levels", BF_MAX_DEPTH);
        c->p++;
        bf_skip_ws(c);
        if (bf_eat(c, ']'))
            return BF_OK;
        for (;;) {
            if ((rc = skip_value(P, depth + 1)) != BF_OK)
                return rc;
            bf_skip_ws(c);
            if (bf_eat(c, ','))
                continue;
            if (bf_eat(c, ']'))
                return BF_OK;
            return SYNTAX(P, "expected ',' or ']' in a list");
        }
    case '"':
        return scan_string(P, &s, &n, &esc);
    case 't':
        return bf_eat_lit(c, "true", 4) ? BF_OK : SYNTAX(P, "expected a JSON value");
    case 'f':
        return bf_eat_lit(c, "false", 5) ? BF_OK : SYNTAX(P, "expected a JSON value");
    case 'n':
        return bf_eat_lit(c, "null", 4) ? BF_OK : SYNTAX(P, "expected a JSON value");
    default: {
        int is_int, fits;
        int64_t v;
        int ch = bf_peek(c);
        if (ch == '-' || bf_is_digit(ch))
            return scan_number(P, &is_int, &fits, &v);
        return SYNTAX(P, ch < 0 ? "unexpected end of the message" : "expected a JSON value");
    }
    }
}

/* ---------------------------------------------------------------- fields */

typedef struct {
    const uint8_t *s;
    size_t len;
    int esc;
    int state; /* 0 absent, 1 a string, 2 another JSON value */
    size_t offset;
} str_field;

static int read_str_field(parser *P, str_field *f, int depth)
{
    f->offset = bf_cur_offset(&P->c);
    if (bf_peek(&P->c) == '"') {
        f->state = 1;
        return scan_string(P, &f->s, &f->len, &f->esc);
    }
    f->state = 2;
    return skip_value(P, depth);
}

/* An integer field: a JSON integer or a string of an optional '-' and digits.
 * null means absent. */
static int read_int_field(parser *P, const char *name, int *has, int64_t *out)
{
    bf_cur *c = &P->c;
    size_t at = bf_cur_offset(c);
    int ch = bf_peek(c);
    if (ch == 'n' && bf_eat_lit(c, "null", 4)) {
        *has = 0;
        return BF_OK;
    }
    if (ch == '"') {
        const uint8_t *s;
        size_t n, i = 0;
        int esc, rc, neg;
        uint64_t acc = 0, lim;
        if ((rc = scan_string(P, &s, &n, &esc)) != BF_OK)
            return rc;
        neg = n > 0 && s[0] == '-';
        i = (size_t)neg;
        lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (esc || i == n)
            return fail_at(P->err, at, "'%s' is not an integer", name);
        for (; i < n; i++) {
            unsigned d;
            if (!bf_is_digit(s[i]))
                return fail_at(P->err, at, "'%s' is not an integer", name);
            d = (unsigned)(s[i] - '0');
            if (acc > (lim - d) / 10)
                return fail_at(P->err, at, "'%s' does not fit in int64", name);
            acc = acc * 10 + d;
        }
        *out = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
        *has = 1;
        return BF_OK;
    }
    if (ch == '-' || bf_is_digit(ch)) {
        int is_int, fits, rc;
        if ((rc = scan_number(P, &is_int, &fits, out)) != BF_OK)
            return rc;
        if (!is_int)
            return fail_at(P->err, at, "'%s' is not an integer", name);
        if (!fits)
            return fail_at(P->err, at, "'%s' does not fit in int64", name);
        *has = 1;
        return BF_OK;
    }
    if (ch < 0)
        return SYNTAX(P, "unexpected end of the message");
    return fail_at(P->err, at, "'%s' is not an integer", name);
}

/* The push time: recorded when it is an integer, ignored (but validated JSON) otherwise. */
static int read_ts_field(parser *P, int *has, int64_t *out)
{
    bf_cur save = P->c;
    int ch = bf_peek(&P->c);
    if (ch == '"' || ch == '-' || bf_is_digit(ch)) {
        if (read_int_field(P, "ts", has, out) == BF_OK)
            return BF_OK;
        /* not an integer: skip it instead. Only the flag must be undone; the text
         * and offset are rewritten by any later failure. */
        P->err->not_json = 0;
        P->c = save;
    }
    *has = 0;
    return skip_value(P, 3);
}

/* A price or size: a JSON string of digits with at most one '.' followed by
 * digits; at most 18 significant digits, 18 decimals and BF_LEVEL_STR bytes.
 * Hot: one pass to find the shape, then one to accumulate (no overflow checks
 * are needed once the digit count is known). */
static int read_decimal(parser *P, const char *side, size_t i, const char *what,
                        const char **str, uint8_t *slen, int64_t *mant, uint8_t *frac)
{
    bf_cur *c = &P->c;
    size_t at = bf_cur_offset(c);
    const uint8_t *s, *q, *e = c->end, *point = NULL;
    uint64_t acc = 0;
    size_t n, f = 0, sig = 0;
    if (bf_peek(c) != '"')
        return fail_at(P->err, at, "%s[%zu] %s is not a JSON string (book levels are decimal "
                       "strings)", side, i, what);
    s = q = c->p + 1;
    while (q < e && (unsigned)(*q - '0') < 10u)
        q++;
    if (q == s)
        goto bad;
    if (q < e && *q == '.') {
        point = q++;
        while (q < e && (unsigned)(*q - '0') < 10u)
            q++;
        f = (size_t)(q - point - 1);
        if (f == 0)
            goto bad;
    }
    if (q >= e || *q != '"')
        goto bad;
    n = (size_t)(q - s);
    if (n > BF_LEVEL_STR)
        return fail_at(P->err, at, "%s[%zu] %s is longer than %d characters", side, i, what,
                       BF_LEVEL_STR);
    if (f > BF_MAX_SCALE)
        return fail_at(P->err, at, "%s[%zu] %s has more than %d decimals", side, i, what,
                       BF_MAX_SCALE);
    {
        const uint8_t *d = s;
        while (d < q && (*d == '0' || *d == '.'))
            d++; /* leading zeros are not significant */
        sig = (size_t)(q - d) - (point != NULL && point >= d);
        if (sig > BF_MAX_SCALE)
            return fail_at(P->err, at, "%s[%zu] %s has more than %d significant digits", side,
                           i, what, BF_MAX_SCALE);
        for (; d < q; d++)
            if (*d != '.')
                acc = acc * 10 + (uint64_t)(*d - '0');
    }
    c->p = q + 1;
    *str = (const char *)s;
    *slen = (uint8_t)n;
    *mant = (int64_t)acc;
    *frac = (uint8_t)f;
    return BF_OK;
bad:
    return fail_at(P->err, at, "%s[%zu] %s is not a non-negative decimal string", side, i,
                   what);
}

static int raw_side_push(bf_raw_side *rs, bf_raw_level **out)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        bf_raw_level *v = (bf_raw_level *)realloc(rs->v, cap * sizeof *v);
        if (v == NULL)
            return BF_ENOMEM;
        rs->v = v;
        rs->cap = cap;
    }
    *out = &rs->v[rs->n++];
    return BF_OK;
}

static int read_levels(parser *P, const char *side, bf_raw_side *rs, int *pscale, int *sscale)
{
    bf_cur *c = &P->c;
    size_t i = 0;
    int rc;
    rs->n = 0; /* a repeated key: the last one wins, as in any JSON object */
    c->p++;     /* '[' */
    bf_skip_ws(c);
    if (bf_eat(c, ']'))
        return BF_OK;
    for (;; i++) {
        bf_raw_level *L;
        size_t at;
        bf_skip_ws(c);
        at = bf_cur_offset(c);
        if (!bf_eat(c, '['))
            return FAIL(P, "%s[%zu] is not a [price, size] pair", side, i);
        if ((rc = raw_side_push(rs, &L)) != BF_OK)
            return rc;
        bf_skip_ws(c);
        if ((rc = read_decimal(P, side, i, "price", &L->p, &L->plen, &L->pm, &L->pf)) != BF_OK)
            return rc;
        bf_skip_ws(c);
        if (!bf_eat(c, ','))
            return fail_at(P->err, at, "%s[%zu] is not a [price, size] pair", side, i);
        bf_skip_ws(c);
        if ((rc = read_decimal(P, side, i, "size", &L->s, &L->slen, &L->sm, &L->sf)) != BF_OK)
            return rc;
        bf_skip_ws(c);
        if (!bf_eat(c, ']'))
            return fail_at(P->err, at, "%s[%zu] is not a [price, size] pair", side, i);
        if (L->pm == 0)
            return fail_at(P->err, at, "%s[%zu] price is zero", side, i);
        if (L->pf > *pscale)
            *pscale = L->pf;
        if (L->sf > *sscale)
            *sscale = L->sf;
        bf_skip_ws(c);
        if (bf_eat(c, ','))
            continue;
        if (bf_eat(c, ']'))
            return BF_OK;
        return SYNTAX(P, "expected ',' or ']' after %s[%zu]", side, i);
    }
}

/* k[0..n) == lit[0..n) for n <= 8 known at compile time: two register loads, no
 * call into libc's memcmp (keys are compared on every member of every message). */
static inline uint64_t bf_load_small(const uint8_t *p, size_t n)
{
    /* Built from byte loads and shifts (folded when n is a constant): a memcpy into a
     * zeroed 8-byte local makes gcc go through the stack and stall store forwarding. */
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline int bf_eq_small(const uint8_t *k, const char *lit, size_t n)
{
    return bf_load_small(k, n) == bf_load_small((const uint8_t *)lit, n);
}

static int key_is(const uint8_t *k, size_t n, int esc, const char *lit)
{
    return str_equals(k, n, esc, lit, strlen(lit));
}

/* The keys the parsers look for, recognised with one switch on the length
 * (every key of every message goes through here). */
enum { K_OTHER, K_ACTION, K_ARG, K_DATA, K_TS, K_BIDS, K_ASKS, K_SEQ, K_PSEQ, K_CHECKSUM,
       K_CHANNEL, K_INSTID, K_EVENT };

static int key_id(const uint8_t *k, size_t n, int esc)
{
    static const char *const names[] = {"", "action", "arg", "data", "ts", "bids", "asks",
                                        "seq", "pseq", "checksum", "channel", "instId",
                                        "event"};
    if (esc) { /* escaped keys (never sent by Bitget): compare decoded */
        int id;
        for (id = K_ACTION; id <= K_EVENT; id++)
            if (key_is(k, n, esc, names[id]))
                return id;
        return K_OTHER;
    }
#define KEY(lit, id) if (bf_eq_small(k, lit, sizeof(lit) - 1)) return id
    switch (n) {
    case 2: KEY("ts", K_TS); break;
    case 3: KEY("arg", K_ARG); KEY("seq", K_SEQ); break;
    case 4: KEY("bids", K_BIDS); KEY("asks", K_ASKS); KEY("data", K_DATA); KEY("pseq", K_PSEQ);
            break;
    case 5: KEY("event", K_EVENT); break;
    case 6: KEY("action", K_ACTION); KEY("instId", K_INSTID); break;
    case 7: KEY("channel", K_CHANNEL); break;
    case 8: KEY("checksum", K_CHECKSUM); break;
    default: break;
    }
#undef KEY
    return K_OTHER;
}

static int read_key(parser *P, const uint8_t **k, size_t *n, int *esc)
{
    int rc;
    bf_skip_ws(&P->c);
    if (bf_peek(&P->c) != '"')
        return SYNTAX(P, "expected an object key");
    if ((rc = scan_string(P, k, n, esc)) != BF_OK)
        return rc;
    bf_skip_ws(&P->c);
    if (!bf_eat(&P->c, ':'))
        return SYNTAX(P, "expected ':' after an object key");
    bf_skip_ws(&P->c);
    return BF_OK;
}

/* After a member: ',' (1, more follow), the closing byte (0) or an error. */
static int next_member(parser *P, uint8_t close, const char *where)
{
    bf_skip_ws(&P->c);
    if (bf_eat(&P->c, ','))
        return 1;
    if (bf_eat(&P->c, close))
        return 0;
    return SYNTAX(P, "expected ',' or '%c' in %s", close, where);
}

static int read_arg(parser *P, str_field *channel, str_field *inst)
{
    const uint8_t *k;
    size_t n;
    int esc, rc;
    P->c.p++; /* '{' */
    bf_skip_ws(&P->c);
    if (bf_eat(&P->c, '}'))
        return BF_OK;
    do {
        if ((rc = read_key(P, &k, &n, &esc)) != BF_OK)
            return rc;
        switch (key_id(k, n, esc)) {
        case K_CHANNEL: rc = read_str_field(P, channel, 2); break;
        case K_INSTID: rc = read_str_field(P, inst, 2); break;
        default: rc = skip_value(P, 2); break;
        }
        if (rc != BF_OK)
            return rc;
    } while ((rc = next_member(P, '}', "'arg'")) == 1);
    return rc;
}

static int read_entry(parser *P)
{
    bf_msg *m = &P->b->msg;
    const uint8_t *k;
    size_t n, at = bf_cur_offset(&P->c);
    int esc, rc;
    P->c.p++; /* '{' */
    bf_skip_ws(&P->c);
    if (!bf_eat(&P->c, '}')) {
        do {
            if ((rc = read_key(P, &k, &n, &esc)) != BF_OK)
                return rc;
            int id = key_id(k, n, esc);
            if (id == K_BIDS || id == K_ASKS) {
                const char *name = id == K_BIDS ? "bids" : "asks";
                if (bf_peek(&P->c) != '[')
                    return FAIL(P, "'%s' must be a list of [price, size] pairs", name);
                rc = read_levels(P, name, id == K_BIDS ? &m->bids : &m->asks, &m->pscale,
                                 &m->sscale);
            } else if (id == K_SEQ) {
                rc = read_int_field(P, "seq", &m->has_seq, &m->seq);
            } else if (id == K_PSEQ) {
                rc = read_int_field(P, "pseq", &m->has_pseq, &m->pseq);
            } else if (id == K_CHECKSUM) {
                size_t cat = bf_cur_offset(&P->c);
                rc = read_int_field(P, "checksum", &m->has_checksum, &m->checksum);
                if (rc == BF_OK && m->has_checksum) {
                    if (m->checksum < -0x80000000LL || m->checksum > 0xFFFFFFFFLL)
                        return fail_at(P->err, cat, "checksum %lld is not a 32-bit value",
                                       (long long)m->checksum);
                    if (m->checksum > 0x7FFFFFFFLL) /* sent unsigned: compare as signed */
                        m->checksum -= 0x100000000LL;
                }
            } else if (id == K_TS) {
                rc = read_ts_field(P, &m->has_ts, &m->ts_ms);
            } else {
                rc = skip_value(P, 3);
            }
            if (rc != BF_OK)
                return rc;
        } while ((rc = next_member(P, '}', "the 'data' object")) == 1);
        if (rc != 0)
            return rc;
    }
    if (m->has_pseq && !m->has_seq)
        return fail_at(P->err, at, "'pseq' without 'seq'");
    return BF_OK;
}

static void reset_data(bf_msg *m)
{
    m->has_seq = m->has_pseq = m->has_checksum = m->has_ts = 0;
    m->seq = m->pseq = m->checksum = m->ts_ms = 0;
    m->pscale = m->sscale = 0;
    m->bids.n = m->asks.n = 0;
}

static int read_data(parser *P, int *state)
{
    bf_cur *c = &P->c;
    size_t at = bf_cur_offset(c);
    int rc;
    reset_data(&P->b->msg);
    c->p++; /* '[' */
    bf_skip_ws(c);
    if (bf_peek(c) != '{')
        return fail_at(P->err, at, "'data' must be a list holding exactly one object");
    if ((rc = read_entry(P)) != BF_OK)
        return rc;
    bf_skip_ws(c);
    if (!bf_eat(c, ']'))
        return fail_at(P->err, at, "'data' must be a list holding exactly one object");
    *state = 1;
    return BF_OK;
}

static int channel_code(const str_field *ch)
{
    static const struct {
        const char *name;
        int code;
    } known[] = {
        {"books", BF_CH_BOOKS}, {"books1", BF_CH_BOOKS1}, {"books5", BF_CH_BOOKS5},
        {"books15", BF_CH_BOOKS15}, {"trade", BF_CH_TRADE}, {"ticker", BF_CH_TICKER},
    };
    size_t i;
    if (ch->state != 1)
        return BF_CH_UNKNOWN;
    if (!ch->esc) { /* the usual case, without a libc call */
        const uint8_t *c = ch->s;
        switch (ch->len) {
        case 5: return bf_eq_small(c, "books", 5) ? BF_CH_BOOKS
                     : bf_eq_small(c, "trade", 5) ? BF_CH_TRADE : BF_CH_OTHER;
        case 6: return bf_eq_small(c, "books1", 6) ? BF_CH_BOOKS1
                     : bf_eq_small(c, "books5", 6) ? BF_CH_BOOKS5
                     : bf_eq_small(c, "ticker", 6) ? BF_CH_TICKER : BF_CH_OTHER;
        case 7: return bf_eq_small(c, "books15", 7) ? BF_CH_BOOKS15 : BF_CH_OTHER;
        default: return BF_CH_OTHER;
        }
    }
    for (i = 0; i < sizeof known / sizeof known[0]; i++)
        if (key_is(ch->s, ch->len, ch->esc, known[i].name))
            return known[i].code;
    return BF_CH_OTHER;
}

int bf_book_parse(bf_book *b, const uint8_t *raw, size_t len, const char *symbol,
                  size_t symbol_len, bf_err *err)
{
    parser P;
    bf_msg *m = &b->msg;
    str_field action = {0}, channel = {0}, inst = {0};
    size_t arg_at = 0, data_at = 0;
    int arg_state = 0, data_state = 0, rc;
    const uint8_t *k;
    size_t n;
    int esc;

    P.err = err;
    P.b = b;
    bf_cur_init(&P.c, raw, len);
    err->offset = 0;
    err->not_json = 0;
    err->msg[0] = '\0';
    reset_data(m);
    m->channel = BF_CH_UNKNOWN;
    m->snapshot = 0;

    bf_skip_ws(&P.c);
    if (!bf_eat(&P.c, '{'))
        return bf_peek(&P.c) == '[' || bf_peek(&P.c) == '"' || bf_peek(&P.c) == '-' ||
               bf_is_digit(bf_peek(&P.c)) || bf_peek(&P.c) == 't' || bf_peek(&P.c) == 'f' ||
               bf_peek(&P.c) == 'n'
                   ? FAIL(&P, "expected a JSON object")
                   : SYNTAX(&P, bf_peek(&P.c) < 0 ? "empty message" : "expected a JSON value");
    bf_skip_ws(&P.c);
    if (!bf_eat(&P.c, '}')) {
        do {
            if ((rc = read_key(&P, &k, &n, &esc)) != BF_OK)
                return rc;
            int id = key_id(k, n, esc);
            if (id == K_ACTION) {
                rc = read_str_field(&P, &action, 1);
            } else if (id == K_ARG) {
                arg_at = bf_cur_offset(&P.c);
                channel.state = inst.state = 0; /* a repeated key: the last one wins */
                if (bf_peek(&P.c) == '{') {
                    arg_state = 1;
                    rc = read_arg(&P, &channel, &inst);
                } else {
                    arg_state = 2;
                    rc = skip_value(&P, 1);
                }
            } else if (id == K_DATA) {
                data_at = bf_cur_offset(&P.c);
                if (bf_peek(&P.c) == '[') {
                    rc = read_data(&P, &data_state);
                } else {
                    reset_data(m);
                    data_state = 2;
                    rc = skip_value(&P, 1);
                }
            } else {
                rc = skip_value(&P, 1);
            }
            if (rc != BF_OK)
                return rc;
        } while ((rc = next_member(&P, '}', "the message object")) == 1);
        if (rc != 0)
            return rc;
    }
    bf_skip_ws(&P.c);
    if (P.c.p != P.c.end)
        return SYNTAX(&P, "unexpected bytes after the JSON object");

    /* The message is well-formed JSON; now what it says. */
    if (arg_state != 1)
        return fail_at(err, arg_at, "no 'arg' object (not a channel push)");
    if (channel.state == 1) {
        int code = channel_code(&channel);
        if (code == BF_CH_BOOKS || code == BF_CH_BOOKS1 || code == BF_CH_BOOKS5 ||
            code == BF_CH_BOOKS15)
            m->channel = code;
    }
    if (m->channel == BF_CH_UNKNOWN)
        return fail_at(err, channel.state ? channel.offset : arg_at,
                       "arg.channel is not a book channel (books, books1, books15, books5)");
    if (inst.state != 1 || !str_equals(inst.s, inst.len, inst.esc, symbol, symbol_len))
        return fail_at(err, inst.state ? inst.offset : arg_at,
                       "arg.instId is not this book's symbol");
    if (m->channel == BF_CH_BOOKS) {
        if (action.state == 1 && !action.esc && action.len == 6 &&
            bf_eq_small(action.s, "update", 6))
            m->snapshot = 0;
        else if (action.state == 1 && key_is(action.s, action.len, action.esc, "snapshot"))
            m->snapshot = 1;
        else if (action.state == 1 && action.esc && key_is(action.s, action.len, 1, "update"))
            m->snapshot = 0;
        else
            return fail_at(err, action.offset, "action is neither 'snapshot' nor 'update'");
    } else {
        m->snapshot = 1; /* books1/5/15: every push is the full top N */
    }
    if (data_state != 1)
        return fail_at(err, data_at, "'data' must be a list holding exactly one object");
    return BF_OK;
}

/* ---------------------------------------------------------------- levels */

void bf_book_init(bf_book *b, int price_scale, int size_scale)
{
    memset(b, 0, sizeof *b);
    b->price_scale = b->base_price_scale = price_scale < 0 ? 0 : price_scale;
    b->size_scale = b->base_size_scale = size_scale < 0 ? 0 : size_scale;
    b->crc_dirty = 1;
}

void bf_book_free(bf_book *b)
{
    free(b->bids.lv);
    free(b->asks.lv);
    free(b->msg.bids.v);
    free(b->msg.asks.v);
    free(b->order);
    memset(b, 0, sizeof *b);
}

size_t bf_book_memory(const bf_book *b)
{
    return (b->bids.cap + b->asks.cap) * sizeof(bf_level) +
           (b->msg.bids.cap + b->msg.asks.cap) * sizeof(bf_raw_level) +
           b->order_cap * sizeof(*b->order) + sizeof *b;
}

/* Room for `need` levels. A side far larger than needed (after a huge
 * snapshot) shrinks back, so one absurd message does not pin memory. */
static int side_reserve(bf_side *s, size_t need, int may_shrink)
{
    size_t cap;
    bf_level *lv;
    if (need <= s->cap) {
        if (!may_shrink || s->cap <= 1024 || s->cap / 4 <= need)
            return BF_OK;
        cap = need < 64 ? 64 : need * 2;
    } else {
        cap = s->cap * 2 > need ? s->cap * 2 : need;
        if (cap < 64)
            cap = 64;
    }
    if (cap > SIZE_MAX / sizeof(bf_level))
        return BF_ENOMEM;
    lv = (bf_level *)realloc(s->lv, cap * sizeof(bf_level));
    if (lv == NULL)
        return need <= s->cap ? BF_OK : BF_ENOMEM; /* a failed shrink is harmless */
    s->lv = lv;
    s->cap = cap;
    return BF_OK;
}

static inline void set_level(bf_level *lv, const bf_raw_level *r, int64_t key, int64_t size)
{
    lv->key = key;
    lv->size = size;
    lv->plen = r->plen;
    lv->slen = r->slen;
    memcpy(lv->p, r->p, r->plen);
    memcpy(lv->s, r->s, r->slen);
}

/* First index whose key is >= key. Most changes are within a few levels of the
 * best (the end): a short linear walk down from it (predictable branches) before
 * falling back to a binary search of the rest. */
#define BF_LINEAR_PROBE 8
static inline size_t lower_bound(const bf_side *s, int64_t key)
{
    size_t lo = 0, hi = s->n, k;
    for (k = 0; k < BF_LINEAR_PROBE && hi > 0; k++, hi--)
        if (s->lv[hi - 1].key < key)
            return hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->lv[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline int64_t scaled(int64_t m, int from, int to) { return m * POW10[to - from]; }

static int fits(int64_t m, int from, int to) { return m <= INT64_MAX / POW10[to - from]; }

typedef struct bf_sort_ent sort_ent;

static int cmp_ent(const void *a, const void *b)
{
    const sort_ent *x = (const sort_ent *)a, *y = (const sort_ent *)b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static void fill_snapshot(bf_book *b, bf_side *s, const bf_raw_side *rs, int bid)
{
    size_t i, n = 0, j;
    int ps = b->price_scale, ss = b->size_scale, sorted = 1;
    /* Bitget lists best first; stored best last: walk the message backwards. */
    for (i = rs->n; i-- > 0;) {
        const bf_raw_level *r = &rs->v[i];
        int64_t key;
        if (r->sm == 0)
            continue; /* a zero size in a snapshot: nothing there */
        key = scaled(r->pm, r->pf, ps);
        key = bid ? key : -key;
        if (n > 0 && s->lv[n - 1].key >= key)
            sorted = 0;
        set_level(&s->lv[n++], r, key, scaled(r->sm, r->sf, ss));
    }
    s->n = n;
    if (sorted)
        return;
    /* Out of order or repeated prices (never seen from Bitget): sort by price
     * and keep the last occurrence of each, as applying them in order would. */
    n = 0;
    for (i = 0; i < rs->n; i++) {
        const bf_raw_level *r = &rs->v[i];
        int64_t key;
        if (r->sm == 0)
            continue;
        key = scaled(r->pm, r->pf, ps);
        b->order[n].key = bid ? key : -key;
        b->order[n].idx = i;
        n++;
    }
    qsort(b->order, n, sizeof(sort_ent), cmp_ent);
    for (i = 0, j = 0; i < n; i++) {
        const bf_raw_level *r;
        if (i + 1 < n && b->order[i + 1].key == b->order[i].key)
            continue;
        r = &rs->v[b->order[i].idx];
        set_level(&s->lv[j++], r, b->order[i].key, scaled(r->sm, r->sf, ss));
    }
    s->n = j;
}

static void update_side(bf_book *b, bf_side *s, const bf_raw_side *rs, int bid)
{
    size_t i;
    int ps = b->price_scale, ss = b->size_scale;
    for (i = 0; i < rs->n; i++) {
        const bf_raw_level *r = &rs->v[i];
        int64_t key = scaled(r->pm, r->pf, ps);
        size_t at, n = s->n;
        int found;
        key = bid ? key : -key;
        at = lower_bound(s, key);
        found = at < n && s->lv[at].key == key;
        if (r->sm == 0) {
            if (!found) {
                b->absent_deletes++;
                continue;
            }
            if (n - 1 - at < BF_CHECKSUM_LEVELS)
                b->crc_dirty = 1;
            memmove(&s->lv[at], &s->lv[at + 1], (n - at - 1) * sizeof(bf_level));
            s->n = n - 1;
        } else {
            if (!found) {
                memmove(&s->lv[at + 1], &s->lv[at], (n - at) * sizeof(bf_level));
                s->n = ++n;
            }
            if (n - 1 - at < BF_CHECKSUM_LEVELS)
                b->crc_dirty = 1;
            set_level(&s->lv[at], r, key, scaled(r->sm, r->sf, ss));
        }
    }
}

static int check_fits(const bf_raw_side *rs, int ps, int ss, const char *side, bf_err *err,
                      const uint8_t *raw)
{
    size_t i;
    for (i = 0; i < rs->n; i++) {
        const bf_raw_level *r = &rs->v[i];
        if (!fits(r->pm, r->pf, ps) || !fits(r->sm, r->sf, ss))
            return fail_at(err, (size_t)((const uint8_t *)r->p - raw),
                           "%s[%zu] does not fit in int64 at %d price / %d size decimals",
                           side, i, ps, ss);
    }
    return BF_OK;
}

int bf_book_apply(bf_book *b, const uint8_t *raw, bf_err *err)
{
    bf_msg *m = &b->msg;
    /* A snapshot replaces every level, so its scale starts again from the configured
     * one: one message with many decimals must not make later large prices unfit. */
    int ps0 = m->snapshot ? b->base_price_scale : b->price_scale;
    int ss0 = m->snapshot ? b->base_size_scale : b->size_scale;
    int ps = m->pscale > ps0 ? m->pscale : ps0;
    int ss = m->sscale > ss0 ? m->sscale : ss0;
    size_t i;
    int rc;

    /* 1. Everything that can fail, before the first write. */
    if ((rc = check_fits(&m->bids, ps, ss, "bids", err, raw)) != BF_OK ||
        (rc = check_fits(&m->asks, ps, ss, "asks", err, raw)) != BF_OK)
        return rc;
    if (m->snapshot) {
        size_t most = m->bids.n > m->asks.n ? m->bids.n : m->asks.n;
        /* grow only: shrinking before the last allocation could fail would leave a side
         * smaller than its count; oversized sides shrink after the fill */
        if (side_reserve(&b->bids, m->bids.n, 0) != BF_OK ||
            side_reserve(&b->asks, m->asks.n, 0) != BF_OK)
            return BF_ENOMEM;
        if (most > b->order_cap) {
            sort_ent *o = (sort_ent *)realloc(b->order, most * sizeof(sort_ent));
            if (o == NULL)
                return BF_ENOMEM;
            b->order = o;
            b->order_cap = most;
        }
    } else {
        if (ps > b->price_scale) {
            int64_t top = 0;
            if (b->bids.n)
                top = b->bids.lv[b->bids.n - 1].key;
            if (b->asks.n && -b->asks.lv[0].key > top)
                top = -b->asks.lv[0].key;
            if (!fits(top, b->price_scale, ps))
                return fail_at(err, 0, "the book's prices do not fit in int64 at %d decimals",
                               ps);
        }
        if (ss > b->size_scale) {
            for (i = 0; i < b->bids.n; i++)
                if (!fits(b->bids.lv[i].size, b->size_scale, ss))
                    return fail_at(err, 0, "the book's sizes do not fit in int64 at %d "
                                   "decimals", ss);
            for (i = 0; i < b->asks.n; i++)
                if (!fits(b->asks.lv[i].size, b->size_scale, ss))
                    return fail_at(err, 0, "the book's sizes do not fit in int64 at %d "
                                   "decimals", ss);
        }
        if (side_reserve(&b->bids, b->bids.n + m->bids.n, 0) != BF_OK ||
            side_reserve(&b->asks, b->asks.n + m->asks.n, 0) != BF_OK)
            return BF_ENOMEM;
    }

    /* 2. Writes. */
    if (m->snapshot) {
        b->price_scale = ps;
        b->size_scale = ss;
        fill_snapshot(b, &b->bids, &m->bids, 1);
        fill_snapshot(b, &b->asks, &m->asks, 0);
        (void)side_reserve(&b->bids, b->bids.n, 1); /* a failed shrink is harmless */
        (void)side_reserve(&b->asks, b->asks.n, 1);
        b->crc_dirty = 1;
        return BF_OK;
    }
    if (ps > b->price_scale) {
        int64_t mul = POW10[ps - b->price_scale];
        for (i = 0; i < b->bids.n; i++)
            b->bids.lv[i].key *= mul;
        for (i = 0; i < b->asks.n; i++)
            b->asks.lv[i].key *= mul;
        b->price_scale = ps;
    }
    if (ss > b->size_scale) {
        int64_t mul = POW10[ss - b->size_scale];
        for (i = 0; i < b->bids.n; i++)
            b->bids.lv[i].size *= mul;
        for (i = 0; i < b->asks.n; i++)
            b->asks.lv[i].size *= mul;
        b->size_scale = ss;
    }
    update_side(b, &b->bids, &m->bids, 1);
    update_side(b, &b->asks, &m->asks, 0);
    return BF_OK;
}

/* ---------------------------------------------------------------- checksum */

/* Strings of up to 16 bytes (nearly all) move as one 16-byte copy. */
static inline char *put_str(char *o, const char *s, size_t n)
{
    if (n <= 16)
        memcpy(o, s, 16);
    else
        memcpy(o, s, BF_LEVEL_STR);
    o[n] = ':';
    return o + n + 1;
}

static inline char *put_level(char *o, const bf_level *lv)
{
    o = put_str(o, lv->p, lv->plen);
    return put_str(o, lv->s, lv->slen);
}

size_t bf_book_checksum_text(const bf_book *b, char *out)
{
    char *o = out;
    size_t nb = b->bids.n, na = b->asks.n, i;
    const bf_level *bid = b->bids.lv + nb, *ask = b->asks.lv + na;
    for (i = 0; i < BF_CHECKSUM_LEVELS; i++) {
        if (i < nb)
            o = put_level(o, --bid);
        if (i < na)
            o = put_level(o, --ask);
    }
    return o > out ? (size_t)(o - out) - 1 : 0; /* no trailing ':' */
}

int32_t bf_book_checksum(bf_book *b)
{
    if (b->crc_dirty) {
        char text[BF_CHECKSUM_TEXT];
        size_t n = bf_book_checksum_text(b, text);
        uint32_t u = bf_crc32(0, text, n);
        /* Bitget compares as signed 32-bit; spelled out (no implementation-defined cast). */
        b->crc = u > 0x7FFFFFFFu ? (int32_t)(u - 0x80000000u) - 0x7FFFFFFF - 1 : (int32_t)u;
        b->crc_dirty = 0;
    }
    return b->crc;
}

int bf_book_crossed(const bf_book *b)
{
    return b->bids.n && b->asks.n && b->bids.lv[b->bids.n - 1].key >= -b->asks.lv[b->asks.n - 1].key;
}

/* ---------------------------------------------------------------- routing */

int bf_route_message(const uint8_t *raw, size_t len, bf_route *r, bf_err *err)
{
    parser P;
    str_field channel = {0}, inst = {0};
    const uint8_t *k;
    size_t n;
    int esc, rc, arg_seen = 0;

    P.err = err;
    P.b = NULL;
    bf_cur_init(&P.c, raw, len);
    err->offset = 0;
    err->not_json = 0;
    err->msg[0] = '\0';
    memset(r, 0, sizeof *r);
    r->channel = BF_CH_UNKNOWN;

    bf_skip_ws(&P.c);
    if (!bf_eat(&P.c, '{'))
        return SYNTAX(&P, bf_peek(&P.c) < 0 ? "empty message" : "expected a JSON object");
    bf_skip_ws(&P.c);
    if (!bf_eat(&P.c, '}')) {
        do {
            if ((rc = read_key(&P, &k, &n, &esc)) != BF_OK)
                return rc;
            int id = key_id(k, n, esc);
            if (id == K_EVENT) {
                r->kind = BF_ROUTE_EVENT;
                return BF_OK;
            }
            /* A push once its arg is known and its payload starts: the rest is
             * validated by whoever parses it (the book parser reads it all). */
            if (arg_seen && (id == K_DATA || id == K_ACTION))
                break;
            if (id == K_ARG) {
                channel.state = inst.state = 0;
                arg_seen = bf_peek(&P.c) == '{';
                rc = arg_seen ? read_arg(&P, &channel, &inst) : skip_value(&P, 1);
            } else {
                rc = skip_value(&P, 1);
            }
            if (rc != BF_OK)
                return rc;
        } while ((rc = next_member(&P, '}', "the message object")) == 1);
        if (rc < 0)
            return rc;
    }
    if (!arg_seen)
        return fail_at(err, 0, "neither a channel push (no 'arg' object) nor an event");
    r->kind = BF_ROUTE_PUSH;
    r->channel = channel_code(&channel);
    if (inst.state == 1) {
        r->inst = inst.s;
        r->inst_len = inst.len;
        r->inst_esc = inst.esc;
    }
    if (channel.state == 1) {
        r->chan = channel.s;
        r->chan_len = channel.len;
    }
    return BF_OK;
}
