/*
 * api_repair.c - /admin/repair, answered on the cluster loop where
 * anti-entropy lives (coord/antientropy.h): GET renders its status, POST
 * [?prefix=P] queues a repair and answers 202 with the request's id, which
 * the status lists with its outcome (the CLI polls it).
 *
 * The documents are small (a few lines per replica group), so they are
 * built on the loop rather than copied to a worker: the alternative, a
 * snapshot of the scheduler's state handed to a worker, would cost more
 * than the rendering it moves.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "util/errors.h"
#include "api/api_json.h"
#include "cluster/cluster.h"
#include "coord/antientropy.h"
#include "http/url.h"

typedef struct repair_req {
    dk_api_req q;
    int post; /* POST: start one */
    uint8_t prefix[DK_KEY_MAX];
    size_t prefix_len;
} repair_req;

/* Cluster loop. */
static void repair_run(dk_api_req *q)
{
    repair_req *rq = (repair_req *)q;
    dk_coord *co = q->api->cluster->coord;
    if (!co) {
        dk__api_error(q, 503, "shutting_down", "the node is stopping; retry on another node");
    } else if (!rq->post) {
        int rc = dk_ae_status(co, &q->body);
        if (rc == 0) {
            q->status = 200;
            q->content_type = "application/json";
        } else {
            dk_buf_reset(&q->body);
            dk__api_error(q, 503, "unavailable", "anti-entropy is not running on this node");
        }
    } else {
        uint64_t id = 0;
        int rc = dk_ae_repair(co, (dk_slice){rq->prefix, rq->prefix_len}, &id);
        if (rc == -EBUSY) {
            dk__api_error(q, 503, "busy",
                          "too many repairs are waiting; retry once some have finished "
                          "(GET /admin/repair)");
        } else if (rc) {
            char msg[160];
            snprintf(msg, sizeof(msg), "cannot start a repair: %s", dk_strerror(rc));
            dk__api_error(q, 503, "unavailable", msg);
        } else {
            json_t *o = json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "queued");
            if (rq->prefix_len)
                dk_json_set_key(o, "prefix", (dk_slice){rq->prefix, rq->prefix_len});
            dk__api_json(q, 202, o);
        }
    }
    dk__api_back(q, NULL);
}

/* GET /admin/repair: progress and the last exchanges; POST
 * /admin/repair[?prefix=P]: start a repair. */
void dk__api_repair(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    repair_req *rq = dk__api_req_new(api, x, sizeof(*rq), DK_OP_OTHER);
    if (!rq)
        return;
    if (r->method != HTTP_GET && r->method != HTTP_POST) {
        dk_buf_append_str(&rq->q.headers, "Allow: GET, POST\r\n");
        dk__api_fail(&rq->q, 405, "method_not_allowed",
                     "GET /admin/repair shows progress; POST /admin/repair[?prefix=P] starts one");
        return;
    }
    char buf[1024];
    ssize_t n = dk_url_query_get(r->query, r->query_len, "prefix", buf, sizeof(buf));
    if (r->method == HTTP_POST && ((n < 0 && n != DK_ENOTFOUND) || n > (ssize_t)DK_KEY_MAX)) {
        dk__api_fail(&rq->q, 400, "bad_prefix", "prefix must be percent-encoded and at most 256 bytes");
        return;
    }
    if (r->method == HTTP_POST && n > 0) {
        memcpy(rq->prefix, buf, (size_t)n);
        rq->prefix_len = (size_t)n;
    }
    rq->post = r->method == HTTP_POST;
    dk__api_on_cluster(&rq->q, repair_run);
}
