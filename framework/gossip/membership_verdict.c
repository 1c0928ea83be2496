/*
 * membership_verdict.c - what a node makes of another node's verdict that
 * a member is suspect or down (dk__ms_apply_peer, membership_int.h), and
 * the evidence it weighs it against: when it last heard from the member
 * itself (dk__ms_heard). The member table and its precedence rules are in
 * membership.c.
 */
#include <string.h>
#include "gossip/membership_int.h"

void dk__ms_heard(dk_membership *m, const char *from)
{
    int i = dk__ms_find(m, from);
    if (i > 0)
        m->recs[i].heard = uv_now(m->loop);
}

/* A PING to sa, the member u is about, carrying u (another node's verdict
 * on it) and our own record: a live member refutes it at once. */
static void ms_send_verdict(dk_membership *m, const struct sockaddr_storage *sa, const dk_member *u)
{
    dk_gossip_enc e;
    if (dk__gossip_enc_begin(&e, m->txbuf, sizeof m->txbuf, DK_GOSSIP_PING, ++m->seq, m->cluster,
                             m->recs[0].m.id, u->id, NULL))
        return;
    dk__gossip_enc_add(&e, u);
    dk__gossip_enc_add(&e, &m->recs[0].m);
    dk__ms_seal_send(m, &e, sa);
}

/*
 * A peer's verdict that a member is suspect or down is about the past: the
 * peer failed to reach the member, perhaps from the far side of a
 * partition. A node coming back from one carries "down" about every
 * member of the other side; applied as it spreads, it made each of those
 * nodes take its own live peers for down until they refuted, and the
 * cluster answered 503 "0 of 3 replicas" for seconds right after the
 * partition healed. So:
 * - when this node heard the member itself within a probe and a suspicion
 *   timeout, the member was alive after the peer could have formed the
 *   verdict (a dead member falls silent for everyone, and a down verdict
 *   takes that long to form at least), so the verdict is not applied here;
 * - either way the member is told of the verdict directly (at most once per
 *   interval), so a live one refutes within a round trip (a new
 *   incarnation, which overrides the verdict everywhere) instead of when
 *   the verdict happens to ride to it.
 * A verdict of this node's own probes goes through dk__ms_apply.
 */
void dk__ms_apply_peer(dk_membership *m, const dk_member *u)
{
    int i = u->state == DK_MEMBER_SUSPECT || u->state == DK_MEMBER_DOWN ? dk__ms_find(m, u->id) : -1;
    if (i <= 0 || dk__ms_rank(m->recs[i].m.state) != 0 || !dk__ms_newer(u, &m->recs[i].m)) {
        dk__ms_apply(m, u);
        return;
    }
    ms_rec *r = &m->recs[i];
    uint64_t now = uv_now(m->loop);
    int fresh = r->heard && now - r->heard < m->probe_timeout + dk__ms_suspicion_timeout(m);
    if (fresh)
        MS_STAT(m, stale_verdicts);
    else
        dk__ms_apply(m, u);
    if (r->sa_ok && (!r->told || now - r->told >= m->interval)) {
        r->told = now;
        ms_send_verdict(m, &r->sa, u);
    }
}
