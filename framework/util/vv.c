/*
 * vv.c - version vectors, object memory helpers and the DVV update/sync
 * operations (contracts in vv.h).
 *
 * A version vector is a sorted array of (actor, counter, time) rather than a
 * hash map: vectors are small (pruned to ~10 entries), sorted arrays make
 * compare/merge a single linear walk, and the sorted order is also the
 * canonical encoding order, so equal vectors always encode to equal bytes.
 *
 * Siblings are kept sorted by dot for the same reason: sync of (a, b) and of
 * (b, a) then produce the very same array, which the replicas' convergence
 * (and its tests) rely on. The alternative, keeping siblings in arrival
 * order, would be equal only as sets and would make byte comparison of
 * replicas (anti-entropy hashes) disagree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util/vv.h"
#include "util/coding.h"

/* ---- actors ------------------------------------------------------------ */

int dk_actor_cmp(const dk_actor *a, const dk_actor *b)
{
    int c = strcmp(a->node, b->node);
    if (c)
        return c;
    return (a->incarnation > b->incarnation) - (a->incarnation < b->incarnation);
}

static int vv_node_valid(const char *s, size_t len)
{
    if (len == 0 || len > DK_NODE_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int dk_actor_set(dk_actor *a, const char *node, uint32_t incarnation)
{
    if (!node || incarnation == 0)
        return -EINVAL;
    size_t len = strnlen(node, DK_NODE_ID_MAX + 1);
    if (!vv_node_valid(node, len))
        return -EINVAL;
    memset(a->node, 0, sizeof(a->node));
    memcpy(a->node, node, len);
    a->incarnation = incarnation;
    return 0;
}

int dk_actor_format(const dk_actor *a, char *buf, size_t len)
{
    size_t nlen = strnlen(a->node, DK_NODE_ID_MAX + 1);
    char inc[16] = "";
    size_t ilen = 0;
    if (a->incarnation != 1) {
        /* Render the incarnation by hand: snprintf would pull in a format
         * string for one number and cannot fail more cleanly. */
        char tmp[12];
        uint32_t x = a->incarnation;
        size_t t = 0;
        do {
            tmp[t++] = (char)('0' + x % 10);
            x /= 10;
        } while (x);
        inc[ilen++] = '#';
        while (t)
            inc[ilen++] = tmp[--t];
    }
    if (nlen + ilen + 1 > len)
        return -ENOSPC;
    memcpy(buf, a->node, nlen);
    memcpy(buf + nlen, inc, ilen);
    buf[nlen + ilen] = '\0';
    return 0;
}

int dk_actor_parse(const char *s, size_t len, dk_actor *out)
{
    const char *hash = memchr(s, '#', len);
    size_t nlen = hash ? (size_t)(hash - s) : len;
    if (!vv_node_valid(s, nlen))
        return -EINVAL;
    uint64_t inc = 1;
    if (hash) {
        const char *d = hash + 1, *end = s + len;
        if (d == end || (*d == '0') || end - d > 10)
            return -EINVAL;
        inc = 0;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9')
                return -EINVAL;
            inc = inc * 10 + (uint64_t)(*d - '0');
        }
        if (inc > UINT32_MAX)
            return -EINVAL;
    }
    memset(out->node, 0, sizeof(out->node));
    memcpy(out->node, s, nlen);
    out->incarnation = (uint32_t)inc;
    return 0;
}

/* ---- version vectors --------------------------------------------------- */

void dk_vv_init(dk_vv *v)
{
    v->e = NULL;
    v->n = v->cap = 0;
}

/* The frees below skip NULL themselves: a GET frees ~10 empty vectors and
 * sibling arrays, each a call into the allocator for nothing. */
void dk_vv_free(dk_vv *v)
{
    if (v->e)
        free(v->e);
    dk_vv_init(v);
}

static int vv_reserve(dk_vv *v, uint32_t n)
{
    if (n <= v->cap)
        return 0;
    uint32_t cap = v->cap ? v->cap : 4;
    while (cap < n) {
        if (cap > UINT32_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    dk_vv_entry *e = realloc(v->e, (size_t)cap * sizeof(*e));
    if (!e)
        return -ENOMEM;
    v->e = e;
    v->cap = cap;
    return 0;
}

int dk_vv_copy(dk_vv *dst, const dk_vv *src)
{
    if (dst == src)
        return 0;
    int rc = vv_reserve(dst, src->n);
    if (rc)
        return rc;
    if (src->n)
        memcpy(dst->e, src->e, (size_t)src->n * sizeof(*src->e));
    dst->n = src->n;
    return 0;
}

/* Index of a's entry, or of where it would be inserted (*found = 0). */
static uint32_t vv_find(const dk_vv *v, const dk_actor *a, int *found)
{
    uint32_t lo = 0, hi = v->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = dk_actor_cmp(&v->e[mid].actor, a);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

uint64_t dk_vv_get(const dk_vv *v, const dk_actor *a)
{
    int found;
    uint32_t i = vv_find(v, a, &found);
    return found ? v->e[i].counter : 0;
}

int dk_vv_set(dk_vv *v, const dk_actor *a, uint64_t counter, int64_t time_ms)
{
    int found;
    uint32_t i = vv_find(v, a, &found);
    if (found) {
        if (counter == 0) {
            memmove(&v->e[i], &v->e[i + 1], (size_t)(v->n - i - 1) * sizeof(*v->e));
            v->n--;
        } else {
            v->e[i].counter = counter;
            v->e[i].time_ms = time_ms;
        }
        return 0;
    }
    if (counter == 0)
        return 0;
    if (v->n == UINT32_MAX)
        return -ENOMEM;
    int rc = vv_reserve(v, v->n + 1);
    if (rc)
        return rc;
    memmove(&v->e[i + 1], &v->e[i], (size_t)(v->n - i) * sizeof(*v->e));
    v->e[i].actor = *a;
    v->e[i].counter = counter;
    v->e[i].time_ms = time_ms;
    v->n++;
    return 0;
}

int dk_vv_compare(const dk_vv *a, const dk_vv *b)
{
    int a_ahead = 0, b_ahead = 0;
    uint32_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : dk_actor_cmp(&a->e[i].actor, &b->e[j].actor);
        if (c < 0) {
            a_ahead |= a->e[i].counter > 0;
            i++;
        } else if (c > 0) {
            b_ahead |= b->e[j].counter > 0;
            j++;
        } else {
            a_ahead |= a->e[i].counter > b->e[j].counter;
            b_ahead |= b->e[j].counter > a->e[i].counter;
            i++;
            j++;
        }
    }
    if (a_ahead && b_ahead)
        return DK_VV_CONCURRENT;
    return a_ahead ? DK_VV_AFTER : b_ahead ? DK_VV_BEFORE : DK_VV_EQUAL;
}

int dk_vv_descends(const dk_vv *a, const dk_vv *b)
{
    int c = dk_vv_compare(a, b);
    return c == DK_VV_EQUAL || c == DK_VV_AFTER;
}

int dk_vv_merge(dk_vv *dst, const dk_vv *src)
{
    if (dst == src || src->n == 0)
        return 0;
    /* Build into a fresh array with one linear walk; on failure dst is
     * untouched. */
    dk_vv out;
    dk_vv_init(&out);
    if ((uint64_t)dst->n + src->n > UINT32_MAX)
        return -ENOMEM;
    int rc = vv_reserve(&out, dst->n + src->n);
    if (rc)
        return rc;
    uint32_t i = 0, j = 0;
    while (i < dst->n || j < src->n) {
        int c = i == dst->n ? 1 : j == src->n ? -1 : dk_actor_cmp(&dst->e[i].actor, &src->e[j].actor);
        if (c < 0) {
            out.e[out.n++] = dst->e[i++];
        } else if (c > 0) {
            out.e[out.n++] = src->e[j++];
        } else {
            dk_vv_entry e = dst->e[i];
            if (src->e[j].counter > e.counter)
                e.counter = src->e[j].counter;
            if (src->e[j].time_ms > e.time_ms)
                e.time_ms = src->e[j].time_ms;
            out.e[out.n++] = e;
            i++;
            j++;
        }
    }
    dk_vv_free(dst);
    *dst = out;
    return 0;
}

int dk_vv_covers(const dk_vv *v, const dk_actor *a, uint64_t counter)
{
    return counter <= dk_vv_get(v, a);
}

static int vv_is_dot_actor(const dk_object *o, const dk_actor *a)
{
    if (!o)
        return 0;
    for (uint32_t i = 0; i < o->n_sib; i++)
        if (dk_actor_cmp(&o->sib[i].actor, a) == 0)
            return 1;
    return 0;
}

void dk_vv_prune(dk_vv *v, const dk_object *keep_dots, uint32_t max_entries, int64_t max_age_ms,
                 int64_t now_ms)
{
    if (max_age_ms > 0) {
        uint32_t w = 0;
        for (uint32_t i = 0; i < v->n; i++) {
            /* now - time > max_age, written so it cannot overflow */
            int old = v->e[i].time_ms < now_ms &&
                      (uint64_t)now_ms - (uint64_t)v->e[i].time_ms > (uint64_t)max_age_ms;
            if (!old || vv_is_dot_actor(keep_dots, &v->e[i].actor))
                v->e[w++] = v->e[i];
        }
        v->n = w;
    }
    if (max_entries == 0)
        return;
    while (v->n > max_entries) {
        uint32_t victim = UINT32_MAX;
        for (uint32_t i = 0; i < v->n; i++) {
            if (vv_is_dot_actor(keep_dots, &v->e[i].actor))
                continue;
            /* strictly older wins; equal times keep the first (lowest actor) */
            if (victim == UINT32_MAX || v->e[i].time_ms < v->e[victim].time_ms)
                victim = i;
        }
        if (victim == UINT32_MAX)
            return; /* only protected entries remain */
        memmove(&v->e[victim], &v->e[victim + 1], (size_t)(v->n - victim - 1) * sizeof(*v->e));
        v->n--;
    }
}

int dk_vv_encode(const dk_vv *v, dk_buf *out)
{
    size_t need = DK_VARINT_MAX;
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->e[i].time_ms < 0)
            return -EINVAL;
        need += 1 + DK_NODE_ID_MAX + 3 * DK_VARINT_MAX;
    }
    int rc = dk_buf_reserve(out, need);
    if (rc)
        return rc;
    uint8_t *p = out->data + out->len;
    p += dk_put_varint(p, v->n);
    for (uint32_t i = 0; i < v->n; i++) {
        const dk_vv_entry *e = &v->e[i];
        size_t nlen = strnlen(e->actor.node, DK_NODE_ID_MAX);
        *p++ = (uint8_t)nlen;
        memcpy(p, e->actor.node, nlen);
        p += nlen;
        p += dk_put_varint(p, e->actor.incarnation);
        p += dk_put_varint(p, e->counter);
        p += dk_put_varint(p, (uint64_t)e->time_ms);
    }
    out->len = (size_t)(p - out->data);
    return 0;
}

/* A varint in its shortest form only, so that every accepted encoding is
 * the one dk_vv_encode writes (byte-exact round trips, stable checksums).
 * Returns the bytes used, 0 when truncated, overlong or non-minimal. */
static size_t vv_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    size_t k = dk_get_varint(p, end, v);
    return k && k == dk_varint_len(*v) ? k : 0;
}

int dk_vv_decode(const uint8_t *p, size_t len, dk_vv *out, size_t *consumed)
{
    const uint8_t *s = p, *end = p + len;
    uint64_t count;
    size_t k = vv_varint(p, end, &count);
    if (!k)
        return DK_ECORRUPT;
    p += k;
    /* Each entry takes at least 5 bytes: bound the allocation by the input. */
    if (count > (uint64_t)(end - p) / 5)
        return DK_ECORRUPT;
    /* An empty out with room decodes into its own array, so a reused
     * object (a coordinator's pooled read) allocates nothing; it stays
     * empty until the end, so an error still leaves it as it was. */
    int in_place = out->n == 0 && out->cap >= count;
    dk_vv tmp;
    dk_vv_init(&tmp);
    if (in_place) {
        tmp = *out;
    } else {
        int rc = vv_reserve(&tmp, (uint32_t)count);
        if (rc)
            return rc;
    }
    for (uint64_t i = 0; i < count; i++) {
        dk_vv_entry e;
        uint64_t inc, counter, t;
        if (p >= end)
            goto corrupt;
        size_t nlen = *p++;
        if ((size_t)(end - p) < nlen || !vv_node_valid((const char *)p, nlen))
            goto corrupt;
        memset(e.actor.node, 0, sizeof(e.actor.node));
        memcpy(e.actor.node, p, nlen);
        p += nlen;
        if (!(k = vv_varint(p, end, &inc)) || inc == 0 || inc > UINT32_MAX)
            goto corrupt;
        p += k;
        if (!(k = vv_varint(p, end, &counter)) || counter == 0)
            goto corrupt;
        p += k;
        if (!(k = vv_varint(p, end, &t)) || t > INT64_MAX)
            goto corrupt;
        p += k;
        e.actor.incarnation = (uint32_t)inc;
        e.counter = counter;
        e.time_ms = (int64_t)t;
        if (tmp.n && dk_actor_cmp(&tmp.e[tmp.n - 1].actor, &e.actor) >= 0)
            goto corrupt; /* unsorted or duplicate: not what we write */
        tmp.e[tmp.n++] = e;
    }
    if (!in_place)
        dk_vv_free(out);
    *out = tmp;
    *consumed = (size_t)(p - s);
    return 0;
corrupt:
    if (!in_place)
        dk_vv_free(&tmp);
    return DK_ECORRUPT;
}

/* ---- objects ----------------------------------------------------------- */

void dk_object_init(dk_object *o)
{
    dk_vv_init(&o->vv);
    o->sib = NULL;
    o->n_sib = o->cap_sib = 0;
}

void dk_object_free(dk_object *o)
{
    dk_vv_free(&o->vv);
    if (o->sib)
        free(o->sib);
    o->sib = NULL;
    o->n_sib = o->cap_sib = 0;
}

static int obj_reserve(dk_object *o, uint32_t n)
{
    if (n <= o->cap_sib)
        return 0;
    uint32_t cap = o->cap_sib ? o->cap_sib : 2;
    while (cap < n) {
        if (cap > UINT32_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    dk_sibling *s = realloc(o->sib, (size_t)cap * sizeof(*s));
    if (!s)
        return -ENOMEM;
    o->sib = s;
    o->cap_sib = cap;
    return 0;
}

int dk_object_add_sibling(dk_object *o, const dk_sibling *s)
{
    if (o->n_sib == UINT32_MAX)
        return -ENOMEM;
    int rc = obj_reserve(o, o->n_sib + 1);
    if (rc)
        return rc;
    o->sib[o->n_sib++] = *s;
    return 0;
}

int dk_object_copy(dk_object *dst, const dk_object *src)
{
    if (dst == src)
        return 0;
    dst->n_sib = 0;
    int rc = dk_vv_copy(&dst->vv, &src->vv);
    if (!rc)
        rc = obj_reserve(dst, src->n_sib);
    if (rc) {
        dk_object_free(dst);
        return rc;
    }
    if (src->n_sib)
        memcpy(dst->sib, src->sib, (size_t)src->n_sib * sizeof(*src->sib));
    dst->n_sib = src->n_sib;
    return 0;
}

int dk_object_live_count(const dk_object *o, int64_t now_ms)
{
    int n = 0;
    for (uint32_t i = 0; i < o->n_sib; i++) {
        const dk_sibling *s = &o->sib[i];
        if (s->flags & DK_SIB_TOMBSTONE)
            continue;
        if (s->expiry_ms != 0 && s->expiry_ms <= now_ms)
            continue;
        n++;
    }
    return n;
}

/* ---- DVV operations ---------------------------------------------------- */

static int dvv_dot_cmp(const dk_sibling *a, const dk_sibling *b)
{
    int c = dk_actor_cmp(&a->actor, &b->actor);
    if (c)
        return c;
    return (a->counter > b->counter) - (a->counter < b->counter);
}

static int dvv_sort_cmp(const void *a, const void *b)
{
    return dvv_dot_cmp(a, b);
}

/* Total order on the content of two siblings with the same dot, write time
 * first: picks one deterministically from damaged data, and keeps the newer
 * write when a pruned actor reused a dot (see dk_vv_prune in vv.h). */
static int dvv_content_cmp(const dk_sibling *a, const dk_sibling *b)
{
    if (a->write_time_ms != b->write_time_ms)
        return a->write_time_ms < b->write_time_ms ? -1 : 1;
    if (a->expiry_ms != b->expiry_ms)
        return a->expiry_ms < b->expiry_ms ? -1 : 1;
    if (a->flags != b->flags)
        return a->flags < b->flags ? -1 : 1;
    size_t n = a->value.len < b->value.len ? a->value.len : b->value.len;
    int c = n ? memcmp(a->value.ptr, b->value.ptr, n) : 0;
    if (c)
        return c;
    return (a->value.len > b->value.len) - (a->value.len < b->value.len);
}

static void dvv_reset(dk_object *out)
{
    out->vv.n = 0;
    out->n_sib = 0;
}

int dk_dvv_update(const dk_object *stored, const dk_write *w, dk_object *out)
{
    static const dk_vv empty = {NULL, 0, 0};
    const dk_vv *ctx = w->context ? w->context : &empty;
    uint64_t have = dk_vv_get(&stored->vv, &w->actor);
    uint64_t seen = dk_vv_get(ctx, &w->actor);
    uint64_t n = have > seen ? have : seen;
    int rc;
    if (n == UINT64_MAX) {
        dk_object_free(out);
        return -EOVERFLOW;
    }
    n++;

    dvv_reset(out);
    if ((rc = dk_vv_copy(&out->vv, &stored->vv)) || (rc = dk_vv_merge(&out->vv, ctx)) ||
        (rc = dk_vv_set(&out->vv, &w->actor, n, w->now_ms)))
        goto err;
    for (uint32_t i = 0; i < stored->n_sib; i++) {
        const dk_sibling *s = &stored->sib[i];
        if (dk_vv_covers(ctx, &s->actor, s->counter))
            continue; /* the client has seen it: this write supersedes it */
        if (s->expiry_ms != 0 && s->expiry_ms <= w->now_ms)
            continue;
        if ((rc = dk_object_add_sibling(out, s)))
            goto err;
    }
    dk_sibling ns = {
        .actor = w->actor,
        .counter = n,
        .write_time_ms = w->now_ms,
        .expiry_ms = w->expiry_ms,
        .flags = w->flags,
        .value = (w->flags & DK_SIB_TOMBSTONE) ? (dk_slice){NULL, 0} : w->value,
    };
    if ((rc = dk_object_add_sibling(out, &ns)))
        goto err;
    if (out->n_sib > 1)
        qsort(out->sib, out->n_sib, sizeof(*out->sib), dvv_sort_cmp);
    return 0;
err:
    dk_object_free(out);
    return rc;
}

/* Does o hold a sibling with s's dot? o's siblings need not be sorted
 * (objects may come from a decoder), so this is a scan; sibling counts are
 * bounded by max_siblings. */
static const dk_sibling *dvv_find_dot(const dk_object *o, const dk_sibling *s)
{
    for (uint32_t i = 0; i < o->n_sib; i++)
        if (dvv_dot_cmp(&o->sib[i], s) == 0)
            return &o->sib[i];
    return NULL;
}

/* Add the survivors of x against y (the other copy) to out; a dot held by
 * both copies is added twice and deduplicated by the caller. */
static int dvv_keep(const dk_object *x, const dk_object *y, dk_object *out)
{
    for (uint32_t i = 0; i < x->n_sib; i++) {
        const dk_sibling *s = &x->sib[i];
        if (!dvv_find_dot(y, s) && dk_vv_covers(&y->vv, &s->actor, s->counter))
            continue; /* y has seen this write and superseded it */
        int rc = dk_object_add_sibling(out, s);
        if (rc)
            return rc;
    }
    return 0;
}

int dk_dvv_sync(const dk_object *a, const dk_object *b, dk_object *out)
{
    int rc;
    dvv_reset(out);
    if ((rc = dk_vv_copy(&out->vv, &a->vv)) || (rc = dk_vv_merge(&out->vv, &b->vv)) ||
        (rc = dvv_keep(a, b, out)) || (rc = dvv_keep(b, a, out)))
        goto err;
    if (out->n_sib > 1)
        qsort(out->sib, out->n_sib, sizeof(*out->sib), dvv_sort_cmp);
    /* Drop duplicate dots (present in both copies, or twice in one). */
    uint32_t w = 0;
    for (uint32_t i = 0; i < out->n_sib; i++) {
        if (w && dvv_dot_cmp(&out->sib[w - 1], &out->sib[i]) == 0) {
            if (dvv_content_cmp(&out->sib[i], &out->sib[w - 1]) > 0)
                out->sib[w - 1] = out->sib[i];
            continue;
        }
        out->sib[w++] = out->sib[i];
    }
    out->n_sib = w;
    return 0;
err:
    dk_object_free(out);
    return rc;
}

const dk_object_api dk__object_api = {
    .struct_size = sizeof(dk_object_api),
    .actor_cmp = dk_actor_cmp,
    .vv_init = dk_vv_init,
    .vv_free = dk_vv_free,
    .vv_copy = dk_vv_copy,
    .vv_get = dk_vv_get,
    .vv_set = dk_vv_set,
    .vv_compare = dk_vv_compare,
    .vv_descends = dk_vv_descends,
    .vv_merge = dk_vv_merge,
    .vv_covers = dk_vv_covers,
    .vv_prune = dk_vv_prune,
    .object_init = dk_object_init,
    .object_free = dk_object_free,
    .object_add_sibling = dk_object_add_sibling,
    .object_copy = dk_object_copy,
    .object_live_count = dk_object_live_count,
    .dvv_update = dk_dvv_update,
    .dvv_sync = dk_dvv_sync,
};
