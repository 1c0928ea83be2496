/*
 * ae_saved.c - anti-entropy's saved trees (design in antientropy.h, file
 * format in merkle_file.h): taken at start, used by the first build when
 * still fresh, written again at a clean stop.
 *
 * What proves a saved copy fresh. The trees are copied with every stripe
 * lock held (dk_store_exclusive: no write in progress, every finished
 * write already applied to them), together with the engine's last
 * sequence number S; the engine is then flushed, so S is durable before
 * the file exists. The first build after a start installs the copy, again
 * with every stripe lock held, only when the engine's last sequence
 * number is still S: any write since (after the copy at the stop, before
 * the install at the start, or replayed from the WAL after a crash) has a
 * higher number, and the trees are rebuilt from a scan. The ring must
 * also be the same: the copy's groups (names and range signatures) must
 * be the layout's, in order. And the store must not have changed under
 * the engine while the node was down: a lost table, or a bit flipped in
 * one, changes what a scan finds without any write (anti-entropy must
 * then see the difference to repair it). Tables and blob files never
 * change once written, so a fingerprint of the engine folder's *.sst and
 * *.blob files (name,
 * inode, size, modification time) taken after the flush at the stop must
 * be the same at the first build; a compaction in between also changes
 * it, which only costs a rebuild. An engine that reports no sequence number
 * (only the LSM engine's lsm_last_sequence is known here) or is not
 * durable never gets a saved copy.
 *
 * The copy is consumed at start (deleted once read), so a file on disk
 * always describes the last clean stop: a node that crashes after a start
 * rebuilds, even if its sequence number happened to come back to S.
 *
 * Threads: workers (jobs), except where said.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "coord/coord_int.h"
#include "coord/merkle_file.h"
#include "base/log.h"

typedef struct ae_seq_sink {
    uint64_t seq;
    int found;
} ae_seq_sink;

static void ae_seq_stat(void *arg, const char *name, uint64_t value)
{
    ae_seq_sink *s = arg;
    size_t n = strlen(name), k = strlen("_last_sequence");
    if (n > k && strcmp(name + n - k, "_last_sequence") == 0) {
        s->seq = value;
        s->found = 1;
    }
}

int dk__ae_engine_seq(dk_node *node, uint64_t *seq)
{
    const dk_engine_ops *ops = node->engine_ops;
    ae_seq_sink s = {0, 0};
    if (!(ops->caps & DK_ENGINE_CAP_DURABLE) || !ops->stats ||
        ops->stats(node->engine, ae_seq_stat, &s) != 0 || !s.found)
        return -ENOTSUP;
    *seq = s.seq;
    return 0;
}

typedef struct ae_table {
    char name[256];
    uint64_t ino, size, mtime_ns;
} ae_table;

static int ae_table_cmp(const void *a, const void *b)
{
    return strcmp(((const ae_table *)a)->name, ((const ae_table *)b)->name);
}

/* The fingerprint of data_dir/engine's *.sst and *.blob files: 0 and *fp,
 * or -errno. */
static int ae_tables_fp(dk_node *node, uint64_t *fp)
{
    char dir[4200], path[4500];
    snprintf(dir, sizeof(dir), "%s/engine", node->cfg->node.data_dir);
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    ae_table *t = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        struct stat st;
        /* Tables, and the blob files holding their large values. */
        if (len < 5 || len >= sizeof(t->name) ||
            (strcmp(e->d_name + len - 4, ".sst") != 0 &&
             (len < 6 || strcmp(e->d_name + len - 5, ".blob") != 0)))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0) {
            rc = -errno;
            break;
        }
        if (n == cap) {
            ae_table *m = realloc(t, (cap = cap ? cap * 2 : 64) * sizeof(*t));
            if (!m) {
                rc = -ENOMEM;
                break;
            }
            t = m;
        }
        memset(&t[n], 0, sizeof(t[n]));
        memcpy(t[n].name, e->d_name, len);
        t[n].ino = (uint64_t)st.st_ino;
        t[n].size = (uint64_t)st.st_size;
        t[n].mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
        n++;
    }
    closedir(d);
    if (!rc) {
        if (n)
            qsort(t, n, sizeof(*t), ae_table_cmp);
        *fp = XXH3_64bits(t, n * sizeof(*t));
    }
    free(t);
    return rc;
}

dk_merkle_file *dk__ae_saved_take(dk_node *node)
{
    const char *dir = node->cfg->node.data_dir;
    dk_merkle_file *f = calloc(1, sizeof(*f));
    char err[4600];
    if (!f)
        return NULL;
    int rc = dk_merkle_file_read(dir, f, err, sizeof(err));
    if (rc == DK_ECORRUPT)
        dk_log(DK_LOG_WARN, "anti-entropy: the saved trees are damaged: %s; rebuilding them from the store",
               err);
    else if (rc && rc != -ENOENT)
        dk_log(DK_LOG_WARN, "anti-entropy: %s; rebuilding the trees from the store", err);
    int rrc = dk_merkle_file_remove(dir);
    if (rrc) {
        /* Left in place it could outlive writes made from now on. */
        dk_log(DK_LOG_WARN, "anti-entropy: cannot delete the saved trees in %s: %s; not using them", dir,
               strerror(-rrc));
        rc = rrc;
    }
    if (rc) {
        dk_merkle_file_free(f);
        free(f);
        return NULL;
    }
    return f;
}

int dk__ae_saved_files_fit(dk_node *node, const dk_merkle_file *f, char *why, size_t whylen)
{
    uint64_t files;
    if (ae_tables_fp(node, &files) != 0 || files != f->files) {
        snprintf(why, whylen, "the engine's table files changed since they were saved");
        return 0;
    }
    return 1;
}

int dk__ae_saved_fits(dk_node *node, const dk_merkle_file *f, const dk__ae_layout *l, char *why,
                      size_t whylen)
{
    uint64_t seq;
    if (strcmp(f->node, node->cfg->node.id) != 0) {
        snprintf(why, whylen, "they were saved by node %s", f->node);
        return 0;
    }
    if (dk__ae_engine_seq(node, &seq) != 0) {
        snprintf(why, whylen, "the engine reports no sequence number");
        return 0;
    }
    if (seq != f->seq) {
        snprintf(why, whylen, "the store changed since they were saved (sequence %llu, saved at %llu)",
                 (unsigned long long)seq, (unsigned long long)f->seq);
        return 0;
    }

    int same = f->n == l->n_groups;
    for (size_t i = 0; same && i < f->n; i++)
        same = strcmp(f->g[i].key, l->g[i].key) == 0;
    if (!same) {
        snprintf(why, whylen, "the ring changed since they were saved");
        return 0;
    }
    return 1;
}

void dk__ae_saved_load(const dk_merkle_file *f, dk__ae_layout *l)
{
    for (size_t i = 0; i < f->n; i++)
        for (uint32_t k = 0; k < DK_MERKLE_LEAVES; k++)
            atomic_store_explicit(&l->g[i].tree.leaf[k], f->g[i].leaf[k], memory_order_relaxed);
}

typedef struct ae_copy {
    dk_ae *ae;
    dk_merkle_file *f;
    int rc;
} ae_copy;

/* Every stripe lock held: the installed trees and the sequence number
 * they cover. */
static void ae_copy_locked(void *arg)
{
    ae_copy *cp = arg;
    dk__ae_layout *l = cp->ae->installed;
    dk_node *node = cp->ae->c->node;
    if (!l || !atomic_load(&l->ready)) {
        cp->rc = -EAGAIN;
        return;
    }
    if ((cp->rc = dk__ae_engine_seq(node, &cp->f->seq)) != 0)
        return;
    if (l->n_groups && !(cp->f->g = calloc(l->n_groups, sizeof(*cp->f->g)))) {
        cp->rc = -ENOMEM;
        return;
    }
    cp->f->n = l->n_groups;
    for (size_t i = 0; i < l->n_groups; i++) {
        snprintf(cp->f->g[i].key, sizeof(cp->f->g[i].key), "%s", l->g[i].key);
        for (uint32_t k = 0; k < DK_MERKLE_LEAVES; k++)
            cp->f->g[i].leaf[k] = atomic_load_explicit(&l->g[i].tree.leaf[k], memory_order_relaxed);
    }
}

void dk__ae_saved_store(dk_ae *ae)
{
    dk_node *node = ae->c->node;
    const char *dir = node->cfg->node.data_dir;
    dk_merkle_file *f = calloc(1, sizeof(*f));
    ae_copy cp = {.ae = ae, .f = f, .rc = f ? 0 : -ENOMEM};
    if (f) {
        snprintf(f->node, sizeof(f->node), "%s", node->cfg->node.id);
        f->saved_ms = dk_now_ms();
        dk_store_exclusive(node->store, ae_copy_locked, &cp);
    }
    dk_store_set_hook(node->store, NULL, NULL);
    if (cp.rc == 0 && node->engine_ops->flush && (cp.rc = node->engine_ops->flush(node->engine)) != 0)
        dk_log(DK_LOG_WARN, "anti-entropy: not saving the trees: the store cannot be flushed: %s",
               dk_strerror(cp.rc));
    if (cp.rc == 0 && (cp.rc = ae_tables_fp(node, &f->files)) != 0)
        dk_log(DK_LOG_WARN, "anti-entropy: not saving the trees: cannot list the engine's files: %s",
               strerror(-cp.rc));
    if (cp.rc == 0) {
        char err[4400];
        int rc = dk_merkle_file_write(dir, f, err, sizeof(err));
        if (rc)
            dk_log(DK_LOG_WARN, "anti-entropy: not saving the trees: %s", err);
        else
            dk_log(DK_LOG_INFO, "anti-entropy: trees of %zu replica group%s saved to %s/%s (sequence %llu)",
                   f->n, f->n == 1 ? "" : "s", dir, DK_MERKLE_FILE, (unsigned long long)f->seq);
    }
    if (f)
        dk_merkle_file_free(f);
    free(f);
}
