/*
 * api_metrics.c - GET /metrics (and its CORS preflight): the Prometheus
 * text of the metrics registry, the engine's stats, and the cluster's RPC
 * (summed over every loop's instance) and gossip counters, which are
 * copied on the cluster loop (gossip's may only be read there, and the
 * loops' RPC instances only while loop 0 has not begun stopping them)
 * before a worker of the request's loop renders everything (the engine's
 * stats may take its locks).
 */
#include <stdio.h>
#include <string.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "api/auth.h"
#include "cluster/cluster.h"
#include "gossip/membership.h"
#include "rpc/rpc.h"

/* What the cluster loop copies for the worker. */
typedef struct metrics_cluster {
    int have_rpc, have_gossip;
    dk_rpc_stats rpc;
    dk_membership_stats gossip;
    uint64_t members[DK_MEMBER_REMOVED + 1]; /* by state, self included */
    uint64_t ring_version;
} metrics_cluster;

typedef struct metrics_req {
    dk_api_req q;
    metrics_cluster cs;
} metrics_req;

static void stat_sink(void *arg, const char *name, uint64_t value)
{
    char full[128];
    snprintf(full, sizeof(full), "%s_%s", (const char *)arg, name);
    dk_metrics_set_gauge(full, value);
}

/* Copy the cluster's counters (collected on the cluster loop) into the
 * registry, where they render with the other named series. */
static void cluster_counters(const metrics_cluster *cs)
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
        dk_metrics_set_counter("gossip_stale_verdicts_total", g->stale_verdicts);
        dk_metrics_set_counter("gossip_dead_pings_total", g->dead_pings);
        dk_metrics_set_gauge("ring_version", cs->ring_version);
    }
}

/* The members-by-state family (labelled, so rendered here). */
static int render_members(const metrics_cluster *cs, dk_buf *out)
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
        rc = dk_buf_printf(out, "dynkv_gossip_rejected_total{reason=\"%s\"} %llu\n",
                           dk_membership_reject_name(r), (unsigned long long)cs->gossip.rejected[r]);
    return rc;
}

/* Worker: render the registry and the cluster's counters. */
static void metrics_render(dk_api_req *q)
{
    metrics_req *m = (metrics_req *)q;
    dk_node *n = q->api->node;
    char hints[DK_CONFIG_PATH_MAX + 16];
    dk_engine_ref e = dk_node_engine(n);
    (void)dk_engine_stats(&e, stat_sink, "engine"); /* none: no engine lines */
    snprintf(hints, sizeof(hints), "%s/hints", n->cfg->node.data_dir);
    dk_metrics_set_gauge("hints_disk_bytes", dk__api_disk_bytes(hints, 1));
    cluster_counters(&m->cs);
    q->status = 200;
    q->content_type = "text/plain; version=0.0.4; charset=utf-8";
    /* The dashboard served by one member reads every member's metrics. */
    dk_buf_append_str(&q->headers, "Access-Control-Allow-Origin: *\r\n");
    if (dk_metrics_render(&q->body) != 0 || render_members(&m->cs, &q->body) != 0 ||
        dk_auth_metrics_render(&q->body) != 0)
        dk__api_error(q, 500, "internal", "out of memory rendering metrics");
}

/* Origin loop: the counters are here; render on a worker. */
static void metrics_back(dk_api_req *q)
{
    dk__api_on_worker(q, metrics_render);
}

/* Cluster loop: copy the cluster's counters. */
static void metrics_collect(dk_api_req *q)
{
    metrics_req *m = (metrics_req *)q;
    dk_cluster *c = q->api->cluster;
    metrics_cluster *cs = &m->cs;
    if (c->rpc) {
        dk_cluster_rpc_stats(c, &cs->rpc); /* every loop's instance */
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
    dk__api_back(q, metrics_back);
}

void dk__api_metrics(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    metrics_req *m = dk__api_req_new(api, x, sizeof(*m), DK_OP_METRICS);
    if (!m)
        return;
    if (r->method == HTTP_OPTIONS) {
        /* The dashboard's preflight before it sends a token to another member. */
        dk_buf_append_str(
            &m->q.headers,
            "Access-Control-Allow-Origin: *\r\n"
            "Access-Control-Allow-Methods: GET\r\nAccess-Control-Allow-Headers: Authorization\r\n"
            "Access-Control-Max-Age: 600\r\n");
        m->q.status = 204;
        dk__api_send(&m->q);
        return;
    }
    if (r->method != HTTP_GET) {
        dk__api_fail(&m->q, 405, "method_not_allowed", "use GET /metrics");
        return;
    }
    dk__api_on_cluster(&m->q, metrics_collect);
}
