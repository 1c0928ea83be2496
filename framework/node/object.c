/*
 * object.c - encode and decode the stored object format (layout in
 * object.h), and the O(1) record callbacks compaction uses.
 *
 * The decoder treats its input as hostile: every length is checked against
 * the bytes that remain before it is used, the CRC is verified before any
 * field past the header is trusted, and any disagreement between the header
 * and the body is reported as corruption with the offset where it was
 * found. Values are not copied: decoded siblings point into the input, so a
 * read of a large value costs no allocation beyond the sibling array.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "node/object.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/vv.h"

/* Header field offsets. */
enum {
    OBJ_OFF_MAGIC = 0,
    OBJ_OFF_VERSION = 2,
    OBJ_OFF_FLAGS = 3,
    OBJ_OFF_NSIB = 4,
    OBJ_OFF_TYPE = 6, /* version 2; reserved (zero) in version 1 */
    OBJ_OFF_RESERVED = 7,
    OBJ_OFF_NEWEST = 8,
    OBJ_OFF_EXPIRY = 16,
    OBJ_OFF_LEN = 24,
    OBJ_OFF_CRC = 28
};

#define OBJ_KNOWN_FLAGS (DK_OBJECT_F_ALL_TOMBSTONES | DK_OBJECT_F_HAS_TOMBSTONE)

/* The summary the header carries, computed from the siblings. */
typedef struct obj_summary {
    uint8_t flags;
    int64_t newest, max_expiry;
} obj_summary;

static void obj_summarise(const dk_object *o, obj_summary *s)
{
    int all_tomb = 1, any_tomb = 0, never = o->n_sib == 0;
    s->newest = 0;
    s->max_expiry = 0;
    for (uint32_t i = 0; i < o->n_sib; i++) {
        const dk_sibling *x = &o->sib[i];
        int tomb = (x->flags & DK_SIB_TOMBSTONE) != 0;
        all_tomb &= tomb;
        any_tomb |= tomb;
        if (x->write_time_ms > s->newest)
            s->newest = x->write_time_ms;
        if (tomb || x->expiry_ms == 0)
            never = 1;
        else if (x->expiry_ms > s->max_expiry)
            s->max_expiry = x->expiry_ms;
    }
    if (never)
        s->max_expiry = 0;
    s->flags =
        (uint8_t)((all_tomb ? DK_OBJECT_F_ALL_TOMBSTONES : 0) | (any_tomb ? DK_OBJECT_F_HAS_TOMBSTONE : 0));
}

static uint32_t obj_crc(const uint8_t *p, size_t total)
{
    uint32_t c = dk_crc32c_extend(0, p, OBJ_OFF_CRC);
    c = dk_crc32c_extend(c, p + DK_OBJECT_HEADER_SIZE, total - DK_OBJECT_HEADER_SIZE);
    return dk_crc32c_mask(c);
}

int dk_object_encode(const dk_object *o, dk_buf *out)
{
    return dk_object_encode_typed(o, DK_OBJECT_PLAIN, out);
}

int dk_object_encode_typed(const dk_object *o, int type, dk_buf *out)
{
    if (type < DK_OBJECT_PLAIN || type >= DK_OBJECT_TYPES)
        return -EINVAL;
    if (o->n_sib > DK_OBJECT_MAX_SIBLINGS)
        return DK_ETOOBIG;
    uint64_t bound = 0;
    for (uint32_t i = 0; i < o->n_sib; i++) {
        const dk_sibling *s = &o->sib[i];
        if (s->write_time_ms < 0 || s->expiry_ms < 0 || (s->flags & ~DK_SIB_TOMBSTONE) ||
            ((s->flags & DK_SIB_TOMBSTONE) && s->value.len) || s->actor.incarnation == 0)
            return -EINVAL;
        if (s->value.len > DK_VALUE_MAX)
            return DK_ETOOBIG;
        bound += 1 + DK_NODE_ID_MAX + 6 * DK_VARINT_MAX + s->value.len;
    }
    size_t start = out->len;
    obj_summary sum;
    obj_summarise(o, &sum);
    uint8_t hdr[DK_OBJECT_HEADER_SIZE] = {0};
    hdr[OBJ_OFF_MAGIC] = DK_OBJECT_MAGIC0;
    hdr[OBJ_OFF_MAGIC + 1] = DK_OBJECT_MAGIC1;
    hdr[OBJ_OFF_VERSION] = type == DK_OBJECT_PLAIN ? DK_OBJECT_VERSION : DK_OBJECT_VERSION_TYPED;
    hdr[OBJ_OFF_TYPE] = (uint8_t)type;
    hdr[OBJ_OFF_FLAGS] = sum.flags;
    dk_put_u16(hdr + OBJ_OFF_NSIB, (uint16_t)o->n_sib);
    dk_put_u64(hdr + OBJ_OFF_NEWEST, (uint64_t)sum.newest);
    dk_put_u64(hdr + OBJ_OFF_EXPIRY, (uint64_t)sum.max_expiry);
    int rc = dk_buf_append(out, hdr, sizeof(hdr));
    if (rc)
        return rc;
    if ((rc = dk_vv_encode(&o->vv, out)) || (rc = dk_buf_reserve(out, (size_t)bound)))
        goto err;
    uint8_t *p = out->data + out->len;
    for (uint32_t i = 0; i < o->n_sib; i++) {
        const dk_sibling *s = &o->sib[i];
        size_t nlen = strnlen(s->actor.node, DK_NODE_ID_MAX);
        *p++ = (uint8_t)nlen;
        memcpy(p, s->actor.node, nlen);
        p += nlen;
        p += dk_put_varint(p, s->actor.incarnation);
        p += dk_put_varint(p, s->counter);
        p += dk_put_varint(p, (uint64_t)s->write_time_ms);
        p += dk_put_varint(p, (uint64_t)s->expiry_ms);
        p += dk_put_varint(p, s->flags);
        p += dk_put_varint(p, s->value.len);
        if (s->value.len)
            memcpy(p, s->value.ptr, s->value.len);
        p += s->value.len;
    }
    out->len = (size_t)(p - out->data);
    size_t total = out->len - start;
    if (total > UINT32_MAX) {
        rc = DK_ETOOBIG;
        goto err;
    }
    uint8_t *h = out->data + start;
    dk_put_u32(h + OBJ_OFF_LEN, (uint32_t)total);
    dk_put_u32(h + OBJ_OFF_CRC, obj_crc(h, total));
    return 0;
err:
    out->len = start;
    return rc;
}

static int obj_fail(char *err, size_t errlen, size_t off, const char *fmt, ...) DK_PRINTF(4, 5);

static int obj_fail(char *err, size_t errlen, size_t off, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "at offset %zu: ", off);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return DK_ECORRUPT;
}

/* Header checks shared by peek and decode; on failure sets *off and *what.
 * With head, in may be a prefix of the encoding (total_len >= in.len). */
static int obj_check_header(dk_slice in, int head, dk_object_header *h, size_t *off, const char **what)
{
    const uint8_t *p = in.ptr;
    if (in.len < DK_OBJECT_HEADER_SIZE) {
        *off = in.len;
        *what = "truncated header";
        return DK_ECORRUPT;
    }
    if (p[0] != DK_OBJECT_MAGIC0 || p[1] != DK_OBJECT_MAGIC1) {
        *off = OBJ_OFF_MAGIC;
        *what = "bad magic";
        return DK_ECORRUPT;
    }
    uint8_t version = p[OBJ_OFF_VERSION], type = p[OBJ_OFF_TYPE];
    if (version != DK_OBJECT_VERSION && version != DK_OBJECT_VERSION_TYPED) {
        *off = OBJ_OFF_VERSION;
        *what = "unsupported format version";
        return DK_ECORRUPT;
    }
    /* One encoding per type: version 1 is plain, version 2 names another. */
    if (version == DK_OBJECT_VERSION ? type != DK_OBJECT_PLAIN
                                     : type == DK_OBJECT_PLAIN || type >= DK_OBJECT_TYPES) {
        *off = OBJ_OFF_TYPE;
        *what = version == DK_OBJECT_VERSION ? "reserved bytes not zero" : "unknown object type";
        return DK_ECORRUPT;
    }
    if (p[OBJ_OFF_FLAGS] & ~OBJ_KNOWN_FLAGS) {
        *off = OBJ_OFF_FLAGS;
        *what = "unknown flags";
        return DK_ECORRUPT;
    }
    if (p[OBJ_OFF_RESERVED] != 0) {
        *off = OBJ_OFF_RESERVED;
        *what = "reserved bytes not zero";
        return DK_ECORRUPT;
    }
    uint64_t newest = dk_get_u64(p + OBJ_OFF_NEWEST), expiry = dk_get_u64(p + OBJ_OFF_EXPIRY);
    if (newest > INT64_MAX || expiry > INT64_MAX) {
        *off = newest > INT64_MAX ? OBJ_OFF_NEWEST : OBJ_OFF_EXPIRY;
        *what = "negative time";
        return DK_ECORRUPT;
    }
    uint32_t total = dk_get_u32(p + OBJ_OFF_LEN);
    if (head ? total < in.len : total != in.len) {
        *off = OBJ_OFF_LEN;
        *what = "total length does not match the value's size";
        return DK_ECORRUPT;
    }
    h->version = version;
    h->type = type;
    h->flags = p[OBJ_OFF_FLAGS];
    h->n_siblings = dk_get_u16(p + OBJ_OFF_NSIB);
    h->newest_write_ms = (int64_t)newest;
    h->max_expiry_ms = (int64_t)expiry;
    h->total_len = total;
    return 0;
}

int dk_object_peek(dk_slice in, dk_object_header *h)
{
    size_t off;
    const char *what;
    return obj_check_header(in, 0, h, &off, &what);
}

int dk_object_peek_head(dk_slice in, dk_object_header *h)
{
    size_t off;
    const char *what;
    return obj_check_header(in, 1, h, &off, &what);
}

/* Read one minimal-length varint at *pos; returns 0 on success. */
static int obj_varint(const uint8_t *base, size_t len, size_t *pos, uint64_t *v)
{
    size_t k = dk_get_varint(base + *pos, base + len, v);
    if (!k || k != dk_varint_len(*v))
        return -1; /* truncated, or not the shortest form encode writes */
    *pos += k;
    return 0;
}

/* How obj_decode checks: the CRC too, not the CRC (the engine checked the
 * bytes), or a prefix of the encoding (no CRC: it covers all of it). */
enum { OBJ_VERIFIED, OBJ_CHECK_CRC, OBJ_HEAD };

static int obj_decode(dk_slice in, int mode, dk_object *out, char *err, size_t errlen)
{
    dk_object_header h;
    size_t off;
    const char *what;
    int rc;
    out->n_sib = 0;
    out->vv.n = 0;
    if (obj_check_header(in, mode == OBJ_HEAD, &h, &off, &what)) {
        rc = obj_fail(err, errlen, off, "%s", what);
        goto err;
    }
    const uint8_t *p = in.ptr;
    /* len: the bytes at hand; total: the encoding's (more for a head). A
     * head decodes while every sibling's fields lie in it; values past
     * its end are left out (ptr NULL, len kept). */
    size_t len = in.len, total = h.total_len;
    uint32_t want = dk_get_u32(p + OBJ_OFF_CRC);
    if (mode == OBJ_CHECK_CRC && obj_crc(p, len) != want) {
        rc = obj_fail(err, errlen, OBJ_OFF_CRC, "checksum mismatch");
        goto err;
    }
    size_t pos = DK_OBJECT_HEADER_SIZE, used;
    rc = dk_vv_decode(p + pos, len - pos, &out->vv, &used);
    if (rc == DK_ECORRUPT) {
        rc = obj_fail(err, errlen, pos, "invalid version vector");
        goto err;
    }
    if (rc)
        goto err;
    pos += used;
    /* Each sibling takes at least 9 bytes: bound the allocation. */
    if (h.n_siblings > (total - pos) / 9) {
        rc = obj_fail(err, errlen, OBJ_OFF_NSIB, "%u siblings cannot fit in %zu bytes",
                      (unsigned)h.n_siblings, total - pos);
        goto err;
    }
    for (uint32_t i = 0; i < h.n_siblings; i++) {
        dk_sibling s;
        uint64_t inc, counter, wt, exp, flags, vlen;
        size_t at = pos;
        if (pos >= len)
            goto truncated;
        size_t nlen = p[pos++];
        if (nlen > len - pos || dk_actor_parse((const char *)p + pos, nlen, &s.actor) ||
            memchr(p + pos, '#', nlen)) {
            rc = obj_fail(err, errlen, at, "sibling %u: invalid node id", i);
            goto err;
        }
        pos += nlen;
        if (obj_varint(p, len, &pos, &inc) || obj_varint(p, len, &pos, &counter) ||
            obj_varint(p, len, &pos, &wt) || obj_varint(p, len, &pos, &exp) ||
            obj_varint(p, len, &pos, &flags) || obj_varint(p, len, &pos, &vlen))
            goto truncated;
        if (inc == 0 || inc > UINT32_MAX || counter == 0) {
            rc = obj_fail(err, errlen, at, "sibling %u: invalid dot", i);
            goto err;
        }
        if (wt > INT64_MAX || exp > INT64_MAX) {
            rc = obj_fail(err, errlen, at, "sibling %u: negative time", i);
            goto err;
        }
        if (flags & ~(uint64_t)DK_SIB_TOMBSTONE) {
            rc = obj_fail(err, errlen, at, "sibling %u: unknown flags 0x%llx", i, (unsigned long long)flags);
            goto err;
        }
        if (vlen > DK_VALUE_MAX || vlen > total - pos) {
            rc = obj_fail(err, errlen, pos, "sibling %u: value length %llu exceeds the data", i,
                          (unsigned long long)vlen);
            goto err;
        }
        if ((flags & DK_SIB_TOMBSTONE) && vlen) {
            rc = obj_fail(err, errlen, at, "sibling %u: tombstone with a value", i);
            goto err;
        }
        s.actor.incarnation = (uint32_t)inc;
        s.counter = counter;
        s.write_time_ms = (int64_t)wt;
        s.expiry_ms = (int64_t)exp;
        s.flags = (uint32_t)flags;
        s.value.ptr = vlen && vlen <= len - pos ? p + pos : NULL;
        s.value.len = (size_t)vlen;
        pos += (size_t)vlen;
        if ((rc = dk_object_add_sibling(out, &s)))
            goto err;
    }
    if (pos != total) {
        rc = obj_fail(err, errlen, pos, "%zu trailing bytes", total - pos);
        goto err;
    }
    obj_summary sum;
    obj_summarise(out, &sum);
    if (sum.flags != h.flags || sum.newest != h.newest_write_ms || sum.max_expiry != h.max_expiry_ms) {
        rc = obj_fail(err, errlen, OBJ_OFF_FLAGS, "header summary disagrees with the siblings");
        goto err;
    }
    return 0;
truncated:
    rc = obj_fail(err, errlen, pos, "truncated sibling or non-minimal varint");
err:
    dk_object_free(out);
    return rc;
}

int dk_object_decode(dk_slice in, dk_object *out, char *err, size_t errlen)
{
    return obj_decode(in, OBJ_CHECK_CRC, out, err, errlen);
}

int dk_object_decode_verified(dk_slice in, dk_object *out, char *err, size_t errlen)
{
    return obj_decode(in, OBJ_VERIFIED, out, err, errlen);
}

int dk_object_decode_head(dk_slice in, dk_object *out)
{
    return obj_decode(in, OBJ_HEAD, out, NULL, 0);
}

int dk_object_record_filter(dk_slice value, int64_t now_ms, int64_t gc_grace_ms)
{
    dk_object_header h;
    if (dk_object_peek(value, &h))
        return DK_RECORD_KEEP;
    int64_t dead_since;
    if (h.flags & DK_OBJECT_F_ALL_TOMBSTONES)
        dead_since = h.newest_write_ms;
    else if (h.max_expiry_ms != 0 && h.max_expiry_ms <= now_ms)
        dead_since = h.max_expiry_ms > h.newest_write_ms ? h.max_expiry_ms : h.newest_write_ms;
    else
        return DK_RECORD_KEEP;
    if (gc_grace_ms < 0)
        gc_grace_ms = 0;
    /* dead_since + gc_grace < now, without overflow (both are >= 0) */
    if (dead_since >= now_ms || (uint64_t)now_ms - (uint64_t)dead_since <= (uint64_t)gc_grace_ms)
        return DK_RECORD_KEEP;
    return DK_RECORD_DROP;
}

int dk_object_record_time(dk_slice value, int64_t *write_ms, int64_t *max_expiry_ms)
{
    dk_object_header h;
    int rc = dk_object_peek(value, &h);
    if (rc)
        return rc;
    *write_ms = h.newest_write_ms;
    *max_expiry_ms = h.max_expiry_ms;
    return 0;
}
