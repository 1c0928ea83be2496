/*
 * ec.h - what the files of dynkv-engine-check share: the assertions (a
 * failed one counts against the running check group; the *_FATAL ones end
 * it from the main thread through ec_jmp), the engine under test and the
 * helpers the checks call it through (ec_harness.c), and the table of
 * check groups (ec_checks.c) that main (dynkv-engine-check.c) runs.
 */
#ifndef DK_ENGINE_CHECK_EC_H
#define DK_ENGINE_CHECK_EC_H
#include <pthread.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dynkv/engine.h"
#include "base/config.h"
#include "node/host.h"
#include "plugin/plugin_host.h"
#include "util/buf.h"

/* ---- assertions (ec_harness.c) ---- */
extern pthread_t ec_main;
extern jmp_buf ec_jmp;
extern int ec_failed; /* assertions failed in the current group */
void ec_fail(const char *file, int line, const char *what, int fatal);
void ec_skip(const char *fmt, ...) DK_PRINTF(1, 2);
#define EC_CHECK(cond, what, fatal)                                                                          \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            ec_fail(__FILE__, __LINE__, what, fatal);                                                        \
    } while (0)
#define EC_TRUE(e) EC_CHECK(e, #e, 0)
#define EC_FATAL(e) EC_CHECK(e, #e, 1)
#define EC_EQ(a, b) EC_CHECK((a) == (b), #a " == " #b, 0)
#define EC_EQ_FATAL(a, b) EC_CHECK((a) == (b), #a " == " #b, 1)
#define EC_NE(a, b) EC_CHECK((a) != (b), #a " != " #b, 0)
#define EC_STR_EQ(a, b) EC_CHECK(strcmp((a), (b)) == 0, #a " equals " #b, 0)
#define EC_NOT_NULL_FATAL(p) EC_CHECK((p) != NULL, #p " != NULL", 1)

/* ---- the engine under test (ec_harness.c; set up by main) ---- */
extern dk_config te_cfg; /* --set options: the engine's section */
extern dk_host_ctx te_ctx;
extern dk_host te_host;
extern dk_plugin_host *te_ph, *te_codecs;
extern const dk_engine_ops *te_ops;
extern const char *te_name;
extern char te_root[1024];

/* nftw callback removing what it visits. */
int te_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw);
/* Open the engine on path (fatal on failure). */
dk_engine *te_open_at(const char *path);
/* A fresh engine in its own folder under te_root; the folder into path. */
dk_engine *te_open_fresh(char *path, size_t len);
void te_close(dk_engine *e);
dk_slice te_s(const void *p, size_t n);
dk_slice te_str(const char *s);
int te_put(dk_engine *e, dk_slice k, dk_slice v);
int te_del(dk_engine *e, dk_slice k);
/* get key; on 0 the value is in out (reset first). */
int te_get(dk_engine *e, dk_slice k, dk_buf *out);
/* 1 when key holds exactly v. */
int te_has(dk_engine *e, dk_slice k, dk_slice v);
int te_cmp(dk_slice a, dk_slice b);

/* ---- the check groups (ec_checks.c) ---- */
typedef struct te_group {
    const char *name;
    void (*fn)(void);
} te_group;
extern const te_group te_groups[];
extern const size_t te_n_groups;
#endif
