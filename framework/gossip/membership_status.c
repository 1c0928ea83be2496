/*
 * membership_status.c - ring status in membership (member.h, membership.h):
 * the precedence of records that differ only in status, this node's own
 * status and actor incarnation, a removal set on a down member's behalf,
 * what peers tell a node about itself (a forgotten life, a removal), and
 * the graceful gossip leave (leaving, then removed).
 *
 * Kept apart from membership.c's failure detection: status changes are
 * rare, decided by people and the rebalancing driver, and follow rules of
 * their own (a member that left or was removed comes back only as a new
 * life), while liveness is SWIM's alone.
 *
 * Who may take a member off the ring. A member raises its own incarnation
 * on every change it makes (leave, decommission: leaving then left), so an
 * update at a higher incarnation is the member's own word. A record at the
 * member's current incarnation with a removal in it (ring status leaving
 * or removed) was set on its behalf by another member: the admin remove
 * verb (dk_rebalance_remove, which only accepts a member that is down) and
 * then the rebalancing driver. Such a record is taken only when this node
 * too sees the member down; otherwise its removal part is dropped (counted
 * as a "removal" rejection and logged), and the rest of it (liveness)
 * follows the usual precedence. Retransmissions and the push-pull bring
 * the removal again, and it is taken once the member is down here as well.
 * Liveness "removed" (a gossip leave) is only ever the member's own word,
 * so at an unchanged incarnation it is dropped the same way.
 *
 * The member itself, hearing that it was removed (or left) while it is up
 * and has been in touch with its cluster in this life, refuses: it logs an
 * error and refutes, raising its incarnation. A node that (re)starts and
 * hears of its removal before or at its first exchange adopts it as
 * before: it was down when it was removed. A removed id comes back only as
 * a new life: a node started on an empty data directory says "joining",
 * and only that status replaces a removal (the explicit rejoin; README
 * "Changing membership").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/log.h"
#include "gossip/membership_int.h"

/* At an equal incarnation and state rank, a ring status set by another
 * member for a down one (a removal: leaving, then removed) wins over the
 * status the member last announced itself. */
static int ms_status_rank(dk_member_status s)
{
    return s == DK_STATUS_LEAVING ? 1 : s == DK_STATUS_LEFT ? 2 : s == DK_STATUS_REMOVED ? 3 : 0;
}

/* Whether update u supersedes record r: a higher incarnation, or the same
 * one with a higher (state rank, status rank). */
int dk__ms_newer(const dk_member *u, const dk_member *r)
{
    if (u->incarnation != r->incarnation)
        return u->incarnation > r->incarnation;
    if (dk__ms_rank(u->state) != dk__ms_rank(r->state))
        return dk__ms_rank(u->state) > dk__ms_rank(r->state);
    return ms_status_rank(u->status) > ms_status_rank(r->status);
}

int dk__ms_gone(dk_member_status s)
{
    return s == DK_STATUS_LEFT || s == DK_STATUS_REMOVED;
}

void dk__ms_guard_removal(dk_membership *m, const dk_member *r, dk_member *u)
{
    if (u->incarnation != r->incarnation || r->state == DK_MEMBER_DOWN)
        return; /* the member's own word (or an older record), or a down member */
    const char *what = NULL;
    if (u->state == DK_MEMBER_REMOVED && r->state != DK_MEMBER_REMOVED) {
        u->state = r->state;
        what = "removed";
    }
    if (ms_status_rank(u->status) > ms_status_rank(r->status) && ms_status_rank(u->status) > 0) {
        what = dk_member_status_name(u->status);
        u->status = r->status;
        u->epoch = r->epoch;
    }
    if (!what)
        return;
    char why[384];
    snprintf(why, sizeof why,
             "a record making %s %s at its own incarnation %llu while this node sees it %s:"
             " dropped (a removal is only for a member that is down)",
             r->id, what, (unsigned long long)r->incarnation, dk_member_state_name(r->state));
    dk__ms_reject(m, DK_GOSSIP_REJ_REMOVAL, NULL, "a member", why);
}

static void ms_self_status(dk_membership *m, dk_member_status s, const char *why)
{
    ms_rec *self = &m->recs[0];
    dk_log(s == DK_STATUS_LEFT || s == DK_STATUS_REMOVED ? DK_LOG_ERROR : DK_LOG_INFO,
           "membership: %s ring status %s -> %s: %s", self->m.id, dk_member_status_name(self->m.status),
           dk_member_status_name(s), why);
    self->m.status = s;
    self->m.epoch = (uint64_t)dk__ms_wall_ms();
}

/*
 * An update about this node: remember the freshest one (a node that lost
 * its data learns from it what it was), then
 *   - the cluster says we left or were removed, at or after the life this
 *     node remembers: a node with its data adopts it and stays out (coming
 *     back as normal would hide the writes made meanwhile elsewhere); a
 *     replacing node (no data) starts over as a joining one;
 *   - a joining node hears that it was on the ring (normal, leaving,
 *     replacing) in a life it forgot: it replaces itself, keeping its place
 *     on the ring instead of handing it to nodes that hold nothing;
 *   - and as always refute suspicion, death, removal, or an alive record
 *     newer than ours (we restarted and forgot it).
 */
/*
 * A record of our id, alive, from another gossip address, while we run:
 * another process claims our id (a copied data directory, a duplicate
 * [node] id). A node that starts where its persisted record says it lived
 * elsewhere asks that address first (dk__ms_duplicate_check) and refuses
 * to run if a process there answers as its id; one that was already
 * running when the other appeared logs the clash and refutes, so the
 * cluster keeps routing the id to it.
 */
static int ms_duplicate(dk_membership *m, const dk_member *u)
{
    const ms_rec *self = &m->recs[0];
    /* Before we heard of ourselves, such a record is our previous life
     * (a wiped node back at a new address): the rules below apply. */
    if (!m->heard_self || !u->gossip_addr[0] || strcmp(u->gossip_addr, self->m.gossip_addr) == 0 ||
        dk__ms_rank(u->state) != 0 || dk__ms_gone(u->status))
        return 0;
    if (u->incarnation >= self->m.incarnation) {
        dk_log(DK_LOG_ERROR,
               "membership: another process at %s claims node id %s (a copied data directory "
               "or a duplicate [node] id?); refuting",
               u->gossip_addr, self->m.id);
        dk__ms_refute(m, u->incarnation);
    }
    return 1;
}

void dk__ms_apply_self(dk_membership *m, const dk_member *u)
{
    ms_rec *self = &m->recs[0];
    if (ms_duplicate(m, u))
        return;
    if (!m->heard_self || dk__ms_newer(u, &m->heard))
        m->heard = *u;
    if (u->actor_inc > m->heard_actor_max)
        m->heard_actor_max = u->actor_inc;
    m->heard_self = 1;
    if (m->leaving)
        return;
    uint64_t top = u->incarnation > self->m.incarnation ? u->incarnation : self->m.incarnation;
    if (dk__ms_gone(u->status) && u->incarnation >= m->self_floor && self->m.status != u->status &&
        m->contact == 1 && (self->m.status == DK_STATUS_NORMAL || self->m.status == DK_STATUS_LEAVING)) {
        char why[384];
        snprintf(why, sizeof why,
                 "a record saying that %s itself is %s, while it is up and in touch with "
                 "its cluster: refused and refuted (a removal is only for a node that is down)",
                 self->m.id, dk_member_status_name(u->status));
        dk__ms_reject(m, DK_GOSSIP_REJ_REMOVAL, NULL, "a member", why);
        dk__ms_refute(m, top);
        return;
    }
    if (dk__ms_gone(u->status) && u->incarnation >= m->self_floor && self->m.status != u->status) {
        if (self->m.status == DK_STATUS_NORMAL || self->m.status == DK_STATUS_LEAVING) {
            ms_self_status(m, u->status,
                           "the cluster moved its ranges away (wipe the data "
                           "directory to join again)");
            dk__ms_refute(m, top);
            return;
        }
        if (self->m.status == DK_STATUS_REPLACING) {
            ms_self_status(m, DK_STATUS_JOINING, "its place on the ring is gone; bootstrapping anew");
            dk__ms_refute(m, top);
            return;
        }
    }
    if (self->m.status == DK_STATUS_JOINING && dk_member_status_current(u->status) &&
        u->incarnation >= self->m.incarnation) {
        ms_self_status(m, DK_STATUS_REPLACING, "it was on the ring before it lost its data");
        dk__ms_refute(m, top);
        return;
    }
    if (dk__ms_rank(u->state) > 0 ? u->incarnation >= self->m.incarnation
                                  : u->incarnation > self->m.incarnation)
        dk__ms_refute(m, u->incarnation);
}

void dk_membership_set_status(dk_membership *m, dk_member_status s)
{
    ms_rec *self = &m->recs[0];
    if (self->m.status == s || m->stopping)
        return;
    dk_log(DK_LOG_INFO, "membership: %s ring status %s -> %s", self->m.id,
           dk_member_status_name(self->m.status), dk_member_status_name(s));
    self->m.status = s;
    self->m.epoch = (uint64_t)dk__ms_wall_ms();
    dk__ms_self_set(m, self->m.state);
    dk__ms_announce(m); /* every member at once: rings move on this */
    dk__ms_publish(m);
}

void dk_membership_set_actor(dk_membership *m, uint32_t actor_inc)
{
    ms_rec *self = &m->recs[0];
    if (self->m.actor_inc == actor_inc || m->stopping)
        return;
    self->m.actor_inc = actor_inc;
    dk__ms_self_set(m, self->m.state);
    dk__ms_publish(m);
}

int dk_membership_set_peer_status(dk_membership *m, const char *id, dk_member_status s)
{
    int i = dk__ms_find(m, id);
    if (i < 0)
        return DK_ENOTFOUND;
    if (i == 0 || ms_status_rank(s) <= ms_status_rank(m->recs[i].m.status))
        return -EINVAL;
    dk_member u = m->recs[i].m;
    u.status = s;
    if (s == DK_STATUS_LEAVING)
        u.epoch = (uint64_t)dk__ms_wall_ms(); /* names this removal */
    dk__ms_apply(m, &u);
    dk__ms_spread(m, (size_t)i, 0);
    dk__ms_publish(m);
    return 0;
}

int dk_membership_heard_self(dk_membership *m, dk_member *out, uint32_t *max_actor)
{
    if (!m->heard_self)
        return 0;
    *out = m->heard;
    if (max_actor)
        *max_actor = m->heard_actor_max;
    return 1;
}

int dk_membership_contact(dk_membership *m)
{
    /* Only a seed (or a node without seeds) may conclude it is alone: a
     * node told where the cluster is waits for it. */
    if (m->contact == -1 && !m->self_is_seed && m->n_seeds > 0)
        return 0;
    return m->contact;
}

static void ms_on_leave_timer(uv_timer_t *t)
{
    dk_membership *m = t->data;
    if (m->leave_step++ == 0) {
        dk__ms_self_set(m, DK_MEMBER_REMOVED);
        dk__ms_announce(m);
        dk__ms_publish(m);
        uv_timer_start(&m->leave_timer, ms_on_leave_timer, m->interval, 0);
        return;
    }
    if (m->leave_done)
        m->leave_done(m->leave_arg);
}

int dk_membership_leave(dk_membership *m, void (*done)(void *arg), void *arg)
{
    if (m->leaving || m->stopping)
        return DK_ECLOSED;
    m->leaving = 1;
    m->leave_done = done;
    m->leave_arg = arg;
    dk__ms_self_set(m, DK_MEMBER_LEAVING);
    dk__ms_announce(m);
    dk__ms_publish(m);
    uv_timer_start(&m->leave_timer, ms_on_leave_timer, m->interval, 0);
    return 0;
}
