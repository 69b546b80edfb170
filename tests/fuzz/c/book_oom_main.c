/* Allocation-failure harness for src/bf_book.c: every realloc/malloc inside the book can
 * be made to fail, and an error must still leave the book exactly as it was (bf_book.h:
 * "on error nothing changed"), readable without any out-of-bounds access.
 *
 *   gcc -std=c99 -Wall -Wextra -g -O1 -fsanitize=address,undefined \
 *       -fno-sanitize-recover=all -Isrc -Wl,--wrap=realloc \
 *       src/bf_book.c src/bf_crc32.c tests/fuzz/c/book_oom_main.c -o /tmp/book_oom
 *   /tmp/book_oom
 *
 * Only the book's own allocations are wrapped (--wrap applies to the objects that call
 * realloc: bf_book.c). Scenarios: a deep book receiving a small snapshot (its sides
 * shrink) whose other side or sort scratch cannot be allocated; updates that need room.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf_book.h"

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static long fail_countdown = -1; /* fail the realloc call when it reaches 0; -1: never */
static long calls;

void *__wrap_realloc(void *p, size_t n)
{
    calls++;
    if (fail_countdown >= 0 && fail_countdown-- == 0)
        return NULL;
    return __real_realloc(p, n);
}

static char *build(const char *action, int nbids, int nasks, int unsorted)
{
    size_t cap = 64 + (size_t)(nbids + nasks) * 32, n = 0;
    char *s = (char *)malloc(cap);
    int i;
    n += (size_t)sprintf(s + n, "{\"action\":\"%s\",\"arg\":{\"channel\":\"books\","
                         "\"instId\":\"BTCUSDT\"},\"data\":[{\"bids\":[", action);
    for (i = 0; i < nbids; i++) {
        int k = unsorted ? (i * 7919) % nbids : i;
        n += (size_t)sprintf(s + n, "%s[\"%d.5\",\"1\"]", i ? "," : "", 50000 - k);
    }
    n += (size_t)sprintf(s + n, "],\"asks\":[");
    for (i = 0; i < nasks; i++)
        n += (size_t)sprintf(s + n, "%s[\"%d.5\",\"2\"]", i ? "," : "", 60000 + i);
    sprintf(s + n, "]}]}");
    return s;
}

/* The sides and scales as they are, to compare after a failed apply. */
typedef struct {
    size_t nb, na;
    int64_t first_bid, last_bid;
    int ps, ss;
} shape;

static shape shape_of(const bf_book *b)
{
    shape s;
    s.nb = b->bids.n;
    s.na = b->asks.n;
    /* not read when n > cap: that is the bug being looked for, reported by the caller */
    s.first_bid = s.nb && s.nb <= b->bids.cap ? b->bids.lv[0].key : 0;
    s.last_bid = s.nb && s.nb <= b->bids.cap ? b->bids.lv[s.nb - 1].key : 0;
    s.ps = b->price_scale;
    s.ss = b->size_scale;
    return s;
}

/* Read every level (ASan reports any that is outside its array). */
static int64_t touch(const bf_book *b)
{
    int64_t sum = 0;
    size_t i;
    if (b->bids.n > b->bids.cap || b->asks.n > b->asks.cap) {
        fprintf(stderr, "book_oom: n > cap (bids %zu/%zu, asks %zu/%zu)\n", b->bids.n,
                b->bids.cap, b->asks.n, b->asks.cap);
        abort();
    }
    for (i = 0; i < b->bids.n; i++)
        sum += b->bids.lv[i].key + b->bids.lv[i].size;
    for (i = 0; i < b->asks.n; i++)
        sum += b->asks.lv[i].key + b->asks.lv[i].size;
    return sum;
}

static int run(const char *name, const char *setup, const char *msg)
{
    long k;
    int failures = 0;
    for (k = 0;; k++) {
        bf_book b;
        bf_err err;
        shape before, after;
        int rc;
        bf_book_init(&b, -1, -1);
        fail_countdown = -1;
        if (bf_book_parse(&b, (const uint8_t *)setup, strlen(setup), "BTCUSDT", 7, &err) != BF_OK ||
            bf_book_apply(&b, (const uint8_t *)setup, &err) != BF_OK) {
            fprintf(stderr, "book_oom: %s: setup failed: %s\n", name, err.msg);
            abort();
        }
        before = shape_of(&b);
        calls = 0;
        fail_countdown = k;
        rc = bf_book_parse(&b, (const uint8_t *)msg, strlen(msg), "BTCUSDT", 7, &err);
        if (rc == BF_OK)
            rc = bf_book_apply(&b, (const uint8_t *)msg, &err);
        fail_countdown = -1;
        if (rc == BF_ENOMEM) {
            after = shape_of(&b);
            if (memcmp(&before, &after, sizeof before) != 0 || b.bids.n > b.bids.cap ||
                b.asks.n > b.asks.cap) {
                printf("%s: realloc call %ld failing: ENOMEM but the book is broken: "
                       "bids n %zu -> %zu with cap %zu, asks n %zu -> %zu with cap %zu\n",
                       name, k, before.nb, after.nb, b.bids.cap, before.na, after.na,
                       b.asks.cap);
                failures++;
                b.bids.n = b.bids.n > b.bids.cap ? b.bids.cap : b.bids.n; /* free() safely */
            } else {
                (void)touch(&b);
            }
        } else if (rc != BF_OK) {
            fprintf(stderr, "book_oom: %s: unexpected rc %d: %s\n", name, rc, err.msg);
            abort();
        } else {
            (void)touch(&b);
        }
        bf_book_free(&b);
        if (calls <= k) /* every realloc of the message has been failed once */
            break;
    }
    printf("%s: %ld allocation points tried, %d broke the contract\n", name, k, failures);
    return failures;
}

int main(void)
{
    int bad = 0;
    char *deep = build("snapshot", 5000, 0, 0);
    char *small = build("snapshot", 10, 100, 0);
    char *small_unsorted = build("snapshot", 10, 3, 1);
    char *grow = build("update", 3000, 3000, 0);
    bad += run("deep book, small snapshot needing asks room", deep, small);
    bad += run("deep book, small unsorted snapshot", deep, small_unsorted);
    bad += run("update needing room", small, grow);
    free(deep);
    free(small);
    free(small_unsorted);
    free(grow);
    return bad ? 1 : 0;
}
