/*
 * api_ops.c - the operator's read-only views:
 *
 *   GET /livez                    the loop answers, so the process serves
 *   GET /readyz, /health          readiness (health.h); ?verbose lists checks
 *   GET /cluster                  the members and the moves (cluster.h)
 *   GET /ui/                      the embedded dashboard (static bytes)
 *   GET /cluster/ring             the ring: per node its vnodes, its primary
 *                                 ownership and its effective ownership (the
 *                                 share of the key space it holds as one of
 *                                 the n_replicas replicas); ?ranges adds every
 *                                 token range with its preference list;
 *                                 "ring_tag" is the X-Ring of /kv answers
 *                                 (api_ring.c), from the same snapshot
 *   GET /cluster/endpoints/{key}  the key's token, range and replicas (in
 *                                 preference order, with state and address)
 *   GET /info                     this node: version, uptime, process,
 *                                 data size on disk, memtable, block cache
 *                                 hit rate, hints backlog, readiness
 *
 * /livez and /ui/ answer on the loop; the others read the ring snapshot
 * and the membership's own copy (both any thread), and /readyz and /info
 * call the engine's stats (which may take its locks) and walk the data
 * folder, so they run on a worker. Numbers are rounded where
 * they are fractions (6 decimals), so no client sees 0.99999999999999922.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <http_parser.h>

#include "api/api_int.h"
#include "api/ui.h"
#include "http/url.h"
#include "api/api_json.h"
#include "api/health.h"
#include "cluster/cluster.h"
#include "ring/ring.h"

#ifndef DK_VERSION
#define DK_VERSION "unknown"
#endif

typedef struct ops_req {
    dk_api_req q;
    int verbose;             /* ?ranges, ?verbose */
    uint8_t key[DK_KEY_MAX]; /* /cluster/endpoints/{key} */
    size_t key_len;
} ops_req;

/* 2^-128 * (end - start) on the circle, as a double in (0, 1]. */
static double range_share(dk_token start, dk_token end)
{
    if (dk_token_cmp(start, end) == 0)
        return 1.0;
    uint64_t lo = end.lo - start.lo;
    uint64_t hi = end.hi - start.hi - (end.lo < start.lo);
    return ((double)hi + (double)lo / 18446744073709551616.0) / 18446744073709551616.0;
}

static json_t *json_share(double x)
{
    return json_real(round(x * 1e6) / 1e6);
}

static void token_hex(dk_token t, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)t.hi, (unsigned long long)t.lo);
}

static int ops_dump(dk_api_req *q, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!s) {
        dk__api_error(q, 500, "internal", "out of memory rendering the answer");
        return -1;
    }
    dk_buf_reset(&q->body);
    dk_buf_append_str(&q->body, s);
    free(s);
    q->status = 200;
    q->content_type = "application/json";
    return 0;
}

/* The member records (state, http address) by id; NULL when none. */
static dk_member *ops_members(dk_api_req *q, size_t *n)
{
    dk_member *m = NULL;
    *n = 0;
    if (q->api->cluster->members)
        dk_membership_snapshot(q->api->cluster->members, &m, n);
    return m;
}

static const dk_member *member_of(const dk_member *m, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].id, id) == 0)
            return &m[i];
    return NULL;
}

static size_t replicas_wanted(dk_api_req *q, const dk_ring *r)
{
    size_t want = (size_t)q->api->cfg->cluster.n_replicas, nodes = dk_ring_node_count(r);
    return want < nodes ? want : nodes;
}

static dk_ring *ops_ring(dk_api_req *q)
{
    dk_ring *r = dk_ring_cell_get(&q->api->cluster->ring);
    if (!r)
        dk__api_error(q, 503, "no_ring", "the ring is not built yet; retry in a moment");
    return r;
}

/* Worker: GET /cluster/ring. */
static void ops_ring_view(dk_api_req *q)
{
    ops_req *j = (ops_req *)q;
    dk_ring *r = ops_ring(q);
    if (!r)
        return;
    size_t n = dk_ring_node_count(r), vn = dk_ring_vnode_count(r), want = replicas_wanted(q, r);
    double *eff = calloc(n ? n : 1, sizeof(*eff));
    uint32_t *vnodes = calloc(n ? n : 1, sizeof(*vnodes));
    size_t n_members;
    dk_member *members = ops_members(q, &n_members);
    json_t *o = json_object(), *ranges = j->verbose ? json_array() : NULL;
    if (!eff || !vnodes || !o) {
        dk__api_error(q, 500, "internal", "out of memory");
        goto out;
    }
    uint32_t pref[16];
    if (want > 16)
        want = 16;
    for (size_t i = 0; i < vn; i++) {
        dk_token start, end;
        dk_ring_range(r, i, &start, &end);
        size_t k = dk_ring_preference_token(r, end, want, pref);
        double share = range_share(start, end);
        for (size_t x = 0; x < k; x++)
            eff[pref[x]] += share;
        if (k)
            vnodes[pref[0]]++;
        if (ranges) {
            char s[33], e[33];
            token_hex(start, s);
            token_hex(end, e);
            json_t *reps = json_array();
            for (size_t x = 0; x < k; x++)
                json_array_append_new(reps, json_string(dk_ring_node_at(r, pref[x])->id));
            json_array_append_new(ranges,
                                  json_pack("{s:s, s:s, s:o}", "start", s, "end", e, "replicas", reps));
        }
    }
    json_t *nodes = json_array();
    for (uint32_t i = 0; i < n; i++) {
        const dk_ring_node *rn = dk_ring_node_at(r, i);
        const dk_member *m = member_of(members, n_members, rn->id);
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "id", rn->id, "state",
                              m ? dk_member_state_name(m->state) : "unknown", "dc", rn->dc, "rack", rn->rack,
                              "weight", (int)rn->weight, "vnodes", (int)vnodes[i]);
        json_object_set_new(e, "ownership", json_share(dk_ring_ownership(r, i)));
        json_object_set_new(e, "effective_ownership", json_share(eff[i] > 1.0 ? 1.0 : eff[i]));
        json_array_append_new(nodes, e);
    }
    json_object_set_new(o, "node", json_string(q->api->cfg->node.id));
    json_object_set_new(o, "ring_version", json_integer((json_int_t)dk_ring_version(r)));
    json_object_set_new(o, "ring_tag",
                        json_sprintf("%016llx", (unsigned long long)dk__api_ring_tag(q->api, r)));
    json_object_set_new(o, "n_replicas", json_integer(q->api->cfg->cluster.n_replicas));
    json_object_set_new(o, "vnodes", json_integer((json_int_t)vn));
    json_object_set_new(o, "nodes", nodes);
    if (ranges) {
        json_object_set_new(o, "ranges", ranges);
        ranges = NULL;
    }
    ops_dump(q, o);
    o = NULL;
out:
    json_decref(o);
    json_decref(ranges);
    free(eff);
    free(vnodes);
    free(members);
    dk_ring_unref(r);
}

/* Worker: GET /cluster/endpoints/{key}. */
static void ops_endpoints(dk_api_req *q)
{
    ops_req *j = (ops_req *)q;
    dk_ring *r = ops_ring(q);
    if (!r)
        return;
    size_t want = replicas_wanted(q, r), n_members;
    uint32_t pref[16];
    if (want > 16)
        want = 16;
    dk_token t = dk_ring_key_token(j->key, j->key_len);
    size_t k = dk_ring_preference_token(r, t, want, pref);
    dk_token start, end;
    dk_ring_range(r, dk_ring_range_of(r, t), &start, &end);
    char th[33], sh[33], eh[33];
    token_hex(t, th);
    token_hex(start, sh);
    token_hex(end, eh);
    dk_member *members = ops_members(q, &n_members);
    json_t *reps = json_array();
    for (size_t x = 0; x < k; x++) {
        const dk_ring_node *rn = dk_ring_node_at(r, pref[x]);
        const dk_member *m = member_of(members, n_members, rn->id);
        json_array_append_new(reps, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", rn->id, "state",
                                              m ? dk_member_state_name(m->state) : "unknown", "http",
                                              m ? m->http_addr : "", "dc", rn->dc, "rack", rn->rack));
    }
    json_t *o = json_object();
    dk_json_set_key(o, "key", (dk_slice){j->key, j->key_len});
    json_object_set_new(o, "token", json_string(th));
    json_object_set_new(o, "range", json_pack("{s:s, s:s}", "start", sh, "end", eh));
    json_object_set_new(o, "ring_version", json_integer((json_int_t)dk_ring_version(r)));
    json_object_set_new(o, "ring_tag",
                        json_sprintf("%016llx", (unsigned long long)dk__api_ring_tag(q->api, r)));
    json_object_set_new(o, "replicas", reps);
    ops_dump(q, o);
    free(members);
    dk_ring_unref(r);
}

uint64_t dk__api_disk_bytes(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *de;
    char path[DK_CONFIG_PATH_MAX + 300];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISREG(st.st_mode))
            total += (uint64_t)st.st_blocks * 512u;
        else if (S_ISDIR(st.st_mode) && depth > 0)
            total += dk__api_disk_bytes(path, depth - 1);
    }
    closedir(d);
    return total;
}

typedef struct info_stats {
    json_t *all;
    uint64_t memtable, hits, misses;
    int have_cache;
} info_stats;

static void info_stat(void *arg, const char *name, uint64_t value)
{
    info_stats *s = arg;
    json_object_set_new(s->all, name, json_integer((json_int_t)value));
    size_t n = strlen(name);
    if (n >= 14 && strcmp(name + n - 14, "memtable_bytes") == 0)
        s->memtable += value;
    if (n >= 16 && strcmp(name + n - 16, "cache_hits_total") == 0) {
        s->hits += value;
        s->have_cache = 1;
    }
    if (n >= 18 && strcmp(name + n - 18, "cache_misses_total") == 0)
        s->misses += value;
}

/* Worker: GET /info. */
static void ops_info(dk_api_req *q)
{
    dk_node *n = q->api->node;
    const dk_config *c = q->api->cfg;
    char path[DK_CONFIG_PATH_MAX + 16];
    info_stats st = {.all = json_object()};
    dk_engine_ref e = dk_node_engine(n);
    (void)dk_engine_stats(&e, info_stat, &st); /* none: the fields stay 0 */
    dk_process_info p;
    int have_proc = dk_metrics_process_info(&p) == 0;
    json_t *o = json_object();
    json_object_set_new(o, "node", json_string(c->node.id));
    json_object_set_new(o, "version", json_string(DK_VERSION));
    json_object_set_new(o, "cluster", json_string(c->cluster.name));
    json_object_set_new(o, "engine", json_string(n->engine_plugin->name));
    json_object_set_new(o, "compaction", json_string(n->policy_plugin->name));
    json_object_set_new(o, "resolver", json_string(n->resolver_plugin->name));
    json_object_set_new(o, "data_dir", json_string(c->node.data_dir));
    if (have_proc && p.start_time > 0) {
        json_object_set_new(o, "start_time", json_integer((json_int_t)p.start_time));
        json_object_set_new(o, "uptime_seconds",
                            json_integer((json_int_t)((double)dk_now_ms() / 1000.0 - p.start_time)));
    }
    snprintf(path, sizeof(path), "%s/engine", c->node.data_dir);
    json_object_set_new(o, "data_bytes", json_integer((json_int_t)dk__api_disk_bytes(path, 2)));
    json_object_set_new(o, "memtable_bytes", json_integer((json_int_t)st.memtable));
    if (st.have_cache && st.hits + st.misses > 0)
        json_object_set_new(o, "cache_hit_rate", json_share((double)st.hits / (double)(st.hits + st.misses)));
    else
        json_object_set_new(o, "cache_hit_rate", json_null());
    snprintf(path, sizeof(path), "%s/hints", c->node.data_dir);
    json_object_set_new(o, "hints_backlog_bytes", json_integer((json_int_t)dk__api_disk_bytes(path, 1)));
    if (have_proc)
        json_object_set_new(o, "process",
                            json_pack("{s:f, s:I, s:I, s:I}", "cpu_seconds", round(p.cpu_seconds * 100) / 100,
                                      "resident_memory_bytes", (json_int_t)p.resident_bytes, "open_fds",
                                      (json_int_t)p.open_fds, "max_fds", (json_int_t)p.max_fds));
    dk_readiness rd;
    dk_health_evaluate(n, q->api->cluster, &rd);
    json_t *failing = json_array();
    for (size_t i = 0; i < rd.n; i++)
        if (!rd.checks[i].ok)
            json_array_append_new(
                failing, json_pack("{s:s, s:s}", "name", rd.checks[i].name, "message", rd.checks[i].message));
    json_object_set_new(o, "ready", json_boolean(rd.ok));
    json_object_set_new(o, "not_ready", failing);
    json_object_set_new(o, "engine_stats", st.all);
    ops_dump(q, o);
}

/* Worker: GET /readyz, /health. */
static void ops_ready(dk_api_req *q)
{
    dk_readiness r;
    dk_health_evaluate(q->api->node, q->api->cluster, &r);
    int status = dk_health_render(&r, q->api->cfg->node.id, ((ops_req *)q)->verbose, &q->body);
    if (status < 0) {
        dk__api_error(q, 500, "internal", "out of memory rendering readiness");
        return;
    }
    q->status = status;
    q->content_type = "application/json";
}

/* Worker: GET /cluster. */
static void ops_cluster(dk_api_req *q)
{
    q->status = 200;
    q->content_type = "application/json";
    if (dk_cluster_render(q->api->cluster, &q->body) != 0)
        dk__api_error(q, 500, "internal", "cannot describe the cluster");
}

static int ops_path(const dk_http_request *r, const char *p)
{
    return r->path_len == strlen(p) && memcmp(r->path, p, r->path_len) == 0;
}

static int ops_query_has(const dk_http_request *r, const char *name)
{
    char v[8];
    return dk_url_query_get(r->query, r->query_len, name, v, sizeof(v)) != DK_ENOTFOUND;
}

/* GET /ui/: the embedded dashboard, sent from the loop. */
static void ops_ui(ops_req *o, const dk_http_request *r)
{
    dk_api_req *q = &o->q;
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        dk_buf_append_str(&q->headers, "Allow: GET, HEAD\r\n");
        dk__api_fail(q, 405, "method_not_allowed", "use GET /ui/");
        return;
    }
    if (ops_path(r, "/ui")) {
        dk_buf_append_str(&q->headers, "Location: /ui/\r\n");
        dk__api_fail(q, 301, "moved", "the dashboard is at /ui/");
        return;
    }
    /* Scripts and styles are inline; data may come from any member. */
    dk_buf_append_str(&q->headers, "Cache-Control: no-cache\r\n"
                                   "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                                   "style-src 'unsafe-inline'; img-src 'self' data:; connect-src *\r\n"
                                   "X-Content-Type-Options: nosniff\r\n");
    q->status = 200;
    q->content_type = "text/html; charset=utf-8";
    if (dk_buf_append(&q->body, dk_ui_index, dk_ui_index_len) != 0)
        dk__api_error(q, 500, "internal", "out of memory");
    dk__api_send(q);
}

/* /livez, /readyz, /health. */
static void ops_health(ops_req *o, const dk_http_request *r)
{
    dk_api_req *q = &o->q;
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        dk_buf_append_str(&q->headers, "Allow: GET, HEAD\r\n");
        dk__api_fail(q, 405, "method_not_allowed", "use GET on /livez, /readyz or /health");
    } else if (ops_path(r, "/livez")) {
        dk__api_json(q, 200, json_pack("{s:s, s:s}", "status", "ok", "node", q->api->cfg->node.id));
        dk__api_send(q);
    } else {
        o->verbose = ops_query_has(r, "verbose");
        dk__api_on_worker(q, ops_ready);
    }
}

int dk__api_ops(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    static const char endpoints[] = "/cluster/endpoints/";
    size_t elen = sizeof(endpoints) - 1;
    int is_endpoints = r->path_len > elen && memcmp(r->path, endpoints, elen) == 0;
    int is_health = ops_path(r, "/livez") || ops_path(r, "/readyz") || ops_path(r, "/health");
    int is_ui = ops_path(r, "/ui") || ops_path(r, "/ui/") || ops_path(r, "/ui/index.html");
    int is_cluster = ops_path(r, "/cluster");
    int is_view = ops_path(r, "/cluster/ring") || ops_path(r, "/info");
    if (!is_endpoints && !is_health && !is_ui && !is_cluster && !is_view)
        return -1;
    ops_req *o = dk__api_req_new(api, x, sizeof(*o), is_health ? DK_OP_HEALTH : DK_OP_OTHER);
    if (!o)
        return 0;
    dk_api_req *q = &o->q;
    if (is_health) {
        ops_health(o, r);
    } else if (is_ui) {
        ops_ui(o, r);
    } else if (is_cluster) {
        if (r->method != HTTP_GET)
            dk__api_fail(q, 405, "method_not_allowed", "use GET /cluster");
        else
            dk__api_on_worker(q, ops_cluster);
    } else if (is_endpoints) {
        /* The key's and the headers' checks come first, as for /kv/{key}. */
        int strict = 0;
        if (dk__api_key_decode(q, r->path + elen, r->path_len - elen, o->key, &o->key_len) ||
            dk__api_consistency(q, r, NULL, &strict))
            dk__api_send(q);
        else if (r->method != HTTP_GET)
            dk__api_fail(q, 405, "method_not_allowed", "use GET /cluster/endpoints/{key}");
        else
            dk__api_on_worker(q, ops_endpoints);
    } else if (r->method != HTTP_GET) {
        dk__api_fail(q, 405, "method_not_allowed", "use GET");
    } else {
        o->verbose = ops_query_has(r, "ranges");
        dk__api_on_worker(q, ops_path(r, "/info") ? ops_info : ops_ring_view);
    }
    return 0;
}
