/*
 * antientropy.c - anti-entropy's life inside the coordinator (design in
 * antientropy.h): start and stop, the trees' builds, the per (group, peer)
 * records and their persistence, and the published repaired_before time.
 * Rounds, requests and the status page are in ae_round.c.
 *
 * Everything here runs on the coordinator's loop. A tick (AE_TICK_MS)
 * drives it: build the trees when the ring changed, fold late arrivals into
 * the records and publish repaired_before, save dirty records (one catalog
 * job at a time, on this module's own catalog connection), and start the
 * next exchange of the current round or the next round. Blocking work
 * (the hook's installation, builds, the catalog) runs as coordinator jobs,
 * so dk_coord_stop waits for it; the last job removes the hook.
 *
 * The trees are saved at a clean stop (the last job) and taken by the
 * first build after the next start when still fresh (ae_saved.c), which
 * spares a full scan of the store: merkle_loads_total counts those,
 * merkle_rebuilds_total the builds from a scan.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/antientropy.h"
#include "coord/coord_int.h"
#include "coord/merkle_file.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/host.h"

#define AE_TICK_MS 250u


/* ---- small helpers ------------------------------------------------------- */

static uint64_t ae_random(dk__ae_sched *s)
{
    s->rnd ^= s->rnd << 13;
    s->rnd ^= s->rnd >> 7;
    s->rnd ^= s->rnd << 17;
    return s->rnd;
}

/* interval * [lo, hi) percent, in ms. */
uint64_t dk__ae_jitter(dk_ae *ae, unsigned lo, unsigned hi)
{
    uint64_t iv = (uint64_t)ae->c->cfg->cluster.anti_entropy_interval;
    return iv * (lo + ae_random(ae->s) % (hi - lo)) / 100u;
}

dk__ae_rec *dk__ae_rec_find(dk__ae_sched *s, const char *group, const char *peer, int create)
{
    for (size_t i = 0; i < s->n_recs; i++)
        if (strcmp(s->recs[i].row.group, group) == 0 && strcmp(s->recs[i].row.peer, peer) == 0)
            return &s->recs[i];
    if (!create)
        return NULL;
    if (s->n_recs == s->cap_recs) {
        size_t cap = s->cap_recs ? s->cap_recs * 2 : 8;
        dk__ae_rec *r = realloc(s->recs, cap * sizeof(*r));
        if (!r)
            return NULL;
        s->recs = r;
        s->cap_recs = cap;
    }
    dk__ae_rec *r = &s->recs[s->n_recs++];
    memset(r, 0, sizeof(*r));
    snprintf(r->row.group, sizeof(r->row.group), "%s", group);
    snprintf(r->row.peer, sizeof(r->row.peer), "%s", peer);
    return r;
}

int dk__ae_job(dk_ae *ae, dk__job *j)
{
    return dk__coord_job(ae->c, j);
}

/* ---- repaired_before ---------------------------------------------------------- */

/* Fold the groups' late-arrival clamps into the records (and the running
 * exchange), then publish repaired_before. Loop thread. */
static void ae_publish_layout(dk_ae *ae, dk__ae_layout *l, int publish)
{
    dk__ae_sched *s = ae->s;
    _Atomic int64_t *rb = &ae->c->node->repaired_before_ms;
    pthread_mutex_lock(&ae->clamp_mu);
    for (size_t gi = 0; l && gi < l->n_groups; gi++) {
        dk__ae_group *g = &l->g[gi];
        int64_t c = atomic_exchange(&g->clamp, INT64_MAX);
        if (c == INT64_MAX)
            continue;
        for (uint32_t p = 0; p < g->n_peers; p++) {
            dk__ae_rec *r = dk__ae_rec_find(s, g->key, g->peers[p], 0);
            if (r && r->row.last_start_ms > c) {
                r->row.last_start_ms = c;
                r->dirty = 1;
            }
        }
        if (l == ae->layout)
            dk__ae_exchange_clamp(ae, (int)gi, c);
    }
    if (publish) {
        int64_t before = INT64_MAX;
        for (size_t gi = 0; ae->layout && gi < ae->layout->n_groups; gi++) {
            const dk__ae_group *g = &ae->layout->g[gi];
            for (uint32_t p = 0; p < g->n_peers; p++) {
                const dk__ae_rec *r = dk__ae_rec_find(s, g->key, g->peers[p], 0);
                int64_t t = r ? r->row.last_start_ms : 0;
                if (t < before)
                    before = t;
            }
        }
        if (!ae->layout)
            before = 0;
        else if (before == INT64_MAX)
            before = dk_now_ms(); /* no group has a peer: nothing to wait for */
        /* While trees are rebuilt the groups may be changing: never raise. */
        if (!ae->live && before > atomic_load(rb))
            before = atomic_load(rb);
        atomic_store(rb, before);
        dk_metrics_set_gauge("repair_repaired_before_ms", (uint64_t)(before > 0 ? before : 0));
    }
    pthread_mutex_unlock(&ae->clamp_mu);
}

void dk__ae_publish(dk_ae *ae)
{
    ae_publish_layout(ae, ae->layout, 1);
}

/* ---- jobs: start, build, save, finish ---------------------------------------------- */

typedef struct ae_job {
    dk__job job;
    dk_ae *ae;
    dk__ae_layout *l;
    dk_ring *ring;
    dk_merkle_file *saved; /* start: taken from the data dir; build: offered to it */
    int loaded;            /* build: the saved trees were taken */
    char why[160];         /* build: why the saved trees were not */
    dk_repair_row *rows;
    size_t n_rows;
    void (*done)(void *);
    void *done_arg;
    char err[256];
    int rc;
} ae_job;

static ae_job *ae_job_new(dk_ae *ae, void (*run)(dk__job *), void (*done)(dk__job *, int))
{
    ae_job *j = calloc(1, sizeof(*j));
    if (j) {
        j->ae = ae;
        j->job.run = run;
        j->job.done = done;
    }
    return j;
}

static void ae_job_free(ae_job *j)
{
    if (j->saved)
        dk_merkle_file_free(j->saved);
    free(j->saved);
    dk__ae_layout_unref(j->l);
    dk_ring_unref(j->ring);
    free(j->rows);
    free(j);
}

#define AE_CLEAN_KEY "repair_clean_stop"

/* Worker: install the hook, open this module's catalog connection, load
 * the records. Late arrivals lower records in memory first and on disk at
 * the next save: after a stop that did not save them (a crash), the
 * records on disk may be too recent, so they no longer count (their start
 * times become 0) until new exchanges complete. */
static void ae_start_run(dk__job *jb)
{
    ae_job *j = (ae_job *)jb;
    dk_node *node = jb->c->node;
    dk__ae_sched *s = j->ae->s;
    char clean[8] = "";
    dk_store_set_hook(node->store, dk__ae_hook, j->ae);
    j->rc = dk_catalog_open(node->cfg->node.data_dir, &s->cat, j->err, sizeof(j->err));
    if (j->rc == 0 && (j->rc = dk_catalog_repair_load(s->cat, &j->rows, &j->n_rows)) == 0) {
        int was_clean =
            dk_catalog_meta_get(s->cat, AE_CLEAN_KEY, clean, sizeof(clean)) == 0 && strcmp(clean, "1") == 0;
        for (size_t i = 0; !was_clean && i < j->n_rows; i++)
            j->rows[i].last_start_ms = 0;
        if (!was_clean && j->n_rows)
            dk_log(DK_LOG_INFO, "anti-entropy: the last stop was not clean: earlier exchanges no longer "
                                "count for purging tombstones");
        j->rc = dk_catalog_meta_set(s->cat, AE_CLEAN_KEY, "0");
    }
    if (j->rc && s->cat)
        snprintf(j->err, sizeof(j->err), "%s", dk_catalog_errmsg(s->cat));
    j->saved = dk__ae_saved_take(node);
}

static void ae_start_done(dk__job *jb, int status)
{
    ae_job *j = (ae_job *)jb;
    dk_ae *ae = j->ae;
    dk__ae_sched *s = ae->s;
    if (status || j->rc)
        dk_log(DK_LOG_WARN, "anti-entropy: repair progress is not persisted: %s",
               status ? uv_strerror(status) : j->err);
    int64_t mark = 0;
    for (size_t i = 0; i < j->n_rows; i++) {
        dk__ae_rec *r = dk__ae_rec_find(s, j->rows[i].group, j->rows[i].peer, 1);
        if (r)
            r->row = j->rows[i];
        if (j->rows[i].last_start_ms > mark)
            mark = j->rows[i].last_start_ms;
    }
    atomic_store(&ae->watermark, mark);
    ae->saved = j->saved;
    j->saved = NULL;
    s->loaded = 1;
    ae_job_free(j);
    dk__ae_kick(ae);
}

/* Worker: the groups of the ring and their trees. */
static void ae_build_run(dk__job *jb)
{
    ae_job *j = (ae_job *)jb;
    const dk_config *cfg = jb->c->cfg;
    j->rc = dk__ae_layout_new(j->ring, cfg->node.id, (uint32_t)cfg->cluster.n_replicas, &j->l);
    if (j->rc == 0)
        j->rc = dk__ae_layout_build(j->ae, j->l, j->saved, &j->loaded, j->why, sizeof(j->why));
}

static void ae_build_done(dk__job *jb, int status)
{
    ae_job *j = (ae_job *)jb;
    dk_ae *ae = j->ae;
    dk__ae_sched *s = ae->s;
    s->building = 0;
    int rc = status ? status : j->rc;
    if (rc) {
        dk_log(DK_LOG_ERROR, "anti-entropy: building the trees failed: %s", dk_strerror(rc));
        s->want_rebuild = 1;
        ae_job_free(j);
        return;
    }
    /* The old layout's trees no longer change: fold its last clamps. */
    ae_publish_layout(ae, ae->layout, 0);
    dk__ae_layout *old = ae->layout;
    ae->layout = j->l;
    j->l = NULL;
    ae->live = !ae->stopping;
    dk__ae_layout_unref(old);
    if (j->loaded) {
        s->loads++;
        dk_metrics_add("merkle_loads_total", 1);
        dk_log(DK_LOG_INFO,
               "anti-entropy: trees of %zu replica group%s loaded from the copy saved at the last "
               "stop (sequence %llu), no scan of the store",
               ae->layout->n_groups, ae->layout->n_groups == 1 ? "" : "s", (unsigned long long)j->saved->seq);
    } else {
        s->rebuilds++;
        dk_metrics_add("merkle_rebuilds_total", 1);
        dk_log(DK_LOG_INFO, "anti-entropy: trees of %zu replica group%s built from %llu keys in %llu ms%s%s",
               ae->layout->n_groups, ae->layout->n_groups == 1 ? "" : "s",
               (unsigned long long)ae->layout->keys, (unsigned long long)ae->layout->build_ms,
               j->saved ? "; the saved trees were stale: " : "", j->saved ? j->why : "");
    }
    ae_job_free(j);
    dk__ae_publish(ae);
    dk__ae_kick(ae);
}

/* Worker. */
static void ae_save_run(dk__job *jb)
{
    ae_job *j = (ae_job *)jb;
    j->rc = dk_catalog_repair_save(j->ae->s->cat, j->rows, j->n_rows);
    if (j->rc)
        snprintf(j->err, sizeof(j->err), "%s", dk_catalog_errmsg(j->ae->s->cat));
}

static void ae_save_done(dk__job *jb, int status)
{
    ae_job *j = (ae_job *)jb;
    dk__ae_sched *s = j->ae->s;
    s->saving = 0;
    if (status || j->rc) {
        dk_log(DK_LOG_WARN, "anti-entropy: cannot save repair progress: %s",
               status ? uv_strerror(status) : j->err);
        for (size_t i = 0; i < j->n_rows; i++) {
            dk__ae_rec *r = dk__ae_rec_find(s, j->rows[i].group, j->rows[i].peer, 0);
            if (r)
                r->dirty = 1;
        }
    }
    ae_job_free(j);
}

static void ae_maybe_save(dk_ae *ae)
{
    dk__ae_sched *s = ae->s;
    if (s->saving || !s->cat || ae->stopping)
        return;
    size_t n = 0;
    for (size_t i = 0; i < s->n_recs; i++)
        n += s->recs[i].dirty;
    if (!n)
        return;
    ae_job *j = ae_job_new(ae, ae_save_run, ae_save_done);
    if (!j || !(j->rows = malloc(n * sizeof(*j->rows)))) {
        free(j);
        return;
    }
    for (size_t i = 0; i < s->n_recs; i++) {
        if (s->recs[i].dirty) {
            j->rows[j->n_rows++] = s->recs[i].row;
            s->recs[i].dirty = 0;
        }
    }
    if (dk__ae_job(ae, &j->job) == 0) {
        s->saving = 1;
        return;
    }
    for (size_t i = 0; i < s->n_recs; i++)
        s->recs[i].dirty = 1;
    ae_job_free(j);
}

static void ae_maybe_build(dk_ae *ae)
{
    dk__ae_sched *s = ae->s;
    if (s->building || ae->stopping)
        return;
    dk_ring *ring = ae->c->view.ring(ae->c->view.arg);
    if (!ring || (ae->layout && ring == ae->layout->ring && !s->want_rebuild)) {
        dk_ring_unref(ring);
        return;
    }
    ae_job *j = ae_job_new(ae, ae_build_run, ae_build_done);
    if (!j) {
        dk_ring_unref(ring);
        return;
    }
    j->ring = ring;
    j->saved = ae->saved; /* only the first build is offered them */
    ae->saved = NULL;
    /* From here the hook may move to the new trees at any time: the current
     * ones stop being trustworthy for exchanges. */
    ae->live = 0;
    ae->gen++;
    if (dk__ae_job(ae, &j->job) != 0) {
        ae_job_free(j);
        return;
    }
    s->building = 1;
    s->want_rebuild = 0;
}

/* ---- the tick ------------------------------------------------------------------------------ */

static void ae_tick(uv_timer_t *t)
{
    dk_ae *ae = t->data;
    if (ae->stopping || !ae->s->loaded)
        return;
    ae_maybe_build(ae);
    dk__ae_publish(ae);
    ae_maybe_save(ae);
    dk__ae_maybe_round(ae);
}

void dk__ae_kick(dk_ae *ae)
{
    if (ae->timers_open && !ae->stopping)
        uv_timer_start(&ae->tick, ae_tick, 0, AE_TICK_MS);
}

/* ---- lifetime ------------------------------------------------------------------------------- */

int dk__ae_start(dk_coord *c, dk_ae **out)
{
    dk_ae *ae = calloc(1, sizeof(*ae));
    dk__ae_sched *s = calloc(1, sizeof(*s));
    if (!ae || !s) {
        free(ae);
        free(s);
        return -ENOMEM;
    }
    ae->c = c;
    ae->s = s;
    atomic_init(&ae->watermark, 0);
    pthread_mutex_init(&ae->clamp_mu, NULL);
    s->rnd = uv_hrtime() | 1;
    for (const char *p = c->self; *p; p++)
        s->rnd = (s->rnd ^ (uint8_t)*p) * 0x100000001b3ULL;
    s->rnd |= 1;
    ae_job *j = ae_job_new(ae, ae_start_run, ae_start_done);
    int rc = j ? dk__ae_job(ae, &j->job) : -ENOMEM;
    if (rc) {
        free(j);
        pthread_mutex_destroy(&ae->clamp_mu);
        free(s);
        free(ae);
        return rc;
    }
    uv_timer_init(c->loop, &ae->tick);
    uv_timer_init(c->loop, &ae->pace);
    ae->tick.data = ae->pace.data = ae;
    ae->timers_open = 1;
    uv_timer_start(&ae->tick, ae_tick, AE_TICK_MS, AE_TICK_MS);
    *out = ae;
    return 0;
}

static void ae_timer_closed(uv_handle_t *h)
{
    dk_ae *ae = h->data;
    dk__coord_release(ae->c);
}

void dk__ae_stop(dk_ae *ae)
{
    ae->stopping = 1;
    ae->live = 0;
    dk__ae_exchange_abort(ae);
    if (ae->timers_open) {
        ae->timers_open = 0;
        dk__coord_hold(ae->c);
        dk__coord_hold(ae->c);
        uv_close((uv_handle_t *)&ae->tick, ae_timer_closed);
        uv_close((uv_handle_t *)&ae->pace, ae_timer_closed);
    }
}

static void ae_free(dk_ae *ae)
{
    dk__ae_sched *s = ae->s;
    if (ae->saved)
        dk_merkle_file_free(ae->saved);
    free(ae->saved);
    dk__ae_layout_unref(ae->layout);
    dk__ae_layout_unref(ae->installed);
    free(s->pairs);
    free(s->recs);
    free(s);
    pthread_mutex_destroy(&ae->clamp_mu);
    free(ae);
}

/* Worker (or the loop at shutdown when no job can be queued): the records
 * not saved yet, then save the trees, remove the hook and close the
 * catalog. */
static void ae_finish_run(dk__job *jb)
{
    ae_job *j = (ae_job *)jb;
    dk__ae_sched *s = j->ae->s;
    if (s->cat && ((j->n_rows && dk_catalog_repair_save(s->cat, j->rows, j->n_rows) != 0) ||
                   dk_catalog_meta_set(s->cat, AE_CLEAN_KEY, "1") != 0))
        dk_log(DK_LOG_WARN, "anti-entropy: cannot save repair progress: %s", dk_catalog_errmsg(s->cat));
    dk__ae_saved_store(j->ae); /* removes the hook */
    dk_catalog_close(s->cat);
    s->cat = NULL;
}

static void ae_finish_done(dk__job *jb, int status)
{
    ae_job *j = (ae_job *)jb;
    void (*done)(void *) = j->done;
    void *arg = j->done_arg;
    ae_free(j->ae);
    ae_job_free(j);
    done(arg);
}

int dk__ae_finish(dk_ae *ae, void (*done)(void *), void *arg)
{
    dk__ae_sched *s = ae->s;
    ae_job *j = ae_job_new(ae, ae_finish_run, ae_finish_done);
    int rc = j ? 0 : -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->n_recs; i++)
        n += s->recs[i].dirty;
    if (j && n && (j->rows = malloc(n * sizeof(*j->rows))) != NULL)
        for (size_t i = 0; i < s->n_recs; i++)
            if (s->recs[i].dirty)
                j->rows[j->n_rows++] = s->recs[i].row;
    if (j) {
        j->done = done;
        j->done_arg = arg;
        rc = dk__ae_job(ae, &j->job);
    }
    if (rc == 0)
        return 0;
    /* No worker to be had: a last blocking step on the loop, at shutdown. */
    if (j) {
        ae_finish_run(&j->job);
        ae_job_free(j);
    } else {
        dk_store_set_hook(ae->c->node->store, NULL, NULL);
        dk_catalog_close(s->cat);
    }
    ae_free(ae);
    done(arg);
    return rc;
}
