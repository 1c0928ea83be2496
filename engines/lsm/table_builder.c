/*
 * table_builder.c - writes an SSTable (table.h) in one sequential pass.
 *
 * Data blocks are cut at LSM_BLOCK_SIZE; an entry never spans blocks, so
 * a large value makes one large block. With a codec (a dk_codec_ref the
 * engine got from the host), a data block is stored compressed only when
 * that saves at least 1/8 of it (RocksDB's rule), so incompressible data
 * costs no decompression on read (and after a run of blocks that did not
 * shrink, the builder offers only every 32nd block of the file to the
 * codec, so incompressible values stop costing a compression each); the
 * codec's id goes in the block's
 * trailer and, if any block used it, its name in the properties. A data
 * block that holds no value bytes (only blob references, blob.h, and
 * tombstones) is stored raw without asking the codec: it would shrink
 * (2.3x for 10 KiB values' references), but by a few bytes per value
 * stored in a blob file (0.2 % of the data on disk), while compressing
 * it was a third of the CPU of a compaction that rewrites such tables
 * (bench/results/compact-2026-12-06-s14.md); reads of it skip the
 * decompression too. User-key hashes for
 * the bloom filter are collected as keys arrive and the filter is built at
 * the end, when the key count is known.
 *
 * With opts.writeback_bytes set, every that many bytes the builder asks
 * the env to start writing the file back (and to wait for the previous
 * interval), so a 64 MiB flush or compaction output trickles to the
 * device instead of landing as one burst at the final fsync, where it
 * would queue every WAL fdatasync on the same device behind it. Before
 * each such step and before the final fsync it calls opts.on_sync, where
 * the flush and compaction wait for a WAL fdatasync in flight to end
 * (io_yield.c).
 */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "blob.h"
#include "bloom.h"
#include "util/crc32c.h"

struct lsm_table_builder {
    lsm_env *env;
    lsm_wfile *f;
    lsm_tb_opts opts;
    uint64_t offset, written_back; /* bytes appended; offset at the last writeback */
    lsm_block_builder data, index;
    dk_buf last_key, scratch;
    uint64_t pending_off, pending_size;
    uint64_t *hashes;
    size_t nhash, caphash;
    lsm_props props;
    int codec_used; /* a block was stored with opts.codec */
    /* Incompressible data (already compressed or encrypted values): after
     * TB_SKIP_AFTER data blocks in a row that did not shrink enough, the
     * codec is tried only on every TB_PROBE_EVERY-th block of this file,
     * so a flush of such values stops paying a compression per block
     * only to throw the result away; one block that shrinks resumes it. */
    unsigned no_gain_run, skip_left;
    uint64_t blocks_skipped;
    int data_values; /* the data block holds an inline value (not only references) */
    /* props.blobs' index (+1) of each blob file number, open addressing
     * (tb_note_blob): a table naming many blob files is not scanned per
     * reference. */
    size_t *bslot, bcap;
    uint64_t blob_bytes; /* the sum of props.blobs' record bytes */
};

#define TB_SKIP_AFTER 8u
#define TB_PROBE_EVERY 32u

void dk__lsm_props_init(lsm_props *p)
{
    memset(p, 0, sizeof(*p));
    p->min_seq = UINT64_MAX;
    p->min_write_ms = INT64_MAX;
    p->max_write_ms = INT64_MIN;
    dk_buf_init(&p->smallest);
    dk_buf_init(&p->largest);
    dk_buf_init(&p->blobs);
}

void dk__lsm_props_free(lsm_props *p)
{
    dk_buf_free(&p->smallest);
    dk_buf_free(&p->largest);
    dk_buf_free(&p->blobs);
}

int dk__lsm_props_copy(lsm_props *dst, const lsm_props *src)
{
    dk_buf s = dst->smallest, l = dst->largest, bl = dst->blobs;
    *dst = *src;
    dst->smallest = s;
    dst->largest = l;
    dst->blobs = bl;
    dk_buf_reset(&dst->smallest);
    dk_buf_reset(&dst->largest);
    dk_buf_reset(&dst->blobs);
    int rc = dk_buf_append(&dst->smallest, src->smallest.data, src->smallest.len);
    if (!rc)
        rc = dk_buf_append(&dst->largest, src->largest.data, src->largest.len);
    if (!rc && src->blobs.len)
        rc = dk_buf_append(&dst->blobs, src->blobs.data, src->blobs.len);
    return rc;
}

int dk__lsm_tb_open(lsm_env *env, const char *path, const lsm_tb_opts *opts, lsm_table_builder **out)
{
    lsm_table_builder *tb = calloc(1, sizeof(*tb));
    if (!tb)
        return -ENOMEM;
    tb->env = env;
    tb->opts = *opts;
    dk__lsm_bb_init(&tb->data);
    dk__lsm_bb_init(&tb->index);
    /* Every index entry a restart: a point read's binary search lands on
     * its block directly, comparing keys in place (block.c), instead of
     * decoding up to 15 prefix-compressed entries after it. */
    tb->index.interval = 1;
    dk__lsm_props_init(&tb->props);
    if (tb->opts.codec && tb->opts.codec->id == LSM_BLOCK_RAW)
        tb->opts.codec = NULL;
    int rc = env->ops->create(env, path, &tb->f);
    if (rc) {
        free(tb);
        return rc;
    }
    *out = tb;
    return 0;
}

/* Append n bytes: p, then p2 (n2 bytes; may be 0) in one gather write. */
static int tb_write2(lsm_table_builder *tb, const void *p, size_t n1, const void *p2, size_t n2)
{
    int rc;
    if (n2) {
        struct iovec iov[2] = {{(void *)p, n1}, {(void *)p2, n2}};
        rc = tb->env->ops->appendv(tb->f, iov, 2);
    } else {
        rc = tb->env->ops->append(tb->f, p, n1);
    }
    if (rc)
        return rc;
    size_t n = n1 + n2;
    tb->offset += n;
    if (tb->opts.on_write)
        tb->opts.on_write(tb->opts.arg, n);
    if (tb->opts.writeback_bytes && tb->env->ops->writeback &&
        tb->offset - tb->written_back >= tb->opts.writeback_bytes) {
        tb->written_back = tb->offset;
        if (tb->opts.on_sync)
            tb->opts.on_sync(tb->opts.arg);
        return tb->env->ops->writeback(tb->f, tb->offset);
    }
    return 0;
}

static int tb_write(lsm_table_builder *tb, const void *p, size_t n)
{
    return tb_write2(tb, p, n, NULL, 0);
}

/* Write contents as a block (compressing when allowed and worth it);
 * store its handle in *off / *size. */
static int tb_write_block(lsm_table_builder *tb, dk_slice contents, int compress, uint64_t *off,
                          uint64_t *size)
{
    const uint8_t *p = contents.ptr;
    size_t n = contents.len;
    uint8_t type = LSM_BLOCK_RAW;
    const dk_codec_ref *codec = tb->opts.codec;
    if (compress && codec && tb->skip_left) {
        tb->skip_left--;
        tb->blocks_skipped++;
        compress = 0;
    }
    if (compress && codec) {
        size_t bound = dk_codec_bound(codec, n), z = 0;
        dk_buf_reset(&tb->scratch);
        int rc = bound ? dk_buf_reserve(&tb->scratch, bound) : 0;
        if (rc)
            return rc;
        /* A codec that fails is not worth failing the table for: the block
         * is stored raw, which every reader can read. */
        if (bound && dk_codec_compress(codec, p, n, tb->scratch.data, bound, &z) == 0 && z < n - n / 8) {
            p = tb->scratch.data;
            n = z;
            type = (uint8_t)codec->id;
            tb->codec_used = 1;
            tb->no_gain_run = 0;
        } else if (++tb->no_gain_run >= TB_SKIP_AFTER) {
            tb->skip_left = TB_PROBE_EVERY - 1;
        }
    }
    uint8_t trailer[LSM_BLOCK_TRAILER];
    trailer[0] = type;
    uint32_t crc = dk_crc32c_extend(dk_crc32c(p, n), trailer, 1);
    dk_put_u32(trailer + 1, dk_crc32c_mask(crc));
    *off = tb->offset;
    *size = n;
    /* Block and trailer in one system call (half the writes of a flush). */
    return tb_write2(tb, p, n, trailer, sizeof(trailer));
}

uint64_t dk__lsm_tb_blocks_skipped(const lsm_table_builder *tb)
{
    return tb->blocks_skipped;
}

static int tb_add_index(lsm_table_builder *tb)
{
    uint8_t v[2 * DK_VARINT_MAX];
    size_t n = dk_put_varint(v, tb->pending_off);
    n += dk_put_varint(v + n, tb->pending_size);
    dk_slice val = {v, n};
    return dk__lsm_bb_add(&tb->index, dk_buf_slice(&tb->last_key), val);
}

static int tb_flush_data(lsm_table_builder *tb)
{
    if (tb->data.entries == 0)
        return 0;
    dk_slice c;
    int rc = dk__lsm_bb_finish(&tb->data, &c);
    if (!rc)
        rc = tb_write_block(tb, c, tb->data_values, &tb->pending_off, &tb->pending_size);
    if (rc)
        return rc;
    tb->props.data_size += tb->pending_size + LSM_BLOCK_TRAILER;
    dk__lsm_bb_reset(&tb->data);
    tb->data_values = 0;
    return tb_add_index(tb);
}

/* The slot of blob file num in tb->bslot (bcap a power of two). */
static size_t tb_bslot(const lsm_table_builder *tb, uint64_t num)
{
    size_t i = (size_t)((num * 0x9e3779b97f4a7c15ull) >> 20) & (tb->bcap - 1);
    while (tb->bslot[i] && lsm_props_blob(&tb->props, tb->bslot[i] - 1, NULL) != num)
        i = (i + 1) & (tb->bcap - 1);
    return i;
}

/* Room for n blob files in the index at most half full; 0 or -ENOMEM. */
static int tb_bslot_grow(lsm_table_builder *tb, size_t n)
{
    if (2 * n <= tb->bcap)
        return 0;
    size_t cap = tb->bcap ? 2 * tb->bcap : 16;
    size_t *old = tb->bslot, ocap = tb->bcap;
    if (!(tb->bslot = calloc(cap, sizeof(*tb->bslot)))) {
        tb->bslot = old;
        return -ENOMEM;
    }
    tb->bcap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            tb->bslot[tb_bslot(tb, lsm_props_blob(&tb->props, old[i] - 1, NULL))] = old[i];
    free(old);
    return 0;
}

/* A blob reference's file and record bytes into props.blobs; its times (what
 * record_time said of the value at flush) into *wt and *exp. 1 when the
 * reference carries times, 0 when not, or DK_ECORRUPT. */
static int tb_note_blob(lsm_table_builder *tb, dk_slice ukey, dk_slice value, int64_t *wt, int64_t *exp)
{
    lsm_blob_ref r;
    if (dk__lsm_blob_ref_decode(value, &r))
        return DK_ECORRUPT;
    lsm_props *p = &tb->props;
    uint64_t rec = LSM_BLOB_REC_HDR + ukey.len + r.len; /* the record's bytes */
    size_t n = lsm_props_nblobs(p), slot;
    if (tb_bslot_grow(tb, n + 1))
        return -ENOMEM;
    if (tb->bslot[slot = tb_bslot(tb, r.file)]) {
        uint64_t bytes;
        lsm_props_blob(p, tb->bslot[slot] - 1, &bytes);
        bytes += rec;
        memcpy(p->blobs.data + 16 * (tb->bslot[slot] - 1) + 8, &bytes, 8);
    } else {
        uint64_t pair[2] = {r.file, rec};
        if (dk_buf_append(&p->blobs, pair, sizeof(pair)))
            return -ENOMEM;
        tb->bslot[slot] = n + 1;
    }
    tb->blob_bytes += rec;
    *wt = r.write_ms;
    *exp = r.expiry_ms;
    return (r.flags & LSM_BLOB_TIMED) != 0;
}

static int tb_note_time(lsm_table_builder *tb, int type, dk_slice ukey, dk_slice value)
{
    int64_t wt = 0, exp = 0;
    const dk_host *h = tb->opts.host;
    int ok;
    if (type == LSM_TYPE_BLOB) {
        /* A malformed reference (a compaction copies it as it is: its
         * reads report it) names no blob file and no times. */
        if ((ok = tb_note_blob(tb, ukey, value, &wt, &exp)) < 0 && ok != DK_ECORRUPT)
            return ok;
        ok = ok > 0;
    } else {
        ok = type == LSM_TYPE_VALUE && h && h->record_time && h->record_time(h, value, &wt, &exp) == 0;
    }
    if (ok) {
        if (wt < tb->props.min_write_ms)
            tb->props.min_write_ms = wt;
        if (wt > tb->props.max_write_ms)
            tb->props.max_write_ms = wt;
    }
    /* One record that never expires (or whose expiry is unknown, or an
     * engine tombstone) makes the whole table "never expires". */
    if (!ok || exp == 0)
        tb->props.max_expiry_ms = 0;
    else if (tb->props.entries == 0 || (tb->props.max_expiry_ms != 0 && exp > tb->props.max_expiry_ms))
        tb->props.max_expiry_ms = exp;
    return 0;
}

int dk__lsm_tb_add(lsm_table_builder *tb, dk_slice ikey, dk_slice value)
{
    int rc;
    dk_slice uk = lsm_ikey_user(ikey);
    int new_user = tb->props.entries == 0 || lsm_ucmp(uk, lsm_ikey_user(dk_buf_slice(&tb->last_key))) != 0;
    if (new_user) {
        if (tb->nhash == tb->caphash) {
            size_t cap = tb->caphash ? tb->caphash * 2 : 1024;
            uint64_t *h = realloc(tb->hashes, cap * sizeof(*h));
            if (!h)
                return -ENOMEM;
            tb->hashes = h;
            tb->caphash = cap;
        }
        tb->hashes[tb->nhash++] = dk__lsm_hash64(uk.ptr, uk.len);
    }
    int type = lsm_ikey_type(ikey);
    uint64_t seq = lsm_ikey_seq(ikey);
    if ((rc = tb_note_time(tb, type, uk, value)))
        return rc;
    if (tb->props.entries == 0 && (rc = dk_buf_append(&tb->props.smallest, ikey.ptr, ikey.len)))
        return rc;
    tb->props.entries++;
    if (type == LSM_TYPE_DELETE)
        tb->props.tombstones++;
    tb->data_values |= type == LSM_TYPE_VALUE;
    if (seq < tb->props.min_seq)
        tb->props.min_seq = seq;
    if (seq > tb->props.max_seq)
        tb->props.max_seq = seq;
    if ((rc = dk__lsm_bb_add(&tb->data, ikey, value)))
        return rc;
    dk_buf_reset(&tb->last_key);
    if ((rc = dk_buf_append(&tb->last_key, ikey.ptr, ikey.len)))
        return rc;
    if (dk__lsm_bb_estimate(&tb->data) >= LSM_BLOCK_SIZE)
        return tb_flush_data(tb);
    return 0;
}

uint64_t dk__lsm_tb_size(const lsm_table_builder *tb)
{
    return tb->offset + dk__lsm_bb_estimate(&tb->data);
}

uint64_t dk__lsm_tb_data_size(const lsm_table_builder *tb)
{
    return dk__lsm_tb_size(tb) + tb->blob_bytes;
}

static int tb_props_block(lsm_table_builder *tb, dk_buf *out)
{
    uint8_t fixed[8 * 8];
    lsm_props *p = &tb->props;
    dk_put_u64(fixed, p->entries);
    dk_put_u64(fixed + 8, p->tombstones);
    dk_put_u64(fixed + 16, p->min_seq);
    dk_put_u64(fixed + 24, p->max_seq);
    dk_put_u64(fixed + 32, (uint64_t)p->min_write_ms);
    dk_put_u64(fixed + 40, (uint64_t)p->max_write_ms);
    dk_put_u64(fixed + 48, (uint64_t)p->max_expiry_ms);
    dk_put_u64(fixed + 56, p->data_size);
    uint8_t v[DK_VARINT_MAX];
    int rc = dk_buf_append(out, fixed, sizeof(fixed));
    size_t n = dk_put_varint(v, p->smallest.len);
    if (!rc && !(rc = dk_buf_append(out, v, n)))
        rc = dk_buf_append(out, p->smallest.data, p->smallest.len);
    n = dk_put_varint(v, p->largest.len);
    if (!rc && !(rc = dk_buf_append(out, v, n)))
        rc = dk_buf_append(out, p->largest.data, p->largest.len);
    /* The codecs the data blocks use: none, or the one the table was
     * written with (raw blocks need none). */
    const dk_codec_ref *codec = tb->codec_used ? tb->opts.codec : NULL;
    n = dk_put_varint(v, codec ? 1 : 0);
    if (!rc)
        rc = dk_buf_append(out, v, n);
    if (!rc && codec) {
        uint8_t id = (uint8_t)codec->id;
        size_t len = strlen(codec->name);
        n = dk_put_varint(v, len);
        if (!(rc = dk_buf_append(out, &id, 1)) && !(rc = dk_buf_append(out, v, n)))
            rc = dk_buf_append(out, codec->name, len);
    }
    size_t nb = lsm_props_nblobs(p);
    if (!rc && nb) {
        n = dk_put_varint(v, nb);
        rc = dk_buf_append(out, v, n);
        for (size_t i = 0; !rc && i < nb; i++) {
            uint64_t bytes, num = lsm_props_blob(p, i, &bytes);
            n = dk_put_varint(v, num);
            if (!(rc = dk_buf_append(out, v, n))) {
                n = dk_put_varint(v, bytes);
                rc = dk_buf_append(out, v, n);
            }
        }
    }
    return rc;
}

int dk__lsm_tb_finish(lsm_table_builder *tb, lsm_props *props, uint64_t *size)
{
    int rc = tb_flush_data(tb);
    uint64_t foff = 0, fsize = 0, poff = 0, psize = 0, ioff = 0, isize = 0;
    dk_buf blk = DK_BUF_INIT;
    if (tb->props.entries == 0) {
        tb->props.min_seq = 0;
        tb->props.min_write_ms = tb->props.max_write_ms = 0;
    } else if (tb->props.min_write_ms == INT64_MAX) {
        tb->props.min_write_ms = tb->props.max_write_ms = 0;
    }
    if (!rc)
        rc = dk_buf_append(&tb->props.largest, tb->last_key.data, tb->last_key.len);
    if (!rc)
        rc = dk__lsm_bloom_build(&blk, tb->hashes, tb->nhash, tb->opts.bits_per_key);
    if (!rc)
        rc = tb_write_block(tb, dk_buf_slice(&blk), 0, &foff, &fsize);
    dk_buf_reset(&blk);
    if (!rc)
        rc = tb_props_block(tb, &blk);
    if (!rc)
        rc = tb_write_block(tb, dk_buf_slice(&blk), 0, &poff, &psize);
    dk_slice idx;
    if (!rc)
        rc = dk__lsm_bb_finish(&tb->index, &idx);
    if (!rc)
        rc = tb_write_block(tb, idx, 0, &ioff, &isize);
    if (!rc) {
        uint8_t ft[LSM_FOOTER_SIZE];
        dk_put_u64(ft, foff);
        dk_put_u64(ft + 8, fsize);
        dk_put_u64(ft + 16, poff);
        dk_put_u64(ft + 24, psize);
        dk_put_u64(ft + 32, ioff);
        dk_put_u64(ft + 40, isize);
        dk_put_u32(ft + 48, lsm_props_nblobs(&tb->props) ? LSM_TABLE_VERSION_BLOB : LSM_TABLE_VERSION);
        dk_put_u32(ft + 52, dk_crc32c_mask(dk_crc32c(ft, 52)));
        dk_put_u64(ft + 56, LSM_TABLE_MAGIC);
        rc = tb_write(tb, ft, sizeof(ft));
    }
    if (!rc && tb->opts.on_sync)
        tb->opts.on_sync(tb->opts.arg);
    if (!rc)
        rc = tb->env->ops->sync(tb->f, 0);
    dk_buf_free(&blk);
    if (!rc && props)
        rc = dk__lsm_props_copy(props, &tb->props);
    if (!rc && size)
        *size = tb->offset;
    dk__lsm_tb_abandon(tb);
    return rc;
}

void dk__lsm_tb_abandon(lsm_table_builder *tb)
{
    if (!tb)
        return;
    tb->env->ops->close_w(tb->f);
    dk__lsm_bb_free(&tb->data);
    dk__lsm_bb_free(&tb->index);
    dk_buf_free(&tb->last_key);
    dk_buf_free(&tb->scratch);
    dk__lsm_props_free(&tb->props);
    free(tb->hashes);
    free(tb->bslot);
    free(tb);
}
