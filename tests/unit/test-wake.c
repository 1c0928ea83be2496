/*
 * test-wake.c - the cross-thread wake-up (base/wake.h): items queued from
 * several threads with one send per empty-to-non-empty transition all run
 * on the loop's thread (no wake-up lost between a drain and the next
 * send); sends before the loop runs make one callback; a send after a
 * callback makes another; an unreferenced wake does not keep uv_run
 * going, a referenced one does; closing frees both descriptors. Posts
 * that race the loop's way into its poll, one item at a time from
 * several threads each waiting for its own to run (so the loop keeps
 * going to sleep and waking), never lose one (a lost wake-up hangs the
 * test; also clean built with -fsanitize=thread).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <uv.h>
#include "base/wake.h"

#define WK_THREADS 3
#define WK_EACH 20000

typedef struct wk_item {
    struct wk_item *next;
} wk_item;

static dk_wake wk;
static pthread_mutex_t wk_mu = PTHREAD_MUTEX_INITIALIZER;
static wk_item *wk_head;
static pthread_t wk_loop_thread;
static int wk_ran, wk_wrong_thread, wk_callbacks, wk_closed;

static void wk_on_closed(dk_wake *w)
{
    (void)w;
    wk_closed++;
}

/* Loop thread: take the whole list (as the coordinator's post drain). */
static void wk_drain(dk_wake *w)
{
    wk_callbacks++;
    if (!pthread_equal(pthread_self(), wk_loop_thread))
        wk_wrong_thread++;
    pthread_mutex_lock(&wk_mu);
    wk_item *it = wk_head;
    wk_head = NULL;
    pthread_mutex_unlock(&wk_mu);
    while (it) {
        wk_item *next = it->next;
        free(it);
        wk_ran++;
        it = next;
    }
    /* A sender may still be inside its last dk_wake_send: the wake is
     * closed only once they are joined. */
    if (wk_ran == WK_THREADS * WK_EACH)
        dk_wake_unref(w);
}

static void *wk_sender(void *arg)
{
    (void)arg;
    for (int i = 0; i < WK_EACH; i++) {
        wk_item *it = malloc(sizeof(*it));
        pthread_mutex_lock(&wk_mu);
        int was_empty = wk_head == NULL;
        it->next = wk_head;
        wk_head = it;
        pthread_mutex_unlock(&wk_mu);
        if (was_empty)
            dk_wake_send(&wk);
    }
    return NULL;
}

static void wk_reset(void)
{
    wk_ran = wk_wrong_thread = wk_callbacks = wk_closed = 0;
    wk_head = NULL;
    wk_loop_thread = pthread_self();
}

static void test_many_senders(void)
{
    uv_loop_t loop;
    wk_reset();
    CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
    CU_ASSERT_EQUAL_FATAL(dk_wake_init(&wk, &loop, wk_drain), 0);
    pthread_t t[WK_THREADS];
    for (int i = 0; i < WK_THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, wk_sender, NULL), 0);
    /* The wake is the loop's only handle, referenced: uv_run returns only
     * once the last item unreferenced it, so a lost wake-up hangs here. */
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < WK_THREADS; i++)
        pthread_join(t[i], NULL);
    dk_wake_close(&wk, wk_on_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(wk_ran, WK_THREADS * WK_EACH);
    CU_ASSERT_EQUAL(wk_wrong_thread, 0);
    CU_ASSERT_EQUAL(wk_closed, 1);
    CU_ASSERT(wk_callbacks >= 1);
    CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static void wk_count(dk_wake *w)
{
    (void)w;
    wk_callbacks++;
}

static void test_sends_coalesce_and_close(void)
{
    uv_loop_t loop;
    wk_reset();
    CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
    CU_ASSERT_EQUAL_FATAL(dk_wake_init(&wk, &loop, wk_count), 0);
    int rfd = wk.rfd, wfd = wk.wfd;
    for (int i = 0; i < 100; i++)
        dk_wake_send(&wk);
    uv_run(&loop, UV_RUN_NOWAIT);
    CU_ASSERT_EQUAL(wk_callbacks, 1); /* read empty: one callback */
    uv_run(&loop, UV_RUN_NOWAIT);
    CU_ASSERT_EQUAL(wk_callbacks, 1); /* nothing sent since */
    dk_wake_send(&wk);
    uv_run(&loop, UV_RUN_NOWAIT);
    CU_ASSERT_EQUAL(wk_callbacks, 2); /* a send after a drain is not lost */
    dk_wake_close(&wk, wk_on_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(wk_closed, 1);
    errno = 0;
    CU_ASSERT_EQUAL(fcntl(rfd, F_GETFD), -1);
    CU_ASSERT_EQUAL(errno, EBADF);
    if (wfd != rfd)
        CU_ASSERT_EQUAL(fcntl(wfd, F_GETFD), -1);
    CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static void test_ref_keeps_the_loop(void)
{
    uv_loop_t loop;
    wk_reset();
    CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
    CU_ASSERT_EQUAL_FATAL(dk_wake_init(&wk, &loop, wk_count), 0);
    dk_wake_unref(&wk);
    /* Unreferenced and nothing else: uv_run has nothing to wait for. */
    CU_ASSERT_EQUAL(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CU_ASSERT_EQUAL(wk_callbacks, 0);
    dk_wake_ref(&wk);
    CU_ASSERT(uv_loop_alive(&loop));
    dk_wake_unref(&wk);
    CU_ASSERT(!uv_loop_alive(&loop));
    dk_wake_close(&wk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

/* Ping-pong: each sender posts one item and waits until the loop ran it,
 * so between items the loop has nothing to do and goes to sleep; with
 * several senders some posts land while it is awake, some while it is on
 * its way into the poll, some while it sleeps. */
#define PP_THREADS 4
#define PP_ROUNDS 5000

typedef struct pp_item {
    struct pp_item *next;
    int *done; /* set on the loop, under pp_mu */
} pp_item;

static pthread_mutex_t pp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_cv = PTHREAD_COND_INITIALIZER;
static pp_item *pp_head;
static int pp_ran, pp_senders_left;

static void pp_drain(dk_wake *w)
{
    pthread_mutex_lock(&pp_mu);
    pp_item *it = pp_head;
    pp_head = NULL;
    for (; it; it = it->next) {
        *it->done = 1;
        pp_ran++;
    }
    pthread_cond_broadcast(&pp_cv);
    int last = pp_senders_left == 0 && pp_ran == PP_THREADS * PP_ROUNDS;
    pthread_mutex_unlock(&pp_mu);
    if (last)
        dk_wake_unref(w); /* uv_run returns; closed once all are joined */
}

static void *pp_sender(void *arg)
{
    (void)arg;
    for (int i = 0; i < PP_ROUNDS; i++) {
        int done = 0;
        pp_item it = {.done = &done};
        pthread_mutex_lock(&pp_mu);
        int was_empty = pp_head == NULL;
        it.next = pp_head;
        pp_head = &it;
        pthread_mutex_unlock(&pp_mu);
        if (was_empty)
            dk_wake_send(&wk);
        pthread_mutex_lock(&pp_mu);
        while (!done)
            pthread_cond_wait(&pp_cv, &pp_mu);
        pthread_mutex_unlock(&pp_mu);
    }
    return NULL;
}

static void *pp_joiner(void *arg)
{
    pthread_t *t = arg;
    for (int i = 0; i < PP_THREADS; i++)
        pthread_join(t[i], NULL);
    /* Every item ran (each sender waited for its last); one more send
     * makes the loop's drain see that and let uv_run return. */
    pthread_mutex_lock(&pp_mu);
    pp_senders_left = 0;
    pthread_mutex_unlock(&pp_mu);
    dk_wake_send(&wk);
    return NULL;
}

static void test_posts_racing_sleep(void)
{
    uv_loop_t loop;
    wk_reset();
    pp_head = NULL;
    pp_ran = 0;
    pp_senders_left = 1;
    CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
    CU_ASSERT_EQUAL_FATAL(dk_wake_init(&wk, &loop, pp_drain), 0);
    pthread_t t[PP_THREADS], j;
    for (int i = 0; i < PP_THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, pp_sender, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&j, NULL, pp_joiner, t), 0);
    /* Returns once the last drain unreferenced the wake: a lost wake-up
     * hangs here. */
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(j, NULL);
    dk_wake_close(&wk, wk_on_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(pp_ran, PP_THREADS * PP_ROUNDS);
    CU_ASSERT_EQUAL(wk_closed, 1);
    CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static CU_TestInfo wake_tests[] = {
    {"items from many threads all run on the loop, no wake-up lost", test_many_senders},
    {"sends coalesce; a send after a drain is not lost; close frees the descriptors",
     test_sends_coalesce_and_close},
    {"a reference keeps the loop alive, no reference does not", test_ref_keeps_the_loop},
    {"one-at-a-time posts from many threads racing the loop's sleep: none lost", test_posts_racing_sleep},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "wake", .pTests = wake_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
