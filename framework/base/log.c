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
    atomic_store(&log_level, level);
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

void dk_log_set_level(int level)
{
    atomic_store(&log_level, log_clamp(level));
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
    if (level > atomic_load(&log_level))
        return;

    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int head = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                        tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, log_names[level]);
    if (head < 0)
        return;
    /* Room for the message, keeping one byte for the newline. */
    size_t room = sizeof line - (size_t)head - 1;
    int n = vsnprintf(line + head, room, fmt, ap);
    if (n < 0)
        n = 0;
    size_t len = (size_t)head + ((size_t)n < room ? (size_t)n : room - 1);
    if ((size_t)n >= room)
        memcpy(line + len - 3, "...", 3);
    for (size_t i = (size_t)head; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 || ch == 0x7f)
            line[i] = ' ';
    }
    line[len++] = '\n';

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
