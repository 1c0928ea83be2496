/*
 * api_int.h - what the two halves of the HTTP API share: the request job
 * that carries a request from the loop thread (api.c: parsing, routing,
 * coordinator hand-off, sending) to a worker (api_worker.c: store calls and
 * rendering the response) and back. The /crdt/ routes (api_crdt.c) ride
 * the same jobs as GET and PUT, marked crdt.
 */
#ifndef DK_API_INT_H
#define DK_API_INT_H

#include <jansson.h>
#include "api/api.h"
#include "coord/coordinator.h"
#include "coord/coord_scan.h"
#include "base/metrics.h"
#include "gossip/membership.h"
#include "rpc/rpc.h"

/* What GET /metrics copies on the cluster loop (RPC counters may only be
 * read there) before a worker renders it. */
typedef struct dk_api_cluster_stats {
    int collected;                      /* 1 once the cluster loop filled it */
    int have_rpc, have_gossip;
    dk_rpc_stats rpc;
    dk_membership_stats gossip;
    uint64_t members[DK_MEMBER_REMOVED + 1];    /* by state, self included */
    uint64_t ring_version;
} dk_api_cluster_stats;

typedef enum job_kind {
    JOB_GET, JOB_PUT, JOB_DELETE, JOB_SCAN, JOB_METRICS, JOB_CLUSTER, JOB_LOCAL,
    JOB_RENDER_SCAN,                    /* render the coordinator's scan page */
    JOB_READY,                          /* GET /readyz, /health */
    JOB_RING, JOB_ENDPOINTS, JOB_INFO,  /* api_ops.c */
    JOB_REPAIR,                         /* /admin/repair: answered on the cluster loop */
    JOB_SNAPSHOT,                       /* /admin/snapshots (api_snapshot.c) */
    JOB_MAINT                           /* /admin/compact, /admin/flush (api_maint.c) */
} job_kind;

typedef struct dk_api_job {
    uv_work_t work;
    dk_api *api;
    dk_http_exchange *x;
    job_kind kind;
    dk_op op;
    uint64_t start_ns;
    /* request */
    uint8_t key[DK_KEY_MAX];
    size_t key_len;
    dk_slice value;
    int raw_read;                       /* Accept: application/octet-stream */
    dk_vv context;
    int has_context;
    int context_is_map;                 /* X-Context came as a JSON version map */
    dk_vv if_match;
    int cond;
    int64_t ttl_ms;
    uint8_t cursor[DK_KEY_MAX];         /* scan: continue after this key */
    size_t cursor_len;
    int has_cursor;
    uint32_t limit;
    int consistency;                    /* DK_CL_* */
    int admin_op;                       /* admin.c: which verb */
    int strict;                         /* X-Quorum: strict */
    int verbose;                        /* /readyz?verbose */
    int repair_post;                    /* POST /admin/repair (key holds the prefix) */
    int crdt;                           /* /crdt/{key}: a CRDT read, or an operation in value */
    dk_buf crdt_op;                     /* POST /crdt: the encoded operation value points at */
    uint8_t crdt_type;                  /* POST /crdt: the operation's DK_CRDT_* type */
    struct dk_api_session *session;     /* /kv/, /crdt/: X-Session (api_session.c) */
    /* the coordinator's answer (cluster mode) */
    dk_mail mail;
    int coord_status;
    int acks, needed, replicas;
    dk_buf coord_raw;
    dk_coord_scan_page *scan_page;      /* a scan's page (owned) */
    dk_api_cluster_stats cstats;        /* GET /metrics in cluster mode */
    /* response */
    int status;
    const char *content_type;
    dk_buf headers;
    dk_buf body;
} dk_api_job;

/* Worker or loop: set j's response to a JSON error / to the JSON o (taken). */
void dk__api_job_error(dk_api_job *j, int status, const char *code, const char *msg);
void dk__api_job_json(dk_api_job *j, int status, json_t *o);

/* Worker: set j's response for a store or coordinator error code. */
void dk__api_job_store_error(dk_api_job *j, int rc);

/* Any thread (pure; called on the loop): set j's response from the
 * coordinator's outcome rc and object (NULL: none) with its encoding raw
 * (a CRDT object renders from it) of a GET (j->kind JOB_GET) or a write. */
void dk__api_render_coord(dk_api_job *j, int rc, dk_slice raw, const dk_object *obj);
/* The same from j->coord_status and j->coord_raw (an answer that crossed
 * loops as bytes): decodes, then renders. Loop thread. */
void dk__api_render_coord_raw(dk_api_job *j);

/* Worker: scan the local store (no cluster), or render the coordinator's
 * scan page (api_scan.c). */
void dk__api_run_scan(dk_api_job *j, dk_store *st);
void dk__api_render_scan(dk_api_job *j);

/* Worker: GET /cluster/ring (?ranges: j->verbose), GET
 * /cluster/endpoints/{key} (j->key), GET /info (api_ops.c). */
void dk__api_run_ring(dk_api_job *j);
void dk__api_run_endpoints(dk_api_job *j);
void dk__api_run_info(dk_api_job *j);

/* Bytes the regular files under dir occupy on disk (allocated blocks), up
 * to depth folders down; 0 when dir does not exist. Worker thread. */
uint64_t dk__api_disk_bytes(const char *dir, int depth);

/* Loop thread: the /crdt/{key} request after its key and X-Consistency:
 * sets the job's kind (JOB_GET, or JOB_PUT with the encoded operation as
 * its value) and returns 0, or sets an error response and returns -1
 * (api_crdt.c). */
int  dk__api_crdt_request(dk_api_job *j, const dk_http_request *r);

/* Worker: the response of a /crdt/ read or operation from its outcome and
 * the resulting object (raw and decoded), as {"key","type","value"}. */
void dk__api_crdt_render(dk_api_job *j, int rc, dk_slice raw, const dk_object *obj);

/* 1 when raw is an encoded CRDT object. */
int  dk__api_crdt_is_crdt(dk_slice raw);

/* Worker: set o["type"] and o["value"] from a CRDT object (scans, the
 * local read). 0, or an error code with o unchanged. */
int  dk__api_crdt_describe(dk_api *api, json_t *o, dk_slice raw, const dk_object *obj);

/* Worker thread (uv_queue_work): run the job and render its response. */
void dk__api_job_work(uv_work_t *w);

/* Loop thread: free the job and everything it owns. */
void dk__api_job_free(dk_api_job *j);

/* Loop thread: send j's response, count it, free j. */
void dk__api_job_send(dk_api_job *j);

/* admin.c, loop thread: route /admin/{decommission,remove/ID,cleanup,
 * streams}. Returns 0 when it took the request (answered now or later),
 * -1 when the path is not one of them. */
int dk__api_admin(dk_api_job *j, const dk_http_request *r);

/* api_snapshot.c, loop thread: route /admin/snapshots[/NAME] (0: taken,
 * -1: not that path); worker: run the verb. */
int dk__api_snapshot(dk_api_job *j, const dk_http_request *r);
void dk__api_run_snapshot(dk_api_job *j);

/* api_maint.c, loop thread: route POST /admin/compact|flush|drain (0:
 * taken, -1: not that path); worker: run compact or flush. */
int dk__api_maint(dk_api_job *j, const dk_http_request *r);
void dk__api_run_maint(dk_api_job *j);

/* api_loglevel.c, loop thread: GET/POST /admin/loglevel (0: answered,
 * -1: not that path). */
int dk__api_loglevel(dk_api_job *j, const dk_http_request *r);

/* Loop thread: run j where its kind runs (the coordinator, the cluster
 * loop or a worker) and answer when done. */
void dk__api_dispatch(dk_api_job *j);
/* Loop thread (auth.c): with api->auth set, check the request's bearer
 * token against the role its route needs. Returns 0 to go on, or -1
 * after answering 401 or 403 itself (j is then gone). */
int dk__api_authorize(dk_api_job *j, const dk_http_request *r);

/* api_session.c. Loop thread: read X-Session into a new j->session (0),
 * or answer 400/503 and return -1 (j is then gone). Cluster loop: a GET
 * through the coordinator that honours the session. Any thread: before
 * rendering an answer, note obj in the session; 1 when it answered itself
 * (503 session_unavailable). Loop thread, when sending: add the X-Session
 * header (nothing without a session). */
int  dk__api_session_parse(dk_api_job *j, const dk_http_request *r);
int  dk__api_session_get(dk_api_job *j, dk_coord *co, dk_coord_cb cb);
int  dk__api_session_render(dk_api_job *j, int rc, const dk_object *obj);
void dk__api_session_header(dk_api_job *j);
void dk__api_session_free(dk_api_job *j);

/* Cluster loop (api_repair.c): answer GET /admin/repair (status) or POST
 * /admin/repair (start a repair) into j's response. */
void dk__api_repair(dk_api_job *j);
#endif
