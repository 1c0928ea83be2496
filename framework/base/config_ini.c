/*
 * config_ini.c - the INI file (inih) and the options of plugin sections.
 *
 * inih as packaged by Debian does not pass line numbers to the handler,
 * cuts lines at 199 characters without saying so, and ignores sections
 * that hold no key. So the file is read into memory first, checked for
 * over-long lines and NUL bytes, then fed to ini_parse_stream through our
 * own reader, which counts lines (the handler runs on the line the reader
 * handed out last), notes whether a line is indented (an inih continuation)
 * and checks section headers as they go by. Each value goes through
 * dk__cfg_apply (config_values.c), as defaults and --set do.
 *
 * A plugin's own section ([engine.lsm]) holds keys the core table cannot
 * know; they are kept as text with their line number and parsed by the
 * plugin through the host (framework/plugin/plugin_opts.c, which calls
 * dk_config_plugin_options here and words its errors with
 * dk_config_popt_describe so they read like the core keys' ones).
 *
 * `dynkvd --check-config` wants every error, not the first: the same code
 * runs in a collecting mode (a report callback in dk__cfg_load_file) where
 * cfg_fail reports and parsing goes on. The reader then also finds the
 * lines inih would refuse (it only returns the first one's number) and
 * hands them to inih blanked, and skips the keys of an unknown section
 * rather than reporting each of them again.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/config_int.h"

/* Longest physical line inih reads whole (it cuts at INI_MAX_LINE - 1). */
#define CFG_LINE_MAX (INI_MAX_LINE - 1)
#define CFG_FILE_MAX (1024 * 1024)

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
    if (o->min == 0 && o->max == 0) { /* no range given: any value of the type */
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
    default: snprintf(why, whylen, "unknown option type %u", (unsigned)o->type); return DK_EBADPLUGIN;
    }
    if ((k.type == CT_SIZE || k.type == CT_RATE) && (o->min < 0 || o->max < o->min)) {
        snprintf(why, whylen, "bad range %lld..%lld", (long long)o->min, (long long)o->max);
        return DK_EBADPLUGIN;
    }
    if (k.type == CT_ENUM && (!o->words || !o->words[0])) {
        snprintf(why, whylen, "a word option without words");
        return DK_EBADPLUGIN;
    }
    return dk__cfg_apply_to(NULL, field, &k, v, 0, why, whylen);
}

int dk_config_plugin_options(const dk_config *c, const char *section, const dk_option *spec, size_t n,
                             void *out, char *err, size_t errlen)
{
    char why[640], names[512];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const dk_option *o = &spec[i];
        if (!o->key || !dk__cfg_popt_key_ok(o->key) || !o->dflt) {
            snprintf(err, errlen,
                     "[%s]: the plugin's option table is wrong at entry %zu ('%s'): "
                     "expected a key of [a-z0-9_] and a default",
                     section, i, o->key ? o->key : "(null)");
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
            snprintf(why, sizeof why,
                     n ? "unknown key '%s' in [%s]; expected one of: %s"
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

typedef struct cfg_load {
    dk_config *c;
    const char *path;
    const char *buf;
    size_t len, pos;
    int line;     /* physical line last handed to inih */
    int indented; /* that line starts with whitespace */
    int failed, err_line;
    char *err;
    size_t errlen;
    const cfg_key *prev;        /* key of the previous handler call */
    int prev_popt;              /* the previous call set a plugin key */
    dk_config_report_fn report; /* collecting mode: every error goes here */
    void *report_arg;
    int n_errors;      /* errors reported in collecting mode */
    int skip_section;  /* collecting: inside an unknown section */
    int prev_key_line; /* collecting: a key = value line came last */
    int first_line[];  /* per core key: line where it was set, 0 = not yet */
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
        str[0] = '\0'; /* reported by the pre-scan */
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
        return 0; /* an inih continuation line */
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
        if (!dk__cfg_is_section(name)) {
            cfg_fail(L, "unknown section [%s]; %s", name, dk__cfg_sections_expect);
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
        return 1; /* collecting: the section was reported */
    if (!*section) {
        cfg_fail(L, "key '%s' is outside any section; expected it under a [section] header", name);
        return 0;
    }
    if (dk_config_is_plugin_section(section)) {
        const dk_config_popt *o = dk_config_popt_find(L->c, section, name);
        if (L->indented && L->prev_popt && o) {
            cfg_fail(L,
                     "this indented line continues [%s] %s, which takes one value; only list keys "
                     "such as [cluster] seeds continue on indented lines: remove the indentation",
                     section, name);
            return 0;
        }
        if (o && o->line > 0) {
            cfg_fail(L, "[%s] %s is set twice (first on line %d); expected each key once", section, name,
                     o->line);
            return 0;
        }
        if (dk__cfg_popt_set(L->c, section, name, value, L->line, why, sizeof why) != 0) {
            cfg_fail(L, "[%s] %s = %s: %s", section, name, value, why);
            return 0;
        }
        L->prev = NULL;
        L->prev_popt = 1;
        return 1;
    }
    L->prev_popt = 0;
    const cfg_key *k = dk__cfg_lookup(section, name, why, sizeof why);
    if (!k) {
        cfg_fail(L, "%s", why);
        return 0;
    }
    size_t idx = (size_t)(k - dk__cfg_keys);
    int append = 0;
    if (L->indented && L->prev == k) {
        if (k->type != CT_SEEDS) {
            cfg_fail(L,
                     "this indented line continues [%s] %s, which takes one value; only list keys "
                     "such as [cluster] seeds continue on indented lines: remove the indentation",
                     k->section, k->name);
            return 0;
        }
        append = 1;
    } else if (L->first_line[idx]) {
        cfg_fail(L, "[%s] %s is set twice (first on line %d); expected each key once", k->section, k->name,
                 L->first_line[idx]);
        return 0;
    }
    if (dk__cfg_apply(L->c, k, value, append, why, sizeof why) != 0) {
        dk__cfg_describe(what, sizeof what, k, value, why);
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
        snprintf(err, errlen, "%s: file is larger than %d bytes; expected a small INI file", path,
                 CFG_FILE_MAX);
        free(buf);
        return DK_ECONFIG;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

int dk__cfg_load_file(dk_config *c, const char *path, char *err, size_t errlen, dk_config_report_fn report,
                      void *report_arg)
{
    char *buf;
    size_t len;
    int rc = cfg_read_file(path, &buf, &len, err, errlen);
    if (rc)
        return rc;

    cfg_load *L = calloc(1, sizeof *L + dk__cfg_nkeys * sizeof L->first_line[0]);
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
            cfg_fail(L, "line longer than %d characters; use indented continuation lines", CFG_LINE_MAX);
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
    return dk__cfg_load_file(c, path, err, errlen, NULL, NULL);
}
