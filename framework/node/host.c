/*
 * host.c - dk_host for plugins loaded into a node. Each plugin gets its own
 * dk_host (same functions, its own ctx) so log lines say which plugin
 * wrote them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "node/host.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/object.h"

int64_t dk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t dk_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void host_log(const dk_host *h, int level, const char *fmt, ...)
{
    const dk_host_ctx *ctx = h->ctx;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    dk_log(level, "%s: %s", ctx && ctx->log_prefix ? ctx->log_prefix : "plugin", line);
}

static void *host_alloc(const dk_host *h, size_t n) { return malloc(n); }
static void *host_realloc(const dk_host *h, void *p, size_t n) { return realloc(p, n); }
static void host_free(const dk_host *h, void *p) { free(p); }
static int64_t host_now_ms(const dk_host *h) { return dk_now_ms(); }
static uint64_t host_mono_ns(const dk_host *h) { return dk_mono_ns(); }

/* Compaction thread. gc_grace first (O(1) on the header), then the repair
 * rule on the same header's newest write time. */
static int host_record_filter(const dk_host *h, dk_slice key, dk_slice value, int64_t now_ms)
{
    const dk_host_ctx *ctx = h->ctx;
    if (dk_object_record_filter(value, now_ms, ctx ? ctx->gc_grace_ms : INT64_MAX / 2) != DK_RECORD_DROP)
        return DK_RECORD_KEEP;
    if (ctx && ctx->repaired_before_ms) {
        dk_object_header hd;
        int64_t before = atomic_load_explicit(ctx->repaired_before_ms, memory_order_acquire);
        if (dk_object_peek(value, &hd) != 0 || hd.newest_write_ms >= before) {
            dk_metrics_add("tombstones_kept_unrepaired_total", 1);
            return DK_RECORD_KEEP;
        }
    }
    dk_metrics_add("tombstones_purged_total", 1);
    return DK_RECORD_DROP;
}

static int host_record_time(const dk_host *h, dk_slice value, int64_t *write_ms, int64_t *expiry_ms)
{
    return dk_object_record_time(value, write_ms, expiry_ms);
}

static void host_metric_add(const dk_host *h, const char *name, uint64_t delta)
{
    dk_metrics_add(name, delta);
}

void dk_host_init(dk_host *h, dk_host_ctx *ctx)
{
    *h = (dk_host){
        .struct_size = sizeof(dk_host),
        .ctx = ctx,
        .log = host_log,
        .alloc = host_alloc,
        .realloc = host_realloc,
        .free = host_free,
        .now_ms = host_now_ms,
        .mono_ns = host_mono_ns,
        .record_filter = host_record_filter,
        .record_time = host_record_time,
        .metric_add = host_metric_add,
    };
}
