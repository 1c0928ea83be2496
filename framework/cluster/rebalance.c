/*
 * rebalance.c - ring moves driven from the member table (see rebalance.h).
 *
 * One timer (250 ms) and every table change run rb_step: the bootstrap
 * decision of a node without data, the actor raise it needs, installing
 * this node's stream plan once the move has settled, and the driver's
 * duties (polling receivers, waiting until no write for them is still on
 * its way (handoff_wait.h), announcing the end of a move, and the read
 * fence of a node that turned normal (its whole store) or that gains
 * ranges (those ranges, from its stream plan on) until every member
 * counts it (handoff_wait.h, "the window after the end"; read_fence.h)).
 * Everything is
 * on the cluster loop; the progress shown by GET /cluster and
 * /admin/streams is copied under a mutex for the worker threads that
 * render it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/handoff_wait.h"
#include "cluster/leaver.h"
#include "cluster/pending.h"
#include "cluster/read_fence.h"
#include "cluster/rebalance.h"
#include "coord/stream.h"
#include "node/store.h"
#include "base/log.h"
#include "base/metrics.h"

#define RB_TICK_MS 250u
#define RB_PEERS_MAX 64u

typedef struct rb_peer {
    char id[DK_NODE_ID_MAX + 1];
    char sig[DK_XFER_SIG_MAX]; /* the move the answer was about */
    int asking, answered;
    dk_msg_stream_ack ack;
} rb_peer;

typedef struct dk__rebalance {
    dk_cluster *c;
    uv_timer_t tick;
    int closing;
    void (*stop_done)(void *);
    void *stop_arg;
    dk_transition *tr;
    char sig[DK_XFER_SIG_MAX];
    uint64_t sig_since; /* uv_now() when sig was first seen */
    int plan_sent;      /* stream plan installed for sig */
    int decided;        /* a node without data: bootstrap decided */
    uint64_t contact_at;
    int actor_ready;     /* the actor incarnation is final */
    int actor_checked;   /* the previous life's actor was looked at */
    int announced;       /* the end of this node's own move was announced */
    int stepping, again; /* rb_step is running; run it once more */
    rb_peer peers[RB_PEERS_MAX];
    size_t n_peers;
    unsigned polls;       /* STREAM_DONE calls in flight */
    dk__handoff_wait *hw; /* the last step: writes still on their way (handoff_wait.h) */
    dk__read_fence *rf;   /* the read fence and its check (read_fence.h) */
    pthread_mutex_t mu;   /* guards shown */
    json_t *shown;        /* {id: progress} for the render threads */
} dk__rebalance;

/* How long a move must have been known here before this node streams
 * for it: every coordinator has heard of it by then (a status change is
 * sent to every member at once and piggy-backed after), so its pending
 * writes flow before a stream can pass a key; and a write a coordinator
 * planned just before it heard (without the pending node) has reached the
 * sources or failed, since no write outlives request_timeout. Without that
 * second term a loaded cluster lost one acknowledged write in ~5000 to a
 * join (a quorum write whose replica copy landed after the scan). */
static uint64_t rb_settle_ms(const dk_cluster *c)
{
    uint64_t ms = 2 * (uint64_t)c->cfg->cluster.gossip_interval + (uint64_t)c->cfg->cluster.request_timeout;
    return ms < 300 ? 300 : ms;
}

/* How long a node without data listens after first contact before it
 * concludes anything from the member table (it must have converged). */
static uint64_t rb_listen_ms(const dk_cluster *c)
{
    uint64_t ms = (uint64_t)c->cfg->cluster.gossip_interval;
    return ms < 200 ? 200 : ms;
}

dk_member_status dk_rebalance_initial_status(const dk_node *node, const char *self_id, const dk_member *m,
                                             size_t n)
{
    const dk_member *p = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].id, self_id))
            p = &m[i];
    if (!node->data_lost)
        return p ? p->status : DK_STATUS_NORMAL;
    if (p && dk_member_status_current(p->status))
        return DK_STATUS_REPLACING;
    return DK_STATUS_JOINING;
}

/* ---- progress shown to other threads -------------------------------------- */

static json_t *rb_progress_json(const char *state, uint64_t done, uint64_t total, uint64_t keys,
                                uint64_t bytes)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I}", "state", state, "ranges_done", (json_int_t)done,
                     "ranges_total", (json_int_t)total, "keys", (json_int_t)keys, "bytes", (json_int_t)bytes);
}

static void rb_show(dk__rebalance *rb)
{
    json_t *o = json_object();
    if (!o)
        return;
    dk_stream_status s;
    dk_stream_status_get(rb->c->coord, &s);
    if (rb->sig[0] && dk_transition_is_receiver(rb->tr, rb->c->cfg->node.id))
        json_object_set_new(o, rb->c->cfg->node.id,
                            rb_progress_json(!strcmp(s.plan, rb->sig) && s.done ? "done" : "streaming",
                                             s.ranges_done, s.ranges_total, s.keys, s.bytes));
    for (size_t i = 0; i < rb->n_peers; i++) {
        const rb_peer *p = &rb->peers[i];
        if (!p->answered || strcmp(p->sig, rb->sig))
            continue;
        const char *st = p->ack.status == 0 ? "done" : p->ack.status == -EAGAIN ? "streaming" : "waiting";
        json_object_set_new(
            o, p->id,
            rb_progress_json(st, p->ack.ranges_done, p->ack.ranges_total, p->ack.keys, p->ack.bytes));
    }
    pthread_mutex_lock(&rb->mu);
    json_decref(rb->shown);
    rb->shown = o;
    pthread_mutex_unlock(&rb->mu);
}

json_t *dk_rebalance_member_progress(dk_cluster *c, const char *id)
{
    dk__rebalance *rb = c->rb;
    if (!rb)
        return NULL;
    pthread_mutex_lock(&rb->mu);
    json_t *v = rb->shown ? json_object_get(rb->shown, id) : NULL;
    json_incref(v);
    pthread_mutex_unlock(&rb->mu);
    return v;
}

json_t *dk_rebalance_progress(dk_cluster *c)
{
    dk__rebalance *rb = c->rb;
    json_t *o = json_object();
    dk_stream_status s;
    memset(&s, 0, sizeof(s));
    if (c->coord)
        dk_stream_status_get(c->coord, &s);
    json_object_set_new(o, "move", s.plan[0] ? json_string(s.plan) : json_null());
    json_t *recv = NULL;
    if (rb) {
        pthread_mutex_lock(&rb->mu);
        recv = rb->shown ? json_deep_copy(rb->shown) : NULL;
        pthread_mutex_unlock(&rb->mu);
    }
    json_object_set_new(o, "receivers", recv ? recv : json_object());
    json_t *in =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:b}", "ranges_done", (json_int_t)s.ranges_done, "ranges_total",
                  (json_int_t)s.ranges_total, "ranges_left", (json_int_t)(s.ranges_total - s.ranges_done),
                  "keys", (json_int_t)s.keys, "bytes", (json_int_t)s.bytes, "done", s.done);
    json_t *arr = json_array();
    if (c->coord) {
        dk_stream_info info[64];
        size_t n = dk_stream_streams_get(c->coord, info, 64);
        for (size_t i = 0; i < n && i < 64; i++)
            json_array_append_new(arr,
                                  json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "source", info[i].source,
                                            "ranges", (json_int_t)info[i].ranges, "keys",
                                            (json_int_t)info[i].keys, "bytes", (json_int_t)info[i].bytes,
                                            "batches", (json_int_t)info[i].batches, "state", info[i].state));
    }
    json_object_set_new(in, "streams", arr);
    json_object_set_new(o, "incoming", in);
    uint64_t k = 0, b = 0, n = 0;
    if (c->coord)
        dk_stream_served_get(c->coord, &k, &b, &n);
    json_object_set_new(o, "served",
                        json_pack("{s:I, s:I, s:I}", "keys", (json_int_t)k, "bytes", (json_int_t)b, "batches",
                                  (json_int_t)n));
    return o;
}

/* ---- the coordinator's view ------------------------------------------------- */

static const dk_member *rb_self(const dk_cluster *c)
{
    return c->n_table ? &c->table[0] : NULL;
}

int dk_rebalance_readable(dk_cluster *c)
{
    const dk_member *s = rb_self(c);
    return !s || dk_member_status_readable(s->status);
}

int dk_rebalance_fenced(const dk_cluster *c)
{
    return c->rb && dk__read_fence_whole(c->rb->rf);
}

int dk_rebalance_receiving(dk_cluster *c, const char *node_id)
{
    dk__rebalance *rb = c->rb;
    return rb && rb->tr && rb->sig[0] && dk_transition_is_receiver(rb->tr, node_id);
}

static void rb_step(dk__rebalance *rb);

/* An answer of the fence's check came in (loop thread): step at once. */
static void rb_fence_kick(void *arg)
{
    dk__rebalance *rb = arg;
    if (dk__read_fence_up(rb->rf) && !rb->closing)
        rb_step(rb);
}

size_t dk_rebalance_pending(dk_cluster *c, dk_token t, dk_coord_pending *out)
{
    dk__rebalance *rb = c->rb;
    if (!rb || !rb->tr || !rb->sig[0])
        return 0;
    dk_xfer_node n[DK_XFER_N_MAX];
    size_t k = dk_transition_pending(rb->tr, t, n);
    for (size_t i = 0; i < k; i++) {
        snprintf(out[i].id, sizeof(out[i].id), "%s", n[i].id);
        snprintf(out[i].addr, sizeof(out[i].addr), "%s", n[i].rpc_addr);
        out[i].alive = n[i].alive;
    }
    return k;
}

const char *dk_rebalance_sig(dk_cluster *c)
{
    return c->rb ? c->rb->sig : "";
}

/* ---- this node's stream plan ---------------------------------------------------- */

static int rb_install_plan(dk__rebalance *rb)
{
    dk_cluster *c = rb->c;
    const char *self = c->cfg->node.id;
    size_t nr = dk_transition_ranges(rb->tr), n_want = 0, n_nodes = 0;
    dk_stream_want *want = NULL;
    dk_stream_node *nodes = NULL;
    int rc = 0;
    if (rb->sig[0] && dk_transition_is_receiver(rb->tr, self)) {
        want = calloc(nr ? nr : 1, sizeof(*want));
        nodes = calloc(RB_PEERS_MAX, sizeof(*nodes));
        if (!want || !nodes) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nr; i++) {
            dk_xfer_node rv[DK_XFER_N_MAX], src[DK_XFER_N_MAX];
            size_t k = dk_transition_receivers(rb->tr, i, rv), me = 0;
            for (size_t j = 0; j < k; j++)
                me |= !strcmp(rv[j].id, self);
            if (!me)
                continue;
            dk_stream_want *w = &want[n_want++];
            dk_transition_range(rb->tr, i, &w->start, &w->end);
            size_t ns = dk_transition_sources(rb->tr, i, src, &w->nothing);
            for (size_t j = 0; j < ns && w->n_src < DK_STREAM_SRC_MAX; j++) {
                size_t x = 0;
                while (x < n_nodes && strcmp(nodes[x].id, src[j].id))
                    x++;
                if (x == n_nodes) {
                    if (n_nodes == RB_PEERS_MAX)
                        continue;
                    snprintf(nodes[x].id, sizeof(nodes[x].id), "%s", src[j].id);
                    snprintf(nodes[x].addr, sizeof(nodes[x].addr), "%s", src[j].rpc_addr);
                    n_nodes++;
                }
                w->src[w->n_src++] = (uint16_t)x;
            }
        }
    }
    const dk_member *me = rb_self(c);
    if (me && me->status == DK_STATUS_NORMAL) /* a joiner's whole store is fenced when it turns normal */
        dk__read_fence_raise_move(rb->rf, c->cfg->node.id, rb->sig, want, n_want);
    dk_stream_plan p = {.nodes = nodes, .n_nodes = n_nodes, .want = want, .n_want = n_want};
    snprintf(p.sig, sizeof(p.sig), "%s", rb->sig);
    rc = dk_stream_set_plan(c->coord, &p);
out:
    free(want);
    free(nodes);
    if (rc)
        dk_log(DK_LOG_WARN, "rebalance: cannot install the stream plan of move %s: %s", rb->sig,
               dk_strerror(rc));
    return rc;
}

/* ---- receivers' completion -------------------------------------------------------- */

static rb_peer *rb_peer_get(dk__rebalance *rb, const char *id)
{
    for (size_t i = 0; i < rb->n_peers; i++)
        if (!strcmp(rb->peers[i].id, id))
            return &rb->peers[i];
    if (rb->n_peers == RB_PEERS_MAX)
        return NULL;
    rb_peer *p = &rb->peers[rb->n_peers++];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    return p;
}

typedef struct rb_poll {
    dk__rebalance *rb;
    char id[DK_NODE_ID_MAX + 1];
    char sig[DK_XFER_SIG_MAX];
} rb_poll;

/* Loop thread: a receiver's STREAM_ACK. */
static void rb_polled(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    rb_poll *q = arg;
    dk__rebalance *rb = q->rb;
    rb->polls--;
    rb_peer *p = rb_peer_get(rb, q->id);
    if (p) {
        p->asking = 0;
        dk_msg_stream_ack a;
        if (status == 0 && h->type == DK_MSG_STREAM_ACK && dk_msg_stream_ack_decode(body, &a) == 0) {
            p->ack = a;
            p->answered = 1;
            snprintf(p->sig, sizeof(p->sig), "%s", q->sig);
        }
    }
    free(q);
}

/* Whether every receiver of the move has all its ranges; polls the
 * others meanwhile. */
static int rb_receivers_done(dk__rebalance *rb)
{
    dk_cluster *c = rb->c;
    dk_xfer_node r[RB_PEERS_MAX];
    size_t n = dk_transition_all_receivers(rb->tr, r, RB_PEERS_MAX);
    int all = n <= RB_PEERS_MAX;
    for (size_t i = 0; i < n && i < RB_PEERS_MAX; i++) {
        if (!strcmp(r[i].id, c->cfg->node.id)) {
            dk_stream_status s;
            dk_stream_status_get(c->coord, &s);
            all &= !strcmp(s.plan, rb->sig) && s.done;
            continue;
        }
        rb_peer *p = rb_peer_get(rb, r[i].id);
        if (!p) {
            all = 0;
            continue;
        }
        all &= p->answered && !strcmp(p->sig, rb->sig) && p->ack.status == 0;
        if (p->asking || !r[i].alive || !r[i].rpc_addr[0] || c->stopping)
            continue;
        rb_poll *q = calloc(1, sizeof(*q));
        dk_buf b = DK_BUF_INIT;
        dk_msg_stream_done m;
        snprintf(m.plan, sizeof(m.plan), "%s", rb->sig);
        if (q && dk_msg_stream_done_encode(&b, &m) == 0) {
            q->rb = rb;
            snprintf(q->id, sizeof(q->id), "%s", r[i].id);
            snprintf(q->sig, sizeof(q->sig), "%s", rb->sig);
            if (dk_rpc_call(c->rpc, r[i].id, r[i].rpc_addr, DK_MSG_STREAM_DONE, b.data, b.len,
                            (uint64_t)c->cfg->cluster.request_timeout, rb_polled, q) == 0) {
                p->asking = 1;
                rb->polls++;
                q = NULL;
            }
        }
        free(q);
        dk_buf_free(&b);
    }
    return all;
}

/* The live readable member with the lowest id drives removals. */
static int rb_removal_driver(const dk_cluster *c)
{
    const char *best = NULL;
    for (size_t i = 0; i < c->n_table; i++) {
        const dk_member *m = &c->table[i];
        if (m->status != DK_STATUS_NORMAL || (m->state != DK_MEMBER_NORMAL && i != 0))
            continue;
        if (!best || strcmp(m->id, best) < 0)
            best = m->id;
    }
    return best && !strcmp(best, c->cfg->node.id);
}

/* ---- the step --------------------------------------------------------------------- */

static size_t rb_count(const dk_cluster *c, int (*pick)(dk_member_status), const char *except);

static void rb_decide(dk__rebalance *rb)
{
    dk_cluster *c = rb->c;
    const dk_member *self = rb_self(c);
    int contact = dk_membership_contact(c->members);
    if (contact == 0)
        return;
    uint64_t now = uv_now(c->loop);
    if (!rb->contact_at)
        rb->contact_at = now;
    if (contact > 0 && now - rb->contact_at < rb_listen_ms(c))
        return; /* let the table converge before concluding anything */
    /* A forgotten life: never reuse its version-vector counters. Checked
     * once (our own record echoes back with the raised value): a new
     * catalog that peers told anything about this id starts above the
     * highest actor incarnation they carried; without a previous life that
     * costs one harmless step (our own echo). */
    dk_member heard;
    uint32_t max_actor = 0;
    if (!rb->actor_checked) {
        rb->actor_checked = 1;
        if (c->node->new_catalog && dk_membership_heard_self(c->members, &heard, &max_actor) &&
            max_actor >= c->node->actor.incarnation)
            dk__cluster_raise_actor(c, max_actor + 1);
    }
    if (c->raising)
        return; /* decided once the raise is durable */
    rb->actor_ready = 1;
    rb->decided = 1;
    if (self->status != DK_STATUS_JOINING)
        return;
    for (size_t i = 1; i < c->n_table; i++)
        if (dk_member_status_current(c->table[i].status)) {
            dk_log(DK_LOG_INFO,
                   "rebalance: %s joins a cluster that has data: bootstrapping (streaming its "
                   "ranges before it serves reads)",
                   c->cfg->node.id);
            return;
        }
    dk_log(DK_LOG_INFO, "rebalance: %s is among the first nodes of its cluster: normal at once",
           c->cfg->node.id);
    dk_membership_set_status(c->members, DK_STATUS_NORMAL);
}

/*
 * One step. Announcing a status publishes the member table at once, which
 * replaces c->table (so `self` dangles) and re-enters here through
 * dk_rebalance_on_members: every announcement is the last thing a step
 * does, and a nested call only asks the running step to run once more.
 */
static void rb_step_once(dk__rebalance *rb)
{
    dk_cluster *c = rb->c;
    const dk_member *self = rb_self(c);
    if (!self || !c->members || !c->coord || rb->closing || c->stopping)
        return;
    dk__leaver_step(c, self->status); /* a node that is left drains (leaver.h) */
    if (!rb->decided) {
        rb_decide(rb);
        return; /* it may have announced; the next step goes on */
    }
    if (!rb->actor_ready && !c->raising)
        rb->actor_ready = 1;
    dk__read_fence_step(rb->rf, c, rb->sig[0] && rb->tr && dk_transition_is_receiver(rb->tr, c->cfg->node.id),
                        rb_listen_ms(c), rb_fence_kick, rb);
    if ((self->status == DK_STATUS_REPLACING || self->status == DK_STATUS_JOINING) && rb->actor_ready &&
        !rb->announced && rb_count(c, dk_member_status_readable, NULL) == 0) {
        /* no member holds any data (a lone node, or a whole cluster that
         * lost it): nothing to fetch, nobody to wait for */
        dk_log(DK_LOG_INFO, "rebalance: no member has data to stream from: %s is normal at once",
               c->cfg->node.id);
        rb->announced = 1;
        dk_membership_set_status(c->members, DK_STATUS_NORMAL);
        return;
    }
    uint64_t now = uv_now(c->loop);
    if (!rb->plan_sent && (!rb->sig[0] || now - rb->sig_since >= rb_settle_ms(c))) {
        if (rb_install_plan(rb) == 0)
            rb->plan_sent = 1;
    }
    rb_show(rb);
    if (!rb->sig[0] || !rb->plan_sent)
        return;
    int mine = self->status == DK_STATUS_JOINING || self->status == DK_STATUS_REPLACING ||
               self->status == DK_STATUS_LEAVING;
    int removal = 0;
    for (size_t i = 1; i < c->n_table; i++)
        removal |= c->table[i].status == DK_STATUS_LEAVING && c->table[i].state == DK_MEMBER_DOWN;
    removal &= rb_removal_driver(c);
    if (!mine && !removal)
        return;
    if (!rb_receivers_done(rb))
        return;
    if (!rb->announced || removal) {
        /* Every receiver has its ranges; writes sent to them as pending
         * replicas may still be in flight or waiting as hints. */
        dk_xfer_node r[RB_PEERS_MAX];
        const char *targets[RB_PEERS_MAX];
        size_t n = dk_transition_all_receivers(rb->tr, r, RB_PEERS_MAX);
        for (size_t i = 0; i < n && i < RB_PEERS_MAX; i++)
            targets[i] = r[i].id;
        if (n && !dk__handoff_wait_done(rb->hw, c, rb->sig, targets, n < RB_PEERS_MAX ? n : RB_PEERS_MAX))
            return;
    }
    if (mine && !rb->announced && rb->actor_ready) {
        dk_member_status next = self->status == DK_STATUS_LEAVING ? DK_STATUS_LEFT : DK_STATUS_NORMAL;
        dk_log(DK_LOG_INFO, "rebalance: every receiver of move %s has its ranges: %s is %s%s", rb->sig,
               c->cfg->node.id, dk_member_status_name(next),
               next == DK_STATUS_NORMAL ? " (serving no reads until every member counts it)" : "");
        rb->announced = 1;
        if (next == DK_STATUS_NORMAL) {
            /* Fenced before the status changes: this node's coordinator
             * never reads it unfenced while others may still send it
             * uncounted copies (handoff_wait.h). */
            dk__read_fence_raise_whole(rb->rf, rb->sig);
        }
        dk_metrics_add("ring_moves_completed_total", 1);
        dk_membership_set_status(c->members, next);
    }
    if (removal)
        for (size_t i = 1; i < c->n_table; i++) {
            const dk_member *m = &c->table[i];
            if (m->status != DK_STATUS_LEAVING || m->state != DK_MEMBER_DOWN)
                continue;
            dk_log(DK_LOG_INFO, "rebalance: %s's ranges are on their new owners: %s is removed", m->id,
                   m->id);
            dk_metrics_add("ring_moves_completed_total", 1);
            dk_membership_set_peer_status(c->members, m->id, DK_STATUS_REMOVED);
        }
}

static void rb_step(dk__rebalance *rb)
{
    if (rb->stepping) {
        rb->again = 1;
        return;
    }
    rb->stepping = 1;
    do {
        rb->again = 0;
        rb_step_once(rb);
    } while (rb->again && !rb->closing);
    rb->stepping = 0;
}

/* Timer (loop thread). */
static void rb_tick(uv_timer_t *t)
{
    rb_step(t->data);
}

void dk_rebalance_on_members(dk_cluster *c, const dk_member *m, size_t n)
{
    dk__rebalance *rb = c->rb;
    if (!rb)
        return;
    dk_transition *t = NULL;
    int rc = dk_transition_build(m, n, (uint32_t)c->cfg->cluster.n_replicas, &t);
    if (rc) {
        dk_log(DK_LOG_ERROR, "rebalance: cannot compute the ring move: %s", dk_strerror(rc));
        return;
    }
    dk_transition_free(rb->tr);
    rb->tr = t;
    const char *sig = dk_transition_sig(t);
    if (strcmp(sig, rb->sig)) {
        if (sig[0])
            dk_log(DK_LOG_INFO, "rebalance: ring move %s under way", sig);
        else if (rb->sig[0])
            dk_log(DK_LOG_INFO, "rebalance: ring move %s is over", rb->sig);
        snprintf(rb->sig, sizeof(rb->sig), "%s", sig);
        rb->sig_since = uv_now(c->loop);
        rb->plan_sent = 0;
        rb->announced = 0;
        dk__handoff_wait_reset(rb->hw);
        dk_metrics_set_gauge("ring_move_in_progress", sig[0] != 0);
        size_t pending = 0;
        dk_xfer_node rv[DK_XFER_N_MAX];
        for (size_t i = 0; i < dk_transition_ranges(t); i++)
            pending += dk_transition_receivers(t, i, rv) > 0;
        dk_metrics_set_gauge("ring_pending_ranges", pending);
    } else if (rb->plan_sent && sig[0]) {
        rb_install_plan(rb); /* same move, sources may have changed */
    }
    rb_step(rb);
}

/* ---- admin verbs -------------------------------------------------------------------- */

static size_t rb_count(const dk_cluster *c, int (*pick)(dk_member_status), const char *except)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_table; i++)
        n += pick(c->table[i].status) && (!except || strcmp(c->table[i].id, except));
    return n;
}

static int rb_stays(dk_member_status s)
{
    return s == DK_STATUS_NORMAL || s == DK_STATUS_JOINING || s == DK_STATUS_REPLACING;
}

int dk_rebalance_decommission(dk_cluster *c, char *why, size_t whylen)
{
    const dk_member *self = rb_self(c);
    if (!self || !c->members) {
        snprintf(why, whylen, "the node has not joined its cluster yet");
        return -EBUSY;
    }
    if (self->status == DK_STATUS_LEAVING || self->status == DK_STATUS_LEFT) {
        snprintf(why, whylen, "%s is already %s", self->id, dk_member_status_name(self->status));
        return self->status == DK_STATUS_LEAVING ? 0 : -EBUSY;
    }
    if (self->status != DK_STATUS_NORMAL) {
        snprintf(why, whylen, "%s is %s: only a normal node can be decommissioned", self->id,
                 dk_member_status_name(self->status));
        return -EBUSY;
    }
    size_t left = rb_count(c, rb_stays, self->id);
    if (left < (size_t)c->cfg->cluster.n_replicas) {
        snprintf(why, whylen,
                 "decommissioning %s would leave %zu node%s for n_replicas = %d: add a node first", self->id,
                 left, left == 1 ? "" : "s", c->cfg->cluster.n_replicas);
        return -EPERM;
    }
    const char *id = c->cfg->node.id; /* self points into the table, which the change replaces */
    dk_log(DK_LOG_INFO, "rebalance: decommissioning %s: streaming its ranges to their next owners", id);
    dk_membership_set_status(c->members, DK_STATUS_LEAVING);
    snprintf(why, whylen, "%s is leaving: its ranges stream to their next owners, then it leaves the ring",
             id);
    return 0;
}

int dk_rebalance_remove(dk_cluster *c, const char *id, char *why, size_t whylen)
{
    const dk_member *m = NULL;
    for (size_t i = 0; i < c->n_table; i++)
        if (!strcmp(c->table[i].id, id))
            m = &c->table[i];
    if (!m || !c->members) {
        snprintf(why, whylen, "no member '%s' in this cluster", id);
        return DK_ENOTFOUND;
    }
    if (m == rb_self(c)) {
        snprintf(why, whylen, "%s is this node: decommission it instead", id);
        return -EBUSY;
    }
    if (m->status == DK_STATUS_REMOVED || m->status == DK_STATUS_LEFT) {
        snprintf(why, whylen, "%s is already %s", id, dk_member_status_name(m->status));
        return 0;
    }
    if (m->state != DK_MEMBER_DOWN) {
        snprintf(why, whylen,
                 "%s is %s, not down: decommission it on that node instead (removal is for dead nodes)", id,
                 dk_member_state_name(m->state));
        return -EBUSY;
    }
    if (m->status == DK_STATUS_LEAVING) {
        snprintf(why, whylen, "%s is already being removed", id);
        return 0;
    }
    size_t left = rb_count(c, rb_stays, id);
    if (dk_member_status_current(m->status) && left < (size_t)c->cfg->cluster.n_replicas) {
        snprintf(why, whylen, "removing %s would leave %zu node%s for n_replicas = %d: add a node first", id,
                 left, left == 1 ? "" : "s", c->cfg->cluster.n_replicas);
        return -EPERM;
    }
    /* a member that never got on the ring has nothing to hand over */
    dk_member_status to = dk_member_status_current(m->status) ? DK_STATUS_LEAVING : DK_STATUS_REMOVED;
    int rc = dk_membership_set_peer_status(c->members, id, to);
    if (rc) {
        snprintf(why, whylen, "cannot change %s's status: %s", id, dk_strerror(rc));
        return rc;
    }
    dk_log(DK_LOG_INFO, "rebalance: removing %s: its ranges get new replicas from the remaining ones", id);
    snprintf(why, whylen,
             "%s is being removed: each of its ranges streams from a remaining replica to its new owner", id);
    return 0;
}

/* ---- lifetime ------------------------------------------------------------------------- */

int dk_rebalance_start(dk_cluster *c)
{
    dk__rebalance *rb = calloc(1, sizeof(*rb));
    if (!rb)
        return -ENOMEM;
    rb->c = c;
    if (!(rb->hw = dk__handoff_wait_new()) ||
        !(rb->rf = dk__read_fence_open(c->cfg->node.data_dir, c->node->store))) {
        dk__handoff_wait_free(rb->hw);
        free(rb);
        return -ENOMEM;
    }
    pthread_mutex_init(&rb->mu, NULL);
    const dk_member *self = rb_self(c);
    rb->decided = !(self && self->status == DK_STATUS_JOINING && c->node->data_lost);
    rb->actor_ready = !c->node->new_catalog;
    uv_timer_init(c->loop, &rb->tick);
    rb->tick.data = rb;
    uv_timer_start(&rb->tick, rb_tick, RB_TICK_MS, RB_TICK_MS);
    c->rb = rb;
    if (c->n_table)
        dk_rebalance_on_members(c, c->table, c->n_table);
    return 0;
}

/* Loop thread: the timer is closed. */
static void rb_closed(uv_handle_t *h)
{
    dk__rebalance *rb = h->data;
    if (rb->stop_done)
        rb->stop_done(rb->stop_arg);
}

void dk_rebalance_stop(dk_cluster *c, void (*done)(void *), void *arg)
{
    dk__rebalance *rb = c->rb;
    if (!rb) {
        done(arg);
        return;
    }
    rb->closing = 1;
    rb->stop_done = done;
    rb->stop_arg = arg;
    uv_close((uv_handle_t *)&rb->tick, rb_closed);
}

void dk_rebalance_free(dk_cluster *c)
{
    dk__rebalance *rb = c->rb;
    if (!rb)
        return;
    /* the RPC is stopped: every poll callback has run */
    dk_transition_free(rb->tr);
    dk__handoff_wait_free(rb->hw);
    dk__read_fence_free(rb->rf);
    json_decref(rb->shown);
    pthread_mutex_destroy(&rb->mu);
    free(rb);
    c->rb = NULL;
}
