/*
 * api.c - see api.h; the router of the HTTP API and what every route
 * shares (api_int.h): a route's state starts with a dk_api_req, whose
 * answer is sent with its body taken, not copied, and which may hop to a
 * worker (dk__api_on_worker: what blocks on I/O or walks the store) or
 * to the cluster loop and back (dk__api_on_cluster / dk__api_back: what
 * reads the cluster's state, which lives there).
 *
 * The request's memory (key, body) stays valid until dk_http_respond, so
 * routes borrow the body rather than copy up to 1 MiB.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "api/api_json.h"
#include "cluster/leaver.h"
#include "coord/coordinator.h"
#include "http/url.h"
#include "base/log.h"

static const char *const json_ctype = "application/json";

/* ---- the answer ---------------------------------------------------------- */

/*
 * The route-state pool: every GET and PUT allocates a dk_api_kv (824
 * bytes), its answer-header buffer and, for the X-Session it answers
 * with, a session state of 16 version vectors. A finished /kv request's
 * state goes back to its loop's pool with those (buffers up to
 * API_POOL_BUF_MAX, the session's vectors as they are), and the next
 * request takes it zeroed but for them. Only the loop's own thread
 * touches its pool: a send that runs elsewhere (a stopping node's
 * fallback) frees instead.
 */
#define DK_API_POOL_MAX 64
#define API_POOL_BUF_MAX 4096

static int api_pool_here(dk_api *api)
{
    return api->pool_thread_set && pthread_equal(api->pool_thread, pthread_self());
}

/* Keep a buffer's memory for the next request, or free it when large. */
static void api_buf_keep(dk_buf *b)
{
    if (b->cap > API_POOL_BUF_MAX)
        dk_buf_free(b);
    else
        b->len = 0;
}

void *dk__api_req_new(dk_api *api, dk_http_exchange *x, size_t size, dk_op op)
{
    dk_api_req *q;
    if (!api->pool_thread_set) {
        api->pool_thread = pthread_self();
        api->pool_thread_set = 1;
    }
    if (size == sizeof(dk_api_kv) && api->pool && api_pool_here(api)) {
        q = api->pool;
        api->pool = q->pool_next;
        api->pooled--;
        dk_buf headers = q->headers, body = q->body;
        struct dk_api_session *spare = q->spare;
        memset(q, 0, size);
        q->headers = headers;
        q->body = body;
        q->spare = spare;
    } else if (!(q = calloc(1, size))) {
        dk_http_respond_error(x, 503, "overloaded", "out of memory");
        return NULL;
    }
    q->api = api;
    q->size = size;
    q->x = x;
    q->op = op;
    q->start_ns = dk_mono_ns();
    return q;
}

/* Free q and what it holds (a pooled or an unpoolable request). */
static void api_req_destroy(dk_api_req *q)
{
    dk__api_session_drop_spare(q);
    dk_buf_free(&q->headers);
    dk_buf_free(&q->body);
    free(q);
}

/* q's memory after its answer: into the pool, or freed. */
static void api_req_end(dk_api_req *q)
{
    dk_api *api = q->api;
    dk__api_session_free(q);
    if (q->size == sizeof(dk_api_kv) && api->pooled < DK_API_POOL_MAX && api_pool_here(api)) {
        api_buf_keep(&q->headers);
        api_buf_keep(&q->body);
        q->pool_next = api->pool;
        api->pool = q;
        api->pooled++;
        return;
    }
    api_req_destroy(q);
}

void dk_api_pool_free(dk_api *api)
{
    while (api->pool) {
        dk_api_req *q = api->pool;
        api->pool = q->pool_next;
        api_req_destroy(q);
    }
    api->pooled = 0;
}

/* 1 when s needs no JSON escaping: printable ASCII without '"' or '\\'
 * (every fixed code and message; a message that quotes a client's text
 * may not be). */
static int api_plain(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s >= 0x7f || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

void dk__api_error(dk_api_req *q, int status, const char *code, const char *msg)
{
    q->status = status;
    q->content_type = json_ctype;
    dk_buf_reset(&q->body);
    /* What jansson would write, without building and dumping an object:
     * a 404's body was a fifth of its instructions (10 allocations). */
    dk_buf *b = &q->body;
    size_t plain_len = sizeof("{\"error\":\"\",\"message\":\"\"}") + strlen(code) + strlen(msg);
    if (api_plain(code) && api_plain(msg) && !dk_buf_reserve(b, plain_len) &&
        !dk_buf_append_str(b, "{\"error\":\"") && !dk_buf_append_str(b, code) &&
        !dk_buf_append_str(b, "\",\"message\":\"") && !dk_buf_append_str(b, msg) &&
        !dk_buf_append_str(b, "\"}"))
        return;
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
    dk_buf_reset(&q->body);
    if (!o || dk_json_dump(o, &q->body) != 0) {
        dk_buf_reset(&q->body);
        dk_buf_append_str(&q->body, "{\"error\":\"internal\",\"message\":\"out of memory\"}");
        q->status = 500;
    }
    json_decref(o);
}

void dk__api_json(dk_api_req *q, int status, json_t *o)
{
    q->status = status;
    q->content_type = json_ctype;
    dk_buf_reset(&q->body);
    if (!o || dk_json_dump(o, &q->body) != 0)
        dk__api_error(q, 500, "internal", "out of memory rendering the response");
    json_decref(o);
}

void dk__api_send(dk_api_req *q)
{
    dk__api_session_header(q);
    if (q->headers.len)
        dk_buf_append(&q->headers, "", 1); /* NUL-terminate for the transport */
    const char *headers = q->headers.len ? (const char *)q->headers.data : NULL;
    /* Counted before it is written: a client that has the answer finds it
     * in /metrics, which another loop thread may serve at once. */
    dk_metrics_request(q->op, q->status, dk_mono_ns() - q->start_ns);
    if (q->body_ref.len) /* lent: the transport copies it only if it cannot write it at once */
        dk_http_respond(q->x, q->status, q->content_type, headers, q->body_ref.ptr, q->body_ref.len);
    else
        dk_http_respond_buf(q->x, q->status, q->content_type, headers, &q->body);
    if (q->release)
        q->release(q);
    api_req_end(q);
}

void dk__api_fail(dk_api_req *q, int status, const char *code, const char *msg)
{
    dk__api_error(q, status, code, msg);
    dk__api_send(q);
}

void dk__api_store_error(dk_api_req *q, int rc, const dk_api_acks *a)
{
    static const dk_api_acks none;
    char msg[256];
    if (!a)
        a = &none;
    switch (rc) {
    case DK_ENOTFOUND: dk__api_error(q, 404, "not_found", "no value is stored under this key"); break;
    case DK_EPRECOND:
        dk__api_error(q, 412, "precondition_failed",
                      "the stored version differs from If-Match (or the key exists, for If-None-Match: *); "
                      "read the key again and retry with its context");
        break;
    case -EOVERFLOW:
        dk__api_error(q, 409, "version_exhausted",
                      "a version counter of this key is at its maximum, so this node cannot version another "
                      "write of it; "
                      "write it through another node");
        break;
    case DK_ETOOBIG:
        snprintf(msg, sizeof(msg),
                 "the write would make the stored object (all its siblings together) larger than "
                 "max_object_size (%llu bytes); resolve the siblings: GET the key and write with its context",
                 (unsigned long long)q->api->cfg->storage.max_object_size);
        dk__api_error(q, 413, "object_too_large", msg);
        break;
    case DK_ESIBLINGS:
        snprintf(msg, sizeof(msg),
                 "the write would keep more than %d concurrent values; read the key and write the resolved "
                 "value with its context",
                 q->api->cfg->cluster.max_siblings);
        dk__api_error(q, 409, "too_many_siblings", msg);
        break;
    case DK_EUNAVAILABLE: {
        /* A write that failed here is not rolled back where it landed
         * (Dynamo's rule): the replicas that took it keep it and pass it
         * on, so it may still win against later writes. Say so, as the
         * 504 does, rather than let a client take 503 for "not written". */
        json_t *o = json_object();
        snprintf(msg, sizeof(msg),
                 a->write
                     ? "only %d of %d replicas acknowledged, %d needed; the write may still apply (the "
                       "replicas that took it keep it); retry with the same context, or use a lower "
                       "X-Consistency"
                     : "only %d of %d replicas acknowledged, %d needed; retry, or use a lower X-Consistency",
                 a->acks, a->replicas, a->needed);
        json_object_set_new(o, "error", json_string("unavailable"));
        json_object_set_new(o, "message", json_string(msg));
        json_object_set_new(o, "acks", json_integer(a->acks));
        json_object_set_new(o, "needed", json_integer(a->needed));
        json_object_set_new(o, "replicas", json_integer(a->replicas));
        if (a->write)
            json_object_set_new(o, "may_apply", json_true());
        dk__api_json(q, 503, o);
        break;
    }
    case DK_ETIMEOUT:
        snprintf(msg, sizeof(msg),
                 "replicas did not answer in time (%d of %d needed answered); the write may still apply",
                 a->acks, a->needed);
        dk__api_error(q, 504, "timeout", msg);
        break;
    case DK_EREADONLY:
        dk__api_error(q, 503, "read_only",
                      "the node does not accept writes now (a disk error, or a full "
                      "disk or descriptor table it retries on its own; GET /readyz says which); see its log");
        break;
    case -ENOSPC:
    case -EDQUOT:
        dk__api_error(q, 507, "insufficient_storage",
                      "the node's disk is full: the write was not stored; "
                      "writes resume on their own once space is freed");
        break;
    case -EMFILE:
    case -ENFILE:
        dk__api_error(q, 503, "out_of_descriptors",
                      "the node ran out of file descriptors: the write was "
                      "not stored; retry later");
        break;
    case DK_ECORRUPT:
        dk__api_error(q, 500, "corrupt", "the stored value failed its checksum; see the node's log");
        break;
    case DK_EWRONGTYPE:
        dk__api_error(q, 409, "crdt_key", "this key holds a CRDT: use GET or POST /crdt/{key}");
        break;
    default:
        snprintf(msg, sizeof(msg), "storage error: %s", dk_strerror(rc));
        dk__api_error(q, 500, "internal", msg);
        break;
    }
}

/* ---- hops ------------------------------------------------------------------ */

static void worker_run(uv_work_t *w)
{
    dk_api_req *q = w->data;
    q->step(q);
}

static void worker_done(uv_work_t *w, int status)
{
    dk_api_req *q = w->data;
    if (status == UV_ECANCELED)
        dk__api_error(q, 503, "shutting_down", "the node is stopping; retry on another node");
    dk__api_send(q);
}

void dk__api_on_worker(dk_api_req *q, dk_api_step step)
{
    q->step = step;
    q->work.data = q;
    if (uv_queue_work(q->api->loop, &q->work, worker_run, worker_done))
        dk__api_fail(q, 503, "overloaded", "cannot queue the request; retry");
}

static void cluster_run(void *arg)
{
    dk_api_req *q = arg;
    q->step(q);
}

void dk__api_on_cluster(dk_api_req *q, dk_api_step step)
{
    q->step = step;
    if (q->api->loop == q->api->cluster_loop)
        step(q);
    else if (dk_mailbox_post(q->api->cluster_mb, &q->mail, cluster_run, q) != 0)
        dk__api_fail(q, 503, "shutting_down", "the node is stopping; retry on another node");
}

static void origin_run(void *arg)
{
    dk_api_req *q = arg;
    if (q->then)
        q->then(q);
    else
        dk__api_send(q);
}

void dk__api_back(dk_api_req *q, dk_api_step then)
{
    q->then = then;
    if (q->api->loop == q->api->cluster_loop || dk_mailbox_post(q->api->own_mb, &q->mail, origin_run, q) != 0)
        origin_run(q);
}

/* ---- shared parsing ---------------------------------------------------------- */

int dk__api_key_decode(dk_api_req *q, const char *raw, size_t raw_len, uint8_t *key, size_t *key_len)
{
    char msg[160], dec[1024];
    if (raw_len == 0) {
        dk__api_error(q, 400, "bad_key", "the key is empty: use /kv/{key} with a key of 1 to 256 bytes");
        return -1;
    }
    if (raw_len > sizeof(dec)) {
        dk__api_error(q, 400, "key_too_long", "keys are at most 256 bytes after percent-decoding");
        return -1;
    }
    ssize_t n = dk_url_decode(raw, raw_len, dec, sizeof(dec));
    if (n < 0) {
        dk__api_error(q, 400, "bad_key", "the key has a malformed percent-escape");
        return -1;
    }
    if (n == 0) {
        dk__api_error(q, 400, "bad_key", "the key is empty: use /kv/{key} with a key of 1 to 256 bytes");
        return -1;
    }
    if ((size_t)n > DK_KEY_MAX) {
        snprintf(msg, sizeof(msg), "the key is %zd bytes; keys are at most 256 bytes after percent-decoding",
                 n);
        dk__api_error(q, 400, "key_too_long", msg);
        return -1;
    }
    memcpy(key, dec, (size_t)n);
    *key_len = (size_t)n;
    return 0;
}

int dk__api_consistency(dk_api_req *q, const dk_http_request *r, int *cl, int *strict)
{
    size_t len;
    const char *v = dk_http_header_get(r, "x-consistency", &len);
    int c = DK_CL_DEFAULT;
    if (!v) {
        /* the default */
    } else if (len == 3 && strncasecmp(v, "one", 3) == 0) {
        c = DK_CL_ONE;
    } else if (len == 6 && strncasecmp(v, "quorum", 6) == 0) {
        c = DK_CL_QUORUM;
    } else if (len == 3 && strncasecmp(v, "all", 3) == 0) {
        c = DK_CL_ALL;
    } else {
        dk__api_error(q, 400, "bad_consistency", "X-Consistency must be one, quorum or all");
        return -1;
    }
    if (cl)
        *cl = c;
    if (!strict)
        return 0;
    v = dk_http_header_get(r, "x-quorum", &len);
    if (!v)
        return 0;
    if (len == 6 && strncasecmp(v, "strict", 6) == 0) {
        *strict = 1;
    } else if (!(len == 6 && strncasecmp(v, "sloppy", 6) == 0)) {
        dk__api_error(q, 400, "bad_quorum", "X-Quorum must be strict or sloppy");
        return -1;
    }
    return 0;
}

/* ---- the router ------------------------------------------------------------------ */

static int path_under(const dk_http_request *r, const char *p, size_t n)
{
    return r->path_len >= n && memcmp(r->path, p, n) == 0;
}

static int path_is(const dk_http_request *r, const char *p)
{
    return r->path_len == strlen(p) && memcmp(r->path, p, r->path_len) == 0;
}

static void not_found(dk_api *api, dk_http_exchange *x)
{
    dk_api_req *q = dk__api_req_new(api, x, sizeof(*q), DK_OP_OTHER);
    if (q)
        dk__api_fail(q, 404, "not_found",
                     "unknown path: the API is /kv/{key}, /kv?prefix=, /crdt/{key}, /livez, /readyz, "
                     "/health, /metrics, /info, /ui/, /cluster, /cluster/ring, /cluster/endpoints/{key}, "
                     "/admin/local/{key}, "
                     "/admin/repair, /admin/streams, /admin/snapshots, /admin/loglevel, and POST "
                     "/admin/compact, /admin/flush, /admin/drain, /admin/decommission, /admin/remove/{id}, "
                     "/admin/cleanup");
}

/* A node that is left serves no data (cluster/leaver.h). */
static void left_refuse(dk_api *api, dk_http_exchange *x)
{
    dk_api_req *q = dk__api_req_new(api, x, sizeof(*q), DK_OP_OTHER);
    if (!q)
        return;
    char msg[300];
    snprintf(msg, sizeof(msg),
             "node %s is left (decommissioned): it serves no data; send the request to another member "
             "(GET /cluster lists them)",
             api->cfg->node.id);
    dk__api_fail(q, 503, "left", msg);
}

void dk_api_handle(void *arg, dk_http_exchange *x, const dk_http_request *r)
{
    dk_api *api = arg;
    if (api->auth && dk__api_authorize(api, x, r) != 0)
        return;
    if ((path_under(r, "/kv/", 4) || path_under(r, "/crdt/", 6) || path_is(r, "/kv")) &&
        dk_cluster_left(api->cluster)) {
        left_refuse(api, x);
        return;
    }
    if (path_under(r, "/kv/", 4))
        dk__api_kv(api, x, r, DK_API_KV);
    else if (path_under(r, "/crdt/", 6))
        dk__api_kv(api, x, r, DK_API_KV_CRDT);
    else if (path_is(r, "/kv"))
        dk__api_scan(api, x, r);
    else if (path_is(r, "/metrics"))
        dk__api_metrics(api, x, r);
    else if ((path_under(r, "/admin/", 7) && dk__api_admin(api, x, r) == 0) || dk__api_ops(api, x, r) == 0)
        return;
    else
        not_found(api, x);
}
