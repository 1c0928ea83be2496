/*
 * metrics.c - see metrics.h.
 *
 * Named series live in a fixed open-addressed table of slots (linear
 * probing on an FNV-1a hash of the name). A slot is claimed once, with a
 * compare-and-swap of its state from empty to claiming; the claimer writes
 * the name and publishes it with a release store of "ready", and slots are
 * never freed (outside the tests' reset), so a reader that saw "ready" with
 * an acquire load may use the slot without a lock for the rest of the
 * process. Each thread keeps a small direct-mapped cache from the caller's
 * name pointer to its slot; a hit is checked with one strcmp against the
 * slot's name (callers may build names in reused buffers), so the hot path
 * is a pointer hash, a short compare and one relaxed atomic add: no lock,
 * no table scan. The alternative, the mutex and linear scan this replaced,
 * cost 100-300 ns per update and serialised every thread that counted
 * (bench/metrics, bench/results/metrics-*.md).
 *
 * The request families are fixed-size arrays of atomics indexed by
 * operation and status slot, as before.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/metrics.h"
#include "base/log.h"
#include "base/metrics_int.h"

#ifndef DK_VERSION
#define DK_VERSION "unknown"
#endif

/* ---- the HTTP request families ------------------------------------------ */

static const char *const op_names[DK_OP__COUNT] = {"get",    "put",     "delete", "scan",
                                                   "health", "metrics", "other"};

/* Status codes that get their own label value; anything else is "other". */
static const int status_slots[] = {200, 206, 300, 304, 400, 404, 405, 409, 411, 412,
                                   413, 415, 429, 431, 500, 501, 503, 504, 507};
#define N_STATUS (sizeof(status_slots) / sizeof(status_slots[0]) + 1)

/* Histogram upper bounds in seconds; the last bucket is +Inf. */
static const double bucket_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                   0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
#define N_BUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]) + 1)

static uint64_t req_count[DK_OP__COUNT][N_STATUS];
static uint64_t req_bucket[DK_OP__COUNT][N_BUCKETS];
static uint64_t req_sum_ns[DK_OP__COUNT];

static size_t status_slot(int status)
{
    for (size_t i = 0; i < N_STATUS - 1; i++)
        if (status_slots[i] == status)
            return i;
    return N_STATUS - 1;
}

void dk_metrics_request(dk_op op, int status, uint64_t duration_ns)
{
    if ((unsigned)op >= DK_OP__COUNT)
        op = DK_OP_OTHER;
    __atomic_add_fetch(&req_count[op][status_slot(status)], 1, __ATOMIC_RELAXED);
    double secs = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < N_BUCKETS - 1 && secs > bucket_le[b])
        b++;
    __atomic_add_fetch(&req_bucket[op][b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&req_sum_ns[op], duration_ns, __ATOMIC_RELAXED);
}

/* ---- the RPC client families ----------------------------------------------- */

#define RPC_TYPES 64
static uint64_t rpc_bucket[RPC_TYPES][N_BUCKETS];
static uint64_t rpc_sum_ns[RPC_TYPES];
static uint64_t rpc_errors[RPC_TYPES];
static const char *_Atomic rpc_names[RPC_TYPES];

void dk_metrics_rpc(unsigned type, const char *name, int status, uint64_t duration_ns)
{
    if (type >= RPC_TYPES)
        return;
    if (!atomic_load_explicit(&rpc_names[type], memory_order_relaxed))
        atomic_store_explicit(&rpc_names[type], name ? name : "unknown", memory_order_release);
    double secs = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < N_BUCKETS - 1 && secs > bucket_le[b])
        b++;
    __atomic_add_fetch(&rpc_bucket[type][b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&rpc_sum_ns[type], duration_ns, __ATOMIC_RELAXED);
    if (status)
        __atomic_add_fetch(&rpc_errors[type], 1, __ATOMIC_RELAXED);
}

static int render_rpc(dk_buf *out)
{
    int rc = dk_metrics_family(out, "dynkv_rpc_request_duration_seconds", "histogram",
                               "Node-to-node requests this node made, from the call to the answer "
                               "(or the failure), by message type.");
    for (unsigned t = 0; t < RPC_TYPES && !rc; t++) {
        const char *name = atomic_load_explicit(&rpc_names[t], memory_order_acquire);
        if (!name)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS && !rc; b++) {
            cum += __atomic_load_n(&rpc_bucket[t][b], __ATOMIC_RELAXED);
            if (b < N_BUCKETS - 1)
                rc = dk_buf_printf(out,
                                   "dynkv_rpc_request_duration_seconds_bucket{type=\"%s\",le=\"%g\"} %llu\n",
                                   name, bucket_le[b], (unsigned long long)cum);
            else
                rc = dk_buf_printf(
                    out, "dynkv_rpc_request_duration_seconds_bucket{type=\"%s\",le=\"+Inf\"} %llu\n", name,
                    (unsigned long long)cum);
        }
        if (!rc)
            rc = dk_buf_printf(out,
                               "dynkv_rpc_request_duration_seconds_sum{type=\"%s\"} %.9f\n"
                               "dynkv_rpc_request_duration_seconds_count{type=\"%s\"} %llu\n",
                               name, (double)__atomic_load_n(&rpc_sum_ns[t], __ATOMIC_RELAXED) / 1e9, name,
                               (unsigned long long)cum);
    }
    if (!rc)
        rc = dk_metrics_family(out, "dynkv_rpc_request_errors_total", "counter",
                               "Node-to-node requests this node made that failed (timeout, refused, "
                               "connection lost), by message type.");
    for (unsigned t = 0; t < RPC_TYPES && !rc; t++) {
        const char *name = atomic_load_explicit(&rpc_names[t], memory_order_acquire);
        if (name)
            rc = dk_buf_printf(out, "dynkv_rpc_request_errors_total{type=\"%s\"} %llu\n", name,
                               (unsigned long long)__atomic_load_n(&rpc_errors[t], __ATOMIC_RELAXED));
    }
    return rc;
}

/* ---- named series ----------------------------------------------------------- */

#define SLOTS 1024u /* power of two; a node has ~100 names */
#define EXPO_MAX (DK_METRIC_NAME_MAX + 32)

enum { SLOT_EMPTY = 0, SLOT_CLAIMING = 1, SLOT_READY = 2 };
enum { KIND_COUNTER = 0, KIND_GAUGE = 1 };

typedef struct slot {
    _Atomic uint64_t value;
    _Atomic uint32_t state;
    uint32_t hash;
    uint8_t kind;
    uint8_t shift; /* value / 10^(3*shift) seconds: 1 ms, 2 us, 3 ns */
    char name[DK_METRIC_NAME_MAX + 1];
    char expo[EXPO_MAX]; /* exposition name */
    const char *help;
} slot;

static slot slots[SLOTS];
static _Atomic uint32_t slots_full_logged;
/* Bumped by reset so that thread caches forget their slots. */
static _Atomic uint32_t generation = 1;

#define TCACHE 64u
typedef struct tcache_entry {
    const char *ptr;
    slot *s;
    uint32_t gen;
} tcache_entry;
static _Thread_local tcache_entry tcache[TCACHE];

/* Validate name as [a-z_][a-z0-9_]*, at most DK_METRIC_NAME_MAX chars, and
 * hash it in the same pass. Returns the length, or 0 when invalid. */
static size_t name_hash(const char *name, uint32_t *hash)
{
    uint32_t h = 2166136261u;
    size_t n = 0;
    if (!name)
        return 0;
    for (const char *p = name; *p; p++, n++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || ch == '_' || (n > 0 && ch >= '0' && ch <= '9');
        if (!ok || n >= DK_METRIC_NAME_MAX)
            return 0;
        h = (h ^ (uint8_t)ch) * 16777619u;
    }
    *hash = h;
    return n;
}

/* Unit parts promtool wants in base units, and their power of 1000. */
static const struct {
    const char *part;
    uint8_t shift;
} unit_parts[] = {
    {"_ms", 1},
    {"_us", 2},
    {"_ns", 3},
};

/* Work out s->expo and s->shift from s->name and s->kind. Cold path. */
static void slot_expose(slot *s)
{
    char base[EXPO_MAX];
    snprintf(base, sizeof(base), "%s", s->name);
    size_t n = strlen(base);
    int total = n >= 6 && strcmp(base + n - 6, "_total") == 0;
    if (total)
        base[n -= 6] = '\0';
    s->shift = 0;
    for (size_t i = 0; i < sizeof(unit_parts) / sizeof(unit_parts[0]); i++) {
        size_t u = strlen(unit_parts[i].part);
        /* The part ends the name (before "_total") or is followed by '_'. */
        for (char *p = strstr(base, unit_parts[i].part); p; p = strstr(p + 1, unit_parts[i].part)) {
            if (p[u] != '\0' && p[u] != '_')
                continue;
            char rest[EXPO_MAX];
            snprintf(rest, sizeof(rest), "%s", p + u);
            snprintf(p, sizeof(base) - (size_t)(p - base), "_seconds%s", rest);
            s->shift = unit_parts[i].shift;
            break;
        }
        if (s->shift)
            break;
    }
    if (total)
        s->kind = KIND_COUNTER;
    snprintf(s->expo, sizeof(s->expo), "dynkv_%s%s", base, s->kind == KIND_COUNTER ? "_total" : "");
    s->help = dk__metrics_help(s->name);
}

/* The slot of name, created as kind on first use; NULL for an invalid
 * name or a full table (both logged once). Any thread. */
static slot *slot_get(const char *name, int kind)
{
    uint32_t gen = atomic_load_explicit(&generation, memory_order_relaxed);
    tcache_entry *e = &tcache[((uintptr_t)name >> 3) & (TCACHE - 1)];
    if (e->ptr == name && e->gen == gen && strcmp(e->s->name, name) == 0)
        return e->s;

    uint32_t h;
    size_t len = name_hash(name, &h);
    if (!len) {
        dk_log(DK_LOG_WARN, "metrics: ignoring invalid metric name '%.100s'", name ? name : "(null)");
        return NULL;
    }
    for (uint32_t i = 0; i < SLOTS; i++) {
        slot *s = &slots[(h + i) & (SLOTS - 1)];
        uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (st == SLOT_EMPTY) {
            uint32_t expect = SLOT_EMPTY;
            if (atomic_compare_exchange_strong_explicit(&s->state, &expect, SLOT_CLAIMING,
                                                        memory_order_acq_rel, memory_order_acquire)) {
                memcpy(s->name, name, len + 1);
                s->hash = h;
                s->kind = (uint8_t)kind;
                slot_expose(s);
                atomic_store_explicit(&s->value, 0, memory_order_relaxed);
                atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
                st = SLOT_READY;
            } else {
                st = expect;
            }
        }
        /* Another thread is writing this slot's name: it takes a few
         * stores, so wait for it rather than skip a slot that may be ours. */
        while (st == SLOT_CLAIMING) {
            sched_yield();
            st = atomic_load_explicit(&s->state, memory_order_acquire);
        }
        if (st == SLOT_READY && s->hash == h && strcmp(s->name, name) == 0) {
            *e = (tcache_entry){.ptr = name, .s = s, .gen = gen};
            return s;
        }
    }
    if (!atomic_exchange(&slots_full_logged, 1))
        dk_log(DK_LOG_WARN, "metrics: %u named series in use, ignoring '%.100s' and later new names", SLOTS,
               name);
    return NULL;
}

void dk_metrics_add(const char *name, uint64_t delta)
{
    slot *s = slot_get(name, KIND_COUNTER);
    if (s)
        atomic_fetch_add_explicit(&s->value, delta, memory_order_relaxed);
}

/* m's slot: the one it resolved in this generation, else looked up (and
 * kept). NULL for an invalid name or a full table. Any thread. */
static slot *metric_slot(dk_metric *m)
{
    /* Acquire pairs with the release below (and the reset's): the slot a
     * ref names was set up before this thread counts into it. */
    uint64_t ref = atomic_load_explicit(&m->ref, memory_order_acquire);
    uint32_t gen = atomic_load_explicit(&generation, memory_order_acquire);
    if ((uint32_t)(ref >> 32) == gen && (uint32_t)ref)
        return &slots[(uint32_t)ref - 1];
    slot *s = slot_get(m->name, m->gauge ? KIND_GAUGE : KIND_COUNTER);
    /* Two threads may resolve at once: both store the same slot. */
    if (s)
        atomic_store_explicit(&m->ref, (uint64_t)gen << 32 | (uint64_t)(s - slots + 1), memory_order_release);
    return s;
}

void dk_metrics_count(dk_metric *m, uint64_t delta)
{
    slot *s = metric_slot(m);
    if (s)
        atomic_fetch_add_explicit(&s->value, delta, memory_order_relaxed);
}

void dk_metrics_store(dk_metric *m, uint64_t value)
{
    slot *s = metric_slot(m);
    if (s)
        atomic_store_explicit(&s->value, value, memory_order_relaxed);
}

void dk_metrics_set_gauge(const char *name, uint64_t value)
{
    slot *s = slot_get(name, KIND_GAUGE);
    if (s)
        atomic_store_explicit(&s->value, value, memory_order_relaxed);
}

void dk_metrics_set_counter(const char *name, uint64_t value)
{
    slot *s = slot_get(name, KIND_COUNTER);
    if (s)
        atomic_store_explicit(&s->value, value, memory_order_relaxed);
}

uint64_t dk_metrics_get(const char *name)
{
    uint32_t h;
    size_t len = name_hash(name, &h);
    if (!len)
        return 0;
    for (uint32_t i = 0; i < SLOTS; i++) {
        slot *s = &slots[(h + i) & (SLOTS - 1)];
        uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (st == SLOT_EMPTY)
            return 0;
        if (st == SLOT_READY && s->hash == h && strcmp(s->name, name) == 0)
            return atomic_load_explicit(&s->value, memory_order_relaxed);
    }
    return 0;
}

/* ---- rendering ------------------------------------------------------------- */

/* Append text with '\\' and '\n' escaped, as HELP lines want. */
static int append_escaped(dk_buf *out, const char *text)
{
    int rc = 0;
    for (const char *p = text; *p && !rc; p++) {
        if (*p == '\\')
            rc = dk_buf_append_str(out, "\\\\");
        else if (*p == '\n')
            rc = dk_buf_append_str(out, "\\n");
        else
            rc = dk_buf_append(out, p, 1);
    }
    return rc;
}

int dk_metrics_family(dk_buf *out, const char *name, const char *type, const char *help)
{
    int rc = dk_buf_printf(out, "# HELP %s ", name);
    if (!rc)
        rc = append_escaped(out, help);
    if (!rc)
        rc = dk_buf_printf(out, "\n# TYPE %s %s\n", name, type);
    return rc;
}

static int render_requests(dk_buf *out)
{
    int rc = dk_metrics_family(out, "dynkv_http_requests_total", "counter",
                               "HTTP requests served, by operation and status code.");
    for (size_t op = 0; op < DK_OP__COUNT && !rc; op++) {
        for (size_t s = 0; s < N_STATUS && !rc; s++) {
            uint64_t v = __atomic_load_n(&req_count[op][s], __ATOMIC_RELAXED);
            if (!v)
                continue;
            if (s < N_STATUS - 1)
                rc = dk_buf_printf(out, "dynkv_http_requests_total{op=\"%s\",code=\"%d\"} %llu\n",
                                   op_names[op], status_slots[s], (unsigned long long)v);
            else
                rc = dk_buf_printf(out, "dynkv_http_requests_total{op=\"%s\",code=\"other\"} %llu\n",
                                   op_names[op], (unsigned long long)v);
        }
    }
    if (!rc)
        rc = dk_metrics_family(out, "dynkv_http_request_duration_seconds", "histogram",
                               "Time from a complete request to its response, by operation.");
    for (size_t op = 0; op < DK_OP__COUNT && !rc; op++) {
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS && !rc; b++) {
            cum += __atomic_load_n(&req_bucket[op][b], __ATOMIC_RELAXED);
            if (b < N_BUCKETS - 1)
                rc = dk_buf_printf(out,
                                   "dynkv_http_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} %llu\n",
                                   op_names[op], bucket_le[b], (unsigned long long)cum);
            else
                rc = dk_buf_printf(out,
                                   "dynkv_http_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n",
                                   op_names[op], (unsigned long long)cum);
        }
        if (!rc)
            rc = dk_buf_printf(out,
                               "dynkv_http_request_duration_seconds_sum{op=\"%s\"} %.9f\n"
                               "dynkv_http_request_duration_seconds_count{op=\"%s\"} %llu\n",
                               op_names[op], (double)__atomic_load_n(&req_sum_ns[op], __ATOMIC_RELAXED) / 1e9,
                               op_names[op], (unsigned long long)cum);
    }
    return rc;
}

static int cmp_expo(const void *a, const void *b)
{
    const slot *x = *(slot *const *)a, *y = *(slot *const *)b;
    return strcmp(x->expo, y->expo);
}

static int render_named(dk_buf *out)
{
    slot *list[SLOTS];
    size_t n = 0;
    for (uint32_t i = 0; i < SLOTS; i++)
        if (atomic_load_explicit(&slots[i].state, memory_order_acquire) == SLOT_READY)
            list[n++] = &slots[i];
    qsort(list, n, sizeof(list[0]), cmp_expo);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        slot *s = list[i];
        /* Two names can expose alike ("x" counted, "x_total" set): one family. */
        if (i > 0 && strcmp(list[i - 1]->expo, s->expo) == 0)
            continue;
        char help[256];
        if (s->help)
            snprintf(help, sizeof(help), "%s", s->help);
        else
            snprintf(help, sizeof(help),
                     "%s '%s' (registered at run time; no description in the "
                     "metrics table).",
                     s->kind == KIND_COUNTER ? "Counter" : "Gauge", s->name);
        rc = dk_metrics_family(out, s->expo, s->kind == KIND_COUNTER ? "counter" : "gauge", help);
        uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
        if (rc)
            break;
        if (s->shift)
            rc = dk_buf_printf(out, "%s %.*f\n", s->expo, 3 * s->shift,
                               (double)v / (s->shift == 1   ? 1e3
                                            : s->shift == 2 ? 1e6
                                                            : 1e9));
        else
            rc = dk_buf_printf(out, "%s %llu\n", s->expo, (unsigned long long)v);
    }
    return rc;
}

/* /proc/self/stat: utime, stime (ticks), starttime (ticks since boot),
 * vsize (bytes), rss (pages). Returns 0 or -1. */
static int proc_stat(double *cpu_s, double *start_ticks, double *vsize, double *rss_pages)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields restart
     * after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long v[24] = {0};
    int field = 3; /* the state is field 3 */
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok && field <= 24;
         tok = strtok_r(NULL, " ", &save), field++)
        if (field >= 4)
            v[field - 1] = strtoull(tok, NULL, 10);
    if (field <= 24)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(v[13] + v[14]) / hz; /* fields 14 and 15 */
    *start_ticks = (double)v[21] / hz;     /* field 22, in seconds after boot */
    *vsize = (double)v[22];
    *rss_pages = (double)v[23];
    return 0;
}

static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "btime ", 6) == 0)
            bt = strtod(line + 6, NULL);
    fclose(f);
    return bt;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the one opendir holds */
}

int dk_metrics_process_info(dk_process_info *out)
{
    double cpu, start, vsize, rss;
    memset(out, 0, sizeof(*out));
    out->open_fds = open_fds();
    struct rlimit rl;
    out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : -1;
    if (proc_stat(&cpu, &start, &vsize, &rss) != 0)
        return -1;
    out->cpu_seconds = cpu;
    double bt = boot_time();
    out->start_time = bt > 0 ? bt + start : 0;
    out->resident_bytes = (uint64_t)(rss * (double)sysconf(_SC_PAGESIZE));
    out->virtual_bytes = (uint64_t)vsize;
    return 0;
}

static int render_process(dk_buf *out)
{
    int rc = dk_metrics_family(out, "dynkv_build_info", "gauge",
                               "Always 1; the labels say which dynkv build runs.");
    if (!rc)
        rc = dk_buf_printf(out, "dynkv_build_info{version=\"%s\"} 1\n", DK_VERSION);
    dk_process_info p;
    int have = dk_metrics_process_info(&p) == 0;
    if (!rc && have) {
        rc = dk_metrics_family(out, "process_cpu_seconds_total", "counter",
                               "Total user and system CPU time spent in seconds.");
        if (!rc)
            rc = dk_buf_printf(out, "process_cpu_seconds_total %.2f\n", p.cpu_seconds);
        if (!rc)
            rc = dk_metrics_family(out, "process_resident_memory_bytes", "gauge",
                                   "Resident memory size in bytes.");
        if (!rc)
            rc = dk_buf_printf(out, "process_resident_memory_bytes %llu\n",
                               (unsigned long long)p.resident_bytes);
        if (!rc)
            rc = dk_metrics_family(out, "process_virtual_memory_bytes", "gauge",
                                   "Virtual memory size in bytes.");
        if (!rc)
            rc = dk_buf_printf(out, "process_virtual_memory_bytes %llu\n",
                               (unsigned long long)p.virtual_bytes);
        if (!rc && p.start_time > 0) {
            rc = dk_metrics_family(out, "process_start_time_seconds", "gauge",
                                   "Start time of the process since unix epoch in seconds.");
            if (!rc)
                rc = dk_buf_printf(out, "process_start_time_seconds %.2f\n", p.start_time);
        }
    }
    if (!rc && p.open_fds >= 0) {
        rc = dk_metrics_family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
        if (!rc)
            rc = dk_buf_printf(out, "process_open_fds %ld\n", p.open_fds);
    }
    if (!rc && p.max_fds >= 0) {
        rc = dk_metrics_family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        if (!rc)
            rc = dk_buf_printf(out, "process_max_fds %ld\n", p.max_fds);
    }
    return rc;
}

int dk_metrics_render(dk_buf *out)
{
    int rc = render_requests(out);
    if (!rc)
        rc = render_rpc(out);
    if (!rc)
        rc = render_named(out);
    if (!rc)
        rc = render_process(out);
    return rc;
}

void dk_metrics_reset(void)
{
    for (uint32_t i = 0; i < SLOTS; i++)
        atomic_store(&slots[i].state, SLOT_EMPTY);
    atomic_fetch_add(&generation, 1);
    atomic_store(&slots_full_logged, 0);
    memset(rpc_bucket, 0, sizeof(rpc_bucket));
    memset(rpc_sum_ns, 0, sizeof(rpc_sum_ns));
    memset(rpc_errors, 0, sizeof(rpc_errors));
    for (unsigned t = 0; t < RPC_TYPES; t++)
        atomic_store(&rpc_names[t], NULL);
    memset(req_count, 0, sizeof(req_count));
    memset(req_bucket, 0, sizeof(req_bucket));
    memset(req_sum_ns, 0, sizeof(req_sum_ns));
}
