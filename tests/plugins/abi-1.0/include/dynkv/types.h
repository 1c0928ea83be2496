/*
 * FROZEN COPY of the ABI 1.0 header (dynkv 0.1.0), for tests/plugins/abi-1.0 only.
 *
 * dynkv/types.h - the vocabulary every plugin and the host share: byte
 * slices, error codes, the host API table, and the decoded object model
 * (version vectors, dotted siblings) that conflict resolvers work on.
 *
 * Plugins include only headers from this folder and link only the
 * framework/util convenience library; everything else they need from the
 * host comes through dk_host. All integers on disk and on the wire are
 * little-endian; these in-memory structs are not a wire format (the
 * framework's object codec is).
 */
#ifndef DK_TYPES_H
#define DK_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DK_EXTERN __attribute__((visibility("default")))
#define DK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DK_EXTERN
#define DK_PRINTF(f, a)
#endif

/* A borrowed run of bytes. Who owns the memory and for how long is stated
 * by whichever function hands the slice out. */
typedef struct dk_slice {
    const uint8_t *ptr;
    size_t len;
} dk_slice;

/* Limits of the data model (DESIGN.md section 4). */
#define DK_KEY_MAX        256u
#define DK_VALUE_MAX      (1024u * 1024u)
#define DK_NODE_ID_MAX    64u      /* node ids match [a-z0-9_-]{1,64} */
#define DK_MAX_SIBLINGS_DEFAULT 100u
#define DK_VV_PRUNE_DEFAULT     10u

/*
 * Error codes. Functions return 0 on success and a negative int on failure:
 * -errno for system errors, or one of these. Defined once here; dk_strerror()
 * and dk_err_name() (framework/util/errors.c) are generated from the same
 * list. Append only: codes are never renumbered.
 */
#define DK_ERRNO_MAP(XX)                                                     \
    XX(NOTFOUND,   -30500, "key not found")                                  \
    XX(CORRUPT,    -30501, "checksum mismatch or malformed data")            \
    XX(ABI,        -30502, "plugin ABI does not match")                      \
    XX(BADPLUGIN,  -30503, "plugin descriptor or ops table is invalid")      \
    XX(CONFIG,     -30504, "invalid configuration")                          \
    XX(TOOBIG,     -30505, "size limit exceeded")                            \
    XX(SIBLINGS,   -30506, "too many siblings: resolve them by writing with the returned context") \
    XX(PRECOND,    -30507, "precondition failed: stored version differs")    \
    XX(EXISTS,     -30508, "already exists")                                 \
    XX(DECLINED,   -30509, "declined: ask the next handler")                 \
    XX(UNSUPPORTED,-30510, "operation not supported by this plugin")         \
    XX(MISMATCH,   -30511, "data directory belongs to another engine")       \
    XX(EOF,        -30512, "end of iteration")                               \
    XX(CLOSED,     -30513, "object is closed or shutting down")              \
    XX(UNAVAILABLE,-30514, "not enough replicas answered")                   \
    XX(TIMEOUT,    -30515, "deadline passed")                                \
    XX(READONLY,   -30516, "writes refused after an unrecoverable I/O error")

enum {
#define DK__ERR_ENUM(name, code, msg) DK_E##name = (code),
    DK_ERRNO_MAP(DK__ERR_ENUM)
#undef DK__ERR_ENUM
    DK_E__LAST = -30517
};

/* End of an iteration: an outcome, spelled without the doubled E. */
#define DK_EOF DK_EEOF

/* Message for a dynkv code or a -errno value; never NULL, static storage.
 * These two live in framework/util, which in-tree plugins link; an
 * out-of-tree plugin (examples/vendor-engine) does not have them and
 * keeps its own messages. */
DK_EXTERN const char *dk_strerror(int err);
/* Symbolic name ("DK_ENOTFOUND", "EIO", ...); never NULL, static storage. */
DK_EXTERN const char *dk_err_name(int err);

/* Log levels, most severe first. */
enum { DK_LOG_ERROR = 0, DK_LOG_WARN = 1, DK_LOG_INFO = 2, DK_LOG_DEBUG = 3 };

/* What record_filter decides for one record during compaction. */
enum { DK_RECORD_KEEP = 0, DK_RECORD_DROP = 1 };

/*
 * The host API, passed to every plugin's open(). The host owns it; it stays
 * valid until after the plugin object is closed. Every function may be
 * called from any thread.
 *
 * Append only: a new field goes at the end, bumps DK_ABI_MINOR, and plugins
 * check struct_size before using it.
 */
typedef struct dk_host {
    uint32_t struct_size;   /* sizeof(dk_host) at the host's build */
    void *ctx;              /* host private */

    /* Logging: never to stdout. */
    void (*log)(const struct dk_host *h, int level, const char *fmt, ...) DK_PRINTF(3, 4);

    /* Memory: a plugin may use malloc directly; these exist so a host can
     * count or fail allocations in tests. */
    void *(*alloc)(const struct dk_host *h, size_t n);
    void *(*realloc)(const struct dk_host *h, void *p, size_t n);
    void  (*free)(const struct dk_host *h, void *p);

    /* Clocks: wall time in ms since the epoch; monotonic in ns. */
    int64_t  (*now_ms)(const struct dk_host *h);
    uint64_t (*mono_ns)(const struct dk_host *h);

    /*
     * Record callbacks for engines. Both look only at the fixed header of
     * an encoded object (O(1)). record_filter returns DK_RECORD_DROP when
     * compaction may discard the record (TTL expired, tombstone past
     * gc_grace) and DK_RECORD_KEEP otherwise, including for values it cannot
     * parse. record_time stores the newest write time and the max expiry
     * (0 = none) and returns 0, or DK_ECORRUPT for a value it cannot parse.
     */
    int (*record_filter)(const struct dk_host *h, dk_slice key, dk_slice value, int64_t now_ms);
    int (*record_time)(const struct dk_host *h, dk_slice value, int64_t *write_time_ms, int64_t *max_expiry_ms);

    /* Add delta to a counter metric named [a-z0-9_]+ (e.g.
     * "lsm_corrupt_blocks_total"); the host exports it. */
    void (*metric_add)(const struct dk_host *h, const char *name, uint64_t delta);
} dk_host;

/* ---- Decoded object model (DESIGN.md section 4) ------------------------ */

/* A version-vector actor: a node id and that node's incarnation, bumped
 * whenever the node starts with lost local state (Riak KV-679). */
typedef struct dk_actor {
    char node[DK_NODE_ID_MAX + 1];   /* NUL-terminated */
    uint32_t incarnation;            /* >= 1 */
} dk_actor;

/* One version-vector entry: the highest counter seen from an actor, and the
 * wall time (ms) that entry last advanced (for age-based pruning). */
typedef struct dk_vv_entry {
    dk_actor actor;
    uint64_t counter;
    int64_t  time_ms;
} dk_vv_entry;

/* A version vector: entries sorted by (node, incarnation), actors unique.
 * Memory is owned by whoever called dk_vv_init (framework/util/vv.h). */
typedef struct dk_vv {
    dk_vv_entry *e;
    uint32_t n, cap;
} dk_vv;

#define DK_SIB_TOMBSTONE 0x1u

/* One sibling: a value with its dot (actor, counter), write time, expiry
 * (ms since epoch, 0 = never) and flags. value is borrowed: it points into
 * an encoded object buffer or a request body that outlives the dk_object. */
typedef struct dk_sibling {
    dk_actor actor;
    uint64_t counter;
    int64_t  write_time_ms;
    int64_t  expiry_ms;
    uint32_t flags;
    dk_slice value;
} dk_sibling;

/* A decoded object: its causal context (vv) and its siblings. An object
 * with no siblings is "absent". Built and freed with framework/util/vv.h. */
typedef struct dk_object {
    dk_vv vv;
    dk_sibling *sib;
    uint32_t n_sib, cap_sib;
} dk_object;

#ifdef __cplusplus
}
#endif
#endif /* DK_TYPES_H */
