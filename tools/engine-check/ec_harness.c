/*
 * ec_harness.c - dynkv-engine-check's assertions and the helpers that
 * drive the engine under test (ec.h): open and close it in folders under
 * te_root, put, delete and get through its ops table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ec.h"
#include "util/errors.h"

static pthread_mutex_t ec_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_t ec_main;
jmp_buf ec_jmp;
int ec_failed;

void ec_fail(const char *file, int line, const char *what, int fatal)
{
    pthread_mutex_lock(&ec_mu);
    ec_failed++;
    fprintf(stdout, "#   %s:%d: failed: %s\n", file, line, what);
    fflush(stdout);
    pthread_mutex_unlock(&ec_mu);
    if (fatal && pthread_equal(pthread_self(), ec_main))
        longjmp(ec_jmp, 1);
}

void ec_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# SKIP ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}


dk_config te_cfg;
dk_host_ctx te_ctx;
dk_host te_host;
dk_plugin_host *te_ph, *te_codecs;
const dk_engine_ops *te_ops;
const char *te_name;
char te_root[1024];
static int te_seq;

int te_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

dk_engine *te_open_at(const char *path)
{
    dk_engine_conf conf = {.struct_size = sizeof(conf), .path = path, .sync = 1};
    dk_engine *e = NULL;
    te_ctx.err[0] = '\0';
    int rc = te_ops->open(&te_host, &conf, &e);
    if (rc)
        printf("#   open %s: %s%s%s\n", path, dk_strerror(rc), te_ctx.err[0] ? ": " : "", te_ctx.err);
    EC_EQ_FATAL(rc, 0);
    EC_NOT_NULL_FATAL(e);
    return e;
}

/* A fresh engine in its own folder; the folder's path into path. */
dk_engine *te_open_fresh(char *path, size_t len)
{
    snprintf(path, len, "%s/db-%d", te_root, ++te_seq);
    EC_EQ_FATAL(mkdir(path, 0700), 0);
    return te_open_at(path);
}

void te_close(dk_engine *e)
{
    EC_EQ(te_ops->close(e), 0);
}

dk_slice te_s(const void *p, size_t n)
{
    dk_slice s = {p, n};
    return s;
}

dk_slice te_str(const char *s)
{
    return te_s(s, strlen(s));
}

int te_put(dk_engine *e, dk_slice k, dk_slice v)
{
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = k, .value = v};
    dk_batch b = {&op, 1};
    return te_ops->write(e, &b, 0);
}

int te_del(dk_engine *e, dk_slice k)
{
    dk_batch_op op = {.type = DK_BATCH_DELETE, .key = k};
    dk_batch b = {&op, 1};
    return te_ops->write(e, &b, 0);
}

static void te_sink(void *arg, dk_slice v)
{
    dk_buf *b = arg;
    b->len = 0;
    EC_EQ(dk_buf_append(b, v.ptr, v.len), 0);
}

/* get key; on 0 the value is in out (reset first). */
int te_get(dk_engine *e, dk_slice k, dk_buf *out)
{
    dk_buf_reset(out);
    return te_ops->get(e, k, te_sink, out);
}

/* 1 when key holds exactly v. */
int te_has(dk_engine *e, dk_slice k, dk_slice v)
{
    dk_buf b = DK_BUF_INIT;
    int ok = te_get(e, k, &b) == 0 && b.len == v.len && (v.len == 0 || memcmp(b.data, v.ptr, v.len) == 0);
    dk_buf_free(&b);
    return ok;
}

int te_cmp(dk_slice a, dk_slice b)
{
    int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
    return c ? c : (a.len < b.len ? -1 : a.len > b.len);
}
