/* Standalone fuzz harness for src/bf_http.c: incremental framing with invariants.
 *
 * Build it with the sanitizers and feed it the streams tests/fuzz/test_http_fuzz.py writes
 * (BITGET_FAST_FUZZ_C=1 does both):
 *
 *   gcc -std=c99 -Wall -Wextra -g -O1 -fsanitize=address,undefined \
 *       -fno-sanitize-recover=all -fno-omit-frame-pointer -Isrc \
 *       src/bf_http.c tests/fuzz/c/http_fuzz_main.c -o /tmp/http_fuzz
 *   /tmp/http_fuzz streams.bin ...
 *
 * A file is a sequence of records <u32 little-endian length><bytes>, each one byte stream
 * (one or more responses). Each stream is framed the way HttpConnection does it -- the
 * unconsumed bytes handed over again as more arrive, the bf_http_msg kept between calls on
 * the same response -- with several arrival sizes (1 byte, a few bytes, all at once) and
 * size limits. Every call gets a heap copy of exactly the bytes it may read, so a read past
 * them is caught by AddressSanitizer; the bodies are copied out (bf_http_dechunk into a
 * buffer of exactly body_len bytes).
 *
 * Checked at every call: MORE asks for more than it has and never comes with EOF; DONE
 * covers at most what it was given, its body fits in it and in the limit, and the framing
 * of the same bytes is the same whatever the arrival size (responses, bodies, outcome).
 * Any violation aborts with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf_http.h"

static unsigned long long n_streams, n_calls, n_done, n_error;

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

/* Frame data[0..n) arriving `step` bytes at a time, then EOF. */
static outcome frame(const uint8_t *data, size_t n, size_t step, size_t max_body, size_t id)
{
    outcome o = {14695981039346656037ull, 0, 0};
    bf_http_msg m;
    memset(&m, 0, sizeof m);
    size_t off = 0, have = 0, need = 0;
    for (;;) {
        int eof = have == n;
        size_t len = have - off;
        if (!eof && len < need) { /* what HttpConnection does: wait for `need` bytes */
            have = have + step < n ? have + step : n;
            continue;
        }
        if (len == 0) {
            if (eof)
                break; /* a clean end between responses */
            have = have + step < n ? have + step : n;
            continue;
        }
        uint8_t *buf = copy_of(data + off, len);
        int r = bf_http_frame(buf, len, eof, max_body, &m);
        n_calls++;
        if (r == BF_HTTP_MORE) {
            if (eof)
                die("MORE at EOF", id);
            if (m.need <= len)
                die("MORE without asking for more bytes", id);
            need = m.need;
            free(buf);
            have = have + step < n ? have + step : n;
            continue;
        }
        if (r == BF_HTTP_ERROR) {
            if (m.error == NULL || m.error_at > len)
                die("ERROR without a reason or beyond the buffer", id);
            free(buf);
            o.error = 1;
            mix(&o.hash, m.error, strlen(m.error));
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
        free(buf);
        memset(&m, 0, sizeof m);
        need = 0;
    }
    if (o.error)
        n_error++;
    return o;
}

static void one_stream(const uint8_t *data, size_t n, size_t id)
{
    static const size_t limits[] = {(size_t)64 << 20, 1000, 17, 0};
    n_streams++;
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        outcome all = frame(data, n, n ? n : 1, limits[k], id);
        const size_t steps[] = {1, 3, 64};
        for (size_t s = 0; s < 3; s++) {
            if (n > 4096 && steps[s] == 1)
                continue; /* quadratic: long streams are split coarser */
            outcome o = frame(data, n, steps[s], limits[k], id);
            if (o.hash != all.hash || o.responses != all.responses || o.error != all.error)
                die("framing depends on how the bytes arrive", id);
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

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= run_file(argv[i]);
    printf("http_fuzz: %llu streams, %llu calls, %llu responses framed, %llu framings refused\n",
           n_streams, n_calls, n_done, n_error);
    return rc;
}
