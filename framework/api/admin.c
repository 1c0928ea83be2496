/*
 * admin.c - the /admin/ routes of the HTTP API (DESIGN.md section 7):
 * this file picks the verb, and holds the ring-move verbs itself:
 * POST /admin/decommission, POST /admin/remove/{id}, POST /admin/cleanup
 * and GET /admin/streams, and GET /admin/decommission (this node's
 * status, "handed_off" once it is left and drained: cluster/leaver.h). The others live one concept a file:
 * /admin/local/{key} in kv.c, /admin/snapshots in api_snapshot.c,
 * /admin/loglevel in api_loglevel.c, /admin/compact|flush|drain in
 * api_maint.c, /admin/repair in api_repair.c.
 *
 * Each verb acts on the cluster's state, which lives on the cluster loop:
 * the request travels there through the cluster mailbox, runs (cleanup
 * runs a worker job from there and answers when it ends), and the
 * response comes back through the origin loop's mailbox to be sent. The
 * alternative, a lock around the member table for every loop, would make
 * every gossip change contend with HTTP threads.
 *
 * Answers: 200 with a JSON description; 409 {"error":"conflict",
 * "message"} when the verb is refused (the node or member is in the wrong
 * state, it would leave fewer nodes than n_replicas, a move is under way);
 * 404 for an unknown member.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "cluster/cluster.h"
#include "cluster/leaver.h"
#include "cluster/rebalance.h"
#include "coord/cleanup.h"
#include "http/url.h"
#include "util/errors.h"

enum { ADM_DECOMMISSION, ADM_REMOVE, ADM_CLEANUP, ADM_STREAMS, ADM_DECOMMISSION_STATUS };

typedef struct admin_req {
    dk_api_req q;
    int verb;                    /* ADM_* */
    char id[DK_NODE_ID_MAX + 1]; /* ADM_REMOVE */
} admin_req;

static void admin_conflict(dk_api_req *q, int rc, const char *why)
{
    if (rc == DK_ENOTFOUND)
        dk__api_error(q, 404, "not_found", why);
    else
        dk__api_error(q, 409, "conflict", why);
}

/* Cluster loop: cleanup finished. */
static void admin_cleaned(void *arg, const dk_cleanup_result *r)
{
    dk_api_req *q = arg;
    if (r->status) {
        char msg[200];
        snprintf(msg, sizeof(msg), "cleanup stopped after %llu dropped keys: %s",
                 (unsigned long long)r->dropped, dk_strerror(r->status));
        dk__api_error(q, 500, "internal", msg);
    } else {
        dk__api_json(q, 200,
                     json_pack("{s:s, s:I, s:I, s:I}", "node", q->api->cfg->node.id, "scanned",
                               (json_int_t)r->scanned, "dropped", (json_int_t)r->dropped, "kept",
                               (json_int_t)r->kept));
    }
    dk__api_back(q, NULL);
}

/* Cluster loop: run the verb. */
static void admin_run(dk_api_req *q)
{
    admin_req *a = (admin_req *)q;
    dk_cluster *c = q->api->cluster;
    char why[400] = "";
    int rc;
    if (!c->members || !c->coord || c->stopping) {
        dk__api_error(q, 503, "shutting_down", "the node is stopping; retry on another node");
        dk__api_back(q, NULL);
        return;
    }
    switch (a->verb) {
    case ADM_DECOMMISSION_STATUS: {
        json_t *o = dk_cluster_decommission_json(c);
        json_object_set_new(o, "node", json_string(c->cfg->node.id));
        if (!dk_cluster_left(c)) {
            const dk_member *self = NULL;
            for (size_t i = 0; i < c->n_table; i++)
                if (!strcmp(c->table[i].id, c->cfg->node.id))
                    self = &c->table[i];
            json_object_set_new(o, "status",
                                json_string(self ? dk_member_status_name(self->status) : "unknown"));
        }
        dk__api_json(q, 200, o);
        break;
    }
    case ADM_DECOMMISSION:
        rc = dk_rebalance_decommission(c, why, sizeof(why));
        if (rc)
            admin_conflict(q, rc, why);
        else
            dk__api_json(
                q, 200,
                json_pack("{s:s, s:s, s:s}", "node", c->cfg->node.id, "status", "leaving", "message", why));
        break;
    case ADM_REMOVE:
        rc = dk_rebalance_remove(c, a->id, why, sizeof(why));
        if (rc)
            admin_conflict(q, rc, why);
        else
            dk__api_json(q, 200, json_pack("{s:s, s:s}", "node", a->id, "message", why));
        break;
    case ADM_CLEANUP:
        rc = dk_coord_cleanup(c->coord, admin_cleaned, q);
        if (rc == 0)
            return; /* answered by admin_cleaned */
        if (rc == -EBUSY)
            admin_conflict(q, rc,
                           "a ring move is under way or this node is getting its data back: "
                           "clean up once GET /cluster shows no move");
        else if (rc == -EALREADY)
            admin_conflict(q, rc, "a cleanup is already running on this node");
        else
            dk__api_error(q, 503, "unavailable", dk_strerror(rc));
        break;
    default: {
        json_t *o = dk_rebalance_progress(c);
        json_object_set_new(o, "node", json_string(c->cfg->node.id));
        dk__api_json(q, 200, o);
        break;
    }
    }
    dk__api_back(q, NULL);
}

/* The ring-move verbs; -1 when the path is none of them. */
static int admin_ring(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    const char *p = r->path + 7; /* after "/admin/" */
    size_t n = r->path_len - 7;
    int verb, want_post = 1;
    if (n == 12 && !memcmp(p, "decommission", 12)) {
        verb = r->method == HTTP_GET || r->method == HTTP_HEAD ? ADM_DECOMMISSION_STATUS : ADM_DECOMMISSION;
        want_post = verb == ADM_DECOMMISSION;
    } else if (n == 7 && !memcmp(p, "cleanup", 7)) {
        verb = ADM_CLEANUP;
    } else if (n == 7 && !memcmp(p, "streams", 7)) {
        verb = ADM_STREAMS;
        want_post = 0;
    } else if (n > 7 && !memcmp(p, "remove/", 7)) {
        verb = ADM_REMOVE;
    } else {
        return -1; /* not ours */
    }
    admin_req *a = dk__api_req_new(api, x, sizeof(*a), DK_OP_OTHER);
    if (!a)
        return 0;
    a->verb = verb;
    if (verb == ADM_REMOVE) {
        char id[DK_NODE_ID_MAX + 8];
        ssize_t len = dk_url_decode(p + 7, n - 7, id, sizeof(id));
        int ok = len > 0 && len <= (ssize_t)DK_NODE_ID_MAX;
        for (ssize_t i = 0; ok && i < len; i++)
            ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '_' ||
                 id[i] == '-';
        if (!ok) {
            dk__api_fail(&a->q, 400, "bad_node_id", "a node id matches [a-z0-9_-]{1,64}");
            return 0;
        }
        memcpy(a->id, id, (size_t)len);
    }
    if (want_post ? r->method != HTTP_POST : (r->method != HTTP_GET && r->method != HTTP_HEAD)) {
        dk_buf_append_str(&a->q.headers, want_post ? "Allow: POST\r\n" : "Allow: GET\r\n");
        dk__api_fail(&a->q, 405, "method_not_allowed",
                     verb == ADM_DECOMMISSION ? "use POST (or GET for its status)"
                     : want_post              ? "use POST"
                                              : "use GET");
        return 0;
    }
    dk__api_on_cluster(&a->q, admin_run);
    return 0;
}

int dk__api_admin(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    static const char local[] = "/admin/local/", repair[] = "/admin/repair";
    if (r->path_len >= sizeof(local) - 1 && memcmp(r->path, local, sizeof(local) - 1) == 0) {
        dk__api_kv(api, x, r, DK_API_KV_LOCAL);
        return 0;
    }
    if (dk__api_snapshot(api, x, r) == 0 || dk__api_loglevel(api, x, r) == 0 || dk__api_maint(api, x, r) == 0)
        return 0;
    if (r->path_len > 7 && admin_ring(api, x, r) == 0)
        return 0;
    if (r->path_len == sizeof(repair) - 1 && memcmp(r->path, repair, r->path_len) == 0) {
        dk__api_repair(api, x, r);
        return 0;
    }
    return -1;
}
