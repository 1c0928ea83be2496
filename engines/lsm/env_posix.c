/*
 * env_posix.c - the production env: plain POSIX file descriptors.
 *
 * Writes go straight to write(2) or writev(2) without a user-space buffer:
 * the WAL and table builders already assemble whole records and blocks
 * (the WAL as a gather list over the callers' values), so a second buffer
 * would only add a copy; only a direct file (px_create_direct, O_DIRECT)
 * stages appends, because the device takes whole aligned blocks. Reads
 * use pread(2) so many threads share one descriptor per table.
 *
 * DK_LSM_TRACE=path (read once, at the first env) appends one line per
 * file operation that changes the file system or waits for the device
 * (create, sync, writeback, close, truncate, rename, unlink, directory
 * sync, reuse) and per engine event (dk__lsm_trace: memtable switch, flush
 * and compaction start/end) to path: `mono_s tid op args dur_ms`, on
 * CLOCK_MONOTONIC, the axis of perf -k mono and dk_load's SLOW lines
 * (bench/load/stall-trace.sh). Unset, each operation pays one branch.
 */
#define _GNU_SOURCE 1 /* sync_file_range */
#include "env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* dbuf is NULL for a plain file; for a direct one (px_create_direct) it
 * stages appends: dlen bytes that belong at file offset doff, a multiple
 * of PX_DIO_ALIGN. */
struct lsm_wfile {
    int fd;
    uint8_t *dbuf;
    size_t dlen;
    uint64_t doff;
};

#define PX_DIO_ALIGN 4096u
/* A direct file writes its whole blocks at the end of an append that
 * leaves at least PX_DIO_EAGER staged (so each of the blob writer's 1 MiB
 * drains is one device write, after its yield to the WAL), or when the
 * buffer is full. */
#define PX_DIO_EAGER (64u * 1024u)
#define PX_DIO_BUF (1024u * 1024u + PX_DIO_EAGER)

static FILE *px_trace_f;
static pthread_mutex_t px_trace_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t px_trace_once = PTHREAD_ONCE_INIT;

static void px_trace_open(void)
{
    const char *p = getenv("DK_LSM_TRACE");
    if (p && *p)
        px_trace_f = fopen(p, "ae");
}

static double px_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void px_trace_v(double t0, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&px_trace_mu);
    fprintf(px_trace_f, "%.6f %d ", t0, (int)gettid());
    vfprintf(px_trace_f, fmt, ap);
    fprintf(px_trace_f, " %.3f\n", (px_now() - t0) * 1e3);
    pthread_mutex_unlock(&px_trace_mu);
}

/* One trace line that began at t0 (its duration is now - t0). */
static void px_trace(double t0, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void px_trace(double t0, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    px_trace_v(t0, fmt, ap);
    va_end(ap);
}

void dk__lsm_trace(const char *fmt, ...)
{
    if (!px_trace_f)
        return;
    va_list ap;
    va_start(ap, fmt);
    px_trace_v(px_now(), fmt, ap);
    va_end(ap);
}

#define PX_T0 (px_trace_f ? px_now() : 0.0)
struct lsm_rfile {
    int fd;
};

static int px_create(lsm_env *env, const char *path, lsm_wfile **out)
{
    (void)env;
    lsm_wfile *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    double t0 = PX_T0;
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int e = -errno;
        free(f);
        return e;
    }
    if (px_trace_f)
        px_trace(t0, "create fd=%d %s", f->fd, path);
    *out = f;
    return 0;
}


/* Whether fd's file system does direct I/O with blocks of PX_DIO_ALIGN
 * (it says so through statx, Linux 6.1 and later): tmpfs accepts
 * O_DIRECT but reports no alignment, and its pages stay in memory
 * anyway; a device needing larger blocks would refuse our writes. */
static int px_dio_fits(int fd)
{
#ifdef STATX_DIOALIGN
    struct statx st;
    return statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &st) == 0 && (st.stx_mask & STATX_DIOALIGN) &&
           st.stx_dio_offset_align && st.stx_dio_offset_align <= PX_DIO_ALIGN &&
           st.stx_dio_mem_align <= PX_DIO_ALIGN;
#else
    (void)fd;
    return 0;
#endif
}

/* Create path for appending around the page cache (O_DIRECT). The device
 * takes each block straight from dbuf, so the kernel neither copies the
 * bytes into freshly allocated page-cache pages (measured ~11 us of
 * system time per 10 KiB record on this project's VM, against ~2 for the
 * same bytes written direct) nor writes them back later from its flusher
 * threads. For files written once and read rarely soon after: a flush's
 * blob values, which a reader finds in the memtable or the block cache
 * first. -EINVAL where the file system has no direct I/O in blocks of
 * PX_DIO_ALIGN (px_dio_fits). */
static int px_create_direct(lsm_env *env, const char *path, lsm_wfile **out)
{
    (void)env;
    lsm_wfile *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    if (posix_memalign((void **)&f->dbuf, PX_DIO_ALIGN, PX_DIO_BUF)) {
        free(f);
        return -ENOMEM;
    }
    double t0 = PX_T0;
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
    if (f->fd < 0 || !px_dio_fits(f->fd)) {
        int e = f->fd < 0 ? -errno : -EINVAL;
        if (f->fd >= 0)
            close(f->fd);
        free(f->dbuf);
        free(f);
        return e;
    }
    if (px_trace_f)
        px_trace(t0, "create_direct fd=%d %s", f->fd, path);
    *out = f;
    return 0;
}

/* Write the whole blocks staged in f (and, with tail, the last partial
 * one too, zero-padded, then the file cut back to its length); the
 * partial block stays staged, to be written again once it grows. */
static int px_dio_write(lsm_wfile *f, int tail)
{
    size_t whole = f->dlen & ~(size_t)(PX_DIO_ALIGN - 1), part = f->dlen - whole;
    size_t n = whole + (tail && part ? PX_DIO_ALIGN : 0);
    if (n > whole)
        memset(f->dbuf + f->dlen, 0, n - f->dlen);
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(f->fd, f->dbuf + done, n - done, (off_t)(f->doff + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        /* A short direct write leaves an unaligned rest it cannot go on
         * from; one of nothing would loop. */
        if (w == 0 || ((size_t)w != n - done && ((size_t)w & (PX_DIO_ALIGN - 1))))
            return -EIO;
        done += (size_t)w;
    }
    if (n > whole && ftruncate(f->fd, (off_t)(f->doff + f->dlen)) < 0)
        return -errno;
    if (part && whole)
        memmove(f->dbuf, f->dbuf + whole, part);
    f->doff += whole;
    f->dlen = part;
    return 0;
}

static int px_dio_append(lsm_wfile *f, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t k = PX_DIO_BUF - f->dlen < n ? PX_DIO_BUF - f->dlen : n;
        memcpy(f->dbuf + f->dlen, p, k);
        f->dlen += k;
        p += k;
        n -= k;
        int rc;
        if (f->dlen == PX_DIO_BUF && (rc = px_dio_write(f, 0)))
            return rc;
    }
    return f->dlen >= PX_DIO_EAGER ? px_dio_write(f, 0) : 0;
}

static int px_append(lsm_wfile *f, const void *p, size_t n)
{
    if (f->dbuf)
        return px_dio_append(f, p, n);
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(f->fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int px_appendv(lsm_wfile *f, const struct iovec *iov, int n)
{
    if (f->dbuf) {
        int rc = 0;
        for (int i = 0; i < n && !rc; i++)
            rc = px_dio_append(f, iov[i].iov_base, iov[i].iov_len);
        return rc;
    }
    struct iovec cur[64];
    while (n > 0) {
        int k = n < 64 ? n : 64;
        memcpy(cur, iov, (size_t)k * sizeof(*cur));
        struct iovec *v = cur;
        int left = k;
        while (left > 0) {
            ssize_t w = writev(f->fd, v, left);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            /* Skip what was written; a short write resumes mid-vector. */
            while (left > 0 && (size_t)w >= v->iov_len) {
                w -= (ssize_t)v->iov_len;
                v++;
                left--;
            }
            if (left > 0) {
                v->iov_base = (uint8_t *)v->iov_base + w;
                v->iov_len -= (size_t)w;
            }
        }
        iov += k;
        n -= k;
    }
    return 0;
}

static int px_sync(lsm_wfile *f, int data_only)
{
    int rc = f->dbuf ? px_dio_write(f, 1) : 0;
    if (rc)
        return rc;
    double t0 = PX_T0;
    rc = data_only ? fdatasync(f->fd) : fsync(f->fd);
    rc = rc < 0 ? -errno : 0;
    if (px_trace_f)
        px_trace(t0, "%s fd=%d", data_only ? "fdatasync" : "fsync", f->fd);
    return rc;
}

static int px_writeback(lsm_wfile *f, uint64_t len)
{
    if (f->dbuf)
        return 0; /* nothing in the page cache to write back */
#ifdef SYNC_FILE_RANGE_WRITE
    /* WAIT_BEFORE: wait for pages already under writeback (the previous
     * interval); WRITE: queue the dirty ones, without waiting for them. */
    double t0 = PX_T0;
    if (sync_file_range(f->fd, 0, (off_t)len, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE) == 0) {
        if (px_trace_f)
            px_trace(t0, "writeback fd=%d len=%llu", f->fd, (unsigned long long)len);
        return 0;
    }
    if (errno != ENOSYS && errno != EINVAL && errno != ESPIPE)
        return -errno;
#else
    (void)len;
#endif
    return 0; /* no such call here: the final sync does all the work */
}

static int px_close_w(lsm_wfile *f)
{
    /* What is staged is written (not synced), as a plain file's would be. */
    int rc = f->dbuf && f->dlen ? px_dio_write(f, 1) : 0;
    double t0 = PX_T0;
    int fd = f->fd;
    if (close(f->fd) < 0 && !rc)
        rc = -errno;
    free(f->dbuf);
    if (px_trace_f)
        px_trace(t0, "close fd=%d", fd);
    free(f);
    return rc;
}

static int px_open_r(lsm_env *env, const char *path, lsm_rfile **out)
{
    (void)env;
    lsm_rfile *f = malloc(sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        int e = -errno;
        free(f);
        return e;
    }
    *out = f;
    return 0;
}

static int px_pread(lsm_rfile *f, void *p, size_t n, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (uint8_t *)p + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

/* preadv2(RWF_NOWAIT): the kernel answers from the page cache or refuses
 * with EAGAIN (a short count means the rest is not cached: refused too,
 * except at the end of the file). */
static int px_pread_nowait(lsm_rfile *f, void *p, size_t n, uint64_t off, size_t *got)
{
#ifdef RWF_NOWAIT
    struct iovec iov = {p, n};
    ssize_t r;
    do
        r = preadv2(f->fd, &iov, 1, (off_t)off, RWF_NOWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EAGAIN || errno == EOPNOTSUPP ? -EAGAIN : -errno;
    if ((size_t)r < n) {
        struct stat st;
        if (fstat(f->fd, &st) < 0 || (uint64_t)st.st_size > off + (uint64_t)r)
            return -EAGAIN;
    }
    *got = (size_t)r;
    return 0;
#else
    (void)f;
    (void)p;
    (void)n;
    (void)off;
    (void)got;
    return -EAGAIN;
#endif
}

static int px_size(lsm_rfile *f, uint64_t *out)
{
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return -errno;
    *out = (uint64_t)st.st_size;
    return 0;
}

static void px_close_r(lsm_rfile *f)
{
    close(f->fd);
    free(f);
}

static int px_truncate(lsm_env *env, const char *path, uint64_t len)
{
    (void)env;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    double t0 = PX_T0;
    if (ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (px_trace_f)
        px_trace(t0, "truncate %s len=%llu", path, (unsigned long long)len);
    return rc;
}

static int px_rename(lsm_env *env, const char *from, const char *to)
{
    (void)env;
    double t0 = PX_T0;
    int rc = rename(from, to) < 0 ? -errno : 0;
    if (px_trace_f)
        px_trace(t0, "rename %s %s", from, to);
    return rc;
}

static int px_unlink(lsm_env *env, const char *path)
{
    (void)env;
    double t0 = PX_T0;
    int rc = unlink(path) < 0 ? -errno : 0;
    if (px_trace_f)
        px_trace(t0, "unlink %s", path);
    return rc;
}

static int px_list(lsm_env *env, const char *dir, lsm_list_cb cb, void *arg)
{
    (void)env;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if ((rc = cb(arg, de->d_name)) != 0)
            break;
    }
    closedir(d);
    return rc;
}

static int px_mkdir(lsm_env *env, const char *path)
{
    (void)env;
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int px_sync_dir(lsm_env *env, const char *path)
{
    (void)env;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    double t0 = PX_T0;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    if (px_trace_f)
        px_trace(t0, "sync_dir %s", path);
    return rc;
}

static int px_reuse(lsm_env *env, const char *from, const char *to, lsm_wfile **out)
{
    (void)env;
    lsm_wfile *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    double t0 = PX_T0;
    if (rename(from, to) < 0 || (f->fd = open(to, O_WRONLY | O_CLOEXEC)) < 0) {
        int e = -errno;
        free(f);
        return e;
    }
    if (px_trace_f)
        px_trace(t0, "reuse fd=%d %s %s", f->fd, from, to);
    *out = f;
    return 0;
}

static void px_destroy(lsm_env *env)
{
    free(env);
}

static const lsm_env_ops px_ops = {
    .create = px_create,
    .append = px_append,
    .sync = px_sync,
    .close_w = px_close_w,
    .open_r = px_open_r,
    .pread = px_pread,
    .size = px_size,
    .close_r = px_close_r,
    .truncate = px_truncate,
    .rename = px_rename,
    .unlink = px_unlink,
    .list = px_list,
    .mkdir = px_mkdir,
    .sync_dir = px_sync_dir,
    .destroy = px_destroy,
    .reuse = px_reuse,
    .appendv = px_appendv,
    .writeback = px_writeback,
    .pread_nowait = px_pread_nowait,
    .create_direct = px_create_direct,
};

lsm_env *dk__lsm_env_posix(void)
{
    pthread_once(&px_trace_once, px_trace_open);
    lsm_env *env = malloc(sizeof(*env));
    if (env)
        env->ops = &px_ops;
    return env;
}

int dk__lsm_env_read_all(lsm_env *env, const char *path, uint8_t **out, size_t *len)
{
    lsm_rfile *f;
    int rc = env->ops->open_r(env, path, &f);
    if (rc)
        return rc;
    uint64_t sz;
    uint8_t *buf = NULL;
    size_t got = 0;
    if ((rc = env->ops->size(f, &sz)) == 0) {
        buf = malloc(sz ? sz : 1);
        if (!buf)
            rc = -ENOMEM;
        else
            rc = env->ops->pread(f, buf, sz, 0, &got);
    }
    env->ops->close_r(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = got;
    return 0;
}

int dk__lsm_env_write_atomic(lsm_env *env, const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    lsm_wfile *f;
    int rc = env->ops->create(env, tmp, &f);
    if (rc)
        return rc;
    rc = env->ops->append(f, data, len);
    if (!rc)
        rc = env->ops->sync(f, 0);
    int rc2 = env->ops->close_w(f);
    if (!rc)
        rc = rc2;
    if (!rc)
        rc = env->ops->rename(env, tmp, dst);
    if (!rc)
        rc = env->ops->sync_dir(env, dir);
    return rc;
}

uint64_t dk__lsm_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
