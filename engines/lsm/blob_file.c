/*
 * blob_file.c - blob references and the blob file writer (blob.h has the
 * formats).
 *
 * A writer gathers records (12-byte header, key, value) in a staging
 * buffer of LSM_BLOB_STAGE bytes and appends it when the next record
 * would not fit: one write per ~25 records of 10 KiB instead of one per
 * record, and only one write in 25 ends inside a page the kernel must
 * first zero (ext4 zeroes the part of a new page cache page a write does
 * not cover; at 3 nodes' peak that was 3 % of all samples, helper peak3,
 * session 9). A record larger than half the buffer is written straight
 * from the caller's memory (after what is staged), where the copy would
 * cost more than the write it saves. With o.direct (blob_direct_io) the
 * file is the env's direct one, which writes what it is given at once
 * (whole blocks; it keeps the last partial one): the stage is then
 * LSM_BLOB_STAGE_DIRECT bytes and each drain first calls o.on_sync, so
 * each write to the device waits for a WAL fdatasync in flight as a
 * plain file's writeback does (io_yield.c), and there is no writeback
 * step. Like the table builder it asks the
 * env to start writeback every writeback_bytes, so the final fsync does
 * not land as one burst on the device that the WAL's fdatasyncs share;
 * and like it, calls o.on_sync before each step and the fsync
 * (io_yield.c). Nothing reads a blob file before its writer finished (a
 * reference reaches a reader only through a manifest edit made after).
 */
#include "blob.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "util/crc32c.h"

#define LSM_BLOB_STAGE (256u * 1024u)
#define LSM_BLOB_STAGE_DIRECT (1024u * 1024u) /* one device write per table_writeback step */

size_t dk__lsm_blob_ref_encode(uint8_t *buf, const lsm_blob_ref *r)
{
    size_t n = 0;
    buf[n++] = (uint8_t)r->flags;
    n += dk_put_varint(buf + n, r->file);
    n += dk_put_varint(buf + n, r->off);
    n += dk_put_varint(buf + n, r->len);
    if (r->flags & LSM_BLOB_TIMED) {
        n += dk_put_varint(buf + n, (uint64_t)r->write_ms);
        n += dk_put_varint(buf + n, (uint64_t)r->expiry_ms);
    }
    if (r->flags & LSM_BLOB_HEAD) {
        n += dk_put_varint(buf + n, r->head.len);
        if (r->head.len)
            memcpy(buf + n, r->head.ptr, r->head.len);
        n += r->head.len;
    }
    return n;
}

int dk__lsm_blob_ref_decode(dk_slice v, lsm_blob_ref *r)
{
    const uint8_t *p = v.ptr, *end = v.ptr + v.len;
    memset(r, 0, sizeof(*r));
    if (v.len < 4 || (p[0] & ~(LSM_BLOB_TIMED | LSM_BLOB_MORTAL | LSM_BLOB_HEAD)))
        return DK_ECORRUPT;
    r->flags = p[0];
    p++;
    uint64_t *f[5] = {&r->file, &r->off, &r->len, NULL, NULL};
    uint64_t t[2] = {0, 0};
    f[3] = &t[0];
    f[4] = &t[1];
    int nf = (r->flags & LSM_BLOB_TIMED) ? 5 : 3;
    for (int i = 0; i < nf; i++) {
        size_t k = dk_get_varint(p, end, f[i]);
        if (!k)
            return DK_ECORRUPT;
        p += k;
    }
    if (r->flags & LSM_BLOB_HEAD) {
        uint64_t hl;
        size_t k = dk_get_varint(p, end, &hl);
        if (!k || hl > (uint64_t)(end - p - k) || hl > r->len || hl > LSM_BLOB_HEAD_MAX)
            return DK_ECORRUPT;
        r->head = (dk_slice){p + k, (size_t)hl};
        p += k + hl;
    }
    /* Values are at most 4 GiB (the record's u32); a longer length would
     * wrap the record size a reader computes. */
    if (p != end || r->off < LSM_BLOB_HEADER || r->len > UINT32_MAX)
        return DK_ECORRUPT;
    r->write_ms = (int64_t)t[0];
    r->expiry_ms = (int64_t)t[1];
    return 0;
}

void dk__lsm_blob_ref_set_head(lsm_blob_ref *r, dk_slice value, size_t head)
{
    r->flags &= ~LSM_BLOB_HEAD;
    r->head = (dk_slice){NULL, 0};
    if (!head || value.len / LSM_BLOB_HEAD_RATIO < head)
        return;
    r->flags |= LSM_BLOB_HEAD;
    r->head = (dk_slice){value.ptr, value.len < head ? value.len : head};
}

void dk__lsm_blob_ref_times(const dk_host *h, dk_slice key, dk_slice value, lsm_blob_ref *r)
{
    int64_t wt = 0, exp = 0;
    r->flags = 0;
    if (h && h->record_time && h->record_time(h, value, &wt, &exp) == 0) {
        r->flags |= LSM_BLOB_TIMED;
        r->write_ms = wt;
        r->expiry_ms = exp;
    }
    /* Not record_filter: its answer at flush is no promise for later (the
     * node's repair rule keeps what repair has not covered yet), and each
     * question counts in the host's tombstone metrics. A value with an
     * expiry can die; compaction asks the filter then. */
    if ((r->flags & LSM_BLOB_TIMED) && exp != 0)
        r->flags |= LSM_BLOB_MORTAL;
    (void)key;
}

struct lsm_blob_writer {
    lsm_env *env;
    lsm_wfile *f;
    uint64_t number, offset, written_back;
    lsm_blob_wopts o;
    uint8_t *stage; /* cap bytes; staged of them not yet appended */
    size_t staged, cap;
    int direct; /* f is direct (create_direct): each append is a device write */
};

/* Append what is staged (a direct file's device write: after the yield). */
static int bw_drain(lsm_blob_writer *w)
{
    if (!w->staged)
        return 0;
    if (w->direct && w->o.on_sync)
        w->o.on_sync(w->o.arg);
    int rc = w->env->ops->append(w->f, w->stage, w->staged);
    w->staged = 0;
    return rc;
}

static void bw_free(lsm_blob_writer *w)
{
    free(w->stage);
    free(w);
}

int dk__lsm_blob_writer_open(lsm_env *env, const char *path, uint64_t number, const lsm_blob_wopts *o,
                             lsm_blob_writer **out)
{
    *out = NULL;
    lsm_blob_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->env = env;
    w->number = number;
    if (o)
        w->o = *o;
    int rc = -EINVAL;
    if (w->o.direct && env->ops->create_direct)
        rc = env->ops->create_direct(env, path, &w->f);
    w->direct = !rc;
    if (rc == -EINVAL)
        rc = env->ops->create(env, path, &w->f);
    w->cap = w->direct ? LSM_BLOB_STAGE_DIRECT : LSM_BLOB_STAGE;
    if (!rc && !(w->stage = malloc(w->cap)))
        rc = -ENOMEM;
    if (!rc)
        rc = env->ops->append(w->f, LSM_BLOB_MAGIC, LSM_BLOB_HEADER);
    if (rc) {
        if (w->f)
            env->ops->close_w(w->f);
        bw_free(w);
        return rc;
    }
    w->offset = LSM_BLOB_HEADER;
    *out = w;
    return 0;
}

static int bw_add(lsm_blob_writer *w, dk_slice key, dk_slice value, const uint32_t *vcrc, lsm_blob_ref *r);

int dk__lsm_blob_writer_add(lsm_blob_writer *w, dk_slice key, dk_slice value, lsm_blob_ref *r)
{
    return bw_add(w, key, value, NULL, r);
}

int dk__lsm_blob_writer_add_crc(lsm_blob_writer *w, dk_slice key, dk_slice value, uint32_t vcrc,
                                lsm_blob_ref *r)
{
    return bw_add(w, key, value, &vcrc, r);
}

/* Append a record; its CRC extended over value's bytes, or combined from
 * *vcrc (their CRC as the caller knows it) without reading them. */
static int bw_add(lsm_blob_writer *w, dk_slice key, dk_slice value, const uint32_t *vcrc, lsm_blob_ref *r)
{
    if (key.len > UINT32_MAX || value.len > UINT32_MAX)
        return -EINVAL;
    uint8_t hdr[LSM_BLOB_REC_HDR];
    dk_put_u32(hdr + 4, (uint32_t)key.len);
    dk_put_u32(hdr + 8, (uint32_t)value.len);
    uint32_t crc = dk_crc32c(hdr + 4, 8);
    crc = dk_crc32c_extend(crc, key.ptr, key.len);
    crc = vcrc ? dk_crc32c_combine(crc, *vcrc, value.len) : dk_crc32c_extend(crc, value.ptr, value.len);
    dk_put_u32(hdr, dk_crc32c_mask(crc));
    size_t n = sizeof(hdr) + key.len + value.len;
    int rc = 0;
    /* A large record goes straight after what is staged, so that goes
     * first. */
    if ((w->staged + n > w->cap || n > w->cap / 2) && (rc = bw_drain(w)))
        return rc;
    if (n > w->cap / 2) {
        struct iovec iov[3] = {
            {hdr, sizeof(hdr)}, {(void *)key.ptr, key.len}, {(void *)value.ptr, value.len}};
        if ((rc = w->env->ops->appendv(w->f, iov, 3)))
            return rc;
    } else {
        uint8_t *p = w->stage + w->staged;
        memcpy(p, hdr, sizeof(hdr));
        memcpy(p + sizeof(hdr), key.ptr, key.len);
        if (value.len)
            memcpy(p + sizeof(hdr) + key.len, value.ptr, value.len);
        w->staged += n;
    }
    r->file = w->number;
    r->off = w->offset;
    r->len = value.len;
    w->offset += n;
    if (w->o.on_write)
        w->o.on_write(w->o.arg, n);
    if (w->o.writeback_bytes && w->env->ops->writeback && !w->direct &&
        w->offset - w->written_back >= w->o.writeback_bytes) {
        w->written_back = w->offset;
        if ((rc = bw_drain(w)))
            return rc;
        if (w->o.on_sync)
            w->o.on_sync(w->o.arg);
        return w->env->ops->writeback(w->f, w->offset);
    }
    return 0;
}

uint64_t dk__lsm_blob_writer_number(const lsm_blob_writer *w)
{
    return w->number;
}

int dk__lsm_blob_writer_direct(const lsm_blob_writer *w)
{
    return w->direct;
}

int dk__lsm_blob_writer_finish(lsm_blob_writer *w, uint64_t *size)
{
    int rc = bw_drain(w);
    if (w->o.on_sync)
        w->o.on_sync(w->o.arg);
    if (!rc)
        rc = w->env->ops->sync(w->f, 0);
    int crc = w->env->ops->close_w(w->f);
    if (!rc)
        rc = crc;
    if (!rc && size)
        *size = w->offset;
    bw_free(w);
    return rc;
}

void dk__lsm_blob_writer_abandon(lsm_blob_writer *w)
{
    if (!w)
        return;
    w->env->ops->close_w(w->f);
    bw_free(w);
}
