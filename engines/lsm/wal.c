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
 */
#include "wal.h"

#include <stdlib.h>

#include "ikey.h"
#include "util/coding.h"
#include "util/crc32c.h"

int dk__lsm_wal_encode(dk_buf *out, uint64_t seq, const dk_batch *b)
{
    size_t start = out->len;
    uint8_t hdr[LSM_WAL_HEADER + 12] = {0};
    int rc = dk_buf_append(out, hdr, sizeof(hdr));
    if (rc)
        return rc;
    for (size_t i = 0; i < b->count; i++) {
        const dk_batch_op *op = &b->ops[i];
        uint8_t v[1 + 2 * DK_VARINT_MAX];
        size_t n = 0;
        v[n++] = op->type == DK_BATCH_DELETE ? LSM_TYPE_DELETE : LSM_TYPE_VALUE;
        n += dk_put_varint(v + n, op->key.len);
        if ((rc = dk_buf_append(out, v, n)) || (rc = dk_buf_append(out, op->key.ptr, op->key.len)))
            goto err;
        if (op->type != DK_BATCH_DELETE) {
            n = dk_put_varint(v, op->value.len);
            if ((rc = dk_buf_append(out, v, n)) ||
                (rc = dk_buf_append(out, op->value.ptr, op->value.len)))
                goto err;
        }
    }
    size_t len = out->len - start - LSM_WAL_HEADER;
    if (len > LSM_WAL_MAX_RECORD) {
        rc = DK_ETOOBIG;
        goto err;
    }
    uint8_t *p = out->data + start;
    dk_put_u32(p + 4, (uint32_t)len);
    dk_put_u64(p + 8, seq);
    dk_put_u32(p + 16, (uint32_t)b->count);
    dk_put_u32(p, dk_crc32c_mask(dk_crc32c(p + 4, len + 4)));
    return 0;
err:
    out->len = start;
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

int dk__lsm_wal_open(lsm_env *env, const char *path, lsm_wal *w)
{
    w->env = env;
    w->size = 0;
    return env->ops->create(env, path, &w->f);
}

int dk__lsm_wal_write(lsm_wal *w, const void *p, size_t n)
{
    int rc = w->env->ops->append(w->f, p, n);
    if (!rc)
        w->size += n;
    return rc;
}

int dk__lsm_wal_sync(lsm_wal *w)
{
    return w->env->ops->sync(w->f, 1);
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

int dk__lsm_wal_replay(lsm_env *env, const char *path, lsm_wal_cb cb, void *arg,
                       uint64_t *dropped, uint64_t *bad_off)
{
    uint8_t *data;
    size_t len;
    int rc = dk__lsm_env_read_all(env, path, &data, &len);
    if (rc)
        return rc;
    size_t off = 0;
    while (len - off >= LSM_WAL_HEADER + 12) {
        const uint8_t *p = data + off;
        uint32_t n = dk_get_u32(p + 4);
        if (n < 12 || n > LSM_WAL_MAX_RECORD || n > len - off - LSM_WAL_HEADER)
            break;
        if (dk_crc32c_unmask(dk_get_u32(p)) != dk_crc32c(p + 4, (size_t)n + 4))
            break;
        uint64_t seq = dk_get_u64(p + 8);
        uint32_t count = dk_get_u32(p + 16);
        const uint8_t *ops = p + 20, *end = p + LSM_WAL_HEADER + n;
        if (!wal_ops_ok(ops, end, count))
            break;
        if ((rc = cb(arg, seq, count, ops, (size_t)(end - ops))) != 0) {
            free(data);
            return rc;
        }
        off += LSM_WAL_HEADER + n;
    }
    free(data);
    *dropped = len - off;
    *bad_off = off;
    if (off < len)
        rc = env->ops->truncate(env, path, off);
    return rc;
}
