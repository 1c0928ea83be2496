/*
 * ae_serve.c - the answering side of anti-entropy exchanges (TREE_REQ and
 * KEYS_REQ from a peer that runs an exchange with this node).
 *
 *   TREE_REQ       hashes of the requested nodes of the group's tree,
 *                  computed on the loop from a copy of the leaves (no disk).
 *   KEYS_REQ LIST  a page of (key, hash) for the requested leaves, from a
 *                  scan on a worker bounded in bytes and in time.
 *   KEYS_REQ SYNC  merge the sent objects (dk_store_merge: the resolver
 *                  decides, siblings stay siblings), then read the asked
 *                  keys, on a worker; the answer is bounded in bytes and
 *                  may stop before the last key (the peer asks again).
 *
 * A group is found by name and signature in the layout this node's hook
 * maintains; none (another ring) answers DK_EMISMATCH, a layout still
 * being built DK_EUNAVAILABLE. The requester retries at its next round.
 * Every request is answered exactly once; the loop thread only decodes
 * and replies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "node/store.h"

static void serve_reply_tree(dk_rpc_req *q, int status, dk_slice hashes)
{
    dk_buf b = DK_BUF_INIT;
    dk_msg_tree t = {.status = status, .hashes = hashes};
    if (dk_msg_tree_encode(&b, &t) == 0)
        dk_rpc_reply(q, DK_MSG_TREE, b.data, b.len);
    else
        dk_rpc_reply(q, DK_MSG_ERROR, NULL, 0);
    dk_buf_free(&b);
}

void dk__ae_reply_keys_error(dk_rpc_req *q, int status)
{
    dk_buf b = DK_BUF_INIT;
    dk_msg_keys k = {.status = status};
    if (dk_msg_keys_encode(&b, &k) == 0)
        dk_rpc_reply(q, DK_MSG_KEYS, b.data, b.len);
    else
        dk_rpc_reply(q, DK_MSG_ERROR, NULL, 0);
    dk_buf_free(&b);
}

/* The group a request names in the live layout: its index, or a status. */
static int serve_group(dk_ae *ae, dk_slice name, uint64_t sig, int *g)
{
    if (!ae->live || !ae->layout)
        return DK_EUNAVAILABLE;
    *g = dk__ae_layout_find(ae->layout, name, sig);
    return *g < 0 ? DK_EMISMATCH : 0;
}

static void serve_tree(dk_ae *ae, dk_rpc_req *q, dk_slice body)
{
    dk_msg_tree_req m;
    int g = -1;
    if (dk_msg_tree_req_decode(body, &m) != 0) {
        serve_reply_tree(q, DK_ECORRUPT, (dk_slice){NULL, 0});
        return;
    }
    int rc = serve_group(ae, m.group, m.sig, &g);
    if (rc == 0 && (m.level > DK_MERKLE_DEPTH || m.nodes.len != dk_merkle_bitmap_len(m.level)))
        rc = DK_EMISMATCH; /* a tree of another shape */
    if (rc) {
        serve_reply_tree(q, rc, (dk_slice){NULL, 0});
        return;
    }
    dk_buf hashes = DK_BUF_INIT;
    dk_merkle_view_of(&ae->layout->g[g].tree, &ae->scratch);
    rc = dk_merkle_select(&ae->scratch, m.level, m.nodes, &hashes);
    serve_reply_tree(q, rc < 0 ? rc : 0, rc < 0 ? (dk_slice){NULL, 0} : dk_buf_slice(&hashes));
    dk_buf_free(&hashes);
}

/* ---- KEYS_REQ: one job type for LIST and SYNC ----------------------------- */

typedef struct serve_job {
    dk__job job;
    dk_rpc_req *q;
    dk__ae_layout *l;
    dk_buf body;       /* a copy of the request */
    dk_msg_keys_req m; /* decoded from body (its slices point there) */
    dk__ae_scan scan;  /* LIST */
    dk_buf out;        /* SYNC: the answer's entries */
    uint32_t n_out, merged;
    int rc;
} serve_job;

static void serve_sync(serve_job *s, dk_node *node)
{
    dk_slice it = s->m.entries;
    dk_keys_entry e;
    dk_buf raw = DK_BUF_INIT;
    size_t answered_bytes = 0;
    int full = 0;
    while (s->rc == 0 && dk_keys_entry_next(&it, &e)) {
        if (e.kind == DK_KEYS_OBJECT) {
            int changed = 0;
            int rc = dk_store_merge(node->store, e.key, e.object, &changed);
            if (rc == 0)
                s->merged += changed != 0;
            else if (rc != DK_ECORRUPT && rc != DK_ETOOBIG)
                s->rc = rc; /* a refused copy is logged by the store; others end the batch */
            continue;
        }
        if (e.kind != DK_KEYS_KEY || full)
            continue;
        int rc = dk__ae_get_raw(node, e.key, &raw);
        dk_keys_entry a = {.key = e.key, .kind = DK_KEYS_KEY};
        if (rc == 0 && raw.len > DK__AE_OBJECT_MAX)
            dk_log(DK_LOG_WARN,
                   "anti-entropy: a %zu-byte object is too large to send; repair its key "
                   "by reading it",
                   raw.len);
        else if (rc == 0 && raw.len > 0)
            a = (dk_keys_entry){.key = e.key, .kind = DK_KEYS_OBJECT, .object = dk_buf_slice(&raw)};
        else if (rc != DK_ENOTFOUND && rc != 0)
            s->rc = rc;
        if (s->rc == 0 && (answered_bytes == 0 || answered_bytes + raw.len <= DK__AE_SYNC_BYTES)) {
            s->rc = dk_keys_entry_encode(&s->out, &a);
            answered_bytes += a.object.len + 1;
            s->n_out++;
        } else {
            full = 1; /* the peer asks for the rest again */
        }
    }
    dk_buf_free(&raw);
}

/* Worker. */
static void serve_run(dk__job *j)
{
    serve_job *s = (serve_job *)j;
    if (s->m.op == DK_KEYS_LIST) {
        dk__ae_scan_run(j->c->node, &s->scan);
        s->rc = s->scan.rc;
    } else {
        serve_sync(s, j->c->node);
    }
}

/* Loop. */
static void serve_done(dk__job *j, int status)
{
    serve_job *s = (serve_job *)j;
    int rc = status ? status : s->rc;
    if (rc) {
        dk__ae_reply_keys_error(s->q, rc);
    } else {
        dk_buf b = DK_BUF_INIT;
        dk_msg_keys k = {.merged = s->merged};
        if (s->m.op == DK_KEYS_LIST) {
            k.more = (uint8_t)s->scan.more;
            k.upto = s->scan.more ? dk_buf_slice(&s->scan.last) : (dk_slice){NULL, 0};
            k.n_entries = s->scan.n;
            k.entries = dk_buf_slice(&s->scan.entries);
        } else {
            k.n_entries = s->n_out;
            k.entries = dk_buf_slice(&s->out);
        }
        if (dk_msg_keys_encode(&b, &k) == 0)
            dk_rpc_reply(s->q, DK_MSG_KEYS, b.data, b.len);
        else
            dk__ae_reply_keys_error(s->q, -EINVAL);
        dk_buf_free(&b);
    }
    dk__ae_layout_unref(s->l);
    dk__ae_scan_free(&s->scan);
    dk_buf_free(&s->body);
    dk_buf_free(&s->out);
    free(s);
}

static void serve_keys(dk_ae *ae, dk_rpc_req *q, dk_slice body)
{
    dk_msg_keys_req m;
    int g = -1;
    if (dk_msg_keys_req_decode(body, &m) != 0) {
        dk__ae_reply_keys_error(q, DK_ECORRUPT);
        return;
    }
    int rc = serve_group(ae, m.group, m.sig, &g);
    if (rc == 0 && m.op == DK_KEYS_LIST && m.leaves.len && m.leaves.len != DK_MERKLE_BITMAP_MAX)
        rc = DK_EMISMATCH;
    serve_job *s = rc ? NULL : calloc(1, sizeof(*s));
    if (rc == 0 && !s)
        rc = -ENOMEM;
    if (rc == 0)
        rc = dk_buf_append(&s->body, body.ptr, body.len);
    if (rc == 0) {
        s->q = q;
        s->l = ae->layout;
        dk__ae_layout_ref(s->l);
        s->job.run = serve_run;
        s->job.done = serve_done;
        if (dk_msg_keys_req_decode(dk_buf_slice(&s->body), &s->m) != 0) {
            rc = DK_ECORRUPT;
        } else if (s->m.op == DK_KEYS_LIST) {
            s->scan = (dk__ae_scan){
                .l = s->l,
                .g = g,
                .leaves = s->m.leaves.len ? s->m.leaves.ptr : NULL,
                .prefix = s->m.prefix,
                .from = s->m.from,
                .max_bytes = s->m.max_bytes < DK__AE_LIST_BYTES * 4 ? s->m.max_bytes : DK__AE_LIST_BYTES * 4,
                .budget_ns = DK__AE_LIST_NS,
            };
        }
        if (rc == 0)
            rc = dk__ae_job(ae, &s->job);
        if (rc)
            dk__ae_layout_unref(s->l);
    }
    if (rc == 0)
        return;
    if (s) {
        dk_buf_free(&s->body);
        free(s);
    }
    dk__ae_reply_keys_error(q, rc);
}

void dk__ae_serve(dk_ae *ae, dk_rpc_req *q, const dk_frame_header *h, dk_slice body)
{
    if (h->type == DK_MSG_TREE_REQ)
        serve_tree(ae, q, body);
    else
        serve_keys(ae, q, body);
}
