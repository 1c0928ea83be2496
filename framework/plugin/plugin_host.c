/*
 * plugin_host.c - the plugin loader: the one place where names become code.
 *
 * A load goes in a fixed order so that nothing in a plugin runs before its
 * identity is known to be right (PostgreSQL's magic block): the name is
 * checked as a pattern before any file is touched; the file is stat()ed and
 * dlopen()ed with RTLD_NOW | RTLD_LOCAL (unresolved symbols fail now, not
 * mid-request, and plugins never see each other's symbols); the only call
 * into the plugin is dynkv_plugin_entry(), whose descriptor is checked field
 * by field, magic first so that a foreign descriptor is never dereferenced
 * further. The kind's ops table is then copied into host memory sized to
 * the HOST's struct, zero-filled past the plugin's struct_size (Redis), so
 * optional methods a plugin predates read as NULL and DK_HAS() works on
 * the copy. Required methods are listed per kind in ph_kinds[]; extending an
 * ops table means appending to that list when the new method is required.
 *
 * Refusals are formatted while the library is still mapped (the descriptor's
 * strings live in it) and only then dlclose()d.
 *
 * Loaded plugins stay mapped until dk_plugin_host_free(); unloading one
 * plugin at a time was not taken: objects it created may outlive the caller's
 * interest in it, and nothing needs the memory back.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "dynkv/codec.h"
#include "dynkv/compaction.h"
#include "dynkv/conflict.h"
#include "dynkv/engine.h"
#include "plugin/plugin_host.h"
#include "util/errors.h"

#ifndef PLUGINDIR
#error "PLUGINDIR must be defined by the build (-DPLUGINDIR=...)"
#endif

#define PH_NAME_MAX 64
#define PH_STR_MAX 256 /* longest descriptor string we copy */

typedef struct ph_method {
    const char *name;
    size_t off;
} ph_method;

typedef struct ph_kind {
    uint32_t kind;
    const char *name;
    size_t host_size; /* sizeof the kind's ops table in this build */
    const ph_method *required;
    size_t n_required;
    uint16_t min_minor; /* the ABI minor that introduced the kind */
} ph_kind;

/* clang-format off */
#define PH_M(type, field) {#field, offsetof(type, field)}

static const ph_method ph_engine_required[] = {
    PH_M(dk_engine_ops, open),      PH_M(dk_engine_ops, close),
    PH_M(dk_engine_ops, get),       PH_M(dk_engine_ops, write),
    PH_M(dk_engine_ops, iter_open), PH_M(dk_engine_ops, iter_seek),
    PH_M(dk_engine_ops, iter_next), PH_M(dk_engine_ops, iter_close),
};
static const ph_method ph_compaction_required[] = {
    PH_M(dk_compaction_ops, open), PH_M(dk_compaction_ops, close),
    PH_M(dk_compaction_ops, pick),
};
static const ph_method ph_conflict_required[] = {
    PH_M(dk_conflict_ops, open),   PH_M(dk_conflict_ops, close),
    PH_M(dk_conflict_ops, update), PH_M(dk_conflict_ops, merge),
};
static const ph_method ph_codec_required[] = {
    PH_M(dk_codec_ops, open),     PH_M(dk_codec_ops, close),
    PH_M(dk_codec_ops, bound),    PH_M(dk_codec_ops, compress),
    PH_M(dk_codec_ops, decompress),
};
/* clang-format on */

#define PH_N(a) (sizeof(a) / sizeof((a)[0]))

static const ph_kind ph_kinds[] = {
    {DK_PLUGIN_ENGINE, "engine", sizeof(dk_engine_ops), ph_engine_required, PH_N(ph_engine_required), 0},
    {DK_PLUGIN_COMPACTION, "compaction", sizeof(dk_compaction_ops), ph_compaction_required,
     PH_N(ph_compaction_required), 0},
    {DK_PLUGIN_CONFLICT, "conflict", sizeof(dk_conflict_ops), ph_conflict_required,
     PH_N(ph_conflict_required), 0},
    {DK_PLUGIN_CODEC, "codec", sizeof(dk_codec_ops), ph_codec_required, PH_N(ph_codec_required), 1},
};

typedef struct ph_entry {
    dk_loaded_plugin pub;
    void *dl;
    char *name, *version, *path;
    void *ops;
} ph_entry;

struct dk_plugin_host {
    char *dir;
    pthread_mutex_t lock;
    ph_entry **v;
    size_t n, cap;
};

static const ph_kind *ph_kind_find(uint32_t kind)
{
    for (size_t i = 0; i < PH_N(ph_kinds); i++)
        if (ph_kinds[i].kind == kind)
            return &ph_kinds[i];
    return NULL;
}

const char *dk_plugin_kind_name(uint32_t kind)
{
    const ph_kind *k = ph_kind_find(kind);
    return k ? k->name : "unknown";
}

/* [a-z0-9_-]{1,64}: no '/', no '.', so never a path. */
static int ph_name_ok(const char *name)
{
    size_t n = 0;
    if (!name)
        return 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (n >= PH_NAME_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

int dk_plugin_host_new(const char *dir, dk_plugin_host **out, char *err, size_t errlen)
{
    struct stat st;
    *out = NULL;
    if (!dir || !*dir)
        return dk_errf(-EINVAL, err, errlen, "plugin directory is empty");
    if (stat(dir, &st) != 0) {
        int e = errno;
        return dk_errf(-e, err, errlen, "plugin directory %s: %s", dir, strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return dk_errf(-ENOTDIR, err, errlen, "plugin directory %s: not a directory", dir);
    dk_plugin_host *h = calloc(1, sizeof(*h));
    if (!h || !(h->dir = strdup(dir))) {
        free(h);
        return dk_errf(-ENOMEM, err, errlen, "plugin host: out of memory");
    }
    pthread_mutex_init(&h->lock, NULL);
    *out = h;
    return 0;
}

static void ph_entry_free(ph_entry *e)
{
    if (!e)
        return;
    if (e->dl)
        dlclose(e->dl);
    free(e->name);
    free(e->version);
    free(e->path);
    free(e->ops);
    free(e);
}

void dk_plugin_host_free(dk_plugin_host *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        ph_entry_free(h->v[i]);
    free(h->v);
    free(h->dir);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Hex SHA-256 of the file at path into hex[65]. */
static int ph_sha256(const char *path, char hex[65])
{
    int rc = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = -ENOMEM;
        goto err;
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto err;
        }
        if (r == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
            rc = -EIO;
            goto err;
        }
    }
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        rc = -EIO;
        goto err;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
err:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

/* Bounded copy of a descriptor string; "(null)" for NULL. */
static char *ph_strdup(const char *s)
{
    return strndup(s ? s : "(null)", PH_STR_MAX);
}

/*
 * Check the descriptor and copy the ops table. On success fills e->name,
 * e->version and e->ops. On failure writes err (naming path) and returns
 * the code; the caller dlcloses afterwards.
 */
static int ph_check(const ph_kind *k, const char *want, const char *path, const dk_plugin *d, ph_entry *e,
                    char *err, size_t errlen)
{
    if (d->magic != DK_PLUGIN_MAGIC)
        return dk_errf(DK_EBADPLUGIN, err, errlen,
                       "%s: bad magic 0x%08x in plugin descriptor (expected 0x%08x)", path,
                       (unsigned)d->magic, (unsigned)DK_PLUGIN_MAGIC);
    if (d->abi_major != DK_ABI_MAJOR || d->abi_minor > DK_ABI_MINOR)
        return dk_errf(DK_EABI, err, errlen, "%s: plugin built for ABI %u.%u, host supports up to %u.%u",
                       path, (unsigned)d->abi_major, (unsigned)d->abi_minor, (unsigned)DK_ABI_MAJOR,
                       (unsigned)DK_ABI_MINOR);
    if (d->kind != k->kind) {
        if (ph_kind_find(d->kind))
            return dk_errf(DK_EBADPLUGIN, err, errlen, "%s: file is a%s %s plugin, expected %s", path,
                           d->kind == DK_PLUGIN_ENGINE ? "n" : "", dk_plugin_kind_name(d->kind), k->name);
        return dk_errf(DK_EBADPLUGIN, err, errlen, "%s: file is a plugin of unknown kind %u, expected %s",
                       path, (unsigned)d->kind, k->name);
    }
    if (d->abi_minor < k->min_minor)
        return dk_errf(DK_EABI, err, errlen,
                       "%s: plugin built for ABI %u.%u, but %s plugins exist since ABI %u.%u", path,
                       (unsigned)d->abi_major, (unsigned)d->abi_minor, k->name, (unsigned)DK_ABI_MAJOR,
                       (unsigned)k->min_minor);
    if (!(e->name = ph_strdup(d->name)) || !(e->version = ph_strdup(d->version)))
        goto nomem;
    if (!d->name || strcmp(d->name, want) != 0)
        return dk_errf(DK_EBADPLUGIN, err, errlen, "%s: descriptor names the plugin '%s', expected '%s'",
                       path, e->name, want);
    if (!d->ops)
        return dk_errf(DK_EBADPLUGIN, err, errlen, "%s: %s plugin '%s' has no ops table", path, k->name,
                       want);
    size_t min = 0;
    for (size_t i = 0; i < k->n_required; i++)
        if (k->required[i].off + sizeof(void (*)(void)) > min)
            min = k->required[i].off + sizeof(void (*)(void));
    uint32_t size = ((const dk_ops_header *)d->ops)->struct_size;
    if (size < min)
        return dk_errf(DK_EBADPLUGIN, err, errlen,
                       "%s: %s ops struct_size %u is smaller than the minimum %zu", path, k->name,
                       (unsigned)size, min);
    if (!(e->ops = calloc(1, k->host_size)))
        goto nomem;
    memcpy(e->ops, d->ops, size < k->host_size ? size : k->host_size);
    /* The copy carries the size of what it holds, so DK_HAS() on it
     * answers for the plugin's table. */
    if (size > k->host_size)
        ((dk_ops_header *)e->ops)->struct_size = (uint32_t)k->host_size;
    for (size_t i = 0; i < k->n_required; i++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)e->ops + k->required[i].off, sizeof(fn));
        if (!fn)
            return dk_errf(DK_EBADPLUGIN, err, errlen, "%s: %s ops missing required method '%s'", path,
                           k->name, k->required[i].name);
    }
    return 0;
nomem:
    return dk_errf(-ENOMEM, err, errlen, "%s: out of memory", path);
}

/* Open, check and hash one file into a new entry. Called under h->lock. */
static int ph_load_file(const ph_kind *k, const char *name, const char *path, ph_entry **out, char *err,
                        size_t errlen)
{
    int rc;
    struct stat st;
    ph_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(path))) {
        rc = dk_errf(-ENOMEM, err, errlen, "%s: out of memory", path);
        goto err;
    }
    if (stat(path, &st) != 0) {
        rc = -errno;
        dk_errf(rc, err, errlen, "%s: cannot load %s plugin '%s': %s", path, k->name, name,
                rc == -ENOENT ? "file missing" : strerror(-rc));
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = dk_errf(DK_EBADPLUGIN, err, errlen, "%s: not a regular file", path);
        goto err;
    }
    dlerror();
    if (!(e->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        rc = dk_errf(DK_EBADPLUGIN, err, errlen, "%s: dlopen failed: %s", path, why ? why : "unknown error");
        goto err;
    }
    dlerror();
    void *sym = dlsym(e->dl, DK_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        rc = dk_errf(DK_EBADPLUGIN, err, errlen, "%s: missing symbol %s (not a dynkv plugin?)", path,
                     DK_PLUGIN_ENTRY_SYMBOL);
        goto err;
    }
    dk_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof(entry)); /* POSIX: object to function pointer */
    const dk_plugin *d = entry();
    if (!d) {
        rc = dk_errf(DK_EBADPLUGIN, err, errlen, "%s: %s() returned NULL", path, DK_PLUGIN_ENTRY_SYMBOL);
        goto err;
    }
    if ((rc = ph_check(k, name, path, d, e, err, errlen)) != 0)
        goto err;
    if ((rc = ph_sha256(path, e->pub.sha256)) != 0) {
        dk_errf(rc, err, errlen, "%s: cannot checksum: %s", path, strerror(-rc));
        goto err;
    }
    e->pub.kind = k->kind;
    e->pub.name = e->name;
    e->pub.version = e->version;
    e->pub.path = e->path;
    e->pub.ops = e->ops;
    *out = e;
    return 0;
err:
    ph_entry_free(e); /* dlclose only after err was written */
    return rc;
}

int dk_plugin_load(dk_plugin_host *h, uint32_t kind, const char *name, const dk_loaded_plugin **out,
                   char *err, size_t errlen)
{
    int rc;
    char path[PATH_MAX];
    const ph_kind *k = ph_kind_find(kind);
    *out = NULL;
    if (!k)
        return dk_errf(-EINVAL, err, errlen, "unknown plugin kind %u", (unsigned)kind);
    if (!ph_name_ok(name))
        return dk_errf(-EINVAL, err, errlen, "invalid %s plugin name '%s': names match [a-z0-9_-]{1,64}",
                       k->name, name ? name : "(null)");
    int n = snprintf(path, sizeof(path), "%s/%s-%s.so", h->dir, k->name, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return dk_errf(-ENAMETOOLONG, err, errlen, "%s/%s-%s.so: path too long", h->dir, k->name, name);
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i]->pub.kind == kind && strcmp(h->v[i]->name, name) == 0) {
            *out = &h->v[i]->pub;
            rc = 0;
            goto done;
        }
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        ph_entry **v = realloc(h->v, cap * sizeof(*v));
        if (!v) {
            rc = dk_errf(-ENOMEM, err, errlen, "%s: out of memory", path);
            goto done;
        }
        h->v = v;
        h->cap = cap;
    }
    ph_entry *e = NULL;
    if ((rc = ph_load_file(k, name, path, &e, err, errlen)) != 0)
        goto done;
    h->v[h->n++] = e;
    *out = &e->pub;
done:
    pthread_mutex_unlock(&h->lock);
    return rc;
}

const dk_loaded_plugin *dk_plugin_find(dk_plugin_host *h, uint32_t kind, const char *name)
{
    const dk_loaded_plugin *p = NULL;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n && !p; i++)
        if (h->v[i]->pub.kind == kind && strcmp(h->v[i]->name, name) == 0)
            p = &h->v[i]->pub;
    pthread_mutex_unlock(&h->lock);
    return p;
}

static int ph_copy_out(char *buf, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (n >= len)
        return -ENAMETOOLONG;
    memcpy(buf, s, n + 1);
    return 0;
}

int dk_plugin_default_dir(char *buf, size_t len)
{
    const char *env = getenv("DYNKV_PLUGIN_PATH");
    if (env && *env)
        return ph_copy_out(buf, len, env);

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        /* Walk up from the executable's folder: a program built in the
         * tree runs from <top>/<sub>/ or, behind a libtool wrapper, from
         * <top>/<sub>/.libs/; plugins live in <top>/.libs. */
        for (int up = 0; up < 4; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash || slash == exe)
                break;
            *slash = '\0';
            char probe[PATH_MAX + 32];
            struct stat st;
            snprintf(probe, sizeof(probe), "%s/.libs/engine-memory.so", exe);
            if (stat(probe, &st) == 0 && S_ISREG(st.st_mode)) {
                probe[strlen(probe) - strlen("/engine-memory.so")] = '\0';
                return ph_copy_out(buf, len, probe);
            }
        }
    }
    return ph_copy_out(buf, len, PLUGINDIR);
}
