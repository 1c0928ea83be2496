/*
 * dynkv/types.h - the vocabulary every plugin and the host share: byte
 * slices, error codes, the host API table, and the decoded object model
 * (version vectors, dotted siblings) that conflict resolvers work on.
 *
 * Plugins include only headers from this folder and link nothing of the
 * framework: everything they need from the host (logging, allocation,
 * clocks, error messages, their own INI options, the version-vector
 * helpers, block codecs) comes through dk_host, so no header here names a
 * symbol a plugin would have to link. All integers on disk and on the wire
 * are little-endian; these in-memory structs are not a wire format (the
 * framework's object codec is).
 *
 * Every struct that crosses the boundary and may grow (dk_host, the ops
 * tables, the conf structs, dk_object_api) starts with struct_size, the
 * size at its writer's build, and grows only at the end. DK_HAS() is the
 * one way to ask whether a field is there and set.
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

/*
 * DK_HAS(p, field): p is not NULL, field lies wholly inside p->struct_size
 * (the writer of *p knew it) and is set (non-zero, non-NULL). For a method
 * that means "callable"; for a conf field, where 0 always means "default",
 * it means "given". Works on ops tables, conf structs, dk_host and
 * dk_object_api alike. A plugin built at ABI minor M may use every field of
 * dk_host up to M without it: the loader refuses the plugin in an older
 * host.
 */
#define DK_HAS(p, field)                                                                                     \
    ((p) != NULL && offsetof(__typeof__(*(p)), field) + sizeof((p)->field) <= (p)->struct_size &&            \
     ((p)->field) != 0)

/* A borrowed run of bytes. Who owns the memory and for how long is stated
 * by whichever function hands the slice out. */
typedef struct dk_slice {
    const uint8_t *ptr;
    size_t len;
} dk_slice;

/* Limits of the data model (DESIGN.md section 4). */
#define DK_KEY_MAX 256u
#define DK_VALUE_MAX (1024u * 1024u)
#define DK_NODE_ID_MAX 64u /* node ids match [a-z0-9_-]{1,64} */
#define DK_MAX_SIBLINGS_DEFAULT 100u
#define DK_VV_PRUNE_DEFAULT 10u

/*
 * Error codes. Functions return 0 on success and a negative int on failure:
 * -errno for system errors, or one of these. Defined once here; the host's
 * messages and names (dk_host.strerror and dk_host.err_name) are generated
 * from the same list. Append only: codes are never renumbered.
 */
/* clang-format off */
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
    XX(READONLY,   -30516, "writes refused after an unrecoverable I/O error") \
    XX(WRONGTYPE,  -30517, "the key holds an object of another type")
/* clang-format on */

enum {
#define DK__ERR_ENUM(name, code, msg) DK_E##name = (code),
    DK_ERRNO_MAP(DK__ERR_ENUM)
#undef DK__ERR_ENUM
        DK_E__LAST = -30518
};

/* End of an iteration: an outcome, spelled without the doubled E. */
#define DK_EOF DK_EEOF

/* Log levels, most severe first. */
enum { DK_LOG_ERROR = 0, DK_LOG_WARN = 1, DK_LOG_INFO = 2, DK_LOG_DEBUG = 3 };

/* What record_filter decides for one record during compaction. */
enum { DK_RECORD_KEEP = 0, DK_RECORD_DROP = 1 };

/*
 * A plugin's own options (ABI 1.1). The keys of its INI section
 * ([engine.lsm], [compaction.leveled], [conflict.lww], [codec.zstd]; on the
 * command line --set engine.lsm.codec=none) reach it through
 * dk_host.options: the plugin describes each key it takes with a dk_option
 * and the host parses the section's text into the plugin's own struct,
 * with the same units and messages as the node's own keys. An unknown key
 * or a bad value stops the node at start with "file:line: ..." naming
 * the key and what is expected. Semantic checks between keys stay with the
 * plugin, which reports them through dk_host.conf_error.
 *
 * Where each type is stored (at `offset` in the plugin's struct):
 *   DK_OPT_INT       int64_t   decimal, min..max
 *   DK_OPT_SIZE      uint64_t  bytes, or K/KB/KiB, M/MB/MiB, G/GB/GiB,
 *                              T/TB/TiB (all powers of 1024), min..max
 *   DK_OPT_RATE      uint64_t  a size per second ("64MiB" or "64MiB/s")
 *   DK_OPT_DURATION  int64_t   milliseconds: ms, s, m, h, d (no unit =
 *                              seconds), min..max
 *   DK_OPT_BOOL      int       true/false, yes/no, on/off, 1/0
 *   DK_OPT_WORD      int       the index of the value in words[]
 *   DK_OPT_STRING    const char *  at most 255 bytes; borrowed from the
 *                              host, valid until the plugin object closes
 * dk_option never grows: a later ABI that needs more adds a new struct and
 * a new host function.
 */
enum {
    DK_OPT_INT = 1,
    DK_OPT_SIZE = 2,
    DK_OPT_RATE = 3,
    DK_OPT_DURATION = 4,
    DK_OPT_BOOL = 5,
    DK_OPT_WORD = 6,
    DK_OPT_STRING = 7
};

typedef struct dk_option {
    const char *key;          /* [a-z0-9_]{1,64} */
    uint32_t type;            /* DK_OPT_* */
    uint32_t offset;          /* offsetof(the plugin's struct, field) */
    int64_t min, max;         /* INT, SIZE, RATE, DURATION: inclusive range;
                                  * both 0: any value of the type */
    const char *const *words; /* WORD: the choices, NULL-terminated */
    const char *dflt;         /* the default, as an operator would write it */
} dk_option;

struct dk_object_api;
struct dk_codec_ref;

/*
 * The host API, passed to every plugin's open(). The host owns it; it stays
 * valid until after the plugin object is closed. Every function may be
 * called from any thread unless its comment says otherwise. Each plugin
 * gets its own dk_host (its own ctx), so log lines, options and errors are
 * attributed to it.
 *
 * Append only: a new field goes at the end and bumps DK_ABI_MINOR. The
 * fields of ABI 1.0 end at metric_add; a plugin built at 1.1 may use every
 * field below without a check (an older host refuses to load it).
 */
typedef struct dk_host {
    uint32_t struct_size; /* sizeof(dk_host) at the host's build */
    void *ctx;            /* host private */

    /* Logging: never to stdout. */
    void (*log)(const struct dk_host *h, int level, const char *fmt, ...) DK_PRINTF(3, 4);

    /* Memory: a plugin may use malloc directly; these exist so a host can
     * count or fail allocations in tests. */
    void *(*alloc)(const struct dk_host *h, size_t n);
    void *(*realloc)(const struct dk_host *h, void *p, size_t n);
    void (*free)(const struct dk_host *h, void *p);

    /* Clocks: wall time in ms since the epoch; monotonic in ns. */
    int64_t (*now_ms)(const struct dk_host *h);
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
    int (*record_time)(const struct dk_host *h, dk_slice value, int64_t *write_time_ms,
                       int64_t *max_expiry_ms);

    /* Add delta to a counter metric named [a-z0-9_]+ (e.g.
     * "lsm_corrupt_blocks_total"); the host exports it. */
    void (*metric_add)(const struct dk_host *h, const char *name, uint64_t delta);

    /* ---- ABI 1.1 ---------------------------------------------------- */

    /* Message and symbolic name ("DK_ENOTFOUND", "EIO") for a dynkv code
     * or a -errno value; never NULL, static storage. */
    const char *(*strerror)(const struct dk_host *h, int err);
    const char *(*err_name)(const struct dk_host *h, int err);

    /*
     * Parse the plugin's own INI section into *out as spec[0..n) says
     * (dk_option above): a key the spec does not name, a value out of
     * range, or a malformed value is refused. Keys not given take their
     * dflt. Call it from open(), once per object (an engine opened twice
     * by the host parses twice). Returns 0, or DK_ECONFIG after the host
     * recorded the message ("node.ini:12: [engine.lsm] codec_level = 99:
     * expected an integer in 1..22"): open() then returns DK_ECONFIG
     * too. DK_EBADPLUGIN when the spec itself is wrong (an unknown type,
     * a default that fails its own check). A plugin that never calls it
     * takes no options: any key in its section stops the node.
     * Thread: the thread running open().
     */
    int (*options)(const struct dk_host *h, const dk_option *spec, size_t n, void *out);

    /* Refuse an option for a reason the spec cannot express (two keys
     * that contradict each other): the host records "file:line: [section]
     * key = value: <message>" (key may be NULL for the section as a whole)
     * and the plugin's open() returns DK_ECONFIG. The first report wins.
     * Thread: the thread running open(). */
    void (*conf_error)(const struct dk_host *h, const char *key, const char *fmt, ...) DK_PRINTF(3, 4);

    /* The version-vector and object helpers a conflict resolver builds its
     * output with (conflict.h). Memory they allocate belongs to the host,
     * which frees the output: a resolver never frees or allocates a
     * dk_object's arrays any other way. */
    const struct dk_object_api *object;

    /*
     * Open the block codec plugin `name` (codec.h) with a compression
     * level (0 = the codec's default) and fill *out; the codec is loaded
     * from the node's plugin folder the first time. Returns 0; -ENOENT
     * when no such codec plugin is installed; DK_ECONFIG for a level the
     * codec refuses; another code otherwise. On failure the reason was
     * logged and *out is zeroed. Release with codec_close. Thread: any,
     * but engines normally open their codecs in open().
     */
    int (*codec_open)(const struct dk_host *h, const char *name, int level, struct dk_codec_ref *out);
    void (*codec_close)(const struct dk_host *h, struct dk_codec_ref *ref);
} dk_host;

/* ---- Decoded object model (DESIGN.md section 4) ------------------------ */

/* A version-vector actor: a node id and that node's incarnation, bumped
 * whenever the node starts with lost local state (Riak KV-679). */
typedef struct dk_actor {
    char node[DK_NODE_ID_MAX + 1]; /* NUL-terminated */
    uint32_t incarnation;          /* >= 1 */
} dk_actor;

/* One version-vector entry: the highest counter seen from an actor, and the
 * wall time (ms) that entry last advanced (for age-based pruning). */
typedef struct dk_vv_entry {
    dk_actor actor;
    uint64_t counter;
    int64_t time_ms;
} dk_vv_entry;

/* A version vector: entries sorted by (node, incarnation), actors unique.
 * Its array is allocated and freed only through dk_host.object (or, inside
 * the framework, framework/util/vv.h, which is the same code). */
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
    int64_t write_time_ms;
    int64_t expiry_ms;
    uint32_t flags;
    dk_slice value;
} dk_sibling;

/* A decoded object: its causal context (vv) and its siblings. An object
 * with no siblings is "absent". Built and freed through dk_host.object. */
typedef struct dk_object {
    dk_vv vv;
    dk_sibling *sib;
    uint32_t n_sib, cap_sib;
} dk_object;

#ifdef __cplusplus
}
#endif
#endif /* DK_TYPES_H */
