/*
 * tc_resolve.h - what test-resolve.c and test-supersede.c share: the real
 * conflict plugins loaded through a plugin host from $DYNKV_PLUGIN_PATH
 * as a node loads them, a resolver set per plain resolver (the crdt
 * resolver for CRDT objects in each), and the history builder both play
 * their histories with: a write applied to a stored encoding by
 * dk_resolve_update, as a replica applies a client's write. tr_counter_of
 * reads a CRDT counter back through dk_resolve_value.
 *
 * Header-only with static state, like tc_cluster.h: each program is one
 * file, and the suite init/cleanup of CUnit take no argument.
 */
#ifndef DK_TEST_TC_RESOLVE_H
#define DK_TEST_TC_RESOLVE_H
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "node/host.h"
#include "node/object.h"
#include "node/resolve.h"
#include "plugin/plugin_host.h"
#include "util/crdt_codec.h"
#include "util/vv.h"

#define NOW 1700000000000LL

static dk_plugin_host *tr_ph;
static dk_host_ctx tr_hctx = {.log_prefix = "test"};
static dk_host tr_host;

/* The plugin host and the dk_host the resolvers get. 0 or -1. */
static inline int tr_host_open(void)
{
    char err[512];
    const char *dir = getenv("DYNKV_PLUGIN_PATH");
    if (!dir || dk_plugin_host_new(dir, &tr_ph, err, sizeof(err)))
        return -1;
    dk_host_init(&tr_host, &tr_hctx);
    return 0;
}

/* rs: the conflict plugin `plain` for plain objects, crdt for CRDTs. */
static inline int tr_resolvers_open(dk_resolvers *rs, const char *plain)
{
    char err[512];
    const dk_loaded_plugin *p, *crdt;
    if (dk_plugin_load(tr_ph, DK_PLUGIN_CONFLICT, plain, &p, err, sizeof(err)) ||
        dk_plugin_load(tr_ph, DK_PLUGIN_CONFLICT, "crdt", &crdt, err, sizeof(err)))
        return -1;
    if (dk_resolver_open(p->ops, &tr_host, NULL, &rs->by_type[DK_OBJECT_PLAIN]) ||
        dk_resolver_open(crdt->ops, &tr_host, NULL, &rs->by_type[DK_OBJECT_CRDT]))
        return -1;
    return 0;
}

static inline void tr_resolvers_close(dk_resolvers *rs)
{
    for (int t = 0; t < DK_OBJECT_TYPES; t++)
        dk_resolver_close(&rs->by_type[t]);
}

static inline void tr_host_close(void)
{
    dk_plugin_host_free(tr_ph);
    tr_ph = NULL;
}

/* A write of type through actor (e.g. "n1") at time now over the stored
 * encoding *raw (replaced on success): over the copy's context when ctx
 * or tombstone, else blind; value is the value, or a CRDT's encoded
 * operation. Returns dk_resolve_update's code. */
static inline int tr_write(const dk_resolvers *rs, dk_buf *raw, int type, const char *actor, int64_t now,
                           int ctx, int tombstone, dk_slice value)
{
    dk_object cur;
    dk_object_init(&cur);
    if (raw->len)
        CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(raw), &cur, NULL, 0), 0);
    dk_write w = {.context = ctx || tombstone ? &cur.vv : NULL,
                  .now_ms = now,
                  .flags = tombstone ? DK_SIB_TOMBSTONE : 0,
                  .value = value};
    CU_ASSERT_FATAL(dk_actor_set(&w.actor, actor, 1) == 0);
    dk_buf out = DK_BUF_INIT;
    int rc = dk_resolve_update(rs, type, dk_buf_slice(raw), &cur, &w, &out);
    if (rc == 0) {
        dk_buf_free(raw);
        *raw = out;
    } else {
        dk_buf_free(&out);
    }
    dk_object_free(&cur);
    return rc;
}

static inline void tr_value_sink(void *arg, dk_slice v)
{
    dk_crdt_value *out = arg;
    static uint8_t copy[256];
    CU_ASSERT_FATAL(v.len <= sizeof(copy));
    memcpy(copy, v.ptr, v.len);
    CU_ASSERT_EQUAL(dk_crdt_value_decode((dk_slice){copy, v.len}, out), 0);
}

/* The count of the CRDT counter stored in raw, read through rs. */
static inline int64_t tr_counter_of(const dk_resolvers *rs, const dk_buf *raw)
{
    dk_object o;
    dk_crdt_value v;
    memset(&v, 0, sizeof(v));
    dk_object_init(&o);
    CU_ASSERT_EQUAL_FATAL(dk_object_decode(dk_buf_slice(raw), &o, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(dk_resolve_value(rs, dk_buf_slice(raw), &o, tr_value_sink, &v), 0);
    dk_object_free(&o);
    CU_ASSERT_EQUAL(v.type, DK_CRDT_COUNTER);
    return v.count;
}

#endif /* DK_TEST_TC_RESOLVE_H */
