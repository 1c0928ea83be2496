/*
 * api.c - see api.h; the loop half of the HTTP API. A request is validated
 * on the loop thread (cheap checks only) and handed to the coordinator;
 * its answer is rendered on the loop (api_worker.c's renderers are pure
 * and bounded: a ~150-byte JSON, or the value itself) and sent with the
 * body taken, not copied. A pool trip to render would cost more than the
 * rendering (two thread hand-offs and the work queue's lock). Only the
 * requests that touch the store in bulk (/admin/local, scans, metrics,
 * /cluster) still go to a worker in a dk_api_job.
 *
 * The request's memory (key, body) stays valid until dk_http_respond, which
 * happens in the after-work callback, so jobs borrow the body rather than
 * copy up to 1 MiB.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "api/api_json.h"
#include "api/ui.h"
#include "cluster/cluster.h"
#include "node/context.h"
#include "http/url.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/object.h"
#include "util/base64.h"
#include "util/vv.h"

#define SCAN_LIMIT_DEFAULT 100
#define SCAN_LIMIT_MAX 1000
#define TTL_MAX_S (100LL * 365 * 24 * 3600)

static void job_send(dk_api_job *j)
{
    dk__api_session_header(j);
    if (j->headers.len)
        dk_buf_append(&j->headers, "", 1);  /* NUL-terminate for the transport */
    dk_http_respond_buf(j->x, j->status, j->content_type, j->headers.len ? (const char *)j->headers.data : NULL,
                        &j->body);
    dk_metrics_request(j->op, j->status, dk_mono_ns() - j->start_ns);
    dk__api_job_free(j);
}

void dk__api_job_send(dk_api_job *j)
{
    job_send(j);
}

/* Loop thread. */
static void job_done(uv_work_t *w, int status)
{
    dk_api_job *j = w->data;
    if (status == UV_ECANCELED)
        dk__api_job_error(j, 503, "shutting_down", "the node is stopping; retry on another node");
    job_send(j);
}

/* ---- loop side: parsing and validation --------------------------------- */

static void reply_now(dk_api_job *j, int status, const char *code, const char *msg)
{
    dk__api_job_error(j, status, code, msg);
    job_send(j);
}

static int header_is(const dk_http_request *r, const char *name, const char *want)
{
    size_t len;
    const char *v = dk_http_header_get(r, name, &len);
    return v && len == strlen(want) && strncasecmp(v, want, len) == 0;
}

/* Parse X-Consistency, X-TTL, X-Context, If-Match, If-None-Match. Returns 0
 * or replies with 400 itself and returns -1. */
static int parse_write_headers(dk_api_job *j, const dk_http_request *r)
{
    size_t len;
    const char *v;
    char err[200], msg[300];
    if ((v = dk_http_header_get(r, "x-ttl", &len))) {
        uint64_t ttl = 0;
        if (dk_parse_decimal(v, len, TTL_MAX_S, &ttl) != 0 || ttl == 0) {
            reply_now(j, 400, "bad_ttl", "X-TTL must be a whole number of seconds from 1 to 3153600000, "
                      "in plain decimal digits");
            return -1;
        }
        j->ttl_ms = (int64_t)ttl * 1000;
    }
    if ((v = dk_http_header_get(r, "x-context", &len)) && len > 0) {
        if (dk_context_decode(j->api->node->context_key, v, len, &j->context, &j->context_is_map, err,
                              sizeof(err)) != 0) {
            snprintf(msg, sizeof(msg), "X-Context is not a context from this store: %s", err);
            reply_now(j, 400, "bad_context", msg);
            return -1;
        }
        j->has_context = 1;
    }
    if ((v = dk_http_header_get(r, "if-match", &len))) {
        j->cond = DK_COND_IF_MATCH;
        if (!(len == 1 && v[0] == '*') &&
            dk_context_decode(j->api->node->context_key, v, len, &j->if_match, NULL, err, sizeof(err)) != 0) {
            snprintf(msg, sizeof(msg), "If-Match must be a context token, a version map or *: %s", err);
            reply_now(j, 400, "bad_context", msg);
            return -1;
        }
    }
    if ((v = dk_http_header_get(r, "if-none-match", &len))) {
        if (!(len == 1 && v[0] == '*')) {
            reply_now(j, 400, "bad_header", "If-None-Match supports only *");
            return -1;
        }
        if (j->cond) {
            reply_now(j, 400, "bad_header", "use either If-Match or If-None-Match, not both");
            return -1;
        }
        j->cond = DK_COND_IF_NONE_MATCH;
    }
    return 0;
}

static int parse_consistency(dk_api_job *j, const dk_http_request *r)
{
    size_t len;
    const char *v = dk_http_header_get(r, "x-consistency", &len);
    j->consistency = DK_CL_DEFAULT;
    if (!v)
        return 0;
    if (len == 3 && strncasecmp(v, "one", 3) == 0)
        j->consistency = DK_CL_ONE;
    else if (len == 6 && strncasecmp(v, "quorum", 6) == 0)
        j->consistency = DK_CL_QUORUM;
    else if (len == 3 && strncasecmp(v, "all", 3) == 0)
        j->consistency = DK_CL_ALL;
    else {
        reply_now(j, 400, "bad_consistency", "X-Consistency must be one, quorum or all");
        return -1;
    }
    return 0;
}

static int parse_quorum(dk_api_job *j, const dk_http_request *r)
{
    size_t len;
    const char *v = dk_http_header_get(r, "x-quorum", &len);
    if (!v)
        return 0;
    if (len == 6 && strncasecmp(v, "strict", 6) == 0)
        j->strict = 1;
    else if (!(len == 6 && strncasecmp(v, "sloppy", 6) == 0)) {
        reply_now(j, 400, "bad_quorum", "X-Quorum must be strict or sloppy");
        return -1;
    }
    return 0;
}

static void dispatch(dk_api_job *j);

/* Origin loop: the coordinator's answer is in the job (copied across
 * loops); render it here, except a scan page, which may be large. */
static void coord_back(void *arg)
{
    dk_api_job *j = arg;
    if (j->kind == JOB_METRICS) {           /* cluster counters collected: render on a worker */
        dispatch(j);
        return;
    }
    if (j->kind == JOB_SCAN) {
        j->kind = JOB_RENDER_SCAN;
        dispatch(j);
        return;
    }
    dk__api_render_coord_raw(j);
    job_send(j);
}

/* Cluster loop: send the job back to its own loop. */
static void coord_return(dk_api_job *j)
{
    if (j->api->loop == j->api->cluster_loop || dk_mailbox_post(j->api->own_mb, &j->mail, coord_back, j) != 0)
        coord_back(j);
}

/* Cluster loop. */
static void coord_done(void *arg, dk_coord_result *r)
{
    dk_api_job *j = arg;
    j->coord_status = r->status;
    j->acks = r->acks;
    j->needed = r->needed;
    j->replicas = r->replicas;
    if (j->api->loop == j->api->cluster_loop) {
        /* The request's own loop: render from the object the coordinator
         * decoded, with no copy of its encoding and no second decode. */
        dk__api_render_coord(j, r->status, dk_buf_slice(&r->raw), r->raw.len ? &r->obj : NULL);
        job_send(j);
        return;
    }
    if (r->raw.len && dk_buf_append(&j->coord_raw, r->raw.data, r->raw.len) != 0)
        j->coord_status = -ENOMEM;
    coord_return(j);
}

/* Cluster loop: a scan page (the job takes it). */
static void scan_done(void *arg, dk_coord_scan_page *page)
{
    dk_api_job *j = arg;
    j->scan_page = page;
    coord_return(j);
}

/* Cluster loop: hand the request to the coordinator. */
static void coord_call(void *arg)
{
    dk_api_job *j = arg;
    dk_coord *co = j->api->cluster->coord;
    dk_slice key = {j->key, j->key_len};
    int rc;
    if (!co) {
        rc = DK_ECLOSED;
    } else if (j->kind == JOB_GET) {
        rc = dk__api_session_get(j, co, coord_done);    /* dk_coord_get, X-Session honoured */
    } else if (j->kind == JOB_SCAN) {
        dk_coord_scan_req sr = {
            .prefix = key, .after = {j->cursor, j->has_cursor ? j->cursor_len : 0},
            .limit = j->limit, .consistency = j->consistency,
        };
        rc = dk_coord_scan(co, &sr, scan_done, j);
    } else {
        dk_coord_write w = {
            .key = key,
            .value = j->value,
            .tombstone = j->kind == JOB_DELETE,
            .context = j->has_context ? &j->context : NULL,
            .context_is_map = j->context_is_map,
            .ttl_ms = j->ttl_ms,
            .cond = j->cond,
            .if_match = j->cond == DK_COND_IF_MATCH && j->if_match.n ? &j->if_match : NULL,
            .consistency = j->consistency,
            .strict = j->strict,
            .type = j->crdt ? DK_OBJECT_CRDT : DK_OBJECT_PLAIN,
        };
        rc = dk_coord_put(co, &w, coord_done, j);
    }
    if (rc) {
        dk_coord_result res = {.status = rc};
        coord_done(j, &res);
    }
}

/* Cluster loop: copy the cluster's counters into the job for GET /metrics,
 * then render it on a worker of the job's own loop. */
static void metrics_collect(void *arg)
{
    dk_api_job *j = arg;
    dk_cluster *c = j->api->cluster;
    dk_api_cluster_stats *cs = &j->cstats;
    cs->collected = 1;
    if (c->rpc) {
        dk_rpc_stats_get(c->rpc, &cs->rpc);
        cs->have_rpc = 1;
    }
    if (c->members) {
        dk_membership_stats_get(c->members, &cs->gossip);
        cs->have_gossip = 1;
        for (size_t i = 0; i < c->n_table; i++)
            if ((unsigned)c->table[i].state <= DK_MEMBER_REMOVED)
                cs->members[c->table[i].state]++;
    }
    cs->ring_version = c->ring_version;
    coord_return(j);
}

/* Origin loop: the answer of /admin/repair is ready. */
static void repair_back(void *arg)
{
    job_send(arg);
}

/* Cluster loop: anti-entropy lives with the coordinator. */
static void repair_call(void *arg)
{
    dk_api_job *j = arg;
    dk__api_repair(j);
    if (j->api->loop == j->api->cluster_loop || dk_mailbox_post(j->api->own_mb, &j->mail, repair_back, j) != 0)
        repair_back(j);
}

static void dispatch(dk_api_job *j)
{
    if (j->api->cluster && j->kind == JOB_METRICS && !j->cstats.collected) {
        if (j->api->loop == j->api->cluster_loop)
            metrics_collect(j);
        else if (dk_mailbox_post(j->api->cluster_mb, &j->mail, metrics_collect, j) != 0)
            reply_now(j, 503, "shutting_down", "the node is stopping; retry on another node");
        return;
    }
    if (j->kind == JOB_REPAIR) {
        if (j->api->loop == j->api->cluster_loop)
            repair_call(j);
        else if (dk_mailbox_post(j->api->cluster_mb, &j->mail, repair_call, j) != 0)
            reply_now(j, 503, "shutting_down", "the node is stopping; retry on another node");
        return;
    }
    if (j->api->cluster && (j->kind == JOB_GET || j->kind == JOB_PUT || j->kind == JOB_DELETE || j->kind == JOB_SCAN)) {
        if (j->api->loop == j->api->cluster_loop)
            coord_call(j);
        else if (dk_mailbox_post(j->api->cluster_mb, &j->mail, coord_call, j) != 0)
            reply_now(j, 503, "shutting_down", "the node is stopping; retry on another node");
        return;
    }
    j->work.data = j;
    int rc = uv_queue_work(j->api->loop, &j->work, dk__api_job_work, job_done);
    if (rc)
        reply_now(j, 503, "overloaded", "cannot queue the request; retry");
}

void dk__api_dispatch(dk_api_job *j)
{
    dispatch(j);
}

static void handle_key(dk_api_job *j, const dk_http_request *r, const char *raw, size_t raw_len)
{
    char msg[160];
    if (raw_len == 0) {
        reply_now(j, 400, "bad_key", "the key is empty: use /kv/{key} with a key of 1 to 256 bytes");
        return;
    }
    char dec[1024];
    if (raw_len > sizeof(dec)) {
        reply_now(j, 400, "key_too_long", "keys are at most 256 bytes after percent-decoding");
        return;
    }
    ssize_t n = dk_url_decode(raw, raw_len, dec, sizeof(dec));
    if (n < 0) {
        reply_now(j, 400, "bad_key", "the key has a malformed percent-escape");
        return;
    }
    if (n == 0) {
        reply_now(j, 400, "bad_key", "the key is empty: use /kv/{key} with a key of 1 to 256 bytes");
        return;
    }
    if ((size_t)n > DK_KEY_MAX) {
        snprintf(msg, sizeof(msg), "the key is %zd bytes; keys are at most 256 bytes after percent-decoding", n);
        reply_now(j, 400, "key_too_long", msg);
        return;
    }
    memcpy(j->key, dec, (size_t)n);
    j->key_len = (size_t)n;
    if (parse_consistency(j, r) || parse_quorum(j, r))
        return;
    if (j->kind != JOB_LOCAL && j->kind != JOB_ENDPOINTS && dk__api_session_parse(j, r))
        return;
    if (j->crdt) {
        if (dk__api_crdt_request(j, r) == 0)
            dispatch(j);
        else
            job_send(j);
        return;
    }
    if (j->kind == JOB_LOCAL || j->kind == JOB_ENDPOINTS) {
        if (r->method != HTTP_GET) {
            reply_now(j, 405, "method_not_allowed", j->kind == JOB_LOCAL ? "use GET /admin/local/{key}"
                                                                         : "use GET /cluster/endpoints/{key}");
            return;
        }
        dispatch(j);
        return;
    }
    switch (r->method) {
    case HTTP_GET:
        j->kind = JOB_GET;
        j->op = DK_OP_GET;
        j->raw_read = header_is(r, "accept", "application/octet-stream");
        break;
    case HTTP_PUT:
        j->kind = JOB_PUT;
        j->op = DK_OP_PUT;
        if (!dk_http_header_get(r, "content-length", NULL) && !dk_http_header_get(r, "transfer-encoding", NULL)) {
            reply_now(j, 411, "length_required", "send the value with Content-Length or chunked transfer encoding");
            return;
        }
        if (r->body.len > DK_VALUE_MAX) {
            reply_now(j, 413, "value_too_large", "values are at most 1 MiB (1048576 bytes)");
            return;
        }
        if (r->body.len > j->api->cfg->storage.max_object_size) {
            dk__api_job_store_error(j, DK_ETOOBIG);
            job_send(j);
            return;
        }
        j->value = r->body;
        if (parse_write_headers(j, r))
            return;
        break;
    case HTTP_DELETE:
        j->kind = JOB_DELETE;
        j->op = DK_OP_DELETE;
        if (parse_write_headers(j, r))
            return;
        if (j->ttl_ms) {
            reply_now(j, 400, "bad_ttl", "X-TTL applies to PUT only");
            return;
        }
        break;
    default:
        dk_buf_append_str(&j->headers, "Allow: GET, PUT, DELETE\r\n");
        reply_now(j, 405, "method_not_allowed", "use GET, PUT or DELETE on /kv/{key}");
        return;
    }
    dispatch(j);
}

static void handle_scan(dk_api_job *j, const dk_http_request *r)
{
    j->op = DK_OP_SCAN;
    if (r->method != HTTP_GET) {
        dk_buf_append_str(&j->headers, "Allow: GET\r\n");
        reply_now(j, 405, "method_not_allowed", "scan with GET /kv?prefix=P&limit=N&cursor=C");
        return;
    }
    char buf[1024];
    ssize_t n = dk_url_query_get(r->query, r->query_len, "prefix", buf, sizeof(buf));
    if ((n < 0 && n != DK_ENOTFOUND) || n > (ssize_t)DK_KEY_MAX) {
        reply_now(j, 400, "bad_prefix", "prefix must be percent-encoded and at most 256 bytes");
        return;
    }
    if (n > 0) {
        memcpy(j->key, buf, (size_t)n);
        j->key_len = (size_t)n;
    }
    j->limit = SCAN_LIMIT_DEFAULT;
    n = dk_url_query_get(r->query, r->query_len, "limit", buf, sizeof(buf));
    if (n != DK_ENOTFOUND) {
        uint64_t v = 0;
        if (n < 0 || dk_parse_decimal(buf, (size_t)n, SCAN_LIMIT_MAX, &v) != 0 || v < 1) {
            reply_now(j, 400, "bad_limit", "limit must be a whole number from 1 to 1000, in plain decimal digits");
            return;
        }
        j->limit = (uint32_t)v;
    }
    n = dk_url_query_get(r->query, r->query_len, "cursor", buf, sizeof(buf));
    if (n > 0) {
        uint8_t dec[sizeof(buf) / 4 * 3 + 3];
        size_t bad;
        long d = dk_base64_decode(buf, (size_t)n, DK_B64_URL, dec, &bad);
        if (d <= 0 || d > (long)DK_KEY_MAX) {
            reply_now(j, 400, "bad_cursor", "cursor must be a value returned by an earlier scan");
            return;
        }
        memcpy(j->cursor, dec, (size_t)d);
        j->cursor_len = (size_t)d;
        j->has_cursor = 1;
    } else if (n != DK_ENOTFOUND && n != 0) {
        reply_now(j, 400, "bad_cursor", "cursor must be a value returned by an earlier scan");
        return;
    }
    if (parse_consistency(j, r) || dk__api_session_parse(j, r))
        return;
    j->kind = JOB_SCAN;
    dispatch(j);
}

/* GET /admin/repair: progress and the last exchanges; POST
 * /admin/repair[?prefix=P]: start a repair (api_repair.c answers). */
static void handle_repair(dk_api_job *j, const dk_http_request *r)
{
    if (r->method != HTTP_GET && r->method != HTTP_POST) {
        dk_buf_append_str(&j->headers, "Allow: GET, POST\r\n");
        reply_now(j, 405, "method_not_allowed", "GET /admin/repair shows progress; POST /admin/repair[?prefix=P] starts one");
        return;
    }
    if (!j->api->cluster) {
        reply_now(j, 404, "not_found", "anti-entropy runs only in cluster mode");
        return;
    }
    char buf[1024];
    ssize_t n = dk_url_query_get(r->query, r->query_len, "prefix", buf, sizeof(buf));
    if (r->method == HTTP_POST && ((n < 0 && n != DK_ENOTFOUND) || n > (ssize_t)DK_KEY_MAX)) {
        reply_now(j, 400, "bad_prefix", "prefix must be percent-encoded and at most 256 bytes");
        return;
    }
    if (r->method == HTTP_POST && n > 0) {
        memcpy(j->key, buf, (size_t)n);
        j->key_len = (size_t)n;
    }
    j->repair_post = r->method == HTTP_POST;
    j->kind = JOB_REPAIR;
    dispatch(j);
}

/* GET /livez: the loop answers, so the process serves. Loop thread. */
static void handle_livez(dk_api_job *j)
{
    json_t *o = json_pack("{s:s, s:s}", "status", "ok", "node", j->api->cfg->node.id);
    dk__api_job_json(j, 200, o);
    job_send(j);
}

/* GET /readyz and its legacy alias /health: the checks run on a worker
 * (the engine's stats may take its locks). */
static void handle_readyz(dk_api_job *j, const dk_http_request *r)
{
    char v[8];
    j->verbose = dk_url_query_get(r->query, r->query_len, "verbose", v, sizeof(v)) != DK_ENOTFOUND;
    j->kind = JOB_READY;
    dispatch(j);
}

static int path_is(const dk_http_request *r, const char *p)
{
    return r->path_len == strlen(p) && memcmp(r->path, p, r->path_len) == 0;
}

/* GET /ui/: the embedded dashboard; static bytes, sent from the loop. */
static void handle_ui(dk_api_job *j, const dk_http_request *r)
{
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        dk_buf_append_str(&j->headers, "Allow: GET, HEAD\r\n");
        reply_now(j, 405, "method_not_allowed", "use GET /ui/");
        return;
    }
    if (path_is(r, "/ui")) {
        dk_buf_append_str(&j->headers, "Location: /ui/\r\n");
        reply_now(j, 301, "moved", "the dashboard is at /ui/");
        return;
    }
    /* Scripts and styles are inline; data may come from any member. */
    dk_buf_append_str(&j->headers, "Cache-Control: no-cache\r\n"
                      "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                      "style-src 'unsafe-inline'; img-src 'self' data:; connect-src *\r\n"
                      "X-Content-Type-Options: nosniff\r\n");
    j->status = 200;
    j->content_type = "text/html; charset=utf-8";
    if (dk_buf_append(&j->body, dk_ui_index, dk_ui_index_len) != 0)
        dk__api_job_error(j, 500, "internal", "out of memory");
    job_send(j);
}

void dk_api_handle(void *arg, dk_http_exchange *x, const dk_http_request *r)
{
    dk_api *api = arg;
    dk_api_job *j = calloc(1, sizeof(*j));
    if (!j) {
        dk_http_respond_error(x, 503, "overloaded", "out of memory");
        return;
    }
    j->api = api;
    j->x = x;
    j->start_ns = dk_mono_ns();
    j->op = DK_OP_OTHER;
    dk_vv_init(&j->context);
    dk_vv_init(&j->if_match);
    if (api->auth && dk__api_authorize(j, r) != 0)
        return;

    if (r->path_len >= 4 && memcmp(r->path, "/kv/", 4) == 0) {
        handle_key(j, r, r->path + 4, r->path_len - 4);
    } else if (r->path_len >= 6 && memcmp(r->path, "/crdt/", 6) == 0) {
        j->crdt = 1;
        handle_key(j, r, r->path + 6, r->path_len - 6);
    } else if (r->path_len >= 13 && memcmp(r->path, "/admin/local/", 13) == 0) {
        /* This node's own replica, bypassing coordination (debugging, tests). */
        j->kind = JOB_LOCAL;
        j->op = DK_OP_GET;
        handle_key(j, r, r->path + 13, r->path_len - 13);
    } else if (dk__api_snapshot(j, r) == 0 || dk__api_loglevel(j, r) == 0 || dk__api_maint(j, r) == 0) {
        /* /admin/snapshots (api_snapshot.c), /admin/loglevel (api_loglevel.c),
         * /admin/compact|flush|drain (api_maint.c) */
    } else if (r->path_len > 7 && memcmp(r->path, "/admin/", 7) == 0 && dk__api_admin(j, r) == 0) {
        /* ring-move verbs (admin.c) */
    } else if (path_is(r, "/cluster")) {
        j->op = DK_OP_OTHER;
        if (r->method != HTTP_GET) {
            reply_now(j, 405, "method_not_allowed", "use GET /cluster");
            return;
        }
        j->kind = JOB_CLUSTER;
        dispatch(j);
    } else if (r->path_len >= 20 && memcmp(r->path, "/cluster/endpoints/", 19) == 0) {
        j->kind = JOB_ENDPOINTS;
        handle_key(j, r, r->path + 19, r->path_len - 19);
    } else if (path_is(r, "/cluster/ring") || path_is(r, "/info")) {
        if (r->method != HTTP_GET) {
            reply_now(j, 405, "method_not_allowed", "use GET");
            return;
        }
        char v[8];
        j->kind = path_is(r, "/info") ? JOB_INFO : JOB_RING;
        j->verbose = dk_url_query_get(r->query, r->query_len, "ranges", v, sizeof(v)) != DK_ENOTFOUND;
        dispatch(j);
    } else if (path_is(r, "/ui") || path_is(r, "/ui/") || path_is(r, "/ui/index.html")) {
        handle_ui(j, r);
    } else if (path_is(r, "/kv")) {
        handle_scan(j, r);
    } else if (path_is(r, "/admin/repair")) {
        handle_repair(j, r);
    } else if (path_is(r, "/livez") || path_is(r, "/readyz") || path_is(r, "/health")) {
        j->op = DK_OP_HEALTH;
        if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
            dk_buf_append_str(&j->headers, "Allow: GET, HEAD\r\n");
            reply_now(j, 405, "method_not_allowed", "use GET on /livez, /readyz or /health");
        } else if (path_is(r, "/livez")) {
            handle_livez(j);
        } else {
            handle_readyz(j, r);
        }
    } else if (path_is(r, "/metrics")) {
        j->op = DK_OP_METRICS;
        if (r->method == HTTP_OPTIONS) {
            /* The dashboard's preflight before it sends a token to another member. */
            dk_buf_append_str(&j->headers, "Access-Control-Allow-Origin: *\r\n"
                              "Access-Control-Allow-Methods: GET\r\nAccess-Control-Allow-Headers: Authorization\r\n"
                              "Access-Control-Max-Age: 600\r\n");
            j->status = 204;
            job_send(j);
            return;
        }
        if (r->method != HTTP_GET) {
            reply_now(j, 405, "method_not_allowed", "use GET /metrics");
            return;
        }
        j->kind = JOB_METRICS;
        dispatch(j);
    } else {
        reply_now(j, 404, "not_found", "unknown path: the API is /kv/{key}, /kv?prefix=, /crdt/{key}, /livez, /readyz, "
                  "/health, /metrics, /info, /ui/, /cluster, /cluster/ring, /cluster/endpoints/{key}, /admin/local/{key}, "
                  "/admin/repair, /admin/streams, /admin/snapshots, /admin/loglevel, and POST /admin/compact, /admin/flush, /admin/drain, /admin/decommission, /admin/remove/{id}, "
                  "/admin/cleanup");
    }
}
