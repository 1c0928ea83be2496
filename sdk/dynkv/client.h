/*
 * dynkv/client.h - libdynkv-client, the C client SDK of dynkv.
 *
 * A dkc handle knows the cluster's ring (GET /cluster/ring?ranges and the
 * members' HTTP addresses from GET /cluster, fetched from any seed node and
 * fetched again when an answer says the cluster's ring changed (X-Ring) or
 * that its node is not the key's replica, periodically, and after
 * failures), computes each key's token as
 * the nodes do (XXH3-128 of the key bytes) and sends each request straight
 * to one of the key's replicas over a pooled keep-alive HTTP/1.1 (or HTTPS)
 * connection. When a replica cannot be reached, a request that is safe to
 * repeat (reads, and writes carrying a context) fails over to the next
 * replica; any request does when its connection could not even be made.
 *
 * Sessions: every answer to a key's request carries an X-Session token
 * (what this handle has written and read); the handle keeps the latest and
 * sends it with every later request, so a read through any node sees this
 * handle's own writes and never goes back behind what it read before
 * (read-your-writes, monotonic reads; a node that cannot show data that
 * new in time answers 503, DKC_EUNAVAILABLE). dkc_session and
 * dkc_set_session move a session between handles or processes.
 *
 * Threads: a handle is used by one thread at a time (open one per thread;
 * handles share nothing). Every call blocks, bounded by the timeouts of
 * dkc_options. Errors are the negative DKC_E* codes below; dkc_errmsg()
 * says what happened in words.
 *
 * Link with `pkg-config --cflags --libs dynkv-client`.
 */
#ifndef DYNKV_CLIENT_H
#define DYNKV_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dkc dkc;

/* Result codes: 0 is success, every failure is negative. */
enum {
    DKC_OK = 0,
    DKC_EINVAL = -1,       /* a bad argument (empty key, bad seed list) */
    DKC_ENOTFOUND = -2,    /* no such key (404) */
    DKC_ECONNECT = -3,     /* no replica could be reached, or timed out */
    DKC_EUNAVAILABLE = -4, /* not enough replicas answered (503) */
    DKC_ECONFLICT = -5,    /* 409 (CRDT type mismatch) or 412 */
    DKC_EAUTH = -6,        /* 401 / 403: the token is missing or refused */
    DKC_EPROTO = -7,       /* an answer the SDK does not understand */
    DKC_ENOMEM = -8,
    DKC_ESERVER = -9,   /* any other error status (see dkc_errmsg) */
    DKC_ESIBLINGS = -10 /* dkc_update met siblings and had no resolver */
};

typedef struct dkc_options {
    const char *token;       /* bearer token (Authorization), or NULL */
    const char *ca_file;     /* HTTPS: the CA that signed the nodes' certificates */
    int tls;                 /* 1: HTTPS even without ca_file (system CAs) */
    const char *consistency; /* X-Consistency for every request (one|quorum|all), or NULL */
    int connect_timeout_ms;  /* per connection attempt (default 1000) */
    int timeout_ms;          /* per wait for an answer (default 10000) */
    int retries;             /* failovers after the first attempt (default 2) */
    int refresh_ms;          /* ring refresh period (default 30000; 0: only after failures) */
    int pool_size;           /* idle connections kept per node (default 4) */
    int no_routing;          /* 1: send everything to the first seed (benchmarks) */
    int strict;              /* 1: strict quorum (X-Quorum: strict) for every request */
} dkc_options;

/* Fill o with the defaults. */
void dkc_options_init(dkc_options *o);

/*
 * Connect to the cluster through `seeds`, a comma-separated list of
 * HOST:PORT (http:// or https:// prefixes allowed) of any of its nodes, and
 * fetch the ring. On success *out is the handle. On failure *out is still a
 * handle (for dkc_errmsg; close it) unless memory ran out (NULL).
 */
int dkc_open(const char *seeds, const dkc_options *opt, dkc **out);
void dkc_close(dkc *c);

/* The last failure's message ("" after a success); valid until the next call. */
const char *dkc_errmsg(const dkc *c);

/* One version of a value: its bytes (NUL-terminated, not counted) and its
 * version vector as JSON text ({"n1":3}). */
typedef struct dkc_value {
    unsigned char *data;
    size_t len;
    char *version;
    int64_t timestamp;
} dkc_value;

/* What dkc_get read: one value, or several concurrent siblings, and the
 * causal context to pass to the next write of the key. */
typedef struct dkc_object {
    size_t n_values;
    dkc_value *values;
    char *context;
} dkc_object;

void dkc_object_free(dkc_object *o);

/* Read key. DKC_ENOTFOUND when it does not exist; *out is freed with
 * dkc_object_free(). */
int dkc_get(dkc *c, const char *key, dkc_object **out);

typedef struct dkc_write {
    const char *context;  /* from dkc_get / dkc_put: supersede those versions */
    uint32_t ttl_s;       /* 0: never expires */
    const char *if_match; /* compare-and-set: only over this context ("*": any value) */
    int if_none_match;    /* 1: create only (the key must not exist) */
} dkc_write;

/* Write value (len bytes) to key; w may be NULL. *context_out (when not
 * NULL) receives the new version's context (free()). A failed condition
 * is DKC_ECONFLICT (dkc_last_status 412). After a write without a
 * context, dkc_siblings() says whether it made the key's values
 * concurrent. */
int dkc_put(dkc *c, const char *key, const void *value, size_t len, const dkc_write *w, char **context_out);

/* Delete key (a tombstone superseding context, or every version seen by
 * the coordinator when NULL). */
int dkc_delete(dkc *c, const char *key, const char *context);

/* Merge n >= 2 siblings into one value (*out malloc()ed, *out_len bytes).
 * Return 0, or nonzero to give up (dkc_update then fails with that code). */
typedef int (*dkc_resolve_fn)(void *arg, const dkc_value *siblings, size_t n, void **out, size_t *out_len);

/* The new value from the current one (cur NULL when the key does not
 * exist): *out malloc()ed. Return 0, or nonzero to give up. */
typedef int (*dkc_modify_fn)(void *arg, const void *cur, size_t cur_len, void **out, size_t *out_len);

/* Get, resolve siblings (resolve NULL: fail with DKC_ESIBLINGS when there
 * are some), modify, then put with the context read, so the write
 * supersedes every version it was computed from. */
int dkc_update(dkc *c, const char *key, dkc_resolve_fn resolve, dkc_modify_fn modify, void *arg,
               uint32_t ttl_s);

/* CRDTs (POST /crdt/{key}). Counter: add delta, *value (when not NULL)
 * receives the counter after the operation. */
int dkc_counter_add(dkc *c, const char *key, int64_t delta, int64_t *value);
int dkc_set_add(dkc *c, const char *key, const char *const *members, size_t n);
int dkc_set_remove(dkc *c, const char *key, const char *const *members, size_t n);
int dkc_register_assign(dkc *c, const char *key, const char *value);
/* Any operation as JSON text; *value_json (when not NULL) receives the
 * value after it as JSON text (free()). */
int dkc_crdt_apply(dkc *c, const char *key, const char *op_json, char **value_json);
/* The CRDT's value as JSON text (free()). */
int dkc_crdt_get(dkc *c, const char *key, char **value_json);

/* After dkc_put: how many concurrent values the key has now (the node's
 * X-Siblings; 1 for a plain overwrite, more when this write made a
 * sibling), or 0 when the node did not say. */
unsigned dkc_siblings(const dkc *c);

/* One page of the keys starting with prefix, in key order, as the node's
 * JSON text ({"pairs":[{"key","value"(base64),...}],"cursor":...};
 * free()), from `cursor` (NULL: the start; the previous page's cursor
 * after), at most limit pairs (0: the node's default). A page that could
 * not read every token range is still 0, with dkc_last_status 206 and
 * "unavailable_ranges" in the JSON. */
int dkc_scan_page(dkc *c, const char *prefix, const char *cursor, unsigned limit, char **page_json);

/* The session token this handle sends (NULL: none yet); valid until the
 * next call. dkc_set_session replaces it (NULL: start a new session). */
const char *dkc_session(const dkc *c);
int dkc_set_session(dkc *c, const char *token);

/* The last answer a node gave this handle (the failure, after an error
 * code with an HTTP status): its status (0: none), body (NUL-terminated;
 * *len when not NULL) and a header (NULL: absent). Valid until the next
 * call. For tools that print the server's own JSON. */
int dkc_last_status(const dkc *c);
const char *dkc_last_body(const dkc *c, size_t *len);
const char *dkc_last_header(const dkc *c, const char *name);

/* Where the SDK routes key: the ids of its replicas in preference order
 * (up to max of them, pointers valid until the next ring refresh); returns
 * how many. */
size_t dkc_replicas(dkc *c, const char *key, const char **ids, size_t max);

/* Counters of this handle, for tests and tuning. */
typedef struct dkc_stats {
    uint64_t requests;     /* calls that reached the network */
    uint64_t attempts;     /* HTTP exchanges tried (>= requests) */
    uint64_t failovers;    /* attempts moved to another node */
    uint64_t refreshes;    /* ring fetches */
    uint64_t connects;     /* connections opened (the rest were reused) */
    const char *last_node; /* id of the node that answered the last call */
    uint64_t ring_signals; /* answers that said the ring changed (X-Ring) or
                              that their node is not the key's replica */
} dkc_stats;

void dkc_get_stats(const dkc *c, dkc_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* DYNKV_CLIENT_H */
