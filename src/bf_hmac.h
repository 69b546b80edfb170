/* HMAC-SHA256 (RFC 2104) from precomputed inner and outer key states.
 *
 * bf_hmac_key_init() absorbs K^ipad and K^opad once; every MAC afterwards
 * costs only the message blocks plus the two finalisations. The key struct
 * holds key-derived material: zero it with bf_hmac_key_clear() when done.
 */
#ifndef BF_HMAC_H
#define BF_HMAC_H

#include "bf_sha256.h"

typedef struct {
    bf_sha256_state inner; /* state after compressing K ^ ipad */
    bf_sha256_state outer; /* state after compressing K ^ opad */
} bf_hmac_key;

/* Streaming MAC over several pieces (prehash parts fed without copying). */
typedef struct {
    bf_sha256_ctx ctx;
    const bf_hmac_key *key;
} bf_hmac_ctx;

void bf_hmac_key_init(bf_hmac_key *key, const uint8_t *secret, size_t secret_len);
void bf_hmac_key_clear(bf_hmac_key *key);

void bf_hmac_begin(bf_hmac_ctx *h, const bf_hmac_key *key);
void bf_hmac_update(bf_hmac_ctx *h, const uint8_t *data, size_t len);
/* Writes the 32-byte MAC. */
void bf_hmac_end(bf_hmac_ctx *h, uint8_t out[BF_SHA256_DIGEST]);

/* One-shot MAC of msg. */
void bf_hmac_sha256(const bf_hmac_key *key, const uint8_t *msg, size_t len,
                    uint8_t out[BF_SHA256_DIGEST]);

#endif /* BF_HMAC_H */
