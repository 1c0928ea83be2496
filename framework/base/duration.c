/*
 * duration.c - parse and print durations ("10m") and sizes ("64MiB").
 *
 * Only whole numbers are accepted: "1.5h" is better written "90m", and
 * refusing fractions keeps every value exact in integer milliseconds or
 * bytes. Units are matched against small tables, so a new unit is one
 * line; overflow is checked before every multiplication.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dynkv/types.h"
#include "base/duration.h"

typedef struct dur_unit {
    const char *name;
    uint64_t mult;
} dur_unit;

static const dur_unit dur_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

static const dur_unit size_units[] = {
    {"b", 1},           {"k", 1ull << 10},   {"kb", 1ull << 10},  {"kib", 1ull << 10}, {"m", 1ull << 20},
    {"mb", 1ull << 20}, {"mib", 1ull << 20}, {"g", 1ull << 30},   {"gb", 1ull << 30},  {"gib", 1ull << 30},
    {"t", 1ull << 40},  {"tb", 1ull << 40},  {"tib", 1ull << 40},
};

/* Parse "<digits>[spaces]<unit>" where unit is looked up in units (with
 * strcmp, or strcasecmp when nocase) and an empty unit means dflt. The
 * product must not exceed max. */
static int dur_parse_unit(const char *s, const dur_unit *units, size_t n_units, int nocase, uint64_t dflt,
                          uint64_t max, uint64_t *out)
{
    if (!s)
        return DK_ECONFIG;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return DK_ECONFIG;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return DK_ECONFIG;
        v = v * 10 + d;
        s++;
    }
    while (isspace((unsigned char)*s))
        s++;
    size_t ulen = strlen(s);
    while (ulen > 0 && isspace((unsigned char)s[ulen - 1]))
        ulen--;
    uint64_t mult = 0;
    if (ulen == 0) {
        mult = dflt;
    } else {
        for (size_t i = 0; i < n_units; i++) {
            if (strlen(units[i].name) != ulen)
                continue;
            if (nocase ? strncasecmp(s, units[i].name, ulen) == 0 : strncmp(s, units[i].name, ulen) == 0) {
                mult = units[i].mult;
                break;
            }
        }
        if (mult == 0)
            return DK_ECONFIG;
    }
    if (v != 0 && mult > max / v)
        return DK_ECONFIG;
    *out = v * mult;
    return 0;
}

int dk_duration_parse(const char *s, int64_t *out_ms)
{
    uint64_t v;
    int rc = dur_parse_unit(s, dur_units, sizeof dur_units / sizeof dur_units[0], 0, 1000,
                            (uint64_t)INT64_MAX, &v);
    if (rc == 0)
        *out_ms = (int64_t)v;
    return rc;
}

int dk_size_parse(const char *s, uint64_t *out)
{
    return dur_parse_unit(s, size_units, sizeof size_units / sizeof size_units[0], 1, 1, UINT64_MAX, out);
}

int dk_duration_format(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0)
        return snprintf(buf, len, "%lld%s", (long long)ms, ms == 0 ? "" : "ms");
    for (size_t i = sizeof dur_units / sizeof dur_units[0]; i-- > 0;) {
        if ((uint64_t)ms % dur_units[i].mult == 0)
            return snprintf(buf, len, "%llu%s", (unsigned long long)((uint64_t)ms / dur_units[i].mult),
                            dur_units[i].name);
    }
    return snprintf(buf, len, "%lldms", (long long)ms);
}

int dk_size_format(uint64_t n, char *buf, size_t len)
{
    static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
    static const unsigned shifts[] = {40, 30, 20, 10};
    for (size_t i = 0; n != 0 && i < 4; i++) {
        if ((n & ((1ull << shifts[i]) - 1)) == 0)
            return snprintf(buf, len, "%llu%s", (unsigned long long)(n >> shifts[i]), names[i]);
    }
    return snprintf(buf, len, "%llu", (unsigned long long)n);
}
