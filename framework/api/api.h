/*
 * api.h - the client HTTP API of DESIGN.md section 7 on top of the HTTP
 * transport (http.h) and the local store (store.h): routing, header
 * validation, and JSON responses.
 *
 * One dk_api per loop thread. Routes run on that loop thread: plain key
 * requests go to that loop's own coordinator (the others to the one on
 * the cluster loop) and are answered from its result on the loop; what
 * blocks on I/O or walks the store (/admin/local, scans' rendering,
 * metrics, readiness, snapshots) runs on a worker. api_int.h lists the routes.
 */
#ifndef DK_API_H
#define DK_API_H

#include <pthread.h>
#include <uv.h>
#include "http/http.h"
#include "base/mailbox.h"
#include "node/node.h"

struct dk_cluster;
struct dk_auth;

typedef struct dk_api {
    uv_loop_t *loop;
    dk_node *node;
    const dk_config *cfg;
    dk_http_server *http;
    /* Key operations go through the coordinator, which lives on the
     * cluster loop; a request that arrived on another loop travels there
     * through cluster_mb and its answer comes back through own_mb. Never
     * NULL. */
    struct dk_cluster *cluster;
    uv_loop_t *cluster_loop;
    /* This loop thread's index (0: the cluster loop): plain reads and
     * writes are coordinated here by the loop's own coordinator when the
     * cluster has one for it (dk_cluster_coord_here). */
    unsigned loop_index;
    dk_mailbox *cluster_mb;
    dk_mailbox *own_mb;
    /* [security] tokens_file loaded (auth.h); NULL: no client tokens. */
    struct dk_auth *auth;
    /* Route states of finished /kv requests kept for the next (api.c), up
     * to DK_API_POOL_MAX, with their answer buffers and session state;
     * touched on the loop's own thread only (pool_thread). Zero at
     * start; dk_api_pool_free empties it. */
    struct dk_api_req *pool;
    unsigned pooled;
    pthread_t pool_thread;
    int pool_thread_set;
} dk_api;

/* Free the pooled route states. Loop thread, once no request is left. */
void dk_api_pool_free(dk_api *api);

/* The dk_http_handler for a server whose arg is a dk_api. Loop thread. */
void dk_api_handle(void *arg, dk_http_exchange *x, const dk_http_request *req);
/* The dk_http_head_check for the same server (auth.c): with client tokens
 * on, a request with a body and no valid token gets its 401 or 403 before
 * the body is read. Loop thread. */
void dk_api_head_check(void *arg, const dk_http_request *head, dk_http_early *out);
#endif
