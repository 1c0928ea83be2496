/*
 * loops_rpc.c - the RPC server side on every loop (loops.h): loop 0's
 * listener hands the connections it accepts round the loops, each loop
 * serves the replica reads and writes that arrive on its own connections,
 * and relays to loop 0 what only loop 0 serves.
 *
 * Spreading: loop 0 takes turns, 0, 1, ..., n-1 (connections between
 * nodes are few and long-lived, so counting them evens the loops out; a
 * peer's loop-0 connections carry what its own loop 0 coordinates and
 * its other loops' what they coordinate, so every loop gets a share of
 * every peer's traffic). The descriptor travels in a message of its own
 * by the target loop's mailbox; that loop adopts it (rpc.h, dk_rpc_adopt:
 * admission, TLS and the handshake happen there), or closes it when its
 * instance is gone.
 *
 * Relaying: the request's header and body are copied into one message
 * that goes to loop 0 by its mailbox, where dk__cluster_on_rpc serves it
 * through a relayed request (dk_rpc_req_relay) holding the original's id
 * and peer; the answer's unfinished frame comes back in the same message
 * by the origin loop's mailbox and is finished, MACed and written there
 * (dk_rpc_reply_framed on the original), so a connection's frames and MAC
 * sequences never leave its loop. The original stays in its connection's
 * list meanwhile, so it counts toward the connection's outstanding
 * requests (backpressure) and is detached if the connection dies first.
 *
 * Chosen over keeping every connection that might carry such requests on
 * loop 0: a connection does not say what it will carry (a peer's loop 0
 * sends plain replica traffic too, and its other loops send hints for
 * other nodes and forwarded writes), and hand-offs after the handshake
 * would move a connection between threads; relaying moves only the rare
 * requests. While the loops may not coordinate (a ring move, a fence, not
 * readable, stopping: the flag of loops.c) every request is relayed, so
 * loop 0's checks (the read fence) apply to all of them as before.
 *
 * Lifetime: the loops stop before loop 0's coordinator and RPC instance,
 * and a relay's request is counted by loop 0's coordinator until
 * answered, so an answer finds the origin loop's mailbox open (they close
 * after the cluster stopped); if it does not, the origin's instance is
 * gone and the original request detached, and answering it from loop 0
 * only frees it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/loops_int.h"
#include "base/log.h"
#include "base/metrics.h"

/* ---- spreading connections ---------------------------------------------- */

typedef struct loops_adopt {
    dk_mail mail;
    dk__loop *l;
    int fd;
} loops_adopt;

/* Loop l: serve the connection (or close it: the instance is gone). */
static void loops_adopt_run(void *arg)
{
    loops_adopt *m = arg;
    dk__loop *l = m->l;
    if (l->rpc)
        dk_rpc_adopt(l->rpc, m->fd);
    else
        close(m->fd);
    free(m);
}

/* Loop 0 (the listener's spread function). */
static int loops_spread_fd(void *arg, int fd)
{
    dk__loops *a = arg;
    unsigned i = a->spread_next;
    a->spread_next = (unsigned)((i + 1) % a->n);
    if (i == 0)
        return 1; /* loop 0's turn */
    loops_adopt *m = malloc(sizeof(*m));
    if (!m)
        return 1;
    m->l = &a->l[i];
    m->fd = fd;
    if (dk_mailbox_post(m->l->mb, &m->mail, loops_adopt_run, m) != 0) {
        free(m);
        return 1;
    }
    return 0;
}

void dk__loops_spread(dk_cluster *c, int on)
{
    dk__loops *a = c->lp;
    if (a && c->rpc)
        dk_rpc_spread(c->rpc, on ? loops_spread_fd : NULL, a);
}

/* ---- serving and relaying --------------------------------------------------- */

typedef struct loops_relay {
    dk_mail mail; /* to loop 0, then back */
    dk__loop *l;  /* the origin */
    dk_rpc_req *orig, *proxy;
    dk_frame_header h;
    uint8_t type;   /* the answer */
    uint16_t flags; /* the answer's (a digest read's) */
    dk_buf answer;
    size_t len;
    uint8_t body[];
} loops_relay;

/* Count one request served by loop index's handler. */
static void loops_count_served(unsigned index)
{
    static _Thread_local char name[48];
    static _Thread_local unsigned named = ~0u;
    if (named != index) {
        snprintf(name, sizeof(name), "rpc_loop%u_served_total", index);
        named = index;
    }
    dk_metrics_add(name, 1);
}

/* The origin loop: write the answer on the original's connection. */
static void loops_relay_back(void *arg)
{
    loops_relay *m = arg;
    dk_rpc_reply_flags(m->orig, m->type, m->flags, &m->answer);
    dk_buf_free(&m->answer);
    free(m);
}

/* Loop 0 (whichever thread answered the proxy): the answer goes back. */
static void loops_relay_answered(void *arg, uint8_t type, uint16_t flags, dk_buf *frame)
{
    loops_relay *m = arg;
    m->type = type;
    m->flags = flags;
    m->answer = *frame;
    dk_buf_init(frame);
    if (dk_mailbox_post(m->l->mb, &m->mail, loops_relay_back, m) != 0)
        loops_relay_back(m); /* the origin is gone: the original is detached, this frees it */
}

/* Loop 0: serve the copy. */
static void loops_relay_run(void *arg)
{
    loops_relay *m = arg;
    dk_cluster *c = m->l->all->c;
    dk__cluster_on_rpc(c, m->proxy, &m->h, (dk_slice){m->body, m->len});
}

/* Loop l: hand q to loop 0. */
static void loops_relay_start(dk__loop *l, dk_rpc_req *q, const dk_frame_header *h, dk_slice body)
{
    loops_relay *m = malloc(sizeof(*m) + body.len);
    if (m) {
        m->l = l;
        m->orig = q;
        m->h = *h;
        m->type = 0;
        m->flags = 0;
        dk_buf_init(&m->answer);
        m->len = body.len;
        if (body.len)
            memcpy(m->body, body.ptr, body.len);
        m->proxy = dk_rpc_req_relay(q, loops_relay_answered, m);
    }
    if (!m || !m->proxy) {
        free(m);
        dk_rpc_reply_error(q, -ENOMEM, "out of memory handing the request to the cluster loop");
        return;
    }
    dk_metrics_add("rpc_relayed_total", 1);
    if (dk_mailbox_post(l->all->mb0, &m->mail, loops_relay_run, m) != 0)
        dk_rpc_reply_error(m->proxy, DK_ECLOSED, "node is stopping"); /* not while the loops run: the
                                                                  * answer comes back as any other */
}

void dk__loops_on_rpc(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body)
{
    dk__loop *l = arg;
    if (l->coord && atomic_load_explicit(&l->all->ok, memory_order_acquire) &&
        dk_coord_serves(l->coord, h, body)) {
        loops_count_served(l->index);
        dk_coord_on_rpc(l->coord, q, h, body);
        return;
    }
    loops_relay_start(l, q, h, body);
}

/* ---- counters ------------------------------------------------------------------ */

void dk__loops_rpc_stats(dk_cluster *c, dk_rpc_stats *sum)
{
    dk__loops *a = c->lp;
    /* Loop 0 starts every loop's stop: before that, no instance goes. */
    if (!a || c->lp_stopping)
        return;
    for (size_t i = 1; i < a->n; i++) {
        dk_rpc_stats st;
        if (!a->l[i].rpc)
            continue;
        dk_rpc_stats_get(a->l[i].rpc, &st);
        sum->conns_open += st.conns_open;
        sum->conns_accepted += st.conns_accepted;
        sum->conns_connected += st.conns_connected;
        sum->connect_failures += st.connect_failures;
        sum->handshake_failures += st.handshake_failures;
        sum->wrong_cluster += st.wrong_cluster;
        sum->bad_frames += st.bad_frames;
        sum->timeouts += st.timeouts;
        sum->late_replies += st.late_replies;
        sum->requests_in += st.requests_in;
        sum->requests_out += st.requests_out;
        sum->auth_failures += st.auth_failures;
        sum->conns_rejected += st.conns_rejected;
        sum->frame_timeouts += st.frame_timeouts;
    }
}
