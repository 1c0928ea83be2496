/*
 * api_worker.c - rendering responses (JSON, base64, the raw value) from
 * the coordinator's answers, which runs on the loop (pure and bounded),
 * and the jobs that still run on a worker: /admin/local reads, metrics,
 * /cluster. Scans render in api_scan.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_json.h"
#include "cluster/cluster.h"
#include "node/context.h"
#include "base/log.h"
#include "node/object.h"
#include "util/vv.h"

static const char *const json_ctype = "application/json";

/* ---- responses ------------------------------------------------------- */

void dk__api_job_error(dk_api_job *j, int status, const char *code, const char *msg)
{
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
    j->status = status;
    j->content_type = json_ctype;
    if (!o || dk_json_dump(o, &j->body) != 0) {
        dk_buf_reset(&j->body);
        dk_buf_append_str(&j->body, "{\"error\":\"internal\",\"message\":\"out of memory\"}");
        j->status = 500;
    }
    json_decref(o);
}

void dk__api_job_json(dk_api_job *j, int status, json_t *o)
{
    j->status = status;
    j->content_type = json_ctype;
    if (!o || dk_json_dump(o, &j->body) != 0)
        dk__api_job_error(j, 500, "internal", "out of memory rendering the response");
    json_decref(o);
}

void dk__api_job_store_error(dk_api_job *j, int rc)
{
    char msg[256];
    switch (rc) {
    case DK_ENOTFOUND:
        dk__api_job_error(j, 404, "not_found", "no value is stored under this key");
        break;
    case DK_EPRECOND:
        dk__api_job_error(j, 412, "precondition_failed",
                  "the stored version differs from If-Match (or the key exists, for If-None-Match: *); read the key again and retry with its context");
        break;
    case DK_ESIBLINGS:
        snprintf(msg, sizeof(msg), "the write would keep more than %d concurrent values; read the key and write the resolved value with its context",
                 j->api->cfg->cluster.max_siblings);
        dk__api_job_error(j, 409, "too_many_siblings", msg);
        break;
    case DK_EUNAVAILABLE: {
        json_t *o = json_object();
        snprintf(msg, sizeof(msg), "only %d of %d replicas acknowledged, %d needed; retry, or use a lower X-Consistency",
                 j->acks, j->replicas, j->needed);
        json_object_set_new(o, "error", json_string("unavailable"));
        json_object_set_new(o, "message", json_string(msg));
        json_object_set_new(o, "acks", json_integer(j->acks));
        json_object_set_new(o, "needed", json_integer(j->needed));
        json_object_set_new(o, "replicas", json_integer(j->replicas));
        dk__api_job_json(j, 503, o);
        break;
    }
    case DK_ETIMEOUT:
        snprintf(msg, sizeof(msg), "replicas did not answer in time (%d of %d needed answered); the write may still apply",
                 j->acks, j->needed);
        dk__api_job_error(j, 504, "timeout", msg);
        break;
    case DK_EREADONLY:
        dk__api_job_error(j, 503, "read_only", "the node stopped accepting writes after a disk error; see its log");
        break;
    case DK_ECORRUPT:
        dk__api_job_error(j, 500, "corrupt", "the stored value failed its checksum; see the node's log");
        break;
    default:
        snprintf(msg, sizeof(msg), "storage error: %s", dk_strerror(rc));
        dk__api_job_error(j, 500, "internal", msg);
        break;
    }
}

static int job_context_header(dk_api_job *j, const dk_vv *vv)
{
    dk_buf tok = DK_BUF_INIT;
    int rc = dk_context_encode(vv, &tok);
    if (!rc)
        rc = dk_buf_printf(&j->headers, "X-Context: %.*s\r\n", (int)tok.len, (const char *)tok.data);
    dk_buf_free(&tok);
    return rc;
}

static json_t *json_context(const dk_vv *vv)
{
    dk_buf tok = DK_BUF_INIT;
    json_t *s = NULL;
    if (dk_context_encode(vv, &tok) == 0)
        s = json_stringn((const char *)tok.data, tok.len);
    dk_buf_free(&tok);
    return s;
}


/* ---- worker side ------------------------------------------------------ */

/* Render a GET from rc and the object (any thread: pure). */
static void render_get(dk_api_job *j, int rc, const dk_object *obj)
{
    dk_slice key = {j->key, j->key_len};
    int64_t now = dk_now_ms();
    if (rc == 0 && !dk_store_is_live(obj, now)) {
        if (obj->vv.n)
            job_context_header(j, &obj->vv);
        rc = DK_ENOTFOUND;
    }
    if (rc) {
        dk__api_job_store_error(j, rc);
        return;
    }
    job_context_header(j, &obj->vv);
    int live = dk_object_live_count(obj, now);
    if (j->raw_read && live == 1) {
        for (uint32_t i = 0; i < obj->n_sib; i++) {
            const dk_sibling *s = &obj->sib[i];
            if (!(s->flags & DK_SIB_TOMBSTONE) && (s->expiry_ms == 0 || s->expiry_ms > now)) {
                j->status = 200;
                j->content_type = "application/octet-stream";
                dk_buf_append(&j->body, s->value.ptr, s->value.len);
            }
        }
        return;
    }
    json_t *o = json_object();
    dk_json_set_key(o, "key", key);
    dk_json_describe(o, obj, now);
    json_object_set_new(o, "context", json_context(&obj->vv));
    /* Siblings to a raw reader: 300 Multiple Choices with the JSON, as Riak. */
    dk__api_job_json(j, j->raw_read && live > 1 ? 300 : 200, o);
}

static void run_get(dk_api_job *j, dk_store *st)
{
    dk_buf raw = DK_BUF_INIT;
    dk_object obj;
    dk_object_init(&obj);
    int rc = dk_store_get(st, (dk_slice){j->key, j->key_len}, &raw, &obj);
    render_get(j, rc, &obj);
    dk_object_free(&obj);
    dk_buf_free(&raw);
}

static void render_write(dk_api_job *j, int rc, const dk_object *obj, int64_t now);

static void run_write(dk_api_job *j, dk_store *st)
{
    dk_buf raw = DK_BUF_INIT;
    dk_object obj;
    dk_object_init(&obj);
    dk_slice key = {j->key, j->key_len};
    int64_t now = dk_now_ms();
    dk_store_write w = {
        .key = key,
        .value = j->value,
        .tombstone = j->kind == JOB_DELETE,
        .context = j->has_context ? &j->context : NULL,
        .ttl_ms = j->ttl_ms,
        .cond = j->cond,
        .if_match = j->cond == DK_COND_IF_MATCH && j->if_match.n ? &j->if_match : NULL,
    };
    int rc = dk_store_write_local(st, &w, now, &raw, &obj);
    render_write(j, rc, &obj, now);
    dk_object_free(&obj);
    dk_buf_free(&raw);
}

/* Render a PUT/DELETE answer from rc and the new stored object (worker). */
static void render_write(dk_api_job *j, int rc, const dk_object *obj, int64_t now)
{
    dk_slice key = {j->key, j->key_len};
    if (rc) {
        dk__api_job_store_error(j, rc);
        return;
    }
    job_context_header(j, &obj->vv);
    json_t *o = json_object();
    if (j->op == DK_OP_DELETE) {
        json_object_set_new(o, "deleted", json_true());
    } else {
        /* The write's own time: the newest sibling's, as a later GET shows. */
        int64_t ts = 0;
        for (uint32_t i = 0; i < obj->n_sib; i++)
            if (obj->sib[i].write_time_ms > ts)
                ts = obj->sib[i].write_time_ms;
        dk_json_set_key(o, "key", key);
        json_object_set_new(o, "version", dk_json_vv(&obj->vv));
        json_object_set_new(o, "timestamp", json_integer(ts ? ts : now));
    }
    json_object_set_new(o, "context", json_context(&obj->vv));
    dk__api_job_json(j, 200, o);
}

static void stat_sink(void *arg, const char *name, uint64_t value)
{
    char full[128];
    snprintf(full, sizeof(full), "engine_%s", name);
    dk_metrics_set_gauge(full, value);
}

static void run_metrics(dk_api_job *j, dk_node *n)
{
    if (DK_OPS_HAS(n->engine_ops, stats))
        n->engine_ops->stats(n->engine, stat_sink, NULL);
    j->status = 200;
    j->content_type = "text/plain; version=0.0.4";
    if (dk_metrics_render(&j->body) != 0)
        dk__api_job_error(j, 500, "internal", "out of memory rendering metrics");
}

static void run_cluster(dk_api_job *j)
{
    j->status = 200;
    j->content_type = json_ctype;
    if (!j->api->cluster || dk_cluster_render(j->api->cluster, &j->body) != 0)
        dk__api_job_error(j, 500, "internal", "cannot describe the cluster");
}

void dk__api_render_coord(dk_api_job *j, int rc, const dk_object *obj)
{
    dk_object none;
    if (!obj) {
        dk_object_init(&none);
        obj = &none;
        if (rc == 0 && j->kind == JOB_GET)
            rc = DK_ENOTFOUND;
    }
    if (j->kind == JOB_GET)
        render_get(j, rc, obj);
    else
        render_write(j, rc, obj, dk_now_ms());
}

void dk__api_render_coord_raw(dk_api_job *j)
{
    dk_object obj;
    dk_object_init(&obj);
    int rc = j->coord_status;
    if (j->coord_raw.len) {
        char err[160];
        int drc = dk_object_decode(dk_buf_slice(&j->coord_raw), &obj, err, sizeof(err));
        if (drc) {
            dk_log(DK_LOG_ERROR, "api: the coordinator returned an unreadable object: %s", err);
            rc = rc ? rc : drc;
        }
    }
    dk__api_render_coord(j, rc, j->coord_raw.len ? &obj : NULL);
    dk_object_free(&obj);
}

/* Worker thread. */
void dk__api_job_work(uv_work_t *w)
{
    dk_api_job *j = w->data;
    dk_node *n = j->api->node;
    switch (j->kind) {
    case JOB_GET: run_get(j, n->store); break;
    case JOB_PUT:
    case JOB_DELETE: run_write(j, n->store); break;
    case JOB_SCAN: dk__api_run_scan(j, n->store); break;
    case JOB_METRICS: run_metrics(j, n); break;
    case JOB_CLUSTER: run_cluster(j); break;
    case JOB_LOCAL: run_get(j, n->store); break;
    case JOB_RENDER_SCAN: dk__api_render_scan(j); break;
    case JOB_REPAIR: break;             /* answered on the cluster loop (api_repair.c) */
    }
}

void dk__api_job_free(dk_api_job *j)
{
    dk_vv_free(&j->context);
    dk_vv_free(&j->if_match);
    dk_buf_free(&j->headers);
    dk_buf_free(&j->body);
    dk_buf_free(&j->coord_raw);
    dk_coord_scan_page_free(j->scan_page);
    free(j);
}

