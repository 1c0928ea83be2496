/*
 * api_snapshot.c - the snapshot verbs of the HTTP API:
 *
 *   POST   /admin/snapshots[?name=NAME]  write one (default name: the UTC
 *                                        time, 20261204T213000Z); 201
 *   GET    /admin/snapshots              list them
 *   DELETE /admin/snapshots/NAME         delete one
 *   POST   /admin/snapshot[?name=NAME]   the same as POST /admin/snapshots
 *                                        (the singular the issue and
 *                                        nodetool's verb use)
 *
 * They touch only this node's files, so they run on a worker (the copy
 * blocks on I/O) without the cluster loop. Errors: 400 for a bad name,
 * 404 for an unknown one, 409 when it exists or another snapshot is being
 * written, 501 when the engine cannot checkpoint.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "http/url.h"
#include "node/snapshot.h"
#include "util/errors.h"

enum { SNAP_LIST, SNAP_CREATE, SNAP_REMOVE };

typedef struct snap_req {
    dk_api_req q;
    int verb; /* SNAP_* */
    char name[DK_SNAPSHOT_NAME_MAX + 1];
} snap_req;

static void snap_run(dk_api_req *q);

int dk__api_snapshot(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    static const char base[] = "/admin/snapshots";
    size_t blen = sizeof(base) - 1;
    /* The singular is a POST-only alias of creating one. */
    int singular = r->path_len == blen - 1 && memcmp(r->path, base, blen - 1) == 0;
    if (singular && r->method != HTTP_POST)
        return -1;
    if (singular)
        blen--;
    else if (r->path_len < blen || memcmp(r->path, base, blen) != 0 ||
             (r->path_len > blen && r->path[blen] != '/'))
        return -1;
    const char *name = r->path + blen + 1;
    size_t name_len = r->path_len > blen ? r->path_len - blen - 1 : 0;
    snap_req *j = dk__api_req_new(api, x, sizeof(*j), DK_OP_OTHER);
    if (!j)
        return 0;
    dk_api_req *q = &j->q;
    if (r->path_len <= blen + 1) {
        if (r->method == HTTP_GET || r->method == HTTP_HEAD) {
            j->verb = SNAP_LIST;
        } else if (r->method == HTTP_POST) {
            j->verb = SNAP_CREATE;
            char v[DK_SNAPSHOT_NAME_MAX + 2];
            int rc = dk_url_query_get(r->query, r->query_len, "name", v, sizeof(v));
            if (rc == DK_ENOTFOUND) {
                time_t now = time(NULL);
                struct tm tm;
                gmtime_r(&now, &tm);
                strftime(j->name, sizeof(j->name), "%Y%m%dT%H%M%SZ", &tm);
            } else if (rc < 0 || !dk_snapshot_name_ok(v, strlen(v))) {
                dk__api_fail(q, 400, "bad_name",
                             "a snapshot name matches [A-Za-z0-9_.-]{1,64} and does not "
                             "start with '.'");
                return 0;
            } else {
                memcpy(j->name, v, strlen(v) + 1);
            }
        } else {
            dk_buf_append_str(&q->headers, "Allow: GET, POST\r\n");
            dk__api_fail(q, 405, "method_not_allowed", "GET /admin/snapshots lists, POST writes one");
            return 0;
        }
    } else {
        if (r->method != HTTP_DELETE) {
            dk_buf_append_str(&q->headers, "Allow: DELETE\r\n");
            dk__api_fail(q, 405, "method_not_allowed", "DELETE /admin/snapshots/NAME deletes one");
            return 0;
        }
        char dec[DK_SNAPSHOT_NAME_MAX + 2];
        ssize_t n = dk_url_decode(name, name_len, dec, sizeof(dec));
        if (n <= 0 || !dk_snapshot_name_ok(dec, (size_t)n)) {
            dk__api_fail(q, 400, "bad_name", "a snapshot name matches [A-Za-z0-9_.-]{1,64}");
            return 0;
        }
        j->verb = SNAP_REMOVE;
        memcpy(j->name, dec, (size_t)n);
    }
    dk__api_on_worker(q, snap_run);
    return 0;
}

static json_t *snap_json(const dk_snapshot_info *s, const char *data_dir)
{
    char path[DK_CONFIG_PATH_MAX + 96];
    snprintf(path, sizeof(path), "%s/snapshots/%s", data_dir, s->name);
    return json_pack("{s:s, s:s, s:I, s:I, s:s}", "name", s->name, "node", s->node, "created_ms",
                     (json_int_t)s->created_ms, "bytes", (json_int_t)s->bytes, "path", path);
}

static void snap_listed(void *arg, const dk_snapshot_info *s)
{
    void **a = arg;
    json_array_append_new(a[0], snap_json(s, a[1]));
}

/* Worker: the verb. */
static void snap_run(dk_api_req *q)
{
    snap_req *j = (snap_req *)q;
    dk_node *n = q->api->node;
    const char *data_dir = n->cfg->node.data_dir;
    const char *name = j->name;
    char err[600] = "";
    int rc;
    switch (j->verb) {
    case SNAP_CREATE: {
        dk_snapshot_info info;
        rc = dk_snapshot_create(n, name, &info, err, sizeof(err));
        if (rc == 0)
            dk__api_json(q, 201, snap_json(&info, data_dir));
        else if (rc == DK_EUNSUPPORTED)
            dk__api_error(q, 501, "not_supported", err);
        else if (rc == -EEXIST || rc == -EBUSY)
            dk__api_error(q, 409, "conflict", err);
        else if (rc == -EINVAL)
            dk__api_error(q, 400, "bad_name", err);
        else
            dk__api_error(q, 500, "internal", err);
        break;
    }
    case SNAP_REMOVE:
        rc = dk_snapshot_remove(n, name, err, sizeof(err));
        if (rc == 0)
            dk__api_json(q, 200, json_pack("{s:s, s:b}", "name", name, "deleted", 1));
        else
            dk__api_error(q,
                          rc == DK_ENOTFOUND ? 404
                          : rc == -EINVAL    ? 400
                                             : 500,
                          rc == DK_ENOTFOUND ? "not_found" : "error", err);
        break;
    default: {
        json_t *list = json_array();
        void *arg[2] = {list, (void *)data_dir};
        rc = dk_snapshot_list(n, snap_listed, arg);
        if (rc) {
            json_decref(list);
            dk__api_error(q, 500, "internal", dk_strerror(rc));
        } else {
            dk__api_json(q, 200, json_pack("{s:s, s:o}", "node", n->cfg->node.id, "snapshots", list));
        }
        break;
    }
    }
}
