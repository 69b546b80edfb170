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

void bf_hmac_key_init(bf_hmac_key *key, const uint8_t *secret, size_t secret_len);
void bf_hmac_key_clear(bf_hmac_key *key);

/* MAC of msg. */
void bf_hmac_sha256(const bf_hmac_key *key, const uint8_t *msg, size_t len,
                    uint8_t out[BF_SHA256_DIGEST]);

/* MAC of the concatenation of nparts spans, without concatenating them. */
void bf_hmac_sha256_parts(const bf_hmac_key *key, const bf_span *parts, size_t nparts,
                          uint8_t out[BF_SHA256_DIGEST]);

#endif /* BF_HMAC_H */
