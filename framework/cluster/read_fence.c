/*
 * read_fence.c - the read fence's extent, its file, and the steps that
 * raise and lift it (see read_fence.h).
 *
 * The ranges live here as tokens and in the store as spans (copied on
 * every change: the store's readers are worker threads). Ranges added
 * twice (a plan installed again for the same move) are kept once.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "cluster/handoff_wait.h"
#include "cluster/read_fence.h"
#include "base/log.h"
#include "base/metrics.h"

struct dk__read_fence {
    dk_store *store;
    char path[1100];
    char dir[1030];
    char move[64];
    int whole;
    dk_token *start, *end;
    size_t n, cap;
    dk__handoff_wait *hw; /* the check after the end (handoff_wait.h) */
    int checking;         /* hw runs (the move is over here) */
    int restored;         /* came from the file: the table must converge first */
    uint64_t contact_at;  /* uv_now() when a restored fence saw contact */
};

static void rf_token_of(dk_slice key, uint64_t *hi, uint64_t *lo)
{
    dk_token t = dk_ring_key_token(key.ptr, key.len);
    *hi = t.hi;
    *lo = t.lo;
}

/* The store follows f (its spans copied). */
static void rf_apply(dk__read_fence *f)
{
    dk_store_span *sp = f->n ? calloc(f->n, sizeof(*sp)) : NULL;
    size_t n = sp ? f->n : 0;
    for (size_t i = 0; i < n; i++)
        sp[i] = (dk_store_span){f->start[i].hi, f->start[i].lo, f->end[i].hi, f->end[i].lo};
    /* ranges that cannot be copied: fence everything rather than nothing */
    dk_store_set_read_fence(f->store, f->whole || (f->n && !sp));
    if (dk_store_set_span_fence(f->store, rf_token_of, sp, n) != 0)
        dk_store_set_read_fence(f->store, 1);
    free(sp);
}

static int rf_add(dk__read_fence *f, dk_token s, dk_token e)
{
    for (size_t i = 0; i < f->n; i++)
        if (!dk_token_cmp(f->start[i], s) && !dk_token_cmp(f->end[i], e))
            return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        dk_token *a = realloc(f->start, cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        f->start = a;
        dk_token *b = realloc(f->end, cap * sizeof(*b));
        if (!b)
            return -ENOMEM;
        f->end = b;
        f->cap = cap;
    }
    f->start[f->n] = s;
    f->end[f->n] = e;
    f->n++;
    return 0;
}

/* ---- the file --------------------------------------------------------------- */

static void rf_hex(char out[33], dk_token t)
{
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, t.hi, t.lo);
}

static int rf_unhex(const char *s, dk_token *t)
{
    char hi[17], lo[17], *e1, *e2;
    if (!s || strlen(s) != 32)
        return -EINVAL;
    memcpy(hi, s, 16);
    hi[16] = 0;
    memcpy(lo, s + 16, 16);
    lo[16] = 0;
    t->hi = strtoull(hi, &e1, 16);
    t->lo = strtoull(lo, &e2, 16);
    return *e1 || *e2 ? -EINVAL : 0;
}

static int rf_write(const char *dir, const char *path, const char *text)
{
    char tmp[1120];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    for (size_t off = 0, len = strlen(text); off < len && !rc;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno != EINTR)
            rc = -errno;
        else if (w > 0)
            off += (size_t)w;
    }
    if (!rc && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return -errno;
    rc = fsync(d) ? -errno : 0;
    close(d);
    return rc;
}

static int rf_save(dk__read_fence *f)
{
    json_t *ranges = json_array();
    for (size_t i = 0; ranges && i < f->n; i++) {
        char s[33], e[33];
        rf_hex(s, f->start[i]);
        rf_hex(e, f->end[i]);
        json_array_append_new(ranges, json_pack("[s, s]", s, e));
    }
    json_t *o = json_pack("{s:s, s:b, s:o}", "move", f->move, "whole", f->whole, "ranges",
                          ranges ? ranges : json_array());
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    int rc = text ? rf_write(f->dir, f->path, text) : -ENOMEM;
    free(text);
    if (rc)
        dk_log(DK_LOG_WARN, "read fence: cannot save %s: %s (the fence is up, but a restart would forget it)",
               f->path, strerror(-rc));
    return rc;
}

/* Read the file (when there is one) into f. */
static void rf_load(dk__read_fence *f)
{
    json_error_t err;
    json_t *o = json_load_file(f->path, 0, &err);
    if (!o) {
        if (access(f->path, F_OK) == 0) {
            dk_log(DK_LOG_WARN,
                   "read fence: %s does not parse (%s): fencing every read until the handoff "
                   "check passes",
                   f->path, err.text);
            f->whole = 1;
        }
        return;
    }
    const char *move = json_string_value(json_object_get(o, "move"));
    snprintf(f->move, sizeof(f->move), "%s", move ? move : "");
    f->whole = json_is_true(json_object_get(o, "whole"));
    json_t *ranges = json_object_get(o, "ranges"), *r;
    size_t i;
    json_array_foreach(ranges, i, r)
    {
        dk_token s, e;
        if (rf_unhex(json_string_value(json_array_get(r, 0)), &s) ||
            rf_unhex(json_string_value(json_array_get(r, 1)), &e) || rf_add(f, s, e)) {
            f->whole = 1; /* unreadable: wider, never narrower */
            break;
        }
    }
    if (!json_is_array(ranges) && !f->whole)
        f->whole = 1;
    json_decref(o);
    dk_log(DK_LOG_INFO,
           "read fence: restored from %s (move %s, %s): no reads of %s until the handoff check "
           "passes",
           f->path, f->move[0] ? f->move : "?", f->whole ? "the whole store" : "token ranges",
           f->whole ? "this node" : "those ranges");
}

/* ---- the API ------------------------------------------------------------------- */

dk__read_fence *dk__read_fence_open(const char *data_dir, dk_store *store)
{
    dk__read_fence *f = calloc(1, sizeof(*f));
    if (!f || !(f->hw = dk__handoff_wait_new())) {
        free(f);
        return NULL;
    }
    f->store = store;
    snprintf(f->dir, sizeof(f->dir), "%s", data_dir && data_dir[0] ? data_dir : ".");
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, DK_READ_FENCE_FILE);
    rf_load(f);
    f->restored = dk__read_fence_up(f);
    if (f->restored)
        rf_apply(f);
    dk_metrics_set_gauge("handoff_read_fenced", f->restored);
    return f;
}

void dk__read_fence_free(dk__read_fence *f)
{
    if (!f)
        return;
    dk__handoff_wait_free(f->hw);
    free(f->start);
    free(f->end);
    free(f);
}

int dk__read_fence_up(const dk__read_fence *f)
{
    return f && (f->whole || f->n);
}

int dk__read_fence_whole(const dk__read_fence *f)
{
    return f && f->whole;
}

const char *dk__read_fence_move(const dk__read_fence *f)
{
    return f ? f->move : "";
}

int dk__read_fence_raise_whole(dk__read_fence *f, const char *sig)
{
    f->whole = 1;
    f->checking = 0;
    snprintf(f->move, sizeof(f->move), "%s", sig);
    rf_apply(f);
    dk_metrics_set_gauge("handoff_read_fenced", 1);
    return rf_save(f);
}

int dk__read_fence_raise_ranges(dk__read_fence *f, const char *sig, const dk_token *start,
                                const dk_token *end, size_t n)
{
    size_t before = f->n;
    int wider = 0;
    for (size_t i = 0; i < n; i++)
        if (rf_add(f, start[i], end[i]) != 0)
            wider = 1;
    if (wider)
        f->whole = 1; /* out of memory for the list: fence everything */
    if (f->n == before && !wider && !strcmp(f->move, sig))
        return 0; /* nothing new */
    int added = f->n > before || wider;
    f->checking = 0;
    snprintf(f->move, sizeof(f->move), "%s", sig);
    rf_apply(f);
    dk_metrics_set_gauge("handoff_read_fenced", 1);
    int rc = rf_save(f);
    return rc ? rc : added;
}

void dk__read_fence_lift(dk__read_fence *f)
{
    f->whole = 0;
    f->n = 0;
    f->move[0] = 0;
    f->checking = 0;
    f->restored = 0;
    rf_apply(f);
    dk_metrics_set_gauge("handoff_read_fenced", 0);
    if (unlink(f->path) != 0 && errno != ENOENT)
        dk_log(DK_LOG_WARN,
               "read fence: cannot remove %s: %s (a restart would fence reads again, for one "
               "handoff check)",
               f->path, strerror(errno));
}

/* ---- the steps ------------------------------------------------------------------ */

void dk__read_fence_raise_move(dk__read_fence *f, const char *self, const char *sig,
                               const dk_stream_want *want, size_t n)
{
    if (!n)
        return;
    dk_token *s = calloc(n, sizeof(*s)), *e = calloc(n, sizeof(*e));
    int added = 1;
    if (s && e) {
        for (size_t i = 0; i < n; i++) {
            s[i] = want[i].start;
            e[i] = want[i].end;
        }
        added = dk__read_fence_raise_ranges(f, sig, s, e, n) != 0;
    } else {
        dk__read_fence_raise_whole(f, sig);
    }
    free(s);
    free(e);
    if (added)
        dk_log(DK_LOG_INFO,
               "rebalance: %s receives %zu ranges in move %s: no reads of them here until every "
               "member counts it as their owner",
               self, n, sig);
}

void dk__read_fence_step(dk__read_fence *f, dk_cluster *c, int receiving, uint64_t listen_ms,
                         void (*kick)(void *arg), void *arg)
{
    const char *self[1] = {c->cfg->node.id};
    if (!dk__read_fence_up(f))
        return;
    if (receiving) {
        f->checking = 0; /* (still, or again) a receiver: the check starts when it is over */
        return;
    }
    if (f->restored) {
        int contact = dk_membership_contact(c->members);
        if (contact == 0)
            return;
        uint64_t now = uv_now(c->loop);
        if (!f->contact_at)
            f->contact_at = now;
        if (contact > 0 && now - f->contact_at < listen_ms)
            return;
        f->restored = 0;
    }
    if (!f->checking) {
        f->checking = 1;
        dk__handoff_wait_reset(f->hw);
        dk__handoff_wait_after(f->hw, kick, arg);
    }
    if (dk__handoff_wait_done(f->hw, c, dk__read_fence_move(f), self, 1))
        dk__read_fence_lift(f);
}
