/*
 * cleanup.h - dropping this node's copies of keys it no longer replicates
 * (after a join or a removal moved their ranges elsewhere), on an
 * operator's request: never automatic, as in Cassandra's nodetool cleanup,
 * because a copy an operator did not ask to drop may be the last one if a
 * move went wrong.
 */
#ifndef DK_CLEANUP_H
#define DK_CLEANUP_H

#include <stdint.h>
#include "coord/coordinator.h"

typedef struct dk_cleanup_result {
    int status; /* 0, or an engine error */
    uint64_t scanned, kept, dropped;
} dk_cleanup_result;

/* Loop thread; r is valid during the call. */
typedef void (*dk_cleanup_cb)(void *arg, const dk_cleanup_result *r);

/*
 * Scan the local store on a worker and delete every key whose preference
 * list in the current ring does not include this node. Returns 0 (cb runs
 * later, once), or without calling cb: -EBUSY while a ring move is under
 * way or this node lacks its data (nothing may be dropped then), -EALREADY
 * when a cleanup runs, DK_EUNAVAILABLE without a ring, DK_ECLOSED, -ENOMEM.
 * Loop thread.
 */
int dk_coord_cleanup(dk_coord *c, dk_cleanup_cb cb, void *arg);
#endif
