/*
 * membership.h - SWIM-style cluster membership over UDP, with a periodic
 * full-table push-pull over TCP (DESIGN.md section 6).
 *
 * One dk_membership per node lives on one libuv loop thread. Every
 * interval it probes one member (round-robin over a shuffled list) with a
 * PING; with no ACK after interval/2 it asks indirect_k other members to
 * PING-REQ it; with no ACK by the end of the interval the member becomes
 * suspect at its incarnation; the prober tells the suspect itself and
 * indirect_k random members at once (so a live node refutes within a
 * round trip, and every node starts its own timer together). A member
 * suspect for suspicion_mult (default 2) * max(1, log10(n)) intervals,
 * timed by every node that holds the suspicion, becomes down; the node
 * that decides tells indirect_k members at once. With the defaults, a
 * killed node of a 5-node cluster is down everywhere after at most about
 * 1 (until it is probed) + 1 (probe) + 2 (suspicion) = 4 intervals, plus
 * a few ms, unless no survivor happens to probe it in the first interval
 * (each one more interval, with probability (3/4)^4 ~ 0.3 per interval).
 * A node that hears it is suspect, down
 * or removed at an incarnation >= its own refutes: it raises its
 * incarnation and gossips itself alive. Updates ride on every message
 * (each one sent 3 * ceil(log2(n + 1)) times, freshest first); every
 * message also carries the sender's own record. Every 10 intervals the
 * node exchanges its whole table over TCP with a random member (down ones
 * included, so partitions heal) or a seed; a starting node does so with a
 * seed (or a known member) first and is "joining" until one exchange
 * succeeds, retrying with backoff and logging while none answers.
 *
 * Precedence (SWIM): an update (state, inc) replaces the local record when
 * inc is higher, or when inc is equal and the state ranks higher, with
 * joining = normal = leaving < suspect < down < removed, and at an equal
 * state rank when its ring status ranks higher (joining = normal =
 * replacing < leaving < left < removed: how another member removes a down
 * one). The node itself raises its incarnation on every change of its own
 * state or status, so its own announcements always win over older ones.
 *
 * Sockets: UDP and TCP listen on self.gossip_addr (numeric ip:port; port 0
 * picks one, see dk_membership_self); outgoing TCP connections bind to the
 * same IP first, and datagrams leave from the listening socket, so the
 * source address is always the node's own (firewall-rule partitions work).
 * Messages of another cluster name are dropped (counted, logged once per
 * peer).
 *
 * Authentication and freshness (membership_auth.c, gossip_guard.h): every
 * message, datagram or push-pull, carries an HMAC-SHA256 under conf->key
 * (derived from the cluster key; in protected mode from the cluster name,
 * with loopback_only set so that only loopback sources are heard), the
 * sender's wall clock and a per-sender counter that starts from the clock
 * at each start. A message is used only when its MAC verifies, its clock
 * is within max(30 s, 10 intervals) of ours, and its counter was not seen
 * before from that sender (a 64-message window tolerates reordering).
 * Anything else is dropped, counted in stats.rejected by reason, and
 * logged with the source address at most once per reason every 10 s.
 * Incarnations never pass DK_MEMBER_INC_MAX: records above it are refused
 * by the decoder, and a refutation that would pass it is refused and
 * logged (stats.refutations_refused), never wrapped. Removals follow
 * membership_status.c: at a member's own incarnation only where it is
 * down, and never by a node about itself while it is up and in touch.
 *
 * Not taken: Lifeguard's local-health multiplier and NACKs (the plain SWIM
 * timers meet the detection target, see the unit test's measurement);
 * hostnames in seeds (only numeric addresses, no resolver on the loop).
 */
#ifndef DK_MEMBERSHIP_H
#define DK_MEMBERSHIP_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "dynkv/types.h"
#include "base/member.h"

typedef struct dk_membership dk_membership;

#define DK_MEMBERSHIP_KEY_LEN 32u

/* Why a message (or, for "removal", one update in it) was dropped; the
 * metric dynkv_gossip_rejected_total{reason} counts each. */
typedef enum dk_membership_reject {
    DK_GOSSIP_REJ_MALFORMED = 0, /* not a message of ours (length, magic, version, field) */
    DK_GOSSIP_REJ_MAC,           /* the MAC does not verify: not from a key holder */
    DK_GOSSIP_REJ_STALE,         /* sender's clock outside the freshness window */
    DK_GOSSIP_REJ_REPLAY,        /* a message counter already seen from that sender */
    DK_GOSSIP_REJ_NOT_LOOPBACK,  /* protected mode: source address off loopback */
    DK_GOSSIP_REJ_REMOVAL,       /* a removal of a member this node does not see down */
    DK_GOSSIP_REJ_N
} dk_membership_reject;

/* "malformed", "mac", "stale", "replay", "not_loopback", "removal";
 * "unknown" otherwise. Static storage. */
const char *dk_membership_reject_name(int reason);

/* Called on the loop thread after any change of the table, at most once
 * per received message or timer tick. m[0..n) is the whole table (self
 * included, removed members too), borrowed for the duration of the call. */
typedef void (*dk_membership_change_fn)(void *arg, const dk_member *m, size_t n);

typedef struct dk_membership_conf {
    const char *cluster_name;           /* required, 1..64 chars */
    uint8_t key[DK_MEMBERSHIP_KEY_LEN]; /* the gossip key (every message carries its MAC) */
    int loopback_only;                  /* protected mode: drop messages and connections
                                     * whose source is not a loopback address */
    dk_member self;                     /* id, addresses, dc, rack, weight, status, actor_inc;
                                     * incarnation = a floor (0 is fine); state and
                                     * updated_ms ignored */
    const char *const *seeds;           /* gossip addresses "host:port", numeric or host names
                                     * (resolved on each join attempt); own address skipped */
    size_t n_seeds;
    const char *advertise;    /* numeric IP others use for this node (port from the
                                     * listen address), NULL or "" = the listen IP */
    uint64_t interval_ms;     /* probe interval; 0 = 1000 */
    uint32_t indirect_k;      /* 0 = 3 */
    uint32_t suspicion_mult;  /* 0 = 2 */
    uint32_t pushpull_every;  /* intervals between push-pulls; 0 = 10 */
    const dk_member *initial; /* persisted table (may include self), may be NULL */
    size_t n_initial;
    dk_membership_change_fn on_change; /* may be NULL */
    void *arg;
    /* Another live process claims this node's id (a copied data directory,
     * a duplicate [node] id) and was there first: this node must not run. Called once on the loop thread with the
     * reason; NULL: only logged. The owner stops the process. */
    void (*on_duplicate)(void *arg, const char *why);
} dk_membership_conf;

typedef struct dk_membership_stats {
    uint64_t probes_sent;               /* direct PINGs of the probe cycle */
    uint64_t acks_received;             /* probe cycles answered (directly or not) */
    uint64_t indirect_probes;           /* PING-REQs sent */
    uint64_t suspect_transitions;       /* records that became suspect here */
    uint64_t down_transitions;          /* records that became down here */
    uint64_t refutations;               /* times this node raised its incarnation to refute */
    uint64_t bad_datagrams;             /* malformed or bad MAC (UDP and TCP) */
    uint64_t rejected[DK_GOSSIP_REJ_N]; /* messages (updates for REMOVAL) dropped, by reason */
    uint64_t refutations_refused;       /* refutations that would pass DK_MEMBER_INC_MAX */
    uint64_t wrong_cluster;             /* well-formed, other cluster name */
    uint64_t pushpull_ok;               /* exchanges completed (either side) */
    uint64_t pushpull_failed;           /* exchanges this node started that failed */
    uint64_t stale_verdicts;            /* peers' suspect/down verdicts not applied (dk__ms_apply_peer) */
    uint64_t dead_pings;                /* PINGs to members recently down (ms_gossip_dead) */
} dk_membership_stats;

/*
 * Bind UDP and TCP on conf->self.gossip_addr, load conf->initial, start
 * joining and the probe timer on loop. Self starts "joining" with an
 * incarnation above conf->self.incarnation and above its own record in
 * conf->initial. conf is copied (strings included). On success *out is
 * owned by the caller until dk_membership_stop completes. Errors: -EINVAL
 * (bad field; message in err), -errno from libuv (bind), -ENOMEM. Loop
 * thread (the thread running loop, or before it runs).
 */
int dk_membership_start(uv_loop_t *loop, const dk_membership_conf *conf, dk_membership **out, char *err,
                        size_t errlen);

/* Close every handle without gossiping anything (an abrupt stop, as a
 * crash looks to peers) and free m once they are closed; then done(arg)
 * runs on the loop thread (done may be NULL). Loop thread. */
void dk_membership_stop(dk_membership *m, void (*done)(void *arg), void *arg);

/*
 * Graceful leave: announce "leaving" at once (to every live member
 * directly and by gossip), "removed" one interval later, and after one
 * more interval call done(arg) on the loop thread; the caller then stops.
 * Probing continues meanwhile. Returns 0, or DK_ECLOSED if already leaving.
 * Loop thread.
 */
int dk_membership_leave(dk_membership *m, void (*done)(void *arg), void *arg);

/* Exchange tables with the gossip address addr now (an admin "join", or
 * a seed added at run time); it is also added to the seed list. Returns 0
 * or -EINVAL for an address that does not parse. Loop thread. */
int dk_membership_join(dk_membership *m, const char *addr);

/* This node's ring status (member.h): announce s with a raised
 * incarnation, so it wins everywhere. No-op when unchanged. Loop thread. */
void dk_membership_set_status(dk_membership *m, dk_member_status s);

/* Announce this node's version-vector actor incarnation (after a raise).
 * Loop thread. */
void dk_membership_set_actor(dk_membership *m, uint32_t actor_inc);

/*
 * Set another member's ring status on its behalf (a removal while it is
 * down: leaving, then removed). The record keeps its incarnation; the
 * status wins over the one the member announced (see the precedence
 * above), and the member itself adopts removed if it ever comes back.
 * Returns 0, DK_ENOTFOUND (no such member) or -EINVAL (self, or a status
 * that does not rank above the current one). Loop thread.
 */
int dk_membership_set_peer_status(dk_membership *m, const char *id, dk_member_status s);

/* The freshest record about this node that a peer told us (a previous
 * life's, when the node lost its data, or our own echoed back): 1 and
 * *out, and in *max_actor (may be NULL) the highest actor incarnation any
 * such record carried; 0 when none came. Loop thread. */
int dk_membership_heard_self(dk_membership *m, dk_member *out, uint32_t *max_actor);

/* First contact: 1 once an exchange with any member succeeded; -1 when
 * this node is a seed (or has no seeds) and every target failed once, so
 * it is the first node of its cluster; 0 while undecided. Loop thread. */
int dk_membership_contact(dk_membership *m);

/* A malloc'd copy of the current table (self included) in *out, *n
 * entries; the caller frees *out. Returns 0 or -ENOMEM. Any thread. */
int dk_membership_snapshot(dk_membership *m, dk_member **out, size_t *n);

/* This node's own record (with the bound port when 0 was asked). Any thread. */
void dk_membership_self(dk_membership *m, dk_member *out);

/* Counters since start. Any thread. */
void dk_membership_stats_get(dk_membership *m, dk_membership_stats *out);

/* Test hook: while mute != 0 the node answers no PING and relays no
 * PING-REQ (it still receives and sends everything else), as a stalled
 * node looks to its peers. Loop thread. */
void dk__membership_set_mute(dk_membership *m, int mute);

#endif /* DK_MEMBERSHIP_H */
