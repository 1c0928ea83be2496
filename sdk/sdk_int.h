/*
 * sdk_int.h - libdynkv-client's insides, shared by its files: the handle,
 * the nodes it knows (with their idle connections) and the ring's ranges.
 *
 *   sdk_ring.c   fetching /cluster/ring?ranges and /cluster, keys' tokens
 *   sdk_call.c   the pool, one routed request with retries and failover
 *   sdk_signal.c when to fetch the ring again (the answers' X-Ring)
 *   sdk_kv.c     the public operations (open/close, kv, update, CRDTs)
 *
 * The ring is a copy of the cluster's: every range (start, end] with its
 * replicas in preference order, sorted by end, so a key's replicas are
 * those of the first range whose end is >= its token (wrapping to the
 * first), exactly as framework/ring/ring.c places keys.
 *
 * Session tokens: sdk_call.c sends c->session with every request and
 * replaces it with the X-Session of every answer that has one. The last
 * answer stays in c->last (dk__sdk_keep) for dkc_last_*.
 *
 * Not taken: an asynchronous API over libuv. It does not fall out of this
 * design: http_client.c is blocking (one poll()ed socket per exchange, the
 * answer read whole), and the tree keeps one HTTP client. A real async API
 * means turning http_client.c into an incremental state machine (connect,
 * TLS over memory BIOs, write, parse as bytes arrive) driven by uv_poll or
 * uv_tcp, with per-request timers and failover states here, and running
 * the blocking calls on a private loop - a rewrite of the transport.
 * Running the blocking calls on libuv's thread pool instead would hold a
 * worker (4 by default) per call in flight and serialise each handle's
 * calls: asynchronous in name only.
 * When the ring is fetched again: sdk_signal.c (an answer's X-Ring tag
 * differs from the handle's, or X-Coordinator says not-replica; else
 * periodically, after connection failures and after 503s).
 */
#ifndef DK_SDK_SDK_INT_H
#define DK_SDK_SDK_INT_H

#include <stdint.h>
#include <stddef.h>
#include <openssl/ssl.h>

#include "dynkv/client.h"
#include "http_client.h"

#define SDK_POOL_MAX 16
#define SDK_MAX_REP 8
#define SDK_DOWN_MS 2000   /* how long an unreachable node is tried last */
#define SDK_REFETCH_MS 500 /* no ring fetch sooner than this after one failed */
#define SDK_SIGNAL_MS 1000 /* signalled ring fetches at most this often */

typedef struct sdk_node {
    char id[128];
    char host[256], port[16];
    dk_hc_conn *idle[SDK_POOL_MAX];
    int n_idle;
    int64_t down_until; /* monotonic ms; 0: up */
} sdk_node;

typedef struct sdk_range {
    uint64_t hi, lo; /* the range's end token */
    uint8_t n_rep;
    uint16_t rep[SDK_MAX_REP]; /* indexes into dkc.nodes */
} sdk_range;

typedef struct sdk_seed {
    char host[256], port[16];
} sdk_seed;

struct dkc {
    dkc_options opt;
    char *auth; /* "Bearer TOKEN" or NULL */
    char *consistency;
    SSL_CTX *tls;
    sdk_seed *seeds;
    size_t n_seeds;
    sdk_node *nodes;
    size_t n_nodes, cap_nodes;
    sdk_range *ranges;
    size_t n_ranges;
    int routed;            /* 0: the cluster has no ring; use the seeds */
    int64_t refreshed;     /* monotonic ms of the last successful fetch */
    int64_t refresh_tried; /* monotonic ms of the last attempt */
    int need_refresh;
    uint64_t ring_tag;      /* "ring_tag" fetched with the ring */
    int has_tag;            /* 0: none (no ring, or a node without tags) */
    int signalled;          /* an answer said the ring is out of date */
    int signal_node;        /* index of the node that said so (-1: none) */
    int64_t signal_fetched; /* monotonic ms of the last signalled fetch; 0: none */
    char err[512];
    char *session;       /* X-Session of the latest answer, or NULL */
    char *strict;        /* "strict" when opt.strict, else NULL */
    dk_hc_response last; /* the last answer (status 0: none) */
    dkc_stats st;
    char last_node[128];
};

/* A response header to add (name, value). */
typedef struct sdk_hdr {
    const char *name, *value;
} sdk_hdr;

int64_t dk__sdk_now_ms(void);
/* Set c->err and return code. */
int dk__sdk_fail(dkc *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Split "HOST:PORT" (an optional scheme already removed) into host/port. */
int dk__sdk_split_addr(const char *spec, size_t len, char *host, size_t hcap, char *port, size_t pcap);

/* Refetch the ring and members from any node that answers (the one that
 * signalled first, if any). */
int dk__sdk_refresh(dkc *c);

/* sdk_signal.c. 16 lower-case hex digits into *out: 0, or -1. */
int dk__sdk_ring_tag_parse(const char *s, uint64_t *out);
/* What an answer from node (index into c->nodes) with these X-Ring and
 * X-Coordinator values (NULL: absent) says about the handle's ring, for a
 * request that was routed by it or not; marks the handle when it signals. */
enum { SDK_SIG_NONE, SDK_SIG_TAG, SDK_SIG_NOT_REPLICA };
int dk__sdk_ring_signal(dkc *c, int node, const char *x_ring, const char *x_coord, int routed);
/* Whether a call at now fetches the ring first, and why. */
enum { SDK_DUE_NO, SDK_DUE_SIGNAL, SDK_DUE_FAILURE, SDK_DUE_TIMER };
int dk__sdk_refresh_due(const dkc *c, int64_t now);
/* The replicas of key (indexes into c->nodes), preference order. */
size_t dk__sdk_route(const dkc *c, const void *key, size_t len, uint16_t *out, size_t max);
/* The node entry for (id, host, port), added if new. -1 on ENOMEM. */
int dk__sdk_node(dkc *c, const char *id, const char *host, const char *port);
void dk__sdk_nodes_free(dkc *c);

/*
 * One request for key (NULL: any node) with the handle's headers plus
 * extra, routed to its replicas; `safe` says whether it may be sent again
 * to another replica after it may have reached one. Fills *r on 0 (any
 * HTTP status); a negative DKC_E* code when no node answered.
 */
int dk__sdk_call(dkc *c, const char *key, const char *method, const char *target, const sdk_hdr *extra,
                 size_t n_extra, const void *body, size_t len, int safe, dk_hc_response *r);
/* Keep *r as the handle's last answer (freeing the one before). */
void dk__sdk_keep(dkc *c, dk_hc_response *r);
/* Map an error status to a code, with the server's message in c->err. */
int dk__sdk_status_error(dkc *c, const dk_hc_response *r);
/* Percent-encode s (caller frees). */
char *dk__sdk_encode(const char *s);

#endif /* DK_SDK_SDK_INT_H */
