/*
 * node.h - a node's local half, opened in order at start and closed in
 * reverse at stop: the catalog, the plugin host and the three plugins the
 * configuration names (engine, compaction policy, conflict resolver), the
 * crdt resolver every node loads besides for CRDT objects (/crdt/ keys),
 * the node's version-vector actor, and the local store built from them.
 *
 * dk_node_open runs on the main thread before any loop starts (it writes the
 * catalog and may fsync); dk_node_close after every loop has stopped.
 */
#ifndef DK_NODE_H
#define DK_NODE_H

#include "base/cluster_key.h"
#include "base/config.h"
#include "node/catalog.h"
#include "node/host.h"
#include "plugin/plugin_call.h"
#include "plugin/plugin_host.h"
#include "node/resolve.h"
#include "node/store.h"
#include "dynkv/compaction.h"

typedef struct dk_node {
    const dk_config *cfg; /* borrowed; outlives the node */
    dk_catalog *catalog;
    /* A second connection to the same catalog, for the streaming progress
     * jobs (coord/stream.c): one worker at a time, beside the member-table
     * saves that use `catalog`. */
    dk_catalog *stream_catalog;
    dk_plugin_host *plugins;
    const dk_loaded_plugin *engine_plugin, *policy_plugin, *resolver_plugin, *crdt_plugin;
    const dk_engine_ops *engine_ops;
    const dk_compaction_ops *policy_ops;
    const dk_conflict_ops *resolver_ops;
    dk_host_ctx engine_ctx, policy_ctx, resolver_ctx;
    dk_host engine_host, policy_host, resolver_host;
    dk_engine *engine;
    dk_engine *hint_engine; /* hinted handoff's own instance (data_dir/hints) */
    dk_compaction_policy *policy;
    dk_resolver *resolver;
    const dk_conflict_ops *crdt_ops;
    dk_host_ctx crdt_ctx;
    dk_host crdt_host;
    dk_resolver *crdt;      /* the crdt resolver (CRDT objects) */
    dk_resolvers resolvers; /* by object type: resolver, crdt */
    dk_actor actor;
    dk_cluster_key cluster_key;              /* [security] cluster_key_file, or the unkeyed one */
    uint8_t context_key[DK_CLUSTER_KEY_LEN]; /* derived "context": MACs of context tokens */
    /* This start found no data of a previous life: a new data directory
     * (new_catalog), or an engine that is not durable or lost its folder.
     * The node must then get its ranges back before it serves reads. */
    int data_lost, new_catalog;
    dk_store *store;
    char plugin_dir[DK_CONFIG_PATH_MAX + 1];
    int lock_fd; /* flock on data_dir/LOCK, -1 when none */
    /* Dead records written at or after this time (ms) are kept by
     * compaction (host.h, the repair rule). 0 at open: nothing is purged
     * until anti-entropy (coord/antientropy.h) has worked out the time. */
    _Atomic int64_t repaired_before_ms;
} dk_node;

/* Open everything the configuration names. On failure returns a negative
 * code, err says what and where (file, plugin, reason), and everything
 * opened so far is closed again. DK_ECONFIG means the configuration is at
 * fault (a plugin option, a section for a plugin not in use): err then
 * starts with "file:line: " like the errors of dk_config_from_args. */
int dk_node_open(dk_node *n, const dk_config *cfg, char *err, size_t errlen);

/* dynkvd --check-config: load and check (descriptor, ABI, ops table) the
 * engine, compaction policy and conflict resolver cfg names, from its
 * plugin folder, then unload them; every failure goes to report. Opens
 * nothing in the data directory. Returns the number of failures. */
int dk_node_check_plugins(const dk_config *cfg, dk_config_report_fn report, void *arg);

/* Close the store, the plugin objects, the plugins and the catalog. */
void dk_node_close(dk_node *n);

/* The node's data engine (or, with dk_node_hints, its hint engine) as a
 * ref for the dk_engine_* wrappers of plugin/plugin_call.h. A value: valid
 * while the node is open. Any thread. */
static inline dk_engine_ref dk_node_engine(const dk_node *n)
{
    return (dk_engine_ref){n->engine_ops, n->engine};
}
static inline dk_engine_ref dk_node_hints(const dk_node *n)
{
    return (dk_engine_ref){n->engine_ops, n->hint_engine};
}
#endif
