/*
 * membership_int.h - state shared by membership.c (SWIM over UDP, the
 * table, precedence, publication) and membership_tcp.c (push-pull over
 * TCP and joining). Internal to those two files.
 *
 * Everything here is owned by the loop thread, except view/n_view (written
 * on the loop under mu, read anywhere under mu) and stats (atomic
 * counters).
 */
#ifndef DK_MEMBERSHIP_INT_H
#define DK_MEMBERSHIP_INT_H
#include <pthread.h>
#include <sys/socket.h>
#include "gossip/gossip_guard.h"
#include "gossip/gossip_msg.h"
#include "gossip/membership.h"

#define MS_RELAYS 64u           /* PING-REQs relayed at once */
#define MS_LOGGED_MAX 32u       /* peers already logged for a wrong cluster name */
#define MS_REJECT_LOG_MS 10000u /* one log line per rejection reason per this long */

typedef struct ms_rec {
    dk_member m;
    uint32_t tx_left;       /* piggy-back retransmissions left */
    uint64_t suspect_since; /* uv_now() when it became suspect here */
    uint64_t heard;         /* uv_now() of its last message to us, 0 = none yet */
    uint64_t told;          /* uv_now() when we last told it of a verdict on it, 0 = never */
    struct sockaddr_storage sa;
    int sa_ok;
} ms_rec;

typedef struct ms_conn ms_conn;

struct dk_membership {
    uv_loop_t *loop;
    char cluster[DK_MEMBER_NAME_MAX + 1];
    uint8_t key[DK_GOSSIP_KEY_LEN];
    int loopback_only;     /* protected mode */
    uint64_t msg_seq;      /* the counter of the last message sent */
    dk_gossip_guard guard; /* freshness of what we receive */
    struct {
        uint64_t at;    /* uv_now() of the last log line, 0 = never */
        uint64_t quiet; /* rejections not logged since */
    } rej_log[DK_GOSSIP_REJ_N];
    uint64_t interval, probe_timeout;
    uint32_t indirect_k, suspicion_mult, pushpull_every;
    char (*seeds)[DK_MEMBER_ADDR_MAX];
    size_t n_seeds;
    int self_is_seed;
    unsigned char *seed_flags; /* MS_SEED_* of the configured seeds (membership_seed.c) */
    size_t n_seed_flags;
    char advertise[DK_MEMBER_ADDR_MAX]; /* numeric IP others reach us at, "" = the listen IP */
    struct sockaddr_storage adv_sa;     /* our gossip address as others see it */

    ms_rec *recs; /* recs[0] is self; never shrinks, indexes stay valid */
    size_t n_recs, cap_recs;
    struct sockaddr_storage self_sa;

    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_timer_t tick, probe_timer, join_timer, leave_timer, susp_timer;
    int handles_open; /* closes still pending after stop */
    uint64_t ticks;

    uint32_t *order; /* shuffled probe order (record indexes) */
    size_t n_order, pos_order;
    int order_stale;
    struct {
        uint32_t seq;
        size_t idx;
        int active, acked;
    } probe;
    uint32_t seq;
    struct {
        uint32_t seq, orig_seq;
        uint64_t expires;
        struct sockaddr_storage to;
        char target[DK_MEMBER_NAME_MAX + 1];
    } relays[MS_RELAYS];
    size_t relay_pos;

    ms_conn *conns;  /* open push-pull connections */
    int pp_outgoing; /* 1 while this node runs an exchange */
    int joined;
    size_t join_pos, join_failures;
    size_t pending_seed; /* 1 + index of a seed to exchange with next, 0 = none */
    uint64_t join_backoff;

    int contact;         /* 1 an exchange succeeded, -1 every target failed once, 0 not yet */
    uint64_t self_floor; /* incarnation of our own record in the initial table */
    int heard_self;      /* a peer told us about ourselves: heard is its freshest record */
    dk_member heard;
    uint32_t heard_actor_max; /* the highest actor incarnation any of those records had */

    int leaving, leave_step;
    void (*leave_done)(void *);
    void *leave_arg;
    int stopping;
    void (*stop_done)(void *);
    void *stop_arg;
    int mute;

    dk_membership_change_fn on_change;
    void *arg;
    int dirty;
    void (*on_duplicate)(void *arg, const char *why);
    /* Our persisted record lived at another address: ask it first
     * (membership_tcp.c, dk__ms_duplicate_check). */
    char dup_addr[DK_MEMBER_ADDR_MAX];
    struct sockaddr_storage dup_sa;

    pthread_mutex_t mu;
    dk_member *view;
    size_t n_view;
    dk_membership_stats stats; /* atomic increments (MS_STAT) */

    uint64_t rng;
    char logged[MS_LOGGED_MAX][DK_MEMBER_ADDR_MAX];
    size_t n_logged;
    uint8_t rxbuf[65536];
    uint8_t txbuf[DK_GOSSIP_UDP_MAX];
};

#define MS_SEED_NAME 1u /* a host name, resolved on each attempt */
#define MS_SEED_BUSY 2u /* a resolution is running */
#define MS_SEED_SELF 4u /* resolved to this node: skipped */

#define MS_STAT(m, field) __atomic_fetch_add(&(m)->stats.field, 1, __ATOMIC_RELAXED)

/* membership.c, used by the other two files (loop thread) */
int64_t dk__ms_wall_ms(void);
/* joining/normal/leaving 0 < suspect 1 < down 2 < removed 3 */
int dk__ms_rank(dk_member_state s);
int dk__ms_find(const dk_membership *m, const char *id);
/* Raise our incarnation above heard and gossip ourselves. */
void dk__ms_refute(dk_membership *m, uint64_t heard);
/* Seal the message in m->txbuf and send it to sa (UDP, no retry). */
void dk__ms_seal_send(dk_membership *m, dk_gossip_enc *e, const struct sockaddr_storage *sa);
/* How long a suspicion lasts before it becomes down. */
uint64_t dk__ms_suspicion_timeout(const dk_membership *m);
/* membership_verdict.c */
/* A message from member `from` arrived: evidence that it is alive now. */
void dk__ms_heard(dk_membership *m, const char *from);
/* Apply u as a peer sent it (UDP or push-pull): dk__ms_apply, except for
 * a verdict on a member this node heard from itself since. */
void dk__ms_apply_peer(dk_membership *m, const dk_member *u);
/* Tell a few members (and the subject) about record idx now. */
void dk__ms_spread(dk_membership *m, size_t idx, int to_subject);
/* Send our own record to every live member now. */
void dk__ms_announce(dk_membership *m);
/* Append a record for u with tx retransmissions left (0 or -ENOMEM). */
int dk__ms_add(dk_membership *m, const dk_member *u, uint32_t tx);
/* Retransmissions of a fresh update: 3 * ceil(log2(n + 1)). */
uint32_t dk__ms_retransmits(const dk_membership *m);

/* membership_conf.c: check conf and take it into m (self record first,
 * then the persisted table and the seeds); err names a bad value. 0 or a
 * negative code; m is then freed by the caller. Main or loop thread,
 * before m's handles exist. */
int dk__ms_conf(dk_membership *m, const dk_membership_conf *c, char *err, size_t errlen);

/* membership_status.c (loop thread) */
/* Whether update u supersedes record r (precedence above). */
int dk__ms_newer(const dk_member *u, const dk_member *r);
/* left or removed: off every ring for good (until a new life) */
int dk__ms_gone(dk_member_status s);
/* Strip from update u about another member (record r) a removal that
 * this node must not take (see the file); counted and logged. */
void dk__ms_guard_removal(dk_membership *m, const dk_member *r, dk_member *u);
/* An update about this node (see the file). */
void dk__ms_apply_self(dk_membership *m, const dk_member *u);

/* membership.c, used by membership_tcp.c (loop thread) */
void dk__ms_apply(dk_membership *m, const dk_member *u);
void dk__ms_self_set(dk_membership *m, dk_member_state s);
void dk__ms_publish(dk_membership *m);
/* Publish even when the table did not change (contact changed). */
void dk__ms_publish_force(dk_membership *m);
void dk__ms_wrong_cluster(dk_membership *m, const char *peer, const char *name);
uint64_t dk__ms_rand(dk_membership *m);
void dk__ms_handle_closed(dk_membership *m);

/* membership_auth.c (loop thread) */
/* Count a rejection and log it with its source (at most one line per
 * reason every MS_REJECT_LOG_MS). peer may be NULL (then sa names it). */
void dk__ms_reject(dk_membership *m, int reason, const struct sockaddr *sa, const char *peer,
                   const char *detail);
/* Everything a received message must pass before it is used: the source
 * address (protected mode), the MAC, the clock and replay windows. 0 and
 * *msg, or the reason (already counted and logged). */
int dk__ms_accept(dk_membership *m, const uint8_t *buf, size_t n, const struct sockaddr *sa, const char *peer,
                  dk_gossip_msg *msg);
/* Finish an encoded message: clock, next counter value, MAC. */
int dk__ms_seal(dk_membership *m, dk_gossip_enc *e, size_t *len);
/* Raise our own incarnation to to (> the current one); 0, or -ERANGE when
 * to passes DK_MEMBER_INC_MAX (refused, counted and logged as why). */
int dk__ms_raise_inc(dk_membership *m, uint64_t to, const char *why);

/* membership_tcp.c (loop thread) */
/* Numeric "ip:port" / "[ip6]:port" to a socket address; 0 or -EINVAL. */
int dk__ms_parse_addr(const char *s, struct sockaddr_storage *out);
/* A socket address as "ip:port" into out[DK_MEMBER_ADDR_MAX]. */
void dk__ms_format_addr(const struct sockaddr *sa, char *out);
int dk__ms_tcp_listen(dk_membership *m);
/* Start an exchange with sa (label names it in logs); returns 0 when it
 * started, 1 when one is already running, or a negative code. */
int dk__ms_pp_start(dk_membership *m, const struct sockaddr_storage *sa, const char *label);
/* At start, when our persisted record names another gossip address: a
 * push-pull with that address before joining; a process there answering
 * as our id stops this one (on_duplicate); anything else goes on to join. */
void dk__ms_duplicate_check(dk_membership *m);
/* The periodic exchange with a random member or seed. */
void dk__ms_pp_random(dk_membership *m);
void dk__ms_join_schedule(dk_membership *m, uint64_t delay_ms);
/* Close every connection (stop); each close ends in dk__ms_handle_closed. */
void dk__ms_conns_close(dk_membership *m);

/* membership_seed.c (loop thread) */
/* Whether a seed is a host name rather than a numeric address. */
int dk__ms_seed_is_name(const char *addr);
/* Start an exchange with seed k, resolving its name first if it has one:
 * as dk__ms_pp_start (1 also while the name resolves), or -EAGAIN when
 * the seed is to be skipped (this node, or unusable). */
int dk__ms_seed_try(dk_membership *m, size_t k);
/* After binding: put the advertised address (if any) into our record and
 * adv_sa. 0 or -EINVAL (message in err). */
int dk__ms_advertise(dk_membership *m, char *err, size_t errlen);

#endif /* DK_MEMBERSHIP_INT_H */
