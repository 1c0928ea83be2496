/*
 * host.h - the node's implementation of dk_host, the API table every plugin
 * receives: logging into the node's log, malloc, clocks, the record
 * callbacks built on the object header (object.h), and metrics.
 */
#ifndef DK_HOST_H
#define DK_HOST_H

#include <stdatomic.h>
#include "dynkv/types.h"

typedef struct dk_host_ctx {
    int64_t gc_grace_ms;        /* tombstones older than this may be purged */
    const char *log_prefix;     /* e.g. "engine lsm" */
    /* The repair rule (DESIGN.md 11): anti-entropy's node-wide "repaired
     * before" time in ms. A dead record (all tombstones, or expired)
     * whose newest write is not older than it is kept whatever its age: a
     * replica may still lack it, and purging it would let that replica's
     * older value come back. NULL: gc_grace alone decides (tools, tests).
     * Set before the plugin opens; anti-entropy moves the value. */
    const _Atomic int64_t *repaired_before_ms;
} dk_host_ctx;

/* Fill *h with the node's callbacks; ctx must outlive every plugin object
 * that receives h. record_filter drops a dead record when it is older than
 * gc_grace and, with ctx->repaired_before_ms, written before that time;
 * it counts its verdicts on dead records in tombstones_purged_total and
 * tombstones_kept_unrepaired_total (expired values count as tombstones). */
void dk_host_init(dk_host *h, dk_host_ctx *ctx);

/* Wall clock in ms and monotonic clock in ns, as the host gives plugins. */
int64_t dk_now_ms(void);
uint64_t dk_mono_ns(void);
#endif
