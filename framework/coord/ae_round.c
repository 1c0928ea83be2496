/*
 * ae_round.c - anti-entropy rounds (design in antientropy.h): a round runs
 * one exchange after another, one per (replica group, peer) pair of the
 * current trees; scheduled rounds and operators' requests (dk_ae_repair,
 * with or without a key prefix) queue behind each other. The outcome of
 * each exchange goes into the pair's record (antientropy.c), which the
 * repair rule reads, and into the request's summary; dk_ae_status renders
 * both for GET /admin/repair.
 *
 * Not taken: a tree per range with its own schedule (Cassandra's subrange
 * repair). Groups make one exchange per peer cover every range it shares
 * with this node, and a round is small enough to run whole. Loop thread.
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

#define AE_DRIFT_EXCHANGES 3u /* differing leaves with nothing to move, in a row */

static const char *const ae_req_state[] = {"queued", "running", "done", "failed"};

/* ---- rounds and requests ---------------------------------------------------------------- */

static void ae_req_error(dk__ae_req *q, const char *fmt, ...) DK_PRINTF(2, 3);
static void ae_req_error(dk__ae_req *q, const char *fmt, ...)
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
    dk__ae_sched *s = ae->s;
    dk__ae_req *q = s->round_req;
    if (q) {
        q->state = q->failed ? DK__AE_FAILED : DK__AE_DONE;
        q->finished_ms = dk_now_ms();
        dk_log(DK_LOG_INFO,
               "anti-entropy: repair %llu %s: %u of %u exchanges failed, %llu keys received, "
               "%llu sent",
               (unsigned long long)q->id, ae_req_state[q->state], q->failed, q->pairs,
               (unsigned long long)q->keys_in, (unsigned long long)q->keys_out);
    } else {
        s->last_round_ms = dk_now_ms();
    }
    uint64_t iv = (uint64_t)ae->c->cfg->cluster.anti_entropy_interval;
    if (!q && iv)
        s->next_round = uv_now(ae->c->loop) + dk__ae_jitter(ae, 75, 125);
    s->round_active = 0;
    s->round_req = NULL;
    free(s->pairs);
    s->pairs = NULL;
    s->n_pairs = s->next_pair = 0;
}

/* A pair that failed (started: an exchange ran and failed; otherwise it
 * could not start, e.g. the peer is down). The round's layout is current. */
static void ae_pair_failed(dk_ae *ae, const dk__ae_pair *p, int started, const char *msg)
{
    dk__ae_sched *s = ae->s;
    const dk__ae_group *g = &ae->layout->g[p->g];
    if (!s->round_req || s->round_req->plen == 0) {
        dk__ae_rec *r = dk__ae_rec_find(s, g->key, p->peer, 1);
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
    dk__ae_sched *s = ae->s;
    const dk__ae_pair *p = &s->pairs[s->next_pair - 1];
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
        dk__ae_kick(ae);
        return;
    }
    dk__ae_group *g = &ae->layout->g[p->g];
    if (x->status) {
        ae_pair_failed(ae, p, 1, x->error);
        dk__ae_kick(ae);
        return;
    }
    dk_metrics_add("repair_exchanges_completed_total", 1);
    if (x->full) {
        dk__ae_rec *r = dk__ae_rec_find(s, g->key, p->peer, 1);
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
            dk_log(DK_LOG_INFO,
                   "anti-entropy: group %s keeps differing with nothing to repair; "
                   "rebuilding the trees",
                   g->name);
            s->want_rebuild = 1;
            s->last_drift_rebuild = now;
            g->drift = 0;
        }
        if (x->keys_in || x->keys_out)
            dk_log(DK_LOG_INFO, "anti-entropy: %s with %s: %u leaves differed, %llu keys received, %llu sent",
                   g->name, p->peer, x->leaves, (unsigned long long)x->keys_in,
                   (unsigned long long)x->keys_out);
    }
    dk__ae_publish(ae);
    dk__ae_kick(ae);
}

/* Start the next pair of the round, skipping those that cannot run. */
static void ae_round_next(dk_ae *ae)
{
    dk__ae_sched *s = ae->s;
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
                s->next_round = uv_now(ae->c->loop) + dk__ae_jitter(ae, 10, 25);
            ae_round_end(ae);
            return;
        }
        if (s->next_pair == s->n_pairs) {
            ae_round_end(ae);
            return;
        }
        const dk__ae_pair *p = &s->pairs[s->next_pair++];
        char addr[DK_CONFIG_ADDR_MAX + 1] = "";
        int alive = 0;
        if (ae->c->view.peer(ae->c->view.arg, p->peer, addr, sizeof(addr), &alive) != 0 || !alive ||
            !addr[0]) {
            ae_pair_failed(ae, p, 0, "the peer is down");
            continue;
        }
        dk_slice prefix = {s->round_req ? s->round_req->prefix : NULL, s->round_req ? s->round_req->plen : 0};
        int rc = dk__ae_exchange(ae, p->g, p->peer, addr, prefix, ae_exchange_done);
        if (rc)
            ae_pair_failed(ae, p, 0, dk_strerror(rc));
    }
}

static int ae_round_start(dk_ae *ae, dk__ae_req *q)
{
    dk__ae_sched *s = ae->s;
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
        q->state = DK__AE_RUNNING;
        q->started_ms = s->round_started_ms;
        q->pairs = (uint32_t)n;
    } else {
        s->last_round_failed = 0;
    }
    return 0;
}

void dk__ae_maybe_round(dk_ae *ae)
{
    dk__ae_sched *s = ae->s;
    if (ae->stopping || ae->x)
        return;
    if (s->round_active) {
        ae_round_next(ae);
        return;
    }
    if (!ae->live || !ae->layout)
        return;
    dk__ae_req *q = NULL;
    for (size_t i = 0; i < s->n_reqs && !q; i++)
        if (s->reqs[i].state == DK__AE_QUEUED)
            q = &s->reqs[i];
    uint64_t now = uv_now(ae->c->loop);
    uint64_t iv = (uint64_t)ae->c->cfg->cluster.anti_entropy_interval;
    if (iv && s->next_round == 0)
        s->next_round = now + dk__ae_jitter(ae, 10, 100); /* stagger the first round */
    if (!q && !(iv && now >= s->next_round))
        return;
    if (ae_round_start(ae, q) == 0)
        ae_round_next(ae);
}

/* ---- the operator's side ---------------------------------------------------------------------- */

int dk_ae_repair(dk_coord *c, dk_slice prefix, uint64_t *id)
{
    dk_ae *ae = c->ae;
    if (c->stopping || !ae || ae->stopping)
        return DK_ECLOSED;
    if (prefix.len > DK_KEY_MAX)
        return -EINVAL;
    dk__ae_sched *s = ae->s;
    if (s->n_reqs == DK__AE_REQS_MAX) {
        /* Forget the oldest finished request to make room. */
        size_t i = 0;
        while (i < s->n_reqs && (s->reqs[i].state == DK__AE_QUEUED || s->reqs[i].state == DK__AE_RUNNING))
            i++;
        if (i == s->n_reqs)
            return -EBUSY;
        memmove(&s->reqs[i], &s->reqs[i + 1], (s->n_reqs - i - 1) * sizeof(s->reqs[0]));
        s->n_reqs--;
        if (s->round_req > &s->reqs[i])
            s->round_req--;
    }
    dk__ae_req *q = &s->reqs[s->n_reqs++];
    memset(q, 0, sizeof(*q));
    q->id = ++s->next_id;
    memcpy(q->prefix, prefix.ptr, prefix.len);
    q->plen = prefix.len;
    q->state = DK__AE_QUEUED;
    q->queued_ms = dk_now_ms();
    *id = q->id;
    dk__ae_kick(ae);
    return 0;
}

static json_t *ae_json_ms(int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

static json_t *ae_json_req(const dk__ae_req *q)
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
    dk__ae_sched *s = ae->s;
    const dk__ae_layout *l = ae->layout;
    json_t *o = json_object();
    json_object_set_new(o, "node", json_string(c->self));
    json_object_set_new(o, "interval_ms", json_integer(c->cfg->cluster.anti_entropy_interval));
    json_object_set_new(o, "repaired_before_ms", json_integer(atomic_load(&c->node->repaired_before_ms)));
    json_t *trees = json_object();
    json_object_set_new(trees, "state",
                        json_string(!l && !s->building ? "none"
                                    : s->building      ? "building"
                                                       : "ready"));
    json_object_set_new(trees, "groups", json_integer(l ? (json_int_t)l->n_groups : 0));
    json_object_set_new(trees, "keys", json_integer(l ? (json_int_t)l->keys : 0));
    json_object_set_new(trees, "build_ms", json_integer(l ? (json_int_t)l->build_ms : 0));
    json_object_set_new(trees, "rebuilds", json_integer((json_int_t)s->rebuilds));
    json_object_set_new(trees, "loads", json_integer((json_int_t)s->loads));
    json_object_set_new(o, "trees", trees);

    json_t *round = json_object();
    json_object_set_new(round, "running", json_boolean(s->round_active));
    if (s->round_active) {
        json_object_set_new(round, "request",
                            s->round_req ? json_integer((json_int_t)s->round_req->id) : json_null());
        json_object_set_new(round, "started_ms", json_integer(s->round_started_ms));
        json_object_set_new(round, "exchanges_done",
                            json_integer((json_int_t)(s->next_pair - (ae->x != NULL))));
        json_object_set_new(round, "exchanges", json_integer((json_int_t)s->n_pairs));
        dk__ae_xprogress xp;
        if (ae->x && s->next_pair && l && ae->gen == s->round_gen && dk__ae_exchange_progress(ae, &xp) == 0)
            json_object_set_new(
                round, "current",
                json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I}", "replicas",
                          l->g[s->pairs[s->next_pair - 1].g].name, "peer", s->pairs[s->next_pair - 1].peer,
                          "phase", xp.phase, "tree_level", (int)xp.level, "leaves_differing", (int)xp.leaves,
                          "key_pages", (json_int_t)xp.pages, "keys_received", (json_int_t)xp.keys_in,
                          "keys_sent", (json_int_t)xp.keys_out, "started_ms", (json_int_t)xp.start_ms));
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
            const dk__ae_rec *r = dk__ae_rec_find(s, g->key, g->peers[p], 0);
            json_t *po = json_object();
            json_object_set_new(po, "peer", json_string(g->peers[p]));
            json_object_set_new(po, "last_start_ms", ae_json_ms(r ? r->row.last_start_ms : 0));
            json_object_set_new(po, "last_end_ms", ae_json_ms(r ? r->row.last_end_ms : 0));
            json_object_set_new(po, "keys_received", json_integer(r ? (json_int_t)r->row.keys_in : 0));
            json_object_set_new(po, "keys_sent", json_integer(r ? (json_int_t)r->row.keys_out : 0));
            json_object_set_new(po, "last_attempt_ms", ae_json_ms(r ? r->last_attempt_ms : 0));
            json_object_set_new(po, "last_error",
                                r && r->last_error[0] ? json_string(r->last_error) : json_null());
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
