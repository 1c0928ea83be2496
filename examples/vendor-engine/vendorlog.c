/*
 * vendorlog.c - "vendorlog", an example storage engine built OUT OF TREE
 * against the installed dynkv plugin headers (pkg-config dynkv-plugin), the
 * way a vendor ships an engine as one .so. It includes only <dynkv/...>;
 * framework/util (crc32c, coding) is not installed, so the few helpers it
 * needs (a CRC-32C and little-endian coding) are carried here.
 *
 * On disk: one file, <path>/vendorlog.log, the 8-byte magic "DKVLOG1\n"
 * followed by one frame per write() batch, all integers little-endian:
 *
 *   u32 payload_len | u32 crc32c(payload) | payload
 *   payload = u32 count, then count ops: u8 type | u16 klen | u32 vlen | key | value
 *
 * A batch is one frame, so it is atomic: replay applies a frame only when
 * its checksum and structure are right. open() replays the whole log into
 * an in-memory array sorted by key, each entry holding the file offset and
 * length of the key's latest value; get() and iterators pread() values from
 * the file. A bad frame that ends the file is an unfinished write (crash
 * mid-append) and is cut off with a warning; a bad frame with more data
 * after it is corruption and open() fails with DK_ECORRUPT naming the
 * offset. (A corrupt length field that points past the end of the file
 * cannot be told from a torn tail; an engine keeping acknowledged data
 * against bit rot would add a checksum over the length.)
 *
 * Durability: write(sync=1) returns after fdatasync(). When an fdatasync
 * fails the kernel may have dropped the dirty pages, so the engine refuses
 * every later write with DK_EREADONLY (PostgreSQL's "fsyncgate" lesson).
 *
 * Threads: one mutex around the index and the file, held across the append
 * and its fdatasync, so sync writes are serialised (no group commit: simple
 * over fast). Iterators are snapshots: iter_open copies the entries of its
 * range (keys and value offsets; values are immutable in an append-only
 * log) and holds a reference on the file, so a concurrent compact_range,
 * which rewrites the live records into a new file and renames it over the
 * old one, does not disturb them. compact_range asks the host's
 * record_filter which records are dead (expired, tombstones past grace).
 *
 * Options: its own INI section, [engine.vendorlog] (--set
 * engine.vendorlog.KEY=VALUE), read through the host (dk_host.options,
 * ABI 1.1), which refuses unknown keys and bad values with the file and
 * line: max_file_size (a size, 0 = no limit) caps the log, and a batch
 * that would grow it past the cap is refused with -ENOSPC (compact_range
 * then makes room again by dropping dead records).
 *
 * Limits: the index lives in memory (an insert is O(n) memmove; fine for an
 * example, not for billions of keys); keys up to 65535 bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stddef.h>
#include <dynkv/engine.h>
#include <dynkv/plugin.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

#define VL_MAGIC "DKVLOG1\n"
#define VL_HDR 8u               /* magic, and a frame header, are 8 bytes */
#define VL_OP_HDR 7u            /* type, klen, vlen */
#define VL_FRAME_MAX (1u << 30) /* payload bytes of one batch */

typedef struct vl_file {
    int fd;
    unsigned refs; /* engine + open iterators; under the mutex */
} vl_file;

typedef struct vl_ent {
    uint8_t *key;
    uint32_t klen, vlen;
    uint64_t voff; /* value's offset in the current file */
} vl_ent;

typedef struct vl_engine {
    dk_engine base; /* first: the host sees a dk_engine */
    pthread_mutex_t mu;
    char *path, *tmp; /* the log and its compaction scratch */
    vl_file *file;
    uint64_t end; /* next append offset = file size */
    vl_ent *ents; /* sorted by key */
    size_t n, cap;
    uint64_t live_bytes, compactions;
    int failed;             /* an fdatasync failed: read-only */
    uint64_t max_file_size; /* [engine.vendorlog] max_file_size; 0 = none */
} vl_engine;

/* [engine.vendorlog]: the options this engine takes (dk_option). */
typedef struct vl_opts {
    uint64_t max_file_size;
} vl_opts;

static const dk_option vl_options[] = {
    {.key = "max_file_size",
     .type = DK_OPT_SIZE,
     .offset = offsetof(vl_opts, max_file_size),
     .min = 0,
     .max = 1ll << 40,
     .dflt = "0"},
};

typedef struct vl_iter {
    dk_engine_iter base; /* first */
    vl_file *file;
    vl_ent *ents; /* the snapshot; keys in one block */
    uint8_t *keys, *val;
    size_t n, pos, vcap;
} vl_iter;

static uint32_t vl_crc_table[256];
static pthread_once_t vl_crc_once = PTHREAD_ONCE_INIT;

static void vl_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u))); /* Castagnoli, reflected */
        vl_crc_table[i] = c;
    }
}

static uint32_t vl_crc(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--)
        c = vl_crc_table[(c ^ *p++) & 0xffu] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void vl_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t vl_get32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int vl_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = (an && bn) ? memcmp(a, b, an < bn ? an : bn) : 0;
    return c ? c : (an < bn ? -1 : an > bn);
}

/* Index of the first entry >= key in v[0..n). */
static size_t vl_lower(const vl_ent *v, size_t n, const uint8_t *key, size_t klen)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vl_cmp(v[mid].key, v[mid].klen, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int vl_pread(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : DK_ECORRUPT; /* short file: the index lies */
        p += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

static int vl_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        p += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}


static void vl_file_unref(vl_file *f)
{
    if (--f->refs == 0) {
        if (f->fd >= 0)
            close(f->fd);
        free(f);
    }
}

/* Point key at a value (offset, length), inserting it when new. */
static int vl_index_put(vl_engine *e, const uint8_t *key, uint32_t klen, uint64_t voff, uint32_t vlen)
{
    size_t i = vl_lower(e->ents, e->n, key, klen);
    if (i < e->n && vl_cmp(e->ents[i].key, e->ents[i].klen, key, klen) == 0) {
        e->live_bytes += (uint64_t)vlen - e->ents[i].vlen;
        e->ents[i].voff = voff, e->ents[i].vlen = vlen;
        return 0;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        vl_ent *grown = realloc(e->ents, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        e->ents = grown, e->cap = cap;
    }
    uint8_t *copy = malloc(klen ? klen : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, key, klen);
    memmove(&e->ents[i + 1], &e->ents[i], (e->n - i) * sizeof(*e->ents));
    e->ents[i] = (vl_ent){.key = copy, .klen = klen, .vlen = vlen, .voff = voff};
    e->n++;
    e->live_bytes += (uint64_t)klen + vlen;
    return 0;
}

static void vl_index_del(vl_engine *e, const uint8_t *key, uint32_t klen)
{
    size_t i = vl_lower(e->ents, e->n, key, klen);
    if (i == e->n || vl_cmp(e->ents[i].key, e->ents[i].klen, key, klen) != 0)
        return;
    e->live_bytes -= (uint64_t)e->ents[i].klen + e->ents[i].vlen;
    free(e->ents[i].key);
    memmove(&e->ents[i], &e->ents[i + 1], (e->n - i - 1) * sizeof(*e->ents));
    e->n--;
}

/* Check the ops of a frame payload that starts at file offset off; with
 * apply, also apply them to the index (validate first: a frame applies
 * whole or not at all). */
static int vl_frame_ops(vl_engine *e, const uint8_t *p, size_t len, uint64_t off, int apply)
{
    if (len < 4)
        return DK_ECORRUPT;
    uint32_t count = vl_get32(p);
    size_t pos = 4;
    for (uint32_t i = 0; i < count; i++) {
        if (len - pos < VL_OP_HDR)
            return DK_ECORRUPT;
        uint8_t type = p[pos];
        uint32_t klen = p[pos + 1] | (uint32_t)p[pos + 2] << 8, vlen = vl_get32(p + pos + 3);
        pos += VL_OP_HDR;
        if ((type != DK_BATCH_PUT && type != DK_BATCH_DELETE) || (type == DK_BATCH_DELETE && vlen) ||
            len - pos < (uint64_t)klen + vlen)
            return DK_ECORRUPT;
        if (apply && type == DK_BATCH_PUT) {
            int rc = vl_index_put(e, p + pos, klen, off + pos + klen, vlen);
            if (rc)
                return rc;
        } else if (apply) {
            vl_index_del(e, p + pos, klen);
        }
        pos += (size_t)klen + vlen;
    }
    return pos == len ? 0 : DK_ECORRUPT;
}

/* Rebuild the index from the log; cut off an unfinished last frame. */
static int vl_replay(vl_engine *e, uint64_t size)
{
    const dk_host *h = e->base.host;
    uint64_t off = VL_HDR;
    uint8_t hdr[VL_HDR], *buf = NULL;
    int rc = 0;
    while (off < size) {
        uint32_t len = 0;
        if (size - off < VL_HDR || (rc = vl_pread(e->file->fd, hdr, VL_HDR, off)) != 0)
            break;
        len = vl_get32(hdr);
        if (len > VL_FRAME_MAX || len > size - off - VL_HDR)
            break;
        uint8_t *grown = realloc(buf, len ? len : 1);
        if (!grown) {
            rc = -ENOMEM;
            break;
        }
        buf = grown;
        if ((rc = vl_pread(e->file->fd, buf, len, off + VL_HDR)) != 0)
            break;
        int bad = vl_crc(buf, len) != vl_get32(hdr + 4) || vl_frame_ops(e, buf, len, 0, 0) != 0;
        if (bad && off + VL_HDR + len < size) {
            h->log(h, DK_LOG_ERROR, "vendorlog: %s: bad frame at offset %llu with data after it", e->path,
                   (unsigned long long)off);
            rc = DK_ECORRUPT;
            break;
        }
        if (bad)
            break;
        if ((rc = vl_frame_ops(e, buf, len, off + VL_HDR, 1)) != 0)
            break;
        off += VL_HDR + (uint64_t)len;
    }
    free(buf);
    if (rc == 0 && off < size) {
        h->log(h, DK_LOG_WARN, "vendorlog: %s: dropping %llu bytes of an unfinished write at offset %llu",
               e->path, (unsigned long long)(size - off), (unsigned long long)off);
        if (ftruncate(e->file->fd, (off_t)off) != 0 || fdatasync(e->file->fd) != 0)
            rc = -errno;
    }
    e->end = off;
    return rc;
}

static int vl_fsync_dir(const char *file)
{
    char dir[4096];
    const char *slash = strrchr(file, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - file) : 1, slash ? file : ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int vl_close(dk_engine *eng)
{
    vl_engine *e = (vl_engine *)eng;
    int rc = 0;
    if (e->file) {
        if (!e->failed && fdatasync(e->file->fd) != 0)
            rc = -errno;
        vl_file_unref(e->file);
    }
    for (size_t i = 0; i < e->n; i++)
        free(e->ents[i].key);
    free(e->ents);
    free(e->path);
    free(e->tmp);
    pthread_mutex_destroy(&e->mu);
    free(e);
    return rc;
}

static int vl_open(const dk_host *host, const dk_engine_conf *conf, dk_engine **out)
{
    *out = NULL;
    vl_opts o;
    int rc = host->options(host, vl_options, sizeof vl_options / sizeof vl_options[0], &o);
    if (rc)
        return rc;
    pthread_once(&vl_crc_once, vl_crc_init);
    vl_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->base.host = host;
    e->max_file_size = o.max_file_size;
    pthread_mutex_init(&e->mu, NULL);
    struct stat st;
    /* asprintf leaves its pointer undefined on failure */
    if (asprintf(&e->path, "%s/vendorlog.log", conf->path) < 0)
        e->path = NULL;
    if (asprintf(&e->tmp, "%s/vendorlog.log.tmp", conf->path) < 0)
        e->tmp = NULL;
    if ((e->file = calloc(1, sizeof(*e->file))) != NULL)
        *e->file = (vl_file){.fd = -1, .refs = 1};
    if (!e->path || !e->tmp || !e->file) {
        rc = -ENOMEM;
        goto err;
    }
    unlink(e->tmp); /* a compaction that crashed before its rename */
    e->file->fd = open(e->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (e->file->fd < 0 || fstat(e->file->fd, &st) != 0) {
        rc = -errno;
        host->log(host, DK_LOG_ERROR, "vendorlog: %s: %s", e->path, strerror(-rc));
        goto err;
    }
    if (st.st_size == 0) {
        if ((rc = vl_pwrite(e->file->fd, VL_MAGIC, VL_HDR, 0)) != 0 || fdatasync(e->file->fd) != 0 ||
            (rc = vl_fsync_dir(e->path)) != 0) {
            rc = rc ? rc : -errno;
            host->log(host, DK_LOG_ERROR, "vendorlog: %s: cannot create: %s", e->path, strerror(-rc));
            goto err;
        }
        e->end = VL_HDR;
    } else {
        char magic[VL_HDR];
        if (st.st_size < (off_t)VL_HDR || vl_pread(e->file->fd, magic, VL_HDR, 0) != 0 ||
            memcmp(magic, VL_MAGIC, VL_HDR) != 0) {
            host->log(host, DK_LOG_ERROR, "vendorlog: %s: not a vendorlog file (bad magic at offset 0)",
                      e->path);
            rc = DK_ECORRUPT;
            goto err;
        }
        if ((rc = vl_replay(e, (uint64_t)st.st_size)) != 0)
            goto err;
    }
    *out = &e->base;
    return 0;
err:
    e->failed = 1; /* nothing to fdatasync in close() */
    vl_close(&e->base);
    return rc;
}

static int vl_get(dk_engine *eng, dk_slice key, dk_value_sink sink, void *arg)
{
    vl_engine *e = (vl_engine *)eng;
    uint8_t small[512], *v = small;
    pthread_mutex_lock(&e->mu);
    size_t i = vl_lower(e->ents, e->n, key.ptr, key.len);
    if (i == e->n || vl_cmp(e->ents[i].key, e->ents[i].klen, key.ptr, key.len) != 0) {
        pthread_mutex_unlock(&e->mu);
        return DK_ENOTFOUND;
    }
    size_t n = e->ents[i].vlen;
    int rc = 0;
    if (n > sizeof(small) && !(v = malloc(n)))
        rc = -ENOMEM;
    if (rc == 0 && (rc = vl_pread(e->file->fd, v, n, e->ents[i].voff)) != 0)
        e->base.host->log(e->base.host, DK_LOG_ERROR,
                          "vendorlog: %s: cannot read %zu bytes at offset %llu: %s", e->path, n,
                          (unsigned long long)e->ents[i].voff, e->base.host->strerror(e->base.host, rc));
    pthread_mutex_unlock(&e->mu);
    if (rc == 0)
        sink(arg, (dk_slice){v, n});
    if (v != small)
        free(v);
    return rc;
}

static int vl_write(dk_engine *eng, const dk_batch *batch, int sync)
{
    vl_engine *e = (vl_engine *)eng;
    const dk_host *h = e->base.host;
    uint64_t len = 4;
    for (size_t i = 0; i < batch->count; i++) {
        const dk_batch_op *op = &batch->ops[i];
        if ((op->type != DK_BATCH_PUT && op->type != DK_BATCH_DELETE) || op->key.len > 0xffffu)
            return op->key.len > 0xffffu ? DK_ETOOBIG : -EINVAL;
        len += VL_OP_HDR + op->key.len + (op->type == DK_BATCH_PUT ? op->value.len : 0);
        if (len > VL_FRAME_MAX)
            return DK_ETOOBIG;
    }
    if (batch->count == 0)
        return 0;
    uint8_t *f = malloc(VL_HDR + len), *p = f + VL_HDR + 4;
    if (!f)
        return -ENOMEM;
    vl_put32(f + VL_HDR, (uint32_t)batch->count);
    for (size_t i = 0; i < batch->count; i++) {
        const dk_batch_op *op = &batch->ops[i];
        uint32_t vlen = op->type == DK_BATCH_PUT ? (uint32_t)op->value.len : 0;
        p[0] = (uint8_t)op->type, p[1] = (uint8_t)op->key.len, p[2] = (uint8_t)(op->key.len >> 8);
        vl_put32(p + 3, vlen);
        p += VL_OP_HDR;
        if (op->key.len)
            memcpy(p, op->key.ptr, op->key.len);
        if (vlen)
            memcpy(p + op->key.len, op->value.ptr, vlen);
        p += op->key.len + vlen;
    }
    vl_put32(f, (uint32_t)len);
    vl_put32(f + 4, vl_crc(f + VL_HDR, len));
    pthread_mutex_lock(&e->mu);
    if (e->max_file_size && e->end + VL_HDR + len > e->max_file_size) {
        pthread_mutex_unlock(&e->mu);
        free(f);
        h->log(h, DK_LOG_WARN, "vendorlog: %s: a %llu-byte batch would pass max_file_size (%llu)", e->path,
               (unsigned long long)(VL_HDR + len), (unsigned long long)e->max_file_size);
        return -ENOSPC;
    }
    int rc = e->failed ? DK_EREADONLY : vl_pwrite(e->file->fd, f, VL_HDR + len, e->end);
    if (rc == 0 && sync && fdatasync(e->file->fd) != 0) {
        rc = -errno;
        e->failed = 1;
    }
    /* Apply only what is written (and durable when asked). An allocation
     * failure here leaves the index behind the log: stop writing, a reopen
     * recovers the whole batch from the file. */
    if (rc == 0 && (rc = vl_frame_ops(e, f + VL_HDR, len, e->end + VL_HDR, 1)) != 0)
        e->failed = 1;
    if (rc == 0)
        e->end += VL_HDR + len;
    else if (rc != DK_EREADONLY)
        h->log(h, DK_LOG_ERROR, "vendorlog: %s: write at offset %llu failed: %s%s", e->path,
               (unsigned long long)e->end, h->strerror(h, rc), e->failed ? "; refusing further writes" : "");
    pthread_mutex_unlock(&e->mu);
    free(f);
    return rc;
}

static int vl_iter_open(dk_engine *eng, const dk_iter_opts *opts, dk_engine_iter **out)
{
    vl_engine *e = (vl_engine *)eng;
    vl_iter *it = calloc(1, sizeof(*it));
    *out = NULL;
    if (!it)
        return -ENOMEM;
    it->base.engine = eng;
    pthread_mutex_lock(&e->mu);
    size_t lo = opts->start.len ? vl_lower(e->ents, e->n, opts->start.ptr, opts->start.len) : 0;
    size_t hi = opts->end.len ? vl_lower(e->ents, e->n, opts->end.ptr, opts->end.len) : e->n;
    size_t nk = 0, n = hi > lo ? hi - lo : 0;
    for (size_t i = lo; i < lo + n; i++)
        nk += e->ents[i].klen;
    it->ents = malloc((n ? n : 1) * sizeof(*it->ents));
    it->keys = malloc(nk ? nk : 1);
    if (!it->ents || !it->keys) {
        pthread_mutex_unlock(&e->mu);
        free(it->ents), free(it->keys), free(it);
        return -ENOMEM;
    }
    for (size_t i = 0, k = 0; i < n; i++) {
        it->ents[i] = e->ents[lo + i];
        it->ents[i].key = memcpy(it->keys + k, e->ents[lo + i].key, it->ents[i].klen);
        k += it->ents[i].klen;
    }
    it->n = n;
    it->file = e->file;
    it->file->refs++;
    pthread_mutex_unlock(&e->mu);
    *out = &it->base;
    return 0;
}

static int vl_iter_seek(dk_engine_iter *base, dk_slice target)
{
    vl_iter *it = (vl_iter *)base;
    it->pos = vl_lower(it->ents, it->n, target.ptr, target.len);
    return 0;
}

static int vl_iter_next(dk_engine_iter *base, dk_slice *key, dk_slice *value)
{
    vl_iter *it = (vl_iter *)base;
    if (it->pos >= it->n)
        return DK_EOF;
    const vl_ent *en = &it->ents[it->pos];
    if (en->vlen > it->vcap) {
        uint8_t *grown = realloc(it->val, en->vlen);
        if (!grown)
            return -ENOMEM;
        it->val = grown, it->vcap = en->vlen;
    }
    int rc = vl_pread(it->file->fd, it->val, en->vlen, en->voff);
    if (rc)
        return rc;
    *key = (dk_slice){en->key, en->klen};
    *value = (dk_slice){it->val, en->vlen};
    it->pos++;
    return 0;
}

static void vl_iter_close(dk_engine_iter *base)
{
    vl_iter *it = (vl_iter *)base;
    vl_engine *e = (vl_engine *)base->engine;
    pthread_mutex_lock(&e->mu);
    vl_file_unref(it->file);
    pthread_mutex_unlock(&e->mu);
    free(it->ents), free(it->keys), free(it->val), free(it);
}

static int vl_flush(dk_engine *eng)
{
    vl_engine *e = (vl_engine *)eng;
    pthread_mutex_lock(&e->mu);
    int rc = e->failed ? DK_EREADONLY : fdatasync(e->file->fd) ? -errno : 0;
    if (rc && rc != DK_EREADONLY)
        e->failed = 1;
    pthread_mutex_unlock(&e->mu);
    return rc;
}

/* Rewrite every live record the host does not call dead into a new log,
 * one frame per key, then rename it over the old one. The range is ignored:
 * the whole log is rewritten, which is what an append-only log can do. */
static int vl_compact_range(dk_engine *eng, dk_slice start, dk_slice end)
{
    vl_engine *e = (vl_engine *)eng;
    const dk_host *h = e->base.host;
    (void)start, (void)end;
    pthread_mutex_lock(&e->mu);
    int rc = e->failed ? DK_EREADONLY : 0, renamed = 0;
    uint64_t *voff = malloc((e->n ? e->n : 1) * sizeof(*voff)), off = VL_HDR;
    uint8_t *keep = calloc(e->n ? e->n : 1, 1), *buf = NULL;
    vl_file *nf = calloc(1, sizeof(*nf));
    int fd = rc ? -1 : open(e->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (rc == 0 && fd < 0)
        rc = -errno;
    if (rc == 0 && (!voff || !keep || !nf))
        rc = -ENOMEM;
    if (rc == 0)
        rc = vl_pwrite(fd, VL_MAGIC, VL_HDR, 0);
    int64_t now = h->now_ms(h);
    for (size_t i = 0; rc == 0 && i < e->n; i++) {
        vl_ent *en = &e->ents[i];
        uint64_t len = 4 + VL_OP_HDR + (uint64_t)en->klen + en->vlen;
        uint8_t *grown = realloc(buf, VL_HDR + len);
        if (!grown) {
            rc = -ENOMEM;
            break;
        }
        buf = grown;
        uint8_t *p = buf + VL_HDR;
        vl_put32(p, 1);
        p[4] = DK_BATCH_PUT, p[5] = (uint8_t)en->klen, p[6] = (uint8_t)(en->klen >> 8);
        vl_put32(p + 7, en->vlen);
        memcpy(p + 4 + VL_OP_HDR, en->key, en->klen);
        uint8_t *v = p + 4 + VL_OP_HDR + en->klen;
        if ((rc = vl_pread(e->file->fd, v, en->vlen, en->voff)) != 0)
            break;
        if (h->record_filter && h->record_filter(h, (dk_slice){en->key, en->klen}, (dk_slice){v, en->vlen},
                                                 now) == DK_RECORD_DROP)
            continue;
        vl_put32(buf, (uint32_t)len);
        vl_put32(buf + 4, vl_crc(p, len));
        if ((rc = vl_pwrite(fd, buf, VL_HDR + len, off)) != 0)
            break;
        keep[i] = 1;
        voff[i] = off + VL_HDR + 4 + VL_OP_HDR + en->klen;
        off += VL_HDR + len;
    }
    if (rc == 0 && (fdatasync(fd) != 0 || rename(e->tmp, e->path) != 0))
        rc = -errno;
    if (rc == 0) {
        renamed = 1; /* from here the new file is the log, whatever fsync says */
        rc = vl_fsync_dir(e->path);
    }
    if (renamed) {
        size_t w = 0;
        for (size_t i = 0; i < e->n; i++) {
            if (!keep[i]) {
                e->live_bytes -= (uint64_t)e->ents[i].klen + e->ents[i].vlen;
                free(e->ents[i].key);
                continue;
            }
            e->ents[w] = e->ents[i];
            e->ents[w++].voff = voff[i];
        }
        e->n = w;
        nf->fd = fd, nf->refs = 1, fd = -1;
        vl_file_unref(e->file);
        e->file = nf, nf = NULL;
        e->end = off;
        e->compactions++;
    } else if (fd >= 0) {
        unlink(e->tmp);
    }
    if (rc)
        h->log(h, DK_LOG_ERROR, "vendorlog: %s: compaction failed: %s", e->path, h->strerror(h, rc));
    pthread_mutex_unlock(&e->mu);
    if (fd >= 0)
        close(fd);
    free(nf), free(buf), free(keep), free(voff);
    return rc;
}

static int vl_stats(dk_engine *eng, dk_stat_sink sink, void *arg)
{
    vl_engine *e = (vl_engine *)eng;
    pthread_mutex_lock(&e->mu);
    uint64_t keys = e->n, log = e->end, live = e->live_bytes, comp = e->compactions, ro = (uint64_t)e->failed;
    pthread_mutex_unlock(&e->mu);
    sink(arg, "vendorlog_keys", keys);
    sink(arg, "vendorlog_log_bytes", log);
    sink(arg, "vendorlog_live_bytes", live);
    sink(arg, "vendorlog_compactions_total", comp);
    sink(arg, "vendorlog_read_only", ro);
    return 0;
}

/* The ops table. Extending it follows dynkv's rule: fields only ever come
 * at the end of dk_engine_ops, so this designated initialiser keeps
 * compiling against newer headers and an older host ignores what it lacks. */
static const dk_engine_ops vl_ops = {
    .struct_size = sizeof(dk_engine_ops),
    .caps = DK_ENGINE_CAP_ORDERED | DK_ENGINE_CAP_SNAPSHOT | DK_ENGINE_CAP_THREADSAFE | DK_ENGINE_CAP_DURABLE,
    .open = vl_open,
    .close = vl_close,
    .get = vl_get,
    .write = vl_write,
    .iter_open = vl_iter_open,
    .iter_seek = vl_iter_seek,
    .iter_next = vl_iter_next,
    .iter_close = vl_iter_close,
    .flush = vl_flush,
    .compact_range = vl_compact_range,
    .stats = vl_stats,
};

static const dk_plugin vl_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_ENGINE,
    .name = "vendorlog",
    .version = PACKAGE_VERSION,
    .ops = &vl_ops,
};

/* The one exported symbol: the host dlopens engine-vendorlog.so, calls this
 * and checks the descriptor before anything else. */
DK_PLUGIN_EXPORT(&vl_plugin)
