/*
 * metrics.c - see metrics.h. The request families are fixed-size arrays of
 * atomics indexed by operation and status slot so the hot path never takes
 * a lock; the named table is a linear array under a mutex because it holds a
 * few dozen series that change rarely. A hash map would only pay off with
 * thousands of names, which a node does not have.
 */
#include <pthread.h>
#include <string.h>

#include "base/metrics.h"
#include "base/log.h"

static const char *const op_names[DK_OP__COUNT] = {
    "get", "put", "delete", "scan", "health", "metrics", "other"
};

/* Status codes that get their own label value; anything else is "other". */
static const int status_slots[] = {
    200, 206, 300, 304, 400, 404, 405, 409, 411, 412, 413, 415, 429, 431,
    500, 501, 503, 504
};
#define N_STATUS (sizeof(status_slots) / sizeof(status_slots[0]) + 1)

/* Histogram upper bounds in seconds; the last bucket is +Inf. */
static const double bucket_le[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5
};
#define N_BUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]) + 1)

static uint64_t req_count[DK_OP__COUNT][N_STATUS];
static uint64_t req_bucket[DK_OP__COUNT][N_BUCKETS];
static uint64_t req_sum_ns[DK_OP__COUNT];

#define NAMED_MAX 256
typedef struct named_metric {
    char name[96];
    int gauge;
    uint64_t value;
} named_metric;

static pthread_mutex_t named_lock = PTHREAD_MUTEX_INITIALIZER;
static named_metric named[NAMED_MAX];
static size_t n_named;

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

static int name_ok(const char *name)
{
    if (!name || !*name || strlen(name) >= sizeof(named[0].name))
        return 0;
    for (const char *p = name; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || *p == '_' || (p != name && *p >= '0' && *p <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Find or create; caller holds named_lock. NULL when the table is full. */
static named_metric *named_find(const char *name, int gauge)
{
    for (size_t i = 0; i < n_named; i++)
        if (strcmp(named[i].name, name) == 0)
            return &named[i];
    if (n_named == NAMED_MAX)
        return NULL;
    named_metric *m = &named[n_named++];
    strcpy(m->name, name);
    m->gauge = gauge;
    m->value = 0;
    return m;
}

static void named_update(const char *name, uint64_t v, int gauge)
{
    if (!name_ok(name)) {
        dk_log(DK_LOG_WARN, "metrics: ignoring invalid metric name '%s'", name ? name : "(null)");
        return;
    }
    pthread_mutex_lock(&named_lock);
    named_metric *m = named_find(name, gauge);
    if (m) {
        if (gauge)
            m->value = v;
        else
            m->value += v;
    }
    pthread_mutex_unlock(&named_lock);
}

void dk_metrics_add(const char *name, uint64_t delta) { named_update(name, delta, 0); }
void dk_metrics_set_gauge(const char *name, uint64_t value) { named_update(name, value, 1); }

uint64_t dk_metrics_get(const char *name)
{
    uint64_t v = 0;
    pthread_mutex_lock(&named_lock);
    for (size_t i = 0; i < n_named; i++)
        if (strcmp(named[i].name, name) == 0)
            v = named[i].value;
    pthread_mutex_unlock(&named_lock);
    return v;
}

static int render_requests(dk_buf *out)
{
    int rc = dk_buf_append_str(out,
        "# HELP dynkv_http_requests_total HTTP requests served, by operation and status code.\n"
        "# TYPE dynkv_http_requests_total counter\n");
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
        rc = dk_buf_append_str(out,
            "# HELP dynkv_http_request_duration_seconds Time from a complete request to its response.\n"
            "# TYPE dynkv_http_request_duration_seconds histogram\n");
    for (size_t op = 0; op < DK_OP__COUNT && !rc; op++) {
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS && !rc; b++) {
            cum += __atomic_load_n(&req_bucket[op][b], __ATOMIC_RELAXED);
            if (b < N_BUCKETS - 1)
                rc = dk_buf_printf(out, "dynkv_http_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} %llu\n",
                                   op_names[op], bucket_le[b], (unsigned long long)cum);
            else
                rc = dk_buf_printf(out, "dynkv_http_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n",
                                   op_names[op], (unsigned long long)cum);
        }
        if (!rc)
            rc = dk_buf_printf(out, "dynkv_http_request_duration_seconds_sum{op=\"%s\"} %.9f\n"
                               "dynkv_http_request_duration_seconds_count{op=\"%s\"} %llu\n",
                               op_names[op], (double)__atomic_load_n(&req_sum_ns[op], __ATOMIC_RELAXED) / 1e9,
                               op_names[op], (unsigned long long)cum);
    }
    return rc;
}

int dk_metrics_render(dk_buf *out)
{
    int rc = render_requests(out);
    pthread_mutex_lock(&named_lock);
    for (size_t i = 0; i < n_named && !rc; i++)
        rc = dk_buf_printf(out, "# TYPE dynkv_%s %s\ndynkv_%s %llu\n", named[i].name,
                           named[i].gauge ? "gauge" : "counter", named[i].name,
                           (unsigned long long)named[i].value);
    pthread_mutex_unlock(&named_lock);
    return rc;
}

void dk_metrics_reset(void)
{
    pthread_mutex_lock(&named_lock);
    n_named = 0;
    pthread_mutex_unlock(&named_lock);
    memset(req_count, 0, sizeof(req_count));
    memset(req_bucket, 0, sizeof(req_bucket));
    memset(req_sum_ns, 0, sizeof(req_sum_ns));
}
