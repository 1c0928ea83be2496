/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every dynkv on-disk and
 * on-wire structure. Uses the SSE4.2 crc32 instruction when the CPU has it.
 */
#ifndef DK_UTIL_CRC32C_H
#define DK_UTIL_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 to start) with n bytes of p. Thread-safe. */
uint32_t dk_crc32c_extend(uint32_t crc, const void *p, size_t n);
static inline uint32_t dk_crc32c(const void *p, size_t n)
{
    return dk_crc32c_extend(0, p, n);
}

/* The CRC of A||B from crc_a = dk_crc32c(A), crc_b = dk_crc32c(B) and
 * len_b = |B|, without reading either: crc_a shifted through len_b zero
 * bytes (multiplied by x^(8 len_b) mod P in GF(2)) xor crc_b. Costs one
 * GF(2) multiplication (a carry-less multiply and a crc32 instruction
 * where the CPU has them) per bit set in len_b. Thread-safe. */
uint32_t dk_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* Masked form for CRCs stored next to the data they cover (LevelDB's
 * trick): a CRC of a string that itself contains CRCs stays well mixed. */
static inline uint32_t dk_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
static inline uint32_t dk_crc32c_unmask(uint32_t m)
{
    uint32_t r = m - 0xa282ead8u;
    return (r >> 17) | (r << 15);
}
#endif
