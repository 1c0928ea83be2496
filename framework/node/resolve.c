/*
 * resolve.c - see resolve.h. The choice is a table indexed by the type
 * byte of the object header, filled by dk_node_open; no resolver is ever
 * called on an object of another type, so a resolver needs no idea that
 * other types exist.
 *
 * Outputs are encoded here, right after the resolver built them, and a
 * typed resolver's release runs at once: the alternative, handing decoded
 * outputs back to callers that fold several merges (the coordinator's
 * reconciliation), would leave the plugin's buffers alive across calls
 * with nobody clearly owning them.
 */
#include <errno.h>
#include <string.h>

#include "node/resolve.h"
#include "dynkv/plugin.h"
#include "base/metrics.h"
#include "util/vv.h"

/* The ops and resolver of type, or NULL when the node has none. */
static const dk_conflict_ops *resolve_ops(const dk_resolvers *rs, int type, dk_resolver **r)
{
    if (type < 0 || type >= DK_OBJECT_TYPES || !rs->ops[type])
        return NULL;
    *r = rs->r[type];
    return rs->ops[type];
}

/* Encode the resolver's output o into out (replaced), then let the
 * resolver release what it built for it. */
static int resolve_encode(const dk_conflict_ops *ops, dk_resolver *r, int type, dk_object *o, dk_buf *out)
{
    dk_buf_reset(out);
    int rc = dk_object_encode_typed(o, type, out);
    if (DK_OPS_HAS(ops, release))
        ops->release(r, o);
    return rc;
}

int dk_resolve_update(const dk_resolvers *rs, int type, dk_slice stored_raw, const dk_object *stored,
                      const dk_write *w, dk_buf *out)
{
    dk_resolver *r;
    const dk_conflict_ops *ops = resolve_ops(rs, type, &r);
    if (!ops)
        return DK_EUNSUPPORTED;
    dk_object empty, next;
    dk_object_init(&empty);
    dk_object_init(&next);
    const dk_object *base = stored;
    if (stored_raw.len) {
        dk_object_header h;
        if (dk_object_peek(stored_raw, &h))
            return DK_ECORRUPT;
        if (h.type != type) {
            /* A deleted plain key may become a CRDT key; a live one (or
             * any CRDT key, which is never deleted) may not change type. */
            if (dk_object_live_count(stored, w->now_ms) > 0)
                return DK_EWRONGTYPE;
            base = &empty;
        }
    }
    int rc = ops->update(r, base, w, &next);
    if (rc == 0)
        rc = resolve_encode(ops, r, type, &next, out);
    dk_object_free(&next);
    return rc;
}

int dk_resolve_merge(const dk_resolvers *rs, dk_slice a_raw, const dk_object *a, dk_slice b_raw,
                     const dk_object *b, dk_buf *out)
{
    dk_object_header ha, hb;
    if (dk_object_peek(a_raw, &ha) || dk_object_peek(b_raw, &hb))
        return DK_ECORRUPT;
    /* Equal copies, the common case of a read or a repeated replication:
     * merge is idempotent, so skip the resolver (a large CRDT costs a full
     * decode and encode). */
    if (a_raw.len == b_raw.len && memcmp(a_raw.ptr, b_raw.ptr, a_raw.len) == 0) {
        dk_buf_reset(out);
        return dk_buf_append(out, a_raw.ptr, a_raw.len);
    }
    if (ha.type != hb.type) {
        dk_slice win = ha.type > hb.type ? a_raw : b_raw;
        dk_metrics_add("object_type_conflicts_total", 1);
        dk_buf_reset(out);
        return dk_buf_append(out, win.ptr, win.len);
    }
    dk_resolver *r;
    const dk_conflict_ops *ops = resolve_ops(rs, ha.type, &r);
    if (!ops)
        return DK_EUNSUPPORTED;
    dk_object next;
    dk_object_init(&next);
    int rc = ops->merge(r, a, b, &next);
    if (rc == 0)
        rc = resolve_encode(ops, r, ha.type, &next, out);
    dk_object_free(&next);
    return rc;
}

int dk_resolve_value(const dk_resolvers *rs, dk_slice raw, const dk_object *obj,
                     void (*sink)(void *arg, dk_slice value), void *arg)
{
    dk_object_header h;
    if (dk_object_peek(raw, &h))
        return DK_ECORRUPT;
    dk_resolver *r;
    const dk_conflict_ops *ops = resolve_ops(rs, h.type, &r);
    if (h.type == DK_OBJECT_PLAIN || !ops || !DK_OPS_HAS(ops, value))
        return DK_EUNSUPPORTED;
    return ops->value(r, obj, sink, arg);
}
