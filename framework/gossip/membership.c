/*
 * membership.c - SWIM failure detection and gossip over UDP: the member
 * table and its precedence rules, the probe cycle, piggy-backed updates,
 * refutation, and publication of the table to other threads (the protocol
 * is described in membership.h; push-pull over TCP and joining are in
 * membership_tcp.c, graceful leave and ring status in membership_status.c,
 * the checks of a new instance's configuration in membership_conf.c, what
 * a peer's suspect or down verdict counts for in membership_verdict.c).
 *
 * The table is an array that only grows (records are never deleted, a
 * departed node stays "removed"), so record indexes are stable and serve
 * as handles for the probe order and the current probe. Lookups by id are
 * linear: a table is at most a few thousand records and is walked once
 * per update. Datagrams are sent with uv_udp_try_send from one buffer: a
 * datagram that would block is lost, which SWIM tolerates by design, and
 * no send request outlives its call.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "gossip/membership_int.h"

int64_t dk__ms_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* joining/normal/leaving are asserted by the node itself; suspect, down
 * and removed override them at an equal incarnation. */
int dk__ms_rank(dk_member_state s)
{
    return s == DK_MEMBER_SUSPECT ? 1 : s == DK_MEMBER_DOWN ? 2 : s == DK_MEMBER_REMOVED ? 3 : 0;
}

static int ms_probeable(const ms_rec *r)
{
    return r->m.state != DK_MEMBER_DOWN && r->m.state != DK_MEMBER_REMOVED && r->sa_ok;
}

uint64_t dk__ms_rand(dk_membership *m)
{
    uint64_t x = m->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return m->rng = x;
}

int dk__ms_find(const dk_membership *m, const char *id)
{
    for (size_t i = 0; i < m->n_recs; i++)
        if (!strcmp(m->recs[i].m.id, id))
            return (int)i;
    return -1;
}

static size_t ms_live_count(const dk_membership *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_recs; i++)
        n += m->recs[i].m.state != DK_MEMBER_REMOVED;
    return n;
}

/* Retransmissions of a fresh update: 3 * ceil(log2(n + 1)). */
uint32_t dk__ms_retransmits(const dk_membership *m)
{
    return 3u * (uint32_t)ceil(log2((double)m->n_recs + 1.0));
}

uint64_t dk__ms_suspicion_timeout(const dk_membership *m)
{
    double scale = log10((double)ms_live_count(m));
    return (uint64_t)((double)m->suspicion_mult * (scale > 1.0 ? scale : 1.0) * (double)m->interval);
}

static void ms_on_suspicion_timer(uv_timer_t *t);

/* Arm the suspicion timer for the earliest deadline of a suspect record,
 * so down is declared on time rather than at the next tick. */
static void ms_arm_suspicion(dk_membership *m)
{
    uint64_t timeout = dk__ms_suspicion_timeout(m), now = uv_now(m->loop), due = UINT64_MAX;
    for (size_t i = 1; i < m->n_recs; i++)
        if (m->recs[i].m.state == DK_MEMBER_SUSPECT && m->recs[i].suspect_since + timeout < due)
            due = m->recs[i].suspect_since + timeout;
    if (due != UINT64_MAX && !m->stopping)
        uv_timer_start(&m->susp_timer, ms_on_suspicion_timer, due > now ? due - now : 0, 0);
}

int dk__ms_add(dk_membership *m, const dk_member *u, uint32_t tx)
{
    if (m->n_recs == m->cap_recs) {
        size_t cap = m->cap_recs ? m->cap_recs * 2 : 16;
        ms_rec *r = realloc(m->recs, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        m->recs = r;
        m->cap_recs = cap;
    }
    ms_rec *r = &m->recs[m->n_recs++];
    memset(r, 0, sizeof *r);
    r->m = *u;
    r->tx_left = tx;
    r->suspect_since = uv_now(m->loop);
    r->sa_ok = dk__ms_parse_addr(u->gossip_addr, &r->sa) == 0;
    m->order_stale = 1;
    m->dirty = 1;
    return 0;
}

void dk__ms_refute(dk_membership *m, uint64_t heard)
{
    ms_rec *self = &m->recs[0];
    if (heard >= DK_MEMBER_INC_MAX) {
        dk__ms_raise_inc(m, UINT64_MAX, "refute a record of itself at the maximum");
        return;
    }
    dk__ms_raise_inc(m, heard + 1, "refute");
    self->m.updated_ms = dk__ms_wall_ms();
    self->tx_left = dk__ms_retransmits(m);
    m->dirty = 1;
    MS_STAT(m, refutations);
    dk_log(DK_LOG_INFO, "membership: %s refutes a stale record of itself, incarnation now %llu", self->m.id,
           (unsigned long long)self->m.incarnation);
}

void dk__ms_apply(dk_membership *m, const dk_member *u)
{
    if (!strcmp(u->id, m->recs[0].m.id)) {
        dk__ms_apply_self(m, u);
        return;
    }
    int i = dk__ms_find(m, u->id);
    if (i < 0) {
        dk_member nu = *u;
        nu.updated_ms = dk__ms_wall_ms();
        if (dk__ms_add(m, &nu, dk__ms_retransmits(m)) != 0)
            return;
        if (u->state == DK_MEMBER_SUSPECT)
            ms_arm_suspicion(m);
        dk_log(DK_LOG_INFO, "membership: learned %s at %s (%s, incarnation %llu)", u->id, u->gossip_addr,
               dk_member_state_name(u->state), (unsigned long long)u->incarnation);
        return;
    }
    ms_rec *r = &m->recs[i];
    dk_member guarded = *u;
    dk__ms_guard_removal(m, &r->m, &guarded);
    u = &guarded;
    if (!dk__ms_newer(u, &r->m))
        return;
    dk_member_state prev = r->m.state;
    dk_member_status prev_status = r->m.status;
    if (strcmp(r->m.gossip_addr, u->gossip_addr))
        r->sa_ok = dk__ms_parse_addr(u->gossip_addr, &r->sa) == 0;
    int64_t was = r->m.updated_ms;
    r->m = *u;
    /* A member that left or was removed comes back on the ring only as a
     * new life (joining): an old life announcing itself alive keeps the
     * status, and learns it from us. */
    if (dk__ms_gone(prev_status) && u->status != DK_STATUS_JOINING)
        r->m.status = prev_status;
    r->m.updated_ms = prev == u->state && prev_status == u->status ? was : dk__ms_wall_ms();
    r->tx_left = dk__ms_retransmits(m);
    m->dirty = 1;
    if (u->state == DK_MEMBER_SUSPECT) {
        r->suspect_since = uv_now(m->loop);
        if (prev != DK_MEMBER_SUSPECT)
            MS_STAT(m, suspect_transitions);
        ms_arm_suspicion(m);
    }
    if (u->state == DK_MEMBER_DOWN && prev != DK_MEMBER_DOWN)
        MS_STAT(m, down_transitions);
    if (prev != u->state)
        dk_log(u->state == DK_MEMBER_DOWN ? DK_LOG_WARN : DK_LOG_INFO,
               "membership: %s sees %s %s -> %s (incarnation %llu)", m->recs[0].m.id, u->id,
               dk_member_state_name(prev), dk_member_state_name(u->state),
               (unsigned long long)u->incarnation);
    if (prev_status != r->m.status)
        dk_log(DK_LOG_INFO, "membership: %s sees %s's ring status %s -> %s", m->recs[0].m.id, u->id,
               dk_member_status_name(prev_status), dk_member_status_name(r->m.status));
}

/* Seal the message in m->txbuf and send it to sa (lost when it would
 * block: SWIM tolerates a lost datagram). */
void dk__ms_seal_send(dk_membership *m, dk_gossip_enc *e, const struct sockaddr_storage *sa)
{
    size_t len;
    if (dk__ms_seal(m, e, &len))
        return;
    uv_buf_t b = uv_buf_init((char *)m->txbuf, (unsigned)len);
    uv_udp_try_send(&m->udp, &b, 1, (const struct sockaddr *)sa);
}

void dk__ms_self_set(dk_membership *m, dk_member_state s)
{
    ms_rec *self = &m->recs[0];
    self->m.state = s;
    if (self->m.incarnation >= DK_MEMBER_INC_MAX)
        dk__ms_raise_inc(m, UINT64_MAX, "announce a change of its own record");
    else
        dk__ms_raise_inc(m, self->m.incarnation + 1, "announce");
    self->m.updated_ms = dk__ms_wall_ms();
    self->tx_left = dk__ms_retransmits(m);
    m->dirty = 1;
    dk_log(DK_LOG_INFO, "membership: %s is %s (incarnation %llu)", self->m.id, dk_member_state_name(s),
           (unsigned long long)self->m.incarnation);
}

void dk__ms_publish_force(dk_membership *m)
{
    m->dirty = 1;
    dk__ms_publish(m);
}

void dk__ms_publish(dk_membership *m)
{
    if (!m->dirty || m->stopping)
        return;
    pthread_mutex_lock(&m->mu);
    if (m->n_recs > m->n_view) {
        dk_member *v = realloc(m->view, m->n_recs * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&m->mu);
            return; /* stays dirty: the next event retries */
        }
        m->view = v;
    }
    for (size_t i = 0; i < m->n_recs; i++)
        m->view[i] = m->recs[i].m;
    m->n_view = m->n_recs;
    pthread_mutex_unlock(&m->mu);
    m->dirty = 0;
    /* only this thread writes view, so reading it unlocked here is safe */
    if (m->on_change)
        m->on_change(m->arg, m->view, m->n_view);
}

void dk__ms_wrong_cluster(dk_membership *m, const char *peer, const char *name)
{
    MS_STAT(m, wrong_cluster);
    for (size_t i = 0; i < m->n_logged; i++)
        if (!strcmp(m->logged[i], peer))
            return;
    if (m->n_logged < MS_LOGGED_MAX)
        snprintf(m->logged[m->n_logged++], DK_MEMBER_ADDR_MAX, "%s", peer);
    dk_log(DK_LOG_WARN, "membership: dropping messages from %s: cluster '%s', ours is '%s'", peer, name,
           m->cluster);
}

/* Piggy-back order: most retransmissions left first (the freshest). */
typedef struct {
    uint32_t tx;
    uint32_t idx;
} ms_cand;
static int ms_cand_cmp(const void *a, const void *b)
{
    const ms_cand *x = a, *y = b;
    return x->tx != y->tx ? (x->tx < y->tx ? 1 : -1) : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Send one datagram to sa; first (index or -1) goes in before the
 * piggy-backed updates, self's record after them if it still fits. */
static void ms_send(dk_membership *m, const struct sockaddr_storage *sa, int type, uint32_t seq,
                    const char *target, const char *target_addr, int first)
{
    dk_gossip_enc e;
    if (dk__gossip_enc_begin(&e, m->txbuf, sizeof m->txbuf, type, seq, m->cluster, m->recs[0].m.id, target,
                             target_addr))
        return;
    if (first >= 0)
        dk__gossip_enc_add(&e, &m->recs[first].m);
    ms_cand stackc[64], *c = stackc;
    if (m->n_recs > 64 && !(c = malloc(m->n_recs * sizeof *c)))
        c = stackc;
    size_t nc = 0, capc = c == stackc ? 64 : m->n_recs;
    for (size_t i = 0; i < m->n_recs && nc < capc; i++)
        if (m->recs[i].tx_left > 0 && (int)i != first)
            c[nc++] = (ms_cand){m->recs[i].tx_left, (uint32_t)i};
    qsort(c, nc, sizeof *c, ms_cand_cmp);
    int self_in = first == 0;
    for (size_t k = 0; k < nc; k++) {
        if (dk__gossip_enc_add(&e, &m->recs[c[k].idx].m) == DK_ETOOBIG)
            break;
        m->recs[c[k].idx].tx_left--;
        self_in |= c[k].idx == 0;
    }
    if (c != stackc)
        free(c);
    if (!self_in)
        dk__gossip_enc_add(&e, &m->recs[0].m);
    dk__ms_seal_send(m, &e, sa);
}

/* The record of the node we answer, when we think it suspect or down:
 * telling it is the quickest way to get it to refute. */
static int ms_about_peer(dk_membership *m, const char *id)
{
    int i = dk__ms_find(m, id);
    return i > 0 && dk__ms_rank(m->recs[i].m.state) > 0 ? i : -1;
}

static int ms_next_probe(dk_membership *m)
{
    if (m->order_stale || m->n_order != m->n_recs - 1) {
        uint32_t *o = realloc(m->order, (m->n_recs ? m->n_recs : 1) * sizeof *o);
        if (!o)
            return -1;
        m->order = o;
        m->n_order = m->n_recs - 1;
        for (size_t i = 0; i < m->n_order; i++)
            o[i] = (uint32_t)(i + 1);
        m->pos_order = m->n_order;
        m->order_stale = 0;
    }
    for (size_t tries = 0; tries < m->n_order; tries++) {
        if (m->pos_order >= m->n_order) {
            for (size_t i = m->n_order; i > 1; i--) { /* Fisher-Yates */
                size_t j = (size_t)(dk__ms_rand(m) % i);
                uint32_t t = m->order[i - 1];
                m->order[i - 1] = m->order[j];
                m->order[j] = t;
            }
            m->pos_order = 0;
        }
        uint32_t idx = m->order[m->pos_order++];
        if (ms_probeable(&m->recs[idx]))
            return (int)idx;
    }
    return -1;
}

/* Tell up to indirect_k random live members (and, for a suspicion, the
 * suspect itself, so a live one refutes at once) about our own verdict on
 * record idx, instead of waiting for it to ride on the next probes: every
 * node then starts its suspicion timer within a round trip. */
void dk__ms_spread(dk_membership *m, size_t idx, int to_subject)
{
    if (to_subject && m->recs[idx].sa_ok)
        ms_send(m, &m->recs[idx].sa, DK_GOSSIP_PING, ++m->seq, m->recs[idx].m.id, NULL, (int)idx);
    size_t cand = 0;
    for (size_t i = 1; i < m->n_recs; i++)
        cand += i != idx && ms_probeable(&m->recs[i]);
    uint32_t sent = 0;
    for (size_t i = 1; i < m->n_recs && sent < m->indirect_k && cand > 0; i++) {
        if (i == idx || !ms_probeable(&m->recs[i]))
            continue;
        if (dk__ms_rand(m) % cand < m->indirect_k - sent) {
            ms_send(m, &m->recs[i].sa, DK_GOSSIP_PING, ++m->seq, m->recs[i].m.id, NULL, (int)idx);
            sent++;
        }
        cand--;
    }
}

/* Timer (loop thread): suspicions that lasted their timeout become down. */
static void ms_on_suspicion_timer(uv_timer_t *t)
{
    dk_membership *m = t->data;
    uint64_t now = uv_now(m->loop), timeout = dk__ms_suspicion_timeout(m);
    for (size_t i = 1; i < m->n_recs; i++) {
        ms_rec *r = &m->recs[i];
        if (r->m.state == DK_MEMBER_SUSPECT && now - r->suspect_since >= timeout) {
            dk_member u = r->m;
            u.state = DK_MEMBER_DOWN;
            dk__ms_apply(m, &u);
            dk__ms_spread(m, i, 0);
        }
    }
    ms_arm_suspicion(m);
    dk__ms_publish(m);
}

/* Timer (loop thread): half an interval after a PING with no ACK, ask
 * up to indirect_k other members to probe the target. */
static void ms_on_probe_timeout(uv_timer_t *t)
{
    dk_membership *m = t->data;
    if (!m->probe.active || m->probe.acked)
        return;
    const ms_rec *target = &m->recs[m->probe.idx];
    size_t cand = 0;
    for (size_t i = 1; i < m->n_recs; i++)
        cand += i != m->probe.idx && ms_probeable(&m->recs[i]);
    uint32_t sent = 0;
    for (size_t i = 1; i < m->n_recs && sent < m->indirect_k && cand > 0; i++) {
        if (i == m->probe.idx || !ms_probeable(&m->recs[i]))
            continue;
        /* choose each remaining candidate with probability need/left */
        if (dk__ms_rand(m) % cand < m->indirect_k - sent) {
            ms_send(m, &m->recs[i].sa, DK_GOSSIP_PING_REQ, m->probe.seq, target->m.id, target->m.gossip_addr,
                    -1);
            sent++;
            MS_STAT(m, indirect_probes);
        }
        cand--;
    }
}

/* How long a member that went down still gets gossip, in intervals. */
#define MS_DEAD_GOSSIP_INTERVALS 30

/*
 * Gossip to the dead: each interval, a PING to one member that went down
 * within the last MS_DEAD_GOSSIP_INTERVALS, carrying its record (down).
 * Down members are not probed, so a member that was only cut off, and
 * took everyone else for down meanwhile, heard from nobody after the
 * partition healed until a periodic push-pull happened to reach it (up to
 * pushpull_every intervals): it answered 503 to every write all that
 * time. Now it hears within an interval that it is down, refutes it, and
 * its answer carries its verdict on us, which we refute in turn. To a
 * member that really died this is one lost datagram per interval.
 */
static void ms_gossip_dead(dk_membership *m)
{
    int64_t now = dk__ms_wall_ms(), window = (int64_t)(MS_DEAD_GOSSIP_INTERVALS * m->interval);
    size_t cand = 0;
    for (size_t i = 1; i < m->n_recs; i++)
        cand += m->recs[i].m.state == DK_MEMBER_DOWN && m->recs[i].sa_ok &&
                now - m->recs[i].m.updated_ms < window;
    if (cand == 0)
        return;
    size_t k = (size_t)(dk__ms_rand(m) % cand);
    for (size_t i = 1; i < m->n_recs; i++) {
        const ms_rec *r = &m->recs[i];
        if (r->m.state == DK_MEMBER_DOWN && r->sa_ok && now - r->m.updated_ms < window && k-- == 0) {
            ms_send(m, &r->sa, DK_GOSSIP_PING, ++m->seq, r->m.id, NULL, (int)i);
            MS_STAT(m, dead_pings);
            return;
        }
    }
}

/* Timer (loop thread), every interval: conclude the last probe, time out
 * suspicions, run the periodic push-pull, probe the next member. */
static void ms_on_tick(uv_timer_t *t)
{
    dk_membership *m = t->data;
    m->ticks++;
    if (m->probe.active && !m->probe.acked) {
        ms_rec *r = &m->recs[m->probe.idx];
        if (dk__ms_rank(r->m.state) == 0) {
            dk_member u = r->m;
            u.state = DK_MEMBER_SUSPECT;
            dk__ms_apply(m, &u);
            dk__ms_spread(m, m->probe.idx, 1);
        }
    }
    m->probe.active = 0;
    ms_gossip_dead(m);
    if (m->joined && m->ticks % m->pushpull_every == 0)
        dk__ms_pp_random(m);
    if (m->recs[0].m.state != DK_MEMBER_REMOVED) {
        int idx = ms_next_probe(m);
        if (idx > 0) {
            m->probe.seq = ++m->seq;
            m->probe.idx = (size_t)idx;
            m->probe.active = 1;
            m->probe.acked = 0;
            ms_send(m, &m->recs[idx].sa, DK_GOSSIP_PING, m->probe.seq, m->recs[idx].m.id, NULL, -1);
            MS_STAT(m, probes_sent);
            uv_timer_start(&m->probe_timer, ms_on_probe_timeout, m->probe_timeout, 0);
        }
    }
    dk__ms_publish(m);
}

static void ms_on_ack(dk_membership *m, const dk_gossip_msg *msg)
{
    if (m->probe.active && !m->probe.acked && msg->seq == m->probe.seq &&
        !strcmp(msg->target, m->recs[m->probe.idx].m.id)) {
        m->probe.acked = 1;
        MS_STAT(m, acks_received);
        return;
    }
    uint64_t now = uv_now(m->loop);
    for (size_t i = 0; i < MS_RELAYS; i++) {
        if (m->relays[i].expires > now && m->relays[i].seq == msg->seq &&
            !strcmp(m->relays[i].target, msg->target)) {
            ms_send(m, &m->relays[i].to, DK_GOSSIP_ACK, m->relays[i].orig_seq, msg->target, NULL, -1);
            m->relays[i].expires = 0;
            return;
        }
    }
}

static void ms_on_ping_req(dk_membership *m, const dk_gossip_msg *msg, const struct sockaddr *from)
{
    struct sockaddr_storage to;
    if (m->mute || !msg->target[0] || dk__ms_parse_addr(msg->target_addr, &to))
        return;
    size_t slot = m->relay_pos++ % MS_RELAYS;
    m->relays[slot].seq = ++m->seq;
    m->relays[slot].orig_seq = msg->seq;
    m->relays[slot].expires = uv_now(m->loop) + m->interval;
    memcpy(&m->relays[slot].to, from,
           from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    snprintf(m->relays[slot].target, sizeof m->relays[slot].target, "%s", msg->target);
    ms_send(m, &to, DK_GOSSIP_PING, m->relays[slot].seq, msg->target, NULL, -1);
}

/* UDP receive (loop thread). */
static void ms_on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                       unsigned flags)
{
    (void)buf;
    dk_membership *m = h->data;
    if (nread <= 0 || !addr || m->stopping)
        return;
    char peer[DK_MEMBER_ADDR_MAX];
    dk_gossip_msg msg;
    if (flags & UV_UDP_PARTIAL) {
        dk__ms_reject(m, DK_GOSSIP_REJ_MALFORMED, addr, NULL, "a datagram larger than 64 KiB");
        return;
    }
    if (dk__ms_accept(m, m->rxbuf, (size_t)nread, addr, NULL, &msg))
        return;
    if (msg.type >= DK_GOSSIP_PUSH) {
        dk__ms_reject(m, DK_GOSSIP_REJ_MALFORMED, addr, NULL, "a push-pull message over UDP");
        return;
    }
    if (strcmp(msg.cluster, m->cluster)) {
        dk__ms_format_addr(addr, peer);
        dk__ms_wrong_cluster(m, peer, msg.cluster);
        return;
    }
    if (!strcmp(msg.from, m->recs[0].m.id))
        return; /* our own id from elsewhere: nothing we can trust */
    dk__ms_heard(m, msg.from);
    const uint8_t *p = msg.updates;
    dk_member u;
    while (dk__gossip_update_next(&msg, &p, &u) == 0)
        dk__ms_apply_peer(m, &u);
    switch (msg.type) {
    case DK_GOSSIP_PING:
        if (!m->mute && (!msg.target[0] || !strcmp(msg.target, m->recs[0].m.id)))
            ms_send(m, (const struct sockaddr_storage *)addr, DK_GOSSIP_ACK, msg.seq, m->recs[0].m.id, NULL,
                    ms_about_peer(m, msg.from));
        break;
    case DK_GOSSIP_ACK: ms_on_ack(m, &msg); break;
    case DK_GOSSIP_PING_REQ: ms_on_ping_req(m, &msg, addr); break;
    }
    dk__ms_publish(m);
}

static void ms_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    dk_membership *m = h->data;
    *buf = uv_buf_init((char *)m->rxbuf, sizeof m->rxbuf);
}

/* Send the current self record to every live member at once (leave). */
void dk__ms_announce(dk_membership *m)
{
    for (size_t i = 1; i < m->n_recs; i++)
        if (ms_probeable(&m->recs[i]))
            ms_send(m, &m->recs[i].sa, DK_GOSSIP_PING, ++m->seq, m->recs[i].m.id, NULL, 0);
}

void dk__membership_set_mute(dk_membership *m, int mute)
{
    m->mute = mute;
}

int dk_membership_snapshot(dk_membership *m, dk_member **out, size_t *n)
{
    pthread_mutex_lock(&m->mu);
    dk_member *v = malloc((m->n_view ? m->n_view : 1) * sizeof *v);
    if (v) {
        memcpy(v, m->view, m->n_view * sizeof *v);
        *n = m->n_view;
    }
    pthread_mutex_unlock(&m->mu);
    if (!v)
        return -ENOMEM;
    *out = v;
    return 0;
}

void dk_membership_self(dk_membership *m, dk_member *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->view[0];
    pthread_mutex_unlock(&m->mu);
}

void dk_membership_stats_get(dk_membership *m, dk_membership_stats *out)
{
#define MS_LOAD(f) out->f = __atomic_load_n(&m->stats.f, __ATOMIC_RELAXED)
    MS_LOAD(probes_sent);
    MS_LOAD(acks_received);
    MS_LOAD(indirect_probes);
    MS_LOAD(suspect_transitions);
    MS_LOAD(down_transitions);
    MS_LOAD(refutations);
    MS_LOAD(bad_datagrams);
    MS_LOAD(wrong_cluster);
    MS_LOAD(pushpull_ok);
    MS_LOAD(pushpull_failed);
    MS_LOAD(stale_verdicts);
    MS_LOAD(dead_pings);
    MS_LOAD(refutations_refused);
    for (int i = 0; i < DK_GOSSIP_REJ_N; i++)
        MS_LOAD(rejected[i]);
#undef MS_LOAD
}

static void ms_free(dk_membership *m)
{
    pthread_mutex_destroy(&m->mu);
    free(m->view);
    free(m->recs);
    free(m->order);
    free(m->seeds);
    free(m->seed_flags);
    dk__gossip_guard_free(&m->guard);
    free(m);
}

void dk__ms_handle_closed(dk_membership *m)
{
    if (--m->handles_open > 0 || !m->stopping)
        return;
    void (*done)(void *) = m->stop_done;
    void *arg = m->stop_arg;
    ms_free(m);
    if (done)
        done(arg);
}

static void ms_on_close(uv_handle_t *h)
{
    dk__ms_handle_closed(h->data);
}

void dk_membership_stop(dk_membership *m, void (*done)(void *arg), void *arg)
{
    m->stopping = 1;
    m->stop_done = done;
    m->stop_arg = arg;
    dk__ms_conns_close(m);
    uv_close((uv_handle_t *)&m->udp, ms_on_close);
    uv_close((uv_handle_t *)&m->tcp, ms_on_close);
    uv_close((uv_handle_t *)&m->tick, ms_on_close);
    uv_close((uv_handle_t *)&m->probe_timer, ms_on_close);
    uv_close((uv_handle_t *)&m->join_timer, ms_on_close);
    uv_close((uv_handle_t *)&m->leave_timer, ms_on_close);
    uv_close((uv_handle_t *)&m->susp_timer, ms_on_close);
}

/* Listen on TCP at the gossip address (port 0: the kernel's choice,
 * written back into self's record), then bind UDP on the same ip:port.
 * TCP goes first because its port space is the crowded one: every outgoing
 * connection of the host holds an ephemeral TCP port, so a port the kernel
 * picked for UDP is often taken for TCP, while the reverse is rare. */
static int ms_bind(dk_membership *m, char *err, size_t errlen)
{
    int rc = dk__ms_tcp_listen(m);
    if (rc == 0) {
        int len = sizeof m->self_sa;
        rc = uv_tcp_getsockname(&m->tcp, (struct sockaddr *)&m->self_sa, &len);
    }
    if (rc == 0)
        rc = uv_udp_bind(&m->udp, (const struct sockaddr *)&m->self_sa, 0);
    if (rc == 0) {
        dk__ms_format_addr((const struct sockaddr *)&m->self_sa, m->recs[0].m.gossip_addr);
        rc = uv_udp_recv_start(&m->udp, ms_on_alloc, ms_on_recv);
    }
    if (rc == 0)
        return dk__ms_advertise(m, err, errlen);
    if (rc)
        snprintf(err, errlen, "membership: cannot listen on %s: %s", m->recs[0].m.gossip_addr,
                 uv_strerror(rc));
    return rc;
}

int dk_membership_start(uv_loop_t *loop, const dk_membership_conf *conf, dk_membership **out, char *err,
                        size_t errlen)
{
    dk_membership *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->loop = loop;
    m->rng = uv_hrtime() ^ ((uint64_t)(uintptr_t)m << 16) ^ 0x9e3779b97f4a7c15ull;
    int rc = pthread_mutex_init(&m->mu, NULL);
    if (rc) {
        free(m);
        return -rc;
    }
    if ((rc = dk__ms_conf(m, conf, err, errlen))) {
        ms_free(m);
        return rc;
    }
    uv_udp_init(loop, &m->udp);
    uv_tcp_init(loop, &m->tcp);
    uv_timer_init(loop, &m->tick);
    uv_timer_init(loop, &m->probe_timer);
    uv_timer_init(loop, &m->join_timer);
    uv_timer_init(loop, &m->leave_timer);
    uv_timer_init(loop, &m->susp_timer);
    m->handles_open = 7;
    m->udp.data = m->tcp.data = m->tick.data = m->probe_timer.data = m;
    m->join_timer.data = m->leave_timer.data = m->susp_timer.data = m;
    if ((rc = ms_bind(m, err, errlen))) {
        dk_membership_stop(m, NULL, NULL); /* frees m once the handles are closed */
        return rc;
    }
    m->stopping = 0;
    dk_log(DK_LOG_INFO, "membership: %s gossiping on %s in cluster '%s' (%zu seeds, %zu known)",
           m->recs[0].m.id, m->recs[0].m.gossip_addr, m->cluster, m->n_seeds, m->n_recs - 1);
    m->dirty = 1;
    dk__ms_publish(m);
    ms_arm_suspicion(m); /* suspects of the initial table */
    uv_timer_start(&m->tick, ms_on_tick, m->interval, m->interval);
    if (m->n_seeds == 0 && m->n_recs == 1)
        m->contact = -1; /* nobody to ask: the first node of a cluster */
    if (m->self_is_seed || (m->n_seeds == 0 && m->n_recs == 1)) {
        m->joined = 1; /* a seed, or a lone first node, needs nobody to start */
        dk__ms_self_set(m, DK_MEMBER_NORMAL);
        dk__ms_publish(m);
    }
    if (m->dup_addr[0])
        dk__ms_duplicate_check(m);
    else if (m->n_seeds || m->n_recs > 1)
        dk__ms_join_schedule(m, 0);
    *out = m;
    return 0;
}
