/*
 * test-ring.c - the consistent-hash ring: balance, weights, minimal
 * movement on join, preference-list rules (no repeats, racks, dcs),
 * determinism, tiny rings, reference counting and snapshot swapping.
 *
 * Keys are generated from a fixed-seed PRNG so every run sees the same
 * sample; the balance bounds hold for the node ids used here (with 256
 * vnodes a node's share has a relative spread of about 6%, so a bound of
 * 10% is a property of these ids, not of every possible cluster).
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#include "ring/ring.h"

#define N_KEYS 100000

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* A random key of 8..39 bytes into buf; returns its length. */
static size_t rng_key(uint8_t *buf)
{
    size_t len = 8 + rng_next() % 32;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)rng_next();
    return len;
}

static void node_set(dk_ring_node *n, const char *id, const char *dc, const char *rack, uint32_t weight)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "%s", id);
    snprintf(n->dc, sizeof(n->dc), "%s", dc);
    snprintf(n->rack, sizeof(n->rack), "%s", rack);
    n->weight = weight;
}

/* nodes "node-1".."node-<count>", one dc, one rack, weight 1. */
static dk_ring *ring_plain(size_t count, uint64_t version)
{
    dk_ring_node nodes[16];
    for (size_t i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof(id), "node-%zu", i + 1);
        node_set(&nodes[i], id, "", "", 1);
    }
    dk_ring *r = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(nodes, count, 0, version, &r), 0);
    return r;
}

static uint32_t primary_of(const dk_ring *r, const uint8_t *key, size_t len)
{
    uint32_t out[1];
    CU_ASSERT_EQUAL(dk_ring_preference(r, key, len, 1, out), 1);
    return out[0];
}

static void test_balance(void)
{
    dk_ring *r = ring_plain(5, 1);
    CU_ASSERT_EQUAL(dk_ring_node_count(r), 5);
    CU_ASSERT_EQUAL(dk_ring_vnode_count(r), 5 * 256);
    double sum = 0;
    for (uint32_t i = 0; i < 5; i++) {
        double own = dk_ring_ownership(r, i);
        sum += own;
        CU_ASSERT(own > 0.2 * 0.9 && own < 0.2 * 1.1);
    }
    CU_ASSERT_DOUBLE_EQUAL(sum, 1.0, 1e-9);

    unsigned count[5] = {0};
    rng_state = 42;
    for (int k = 0; k < N_KEYS; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        count[primary_of(r, key, len)]++;
    }
    for (uint32_t i = 0; i < 5; i++) {
        double share = (double)count[i] / N_KEYS;
        CU_ASSERT(share > 0.2 * 0.9 && share < 0.2 * 1.1);
        /* The sample agrees with the computed ownership (within ~3 sigma). */
        CU_ASSERT_DOUBLE_EQUAL(share, dk_ring_ownership(r, i), 0.005);
    }
    CU_ASSERT_EQUAL(dk_ring_ownership(r, 5), 0.0);
    dk_ring_unref(r);
}

static void test_weights(void)
{
    dk_ring_node nodes[2];
    node_set(&nodes[0], "light", "", "", 1);
    node_set(&nodes[1], "heavy", "", "", 2);
    dk_ring *r = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(nodes, 2, 0, 1, &r), 0);
    CU_ASSERT_EQUAL(dk_ring_vnode_count(r), 3 * 256);
    int light = dk_ring_find(r, "light"), heavy = dk_ring_find(r, "heavy");
    CU_ASSERT_FATAL(light >= 0 && heavy >= 0);
    double ratio = dk_ring_ownership(r, (uint32_t)heavy) / dk_ring_ownership(r, (uint32_t)light);
    CU_ASSERT(ratio > 2 * 0.85 && ratio < 2 * 1.15);

    unsigned count[2] = {0};
    rng_state = 7;
    for (int k = 0; k < N_KEYS; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        count[primary_of(r, key, len)]++;
    }
    ratio = (double)count[heavy] / count[light];
    CU_ASSERT(ratio > 2 * 0.85 && ratio < 2 * 1.15);
    dk_ring_unref(r);
}

static int list_has(const uint32_t *l, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (l[i] == x)
            return 1;
    return 0;
}

static void test_add_node_moves_little(void)
{
    dk_ring *r5 = ring_plain(5, 1), *r6 = ring_plain(6, 2);
    int added = dk_ring_find(r6, "node-6");
    CU_ASSERT_FATAL(added >= 0);
    CU_ASSERT_EQUAL(dk_ring_find(r5, "node-6"), DK_ENOTFOUND);
    unsigned moved = 0, wrong_target = 0, list_changed_without_new = 0;
    rng_state = 99;
    for (int k = 0; k < N_KEYS; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        uint32_t a[3], b[3];
        CU_ASSERT_EQUAL(dk_ring_preference(r5, key, len, 3, a), 3);
        CU_ASSERT_EQUAL(dk_ring_preference(r6, key, len, 3, b), 3);
        /* Compare by id: indexes of two different rings are unrelated. */
        if (strcmp(dk_ring_node_at(r5, a[0])->id, dk_ring_node_at(r6, b[0])->id) != 0) {
            moved++;
            if (b[0] != (uint32_t)added)
                wrong_target++;
        }
        int same = 1;
        for (int i = 0; i < 3; i++)
            same &= strcmp(dk_ring_node_at(r5, a[i])->id, dk_ring_node_at(r6, b[i])->id) == 0;
        if (!same && !list_has(b, 3, (uint32_t)added))
            list_changed_without_new++;
    }
    double frac = (double)moved / N_KEYS;
    CU_ASSERT(frac > 0.12 && frac < 0.22);
    CU_ASSERT_EQUAL(wrong_target, 0);
    CU_ASSERT_EQUAL(list_changed_without_new, 0);
    dk_ring_unref(r5);
    dk_ring_unref(r6);
}

static void test_preference_no_repeats(void)
{
    dk_ring *r = ring_plain(5, 1);
    rng_state = 5;
    for (int k = 0; k < 2000; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        uint32_t primary = primary_of(r, key, len);
        for (size_t n = 0; n <= 8; n++) {
            uint32_t out[8];
            size_t got = dk_ring_preference(r, key, len, n, out);
            CU_ASSERT_EQUAL(got, n < 5 ? n : 5);
            for (size_t i = 0; i < got; i++) {
                CU_ASSERT(out[i] < 5);
                CU_ASSERT(!list_has(out, i, out[i]));
            }
            if (got)
                CU_ASSERT_EQUAL(out[0], primary);
        }
    }
    dk_ring_unref(r);
}

static void test_preference_racks(void)
{
    /* 6 nodes in 3 racks, two per rack, one dc. */
    dk_ring_node nodes[6];
    const char *racks[3] = {"r1", "r2", "r3"};
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof(id), "n%d", i);
        node_set(&nodes[i], id, "dc1", racks[i % 3], 1);
    }
    dk_ring *r = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(nodes, 6, 0, 1, &r), 0);
    rng_state = 11;
    unsigned bad = 0, same_rack_neighbours = 0;
    for (int k = 0; k < 20000; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        uint32_t out[6];
        CU_ASSERT_EQUAL(dk_ring_preference(r, key, len, 3, out), 3);
        const char *a = dk_ring_node_at(r, out[0])->rack, *b = dk_ring_node_at(r, out[1])->rack,
                   *c = dk_ring_node_at(r, out[2])->rack;
        if (!strcmp(a, b) || !strcmp(a, c) || !strcmp(b, c))
            bad++;
        CU_ASSERT_EQUAL(dk_ring_preference(r, key, len, 6, out), 6);
        if (!strcmp(dk_ring_node_at(r, out[0])->rack, dk_ring_node_at(r, out[1])->rack))
            same_rack_neighbours++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* The rack rule decides who is chosen, not the order: a 6-list is every
     * node in walk order, where neighbours often share a rack. */
    CU_ASSERT(same_rack_neighbours > 0);
    dk_ring_unref(r);

    /* Two dcs: dc1 with racks a and b (two nodes each), dc2 with one rack
     * of two nodes. A 2-list spans both dcs; a 3-list spans 3 racks. */
    dk_ring_node t[6];
    node_set(&t[0], "a1", "dc1", "a", 1);
    node_set(&t[1], "a2", "dc1", "a", 1);
    node_set(&t[2], "b1", "dc1", "b", 1);
    node_set(&t[3], "b2", "dc1", "b", 1);
    node_set(&t[4], "c1", "dc2", "a", 1); /* rack "a" of dc2 is not rack "a" of dc1 */
    node_set(&t[5], "c2", "dc2", "a", 1);
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(t, 6, 64, 1, &r), 0);
    rng_state = 12;
    unsigned one_dc = 0, two_racks = 0;
    for (int k = 0; k < 5000; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        uint32_t out[3];
        CU_ASSERT_EQUAL(dk_ring_preference(r, key, len, 2, out), 2);
        if (!strcmp(dk_ring_node_at(r, out[0])->dc, dk_ring_node_at(r, out[1])->dc))
            one_dc++;
        CU_ASSERT_EQUAL(dk_ring_preference(r, key, len, 3, out), 3);
        const dk_ring_node *x = dk_ring_node_at(r, out[0]), *y = dk_ring_node_at(r, out[1]),
                           *z = dk_ring_node_at(r, out[2]);
#define SAME_RACK(p, q) (!strcmp((p)->dc, (q)->dc) && !strcmp((p)->rack, (q)->rack))
        if (SAME_RACK(x, y) || SAME_RACK(x, z) || SAME_RACK(y, z))
            two_racks++;
#undef SAME_RACK
    }
    CU_ASSERT_EQUAL(one_dc, 0);
    CU_ASSERT_EQUAL(two_racks, 0);
    dk_ring_unref(r);
}

static void test_deterministic(void)
{
    dk_ring_node fwd[5], rev[5];
    const char *ids[5] = {"alpha", "bravo", "charlie", "delta", "echo"};
    for (int i = 0; i < 5; i++) {
        node_set(&fwd[i], ids[i], "dc1", i % 2 ? "r1" : "r2", 1 + (uint32_t)i % 3);
        rev[4 - i] = fwd[i];
    }
    dk_ring *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(fwd, 5, 0, 3, &a), 0);
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(rev, 5, 0, 3, &b), 0);
    for (uint32_t i = 0; i < 5; i++) {
        CU_ASSERT_STRING_EQUAL(dk_ring_node_at(a, i)->id, dk_ring_node_at(b, i)->id);
        CU_ASSERT_EQUAL(dk_ring_ownership(a, i), dk_ring_ownership(b, i));
    }
    CU_ASSERT_STRING_EQUAL(dk_ring_node_at(a, 0)->id, "alpha");
    CU_ASSERT_EQUAL(dk_ring_find(a, "delta"), 3);
    rng_state = 3;
    for (int k = 0; k < 5000; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        uint32_t x[3], y[3];
        CU_ASSERT_EQUAL(dk_ring_preference(a, key, len, 3, x), 3);
        CU_ASSERT_EQUAL(dk_ring_preference(b, key, len, 3, y), 3);
        CU_ASSERT(memcmp(x, y, sizeof(x)) == 0);
    }
    /* The key token is plain XXH3-128 of the key bytes. */
    XXH128_hash_t h = XXH3_128bits("some key", 8);
    dk_token t = dk_ring_key_token("some key", 8);
    CU_ASSERT(t.hi == h.high64 && t.lo == h.low64);
    dk_ring_unref(a);
    dk_ring_unref(b);
}

/* The fingerprint: equal for rings that place alike (any input order,
 * another version, other member states), different when an id, weight,
 * dc, rack, the node set or vnodes per weight differs. */
static uint64_t fp_of(const dk_ring_node *nodes, size_t n, uint32_t vpw, uint64_t version)
{
    dk_ring *r = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(nodes, n, vpw, version, &r), 0);
    uint64_t f = dk_ring_fingerprint(r);
    dk_ring_unref(r);
    return f;
}

static void test_fingerprint(void)
{
    dk_ring_node a[4], b[4];
    const char *ids[4] = {"n1", "n2", "n3", "n4"};
    for (int i = 0; i < 4; i++) {
        node_set(&a[i], ids[i], "dc1", i % 2 ? "r1" : "r2", 1);
        b[3 - i] = a[i];
        b[3 - i].state = 7;
    }
    uint64_t base = fp_of(a, 4, 0, 1);
    CU_ASSERT_EQUAL(fp_of(b, 4, 0, 99), base); /* order, version, states */
    CU_ASSERT_EQUAL(fp_of(a, 4, DK_RING_VNODES_DEFAULT, 1), base);
    CU_ASSERT_NOT_EQUAL(fp_of(a, 3, 0, 1), base); /* a node fewer */
    CU_ASSERT_NOT_EQUAL(fp_of(a, 4, 64, 1), base);
    b[0] = a[0];
    b[0].weight = 2;
    CU_ASSERT_NOT_EQUAL(fp_of(b, 1, 0, 1), fp_of(a, 1, 0, 1));
    b[0] = a[0];
    snprintf(b[0].rack, sizeof(b[0].rack), "r9");
    CU_ASSERT_NOT_EQUAL(fp_of(b, 1, 0, 1), fp_of(a, 1, 0, 1));
    b[0] = a[0];
    snprintf(b[0].dc, sizeof(b[0].dc), "dc2");
    CU_ASSERT_NOT_EQUAL(fp_of(b, 1, 0, 1), fp_of(a, 1, 0, 1));
    b[0] = a[0];
    snprintf(b[0].id, sizeof(b[0].id), "n5");
    CU_ASSERT_NOT_EQUAL(fp_of(b, 1, 0, 1), fp_of(a, 1, 0, 1));
    /* the fields are delimited: "ab"/"c" is not "a"/"bc" */
    node_set(&b[0], "x", "ab", "c", 1);
    node_set(&b[1], "x", "a", "bc", 1);
    CU_ASSERT_NOT_EQUAL(fp_of(&b[0], 1, 0, 1), fp_of(&b[1], 1, 0, 1));
}

static void test_tiny_rings(void)
{
    uint32_t out[3];
    dk_ring *r = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(NULL, 0, 0, 1, &r), 0);
    CU_ASSERT_EQUAL(dk_ring_preference(r, "k", 1, 3, out), 0);
    CU_ASSERT_EQUAL(dk_ring_node_count(r), 0);
    CU_ASSERT_EQUAL(dk_ring_find(r, "x"), DK_ENOTFOUND);
    CU_ASSERT_PTR_NULL(dk_ring_node_at(r, 0));
    dk_ring_unref(r);

    r = ring_plain(1, 1);
    CU_ASSERT_EQUAL(dk_ring_preference(r, "k", 1, 3, out), 1);
    CU_ASSERT_EQUAL(out[0], 0);
    CU_ASSERT_DOUBLE_EQUAL(dk_ring_ownership(r, 0), 1.0, 1e-12);
    dk_ring_unref(r);

    /* One node with a single vnode owns the whole ring. */
    dk_ring_node one;
    node_set(&one, "solo", "", "", 1);
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(&one, 1, 1, 1, &r), 0);
    CU_ASSERT_EQUAL(dk_ring_ownership(r, 0), 1.0);
    CU_ASSERT_EQUAL(dk_ring_preference(r, "k", 1, 3, out), 1);
    dk_ring_unref(r);

    r = ring_plain(2, 1);
    for (int k = 0; k < 100; k++) {
        char key[16];
        int len = snprintf(key, sizeof(key), "key%d", k);
        CU_ASSERT_EQUAL(dk_ring_preference(r, key, (size_t)len, 3, out), 2);
        CU_ASSERT(out[0] != out[1] && out[0] < 2 && out[1] < 2);
    }
    dk_ring_unref(r);
}

static void test_build_errors(void)
{
    dk_ring_node n[2];
    dk_ring *r = (dk_ring *)&n; /* must be reset to NULL on failure */
    node_set(&n[0], "same", "", "", 1);
    node_set(&n[1], "same", "", "", 1);
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, 0, 1, &r), DK_EEXISTS);
    CU_ASSERT_PTR_NULL(r);
    node_set(&n[1], "Upper", "", "", 1);
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, 0, 1, &r), -EINVAL);
    node_set(&n[1], "", "", "", 1);
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, 0, 1, &r), -EINVAL);
    node_set(&n[1], "other", "", "", 0);
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, 0, 1, &r), -EINVAL);
    node_set(&n[1], "other", "", "", DK_RING_WEIGHT_MAX + 1);
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, 0, 1, &r), -EINVAL);
    node_set(&n[1], "other", "", "", 1);
    memset(n[1].rack, 'x', sizeof(n[1].rack)); /* no terminating NUL */
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, 0, 1, &r), -EINVAL);
    memset(n[1].id, 'a', sizeof(n[1].id)); /* 65 characters, no NUL */
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, 0, 1, &r), -EINVAL);
    node_set(&n[1], "other", "", "", 1);
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, DK_RING_VNODES_MAX + 1, 1, &r), -EINVAL);
    CU_ASSERT_EQUAL(dk_ring_build(n, 2, 0, 1, &r), 0);
    dk_ring_unref(r);
}

typedef struct {
    uint32_t seen[8];
    size_t n;
    size_t stop_after;
} walk_log;

static int walk_visit(void *arg, uint32_t idx)
{
    walk_log *w = arg;
    w->seen[w->n++] = idx;
    return w->n == w->stop_after;
}

static void test_walk(void)
{
    dk_ring *r = ring_plain(5, 1);
    rng_state = 17;
    for (int k = 0; k < 500; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        dk_token t = dk_ring_key_token(key, len);
        walk_log w = {.stop_after = 0};
        CU_ASSERT_EQUAL(dk_ring_walk(r, t, walk_visit, &w), 5);
        uint32_t pref[5];
        CU_ASSERT_EQUAL(dk_ring_preference_token(r, t, 5, pref), 5);
        /* One dc, one rack: the preference list is the walk order. */
        CU_ASSERT(memcmp(pref, w.seen, sizeof(pref)) == 0);
        walk_log s = {.stop_after = 2};
        CU_ASSERT_EQUAL(dk_ring_walk(r, t, walk_visit, &s), 2);
        CU_ASSERT(s.seen[0] == w.seen[0] && s.seen[1] == w.seen[1]);
    }
    dk_ring_unref(r);
}

static void test_refcount_version(void)
{
    dk_ring *r = ring_plain(3, 77);
    CU_ASSERT_EQUAL(dk_ring_version(r), 77);
    dk_ring_ref(r);
    dk_ring_unref(r);
    /* Still alive: one reference left (ASan builds catch a premature free). */
    CU_ASSERT_STRING_EQUAL(dk_ring_node_at(r, 2)->id, "node-3");

    dk_ring_cell cell;
    CU_ASSERT_EQUAL_FATAL(dk_ring_cell_init(&cell, r), 0);
    dk_ring *held = dk_ring_cell_get(&cell);
    CU_ASSERT_PTR_EQUAL(held, r);
    dk_ring_cell_set(&cell, ring_plain(4, 78));
    /* The reader's reference keeps the replaced snapshot usable. */
    CU_ASSERT_EQUAL(dk_ring_version(held), 77);
    CU_ASSERT_EQUAL(dk_ring_node_count(held), 3);
    dk_ring_unref(held);
    dk_ring *now = dk_ring_cell_get(&cell);
    CU_ASSERT_EQUAL(dk_ring_version(now), 78);
    dk_ring_unref(now);
    dk_ring_cell_set(&cell, NULL);
    CU_ASSERT_PTR_NULL(dk_ring_cell_get(&cell));
    dk_ring_cell_destroy(&cell);
}

/* Threaded swap: one writer installs rings with versions 1..N, alternating
 * 5 and 6 nodes (6 when the version is even); readers check every snapshot
 * is whole and versions never go backwards. */
#define SWAPS 300
#define READERS 3

static dk_ring_cell swap_cell;
static atomic_int swap_done;

static void *swap_reader(void *arg)
{
    unsigned long *bad = arg;
    uint64_t last = 0;
    unsigned long reads = 0;
    while (!atomic_load(&swap_done) || reads == 0) {
        dk_ring *r = dk_ring_cell_get(&swap_cell);
        if (!r)
            continue;
        uint64_t v = dk_ring_version(r);
        size_t want = v % 2 ? 5 : 6;
        uint32_t out[3];
        if (v < last || dk_ring_node_count(r) != want || dk_ring_preference(r, "key", 3, 3, out) != 3)
            (*bad)++;
        last = v;
        reads++;
        dk_ring_unref(r);
    }
    return NULL;
}

static void test_threaded_swap(void)
{
    CU_ASSERT_EQUAL_FATAL(dk_ring_cell_init(&swap_cell, ring_plain(5, 1)), 0);
    atomic_store(&swap_done, 0);
    pthread_t th[READERS];
    unsigned long bad[READERS] = {0};
    for (int i = 0; i < READERS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, swap_reader, &bad[i]), 0);
    for (uint64_t v = 2; v <= SWAPS; v++) {
        dk_ring_node nodes[6];
        size_t count = v % 2 ? 5 : 6;
        for (size_t i = 0; i < count; i++) {
            char id[32];
            snprintf(id, sizeof(id), "node-%zu", i + 1);
            node_set(&nodes[i], id, "", "", 1);
        }
        dk_ring *r = NULL;
        CU_ASSERT_EQUAL_FATAL(dk_ring_build(nodes, count, 16, v, &r), 0);
        dk_ring_cell_set(&swap_cell, r);
    }
    atomic_store(&swap_done, 1);
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(bad[i], 0);
    }
    dk_ring *r = dk_ring_cell_get(&swap_cell);
    CU_ASSERT_EQUAL(dk_ring_version(r), SWAPS);
    dk_ring_unref(r);
    dk_ring_cell_destroy(&swap_cell);
}


/* Ranges tile the circle: each key's token is in exactly the range
 * dk_ring_range_of names (not in its neighbours), and that range's end
 * token has the key's preference list. */
static void test_ranges(void)
{
    const char *ids[4] = {"n1", "n2", "n3", "n4"};
    dk_ring_node nodes[4];
    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < 4; i++) {
        snprintf(nodes[i].id, sizeof nodes[i].id, "%s", ids[i]);
        nodes[i].weight = 1;
    }
    dk_ring *r = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(nodes, 4, 16, 1, &r), 0);
    size_t nr = dk_ring_vnode_count(r);
    CU_ASSERT_EQUAL(nr, 64);
    rng_state = 42;
    for (int k = 0; k < 2000; k++) {
        uint8_t key[40];
        size_t len = rng_key(key);
        dk_token t = dk_ring_key_token(key, len);
        size_t i = dk_ring_range_of(r, t);
        CU_ASSERT_FATAL(i < nr);
        dk_token s, e, ps, pe, ns, ne;
        dk_ring_range(r, i, &s, &e);
        dk_ring_range(r, (i + nr - 1) % nr, &ps, &pe);
        dk_ring_range(r, (i + 1) % nr, &ns, &ne);
        CU_ASSERT(dk_token_in_range(t, s, e));
        CU_ASSERT(!dk_token_in_range(t, ps, pe));
        CU_ASSERT(!dk_token_in_range(t, ns, ne));
        CU_ASSERT_EQUAL(dk_token_cmp(pe, s), 0);
        uint32_t a[3], b[3];
        size_t na = dk_ring_preference(r, key, len, 3, a), nb = dk_ring_preference_token(r, e, 3, b);
        CU_ASSERT_EQUAL(na, nb);
        CU_ASSERT_EQUAL(memcmp(a, b, na * sizeof a[0]), 0);
    }
    /* The range at the wrap holds the tokens above the last vnode and below the first. */
    dk_token s0, e0;
    dk_ring_range(r, 0, &s0, &e0);
    CU_ASSERT(dk_token_cmp(s0, e0) > 0);
    CU_ASSERT(dk_token_in_range((dk_token){UINT64_MAX, UINT64_MAX}, s0, e0));
    CU_ASSERT(dk_token_in_range((dk_token){0, 0}, s0, e0));
    CU_ASSERT_EQUAL(dk_ring_range_of(r, (dk_token){UINT64_MAX, UINT64_MAX}), 0);
    dk_ring_unref(r);
    /* One vnode: one range, the whole circle. */
    CU_ASSERT_EQUAL_FATAL(dk_ring_build(nodes, 1, 1, 1, &r), 0);
    dk_ring_range(r, 0, &s0, &e0);
    CU_ASSERT(dk_token_in_range((dk_token){7, 7}, s0, e0));
    dk_ring_unref(r);
}

static CU_TestInfo ring_tests[] = {
    {"ranges tile the circle", test_ranges},
    {"ownership balance, 5 nodes x 256 vnodes", test_balance},
    {"weights 1:2", test_weights},
    {"adding a node moves ~1/6 of keys, all to it", test_add_node_moves_little},
    {"preference lists never repeat a node", test_preference_no_repeats},
    {"preference lists span racks and dcs", test_preference_racks},
    {"same ring from members in any order", test_deterministic},
    {"fingerprint follows the inputs of placement", test_fingerprint},
    {"0-, 1- and 2-node rings", test_tiny_rings},
    {"build refuses bad members", test_build_errors},
    {"walk visits distinct nodes clockwise", test_walk},
    {"version and reference counting", test_refcount_version},
    {"readers and a writer swapping through a cell", test_threaded_swap},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "ring", .pTests = ring_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
