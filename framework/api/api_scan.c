/*
 * api_scan.c - the worker half of GET /kv?prefix=P&limit=N&cursor=C: the
 * response of a scan page, from the coordinator's cluster-wide page
 * (coord/coord_scan.h) or, when the API runs without a cluster, from a
 * walk of the local store.
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

#include "api/api_int.h"
#include "api/api_json.h"
#include "base/log.h"
#include "node/object.h"
#include "node/store.h"
#include "util/base64.h"
#include "util/vv.h"

/* The cursor token of a key: unpadded base64url (api.c decodes it). */
static json_t *scan_cursor(const uint8_t *key, size_t len)
{
    dk_buf tok = DK_BUF_INIT;
    json_t *s = dk_base64_encode(key, len, DK_B64_URL, &tok) == 0 ? json_stringn((const char *)tok.data, tok.len)
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

/* ---- without a cluster: the local store --------------------------------------- */

typedef struct scan_state {
    dk_api_job *job;
    dk_slice prefix;
    int64_t now;
    json_t *pairs;
    uint32_t count;
    uint8_t last[DK_KEY_MAX];
    size_t last_len;
    int more;
} scan_state;

static int scan_visit(void *arg, dk_slice key, dk_slice raw, const dk_object *obj)
{
    scan_state *ss = arg;
    if (key.len < ss->prefix.len || memcmp(key.ptr, ss->prefix.ptr, ss->prefix.len) != 0)
        return 1;
    if (!dk_store_is_live(obj, ss->now))
        return 0;
    if (ss->count == ss->job->limit) {
        ss->more = 1;
        return 1;
    }
    json_t *p = json_object();
    dk_json_set_key(p, "key", key);
    scan_describe(ss->job->api, p, raw, obj, ss->now);
    json_array_append_new(ss->pairs, p);
    ss->count++;
    memcpy(ss->last, key.ptr, key.len);
    ss->last_len = key.len;
    return 0;
}

/* The smallest key greater than every key starting with prefix; len 0 when
 * there is none (prefix empty or all 0xff). */
static size_t scan_prefix_end(const uint8_t *p, size_t len, uint8_t *out)
{
    memcpy(out, p, len);
    while (len > 0 && out[len - 1] == 0xff)
        len--;
    if (len > 0)
        out[len - 1]++;
    return len;
}

void dk__api_run_scan(dk_api_job *j, dk_store *st)
{
    scan_state ss = {.job = j, .prefix = {j->key, j->key_len}, .now = dk_now_ms(), .pairs = json_array()};
    uint8_t start[DK_KEY_MAX + 1], end[DK_KEY_MAX];
    size_t start_len = j->key_len;
    memcpy(start, j->key, j->key_len);
    if (j->has_cursor) {
        /* Continue just after the cursor key: cursor + "\0" is its successor. */
        memcpy(start, j->cursor, j->cursor_len);
        start[j->cursor_len] = 0;
        start_len = j->cursor_len + 1;
        if (j->cursor_len < j->key_len || memcmp(start, j->key, j->key_len) < 0) {
            memcpy(start, j->key, j->key_len);
            start_len = j->key_len;
        }
    }
    size_t end_len = scan_prefix_end(j->key, j->key_len, end);
    int rc = dk_store_scan(st, (dk_slice){start, start_len}, (dk_slice){end, end_len}, scan_visit, &ss);
    if (rc) {
        json_decref(ss.pairs);
        dk__api_job_store_error(j, rc);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "pairs", ss.pairs);
    json_object_set_new(o, "cursor", ss.more ? scan_cursor(ss.last, ss.last_len) : json_null());
    dk__api_job_json(j, 200, o);
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

void dk__api_render_scan(dk_api_job *j)
{
    dk_coord_scan_page *pg = j->scan_page;
    int rc = j->coord_status ? j->coord_status : pg ? pg->status : -ENOMEM;
    if (rc == DK_EUNAVAILABLE) {
        dk__api_job_error(j, 503, "unavailable", "this node has no ring yet (it has not joined its cluster); retry shortly");
        return;
    }
    if (rc) {
        dk__api_job_store_error(j, rc);
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
        } else if (scan_describe(j->api, p, sp->object, &obj, pg->now_ms) == 0) {
            json_decref(p);         /* the coordinator listed it live at the same time */
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
    dk__api_job_json(j, pg->n_gaps ? 206 : 200, o);
}
