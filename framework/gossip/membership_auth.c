/*
 * membership_auth.c - what every received gossip message passes before
 * membership uses it, and how every sent one is sealed: the loopback rule
 * of protected mode, the MAC (gossip_msg.c), freshness (gossip_guard.c),
 * the counting and rate-limited logging of what is rejected, and the one
 * place a node raises its own incarnation (which never passes
 * DK_MEMBER_INC_MAX, so it never wraps).
 *
 * Kept apart from the protocol (membership.c, membership_tcp.c) so that
 * UDP and TCP share one gate and a new path cannot skip it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/log.h"
#include "gossip/membership_int.h"

const char *dk_membership_reject_name(int reason)
{
    static const char *const names[DK_GOSSIP_REJ_N] = {
        "malformed", "mac", "stale", "replay", "not_loopback", "removal",
    };
    return reason >= 0 && reason < DK_GOSSIP_REJ_N ? names[reason] : "unknown";
}

void dk__ms_reject(dk_membership *m, int reason, const struct sockaddr *sa, const char *peer,
                   const char *detail)
{
    if (reason < 0 || reason >= DK_GOSSIP_REJ_N)
        reason = DK_GOSSIP_REJ_MALFORMED;
    __atomic_fetch_add(&m->stats.rejected[reason], 1, __ATOMIC_RELAXED);
    if (reason == DK_GOSSIP_REJ_MALFORMED || reason == DK_GOSSIP_REJ_MAC)
        MS_STAT(m, bad_datagrams);
    uint64_t now = uv_now(m->loop);
    if (m->rej_log[reason].at && now - m->rej_log[reason].at < MS_REJECT_LOG_MS) {
        m->rej_log[reason].quiet++;
        return;
    }
    char addr[DK_MEMBER_ADDR_MAX] = "?";
    if (peer)
        snprintf(addr, sizeof addr, "%s", peer);
    else if (sa)
        dk__ms_format_addr(sa, addr);
    char more[64] = "";
    if (m->rej_log[reason].quiet)
        snprintf(more, sizeof more, " (%llu more of this kind not logged)",
                 (unsigned long long)m->rej_log[reason].quiet);
    m->rej_log[reason].at = now ? now : 1;
    m->rej_log[reason].quiet = 0;
    dk_log(reason == DK_GOSSIP_REJ_REMOVAL ? DK_LOG_ERROR : DK_LOG_WARN,
           "membership: %s rejected gossip from %s (%s): %s%s", m->recs[0].m.id, addr,
           dk_membership_reject_name(reason), detail, more);
}

int dk__ms_accept(dk_membership *m, const uint8_t *buf, size_t n, const struct sockaddr *sa, const char *peer,
                  dk_gossip_msg *msg)
{
    if (m->loopback_only && sa && !dk__gossip_addr_loopback(sa)) {
        dk__ms_reject(m, DK_GOSSIP_REJ_NOT_LOOPBACK, sa, peer,
                      "protected mode (no [security] cluster_key_file) takes cluster traffic "
                      "from loopback addresses only");
        return DK_GOSSIP_REJ_NOT_LOOPBACK;
    }
    int rc = dk__gossip_decode(buf, n, m->key, msg);
    if (rc == -EACCES) {
        char claimed[DK_MEMBER_NAME_MAX + 1], why[256];
        if (dk__gossip_peek_cluster(buf, n, claimed) == 0 && strcmp(claimed, m->cluster))
            snprintf(why, sizeof why,
                     "its MAC does not verify; it claims cluster '%s', ours is '%s' "
                     "(another cluster, or another cluster key)",
                     claimed, m->cluster);
        else
            snprintf(why, sizeof why,
                     "its MAC does not verify: the sender does not hold our cluster "
                     "key ([security] cluster_key_file)");
        dk__ms_reject(m, DK_GOSSIP_REJ_MAC, sa, peer, why);
        return DK_GOSSIP_REJ_MAC;
    }
    if (rc) {
        dk__ms_reject(m, DK_GOSSIP_REJ_MALFORMED, sa, peer, dk_strerror(rc));
        return DK_GOSSIP_REJ_MALFORMED;
    }
    rc = dk__gossip_guard_check(&m->guard, msg->from, msg->sent_ms, msg->msg_seq, (uint64_t)dk__ms_wall_ms(),
                                uv_now(m->loop));
    if (rc) {
        char why[256];
        if (rc == DK_GOSSIP_REJ_STALE)
            snprintf(why, sizeof why, "sent by '%s' at %llu ms, %lld ms from our clock (window %llu ms)",
                     msg->from, (unsigned long long)msg->sent_ms,
                     (long long)((int64_t)msg->sent_ms - dk__ms_wall_ms()),
                     (unsigned long long)m->guard.window_ms);
        else
            snprintf(why, sizeof why, "message %llu of '%s' was already received",
                     (unsigned long long)msg->msg_seq, msg->from);
        dk__ms_reject(m, rc, sa, peer, why);
        return rc;
    }
    return 0;
}

int dk__ms_seal(dk_membership *m, dk_gossip_enc *e, size_t *len)
{
    return dk__gossip_enc_finish(e, m->key, (uint64_t)dk__ms_wall_ms(), ++m->msg_seq, len);
}

int dk__ms_raise_inc(dk_membership *m, uint64_t to, const char *why)
{
    ms_rec *self = &m->recs[0];
    if (to > DK_MEMBER_INC_MAX) {
        MS_STAT(m, refutations_refused);
        dk_log(DK_LOG_ERROR,
               "membership: %s cannot raise its incarnation past %llu to %s: refused "
               "(an incarnation never wraps); a member gossiped an absurd incarnation about it",
               self->m.id, (unsigned long long)DK_MEMBER_INC_MAX, why);
        return -ERANGE;
    }
    self->m.incarnation = to;
    return 0;
}
