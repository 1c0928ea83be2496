/*
 * gossip_guard.c - freshness of authentic gossip messages (see
 * gossip_guard.h): a clock window and a per-sender sliding replay window,
 * as IPsec's anti-replay window keeps it (a highest counter and a bitmap
 * of the ones just below).
 *
 * Senders are found by a linear scan: a table holds one entry per member
 * that sent something, a few thousand at most, and only messages whose
 * MAC verified get here.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gossip/gossip_guard.h"

void dk__gossip_guard_init(dk_gossip_guard *g, uint64_t window_ms)
{
    memset(g, 0, sizeof *g);
    g->window_ms = window_ms;
}

void dk__gossip_guard_free(dk_gossip_guard *g)
{
    free(g->peers);
    memset(g, 0, sizeof *g);
}

/* The entry of from: found, or made (reusing the oldest when full). NULL
 * only when memory runs out. */
static dk_gossip_peer *guard_peer(dk_gossip_guard *g, const char *from, uint64_t now_mono_ms)
{
    size_t oldest = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (!strcmp(g->peers[i].id, from))
            return &g->peers[i];
        if (g->peers[i].seen_ms < g->peers[oldest].seen_ms)
            oldest = i;
    }
    dk_gossip_peer *p;
    if (g->n == g->cap && g->cap < DK_GOSSIP_GUARD_MAX) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        dk_gossip_peer *np = realloc(g->peers, cap * sizeof *np);
        if (np) {
            g->peers = np;
            g->cap = cap;
        }
    }
    if (g->n < g->cap)
        p = &g->peers[g->n++];
    else if (g->n > 0)
        p = &g->peers[oldest];
    else
        return NULL;
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", from);
    p->seen_ms = now_mono_ms;
    return p;
}

int dk__gossip_guard_check(dk_gossip_guard *g, const char *from, uint64_t sent_ms, uint64_t msg_seq,
                           uint64_t now_wall_ms, uint64_t now_mono_ms)
{
    uint64_t skew = sent_ms > now_wall_ms ? sent_ms - now_wall_ms : now_wall_ms - sent_ms;
    if (skew > g->window_ms)
        return DK_GOSSIP_REJ_STALE;
    if (msg_seq == 0)
        return DK_GOSSIP_REJ_REPLAY; /* no sender counts from 0 */
    dk_gossip_peer *p = guard_peer(g, from, now_mono_ms);
    if (!p)
        return DK_GOSSIP_REJ_REPLAY; /* cannot remember it: refuse rather than risk a replay */
    if (p->top && now_mono_ms - p->seen_ms > 2 * g->window_ms) {
        p->top = 0; /* silent for two windows: anything fresh by the clock goes */
        p->bits = 0;
    }
    if (p->top == 0 || msg_seq > p->top) {
        uint64_t shift = p->top ? msg_seq - p->top : DK_GOSSIP_REPLAY_BITS;
        /* bit 0 of the shifted map is the old top */
        p->bits = shift >= DK_GOSSIP_REPLAY_BITS ? 0 : (p->bits << shift) | (UINT64_C(1) << (shift - 1));
        if (p->top && shift == DK_GOSSIP_REPLAY_BITS)
            p->bits = UINT64_C(1) << 63;
        p->top = msg_seq;
    } else {
        uint64_t back = p->top - msg_seq; /* 0 = top itself */
        if (back == 0 || back > DK_GOSSIP_REPLAY_BITS)
            return DK_GOSSIP_REJ_REPLAY;
        uint64_t bit = UINT64_C(1) << (back - 1);
        if (p->bits & bit)
            return DK_GOSSIP_REJ_REPLAY;
        p->bits |= bit;
    }
    p->seen_ms = now_mono_ms;
    return 0;
}

int dk__gossip_addr_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

uint64_t dk__gossip_seq_start(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
