/*
 * config_int.h - what the configuration's files share, private to base/:
 * config_values.c (the key table and one value's parsing), config_ini.c
 * (the INI reader and plugin sections), config_check.c (rules between
 * keys) and config_args.c (dynkvd's command line).
 *
 * The key table itself is defined once, in config_values.c (which alone
 * includes config_keys.h); the others reach it through dk__cfg_keys and
 * dk__cfg_nkeys. Everything here runs on the caller's thread and keeps no
 * state of its own besides the constant tables.
 */
#ifndef DK_CONFIG_INT_H
#define DK_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>
#include "base/config.h"

enum cfg_type {
    CT_STR,
    CT_INT,
    CT_BOOL,
    CT_SIZE,
    CT_RATE,
    CT_DUR,
    CT_ENUM,
    CT_SEEDS,
    CT_INT64 /* plugin options only: an int64_t field */
};
/* What a CT_STR value must look like; for CT_SIZE, CF_AUTO also takes the
 * word "auto" (stored as DK_CONFIG_AUTO, sized at start). */
enum cfg_form { CF_TEXT, CF_ID, CF_LABEL, CF_ADDR, CF_PATH, CF_SECRET, CF_HOST, CF_AUTO };

typedef struct cfg_key {
    const char *section, *name;
    unsigned char type, form;
    size_t off, size;           /* field in dk_config */
    int64_t min, max;           /* CT_INT, CT_SIZE, CT_RATE, CT_DUR */
    const char *const *choices; /* CT_ENUM (index = value), CT_STR allowed words */
    const char *dflt;
} cfg_key;

/* The table of core keys (config_keys.h) and its length. */
extern const cfg_key dk__cfg_keys[];
extern const size_t dk__cfg_nkeys;

/* "expected one of [node], ..." for an unknown section. */
extern const char dk__cfg_sections_expect[];

/* 1 if s names a core section or a plugin's own section. */
int dk__cfg_is_section(const char *s);

/* 1 if k may be a plugin option's name ([a-z0-9_]{1,64}). */
int dk__cfg_popt_key_ok(const char *k);

/* Set a plugin section's key (replacing an earlier value, as --set does);
 * line is the file's line, 0 for --set. 0, DK_ECONFIG or -ENOMEM; on
 * failure why says what was expected. */
int dk__cfg_popt_set(dk_config *c, const char *section, const char *key, const char *value, int line,
                     char *why, size_t whylen);

/* The core key section/key, or NULL with why saying what exists (or where
 * a key that moved to a plugin section went). */
const cfg_key *dk__cfg_lookup(const char *section, const char *key, char *why, size_t whylen);

/* Set the value of key k at field from text v (c is needed only for the
 * seed list, and may be NULL otherwise). append adds to a list instead of
 * replacing it (inih continuation lines). 0 or DK_ECONFIG (-ENOMEM for the
 * seed list); on failure why says what was expected. */
int dk__cfg_apply_to(dk_config *c, char *field, const cfg_key *k, const char *v, int append, char *why,
                     size_t whylen);

/* dk__cfg_apply_to on key k's own field of c. */
int dk__cfg_apply(dk_config *c, const cfg_key *k, const char *v, int append, char *why, size_t whylen);

/* A hint for the two ways inih surprises people ("" when none applies);
 * a static string. */
const char *dk__cfg_hint(const char *v);

/* Format "[section] key = value: why<hint>" into out; secrets are not
 * echoed. */
void dk__cfg_describe(char *out, size_t len, const cfg_key *k, const char *v, const char *why);

/* Load the INI file at path over c (config_ini.c). With report NULL the
 * first error goes to err and ends the load; otherwise every error goes to
 * report and err only gets the file's own failure (missing, unreadable,
 * too large). 0, DK_ECONFIG or -ENOMEM. */
int dk__cfg_load_file(dk_config *c, const char *path, char *err, size_t errlen, dk_config_report_fn report,
                      void *report_arg);

/* Every rule between keys (config_check.c); each failure goes to report,
 * or ends the check with err when report is NULL. Returns the number of
 * failures. */
int dk__cfg_check_rules(const dk_config *c, char *err, size_t errlen, dk_config_report_fn report, void *arg);

#endif /* DK_CONFIG_INT_H */
