/*
 * test-lsm-kill.c - crash tests with real processes: a child process
 * writes synced batches through the LSM engine (a 16 KiB memtable, so it
 * flushes and compacts all the time) and reports each acknowledged batch
 * on a pipe; the parent kills it with SIGKILL after a random delay, opens
 * the database itself and checks that every acknowledged batch is there
 * and intact and that no batch is half-applied: the contents must be
 * exactly the state after batches 0..k-1, where k-1 is the last
 * acknowledged batch or the one in flight. Then it starts the next child
 * from batch k. DK_LSM_KILLS sets the number of kills (default 60).
 *
 * Every other round the parent waits (up to 30 s) for the child's first
 * acknowledgement before it starts the delay, so those children always
 * make progress however loaded the machine is (a child killed 2-42 ms
 * after fork may not have opened the database yet); the other rounds kill
 * at any point, during recovery and open too.
 *
 * Batch i writes two keys in one atomic batch: "k%02d" (i mod 50) with a
 * value naming i, and "last" = i; every 7th batch also deletes another key.
 */
#include "test-lsm-util.h"
#include "util/errors.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KL_KEYS 50

static dk_fake_host kh;
static int kl_init(void)
{
    dk_fake_host_init(&kh);
    return 0;
}
static int kl_clean(void)
{
    dk_fake_host_destroy(&kh);
    return 0;
}

typedef struct kl_model {
    int present[KL_KEYS];
    char val[KL_KEYS][256];
} kl_model;

static void kl_value(char *v, size_t len, int i)
{
    snprintf(v, len, "batch-%d-%0*d", i, 20 + i % 150, i);
}

static size_t kl_batch(int i, dk_batch_op *ops, char *kbuf, char *vbuf, char *kdel, char *lbuf)
{
    size_t n = 0;
    snprintf(kbuf, 16, "k%02d", i % KL_KEYS);
    kl_value(vbuf, 256, i);
    ops[n++] = (dk_batch_op){.type = DK_BATCH_PUT, .key = tl_str(kbuf), .value = tl_str(vbuf)};
    if (i % 7 == 6) {
        snprintf(kdel, 16, "k%02d", (i * 3 + 11) % KL_KEYS);
        ops[n++] = (dk_batch_op){.type = DK_BATCH_DELETE, .key = tl_str(kdel)};
    }
    snprintf(lbuf, 16, "%d", i);
    ops[n++] = (dk_batch_op){.type = DK_BATCH_PUT, .key = tl_str("last"), .value = tl_str(lbuf)};
    return n;
}

static void kl_apply(kl_model *m, int i)
{
    dk_batch_op ops[3];
    char k[16], v[256], d[16], l[16];
    size_t n = kl_batch(i, ops, k, v, d, l);
    for (size_t j = 0; j + 1 < n; j++) {
        int key = atoi((const char *)ops[j].key.ptr + 1);
        m->present[key] = ops[j].type == DK_BATCH_PUT;
        if (m->present[key])
            snprintf(m->val[key], sizeof(m->val[key]), "%s", v);
    }
}

/* Child: write batches from `start` on, report each acknowledged one. */
static void kl_child(const char *dir, int start, int fd)
{
    lsm_env *env = dk__lsm_env_posix();
    int rc;
    lsm_db *db = tl_open(&kh, env, dir, 16 * 1024, NULL, &rc);
    if (!db)
        _exit(3);
    for (int i = start; i < start + 1000000; i++) {
        dk_batch_op ops[3];
        char k[16], v[256], d[16], l[16];
        dk_batch b = {ops, kl_batch(i, ops, k, v, d, l)};
        if (dk__lsm_engine_ops.write(&db->base, &b, 1))
            _exit(4);
        if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
            _exit(5);
    }
    _exit(0);
}

static void test_sigkill(void)
{
    char dir[64];
    tl_mkdtemp(dir);
    const char *s = getenv("DK_LSM_KILLS");
    int kills = s && atoi(s) > 0 ? atoi(s) : 60;
    kl_model m;
    memset(&m, 0, sizeof(m));
    int next = 0, bad = 0, lost = 0, open_fail = 0, stalled = 0;
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "sigkill: seed %u\n", seed);
    srand(seed);
    uint64_t flushes_seen = 0;
    for (int round = 0; round < kills; round++) {
        int p[2];
        CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            kl_child(dir, next, p[1]);
        }
        close(p[1]);
        int acked = next - 1, x;
        if (round % 2) {
            struct pollfd pf = {.fd = p[0], .events = POLLIN};
            if (poll(&pf, 1, 30000) == 1 && read(p[0], &x, sizeof(x)) == (ssize_t)sizeof(x))
                acked = x;
            else
                stalled++;
        }
        usleep(2000 + (useconds_t)(rand() % 40000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        while (read(p[0], &x, sizeof(x)) == (ssize_t)sizeof(x))
            acked = x;
        close(p[0]);
        if (!WIFSIGNALED(st)) {
            fprintf(stderr, "round %d: child exited with status %d\n", round, WEXITSTATUS(st));
            bad++;
            break;
        }
        lsm_env *env = dk__lsm_env_posix();
        int rc;
        lsm_db *db = tl_open(&kh, env, dir, 16 * 1024, NULL, &rc);
        if (!db) {
            fprintf(stderr, "round %d: reopen failed: %s\n", round, dk_strerror(rc));
            open_fail++;
            env->ops->destroy(env);
            break;
        }
        dk_buf b = DK_BUF_INIT;
        int last = -1;
        if (tl_get(db, "last", &b) == 0)
            last = atoi((const char *)b.data);
        /* Acknowledged batches survive; at most the one in flight more. */
        if (last < acked || last > acked + 1) {
            fprintf(stderr, "round %d: last batch %d, acknowledged %d\n", round, last, acked);
            lost++;
        }
        while (next <= last)
            kl_apply(&m, next++);
        for (int k = 0; k < KL_KEYS; k++) {
            char key[16];
            snprintf(key, sizeof(key), "k%02d", k);
            int rc2 = tl_get(db, key, &b);
            if (m.present[k] ? rc2 != 0 || strcmp((const char *)b.data, m.val[k]) : rc2 != DK_ENOTFOUND) {
                if (bad++ < 3)
                    fprintf(stderr, "round %d: key %s differs from the state after %d batches\n", round, key,
                            next);
            }
        }
        dk_buf_free(&b);
        pthread_mutex_lock(&db->mu);
        flushes_seen += db->cur->n;
        pthread_mutex_unlock(&db->mu);
        tl_close(db);
        env->ops->destroy(env);
    }
    fprintf(stderr, "sigkill: %d kills, %d batches acknowledged and verified\n", kills, next);
    CU_ASSERT_EQUAL(open_fail, 0);
    CU_ASSERT_EQUAL(lost, 0);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(stalled, 0);       /* every child waited for acknowledged a batch in 30 s */
    CU_ASSERT_TRUE(next >= kills / 2); /* so at least one batch per such round */
    CU_ASSERT_TRUE(flushes_seen > 0);  /* and wrote tables, not only WALs */
    tl_rmtree(dir);
}

static CU_TestInfo kl_tests[] = {
    {"sigkill", test_sigkill},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "lsm-kill", .pInitFunc = kl_init, .pCleanupFunc = kl_clean, .pTests = kl_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
