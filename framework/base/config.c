/*
 * config.c - the node configuration: a table of keys, the INI loader
 * (inih) and dynkvd's command line.
 *
 * Every key is one row of cfg_keys: section, name, type, where it lives in
 * dk_config, its range and its default written as text. Defaults, the INI
 * file and --set overrides all go through the same cfg_apply, so a default
 * can never be a value the file would refuse, and the usage text and the
 * "expected one of" lists are generated from the table. The alternative, a
 * hand-written if/else per key in the inih handler, is how unknown keys
 * and unchecked ranges slip in.
 *
 * inih as packaged by Debian does not pass line numbers to the handler,
 * cuts lines at 199 characters without saying so, and ignores sections
 * that hold no key. So the file is read into memory first, checked for
 * over-long lines and NUL bytes, then fed to ini_parse_stream through our
 * own reader, which counts lines (the handler runs on the line the reader
 * handed out last), notes whether a line is indented (an inih continuation)
 * and checks section headers as they go by.
 *
 * A plugin's own section ([engine.lsm]) holds keys this file cannot know;
 * they are kept as text with their line number and parsed by the plugin
 * through the host (framework/plugin/plugin_opts.c), which words its errors
 * with dk_config_popt_describe so they read like the ones below.
 *
 * `dynkvd --check-config` wants every error, not the first: the same code
 * runs in a collecting mode (a report callback in cfg_load) where cfg_fail
 * reports and parsing goes on. The reader then also finds the lines inih
 * would refuse (it only returns the first one's number) and hands them to
 * inih blanked, and skips the keys of an unknown section rather than
 * reporting each of them again.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <arpa/inet.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config.h"
#include "base/duration.h"
#include "base/log.h"
#include "dynkv/crdt.h"

#ifndef DK_VERSION
#define DK_VERSION "unknown"
#endif

/* Longest physical line inih reads whole (it cuts at INI_MAX_LINE - 1). */
#define CFG_LINE_MAX (INI_MAX_LINE - 1)
#define CFG_FILE_MAX (1024 * 1024)

#include "base/config_keys.h"

/* ---- values ------------------------------------------------------------ */

static int cfg_name_ok(const char *s, int label);

static const char cfg_sections_expect[] = "expected one of [node], [cluster], [storage], [compaction], "
    "[conflict], [security], [log], or a plugin's own section such as [engine.lsm], [compaction.leveled], "
    "[conflict.lww] or [codec.zstd]";

int dk_config_is_plugin_section(const char *s)
{
    static const char *const kinds[] = {"engine.", "compaction.", "conflict.", "codec."};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i]);
        if (strncmp(s, kinds[i], n) == 0)
            return cfg_name_ok(s + n, 0);
    }
    return 0;
}

static int cfg_is_section(const char *s)
{
    for (size_t i = 0; i < CFG_NSECTIONS; i++)
        if (strcmp(s, cfg_sections[i]) == 0)
            return 1;
    return dk_config_is_plugin_section(s);
}

/* [a-z0-9_]{1,64}: what a plugin's key may be. */
static int cfg_popt_key_ok(const char *k)
{
    size_t n = 0;
    for (; k[n]; n++)
        if (!((k[n] >= 'a' && k[n] <= 'z') || (k[n] >= '0' && k[n] <= '9') || k[n] == '_'))
            return 0;
    return n >= 1 && n <= DK_CONFIG_KEY_MAX;
}

const dk_config_popt *dk_config_popt_find(const dk_config *c, const char *section, const char *key)
{
    for (size_t i = 0; i < c->n_popts; i++)
        if (strcmp(c->popts[i].section, section) == 0 && strcmp(c->popts[i].key, key) == 0)
            return &c->popts[i];
    return NULL;
}

/* Set a plugin section's key (replacing an earlier value, as --set does).
 * On failure why says what was expected. */
static int cfg_popt_set(dk_config *c, const char *section, const char *key, const char *value,
                        int line, char *why, size_t whylen)
{
    if (!cfg_popt_key_ok(key)) {
        snprintf(why, whylen, "'%s' is not a plugin option name; expected 1..%d characters from "
                 "a-z, 0-9 and '_'", key, DK_CONFIG_KEY_MAX);
        return DK_ECONFIG;
    }
    if (strlen(value) > DK_CONFIG_VALUE_MAX) {
        snprintf(why, whylen, "expected at most %d characters", DK_CONFIG_VALUE_MAX);
        return DK_ECONFIG;
    }
    dk_config_popt *o = (dk_config_popt *)dk_config_popt_find(c, section, key);
    if (!o) {
        if (c->n_popts >= DK_CONFIG_POPTS_MAX) {
            snprintf(why, whylen, "expected at most %d keys in plugin sections", DK_CONFIG_POPTS_MAX);
            return DK_ECONFIG;
        }
        dk_config_popt *grown = realloc(c->popts, (c->n_popts + 1) * sizeof *c->popts);
        if (!grown) {
            snprintf(why, whylen, "out of memory");
            return -ENOMEM;
        }
        c->popts = grown;
        o = &c->popts[c->n_popts++];
        snprintf(o->section, sizeof o->section, "%s", section);
        snprintf(o->key, sizeof o->key, "%s", key);
    }
    snprintf(o->value, sizeof o->value, "%s", value);
    o->line = line;
    return 0;
}

static const cfg_key *cfg_find(const char *section, const char *name)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (strcmp(cfg_keys[i].section, section) == 0 && strcmp(cfg_keys[i].name, name) == 0)
            return &cfg_keys[i];
    return NULL;
}

/* "expected one of ..." text for a section's keys or for a word list. */
static void cfg_list_keys(const char *section, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < CFG_NKEYS && used < len; i++) {
        if (strcmp(cfg_keys[i].section, section) != 0)
            continue;
        int n = snprintf(out + used, len - used, "%s%s", used ? ", " : "", cfg_keys[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static void cfg_list_words(const char *const *words, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; words[i] && used < len; i++) {
        int n = snprintf(out + used, len - used, "%s%s", i ? ", " : "", words[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Characters allowed in an id ([a-z0-9_-]) or a label ([A-Za-z0-9_.-]). */
static int cfg_name_ok(const char *s, int label)
{
    size_t n = strlen(s);
    if (n < 1 || n > DK_CONFIG_NAME_MAX)
        return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')
            continue;
        if (label && ((ch >= 'A' && ch <= 'Z') || ch == '.'))
            continue;
        return 0;
    }
    return 1;
}

/* host:port with a port in min_port..65535; host a name or IPv4 address, or
 * an IPv6 address in brackets. Whether it resolves is the network's
 * business. Listen addresses may use port 0 (any free port, logged at
 * start); seeds may not. */
static int cfg_addr_ok(const char *s, size_t len, long min_port)
{
    if (len > DK_CONFIG_ADDR_MAX)
        return 0;
    const char *colon;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close == s + 1 || close[1] != ':')
            return 0;
        for (const char *p = s + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return 0;
        colon = close + 1;
    } else {
        colon = NULL;
        for (const char *p = s; p < s + len; p++) {
            if (*p == ':') {
                if (colon)
                    return 0;
                colon = p;
            } else if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') {
                return 0;
            }
        }
        if (!colon || colon == s)
            return 0;
    }
    const char *p = colon + 1;
    if (p >= s + len || s + len - p > 5)
        return 0;
    long port = 0;
    for (; p < s + len; p++) {
        if (!isdigit((unsigned char)*p))
            return 0;
        port = port * 10 + (*p - '0');
    }
    return port >= min_port && port <= 65535;
}

/* A host name, IPv4 address or IPv6 address (bare or in brackets), no port. */
static int cfg_host_ok(const char *s, size_t len)
{
    if (len > DK_CONFIG_ADDR_MAX)
        return 0;
    struct in6_addr v6;
    char host[DK_CONFIG_ADDR_MAX + 1];
    if (s[0] == '[' && len > 2 && s[len - 1] == ']') {
        memcpy(host, s + 1, len - 2);
        host[len - 2] = '\0';
        return inet_pton(AF_INET6, host, &v6) == 1;
    }
    if (memchr(s, ':', len))
        return inet_pton(AF_INET6, s, &v6) == 1;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

static const char cfg_addr_expect[] = "expected host:port with a port in 1..65535 (IPv6 as [addr]:port)";
static const char cfg_listen_expect[] = "expected host:port with a port in 0..65535, 0 = any free port (IPv6 as [addr]:port)";

/* Append the host:port entries of v (separated by commas and/or
 * whitespace) to the seed list, which may grow up to limit entries. */
static int cfg_seeds_add(dk_config_cluster *cl, const char *v, size_t limit, char *why, size_t whylen)
{
    const char *p = v;
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            return 0;
        size_t n = strcspn(p, ", \t\r\n\v\f");
        if (!cfg_addr_ok(p, n, 1)) {
            snprintf(why, whylen, "'%.*s' is not a seed address: %s; separate seeds with commas "
                     "or spaces", (int)n, p, cfg_addr_expect);
            return DK_ECONFIG;
        }
        if (cl->n_seeds >= limit) {
            snprintf(why, whylen, "expected at most %d seeds", DK_CONFIG_SEEDS_MAX);
            return DK_ECONFIG;
        }
        char(*grown)[DK_CONFIG_ADDR_MAX + 1] = realloc(cl->seeds, (cl->n_seeds + 1) * sizeof *cl->seeds);
        if (!grown) {
            snprintf(why, whylen, "out of memory");
            return -ENOMEM;
        }
        cl->seeds = grown;
        memcpy(cl->seeds[cl->n_seeds], p, n);
        cl->seeds[cl->n_seeds][n] = '\0';
        cl->n_seeds++;
        p += n;
    }
}

/* Parse a decimal integer, optionally negative, the whole string. */
static int cfg_parse_int(const char *s, int64_t *out)
{
    int neg = 0;
    uint64_t v = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s)
        return DK_ECONFIG;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || v > ((uint64_t)INT64_MAX - 9) / 10)
            return DK_ECONFIG;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int cfg_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return DK_ECONFIG;
}

/* A rate is a size, optionally followed by "/s". */
static int cfg_parse_rate(const char *s, uint64_t *out)
{
    char tmp[64];
    size_t n = strlen(s);
    if (n >= sizeof tmp)
        return DK_ECONFIG;
    memcpy(tmp, s, n + 1);
    while (n > 0 && isspace((unsigned char)tmp[n - 1]))
        n--;
    if (n >= 2 && tmp[n - 2] == '/' && (tmp[n - 1] == 's' || tmp[n - 1] == 'S'))
        n -= 2;
    tmp[n] = '\0';
    return dk_size_parse(tmp, out);
}

/* Set the value of key k at field from text v (c is needed only for the
 * seed list). append adds to a list instead of replacing it (inih
 * continuation lines). On failure, why says what was expected. */
static int cfg_apply_to(dk_config *c, char *field, const cfg_key *k, const char *v, int append,
                        char *why, size_t whylen)
{
    char lo[32], hi[32], words[512];
    int64_t n;
    uint64_t u;
    int b;

    switch (k->type) {
    case CT_STR: {
        size_t len = strlen(v);
        if (len >= k->size) {
            snprintf(why, whylen, "expected at most %zu characters", k->size - 1);
            return DK_ECONFIG;
        }
        if (k->choices) {
            size_t i;
            for (i = 0; k->choices[i] && strcmp(v, k->choices[i]) != 0; i++)
                ;
            if (!k->choices[i]) {
                cfg_list_words(k->choices, words, sizeof words);
                snprintf(why, whylen, "expected one of: %s", words);
                return DK_ECONFIG;
            }
        }
        switch (k->form) {
        case CF_ID:
            if (!cfg_name_ok(v, 0)) {
                snprintf(why, whylen, "expected 1..%d characters from a-z, 0-9, '_' and '-'",
                         DK_CONFIG_NAME_MAX);
                return DK_ECONFIG;
            }
            break;
        case CF_LABEL:
            if (!cfg_name_ok(v, 1)) {
                snprintf(why, whylen, "expected 1..%d characters from A-Z, a-z, 0-9, '_', '.' and '-'",
                         DK_CONFIG_NAME_MAX);
                return DK_ECONFIG;
            }
            break;
        case CF_ADDR:
            if (!cfg_addr_ok(v, len, 0)) {
                snprintf(why, whylen, "%s", cfg_listen_expect);
                return DK_ECONFIG;
            }
            break;
        case CF_HOST:
            if (len && !cfg_host_ok(v, len)) {
                snprintf(why, whylen, "expected a host name or an IP address without a port, such as "
                         "10.0.0.5 or node1.example");
                return DK_ECONFIG;
            }
            break;
        case CF_PATH:
            if (len == 0) {
                snprintf(why, whylen, "expected a directory path");
                return DK_ECONFIG;
            }
            break;
        default:
            break;
        }
        memcpy(field, v, len + 1);
        return 0;
    }
    case CT_INT:
        if (cfg_parse_int(v, &n) != 0 || n < k->min || n > k->max) {
            snprintf(why, whylen, "expected an integer in %lld..%lld", (long long)k->min, (long long)k->max);
            return DK_ECONFIG;
        }
        *(int *)field = (int)n;
        return 0;
    case CT_INT64:
        if (cfg_parse_int(v, &n) != 0 || n < k->min || n > k->max) {
            snprintf(why, whylen, "expected an integer in %lld..%lld", (long long)k->min, (long long)k->max);
            return DK_ECONFIG;
        }
        memcpy(field, &n, sizeof n);
        return 0;
    case CT_BOOL:
        if (cfg_parse_bool(v, &b) != 0) {
            snprintf(why, whylen, "expected true or false (or yes/no, on/off, 1/0)");
            return DK_ECONFIG;
        }
        *(int *)field = b;
        return 0;
    case CT_SIZE:
    case CT_RATE:
        if ((k->type == CT_SIZE ? dk_size_parse(v, &u) : cfg_parse_rate(v, &u)) != 0 ||
            u < (uint64_t)k->min || u > (uint64_t)k->max) {
            dk_size_format((uint64_t)k->min, lo, sizeof lo);
            dk_size_format((uint64_t)k->max, hi, sizeof hi);
            snprintf(why, whylen, "expected a %s in %s..%s%s (bytes, or a K/KB/KiB, M/MB/MiB or G/GB/GiB "
                     "suffix; all powers of 1024)", k->type == CT_SIZE ? "size" : "rate per second",
                     lo, hi, k->type == CT_RATE ? ", 0 = unlimited" : "");
            return DK_ECONFIG;
        }
        *(uint64_t *)field = u;
        return 0;
    case CT_DUR:
        if (dk_duration_parse(v, &n) != 0 || n < k->min || n > k->max) {
            dk_duration_format(k->min, lo, sizeof lo);
            dk_duration_format(k->max, hi, sizeof hi);
            snprintf(why, whylen, "expected a duration in %s..%s (a whole number with a ms, s, m, h or d "
                     "suffix; no suffix means seconds)", lo, hi);
            return DK_ECONFIG;
        }
        *(int64_t *)field = n;
        return 0;
    case CT_ENUM:
        for (int i = 0; k->choices[i]; i++) {
            if (strcasecmp(v, k->choices[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        }
        cfg_list_words(k->choices, words, sizeof words);
        snprintf(why, whylen, "expected one of: %s", words);
        return DK_ECONFIG;
    case CT_SEEDS: {
        /* Parse after the current entries so that a bad value leaves the
         * list as it was; a replacement then moves the new entries down. */
        dk_config_cluster *cl = &c->cluster;
        size_t old = cl->n_seeds;
        int rc = cfg_seeds_add(cl, v, DK_CONFIG_SEEDS_MAX + (append ? 0 : old), why, whylen);
        if (rc) {
            cl->n_seeds = old;
        } else if (!append && old > 0) {
            memmove(cl->seeds, cl->seeds + old, (cl->n_seeds - old) * sizeof *cl->seeds);
            cl->n_seeds -= old;
        }
        return rc;
    }
    default:
        assert(!"unknown config key type");
        return DK_ECONFIG;
    }
}

/* Set key k of c from text v (see cfg_apply_to). */
static int cfg_apply(dk_config *c, const cfg_key *k, const char *v, int append, char *why, size_t whylen)
{
    return cfg_apply_to(c, (char *)c + k->off, k, v, append, why, whylen);
}

/* Hints for the two ways inih surprises people. */
static const char *cfg_hint(const char *v)
{
    if (v[0] == '"' || v[0] == '\'')
        return "; note that quotes are not removed: write the value bare";
    if (strchr(v, ';'))
        return "; note that ';' starts a comment only after a space or tab";
    return "";
}

void dk_config_popt_describe(const dk_config *c, const dk_config_popt *o, const char *why,
                             char *out, size_t len)
{
    if (o->line > 0)
        snprintf(out, len, "%s:%d: [%s] %s = %s: %s%s", c->path[0] ? c->path : "configuration",
                 o->line, o->section, o->key, o->value, why, cfg_hint(o->value));
    else
        snprintf(out, len, "--set %s.%s=%s: %s%s", o->section, o->key, o->value, why,
                 cfg_hint(o->value));
}

/* Format "[section] key = value: why<hint>"; secrets are not echoed. */
static void cfg_describe(char *out, size_t len, const cfg_key *k, const char *v, const char *why)
{
    int secret = k->type == CT_STR && k->form == CF_SECRET;
    snprintf(out, len, "[%s] %s = %s: %s%s", k->section, k->name, secret ? "(hidden)" : v, why,
             secret ? "" : cfg_hint(v));
}

void dk_config_defaults(dk_config *c)
{
    char why[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        int rc = cfg_apply(c, &cfg_keys[i], cfg_keys[i].dflt, 0, why, sizeof why);
        assert(rc == 0 && "a default must be a valid value");
        (void)rc;
    }
}

void dk_config_free(dk_config *c)
{
    free(c->cluster.seeds);
    c->cluster.seeds = NULL;
    c->cluster.n_seeds = 0;
    free(c->popts);
    c->popts = NULL;
    c->n_popts = 0;
}

/* Look up section/key for dk_config_set and --set: the key, or NULL with
 * why saying what exists. */
static const cfg_key *cfg_lookup(const char *section, const char *key, char *why, size_t whylen)
{
    char names[512];
    if (!cfg_is_section(section)) {
        snprintf(why, whylen, "unknown section [%s]; %s", section, cfg_sections_expect);
        return NULL;
    }
    const cfg_key *k = cfg_find(section, key);
    if (!k) {
        for (size_t i = 0; i < CFG_NMOVED; i++) {
            if (strcmp(cfg_moved_keys[i].section, section) == 0 && strcmp(cfg_moved_keys[i].name, key) == 0) {
                snprintf(why, whylen, "[%s] %s moved to the plugin's own section: write it under %s",
                         section, key, cfg_moved_keys[i].to);
                return NULL;
            }
        }
        cfg_list_keys(section, names, sizeof names);
        snprintf(why, whylen, "unknown key '%s' in [%s]; expected one of: %s", key, section, names);
    }
    return k;
}

int dk_config_set(dk_config *c, const char *section, const char *key, const char *value,
                  char *err, size_t errlen)
{
    char why[640];
    if (dk_config_is_plugin_section(section)) {
        int rc = cfg_popt_set(c, section, key, value, 0, why, sizeof why);
        if (rc)
            snprintf(err, errlen, "[%s] %s = %s: %s", section, key, value, why);
        return rc;
    }
    const cfg_key *k = cfg_lookup(section, key, why, sizeof why);
    if (!k) {
        snprintf(err, errlen, "%s", why);
        return DK_ECONFIG;
    }
    int rc = cfg_apply(c, k, value, 0, why, sizeof why);
    if (rc)
        cfg_describe(err, errlen, k, value, why);
    return rc;
}

/* ---- plugin sections ---------------------------------------------------- */

const dk_config_popt *dk_config_popt_first(const dk_config *c, const char *section)
{
    for (size_t i = 0; i < c->n_popts; i++)
        if (strcmp(c->popts[i].section, section) == 0)
            return &c->popts[i];
    return NULL;
}

/* Parse v as spec o wants into out + o->offset. On failure why says what
 * was expected. */
static int cfg_popt_value(const dk_option *o, const char *v, void *out, char *why, size_t whylen)
{
    char *field = (char *)out + o->offset;
    cfg_key k = {.section = "", .name = o->key, .min = o->min, .max = o->max, .choices = o->words};
    if (o->min == 0 && o->max == 0) {   /* no range given: any value of the type */
        k.min = o->type == DK_OPT_SIZE || o->type == DK_OPT_RATE ? 0 : INT64_MIN + 1;
        k.max = INT64_MAX;
    }
    switch (o->type) {
    case DK_OPT_INT: k.type = CT_INT64; break;
    case DK_OPT_SIZE: k.type = CT_SIZE; break;
    case DK_OPT_RATE: k.type = CT_RATE; break;
    case DK_OPT_DURATION: k.type = CT_DUR; break;
    case DK_OPT_BOOL: k.type = CT_BOOL; break;
    case DK_OPT_WORD: k.type = CT_ENUM; break;
    case DK_OPT_STRING:
        if (strlen(v) > DK_CONFIG_VALUE_MAX) {
            snprintf(why, whylen, "expected at most %d characters", DK_CONFIG_VALUE_MAX);
            return DK_ECONFIG;
        }
        memcpy(field, &v, sizeof v);
        return 0;
    default:
        snprintf(why, whylen, "unknown option type %u", (unsigned)o->type);
        return DK_EBADPLUGIN;
    }
    if ((k.type == CT_SIZE || k.type == CT_RATE) && (o->min < 0 || o->max < o->min)) {
        snprintf(why, whylen, "bad range %lld..%lld", (long long)o->min, (long long)o->max);
        return DK_EBADPLUGIN;
    }
    if (k.type == CT_ENUM && (!o->words || !o->words[0])) {
        snprintf(why, whylen, "a word option without words");
        return DK_EBADPLUGIN;
    }
    return cfg_apply_to(NULL, field, &k, v, 0, why, whylen);
}

int dk_config_plugin_options(const dk_config *c, const char *section, const dk_option *spec,
                             size_t n, void *out, char *err, size_t errlen)
{
    char why[640], names[512];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const dk_option *o = &spec[i];
        if (!o->key || !cfg_popt_key_ok(o->key) || !o->dflt) {
            snprintf(err, errlen, "[%s]: the plugin's option table is wrong at entry %zu ('%s'): "
                     "expected a key of [a-z0-9_] and a default", section, i, o->key ? o->key : "(null)");
            return DK_EBADPLUGIN;
        }
        int m = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", o->key);
        if (m > 0 && (size_t)m < sizeof names - used)
            used += (size_t)m;
        /* The default first: it must pass its own check. */
        int rc = cfg_popt_value(o, o->dflt, out, why, sizeof why);
        if (rc) {
            snprintf(err, errlen, "[%s] %s: the plugin's default '%s' is refused by its own check (%s)",
                     section, o->key, o->dflt, why);
            return DK_EBADPLUGIN;
        }
    }
    for (size_t j = 0; j < c->n_popts; j++) {
        const dk_config_popt *p = &c->popts[j];
        if (strcmp(p->section, section) != 0)
            continue;
        const dk_option *o = NULL;
        for (size_t i = 0; i < n && !o; i++)
            if (strcmp(spec[i].key, p->key) == 0)
                o = &spec[i];
        if (!o) {
            snprintf(why, sizeof why, n ? "unknown key '%s' in [%s]; expected one of: %s"
                                        : "unknown key '%s': the plugin of [%s] takes no options%s",
                     p->key, section, names);
            dk_config_popt_describe(c, p, why, err, errlen);
            return DK_ECONFIG;
        }
        int rc = cfg_popt_value(o, p->value, out, why, sizeof why);
        if (rc) {
            dk_config_popt_describe(c, p, why, err, errlen);
            return rc == DK_EBADPLUGIN ? DK_EBADPLUGIN : DK_ECONFIG;
        }
    }
    return 0;
}

/* ---- the INI file ------------------------------------------------------- */

typedef struct cfg_load {
    dk_config *c;
    const char *path;
    const char *buf;
    size_t len, pos;
    int line;                   /* physical line last handed to inih */
    int indented;               /* that line starts with whitespace */
    int failed, err_line;
    char *err;
    size_t errlen;
    const cfg_key *prev;        /* key of the previous handler call */
    int first_line[CFG_NKEYS];  /* line where each key was set, 0 = not yet */
    int prev_popt;              /* the previous call set a plugin key */
    dk_config_report_fn report; /* collecting mode: every error goes here */
    void *report_arg;
    int n_errors;               /* errors reported in collecting mode */
    int skip_section;           /* collecting: inside an unknown section */
    int prev_key_line;          /* collecting: a key = value line came last */
} cfg_load;

static void cfg_fail(cfg_load *L, const char *fmt, ...) DK_PRINTF(2, 3);
static void cfg_fail(cfg_load *L, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(L->err, L->errlen, "%s:%d: ", L->path, L->line);
    if (n >= 0 && (size_t)n < L->errlen) {
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    if (L->report) {
        L->report(L->report_arg, L->err);
        L->n_errors++;
        return;
    }
    L->failed = 1;
    L->err_line = L->line;
}

/* Collecting mode: a line inih would refuse or cut ("" keeps inih's line
 * count right); 0 when it is fine. str is the line as handed out. */
static int cfg_collect_line(cfg_load *L, const char *raw, size_t n, char *str)
{
    if (n > CFG_LINE_MAX || memchr(raw, '\0', n)) {
        str[0] = '\0';                 /* reported by the pre-scan */
        L->prev_key_line = 0;
        return 1;
    }
    const char *p = str;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p || *p == ';' || *p == '#')
        return 0;
    if (*p == '[') {
        if (!strchr(p, ']')) {
            cfg_fail(L, "a section header without ']'; expected '[section]'");
            str[0] = '\0';
            return 1;
        }
        return 0;
    }
    if (p > str && L->prev_key_line)
        return 0;                       /* an inih continuation line */
    if (!strchr(p, '=') && !strchr(p, ':')) {
        cfg_fail(L, "expected '[section]', 'key = value' or a comment");
        str[0] = '\0';
        L->prev_key_line = 0;
        return 1;
    }
    L->prev_key_line = 1;
    return 0;
}

/* inih reader: hand out one physical line (without its newline) and check
 * section headers, which inih would silently accept when they hold no key.
 * Returning NULL ends the parse, which is also how an error stops it. */
static char *cfg_reader(char *str, int num, void *stream)
{
    cfg_load *L = stream;
    if (L->failed || L->pos >= L->len)
        return NULL;
    const char *p = L->buf + L->pos;
    const char *nl = memchr(p, '\n', L->len - L->pos);
    size_t n = nl ? (size_t)(nl - p) : L->len - L->pos;
    L->pos += n + (nl != NULL);
    L->line++;
    L->indented = n > 0 && isspace((unsigned char)p[0]);
    size_t copy = n < (size_t)num - 1 ? n : (size_t)num - 1;
    memcpy(str, p, copy);
    str[copy] = '\0';
    if (L->report && cfg_collect_line(L, p, n, str))
        return str;

    const char *close = copy > 0 && str[0] == '[' ? strchr(str, ']') : NULL;
    if (close) {
        char name[CFG_LINE_MAX + 1];
        size_t nlen = (size_t)(close - str - 1);
        memcpy(name, str + 1, nlen);
        name[nlen] = '\0';
        L->prev = NULL;
        L->prev_key_line = 0;
        L->skip_section = 0;
        L->prev_popt = 0;
        if (!cfg_is_section(name)) {
            cfg_fail(L, "unknown section [%s]; %s", name, cfg_sections_expect);
            L->skip_section = 1;
            return L->report ? str : NULL;
        }
    }
    return str;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
    cfg_load *L = user;
    char why[640], what[900];
    if (L->failed)
        return 0;
    if (L->skip_section)
        return 1;                       /* collecting: the section was reported */
    if (!*section) {
        cfg_fail(L, "key '%s' is outside any section; expected it under a [section] header", name);
        return 0;
    }
    if (dk_config_is_plugin_section(section)) {
        const dk_config_popt *o = dk_config_popt_find(L->c, section, name);
        if (L->indented && L->prev_popt && o) {
            cfg_fail(L, "this indented line continues [%s] %s, which takes one value; only list keys "
                     "such as [cluster] seeds continue on indented lines: remove the indentation",
                     section, name);
            return 0;
        }
        if (o && o->line > 0) {
            cfg_fail(L, "[%s] %s is set twice (first on line %d); expected each key once",
                     section, name, o->line);
            return 0;
        }
        if (cfg_popt_set(L->c, section, name, value, L->line, why, sizeof why) != 0) {
            cfg_fail(L, "[%s] %s = %s: %s", section, name, value, why);
            return 0;
        }
        L->prev = NULL;
        L->prev_popt = 1;
        return 1;
    }
    L->prev_popt = 0;
    const cfg_key *k = cfg_lookup(section, name, why, sizeof why);
    if (!k) {
        cfg_fail(L, "%s", why);
        return 0;
    }
    size_t idx = (size_t)(k - cfg_keys);
    int append = 0;
    if (L->indented && L->prev == k) {
        if (k->type != CT_SEEDS) {
            cfg_fail(L, "this indented line continues [%s] %s, which takes one value; only list keys "
                     "such as [cluster] seeds continue on indented lines: remove the indentation",
                     k->section, k->name);
            return 0;
        }
        append = 1;
    } else if (L->first_line[idx]) {
        cfg_fail(L, "[%s] %s is set twice (first on line %d); expected each key once",
                 k->section, k->name, L->first_line[idx]);
        return 0;
    }
    if (cfg_apply(L->c, k, value, append, why, sizeof why) != 0) {
        cfg_describe(what, sizeof what, k, value, why);
        cfg_fail(L, "%s", what);
        return 0;
    }
    if (!append)
        L->first_line[idx] = L->line;
    L->prev = k;
    return 1;
}

/* Read the whole file (at most CFG_FILE_MAX bytes) into *out. */
static int cfg_read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open the configuration file: %s", path, strerror(e));
        return DK_ECONFIG;
    }
    char *buf = malloc(CFG_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, CFG_FILE_MAX + 1, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (rerr) {
        snprintf(err, errlen, "%s: cannot read the configuration file: %s", path, strerror(rerr));
        free(buf);
        return DK_ECONFIG;
    }
    if (n > CFG_FILE_MAX) {
        snprintf(err, errlen, "%s: file is larger than %d bytes; expected a small INI file",
                 path, CFG_FILE_MAX);
        free(buf);
        return DK_ECONFIG;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

static int cfg_load_file(dk_config *c, const char *path, char *err, size_t errlen,
                         dk_config_report_fn report, void *report_arg)
{
    char *buf;
    size_t len;
    int rc = cfg_read_file(path, &buf, &len, err, errlen);
    if (rc)
        return rc;

    cfg_load *L = calloc(1, sizeof *L);
    if (!L) {
        free(buf);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    L->c = c;
    L->path = path;
    L->buf = buf;
    L->len = len;
    L->err = err;
    L->errlen = errlen;
    L->report = report;
    L->report_arg = report_arg;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        L->pos = 3;

    /* Lines inih would cut in two, and NUL bytes it would stop at. */
    const char *p = buf + L->pos, *end = buf + len;
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        L->line = line;
        if (memchr(p, '\0', n)) {
            cfg_fail(L, "the line contains a NUL byte; expected a text file");
            if (!report)
                break;
        } else if (n > CFG_LINE_MAX) {
            cfg_fail(L, "line longer than %d characters; use indented continuation lines",
                     CFG_LINE_MAX);
            if (!report)
                break;
        }
        p = eol + 1;
    }

    if (!L->failed) {
        L->line = 0;
        int ini = ini_parse_stream(cfg_reader, L, cfg_handler, L);
        if (report) {
            /* inih's first error is one the reader or the handler reported,
             * unless nothing was: then say what inih says. */
            if (ini > 0 && L->n_errors == 0) {
                L->line = ini;
                cfg_fail(L, "expected '[section]', 'key = value' or a comment");
            } else if (ini < 0) {
                report(report_arg, "out of memory");
                L->n_errors++;
            }
        } else if (ini > 0 && (!L->failed || ini < L->err_line)) {
            L->line = ini;
            cfg_fail(L, "expected '[section]', 'key = value' or a comment");
        } else if (ini < 0 && !L->failed) {
            snprintf(err, errlen, "%s: out of memory", path);
            L->failed = 1;
        }
    }
    rc = L->failed || L->n_errors ? DK_ECONFIG : 0;
    if (rc == 0 || report)
        snprintf(c->path, sizeof c->path, "%s", path);
    free(L);
    free(buf);
    return rc;
}

int dk_config_load_file(dk_config *c, const char *path, char *err, size_t errlen)
{
    return cfg_load_file(c, path, err, errlen, NULL, NULL);
}

/* ---- checks between keys ------------------------------------------------ */

/* Two listen addresses that name the same host:port (port 0 never clashes:
 * each socket gets its own free port). */
static int cfg_same_listen(const char *a, const char *b)
{
    const char *colon = strrchr(a, ':');
    return strcmp(a, b) == 0 && !(colon && strcmp(colon, ":0") == 0);
}

/* Every rule between keys; each failure goes to report, or ends the check
 * with err when report is NULL. Returns the number of failures. */
/* Is the host of listen address a ("ip:port", "[ip6]:port", "name:port")
 * a loopback address: 127.0.0.0/8, ::1, ::ffff:127.x.y.z or localhost? */
static int cfg_addr_loopback(const char *a)
{
    char host[DK_CONFIG_ADDR_MAX + 1];
    const char *end;
    if (a[0] == '[') {
        a++;
        end = strchr(a, ']');
    } else {
        end = strrchr(a, ':');
    }
    size_t n = end ? (size_t)(end - a) : strlen(a);
    if (n >= sizeof(host))
        return 0;
    memcpy(host, a, n);
    host[n] = '\0';
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    return strcmp(host, "localhost") == 0;
}

/* Is the host of listen address a the wildcard (0.0.0.0, [::], empty)? */
static int cfg_addr_wildcard(const char *a)
{
    const char *colon = strrchr(a, ':');
    size_t n = colon ? (size_t)(colon - a) : strlen(a);
    return n == 0 || (n == 7 && !strncmp(a, "0.0.0.0", 7)) || (n == 4 && !strncmp(a, "[::]", 4));
}

static int cfg_check_rules(const dk_config *c, char *err, size_t errlen, dk_config_report_fn report,
                           void *arg)
{
    const char *where = c->path[0] ? c->path : "configuration";
    static const struct { const char *a, *b; size_t oa, ob; } pairs[] = {
        {"http_listen", "rpc_listen", offsetof(dk_config, node.http_listen), offsetof(dk_config, node.rpc_listen)},
        {"rpc_listen", "gossip_listen", offsetof(dk_config, node.rpc_listen), offsetof(dk_config, node.gossip_listen)},
        {"http_listen", "gossip_listen", offsetof(dk_config, node.http_listen), offsetof(dk_config, node.gossip_listen)},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *va = (const char *)c + pairs[i].oa, *vb = (const char *)c + pairs[i].ob;
        /* http and rpc may not share even a port-0 spelling (the existing
         * rule); the gossip pairs only clash on a real port. */
        if (i == 0 ? strcmp(va, vb) != 0 : !cfg_same_listen(va, vb))
            continue;
        snprintf(err, errlen, "%.300s: [node] %s and %s are both %.270s; expected two different addresses",
                 where, pairs[i].a, pairs[i].b, va);
        if (!report)
            return 1;
        report(arg, err);
        n++;
    }
    /* Protected mode: without a cluster key, cluster traffic is not
     * authenticated by any secret, so it stays on loopback addresses. */
    static const char *const listens[] = {"rpc_listen", "gossip_listen"};
    for (int i = 0; i < 2 && !c->security.cluster_key_file[0] && !c->security.insecure; i++) {
        const char *v = i == 0 ? c->node.rpc_listen : c->node.gossip_listen;
        if (cfg_addr_loopback(v))
            continue;
        snprintf(err, errlen, "%.300s: [node] %s = %.270s is not a loopback address, but there is no "
                 "[security] cluster_key_file: without a key anyone who reaches the port could join the "
                 "cluster and read or write every key. Write a key with `dynkvd keygen PATH`, copy it to "
                 "every node and set [security] cluster_key_file = PATH (or, on a network you trust "
                 "completely, [security] insecure = true)", where, listens[i], v);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    /* A wildcard listen address is not an address others can reach: the
     * node must be told which one to advertise. */
    static const char *const all_listens[] = {"http_listen", "rpc_listen", "gossip_listen"};
    for (int i = 0; i < 3 && !c->node.advertise_address[0]; i++) {
        const char *v = i == 0 ? c->node.http_listen : i == 1 ? c->node.rpc_listen : c->node.gossip_listen;
        if (!cfg_addr_wildcard(v))
            continue;
        snprintf(err, errlen, "%.300s: [node] %s = %.270s listens on every interface, but other members "
                 "cannot reach a wildcard address: set [node] advertise_address to the host name or IP "
                 "address they should use for this node", where, all_listens[i], v);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    char why[300];
    if (dk_log_apply_levels(c->log.levels, why, sizeof why, 1) != 0) {
        snprintf(err, errlen, "%.300s: [log] levels = %.200s: %s", where, c->log.levels, why);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    const dk_config_security *sec = &c->security;
    const char *tls_msg = NULL;
    if (!sec->tls_cert_file[0] != !sec->tls_key_file[0])
        tls_msg = "[security] tls_cert_file and tls_key_file go together: set both for HTTPS, or neither";
    if (tls_msg) {
        snprintf(err, errlen, "%.300s: %s", where, tls_msg);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    if (sec->tls_ca_file[0] && !sec->tls_cert_file[0]) {
        /* Mutual TLS between nodes needs this node's own certificate. */
        snprintf(err, errlen, "%.300s: [security] tls_ca_file (mutual TLS between nodes) needs tls_cert_file "
                 "and tls_key_file: the node's certificate, signed by that CA, naming its node id", where);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    return n;
}

int dk_config_check(const dk_config *c, char *err, size_t errlen)
{
    const char *where = c->path[0] ? c->path : "configuration";
    /* The crdt resolver is loaded on every node for CRDT objects; as the
     * resolver of plain values it would take a PUT's bytes for an
     * operation and refuse them all. */
    if (strcmp(c->conflict.resolver, DK_CRDT_RESOLVER) == 0) {
        snprintf(err, errlen, "%s: [conflict] resolver = %s: every node already uses the crdt resolver for "
                 "CRDT keys (/crdt/{key}), and it cannot resolve plain /kv values; expected a resolver of "
                 "values such as vclock or lww", where, c->conflict.resolver);
        return DK_ECONFIG;
    }
    return cfg_check_rules(c, err, errlen, NULL, NULL) ? DK_ECONFIG : 0;
}

/* ---- command line ------------------------------------------------------- */

void dk_config_usage(const char *prog, FILE *f)
{
    fprintf(f,
            "Usage: %s [--config FILE] [--set section.key=value]...\n"
            "       %s keygen PATH\n"
            "       %s token NAME read|write|admin\n"
            "Start a dynkv node, or write a new cluster key file (mode 0600) for\n"
            "[security] cluster_key_file, or print a new client token and its line\n"
            "for [security] tokens_file.\n"
            "\n"
            "  -c, --config FILE               read the INI configuration FILE\n"
            "  -s, --set section.key=value     override one configuration key; repeatable,\n"
            "                                  applied in order after the file\n"
            "      --check-config FILE         check FILE (and any --set) and the plugins it\n"
            "                                  names, report every error, start nothing\n"
            "  -h, --help                      show this help and exit\n"
            "  -V, --version                   show the version and exit\n"
            "\n"
            "Configuration keys use section.key names: [cluster] n_replicas in the file\n"
            "is cluster.n_replicas on the command line. Keys and their defaults:\n",
            prog, prog, prog);
    for (size_t i = 0; i < CFG_NKEYS; i++)
        fprintf(f, "  %s.%s = %s\n", cfg_keys[i].section, cfg_keys[i].name, cfg_keys[i].dflt);
    fprintf(f, "\nSizes take K/M/G suffixes (powers of 1024), durations ms/s/m/h/d.\n"
            "Plugins take their own options from their own section, e.g. [engine.lsm] codec\n"
            "(--set engine.lsm.codec=lz4) or [compaction.leveled] l0_trigger; the annotated\n"
            "example configuration lists the built-in plugins' options.\n");
}

/* The value of an option given as "--opt value" or "--opt=value": *val
 * gets it (advancing *i past a separate argument), or the function
 * returns 0 when arg is not this option. */
static int cfg_opt(char **argv, int argc, int *i, const char *lng, const char *shrt,
                   const char **val, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    size_t n = strlen(lng);
    if (strncmp(arg, lng, n) == 0 && arg[n] == '=') {
        *val = arg + n + 1;
        return 1;
    }
    if (strcmp(arg, lng) != 0 && strcmp(arg, shrt) != 0)
        return 0;
    if (*i + 1 >= argc) {
        snprintf(err, errlen, "%s: expected a value after it (see --help)", arg);
        *val = NULL;
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

/* Split "section.key=value" into its parts (copied into buf); 0 or -1.
 * The key is what follows the last dot before '=', so plugin sections
 * work: "engine.lsm.codec=none" is [engine.lsm] codec. */
static int cfg_split_set(const char *s, char *buf, size_t len, char **section, char **key, char **value)
{
    if (strlen(s) >= len)
        return -1;
    strcpy(buf, s);
    char *eq = strchr(buf, '=');
    char *dot = NULL;
    for (char *p = buf; eq && p < eq; p++)
        if (*p == '.')
            dot = p;
    if (!eq || !dot || dot == buf || dot + 1 == eq)
        return -1;
    *dot = '\0';
    *eq = '\0';
    *section = buf;
    *key = dot + 1;
    *value = eq + 1;
    return 0;
}

int dk_config_from_args(dk_config *c, int argc, char **argv, int *exit_now, char *err, size_t errlen)
{
    const char *prog = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
    prog = prog ? prog + 1 : (argc > 0 && argv[0] ? argv[0] : "dynkvd");
    const char *file = NULL;
    const char **sets = NULL;
    int n_sets = 0, rc = 0;
    char *buf = NULL;
    *exit_now = 0;
    dk_config_defaults(c);
    if (argc > 1 && !(sets = calloc((size_t)argc, sizeof *sets))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val;
        int r;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            dk_config_usage(prog, stdout);
            *exit_now = 1;
            goto out;
        }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            printf("%s (dynkv) %s\n", prog, DK_VERSION);
            *exit_now = 1;
            goto out;
        }
        if ((r = cfg_opt(argv, argc, &i, "--config", "-c", &val, err, errlen)) != 0) {
            if (r < 0)
                goto fail;
            if (file) {
                snprintf(err, errlen, "--config given twice ('%s' and '%s'); expected one "
                         "configuration file", file, val);
                goto fail;
            }
            file = val;
        } else if ((r = cfg_opt(argv, argc, &i, "--set", "-s", &val, err, errlen)) != 0) {
            if (r < 0)
                goto fail;
            sets[n_sets++] = val;
        } else if (arg[0] == '-') {
            snprintf(err, errlen, "unknown option '%s'; expected --config FILE, --set section.key=value, "
                     "--help or --version", arg);
            goto fail;
        } else {
            snprintf(err, errlen, "unexpected argument '%s'; expected options only (see --help)", arg);
            goto fail;
        }
    }

    if (file && (rc = dk_config_load_file(c, file, err, errlen)) != 0)
        goto out;
    size_t buflen = 0;
    for (int i = 0; i < n_sets; i++)
        if (strlen(sets[i]) + 1 > buflen)
            buflen = strlen(sets[i]) + 1;
    if (n_sets && !(buf = malloc(buflen))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < n_sets; i++) {
        char *section, *key, *value, why[640];
        if (cfg_split_set(sets[i], buf, buflen, &section, &key, &value) != 0) {
            snprintf(err, errlen, "--set %s: expected section.key=value, e.g. --set node.id=n2", sets[i]);
            goto fail;
        }
        if (dk_config_is_plugin_section(section)) {
            if (cfg_popt_set(c, section, key, value, 0, why, sizeof why) != 0) {
                snprintf(err, errlen, "--set %s.%s=%s: %s", section, key, value, why);
                goto fail;
            }
            continue;
        }
        const cfg_key *k = cfg_lookup(section, key, why, sizeof why);
        if (!k || cfg_apply(c, k, value, 0, why, sizeof why) != 0) {
            int secret = k && k->type == CT_STR && k->form == CF_SECRET;
            snprintf(err, errlen, "--set %s.%s=%s: %s%s", section, key, secret ? "(hidden)" : value,
                     why, k && !secret ? cfg_hint(value) : "");
            goto fail;
        }
    }
    rc = dk_config_check(c, err, errlen);
    goto out;
fail:
    rc = DK_ECONFIG;
out:
    free(buf);
    free(sets);
    return rc;
}

typedef struct cfg_counter {
    dk_config_report_fn fn;
    void *arg;
    int n;
} cfg_counter;

static void cfg_count(void *arg, const char *msg)
{
    cfg_counter *k = arg;
    k->n++;
    k->fn(k->arg, msg);
}

int dk_config_check_args(dk_config *c, int argc, char **argv, dk_config_report_fn report, void *arg)
{
    char err[1024], why[640];
    const char *file = NULL;
    int n = 0;
    dk_config_defaults(c);
    const char **sets = calloc((size_t)(argc > 0 ? argc : 1), sizeof *sets);
    int n_sets = 0;
    if (!sets)
        return -ENOMEM;
    for (int i = 1; i < argc; i++) {
        const char *val;
        int r;
        if ((r = cfg_opt(argv, argc, &i, "--config", "-c", &val, err, sizeof err)) != 0) {
            if (r < 0) {
                report(arg, err);
                n++;
            } else if (file) {
                snprintf(err, sizeof err, "--config given twice ('%s' and '%s'); expected one "
                         "configuration file", file, val);
                report(arg, err);
                n++;
            } else {
                file = val;
            }
        } else if ((r = cfg_opt(argv, argc, &i, "--set", "-s", &val, err, sizeof err)) != 0) {
            if (r < 0) {
                report(arg, err);
                n++;
            } else {
                sets[n_sets++] = val;
            }
        } else {
            snprintf(err, sizeof err, "unexpected argument '%s'; expected --config FILE and "
                     "--set section.key=value", argv[i]);
            report(arg, err);
            n++;
        }
    }
    if (file) {
        cfg_counter k = {report, arg, 0};
        err[0] = '\0';
        if (cfg_load_file(c, file, err, sizeof err, cfg_count, &k) != 0 && k.n == 0) {
            report(arg, err);           /* the file itself: missing, unreadable, too large */
            k.n++;
        }
        n += k.n;
    }
    for (int i = 0; i < n_sets; i++) {
        size_t len = strlen(sets[i]) + 1;
        char *buf = malloc(len), *section, *key, *value;
        if (!buf) {
            free(sets);
            return -ENOMEM;
        }
        if (cfg_split_set(sets[i], buf, len, &section, &key, &value) != 0) {
            snprintf(err, sizeof err, "--set %s: expected section.key=value, e.g. --set node.id=n2", sets[i]);
            report(arg, err);
            n++;
        } else if (dk_config_is_plugin_section(section)) {
            if (cfg_popt_set(c, section, key, value, 0, why, sizeof why) != 0) {
                snprintf(err, sizeof err, "--set %s.%s=%s: %s", section, key, value, why);
                report(arg, err);
                n++;
            }
        } else {
            const cfg_key *k = cfg_lookup(section, key, why, sizeof why);
            if (!k || cfg_apply(c, k, value, 0, why, sizeof why) != 0) {
                int secret = k && k->type == CT_STR && k->form == CF_SECRET;
                snprintf(err, sizeof err, "--set %s.%s=%s: %s%s", section, key, secret ? "(hidden)" : value,
                         why, k && !secret ? cfg_hint(value) : "");
                report(arg, err);
                n++;
            }
        }
        free(buf);
    }
    free(sets);
    return n + cfg_check_rules(c, err, sizeof err, report, arg);
}
