/* CRC-32 (the zlib / IEEE 802.3 one: reflected polynomial 0xEDB88320, initial
 * and final XOR with 0xFFFFFFFF) with a portable path and an x86-64 PCLMULQDQ
 * path. It verifies Bitget's order-book checksum on every message.
 *
 * Portable C99, no Python.h, no zlib. Callers go through bf_crc32(); the
 * implementation it runs is picked on first use (PCLMUL when the CPU has it)
 * and can be forced at any time with bf_crc32_select() (tests, or an
 * environment switch in the Python layer): both give identical results.
 */
#ifndef BF_CRC32_H
#define BF_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Which implementation bf_crc32() runs. */
typedef enum {
    BF_CRC32_PORTABLE = 0,
    BF_CRC32_PCLMUL = 1
} bf_crc32_impl;

/* 1 if this CPU can run the PCLMUL path (x86-64 with PCLMULQDQ, SSSE3, SSE4.1). */
int bf_crc32_pclmul_available(void);

/* Choose the implementation. BF_CRC32_PCLMUL on a CPU without it falls back to
 * portable. Returns the implementation now in use. */
bf_crc32_impl bf_crc32_select(bf_crc32_impl want);

/* Implementation now in use (makes the first-use choice if none was made yet). */
bf_crc32_impl bf_crc32_current(void);

/* CRC of data[0..len-1] continuing from crc, with zlib's crc32() semantics:
 * bf_crc32(0, buf, n) == zlib.crc32(buf), and
 * bf_crc32(bf_crc32(0, a, na), b, nb) is the CRC of a || b.
 * len 0 returns crc unchanged; data may then be NULL. (C zlib's crc32(c, NULL, n)
 * returns 0, an initialisation idiom this API does not copy.) */
uint32_t bf_crc32(uint32_t crc, const void *data, size_t len);

/* The two implementations themselves (tests and benchmarks compare them).
 * bf_crc32_pclmul may only be called when bf_crc32_pclmul_available(); on
 * builds without the x86-64 path it runs the portable code. */
uint32_t bf_crc32_portable(uint32_t crc, const void *data, size_t len);
uint32_t bf_crc32_pclmul(uint32_t crc, const void *data, size_t len);

#endif /* BF_CRC32_H */
