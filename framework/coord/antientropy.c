/*
 * antientropy.c - anti-entropy's scheduler (design in antientropy.h): its
 * lifetime inside the coordinator, the trees' builds, rounds of exchanges
 * and operators' requests, the per (group, peer) records and their
 * persistence, the published repaired_before time, and the status page.
 *
 * Everything here runs on the coordinator's loop. A tick (AE_TICK_MS)
 * drives it: build the trees when the ring changed, fold late arrivals into
 * the records and publish repaired_before, save dirty records (one catalog
 * job at a time, on this module's own catalog connection), and start the
 * next exchange of the current round or the next round. Blocking work
 * (the hook's installation, builds, the catalog) runs as coordinator jobs,
 * so dk_coord_stop waits for it; the last job removes the hook.
 *
 * Not taken: a tree per range with its own schedule (Cassandra's
 * subrange repair). Groups make one exchange per peer cover every range it
 * shares with this node, and a round is small enough to run whole.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/antientropy.h"
#include "coord/coord_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/host.h"

#define AE_TICK_MS 250u
#define AE_REQS_MAX 16u                 /* requests remembered (waiting or finished) */
#define AE_DRIFT_EXCHANGES 3u           /* differing leaves with nothing to move, in a row */

enum { REQ_QUEUED, REQ_RUNNING, REQ_DONE, REQ_FAILED };
static const char *const ae_req_state[] = {"queued", "running", "done", "failed"};

/* The last outcome per (group, peer). row is what the catalog keeps. */
typedef struct ae_rec {
    dk_repair_row row;
    int64_t last_attempt_ms;
    char last_error[192];
    int dirty;
} ae_rec;

typedef struct ae_req {
    uint64_t id;
    uint8_t prefix[DK_KEY_MAX];
    size_t plen;
    int state;
    int64_t queued_ms, started_ms, finished_ms;
    uint64_t keys_in, keys_out;
    uint32_t pairs, failed;
    char errors[512];
} ae_req;

typedef struct ae_pair {
    int g;
    char peer[DK_NODE_ID_MAX + 1];
} ae_pair;

typedef struct ae_sched {
    ae_rec *recs;
    size_t n_recs, cap_recs;
    int loaded, saving;
    dk_catalog *cat;            /* this module's connection; jobs only */
    /* builds */
    int building, want_rebuild;
    uint64_t rebuilds, last_drift_rebuild;
    /* rounds: at most one, its pairs run one after the other */
    ae_pair *pairs;
    size_t n_pairs, next_pair;
    int round_active;
    uint64_t round_gen;
    ae_req *round_req;          /* NULL: a scheduled round */
    int64_t round_started_ms;
    uint64_t next_round;        /* uv_now() of the next scheduled round; 0 = not yet set */
    int64_t last_round_ms;      /* wall clock when the last scheduled round ended */
    uint32_t last_round_failed;
    /* requests, oldest first */
    ae_req reqs[AE_REQS_MAX];
    size_t n_reqs;
    uint64_t next_id;
    uint64_t rnd;
} ae_sched;

static void ae_kick(dk_ae *ae);

/* ---- small helpers ------------------------------------------------------- */

static uint64_t ae_random(ae_sched *s)
{
    s->rnd ^= s->rnd << 13;
    s->rnd ^= s->rnd >> 7;
    s->rnd ^= s->rnd << 17;
    return s->rnd;
}

/* interval * [lo, hi) percent, in ms. */
static uint64_t ae_jitter(dk_ae *ae, unsigned lo, unsigned hi)
{
    uint64_t iv = (uint64_t)ae->c->cfg->cluster.anti_entropy_interval;
    return iv * (lo + ae_random(ae->s) % (hi - lo)) / 100u;
}

static ae_rec *ae_rec_find(ae_sched *s, const char *group, const char *peer, int create)
{
    for (size_t i = 0; i < s->n_recs; i++)
        if (strcmp(s->recs[i].row.group, group) == 0 && strcmp(s->recs[i].row.peer, peer) == 0)
            return &s->recs[i];
    if (!create)
        return NULL;
    if (s->n_recs == s->cap_recs) {
        size_t cap = s->cap_recs ? s->cap_recs * 2 : 8;
        ae_rec *r = realloc(s->recs, cap * sizeof(*r));
        if (!r)
            return NULL;
        s->recs = r;
        s->cap_recs = cap;
    }
    ae_rec *r = &s->recs[s->n_recs++];
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
    ae_sched *s = ae->s;
    _Atomic int64_t *rb = &ae->c->node->repaired_before_ms;
    pthread_mutex_lock(&ae->clamp_mu);
    for (size_t gi = 0; l && gi < l->n_groups; gi++) {
        dk__ae_group *g = &l->g[gi];
        int64_t c = atomic_exchange(&g->clamp, INT64_MAX);
        if (c == INT64_MAX)
            continue;
        for (uint32_t p = 0; p < g->n_peers; p++) {
            ae_rec *r = ae_rec_find(s, g->key, g->peers[p], 0);
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
                const ae_rec *r = ae_rec_find(s, g->key, g->peers[p], 0);
                int64_t t = r ? r->row.last_start_ms : 0;
                if (t < before)
                    before = t;
            }
        }
        if (!ae->layout)
            before = 0;
        else if (before == INT64_MAX)
            before = dk_now_ms();       /* no group has a peer: nothing to wait for */
        /* While trees are rebuilt the groups may be changing: never raise. */
        if (!ae->live && before > atomic_load(rb))
            before = atomic_load(rb);
        atomic_store(rb, before);
        dk_metrics_set_gauge("repair_repaired_before_ms", (uint64_t)(before > 0 ? before : 0));
    }
    pthread_mutex_unlock(&ae->clamp_mu);
}

static void ae_publish(dk_ae *ae)
{
    ae_publish_layout(ae, ae->layout, 1);
}

/* ---- jobs: start, build, save, finish ---------------------------------------------- */

typedef struct ae_job {
    dk__job job;
    dk_ae *ae;
    dk__ae_layout *l;
    dk_ring *ring;
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
    dk__ae_layout_unref(j->l);
    dk_ring_unref(j->ring);
    free(j->rows);
    free(j);
}

/* Worker: install the hook, open this module's catalog connection, load
 * the records. */
static void ae_start_run(dk__job *jb)
{
    ae_job *j = (ae_job *)jb;
    dk_node *node = jb->c->node;
    dk_store_set_hook(node->store, dk__ae_hook, j->ae);
    j->rc = dk_catalog_open(node->cfg->node.data_dir, &j->ae->s->cat, j->err, sizeof(j->err));
    if (j->rc == 0 && (j->rc = dk_catalog_repair_load(j->ae->s->cat, &j->rows, &j->n_rows)) != 0)
        snprintf(j->err, sizeof(j->err), "%s", dk_catalog_errmsg(j->ae->s->cat));
}

static void ae_start_done(dk__job *jb, int status)
{
    ae_job *j = (ae_job *)jb;
    dk_ae *ae = j->ae;
    ae_sched *s = ae->s;
    if (status || j->rc)
        dk_log(DK_LOG_WARN, "anti-entropy: repair progress is not persisted: %s",
               status ? uv_strerror(status) : j->err);
    int64_t mark = 0;
    for (size_t i = 0; i < j->n_rows; i++) {
        ae_rec *r = ae_rec_find(s, j->rows[i].group, j->rows[i].peer, 1);
        if (r)
            r->row = j->rows[i];
        if (j->rows[i].last_start_ms > mark)
            mark = j->rows[i].last_start_ms;
    }
    atomic_store(&ae->watermark, mark);
    s->loaded = 1;
    ae_job_free(j);
    ae_kick(ae);
}

/* Worker: the groups of the ring and their trees. */
static void ae_build_run(dk__job *jb)
{
    ae_job *j = (ae_job *)jb;
    const dk_config *cfg = jb->c->cfg;
    j->rc = dk__ae_layout_new(j->ring, cfg->node.id, (uint32_t)cfg->cluster.n_replicas, &j->l);
    if (j->rc == 0)
        j->rc = dk__ae_layout_build(j->ae, j->l);
}

static void ae_build_done(dk__job *jb, int status)
{
    ae_job *j = (ae_job *)jb;
    dk_ae *ae = j->ae;
    ae_sched *s = ae->s;
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
    s->rebuilds++;
    dk_metrics_add("merkle_rebuilds_total", 1);
    dk_log(DK_LOG_INFO, "anti-entropy: trees of %zu replica group%s built from %llu keys in %llu ms",
           ae->layout->n_groups, ae->layout->n_groups == 1 ? "" : "s", (unsigned long long)ae->layout->keys,
           (unsigned long long)ae->layout->build_ms);
    ae_job_free(j);
    ae_publish(ae);
    ae_kick(ae);
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
    ae_sched *s = j->ae->s;
    s->saving = 0;
    if (status || j->rc) {
        dk_log(DK_LOG_WARN, "anti-entropy: cannot save repair progress: %s", status ? uv_strerror(status) : j->err);
        for (size_t i = 0; i < j->n_rows; i++) {
            ae_rec *r = ae_rec_find(s, j->rows[i].group, j->rows[i].peer, 0);
            if (r)
                r->dirty = 1;
        }
    }
    ae_job_free(j);
}

static void ae_maybe_save(dk_ae *ae)
{
    ae_sched *s = ae->s;
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
    ae_sched *s = ae->s;
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

/* ---- rounds and requests ---------------------------------------------------------------- */

static void ae_req_error(ae_req *q, const char *fmt, ...) DK_PRINTF(2, 3);
static void ae_req_error(ae_req *q, const char *fmt, ...)
{
    size_t at = strlen(q->errors);
    if (at + 2 >= sizeof(q->errors))
        return;
    if (at)
        q->errors[at++] = ';', q->errors[at++] = ' ', q->errors[at] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->errors + at, sizeof(q->errors) - at, fmt, ap);
    va_end(ap);
}

static void ae_round_end(dk_ae *ae)
{
    ae_sched *s = ae->s;
    ae_req *q = s->round_req;
    if (q) {
        q->state = q->failed ? REQ_FAILED : REQ_DONE;
        q->finished_ms = dk_now_ms();
        dk_log(DK_LOG_INFO, "anti-entropy: repair %llu %s: %u of %u exchanges failed, %llu keys received, "
               "%llu sent", (unsigned long long)q->id, ae_req_state[q->state], q->failed, q->pairs,
               (unsigned long long)q->keys_in, (unsigned long long)q->keys_out);
    } else {
        s->last_round_ms = dk_now_ms();
    }
    uint64_t iv = (uint64_t)ae->c->cfg->cluster.anti_entropy_interval;
    if (!q && iv)
        s->next_round = uv_now(ae->c->loop) + ae_jitter(ae, 75, 125);
    s->round_active = 0;
    s->round_req = NULL;
    free(s->pairs);
    s->pairs = NULL;
    s->n_pairs = s->next_pair = 0;
}

/* A pair that failed (started: an exchange ran and failed; otherwise it
 * could not start, e.g. the peer is down). The round's layout is current. */
static void ae_pair_failed(dk_ae *ae, const ae_pair *p, int started, const char *msg)
{
    ae_sched *s = ae->s;
    const dk__ae_group *g = &ae->layout->g[p->g];
    if (!s->round_req || s->round_req->plen == 0) {
        ae_rec *r = ae_rec_find(s, g->key, p->peer, 1);
        if (r) {
            r->last_attempt_ms = dk_now_ms();
            snprintf(r->last_error, sizeof(r->last_error), "%s", msg);
        }
    }
    if (s->round_req) {
        s->round_req->failed++;
        ae_req_error(s->round_req, "%s: %s", p->peer, msg);
    } else {
        s->last_round_failed++;
    }
    if (started)
        dk_metrics_add("repair_exchanges_failed_total", 1);
}

static void ae_exchange_done(dk_ae *ae, const dk__ae_xres *x)
{
    ae_sched *s = ae->s;
    const ae_pair *p = &s->pairs[s->next_pair - 1];
    dk_metrics_add("repair_keys_received_total", x->keys_in);
    dk_metrics_add("repair_keys_sent_total", x->keys_out);
    if (s->round_req) {
        s->round_req->keys_in += x->keys_in;
        s->round_req->keys_out += x->keys_out;
    }
    if (ae->gen != s->round_gen || !ae->layout) {
        /* The trees were rebuilt meanwhile: p names a group of old ones. */
        dk_metrics_add("repair_exchanges_failed_total", 1);
        if (s->round_req) {
            s->round_req->failed++;
            ae_req_error(s->round_req, "%s: %s", p->peer, x->status ? x->error : "interrupted by a rebuild");
        }
        ae_kick(ae);
        return;
    }
    dk__ae_group *g = &ae->layout->g[p->g];
    if (x->status) {
        ae_pair_failed(ae, p, 1, x->error);
        ae_kick(ae);
        return;
    }
    dk_metrics_add("repair_exchanges_completed_total", 1);
    if (x->full) {
        ae_rec *r = ae_rec_find(s, g->key, p->peer, 1);
        if (r) {
            r->row.last_start_ms = x->start_ms;
            r->row.last_end_ms = dk_now_ms();
            r->row.keys_in += x->keys_in;
            r->row.keys_out += x->keys_out;
            r->last_attempt_ms = r->row.last_end_ms;
            r->last_error[0] = 0;
            r->dirty = 1;
        }
        /* Leaves that differ while no key does, again and again: the tree
         * holds keys the store no longer has (expired values purged by
         * compaction). A rebuild drops them. */
        g->drift = x->leaves && !x->keys_in && !x->keys_out ? g->drift + 1 : 0;
        uint64_t now = uv_now(ae->c->loop), gap = 10 * (uint64_t)ae->c->cfg->cluster.anti_entropy_interval;
        if (g->drift >= AE_DRIFT_EXCHANGES && now - s->last_drift_rebuild >= (gap ? gap : 600000u)) {
            dk_log(DK_LOG_INFO, "anti-entropy: group %s keeps differing with nothing to repair; "
                   "rebuilding the trees", g->name);
            s->want_rebuild = 1;
            s->last_drift_rebuild = now;
            g->drift = 0;
        }
        if (x->keys_in || x->keys_out)
            dk_log(DK_LOG_INFO, "anti-entropy: %s with %s: %u leaves differed, %llu keys received, %llu sent",
                   g->name, p->peer, x->leaves, (unsigned long long)x->keys_in, (unsigned long long)x->keys_out);
    }
    ae_publish(ae);
    ae_kick(ae);
}

/* Start the next pair of the round, skipping those that cannot run. */
static void ae_round_next(dk_ae *ae)
{
    ae_sched *s = ae->s;
    while (s->round_active && !ae->x) {
        if (!ae->live || ae->gen != s->round_gen) {
            /* The trees are being rebuilt: the pairs name old groups. */
            for (; s->next_pair < s->n_pairs; s->next_pair++)
                if (s->round_req) {
                    s->round_req->failed++;
                    ae_req_error(s->round_req, "%s: interrupted by a rebuild of the trees",
                                 s->pairs[s->next_pair].peer);
                }
            if (!s->round_req)
                s->next_round = uv_now(ae->c->loop) + ae_jitter(ae, 10, 25);
            ae_round_end(ae);
            return;
        }
        if (s->next_pair == s->n_pairs) {
            ae_round_end(ae);
            return;
        }
        const ae_pair *p = &s->pairs[s->next_pair++];
        char addr[DK_CONFIG_ADDR_MAX + 1] = "";
        int alive = 0;
        if (ae->c->view.peer(ae->c->view.arg, p->peer, addr, sizeof(addr), &alive) != 0 || !alive || !addr[0]) {
            ae_pair_failed(ae, p, 0, "the peer is down");
            continue;
        }
        dk_slice prefix = {s->round_req ? s->round_req->prefix : NULL, s->round_req ? s->round_req->plen : 0};
        int rc = dk__ae_exchange(ae, p->g, p->peer, addr, prefix, ae_exchange_done);
        if (rc)
            ae_pair_failed(ae, p, 0, dk_strerror(rc));
    }
}

static int ae_round_start(dk_ae *ae, ae_req *q)
{
    ae_sched *s = ae->s;
    size_t n = 0;
    for (size_t gi = 0; gi < ae->layout->n_groups; gi++)
        n += ae->layout->g[gi].n_peers;
    s->pairs = calloc(n ? n : 1, sizeof(*s->pairs));
    if (!s->pairs)
        return -ENOMEM;
    for (size_t gi = 0; gi < ae->layout->n_groups; gi++) {
        const dk__ae_group *g = &ae->layout->g[gi];
        for (uint32_t p = 0; p < g->n_peers; p++) {
            s->pairs[s->n_pairs].g = (int)gi;
            snprintf(s->pairs[s->n_pairs].peer, sizeof(s->pairs[0].peer), "%s", g->peers[p]);
            s->n_pairs++;
        }
    }
    s->next_pair = 0;
    s->round_active = 1;
    s->round_gen = ae->gen;
    s->round_req = q;
    s->round_started_ms = dk_now_ms();
    if (q) {
        q->state = REQ_RUNNING;
        q->started_ms = s->round_started_ms;
        q->pairs = (uint32_t)n;
    } else {
        s->last_round_failed = 0;
    }
    return 0;
}

static void ae_maybe_round(dk_ae *ae)
{
    ae_sched *s = ae->s;
    if (ae->stopping || ae->x)
        return;
    if (s->round_active) {
        ae_round_next(ae);
        return;
    }
    if (!ae->live || !ae->layout)
        return;
    ae_req *q = NULL;
    for (size_t i = 0; i < s->n_reqs && !q; i++)
        if (s->reqs[i].state == REQ_QUEUED)
            q = &s->reqs[i];
    uint64_t now = uv_now(ae->c->loop);
    uint64_t iv = (uint64_t)ae->c->cfg->cluster.anti_entropy_interval;
    if (iv && s->next_round == 0)
        s->next_round = now + ae_jitter(ae, 10, 100);   /* stagger the first round */
    if (!q && !(iv && now >= s->next_round))
        return;
    if (ae_round_start(ae, q) == 0)
        ae_round_next(ae);
}

/* ---- the tick ------------------------------------------------------------------------------ */

static void ae_tick(uv_timer_t *t)
{
    dk_ae *ae = t->data;
    if (ae->stopping || !ae->s->loaded)
        return;
    ae_maybe_build(ae);
    ae_publish(ae);
    ae_maybe_save(ae);
    ae_maybe_round(ae);
}

/* Run the tick from the next loop iteration (never from inside a caller). */
static void ae_kick(dk_ae *ae)
{
    if (ae->timers_open && !ae->stopping)
        uv_timer_start(&ae->tick, ae_tick, 0, AE_TICK_MS);
}

/* ---- lifetime ------------------------------------------------------------------------------- */

int dk__ae_start(dk_coord *c, dk_ae **out)
{
    dk_ae *ae = calloc(1, sizeof(*ae));
    ae_sched *s = calloc(1, sizeof(*s));
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
    ae_sched *s = ae->s;
    dk__ae_layout_unref(ae->layout);
    dk__ae_layout_unref(ae->installed);
    free(s->pairs);
    free(s->recs);
    free(s);
    pthread_mutex_destroy(&ae->clamp_mu);
    free(ae);
}

/* Worker (or the loop at shutdown when no job can be queued). */
static void ae_finish_run(dk__job *jb)
{
    ae_job *j = (ae_job *)jb;
    dk_store_set_hook(j->ae->c->node->store, NULL, NULL);
    dk_catalog_close(j->ae->s->cat);
    j->ae->s->cat = NULL;
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
    ae_job *j = ae_job_new(ae, ae_finish_run, ae_finish_done);
    int rc = j ? dk__ae_job(ae, &j->job) : -ENOMEM;
    if (rc == 0) {
        j->done = done;
        j->done_arg = arg;
        return 0;
    }
    /* No worker to be had: a last blocking step on the loop, at shutdown. */
    dk_store_set_hook(ae->c->node->store, NULL, NULL);
    dk_catalog_close(ae->s->cat);
    free(j);
    ae_free(ae);
    done(arg);
    return rc;
}

/* ---- the operator's side ---------------------------------------------------------------------- */

int dk_ae_repair(dk_coord *c, dk_slice prefix, uint64_t *id)
{
    dk_ae *ae = c->ae;
    if (c->stopping || !ae || ae->stopping)
        return DK_ECLOSED;
    if (prefix.len > DK_KEY_MAX)
        return -EINVAL;
    ae_sched *s = ae->s;
    if (s->n_reqs == AE_REQS_MAX) {
        /* Forget the oldest finished request to make room. */
        size_t i = 0;
        while (i < s->n_reqs && (s->reqs[i].state == REQ_QUEUED || s->reqs[i].state == REQ_RUNNING))
            i++;
        if (i == s->n_reqs)
            return -EBUSY;
        memmove(&s->reqs[i], &s->reqs[i + 1], (s->n_reqs - i - 1) * sizeof(s->reqs[0]));
        s->n_reqs--;
        if (s->round_req > &s->reqs[i])
            s->round_req--;
    }
    ae_req *q = &s->reqs[s->n_reqs++];
    memset(q, 0, sizeof(*q));
    q->id = ++s->next_id;
    memcpy(q->prefix, prefix.ptr, prefix.len);
    q->plen = prefix.len;
    q->state = REQ_QUEUED;
    q->queued_ms = dk_now_ms();
    *id = q->id;
    ae_kick(ae);
    return 0;
}

static json_t *ae_json_ms(int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

static json_t *ae_json_req(const ae_req *q)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)q->id));
    json_t *prefix = q->plen ? json_stringn((const char *)q->prefix, q->plen) : json_null();
    json_object_set_new(o, "prefix", prefix ? prefix : json_string("(not UTF-8)"));
    json_object_set_new(o, "state", json_string(ae_req_state[q->state]));
    json_object_set_new(o, "queued_ms", ae_json_ms(q->queued_ms));
    json_object_set_new(o, "started_ms", ae_json_ms(q->started_ms));
    json_object_set_new(o, "finished_ms", ae_json_ms(q->finished_ms));
    json_object_set_new(o, "exchanges", json_integer(q->pairs));
    json_object_set_new(o, "failed", json_integer(q->failed));
    json_object_set_new(o, "keys_received", json_integer((json_int_t)q->keys_in));
    json_object_set_new(o, "keys_sent", json_integer((json_int_t)q->keys_out));
    json_object_set_new(o, "errors", q->errors[0] ? json_string(q->errors) : json_null());
    return o;
}

int dk_ae_status(dk_coord *c, dk_buf *out)
{
    dk_ae *ae = c->ae;
    if (!ae)
        return DK_ECLOSED;
    ae_sched *s = ae->s;
    const dk__ae_layout *l = ae->layout;
    json_t *o = json_object();
    json_object_set_new(o, "node", json_string(c->self));
    json_object_set_new(o, "interval_ms", json_integer(c->cfg->cluster.anti_entropy_interval));
    json_object_set_new(o, "repaired_before_ms", json_integer(atomic_load(&c->node->repaired_before_ms)));
    json_t *trees = json_object();
    json_object_set_new(trees, "state", json_string(!l && !s->building ? "none" : s->building ? "building" : "ready"));
    json_object_set_new(trees, "groups", json_integer(l ? (json_int_t)l->n_groups : 0));
    json_object_set_new(trees, "keys", json_integer(l ? (json_int_t)l->keys : 0));
    json_object_set_new(trees, "build_ms", json_integer(l ? (json_int_t)l->build_ms : 0));
    json_object_set_new(trees, "rebuilds", json_integer((json_int_t)s->rebuilds));
    json_object_set_new(o, "trees", trees);

    json_t *round = json_object();
    json_object_set_new(round, "running", json_boolean(s->round_active));
    if (s->round_active) {
        json_object_set_new(round, "request", s->round_req ? json_integer((json_int_t)s->round_req->id) : json_null());
        json_object_set_new(round, "started_ms", json_integer(s->round_started_ms));
        json_object_set_new(round, "exchanges_done", json_integer((json_int_t)(s->next_pair - (ae->x != NULL))));
        json_object_set_new(round, "exchanges", json_integer((json_int_t)s->n_pairs));
        if (ae->x && s->next_pair && l && ae->gen == s->round_gen)
            json_object_set_new(round, "current", json_pack("{s:s, s:s}", "replicas",
                                l->g[s->pairs[s->next_pair - 1].g].name, "peer", s->pairs[s->next_pair - 1].peer));
    }
    uint64_t now = uv_now(c->loop);
    json_object_set_new(round, "last_scheduled_ms", ae_json_ms(s->last_round_ms));
    json_object_set_new(round, "next_scheduled_in_ms",
                        c->cfg->cluster.anti_entropy_interval && s->next_round
                            ? json_integer(s->next_round > now ? (json_int_t)(s->next_round - now) : 0)
                            : json_null());
    json_object_set_new(o, "round", round);

    json_t *reqs = json_array();
    for (size_t i = 0; i < s->n_reqs; i++)
        json_array_append_new(reqs, ae_json_req(&s->reqs[i]));
    json_object_set_new(o, "requests", reqs);

    json_t *groups = json_array();
    for (size_t gi = 0; l && gi < l->n_groups; gi++) {
        const dk__ae_group *g = &l->g[gi];
        json_t *go = json_object(), *peers = json_array();
        int64_t at = g->n_peers ? INT64_MAX : 0;
        for (uint32_t p = 0; p < g->n_peers; p++) {
            const ae_rec *r = ae_rec_find(s, g->key, g->peers[p], 0);
            json_t *po = json_object();
            json_object_set_new(po, "peer", json_string(g->peers[p]));
            json_object_set_new(po, "last_start_ms", ae_json_ms(r ? r->row.last_start_ms : 0));
            json_object_set_new(po, "last_end_ms", ae_json_ms(r ? r->row.last_end_ms : 0));
            json_object_set_new(po, "keys_received", json_integer(r ? (json_int_t)r->row.keys_in : 0));
            json_object_set_new(po, "keys_sent", json_integer(r ? (json_int_t)r->row.keys_out : 0));
            json_object_set_new(po, "last_attempt_ms", ae_json_ms(r ? r->last_attempt_ms : 0));
            json_object_set_new(po, "last_error", r && r->last_error[0] ? json_string(r->last_error) : json_null());
            json_array_append_new(peers, po);
            int64_t t = r ? r->row.last_start_ms : 0;
            if (t < at)
                at = t;
        }
        json_object_set_new(go, "replicas", json_string(g->name));
        json_object_set_new(go, "ranges", json_integer(g->n_ranges));
        json_object_set_new(go, "repaired_at_ms", ae_json_ms(at));
        json_object_set_new(go, "peers", peers);
        json_array_append_new(groups, go);
    }
    json_object_set_new(o, "groups", groups);
    char *text = json_dumps(o, JSON_COMPACT);
    int rc = text ? dk_buf_append_str(out, text) : -ENOMEM;
    free(text);
    json_decref(o);
    return rc;
}
