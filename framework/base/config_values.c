/*
 * config_values.c - the node configuration's keys and their values: the
 * key table, parsing and checking one value, defaults, dk_config_set, and
 * the text of the errors the INI reader and the command line print.
 *
 * Every key is one row of the table in config_keys.h: section, name, type,
 * where it lives in dk_config, its range and its default written as text.
 * Defaults, the INI file (config_ini.c) and --set overrides
 * (config_args.c) all go through the same dk__cfg_apply, so a default can
 * never be a value the file would refuse, and the usage text and the
 * "expected one of" lists are generated from the table. The alternative, a
 * hand-written if/else per key in the inih handler, is how unknown keys
 * and unchecked ranges slip in.
 *
 * A plugin's own section ([engine.lsm]) holds keys this table cannot know;
 * they are kept as text with their line number (dk__cfg_popt_set) and
 * parsed later against the plugin's option table (config_ini.c).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config.h"
#include "base/config_int.h"
#include "base/duration.h"

#include "base/config_keys.h"

static int cfg_name_ok(const char *s, int label);

const char dk__cfg_sections_expect[] =
    "expected one of [node], [cluster], [storage], [compaction], "
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

int dk__cfg_is_section(const char *s)
{
    for (size_t i = 0; i < CFG_NSECTIONS; i++)
        if (strcmp(s, cfg_sections[i]) == 0)
            return 1;
    return dk_config_is_plugin_section(s);
}

/* [a-z0-9_]{1,64}: what a plugin's key may be. */
int dk__cfg_popt_key_ok(const char *k)
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
int dk__cfg_popt_set(dk_config *c, const char *section, const char *key, const char *value, int line,
                     char *why, size_t whylen)
{
    if (!dk__cfg_popt_key_ok(key)) {
        snprintf(why, whylen,
                 "'%s' is not a plugin option name; expected 1..%d characters from "
                 "a-z, 0-9 and '_'",
                 key, DK_CONFIG_KEY_MAX);
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
        if (strcmp(dk__cfg_keys[i].section, section) == 0 && strcmp(dk__cfg_keys[i].name, name) == 0)
            return &dk__cfg_keys[i];
    return NULL;
}

/* "expected one of ..." text for a section's keys or for a word list. */
static void cfg_list_keys(const char *section, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < CFG_NKEYS && used < len; i++) {
        if (strcmp(dk__cfg_keys[i].section, section) != 0)
            continue;
        int n = snprintf(out + used, len - used, "%s%s", used ? ", " : "", dk__cfg_keys[i].name);
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
static const char cfg_listen_expect[] =
    "expected host:port with a port in 0..65535, 0 = any free port (IPv6 as [addr]:port)";

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
            snprintf(why, whylen,
                     "'%.*s' is not a seed address: %s; separate seeds with commas "
                     "or spaces",
                     (int)n, p, cfg_addr_expect);
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
int dk__cfg_apply_to(dk_config *c, char *field, const cfg_key *k, const char *v, int append, char *why,
                     size_t whylen)
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
                snprintf(why, whylen,
                         "expected a host name or an IP address without a port, such as "
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
        default: break;
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
        if (k->form == CF_AUTO && strcasecmp(v, "auto") == 0) {
            *(uint64_t *)field = DK_CONFIG_AUTO;
            return 0;
        }
        if ((k->type == CT_SIZE ? dk_size_parse(v, &u) : cfg_parse_rate(v, &u)) != 0 ||
            u < (uint64_t)k->min || u > (uint64_t)k->max) {
            dk_size_format((uint64_t)k->min, lo, sizeof lo);
            dk_size_format((uint64_t)k->max, hi, sizeof hi);
            snprintf(why, whylen,
                     "expected %s%s in %s..%s%s (bytes, or a K/KB/KiB, M/MB/MiB or G/GB/GiB "
                     "suffix; all powers of 1024)",
                     k->form == CF_AUTO ? "auto or a " : "a ",
                     k->type == CT_SIZE ? "size" : "rate per second", lo, hi,
                     k->type == CT_RATE ? ", 0 = unlimited" : "");
            return DK_ECONFIG;
        }
        *(uint64_t *)field = u;
        return 0;
    case CT_DUR:
        if (dk_duration_parse(v, &n) != 0 || n < k->min || n > k->max) {
            dk_duration_format(k->min, lo, sizeof lo);
            dk_duration_format(k->max, hi, sizeof hi);
            snprintf(why, whylen,
                     "expected a duration in %s..%s (a whole number with a ms, s, m, h or d "
                     "suffix; no suffix means seconds)",
                     lo, hi);
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
    default: assert(!"unknown config key type"); return DK_ECONFIG;
    }
}

/* Set key k of c from text v (see dk__cfg_apply_to). */
int dk__cfg_apply(dk_config *c, const cfg_key *k, const char *v, int append, char *why, size_t whylen)
{
    return dk__cfg_apply_to(c, (char *)c + k->off, k, v, append, why, whylen);
}

/* Hints for the two ways inih surprises people. */
const char *dk__cfg_hint(const char *v)
{
    if (v[0] == '"' || v[0] == '\'')
        return "; note that quotes are not removed: write the value bare";
    if (strchr(v, ';'))
        return "; note that ';' starts a comment only after a space or tab";
    return "";
}

void dk_config_popt_describe(const dk_config *c, const dk_config_popt *o, const char *why, char *out,
                             size_t len)
{
    if (o->line > 0)
        snprintf(out, len, "%s:%d: [%s] %s = %s: %s%s", c->path[0] ? c->path : "configuration", o->line,
                 o->section, o->key, o->value, why, dk__cfg_hint(o->value));
    else
        snprintf(out, len, "--set %s.%s=%s: %s%s", o->section, o->key, o->value, why, dk__cfg_hint(o->value));
}

/* Format "[section] key = value: why<hint>"; secrets are not echoed. */
void dk__cfg_describe(char *out, size_t len, const cfg_key *k, const char *v, const char *why)
{
    int secret = k->type == CT_STR && k->form == CF_SECRET;
    snprintf(out, len, "[%s] %s = %s: %s%s", k->section, k->name, secret ? "(hidden)" : v, why,
             secret ? "" : dk__cfg_hint(v));
}

void dk_config_defaults(dk_config *c)
{
    char why[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        int rc = dk__cfg_apply(c, &dk__cfg_keys[i], dk__cfg_keys[i].dflt, 0, why, sizeof why);
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
const cfg_key *dk__cfg_lookup(const char *section, const char *key, char *why, size_t whylen)
{
    char names[512];
    if (!dk__cfg_is_section(section)) {
        snprintf(why, whylen, "unknown section [%s]; %s", section, dk__cfg_sections_expect);
        return NULL;
    }
    const cfg_key *k = cfg_find(section, key);
    if (!k) {
        for (size_t i = 0; i < CFG_NMOVED; i++) {
            if (strcmp(cfg_moved_keys[i].section, section) == 0 && strcmp(cfg_moved_keys[i].name, key) == 0) {
                snprintf(why, whylen, "[%s] %s moved to the plugin's own section: write it under %s", section,
                         key, cfg_moved_keys[i].to);
                return NULL;
            }
        }
        cfg_list_keys(section, names, sizeof names);
        snprintf(why, whylen, "unknown key '%s' in [%s]; expected one of: %s", key, section, names);
    }
    return k;
}

int dk_config_set(dk_config *c, const char *section, const char *key, const char *value, char *err,
                  size_t errlen)
{
    char why[640];
    if (dk_config_is_plugin_section(section)) {
        int rc = dk__cfg_popt_set(c, section, key, value, 0, why, sizeof why);
        if (rc)
            snprintf(err, errlen, "[%s] %s = %s: %s", section, key, value, why);
        return rc;
    }
    const cfg_key *k = dk__cfg_lookup(section, key, why, sizeof why);
    if (!k) {
        snprintf(err, errlen, "%s", why);
        return DK_ECONFIG;
    }
    int rc = dk__cfg_apply(c, k, value, 0, why, sizeof why);
    if (rc)
        dk__cfg_describe(err, errlen, k, value, why);
    return rc;
}
