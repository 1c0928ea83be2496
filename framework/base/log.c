/*
 * log.c - the process-wide logger.
 *
 * Each line is formatted into a stack buffer and emitted with a single
 * write() on a descriptor opened with O_APPEND, so concurrent lines (even
 * from other processes sharing the file) never interleave; the level is an
 * atomic int so a disabled level costs one load. A reader-writer lock only
 * keeps open/close from closing the descriptor under a write in progress:
 * writers take it shared and never wait for each other. The alternative, a
 * FILE* with flockfile, buffers in user space and would lose the last lines
 * before a crash, which are the ones an operator needs.
 *
 * Subsystems: a message that starts with "name: " (name of [a-z0-9-],
 * the convention of every dk_log call: "rpc: ...", "membership: ...")
 * belongs to that subsystem, which may have a level of its own
 * (dk_log_set_subsystem_level: [log] levels, POST /admin/loglevel). The
 * overrides are a small fixed table written under a mutex and read
 * without one; log_max holds the most verbose level any of them enables,
 * so a message no level wants still costs one atomic load.
 *
 * Format: text ("<time> <LEVEL> <message>") or JSON, one object per line
 * ({"time","level","subsystem","message"}; the subsystem prefix moves out
 * of the message; bytes outside printable ASCII are \u00XX escaped, so a
 * line is always valid JSON).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

#define LOG_LINE_MAX 4096

static atomic_int log_level = DK_LOG_INFO;
static atomic_int log_max = DK_LOG_INFO; /* max(log_level, every override) */
static atomic_int log_json;

#define LOG_SUBS_MAX 32
typedef struct log_sub {
    char name[DK_LOG_SUBSYSTEM_MAX + 1];
    atomic_int level; /* -1: follows log_level */
} log_sub;
static log_sub log_subs[LOG_SUBS_MAX];
static atomic_int log_n_subs; /* entries published (names never change) */
static pthread_mutex_t log_subs_mu = PTHREAD_MUTEX_INITIALIZER;
/* The descriptor in use and its lock: writers take it shared, open/close
 * exclusively, so a descriptor is never closed under a concurrent write. */
static int log_fd = STDERR_FILENO;
static pthread_rwlock_t log_lock = PTHREAD_RWLOCK_INITIALIZER;

static const char *const log_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static int log_clamp(int level)
{
    if (level < DK_LOG_ERROR)
        return DK_LOG_ERROR;
    if (level > DK_LOG_DEBUG)
        return DK_LOG_DEBUG;
    return level;
}

int dk_log_open(const char *path, int level)
{
    if (level < DK_LOG_ERROR || level > DK_LOG_DEBUG)
        return DK_ECONFIG;
    int fd = STDERR_FILENO;
    if (path && *path) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
    }
    pthread_rwlock_wrlock(&log_lock);
    int old = log_fd;
    log_fd = fd;
    pthread_rwlock_unlock(&log_lock);
    if (old != STDERR_FILENO && old != fd)
        close(old);
    dk_log_set_level(level);
    return 0;
}

void dk_log_close(void)
{
    pthread_rwlock_wrlock(&log_lock);
    int old = log_fd;
    log_fd = STDERR_FILENO;
    pthread_rwlock_unlock(&log_lock);
    if (old != STDERR_FILENO)
        close(old);
}

/* Recompute log_max; callers hold log_subs_mu or run before threads. */
static void log_recompute_max(void)
{
    int m = atomic_load(&log_level), n = atomic_load(&log_n_subs);
    for (int i = 0; i < n; i++) {
        int l = atomic_load(&log_subs[i].level);
        if (l > m)
            m = l;
    }
    atomic_store(&log_max, m);
}

void dk_log_set_level(int level)
{
    pthread_mutex_lock(&log_subs_mu);
    atomic_store(&log_level, log_clamp(level));
    log_recompute_max();
    pthread_mutex_unlock(&log_subs_mu);
}

void dk_log_set_json(int json)
{
    atomic_store(&log_json, json != 0);
}

int dk_log_json(void)
{
    return atomic_load(&log_json);
}

int dk_log_subsystem_ok(const char *name, size_t len)
{
    if (len == 0 || len > DK_LOG_SUBSYSTEM_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
            return 0;
    return 1;
}

int dk_log_set_subsystem_level(const char *name, int level)
{
    size_t len = strlen(name);
    if (!dk_log_subsystem_ok(name, len) || level < -1 || level > DK_LOG_DEBUG)
        return DK_ECONFIG;
    pthread_mutex_lock(&log_subs_mu);
    int n = atomic_load(&log_n_subs), rc = 0, i;
    for (i = 0; i < n && strcmp(log_subs[i].name, name) != 0; i++)
        ;
    if (i == n) {
        if (n == LOG_SUBS_MAX || level < 0) {
            rc = level < 0 ? 0 : -ENOSPC;
            goto out;
        }
        memcpy(log_subs[n].name, name, len + 1);
        atomic_store(&log_subs[n].level, level);
        atomic_store(&log_n_subs, n + 1);
    } else {
        atomic_store(&log_subs[i].level, level);
    }
    log_recompute_max();
out:
    pthread_mutex_unlock(&log_subs_mu);
    return rc;
}

void dk_log_each_subsystem(void (*fn)(void *arg, const char *name, int level), void *arg)
{
    int n = atomic_load(&log_n_subs);
    for (int i = 0; i < n; i++) {
        int l = atomic_load(&log_subs[i].level);
        if (l >= 0)
            fn(arg, log_subs[i].name, l);
    }
}

int dk_log_apply_levels(const char *spec, char *err, size_t errlen, int dry_run)
{
    char buf[256];
    if (strlen(spec) >= sizeof buf) {
        snprintf(err, errlen, "expected at most %zu characters", sizeof buf - 1);
        return DK_ECONFIG;
    }
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *item = strtok_r(buf, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        char *eq = strchr(item, '=');
        int level;
        if (!eq || !dk_log_subsystem_ok(item, (size_t)(eq - item)) ||
            dk_log_level_parse(eq + 1, &level) != 0) {
            snprintf(err, errlen,
                     "'%s': expected SUBSYSTEM=LEVEL (a subsystem of a-z, 0-9 and '-', "
                     "a level of error, warn, info or debug), comma-separated",
                     item);
            return DK_ECONFIG;
        }
        *eq = '\0';
        if (!dry_run && dk_log_set_subsystem_level(item, level) != 0) {
            snprintf(err, errlen, "more than %d subsystems with a level of their own", LOG_SUBS_MAX);
            return DK_ECONFIG;
        }
    }
    return 0;
}

/* The subsystem of a message ("rpc: ..."): its length, 0 when none. */
static size_t log_subsystem_of(const char *msg)
{
    size_t i = 0;
    while (i <= DK_LOG_SUBSYSTEM_MAX &&
           ((msg[i] >= 'a' && msg[i] <= 'z') || (msg[i] >= '0' && msg[i] <= '9') || msg[i] == '-'))
        i++;
    return i > 0 && i <= DK_LOG_SUBSYSTEM_MAX && msg[i] == ':' && msg[i + 1] == ' ' ? i : 0;
}

/* Whether a message of subsystem sub (len n, may be 0) at level is wanted. */
static int log_wanted(int level, const char *sub, size_t n)
{
    int cutoff = atomic_load(&log_level), count = atomic_load(&log_n_subs);
    for (int i = 0; n && i < count; i++)
        if (strlen(log_subs[i].name) == n && memcmp(log_subs[i].name, sub, n) == 0) {
            int l = atomic_load(&log_subs[i].level);
            if (l >= 0)
                cutoff = l;
            break;
        }
    return level <= cutoff;
}

/* Append s (len n) to out as JSON string contents; returns the new length
 * (stops short of cap, which leaves room for the closing). */
static size_t log_json_escape(char *out, size_t at, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && at + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            memcpy(out + at, "\\u00", 4);
            out[at + 4] = hex[c >> 4];
            out[at + 5] = hex[c & 15];
            at += 6;
        } else {
            out[at++] = (char)c;
        }
    }
    return at;
}

int dk_log_level(void)
{
    return atomic_load(&log_level);
}

int dk_log_level_parse(const char *s, int *level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (!s)
        return DK_ECONFIG;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    return DK_ECONFIG;
}

/* Write all of buf, retrying on EINTR and short writes. A logger has
 * nowhere to report its own failure, so errors are dropped. */
static void log_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void dk_logv(int level, const char *fmt, va_list ap)
{
    level = log_clamp(level);
    if (level > atomic_load(&log_max))
        return;

    char msg[LOG_LINE_MAX], line[LOG_LINE_MAX];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        return;
    size_t mlen = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    if ((size_t)n >= sizeof msg)
        memcpy(msg + mlen - 3, "...", 3);
    size_t sub = log_subsystem_of(msg);
    if (level > atomic_load(&log_level) || atomic_load(&log_n_subs)) {
        if (!log_wanted(level, msg, sub))
            return;
    }
    for (size_t i = 0; i < mlen; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch < 0x20 || ch == 0x7f)
            msg[i] = ' ';
    }

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
    size_t len;
    if (atomic_load(&log_json)) {
        static const char *const lower[] = {"error", "warn", "info", "debug"};
        int head = snprintf(line, sizeof line,
                            "{\"time\":\"%s\",\"level\":\"%s\",\"subsystem\":\"%.*s\","
                            "\"message\":\"",
                            when, lower[level], (int)sub, msg);
        if (head < 0)
            return;
        size_t skip = sub ? sub + 2 : 0;
        len = log_json_escape(line, (size_t)head, sizeof line - 3, msg + skip, mlen - skip);
        memcpy(line + len, "\"}\n", 3);
        len += 3;
    } else {
        int head = snprintf(line, sizeof line, "%s %s ", when, log_names[level]);
        if (head < 0)
            return;
        if ((size_t)head + mlen + 1 > sizeof line) { /* the whole line stays within LOG_LINE_MAX */
            mlen = sizeof line - (size_t)head - 1;
            memcpy(msg + mlen - 3, "...", 3);
        }
        memcpy(line + head, msg, mlen);
        len = (size_t)head + mlen;
        line[len++] = '\n';
    }

    pthread_rwlock_rdlock(&log_lock);
    log_write_all(log_fd, line, len);
    pthread_rwlock_unlock(&log_lock);
}

void dk_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dk_logv(level, fmt, ap);
    va_end(ap);
}
