/*
 * node.c - see node.h. The order matters: the catalog first (identity and
 * the engine binding are checked before the engine touches the data
 * directory), then the plugins, then the engine with the policy handed to
 * it, then the store.
 *
 * Besides the configured resolver, every node loads the crdt resolver
 * (conflict-crdt.so) for CRDT objects, opened with the same settings; the
 * store and the coordinator pick between the two per object
 * (node/resolve.h). It is required: a node that could not merge CRDT
 * copies would refuse its share of their replication.
 *
 * The actor's incarnation is bumped when the node starts with lost local
 * state: an engine that is not durable (memory) or an engine directory that
 * vanished while the catalog survived. Then the node's new writes cannot be
 * silently dominated by counters it issued before (Riak's KV-679).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node.h"
#include "dynkv/crdt.h"
#include "base/log.h"
#include "util/vv.h"

static int node_load(dk_node *n, uint32_t kind, const char *name, const dk_loaded_plugin **out,
                     char *err, size_t errlen)
{
    int rc = dk_plugin_load(n->plugins, kind, name, out, err, errlen);
    if (rc)
        return rc;
    const dk_loaded_plugin *p = *out;
    rc = dk_catalog_record_plugin(n->catalog, dk_plugin_kind_name(kind), p->name, p->version, p->path, p->sha256);
    if (rc)
        snprintf(err, errlen, "catalog: cannot record plugin %.900s: %s", p->path, dk_strerror(rc));
    else
        dk_log(DK_LOG_INFO, "loaded %s plugin '%s' %s from %s (sha256 %.16s...)",
               dk_plugin_kind_name(kind), p->name, p->version, p->path, p->sha256);
    return rc;
}

static int node_plugins(dk_node *n, char *err, size_t errlen)
{
    const dk_config *c = n->cfg;
    if (c->storage.plugin_dir[0])
        snprintf(n->plugin_dir, sizeof(n->plugin_dir), "%s", c->storage.plugin_dir);
    else if (dk_plugin_default_dir(n->plugin_dir, sizeof(n->plugin_dir)) != 0) {
        snprintf(err, errlen, "cannot work out the built-in plugin folder");
        return DK_ECONFIG;
    }
    int rc = dk_plugin_host_new(n->plugin_dir, &n->plugins, err, errlen);
    if (rc)
        return rc;
    if ((rc = node_load(n, DK_PLUGIN_ENGINE, c->storage.engine, &n->engine_plugin, err, errlen)) ||
        (rc = node_load(n, DK_PLUGIN_COMPACTION, c->compaction.policy, &n->policy_plugin, err, errlen)) ||
        (rc = node_load(n, DK_PLUGIN_CONFLICT, c->conflict.resolver, &n->resolver_plugin, err, errlen)) ||
        (rc = node_load(n, DK_PLUGIN_CONFLICT, DK_CRDT_RESOLVER, &n->crdt_plugin, err, errlen)))
        return rc;
    n->engine_ops = n->engine_plugin->ops;
    n->policy_ops = n->policy_plugin->ops;
    n->resolver_ops = n->resolver_plugin->ops;
    n->crdt_ops = n->crdt_plugin->ops;
    return 0;
}

static int node_open_plugins(dk_node *n, const char *engine_dir, char *err, size_t errlen)
{
    const dk_config *c = n->cfg;
    n->engine_ctx = (dk_host_ctx){.gc_grace_ms = c->cluster.gc_grace, .log_prefix = "engine"};
    n->policy_ctx = (dk_host_ctx){.gc_grace_ms = c->cluster.gc_grace, .log_prefix = "compaction"};
    n->resolver_ctx = (dk_host_ctx){.gc_grace_ms = c->cluster.gc_grace, .log_prefix = "conflict"};
    dk_host_init(&n->engine_host, &n->engine_ctx);
    dk_host_init(&n->policy_host, &n->policy_ctx);
    dk_host_init(&n->resolver_host, &n->resolver_ctx);

    dk_compaction_conf pc = {
        .struct_size = sizeof(pc),
        .l0_trigger = (uint32_t)c->compaction.l0_trigger,
        .level_ratio = (uint32_t)c->compaction.level_ratio,
        .base_level_size = c->compaction.base_level_size,
        .target_file_size = c->compaction.target_file_size,
        .min_threshold = (uint32_t)c->compaction.min_threshold,
        .max_threshold = (uint32_t)c->compaction.max_threshold,
        .window_ms = c->compaction.window,
    };
    int rc = n->policy_ops->open(&n->policy_host, &pc, &n->policy);
    if (rc) {
        snprintf(err, errlen, "compaction policy '%s' failed to open: %s", n->policy_plugin->name, dk_strerror(rc));
        return rc;
    }
    dk_conflict_conf cc = {
        .struct_size = sizeof(cc),
        .max_siblings = (uint32_t)c->cluster.max_siblings,
        .vv_prune_entries = (uint32_t)c->cluster.vv_prune_entries,
        .vv_prune_age_ms = c->cluster.vv_prune_age,
    };
    rc = n->resolver_ops->open(&n->resolver_host, &cc, &n->resolver);
    if (rc) {
        snprintf(err, errlen, "conflict resolver '%s' failed to open: %s", n->resolver_plugin->name, dk_strerror(rc));
        return rc;
    }
    rc = n->crdt_ops->open(&n->resolver_host, &cc, &n->crdt);
    if (rc) {
        snprintf(err, errlen, "conflict resolver '%s' failed to open: %s", n->crdt_plugin->name, dk_strerror(rc));
        return rc;
    }
    n->resolvers = (dk_resolvers){
        .ops = {[DK_OBJECT_PLAIN] = n->resolver_ops, [DK_OBJECT_CRDT] = n->crdt_ops},
        .r = {[DK_OBJECT_PLAIN] = n->resolver, [DK_OBJECT_CRDT] = n->crdt},
    };
    dk_engine_conf ec = {
        .struct_size = sizeof(ec),
        .path = engine_dir,
        .sync = c->storage.sync,
        .memtable_size = c->storage.memtable_size,
        .block_cache_size = c->storage.block_cache_size,
        .bloom_bits_per_key = (uint32_t)c->storage.bloom_bits_per_key,
        .codec = c->storage.codec,
        .compaction_rate_limit = c->storage.compaction_rate_limit,
        .compaction = n->policy_ops,
        .compaction_policy = n->policy,
    };
    rc = n->engine_ops->open(&n->engine_host, &ec, &n->engine);
    if (rc) {
        snprintf(err, errlen, "engine '%s' failed to open %s: %s (see the log above)",
                 n->engine_plugin->name, engine_dir, dk_strerror(rc));
        n->engine = NULL;
        return rc;
    }
    /* Hints get their own small instance of the same engine, so they are
     * as durable as the data and never mix with it in scans or repair. */
    char hint_dir[DK_CONFIG_PATH_MAX + 16];
    snprintf(hint_dir, sizeof(hint_dir), "%s/hints", c->node.data_dir);
    if (mkdir(hint_dir, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot create: %s", hint_dir, strerror(errno));
        return rc;
    }
    ec.path = hint_dir;
    ec.memtable_size = 4u << 20;
    ec.block_cache_size = 4u << 20;
    ec.compaction = NULL;           /* a policy object serves one engine */
    ec.compaction_policy = NULL;
    rc = n->engine_ops->open(&n->engine_host, &ec, &n->hint_engine);
    if (rc) {
        snprintf(err, errlen, "engine '%s' failed to open the hint store %s: %s",
                 n->engine_plugin->name, hint_dir, dk_strerror(rc));
        n->hint_engine = NULL;
    }
    return rc;
}

/* One process per data directory: a second dynkvd on the same folder would
 * interleave two engines' writes. flock is released by the kernel when the
 * process dies, so a crash never leaves a stale lock behind. */
static int node_lock(dk_node *n, const char *data_dir, char *err, size_t errlen)
{
    char path[DK_CONFIG_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/LOCK", data_dir);
    n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (n->lock_fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: another dynkvd is using this data directory (%s)", path,
                 e == EWOULDBLOCK ? "locked" : strerror(e));
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
    return 0;
}

int dk_node_open(dk_node *n, const dk_config *cfg, char *err, size_t errlen)
{
    memset(n, 0, sizeof(*n));
    n->cfg = cfg;
    n->lock_fd = -1;
    /* The catalog creates data_dir; the lock needs it first. */
    int rc = dk_catalog_open(cfg->node.data_dir, &n->catalog, err, errlen);
    if (rc)
        goto fail;
    rc = node_lock(n, cfg->node.data_dir, err, errlen);
    if (rc)
        goto fail;
    rc = dk_catalog_bind_engine(n->catalog, cfg->storage.engine, err, errlen);
    if (rc)
        goto fail;
    rc = node_plugins(n, err, errlen);
    if (rc)
        goto fail;

    char engine_dir[1100];
    snprintf(engine_dir, sizeof(engine_dir), "%s/engine", cfg->node.data_dir);
    struct stat st;
    int engine_dir_existed = stat(engine_dir, &st) == 0;
    if (!engine_dir_existed && mkdir(engine_dir, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot create: %s", engine_dir, strerror(errno));
        goto fail;
    }
    int durable = (n->engine_ops->caps & DK_ENGINE_CAP_DURABLE) != 0;
    uint32_t incarnation = 0;
    int created = 0;
    rc = dk_catalog_identity(n->catalog, cfg->node.id, !durable || !engine_dir_existed,
                             &incarnation, &created, err, errlen);
    if (rc)
        goto fail;
    dk_actor_set(&n->actor, cfg->node.id, incarnation);
    dk_log(DK_LOG_INFO, "node %s incarnation %u%s", cfg->node.id, incarnation,
           created ? " (new data directory)" : "");

    rc = node_open_plugins(n, engine_dir, err, errlen);
    if (rc)
        goto fail;
    dk_store_conf sc = {
        .engine = n->engine, .engine_ops = n->engine_ops, .resolvers = &n->resolvers,
        .actor = n->actor, .sync = cfg->storage.sync,
    };
    rc = dk_store_open(&sc, &n->store);
    if (rc) {
        snprintf(err, errlen, "cannot create the store: %s", dk_strerror(rc));
        goto fail;
    }
    return 0;
fail:
    dk_node_close(n);
    return rc;
}

void dk_node_close(dk_node *n)
{
    dk_store_close(n->store);
    n->store = NULL;
    if (n->hint_engine) {
        int rc = n->engine_ops->close(n->hint_engine);
        if (rc)
            dk_log(DK_LOG_ERROR, "hint store close failed: %s", dk_strerror(rc));
        n->hint_engine = NULL;
    }
    if (n->engine) {
        int rc = n->engine_ops->close(n->engine);
        if (rc)
            dk_log(DK_LOG_ERROR, "engine close failed: %s", dk_strerror(rc));
        n->engine = NULL;
    }
    if (n->crdt)
        n->crdt_ops->close(n->crdt);
    n->crdt = NULL;
    if (n->resolver)
        n->resolver_ops->close(n->resolver);
    n->resolver = NULL;
    if (n->policy)
        n->policy_ops->close(n->policy);
    n->policy = NULL;
    if (n->plugins)
        dk_plugin_host_free(n->plugins);
    n->plugins = NULL;
    if (n->catalog)
        dk_catalog_close(n->catalog);
    n->catalog = NULL;
    if (n->lock_fd >= 0)
        close(n->lock_fd);
    n->lock_fd = -1;
}
