/*
 * test-buf-cache.c - util/buf_cache.c through dk_buf: a thread that
 * started its cache gets the block it freed back for its next buffer of
 * that size class; a thread that did not (or stopped) does not keep
 * blocks; what is kept is bounded per class; a block taken from a dk_buf
 * and released with free() is fine; and the cache is per thread. Under a
 * sanitizer build the program also proves that kept blocks are freed at
 * stop (the leak checker) and are not written to while kept (poisoned).
 * A buffer growing into a class by appends also takes a kept block.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <string.h>
#include "util/buf.h"

/* A buffer holding n bytes of fill, allocated as dk_buf would for it. */
static dk_buf filled(size_t n, int fill)
{
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(dk_buf_reserve(&b, n), 0);
    memset(b.data, fill, n);
    b.len = n;
    return b;
}

static void test_reuse(void)
{
    dk_buf_cache_start();
    dk_buf a = filled(10240, 'a'); /* a 16 KiB block */
    uint8_t *pa = a.data;
    CU_ASSERT_EQUAL(a.cap, 16384);
    dk_buf_free(&a);
    CU_ASSERT_PTR_NULL(a.data);
    CU_ASSERT_EQUAL(a.cap, 0);
    /* The same class gets the block back, whole and writable. */
    dk_buf b = filled(16384, 'b');
    CU_ASSERT_PTR_EQUAL(b.data, pa);
    CU_ASSERT_EQUAL(b.cap, 16384);
    CU_ASSERT_EQUAL(b.data[16383], 'b');
    /* Another class does not. */
    dk_buf c = filled(40000, 'c');
    CU_ASSERT_PTR_NOT_EQUAL(c.data, pa);
    CU_ASSERT_EQUAL(c.cap, 65536);
    dk_buf_free(&b);
    dk_buf_free(&c);
    /* A buffer that grows by appends into a class takes a kept block
     * on the way, its bytes moved along. */
    dk_buf e = filled(20000, 'e'); /* a 32 KiB block */
    uint8_t *pe = e.data;
    dk_buf_free(&e);
    dk_buf d = DK_BUF_INIT;
    for (int i = 0; i < 3000; i++)
        CU_ASSERT_EQUAL_FATAL(dk_buf_append(&d, "0123456789", 10), 0);
    CU_ASSERT_EQUAL(d.len, 30000);
    CU_ASSERT_PTR_EQUAL(d.data, pe);
    int same = 1;
    for (size_t i = 0; i < d.len; i++)
        same &= d.data[i] == (uint8_t)('0' + i % 10);
    CU_ASSERT(same);
    dk_buf_free(&d);
    dk_buf_cache_stop();
}

static void test_off(void)
{
    /* Not started: nothing is kept (a freed block may come back from
     * malloc, but a buffer of another size allocated in between must
     * not see a kept block). */
    dk_buf a = filled(30000, 'a');
    dk_buf_free(&a);
    dk_buf b = filled(30000, 'b');
    CU_ASSERT_EQUAL(b.data[29999], 'b');
    dk_buf_free(&b);
    /* Stopped: what was kept is gone (freed; the leak checker of a
     * sanitizer build would say otherwise). */
    dk_buf_cache_start();
    dk_buf k[4];
    for (int i = 0; i < 4; i++)
        k[i] = filled(8000, 'k');
    for (int i = 0; i < 4; i++)
        dk_buf_free(&k[i]);
    dk_buf_cache_stop();
}

static void test_bounded(void)
{
    enum { N = 40 };
    dk_buf_cache_start();
    dk_buf b[N];
    uint8_t *p[N];
    for (int i = 0; i < N; i++) {
        b[i] = filled(50000, 'x'); /* 64 KiB blocks */
        p[i] = b[i].data;
    }
    for (int i = 0; i < N; i++)
        dk_buf_free(&b[i]);
    /* At most 1 MiB is kept: the first 16 blocks of 64 KiB freed; the
     * rest went back to malloc. The kept ones come back last freed
     * first. */
    int kept = 0;
    for (int i = 0; i < N; i++) {
        b[i] = filled(50000, 'y');
        if (i < 16 && b[i].data == p[15 - i])
            kept++;
    }
    CU_ASSERT_EQUAL(kept, 16);
    for (int i = 0; i < N; i++)
        dk_buf_free(&b[i]);
    dk_buf_cache_stop();
}

static void test_taken(void)
{
    dk_buf_cache_start();
    /* Memory taken out of a dk_buf goes back with free(); memory from
     * malloc put into a dk_buf goes back through dk_buf_free, filed by
     * what malloc gave (here more than the cap says). */
    dk_buf a = filled(10240, 'a');
    free(a.data);
    dk_buf m = {malloc(20000), 0, 5000};
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.data);
    uint8_t *pm = m.data;
    dk_buf_free(&m);
    dk_buf n = filled(16384, 'n'); /* 20000 bytes serve a 16 KiB class */
    CU_ASSERT_PTR_EQUAL(n.data, pm);
    dk_buf_free(&n);
    dk_buf_cache_stop();
}

static uint8_t *other_got;
static void *other_thread(void *arg)
{
    (void)arg;
    dk_buf_cache_start();
    dk_buf b = filled(10240, 'o');
    other_got = b.data;
    dk_buf_free(&b);
    dk_buf_cache_stop();
    return NULL;
}

static void test_per_thread(void)
{
    dk_buf_cache_start();
    dk_buf a = filled(10240, 'a');
    uint8_t *pa = a.data;
    dk_buf_free(&a); /* kept here */
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, NULL);
    CU_ASSERT_PTR_NOT_EQUAL(other_got, pa); /* another thread's cache did not have it */
    dk_buf b = filled(10240, 'b');
    CU_ASSERT_PTR_EQUAL(b.data, pa);
    dk_buf_free(&b);
    dk_buf_cache_stop();
}

static CU_TestInfo cache_tests[] = {
    {"a freed block serves the next buffer of its class", test_reuse},
    {"nothing kept when off or after stop", test_off},
    {"bounded, last freed first", test_bounded},
    {"taken and foreign malloc blocks", test_taken},
    {"one cache per thread", test_per_thread},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "buf cache", .pTests = cache_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
