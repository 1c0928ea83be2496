/*
 * gossip_guard.h - which authentic gossip messages are fresh: the clock
 * window, the per-sender replay window, the loopback rule of protected
 * mode, and the names of the reasons a message is rejected.
 *
 * A MAC (gossip_msg.h) proves a message came from a holder of the key, not
 * that it is new: a captured datagram "n2 is down" stays valid forever. So
 * every message carries its sender's wall clock (sent_ms) and a counter
 * (msg_seq) that starts, at each start of the sender, from the wall clock
 * in microseconds and grows by one per message. A receiver accepts a
 * message only when
 *   - |its clock - sent_ms| <= window (membership uses max(30 s, 10 gossip
 *     intervals): clocks of a cluster must agree that well), and
 *   - msg_seq is above the highest one accepted from that sender, or among
 *     the 64 below it and not yet seen (datagrams and the TCP exchange
 *     share the counter and may arrive a little out of order).
 * A restarted sender starts its counter from the clock, above everything
 * its previous life sent (it would need more than one message per
 * microsecond to catch up), so it is accepted at once. A sender's entry is
 * forgotten after 2 windows without an accepted message: a message older
 * than that fails the clock test anyway, and a sender whose clock was set
 * back across a restart is accepted again after that time.
 *
 * The table is keyed by the sender's id (only authentic messages reach it)
 * and bounded; when full, the entry heard from longest ago gives way.
 *
 * Plain data owned by one thread (the membership loop).
 */
#ifndef DK_GOSSIP_GUARD_H
#define DK_GOSSIP_GUARD_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "base/member.h"
#include "gossip/membership.h"

#define DK_GOSSIP_WINDOW_MIN_MS 30000u
#define DK_GOSSIP_REPLAY_BITS 64u
#define DK_GOSSIP_GUARD_MAX 4096u /* senders remembered */

typedef struct dk_gossip_peer {
    char id[DK_MEMBER_NAME_MAX + 1];
    uint64_t top;     /* highest msg_seq accepted */
    uint64_t bits;    /* bit i: top - 1 - i accepted */
    uint64_t seen_ms; /* receiver's monotonic ms of the last accept */
} dk_gossip_peer;

typedef struct dk_gossip_guard {
    uint64_t window_ms;
    dk_gossip_peer *peers;
    size_t n, cap;
} dk_gossip_guard;

/* An empty guard with the given clock window (ms). */
void dk__gossip_guard_init(dk_gossip_guard *g, uint64_t window_ms);
void dk__gossip_guard_free(dk_gossip_guard *g);

/*
 * Judge an authentic message from sender `from`: now_wall_ms is this
 * node's wall clock, now_mono_ms a monotonic clock (entry ages). Returns 0
 * (fresh; recorded, so the same msg_seq is refused next time),
 * DK_GOSSIP_REJ_STALE or DK_GOSSIP_REJ_REPLAY (nothing recorded).
 */
int dk__gossip_guard_check(dk_gossip_guard *g, const char *from, uint64_t sent_ms, uint64_t msg_seq,
                           uint64_t now_wall_ms, uint64_t now_mono_ms);

/* 1 when sa is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.x.x). */
int dk__gossip_addr_loopback(const struct sockaddr *sa);

/* The first counter value of a life: the wall clock in microseconds. */
uint64_t dk__gossip_seq_start(void);

#endif /* DK_GOSSIP_GUARD_H */
