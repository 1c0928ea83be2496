/*
 * host.h - the node's implementation of dk_host, the API table every plugin
 * receives: logging into the node's log, malloc, clocks, the record
 * callbacks built on the object header (object.h), metrics, error
 * messages, the plugin's own INI section (dk_config_plugin_options), the
 * version-vector helpers (util/vv.h) and block codecs loaded through the
 * plugin host.
 *
 * Each plugin object gets its own dk_host with its own dk_host_ctx, so log
 * lines, options and configuration errors are attributed to the plugin
 * that caused them. A ctx is written by the plugin's open() (on the thread
 * that runs it: the main thread in dynkvd) and read by the node after
 * open() returned.
 */
#ifndef DK_HOST_H
#define DK_HOST_H

#include <stdatomic.h>
#include "dynkv/types.h"
#include "base/config.h"
#include "plugin/plugin_host.h"

/* Called after the host loaded a codec plugin for the first time (the node
 * records it in the catalog); thread: the one that called codec_open. */
typedef void (*dk_host_codec_hook)(void *arg, const dk_loaded_plugin *p);

typedef struct dk_host_ctx {
    int64_t gc_grace_ms;    /* tombstones older than this may be purged */
    const char *log_prefix; /* e.g. "engine lsm" */
    /* The plugin's options are the keys of cfg's section ("engine.lsm");
     * cfg NULL or section "" means none. */
    const dk_config *cfg;
    char section[DK_CONFIG_SECTION_MAX + 1];
    /* Where codec plugins come from; NULL: codec_open answers -ENOENT. */
    dk_plugin_host *plugins;
    dk_host_codec_hook on_codec;
    void *hook_arg;
    /* Written by the plugin's calls: */
    int options_read; /* it called options() */
    char err[1024];   /* the first configuration error it caused, "" = none */
    /* The repair rule (DESIGN.md 11): anti-entropy's node-wide "repaired
     * before" time in ms. A dead record (all tombstones, or expired)
     * whose newest write is not older than it is kept whatever its age: a
     * replica may still lack it, and purging it would let that replica's
     * older value come back. NULL: gc_grace alone decides (tools, tests).
     * Set before the plugin opens; anti-entropy moves the value. */
    const _Atomic int64_t *repaired_before_ms;
} dk_host_ctx;

/* Fill *h with the node's callbacks; ctx must outlive every plugin object
 * that receives h. record_filter drops a dead record when it is older than
 * gc_grace and, with ctx->repaired_before_ms, written before that time;
 * it counts its verdicts on dead records in tombstones_purged_total and
 * tombstones_kept_unrepaired_total (expired values count as tombstones). */
void dk_host_init(dk_host *h, dk_host_ctx *ctx);

/* Give ctx the plugin section "<kind>.<name>" of cfg (both borrowed; cfg
 * must outlive the plugin object) and the plugin host codecs come from
 * (may be NULL). */
void dk_host_ctx_set(dk_host_ctx *ctx, const dk_config *cfg, const char *kind, const char *name,
                     dk_plugin_host *plugins);

/*
 * After a plugin's open() returned: 0 when ctx recorded no configuration
 * error and the section holds no key the plugin did not read (a plugin
 * that never called options() takes none). Otherwise DK_ECONFIG with the
 * operator's "file:line: ..." message in err, naming plugin_desc (e.g.
 * "compaction plugin 'leveled'") when it took no options.
 */
int dk_host_ctx_check(const dk_host_ctx *ctx, const char *plugin_desc, char *err, size_t errlen);

/* Wall clock in ms and monotonic clock in ns, as the host gives plugins. */
int64_t dk_now_ms(void);
uint64_t dk_mono_ns(void);
#endif
