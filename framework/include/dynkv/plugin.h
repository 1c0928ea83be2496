/*
 * dynkv/plugin.h - the one symbol every plugin exports.
 *
 * A plugin .so exports exactly one function, dynkv_plugin_entry, returning a
 * static const descriptor with no side effects (identity first, behaviour
 * second). The host checks magic, ABI major (equal) and minor (not newer
 * than the host's), kind and a unique name before it calls anything else,
 * then copies the kind's ops table into its own memory, zero-filling fields
 * past the plugin's ops struct_size, and refuses a table missing a required
 * method.
 *
 * Build a plugin with:
 *   -module -avoid-version -shared -no-undefined
 *   -export-symbols-regex '^dynkv_plugin_entry$'
 * and include only <dynkv/...> headers.
 */
#ifndef DK_PLUGIN_H
#define DK_PLUGIN_H

#include "dynkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_PLUGIN_MAGIC 0x444b504cu /* "DKPL" */
/*
 * ABI history (plugins/README.md has the rules):
 *   1.0  engine, compaction and conflict plugins.
 *   1.1  dk_host grows strerror, err_name, options, conf_error, object
 *        (the version-vector helpers) and codec_open/codec_close; codec
 *        plugins (codec.h); the per-policy fields of dk_compaction_conf and
 *        the codec, bloom and rate fields of dk_engine_conf become reserved
 *        slots that this host fills with zeros, which 1.0 already defined
 *        as "the plugin's default", so 1.0 plugins load and run unchanged;
 *        their options now come from the plugin's own INI section.
 *   1.2  dk_conflict_ops grows the optional value and release methods
 *        (resolvers of typed objects: crdt); the error DK_EWRONGTYPE.
 *        dk_engine_ops grows the optional try_get and write_async methods
 *        (reads and group-committed writes from the event loop).
 *        1.0 and 1.1 plugins load and run unchanged.
 *   1.3  dk_engine_ops grows the optional checkpoint method (node
 *        snapshots). Older plugins load and run; their nodes refuse
 *        snapshots with a message.
 *   1.4  dk_engine_ops grows the optional get_lent and release methods
 *        (a value lent in place instead of copied through a sink) with
 *        the get_lent flag DK_GET_NOWAIT, and the cap
 *        DK_ENGINE_CAP_VERIFIED. Older plugins load and run; their
 *        values are copied through get / try_get.
 *   1.5  the get_lent flag DK_GET_HEAD (a prefix of the value is
 *        enough; an engine built against 1.4 ignores the flag and lends
 *        the whole value, which is a valid answer), and dk_conflict_ops
 *        grows caps (DK_CONFLICT_CAP_VERSIONS_ONLY: update() reads no
 *        stored value). Older plugins load and run unchanged.
 */
#define DK_ABI_MAJOR 1 /* changed or removed anything: bump, plugins rebuild */
#define DK_ABI_MINOR 5 /* appended anything: bump */

enum {
    DK_PLUGIN_ENGINE = 1,     /* ops: dk_engine_ops     (engine.h) */
    DK_PLUGIN_COMPACTION = 2, /* ops: dk_compaction_ops (compaction.h) */
    DK_PLUGIN_CONFLICT = 3,   /* ops: dk_conflict_ops   (conflict.h) */
    DK_PLUGIN_CODEC = 4       /* ops: dk_codec_ops      (codec.h), ABI 1.1 */
};

typedef struct dk_plugin {
    uint32_t magic;      /* DK_PLUGIN_MAGIC, first field */
    uint16_t abi_major;  /* DK_ABI_MAJOR at the plugin's build */
    uint16_t abi_minor;  /* DK_ABI_MINOR at the plugin's build */
    uint32_t kind;       /* DK_PLUGIN_* */
    const char *name;    /* [a-z0-9_-]+, equal to the file's name */
    const char *version; /* free-form, e.g. "1.0.0" */
    const void *ops;     /* the kind's ops table; starts with struct_size */
} dk_plugin;

/* Every ops table starts with these fields, so the host can read the size
 * before it knows anything else. */
typedef struct dk_ops_header {
    uint32_t struct_size; /* sizeof(the ops struct) at the plugin's build */
} dk_ops_header;

/* The ABI 1.0 spelling of DK_HAS (types.h) for ops tables; kept so code
 * written against 1.0 builds unchanged. */
#define DK_OPS_HAS(ops, field) DK_HAS(ops, field)

/* The entry point's type and name. */
typedef const dk_plugin *(*dk_plugin_entry_fn)(void);
#define DK_PLUGIN_ENTRY_SYMBOL "dynkv_plugin_entry"

/* Declare the entry point in a plugin:  DK_PLUGIN_EXPORT(&my_descriptor) */
#define DK_PLUGIN_EXPORT(desc)                                                                               \
    DK_EXTERN const dk_plugin *dynkv_plugin_entry(void);                                                     \
    DK_EXTERN const dk_plugin *dynkv_plugin_entry(void)                                                      \
    {                                                                                                        \
        return (desc);                                                                                       \
    }

#ifdef __cplusplus
}
#endif
#endif /* DK_PLUGIN_H */
