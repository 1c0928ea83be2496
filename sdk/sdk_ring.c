/*
 * sdk_ring.c - the SDK's copy of the ring: fetched from any node as
 * GET /cluster/ring?ranges (every range's end token and replica ids, in
 * preference order) plus GET /cluster (each member's HTTP address), and
 * keys placed on it with the nodes' own hash, XXH3-128 of the key bytes
 * read as (high64, low64) and compared in that order (framework/ring).
 *
 * A fetch tries the node that signalled a new ring (sdk_signal.c) first,
 * then the known nodes that are up, then the seeds, each on a
 * fresh connection of its own, outside the pool (fetches are rare: at
 * open, periodically, after failures). A cluster without a ring (a single node without cluster
 * services answers 503 no_cluster) leaves routing off: requests then go to
 * the seeds. Node entries are kept across fetches (matched by id) so their
 * idle connections survive; an entry whose address changed loses them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <xxhash.h>

#include "sdk_int.h"

int dk__sdk_split_addr(const char *spec, size_t len, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *end = spec + len, *colon, *h = spec;
    size_t hlen;
    if (len && spec[0] == '[') {
        const char *close = memchr(spec, ']', len);
        if (!close || close + 1 >= end || close[1] != ':')
            return -1;
        h = spec + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = NULL;
        for (const char *p = spec; p < end; p++)
            if (*p == ':')
                colon = p;
        if (!colon)
            return -1;
        hlen = (size_t)(colon - spec);
    }
    size_t plen = (size_t)(end - colon - 1);
    if (hlen == 0 || hlen >= hcap || plen == 0 || plen >= pcap)
        return -1;
    for (size_t i = 0; i < plen; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    return 0;
}

int dk__sdk_node(dkc *c, const char *id, const char *host, const char *port)
{
    for (size_t i = 0; i < c->n_nodes; i++) {
        sdk_node *n = &c->nodes[i];
        if (strcmp(n->id, id) != 0)
            continue;
        if (strcmp(n->host, host) != 0 || strcmp(n->port, port) != 0) {
            while (n->n_idle > 0)
                dk__hc_conn_close(n->idle[--n->n_idle]);
            snprintf(n->host, sizeof(n->host), "%s", host);
            snprintf(n->port, sizeof(n->port), "%s", port);
        }
        return (int)i;
    }
    if (c->n_nodes == c->cap_nodes) {
        size_t cap = c->cap_nodes ? c->cap_nodes * 2 : 8;
        sdk_node *nn = realloc(c->nodes, cap * sizeof(*nn));
        if (!nn)
            return -1;
        c->nodes = nn;
        c->cap_nodes = cap;
    }
    sdk_node *n = &c->nodes[c->n_nodes];
    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "%s", id);
    snprintf(n->host, sizeof(n->host), "%s", host);
    snprintf(n->port, sizeof(n->port), "%s", port);
    return (int)c->n_nodes++;
}

void dk__sdk_nodes_free(dkc *c)
{
    for (size_t i = 0; i < c->n_nodes; i++)
        while (c->nodes[i].n_idle > 0)
            dk__hc_conn_close(c->nodes[i].idle[--c->nodes[i].n_idle]);
    free(c->nodes);
    c->nodes = NULL;
    c->n_nodes = c->cap_nodes = 0;
}

/* GET target on conn; the parsed JSON body of a 200, or NULL with *code
 * the failure (DKC_ECONNECT when nothing answered) and *status the HTTP
 * status (0 when nothing answered). */
static json_t *ring_fetch(dkc *c, dk_hc_conn *conn, const char *target, int *status, int *code)
{
    char err[256];
    *status = 0;
    *code = DKC_ECONNECT;
    dk_hc_header h[1];
    size_t nh = 0;
    if (c->auth)
        h[nh++] = (dk_hc_header){"Authorization", c->auth};
    dk_hc_response r;
    int reusable;
    int rc = dk__hc_conn_request(conn, "GET", target, h, nh, NULL, 0, c->opt.timeout_ms, 1, &r, &reusable,
                                 err, sizeof(err));
    if (rc != 0) {
        dk__sdk_fail(c, DKC_ECONNECT, "%s: %s", target, err);
        return NULL;
    }
    *status = r.status;
    json_t *j = NULL;
    if (r.status == 200) {
        json_error_t je;
        j = json_loadb(r.body, r.body_len, 0, &je);
        if (!j)
            *code = dk__sdk_fail(c, DKC_EPROTO, "%s: not JSON: %s", target, je.text);
    } else {
        *code = dk__sdk_status_error(c, &r);
    }
    dk__hc_response_free(&r);
    return j;
}

static int hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* Install the ring and members fetched from host (whose name stands in
 * for members that announce a wildcard address). */
static int ring_install(dkc *c, json_t *ring, json_t *cluster, const char *host)
{
    json_t *members = json_object_get(cluster, "members"), *ranges = json_object_get(ring, "ranges");
    if (!json_is_array(members) || !json_is_array(ranges) || json_array_size(ranges) == 0)
        return dk__sdk_fail(c, DKC_EPROTO, "the ring or the member list is missing from the answer");
    size_t n = json_array_size(ranges), i;
    sdk_range *rs = calloc(n, sizeof(*rs));
    if (!rs)
        return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
    json_t *m;
    json_array_foreach(members, i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        const char *http = json_string_value(json_object_get(m, "http"));
        char h[256], p[16];
        if (!id || !http)
            continue;
        if (strncmp(http, "http://", 7) == 0)
            http += 7;
        else if (strncmp(http, "https://", 8) == 0)
            http += 8;
        if (dk__sdk_split_addr(http, strlen(http), h, sizeof(h), p, sizeof(p)) != 0)
            continue;
        if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
            snprintf(h, sizeof(h), "%s", host);
        if (dk__sdk_node(c, id, h, p) < 0) {
            free(rs);
            return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
        }
    }
    json_t *e;
    json_array_foreach(ranges, i, e)
    {
        const char *end = json_string_value(json_object_get(e, "end"));
        json_t *reps = json_object_get(e, "replicas"), *rid;
        size_t x;
        if (!end || strlen(end) != 32 || hex64(end, &rs[i].hi) != 0 || hex64(end + 16, &rs[i].lo) != 0 ||
            !json_is_array(reps)) {
            free(rs);
            return dk__sdk_fail(c, DKC_EPROTO, "a ring range is malformed");
        }
        json_array_foreach(reps, x, rid)
        {
            const char *id = json_string_value(rid);
            if (!id || rs[i].n_rep == SDK_MAX_REP)
                continue;
            for (size_t k = 0; k < c->n_nodes; k++)
                if (strcmp(c->nodes[k].id, id) == 0)
                    rs[i].rep[rs[i].n_rep++] = (uint16_t)k;
        }
        if (i > 0 && (rs[i].hi < rs[i - 1].hi || (rs[i].hi == rs[i - 1].hi && rs[i].lo < rs[i - 1].lo))) {
            free(rs);
            return dk__sdk_fail(c, DKC_EPROTO, "the ring's ranges are not in token order");
        }
    }
    free(c->ranges);
    c->ranges = rs;
    c->n_ranges = n;
    c->routed = 1;
    /* the tag the answers' X-Ring is compared with (sdk_signal.c) */
    c->has_tag =
        dk__sdk_ring_tag_parse(json_string_value(json_object_get(ring, "ring_tag")), &c->ring_tag) == 0;
    return 0;
}

/* Fetch from one address (one connection for both requests); 0, 1 (the
 * node has no cluster services), or a negative code. */
static int ring_fetch_from(dkc *c, const char *host, const char *port)
{
    char err[256];
    dk_hc_conn *conn = dk__hc_conn_open(host, port, c->tls, c->opt.connect_timeout_ms, err, sizeof(err));
    if (!conn)
        return dk__sdk_fail(c, DKC_ECONNECT, "%s:%s: %s", host, port, err);
    c->st.connects++;
    int st, code;
    json_t *ring = ring_fetch(c, conn, "/cluster/ring?ranges", &st, &code), *cl = NULL;
    if (!ring) {
        dk__hc_conn_close(conn);
        return st == 503 && strstr(c->err, "cluster services") ? 1 : code;
    }
    cl = ring_fetch(c, conn, "/cluster", &st, &code);
    dk__hc_conn_close(conn);
    int rc = cl ? ring_install(c, ring, cl, host) : code;
    json_decref(ring);
    json_decref(cl);
    return rc;
}

int dk__sdk_refresh(dkc *c)
{
    c->st.refreshes++;
    int64_t now = dk__sdk_now_ms();
    c->refresh_tried = now;
    int rc = DKC_ECONNECT;
    /* the node whose answer said the ring changed first: it has the new one */
    size_t first = c->signal_node >= 0 && (size_t)c->signal_node < c->n_nodes ? (size_t)c->signal_node : 0;
    for (size_t k = 0; k < c->n_nodes + c->n_seeds; k++) {
        char host[256], port[16];
        size_t i = k == 0 ? first : k <= first ? k - 1 : k;
        if (i < c->n_nodes) {
            if (c->nodes[i].down_until > now)
                continue;
            snprintf(host, sizeof(host), "%s", c->nodes[i].host);
            snprintf(port, sizeof(port), "%s", c->nodes[i].port);
        } else {
            snprintf(host, sizeof(host), "%s", c->seeds[i - c->n_nodes].host);
            snprintf(port, sizeof(port), "%s", c->seeds[i - c->n_nodes].port);
        }
        rc = ring_fetch_from(c, host, port);
        if (rc == 1) { /* a lone node: no routing */
            c->routed = 0;
            c->has_tag = 0;
            rc = 0;
        }
        if (rc == 0) {
            c->refreshed = now;
            c->need_refresh = 0;
            c->signalled = 0;
            c->signal_node = -1;
            c->err[0] = '\0';
            return 0;
        }
        if (i < c->n_nodes && rc == DKC_ECONNECT)
            c->nodes[i].down_until = now + SDK_DOWN_MS;
    }
    return rc;
}

size_t dk__sdk_route(const dkc *c, const void *key, size_t len, uint16_t *out, size_t max)
{
    if (!c->routed || c->n_ranges == 0)
        return 0;
    XXH128_hash_t h = XXH3_128bits(key, len);
    size_t lo = 0, hi = c->n_ranges;
    while (lo < hi) { /* the first range whose end >= token */
        size_t mid = lo + (hi - lo) / 2;
        const sdk_range *r = &c->ranges[mid];
        if (r->hi < h.high64 || (r->hi == h.high64 && r->lo < h.low64))
            lo = mid + 1;
        else
            hi = mid;
    }
    const sdk_range *r = &c->ranges[lo == c->n_ranges ? 0 : lo];
    size_t n = r->n_rep < max ? r->n_rep : max;
    memcpy(out, r->rep, n * sizeof(*out));
    return n;
}
