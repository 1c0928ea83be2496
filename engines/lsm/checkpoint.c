/*
 * checkpoint.c - the engine's checkpoint (ABI 1.3): a copy of the
 * database in another directory that the engine opens like its own, made
 * while it keeps serving, for node snapshots (framework/node/snapshot.c).
 *
 * The copy is what a crash at one moment during the call would have left:
 * the tables of the current version and the blob files they name (hard
 * links: tables and blob files never change once written, so a link is a
 * copy that costs nothing), the WALs that version
 * still needs (copied byte for byte: the live one keeps growing, and a
 * torn last record is what recovery already treats as the crash it is),
 * and a fresh MANIFEST naming exactly those tables with the live
 * manifest's log number and last sequence. Every write acknowledged
 * before the call is in it.
 *
 * Holding edit_mu throughout keeps the version and its WALs still: flush
 * and compaction install new versions under it, and a WAL is deleted only
 * after the flush that covers it installed, so no WAL the version needs
 * can go while we copy. Writers keep going (the memtable and WAL do not
 * need edit_mu); a flush that finishes meanwhile waits to install, which
 * is the price: for a WAL copy (at most about a memtable's worth of
 * bytes) flushes and compactions pause.
 *
 * Hard links are not in lsm_env (nothing else links), so this file calls
 * link(2) itself and falls back to a copy across file systems.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm.h"

typedef struct cp_scan {
    uint64_t from, max_number;
    uint64_t *logs;
    size_t n, cap;
} cp_scan;

static int cp_scan_cb(void *arg, const char *name)
{
    cp_scan *s = arg;
    unsigned long long n;
    char tail[16];
    if (sscanf(name, "%llu.%15s", &n, tail) == 2 || sscanf(name, "MANIFEST-%llu", &n) == 1) {
        if (n > s->max_number)
            s->max_number = n;
    }
    if (sscanf(name, "%llu.%15s", &n, tail) != 2 || strcmp(tail, "log") != 0 || n < s->from)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        uint64_t *l = realloc(s->logs, cap * sizeof(*l));
        if (!l)
            return -ENOMEM;
        s->logs = l;
        s->cap = cap;
    }
    s->logs[s->n++] = n;
    return 0;
}

/* Copy src to dst (created; must not exist) as it is now, and sync it. */
static int cp_copy(lsm_env *env, const char *src, const char *dst)
{
    lsm_rfile *in = NULL;
    lsm_wfile *out = NULL;
    uint8_t *buf = malloc(1 << 20);
    int rc = buf ? env->ops->open_r(env, src, &in) : -ENOMEM;
    if (!rc)
        rc = env->ops->create(env, dst, &out);
    for (uint64_t off = 0; !rc;) {
        size_t got = 0;
        rc = env->ops->pread(in, buf, 1 << 20, off, &got);
        if (rc || got == 0)
            break;
        rc = env->ops->append(out, buf, got);
        off += got;
    }
    if (out) {
        if (!rc)
            rc = env->ops->sync(out, 0);
        int crc = env->ops->close_w(out);
        if (!rc)
            rc = crc;
    }
    if (in)
        env->ops->close_r(in);
    free(buf);
    return rc;
}

static int cp_link(lsm_env *env, const char *src, const char *dst)
{
    if (link(src, dst) == 0)
        return 0;
    if (errno != EXDEV && errno != EPERM && errno != EMLINK)
        return -errno;
    return cp_copy(env, src, dst);
}

int dk__lsm_checkpoint(lsm_db *db, const char *dir)
{
    lsm_env *env = db->env;
    cp_scan scan = {0};
    lsm_edit snap;
    lsm_manifest man;
    char src[4096], dst[4096];
    int made = 0, rc;

    dk__lsm_edit_init(&snap);
    if (access(dir, F_OK) == 0)
        return -EEXIST;
    if ((rc = env->ops->mkdir(env, dir)))
        return rc;
    made = 1;

    pthread_mutex_lock(&db->edit_mu);
    pthread_mutex_lock(&db->mu);
    lsm_version *v = db->cur;
    dk__lsm_version_ref(v);
    uint64_t log_number = db->man_log_number, last_seq = db->flushed_seq, next = db->next_file;
    int bg = db->bg_error;
    pthread_mutex_unlock(&db->mu);
    if (bg) {
        rc = bg;
        goto out;
    }
    for (size_t i = 0; i < v->n && !rc; i++) {
        const lsm_file *f = v->files[i];
        dk__lsm_file_path(db, src, sizeof(src), f->number, "sst");
        snprintf(dst, sizeof(dst), "%s/%06llu.sst", dir, (unsigned long long)f->number);
        if (!(rc = cp_link(env, src, dst)))
            rc = dk__lsm_edit_add(&snap, f->level, f->number, f->size);
        /* The blob files its references name (written once, like
         * tables), each once: a link that exists already is one an
         * earlier table named. */
        for (size_t j = 0; j < f->nblobs && !rc; j++) {
            dk__lsm_file_path(db, src, sizeof(src), f->blobs[j]->number, "blob");
            snprintf(dst, sizeof(dst), "%s/%06llu.blob", dir, (unsigned long long)f->blobs[j]->number);
            if (access(dst, F_OK) != 0)
                rc = cp_link(env, src, dst);
        }
    }
    scan.from = log_number;
    if (!rc)
        rc = env->ops->list(env, db->dir, cp_scan_cb, &scan);
    /* The next WAL the flush thread prepared holds no record yet: skip
     * it. Read after the listing: its number is set before the file
     * appears under it, and no other can be prepared meanwhile (that
     * follows an install, which waits for edit_mu). A switch may start
     * using it now, but only for writes after this call began. */
    pthread_mutex_lock(&db->mu);
    uint64_t prepared = db->next_number;
    pthread_mutex_unlock(&db->mu);
    for (size_t i = 0; i < scan.n && !rc; i++) {
        if (scan.logs[i] == prepared)
            continue;
        dk__lsm_file_path(db, src, sizeof(src), scan.logs[i], "log");
        snprintf(dst, sizeof(dst), "%s/%06llu.log", dir, (unsigned long long)scan.logs[i]);
        rc = cp_copy(env, src, dst);
    }
    if (!rc) {
        uint64_t man_no = (scan.max_number > next ? scan.max_number : next) + 1;
        snap.has_log = snap.has_next = snap.has_seq = 1;
        snap.log_number = log_number;
        snap.next_file = man_no + 1;
        snap.last_seq = last_seq;
        rc = dk__lsm_manifest_create(env, dir, man_no, &snap, &man);
        if (!rc)
            dk__lsm_manifest_close(&man);
    }
    if (!rc)
        rc = env->ops->sync_dir(env, dir);
out:
    pthread_mutex_unlock(&db->edit_mu);
    dk__lsm_version_unref(v);
    free(scan.logs);
    dk__lsm_edit_free(&snap);
    if (rc && made && db->host && db->host->log)
        db->host->log(db->host, DK_LOG_ERROR, "lsm %s: checkpoint into %s failed: %s", db->dir, dir,
                      db->host->strerror(db->host, rc));
    return rc;
}

int dk__lsm_checkpoint_op(dk_engine *e, const char *dir)
{
    return dk__lsm_checkpoint((lsm_db *)e, dir);
}
