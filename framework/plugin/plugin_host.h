/*
 * plugin_host.h - finds, loads and checks plugins (DESIGN.md section 3).
 *
 * The plugin host is the one place where names become code: a plugin of
 * kind K named N is the file <dir>/<K>-<N>.so. Loading it dlopens the file
 * (RTLD_NOW | RTLD_LOCAL), calls its dynkv_plugin_entry, checks the
 * descriptor (magic, ABI, kind, name) and copies the kind's ops table into
 * host memory sized to the host's struct, zero-filled past the plugin's
 * struct_size, then refuses a table that misses a required method. Every
 * refusal carries a message naming the file and the reason.
 *
 * Internal to the framework; never installed.
 */
#ifndef DK_PLUGIN_HOST_H
#define DK_PLUGIN_HOST_H

#include <stddef.h>
#include <stdint.h>
#include "dynkv/plugin.h"

typedef struct dk_plugin_host dk_plugin_host;

/* One loaded plugin. Every pointer is owned by the host and stays valid
 * until dk_plugin_host_free(). */
typedef struct dk_loaded_plugin {
    uint32_t kind;                     /* DK_PLUGIN_* */
    const char *name, *version, *path; /* host-owned copies */
    char sha256[65];                   /* hex SHA-256 of the .so file */
    const void *ops;                   /* host-owned copy of the ops table,
                                         * sized to the host's struct and
                                         * zero-filled past the plugin's
                                         * struct_size */
} dk_loaded_plugin;

/* Create a host that loads plugins from dir, which must be an existing
 * directory (a copy of the path is kept). Returns 0 and *out, or a negative
 * code (-ENOENT, -ENOTDIR, -ENOMEM, ...) with a message in err. */
int dk_plugin_host_new(const char *dir, dk_plugin_host **out, char *err, size_t errlen);

/* dlclose every plugin and free the host. Call only after every object a
 * plugin created has been closed. NULL is a no-op. */
void dk_plugin_host_free(dk_plugin_host *h);

/*
 * Load the plugin file <dir>/<kind>-<name>.so. name must match
 * [a-z0-9_-]{1,64}; it is checked before any file is touched. Returns 0 and
 * *out (valid until dk_plugin_host_free), or a negative code with a message
 * naming the file and the reason in err:
 *   -EINVAL          bad name or kind
 *   -ENOENT          no such file
 *   DK_EABI          abi_major differs, abi_minor is newer than the host's,
 *                    or older than the kind (codecs exist since 1.1)
 *   DK_EBADPLUGIN    dlopen/dlsym failure, bad descriptor or ops table
 * Loading the same kind and name again returns the plugin already loaded.
 * Thread-safe.
 */
int dk_plugin_load(dk_plugin_host *h, uint32_t kind, const char *name, const dk_loaded_plugin **out,
                   char *err, size_t errlen);

/* The plugin of this kind and name if it was loaded already, else NULL
 * (nothing is loaded). Thread-safe. */
const dk_loaded_plugin *dk_plugin_find(dk_plugin_host *h, uint32_t kind, const char *name);

/* "engine", "compaction", "conflict", "codec", or "unknown"; static. */
const char *dk_plugin_kind_name(uint32_t kind);

/*
 * The built-in plugin folder, used when plugin_dir is empty:
 * $DYNKV_PLUGIN_PATH if set and non-empty; else, when the running executable
 * sits in a build tree (a .libs folder holding engine-memory.so in its
 * directory or up to three levels above, which covers "../.libs"), that
 * folder; else PLUGINDIR from the build. Writes a NUL-terminated path into
 * buf and returns 0, or -ENAMETOOLONG when it does not fit.
 */
int dk_plugin_default_dir(char *buf, size_t len);

#endif /* DK_PLUGIN_HOST_H */
