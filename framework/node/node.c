/*
 * node.c - see node.h. The order matters: the plugins are loaded and
 * checked first (and their INI sections against them), so that a
 * configuration naming a missing or broken plugin fails before anything is
 * written (a fresh data directory would otherwise be bound to an engine
 * that does not exist); then the catalog (identity and the engine binding
 * are checked before the engine touches the data directory) records them,
 * then the engine opens with the policy handed to it, then the store.
 *
 * Plugins are opened through the wrappers of plugin/plugin_call.h, each
 * with its own dk_host whose ctx names its INI section; after each open the
 * ctx says whether the plugin refused one of its options, and the node
 * stops with that message (DK_ECONFIG, exit 2 in dynkvd).
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
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "node/node.h"
#include "node/snapshot.h"
#include "dynkv/crdt.h"
#include "base/log.h"
#include "base/memsize.h"
#include "base/metrics.h"
#include "plugin/plugin_call.h"
#include "util/vv.h"

/* Record a loaded plugin in the catalog (after the catalog is open). */
static int node_record(dk_node *n, uint32_t kind, const dk_loaded_plugin *p, char *err, size_t errlen)
{
    int rc = dk_catalog_record_plugin(n->catalog, dk_plugin_kind_name(kind), p->name, p->version, p->path,
                                      p->sha256);
    if (rc)
        snprintf(err, errlen, "catalog: cannot record plugin %.900s: %s", p->path, dk_strerror(rc));
    else
        dk_log(DK_LOG_INFO, "loaded %s plugin '%s' %s from %s (sha256 %.16s...)", dk_plugin_kind_name(kind),
               p->name, p->version, p->path, p->sha256);
    return rc;
}

static int node_plugin_dir(const dk_config *c, char *dir, size_t len, char *err, size_t errlen)
{
    if (c->storage.plugin_dir[0])
        snprintf(dir, len, "%s", c->storage.plugin_dir);
    else if (dk_plugin_default_dir(dir, len) != 0) {
        snprintf(err, errlen, "cannot work out the built-in plugin folder");
        return DK_ECONFIG;
    }
    return 0;
}

/* The engine's codec_open loaded a codec plugin: record it as kind
 * "codec.<name>" (an engine may read tables of several codecs). Runs on
 * the main thread, inside the engine's open(). */
static void node_codec_loaded(void *arg, const dk_loaded_plugin *p)
{
    dk_node *n = arg;
    char kind[DK_CONFIG_SECTION_MAX + 1];
    snprintf(kind, sizeof kind, "codec.%s", p->name);
    char old[65] = "";
    dk_log(DK_LOG_INFO, "loaded codec plugin '%s' %s from %s (sha256 %.16s...)", p->name, p->version, p->path,
           p->sha256);
    /* The hint store opens the same codecs: record each once. */
    if (dk_catalog_plugin(n->catalog, kind, NULL, 0, NULL, 0, old, sizeof old) == 0 &&
        strcmp(old, p->sha256) == 0)
        return;
    int rc = dk_catalog_record_plugin(n->catalog, kind, p->name, p->version, p->path, p->sha256);
    if (rc)
        dk_log(DK_LOG_WARN, "catalog: cannot record codec plugin %s: %s", p->path, dk_strerror(rc));
}

/* A plugin section names a plugin of its kind that the node does not use:
 * refused with the section's first key, as an unknown key would be. The
 * codec sections are checked once the engine opened its codecs. */
static int node_check_sections(dk_node *n, int codecs, char *err, size_t errlen)
{
    const dk_config *c = n->cfg;
    for (size_t i = 0; i < c->n_popts; i++) {
        const dk_config_popt *o = &c->popts[i];
        const char *dot = strchr(o->section, '.'), *name = dot + 1;
        size_t kl = (size_t)(dot - o->section);
        char why[512];
        why[0] = '\0';
        if (!codecs && kl == 6 && !strncmp(o->section, "engine", kl) && strcmp(name, c->storage.engine))
            snprintf(why, sizeof why,
                     "[%s] configures the engine '%s', but [storage] engine = %s; "
                     "remove the section or correct its name",
                     o->section, name, c->storage.engine);
        else if (!codecs && kl == 10 && !strncmp(o->section, "compaction", kl) &&
                 strcmp(name, c->compaction.policy))
            snprintf(why, sizeof why,
                     "[%s] configures the compaction policy '%s', but [compaction] "
                     "policy = %s; remove the section or correct its name",
                     o->section, name, c->compaction.policy);
        else if (!codecs && kl == 8 && !strncmp(o->section, "conflict", kl) &&
                 strcmp(name, c->conflict.resolver))
            snprintf(why, sizeof why,
                     "[%s] configures the conflict resolver '%s', but [conflict] "
                     "resolver = %s; remove the section or correct its name",
                     o->section, name, c->conflict.resolver);
        else if (codecs && kl == 5 && !strncmp(o->section, "codec", kl) &&
                 !dk_plugin_find(n->plugins, DK_PLUGIN_CODEC, name))
            snprintf(why, sizeof why,
                     "[%s] configures the codec '%s', which the engine '%s' does not "
                     "use (choose it with codec = %s in [engine.%s])",
                     o->section, name, c->storage.engine, name, c->storage.engine);
        if (why[0]) {
            dk_config_popt_describe(c, o, why, err, errlen);
            return DK_ECONFIG;
        }
    }
    return 0;
}

/* Load (and check) the three plugins the configuration names. Touches no
 * data directory. */
static int node_plugins(dk_node *n, char *err, size_t errlen)
{
    const dk_config *c = n->cfg;
    int rc = node_plugin_dir(c, n->plugin_dir, sizeof(n->plugin_dir), err, errlen);
    if (rc || (rc = dk_plugin_host_new(n->plugin_dir, &n->plugins, err, errlen)))
        return rc;
    if ((rc = dk_plugin_load(n->plugins, DK_PLUGIN_ENGINE, c->storage.engine, &n->engine_plugin, err,
                             errlen)) ||
        (rc = dk_plugin_load(n->plugins, DK_PLUGIN_COMPACTION, c->compaction.policy, &n->policy_plugin, err,
                             errlen)) ||
        (rc = dk_plugin_load(n->plugins, DK_PLUGIN_CONFLICT, c->conflict.resolver, &n->resolver_plugin, err,
                             errlen)) ||
        (rc = dk_plugin_load(n->plugins, DK_PLUGIN_CONFLICT, DK_CRDT_RESOLVER, &n->crdt_plugin, err, errlen)))
        return rc;
    n->engine_ops = n->engine_plugin->ops;
    n->policy_ops = n->policy_plugin->ops;
    n->resolver_ops = n->resolver_plugin->ops;
    n->crdt_ops = n->crdt_plugin->ops;
    return 0;
}

int dk_node_check_plugins(const dk_config *cfg, dk_config_report_fn report, void *arg)
{
    char dir[DK_CONFIG_PATH_MAX + 1], err[1200], msg[1400];
    dk_plugin_host *h = NULL;
    int n = 0;
    dk_node sections = {.cfg = cfg};
    if (node_check_sections(&sections, 0, err, sizeof(err)) != 0) {
        report(arg, err);
        n++;
    }
    int rc = node_plugin_dir(cfg, dir, sizeof(dir), err, sizeof(err));
    if (rc || (rc = dk_plugin_host_new(dir, &h, err, sizeof(err)))) {
        snprintf(msg, sizeof(msg), "plugins: %s", err);
        report(arg, msg);
        return n + 1;
    }
    static const struct {
        uint32_t kind;
        const char *key;
        size_t off;
    } want[] = {
        {DK_PLUGIN_ENGINE, "[storage] engine", offsetof(dk_config, storage.engine)},
        {DK_PLUGIN_COMPACTION, "[compaction] policy", offsetof(dk_config, compaction.policy)},
        {DK_PLUGIN_CONFLICT, "[conflict] resolver", offsetof(dk_config, conflict.resolver)},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *name = (const char *)cfg + want[i].off;
        const dk_loaded_plugin *p;
        if (dk_plugin_load(h, want[i].kind, name, &p, err, sizeof(err)) != 0) {
            snprintf(msg, sizeof(msg), "%s = %s: %s", want[i].key, name, err);
            report(arg, msg);
            n++;
        }
    }
    dk_plugin_host_free(h);
    return n;
}

/* After a plugin's open(): its configuration error, if it reported one,
 * else a generic message; then its unread options. */
static int node_opened(const dk_host_ctx *ctx, int rc, const char *what, const char *name, const char *extra,
                       char *err, size_t errlen)
{
    char desc[128];
    snprintf(desc, sizeof desc, "%s plugin '%s'", what, name);
    if (rc) {
        if (dk_host_ctx_check(ctx, desc, err, errlen) == DK_ECONFIG)
            return DK_ECONFIG;
        snprintf(err, errlen, "%s failed to open%s: %s (see the log above)", desc, extra, dk_strerror(rc));
        return rc;
    }
    return dk_host_ctx_check(ctx, desc, err, errlen);
}

static int node_open_plugins(dk_node *n, const char *engine_dir, char *err, size_t errlen)
{
    const dk_config *c = n->cfg;
    const _Atomic int64_t *rb = &n->repaired_before_ms;
    n->engine_ctx =
        (dk_host_ctx){.gc_grace_ms = c->cluster.gc_grace, .log_prefix = "engine", .repaired_before_ms = rb};
    n->policy_ctx = (dk_host_ctx){
        .gc_grace_ms = c->cluster.gc_grace, .log_prefix = "compaction", .repaired_before_ms = rb};
    n->resolver_ctx =
        (dk_host_ctx){.gc_grace_ms = c->cluster.gc_grace, .log_prefix = "conflict", .repaired_before_ms = rb};
    dk_host_ctx_set(&n->engine_ctx, c, "engine", c->storage.engine, n->plugins);
    dk_host_ctx_set(&n->policy_ctx, c, "compaction", c->compaction.policy, n->plugins);
    dk_host_ctx_set(&n->resolver_ctx, c, "conflict", c->conflict.resolver, n->plugins);
    n->crdt_ctx = (dk_host_ctx){
        .gc_grace_ms = c->cluster.gc_grace, .log_prefix = "conflict crdt", .repaired_before_ms = rb};
    dk_host_ctx_set(&n->crdt_ctx, c, "conflict", DK_CRDT_RESOLVER, n->plugins);
    n->engine_ctx.on_codec = node_codec_loaded;
    n->engine_ctx.hook_arg = n;
    dk_host_init(&n->engine_host, &n->engine_ctx);
    dk_host_init(&n->policy_host, &n->policy_ctx);
    dk_host_init(&n->resolver_host, &n->resolver_ctx);
    dk_host_init(&n->crdt_host, &n->crdt_ctx);

    /* Policies take every option from their section: the conf is empty. */
    dk_compaction_conf pc = {.struct_size = sizeof(pc)};
    dk_policy_ref policy;
    int rc = dk_policy_open(n->policy_ops, &n->policy_host, &pc, &policy);
    n->policy = policy.obj;
    if ((rc = node_opened(&n->policy_ctx, rc, "compaction", n->policy_plugin->name, "", err, errlen)))
        return rc;
    dk_conflict_conf cc = {
        .struct_size = sizeof(cc),
        .max_siblings = (uint32_t)c->cluster.max_siblings,
        .vv_prune_entries = (uint32_t)c->cluster.vv_prune_entries,
        .vv_prune_age_ms = c->cluster.vv_prune_age,
    };
    dk_resolver_ref resolver;
    rc = dk_resolver_open(n->resolver_ops, &n->resolver_host, &cc, &resolver);
    n->resolver = resolver.obj;
    if ((rc = node_opened(&n->resolver_ctx, rc, "conflict", n->resolver_plugin->name, "", err, errlen)))
        return rc;
    dk_resolver_ref crdt;
    rc = dk_resolver_open(n->crdt_ops, &n->crdt_host, &cc, &crdt);
    n->crdt = crdt.obj;
    if ((rc = node_opened(&n->crdt_ctx, rc, "conflict", n->crdt_plugin->name, "", err, errlen)))
        return rc;
    n->resolvers = (dk_resolvers){.by_type = {[DK_OBJECT_PLAIN] = resolver, [DK_OBJECT_CRDT] = crdt}};
    uint64_t mem = dk_mem_usable(), cache = dk_block_cache_size(c->storage.block_cache_size, mem);
    if (c->storage.block_cache_size == DK_CONFIG_AUTO)
        dk_log(DK_LOG_INFO,
               "[storage] block_cache_size = auto: %llu bytes (%llu MiB), 1/%d of %llu bytes of usable "
               "memory (RAM, or a lower cgroup limit; 0 = unknown) within 64MiB..16GiB",
               (unsigned long long)cache, (unsigned long long)(cache >> 20), DK_BLOCK_CACHE_AUTO_DIV,
               (unsigned long long)mem);
    dk_metrics_set_gauge("storage_block_cache_size_bytes", cache);
    dk_engine_conf ec = {
        .struct_size = sizeof(ec),
        .path = engine_dir,
        .sync = c->storage.sync,
        .memtable_size = c->storage.memtable_size,
        .block_cache_size = cache,
        .compaction = n->policy_ops,
        .compaction_policy = n->policy,
    };
    char extra[DK_CONFIG_PATH_MAX + 160];
    snprintf(extra, sizeof extra, " %s", engine_dir);
    dk_engine_ref engine;
    rc = dk_engine_open(n->engine_ops, &n->engine_host, &ec, &engine);
    n->engine = engine.obj;
    if ((rc = node_opened(&n->engine_ctx, rc, "engine", n->engine_plugin->name, extra, err, errlen)))
        return rc;
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
    ec.compaction = NULL; /* a policy object serves one engine */
    ec.compaction_policy = NULL;
    snprintf(extra, sizeof extra, " the hint store %s", hint_dir);
    rc = dk_engine_open(n->engine_ops, &n->engine_host, &ec, &engine);
    n->hint_engine = engine.obj;
    if ((rc = node_opened(&n->engine_ctx, rc, "engine", n->engine_plugin->name, extra, err, errlen)))
        return rc;
    /* The engine has asked for every codec it needs by now. */
    n->engine_ctx.on_codec = NULL;
    return node_check_sections(n, 1, err, errlen);
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
    atomic_init(&n->repaired_before_ms, 0);
    int rc = node_check_sections(n, 0, err, errlen);
    if (rc)
        goto fail;
    rc = dk_cluster_key_load(&n->cluster_key, cfg->security.cluster_key_file, cfg->cluster.name, err, errlen);
    if (rc)
        goto fail;
    dk_cluster_key_derive(&n->cluster_key, "context", n->context_key);
    if (!n->cluster_key.keyed)
        dk_log(DK_LOG_INFO, "no [security] cluster_key_file: protected mode, cluster traffic "
                            "on loopback addresses only");
    rc = node_plugins(n, err, errlen);
    if (rc)
        goto fail;
    /* The catalog creates data_dir; the lock needs it first. */
    rc = dk_catalog_open(cfg->node.data_dir, &n->catalog, err, errlen);
    if (rc)
        goto fail;
    rc = node_lock(n, cfg->node.data_dir, err, errlen);
    if (rc)
        goto fail;
    rc = dk_catalog_open(cfg->node.data_dir, &n->stream_catalog, err, errlen);
    if (rc)
        goto fail;
    rc = dk_catalog_bind_engine(n->catalog, cfg->storage.engine, err, errlen);
    if (rc)
        goto fail;
    if ((rc = node_record(n, DK_PLUGIN_ENGINE, n->engine_plugin, err, errlen)) ||
        (rc = node_record(n, DK_PLUGIN_COMPACTION, n->policy_plugin, err, errlen)) ||
        (rc = node_record(n, DK_PLUGIN_CONFLICT, n->resolver_plugin, err, errlen)) ||
        (rc = node_record(n, DK_PLUGIN_CONFLICT, n->crdt_plugin, err, errlen)))
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
    dk_engine_ref probe = {.ops = n->engine_ops};
    int durable = (dk_engine_caps(&probe) & DK_ENGINE_CAP_DURABLE) != 0;
    uint32_t incarnation = 0;
    int created = 0;
    /* A restored snapshot: its actor's later counters were spent by writes
     * it no longer has (a new incarnation), and it must get what it missed
     * from its peers before it serves reads (data_lost), as a replaced
     * node does. */
    dk_snapshot_info restored;
    int from_snapshot = dk_snapshot_restored(cfg->node.data_dir, &restored);
    if (from_snapshot && strcmp(restored.node, cfg->node.id) != 0) {
        snprintf(err, errlen, "%s holds a snapshot of node %s; it cannot start as node %s",
                 cfg->node.data_dir, restored.node, cfg->node.id);
        rc = DK_ECONFIG;
        goto fail;
    }
    rc = dk_catalog_identity(n->catalog, cfg->node.id, !durable || !engine_dir_existed || from_snapshot,
                             &incarnation, &created, err, errlen);
    if (rc)
        goto fail;
    if (from_snapshot) {
        dk_log(DK_LOG_WARN,
               "node %s starts from snapshot %s taken at %lld ms: incarnation %u, getting "
               "what it missed from its peers before it serves reads",
               cfg->node.id, restored.name, (long long)restored.created_ms, incarnation);
        if ((rc = dk_snapshot_restore_done(cfg->node.data_dir)) != 0) {
            snprintf(err, errlen, "%s/" DK_SNAPSHOT_MARKER ": cannot remove: %s", cfg->node.data_dir,
                     strerror(-rc));
            goto fail;
        }
    }
    dk_actor_set(&n->actor, cfg->node.id, incarnation);
    n->new_catalog = created;
    n->data_lost = created || !durable || !engine_dir_existed || from_snapshot;
    dk_log(DK_LOG_INFO, "node %s incarnation %u%s", cfg->node.id, incarnation,
           created ? " (new data directory)" : "");

    rc = node_open_plugins(n, engine_dir, err, errlen);
    if (rc)
        goto fail;
    dk_store_conf sc = {
        .engine = n->engine,
        .engine_ops = n->engine_ops,
        .resolvers = &n->resolvers,
        .actor = n->actor,
        .sync = cfg->storage.sync,
        .max_object_size = cfg->storage.max_object_size,
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
    dk_cluster_key_clear(&n->cluster_key);
    OPENSSL_cleanse(n->context_key, sizeof(n->context_key));
    dk_store_close(n->store);
    n->store = NULL;
    dk_engine_ref hints = {n->engine_ops, n->hint_engine}, engine = {n->engine_ops, n->engine};
    int rc = dk_engine_close(&hints);
    if (rc)
        dk_log(DK_LOG_ERROR, "hint store close failed: %s", dk_strerror(rc));
    n->hint_engine = NULL;
    if ((rc = dk_engine_close(&engine)))
        dk_log(DK_LOG_ERROR, "engine close failed: %s", dk_strerror(rc));
    n->engine = NULL;
    dk_resolver_ref crdt = {n->crdt_ops, n->crdt};
    dk_resolver_close(&crdt);
    n->crdt = NULL;
    dk_resolver_ref resolver = {n->resolver_ops, n->resolver};
    dk_resolver_close(&resolver);
    n->resolver = NULL;
    dk_policy_ref policy = {n->policy_ops, n->policy};
    dk_policy_close(&policy);
    n->policy = NULL;
    if (n->plugins)
        dk_plugin_host_free(n->plugins);
    n->plugins = NULL;
    if (n->stream_catalog)
        dk_catalog_close(n->stream_catalog);
    n->stream_catalog = NULL;
    if (n->catalog)
        dk_catalog_close(n->catalog);
    n->catalog = NULL;
    if (n->lock_fd >= 0)
        close(n->lock_fd);
    n->lock_fd = -1;
}
