/*
 * scan.c - GET /kv?prefix=P&limit=N&cursor=C from parse to answer: the
 * query is checked on the loop, the coordinator (coord/coord_scan.h)
 * reads the page cluster-wide on the cluster loop, and the page is
 * rendered on a worker of the request's loop (a page may hold 1000
 * objects to decode and describe).
 *
 * The response is {"pairs":[{"key", then "value","version","timestamp" or
 * the siblings' "values" and "conflict", or a CRDT's "type" and "value"
 * as GET /crdt/ shows them}...],"cursor":C|null}, in key
 * order; C is the page's last key in unpadded base64url, so it travels in
 * a query string as is, and null means the scan is over. A page the
 * cluster could not read whole answers 206 with "incomplete":true and
 * "unavailable_ranges":[{"start","end","replicas"}] (tokens as 32 hex
 * digits, the range (start, end] and its preference list): the pairs and
 * cursor are still right for the ranges that were read, and the client
 * learns that the result is partial instead of trusting it. 206 rather
 * than 200 plus a field, so that a client which checks only for 200 fails
 * loudly rather than losing keys silently.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "api/api_json.h"
#include "cluster/cluster.h"
#include "coord/coord_scan.h"
#include "http/url.h"
#include "base/log.h"
#include "node/object.h"
#include "util/base64.h"
#include "util/vv.h"

#define SCAN_LIMIT_DEFAULT 100
#define SCAN_LIMIT_MAX 1000

typedef struct scan_req {
    dk_api_req q;
    uint8_t prefix[DK_KEY_MAX];
    size_t prefix_len;
    uint8_t cursor[DK_KEY_MAX]; /* continue after this key */
    size_t cursor_len;
    int has_cursor;
    uint32_t limit;
    int consistency;
    int coord_status;
    dk_coord_scan_page *page; /* owned */
} scan_req;

static void scan_release(dk_api_req *q)
{
    dk_coord_scan_page_free(((scan_req *)q)->page);
}

/* The cursor token of a key: unpadded base64url (dk__api_scan decodes it). */
static json_t *scan_cursor(const uint8_t *key, size_t len)
{
    dk_buf tok = DK_BUF_INIT;
    json_t *s = dk_base64_encode(key, len, DK_B64_URL, &tok) == 0
                    ? json_stringn((const char *)tok.data, tok.len)
                    : NULL;
    dk_buf_free(&tok);
    return s;
}

/* Describe a pair into p: a CRDT's "type" and "value" (as GET /crdt/ shows
 * them), else the live siblings as a GET does. 0 when there is nothing to
 * list. */
static int scan_describe(dk_api *api, json_t *p, dk_slice raw, const dk_object *obj, int64_t now)
{
    if (dk__api_crdt_is_crdt(raw))
        return dk__api_crdt_describe(api, p, raw, obj) == 0;
    return dk_json_describe(p, obj, now);
}

/* ---- the cluster's page ---------------------------------------------------------- */

static json_t *scan_token(dk_token t)
{
    char hex[33];
    snprintf(hex, sizeof(hex), "%016" PRIx64 "%016" PRIx64, t.hi, t.lo);
    return json_string(hex);
}

static json_t *scan_gaps(const dk_coord_scan_page *pg)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < pg->n_gaps; i++) {
        const dk_scan_gap *g = &pg->gaps[i];
        json_t *ids = json_array();
        for (uint32_t k = 0; k < g->n_replicas; k++)
            json_array_append_new(ids, json_string(g->replicas[k]));
        json_t *o = json_object();
        json_object_set_new(o, "start", scan_token(g->start));
        json_object_set_new(o, "end", scan_token(g->end));
        json_object_set_new(o, "replicas", ids);
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Worker: the answer from the coordinator's page. */
static void scan_render(dk_api_req *q)
{
    scan_req *s = (scan_req *)q;
    dk_coord_scan_page *pg = s->page;
    int rc = s->coord_status ? s->coord_status : pg ? pg->status : -ENOMEM;
    if (rc == DK_EUNAVAILABLE) {
        dk__api_error(q, 503, "unavailable",
                      "this node has no ring yet (it has not joined its cluster); retry shortly");
        return;
    }
    if (rc) {
        dk__api_store_error(q, rc, NULL);
        return;
    }
    json_t *pairs = json_array();
    for (size_t i = 0; i < pg->n_pairs; i++) {
        const dk_scan_pair *sp = &pg->pairs[i];
        json_t *p = json_object();
        dk_json_set_key(p, "key", sp->key);
        if (sp->object.len == 0) {
            /* Stored on a node whose copy cannot travel in one frame. */
            json_object_set_new(p, "too_large", json_true());
            json_array_append_new(pairs, p);
            continue;
        }
        dk_object obj;
        dk_object_init(&obj);
        char err[160];
        if (dk_object_decode(sp->object, &obj, err, sizeof(err)) != 0) {
            dk_log(DK_LOG_ERROR, "api: a scan page holds an unreadable object: %s", err);
            json_decref(p);
        } else if (scan_describe(q->api, p, sp->object, &obj, pg->now_ms) == 0) {
            json_decref(p); /* the coordinator listed it live at the same time */
        } else {
            json_array_append_new(pairs, p);
        }
        dk_object_free(&obj);
    }
    json_t *o = json_object();
    json_object_set_new(o, "pairs", pairs);
    json_object_set_new(o, "cursor", pg->more ? scan_cursor(pg->cursor, pg->cursor_len) : json_null());
    if (pg->n_gaps) {
        json_object_set_new(o, "incomplete", json_true());
        json_object_set_new(o, "unavailable_ranges", scan_gaps(pg));
    }
    dk__api_json(q, pg->n_gaps ? 206 : 200, o);
}

/* Origin loop: the page is here; render it on a worker. */
static void scan_back(dk_api_req *q)
{
    dk__api_on_worker(q, scan_render);
}

/* Cluster loop: a scan page (taken). */
static void scan_done(void *arg, dk_coord_scan_page *page)
{
    scan_req *s = arg;
    s->page = page;
    dk__api_back(&s->q, scan_back);
}

/* Cluster loop: hand the scan to the coordinator. */
static void scan_coordinate(dk_api_req *q)
{
    scan_req *s = (scan_req *)q;
    dk_coord *co = q->api->cluster->coord;
    int rc = DK_ECLOSED;
    if (co) {
        dk_coord_scan_req sr = {
            .prefix = {s->prefix, s->prefix_len},
            .after = {s->cursor, s->has_cursor ? s->cursor_len : 0},
            .limit = s->limit,
            .consistency = s->consistency,
        };
        rc = dk_coord_scan(co, &sr, scan_done, s);
    }
    if (rc) {
        s->coord_status = rc;
        dk__api_back(q, scan_back);
    }
}

/* The query: prefix, limit, cursor, and X-Consistency. 0, or -1 with the
 * error answer set. */
static int scan_request(scan_req *s, const dk_http_request *r)
{
    char buf[1024];
    ssize_t n = dk_url_query_get(r->query, r->query_len, "prefix", buf, sizeof(buf));
    if ((n < 0 && n != DK_ENOTFOUND) || n > (ssize_t)DK_KEY_MAX) {
        dk__api_error(&s->q, 400, "bad_prefix", "prefix must be percent-encoded and at most 256 bytes");
        return -1;
    }
    if (n > 0) {
        memcpy(s->prefix, buf, (size_t)n);
        s->prefix_len = (size_t)n;
    }
    s->limit = SCAN_LIMIT_DEFAULT;
    n = dk_url_query_get(r->query, r->query_len, "limit", buf, sizeof(buf));
    if (n != DK_ENOTFOUND) {
        uint64_t v = 0;
        if (n < 0 || dk_parse_decimal(buf, (size_t)n, SCAN_LIMIT_MAX, &v) != 0 || v < 1) {
            dk__api_error(&s->q, 400, "bad_limit",
                          "limit must be a whole number from 1 to 1000, in plain decimal digits");
            return -1;
        }
        s->limit = (uint32_t)v;
    }
    n = dk_url_query_get(r->query, r->query_len, "cursor", buf, sizeof(buf));
    if (n > 0) {
        uint8_t dec[sizeof(buf) / 4 * 3 + 3];
        size_t bad;
        long d = dk_base64_decode(buf, (size_t)n, DK_B64_URL, dec, &bad);
        if (d <= 0 || d > (long)DK_KEY_MAX) {
            dk__api_error(&s->q, 400, "bad_cursor", "cursor must be a value returned by an earlier scan");
            return -1;
        }
        memcpy(s->cursor, dec, (size_t)d);
        s->cursor_len = (size_t)d;
        s->has_cursor = 1;
    } else if (n != DK_ENOTFOUND && n != 0) {
        dk__api_error(&s->q, 400, "bad_cursor", "cursor must be a value returned by an earlier scan");
        return -1;
    }
    if (dk__api_consistency(&s->q, r, &s->consistency, NULL))
        return -1;
    return dk__api_session_parse(&s->q, r); /* carried through unchanged */
}

void dk__api_scan(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    scan_req *s = dk__api_req_new(api, x, sizeof(*s), DK_OP_SCAN);
    if (!s)
        return;
    s->q.release = scan_release;
    dk__api_ring_note(&s->q, NULL, 0, NULL); /* X-Ring */
    if (r->method != HTTP_GET) {
        dk_buf_append_str(&s->q.headers, "Allow: GET\r\n");
        dk__api_fail(&s->q, 405, "method_not_allowed", "scan with GET /kv?prefix=P&limit=N&cursor=C");
        return;
    }
    if (scan_request(s, r)) {
        dk__api_send(&s->q);
        return;
    }
    dk__api_on_cluster(&s->q, scan_coordinate);
}
