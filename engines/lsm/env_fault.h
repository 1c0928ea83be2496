/*
 * env_fault.h - an in-memory env for crash and fault tests (env_fault.c).
 *
 * Every mutating call (create, append, sync, truncate, rename, unlink,
 * mkdir, sync_dir, writeback) is a numbered "point". Arm the env to fail
 * point N: the call returns -EIO, and in crash mode every later call
 * fails too, as if the machine had stopped. dk__lsm_fault_crash() then models the
 * reboot: the namespace reverts to what the last directory sync made
 * durable and every file to its last synced bytes, optionally keeping a
 * random prefix of the unsynced tail (a torn write).
 */
#ifndef DK_LSM_ENV_FAULT_H
#define DK_LSM_ENV_FAULT_H
#include "env.h"

enum {
    LSM_FAULT_CRASH = 1,    /* after the failing point, every call fails */
    LSM_FAULT_SYNC_ONLY = 2 /* count only sync and sync_dir points */
};

/* A new empty in-memory env; seed drives torn-write lengths. Destroy with
 * env->ops->destroy. NULL when out of memory. */
lsm_env *dk__lsm_env_fault(uint64_t seed);
/* Fail the point numbered `at` (1-based, counted from now); 0 disarms. */
void dk__lsm_fault_arm(lsm_env *env, uint64_t at, int flags);
/* Model a full disk (or descriptor table): while err is nonzero (e.g.
 * -ENOSPC) every create fails with it and every append writes half of its
 * first piece, then fails with it. 0: room again. */
void dk__lsm_fault_full(lsm_env *env, int err);
/* Points counted since the last arm or crash. */
uint64_t dk__lsm_fault_points(lsm_env *env);
/* True once an armed failure has fired. */
int dk__lsm_fault_fired(lsm_env *env);
/* Reboot: drop everything not durable (see above), disarm. Call only
 * when no file of this env is open. */
void dk__lsm_fault_crash(lsm_env *env, int tear);
#endif
