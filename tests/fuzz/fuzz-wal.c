/*
 * fuzz-wal.c - libFuzzer target for the LSM engine's log parsers: the
 * input is written as a WAL file and replayed (every op of every accepted
 * record decoded), then as a manifest (with CURRENT naming it) and
 * recovered. Both must return an error or a consistent result, never
 * crash or read out of bounds; the in-memory env keeps it fast.
 */
#include <stdlib.h>
#include <string.h>

#include "engines/lsm/env_fault.h"
#include "engines/lsm/version.h"
#include "engines/lsm/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fz_cb(void *arg, uint64_t seq, uint32_t count, const uint8_t *ops, size_t n)
{
    size_t *total = arg;
    const uint8_t *p = ops, *end = ops + n;
    (void)seq;
    for (uint32_t i = 0; i < count; i++) {
        int type;
        dk_slice k, v;
        if (dk__lsm_wal_op_next(&p, end, &type, &k, &v))
            abort(); /* replay promised these ops parse */
        *total += k.len + v.len;
    }
    if (p != end)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsm_env *env = dk__lsm_env_fault(1);
    if (!env)
        return 0;
    if (dk__lsm_env_write_atomic(env, "/d", "000001.log", data, size) == 0) {
        size_t total = 0;
        uint64_t dropped = 0, off = 0;
        /* A clean end (dropped 0) may stop before the file's end: a recycled log
         * ends at the first whole record of an older log number. */
        if (dk__lsm_wal_replay(env, "/d/000001.log", fz_cb, &total, &dropped, &off) == 0 &&
            (off > size || (dropped && dropped + off != size)))
            abort();
    }
    static const char cur[] = "MANIFEST-000002\n";
    if (dk__lsm_env_write_atomic(env, "/d", "MANIFEST-000002", data, size) == 0 &&
        dk__lsm_env_write_atomic(env, "/d", "CURRENT", cur, sizeof(cur) - 1) == 0) {
        lsm_recovered r;
        if (dk__lsm_manifest_recover(env, "/d", NULL, &r) == 0)
            dk__lsm_recovered_free(&r);
    }
    env->ops->destroy(env);
    return 0;
}
