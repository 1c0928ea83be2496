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
 *
 * A table of the version that is not in the directory (an operator's rm,
 * or whatever unlinked it behind the engine's back) is copied through the
 * table reader's open descriptor (cp_table), with a warning: the
 * checkpoint is whole; the data directory is not.
 *
 * A blob file the tables name that is not in the directory (cp_blob). One
 * deleted while the engine has it open (an operator's rm) is copied
 * through the engine's descriptor: the checkpoint is whole, and a
 * warning says the data directory lacks the file (the node loses its
 * values at its next restart; the checkpoint does not). One the engine
 * could not open when it opened (missing, or a damaged header: its
 * values already read as DK_ECORRUPT, blob.h) is linked if a file is
 * there under its name now, else left out. Either way the checkpoint
 * succeeds: it is what the node holds, and failing would make every
 * snapshot of the node fail until each such value is overwritten. But
 * not silently: each is logged (warning, naming the file), counted in
 * lsm_checkpoint_blobs_missing_total, and listed in the checkpoint's
 * BLOBS-MISSING file (one "NNNNNN.blob: why" line each), which the
 * engine ignores when it opens the copy, where those values read as
 * DK_ECORRUPT naming the file, as in the source. Any other failure (an
 * I/O error, no space) fails the checkpoint, logged with the file.
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

/* Copy what the open file in holds to dst (created), and sync it. */
static int cp_copy_open(lsm_env *env, lsm_rfile *in, const char *dst)
{
    lsm_wfile *out = NULL;
    uint8_t *buf = malloc(1 << 20);
    int rc = buf ? env->ops->create(env, dst, &out) : -ENOMEM;
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
    free(buf);
    return rc;
}

/* Copy src to dst (created; must not exist) as it is now, and sync it. */
static int cp_copy(lsm_env *env, const char *src, const char *dst)
{
    lsm_rfile *in = NULL;
    int rc = env->ops->open_r(env, src, &in);
    if (!rc) {
        rc = cp_copy_open(env, in, dst);
        env->ops->close_r(in);
    }
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

/* Table f (at src) into the checkpoint as dst: linked, or, when it was
 * deleted while the engine has it open, copied through the table
 * reader's descriptor (it never changes once written). */
static int cp_table(lsm_db *db, const lsm_file *f, const char *src, const char *dst)
{
    int rc = cp_link(db->env, src, dst);
    if (rc != -ENOENT || !f->table || !f->table->f)
        return rc;
    if ((rc = cp_copy_open(db->env, f->table->f, dst)))
        return rc;
    if (db->host && db->host->log)
        db->host->log(db->host, DK_LOG_WARN,
                      "lsm %s: table %s was deleted while the engine has it open: the checkpoint has it "
                      "(copied), but the engine cannot open here at its next restart",
                      db->dir, src);
    return 0;
}

/* The blob files a checkpoint lacks (or holds damaged): each once. */
typedef struct cp_missing {
    dk_buf note; /* BLOBS-MISSING's text */
    uint64_t *nums;
    size_t n, cap;
} cp_missing;

static int cp_note(lsm_db *db, const char *dir, cp_missing *m, uint64_t number, const char *why)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 4;
        uint64_t *l = realloc(m->nums, cap * sizeof(*l));
        if (!l)
            return -ENOMEM;
        m->nums = l;
        m->cap = cap;
    }
    m->nums[m->n++] = number;
    char line[256];
    int len = snprintf(line, sizeof(line), "%06llu.blob: %s\n", (unsigned long long)number, why);
    int rc = dk_buf_append(&m->note, line, (size_t)len);
    if (db->host && db->host->log)
        db->host->log(db->host, DK_LOG_WARN,
                      "lsm %s: checkpoint into %s: blob file %06llu.blob %s (listed in %s/BLOBS-MISSING)",
                      db->dir, dir, (unsigned long long)number, why, dir);
    if (db->host && db->host->metric_add)
        db->host->metric_add(db->host, "lsm_checkpoint_blobs_missing_total", 1);
    return rc;
}

/* Blob file b into the checkpoint in dir (see the top of the file). */
static int cp_blob(lsm_db *db, const char *dir, lsm_blob *b, cp_missing *m, char *src, size_t srclen)
{
    char dst[4096];
    dk__lsm_file_path(db, src, srclen, b->number, "blob");
    snprintf(dst, sizeof(dst), "%s/%06llu.blob", dir, (unsigned long long)b->number);
    /* A link that exists already is one an earlier table named. */
    if (access(dst, F_OK) == 0)
        return 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->nums[i] == b->number)
            return 0;
    int rc = cp_link(db->env, src, dst);
    if (b->lost) {
        if (rc == -ENOENT)
            return cp_note(
                db, dir, m, b->number,
                "is missing (it was when the engine opened): its values are not in the checkpoint");
        return rc ? rc
                  : cp_note(
                        db, dir, m, b->number,
                        "could not be opened when the engine opened (missing or damaged): linked as it is "
                        "now, its values may not read");
    }
    if (rc != -ENOENT || !b->f)
        return rc;
    if ((rc = cp_copy_open(db->env, b->f, dst)))
        return rc;
    if (db->host && db->host->log)
        db->host->log(db->host, DK_LOG_WARN,
                      "lsm %s: blob file %s was deleted while the engine has it open: the checkpoint into %s "
                      "has it (copied), but its values are lost here at the next restart",
                      db->dir, src, dir);
    return 0;
}

/* BLOBS-MISSING in dir, when blob files were left out. */
static int cp_write_note(lsm_env *env, const char *dir, const cp_missing *m)
{
    if (!m->n)
        return 0;
    char path[4096];
    lsm_wfile *f = NULL;
    snprintf(path, sizeof(path), "%s/BLOBS-MISSING", dir);
    int rc = env->ops->create(env, path, &f);
    if (!rc)
        rc = env->ops->append(f, m->note.data, m->note.len);
    if (!rc)
        rc = env->ops->sync(f, 0);
    if (f) {
        int crc = env->ops->close_w(f);
        if (!rc)
            rc = crc;
    }
    return rc;
}

int dk__lsm_checkpoint(lsm_db *db, const char *dir)
{
    lsm_env *env = db->env;
    cp_scan scan = {0};
    lsm_edit snap;
    lsm_manifest man;
    cp_missing miss = {.note = DK_BUF_INIT};
    char src[4096] = "", dst[4096];
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
        if (!(rc = cp_table(db, f, src, dst)))
            rc = dk__lsm_edit_add(&snap, f->level, f->number, f->size);
        /* The blob files its references name (written once, like
         * tables), each once. */
        for (size_t j = 0; j < f->nblobs && !rc; j++)
            rc = cp_blob(db, dir, f->blobs[j], &miss, src, sizeof(src));
    }
    scan.from = log_number;
    if (!rc) {
        snprintf(src, sizeof(src), "%s", db->dir);
        rc = env->ops->list(env, db->dir, cp_scan_cb, &scan);
    }
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
        snprintf(src, sizeof(src), "%s/BLOBS-MISSING", dir);
        rc = cp_write_note(env, dir, &miss);
    }
    if (!rc) {
        uint64_t man_no = (scan.max_number > next ? scan.max_number : next) + 1;
        snprintf(src, sizeof(src), "%s/MANIFEST-%06llu", dir, (unsigned long long)man_no);
        snap.has_log = snap.has_next = snap.has_seq = 1;
        snap.log_number = log_number;
        snap.next_file = man_no + 1;
        snap.last_seq = last_seq;
        rc = dk__lsm_manifest_create(env, dir, man_no, &snap, &man);
        if (!rc)
            dk__lsm_manifest_close(&man);
    }
    if (!rc) {
        snprintf(src, sizeof(src), "%s", dir);
        rc = env->ops->sync_dir(env, dir);
    }
out:
    pthread_mutex_unlock(&db->edit_mu);
    dk__lsm_version_unref(v);
    free(scan.logs);
    free(miss.nums);
    dk_buf_free(&miss.note);
    dk__lsm_edit_free(&snap);
    if (rc && made && db->host && db->host->log)
        db->host->log(db->host, DK_LOG_ERROR, "lsm %s: checkpoint into %s failed (at %s): %s", db->dir, dir,
                      src[0] ? src : dir, db->host->strerror(db->host, rc));
    return rc;
}

int dk__lsm_checkpoint_op(dk_engine *e, const char *dir)
{
    return dk__lsm_checkpoint((lsm_db *)e, dir);
}
