/*
 * kv.c - GET, PUT and DELETE /kv/{key} from parse to answer, the same for
 * /crdt/{key} (whose JSON operations api_crdt.c turns into a write, and
 * whose answers it renders), and GET /admin/local/{key}, this node's own
 * copy read from its store without coordination (debugging, tests).
 *
 * A request is checked on its loop thread (kv_request is the one place
 * the route reads request headers) and handed to a coordinator: the
 * loop's own (cluster.h, dk_cluster_coord_here) for a plain read or
 * write, else the one on the cluster loop. It is answered where the
 * coordinator's callback runs: when that is the request's own loop, from
 * the object the coordinator decoded, with no copy of its encoding and no
 * second decode; otherwise the encoding crosses back as bytes and is
 * decoded once there. The counter coord_loop<i>_requests_total says how
 * many requests loop i coordinated. Rendering is bounded (a ~150-byte JSON, or the
 * value itself for Accept: application/octet-stream), so it stays on the
 * loop: a pool trip would cost more than the rendering. A raw value is
 * not copied: it is lent to the transport, which writes it at once (one
 * writev of the head and the value) or copies it only when it must wait.
 *
 * Answers: 200 with {"key","value"(base64),"version","timestamp",
 * "context"} or, with siblings, {"key","values","conflict":true,...}; the
 * raw value with Accept: application/octet-stream (300 and the JSON when
 * there are siblings); writes 200 {"key","version","timestamp","context"}
 * or {"deleted":true}; every answer that knows the object carries its
 * context token in X-Context. Errors as DESIGN.md section 7 lists them.
 * Every /kv and /crdt answer carries X-Ring (and X-Coordinator when this
 * node is not a replica of the key), set as the request arrives (api_ring.c).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "api/api_json.h"
#include "cluster/cluster.h"
#include "coord/coordinator.h"
#include "node/context.h"
#include "node/store.h"
#include "base/log.h"

#define TTL_MAX_S (100LL * 365 * 24 * 3600)

static void kv_release(dk_api_req *q)
{
    dk_api_kv *k = (dk_api_kv *)q;
    dk_vv_free(&k->context);
    dk_vv_free(&k->if_match);
    dk_buf_free(&k->crdt_op);
    dk_buf_free(&k->coord_raw);
}

/* ---- the request ----------------------------------------------------------- */

static int header_is(const dk_http_request *r, const char *name, const char *want)
{
    size_t len;
    const char *v = dk_http_header_get(r, name, &len);
    return v && len == strlen(want) && strncasecmp(v, want, len) == 0;
}

/* X-TTL, X-Context, If-Match, If-None-Match of a write. */
static int kv_write_headers(dk_api_kv *k, const dk_http_request *r)
{
    const uint8_t *ckey = k->q.api->node->context_key;
    size_t len;
    const char *v;
    char err[200], msg[300];
    if ((v = dk_http_header_get(r, "x-ttl", &len))) {
        uint64_t ttl = 0;
        if (dk_parse_decimal(v, len, TTL_MAX_S, &ttl) != 0 || ttl == 0) {
            dk__api_error(&k->q, 400, "bad_ttl",
                          "X-TTL must be a whole number of seconds from 1 to 3153600000, "
                          "in plain decimal digits");
            return -1;
        }
        k->ttl_ms = (int64_t)ttl * 1000;
    }
    if ((v = dk_http_header_get(r, "x-context", &len)) && len > 0) {
        if (dk_context_decode(ckey, v, len, &k->context, &k->context_is_map, err, sizeof(err)) != 0) {
            snprintf(msg, sizeof(msg), "X-Context is not a context from this store: %s", err);
            dk__api_error(&k->q, 400, "bad_context", msg);
            return -1;
        }
        k->has_context = 1;
    }
    if ((v = dk_http_header_get(r, "if-match", &len))) {
        k->cond = DK_COND_IF_MATCH;
        if (!(len == 1 && v[0] == '*') &&
            dk_context_decode(ckey, v, len, &k->if_match, NULL, err, sizeof(err)) != 0) {
            snprintf(msg, sizeof(msg), "If-Match must be a context token, a version map or *: %s", err);
            dk__api_error(&k->q, 400, "bad_context", msg);
            return -1;
        }
    }
    if ((v = dk_http_header_get(r, "if-none-match", &len))) {
        if (!(len == 1 && v[0] == '*')) {
            dk__api_error(&k->q, 400, "bad_header", "If-None-Match supports only *");
            return -1;
        }
        if (k->cond) {
            dk__api_error(&k->q, 400, "bad_header", "use either If-Match or If-None-Match, not both");
            return -1;
        }
        k->cond = DK_COND_IF_NONE_MATCH;
    }
    return 0;
}

static void kv_error(dk_api_kv *k, int rc);

/* The request's headers, the one place this route reads them: X-Consistency
 * and X-Quorum, then the method and the headers that apply to it. 0, or -1
 * with the error answer set. */
static int kv_request(dk_api_kv *k, const dk_http_request *r)
{
    if (dk__api_consistency(&k->q, r, &k->consistency, &k->strict))
        return -1;
    if (k->route != DK_API_KV_LOCAL && dk__api_session_parse(&k->q, r))
        return -1;
    if (k->route == DK_API_KV_CRDT)
        return dk__api_crdt_request(k, r);
    if (k->route == DK_API_KV_LOCAL) {
        if (r->method == HTTP_GET)
            return 0;
        dk__api_error(&k->q, 405, "method_not_allowed", "use GET /admin/local/{key}");
        return -1;
    }
    switch (r->method) {
    case HTTP_GET:
        k->q.op = DK_OP_GET;
        k->raw_read = header_is(r, "accept", "application/octet-stream");
        return 0;
    case HTTP_PUT:
        k->q.op = DK_OP_PUT;
        k->write = 1;
        if (!dk_http_header_get(r, "content-length", NULL) &&
            !dk_http_header_get(r, "transfer-encoding", NULL)) {
            dk__api_error(&k->q, 411, "length_required",
                          "send the value with Content-Length or chunked transfer encoding");
            return -1;
        }
        if (r->body.len > DK_VALUE_MAX) {
            dk__api_error(&k->q, 413, "value_too_large", "values are at most 1 MiB (1048576 bytes)");
            return -1;
        }
        if (r->body.len > k->q.api->cfg->storage.max_object_size) {
            kv_error(k, DK_ETOOBIG);
            return -1;
        }
        k->value = r->body;
        return kv_write_headers(k, r);
    case HTTP_DELETE:
        k->q.op = DK_OP_DELETE;
        k->write = k->tombstone = 1;
        if (kv_write_headers(k, r))
            return -1;
        if (k->ttl_ms) {
            dk__api_error(&k->q, 400, "bad_ttl", "X-TTL applies to PUT only");
            return -1;
        }
        return 0;
    default:
        dk_buf_append_str(&k->q.headers, "Allow: GET, PUT, DELETE\r\n");
        dk__api_error(&k->q, 405, "method_not_allowed", "use GET, PUT or DELETE on /kv/{key}");
        return -1;
    }
}

/* ---- the answer -------------------------------------------------------------- */

static void kv_error(dk_api_kv *k, int rc)
{
    if (rc == DK_EPRECOND && k->context_is_map && k->cond != DK_COND_IF_NONE_MATCH)
        dk__api_error(
            &k->q, 412, "precondition_failed",
            "the version map names versions the stored object does not have (a JSON context is checked "
            "against the stored version, or must equal it for If-Match); read the key again and retry "
            "with its context token");
    else
        dk__api_store_error(&k->q, rc, &k->acks);
}

/* Where the context token is in the answer's headers. */
typedef struct kv_tok {
    size_t at, len; /* len 0: none */
} kv_tok;

/* X-Context: the token of vv, encoded straight into the answer's headers
 * (no buffer of its own); *tok locates it there for the JSON. */
static int kv_context(dk_api_kv *k, const dk_vv *vv, kv_tok *tok)
{
    dk_buf *h = &k->q.headers;
    size_t mark = h->len;
    int rc = dk_buf_append(h, "X-Context: ", 11);
    size_t at = h->len;
    if (!rc)
        rc = dk_context_encode(k->q.api->node->context_key, vv, h);
    size_t end = h->len;
    if (!rc)
        rc = dk_buf_append(h, "\r\n", 2);
    if (rc) {
        h->len = mark;
        *tok = (kv_tok){0, 0};
        return rc;
    }
    *tok = (kv_tok){at, end - at};
    return 0;
}

static void kv_context_json(dk_api_kv *k, json_t *o, kv_tok tok)
{
    if (tok.len)
        json_object_set_new(o, "context", json_stringn((const char *)k->q.headers.data + tok.at, tok.len));
}

static void kv_render_get(dk_api_kv *k, int rc, dk_slice raw, const dk_object *obj)
{
    /* The instant the coordinator judged the object live at: the answer
     * agrees with it, and the clock is read once per GET. */
    int64_t now = k->read_ms ? k->read_ms : dk_now_ms();
    kv_tok tok = {0, 0};
    if (dk__api_session_render(&k->q, (dk_slice){k->key, k->key_len}, rc, obj))
        return;
    /* /crdt/ reads, and a node's own copy of a CRDT key, show its value;
     * a /kv read of a CRDT key is refused. */
    if (k->route == DK_API_KV_CRDT || (rc == 0 && k->route == DK_API_KV_LOCAL && dk__api_crdt_is_crdt(raw))) {
        dk__api_crdt_render(k, rc, raw, obj);
        return;
    }
    if (rc == 0 && dk__api_crdt_is_crdt(raw))
        rc = DK_EWRONGTYPE;
    if (rc == 0 && !dk_store_is_live(obj, now)) {
        if (obj->vv.n)
            kv_context(k, &obj->vv, &tok);
        rc = DK_ENOTFOUND;
    }
    if (rc) {
        kv_error(k, rc);
        return;
    }
    int trc = kv_context(k, &obj->vv, &tok);
    int live = dk_object_live_count(obj, now);
    if (k->raw_read && live == 1) {
        for (uint32_t i = 0; i < obj->n_sib; i++) {
            const dk_sibling *s = &obj->sib[i];
            if (!(s->flags & DK_SIB_TOMBSTONE) && (s->expiry_ms == 0 || s->expiry_ms > now)) {
                /* The value is lent to the send, which follows while the
                 * object lives (kv_done, kv_render_raw). */
                k->q.status = 200;
                k->q.content_type = "application/octet-stream";
                k->q.body_ref = s->value;
            }
        }
        return;
    }
    json_t *o = json_object();
    dk_json_set_key(o, "key", (dk_slice){k->key, k->key_len});
    dk_json_describe(o, obj, now);
    if (!trc)
        kv_context_json(k, o, tok);
    /* Siblings to a raw reader: 300 Multiple Choices with the JSON, as Riak. */
    dk__api_json(&k->q, k->raw_read && live > 1 ? 300 : 200, o);
}

static void kv_render_write(dk_api_kv *k, int rc, dk_slice raw, const dk_object *obj, int64_t now)
{
    (void)dk__api_session_render(&k->q, (dk_slice){k->key, k->key_len}, rc, obj);
    if (k->route == DK_API_KV_CRDT) {
        dk__api_crdt_render(k, rc, raw, obj);
        return;
    }
    if (rc) {
        kv_error(k, rc);
        return;
    }
    json_t *o = json_object();
    if (k->tombstone) {
        json_object_set_new(o, "deleted", json_true());
    } else {
        /* The write's own time: the newest sibling's, as a later GET shows. */
        int64_t ts = 0;
        for (uint32_t i = 0; i < obj->n_sib; i++)
            if (obj->sib[i].write_time_ms > ts)
                ts = obj->sib[i].write_time_ms;
        dk_json_set_key(o, "key", (dk_slice){k->key, k->key_len});
        json_object_set_new(o, "version", dk_json_vv(&obj->vv));
        json_object_set_new(o, "timestamp", json_integer(ts ? ts : now));
        /* More than one: the write made (or kept) concurrent values. */
        dk_buf_printf(&k->q.headers, "X-Siblings: %d\r\n", dk_object_live_count(obj, now));
    }
    kv_tok tok;
    if (kv_context(k, &obj->vv, &tok) == 0)
        kv_context_json(k, o, tok);
    dk__api_json(&k->q, 200, o);
}

/* The answer from the coordinator's outcome rc and object (NULL: none)
 * with its encoding raw. */
static void kv_render(dk_api_kv *k, int rc, dk_slice raw, const dk_object *obj)
{
    dk_object none;
    if (!obj) {
        dk_object_init(&none);
        obj = &none;
        raw = (dk_slice){NULL, 0};
        if (rc == 0 && !k->write)
            rc = DK_ENOTFOUND;
    }
    if (!k->write)
        kv_render_get(k, rc, raw, obj);
    else
        kv_render_write(k, rc, raw, obj, dk_now_ms());
}

/* Origin loop: the answer crossed loops as bytes; decode once, render. */
static void kv_render_raw(dk_api_req *q)
{
    dk_api_kv *k = (dk_api_kv *)q;
    dk_object obj;
    dk_object_init(&obj);
    int rc = k->coord_status;
    if (k->coord_raw.len) {
        char err[160];
        int drc = dk_object_decode(dk_buf_slice(&k->coord_raw), &obj, err, sizeof(err));
        if (drc) {
            dk_log(DK_LOG_ERROR, "api: the coordinator returned an unreadable object: %s", err);
            rc = rc ? rc : drc;
        }
    }
    kv_render(k, rc, dk_buf_slice(&k->coord_raw), k->coord_raw.len ? &obj : NULL);
    dk_object_free(&obj);
    dk__api_send(q);
}

/* Cluster loop: the coordinator's answer. */
static void kv_done(void *arg, dk_coord_result *r)
{
    dk_api_kv *k = arg;
    k->acks = (dk_api_acks){r->acks, r->needed, r->replicas, k->write};
    k->read_ms = r->now_ms;
    if (k->here || k->q.api->loop == k->q.api->cluster_loop) {
        kv_render(k, r->status, dk_buf_slice(&r->raw), r->raw.len ? &r->obj : NULL);
        dk__api_send(&k->q);
        return;
    }
    k->coord_status = r->status;
    if (r->raw.len && dk_buf_append(&k->coord_raw, r->raw.data, r->raw.len) != 0)
        k->coord_status = -ENOMEM;
    dk__api_back(&k->q, kv_render_raw);
}

/* Count a request coordinated on loop index, as the counter
 * coord_loop<index>_requests_total (the name and its handle are kept per
 * thread: a thread coordinates for one loop index). */
static void kv_count_loop(unsigned index)
{
    static _Thread_local char name[48];
    static _Thread_local dk_metric m;
    static _Thread_local unsigned named = ~0u;
    if (named != index) {
        snprintf(name, sizeof(name), "coord_loop%u_requests_total", index);
        m.name = name;
        atomic_store_explicit(&m.ref, 0, memory_order_relaxed);
        named = index;
    }
    dk_metrics_count(&m, 1);
}

/* The coordinating loop (this loop's own coordinator, or the cluster
 * loop's): hand the request to the coordinator. */
static void kv_coordinate(dk_api_req *q)
{
    dk_api_kv *k = (dk_api_kv *)q;
    dk_coord *co = k->here ? k->here : q->api->cluster->coord;
    kv_count_loop(k->here ? q->api->loop_index : 0);
    dk_slice key = {k->key, k->key_len};
    int rc;
    if (!co) {
        rc = DK_ECLOSED;
    } else if (!k->write) {
        rc = dk__api_session_get(q, co, key, k->consistency, k->strict, &k->prefs, kv_done,
                                 k); /* X-Session honoured */
    } else {
        dk_coord_write w = {
            .key = key,
            .value = k->value,
            .tombstone = k->tombstone,
            .context = k->has_context ? &k->context : NULL,
            .context_is_map = k->context_is_map,
            .ttl_ms = k->ttl_ms,
            .cond = k->cond,
            .if_match = k->cond == DK_COND_IF_MATCH && k->if_match.n ? &k->if_match : NULL,
            .consistency = k->consistency,
            .strict = k->strict,
            .type = k->route == DK_API_KV_CRDT ? DK_OBJECT_CRDT : DK_OBJECT_PLAIN,
            .prefs = &k->prefs,
        };
        rc = dk_coord_put(co, &w, kv_done, k);
    }
    if (rc) {
        dk_coord_result res = {.status = rc};
        kv_done(k, &res);
    }
}

/* Worker: GET /admin/local/{key}, this node's copy from its store. */
static void kv_local(dk_api_req *q)
{
    dk_api_kv *k = (dk_api_kv *)q;
    dk_buf raw = DK_BUF_INIT;
    dk_object obj;
    dk_object_init(&obj);
    int rc = dk_store_get(q->api->node->store, (dk_slice){k->key, k->key_len}, &raw, &obj);
    kv_render_get(k, rc, dk_buf_slice(&raw), &obj);
    dk_object_free(&obj);
    dk_buf_free(&raw);
}

void dk__api_kv(dk_api *api, dk_http_exchange *x, const dk_http_request *r, int route)
{
    static const size_t prefix[] = {[DK_API_KV] = 4, [DK_API_KV_CRDT] = 6, [DK_API_KV_LOCAL] = 13};
    dk_api_kv *k = dk__api_req_new(api, x, sizeof(*k), route == DK_API_KV_LOCAL ? DK_OP_GET : DK_OP_OTHER);
    if (!k)
        return;
    k->q.release = kv_release;
    k->route = route;
    /* Room for the usual answer headers (X-Ring, X-Context, X-Session)
     * at once rather than three growths. */
    (void)dk_buf_reserve(&k->q.headers, 256);
    dk_vv_init(&k->context);
    dk_vv_init(&k->if_match);
    int bad =
        dk__api_key_decode(&k->q, r->path + prefix[route], r->path_len - prefix[route], k->key, &k->key_len);
    if (route != DK_API_KV_LOCAL)
        dk__api_ring_note(&k->q, bad ? NULL : k->key, k->key_len, &k->prefs); /* X-Ring, X-Coordinator */
    if (bad || kv_request(k, r)) {
        dk__api_send(&k->q);
        return;
    }
    if (route == DK_API_KV_LOCAL) {
        dk__api_on_worker(&k->q, kv_local);
        return;
    }
    /* A plain read or write is coordinated on this loop when it has a
     * coordinator of its own; conditional writes (the CAS lock lives on
     * the cluster loop) and session reads go there. */
    if (api->loop != api->cluster_loop && !k->cond &&
        (k->write || dk__api_session_plain(&k->q, (dk_slice){k->key, k->key_len})) &&
        (k->here = dk_cluster_coord_here(api->cluster, api->loop_index)) != NULL) {
        kv_coordinate(&k->q);
        return;
    }
    dk__api_on_cluster(&k->q, kv_coordinate);
}
