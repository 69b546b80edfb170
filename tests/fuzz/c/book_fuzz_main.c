/* Standalone fuzz harness for src/bf_book.c: parse + apply + checksum, with invariants.
 *
 * Build it with the sanitizers and feed it sessions written by
 * tests/fuzz/test_book_fuzz.py (BITGET_FAST_FUZZ_CORPUS_DIR=dir):
 *
 *   gcc -std=c99 -Wall -Wextra -g -O1 -fsanitize=address,undefined \
 *       -fno-sanitize-recover=all -fno-omit-frame-pointer -Isrc \
 *       src/bf_book.c src/bf_crc32.c tests/fuzz/c/book_fuzz_main.c -o /tmp/book_fuzz
 *   /tmp/book_fuzz dir/session_*.bin          (or: /tmp/book_fuzz < one_session.bin)
 *   /tmp/book_fuzz -raw BTCUSDT msg1 msg2 ...  (each file is one message, applied in order)
 *   /tmp/book_fuzz -mutate SECONDS SEED dir/session_*.bin
 *       (replays the sessions with random byte mutations, at C speed, until SECONDS pass;
 *        the invariants below and the sanitizers are the oracle: no reference here)
 *
 * With clang, -DBF_LIBFUZZER -fsanitize=fuzzer,address,undefined gives a libFuzzer
 * target over the same session format.
 *
 * A session is a sequence of records <u32 little-endian length><bytes>: record 0 is the
 * symbol, record 1 the options ("strict", "lenient", or "places P V" for explicit
 * scales), every later record one message. Each message is copied into a buffer of
 * exactly its size, so a read past its end is caught by AddressSanitizer.
 *
 * After every message: on an error the book must be byte-for-byte what it was; always,
 * both sides strictly sorted, every level's mantissas equal to its strings at the book's
 * scales, no zero size, the cached checksum equal to a CRC32 of an independently built
 * text, and bf_book_crossed() right. Any violation aborts with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bf_book.h"
#include "bf_crc32.h"

static unsigned long long n_messages, n_ok, n_proto, n_nomem;

static void die(const char *what, size_t msg_index)
{
    fprintf(stderr, "book_fuzz: invariant broken after message %zu: %s\n", msg_index, what);
    abort();
}

/* Mantissa of a decimal string at `scale` decimals; -1 when not a decimal or too big. */
static int mantissa(const char *s, size_t n, int scale, int64_t *out)
{
    uint64_t acc = 0;
    size_t i;
    int frac = 0, point = 0, digits = 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (point || digits == 0)
                return -1;
            point = 1;
            continue;
        }
        if (ch < '0' || ch > '9')
            return -1;
        if (acc > (UINT64_MAX - 9) / 10)
            return -1;
        acc = acc * 10 + (uint64_t)(ch - '0');
        digits++;
        if (point)
            frac++;
    }
    if (digits == 0 || (point && s[n - 1] == '.') || frac > scale)
        return -1;
    for (; frac < scale; frac++) {
        if (acc > (uint64_t)INT64_MAX / 10)
            return -1;
        acc *= 10;
    }
    if (acc > (uint64_t)INT64_MAX)
        return -1;
    *out = (int64_t)acc;
    return 0;
}

static void check_side(const bf_side *s, int bid, const bf_book *b, size_t k)
{
    size_t i;
    if (s->n > s->cap)
        die("n > cap", k);
    for (i = 0; i < s->n; i++) {
        const bf_level *lv = &s->lv[i];
        int64_t pm, sm;
        if (i > 0 && s->lv[i - 1].key >= lv->key)
            die("side not strictly ascending", k);
        if (bid ? lv->key <= 0 : lv->key >= 0)
            die("key sign", k);
        if (lv->plen == 0 || lv->plen > BF_LEVEL_STR || lv->slen == 0 || lv->slen > BF_LEVEL_STR)
            die("string length", k);
        if (mantissa(lv->p, lv->plen, b->price_scale, &pm) != 0)
            die("price string is not a decimal that fits the scale", k);
        if (mantissa(lv->s, lv->slen, b->size_scale, &sm) != 0)
            die("size string is not a decimal that fits the scale", k);
        if (pm != (bid ? lv->key : -lv->key))
            die("price mantissa differs from its string", k);
        if (sm != lv->size)
            die("size mantissa differs from its string", k);
        if (sm == 0)
            die("zero size stored", k);
    }
}

static size_t put(char *o, const bf_level *lv)
{
    memcpy(o, lv->p, lv->plen);
    o[lv->plen] = ':';
    memcpy(o + lv->plen + 1, lv->s, lv->slen);
    o[lv->plen + 1 + lv->slen] = ':';
    return (size_t)lv->plen + lv->slen + 2;
}

static void check_book(bf_book *b, size_t k)
{
    static char mine[BF_CHECKSUM_TEXT + 64], theirs[BF_CHECKSUM_TEXT + 64];
    size_t n = 0, m, i;
    uint32_t u;
    int32_t want;
    if (b->price_scale < 0 || b->price_scale > BF_MAX_SCALE || b->size_scale < 0 ||
        b->size_scale > BF_MAX_SCALE)
        die("scale out of range", k);
    check_side(&b->bids, 1, b, k);
    check_side(&b->asks, 0, b, k);
    for (i = 0; i < BF_CHECKSUM_LEVELS; i++) {
        if (i < b->bids.n)
            n += put(mine + n, &b->bids.lv[b->bids.n - 1 - i]);
        if (i < b->asks.n)
            n += put(mine + n, &b->asks.lv[b->asks.n - 1 - i]);
    }
    if (n > 0)
        n--; /* no trailing ':' */
    m = bf_book_checksum_text(b, theirs);
    if (m != n || memcmp(mine, theirs, n) != 0)
        die("checksum text", k);
    u = bf_crc32(0, mine, n);
    want = u > 0x7FFFFFFFu ? (int32_t)(u - 0x80000000u) - 0x7FFFFFFF - 1 : (int32_t)u;
    if (bf_book_checksum(b) != want)
        die("cached checksum", k);
    if (bf_book_crossed(b) != (b->bids.n && b->asks.n &&
                               b->bids.lv[b->bids.n - 1].key >= -b->asks.lv[b->asks.n - 1].key))
        die("crossed", k);
}

/* A copy of everything apply() may change, to prove an error changed nothing. */
typedef struct {
    size_t nb, na;
    bf_level *bids, *asks;
    int ps, ss;
    uint64_t absent;
} snap;

static void take(snap *s, const bf_book *b)
{
    s->nb = b->bids.n;
    s->na = b->asks.n;
    s->bids = (bf_level *)malloc((s->nb + 1) * sizeof(bf_level));
    s->asks = (bf_level *)malloc((s->na + 1) * sizeof(bf_level));
    if (s->bids == NULL || s->asks == NULL) {
        fprintf(stderr, "book_fuzz: out of memory\n");
        exit(2);
    }
    if (s->nb)
        memcpy(s->bids, b->bids.lv, s->nb * sizeof(bf_level));
    if (s->na)
        memcpy(s->asks, b->asks.lv, s->na * sizeof(bf_level));
    s->ps = b->price_scale;
    s->ss = b->size_scale;
    s->absent = b->absent_deletes;
}

static int same_side(const bf_level *a, const bf_level *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (a[i].key != b[i].key || a[i].size != b[i].size || a[i].plen != b[i].plen ||
            a[i].slen != b[i].slen || memcmp(a[i].p, b[i].p, a[i].plen) != 0 ||
            memcmp(a[i].s, b[i].s, a[i].slen) != 0)
            return 0;
    }
    return 1;
}

static int unchanged(const snap *s, const bf_book *b)
{
    return s->nb == b->bids.n && s->na == b->asks.n && s->ps == b->price_scale &&
           s->ss == b->size_scale && s->absent == b->absent_deletes &&
           same_side(s->bids, b->bids.lv, s->nb) && same_side(s->asks, b->asks.lv, s->na);
}

static void apply_one(bf_book *b, const uint8_t *data, size_t len, const char *sym,
                      size_t symlen, size_t k)
{
    uint8_t *buf = (uint8_t *)malloc(len ? len : 1); /* exactly len: over-reads are caught */
    bf_err err;
    snap before;
    int rc;
    if (buf == NULL) {
        fprintf(stderr, "book_fuzz: out of memory\n");
        exit(2);
    }
    if (len)
        memcpy(buf, data, len);
    take(&before, b);
    n_messages++;
    rc = bf_book_parse(b, buf, len, sym, symlen, &err);
    if (rc == BF_OK)
        rc = bf_book_apply(b, buf, &err);
    if (rc == BF_OK) {
        n_ok++;
    } else {
        if (rc == BF_EPROTO) {
            n_proto++;
            if (err.offset > len)
                die("error offset past the end", k);
            if (memchr(err.msg, '\0', sizeof err.msg) == NULL || err.msg[0] == '\0')
                die("error message not set", k);
        } else if (rc == BF_ENOMEM) {
            n_nomem++;
        } else {
            die("unknown return code", k);
        }
        if (!unchanged(&before, b))
            die("an error changed the book", k);
    }
    check_book(b, k);
    free(before.bids);
    free(before.asks);
    free(buf);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Split a session into records; a short last record is taken as what is left. */
static size_t next_record(const uint8_t *data, size_t len, size_t *pos, const uint8_t **rec)
{
    size_t n;
    if (*pos + 4 > len) {
        *rec = data + *pos;
        n = len - *pos;
        *pos = len;
        return n;
    }
    n = rd32(data + *pos);
    *pos += 4;
    if (n > len - *pos)
        n = len - *pos;
    *rec = data + *pos;
    *pos += n;
    return n;
}

static void run_session(const uint8_t *data, size_t len)
{
    size_t pos = 0, symlen, optlen, n, k = 0;
    const uint8_t *sym, *opt, *rec;
    char symbol[64];
    int pp = -1, vp = -1;
    bf_book b;
    symlen = next_record(data, len, &pos, &sym);
    optlen = next_record(data, len, &pos, &opt);
    if (symlen == 0 || symlen >= sizeof symbol)
        symlen = 7, sym = (const uint8_t *)"BTCUSDT";
    memcpy(symbol, sym, symlen);
    symbol[symlen] = '\0';
    if (optlen > 7 && memcmp(opt, "places ", 7) == 0) {
        char tmp[32];
        size_t t = optlen < sizeof tmp - 1 ? optlen : sizeof tmp - 1;
        memcpy(tmp, opt, t);
        tmp[t] = '\0';
        if (sscanf(tmp + 7, "%d %d", &pp, &vp) != 2 || pp > BF_MAX_SCALE || vp > BF_MAX_SCALE)
            pp = vp = -1;
    }
    bf_book_init(&b, pp, vp);
    check_book(&b, 0);
    while (pos < len) {
        n = next_record(data, len, &pos, &rec);
        apply_one(&b, rec, n, symbol, symlen, ++k);
    }
    bf_book_free(&b);
}

#ifdef BF_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_session(data, size);
    return 0;
}
#else
static uint8_t *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = (uint8_t *)malloc(cap);
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *bigger = (uint8_t *)realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    buf = read_all(f, len);
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "book_fuzz: out of memory reading %s\n", path);
        exit(2);
    }
    return buf;
}

/* ---------------------------------------------------------------- -mutate */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static const char INTERESTING[] = "\"\\,]}{[0123456789.-eE+: \n\t\x7f/u";
static const char *const TOKENS[] = {
    "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "null", "true", "[]", "{}", "1E400",
    "-0", "\"0\"", "\"\"", "[[", "]]", "\xc3\xa9", "\xed\xa0\x80", "\xf0\x9f\x98\x80",
    "\xc0\x80", "\"seq\":1,", "\"checksum\":0,", "\"bids\":[],", "[\"1\",\"1\"],",
    "[\"0\",\"0\"]", "999999999999999999999", "0.0000000000000000001", "\"pseq\":5,",
    "\"action\":\"snapshot\",", "\"action\":\"update\",",
};

/* One mutation of msg (len bytes) into out (capacity cap); returns the new length. */
static size_t mutate_once(const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
                          const uint8_t *other, size_t olen)
{
    size_t i = below(len + 1), k, n;
    switch (below(9)) {
    case 0: /* bit flips */
        n = len < cap ? len : cap;
        memcpy(out, msg, n);
        for (k = 0; k < 1 + below(3) && n; k++)
            out[below(n)] ^= (uint8_t)(1u << below(8));
        return n;
    case 1: { /* an interesting or any byte */
        n = len < cap ? len : cap;
        memcpy(out, msg, n);
        if (n) {
            int r = (int)below(4);
            out[below(n)] = r == 0 ? (uint8_t)rnd()
                                   : (uint8_t)INTERESTING[below(sizeof INTERESTING - 1)];
        }
        return n;
    }
    case 2: { /* insert a token */
        const char *t = TOKENS[below(sizeof TOKENS / sizeof TOKENS[0])];
        size_t tl = strlen(t);
        if (len + tl > cap)
            break;
        memcpy(out, msg, i);
        memcpy(out + i, t, tl);
        memcpy(out + i + tl, msg + i, len - i);
        return len + tl;
    }
    case 3: /* delete a span */
        k = 1 + below(i < len ? (len - i < 64 ? len - i : 64) : 1);
        if (i >= len)
            break;
        if (i + k > len)
            k = len - i;
        memcpy(out, msg, i);
        memcpy(out + i, msg + i + k, len - i - k);
        return len - k;
    case 4: /* duplicate a span */
        if (i >= len)
            break;
        k = 1 + below(len - i < 128 ? len - i : 128);
        if (len + k > cap)
            break;
        memcpy(out, msg, i + k);
        memcpy(out + i + k, msg + i, len - i);
        return len + k;
    case 5: /* truncate */
        memcpy(out, msg, i);
        return i;
    case 6: { /* splice with another message */
        size_t j = below(olen + 1);
        if (i + (olen - j) > cap)
            break;
        memcpy(out, msg, i);
        memcpy(out + i, other + j, olen - j);
        return i + olen - j;
    }
    case 7: /* a digit changed */
        n = len < cap ? len : cap;
        memcpy(out, msg, n);
        for (k = 0; k < 8 && n; k++) {
            size_t at = below(n);
            if (out[at] >= '0' && out[at] <= '9') {
                out[at] = (uint8_t)('0' + below(10));
                break;
            }
        }
        return n;
    default: /* whitespace */
        if (len + 1 > cap)
            break;
        memcpy(out, msg, i);
        out[i] = (uint8_t)" \n\t\r"[below(4)];
        memcpy(out + i + 1, msg + i, len - i);
        return len + 1;
    }
    n = len < cap ? len : cap;
    memcpy(out, msg, n);
    return n;
}

typedef struct {
    const uint8_t *p;
    size_t n;
} span;

static void mutate_session(const uint8_t *data, size_t len, const span *pool, size_t npool)
{
    size_t pos = 0, symlen, optlen, n, k = 0, cap = 0;
    const uint8_t *sym, *opt, *rec;
    uint8_t *a = NULL, *b2 = NULL;
    char symbol[64];
    bf_book b;
    symlen = next_record(data, len, &pos, &sym);
    optlen = next_record(data, len, &pos, &opt);
    (void)optlen;
    if (symlen == 0 || symlen >= sizeof symbol)
        symlen = 7, sym = (const uint8_t *)"BTCUSDT";
    memcpy(symbol, sym, symlen);
    symbol[symlen] = '\0';
    if (below(4) == 0)
        bf_book_init(&b, (int)below(BF_MAX_SCALE + 1), (int)below(BF_MAX_SCALE + 1));
    else
        bf_book_init(&b, -1, -1);
    while (pos < len) {
        n = next_record(data, len, &pos, &rec);
        if (below(3) == 0) {
            size_t rounds = 1 + below(3), r;
            const span *o = &pool[below(npool)];
            if (cap < n + 4096 + o->n) {
                cap = (n + 4096 + o->n) * 2;
                free(a);
                free(b2);
                a = (uint8_t *)malloc(cap);
                b2 = (uint8_t *)malloc(cap);
                if (a == NULL || b2 == NULL) {
                    fprintf(stderr, "book_fuzz: out of memory\n");
                    exit(2);
                }
            }
            memcpy(a, rec, n);
            for (r = 0; r < rounds; r++) {
                n = mutate_once(a, n, b2, cap, o->p, o->n);
                memcpy(a, b2, n);
            }
            apply_one(&b, a, n, symbol, symlen, ++k);
        } else {
            apply_one(&b, rec, n, symbol, symlen, ++k);
        }
    }
    free(a);
    free(b2);
    bf_book_free(&b);
}

static int mutate_main(double seconds, uint64_t seed, int nfiles, char **files)
{
    uint8_t **data = (uint8_t **)calloc((size_t)nfiles, sizeof *data);
    size_t *lens = (size_t *)calloc((size_t)nfiles, sizeof *lens), npool = 0, cpool = 1024;
    span *pool = (span *)malloc(cpool * sizeof *pool);
    clock_t start = clock();
    unsigned long long sessions = 0;
    int i;
    if (data == NULL || lens == NULL || pool == NULL || nfiles == 0)
        return 2;
    rng_state = seed;
    for (i = 0; i < nfiles; i++) {
        size_t pos = 0, n;
        const uint8_t *rec;
        data[i] = read_file(files[i], &lens[i]);
        next_record(data[i], lens[i], &pos, &rec);
        next_record(data[i], lens[i], &pos, &rec);
        while (pos < lens[i]) {
            n = next_record(data[i], lens[i], &pos, &rec);
            if (npool == cpool) {
                span *bigger = (span *)realloc(pool, cpool * 2 * sizeof *pool);
                if (bigger == NULL)
                    return 2;
                pool = bigger;
                cpool *= 2;
            }
            pool[npool].p = rec;
            pool[npool++].n = n;
        }
    }
    if (npool == 0)
        return 2;
    while ((double)(clock() - start) / CLOCKS_PER_SEC < seconds) {
        i = (int)below((size_t)nfiles);
        mutate_session(data[i], lens[i], pool, npool);
        sessions++;
    }
    printf("book_fuzz -mutate: seed %llu, %llu sessions\n", (unsigned long long)seed, sessions);
    for (i = 0; i < nfiles; i++)
        free(data[i]);
    free(data);
    free(lens);
    free(pool);
    return 0;
}

int main(int argc, char **argv)
{
    int i;
    size_t len;
    uint8_t *data;
    if (argc >= 5 && strcmp(argv[1], "-mutate") == 0) {
        int rc = mutate_main(atof(argv[2]), strtoull(argv[3], NULL, 10), argc - 4, argv + 4);
        printf("book_fuzz: %llu messages: %llu applied, %llu ProtocolError, %llu ENOMEM\n",
               n_messages, n_ok, n_proto, n_nomem);
        return rc;
    }
    if (argc >= 3 && strcmp(argv[1], "-raw") == 0) {
        bf_book b;
        size_t symlen = strlen(argv[2]);
        bf_book_init(&b, -1, -1);
        for (i = 3; i < argc; i++) {
            data = read_file(argv[i], &len);
            apply_one(&b, data, len, argv[2], symlen, (size_t)i - 2);
            free(data);
        }
        bf_book_free(&b);
    } else if (argc < 2) {
        data = read_all(stdin, &len);
        if (data == NULL)
            return 2;
        run_session(data, len);
        free(data);
    } else {
        for (i = 1; i < argc; i++) {
            data = read_file(argv[i], &len);
            run_session(data, len);
            free(data);
        }
    }
    printf("book_fuzz: %llu messages: %llu applied, %llu ProtocolError, %llu ENOMEM\n",
           n_messages, n_ok, n_proto, n_nomem);
    return 0;
}
#endif
