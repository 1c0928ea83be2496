/*
 * config_args.c - dynkvd's command line: --config FILE, repeated --set
 * section.key=value applied in order after the file, --help (the usage
 * text lists every key with its default, from the key table) and
 * --version; and --check-config's variant of the same parse, which
 * reports every error instead of stopping at the first.
 *
 * The options are few, so they are matched by hand (cfg_opt takes both
 * "--opt value" and "--opt=value") rather than with getopt_long, whose
 * global state and reordering of argv a library function should not
 * touch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/config_int.h"

#ifndef DK_VERSION
#define DK_VERSION "unknown"
#endif

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
    for (size_t i = 0; i < dk__cfg_nkeys; i++)
        fprintf(f, "  %s.%s = %s\n", dk__cfg_keys[i].section, dk__cfg_keys[i].name, dk__cfg_keys[i].dflt);
    fprintf(f, "\nSizes take K/M/G suffixes (powers of 1024), durations ms/s/m/h/d.\n"
               "Plugins take their own options from their own section, e.g. [engine.lsm] codec\n"
               "(--set engine.lsm.codec=lz4) or [compaction.leveled] l0_trigger; the annotated\n"
               "example configuration lists the built-in plugins' options.\n");
}

/* The value of an option given as "--opt value" or "--opt=value": *val
 * gets it (advancing *i past a separate argument), or the function
 * returns 0 when arg is not this option. */
static int cfg_opt(char **argv, int argc, int *i, const char *lng, const char *shrt, const char **val,
                   char *err, size_t errlen)
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
                snprintf(err, errlen,
                         "--config given twice ('%s' and '%s'); expected one "
                         "configuration file",
                         file, val);
                goto fail;
            }
            file = val;
        } else if ((r = cfg_opt(argv, argc, &i, "--set", "-s", &val, err, errlen)) != 0) {
            if (r < 0)
                goto fail;
            sets[n_sets++] = val;
        } else if (arg[0] == '-') {
            snprintf(err, errlen,
                     "unknown option '%s'; expected --config FILE, --set section.key=value, "
                     "--help or --version",
                     arg);
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
            if (dk__cfg_popt_set(c, section, key, value, 0, why, sizeof why) != 0) {
                snprintf(err, errlen, "--set %s.%s=%s: %s", section, key, value, why);
                goto fail;
            }
            continue;
        }
        const cfg_key *k = dk__cfg_lookup(section, key, why, sizeof why);
        if (!k || dk__cfg_apply(c, k, value, 0, why, sizeof why) != 0) {
            int secret = k && k->type == CT_STR && k->form == CF_SECRET;
            snprintf(err, errlen, "--set %s.%s=%s: %s%s", section, key, secret ? "(hidden)" : value, why,
                     k && !secret ? dk__cfg_hint(value) : "");
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
                snprintf(err, sizeof err,
                         "--config given twice ('%s' and '%s'); expected one "
                         "configuration file",
                         file, val);
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
            snprintf(err, sizeof err,
                     "unexpected argument '%s'; expected --config FILE and "
                     "--set section.key=value",
                     argv[i]);
            report(arg, err);
            n++;
        }
    }
    if (file) {
        cfg_counter k = {report, arg, 0};
        err[0] = '\0';
        if (dk__cfg_load_file(c, file, err, sizeof err, cfg_count, &k) != 0 && k.n == 0) {
            report(arg, err); /* the file itself: missing, unreadable, too large */
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
            if (dk__cfg_popt_set(c, section, key, value, 0, why, sizeof why) != 0) {
                snprintf(err, sizeof err, "--set %s.%s=%s: %s", section, key, value, why);
                report(arg, err);
                n++;
            }
        } else {
            const cfg_key *k = dk__cfg_lookup(section, key, why, sizeof why);
            if (!k || dk__cfg_apply(c, k, value, 0, why, sizeof why) != 0) {
                int secret = k && k->type == CT_STR && k->form == CF_SECRET;
                snprintf(err, sizeof err, "--set %s.%s=%s: %s%s", section, key, secret ? "(hidden)" : value,
                         why, k && !secret ? dk__cfg_hint(value) : "");
                report(arg, err);
                n++;
            }
        }
        free(buf);
    }
    free(sets);
    return n + dk__cfg_check_rules(c, err, sizeof err, report, arg);
}
