/* Bitget order book: parse a raw books* message, apply it, compute the checksum.
 *
 * Portable C99, no Python.h. Prices and sizes are int64 mantissas at the book's
 * scale (number of decimals), with the exact strings kept beside them because
 * Bitget's CRC32 runs over the strings as sent ("6.40" is not "6.4").
 *
 * The split between parse and apply is the contract of DECISIONS.md section 3:
 * bf_book_parse() reads and validates the whole message into the book's scratch
 * space without touching the levels; bf_book_apply() then checks everything that
 * could still fail (scale overflow, memory) before its first write, so an error
 * from either leaves the book exactly as it was.
 */
#ifndef BF_BOOK_H
#define BF_BOOK_H

#include <stddef.h>
#include <stdint.h>

/* Longest price or size string a level keeps. An 18-digit mantissa with its
 * point and four leading zeros fits; longer strings are refused as absurd. */
#define BF_LEVEL_STR 23
/* Levels per side in Bitget's checksum. */
#define BF_CHECKSUM_LEVELS 25
/* Largest scale (decimals): 10^18 still fits in int64. */
#define BF_MAX_SCALE 18
/* JSON nesting accepted inside skipped values (orjson's limit). */
#define BF_MAX_DEPTH 1024

enum { BF_OK = 0, BF_EPROTO = -1, BF_ENOMEM = -2 };

enum { BF_CH_BOOKS = 0, BF_CH_BOOKS1 = 1, BF_CH_BOOKS5 = 5, BF_CH_BOOKS15 = 15,
       BF_CH_TRADE = 100, BF_CH_TICKER = 101, BF_CH_OTHER = 102, BF_CH_UNKNOWN = -1 };

/* One stored level: 64 bytes. key is the price mantissa for bids and its
 * negation for asks, so both sides sort ascending with the best level last
 * (inserts and deletes near the top move few bytes). */
typedef struct {
    int64_t key;
    int64_t size;
    uint8_t plen;
    uint8_t slen;
    char p[BF_LEVEL_STR];
    char s[BF_LEVEL_STR];
} bf_level;

typedef struct {
    bf_level *lv; /* ascending key, best at lv[n - 1] */
    size_t n;
    size_t cap;
} bf_side;

/* One level of a parsed message, pointing into the raw bytes. */
typedef struct {
    const char *p;
    const char *s;
    int64_t pm;  /* price digits as an integer (point removed) */
    int64_t sm;  /* size digits as an integer */
    uint8_t plen, slen;
    uint8_t pf, sf; /* digits after the point */
} bf_raw_level;

typedef struct {
    bf_raw_level *v;
    size_t n;
    size_t cap;
} bf_raw_side;

/* What bf_book_parse() found. Valid until the next parse on the same book. */
typedef struct {
    int channel;          /* BF_CH_* */
    int snapshot;         /* books: action == snapshot; books1/5/15: always 1 */
    int has_seq, has_pseq, has_checksum, has_ts;
    int64_t seq, pseq, checksum, ts_ms; /* checksum already folded to signed 32-bit */
    int pscale, sscale;   /* most decimals among this message's prices / sizes */
    bf_raw_side bids, asks;
} bf_msg;

typedef struct {
    size_t offset;  /* byte offset in the message where the problem was seen */
    int not_json;   /* the bytes are not valid JSON (else: JSON, but not a valid message) */
    char msg[192];  /* what was wrong, for the exception text */
} bf_err;

struct bf_sort_ent {
    int64_t key;
    size_t idx;
};

typedef struct {
    bf_side bids, asks;
    int price_scale, size_scale; /* current scales; widen on updates, reset by snapshots */
    int base_price_scale, base_size_scale; /* the configured places (0 when inferred) */
    int crc_dirty;               /* top 25 changed since crc was computed */
    int32_t crc;
    uint64_t absent_deletes;     /* deletes of levels that were not in the book */
    bf_msg msg;                  /* scratch of the last parse */
    struct bf_sort_ent *order;   /* scratch for unsorted snapshots */
    size_t order_cap;
} bf_book;

/* scale < 0: inferred from the strings. */
void bf_book_init(bf_book *b, int price_scale, int size_scale);
void bf_book_free(bf_book *b);
/* Bytes allocated for levels and scratch. */
size_t bf_book_memory(const bf_book *b);

/* Parse and validate one books* message for `symbol` into b->msg.
 * BF_OK, BF_EPROTO (err filled) or BF_ENOMEM. Never touches the levels. */
int bf_book_parse(bf_book *b, const uint8_t *raw, size_t len,
                  const char *symbol, size_t symbol_len, bf_err *err);

/* Apply b->msg (raw: the bytes it was parsed from, for error offsets).
 * Snapshot: replace; update: insert/replace/delete in order.
 * BF_OK, BF_EPROTO (a price or size does not fit at the widened scale; err
 * filled) or BF_ENOMEM; on error nothing changed. */
int bf_book_apply(bf_book *b, const uint8_t *raw, bf_err *err);

/* Bitget's signed CRC32 of the top 25 levels (cached until they change). */
int32_t bf_book_checksum(bf_book *b);

/* Write the checksum text (bid0p:bid0s:ask0p:ask0s:...) into out, which holds
 * at least BF_CHECKSUM_TEXT bytes; returns its length. */
#define BF_CHECKSUM_TEXT (BF_CHECKSUM_LEVELS * 4 * (BF_LEVEL_STR + 1) + BF_LEVEL_STR)
size_t bf_book_checksum_text(const bf_book *b, char *out);

/* 1 when both sides are non-empty and best bid >= best ask. */
int bf_book_crossed(const bf_book *b);

/* Where a WebSocket message goes, from its first keys only. */
enum { BF_ROUTE_PUSH = 1, BF_ROUTE_EVENT = 2 };
typedef struct {
    int kind;            /* BF_ROUTE_* */
    int channel;         /* BF_CH_* of arg.channel (BF_CH_OTHER: another string) */
    const uint8_t *inst; /* arg.instId span (raw JSON string contents), NULL without */
    size_t inst_len;
    int inst_esc;        /* the span holds escapes (it will match no symbol) */
    const uint8_t *chan; /* arg.channel span, NULL when not a string */
    size_t chan_len;
} bf_route;

/* Classify a message by reading its keys up to "event", or up to "arg" followed
 * by "action"/"data" (Bitget's order): BF_OK with r filled, or BF_EPROTO.
 * Only the part read is validated; the handler of the kind parses the rest. */
int bf_route_message(const uint8_t *raw, size_t len, bf_route *r, bf_err *err);

/* 10^k for 0 <= k <= 18. */
int64_t bf_pow10(int k);

#endif /* BF_BOOK_H */
