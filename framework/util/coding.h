/*
 * coding.h - little-endian fixed-width and varint encoding, with bounds
 * checked decoders for bytes that come from files or sockets.
 */
#ifndef DK_UTIL_CODING_H
#define DK_UTIL_CODING_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void dk_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void dk_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void dk_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t dk_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t dk_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t dk_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define DK_VARINT_MAX 10

/* Write v as a LEB128 varint at p (room for DK_VARINT_MAX); returns bytes written. */
static inline size_t dk_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Decode a varint from [p, end). Returns bytes consumed, or 0 when the
 * input is truncated or longer than 10 bytes. */
static inline size_t dk_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < DK_VARINT_MAX && p + i < end; i++) {
        uint64_t b = p[i];
        r |= (b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == 9 && b > 1)
                return 0;
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

static inline size_t dk_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
#endif
