/* SHA-256 compression with a portable path and an x86 SHA-NI path.
 *
 * Portable C99, no Python.h. The block function is chosen once by
 * bf_sha256_select(); every caller goes through bf_sha256_blocks(), so the
 * choice can be forced (tests, or BITGET_FAST_SHA256=portable) at any time:
 * the state layout is the same for both paths.
 */
#ifndef BF_SHA256_H
#define BF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define BF_SHA256_BLOCK 64
#define BF_SHA256_DIGEST 32

/* Which implementation bf_sha256_blocks() runs. */
typedef enum {
    BF_SHA256_PORTABLE = 0,
    BF_SHA256_SHANI = 1
} bf_sha256_impl;

/* Standard chaining state, h[0] = A ... h[7] = H. */
typedef struct {
    uint32_t h[8];
} bf_sha256_state;

/* Incremental hashing context. */
typedef struct {
    bf_sha256_state st;
    uint64_t nbytes;                 /* bytes absorbed so far, including any prefix */
    uint8_t buf[BF_SHA256_BLOCK];    /* partial block */
    size_t buflen;
} bf_sha256_ctx;

/* 1 if this CPU can run the SHA-NI path (x86-64 with SHA, SSSE3, SSE4.1). */
int bf_sha256_shani_available(void);

/* Choose the implementation. BF_SHA256_SHANI on a CPU without it falls back to
 * portable. Returns the implementation now in use. */
bf_sha256_impl bf_sha256_select(bf_sha256_impl want);

/* Implementation now in use. */
bf_sha256_impl bf_sha256_current(void);

/* Compress nblocks consecutive 64-byte blocks into st. */
void bf_sha256_blocks(bf_sha256_state *st, const uint8_t *data, size_t nblocks);

/* The portable and SHA-NI block functions themselves (tests compare them). */
void bf_sha256_blocks_portable(bf_sha256_state *st, const uint8_t *data, size_t nblocks);
void bf_sha256_blocks_shani(bf_sha256_state *st, const uint8_t *data, size_t nblocks);

/* A piece of a message: hashed as if all pieces were one contiguous buffer. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} bf_span;

/* out = H_outer(H_inner(parts[0] || ... || parts[nparts-1])): both hashes resume
 * from a state that has already absorbed prefix_len bytes (a multiple of 64).
 * This is HMAC's shape (prefix_len 64: the K^ipad / K^opad blocks). The SHA-NI
 * path reads whole blocks straight from the parts and keeps the state in
 * registers between the two hashes. */
void bf_sha256_nested(const bf_sha256_state *inner, const bf_sha256_state *outer,
                      uint64_t prefix_len, const bf_span *parts, size_t nparts,
                      uint8_t out[BF_SHA256_DIGEST]);

void bf_sha256_init(bf_sha256_ctx *ctx);
void bf_sha256_update(bf_sha256_ctx *ctx, const uint8_t *data, size_t len);
void bf_sha256_final(bf_sha256_ctx *ctx, uint8_t out[BF_SHA256_DIGEST]);

/* One-shot digest. */
void bf_sha256(const uint8_t *data, size_t len, uint8_t out[BF_SHA256_DIGEST]);

/* Zero memory in a way the compiler may not remove (for key material). */
void bf_secure_zero(void *p, size_t n);

#endif /* BF_SHA256_H */
