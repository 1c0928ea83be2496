/*
 * crc32c.c - CRC-32C. A table-driven slice-by-1 fallback plus the SSE4.2
 * instruction, chosen once at first use through a cpuid check. zlib only
 * offers the other CRC-32 polynomial, so this one is ours.
 */
#include "util/crc32c.h"

#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

static uint32_t crc_table[256];
static int crc_mode; /* 0 unknown, 1 table, 2 sse4.2 */

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
    int mode = 1;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2))
        mode = 2;
#endif
    __atomic_store_n(&crc_mode, mode, __ATOMIC_RELEASE);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t dk_crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    int mode = __atomic_load_n(&crc_mode, __ATOMIC_ACQUIRE);
    if (mode == 0) {
        crc_init();
        mode = crc_mode;
    }
    crc = ~crc;
#if defined(__x86_64__)
    if (mode == 2)
        return ~crc_hw(crc, p, n);
#endif
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
