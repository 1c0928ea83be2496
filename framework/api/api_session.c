/*
 * api_session.c - the HTTP side of session tokens (node/session.h): every
 * /kv/ and /crdt/ request may send `X-Session: TOKEN` back, and every
 * answer to one carries `X-Session` with the token updated by what this
 * answer showed the client (the key's version vector). A read whose
 * session names the key goes through coord/session_read.h, which gives
 * out nothing older than the session has seen; when no replica catches up
 * within half of request_timeout the answer is 503
 * {"error":"session_unavailable"} with the token unchanged.
 *
 * A bad token (not base64url, a MAC that does not verify, another
 * cluster's) is 400 bad_session: sending it again cannot help, and
 * silently dropping it would give up the guarantee without saying so.
 * Scans carry the token through unchanged and check none (a page spans
 * many keys).
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/api_int.h"
#include "cluster/cluster.h"
#include "coord/session_read.h"
#include "node/session.h"

struct dk_api_session {
    dk_session s;
    int unmet;        /* the read could not be made new enough */
    const char *sent; /* the request's token (valid until the answer) */
    size_t sent_len;
};

int dk__api_session_parse(dk_api_req *q, const dk_http_request *r)
{
    q->session = calloc(1, sizeof(*q->session));
    if (!q->session || dk_session_init(&q->session->s, q->api->node->context_key) != 0) {
        dk__api_error(q, 503, "overloaded", "out of memory");
        return -1;
    }
    size_t len;
    const char *v = dk_http_header_get(r, "x-session", &len);
    char err[160], msg[256];
    q->session->sent = v;
    q->session->sent_len = v ? len : 0;
    if (v && dk_session_decode(&q->session->s, v, len, err, sizeof(err)) != 0) {
        snprintf(msg, sizeof(msg),
                 "X-Session is not a session token of this cluster: %s; "
                 "start a new session (send none)",
                 err);
        q->session->sent = NULL; /* the answer carries a new, empty session */
        q->session->sent_len = 0;
        dk__api_error(q, 400, "bad_session", msg);
        return -1;
    }
    return 0;
}

void dk__api_session_free(dk_api_req *q)
{
    if (q->session) {
        dk_session_free(&q->session->s);
        free(q->session);
        q->session = NULL;
    }
}

static dk_coord *session_coord(void *arg)
{
    dk_api *api = arg;
    return api->cluster ? api->cluster->coord : NULL;
}

int dk__api_session_plain(const dk_api_req *q, dk_slice key)
{
    int spilled = 0;
    return !q->session || (!dk_session_need(&q->session->s, key, &spilled) && !spilled);
}

int dk__api_session_get(dk_api_req *q, dk_coord *co, dk_slice key, int consistency, int strict,
                        dk_coord_cb cb, void *arg)
{
    int spilled = 0;
    const dk_vv *need = q->session ? dk_session_need(&q->session->s, key, &spilled) : NULL;
    if (!need && !spilled)
        return dk_coord_get(co, key, consistency, strict, cb, arg);
    int64_t wait = q->api->cfg->cluster.request_timeout / 2;
    int level = consistency == DK_CL_DEFAULT ? q->api->cfg->cluster.read_consistency : consistency;
    dk_coord_session_read sr = {
        .loop = q->api->cluster_loop,
        .coord = session_coord,
        .coord_arg = q->api,
        .key = key,
        .consistency = level,
        .strict = strict,
        .need = need,
        .spilled = spilled,
        .wait_ms = wait > 0 ? (uint64_t)wait : 1000,
        .prune_age_ms = q->api->cfg->cluster.vv_prune_age,
    };
    return dk_coord_session_get(&sr, &q->session->unmet, cb, arg);
}

int dk__api_session_render(dk_api_req *q, dk_slice key, int rc, const dk_object *obj)
{
    if (!q->session)
        return 0;
    int answered = 0;
    if (q->session->unmet) {
        dk__api_error(q, 503, "session_unavailable",
                      "no replica has caught up yet with what this session wrote or read; retry "
                      "(the session token stays valid)");
        answered = 1;
    } else if (obj && obj->vv.n && (rc == 0 || rc == DK_ENOTFOUND)) {
        (void)dk_session_note(&q->session->s, key, &obj->vv);
    }
    return answered;
}

void dk__api_session_header(dk_api_req *q)
{
    if (!q->session)
        return;
    if (!q->session->s.changed && q->session->sent_len) { /* nothing new: the same token */
        dk_buf_printf(&q->headers, "X-Session: %.*s\r\n", (int)q->session->sent_len, q->session->sent);
        return;
    }
    dk_buf tok = DK_BUF_INIT;
    if (dk_session_encode(&q->session->s, &tok) == 0)
        dk_buf_printf(&q->headers, "X-Session: %.*s\r\n", (int)tok.len, (const char *)tok.data);
    dk_buf_free(&tok);
}
