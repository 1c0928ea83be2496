/*
 * api_maint.c - the maintenance verbs of the HTTP API (nodetool's):
 *
 *   POST /admin/compact   compact the engine's whole key range (the
 *                         engine's compact_range); 200 when done, 501 when
 *                         the engine has no compact_range
 *   POST /admin/flush     make everything written so far durable and, for
 *                         an LSM, write its memtables out; 200, 501 when
 *                         the engine has no flush
 *   POST /admin/drain     what SIGTERM does: readiness fails, no new
 *                         connections, the requests in flight finish
 *                         (within [node] drain_timeout), the engine is
 *                         closed (flushed) and the process exits 0;
 *                         answered 202 first
 *
 * Compact and flush block on I/O, so they run on a worker. Drain answers
 * at once and sends the process SIGTERM, so that one path (server/
 * dynkvd.c, on_signal) does the draining whichever way it was asked for;
 * this request is in flight, so its answer is written before the exit.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "base/log.h"
#include "util/errors.h"

enum { MAINT_COMPACT, MAINT_FLUSH };

static int maint_is(const dk_http_request *r, const char *path)
{
    size_t n = strlen(path);
    return r->path_len == n && memcmp(r->path, path, n) == 0;
}

typedef struct maint_req {
    dk_api_req q;
    int verb; /* MAINT_* */
} maint_req;

static void maint_run(dk_api_req *q);

int dk__api_maint(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    int drain = maint_is(r, "/admin/drain");
    if (!drain && !maint_is(r, "/admin/compact") && !maint_is(r, "/admin/flush"))
        return -1;
    maint_req *j = dk__api_req_new(api, x, sizeof(*j), DK_OP_OTHER);
    if (!j)
        return 0;
    dk_api_req *q = &j->q;
    if (r->method != HTTP_POST) {
        dk_buf_append_str(&q->headers, "Allow: POST\r\n");
        dk__api_fail(q, 405, "method_not_allowed", "use POST");
        return 0;
    }
    if (drain) {
        const dk_config *cfg = api->node->cfg;
        dk_log(DK_LOG_INFO, "drain asked over HTTP: draining as for SIGTERM");
        dk__api_json(q, 202,
                     json_pack("{s:s, s:s, s:I}", "node", cfg->node.id, "status", "draining",
                               "drain_timeout_ms", (json_int_t)cfg->node.drain_timeout));
        dk__api_send(q);
        kill(getpid(), SIGTERM);
        return 0;
    }
    j->verb = maint_is(r, "/admin/compact") ? MAINT_COMPACT : MAINT_FLUSH;
    dk__api_on_worker(q, maint_run);
    return 0;
}

/* Worker: compact or flush. */
static void maint_run(dk_api_req *q)
{
    maint_req *j = (maint_req *)q;
    dk_node *n = q->api->node;
    dk_engine_ref e = dk_node_engine(n);
    const char *verb = j->verb == MAINT_COMPACT ? "compact" : "flush";
    uint64_t t0 = dk_mono_ns();
    int rc = j->verb == MAINT_COMPACT ? dk_engine_compact_range(&e, (dk_slice){0}, (dk_slice){0})
                                      : dk_engine_flush(&e);
    if (rc == DK_EUNSUPPORTED) {
        char msg[200];
        snprintf(msg, sizeof(msg), "the engine '%s' has no %s operation", n->cfg->storage.engine,
                 j->verb == MAINT_COMPACT ? "compact_range" : "flush");
        dk__api_error(q, 501, "not_supported", msg);
        return;
    }
    uint64_t ms = (dk_mono_ns() - t0) / 1000000u;
    if (rc) {
        dk_log(DK_LOG_ERROR, "%s asked over HTTP failed: %s", verb, dk_strerror(rc));
        dk__api_error(q, 500, "internal", dk_strerror(rc));
        return;
    }
    dk_log(DK_LOG_INFO, "%s asked over HTTP: done in %llu ms", verb, (unsigned long long)ms);
    dk__api_json(q, 200,
                 json_pack("{s:s, s:s, s:I}", "node", n->cfg->node.id, "done", verb, "ms", (json_int_t)ms));
}
