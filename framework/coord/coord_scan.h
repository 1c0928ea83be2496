/*
 * coord_scan.h - prefix scans across the cluster (GET /kv?prefix=): one
 * page of every live key that starts with a prefix and sorts after a
 * cursor, in key order, whichever node coordinates it.
 *
 * The protocol. A key lives in one token range (ring.h), and every key of
 * a range has the same preference list. The coordinator takes its ring and
 * chooses, for every range, the readers a GET of one of its keys would
 * use: the first R alive nodes of the range's preference list (R = 1, a
 * quorum or N as X-Consistency says). It sends each chosen node one
 * SCAN_RANGE (rpc_scan.h) carrying the prefix, the cursor, the page limit
 * and the token spans that node reads for; a node returns, in key order,
 * its first `limit` live keys (> cursor, with the prefix) whose token lies
 * in those spans, plus whether it stopped early. Its own part runs as a
 * worker job on the local store, the same code the peers run.
 *
 * Why the answers make an exact page. Each part is complete up to its own
 * last key; a part that stopped early (MORE) bounds the page at its last
 * key. The page is the merge of every part up to the smallest such bound:
 * each key there came from every reader of its range, and the bounding
 * part alone supplied `limit` keys below the bound, so the first `limit`
 * keys of the merge are the first `limit` keys of the cluster. Duplicates
 * (R > 1) are reconciled with the conflict resolver's merge, as reads do,
 * and with R > 1 the nodes send tombstoned and expired objects too, so a
 * delete that one replica saw wins over a stale live copy. The cursor is
 * the page's last key, or the bound when the page ends on it; it is null
 * only when no part stopped early.
 *
 * A node that fails (RPC error, timeout, an ERROR answer) is dropped from
 * the scan and each of its ranges goes to the next alive node of that
 * range's preference list, in a new wave; so a dead node does not shorten
 * the result while another replica of each range is up. A range left with
 * fewer than R readers is reported in the page's gaps (its keys from the
 * readers it had are still listed): an incomplete page is never silent.
 *
 * Why the coordinator sends token spans rather than, say, the list of
 * nodes it considers down with each node recomputing preference lists:
 * the coordinator's ring alone decides who reads what, so the parts cover
 * every range exactly R times even while nodes' rings disagree after a
 * membership change, and a node only hashes each key and binary-searches
 * the spans instead of computing a preference list per key.
 *
 * Bounds. A part's answer is capped by bytes (max_bytes, at most a frame)
 * and entries, stopping early with MORE, so a page may hold fewer pairs
 * than the limit when values are large; the cursor continues it. An object
 * too large for a frame on its own is listed without its value (too_large).
 * Each wave's RPCs get request_timeout, and there are at most N waves.
 *
 * Threads: dk_coord_scan is called on the coordinator's loop and cb runs
 * there; store scans and the merge run on the loop's worker pool.
 *
 * Metrics: scans_total, scan_rpcs_total, scan_failovers_total (ranges moved
 * to another replica after a failure), scan_incomplete_total (pages with
 * gaps), scan_parts_served_total (SCAN_RANGE requests a node answered).
 */
#ifndef DK_COORD_SCAN_H
#define DK_COORD_SCAN_H

#include <stdint.h>
#include "coord/coordinator.h"
#include "dynkv/conflict.h"
#include "rpc/rpc_scan.h"
#include "util/buf.h"

#define DK_SCAN_GAP_IDS 9 /* preference list ids kept per gap (n_replicas is at most 9) */

typedef struct dk_coord_scan_req {
    dk_slice prefix; /* 0..DK_KEY_MAX bytes */
    dk_slice after;  /* the cursor: only keys > after; empty: from the first */
    uint32_t limit;  /* 1..DK_SCAN_LIMIT_MAX */
    int consistency; /* DK_CL_*; DEFAULT = cluster.read_consistency */
} dk_coord_scan_req;

/* One pair of a page. object is the reconciled encoding (node/object.h),
 * live at the page's now_ms; empty when the stored object is too large to
 * travel in a frame (the key is listed, its value is not). */
typedef struct dk_scan_pair {
    dk_slice key;
    dk_slice object;
} dk_scan_pair;

/* A token range (start, end] no node could be read for at the requested
 * consistency, and its preference list. */
typedef struct dk_scan_gap {
    dk_token start, end;
    uint32_t n_replicas;
    char replicas[DK_SCAN_GAP_IDS][DK_NODE_ID_MAX + 1];
} dk_scan_gap;

typedef struct dk_coord_scan_page {
    int status;          /* 0, or why there is no page */
    int64_t now_ms;      /* the time liveness was judged at */
    dk_scan_pair *pairs; /* in key order; borrow data */
    size_t n_pairs;
    int more; /* 1: continue after cursor; 0: the scan is over */
    uint8_t cursor[DK_KEY_MAX];
    size_t cursor_len;
    dk_scan_gap *gaps; /* ranges not read at the consistency asked */
    size_t n_gaps;
    uint32_t parts, failovers; /* node answers used; ranges moved after failures */
    dk_buf data;               /* the pairs' bytes */
} dk_coord_scan_page;

/* Completion, on the coordinator's loop. The callee owns page (never NULL)
 * and frees it with dk_coord_scan_page_free, on any thread. */
typedef void (*dk_coord_scan_cb)(void *arg, dk_coord_scan_page *page);

/*
 * Coordinate one page of a prefix scan. Everything needed is copied from
 * req. Returns 0 and cb runs exactly once later (never from inside this
 * call), with page->status 0 or an error (-ENOMEM, DK_ECORRUPT); or an
 * error and cb is never called: -EINVAL (bad lengths, limit or
 * consistency), DK_EUNAVAILABLE (no ring yet), DK_ECLOSED (stopping),
 * -ENOMEM. Loop thread.
 */
int dk_coord_scan(dk_coord *c, const dk_coord_scan_req *req, dk_coord_scan_cb cb, void *arg);

/* Free a page and everything it holds; NULL is a no-op. Any thread. */
void dk_coord_scan_page_free(dk_coord_scan_page *page);

/* ---- internal: the two halves every node runs, declared for unit tests ---- */

/*
 * One node's part (scan_replica.c): scan st for m's keys (prefix, > after,
 * token in m's spans) and append a SCAN_RESULT body to out. Counts only
 * live objects toward m->limit; with DK_SCAN_WITH_DEAD it lists dead ones
 * too, without it skips them. Stops early (MORE) at the limit, at
 * DK_SCAN_ENTRIES_MAX entries, or before an entry that would take the body
 * past m->max_bytes (the first entry always goes in). frame_cap > 0: an
 * entry that would not fit a body of frame_cap bytes on its own goes in
 * with an empty object. Returns 0 or the store's error (out then holds
 * garbage to discard), DK_EUNAVAILABLE while the store's read fence is up
 * (dk_store_set_read_fence). Worker thread.
 */
int dk__scan_local(dk_store *st, const dk_msg_scan_range *m, size_t frame_cap, int64_t now_ms, dk_buf *out);

/*
 * Merge parts (n SCAN_RESULT bodies, already decodable) into page (zeroed
 * by the caller, data initialised): the rule in the header comment above,
 * liveness judged at now_ms, duplicates folded with the resolvers' merge
 * (node/resolve.h). flags are the SCAN_RANGE flags the parts answered:
 * without DK_SCAN_WITH_DEAD a key with one copy is listed as its node sent
 * it (live there), undecoded.
 * Fills pairs, more, cursor and now_ms. Returns 0, -ENOMEM or DK_ECORRUPT.
 * Pure apart from the resolver (thread-safe); worker thread.
 */
int dk__scan_merge(const dk_slice *parts, size_t n, uint32_t limit, uint32_t flags, int64_t now_ms,
                   const dk_resolvers *rs, dk_coord_scan_page *page);
#endif /* DK_COORD_SCAN_H */
