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
#include <string.h>

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

/* q->session, new and empty (the state a pooled route state kept, when
 * it has one): 0, or -1 (out of memory). */
static int session_new(dk_api_req *q)
{
    const uint8_t *ckey = q->api->node->context_key;
    if (q->spare) {
        q->session = q->spare;
        q->spare = NULL;
        q->session->unmet = 0;
        q->session->sent = NULL;
        q->session->sent_len = 0;
        if (dk_session_reuse(&q->session->s, ckey) == 0)
            return 0;
        dk_session_free(&q->session->s);
        free(q->session);
        q->session = NULL;
        return -1;
    }
    q->session = calloc(1, sizeof(*q->session));
    if (!q->session || dk_session_init(&q->session->s, ckey) != 0) {
        free(q->session);
        q->session = NULL;
        return -1;
    }
    return 0;
}

/* The state is made only when there is something in it: a token came with
 * the request, or the answer notes a key (dk__api_session_render). An
 * answer with neither carries the empty session's token. */
int dk__api_session_parse(dk_api_req *q, const dk_http_request *r)
{
    q->session_on = 1;
    size_t len;
    const char *v = dk_http_header_get(r, "x-session", &len);
    if (!v || len == 0)
        return 0;
    if (session_new(q)) {
        dk__api_error(q, 503, "overloaded", "out of memory");
        return -1;
    }
    char err[160], msg[256];
    q->session->sent = v;
    q->session->sent_len = len;
    if (dk_session_decode(&q->session->s, v, len, err, sizeof(err)) != 0) {
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

/* The state stays with q (q->spare) for the request that reuses q. */
void dk__api_session_free(dk_api_req *q)
{
    if (q->session && !q->spare) {
        q->spare = q->session;
        q->session = NULL;
    }
    if (q->session) {
        dk_session_free(&q->session->s);
        free(q->session);
        q->session = NULL;
    }
}

void dk__api_session_drop_spare(dk_api_req *q)
{
    if (q->spare) {
        dk_session_free(&q->spare->s);
        free(q->spare);
        q->spare = NULL;
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
                        const dk_coord_prefs *prefs, dk_coord_cb cb, void *arg)
{
    int spilled = 0;
    const dk_vv *need = q->session ? dk_session_need(&q->session->s, key, &spilled) : NULL;
    if (!need && !spilled)
        return dk_coord_get_prefs(co, key, consistency, strict, prefs, cb, arg);
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
    int note = obj && obj->vv.n && (rc == 0 || rc == DK_ENOTFOUND);
    if (!q->session_on || (!q->session && !note))
        return 0;
    if (!q->session && session_new(q)) {
        dk__api_error(q, 503, "overloaded", "out of memory");
        return 1;
    }
    int answered = 0;
    if (q->session->unmet) {
        dk__api_error(q, 503, "session_unavailable",
                      "no replica has caught up yet with what this session wrote or read; retry "
                      "(the session token stays valid)");
        answered = 1;
    } else if (note) {
        (void)dk_session_note(&q->session->s, key, &obj->vv);
    }
    return answered;
}

/* The empty session's token under the node's key: the same for every
 * answer that has no session state, so it is made once per thread. */
static _Thread_local struct {
    int set;
    uint8_t key[DK_CONTEXT_KEY_LEN];
    size_t len;
    char tok[64]; /* 26 bytes in base64url */
} session_empty;

/* Point *tok at it: 0, or -1 (out of memory). */
static int session_empty_token(const uint8_t key[DK_CONTEXT_KEY_LEN], const char **tok, size_t *len)
{
    if (!session_empty.set || memcmp(session_empty.key, key, DK_CONTEXT_KEY_LEN) != 0) {
        dk_session s;
        dk_buf b = DK_BUF_INIT;
        session_empty.set = 0;
        int rc = dk_session_init(&s, key);
        if (rc == 0)
            rc = dk_session_encode(&s, &b);
        dk_session_free(&s);
        if (rc == 0 && b.len <= sizeof(session_empty.tok)) {
            memcpy(session_empty.tok, b.data, b.len);
            session_empty.len = b.len;
            memcpy(session_empty.key, key, DK_CONTEXT_KEY_LEN);
            session_empty.set = 1;
        }
        dk_buf_free(&b);
        if (!session_empty.set)
            return -1;
    }
    *tok = session_empty.tok;
    *len = session_empty.len;
    return 0;
}

static void session_header_line(dk_api_req *q, const void *tok, size_t len)
{
    dk_buf *h = &q->headers;
    if (dk_buf_reserve(h, len + 13) == 0) {
        dk_buf_append(h, "X-Session: ", 11);
        dk_buf_append(h, tok, len);
        dk_buf_append(h, "\r\n", 2);
    }
}

void dk__api_session_header(dk_api_req *q)
{
    if (!q->session_on)
        return;
    if (!q->session) {
        const char *tok;
        size_t len;
        if (session_empty_token(q->api->node->context_key, &tok, &len) == 0)
            session_header_line(q, tok, len);
        return;
    }
    if (!q->session->s.changed && q->session->sent_len) { /* nothing new: the same token */
        session_header_line(q, q->session->sent, q->session->sent_len);
        return;
    }
    /* Straight into the headers: no buffer of its own. */
    dk_buf *h = &q->headers;
    size_t mark = h->len;
    if (dk_buf_append(h, "X-Session: ", 11) || dk_session_encode(&q->session->s, h) ||
        dk_buf_append(h, "\r\n", 2))
        h->len = mark;
}
