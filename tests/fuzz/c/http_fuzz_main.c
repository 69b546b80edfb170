/* Standalone fuzz harness for src/bf_http.c: incremental framing with invariants.
 *
 * Build it with the sanitizers and the work counter, and feed it the streams
 * tests/fuzz/test_http_fuzz.py writes (BITGET_FAST_FUZZ_C=1 does both):
 *
 *   gcc -std=c99 -Wall -Wextra -g -O1 -fsanitize=address,undefined \
 *       -fno-sanitize-recover=all -fno-omit-frame-pointer -Isrc -DBF_HTTP_WORK=bf_http_work \
 *       src/bf_http.c tests/fuzz/c/http_fuzz_main.c -o /tmp/http_fuzz
 *   /tmp/http_fuzz streams.bin ...
 *   /tmp/http_fuzz --selftest
 *
 * A file is a sequence of records <u32 little-endian length><bytes>, each one byte stream
 * (one or more responses). Each stream is framed the way HttpConnection does it -- the
 * unconsumed bytes handed over again as more arrive, the bf_http_msg kept between calls on
 * the same response -- with several arrival sizes (1 byte, a few bytes, random splits, all at
 * once) and size limits. With random splits, a call is sometimes repeated on the same bytes or
 * made before `need` bytes are there (the state must stay right for the same or a longer
 * buffer). Every call gets a heap copy of exactly the bytes it may read, so a read past them
 * is caught by AddressSanitizer; the bodies are copied out (bf_http_dechunk into a buffer of
 * exactly body_len bytes).
 *
 * Checked at every call: MORE asks for more than it has and never comes with EOF; DONE
 * covers at most what it was given, its body fits in it and in the limit, and the framing
 * of the same bytes is the same whatever the arrival (responses, bodies, outcome, the error's
 * offset). The bytes the framer's scans look at (BF_HTTP_WORK) stay linear: at most
 * WORK_PER_BYTE per byte framed plus WORK_PER_CALL per call, however the bytes are split.
 * --selftest frames peers that trickle the worst cases one byte at a time (a 64 KiB head, long
 * chunk-size lines, a 64 KiB trailer line, many tiny chunks) and checks the same.
 * Any violation aborts with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf_http.h"

/* Bytes looked at by the framer's scans: src/bf_http.c counts them when built with
 * -DBF_HTTP_WORK=bf_http_work. */
unsigned long long bf_http_work;

/* The bound checked on every framing: each byte is scanned about once (the head's search
 * looks at 3 bytes again on each call, a chunk-size line's at most 15 digits are read again). */
#define WORK_PER_BYTE 2u
#define WORK_PER_CALL 32u

static unsigned long long n_streams, n_calls, n_done, n_error, n_work;

static void die(const char *what, size_t stream)
{
    fprintf(stderr, "http_fuzz: invariant broken in stream %zu: %s\n", stream, what);
    abort();
}

/* A digest of what was framed: statuses, keep-alive flags, bodies, the outcome. */
typedef struct {
    uint64_t hash;
    size_t responses;
    int error;
    const char *why; /* the error */
} outcome;

static void mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 1099511628211ull;
}

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (c == NULL) {
        fprintf(stderr, "http_fuzz: out of memory\n");
        exit(2);
    }
    if (n)
        memcpy(c, p, n);
    return c;
}

/* How the bytes arrive: `step` bytes at a time, or (step 0) in random pieces of 1..max bytes,
 * with calls sometimes repeated on the same bytes (`again`) or made before `need` (`eager`). */
typedef struct {
    size_t step;
    size_t max;
    uint64_t rng;
    int eager;
    int again;
} arrival;

static uint64_t rnd(arrival *a)
{
    a->rng ^= a->rng << 13;
    a->rng ^= a->rng >> 7;
    a->rng ^= a->rng << 17;
    return a->rng;
}

static size_t advance(arrival *a, size_t have, size_t n)
{
    size_t piece = a->step ? a->step : 1 + (size_t)(rnd(a) % a->max);
    return piece < n - have ? have + piece : n;
}

/* Frame data[0..n) as it arrives, then EOF. `copy`: give each call a heap copy of exactly
 * the bytes it may read (else the stream itself, for long trickled streams). */
static outcome frame(const uint8_t *data, size_t n, arrival a, size_t max_body, size_t id,
                     int copy)
{
    outcome o = {14695981039346656037ull, 0, 0, NULL};
    bf_http_msg m;
    memset(&m, 0, sizeof m);
    size_t off = 0, have = 0, need = 0, last = 0;
    unsigned long long calls = 0, work0 = bf_http_work;
    for (;;) {
        int eof = have == n;
        size_t len = have - off;
        if (!eof && (a.eager ? len <= last : len < need)) {
            /* what HttpConnection does: wait for `need` bytes (eager: for any new byte) */
            have = advance(&a, have, n);
            continue;
        }
        if (len == 0) {
            if (eof)
                break; /* a clean end between responses */
            have = advance(&a, have, n);
            continue;
        }
        uint8_t *buf = copy ? copy_of(data + off, len) : (uint8_t *)(data + off);
        int r = bf_http_frame(buf, len, eof, max_body, &m);
        calls++;
        if (r == BF_HTTP_MORE && a.again && rnd(&a) % 4 == 0) {
            /* the same bytes again: the same answer, from the state the last call left */
            size_t need1 = m.need;
            r = bf_http_frame(buf, len, eof, max_body, &m);
            calls++;
            if (r != BF_HTTP_MORE || m.need != need1)
                die("a call repeated on the same bytes gives another answer", id);
        }
        if (r == BF_HTTP_MORE) {
            if (eof)
                die("MORE at EOF", id);
            if (m.need <= len)
                die("MORE without asking for more bytes", id);
            need = m.need;
            last = len;
            if (copy)
                free(buf);
            have = advance(&a, have, n);
            continue;
        }
        if (r == BF_HTTP_ERROR) {
            if (m.error == NULL || m.error_at > len)
                die("ERROR without a reason or beyond the buffer", id);
            if (copy)
                free(buf);
            o.error = 1;
            o.why = m.error;
            mix(&o.hash, m.error, strlen(m.error));
            mix(&o.hash, &m.error_at, sizeof m.error_at);
            break;
        }
        if (r != BF_HTTP_DONE)
            die("unknown result", id);
        if (m.total == 0 || m.total > len || m.head_len == 0 || m.head_len > m.total)
            die("DONE beyond the buffer", id);
        if (m.body_len > max_body)
            die("body over the limit", id);
        if (m.status < 100 || m.status > 999 || m.status == 101 || (m.minor != 0 && m.minor != 1))
            die("bad status or version", id);
        if (m.status >= 200) {
            uint8_t *body = malloc(m.body_len ? m.body_len : 1);
            if (body == NULL)
                exit(2);
            if (m.chunked) {
                bf_http_dechunk(buf, &m, body);
            } else {
                size_t at = bf_http_body_offset(&m);
                if (at + m.body_len > m.total)
                    die("body beyond the response", id);
                if (m.body_len)
                    memcpy(body, buf + at, m.body_len);
            }
            int st = m.status, ka = m.keep_alive;
            mix(&o.hash, &st, sizeof st);
            mix(&o.hash, &ka, sizeof ka);
            mix(&o.hash, &m.body_len, sizeof m.body_len);
            mix(&o.hash, body, m.body_len);
            free(body);
            o.responses++;
        } else if (m.body_len != 0 || m.chunked || m.until_eof) {
            die("interim response with a body", id);
        }
        n_done++;
        off += m.total;
        if (copy)
            free(buf);
        memset(&m, 0, sizeof m);
        need = last = 0;
    }
    unsigned long long work = bf_http_work - work0;
    if (work > WORK_PER_BYTE * (unsigned long long)n + WORK_PER_CALL * calls) {
        fprintf(stderr, "http_fuzz: %llu bytes scanned for %zu bytes in %llu calls\n", work, n,
                calls);
        die("the scans look at the bytes more than once", id);
    }
    n_calls += calls;
    n_work += work;
    if (o.error)
        n_error++;
    return o;
}

static void same_outcome(outcome a, outcome b, size_t id)
{
    if (a.hash != b.hash || a.responses != b.responses || a.error != b.error)
        die("framing depends on how the bytes arrive", id);
}

static void one_stream(const uint8_t *data, size_t n, size_t id)
{
    static const size_t limits[] = {(size_t)64 << 20, 1000, 17, 0};
    static const size_t maxes[] = {2, 9, 300, 5000};
    n_streams++;
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        arrival whole = {n ? n : 1, 0, 0, 0, 0};
        outcome all = frame(data, n, whole, limits[k], id, 1);
        const size_t steps[] = {1, 3, 64};
        for (size_t s = 0; s < 3; s++) {
            if (n > 4096 && steps[s] == 1)
                continue; /* each call gets a copy: long streams are split coarser */
            arrival a = {steps[s], 0, 0, 0, 0};
            same_outcome(all, frame(data, n, a, limits[k], id, 1), id);
        }
        for (int s = 0; s < 2; s++) {
            uint64_t seed = ((uint64_t)id * 4 + k) * 2 + (uint64_t)s + 1;
            arrival a = {0, 0, seed * 0x9E3779B97F4A7C15ull | 1, 0, 0};
            a.max = maxes[rnd(&a) % 4];
            if (n > 4096 && a.max < 64)
                a.max = 64;
            a.eager = (int)(rnd(&a) & 1);
            a.again = (int)(rnd(&a) & 1);
            same_outcome(all, frame(data, n, a, limits[k], id, 1), id);
        }
    }
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    size_t id = 0;
    for (;;) {
        uint8_t hdr[4];
        if (fread(hdr, 1, 4, f) != 4)
            break;
        size_t n = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 |
                   (size_t)hdr[3] << 24;
        uint8_t *data = malloc(n ? n : 1);
        if (data == NULL || fread(data, 1, n, f) != n) {
            fprintf(stderr, "http_fuzz: %s: truncated record %zu\n", path, id);
            fclose(f);
            free(data);
            return 1;
        }
        one_stream(data, n, id++);
        free(data);
    }
    fclose(f);
    return 0;
}

/* --selftest: the worst cases for rescanning, trickled one byte per call. */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} text;

static void put(text *t, const void *p, size_t n)
{
    if (t->n + n > t->cap) {
        t->cap = 2 * (t->n + n);
        t->p = realloc(t->p, t->cap);
        if (t->p == NULL)
            exit(2);
    }
    memcpy(t->p + t->n, p, n);
    t->n += n;
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

static void put_n(text *t, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(t, &c, 1);
}

/* Frame t's stream all at once and one byte per call: the same, `want` responses, or
 * refused with an error containing `why`. */
static void trickle(const char *name, text *t, size_t max_body, const char *why, size_t want)
{
    /* exactly the stream's bytes on the heap: a read past them is caught */
    uint8_t *data = copy_of(t->p, t->n);
    arrival whole = {t->n, 0, 0, 0, 0}, one = {1, 0, 0, 0, 0};
    outcome all = frame(data, t->n, whole, max_body, 0, 1);
    unsigned long long before = bf_http_work, calls = n_calls;
    outcome o = frame(data, t->n, one, max_body, 0, 0);
    printf("http_fuzz --selftest: %-34s %7zu bytes, %6llu calls, %8llu bytes scanned\n", name,
           t->n, n_calls - calls, bf_http_work - before);
    same_outcome(all, o, 0);
    if (o.responses != want || o.error != (why != NULL) ||
        (why != NULL && strstr(o.why, why) == NULL))
        die(name, 0);
    free(data);
    t->n = 0;
}

static int selftest(void)
{
    text t = {NULL, 0, 0};
    char line[64];

    /* a head just under 64 KiB, in short header lines */
    puts_(&t, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; t.n < BF_HTTP_MAX_HEAD - 64; i++) {
        snprintf(line, sizeof line, "X-%05d: v\r\n", i);
        puts_(&t, line);
    }
    puts_(&t, "Content-Length: 2\r\n\r\nok");
    trickle("64 KiB head of short lines", &t, 100, NULL, 1);

    /* one header value of almost 64 KiB */
    puts_(&t, "HTTP/1.1 200 OK\r\nX: ");
    put_n(&t, 'v', BF_HTTP_MAX_HEAD - 64);
    puts_(&t, "\r\nContent-Length: 2\r\n\r\nok");
    trickle("64 KiB header value", &t, 100, NULL, 1);

    /* no end to the head: refused at 64 KiB */
    puts_(&t, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; t.n < BF_HTTP_MAX_HEAD + 100; i++)
        puts_(&t, "X: y\r\n");
    trickle("endless head", &t, 100, "head is over 64 KiB", 0);

    /* chunk-size lines of the longest extensions */
    puts_(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 12; i++) {
        puts_(&t, "00000000000001;");
        put_n(&t, 'e', BF_HTTP_MAX_CHUNK_LINE - 15);
        puts_(&t, "\r\nx\r\n");
    }
    puts_(&t, "0\r\n\r\n");
    trickle("4 KiB chunk-size lines", &t, 100, NULL, 1);

    /* a chunk-size line that goes on */
    puts_(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 ;");
    put_n(&t, 'e', 3 * BF_HTTP_MAX_CHUNK_LINE);
    trickle("endless chunk-size line", &t, 100, "chunk size line too long", 0);

    /* one trailer line of almost 64 KiB, then many short ones */
    puts_(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: ");
    put_n(&t, 't', BF_HTTP_MAX_HEAD - 64);
    puts_(&t, "\r\n\r\n");
    trickle("64 KiB trailer line", &t, 100, NULL, 1);
    puts_(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n");
    for (int i = 0; i < 5000; i++)
        puts_(&t, "T: v\r\n");
    puts_(&t, "\r\n");
    trickle("many trailer lines", &t, 100, NULL, 1);
    puts_(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: ");
    put_n(&t, 't', 2 * BF_HTTP_MAX_HEAD);
    trickle("endless trailer line", &t, 100, "trailers are over 64 KiB", 0);

    /* 1-byte chunks with 4 KiB extensions: the raw chunked body is bounded by
     * 2 * max_body + BF_HTTP_CHUNKED_SLACK (here 65736 bytes for 17 body bytes), not max_body */
    puts_(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 17; i++) {
        puts_(&t, "1;");
        put_n(&t, 'e', BF_HTTP_MAX_CHUNK_LINE - 2);
        puts_(&t, "\r\nx\r\n");
    }
    puts_(&t, "0\r\n\r\n");
    trickle("tiny chunks, long extensions", &t, 100, "chunked body (with its chunk lines)", 0);

    /* many one-byte chunks, in pipelined responses */
    for (int r = 0; r < 4; r++) {
        puts_(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 3000; i++)
            puts_(&t, "1\r\nx\r\n");
        puts_(&t, "0\r\n\r\n");
    }
    trickle("one-byte chunks", &t, 5000, NULL, 4);

    free(t.p);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= strcmp(argv[i], "--selftest") == 0 ? selftest() : run_file(argv[i]);
    printf("http_fuzz: %llu streams, %llu calls, %llu responses framed, %llu framings refused, "
           "%llu bytes scanned\n", n_streams, n_calls, n_done, n_error, n_work);
    return rc;
}
