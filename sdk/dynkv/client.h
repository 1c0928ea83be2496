/*
 * dynkv/client.h - libdynkv-client, the C client SDK of dynkv.
 *
 * A dkc handle knows the cluster's ring (GET /cluster/ring?ranges and the
 * members' HTTP addresses from GET /cluster, fetched from any seed node and
 * refreshed periodically and after failures), computes each key's token as
 * the nodes do (XXH3-128 of the key bytes) and sends each request straight
 * to one of the key's replicas over a pooled keep-alive HTTP/1.1 (or HTTPS)
 * connection. When a replica cannot be reached, a request that is safe to
 * repeat (reads, and writes carrying a context) fails over to the next
 * replica; any request does when its connection could not even be made.
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
    DKC_ESERVER = -9,      /* any other error status (see dkc_errmsg) */
    DKC_ESIBLINGS = -10    /* dkc_update met siblings and had no resolver */
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
    const char *context;   /* from dkc_get / dkc_put: supersede those versions */
    uint32_t ttl_s;        /* 0: never expires */
} dkc_write;

/* Write value (len bytes) to key; w may be NULL. *context_out (when not
 * NULL) receives the new version's context (free()). */
int dkc_put(dkc *c, const char *key, const void *value, size_t len, const dkc_write *w,
            char **context_out);

/* Delete key (a tombstone superseding context, or every version seen by
 * the coordinator when NULL). */
int dkc_delete(dkc *c, const char *key, const char *context);

/* Merge n >= 2 siblings into one value (*out malloc()ed, *out_len bytes).
 * Return 0, or nonzero to give up (dkc_update then fails with that code). */
typedef int (*dkc_resolve_fn)(void *arg, const dkc_value *siblings, size_t n, void **out,
                              size_t *out_len);

/* The new value from the current one (cur NULL when the key does not
 * exist): *out malloc()ed. Return 0, or nonzero to give up. */
typedef int (*dkc_modify_fn)(void *arg, const void *cur, size_t cur_len, void **out,
                             size_t *out_len);

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
} dkc_stats;

void dkc_get_stats(const dkc *c, dkc_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* DYNKV_CLIENT_H */
