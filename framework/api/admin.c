/*
 * admin.c - the ring-move admin verbs of the HTTP API (DESIGN.md section
 * 7): POST /admin/decommission, POST /admin/remove/{id},
 * POST /admin/cleanup and GET /admin/streams.
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
 * 404 for an unknown member; 503 without cluster mode.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "cluster/cluster.h"
#include "cluster/rebalance.h"
#include "coord/cleanup.h"
#include "http/url.h"
#include "util/errors.h"

enum { ADM_DECOMMISSION, ADM_REMOVE, ADM_CLEANUP, ADM_STREAMS };

/* Origin loop: the answer is in the job. */
static void admin_back(void *arg)
{
    dk__api_job_send(arg);
}

/* Cluster loop: hand the finished job back to its own loop. */
static void admin_reply(dk_api_job *j)
{
    if (j->api->loop == j->api->cluster_loop || dk_mailbox_post(j->api->own_mb, &j->mail, admin_back, j) != 0)
        admin_back(j);
}

static void admin_conflict(dk_api_job *j, int rc, const char *why)
{
    if (rc == DK_ENOTFOUND)
        dk__api_job_error(j, 404, "not_found", why);
    else
        dk__api_job_error(j, 409, "conflict", why);
}

/* Cluster loop: cleanup finished. */
static void admin_cleaned(void *arg, const dk_cleanup_result *r)
{
    dk_api_job *j = arg;
    if (r->status) {
        char msg[200];
        snprintf(msg, sizeof(msg), "cleanup stopped after %llu dropped keys: %s", (unsigned long long)r->dropped,
                 dk_strerror(r->status));
        dk__api_job_error(j, 500, "internal", msg);
    } else {
        dk__api_job_json(j, 200, json_pack("{s:s, s:I, s:I, s:I}", "node", j->api->cfg->node.id, "scanned",
                                           (json_int_t)r->scanned, "dropped", (json_int_t)r->dropped, "kept",
                                           (json_int_t)r->kept));
    }
    admin_reply(j);
}

/* Cluster loop: run the verb. */
static void admin_run(void *arg)
{
    dk_api_job *j = arg;
    dk_cluster *c = j->api->cluster;
    char why[400] = "";
    int rc;
    if (!c->members || !c->coord || c->stopping) {
        dk__api_job_error(j, 503, "shutting_down", "the node is stopping; retry on another node");
        admin_reply(j);
        return;
    }
    switch (j->admin_op) {
    case ADM_DECOMMISSION:
        rc = dk_rebalance_decommission(c, why, sizeof(why));
        if (rc)
            admin_conflict(j, rc, why);
        else
            dk__api_job_json(j, 200, json_pack("{s:s, s:s, s:s}", "node", c->cfg->node.id, "status", "leaving",
                                               "message", why));
        break;
    case ADM_REMOVE: {
        char id[DK_NODE_ID_MAX + 1];
        snprintf(id, sizeof(id), "%.*s", (int)j->key_len, (const char *)j->key);
        rc = dk_rebalance_remove(c, id, why, sizeof(why));
        if (rc)
            admin_conflict(j, rc, why);
        else
            dk__api_job_json(j, 200, json_pack("{s:s, s:s}", "node", id, "message", why));
        break;
    }
    case ADM_CLEANUP:
        rc = dk_coord_cleanup(c->coord, admin_cleaned, j);
        if (rc == 0)
            return;     /* answered by admin_cleaned */
        if (rc == -EBUSY)
            admin_conflict(j, rc, "a ring move is under way or this node is getting its data back: "
                                  "clean up once GET /cluster shows no move");
        else if (rc == -EALREADY)
            admin_conflict(j, rc, "a cleanup is already running on this node");
        else
            dk__api_job_error(j, 503, "unavailable", dk_strerror(rc));
        break;
    default: {
        json_t *o = dk_rebalance_progress(c);
        json_object_set_new(o, "node", json_string(c->cfg->node.id));
        dk__api_job_json(j, 200, o);
        break;
    }
    }
    admin_reply(j);
}

static void admin_reply_now(dk_api_job *j, int status, const char *code, const char *msg)
{
    dk__api_job_error(j, status, code, msg);
    dk__api_job_send(j);
}

int dk__api_admin(dk_api_job *j, const dk_http_request *r)
{
    const char *p = r->path + 7;                 /* after "/admin/" */
    size_t n = r->path_len - 7;
    int want_post = 1;
    if (n == 12 && !memcmp(p, "decommission", 12)) {
        j->admin_op = ADM_DECOMMISSION;
    } else if (n == 7 && !memcmp(p, "cleanup", 7)) {
        j->admin_op = ADM_CLEANUP;
    } else if (n == 7 && !memcmp(p, "streams", 7)) {
        j->admin_op = ADM_STREAMS;
        want_post = 0;
    } else if (n > 7 && !memcmp(p, "remove/", 7)) {
        j->admin_op = ADM_REMOVE;
        char id[DK_NODE_ID_MAX + 8];
        ssize_t len = dk_url_decode(p + 7, n - 7, id, sizeof(id));
        int ok = len > 0 && len <= (ssize_t)DK_NODE_ID_MAX;
        for (ssize_t i = 0; ok && i < len; i++)
            ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '_' || id[i] == '-';
        if (!ok) {
            admin_reply_now(j, 400, "bad_node_id", "a node id matches [a-z0-9_-]{1,64}");
            return 0;
        }
        memcpy(j->key, id, (size_t)len);
        j->key_len = (size_t)len;
    } else {
        return -1;      /* not ours */
    }
    if (want_post ? r->method != HTTP_POST : (r->method != HTTP_GET && r->method != HTTP_HEAD)) {
        dk_buf_append_str(&j->headers, want_post ? "Allow: POST\r\n" : "Allow: GET\r\n");
        admin_reply_now(j, 405, "method_not_allowed", want_post ? "use POST" : "use GET");
        return 0;
    }
    if (!j->api->cluster) {
        admin_reply_now(j, 503, "unavailable", "this node runs without cluster services");
        return 0;
    }
    if (j->api->loop == j->api->cluster_loop)
        admin_run(j);
    else if (dk_mailbox_post(j->api->cluster_mb, &j->mail, admin_run, j) != 0)
        admin_reply_now(j, 503, "shutting_down", "the node is stopping; retry on another node");
    return 0;
}
