/*
 * api_worker.c - rendering responses (JSON, base64, the raw value) from
 * the coordinator's answers, which runs on the loop (pure and bounded),
 * and the jobs that still run on a worker: single-node store calls,
 * /admin/local reads, metrics, readiness, /cluster. Scans render in
 * api_scan.c, the /crdt/ routes in api_crdt.c; a /kv request that meets a
 * CRDT object is answered 409 here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/auth.h"
#include "api/api_json.h"
#include "api/health.h"
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
        if (j->context_is_map && j->cond != DK_COND_IF_NONE_MATCH)
            dk__api_job_error(j, 412, "precondition_failed",
                      "the version map names versions the stored object does not have (a JSON context is checked "
                      "against the stored version, or must equal it for If-Match); read the key again and retry "
                      "with its context token");
        else
            dk__api_job_error(j, 412, "precondition_failed",
                      "the stored version differs from If-Match (or the key exists, for If-None-Match: *); read the key again and retry with its context");
        break;
    case -EOVERFLOW:
        dk__api_job_error(j, 409, "version_exhausted",
                  "a version counter of this key is at its maximum, so this node cannot version another write of it; "
                  "write it through another node");
        break;
    case DK_ETOOBIG:
        snprintf(msg, sizeof(msg), "the write would make the stored object (all its siblings together) larger than "
                 "max_object_size (%llu bytes); resolve the siblings: GET the key and write with its context",
                 (unsigned long long)j->api->cfg->storage.max_object_size);
        dk__api_job_error(j, 413, "object_too_large", msg);
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
        dk__api_job_error(j, 503, "read_only", "the node does not accept writes now (a disk error, or a full "
                          "disk or descriptor table it retries on its own; GET /readyz says which); see its log");
        break;
    case -ENOSPC:
    case -EDQUOT:
        dk__api_job_error(j, 507, "insufficient_storage", "the node's disk is full: the write was not stored; "
                          "writes resume on their own once space is freed");
        break;
    case -EMFILE:
    case -ENFILE:
        dk__api_job_error(j, 503, "out_of_descriptors", "the node ran out of file descriptors: the write was "
                          "not stored; retry later");
        break;
    case DK_ECORRUPT:
        dk__api_job_error(j, 500, "corrupt", "the stored value failed its checksum; see the node's log");
        break;
    case DK_EWRONGTYPE:
        dk__api_job_error(j, 409, "crdt_key", "this key holds a CRDT: use GET or POST /crdt/{key}");
        break;
    default:
        snprintf(msg, sizeof(msg), "storage error: %s", dk_strerror(rc));
        dk__api_job_error(j, 500, "internal", msg);
        break;
    }
}

/* The context token of vv (MACed with the node's context key) into tok. */
static int job_token(const dk_api_job *j, const dk_vv *vv, dk_buf *tok)
{
    return dk_context_encode(j->api->node->context_key, vv, tok);
}

/* X-Context: tok, and (o non-NULL) o["context"] = tok. */
static int job_context(dk_api_job *j, const dk_buf *tok, json_t *o)
{
    int rc = dk_buf_printf(&j->headers, "X-Context: %.*s\r\n", (int)tok->len, (const char *)tok->data);
    if (!rc && o)
        rc = json_object_set_new(o, "context", json_stringn((const char *)tok->data, tok->len)) ? -ENOMEM : 0;
    return rc;
}

static int job_context_header(dk_api_job *j, const dk_vv *vv)
{
    dk_buf tok = DK_BUF_INIT;
    int rc = job_token(j, vv, &tok);
    if (!rc)
        rc = job_context(j, &tok, NULL);
    dk_buf_free(&tok);
    return rc;
}

/* ---- worker side ------------------------------------------------------ */

/* Render a GET from rc and the object (any thread: pure). */
static void render_get(dk_api_job *j, int rc, dk_slice raw, const dk_object *obj)
{
    dk_slice key = {j->key, j->key_len};
    int64_t now = dk_now_ms();
    if (dk__api_session_render(j, rc, obj))
        return;
    /* /crdt/ reads, and a node's own copy of a CRDT key, show its value;
     * a /kv read of a CRDT key is refused. */
    if (j->crdt || (rc == 0 && j->kind == JOB_LOCAL && dk__api_crdt_is_crdt(raw))) {
        dk__api_crdt_render(j, rc, raw, obj);
        return;
    }
    if (rc == 0 && dk__api_crdt_is_crdt(raw))
        rc = DK_EWRONGTYPE;
    if (rc == 0 && !dk_store_is_live(obj, now)) {
        if (obj->vv.n)
            job_context_header(j, &obj->vv);
        rc = DK_ENOTFOUND;
    }
    if (rc) {
        dk__api_job_store_error(j, rc);
        return;
    }
    dk_buf tok = DK_BUF_INIT;
    int trc = job_token(j, &obj->vv, &tok);
    int live = dk_object_live_count(obj, now);
    if (j->raw_read && live == 1) {
        if (!trc)
            job_context(j, &tok, NULL);
        dk_buf_free(&tok);
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
    if (!trc)
        job_context(j, &tok, o);
    dk_buf_free(&tok);
    /* Siblings to a raw reader: 300 Multiple Choices with the JSON, as Riak. */
    dk__api_job_json(j, j->raw_read && live > 1 ? 300 : 200, o);
}

static void run_get(dk_api_job *j, dk_store *st)
{
    dk_buf raw = DK_BUF_INIT;
    dk_object obj;
    dk_object_init(&obj);
    int rc = dk_store_get(st, (dk_slice){j->key, j->key_len}, &raw, &obj);
    render_get(j, rc, dk_buf_slice(&raw), &obj);
    dk_object_free(&obj);
    dk_buf_free(&raw);
}

static void render_write(dk_api_job *j, int rc, dk_slice raw, const dk_object *obj, int64_t now);

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
        .context_is_map = j->context_is_map,
        .ttl_ms = j->ttl_ms,
        .cond = j->cond,
        .if_match = j->cond == DK_COND_IF_MATCH && j->if_match.n ? &j->if_match : NULL,
        .type = j->crdt ? DK_OBJECT_CRDT : DK_OBJECT_PLAIN,
    };
    int rc = dk_store_write_local(st, &w, now, &raw, &obj);
    render_write(j, rc, dk_buf_slice(&raw), &obj, now);
    dk_object_free(&obj);
    dk_buf_free(&raw);
}

/* Render a PUT/DELETE answer from rc and the new stored object (worker). */
static void render_write(dk_api_job *j, int rc, dk_slice raw, const dk_object *obj, int64_t now)
{
    dk_slice key = {j->key, j->key_len};
    (void)dk__api_session_render(j, rc, obj);
    if (j->crdt) {
        dk__api_crdt_render(j, rc, raw, obj);
        return;
    }
    if (rc) {
        dk__api_job_store_error(j, rc);
        return;
    }
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
        /* More than one: the write made (or kept) concurrent values. */
        dk_buf_printf(&j->headers, "X-Siblings: %d\r\n", dk_object_live_count(obj, now));
    }
    dk_buf tok = DK_BUF_INIT;
    if (job_token(j, &obj->vv, &tok) == 0)
        job_context(j, &tok, o);
    dk_buf_free(&tok);
    dk__api_job_json(j, 200, o);
}

static void stat_sink(void *arg, const char *name, uint64_t value)
{
    char full[128];
    snprintf(full, sizeof(full), "%s_%s", (const char *)arg, name);
    dk_metrics_set_gauge(full, value);
}

/* Copy the cluster's counters (collected on the cluster loop) into the
 * registry, where they render with the other named series. */
static void cluster_counters(const dk_api_cluster_stats *cs)
{
    if (cs->have_rpc) {
        const dk_rpc_stats *r = &cs->rpc;
        dk_metrics_set_gauge("rpc_connections_open", r->conns_open);
        dk_metrics_set_counter("rpc_connections_accepted_total", r->conns_accepted);
        dk_metrics_set_counter("rpc_connections_established_total", r->conns_connected);
        dk_metrics_set_counter("rpc_connect_failures_total", r->connect_failures);
        dk_metrics_set_counter("rpc_handshake_failures_total", r->handshake_failures);
        dk_metrics_set_counter("rpc_wrong_cluster_total", r->wrong_cluster);
        dk_metrics_set_counter("rpc_bad_frames_total", r->bad_frames);
        dk_metrics_set_counter("rpc_timeouts_total", r->timeouts);
        dk_metrics_set_counter("rpc_late_replies_total", r->late_replies);
        dk_metrics_set_counter("rpc_requests_received_total", r->requests_in);
        dk_metrics_set_counter("rpc_requests_sent_total", r->requests_out);
        dk_metrics_set_counter("rpc_auth_failures_total", r->auth_failures);
        dk_metrics_set_counter("rpc_connections_rejected_total", r->conns_rejected);
        dk_metrics_set_counter("rpc_frame_timeouts_total", r->frame_timeouts);
    }
    if (cs->have_gossip) {
        const dk_membership_stats *g = &cs->gossip;
        dk_metrics_set_counter("gossip_probes_total", g->probes_sent);
        dk_metrics_set_counter("gossip_probe_acks_total", g->acks_received);
        dk_metrics_set_counter("gossip_indirect_probes_total", g->indirect_probes);
        dk_metrics_set_counter("gossip_suspicions_total", g->suspect_transitions);
        dk_metrics_set_counter("gossip_down_total", g->down_transitions);
        dk_metrics_set_counter("gossip_refutations_total", g->refutations);
        dk_metrics_set_counter("gossip_bad_messages_total", g->bad_datagrams);
        dk_metrics_set_counter("gossip_wrong_cluster_total", g->wrong_cluster);
        dk_metrics_set_counter("gossip_pushpull_total", g->pushpull_ok);
        dk_metrics_set_counter("gossip_pushpull_failures_total", g->pushpull_failed);
        dk_metrics_set_gauge("ring_version", cs->ring_version);
    }
}

/* The members-by-state family (labelled, so rendered here). */
static int render_members(const dk_api_cluster_stats *cs, dk_buf *out)
{
    if (!cs->have_gossip)
        return 0;
    int rc = dk_metrics_family(out, "dynkv_gossip_members", "gauge",
                               "Cluster members this node knows, by state (itself included).");
    for (int s = DK_MEMBER_JOINING; s <= DK_MEMBER_REMOVED && !rc; s++)
        rc = dk_buf_printf(out, "dynkv_gossip_members{state=\"%s\"} %llu\n",
                           dk_member_state_name((dk_member_state)s), (unsigned long long)cs->members[s]);
    if (!rc)
        rc = dk_metrics_family(out, "dynkv_gossip_rejected_total", "counter",
                               "Gossip messages dropped unused, by reason (removal: one update).");
    for (int r = 0; r < DK_GOSSIP_REJ_N && !rc; r++)
        rc = dk_buf_printf(out, "dynkv_gossip_rejected_total{reason=\"%s\"} %llu\n", dk_membership_reject_name(r),
                           (unsigned long long)cs->gossip.rejected[r]);
    return rc;
}

static void run_metrics(dk_api_job *j, dk_node *n)
{
    if (DK_OPS_HAS(n->engine_ops, stats))
        n->engine_ops->stats(n->engine, stat_sink, "engine");
    if (j->api->cluster) {
        char hints[DK_CONFIG_PATH_MAX + 16];
        snprintf(hints, sizeof(hints), "%s/hints", n->cfg->node.data_dir);
        dk_metrics_set_gauge("hints_disk_bytes", dk__api_disk_bytes(hints, 1));
        cluster_counters(&j->cstats);
    }
    j->status = 200;
    j->content_type = "text/plain; version=0.0.4; charset=utf-8";
    /* The dashboard served by one member reads every member's metrics. */
    dk_buf_append_str(&j->headers, "Access-Control-Allow-Origin: *\r\n");
    if (dk_metrics_render(&j->body) != 0 || render_members(&j->cstats, &j->body) != 0 ||
        dk_auth_metrics_render(&j->body) != 0)
        dk__api_job_error(j, 500, "internal", "out of memory rendering metrics");
}

static void run_cluster(dk_api_job *j)
{
    j->status = 200;
    j->content_type = json_ctype;
    if (!j->api->cluster || dk_cluster_render(j->api->cluster, &j->body) != 0)
        dk__api_job_error(j, 500, "internal", "cannot describe the cluster");
}

static void run_ready(dk_api_job *j)
{
    dk_readiness r;
    dk_health_evaluate(j->api->node, j->api->cluster, &r);
    int status = dk_health_render(&r, j->api->cfg->node.id, j->verbose, &j->body);
    if (status < 0) {
        dk__api_job_error(j, 500, "internal", "out of memory rendering readiness");
        return;
    }
    j->status = status;
    j->content_type = json_ctype;
}

void dk__api_render_coord(dk_api_job *j, int rc, dk_slice raw, const dk_object *obj)
{
    dk_object none;
    if (!obj) {
        dk_object_init(&none);
        obj = &none;
        raw = (dk_slice){NULL, 0};
        if (rc == 0 && j->kind == JOB_GET)
            rc = DK_ENOTFOUND;
    }
    if (j->kind == JOB_GET)
        render_get(j, rc, raw, obj);
    else
        render_write(j, rc, raw, obj, dk_now_ms());
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
    dk__api_render_coord(j, rc, dk_buf_slice(&j->coord_raw), j->coord_raw.len ? &obj : NULL);
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
    case JOB_READY: run_ready(j); break;
    case JOB_RING: dk__api_run_ring(j); break;
    case JOB_ENDPOINTS: dk__api_run_endpoints(j); break;
    case JOB_INFO: dk__api_run_info(j); break;
    case JOB_REPAIR: break;             /* answered on the cluster loop (api_repair.c) */
    case JOB_SNAPSHOT: dk__api_run_snapshot(j); break;
    case JOB_MAINT: dk__api_run_maint(j); break;
    }
}

void dk__api_job_free(dk_api_job *j)
{
    dk_vv_free(&j->context);
    dk_vv_free(&j->if_match);
    dk_buf_free(&j->headers);
    dk_buf_free(&j->body);
    dk_buf_free(&j->coord_raw);
    dk_buf_free(&j->crdt_op);
    dk_coord_scan_page_free(j->scan_page);
    dk__api_session_free(j);
    free(j);
}

