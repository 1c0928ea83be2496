/*
 * host.h - the node's implementation of dk_host, the API table every plugin
 * receives: logging into the node's log, malloc, clocks, the record
 * callbacks built on the object header (object.h), and metrics.
 */
#ifndef DK_HOST_H
#define DK_HOST_H

#include "dynkv/types.h"

typedef struct dk_host_ctx {
    int64_t gc_grace_ms;        /* tombstones older than this may be purged */
    const char *log_prefix;     /* e.g. "engine lsm" */
} dk_host_ctx;

/* Fill *h with the node's callbacks; ctx must outlive every plugin object
 * that receives h. */
void dk_host_init(dk_host *h, dk_host_ctx *ctx);

/* Wall clock in ms and monotonic clock in ns, as the host gives plugins. */
int64_t dk_now_ms(void);
uint64_t dk_mono_ns(void);
#endif
