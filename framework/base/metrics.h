/*
 * metrics.h - the node's metrics registry, exported at GET /metrics in the
 * Prometheus text format (version 0.0.4).
 *
 * Two kinds of series: the fixed HTTP request families (a counter per
 * operation and status code, a latency histogram per operation), updated
 * lock-free with relaxed atomics from any thread; and named counters that
 * plugins and subsystems create on first use through dk_host.metric_add,
 * kept in a small mutex-protected table (they change rarely).
 */
#ifndef DK_METRICS_H
#define DK_METRICS_H

#include <stdint.h>
#include "util/buf.h"

typedef enum dk_op {
    DK_OP_GET = 0, DK_OP_PUT, DK_OP_DELETE, DK_OP_SCAN,
    DK_OP_HEALTH, DK_OP_METRICS, DK_OP_OTHER, DK_OP__COUNT
} dk_op;

/* Count one finished HTTP request. Any thread. */
void dk_metrics_request(dk_op op, int status, uint64_t duration_ns);

/* Add delta to the named counter, creating it at 0 first. name must match
 * [a-z_][a-z0-9_]*; other names are ignored (and logged once). Any thread. */
void dk_metrics_add(const char *name, uint64_t delta);

/* Set a named gauge (created on first use). Any thread. */
void dk_metrics_set_gauge(const char *name, uint64_t value);

/* Read a named counter or gauge (0 when unknown). For tests. */
uint64_t dk_metrics_get(const char *name);

/* Append the whole exposition to out. Any thread. */
int dk_metrics_render(dk_buf *out);

/* Forget every named series and zero the request families (tests). */
void dk_metrics_reset(void);
#endif
