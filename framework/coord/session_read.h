/*
 * session_read.h - a client read that must be at least as new as what the
 * client's session token says it has seen (node/session.h): the read goes
 * through dk_coord_get at the request's consistency; an answer that does
 * not descend the session's version vector for the key is not given out:
 * the read is repeated at quorum, then at all (more replicas, merged;
 * never below the request's own level), and, while none is new enough,
 * again every SESSION_READ_RETRY_MS until `wait_ms` has passed. Then the
 * caller gets DK_EUNAVAILABLE with *unmet = 1 (the API answers 503
 * session_unavailable), never the older data. A first read that fails
 * (not enough replicas answered) is answered as it is, as without a
 * session.
 *
 * A read at `all` that some replica could not answer carries no object
 * (coord_read.c answers DK_EUNAVAILABLE bare), so with a replica down the
 * quorum step is what finds the new version: it merges two answers, and
 * with one node of three down those are the two live ones.
 *
 * Threads: the cluster loop, as dk_coord_get. The coordinator is looked up
 * through `coord` before every attempt (it is NULL once the cluster
 * stops), so a read waiting between attempts never uses a stopped one.
 */
#ifndef DK_COORD_SESSION_READ_H
#define DK_COORD_SESSION_READ_H

#include <uv.h>
#include "coord/coordinator.h"

#define SESSION_READ_RETRY_MS 20

typedef struct dk_coord_session_read {
    uv_loop_t *loop;               /* the cluster loop (the retry timer) */
    dk_coord *(*coord)(void *arg); /* the running coordinator, or NULL */
    void *coord_arg;
    dk_slice key;            /* copied */
    int consistency, strict; /* the request's (DK_CL_ONE..ALL, not DEFAULT) */
    const dk_vv *need;       /* borrowed until cb; NULL: no version to reach */
    int spilled;             /* 1: read at least at quorum (best effort) */
    uint64_t wait_ms;        /* how long replicas may take to catch up */
    int64_t prune_age_ms;    /* cluster.vv_prune_age (0: none): older
                                         * entries of need may be gone, not required */
} dk_coord_session_read;

/* Start the read. Returns 0 and cb runs exactly once later (r valid only
 * during the call; *unmet set to 1 before it when the session could not be
 * met), or an error as dk_coord_get and cb is never called. */
int dk_coord_session_get(const dk_coord_session_read *q, int *unmet, dk_coord_cb cb, void *arg);

#endif /* DK_COORD_SESSION_READ_H */
