/*
 * lwwreg.c - the last-writer-wins register with hybrid logical clock
 * timestamps (crdt_state.h).
 *
 * An assignment replaces every entry the coordinator holds with one entry:
 * the write's dot, a timestamp and the text. Causal order is therefore
 * decided by dots, not clocks: a later assignment has seen the earlier
 * one's dot and drops it everywhere it arrives, whatever the clocks said.
 * Only assignments that did not see each other are concurrent; the join
 * keeps all of them (at most one per actor) and a read shows the one with
 * the latest timestamp, ties broken by dot (actor, then counter). Keeping
 * the losers rather than dropping them in the join is what keeps the join
 * associative when a map removes the field concurrently: a loser dropped
 * early could not come back once the winner is removed.
 *
 * Timestamps are hybrid logical clocks (Kulkarni et al.): wall time in ms
 * and a logical counter. A new timestamp is past the write's wall clock
 * and past every timestamp the object has seen (its registers' entries and
 * the times in its version vector): wall = max(now, seen.wall), logical =
 * seen.logical + 1 when the wall part did not move, else 0. So a node whose
 * clock runs ahead wins only the races against writes that had not yet
 * seen its writes; every write that follows one of its writes, through any
 * node, gets a later timestamp, and the skew stops deciding anything once
 * the other nodes have seen it. (Plain wall-clock LWW lets a node one hour
 * ahead win every concurrent write for that hour.)
 *
 * Body: uvar n >= 1, n x (dot, uvar wall, uvar logical, str text), sorted
 * by dot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crdt_state.h"

int crdt_hlc_cmp(crdt_hlc a, crdt_hlc b)
{
    if (a.wall != b.wall)
        return a.wall < b.wall ? -1 : 1;
    return (a.logical > b.logical) - (a.logical < b.logical);
}

void crdt_register_free(crdt_register *r)
{
    free(r->e);
    memset(r, 0, sizeof(*r));
}

int crdt_register_read(dk_rd *rd, const crdt_codec_ctx *cc, crdt_register *r)
{
    uint64_t n = dk_rd_uvar(rd);
    /* An entry takes at least 5 bytes; a register holds at least one. */
    if (rd->bad || n == 0 || n > dk_rd_left(rd) / 5) {
        rd->bad = 1;
        return -1;
    }
    if (crdt_grow((void **)&r->e, &r->cap, (uint32_t)n, sizeof(*r->e)))
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        crdt_reg_entry *e = &r->e[i];
        e->dot = crdt_read_dot(rd, cc);
        e->ts.wall = dk_rd_uvar(rd);
        e->ts.logical = dk_rd_uvar(rd);
        e->v = dk_rd_str(rd, DK_VALUE_MAX);
        if (rd->bad || (i && crdt_dot_cmp(r->e[i - 1].dot, e->dot) >= 0)) {
            rd->bad = 1;
            return -1;
        }
        r->n = (uint32_t)i + 1;
    }
    return 0;
}

void crdt_register_mark(const crdt_register *r, uint8_t *used)
{
    for (uint32_t i = 0; i < r->n; i++)
        used[r->e[i].dot.actor] = 1;
}

void crdt_register_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_register *r)
{
    dk_wr_uvar(w, r->n);
    for (uint32_t i = 0; i < r->n; i++) {
        crdt_write_dot(w, cc, r->e[i].dot);
        dk_wr_uvar(w, r->e[i].ts.wall);
        dk_wr_uvar(w, r->e[i].ts.logical);
        dk_wr_str(w, r->e[i].v);
    }
}

/* Total order on entries: timestamp, then dot, then the text (the last
 * only for damaged copies that share a dot). */
static int reg_entry_cmp(const crdt_reg_entry *a, const crdt_reg_entry *b)
{
    int c = crdt_hlc_cmp(a->ts, b->ts);
    if (c)
        return c;
    c = crdt_dot_cmp(a->dot, b->dot);
    return c ? c : dk_slice_cmp(a->v, b->v);
}

int crdt_register_join(const crdt_register *a, const uint64_t *ca, const crdt_register *b, const uint64_t *cb,
                       crdt_register *out)
{
    memset(out, 0, sizeof(*out));
    if (crdt_grow((void **)&out->e, &out->cap, a->n + b->n, sizeof(*out->e)))
        return -ENOMEM;
    uint32_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i >= a->n ? 1 : j >= b->n ? -1 : crdt_dot_cmp(a->e[i].dot, b->e[j].dot);
        if (c == 0) {
            const crdt_reg_entry *x = &a->e[i++], *y = &b->e[j++];
            out->e[out->n++] = reg_entry_cmp(x, y) >= 0 ? *x : *y;
        } else if (c < 0) {
            if (!crdt_covered(cb, a->e[i].dot))
                out->e[out->n++] = a->e[i];
            i++;
        } else {
            if (!crdt_covered(ca, b->e[j].dot))
                out->e[out->n++] = b->e[j];
            j++;
        }
    }
    return 0;
}

int crdt_register_apply(crdt_register *r, dk_slice text, const crdt_apply_ctx *ac)
{
    crdt_hlc seen = ac->floor;
    crdt_register_max_hlc(r, &seen);
    crdt_hlc ts = {.wall = ac->now_ms > seen.wall ? ac->now_ms : seen.wall, .logical = 0};
    if (ts.wall == seen.wall) {
        if (seen.logical == UINT64_MAX)
            return -ERANGE;
        ts.logical = seen.logical + 1;
    }
    if (crdt_grow((void **)&r->e, &r->cap, 1, sizeof(*r->e)))
        return -ENOMEM;
    /* Every entry held is observed: the assignment replaces them all. */
    r->e[0] = (crdt_reg_entry){.dot = ac->dot, .ts = ts, .v = text};
    r->n = 1;
    return 0;
}

void crdt_register_max_hlc(const crdt_register *r, crdt_hlc *max)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (crdt_hlc_cmp(r->e[i].ts, *max) > 0)
            *max = r->e[i].ts;
}

const crdt_reg_entry *crdt_register_winner(const crdt_register *r)
{
    const crdt_reg_entry *best = NULL;
    for (uint32_t i = 0; i < r->n; i++)
        if (!best || reg_entry_cmp(&r->e[i], best) > 0)
            best = &r->e[i];
    return best;
}
