/*
 * duration.h - text forms of durations and byte sizes, as written in the
 * INI file and accepted by admin tools ("10m", "3h", "64MiB").
 *
 * Both live here because they are the same small problem (a whole number
 * and a unit suffix, checked for overflow). Pure functions, any thread.
 */
#ifndef DK_DURATION_H
#define DK_DURATION_H
#include <stddef.h>
#include <stdint.h>

/* Parse a whole number with an optional unit: ms, s, m, h, d (lower case;
 * no unit = seconds), optionally separated by spaces, into milliseconds.
 * Returns 0, or DK_ECONFIG for anything else (signs, fractions, overflow
 * past INT64_MAX ms); *out_ms is then unchanged. */
int dk_duration_parse(const char *s, int64_t *out_ms);

/* Write ms in the largest unit that represents it exactly ("90s",
 * "10m", "250ms", "0"). Returns what snprintf returns. */
int dk_duration_format(int64_t ms, char *buf, size_t len);

/* Parse a byte count: plain bytes, or with a suffix B, K/KB/KiB,
 * M/MB/MiB, G/GB/GiB, T/TB/TiB (case-insensitive; every multiple is a
 * power of 1024, as operators expect of memory and file sizes). Returns 0,
 * or DK_ECONFIG for anything else or overflow; *out is then unchanged. */
int dk_size_parse(const char *s, uint64_t *out);

/* Write n in the largest binary unit that represents it exactly
 * ("64MiB", "1000", "0"). Returns what snprintf returns. */
int dk_size_format(uint64_t n, char *buf, size_t len);

#endif /* DK_DURATION_H */
