/*
 * cli_output.c - how the dynkv CLI prints: errors on stderr, values raw,
 * scan lines escaped, JSON documents with short fractions, sizes,
 * percentages and times for the operator tables.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util/base64.h"

int cli_die(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("dynkv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* Decode standard base64 (padding optional) into a malloc'd buffer. */
int cli_unb64(const char *in, unsigned char **out, size_t *outlen)
{
    size_t n = strlen(in), bad;
    unsigned char *buf = malloc(n / 4 * 3 + 3);
    long got = buf ? dk_base64_decode(in, n, DK_B64_STD, buf, &bad) : -1;
    if (got < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = (size_t)got;
    return 0;
}

void cli_print_json(const dk_hc_response *r)
{
    fwrite(r->body, 1, r->body_len, stdout);
    if (r->body_len && r->body[r->body_len - 1] != '\n')
        putchar('\n');
}

int cli_write_value(const char *b64, int newline_on_tty)
{
    unsigned char *v;
    size_t n;
    if (!b64 || cli_unb64(b64, &v, &n) != 0)
        return cli_die(EX_ERROR, "the answer has no valid base64 value");
    fwrite(v, 1, n, stdout);
    if (newline_on_tty && n && v[n - 1] != '\n' && isatty(STDOUT_FILENO))
        putchar('\n');
    free(v);
    return 0;
}

const char *cli_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

long long cli_int(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* A wall-clock time in ms as ISO 8601 UTC, or "-" for JSON null. */
const char *cli_time(json_t *ms, char *buf, size_t len)
{
    if (!json_is_integer(ms))
        return "-";
    long long v = json_integer_value(ms);
    time_t secs = (time_t)(v / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03lldZ", v % 1000);
    return buf;
}

void cli_dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    printf("%s\n", s ? s : "{}");
    free(s);
}

/* Print a JSON document with fractions kept short (no 0.99999999999999922). */
void cli_print_doc(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    printf("%s\n", s ? s : "null");
    free(s);
}

/* 1536 -> "1.5 KiB"; plain bytes below 1 KiB. */
const char *cli_bytes(json_t *v, char *buf, size_t len)
{
    if (!json_is_integer(v))
        return "?";
    double b = (double)json_integer_value(v);
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
    return buf;
}

const char *cli_pct(json_t *v, char *buf, size_t len)
{
    if (!json_is_number(v))
        return "-";
    snprintf(buf, len, "%.1f%%", json_number_value(v) * 100.0);
    return buf;
}

/* Write bytes for a KEY<TAB>VALUE line: \\, \t, \n and control bytes escaped. */
void cli_put_escaped(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\')
            fputs("\\\\", stdout);
        else if (p[i] == '\t')
            fputs("\\t", stdout);
        else if (p[i] == '\n')
            fputs("\\n", stdout);
        else if (p[i] < 0x20 || p[i] == 0x7f)
            printf("\\x%02x", p[i]);
        else
            putchar(p[i]);
    }
}
