/*
 * wal.c - WAL record framing, append and replay (wal.h).
 *
 * A record is only replayed whole: a crash can leave a prefix of the last
 * record (a torn write), which fails its CRC or runs past the end of the
 * file; everything from there on is dropped and the file truncated so the
 * next recovery sees the same clean end. LevelDB splits records into 32 KiB
 * blocks to resynchronise after a corrupt middle; we stop at the first bad
 * record instead, because anything after it may depend on it (a batch is a
 * unit, and later batches may overwrite keys of the lost one).
 *
 * Recycling (RocksDB's recycle_log_file_num): an obsolete log is renamed
 * to the next log number and overwritten from offset 0. The stale
 * records behind the new ones carry the old log number, so the replay
 * recognises the first of them as the end of the log. Stale bytes that do
 * not start a whole record (the new records ended inside an old one) are
 * recognised too (wal_stale_tail: they start no record of this log and
 * none follows): a recycled log is trimmed to its written size only at
 * close, so after a crash right after a memtable switch the old log
 * keeps them, and they are no torn tail. A record of this log that does
 * not replay is one.
 */
#include "wal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ikey.h"
#include "util/coding.h"
#include "util/crc32c.h"

/* Copy n bytes into v's buffer, extending the last piece when it is a
 * buffer piece (fresh: always start a new piece). */
static int wal_put(lsm_wal_vec *v, const void *p, size_t n, int fresh)
{
    if (!n && !fresh)
        return 0;
    lsm_wal_seg *last = v->nseg ? &v->seg[v->nseg - 1] : NULL;
    if (fresh || !last || last->ptr || last->off + last->len != v->buf.len) {
        if (v->nseg == v->cap) {
            size_t cap = v->cap ? v->cap * 2 : 16;
            lsm_wal_seg *ns = realloc(v->seg, cap * sizeof(*ns));
            if (!ns)
                return -ENOMEM;
            v->seg = ns;
            v->cap = cap;
        }
        last = &v->seg[v->nseg++];
        *last = (lsm_wal_seg){NULL, v->buf.len, 0, 0};
    }
    int rc = dk_buf_append(&v->buf, p, n);
    if (!rc) {
        last->len += n;
        v->total += n;
    }
    return rc;
}

/* Borrow n bytes at p as their own piece, with their CRC: the record's
 * CRC is combined from it (dk__lsm_wal_encodev), and the memtable keeps
 * it for the flush's blob record (lsm_write.c), one pass over the value
 * for both. */
static int wal_ref(lsm_wal_vec *v, const uint8_t *p, size_t n)
{
    if (v->nseg == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        lsm_wal_seg *ns = realloc(v->seg, cap * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        v->seg = ns;
        v->cap = cap;
    }
    v->seg[v->nseg++] = (lsm_wal_seg){p, 0, n, dk_crc32c(p, n)};
    v->total += n;
    return 0;
}

static const uint8_t *wal_seg_ptr(const lsm_wal_vec *v, const lsm_wal_seg *s)
{
    return s->ptr ? s->ptr : v->buf.data + s->off;
}

int dk__lsm_wal_encodev(lsm_wal_vec *v, uint64_t number, uint64_t seq, const dk_batch *b)
{
    size_t start = v->buf.len, seg0 = v->nseg, total0 = v->total;
    uint8_t hdr[LSM_WAL_HEADER + LSM_WAL_MIN_PAYLOAD] = {0};
    int rc = wal_put(v, hdr, sizeof(hdr), 1);
    for (size_t i = 0; !rc && i < b->count; i++) {
        const dk_batch_op *op = &b->ops[i];
        uint8_t t[1 + 2 * DK_VARINT_MAX];
        size_t n = 0;
        t[n++] = op->type == DK_BATCH_DELETE ? LSM_TYPE_DELETE : LSM_TYPE_VALUE;
        n += dk_put_varint(t + n, op->key.len);
        if ((rc = wal_put(v, t, n, 0)) || (rc = wal_put(v, op->key.ptr, op->key.len, 0)))
            break;
        if (op->type == DK_BATCH_DELETE)
            continue;
        n = dk_put_varint(t, op->value.len);
        if ((rc = wal_put(v, t, n, 0)))
            break;
        rc = op->value.len > LSM_WAL_COPY_MAX ? wal_ref(v, op->value.ptr, op->value.len)
                                              : wal_put(v, op->value.ptr, op->value.len, 0);
    }
    size_t len = v->total - total0 - LSM_WAL_HEADER;
    if (!rc && len > LSM_WAL_MAX_RECORD)
        rc = DK_ETOOBIG;
    if (rc) {
        v->buf.len = start;
        v->nseg = seg0;
        v->total = total0;
        return rc;
    }
    uint8_t *p = v->buf.data + start;
    dk_put_u32(p + 4, (uint32_t)len);
    dk_put_u64(p + 8, number);
    dk_put_u64(p + 16, seq);
    dk_put_u32(p + 24, (uint32_t)b->count);
    /* The CRC covers the length field and every piece of the payload;
     * the record's first piece starts with its header (wal_put fresh). */
    uint32_t crc = dk_crc32c(p + 4, v->seg[seg0].len - 4);
    for (size_t i = seg0 + 1; i < v->nseg; i++) {
        const lsm_wal_seg *s = &v->seg[i];
        crc = s->ptr ? dk_crc32c_combine(crc, s->crc, s->len)
                     : dk_crc32c_extend(crc, v->buf.data + s->off, s->len);
    }
    dk_put_u32(p, dk_crc32c_mask(crc));
    return 0;
}

void dk__lsm_wal_vec_reset(lsm_wal_vec *v)
{
    dk_buf_reset(&v->buf);
    v->nseg = 0;
    v->total = 0;
}

void dk__lsm_wal_vec_free(lsm_wal_vec *v)
{
    dk_buf_free(&v->buf);
    free(v->seg);
    memset(v, 0, sizeof(*v));
}

int dk__lsm_wal_encode(dk_buf *out, uint64_t number, uint64_t seq, const dk_batch *b)
{
    lsm_wal_vec v = {0};
    int rc = dk__lsm_wal_encodev(&v, number, seq, b);
    if (!rc)
        rc = dk_buf_reserve(out, v.total);
    for (size_t i = 0; !rc && i < v.nseg; i++)
        rc = dk_buf_append(out, wal_seg_ptr(&v, &v.seg[i]), v.seg[i].len);
    dk__lsm_wal_vec_free(&v);
    return rc;
}

int dk__lsm_wal_op_next(const uint8_t **pp, const uint8_t *end, int *type, dk_slice *key, dk_slice *value)
{
    const uint8_t *p = *pp;
    uint64_t n;
    size_t k;
    if (p >= end || (*p != LSM_TYPE_DELETE && *p != LSM_TYPE_VALUE))
        return DK_ECORRUPT;
    *type = *p++;
    if (!(k = dk_get_varint(p, end, &n)) || n > (uint64_t)(end - p - k))
        return DK_ECORRUPT;
    p += k;
    key->ptr = p;
    key->len = n;
    p += n;
    value->ptr = p;
    value->len = 0;
    if (*type == LSM_TYPE_VALUE) {
        if (!(k = dk_get_varint(p, end, &n)) || n > (uint64_t)(end - p - k))
            return DK_ECORRUPT;
        p += k;
        value->ptr = p;
        value->len = n;
        p += n;
    }
    *pp = p;
    return 0;
}

uint64_t dk__lsm_wal_number(const char *path)
{
    const char *base = strrchr(path, '/');
    uint64_t n = 0;
    for (base = base ? base + 1 : path; *base >= '0' && *base <= '9'; base++)
        n = n * 10 + (uint64_t)(*base - '0');
    return n;
}

int dk__lsm_wal_open(lsm_env *env, const char *path, lsm_wal *w)
{
    w->env = env;
    w->size = w->synced = 0;
    w->recycled = w->cut_back = 0;
    w->number = dk__lsm_wal_number(path);
    return env->ops->create(env, path, &w->f);
}

int dk__lsm_wal_reuse(lsm_env *env, const char *from, const char *to, lsm_wal *w)
{
    if (!env->ops->reuse)
        return -ENOTSUP;
    w->env = env;
    w->size = w->synced = 0;
    w->recycled = 1;
    w->cut_back = 0;
    w->number = dk__lsm_wal_number(to);
    return env->ops->reuse(env, from, to, &w->f);
}

int dk__lsm_wal_trim(lsm_wal *w, const char *path)
{
    if (!w->f || !w->recycled)
        return 0;
    int rc = w->env->ops->truncate(w->env, path, w->size);
    if (!rc)
        w->recycled = w->cut_back = 0;
    return rc;
}

int dk__lsm_wal_write(lsm_wal *w, const void *p, size_t n)
{
    int rc = w->env->ops->append(w->f, p, n);
    if (!rc)
        w->size += n;
    return rc;
}

int dk__lsm_wal_writev(lsm_wal *w, const lsm_wal_vec *v)
{
    if (!v->nseg)
        return 0;
    /* The pieces are set before any use; -Wmaybe-uninitialized cannot
     * see that through the conditional malloc under the sanitizers. */
    struct iovec small[64] = {{0}}, *iov = small;
    if (v->nseg > 64 && !(iov = malloc(v->nseg * sizeof(*iov))))
        return -ENOMEM;
    for (size_t i = 0; i < v->nseg; i++) {
        iov[i].iov_base = (void *)wal_seg_ptr(v, &v->seg[i]);
        iov[i].iov_len = v->seg[i].len;
    }
    int rc = w->env->ops->appendv(w->f, iov, (int)v->nseg);
    if (iov != small)
        free(iov);
    if (!rc)
        w->size += v->total;
    return rc;
}

int dk__lsm_wal_writeback(lsm_wal *w)
{
    if (!w->env->ops->writeback || w->size == w->synced)
        return 0;
    return w->env->ops->writeback(w->f, w->size);
}

int dk__lsm_wal_sync(lsm_wal *w)
{
    int rc = w->env->ops->sync(w->f, 1);
    if (!rc)
        w->synced = w->size;
    return rc;
}

int dk__lsm_wal_close(lsm_wal *w)
{
    if (!w->f)
        return 0;
    int rc = w->env->ops->close_w(w->f);
    w->f = NULL;
    return rc;
}

/* True when the payload's ops parse exactly. */
static int wal_ops_ok(const uint8_t *p, const uint8_t *end, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        int type;
        dk_slice k, v;
        if (dk__lsm_wal_op_next(&p, end, &type, &k, &v))
            return 0;
    }
    return p == end;
}

/* Whether data[off, len), where the replay of log `number` stopped at a
 * bad record, is a recycled file's old life rather than a torn or damaged
 * tail. A recycled log (after a crash right after a switch nothing
 * trimmed it) keeps its old life's bytes after its own records, and
 * where those records did not end on an old record's boundary, the rest
 * of the old record they cut into follows: bytes that start no record of
 * this log, then the old life's records (if that one was not its last).
 * What a crash or damage leaves differs: a torn record of this log starts
 * with its header, whose log number is this one (a write keeps a prefix;
 * fewer than 16 bytes cannot tell, and count as torn); a damaged record
 * before the end is followed by whole records of this log; a file
 * extended whose data never reached the disk reads as zeros. So the tail
 * is stale when it is at least 16 bytes, its first record slot does not
 * carry this log's number, no whole record of this log follows, and it
 * is not all zeros. (Damage to the log number of the very last record
 * reads as stale: the record is cut, unreported.) */
static int wal_stale_tail(const uint8_t *data, size_t len, size_t off, uint64_t number)
{
    if (len - off < 16 || dk_get_u64(data + off + 8) == number)
        return 0;
    int zeros = 1;
    for (size_t at = off; at < len; at++) {
        zeros = zeros && !data[at];
        if (len - at < LSM_WAL_HEADER + LSM_WAL_MIN_PAYLOAD || dk_get_u64(data + at + 8) != number)
            continue;
        uint32_t n = dk_get_u32(data + at + 4);
        if (n >= LSM_WAL_MIN_PAYLOAD && n <= len - at - LSM_WAL_HEADER &&
            dk_crc32c_unmask(dk_get_u32(data + at)) == dk_crc32c(data + at + 4, (size_t)n + 4))
            return 0;
    }
    return !zeros;
}

int dk__lsm_wal_replay(lsm_env *env, const char *path, lsm_wal_cb cb, void *arg, uint64_t *dropped,
                       uint64_t *bad_off)
{
    uint8_t *data;
    size_t len;
    int rc = dk__lsm_env_read_all(env, path, &data, &len);
    if (rc)
        return rc;
    uint64_t number = dk__lsm_wal_number(path);
    size_t off = 0;
    int stale = 0;
    while (len - off >= LSM_WAL_HEADER + LSM_WAL_MIN_PAYLOAD) {
        const uint8_t *p = data + off;
        uint32_t n = dk_get_u32(p + 4);
        if (n < LSM_WAL_MIN_PAYLOAD || n > LSM_WAL_MAX_RECORD || n > len - off - LSM_WAL_HEADER)
            break;
        if (dk_crc32c_unmask(dk_get_u32(p)) != dk_crc32c(p + 4, (size_t)n + 4))
            break;
        if (dk_get_u64(p + 8) != number) {
            stale = 1;
            break;
        }
        uint64_t seq = dk_get_u64(p + 16);
        uint32_t count = dk_get_u32(p + 24);
        const uint8_t *ops = p + LSM_WAL_HEADER + LSM_WAL_MIN_PAYLOAD, *end = p + LSM_WAL_HEADER + n;
        if (!wal_ops_ok(ops, end, count))
            break;
        if ((rc = cb(arg, seq, count, ops, (size_t)(end - ops))) != 0) {
            free(data);
            return rc;
        }
        off += LSM_WAL_HEADER + n;
    }
    if (!stale && off < len && number)
        stale = wal_stale_tail(data, len, off, number);
    free(data);
    *dropped = stale ? 0 : len - off;
    *bad_off = off;
    if (off < len)
        rc = env->ops->truncate(env, path, off);
    return rc;
}
