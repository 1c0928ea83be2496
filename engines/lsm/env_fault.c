/*
 * env_fault.c - in-memory file system with crash simulation (env_fault.h).
 *
 * Each file is an inode holding its current bytes and the bytes its last
 * sync made durable. The directory is two name->inode tables: the current
 * one and the one the last sync_dir made durable. A crash swaps in the
 * durable table and rolls every inode back to its durable bytes, so a file
 * created, renamed or unlinked after the last directory sync is undone
 * even when its data was synced - the strict POSIX reading, stricter than
 * ext4's ordered mode, which is what a test wants.
 *
 * Simple arrays with linear search: tests hold tens of files.
 */
#include "env_fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct fe_inode {
    uint8_t *data, *dur;
    size_t len, cap, dur_len;
    struct fe_inode *next_all;
} fe_inode;

typedef struct fe_entry {
    char *name;
    fe_inode *ino;
} fe_entry;

typedef struct fe_table {
    fe_entry *e;
    size_t n, cap;
} fe_table;

typedef struct fe_env {
    lsm_env base;
    pthread_mutex_t mu;
    fe_table cur, dur;
    fe_inode *all;
    uint64_t points, arm_at, rng;
    int flags, fired, dead;
    int full_err; /* dk__lsm_fault_full: creates and appends fail */
} fe_env;

struct lsm_wfile {
    fe_env *env;
    fe_inode *ino;
    size_t pos; /* next write offset (< len after reuse) */
};
struct lsm_rfile {
    fe_env *env;
    fe_inode *ino;
};

static fe_entry *fe_find(fe_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].name, name))
            return &t->e[i];
    return NULL;
}

static int fe_set(fe_table *t, const char *name, fe_inode *ino)
{
    fe_entry *e = fe_find(t, name);
    if (e) {
        e->ino = ino;
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        fe_entry *ne = realloc(t->e, cap * sizeof(*ne));
        if (!ne)
            return -ENOMEM;
        t->e = ne;
        t->cap = cap;
    }
    if (!(t->e[t->n].name = strdup(name)))
        return -ENOMEM;
    t->e[t->n++].ino = ino;
    return 0;
}

static void fe_del(fe_table *t, const char *name)
{
    fe_entry *e = fe_find(t, name);
    if (!e)
        return;
    free(e->name);
    *e = t->e[--t->n];
}

static void fe_clear(fe_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->e[i].name);
    t->n = 0;
}

static int fe_copy(fe_table *dst, const fe_table *src)
{
    fe_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        if (fe_set(dst, src->e[i].name, src->e[i].ino))
            return -ENOMEM;
    return 0;
}

/* Count a mutating point; returns the error to inject, or 0. Holds mu. */
static int fe_point(fe_env *fe, int is_sync)
{
    if (fe->dead)
        return -EIO;
    if ((fe->flags & LSM_FAULT_SYNC_ONLY) && !is_sync)
        return 0;
    fe->points++;
    if (fe->arm_at && fe->points == fe->arm_at) {
        fe->fired = 1;
        if (fe->flags & LSM_FAULT_CRASH)
            fe->dead = 1;
        return -EIO;
    }
    return 0;
}

static int fe_create(lsm_env *env, const char *path, lsm_wfile **out)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 0);
    if (!rc && fe->full_err)
        rc = fe->full_err;
    fe_inode *ino = NULL;
    lsm_wfile *f = NULL;
    if (!rc) {
        ino = calloc(1, sizeof(*ino));
        f = malloc(sizeof(*f));
        if (!ino || !f || fe_set(&fe->cur, path, ino)) {
            free(ino);
            free(f);
            rc = -ENOMEM;
        } else {
            ino->next_all = fe->all;
            fe->all = ino;
            f->env = fe;
            f->ino = ino;
            f->pos = 0;
            *out = f;
        }
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

/* Write n bytes at f's position. Holds mu. */
static int fe_put(lsm_wfile *f, const void *p, size_t n)
{
    fe_inode *ino = f->ino;
    if (ino->cap - f->pos < n) {
        size_t cap = ino->cap ? ino->cap : 4096;
        while (cap - f->pos < n)
            cap *= 2;
        uint8_t *d = realloc(ino->data, cap);
        if (!d)
            return -ENOMEM;
        ino->data = d;
        ino->cap = cap;
    }
    if (n) {
        memcpy(ino->data + f->pos, p, n);
        f->pos += n;
        if (f->pos > ino->len)
            ino->len = f->pos;
    }
    return 0;
}

static int fe_append(lsm_wfile *f, const void *p, size_t n)
{
    fe_env *fe = f->env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 0);
    if (!rc && fe->full_err) {
        fe_put(f, p, n / 2); /* a full disk takes part of a write */
        rc = fe->full_err;
    }
    if (!rc)
        rc = fe_put(f, p, n);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

/* One write point for the whole gather list, like one writev(2). */
static int fe_appendv(lsm_wfile *f, const struct iovec *iov, int n)
{
    fe_env *fe = f->env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 0);
    if (!rc && fe->full_err) {
        if (n > 0)
            fe_put(f, iov[0].iov_base, iov[0].iov_len / 2);
        rc = fe->full_err;
    }
    for (int i = 0; !rc && i < n; i++)
        rc = fe_put(f, iov[i].iov_base, iov[i].iov_len);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

/* Make ino's current bytes its durable bytes. Holds mu. */
static int fe_make_durable(fe_inode *ino)
{
    uint8_t *d = malloc(ino->len ? ino->len : 1);
    if (!d)
        return -ENOMEM;
    if (ino->len)
        memcpy(d, ino->data, ino->len);
    free(ino->dur);
    ino->dur = d;
    ino->dur_len = ino->len;
    return 0;
}

static int fe_sync(lsm_wfile *f, int data_only)
{
    (void)data_only;
    fe_env *fe = f->env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 1);
    if (!rc)
        rc = fe_make_durable(f->ino);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

/* A sync point (it can fail with EIO like sync_file_range) that makes
 * nothing durable: the kernel may or may not have written the range when
 * the machine stops, and a test must not rely on either. */
static int fe_writeback(lsm_wfile *f, uint64_t len)
{
    (void)len;
    fe_env *fe = f->env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 1);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fe_close_w(lsm_wfile *f)
{
    free(f);
    return 0;
}

static int fe_open_r(lsm_env *env, const char *path, lsm_rfile **out)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    int rc = 0;
    fe_entry *e = fe->dead ? NULL : fe_find(&fe->cur, path);
    if (fe->dead)
        rc = -EIO;
    else if (!e)
        rc = -ENOENT;
    else {
        lsm_rfile *f = malloc(sizeof(*f));
        if (!f)
            rc = -ENOMEM;
        else {
            f->env = fe;
            f->ino = e->ino;
            *out = f;
        }
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fe_pread(lsm_rfile *f, void *p, size_t n, uint64_t off, size_t *got)
{
    fe_env *fe = f->env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe->dead ? -EIO : 0;
    if (!rc) {
        size_t len = f->ino->len;
        size_t k = off >= len ? 0 : (len - off < n ? len - off : n);
        if (k)
            memcpy(p, f->ino->data + off, k);
        *got = k;
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fe_size(lsm_rfile *f, uint64_t *out)
{
    pthread_mutex_lock(&f->env->mu);
    *out = f->ino->len;
    pthread_mutex_unlock(&f->env->mu);
    return 0;
}

static void fe_close_r(lsm_rfile *f)
{
    free(f);
}

static int fe_truncate(lsm_env *env, const char *path, uint64_t len)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 1);
    fe_entry *e = rc ? NULL : fe_find(&fe->cur, path);
    if (!rc && !e)
        rc = -ENOENT;
    if (!rc) {
        if (len < e->ino->len)
            e->ino->len = len;
        rc = fe_make_durable(e->ino);
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fe_rename(lsm_env *env, const char *from, const char *to)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 0);
    fe_entry *e = rc ? NULL : fe_find(&fe->cur, from);
    if (!rc && !e)
        rc = -ENOENT;
    if (!rc) {
        fe_inode *ino = e->ino;
        fe_del(&fe->cur, from);
        rc = fe_set(&fe->cur, to, ino);
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

/* A rename point, then overwrite from offset 0. Until the next sync the
 * old durable bytes stay what a crash restores. */
static int fe_reuse(lsm_env *env, const char *from, const char *to, lsm_wfile **out)
{
    fe_env *fe = (fe_env *)env;
    lsm_wfile *f = malloc(sizeof(*f));
    if (!f)
        return -ENOMEM;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 0);
    fe_entry *e = rc ? NULL : fe_find(&fe->cur, from);
    if (!rc && !e)
        rc = -ENOENT;
    if (!rc) {
        fe_inode *ino = e->ino;
        fe_del(&fe->cur, from);
        if (!(rc = fe_set(&fe->cur, to, ino))) {
            f->env = fe;
            f->ino = ino;
            f->pos = 0;
            *out = f;
        }
    }
    pthread_mutex_unlock(&fe->mu);
    if (rc)
        free(f);
    return rc;
}

static int fe_unlink(lsm_env *env, const char *path)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 0);
    if (!rc && !fe_find(&fe->cur, path))
        rc = -ENOENT;
    if (!rc)
        fe_del(&fe->cur, path);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fe_list(lsm_env *env, const char *dir, lsm_list_cb cb, void *arg)
{
    fe_env *fe = (fe_env *)env;
    size_t dl = strlen(dir);
    pthread_mutex_lock(&fe->mu);
    if (fe->dead) {
        pthread_mutex_unlock(&fe->mu);
        return -EIO;
    }
    /* Copy the names first: cb may call back into the env. */
    size_t n = 0;
    char **names = calloc(fe->cur.n + 1, sizeof(*names));
    for (size_t i = 0; names && i < fe->cur.n; i++) {
        const char *nm = fe->cur.e[i].name;
        if (!strncmp(nm, dir, dl) && nm[dl] == '/' && !strchr(nm + dl + 1, '/'))
            names[n++] = strdup(nm + dl + 1);
    }
    pthread_mutex_unlock(&fe->mu);
    if (!names)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rc && names[i])
            rc = cb(arg, names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int fe_mkdir(lsm_env *env, const char *path)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 0);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fe_sync_dir(lsm_env *env, const char *path)
{
    (void)path;
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    int rc = fe_point(fe, 1);
    if (!rc)
        rc = fe_copy(&fe->dur, &fe->cur);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static void fe_destroy(lsm_env *env)
{
    fe_env *fe = (fe_env *)env;
    fe_clear(&fe->cur);
    fe_clear(&fe->dur);
    free(fe->cur.e);
    free(fe->dur.e);
    while (fe->all) {
        fe_inode *i = fe->all;
        fe->all = i->next_all;
        free(i->data);
        free(i->dur);
        free(i);
    }
    pthread_mutex_destroy(&fe->mu);
    free(fe);
}

static const lsm_env_ops fe_ops = {
    .create = fe_create,
    .append = fe_append,
    .sync = fe_sync,
    .close_w = fe_close_w,
    .open_r = fe_open_r,
    .pread = fe_pread,
    .size = fe_size,
    .close_r = fe_close_r,
    .truncate = fe_truncate,
    .rename = fe_rename,
    .unlink = fe_unlink,
    .list = fe_list,
    .mkdir = fe_mkdir,
    .sync_dir = fe_sync_dir,
    .destroy = fe_destroy,
    .reuse = fe_reuse,
    .appendv = fe_appendv,
    .writeback = fe_writeback,
};

lsm_env *dk__lsm_env_fault(uint64_t seed)
{
    fe_env *fe = calloc(1, sizeof(*fe));
    if (!fe)
        return NULL;
    fe->base.ops = &fe_ops;
    pthread_mutex_init(&fe->mu, NULL);
    fe->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    return &fe->base;
}

void dk__lsm_fault_arm(lsm_env *env, uint64_t at, int flags)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    fe->points = 0;
    fe->arm_at = at;
    fe->flags = flags;
    fe->fired = 0;
    pthread_mutex_unlock(&fe->mu);
}

void dk__lsm_fault_full(lsm_env *env, int err)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    fe->full_err = err;
    pthread_mutex_unlock(&fe->mu);
}

uint64_t dk__lsm_fault_points(lsm_env *env)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    uint64_t n = fe->points;
    pthread_mutex_unlock(&fe->mu);
    return n;
}

int dk__lsm_fault_fired(lsm_env *env)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    int f = fe->fired;
    pthread_mutex_unlock(&fe->mu);
    return f;
}

static uint64_t fe_rand(fe_env *fe)
{
    fe->rng ^= fe->rng << 13;
    fe->rng ^= fe->rng >> 7;
    fe->rng ^= fe->rng << 17;
    return fe->rng;
}

void dk__lsm_fault_crash(lsm_env *env, int tear)
{
    fe_env *fe = (fe_env *)env;
    pthread_mutex_lock(&fe->mu);
    fe_copy(&fe->cur, &fe->dur);
    for (size_t i = 0; i < fe->cur.n; i++) {
        fe_inode *ino = fe->cur.e[i].ino;
        size_t keep = ino->dur_len;
        /* A torn write: some prefix of the unsynced tail reached the disk
         * (the current bytes still extend the durable ones unless a
         * truncate intervened, which syncs). */
        if (tear && ino->len > ino->dur_len)
            keep += (size_t)(fe_rand(fe) % (ino->len - ino->dur_len + 1));
        else if (ino->dur_len)
            memcpy(ino->data, ino->dur, ino->dur_len);
        ino->len = keep;
        fe_make_durable(ino);
    }
    fe->points = 0;
    fe->arm_at = 0;
    fe->flags = 0;
    fe->fired = 0;
    fe->dead = 0;
    pthread_mutex_unlock(&fe->mu);
}
