/*
 * version.c - table files, versions and version edits (version.h).
 *
 * Edit encoding (the manifest record payload): a sequence of tagged
 * fields, tag and numbers as varints:
 *   1 log_number | 2 next_file | 3 last_seq | 4 level number size (add)
 *   5 number (delete)
 * Unknown tags are corruption: a reader never guesses at a layout it does
 * not know.
 *
 * Damage marks. A table a compaction found a damaged block in is marked
 * (lsm_file.damaged) and never picked again; the mark is also written as
 * NNNNNN.bad beside the table (written atomically: temp, sync, rename,
 * sync dir), so a restart does not retry the doomed compaction. Opening
 * the table reads the mark back; deleting the table deletes it. Table
 * numbers are never reused, so a mark left behind by a crash between
 * the two unlinks names no other table (recovery deletes it).
 *
 * A new version records where each level starts and whether the runs of
 * each level >= 1 have disjoint key ranges (checked, not assumed from the
 * policy), so point reads binary-search those levels.
 *
 * Deleting an obsolete table (unlink: ext4 truncates its page cache and,
 * mounted with discard, discards its blocks; then the block cache is
 * purged of it) takes milliseconds. When a reader drops the last
 * reference it hands the file to the reaper thread instead (measured: 11 %
 * of a reader's CPU in readrandom right after a fill, and its p99.9).
 * A crash before the reaper ran leaves a table the manifest no longer
 * lists, which recovery deletes.
 *
 * A table naming blob files (blob.h) holds a reference on each from open
 * to close; a blob file is marked obsolete by the install that deletes
 * the last live table naming it (dk__lsm_version_retire_blobs) and goes
 * with its last reference, like a table. At open (recovery), a blob file
 * that is missing or whose header is damaged does not fail the tables
 * naming it: they open with an object for it whose reads fail with
 * DK_ECORRUPT naming the file and offset (blob_set.c).
 */
#define _GNU_SOURCE 1 /* pthread_setname_np */
#include "version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memo.h"

int dk__lsm_file_open(const lsm_fileenv *fe, uint64_t number, uint32_t level, uint64_t size, lsm_file **out)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%06llu.sst", fe->dir, (unsigned long long)number);
    lsm_file *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    int rc = dk__lsm_table_open(fe->env, path, number, fe->cache, fe->codecs, fe->host, &f->table);
    if (!rc && size && f->table->size != size) {
        if (fe->host && fe->host->log)
            fe->host->log(fe->host, DK_LOG_ERROR, "lsm: table %s is %llu bytes, the manifest says %llu", path,
                          (unsigned long long)f->table->size, (unsigned long long)size);
        if (fe->host && fe->host->metric_add)
            fe->host->metric_add(fe->host, "lsm_corrupt_blocks_total", 1);
        dk__lsm_table_close(f->table);
        rc = DK_ECORRUPT;
    }
    size_t nb = rc ? 0 : lsm_props_nblobs(&f->table->props);
    if (!rc && nb && !fe->blobs) {
        dk__lsm_table_close(f->table);
        rc = DK_ECORRUPT; /* a table with blob references where none can be */
    }
    if (!rc && nb && !(f->blobs = calloc(nb, sizeof(*f->blobs)))) {
        dk__lsm_table_close(f->table);
        rc = -ENOMEM;
    }
    for (size_t i = 0; !rc && i < nb; i++) {
        uint64_t num = lsm_props_blob(&f->table->props, i, NULL);
        if ((rc = dk__lsm_blob_get(fe->blobs, num, &f->blobs[i])) == 0) {
            f->nblobs++;
            continue;
        }
        /* At open, a bad blob file stops that file, not the table (its
         * inline keys and other blob files) nor the node. */
        if (fe->lost_blobs_ok && (rc == DK_ECORRUPT || rc == -ENOENT) &&
            (rc = dk__lsm_blob_get_lost(fe->blobs, num, &f->blobs[i])) == 0) {
            if (fe->host && fe->host->log)
                fe->host->log(fe->host, DK_LOG_ERROR,
                              "lsm: table %s references blob file %06llu, which is missing or damaged: "
                              "reads of its values fail until their keys are written again (run a repair)",
                              path, (unsigned long long)num);
            f->nblobs++;
            continue;
        }
        if (fe->host && fe->host->log)
            fe->host->log(fe->host, DK_LOG_ERROR,
                          "lsm: table %s references blob file %06llu, which cannot be read", path,
                          (unsigned long long)num);
        for (size_t j = 0; j < f->nblobs; j++)
            dk__lsm_blob_unref(f->blobs[j]);
        free(f->blobs);
        dk__lsm_table_close(f->table);
    }
    if (rc) {
        free(f);
        return rc;
    }
    atomic_init(&f->refs, 1);
    atomic_init(&f->obsolete, 0);
    lsm_rfile *mark;
    char mpath[4096];
    snprintf(mpath, sizeof(mpath), "%s/%06llu.bad", fe->dir, (unsigned long long)number);
    if (fe->env->ops->open_r(fe->env, mpath, &mark) == 0) {
        fe->env->ops->close_r(mark);
        f->damaged = 1;
        if (fe->host && fe->host->log)
            fe->host->log(fe->host, DK_LOG_WARN,
                          "lsm: table %s has a damaged block (marked by %s): compaction "
                          "leaves it as it is",
                          path, mpath);
    }
    f->number = number;
    f->size = f->table->size;
    f->data_size = lsm_props_data_size(&f->table->props, f->size);
    f->level = level;
    f->fenv = fe;
    *out = f;
    return 0;
}

void dk__lsm_file_ref(lsm_file *f)
{
    atomic_fetch_add(&f->refs, 1);
}

/* Close f and delete it when obsolete (the last reference is gone). */
static void vs_file_destroy(lsm_file *f)
{
    const lsm_fileenv *fe = f->fenv;
    dk__lsm_table_close(f->table);
    for (size_t i = 0; i < f->nblobs; i++)
        dk__lsm_blob_unref(f->blobs[i]);
    free(f->blobs);
    if (atomic_load(&f->obsolete)) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%06llu.sst", fe->dir, (unsigned long long)f->number);
        int rc = fe->env->ops->unlink(fe->env, path);
        if (rc && rc != -ENOENT && fe->host && fe->host->log)
            fe->host->log(fe->host, DK_LOG_WARN, "lsm: cannot delete %s: %s", path, strerror(-rc));
        dk__lsm_cache_erase_file(fe->cache, f->number);
        if (f->damaged) {
            snprintf(path, sizeof(path), "%s/%06llu.bad", fe->dir, (unsigned long long)f->number);
            fe->env->ops->unlink(fe->env, path);
        }
    }
    free(f);
}

struct lsm_reaper {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lsm_file *head;
    int stop;
    pthread_t thr;
};

static void *vs_reaper_thread(void *arg)
{
    lsm_reaper *r = arg;
    pthread_setname_np(pthread_self(), "lsm-reaper");
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->head && !r->stop)
            pthread_cond_wait(&r->cv, &r->mu);
        lsm_file *list = r->head;
        r->head = NULL;
        if (!list)
            break; /* stopping and drained */
        pthread_mutex_unlock(&r->mu);
        for (lsm_file *f = list, *nx; f; f = nx) {
            nx = f->reap_next;
            vs_file_destroy(f);
        }
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int dk__lsm_reaper_start(lsm_reaper **out)
{
    lsm_reaper *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thr, NULL, vs_reaper_thread, r)) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
        return -EAGAIN;
    }
    *out = r;
    return 0;
}

void dk__lsm_reaper_stop(lsm_reaper *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thr, NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

static void vs_file_unref(lsm_file *f, int reader)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    lsm_reaper *r = f->fenv->reaper;
    if (!reader || !r || !atomic_load(&f->obsolete)) {
        vs_file_destroy(f);
        return;
    }
    pthread_mutex_lock(&r->mu);
    f->reap_next = r->head;
    r->head = f;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void dk__lsm_file_unref(lsm_file *f)
{
    vs_file_unref(f, 0);
}

int dk__lsm_file_mark_damaged(lsm_file *f)
{
    const lsm_fileenv *fe = f->fenv;
    char name[64], text[128];
    snprintf(name, sizeof(name), "%06llu.bad", (unsigned long long)f->number);
    int n = snprintf(text, sizeof(text), "table %06llu: a compaction met a damaged block; never compacted\n",
                     (unsigned long long)f->number);
    return dk__lsm_env_write_atomic(fe->env, fe->dir, name, text, (size_t)n);
}

dk_slice dk__lsm_file_smallest(const lsm_file *f)
{
    return lsm_ikey_user(dk_buf_slice(&f->table->props.smallest));
}

dk_slice dk__lsm_file_largest(const lsm_file *f)
{
    return lsm_ikey_user(dk_buf_slice(&f->table->props.largest));
}

void dk__lsm_edit_init(lsm_edit *e)
{
    memset(e, 0, sizeof(*e));
}

void dk__lsm_edit_free(lsm_edit *e)
{
    free(e->adds);
    free(e->dels);
    dk__lsm_edit_init(e);
}

int dk__lsm_edit_add(lsm_edit *e, uint32_t level, uint64_t number, uint64_t size)
{
    if (e->nadd == e->capadd) {
        size_t cap = e->capadd ? e->capadd * 2 : 8;
        lsm_edit_file *a = realloc(e->adds, cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        e->adds = a;
        e->capadd = cap;
    }
    e->adds[e->nadd++] = (lsm_edit_file){.level = level, .number = number, .size = size};
    return 0;
}

int dk__lsm_edit_del(lsm_edit *e, uint64_t number)
{
    if (e->ndel == e->capdel) {
        size_t cap = e->capdel ? e->capdel * 2 : 8;
        uint64_t *d = realloc(e->dels, cap * sizeof(*d));
        if (!d)
            return -ENOMEM;
        e->dels = d;
        e->capdel = cap;
    }
    e->dels[e->ndel++] = number;
    return 0;
}

static int ed_put(dk_buf *out, uint64_t v)
{
    uint8_t b[DK_VARINT_MAX];
    return dk_buf_append(out, b, dk_put_varint(b, v));
}

int dk__lsm_edit_encode(const lsm_edit *e, dk_buf *out)
{
    int rc = 0;
    if (e->has_log && !rc && !(rc = ed_put(out, 1)))
        rc = ed_put(out, e->log_number);
    if (e->has_next && !rc && !(rc = ed_put(out, 2)))
        rc = ed_put(out, e->next_file);
    if (e->has_seq && !rc && !(rc = ed_put(out, 3)))
        rc = ed_put(out, e->last_seq);
    for (size_t i = 0; !rc && i < e->nadd; i++)
        if (!(rc = ed_put(out, 4)) && !(rc = ed_put(out, e->adds[i].level)) &&
            !(rc = ed_put(out, e->adds[i].number)))
            rc = ed_put(out, e->adds[i].size);
    for (size_t i = 0; !rc && i < e->ndel; i++)
        if (!(rc = ed_put(out, 5)))
            rc = ed_put(out, e->dels[i]);
    return rc;
}

int dk__lsm_edit_decode(lsm_edit *e, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t tag, v[3];
        int need;
        size_t k = dk_get_varint(p, end, &tag);
        if (!k)
            return DK_ECORRUPT;
        p += k;
        switch (tag) {
        case 1:
        case 2:
        case 3:
        case 5: need = 1; break;
        case 4: need = 3; break;
        default: return DK_ECORRUPT;
        }
        for (int i = 0; i < need; i++) {
            if (!(k = dk_get_varint(p, end, &v[i])))
                return DK_ECORRUPT;
            p += k;
        }
        int rc = 0;
        switch (tag) {
        case 1:
            e->has_log = 1;
            e->log_number = v[0];
            break;
        case 2:
            e->has_next = 1;
            e->next_file = v[0];
            break;
        case 3:
            e->has_seq = 1;
            e->last_seq = v[0];
            break;
        case 4:
            if (v[0] >= LSM_NUM_LEVELS)
                return DK_ECORRUPT;
            rc = dk__lsm_edit_add(e, (uint32_t)v[0], v[1], v[2]);
            break;
        case 5: rc = dk__lsm_edit_del(e, v[0]); break;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int vs_cmp(const void *a, const void *b)
{
    const lsm_file *x = *(lsm_file *const *)a, *y = *(lsm_file *const *)b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->level > 0) {
        int c = lsm_ucmp(dk__lsm_file_smallest(x), dk__lsm_file_smallest(y));
        if (c)
            return c;
    }
    return x->number > y->number ? -1 : x->number < y->number;
}

lsm_version *dk__lsm_version_new(lsm_file *const *files, size_t n)
{
    lsm_version *v = calloc(1, sizeof(*v));
    if (!v || !(v->files = malloc((n ? n : 1) * sizeof(*v->files)))) {
        free(v);
        return NULL;
    }
    atomic_init(&v->refs, 1);
    v->id = dk__lsm_memo_next_id();
    for (size_t i = 0; i < n; i++) {
        v->files[i] = files[i];
        dk__lsm_file_ref(files[i]);
    }
    v->n = n;
    qsort(v->files, n, sizeof(*v->files), vs_cmp);
    size_t i = 0;
    for (uint32_t l = 0; l < LSM_NUM_LEVELS; l++) {
        v->level_start[l] = i;
        v->disjoint[l] = l > 0;
        for (; i < n && v->files[i]->level == l; i++)
            if (i > v->level_start[l] &&
                lsm_ucmp(dk__lsm_file_largest(v->files[i - 1]), dk__lsm_file_smallest(v->files[i])) >= 0)
                v->disjoint[l] = 0;
    }
    v->level_start[LSM_NUM_LEVELS] = n;
    return v;
}

void dk__lsm_version_ref(lsm_version *v)
{
    atomic_fetch_add(&v->refs, 1);
}

static void vs_version_unref(lsm_version *v, int reader)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    for (size_t i = 0; i < v->n; i++)
        vs_file_unref(v->files[i], reader);
    free(v->files);
    free(v);
}

void dk__lsm_version_unref(lsm_version *v)
{
    vs_version_unref(v, 0);
}

void dk__lsm_version_unref_reader(lsm_version *v)
{
    vs_version_unref(v, 1);
}

static int vs_deleted(const lsm_edit *e, uint64_t number)
{
    for (size_t i = 0; i < e->ndel; i++)
        if (e->dels[i] == number)
            return 1;
    return 0;
}

lsm_version *dk__lsm_version_apply(const lsm_version *base, const lsm_edit *e, lsm_file *const *added)
{
    size_t n = 0;
    lsm_file **tmp = malloc((base->n + e->nadd + 1) * sizeof(*tmp));
    if (!tmp)
        return NULL;
    for (size_t i = 0; i < base->n; i++)
        if (!vs_deleted(e, base->files[i]->number))
            tmp[n++] = base->files[i];
    for (size_t i = 0; i < e->nadd; i++)
        tmp[n++] = added[i];
    lsm_version *v = dk__lsm_version_new(tmp, n);
    free(tmp);
    return v;
}

void dk__lsm_version_retire(const lsm_version *base, const lsm_edit *e)
{
    for (size_t i = 0; i < base->n; i++) {
        uint64_t number = base->files[i]->number;
        int readded = 0;
        for (size_t j = 0; j < e->nadd; j++)
            readded |= e->adds[j].number == number;
        if (!readded && vs_deleted(e, number))
            atomic_store(&base->files[i]->obsolete, 1);
    }
}

int dk__lsm_version_has_blob(const lsm_version *v, uint64_t number)
{
    for (size_t i = 0; i < v->n; i++)
        for (size_t j = 0; j < v->files[i]->nblobs; j++)
            if (v->files[i]->blobs[j]->number == number)
                return 1;
    return 0;
}

static int vs_u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int vs_live_cmp(const void *a, const void *b)
{
    const lsm_blob_live *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* The slot of number in tab (cap a power of two, never full). */
static size_t vs_live_slot(const lsm_blob_live *tab, size_t cap, uint64_t number)
{
    size_t i = (size_t)((number * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
    while (tab[i].blob && tab[i].number != number)
        i = (i + 1) & (cap - 1);
    return i;
}

int dk__lsm_version_blob_live(const lsm_version *v, lsm_blob_live **out, size_t *count)
{
    size_t cap = 64, u = 0;
    lsm_blob_live *tab = calloc(cap, sizeof(*tab));
    *out = NULL;
    *count = 0;
    if (!tab)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const lsm_file *f = v->files[i];
        for (size_t j = 0; j < f->nblobs; j++) {
            if (2 * (u + 1) > cap) { /* at most half full */
                lsm_blob_live *grown = calloc(2 * cap, sizeof(*grown));
                if (!grown) {
                    free(tab);
                    return -ENOMEM;
                }
                for (size_t k = 0; k < cap; k++)
                    if (tab[k].blob)
                        grown[vs_live_slot(grown, 2 * cap, tab[k].number)] = tab[k];
                free(tab);
                tab = grown;
                cap *= 2;
            }
            uint64_t bytes = 0;
            lsm_props_blob(&f->table->props, j, &bytes);
            lsm_blob_live *e = &tab[vs_live_slot(tab, cap, f->blobs[j]->number)];
            u += !e->blob;
            *e = (lsm_blob_live){f->blobs[j]->number, e->live + bytes, f->blobs[j]};
        }
    }
    size_t n = 0;
    for (size_t k = 0; k < cap; k++)
        if (tab[k].blob)
            tab[n++] = tab[k];
    qsort(tab, n, sizeof(*tab), vs_live_cmp);
    *out = tab;
    *count = n;
    return 0;
}

uint64_t *dk__lsm_version_blob_numbers(const lsm_version *v, size_t *count)
{
    lsm_blob_live *live;
    size_t n;
    *count = 0;
    if (dk__lsm_version_blob_live(v, &live, &n) || !n) {
        free(live);
        return NULL;
    }
    uint64_t *nums = malloc(n * sizeof(*nums));
    for (size_t i = 0; nums && i < n; i++)
        nums[i] = live[i].number;
    free(live);
    *count = nums ? n : 0;
    return nums;
}

int dk__lsm_blob_numbers_has(const uint64_t *nums, size_t n, uint64_t number)
{
    return n && bsearch(&number, nums, n, sizeof(*nums), vs_u64cmp) != NULL;
}

/* One sorted list of nv's blob files, not a scan of nv per blob file of
 * each deleted table (under edit_mu: quadratic in the blob files). */
void dk__lsm_version_retire_blobs(const lsm_version *base, const lsm_version *nv, const lsm_edit *e)
{
    uint64_t *live = NULL;
    size_t nlive = 0;
    int listed = 0;
    for (size_t i = 0; i < base->n; i++) {
        const lsm_file *f = base->files[i];
        if (!f->nblobs || !vs_deleted(e, f->number))
            continue;
        if (!listed) {
            live = dk__lsm_version_blob_numbers(nv, &nlive);
            listed = 1;
        }
        for (size_t j = 0; j < f->nblobs; j++) {
            uint64_t num = f->blobs[j]->number;
            if (atomic_load(&f->blobs[j]->obsolete))
                continue;
            /* out of memory (live NULL with blob files in nv): the scan */
            int named = live ? dk__lsm_blob_numbers_has(live, nlive, num) : dk__lsm_version_has_blob(nv, num);
            if (!named)
                atomic_store(&f->blobs[j]->obsolete, 1);
        }
    }
    free(live);
}

size_t dk__lsm_version_level_count(const lsm_version *v, uint32_t level)
{
    return level < LSM_NUM_LEVELS ? v->level_start[level + 1] - v->level_start[level] : 0;
}

/* Add f to the candidate list, moving it to the heap past the stack
 * array's room (only with more than 32 runs covering one key). */
static int vs_cand_add(lsm_file ***cand, size_t *n, lsm_file **small, size_t total, lsm_file *f)
{
    if (*n == 32 && *cand == small) {
        lsm_file **c = malloc(total * sizeof(*c));
        if (!c)
            return -ENOMEM;
        memcpy(c, small, 32 * sizeof(*c));
        *cand = c;
    }
    (*cand)[(*n)++] = f;
    return 0;
}

int dk__lsm_version_candidates(const lsm_version *v, dk_slice key, lsm_file **small, lsm_file ***cand,
                               size_t *n)
{
    *cand = small;
    *n = 0;
    int rc = 0;
    for (uint32_t l = 0; !rc && l < LSM_NUM_LEVELS; l++) {
        size_t a = v->level_start[l], b = v->level_start[l + 1];
        if (v->disjoint[l]) {
            /* First run whose largest key is >= key. */
            size_t lo = a, hi = b;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (lsm_ucmp(dk__lsm_file_largest(v->files[mid]), key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < b && lsm_ucmp(key, dk__lsm_file_smallest(v->files[lo])) >= 0)
                rc = vs_cand_add(cand, n, small, v->n, v->files[lo]);
            continue;
        }
        for (size_t i = a; !rc && i < b; i++) {
            lsm_file *f = v->files[i];
            if (lsm_ucmp(key, dk__lsm_file_smallest(f)) >= 0 && lsm_ucmp(key, dk__lsm_file_largest(f)) <= 0)
                rc = vs_cand_add(cand, n, small, v->n, f);
        }
    }
    /* Insertion sort by max_seq descending: the version order (level 0
     * newest first, then deeper levels) is usually already right. */
    for (size_t i = 1; i < *n; i++) {
        lsm_file *f = (*cand)[i];
        size_t j = i;
        for (; j > 0 && (*cand)[j - 1]->table->props.max_seq < f->table->props.max_seq; j--)
            (*cand)[j] = (*cand)[j - 1];
        (*cand)[j] = f;
    }
    return rc;
}
