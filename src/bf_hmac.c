/* HMAC-SHA256 from precomputed key states. */
#include "bf_hmac.h"

#include <string.h>

void bf_hmac_key_init(bf_hmac_key *key, const uint8_t *secret, size_t secret_len)
{
    uint8_t k[BF_SHA256_BLOCK];
    uint8_t pad[BF_SHA256_BLOCK];
    bf_sha256_ctx c;
    size_t i;

    memset(k, 0, sizeof k);
    if (secret_len > BF_SHA256_BLOCK)
        bf_sha256(secret, secret_len, k); /* RFC 2104: long keys are hashed first */
    else if (secret_len)
        memcpy(k, secret, secret_len);

    bf_sha256_init(&c);
    for (i = 0; i < BF_SHA256_BLOCK; i++)
        pad[i] = (uint8_t)(k[i] ^ 0x36u);
    bf_sha256_blocks(&c.st, pad, 1);
    key->inner = c.st;

    bf_sha256_init(&c);
    for (i = 0; i < BF_SHA256_BLOCK; i++)
        pad[i] = (uint8_t)(k[i] ^ 0x5cu);
    bf_sha256_blocks(&c.st, pad, 1);
    key->outer = c.st;

    bf_secure_zero(k, sizeof k);
    bf_secure_zero(pad, sizeof pad);
    bf_secure_zero(&c, sizeof c);
}

void bf_hmac_key_clear(bf_hmac_key *key)
{
    bf_secure_zero(key, sizeof *key);
}

void bf_hmac_sha256(const bf_hmac_key *key, const uint8_t *msg, size_t len,
                    uint8_t out[BF_SHA256_DIGEST])
{
    bf_span part;
    part.ptr = msg;
    part.len = len;
    bf_sha256_nested(&key->inner, &key->outer, BF_SHA256_BLOCK, &part, 1, out);
}

void bf_hmac_sha256_parts(const bf_hmac_key *key, const bf_span *parts, size_t nparts,
                          uint8_t out[BF_SHA256_DIGEST])
{
    bf_sha256_nested(&key->inner, &key->outer, BF_SHA256_BLOCK, parts, nparts, out);
}
