/*
 * api_int.h - what the two halves of the HTTP API share: the request job
 * that carries a request from the loop thread (api.c: parsing, routing,
 * coordinator hand-off, sending) to a worker (api_worker.c: store calls and
 * rendering the response) and back.
 */
#ifndef DK_API_INT_H
#define DK_API_INT_H

#include <jansson.h>
#include "api/api.h"
#include "coord/coordinator.h"
#include "coord/coord_scan.h"
#include "base/metrics.h"

typedef enum job_kind {
    JOB_GET, JOB_PUT, JOB_DELETE, JOB_SCAN, JOB_METRICS, JOB_CLUSTER, JOB_LOCAL,
    JOB_RENDER_SCAN,                      /* render the coordinator's scan page */
    JOB_REPAIR                            /* /admin/repair: answered on the cluster loop */
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
    dk_vv if_match;
    int cond;
    int64_t ttl_ms;
    uint8_t cursor[DK_KEY_MAX];         /* scan: continue after this key */
    size_t cursor_len;
    int has_cursor;
    uint32_t limit;
    int consistency;                    /* DK_CL_* */
    int strict;                         /* X-Quorum: strict */
    int repair_post;                    /* POST /admin/repair (key holds the prefix) */
    /* the coordinator's answer (cluster mode) */
    dk_mail mail;
    int coord_status;
    int acks, needed, replicas;
    dk_buf coord_raw;
    dk_coord_scan_page *scan_page;      /* a scan's page (owned) */
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
 * coordinator's outcome rc and object (NULL: none) of a GET (j->kind
 * JOB_GET) or a write. */
void dk__api_render_coord(dk_api_job *j, int rc, const dk_object *obj);
/* The same from j->coord_status and j->coord_raw (an answer that crossed
 * loops as bytes): decodes, then renders. Loop thread. */
void dk__api_render_coord_raw(dk_api_job *j);

/* Worker: scan the local store (no cluster), or render the coordinator's
 * scan page (api_scan.c). */
void dk__api_run_scan(dk_api_job *j, dk_store *st);
void dk__api_render_scan(dk_api_job *j);

/* Worker thread (uv_queue_work): run the job and render its response. */
void dk__api_job_work(uv_work_t *w);

/* Loop thread: free the job and everything it owns. */
void dk__api_job_free(dk_api_job *j);

/* Cluster loop (api_repair.c): answer GET /admin/repair (status) or POST
 * /admin/repair (start a repair) into j's response. */
void dk__api_repair(dk_api_job *j);
#endif
