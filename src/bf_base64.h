/* Standard base64 (RFC 4648 section 4, with padding) encoding. */
#ifndef BF_BASE64_H
#define BF_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters bf_base64_encode writes for len input bytes (no terminator). */
#define BF_BASE64_LEN(len) ((((len) + 2) / 3) * 4)

/* Encode len bytes into out (BF_BASE64_LEN(len) bytes). Returns that length. */
size_t bf_base64_encode(const uint8_t *in, size_t len, char *out);

#endif /* BF_BASE64_H */
