/*
 * sdk_call.c - one request of the SDK: the handle's headers, the route
 * (the key's replicas in preference order, unreachable ones last), the
 * pooled keep-alive connection, and failover.
 *
 * A pooled connection the server has closed meanwhile answers nothing at
 * all (dk__hc_conn_request's -2): the request is sent again on a fresh
 * connection to the same node, which is safe for any method because the
 * server never read it. A node that cannot be connected to is marked down
 * for SDK_DOWN_MS (tried last meanwhile), the ring is refetched before the
 * next call, and the request moves to the next replica: for any request
 * when the connection failed (nothing was sent), and only for `safe` ones
 * (reads, writes with a context) when it failed after sending. Error
 * statuses are answers, not failures: they are returned as they are.
 *
 * Every answer's X-Ring and X-Coordinator go to sdk_signal.c, which says
 * whether the next call fetches the ring first.
 *
 * Every request carries the handle's session token (X-Session) and every
 * answer that has one replaces it: the token only grows along one
 * handle's calls, whichever node answered.
 *
 * Not taken: retrying 503s on another coordinator (the replicas it lacked
 * are lacking for every coordinator; the caller decides), and hedged
 * requests (a later increment, with the async API).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "sdk_int.h"

int64_t dk__sdk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dk__sdk_fail(dkc *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    return code;
}

char *dk__sdk_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(3 * strlen(s) + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' ||
            *q == '.' || *q == '_' || *q == '~') {
            *p++ = (char)*q;
        } else {
            *p++ = '%';
            *p++ = hex[*q >> 4];
            *p++ = hex[*q & 15];
        }
    }
    *p = '\0';
    return out;
}

int dk__sdk_status_error(dkc *c, const dk_hc_response *r)
{
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, 0, &je);
    const char *code = j ? json_string_value(json_object_get(j, "error")) : NULL;
    const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
    snprintf(c->err, sizeof(c->err), "HTTP %d%s%s%s%s", r->status, code ? " " : "", code ? code : "",
             msg ? ": " : "", msg ? msg : "");
    json_decref(j);
    switch (r->status) {
    case 400: return DKC_EINVAL;
    case 401:
    case 403: return DKC_EAUTH;
    case 404: return DKC_ENOTFOUND;
    case 409:
    case 412: return DKC_ECONFLICT;
    case 503: return DKC_EUNAVAILABLE;
    case 504: return DKC_ECONNECT;
    default: return DKC_ESERVER;
    }
}

enum { X_OK = 0, X_NOCONN = 1, X_SENT = 2 };

/* One exchange with one node: X_OK (*r filled), X_NOCONN (nothing reached
 * it), X_SENT (the request may have reached it). */
static int call_node(dkc *c, sdk_node *n, const char *method, const char *target, const dk_hc_header *h,
                     size_t nh, const void *body, size_t len, dk_hc_response *r)
{
    char err[256];
    for (;;) {
        int pooled = n->n_idle > 0;
        dk_hc_conn *conn = pooled ? n->idle[--n->n_idle] : NULL;
        if (!conn) {
            conn = dk__hc_conn_open(n->host, n->port, c->tls, c->opt.connect_timeout_ms, err, sizeof(err));
            if (!conn) {
                dk__sdk_fail(c, DKC_ECONNECT, "%s (%s:%s): %s", n->id, n->host, n->port, err);
                return X_NOCONN;
            }
            c->st.connects++;
        }
        c->st.attempts++;
        int reusable = 0;
        int rc = dk__hc_conn_request(conn, method, target, h, nh, body, len, c->opt.timeout_ms, 1, r,
                                     &reusable, err, sizeof(err));
        if (rc == 0 && reusable && n->n_idle < c->opt.pool_size && n->n_idle < SDK_POOL_MAX)
            n->idle[n->n_idle++] = conn;
        else
            dk__hc_conn_close(conn);
        if (rc == 0)
            return X_OK;
        if (rc == -2 && pooled)
            continue; /* a stale keep-alive connection */
        /* A fresh connection closed without an answer may have carried
         * the request to a server that died on it: as good as sent. */
        dk__sdk_fail(c, DKC_ECONNECT, "%s (%s:%s): %s", n->id, n->host, n->port, err);
        return X_SENT;
    }
}

/* The nodes to try, best first: the key's replicas that are up, then those
 * marked down; without routing (or a key), the seeds' entries (dkc_open
 * makes them the first nodes). */
static size_t call_plan(dkc *c, const char *key, uint16_t *plan, size_t max, int *routed)
{
    uint16_t reps[SDK_MAX_REP];
    size_t n = 0, k = 0;
    if (c->routed && !c->opt.no_routing && key)
        n = dk__sdk_route(c, key, strlen(key), reps, SDK_MAX_REP);
    *routed = n > 0;
    if (n == 0) { /* the seeds' entries, the first nodes */
        for (size_t i = 0; i < c->n_seeds && i < c->n_nodes && n < SDK_MAX_REP; i++)
            reps[n++] = (uint16_t)i;
    }
    int64_t now = dk__sdk_now_ms();
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n && k < max; i++)
            if ((c->nodes[reps[i]].down_until > now) == (pass == 1))
                plan[k++] = reps[i];
    return k;
}

void dk__sdk_keep(dkc *c, dk_hc_response *r)
{
    dk__hc_response_free(&c->last);
    c->last = *r;
    memset(r, 0, sizeof(*r));
}

int dk__sdk_call(dkc *c, const char *key, const char *method, const char *target, const sdk_hdr *extra,
                 size_t n_extra, const void *body, size_t len, int safe, dk_hc_response *r)
{
    memset(r, 0, sizeof(*r));
    dk__hc_response_free(&c->last);
    memset(&c->last, 0, sizeof(c->last));
    c->err[0] = '\0';
    int64_t now = dk__sdk_now_ms();
    int due = dk__sdk_refresh_due(c, now);
    if (due == SDK_DUE_SIGNAL)
        c->signal_fetched = now;
    if (due != SDK_DUE_NO)
        (void)dk__sdk_refresh(c); /* a failed refresh keeps the old ring */
    dk_hc_header h[16];
    size_t nh = 0;
    if (c->auth)
        h[nh++] = (dk_hc_header){"Authorization", c->auth};
    if (c->consistency)
        h[nh++] = (dk_hc_header){"X-Consistency", c->consistency};
    if (c->strict)
        h[nh++] = (dk_hc_header){"X-Quorum", c->strict};
    if (c->session)
        h[nh++] = (dk_hc_header){"X-Session", c->session};
    for (size_t i = 0; i < n_extra && nh < 16; i++)
        h[nh++] = (dk_hc_header){extra[i].name, extra[i].value};
    uint16_t plan[SDK_MAX_REP];
    int routed;
    size_t n = call_plan(c, key, plan, SDK_MAX_REP, &routed);
    if (n == 0)
        return dk__sdk_fail(c, DKC_ECONNECT, "no node to send the request to");
    c->st.requests++;
    size_t tries = (size_t)c->opt.retries + 1;
    for (size_t i = 0; i < n && i < tries; i++) {
        sdk_node *node = &c->nodes[plan[i]];
        if (i > 0)
            c->st.failovers++;
        int x = call_node(c, node, method, target, h, nh, body, len, r);
        if (x == X_OK) {
            const char *sess = dk__hc_header(r, "X-Session");
            char *copy = sess && *sess ? strdup(sess) : NULL;
            if (copy) {
                free(c->session);
                c->session = copy;
            }
            node->down_until = 0;
            snprintf(c->last_node, sizeof(c->last_node), "%s", node->id);
            (void)dk__sdk_ring_signal(c, plan[i], dk__hc_header(r, "X-Ring"),
                                      dk__hc_header(r, "X-Coordinator"), routed);
            if (r->status == 503)
                c->need_refresh = 1;
            return 0;
        }
        node->down_until = dk__sdk_now_ms() + SDK_DOWN_MS;
        c->need_refresh = 1;
        if (x == X_SENT && !safe)
            return DKC_ECONNECT;
    }
    return DKC_ECONNECT;
}
