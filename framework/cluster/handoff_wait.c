/*
 * handoff_wait.c - waiting for the writes still on their way to a move's
 * receivers before the move ends (design in handoff_wait.h; the members'
 * side is coord/handoff.c).
 *
 * One record per member asked: the epoch of its first answer and whether
 * a later answer without hints proved every copy of that epoch settled
 * (hw_answer). Questions go out at most
 * one per member at a time, from the rebalance step (every 250 ms); an
 * answer wakes nothing, the next step reads it.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/handoff_wait.h"
#include "base/log.h"
#include "base/metrics.h"
#include "rpc/rpc_handoff.h"

#define HW_PEERS_MAX 64u

typedef struct hw_peer {
    char id[DK_NODE_ID_MAX + 1];
    uint64_t first; /* epoch of the first answer */
    int answered, done, asking;
} hw_peer;

struct dk__handoff_wait {
    unsigned gen;   /* bumped by reset: late answers of an older wait are ignored */
    uint64_t since; /* uv_now() of the first call after a reset (0: none yet) */
    int finished;
    int after;               /* the check after the move ended (dk__handoff_wait_after) */
    void (*kick)(void *arg); /* after: called on every answer that counts */
    void *kick_arg;
    int saw_hints; /* some member held hints for the receivers meanwhile */
    hw_peer peers[HW_PEERS_MAX];
    size_t n;
};

typedef struct hw_call {
    dk__handoff_wait *w;
    unsigned gen;
    char id[DK_NODE_ID_MAX + 1];
} hw_call;

dk__handoff_wait *dk__handoff_wait_new(void)
{
    return calloc(1, sizeof(dk__handoff_wait));
}

void dk__handoff_wait_free(dk__handoff_wait *w)
{
    free(w);
}

void dk__handoff_wait_reset(dk__handoff_wait *w)
{
    unsigned gen = w->gen + 1;
    memset(w, 0, sizeof(*w));
    w->gen = gen;
}

static hw_peer *hw_peer_get(dk__handoff_wait *w, const char *id)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->peers[i].id, id))
            return &w->peers[i];
    if (w->n == HW_PEERS_MAX)
        return NULL;
    hw_peer *p = &w->peers[w->n++];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    return p;
}

void dk__handoff_wait_after(dk__handoff_wait *w, void (*kick)(void *arg), void *arg)
{
    w->after = 1;
    w->kick = kick;
    w->kick_arg = arg;
}

/* An answer (epoch, settled, hinted, receiving) from p. After a move, an
 * answer from a member that still sends the receivers uncounted copies
 * does not count: its first answer must come after it stopped.
 *
 * Every copy started before the first question has an epoch of at most
 * p->first. A member's epoch moves from e to e + 1 only once every copy
 * of e - 1 has settled (coord/handoff.c), so an answer with an epoch of
 * p->first + 2 or later proves them settled whatever its own flag says
 * (that flag is about the epoch just closed, which under constant load
 * always has copies in flight); an answer with p->first + 1 proves it
 * when it says settled. Waiting for the flag alone made a move under
 * constant load wait for its bound ([cluster] handoff_wait). */
static void hw_answer(dk__handoff_wait *w, hw_peer *p, uint64_t epoch, int settled, uint32_t hinted,
                      int receiving)
{
    if (w->after && receiving) {
        p->answered = 0;
        return;
    }
    w->saw_hints |= hinted > 0;
    if (!p->answered) {
        p->answered = 1;
        p->first = epoch;
        return;
    }
    if (hinted == 0 && (epoch >= p->first + 2 || (epoch > p->first && settled)))
        p->done = 1;
}

static void hw_answered(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    hw_call *q = arg;
    dk__handoff_wait *w = q->w;
    if (q->gen == w->gen) {
        hw_peer *p = hw_peer_get(w, q->id);
        if (p) {
            p->asking = 0;
            dk_msg_handoff_state st;
            int was = p->answered + p->done;
            if (status == 0 && h->type == DK_MSG_HANDOFF_STATE && dk_msg_handoff_state_decode(body, &st) == 0)
                hw_answer(w, p, st.epoch, (st.flags & DK_HANDOFF_SETTLED) != 0, st.hinted,
                          (st.flags & DK_HANDOFF_COUNTED) == 0);
            else if (status == 0 && h->type == DK_MSG_ERROR)
                p->done = 1; /* a member without the check (older version): not waited for */
            /* The fence costs reads while it is up: when the answer moved
             * the member on (its first answer counted, or it is done),
             * step and ask again at once rather than at the next tick. */
            if (p->answered + p->done > was && w->kick) {
                void (*kick)(void *) = w->kick;
                void *kick_arg = w->kick_arg;
                free(q);
                kick(kick_arg);
                return;
            }
        }
    }
    free(q);
}

static void hw_ask(dk__handoff_wait *w, dk_cluster *c, hw_peer *p, const dk_member *m,
                   const char *const *targets, size_t n)
{
    dk_msg_handoff_query qm;
    memset(&qm, 0, sizeof(qm));
    qm.n_targets = (uint32_t)(n < DK_HANDOFF_TARGETS_MAX ? n : DK_HANDOFF_TARGETS_MAX);
    for (uint32_t i = 0; i < qm.n_targets; i++)
        snprintf(qm.targets[i], sizeof(qm.targets[i]), "%s", targets[i]);
    dk_buf b = DK_BUF_INIT;
    hw_call *q = calloc(1, sizeof(*q));
    if (q && dk_msg_handoff_query_encode(&b, &qm) == 0) {
        q->w = w;
        q->gen = w->gen;
        snprintf(q->id, sizeof(q->id), "%s", m->id);
        if (dk_rpc_call(c->rpc, m->id, m->rpc_addr, DK_MSG_HANDOFF_QUERY, b.data, b.len,
                        (uint64_t)c->cfg->cluster.request_timeout, hw_answered, q) == 0) {
            p->asking = 1;
            q = NULL;
        }
    }
    free(q);
    dk_buf_free(&b);
}

int dk__handoff_wait_done(dk__handoff_wait *w, dk_cluster *c, const char *sig, const char *const *targets,
                          size_t n)
{
    if (w->finished)
        return 1;
    uint64_t now = uv_now(c->loop);
    if (!w->since)
        w->since = now ? now : 1;
    int all = 1;
    char late[256] = "";
    for (size_t i = 0; i < c->n_table; i++) {
        const dk_member *m = &c->table[i];
        if (m->status == DK_STATUS_REMOVED)
            continue;
        /* A member that left is asked while it runs: a leaver keeps
         * coordinating writes, with copies for the receivers, after its
         * own answer and until it hears it is left; such a copy that
         * fails is a hint on it. A suspect member may just be slow: it
         * is asked too ([cluster] handoff_wait bounds the wait). */
        if (i > 0 && ((m->state != DK_MEMBER_NORMAL && m->state != DK_MEMBER_SUSPECT) || !m->rpc_addr[0]))
            continue; /* down: its hints wait for the receivers anyway */
        hw_peer *p = hw_peer_get(w, m->id);
        if (p && !p->done && i == 0) {
            /* this node itself (c->table[0]): asked directly */
            uint64_t epoch;
            int settled;
            uint32_t hinted;
            dk_coord_handoff_state(c->coord, targets, n, &epoch, &settled, &hinted);
            hw_answer(w, p, epoch, settled, hinted, dk_coord_handoff_receiving(c->coord, targets, n));
        }
        if (!p || p->done)
            continue;
        all = 0;
        size_t l = strlen(late);
        if (l + strlen(m->id) + 3 < sizeof(late))
            snprintf(late + l, sizeof(late) - l, "%s%s", l ? ", " : "", m->id);
        if (i > 0 && !p->asking && !c->stopping)
            hw_ask(w, c, p, m, targets, n);
    }
    if (all) {
        w->finished = 1;
        dk_metrics_add(w->after ? "handoff_read_fences_total" : "handoff_waits_total", 1);
        dk_metrics_add(w->after ? "handoff_read_fence_ms_total" : "handoff_wait_ms_total", now - w->since);
        if (w->saw_hints)
            dk_metrics_add(w->after ? "handoff_read_fences_for_hints_total" : "handoff_waits_for_hints_total",
                           1);
        if (w->after)
            dk_log(DK_LOG_INFO,
                   "rebalance: move %s is over on every member and each has handed off its writes "
                   "for %s: reads served from it again (after %llu ms)",
                   sig, targets[0], (unsigned long long)(now - w->since));
        else if (now - w->since >= 1000 || w->saw_hints)
            dk_log(DK_LOG_INFO,
                   "rebalance: move %s: every member has handed off its writes for the receivers "
                   "(waited %llu ms)",
                   sig, (unsigned long long)(now - w->since));
        return 1;
    }
    uint64_t bound = (uint64_t)c->cfg->cluster.handoff_wait;
    if (now - w->since >= bound) {
        w->finished = 1;
        if (w->after)
            dk_log(DK_LOG_WARN,
                   "rebalance: move %s: writes for %s may still be on their way from %s (copies in "
                   "flight or hints not replayed after %llu ms, [cluster] handoff_wait); serving reads "
                   "from it anyway",
                   sig, targets[0], late, (unsigned long long)bound);
        else
            dk_log(DK_LOG_WARN,
                   "rebalance: move %s: writes for its receivers may still be on their way from %s "
                   "(copies in flight or hints not replayed after %llu ms, [cluster] handoff_wait); "
                   "ending the move anyway",
                   sig, late, (unsigned long long)bound);
        dk_metrics_add(w->after ? "handoff_read_fences_timed_out_total" : "handoff_waits_timed_out_total", 1);
        return 1;
    }
    return 0;
}
