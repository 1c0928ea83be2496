/*
 * loops.c - a coordinator per loop thread: see loops.h.
 *
 * Loop 0 owns the published state (the member snapshot, the flag); each
 * other loop owns its coordinator, its RPC instance and its cached
 * snapshot. Starting happens on the main thread before the loop threads
 * run (handles may be initialised on a loop that does not run yet);
 * stopping travels by mailbox: loop 0 asks each loop to stop its
 * coordinator, then its RPC instance, and each loop answers back when
 * both are closed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/loops_int.h"
#include "cluster/rebalance.h"
#include "base/log.h"
#include "base/mailbox.h"
#include "util/strcopy.h"

static void msnap_unref(msnap *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        free(s);
}

/* A loop: its current snapshot (re-read only when loop 0 published). */
static const msnap *loop_snap(dk__loop *l)
{
    dk__loops *a = l->all;
    uint64_t v = atomic_load_explicit(&a->snap_ver, memory_order_acquire);
    if (v != l->snap_ver || !l->snap) {
        pthread_mutex_lock(&a->snap_mu);
        msnap *s = a->snap;
        if (s)
            atomic_fetch_add(&s->refs, 1);
        v = atomic_load_explicit(&a->snap_ver, memory_order_relaxed);
        pthread_mutex_unlock(&a->snap_mu);
        msnap_unref(l->snap);
        l->snap = s;
        l->snap_ver = v;
    }
    return l->snap;
}

/* ---- the loops' view (coordinator.h), on each loop's own thread ---------- */

/* The ring, from the loop's own reference: the cell (its mutex, shared
 * by every loop) is read only when loop 0 published a new ring. Borrowed
 * until the loop runs again. */
static dk_ring *loop_ring(dk__loop *l)
{
    uint64_t v = atomic_load_explicit(&l->all->ring_ver, memory_order_acquire);
    if (v != l->ring_ver || !l->ring) {
        dk_ring *r = dk_ring_cell_get(&l->all->c->ring);
        dk_ring_unref(l->ring);
        l->ring = r;
        l->ring_ver = v;
    }
    return l->ring;
}

static dk_ring *lview_ring(void *arg)
{
    dk_ring *r = loop_ring(arg);
    if (r)
        dk_ring_ref(r);
    return r;
}

dk_ring *dk_cluster_ring_here(dk_cluster *c, unsigned index)
{
    if (index == 0)
        return dk_ring_cell_peek(&c->ring); /* loop 0 is the one that sets it */
    dk__loops *a = c->lp;
    return a && index < a->n ? loop_ring(&a->l[index]) : NULL;
}

static const msnap_entry *lview_find(dk__loop *l, const char *id)
{
    const msnap *s = loop_snap(l);
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->e[i].id, id) == 0)
            return &s->e[i];
    return NULL;
}

static int lview_peer(void *arg, const char *node_id, char *rpc_addr, size_t len, int *alive)
{
    const msnap_entry *e = lview_find(arg, node_id);
    if (!e)
        return DK_ENOTFOUND;
    dk_strcopy(rpc_addr, len, e->rpc_addr);
    *alive = e->alive;
    return 0;
}

static int lview_up(void *arg, const char *node_id, char *rpc_addr, size_t len, int *up)
{
    const msnap_entry *e = lview_find(arg, node_id);
    if (!e)
        return DK_ENOTFOUND;
    snprintf(rpc_addr, len, "%s", e->rpc_addr);
    *up = e->up;
    return 0;
}

/* Only used while ok: this node is readable then. */
static int lview_readable(void *arg)
{
    dk__loop *l = arg;
    return atomic_load_explicit(&l->all->ok, memory_order_relaxed);
}

/* ---- publication (loop 0) --------------------------------------------------- */

void dk__loops_evaluate(dk_cluster *c)
{
    dk__loops *a = c->lp;
    if (!a)
        return;
    const char *sig = dk_rebalance_sig(c);
    int ok = !c->stopping && !c->raising && a->snap && !a->snap_failed && dk_rebalance_readable(c) &&
             !dk_rebalance_fenced(c) && !(sig && sig[0]);
    if (atomic_load_explicit(&a->ok, memory_order_relaxed) != ok)
        atomic_store_explicit(&a->ok, ok, memory_order_release);
    if (a->ok_logged != ok) {
        a->ok_logged = ok;
        dk_log(DK_LOG_DEBUG,
               "cluster: the loops %s coordinate (stopping %d, raising %d, readable %d, fenced %d, move %s)",
               ok ? "now" : "no longer", c->stopping, c->raising, dk_rebalance_readable(c),
               dk_rebalance_fenced(c), sig && sig[0] ? sig : "none");
    }
}

static void loops_check(uv_check_t *h)
{
    dk__loops *a = h->data;
    dk__loops_evaluate(a->c);
}

/* What every peer may open to this node (loops with as many threads as
 * here): 2 connections from its loop 0, 1 from each other loop. Warned
 * about once per cluster size found short of max_rpc_connections. */
static void loops_check_budget(dk_cluster *c, size_t members)
{
    dk__loops *a = c->lp;
    size_t per_peer = 2 + (a->n - 1);
    size_t need = members > 1 ? (members - 1) * per_peer : 0;
    size_t max = (size_t)c->cfg->cluster.max_rpc_connections;
    if (need <= max || members <= a->budget_warned)
        return;
    a->budget_warned = members;
    dk_log(DK_LOG_WARN,
           "cluster: %zu members with %zu loop threads may open %zu RPC connections to this node "
           "(%zu per peer), above [cluster] max_rpc_connections = %zu: raise it or lower [node] loop_threads",
           members, a->n, need, per_peer, max);
}

void dk__loops_members(dk_cluster *c, const dk_member *m, size_t n)
{
    dk__loops *a = c->lp;
    if (!a)
        return;
    /* Off until the caller re-evaluates, once the ring matches the table:
     * no loop sees a table and a ring of different member sets. */
    atomic_store_explicit(&a->ok, 0, memory_order_release);
    msnap *s = malloc(sizeof(*s) + (n ? n : 1) * sizeof(s->e[0]));
    if (s) {
        atomic_init(&s->refs, 1);
        s->n = n;
        for (size_t i = 0; i < n; i++) {
            msnap_entry *e = &s->e[i];
            snprintf(e->id, sizeof(e->id), "%s", m[i].id);
            snprintf(e->rpc_addr, sizeof(e->rpc_addr), "%s", m[i].rpc_addr);
            /* as cluster.c's view_up and view_peer */
            e->up = m[i].state == DK_MEMBER_NORMAL || m[i].state == DK_MEMBER_JOINING ||
                    m[i].state == DK_MEMBER_LEAVING;
            e->alive = e->up && dk_member_status_readable(m[i].status);
        }
        pthread_mutex_lock(&a->snap_mu);
        msnap *old = a->snap;
        a->snap = s;
        atomic_fetch_add_explicit(&a->snap_ver, 1, memory_order_release);
        pthread_mutex_unlock(&a->snap_mu);
        msnap_unref(old);
        a->snap_failed = 0;
        loops_check_budget(c, n);
    } else {
        /* No memory for the new table: the loops stay off (the old table
         * is stale) until a later one is published. */
        a->snap_failed = 1;
        dk_log(DK_LOG_WARN,
               "cluster: no memory for the loops' member table: loop 0 coordinates every request");
    }
}

void dk__loops_ring_changed(dk_cluster *c)
{
    if (c->lp)
        atomic_fetch_add_explicit(&c->lp->ring_ver, 1, memory_order_release);
}

dk_coord *dk_cluster_coord_here(dk_cluster *c, unsigned index)
{
    if (index == 0)
        return c->coord;
    dk__loops *a = c->lp;
    if (!a || index >= a->n || !atomic_load_explicit(&a->ok, memory_order_acquire))
        return NULL;
    return a->l[index].coord;
}

/* ---- start ------------------------------------------------------------------ */

static int loop_start(dk__loop *l, const dk_rpc_conf *rpc, char *err, size_t errlen)
{
    dk_cluster *c = l->all->c;
    dk_rpc_conf rc_conf = *rpc;
    rc_conf.client_only = 0;
    rc_conf.share = c->rpc; /* its cap and TLS contexts */
    rc_conf.on_request = dk__loops_on_rpc;
    rc_conf.arg = l;
    rc_conf.tls = NULL;
    rc_conf.max_conns_per_peer = 1; /* a peer accepts one per loop (README, loop_threads) */
    int rc = dk_rpc_start(l->loop, &rc_conf, &l->rpc, err, errlen);
    if (rc)
        return rc;
    dk_coord_conf cc = {
        .loop = l->loop,
        .node = c->node,
        .rpc = l->rpc,
        .view =
            {.arg = l, .ring = lview_ring, .peer = lview_peer, .readable = lview_readable, .up = lview_up},
        .primary = c->coord,
        .primary_mb = l->all->mb0,
        .own_mb = l->mb,
    };
    return dk_coord_start(&cc, &l->coord, err, errlen);
}

int dk__loops_start(dk_cluster *c, const dk_cluster_loops *in, const dk_rpc_conf *rpc, char *err,
                    size_t errlen)
{
    if (!in || in->n <= 1 || !c->coord)
        return 0;
    dk__loops *a = calloc(1, sizeof(*a));
    dk__loop *l = a ? calloc(in->n, sizeof(*l)) : NULL;
    if (!l) {
        free(a);
        return -ENOMEM;
    }
    a->c = c;
    a->mb0 = in->mb[0];
    a->n = in->n;
    a->l = l;
    pthread_mutex_init(&a->snap_mu, NULL);
    uv_check_init(c->loop, &a->check);
    a->check.data = a;
    uv_check_start(&a->check, loops_check);
    uv_unref((uv_handle_t *)&a->check);
    a->check_open = 1;
    c->lp = a;
    for (size_t i = 1; i < in->n; i++) {
        l[i].all = a;
        l[i].index = (unsigned)i;
        l[i].loop = in->loop[i];
        l[i].mb = in->mb[i];
        int rc = loop_start(&l[i], rpc, err, errlen);
        if (rc)
            return rc;
    }
    loops_check_budget(c, 2); /* even one peer would be refused some */
    dk__loops_spread(c, 1);
    return 0;
}

/* ---- stop -------------------------------------------------------------------- */

static void loops_maybe_stopped(dk__loops *a)
{
    if (a->stopping || a->check_open)
        return;
    void (*done)(void *) = a->stop_done;
    a->stop_done = NULL;
    if (done)
        done(a->stop_arg);
}

/* Loop 0: one loop is done. */
static void loop_stopped_main(void *arg)
{
    dk__loop *l = arg;
    dk__loops *a = l->all;
    a->stopping--;
    loops_maybe_stopped(a);
}

static void loop_answer(dk__loop *l)
{
    if (dk_mailbox_post(l->all->mb0, &l->mail, loop_stopped_main, l) != 0)
        dk_log(DK_LOG_ERROR, "cluster: loop %u stopped after loop 0's mailbox closed", l->index);
}

/* Loop l: its RPC instance is closed. */
static void loop_rpc_stopped(void *arg)
{
    dk__loop *l = arg;
    l->rpc = NULL;
    msnap_unref(l->snap);
    l->snap = NULL;
    dk_ring_unref(l->ring);
    l->ring = NULL;
    loop_answer(l);
}

/* Loop l: its coordinator is done. */
static void loop_coord_stopped(void *arg)
{
    dk__loop *l = arg;
    l->coord = NULL;
    if (l->rpc)
        dk_rpc_stop(l->rpc, loop_rpc_stopped, l);
    else
        loop_rpc_stopped(l);
}

/* Loop l. */
static void loop_stop(void *arg)
{
    dk__loop *l = arg;
    if (l->coord)
        dk_coord_stop(l->coord, loop_coord_stopped, l);
    else
        loop_coord_stopped(l);
}

static void check_closed(uv_handle_t *h)
{
    dk__loops *a = h->data;
    a->check_open = 0;
    loops_maybe_stopped(a);
}

void dk__loops_stop(dk_cluster *c, void (*done)(void *), void *arg)
{
    dk__loops *a = c->lp;
    if (!a) {
        done(arg);
        return;
    }
    atomic_store(&a->ok, 0);
    dk__loops_spread(c, 0); /* new connections stay on loop 0 */
    a->stop_done = done;
    a->stop_arg = arg;
    for (size_t i = 1; i < a->n; i++) {
        dk__loop *l = &a->l[i];
        if (!l->coord && !l->rpc)
            continue;
        a->stopping++;
        if (dk_mailbox_post(l->mb, &l->mail, loop_stop, l) != 0) {
            dk_log(DK_LOG_ERROR, "cluster: cannot reach loop %u to stop its coordinator", l->index);
            a->stopping--;
        }
    }
    if (a->check_open)
        uv_close((uv_handle_t *)&a->check, check_closed);
    else
        loops_maybe_stopped(a);
}

void dk__loops_free(dk_cluster *c)
{
    dk__loops *a = c->lp;
    if (!a)
        return;
    msnap_unref(a->snap);
    /* A ring a loop's HTTP answer took again after the loop let go of
     * its own (dk_cluster_ring_here; their HTTP servers have stopped). */
    for (size_t i = 1; i < a->n; i++)
        dk_ring_unref(a->l[i].ring);
    pthread_mutex_destroy(&a->snap_mu);
    free(a->l);
    free(a);
    c->lp = NULL;
}
