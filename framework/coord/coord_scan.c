/*
 * coord_scan.c - the coordinator of a cluster prefix scan: who reads which
 * token ranges, the SCAN_RANGE fan-out in waves, failover of a failed
 * node's ranges to the next replica, and the final merge. The protocol and
 * why it gives exact pages are in coord_scan.h.
 *
 * State per page (a sop): the ring it was planned on (held to the end),
 * every range's preference list (N node indexes, from the ring's
 * scan_table), and per range the next list position not yet tried and how
 * many readers it has now. A node's state says whether the view calls it
 * alive, whether it failed during this page, and the ranges waiting to be
 * sent to it. Sending turns each
 * node's waiting ranges into spans (consecutive ranges joined) and one
 * part per DK_SCAN_SPANS_MAX spans; a failed part gives each of its ranges
 * to the range's next alive replica, and those go out as the next wave.
 * When no part is in flight, a worker job merges the answers and lists the
 * ranges left with fewer than R readers; a page whose only part is this
 * node's own (a single node) merges on that part's worker instead.
 *
 * The preference lists of every range depend only on the ring and N, so
 * they are computed once per ring and kept on the coordinator (a
 * scan_table, shared by reference with the pages using it): computing them
 * costs vnodes short ring walks, measured at 0.5 ms for 16 nodes and
 * 6.5 ms for 256, too much to spend on the loop for every page. A page
 * then costs the loop one alive check per node and one pass over the
 * ranges.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "coord/coord_scan.h"
#include "base/log.h"
#include "base/metrics.h"

#define SCAN_PAGE_BYTES (16u * 1024u * 1024u) /* all answers of a page, roughly */
#define SCAN_PART_MIN (256u * 1024u)
#define SCAN_PART_MAX (4u * 1024u * 1024u)

enum { PART_PENDING = 0, PART_OK, PART_FAILED };

/* Every range's preference list for one ring and N. refs counts the
 * coordinator's cache and the pages using it; loop thread only (a page's
 * merge job reads it on a worker while the page holds its reference). */
typedef struct scan_table {
    unsigned refs;
    dk_ring *ring; /* held */
    uint32_t n;
    size_t nv;
    uint32_t pref[]; /* nv * n node indexes */
} scan_table;

typedef struct sop sop;

typedef struct scan_node {
    char id[DK_NODE_ID_MAX + 1];
    char addr[DK_CONFIG_ADDR_MAX + 1];
    int alive, self, failed;
    uint32_t *waiting; /* ranges to send in the next wave */
    size_t n_waiting, cap_waiting;
} scan_node;

typedef struct scan_part {
    dk__job job; /* the local part */
    sop *op;
    struct scan_part *next;
    uint32_t node;
    uint32_t *ranges; /* the ranges this part reads */
    size_t n_ranges;
    dk_buf spans;
    uint32_t n_spans;
    int state, local_rc;
    int merge_here; /* the page's only part, local: merge on its worker */
    dk_buf answer;  /* SCAN_RESULT body */
} scan_part;

struct sop {
    dk__job merge;
    dk_coord *c;
    dk_coord_scan_cb cb;
    void *arg;
    dk_ring *ring;
    uint32_t n, r;        /* effective N, readers per range */
    size_t nv;            /* ranges */
    scan_table *table;    /* held */
    const uint32_t *pref; /* table->pref */
    uint8_t *next, *got;  /* per range: next list position, readers now */
    scan_node *nodes;
    size_t n_nodes;
    scan_part *parts;
    unsigned inflight;
    int launching, merged;
    uint8_t prefix[DK_KEY_MAX], after[DK_KEY_MAX];
    size_t prefix_len, after_len;
    uint32_t limit, flags, part_bytes;
    dk_coord_scan_page *page;
};

static void scan_table_unref(scan_table *t)
{
    if (!t || --t->refs)
        return;
    dk_ring_unref(t->ring);
    free(t);
}

/* The table of ring with n replicas, referenced: the coordinator's cached
 * one, or a new one that replaces it. NULL on -ENOMEM. */
static scan_table *scan_table_get(dk_coord *c, dk_ring *ring, uint32_t n)
{
    scan_table *t = c->scan_table;
    if (!t || t->ring != ring || t->n != n) {
        size_t nv = dk_ring_vnode_count(ring);
        t = malloc(sizeof(*t) + nv * n * sizeof(t->pref[0]));
        if (!t)
            return NULL;
        t->refs = 1;
        dk_ring_ref(ring);
        t->ring = ring;
        t->n = n;
        t->nv = nv;
        for (size_t i = 0; i < nv; i++) {
            dk_token start, end;
            dk_ring_range(ring, i, &start, &end);
            /* n <= the node count, so every list has n nodes. */
            dk_ring_preference_token(ring, end, n, t->pref + i * n);
        }
        scan_table_unref(c->scan_table);
        c->scan_table = t;
    }
    t->refs++;
    return t;
}

void dk__scan_table_drop(dk_coord *c)
{
    scan_table_unref(c->scan_table);
    c->scan_table = NULL;
}

void dk_coord_scan_page_free(dk_coord_scan_page *page)
{
    if (!page)
        return;
    free(page->pairs);
    free(page->gaps);
    dk_buf_free(&page->data);
    free(page);
}

static void sop_free(sop *op)
{
    while (op->parts) {
        scan_part *p = op->parts;
        op->parts = p->next;
        free(p->ranges);
        dk_buf_free(&p->spans);
        dk_buf_free(&p->answer);
        free(p);
    }
    for (size_t i = 0; i < op->n_nodes; i++)
        free(op->nodes[i].waiting);
    free(op->nodes);
    scan_table_unref(op->table);
    free(op->next);
    free(op->got);
    dk_ring_unref(op->ring);
    dk_coord_scan_page_free(op->page);
    free(op);
}

/* ---- who reads what ------------------------------------------------------------ */

static int sop_wait(scan_node *x, uint32_t range)
{
    if (x->n_waiting == x->cap_waiting) {
        size_t cap = x->cap_waiting ? x->cap_waiting * 2 : 64;
        uint32_t *w = realloc(x->waiting, cap * sizeof(*w));
        if (!w)
            return -ENOMEM;
        x->waiting = w;
        x->cap_waiting = cap;
    }
    x->waiting[x->n_waiting++] = range;
    return 0;
}

/* Give range i readers from its preference list until it has R or the
 * list is used up. Returns how many were added, or -ENOMEM. */
static int sop_assign(sop *op, uint32_t i)
{
    int added = 0;
    while (op->got[i] < op->r && op->next[i] < op->n) {
        scan_node *x = &op->nodes[op->pref[(size_t)i * op->n + op->next[i]++]];
        if (!x->alive || x->failed)
            continue;
        if (sop_wait(x, i) != 0)
            return -ENOMEM;
        op->got[i]++;
        added++;
    }
    return added;
}

static int sop_plan(sop *op)
{
    dk_coord *c = op->c;
    op->n_nodes = dk_ring_node_count(op->ring);
    op->nv = dk_ring_vnode_count(op->ring);
    op->nodes = calloc(op->n_nodes, sizeof(*op->nodes));
    op->table = scan_table_get(c, op->ring, op->n);
    op->next = calloc(op->nv, 1);
    op->got = calloc(op->nv, 1);
    if (!op->nodes || !op->table || !op->next || !op->got)
        return -ENOMEM;
    op->pref = op->table->pref;
    for (uint32_t i = 0; i < op->n_nodes; i++) {
        scan_node *x = &op->nodes[i];
        snprintf(x->id, sizeof(x->id), "%s", dk_ring_node_at(op->ring, i)->id);
        if (strcmp(x->id, c->self) == 0) {
            x->self = 1;
            /* a node still getting its data back does not answer for it */
            x->alive = !c->view.readable || c->view.readable(c->view.arg);
        } else if (c->view.peer(c->view.arg, x->id, x->addr, sizeof(x->addr), &x->alive) != 0 || !x->addr[0])
            x->alive = 0;
    }
    for (size_t i = 0; i < op->nv; i++)
        if (sop_assign(op, (uint32_t)i) < 0)
            return -ENOMEM;
    return 0;
}

/* ---- parts ------------------------------------------------------------------------ */

static int range_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void sop_span(sop *op, scan_part *p, uint32_t first, uint32_t last)
{
    dk_token s, e, unused;
    dk_ring_range(op->ring, first, &s, &unused);
    dk_ring_range(op->ring, last, &unused, &e);
    dk_msg_scan_span span = {s.hi, s.lo, e.hi, e.lo};
    uint8_t raw[DK_SCAN_SPAN_LEN];
    dk_msg_scan_span_put(raw, &span);
    dk_buf_append(&p->spans, raw, sizeof(raw)); /* room reserved by the caller */
    p->n_spans++;
}

/* Cut node x's waiting ranges (sorted, distinct) into parts of at most
 * DK_SCAN_SPANS_MAX spans, consecutive ranges joined into one span. */
static int sop_cut(sop *op, uint32_t node, scan_node *x)
{
    qsort(x->waiting, x->n_waiting, sizeof(*x->waiting), range_cmp);
    size_t i = 0;
    while (i < x->n_waiting) {
        scan_part *p = calloc(1, sizeof(*p));
        if (!p)
            return -ENOMEM;
        p->op = op;
        p->node = node;
        p->next = op->parts;
        op->parts = p;
        size_t from = i;
        /* Spans of this part: at most DK_SCAN_SPANS_MAX runs of consecutive ranges. */
        uint32_t runs = 0;
        size_t j = i;
        while (j < x->n_waiting && runs < DK_SCAN_SPANS_MAX) {
            size_t k = j + 1;
            while (k < x->n_waiting && x->waiting[k] == x->waiting[k - 1] + 1)
                k++;
            runs++;
            j = k;
        }
        p->ranges = malloc((j - from) * sizeof(*p->ranges));
        if (!p->ranges || dk_buf_reserve(&p->spans, (size_t)runs * DK_SCAN_SPAN_LEN) != 0)
            return -ENOMEM;
        memcpy(p->ranges, x->waiting + from, (j - from) * sizeof(*p->ranges));
        p->n_ranges = j - from;
        for (size_t k = from; k < j;) {
            size_t run = k + 1;
            while (run < j && x->waiting[run] == x->waiting[run - 1] + 1)
                run++;
            sop_span(op, p, x->waiting[k], x->waiting[run - 1]);
            k = run;
        }
        i = j;
    }
    x->n_waiting = 0;
    return 0;
}

static void sop_request(const sop *op, const scan_part *p, dk_msg_scan_range *m)
{
    *m = (dk_msg_scan_range){
        .prefix = {op->prefix, op->prefix_len},
        .after = {op->after, op->after_len},
        .limit = op->limit,
        .flags = op->flags,
        .max_bytes = op->part_bytes,
        .n_spans = p->n_spans,
        .spans = dk_buf_slice(&p->spans),
    };
}

static void sop_settle(sop *op);
static void sop_launch(sop *op);

/* A part failed: its node is out of this page, its ranges go to their next
 * replicas (sent by the caller's next sop_launch). */
static void sop_failed(sop *op, scan_part *p, int status)
{
    scan_node *x = &op->nodes[p->node];
    p->state = PART_FAILED;
    if (!x->failed)
        dk_log(DK_LOG_INFO, "scan: %s could not serve its part (%s: %s); its ranges go to other replicas",
               x->id, dk_err_name(status), dk_strerror(status));
    x->failed = 1;
    for (size_t i = 0; i < p->n_ranges; i++) {
        uint32_t r = p->ranges[i];
        op->got[r]--;
        int added = sop_assign(op, r);
        if (added < 0)
            op->page->status = added;
        else if (added > 0) {
            op->page->failovers += (uint32_t)added;
            dk_metrics_add("scan_failovers_total", (uint64_t)added);
        }
    }
}

/* Loop thread: an answer (or the call's failure) from a peer. */
static void sop_remote_done(void *arg, int status, const dk_frame_header *h, dk_slice body)
{
    scan_part *p = arg;
    sop *op = p->op;
    dk_msg_scan_result m;
    if (status == 0 && h->type == DK_MSG_SCAN_RESULT && dk_msg_scan_result_decode(body, &m) == 0 &&
        dk_buf_append(&p->answer, body.ptr, body.len) == 0) {
        p->state = PART_OK;
    } else {
        dk_msg_error e;
        if (status == 0)
            status = h->type == DK_MSG_ERROR && dk_msg_error_decode(body, &e) == 0 && e.code ? e.code
                                                                                             : DK_ECORRUPT;
        sop_failed(op, p, status);
    }
    op->inflight--;
    sop_launch(op);
}

static void sop_merge(sop *op);
static void sop_deliver(sop *op, int status);

/* Worker thread: this node's own part, and the page's merge when it is the
 * only part (one hop fewer for a single node). */
static void sop_local_run(dk__job *j)
{
    scan_part *p = (scan_part *)j;
    sop *op = p->op;
    dk_msg_scan_range m;
    sop_request(op, p, &m);
    p->local_rc = dk__scan_local(j->c->node->store, &m, 0, dk_now_ms(), &p->answer);
    if (p->local_rc == 0 && p->merge_here) {
        /* Nothing else of this page runs now: no other part exists. */
        p->state = PART_OK;
        sop_merge(op);
        op->merged = 1;
    }
}

/* Loop thread. */
static void sop_local_done(dk__job *j, int status)
{
    scan_part *p = (scan_part *)j;
    sop *op = p->op;
    int rc = status ? status : p->local_rc;
    if (rc == 0 && op->merged) {
        op->inflight--;
        sop_deliver(op, 0);
        return;
    }
    if (rc == 0) {
        p->state = PART_OK;
    } else {
        dk_buf_free(&p->answer);
        sop_failed(op, p, rc);
    }
    op->inflight--;
    sop_launch(op);
}

static int sop_send(sop *op, scan_part *p)
{
    scan_node *x = &op->nodes[p->node];
    if (x->self) {
        p->job.run = sop_local_run;
        p->job.done = sop_local_done;
        return dk__coord_job(op->c, &p->job);
    }
    dk_msg_scan_range m;
    dk_buf body = DK_BUF_INIT;
    sop_request(op, p, &m);
    int rc = dk_msg_scan_range_encode(&body, &m);
    if (rc == 0)
        rc = dk__coord_call(op->c, x->id, x->addr, DK_MSG_SCAN_RANGE, &body,
                            (uint64_t)op->c->cfg->cluster.request_timeout, sop_remote_done, p);
    dk_buf_free(&body);
    if (rc == 0)
        dk_metrics_add("scan_rpcs_total", 1);
    return rc;
}

/* Send every waiting range, wave after wave while sends fail at once;
 * finish when nothing is in flight any more. Loop thread. */
static void sop_launch(sop *op)
{
    if (op->launching)
        return;
    op->launching = 1;
    for (int again = 1; again && !op->page->status;) {
        again = 0;
        size_t waiting = 0;
        for (uint32_t i = 0; i < op->n_nodes; i++)
            waiting += op->nodes[i].n_waiting;
        if (waiting == 0)
            break;
        if (op->c->stopping) {
            op->page->status = DK_ECLOSED; /* no new wave while stopping */
            break;
        }
        scan_part *old = op->parts;
        for (uint32_t i = 0; i < op->n_nodes && !op->page->status; i++)
            if (op->nodes[i].n_waiting && sop_cut(op, i, &op->nodes[i]) != 0)
                op->page->status = -ENOMEM;
        if (!old && op->parts && !op->parts->next && op->nodes[op->parts->node].self)
            op->parts->merge_here = 1;
        for (scan_part *p = op->parts; p != old && !op->page->status; p = p->next) {
            int rc = sop_send(op, p);
            if (rc == 0) {
                op->inflight++;
                continue;
            }
            sop_failed(op, p, rc);
            again = 1;
        }
    }
    op->launching = 0;
    if (op->inflight == 0)
        sop_settle(op);
}

/* ---- the page ------------------------------------------------------------------------ */

static int sop_gaps(sop *op)
{
    dk_coord_scan_page *pg = op->page;
    for (size_t i = 0; i < op->nv; i++) {
        if (op->got[i] >= op->r)
            continue;
        const uint32_t *pref = op->pref + i * op->n;
        dk_token s, e;
        dk_ring_range(op->ring, i, &s, &e);
        dk_scan_gap *last = pg->n_gaps ? &pg->gaps[pg->n_gaps - 1] : NULL;
        if (last && i > 0 && op->got[i - 1] < op->r &&
            memcmp(pref, pref - op->n, op->n * sizeof(*pref)) == 0) {
            last->end = e; /* the same replicas, next range: one gap */
            continue;
        }
        if (pg->n_gaps % 64 == 0) {
            dk_scan_gap *g = realloc(pg->gaps, (pg->n_gaps + 64) * sizeof(*g));
            if (!g)
                return -ENOMEM;
            pg->gaps = g;
        }
        dk_scan_gap *g = &pg->gaps[pg->n_gaps++];
        memset(g, 0, sizeof(*g));
        g->start = s;
        g->end = e;
        for (uint32_t k = 0; k < op->n && k < DK_SCAN_GAP_IDS; k++)
            snprintf(g->replicas[g->n_replicas++], sizeof(g->replicas[0]), "%s", op->nodes[pref[k]].id);
    }
    return 0;
}

/* Merge the parts that answered into the page and list its gaps. Worker
 * thread, once every part is in. */
static void sop_merge(sop *op)
{
    dk_coord_scan_page *pg = op->page;
    if (pg->status)
        return;
    size_t n = 0;
    for (scan_part *p = op->parts; p; p = p->next)
        n += p->state == PART_OK;
    dk_slice *parts = malloc((n ? n : 1) * sizeof(*parts));
    if (!parts) {
        pg->status = -ENOMEM;
        return;
    }
    n = 0;
    for (scan_part *p = op->parts; p; p = p->next)
        if (p->state == PART_OK)
            parts[n++] = dk_buf_slice(&p->answer);
    pg->parts = (uint32_t)n;
    const dk_node *node = op->c->node;
    pg->status = dk__scan_merge(parts, n, op->limit, op->flags, dk_now_ms(), &node->resolvers, pg);
    if (pg->status == 0)
        pg->status = sop_gaps(op);
    free(parts);
}

/* Answer the caller and free op. Loop thread. */
static void sop_deliver(sop *op, int status)
{
    dk_coord_scan_page *pg = op->page;
    op->page = NULL;
    if (status && !pg->status)
        pg->status = status;
    if (pg->status == 0 && pg->n_gaps)
        dk_metrics_add("scan_incomplete_total", 1);
    op->cb(op->arg, pg);
    sop_free(op);
}

/* Worker thread. */
static void sop_merge_run(dk__job *j)
{
    sop_merge((sop *)j);
}

/* Loop thread. */
static void sop_merge_done(dk__job *j, int status)
{
    sop_deliver((sop *)j, status);
}

/* Queue the merge. Returns 0 or the queueing error. */
static int sop_finish(sop *op)
{
    op->merge.run = sop_merge_run;
    op->merge.done = sop_merge_done;
    return dk__coord_job(op->c, &op->merge);
}

/* The last part is in: merge, or, with no worker to merge on, answer the
 * error from here (a part's completion callback, never dk_coord_scan). */
static void sop_settle(sop *op)
{
    int rc = sop_finish(op);
    if (rc)
        sop_deliver(op, rc);
}

int dk_coord_scan(dk_coord *c, const dk_coord_scan_req *req, dk_coord_scan_cb cb, void *arg)
{
    if (req->prefix.len > DK_KEY_MAX || req->after.len > DK_KEY_MAX || req->limit < 1 ||
        req->limit > DK_SCAN_LIMIT_MAX || req->consistency < DK_CL_DEFAULT || req->consistency > DK_CL_ALL)
        return -EINVAL;
    if (c->stopping)
        return DK_ECLOSED;
    sop *op = calloc(1, sizeof(*op));
    if (!op)
        return -ENOMEM;
    op->c = c;
    op->cb = cb;
    op->arg = arg;
    op->page = calloc(1, sizeof(*op->page));
    op->ring = c->view.ring(c->view.arg);
    int rc = op->page ? 0 : -ENOMEM;
    if (rc == 0 && (!op->ring || dk_ring_node_count(op->ring) == 0))
        rc = DK_EUNAVAILABLE;
    if (rc) {
        sop_free(op);
        return rc;
    }
    dk_buf_init(&op->page->data);
    uint32_t want = (uint32_t)c->cfg->cluster.n_replicas;
    size_t count = dk_ring_node_count(op->ring);
    op->n = want < COORD_N_MAX ? want : COORD_N_MAX;
    if (op->n > count)
        op->n = (uint32_t)count;
    int cl = req->consistency == DK_CL_DEFAULT ? c->cfg->cluster.read_consistency : req->consistency;
    op->r = (uint32_t)dk__coord_needed(cl, op->n);
    /* One reader per key lists only what it sees live; several send their
     * dead copies too, so the reconciliation can see a delete win. */
    op->flags = op->r > 1 ? DK_SCAN_WITH_DEAD : 0;
    op->limit = req->limit;
    if (req->prefix.len)
        memcpy(op->prefix, req->prefix.ptr, req->prefix.len);
    op->prefix_len = req->prefix.len;
    if (req->after.len)
        memcpy(op->after, req->after.ptr, req->after.len);
    op->after_len = req->after.len;
    rc = sop_plan(op);
    if (rc) {
        sop_free(op);
        return rc;
    }
    size_t parts = 0;
    for (size_t i = 0; i < op->n_nodes; i++)
        parts += op->nodes[i].n_waiting ? 1 : 0;
    size_t budget = parts ? SCAN_PAGE_BYTES / parts : SCAN_PART_MAX;
    op->part_bytes = (uint32_t)(budget < SCAN_PART_MIN   ? SCAN_PART_MIN
                                : budget > SCAN_PART_MAX ? SCAN_PART_MAX
                                                         : budget);
    dk_metrics_add("scans_total", 1);
    /* Hold the op across the first wave so that nothing finishes before
     * every part is out, and the answer is never given from here. */
    op->inflight = 1;
    sop_launch(op);
    if (--op->inflight == 0 && (rc = sop_finish(op)) != 0) {
        sop_free(op);
        return rc;
    }
    return 0;
}
