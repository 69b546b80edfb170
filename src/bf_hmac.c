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

void bf_hmac_begin(bf_hmac_ctx *h, const bf_hmac_key *key)
{
    h->key = key;
    h->ctx.st = key->inner;
    h->ctx.nbytes = BF_SHA256_BLOCK; /* the K ^ ipad block is already absorbed */
    h->ctx.buflen = 0;
}

void bf_hmac_update(bf_hmac_ctx *h, const uint8_t *data, size_t len)
{
    bf_sha256_update(&h->ctx, data, len);
}

static void store_be32x8(uint8_t *out, const bf_sha256_state *st)
{
    int i;
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)st->h[i];
    }
}

/* Outer hash: H(K ^ opad || inner) is 64 + 32 = 96 bytes = 768 bits, so the
 * inner digest, its padding and its length fill exactly one block.
 *
 * No zeroing here or below: what these temporaries hold is derived from the
 * message after at least one compression (the key states are gone from them),
 * and the result is the public signature. Key material is zeroed where it
 * lives: bf_hmac_key_init's buffers and bf_hmac_key_clear. */
static void outer_block(const bf_hmac_key *key, const uint8_t inner[BF_SHA256_DIGEST],
                        uint8_t out[BF_SHA256_DIGEST])
{
    uint8_t block[BF_SHA256_BLOCK];
    bf_sha256_state st = key->outer;
    memcpy(block, inner, BF_SHA256_DIGEST);
    block[32] = 0x80;
    memset(block + 33, 0, BF_SHA256_BLOCK - 33 - 2);
    block[62] = 0x03; /* 768 = 0x0300 */
    block[63] = 0x00;
    bf_sha256_blocks(&st, block, 1);
    store_be32x8(out, &st);
}

void bf_hmac_end(bf_hmac_ctx *h, uint8_t out[BF_SHA256_DIGEST])
{
    uint8_t inner[BF_SHA256_DIGEST];
    bf_sha256_final(&h->ctx, inner);
    outer_block(h->key, inner, out);
}

void bf_hmac_sha256(const bf_hmac_key *key, const uint8_t *msg, size_t len,
                    uint8_t out[BF_SHA256_DIGEST])
{
    bf_sha256_nested(&key->inner, &key->outer, BF_SHA256_BLOCK, msg, len, out);
}
