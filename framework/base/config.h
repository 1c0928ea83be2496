/*
 * config.h - the node configuration: every key of the INI file with its
 * type, default and range (DESIGN.md section 8), and dynkvd's command line.
 *
 * A dk_config is a plain struct with one sub-struct per INI section and one
 * field per key, named after the key (c->cluster.n_replicas is
 * "[cluster] n_replicas"). Values are always valid once a function below
 * has returned 0: ranges and formats are checked when a value is set, the
 * rules between keys by dk_config_check. Durations are int64 milliseconds,
 * sizes uint64 bytes, booleans int 0/1, enumerations the DK_* constants
 * below. A dk_config is not shared between threads while it is being
 * loaded; afterwards it is read-only and may be read from any thread.
 *
 * A plugin's own section ([engine.lsm], [compaction.leveled],
 * [conflict.lww], [codec.zstd]: "<kind>.<plugin name>") is not known here:
 * its keys are kept as text with the line they came from (dk_config_popt)
 * and the plugin parses them through the host API when it opens
 * (framework/plugin/plugin_opts.h), so an unknown key or bad value there is
 * still reported as "file:line: ...", only a moment later.
 */
#ifndef DK_CONFIG_H
#define DK_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "dynkv/types.h"

#define DK_CONFIG_NAME_MAX 64  /* node id, cluster name, dc, rack, plugin names */
#define DK_CONFIG_ADDR_MAX 262 /* host:port, host up to 253 (+ [] for IPv6) */
#define DK_CONFIG_PATH_MAX 1024
#define DK_CONFIG_SECRET_MAX 256
#define DK_CONFIG_SEEDS_MAX 256
#define DK_CONFIG_SECTION_MAX (11 + DK_CONFIG_NAME_MAX) /* "compaction." + plugin name */
#define DK_CONFIG_KEY_MAX 64
#define DK_CONFIG_VALUE_MAX 255
#define DK_CONFIG_POPTS_MAX 1024 /* keys in all plugin sections together */

/* A size key set to "auto" ([storage] block_cache_size): sized at start
 * (base/memsize.h). */
#define DK_CONFIG_AUTO UINT64_MAX

/* read_consistency / write_consistency */
enum { DK_CONSISTENCY_ONE = 0, DK_CONSISTENCY_QUORUM = 1, DK_CONSISTENCY_ALL = 2 };

typedef struct dk_config_node {
    char id[DK_CONFIG_NAME_MAX + 1];            /* [a-z0-9_-]{1,64}, "n1" */
    char data_dir[DK_CONFIG_PATH_MAX + 1];      /* "./data/n1" */
    char http_listen[DK_CONFIG_ADDR_MAX + 1];   /* host:port, "127.0.0.1:8080" */
    char rpc_listen[DK_CONFIG_ADDR_MAX + 1];    /* "127.0.0.1:7070" */
    char gossip_listen[DK_CONFIG_ADDR_MAX + 1]; /* "127.0.0.1:7946" */
    char advertise_address[DK_CONFIG_ADDR_MAX +
                           1];         /* host or IP others reach this node at, "" = the listen hosts */
    char dc[DK_CONFIG_NAME_MAX + 1];   /* [A-Za-z0-9_.-]{1,64}, "dc1" */
    char rack[DK_CONFIG_NAME_MAX + 1]; /* same pattern, "r1" */
    int weight;                        /* 1..100, 1 */
    int loop_threads;                  /* 0..64, 0: one per online core (at most 64) */
    int worker_threads; /* 1..128, 4: block-cache misses, compaction-side jobs and engines without write_async (their synced writes wait in fdatasync on these: raise it for them) */
    int log_level;      /* DK_LOG_*, info */
    char log_file[DK_CONFIG_PATH_MAX + 1]; /* "" = stderr */
    int64_t drain_timeout;                 /* ms, 30s: SIGTERM waits this long for requests in flight */
    int max_connections;                   /* 0..10M, 0 = from RLIMIT_NOFILE (dynkvd.c) */
    uint64_t max_conn_output; /* bytes, 4MiB: unwritten answers per connection before it is not read */
    uint64_t
        max_output_total; /* bytes, 256MiB: the node's unwritten answers before slow readers are not read */
} dk_config_node;

typedef struct dk_config_cluster {
    char name[DK_CONFIG_NAME_MAX + 1]; /* [A-Za-z0-9_.-]{1,64}, "dynkv" */
    /* Seed host:port entries, owned (dk_config_free); NULL when empty. */
    char (*seeds)[DK_CONFIG_ADDR_MAX + 1];
    size_t n_seeds;
    int n_replicas;                /* 1..9, 3 */
    int read_consistency;          /* DK_CONSISTENCY_*, one */
    int write_consistency;         /* DK_CONSISTENCY_*, one */
    int sloppy_quorum;             /* bool, 1 */
    int64_t gossip_interval;       /* ms, 1s */
    int64_t anti_entropy_interval; /* ms, 10m; 0 = never on a schedule */
    int64_t request_timeout;       /* ms, 2s */
    int64_t gc_grace;              /* ms, 10d */
    int64_t hint_window;           /* ms, 3h; 0 = no hints */
    int max_siblings;              /* 1..10000, 100 */
    int vv_prune_entries;          /* 1..1000, 10 */
    int64_t vv_prune_age;          /* ms, 7d */
    uint64_t stream_rate;          /* bytes/s a node streams ranges out at, 64MiB; 0 = unlimited */
    int max_rpc_connections;       /* 1..1000000, 1024 accepted RPC connections at once */
    int read_repair_percent;       /* 0..100, 10: reads that ask every replica, for repair */
    int64_t handoff_wait;          /* ms, 30s: a move's (and a read fence's) wait for writes on their way */
} dk_config_cluster;

typedef struct dk_config_storage {
    char engine[DK_CONFIG_NAME_MAX + 1];     /* plugin name, "lsm" */
    char plugin_dir[DK_CONFIG_PATH_MAX + 1]; /* "" = built-in plugins */
    int sync;                                /* bool, 1 */
    uint64_t memtable_size;                  /* bytes, 64MiB (1MiB..4GiB) */
    uint64_t block_cache_size;               /* bytes (0..64GiB), DK_CONFIG_AUTO: dk_config_block_cache */
    uint64_t max_object_size;                /* bytes, 4MiB (64KiB..DK_OBJECT_SIZE_LIMIT) */
} dk_config_storage;

/* The largest max_object_size: an object must fit one RPC frame
 * (rpc_frame.h: 8 MiB) with room for the message around it (key, hint
 * target, a stream batch's or a forward result's fields); rpc_frame.c
 * checks this at compile time. */
#define DK_OBJECT_SIZE_LIMIT (8u * 1024u * 1024u - 64u * 1024u)

typedef struct dk_config_compaction {
    char policy[DK_CONFIG_NAME_MAX + 1]; /* plugin name, "leveled" */
} dk_config_compaction;

typedef struct dk_config_conflict {
    char resolver[DK_CONFIG_NAME_MAX + 1]; /* plugin name, "vclock" */
} dk_config_conflict;

/* [security]: who may talk to this node (cluster traffic, clients). */
typedef struct dk_config_security {
    char cluster_key_file[DK_CONFIG_PATH_MAX + 1]; /* "" = protected mode: cluster traffic on loopback only */
    int insecure; /* bool, 0: allow non-loopback cluster listeners without a key */
    char tls_cert_file[DK_CONFIG_PATH_MAX + 1]; /* "" = plain HTTP */
    char tls_key_file[DK_CONFIG_PATH_MAX + 1];
    char tls_ca_file[DK_CONFIG_PATH_MAX + 1]; /* "" = RPC without TLS */
    char tokens_file[DK_CONFIG_PATH_MAX + 1]; /* "" = no client authentication */
    int metrics_need_token;                   /* bool, 0 */
} dk_config_security;

/* [log]: how lines look and per-subsystem levels ([node] log_level and
 * log_file stay where they were). */
typedef struct dk_config_log {
    int format;                           /* 0 text, 1 json */
    char levels[DK_CONFIG_VALUE_MAX + 1]; /* "rpc=debug,membership=warn"; "" = none */
} dk_config_log;

/* One key of a plugin's own section, as text. */
typedef struct dk_config_popt {
    char section[DK_CONFIG_SECTION_MAX + 1]; /* "engine.lsm" */
    char key[DK_CONFIG_KEY_MAX + 1];         /* [a-z0-9_]{1,64} */
    char value[DK_CONFIG_VALUE_MAX + 1];
    int line; /* line in path; 0 = from --set */
} dk_config_popt;

typedef struct dk_config {
    char path[DK_CONFIG_PATH_MAX + 1]; /* file last loaded, "" = none */
    dk_config_node node;
    dk_config_cluster cluster;
    dk_config_storage storage;
    dk_config_compaction compaction;
    dk_config_conflict conflict;
    dk_config_security security;
    dk_config_log log;
    /* Keys of plugin sections in the order first set, owned
     * (dk_config_free); NULL when none. */
    dk_config_popt *popts;
    size_t n_popts;
} dk_config;

/* Fill c with every default. c needs no prior initialisation; call
 * dk_config_free when done (it owns the seed list). */
void dk_config_defaults(dk_config *c);

/*
 * dynkvd's command line: [-c|--config FILE] [-s|--set section.key=value]...
 * [-h|--help] [-V|--version] (also --config=FILE, --set=...). Fills c with
 * the defaults, then the file, then every --set in order, then runs
 * dk_config_check. --help and --version print to stdout (the CLI front end
 * is the one place that may) and set *exit_now = 1: the caller exits 0.
 * Returns 0, or DK_ECONFIG with a one-line message in err such as
 * "node.ini:7: [cluster] n_replicas = 12: expected an integer in 1..9" or
 * "--set node.weight=x: expected an integer in 1..100"; the caller prints
 * it to stderr and exits 2. Call dk_config_free on c in every case.
 */
int dk_config_from_args(dk_config *c, int argc, char **argv, int *exit_now, char *err, size_t errlen);

/*
 * Apply the INI file at path on top of c. Unknown sections and keys, bad
 * values, duplicate keys, lines longer than the parser's limit and syntax
 * errors are refused with "path:line: ..." in err; an unreadable file with
 * "path: ...". Returns 0 or DK_ECONFIG (c may then be partly updated; free
 * it). Does not run dk_config_check.
 */
int dk_config_load_file(dk_config *c, const char *path, char *err, size_t errlen);

/* Set one key from its text form, as the INI file would (a list value
 * replaces the list). Returns 0, or DK_ECONFIG with
 * "[section] key = value: expected ..." in err and c unchanged. */
int dk_config_set(dk_config *c, const char *section, const char *key, const char *value, char *err,
                  size_t errlen);

/* Rules between keys (the HTTP, RPC and gossip listen addresses pairwise
 * different, where port 0 never clashes except between HTTP and RPC). Returns 0 or DK_ECONFIG with a
 * message naming the keys and the file, if one was loaded. */
int dk_config_check(const dk_config *c, char *err, size_t errlen);

/* Receives one configuration error: a whole message, "file:line: " first
 * when the error is in a file. */
typedef void (*dk_config_report_fn)(void *arg, const char *msg);

/*
 * The collecting form of dk_config_from_args, for `dynkvd --check-config`:
 * argv holds --config FILE and --set section.key=value options only, and
 * every error is passed to report in the order found, loading going on past
 * it (the file's unknown sections, keys and bad values, lines inih refuses,
 * bad --set values, the rules between keys). Returns the number of errors
 * (0: c is valid), or -ENOMEM. Call dk_config_free on c in every case.
 */
int dk_config_check_args(dk_config *c, int argc, char **argv, dk_config_report_fn report, void *arg);

/* Print the --help text to f. */
void dk_config_usage(const char *prog, FILE *f);

/* Release what c owns (the seed list, the plugin keys); c may then be
 * reused after dk_config_defaults. Safe on a config that failed to load. */
void dk_config_free(dk_config *c);

/* 1 when section names a plugin's own section: "engine.", "compaction.",
 * "conflict." or "codec." followed by a plugin name ([a-z0-9_-]{1,64}). */
int dk_config_is_plugin_section(const char *section);

/* The key of a plugin section, or NULL. Borrowed from c. */
const dk_config_popt *dk_config_popt_find(const dk_config *c, const char *section, const char *key);

/*
 * Parse the plugin section `section` of c against spec[0..n) (dk_option,
 * dynkv/types.h) into the plugin's struct at out: a key the spec does not
 * name, a malformed value or one out of range is refused; keys not given
 * take the spec's default (parsed the same way). Returns 0; DK_ECONFIG with
 * the operator's message in err ("node.ini:12: [engine.lsm] codec_level =
 * 99: expected an integer in -7..22"); DK_EBADPLUGIN when the spec itself
 * is wrong (err names the key). A DK_OPT_STRING value points into c, valid
 * while c is not changed, or at the spec's default. Pure: any thread.
 */
int dk_config_plugin_options(const dk_config *c, const char *section, const dk_option *spec, size_t n,
                             void *out, char *err, size_t errlen);

/* The first key set in section, or NULL (for "this plugin takes no
 * options" errors). */
const dk_config_popt *dk_config_popt_first(const dk_config *c, const char *section);

/* "file:line: [section] key = value: why" for a key from the file, or
 * "--set section.key=value: why" for one from the command line, with the
 * same hints about quotes and ';' as for the node's own keys. */
void dk_config_popt_describe(const dk_config *c, const dk_config_popt *o, const char *why, char *out,
                             size_t len);

#endif /* DK_CONFIG_H */
