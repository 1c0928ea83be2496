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
#include "base/metrics.h"
#include "node/supersede.h"
#include "util/vv.h"

/* The resolver of type, or NULL when the node has none. */
static const dk_resolver_ref *resolve_ref(const dk_resolvers *rs, int type)
{
    if (type < 0 || type >= DK_OBJECT_TYPES || !rs->by_type[type].ops)
        return NULL;
    return &rs->by_type[type];
}

/* Encode the resolver's output o into out (replaced), then let the
 * resolver release what it built for it. */
static int resolve_encode(const dk_resolver_ref *r, int type, dk_object *o, dk_buf *out)
{
    dk_buf_reset(out);
    int rc = dk_object_encode_typed(o, type, out);
    dk_resolver_release(r, o);
    return rc;
}

/* Whether o keeps a sibling whose value was not read (a head's). */
static int resolve_keeps_unread(const dk_object *o)
{
    for (uint32_t i = 0; i < o->n_sib; i++)
        if (dk_sibling_unread(&o->sib[i]))
            return 1;
    return 0;
}

/* dk_resolve_update, or with head dk_resolve_update_head. */
static int resolve_update(const dk_resolvers *rs, int type, dk_slice stored_raw, int head,
                          const dk_object *stored, const dk_write *w, dk_buf *out)
{
    const dk_resolver_ref *r = resolve_ref(rs, type);
    if (!r)
        return DK_EUNSUPPORTED;
    if (head && !dk_resolver_versions_only(r))
        return 1;
    dk_object empty, next;
    dk_object_init(&empty);
    dk_object_init(&next);
    const dk_object *base = stored;
    if (stored_raw.len) {
        dk_object_header h;
        if (head ? dk_object_peek_head(stored_raw, &h) : dk_object_peek(stored_raw, &h))
            return DK_ECORRUPT;
        if (h.type != type) {
            /* A deleted plain key may become a CRDT key; a live one (or
             * any CRDT key, which is never deleted) may not change type. */
            if (dk_object_live_count(stored, w->now_ms) > 0)
                return DK_EWRONGTYPE;
            base = &empty;
        }
    }
    int rc = dk_resolver_update(r, base, w, &next);
    if (rc == 0 && head && resolve_keeps_unread(&next)) {
        dk_resolver_release(r, &next);
        rc = 1;
    } else if (rc == 0) {
        rc = resolve_encode(r, type, &next, out);
    }
    dk_object_free(&next);
    return rc;
}

int dk_resolve_update(const dk_resolvers *rs, int type, dk_slice stored_raw, const dk_object *stored,
                      const dk_write *w, dk_buf *out)
{
    return resolve_update(rs, type, stored_raw, 0, stored, w, out);
}

int dk_resolve_head_capable(const dk_resolvers *rs, int type)
{
    const dk_resolver_ref *r = resolve_ref(rs, type);
    return r && dk_resolver_versions_only(r);
}

int dk_resolve_update_head(const dk_resolvers *rs, int type, dk_slice stored_head, const dk_object *stored,
                           const dk_write *w, dk_buf *out)
{
    return resolve_update(rs, type, stored_head, 1, stored, w, out);
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
    const dk_resolver_ref *r = resolve_ref(rs, ha.type);
    if (!r)
        return DK_EUNSUPPORTED;
    /* One copy supersedes the other (the usual replication or repair of
     * a newer write): it is the merge, without the resolver's decode,
     * merge and encode. */
    int b_wins = dk_object_supersedes(a_raw, a, b_raw, b);
    if (b_wins || dk_object_supersedes(b_raw, b, a_raw, a)) {
        dk_slice win = b_wins ? b_raw : a_raw;
        dk_metrics_add("merges_superseded_total", 1);
        dk_buf_reset(out);
        return dk_buf_append(out, win.ptr, win.len);
    }
    dk_metrics_add("merges_resolved_total", 1);
    dk_object next;
    dk_object_init(&next);
    int rc = dk_resolver_merge(r, a, b, &next);
    if (rc == 0)
        rc = resolve_encode(r, ha.type, &next, out);
    dk_object_free(&next);
    return rc;
}

int dk_resolve_value(const dk_resolvers *rs, dk_slice raw, const dk_object *obj,
                     void (*sink)(void *arg, dk_slice value), void *arg)
{
    dk_object_header h;
    if (dk_object_peek(raw, &h))
        return DK_ECORRUPT;
    const dk_resolver_ref *r = resolve_ref(rs, h.type);
    if (h.type == DK_OBJECT_PLAIN || !r)
        return DK_EUNSUPPORTED;
    return dk_resolver_value(r, obj, sink, arg);
}
