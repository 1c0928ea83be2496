/*
 * metrics.h - the node's metrics registry, exported at GET /metrics in the
 * Prometheus text format (version 0.0.4), clean under `promtool check
 * metrics`.
 *
 * Three kinds of series:
 *  - the fixed HTTP request families (a counter per operation and status
 *    code, a latency histogram per operation), arrays of relaxed atomics;
 *  - named series that subsystems and plugins create on first use with
 *    dk_metrics_add / dk_metrics_set_gauge / dk_metrics_set_counter. Every
 *    update is lock-free: a thread-local cache maps the caller's name to its
 *    slot (checked against the slot's name), a miss probes an open-addressed
 *    table of slots claimed with one compare-and-swap, and the value is one
 *    relaxed atomic; a dk_metric handle keeps the slot it resolved, so a
 *    hot path's add skips the cache and the name compare;
 *  - process and build families (process_cpu_seconds_total, resident
 *    memory, open and max fds, start time; dynkv_build_info) read from
 *    /proc at scrape time.
 *
 * Exposition names: "dynkv_" + name. A table of known names supplies HELP
 * texts; an unknown name still gets a generic HELP line. The name also
 * decides what promtool's conventions need: a counter whose name lacks
 * "_total" gets it appended; a name ending in "_total" is a counter even
 * when it is set (a snapshot of someone else's counter, as an engine's
 * stats); a unit part "_ms", "_us" or "_ns" becomes "_seconds" and the value
 * is scaled to seconds at render time.
 */
#ifndef DK_METRICS_H
#define DK_METRICS_H

#include <stdint.h>
#include "util/buf.h"

typedef enum dk_op {
    DK_OP_GET = 0,
    DK_OP_PUT,
    DK_OP_DELETE,
    DK_OP_SCAN,
    DK_OP_HEALTH,
    DK_OP_METRICS,
    DK_OP_OTHER,
    DK_OP__COUNT
} dk_op;

#define DK_METRIC_NAME_MAX 95 /* characters of a named series */

/* Count one finished HTTP request. Any thread. */
void dk_metrics_request(dk_op op, int status, uint64_t duration_ns);

/* Count one finished node-to-node request of message type (0..63; name is
 * static text such as "GET_REQ") that took duration_ns from the call to
 * its answer; status != 0 counts it as failed (timeout, refused, closed).
 * Lock-free; any thread. */
void dk_metrics_rpc(unsigned type, const char *name, int status, uint64_t duration_ns);

/* Add delta to the named counter, creating it at 0 first. name must match
 * [a-z_][a-z0-9_]* and have at most DK_METRIC_NAME_MAX characters; other
 * names are ignored (and logged once). Lock-free; any thread. */
void dk_metrics_add(const char *name, uint64_t delta);

/* A handle on a named counter or gauge, for hot paths: the name is looked
 * up on the handle's first update (and again after dk_metrics_reset),
 * later updates are one relaxed atomic on the series. Declare one static,
 * or one per thread, with DK_METRIC("name") or DK_METRIC_GAUGE("name");
 * the name must outlive the handle and is the name dk_metrics_add or
 * dk_metrics_set_gauge takes, so /metrics does not tell them apart. */
typedef struct dk_metric {
    const char *name;
    int gauge;            /* created as a gauge on first use, else a counter */
    _Atomic uint64_t ref; /* generation << 32 | slot index + 1; 0 unresolved */
} dk_metric;
#define DK_METRIC(n)                                                                                         \
    {                                                                                                        \
        .name = (n)                                                                                          \
    }
#define DK_METRIC_GAUGE(n)                                                                                   \
    {                                                                                                        \
        .name = (n), .gauge = 1                                                                              \
    }

/* Add delta to m's series (created at 0 first). An invalid name is
 * ignored, as in dk_metrics_add. Lock-free; any thread. */
void dk_metrics_count(dk_metric *m, uint64_t delta);

/* Set m's series to value, as dk_metrics_set_gauge. Any thread. */
void dk_metrics_store(dk_metric *m, uint64_t value);

/* dk_metrics_add and dk_metrics_set_gauge for a string literal name, with
 * a static handle per call site: what the request paths use. */
#define DK_METRICS_ADD(literal, delta)                                                                       \
    do {                                                                                                     \
        static dk_metric dk_metric_site_ = DK_METRIC("" literal);                                            \
        dk_metrics_count(&dk_metric_site_, (delta));                                                         \
    } while (0)
#define DK_METRICS_SET_GAUGE(literal, value)                                                                 \
    do {                                                                                                     \
        static dk_metric dk_metric_site_ = DK_METRIC_GAUGE("" literal);                                      \
        dk_metrics_store(&dk_metric_site_, (value));                                                         \
    } while (0)

/* Set a named gauge (created on first use). Any thread. */
void dk_metrics_set_gauge(const char *name, uint64_t value);

/* Set a named counter to an absolute value: for counters kept elsewhere
 * (gossip, RPC, an engine's stats) and copied in at scrape time. Any
 * thread. */
void dk_metrics_set_counter(const char *name, uint64_t value);

/* Read a named counter or gauge (0 when unknown). For tests. */
uint64_t dk_metrics_get(const char *name);

/* Append the whole exposition to out: request families, named series
 * (sorted by name), build and process families. Returns 0 or -ENOMEM.
 * Reads /proc: call it on a worker thread, not a loop thread. */
int dk_metrics_render(dk_buf *out);

/* The process figures /metrics exposes, for other renderings (GET /info). */
typedef struct dk_process_info {
    double cpu_seconds; /* user + system */
    double start_time;  /* Unix seconds; 0 when unknown */
    uint64_t resident_bytes, virtual_bytes;
    long open_fds, max_fds; /* -1 when unknown */
} dk_process_info;

/* Read /proc for the figures above. Returns 0, or -1 when /proc is not
 * there (fields unknown). Blocking file reads: a worker thread. */
int dk_metrics_process_info(dk_process_info *out);

/* Append "# HELP name help\n# TYPE name type\n" for a family rendered
 * outside the registry (help is escaped as the format wants). type is
 * "counter", "gauge" or "histogram". Returns 0 or -ENOMEM. Any thread. */
int dk_metrics_family(dk_buf *out, const char *name, const char *type, const char *help);

/* Forget every named series and zero the request families. Tests only:
 * not safe while other threads update. */
void dk_metrics_reset(void);
#endif
