/*
 * config_keys.h - the table of configuration keys: section, name, type,
 * field in dk_config, range and default (as the text an operator would
 * write). Included by config_values.c only, so the table is defined once
 * (config_int.h declares it for the other config_*.c files); a new key is
 * one row here plus its field in config.h and a line in
 * examples/single-node.ini.
 */
#ifndef DK_CONFIG_KEYS_H
#define DK_CONFIG_KEYS_H
#include <stddef.h>
#include <stdint.h>
#include "base/config.h"
#include "base/config_int.h"
#include "dynkv/types.h"

static const char *const cfg_sections[] = {"node",     "cluster",  "storage", "compaction",
                                           "conflict", "security", "log"};
static const char *const cfg_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const cfg_consistency[] = {"one", "quorum", "all", NULL};
static const char *const cfg_log_formats[] = {"text", "json", NULL};

/* Units of the ranges below: sizes in bytes, durations in milliseconds.
 * Prefixed, so that nothing here shadows <sys/param.h>'s MIN(a, b). */
#define CFG_KIB 1024LL
#define CFG_MIB (1024LL * CFG_KIB)
#define CFG_GIB (1024LL * CFG_MIB)
#define CFG_SEC_MS 1000LL
#define CFG_MIN_MS (60 * CFG_SEC_MS)
#define CFG_HOUR_MS (60 * CFG_MIN_MS)
#define CFG_DAY_MS (24 * CFG_HOUR_MS)

#define CFG_FIELD(sec, key) offsetof(dk_config, sec.key), sizeof(((dk_config *)0)->sec.key)
/* clang-format off */
#define K_STR(sec, key, form, dflt) {#sec, #key, CT_STR, form, CFG_FIELD(sec, key), 0, 0, NULL, dflt}
#define K_WORD(sec, key, words, dflt) {#sec, #key, CT_STR, CF_TEXT, CFG_FIELD(sec, key), 0, 0, words, dflt}
#define K_NUM(sec, key, type, lo, hi, dflt) {#sec, #key, type, 0, CFG_FIELD(sec, key), lo, hi, NULL, dflt}
#define K_SIZE_AUTO(sec, key, lo, hi) {#sec, #key, CT_SIZE, CF_AUTO, CFG_FIELD(sec, key), lo, hi, NULL, "auto"}
#define K_ENUM(sec, key, words, dflt) {#sec, #key, CT_ENUM, 0, CFG_FIELD(sec, key), 0, 0, words, dflt}
/* clang-format on */

const cfg_key dk__cfg_keys[] = {
    K_STR(node, id, CF_ID, "n1"),
    K_STR(node, data_dir, CF_PATH, "./data/n1"),
    K_STR(node, http_listen, CF_ADDR, "127.0.0.1:8080"),
    K_STR(node, rpc_listen, CF_ADDR, "127.0.0.1:7070"),
    K_STR(node, gossip_listen, CF_ADDR, "127.0.0.1:7946"),
    K_STR(node, advertise_address, CF_HOST, ""),
    K_STR(node, dc, CF_LABEL, "dc1"),
    K_STR(node, rack, CF_LABEL, "r1"),
    K_NUM(node, weight, CT_INT, 1, 100, "1"),
    K_NUM(node, loop_threads, CT_INT, 0, 64, "0"),
    K_NUM(node, worker_threads, CT_INT, 1, 128, "4"),
    K_ENUM(node, log_level, cfg_levels, "info"),
    K_STR(node, log_file, CF_TEXT, ""),
    K_NUM(node, drain_timeout, CT_DUR, 0, CFG_HOUR_MS, "30s"),
    K_NUM(node, max_connections, CT_INT, 0, 10000000, "0"),
    K_NUM(node, max_conn_output, CT_SIZE, 64 * CFG_KIB, CFG_GIB, "4MiB"),
    K_NUM(node, max_output_total, CT_SIZE, CFG_MIB, 64 * CFG_GIB, "256MiB"),

    K_STR(cluster, name, CF_LABEL, "dynkv"),
    {"cluster", "seeds", CT_SEEDS, 0, 0, 0, 0, 0, NULL, ""},
    K_NUM(cluster, n_replicas, CT_INT, 1, 9, "3"),
    K_ENUM(cluster, read_consistency, cfg_consistency, "one"),
    K_ENUM(cluster, write_consistency, cfg_consistency, "one"),
    K_NUM(cluster, sloppy_quorum, CT_BOOL, 0, 1, "true"),
    K_NUM(cluster, gossip_interval, CT_DUR, 10, CFG_HOUR_MS, "1s"),
    K_NUM(cluster, anti_entropy_interval, CT_DUR, 0, 30 * CFG_DAY_MS, "10m"),
    K_NUM(cluster, request_timeout, CT_DUR, 1, 10 * CFG_MIN_MS, "2s"),
    K_NUM(cluster, gc_grace, CT_DUR, 0, 365 * CFG_DAY_MS, "10d"),
    K_NUM(cluster, hint_window, CT_DUR, 0, 30 * CFG_DAY_MS, "3h"),
    K_NUM(cluster, max_siblings, CT_INT, 1, 10000, "100"),
    K_NUM(cluster, vv_prune_entries, CT_INT, 1, 1000, "10"),
    K_NUM(cluster, vv_prune_age, CT_DUR, CFG_MIN_MS, 3650 * CFG_DAY_MS, "7d"),
    K_NUM(cluster, stream_rate, CT_RATE, 0, 1024 * CFG_GIB, "64MiB"),
    K_NUM(cluster, max_rpc_connections, CT_INT, 1, 1000000, "1024"),
    K_NUM(cluster, read_repair_percent, CT_INT, 0, 100, "10"),
    K_NUM(cluster, handoff_wait, CT_DUR, 10, CFG_HOUR_MS, "30s"),

    K_STR(storage, engine, CF_ID, "lsm"),
    K_STR(storage, plugin_dir, CF_TEXT, ""),
    K_NUM(storage, sync, CT_BOOL, 0, 1, "true"),
    K_NUM(storage, memtable_size, CT_SIZE, CFG_MIB, 4 * CFG_GIB, "64MiB"),
    K_SIZE_AUTO(storage, block_cache_size, 0, 64 * CFG_GIB),
    K_NUM(storage, max_object_size, CT_SIZE, 64 * CFG_KIB, DK_OBJECT_SIZE_LIMIT, "4MiB"),

    K_STR(compaction, policy, CF_ID, "leveled"),

    K_STR(conflict, resolver, CF_ID, "vclock"),

    K_STR(security, cluster_key_file, CF_TEXT, ""),
    K_NUM(security, insecure, CT_BOOL, 0, 1, "false"),
    K_STR(security, tls_cert_file, CF_TEXT, ""),
    K_STR(security, tls_key_file, CF_TEXT, ""),
    K_STR(security, tls_ca_file, CF_TEXT, ""),
    K_STR(security, tokens_file, CF_TEXT, ""),
    K_NUM(security, metrics_need_token, CT_BOOL, 0, 1, "false"),

    K_ENUM(log, format, cfg_log_formats, "text"),
    K_STR(log, levels, CF_TEXT, ""),
};
#define CFG_NKEYS (sizeof dk__cfg_keys / sizeof dk__cfg_keys[0])
const size_t dk__cfg_nkeys = CFG_NKEYS;

/* Keys that moved to a plugin's own section (ABI 1.1): a file that still
 * sets one is told where it went rather than only "unknown key". */
typedef struct cfg_moved {
    const char *section, *name, *to;
} cfg_moved;

static const cfg_moved cfg_moved_keys[] = {
    {"cluster", "shared_secret", "[security] cluster_key_file (a key file written by `dynkvd keygen PATH`)"},
    {"storage", "codec", "[engine.lsm] (the engine's own section; codec_level sets the level)"},
    {"storage", "bloom_bits_per_key", "[engine.lsm] (the engine's own section)"},
    {"storage", "compaction_rate_limit", "[engine.lsm] (the engine's own section)"},
    {"compaction", "l0_trigger", "[compaction.leveled]"},
    {"compaction", "level_ratio", "[compaction.leveled]"},
    {"compaction", "base_level_size", "[compaction.leveled]"},
    {"compaction", "target_file_size", "[compaction.leveled]"},
    {"compaction", "min_threshold", "[compaction.size_tiered] or [compaction.time_window]"},
    {"compaction", "max_threshold", "[compaction.size_tiered] or [compaction.time_window]"},
    {"compaction", "window", "[compaction.time_window]"},
};
#define CFG_NMOVED (sizeof cfg_moved_keys / sizeof cfg_moved_keys[0])
#define CFG_NSECTIONS (sizeof cfg_sections / sizeof cfg_sections[0])

#endif /* DK_CONFIG_KEYS_H */
