/* Standard base64 (RFC 4648 section 4, with padding) encoding. */
#ifndef BF_BASE64_H
#define BF_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters bf_base64_encode writes for len input bytes (no terminator). */
#define BF_BASE64_LEN(len) ((((len) + 2) / 3) * 4)

/* Encode len bytes into out (BF_BASE64_LEN(len) bytes). Returns that length. */
size_t bf_base64_encode(const uint8_t *in, size_t len, char *out);



/* Base64 of a 32-byte MAC: 44 characters (43 + one '=') written to out.
 * Uses SSSE3 when bf_base64_select(1) chose it; reads exactly mac[0..31]. */
void bf_base64_mac(const uint8_t mac[32], char out[44]);

/* 1: SSSE3 path if this CPU has it, 0: scalar. Returns 1 if SSSE3 is now used. */
int bf_base64_select(int simd);
#endif /* BF_BASE64_H */
