/*
 * test-session.c - session tokens (framework/node/session.c): a token
 * round-trips; it names the keys it was told about with their version
 * vectors merged, and says when a note changed nothing; it
 * is bounded at DK_SESSION_KEYS keys,
 * evicting the least recently used into the spill bits; and a token that
 * is altered, truncated, or MACed under another cluster's key is refused.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "node/session.h"
#include "util/vv.h"

static const uint8_t key_a[DK_CONTEXT_KEY_LEN] = {1, 2, 3};
static const uint8_t key_b[DK_CONTEXT_KEY_LEN] = {9, 9, 9};

static dk_slice sl(const char *s)
{
    return (dk_slice){(const uint8_t *)s, strlen(s)};
}

/* A vv with one entry node:counter (time 1234). */
static void vv1(dk_vv *v, const char *node, uint64_t counter)
{
    dk_actor a;
    dk_vv_init(v);
    CU_ASSERT_EQUAL_FATAL(dk_actor_set(&a, node, 1), 0);
    CU_ASSERT_EQUAL_FATAL(dk_vv_set(v, &a, counter, 1234), 0);
}

static uint64_t counter_of(const dk_vv *v, const char *node)
{
    dk_actor a;
    dk_actor_set(&a, node, 1);
    return dk_vv_get(v, &a);
}

static void test_round_trip_and_merge(void)
{
    dk_session s, t;
    dk_vv v1, v2;
    dk_buf tok = DK_BUF_INIT;
    int spilled = 0;
    CU_ASSERT_EQUAL_FATAL(dk_session_init(&s, key_a), 0);
    CU_ASSERT_EQUAL_FATAL(dk_session_init(&t, key_a), 0);
    CU_ASSERT_PTR_NULL(dk_session_need(&s, sl("k"), &spilled));
    vv1(&v1, "n1", 3);
    vv1(&v2, "n2", 5);
    CU_ASSERT_EQUAL(dk_session_note(&s, sl("k"), &v1), 0);
    CU_ASSERT_EQUAL(dk_session_note(&s, sl("k"), &v2), 0);
    CU_ASSERT_EQUAL(dk_session_note(&s, sl("other"), &v1), 0);
    CU_ASSERT_EQUAL(dk_session_encode(&s, &tok), 0);
    CU_ASSERT_EQUAL_FATAL(dk_session_decode(&t, (const char *)tok.data, tok.len, NULL, 0), 0);
    const dk_vv *need = dk_session_need(&t, sl("k"), &spilled);
    CU_ASSERT_PTR_NOT_NULL_FATAL(need);
    CU_ASSERT_EQUAL(spilled, 0);
    CU_ASSERT_EQUAL(need->n, 2);
    CU_ASSERT_EQUAL(counter_of(need, "n1"), 3);
    CU_ASSERT_EQUAL(counter_of(need, "n2"), 5);
    CU_ASSERT_EQUAL(need->e[0].time_ms, 1234); /* kept: pruned entries age out */
    CU_ASSERT_PTR_NULL(dk_session_need(&t, sl("unknown"), &spilled));
    /* A lower counter does not move the entry back. */
    dk_vv_free(&v1);
    vv1(&v1, "n1", 1);
    CU_ASSERT_EQUAL(dk_session_note(&t, sl("k"), &v1), 0);
    CU_ASSERT_EQUAL(counter_of(dk_session_need(&t, sl("k"), &spilled), "n1"), 3);
    CU_ASSERT_EQUAL(t.changed, 1); /* "k" moved to the front */
    t.changed = 0;
    CU_ASSERT_EQUAL(dk_session_note(&t, sl("k"), &v1), 0);
    CU_ASSERT_EQUAL(t.changed, 0); /* nothing new: the same token will do */
    CU_ASSERT_EQUAL(dk_session_note(&t, sl("k"), &v2), 0);
    CU_ASSERT_EQUAL(t.changed, 0);
    /* The empty token is the empty session. */
    CU_ASSERT_EQUAL(dk_session_decode(&t, "", 0, NULL, 0), 0);
    CU_ASSERT_PTR_NULL(dk_session_need(&t, sl("k"), &spilled));
    dk_buf_free(&tok);
    dk_vv_free(&v1);
    dk_vv_free(&v2);
    dk_session_free(&s);
    dk_session_free(&t);
}

/* A reused session is the fresh session under its new key: no entry,
 * spill bit or vector of before, also one a failed decode left past n. */
static void test_reuse(void)
{
    dk_session s, fresh;
    dk_vv v1;
    dk_buf a = DK_BUF_INIT, b = DK_BUF_INIT;
    int spilled = 0;
    CU_ASSERT_EQUAL_FATAL(dk_session_init(&s, key_a), 0);
    CU_ASSERT_EQUAL_FATAL(dk_session_init(&fresh, key_b), 0);
    vv1(&v1, "n1", 7);
    for (int i = 0; i < 20; i++) { /* more keys than it holds: spill bits set */
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        CU_ASSERT_EQUAL(dk_session_note(&s, sl(k), &v1), 0);
    }
    CU_ASSERT_NOT_EQUAL(s.spill, 0);
    CU_ASSERT_EQUAL(dk_session_reuse(&s, key_b), 0);
    CU_ASSERT_EQUAL(s.n, 0);
    CU_ASSERT_EQUAL(s.spill, 0);
    CU_ASSERT_EQUAL(s.changed, 0);
    CU_ASSERT_PTR_NULL(dk_session_need(&s, sl("key19"), &spilled));
    CU_ASSERT_EQUAL(spilled, 0);
    for (uint32_t i = 0; i < DK_SESSION_KEYS; i++)
        CU_ASSERT_EQUAL(s.e[i].vv.n, 0);
    CU_ASSERT_EQUAL(dk_session_encode(&s, &a), 0);
    CU_ASSERT_EQUAL(dk_session_encode(&fresh, &b), 0);
    CU_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0); /* MACed under key_b now */
    a.len = b.len = 0;
    CU_ASSERT_EQUAL(dk_session_note(&s, sl("one"), &v1), 0);
    CU_ASSERT_EQUAL(dk_session_note(&fresh, sl("one"), &v1), 0);
    CU_ASSERT_EQUAL(dk_session_encode(&s, &a), 0);
    CU_ASSERT_EQUAL(dk_session_encode(&fresh, &b), 0);
    CU_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    /* A vector left past n (as a decode that failed part way leaves one)
     * does not show through either. */
    dk_actor x;
    CU_ASSERT_EQUAL(dk_actor_set(&x, "n9", 1), 0);
    CU_ASSERT_EQUAL(dk_vv_set(&s.e[5].vv, &x, 99, 0), 0);
    CU_ASSERT_EQUAL(dk_session_reuse(&s, key_b), 0);
    CU_ASSERT_EQUAL(s.e[5].vv.n, 0);
    dk_buf_free(&a);
    dk_buf_free(&b);
    dk_vv_free(&v1);
    dk_session_free(&s);
    dk_session_free(&fresh);
}

static void test_bounded_lru_and_spill(void)
{
    dk_session s;
    dk_vv v;
    dk_buf tok = DK_BUF_INIT;
    char name[16];
    int spilled = 0;
    CU_ASSERT_EQUAL_FATAL(dk_session_init(&s, key_a), 0);
    vv1(&v, "n1", 7);
    for (unsigned i = 0; i < DK_SESSION_KEYS; i++) {
        snprintf(name, sizeof(name), "key%u", i);
        CU_ASSERT_EQUAL(dk_session_note(&s, sl(name), &v), 0);
    }
    CU_ASSERT_EQUAL(s.spill, 0);
    /* key0 used again: key1 is now the least recent and goes first. */
    CU_ASSERT_EQUAL(dk_session_note(&s, sl("key0"), &v), 0);
    CU_ASSERT_EQUAL(dk_session_note(&s, sl("newcomer"), &v), 0);
    CU_ASSERT_EQUAL(s.n, DK_SESSION_KEYS);
    CU_ASSERT_PTR_NOT_NULL(dk_session_need(&s, sl("key0"), &spilled));
    CU_ASSERT_PTR_NOT_NULL(dk_session_need(&s, sl("newcomer"), &spilled));
    CU_ASSERT_PTR_NULL(dk_session_need(&s, sl("key1"), &spilled));
    CU_ASSERT_EQUAL(spilled, 1); /* its bucket is marked */
    CU_ASSERT_NOT_EQUAL(s.spill, 0);
    /* Many more keys: the token stays bounded. */
    for (unsigned i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "more%u", i);
        CU_ASSERT_EQUAL(dk_session_note(&s, sl(name), &v), 0);
    }
    CU_ASSERT_EQUAL(dk_session_encode(&s, &tok), 0);
    CU_ASSERT_TRUE(tok.len < 1024);
    dk_buf_free(&tok);
    dk_vv_free(&v);
    dk_session_free(&s);
}

static void test_refused(void)
{
    dk_session s, other;
    dk_vv v;
    dk_buf tok = DK_BUF_INIT;
    char err[160], buf[2048];
    int spilled;
    CU_ASSERT_EQUAL_FATAL(dk_session_init(&s, key_a), 0);
    CU_ASSERT_EQUAL_FATAL(dk_session_init(&other, key_b), 0);
    vv1(&v, "n1", 2);
    CU_ASSERT_EQUAL(dk_session_note(&s, sl("k"), &v), 0);
    CU_ASSERT_EQUAL_FATAL(dk_session_encode(&s, &tok), 0);
    /* another cluster's key */
    CU_ASSERT_EQUAL(dk_session_decode(&other, (const char *)tok.data, tok.len, err, sizeof(err)),
                    DK_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not issued by this cluster"));
    CU_ASSERT_PTR_NULL(dk_session_need(&other, sl("k"), &spilled));
    /* one character changed, truncated, not base64url */
    memcpy(buf, tok.data, tok.len);
    buf[tok.len / 2] = buf[tok.len / 2] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(dk_session_decode(&s, buf, tok.len, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_EQUAL(dk_session_decode(&s, (const char *)tok.data, 8, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_EQUAL(dk_session_decode(&s, "!!!!", 4, err, sizeof(err)), DK_ECORRUPT);
    CU_ASSERT_PTR_NULL(dk_session_need(&s, sl("k"), &spilled));
    dk_buf_free(&tok);
    dk_vv_free(&v);
    dk_session_free(&s);
    dk_session_free(&other);
}

static CU_TestInfo session_tests[] = {
    {"round trip; entries merge, keep times", test_round_trip_and_merge},
    {"bounded: LRU eviction into spill bits", test_bounded_lru_and_spill},
    {"reuse: the fresh session, memory kept", test_reuse},
    {"altered, truncated and foreign tokens refused", test_refused},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "session", .pTests = session_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
