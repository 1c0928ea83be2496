/*
 * api_int.h - what the routes of the HTTP API share. The router (api.c)
 * picks a route by path; each route keeps its own small state, which
 * starts with a dk_api_req: where the answer goes, the answer so far, and
 * the hops a request may take (to a worker, to the cluster loop and back).
 *
 *   kv.c            GET/PUT/DELETE /kv/{key}, the /crdt/{key} routes (their
 *                   JSON operations in api_crdt.c), GET /admin/local/{key}
 *   scan.c          GET /kv?prefix=P&limit=N&cursor=C
 *   admin.c         /admin/...: the ring-move verbs here, the others in
 *                   api_snapshot.c, api_maint.c, api_loglevel.c,
 *                   api_repair.c
 *   api_ops.c       /livez, /readyz, /health, /cluster, /cluster/ring,
 *                   /cluster/endpoints/{key}, /info, /ui/
 *   api_metrics.c   /metrics
 *   api_ring.c      the X-Ring / X-Coordinator headers of /kv, /crdt, scans
 *   auth.c          bearer tokens, checked before any route
 */
#ifndef DK_API_INT_H
#define DK_API_INT_H

#include <jansson.h>
#include "api/api.h"
#include "base/metrics.h"
#include "coord/coordinator.h"
#include "node/object.h"
#include "util/vv.h"

typedef struct dk_api_req dk_api_req;
typedef void (*dk_api_step)(dk_api_req *q);

/* The part of every route's state the router and the hops use. A route's
 * own struct starts with it, so a dk_api_req * is also the route's. */
struct dk_api_req {
    dk_api *api;
    dk_http_exchange *x;
    dk_op op; /* the metrics label */
    uint64_t start_ns;
    void (*release)(dk_api_req *q); /* frees what the route's state owns; NULL: nothing */
    dk_api_step step, then;         /* the hop's work and what follows it */
    uv_work_t work;
    dk_mail mail;
    /* the answer */
    int status;
    const char *content_type;
    dk_buf headers; /* "Name: value\r\n" lines */
    dk_buf body;
    dk_slice body_ref;              /* instead of body: bytes valid until the send */
    struct dk_api_session *session; /* X-Session of /kv, /crdt and scans (api_session.c) */
    struct dk_api_session *spare;   /* a session state kept for reuse (pooled states) */
    dk_api_req *pool_next;          /* in api->pool */
    size_t size;                    /* of the route's state (a /kv one is pooled) */
    int session_on;                 /* the route answers with X-Session (api_session.c) */
};

/* A zeroed route state of size bytes (at least a dk_api_req) for x, with
 * its start time taken; NULL after answering 503 itself when out of
 * memory. Loop thread. */
void *dk__api_req_new(dk_api *api, dk_http_exchange *x, size_t size, dk_op op);

/* Set q's answer to a JSON error / to the JSON o (taken). Any thread. */
void dk__api_error(dk_api_req *q, int status, const char *code, const char *msg);
void dk__api_json(dk_api_req *q, int status, json_t *o);

/* Loop thread: the pooled route states' session state (api_session.c),
 * freed. */
void dk__api_session_drop_spare(dk_api_req *q);

/* Loop thread: send q's answer, count it, free q (and what it owns): a
 * /kv route state goes back to the loop's pool with its buffers. */
void dk__api_send(dk_api_req *q);
/* dk__api_error, then dk__api_send. */
void dk__api_fail(dk_api_req *q, int status, const char *code, const char *msg);

/* Replica counts of a coordinated request, for 503/504 messages. */
typedef struct dk_api_acks {
    int acks, needed, replicas;
    int write; /* the counts are a write's: a 503 says it may still apply */
} dk_api_acks;

/* Set q's answer for a store or coordinator error code (a NULL: no
 * counts). Any thread. */
void dk__api_store_error(dk_api_req *q, int rc, const dk_api_acks *a);

/* Loop thread: run step(q) on a worker, then send q's answer from the
 * loop (503 when the pool is gone or full). */
void dk__api_on_worker(dk_api_req *q, dk_api_step step);
/* Loop thread: run step(q) on the cluster loop (at once when this is
 * it); step ends with dk__api_back. 503 when the cluster loop is gone. */
void dk__api_on_cluster(dk_api_req *q, dk_api_step step);
/* Cluster loop: back to q's own loop, where then(q) runs (NULL: send). */
void dk__api_back(dk_api_req *q, dk_api_step then);

/* Decode the percent-encoded key of a path into key[DK_KEY_MAX]; 0, or
 * -1 after setting q's 400 answer. */
int dk__api_key_decode(dk_api_req *q, const char *raw, size_t raw_len, uint8_t *key, size_t *key_len);
/* X-Consistency into *cl (DK_CL_*), X-Quorum into *strict (either may be
 * NULL); 0, or -1 after setting q's 400 answer. */
int dk__api_consistency(dk_api_req *q, const dk_http_request *r, int *cl, int *strict);

/* ---- the routes -------------------------------------------------------- */

/* Loop thread: each answers x now or later. */
enum { DK_API_KV, DK_API_KV_CRDT, DK_API_KV_LOCAL };
void dk__api_kv(dk_api *api, dk_http_exchange *x, const dk_http_request *r, int route);
void dk__api_scan(dk_api *api, dk_http_exchange *x, const dk_http_request *r);
void dk__api_metrics(dk_api *api, dk_http_exchange *x, const dk_http_request *r);
void dk__api_repair(dk_api *api, dk_http_exchange *x, const dk_http_request *r);

/* Loop thread: 0 when the path is theirs (answered now or later), -1
 * when it is not. */
int dk__api_admin(dk_api *api, dk_http_exchange *x, const dk_http_request *r);
int dk__api_ops(dk_api *api, dk_http_exchange *x, const dk_http_request *r);
int dk__api_snapshot(dk_api *api, dk_http_exchange *x, const dk_http_request *r);
int dk__api_maint(dk_api *api, dk_http_exchange *x, const dk_http_request *r);
int dk__api_loglevel(dk_api *api, dk_http_exchange *x, const dk_http_request *r);

/* Loop thread (auth.c): with api->auth set, check the request's bearer
 * token against the role its route needs. 0 to go on, or -1 after
 * answering 401 or 403 itself. */
int dk__api_authorize(dk_api *api, dk_http_exchange *x, const dk_http_request *r);

/* api_session.c. Loop thread: read X-Session into a new q->session (0),
 * or set a 400/503 answer and return -1. Cluster loop: a GET through the
 * coordinator that honours the session. Any thread: before rendering an
 * answer, note obj in the session; 1 when it set the answer itself (503
 * session_unavailable). Loop thread, when sending (dk__api_send): add the
 * X-Session header and free the session (nothing without one). */
int dk__api_session_parse(dk_api_req *q, const dk_http_request *r);
int dk__api_session_get(dk_api_req *q, dk_coord *co, dk_slice key, int consistency, int strict,
                        const dk_coord_prefs *prefs, dk_coord_cb cb, void *arg);
/* Loop thread: 1 when a read of key asks nothing of q's session (no
 * session, or the token names no version of key): any coordinator may
 * serve it; 0 when only the cluster loop's may (the session read waits
 * there). */
int dk__api_session_plain(const dk_api_req *q, dk_slice key);
int dk__api_session_render(dk_api_req *q, dk_slice key, int rc, const dk_object *obj);
void dk__api_session_header(dk_api_req *q);
void dk__api_session_free(dk_api_req *q);

/* api_ring.c. Any thread: the ring tag of r (X-Ring, and "ring_tag" of
 * GET /cluster/ring). Loop thread, as a request arrives: add X-Ring and,
 * when key is given and this node is not one of its replicas,
 * X-Coordinator: not-replica to q's answer (nothing without a ring); with
 * key and prefs, *prefs gets the key's preference list for the
 * coordinator (n 0: none). */
struct dk_ring;
uint64_t dk__api_ring_tag(const dk_api *api, const struct dk_ring *r);
void dk__api_ring_note(dk_api_req *q, const uint8_t *key, size_t len, dk_coord_prefs *prefs);

/* Bytes the regular files under dir occupy on disk (allocated blocks), up
 * to depth folders down; 0 when dir does not exist. Worker thread. */
uint64_t dk__api_disk_bytes(const char *dir, int depth);

/* ---- the /kv and /crdt request (kv.c; api_crdt.c parses and renders the
 * CRDT side) ------------------------------------------------------------ */

typedef struct dk_api_kv {
    dk_api_req q;
    int route;            /* DK_API_KV* */
    int write, tombstone; /* a PUT (or CRDT POST) / a DELETE */
    uint8_t key[DK_KEY_MAX];
    size_t key_len;
    dk_slice value;          /* borrows the request body, or crdt_op */
    int raw_read;            /* Accept: application/octet-stream */
    int consistency, strict; /* X-Consistency, X-Quorum */
    dk_vv context;           /* X-Context */
    int has_context, context_is_map;
    dk_vv if_match;
    int cond;       /* DK_COND_* */
    int64_t ttl_ms; /* X-TTL */
    dk_buf crdt_op; /* POST /crdt: the encoded operation */
    uint8_t crdt_type;
    dk_api_acks acks;
    struct dk_coord *here; /* coordinated by this loop's own coordinator (kv.c) */
    dk_coord_prefs prefs;  /* the key's preference list (api_ring.c) */
    int coord_status;      /* an answer that crossed loops: */
    dk_buf coord_raw;      /* its object's encoding */
    int64_t read_ms;       /* a read's liveness time (dk_coord_result.now_ms), 0: none */
} dk_api_kv;

/* The /crdt/{key} request after its key and consistency: sets k's method
 * (a POST is a write of the encoded operation) and returns 0, or sets an
 * error answer and returns -1. Loop thread. */
int dk__api_crdt_request(dk_api_kv *k, const dk_http_request *r);

/* The answer of a /crdt/ read or operation from its outcome and the
 * resulting object (raw and decoded), as {"key","type","value"}. */
void dk__api_crdt_render(dk_api_kv *k, int rc, dk_slice raw, const dk_object *obj);

/* 1 when raw is an encoded CRDT object. */
int dk__api_crdt_is_crdt(dk_slice raw);

/* Set o["type"] and o["value"] from a CRDT object (scans, the local
 * read). 0, or an error code with o unchanged. */
int dk__api_crdt_describe(dk_api *api, json_t *o, dk_slice raw, const dk_object *obj);
#endif
