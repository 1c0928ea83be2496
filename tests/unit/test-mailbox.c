/*
 * test-mailbox.c - the cross-loop mailbox: messages posted from several
 * threads at once each run exactly once on the owning loop's thread, in
 * each poster's order; closing runs what is queued and refuses later
 * posts with DK_ECLOSED; the loop then closes cleanly.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>
#include "base/mailbox.h"
#include "dynkv/types.h"

#define MB_THREADS 3
#define MB_EACH 5000

typedef struct mb_msg {
    dk_mail mail;
    int poster, seq;
} mb_msg;

static dk_mailbox box;
static pthread_t loop_thread;
static int ran, wrong_thread, out_of_order;
static int last_seq[MB_THREADS];

/* Loop thread. */
static void mb_run(void *arg)
{
    mb_msg *m = arg;
    if (!pthread_equal(pthread_self(), loop_thread))
        wrong_thread++;
    if (m->seq != last_seq[m->poster] + 1)
        out_of_order++;
    last_seq[m->poster] = m->seq;
    ran++;
    free(m);
    if (ran == MB_THREADS * MB_EACH)
        dk_mailbox_close(&box);
}

static void *mb_poster(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 1; i <= MB_EACH; i++) {
        mb_msg *m = malloc(sizeof(*m));
        m->poster = id;
        m->seq = i;
        if (dk_mailbox_post(&box, &m->mail, mb_run, m) != 0)
            free(m);
    }
    return NULL;
}

static void test_many_posters(void)
{
    uv_loop_t loop;
    CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
    loop_thread = pthread_self();
    for (int i = 0; i < MB_THREADS; i++)
        last_seq[i] = 0;
    CU_ASSERT_EQUAL_FATAL(dk_mailbox_init(&box, &loop), 0);
    pthread_t t[MB_THREADS];
    for (int i = 0; i < MB_THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, mb_poster, (void *)(intptr_t)i), 0);
    /* The loop runs until the last message closes the mailbox (its only handle). */
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < MB_THREADS; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(ran, MB_THREADS * MB_EACH);
    CU_ASSERT_EQUAL(wrong_thread, 0);
    CU_ASSERT_EQUAL(out_of_order, 0);
    for (int i = 0; i < MB_THREADS; i++)
        CU_ASSERT_EQUAL(last_seq[i], MB_EACH);
    CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static int queued_ran;

static void mb_count(void *arg)
{
    (void)arg;
    queued_ran++;
}

static void test_close_drains_then_refuses(void)
{
    uv_loop_t loop;
    CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
    dk_mailbox mb;
    CU_ASSERT_EQUAL_FATAL(dk_mailbox_init(&mb, &loop), 0);
    dk_mail m[3], late;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(dk_mailbox_post(&mb, &m[i], mb_count, NULL), 0);
    /* Posted but the loop never ran: close still runs them, once. */
    dk_mailbox_close(&mb);
    CU_ASSERT_EQUAL(queued_ran, 3);
    CU_ASSERT_EQUAL(dk_mailbox_post(&mb, &late, mb_count, NULL), DK_ECLOSED);
    uv_run(&loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(queued_ran, 3);
    CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

/* A burst of posts wakes the loop once (one write to its eventfd), and a
 * message posted while the loop runs others (here: by one of them) wakes
 * it again: never lost. NOWAIT turns only, so a lost wake-up fails the
 * count instead of hanging. */
static dk_mailbox chain_mb;
static int chain_ran;
static dk_mail chain_mail[100];

static void mb_chain(void *arg)
{
    (void)arg;
    chain_ran++;
    if (chain_ran < 100)
        CU_ASSERT_EQUAL(dk_mailbox_post(&chain_mb, &chain_mail[chain_ran], mb_chain, NULL), 0);
}

static void test_one_wake_per_burst(void)
{
    uv_loop_t loop;
    CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
    CU_ASSERT_EQUAL_FATAL(dk_mailbox_init(&chain_mb, &loop), 0);
    dk_mail m[5];
    queued_ran = 0;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(dk_mailbox_post(&chain_mb, &m[i], mb_count, NULL), 0);
    if (chain_mb.wake.rfd == chain_mb.wake.wfd) { /* an eventfd: its counter is the number of sends */
        uint64_t sends = 0;
        CU_ASSERT_EQUAL(read(chain_mb.wake.rfd, &sends, sizeof sends), (ssize_t)sizeof sends);
        CU_ASSERT_EQUAL(sends, 1);
        dk_wake_send(&chain_mb.wake);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    CU_ASSERT_EQUAL(queued_ran, 5);
    CU_ASSERT_EQUAL(dk_mailbox_post(&chain_mb, &chain_mail[0], mb_chain, NULL), 0);
    for (int turn = 0; turn < 1000 && chain_ran < 100; turn++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CU_ASSERT_EQUAL(chain_ran, 100);
    dk_mailbox_close(&chain_mb);
    uv_run(&loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static CU_TestInfo mailbox_tests[] = {
    {"posts from many threads run once, in order, on the loop", test_many_posters},
    {"close drains the queue, then refuses", test_close_drains_then_refuses},
    {"one wake-up per burst, none lost", test_one_wake_per_burst},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "mailbox", .pTests = mailbox_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
