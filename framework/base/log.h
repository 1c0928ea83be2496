/*
 * log.h - the node's logger: one line per event, "<ISO-8601 UTC time with
 * ms> <LEVEL> <message>", written to a file or to stderr (never stdout).
 *
 * The logger is process-global (there is one daemon per process) and every
 * function may be called from any thread. Until dk_log_open is called,
 * messages at DK_LOG_INFO and more severe go to stderr.
 */
#ifndef DK_LOG_H
#define DK_LOG_H
#include <stdarg.h>
#include "dynkv/types.h"
#include "util/errors.h" /* dk_strerror for every caller of the logger */

/* Send log lines to path (created if needed, opened for append), or to
 * stderr when path is NULL or "", and keep lines at or above level (a
 * DK_LOG_* value). Calling it again reopens (e.g. after log rotation); the
 * previous file is closed. Returns 0, -errno when the file cannot be opened
 * (the previous destination stays in use), or DK_ECONFIG for a bad level. */
int dk_log_open(const char *path, int level);

/* Close the log file, if any, and log to stderr again. */
void dk_log_close(void);

/* Change the level; out-of-range values are clamped to ERROR..DEBUG. */
void dk_log_set_level(int level);

/* Current level (DK_LOG_*). */
int dk_log_level(void);

/* Lines as JSON objects (1) or text (0, the default). */
void dk_log_set_json(int json);
int dk_log_json(void);

/* Subsystems: the "name: " a message starts with ([a-z0-9-], at most
 * DK_LOG_SUBSYSTEM_MAX). Give one a level of its own (level -1: follow
 * the node's level again); DK_ECONFIG for a bad name or level, -ENOSPC
 * past 32 subsystems. Any thread. */
#define DK_LOG_SUBSYSTEM_MAX 24
int dk_log_subsystem_ok(const char *name, size_t len);
int dk_log_set_subsystem_level(const char *name, int level);
/* Call fn for every subsystem with a level of its own. */
void dk_log_each_subsystem(void (*fn)(void *arg, const char *name, int level), void *arg);
/* Apply "rpc=debug,membership=warn" ([log] levels); with dry_run only
 * check it. 0, or DK_ECONFIG with the reason in err. */
int dk_log_apply_levels(const char *spec, char *err, size_t errlen, int dry_run);

/* Parse "error", "warn", "info" or "debug" (case-insensitive) into *level.
 * Returns 0 or DK_ECONFIG (then *level is unchanged). */
int dk_log_level_parse(const char *s, int *level);

/* Log one line at level if the level is enabled. Newlines and other
 * control characters in the message are replaced by spaces so that an
 * event is always exactly one line; messages longer than about 4 KiB are
 * truncated with "...". One write() per line, so lines from concurrent
 * threads and processes appending to the same file never interleave. */
void dk_log(int level, const char *fmt, ...) DK_PRINTF(2, 3);
void dk_logv(int level, const char *fmt, va_list ap) DK_PRINTF(2, 0);

#endif /* DK_LOG_H */
