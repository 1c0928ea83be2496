/*
 * env.h - the file-system interface every byte of LSM I/O goes through.
 *
 * Like LevelDB's Env or WiredTiger's WT_FILE_SYSTEM: the engine never calls
 * open(2) or fsync(2) itself, so a test can swap in env_fault.c, an
 * in-memory file system that forgets whatever was not made durable (file
 * data before an fsync, directory entries before a directory fsync) at an
 * injected crash point. The alternative, LD_PRELOAD interposition, cannot
 * model directory durability and is not portable to sanitizer builds.
 *
 * Files written by the engine are written sequentially (WAL, tables,
 * manifest; a recycled WAL is rewritten from its start); reads are
 * positional. Every call returns 0 or -errno.
 * All methods may be called from any thread; one writable file is used by
 * one thread at a time, readable files concurrently.
 */
#ifndef DK_LSM_ENV_H
#define DK_LSM_ENV_H
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct lsm_env lsm_env;
typedef struct lsm_wfile lsm_wfile; /* append-only writable file */
typedef struct lsm_rfile lsm_rfile; /* positional-read file */

/* Called by list() once per entry name (no "." or ".."); a non-zero return stops. */
typedef int (*lsm_list_cb)(void *arg, const char *name);

typedef struct lsm_env_ops {
    /* Create (or truncate) path for appending. */
    int (*create)(lsm_env *env, const char *path, lsm_wfile **out);
    int (*append)(lsm_wfile *f, const void *p, size_t n);
    /* Make the file's data durable (data_only: fdatasync). */
    int (*sync)(lsm_wfile *f, int data_only);
    /* Close; does not sync. Always frees f. */
    int (*close_w)(lsm_wfile *f);
    int (*open_r)(lsm_env *env, const char *path, lsm_rfile **out);
    /* Read up to n bytes at off; *got < n only at end of file. */
    int (*pread)(lsm_rfile *f, void *p, size_t n, uint64_t off, size_t *got);
    int (*size)(lsm_rfile *f, uint64_t *out);
    void (*close_r)(lsm_rfile *f);
    /* Shrink path to len bytes and make the file durable: its size and
     * every byte before len (an fsync; the WAL's settle relies on it). */
    int (*truncate)(lsm_env *env, const char *path, uint64_t len);
    int (*rename)(lsm_env *env, const char *from, const char *to);
    int (*unlink)(lsm_env *env, const char *path);
    int (*list)(lsm_env *env, const char *dir, lsm_list_cb cb, void *arg);
    int (*mkdir)(lsm_env *env, const char *path);
    /* Make the directory's entries (creates, renames, unlinks) durable. */
    int (*sync_dir)(lsm_env *env, const char *path);
    void (*destroy)(lsm_env *env);
    /* Rename `from` to `to` and open it for writing from offset 0: appends
     * overwrite the old bytes in place and extend the file past its old
     * end. Overwriting already allocated blocks lets fdatasync skip the
     * metadata journal commit an extending write costs (WAL recycling).
     * The rename is durable after sync_dir. May be NULL: the engine then
     * always creates fresh files. */
    int (*reuse)(lsm_env *env, const char *from, const char *to, lsm_wfile **out);
    /* append() of the concatenation of iov[0..n) (a gather write, so a
     * record's large values need not be copied into one buffer first). */
    int (*appendv)(lsm_wfile *f, const struct iovec *iov, int n);
    /* Start writing the first `len` bytes of f back to the device and
     * wait for the writeback an earlier call started (RocksDB's
     * bytes_per_sync): a long table write then never leaves more than
     * one interval of dirty pages for its final sync, or for a WAL
     * fdatasync queued on the same device, to wait behind. Makes nothing
     * durable: only sync() does. May be NULL (no incremental writeback). */
    int (*writeback)(lsm_wfile *f, uint64_t len);
    /* pread() that never waits for the device: all n bytes from the page
     * cache, or -EAGAIN (then nothing is promised about p). For the
     * non-blocking point read. May be NULL (every such read is -EAGAIN). */
    int (*pread_nowait)(lsm_rfile *f, void *p, size_t n, uint64_t off, size_t *got);
    /* create() of a file written around the page cache (O_DIRECT): the
     * file stages appends in an aligned buffer and writes its whole
     * blocks once an append leaves 64 KiB or more staged (the caller's
     * appends are its device writes);
     * sync() and close_w() also write the last partial block, padded,
     * and cut the file back to its length. writeback() does nothing.
     * -EINVAL where the file system has no direct I/O (or the kernel
     * does not tell its alignment); may be NULL: the caller then uses
     * create(). */
    int (*create_direct)(lsm_env *env, const char *path, lsm_wfile **out);
} lsm_env_ops;

struct lsm_env {
    const lsm_env_ops *ops;
};

/* The POSIX env (env_posix.c). Caller owns the result; destroy with
 * env->ops->destroy. Returns NULL when out of memory. */
lsm_env *dk__lsm_env_posix(void);
/* One line in the DK_LSM_TRACE file (env_posix.c), if one is open. */
void dk__lsm_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read the whole file at path into a malloc'd buffer (*out, *len); the
 * caller frees *out. */
int dk__lsm_env_read_all(lsm_env *env, const char *path, uint8_t **out, size_t *len);
/* Write data to path.tmp, sync it, rename it over path, sync dir. */
int dk__lsm_env_write_atomic(lsm_env *env, const char *dir, const char *name, const void *data, size_t len);

/* The engine's clock: monotonic microseconds (CLOCK_MONOTONIC), the one
 * every engine file reads (stall and sync timings, pacing, the yield to
 * the WAL). Not an env method: no test fakes time through the env; the
 * one wait a test drives on a fake clock takes its clock as an argument
 * (io_yield.h's lsm_yield_env). */
uint64_t dk__lsm_now_us(void);
#endif
