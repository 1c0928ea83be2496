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

#include "api/api_int.h"
#include "util/errors.h"
#include "api/api_json.h"
#include "cluster/cluster.h"
#include "coord/antientropy.h"

/* Cluster loop. */
void dk__api_repair(dk_api_job *j)
{
    dk_coord *co = j->api->cluster ? j->api->cluster->coord : NULL;
    if (!co) {
        dk__api_job_error(j, 503, "shutting_down", "the node is stopping; retry on another node");
        return;
    }
    if (!j->repair_post) {
        int rc = dk_ae_status(co, &j->body);
        if (rc == 0) {
            j->status = 200;
            j->content_type = "application/json";
        } else {
            dk_buf_reset(&j->body);
            dk__api_job_error(j, 503, "unavailable", "anti-entropy is not running on this node");
        }
        return;
    }
    uint64_t id = 0;
    int rc = dk_ae_repair(co, (dk_slice){j->key, j->key_len}, &id);
    if (rc == -EBUSY) {
        dk__api_job_error(j, 503, "busy", "too many repairs are waiting; retry once some have finished "
                          "(GET /admin/repair)");
        return;
    }
    if (rc) {
        char msg[160];
        snprintf(msg, sizeof(msg), "cannot start a repair: %s", dk_strerror(rc));
        dk__api_job_error(j, 503, "unavailable", msg);
        return;
    }
    json_t *o = json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "queued");
    if (j->key_len)
        dk_json_set_key(o, "prefix", (dk_slice){j->key, j->key_len});
    dk__api_job_json(j, 202, o);
}
