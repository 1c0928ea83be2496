/*
 * loops_int.h - what loops.c (a coordinator per loop, the published
 * views, start and stop) and loops_rpc.c (the RPC server side on every
 * loop: spreading connections, relaying to loop 0, the counters) share.
 * Internal to framework/cluster.
 */
#ifndef DK_CLUSTER_LOOPS_INT_H
#define DK_CLUSTER_LOOPS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "cluster/loops.h"
#include "base/mailbox.h"

/* One published member table: immutable, shared by reference. */
typedef struct msnap_entry {
    char id[DK_NODE_ID_MAX + 1];
    char rpc_addr[DK_MEMBER_ADDR_MAX];
    int up, alive;
} msnap_entry;

typedef struct msnap {
    atomic_uint refs;
    size_t n;
    msnap_entry e[];
} msnap;

/* A loop's own coordinator and what its view reads. */
typedef struct dk__loop {
    struct dk__loops *all;
    unsigned index;
    uv_loop_t *loop;
    dk_mailbox *mb;
    dk_rpc *rpc;
    dk_coord *coord;
    msnap *snap; /* this loop's reference */
    uint64_t snap_ver;
    dk_ring *ring; /* this loop's reference to the ring it saw last */
    uint64_t ring_ver;
    dk_mail mail;
} dk__loop;

typedef struct dk__loops {
    dk_cluster *c;
    dk_mailbox *mb0;
    size_t n; /* loop threads, loop 0 included; l[0] is unused */
    dk__loop *l;
    atomic_int ok;        /* the loops may coordinate now */
    int ok_logged;        /* loop 0: the value last logged */
    int snap_failed;      /* loop 0: the last member table could not be published */
    size_t budget_warned; /* loop 0: members when max_rpc_connections was last found short */
    pthread_mutex_t snap_mu;
    msnap *snap; /* the latest (loop 0's reference) */
    _Atomic uint64_t snap_ver;
    _Atomic uint64_t ring_ver; /* bumped after each new ring is in the cell */
    unsigned spread_next;      /* loop 0: the loop the next accepted RPC connection goes to */
    uv_check_t check;          /* loop 0: re-evaluate ok after each turn */
    int check_open;
    unsigned stopping; /* loops not stopped yet */
    void (*stop_done)(void *);
    void *stop_arg;
} dk__loops;

/* loops_rpc.c: the RPC handler of loop l's instance (arg: the dk__loop). */
void dk__loops_on_rpc(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body);

/* loops_rpc.c, loop 0: spread the connections the node's listener
 * accepts over every loop (on 1), or keep them all on loop 0 (on 0). */
void dk__loops_spread(dk_cluster *c, int on);
#endif
