/*
 * errors.h - messages and symbolic names for dynkv error codes (the
 * DK_ERRNO_MAP list in dynkv/types.h) and -errno values, and dk_errf, the
 * one way a failing function fills its caller's err buffer.
 *
 * Internal to the framework and the in-tree plugins' tests: a plugin gets
 * the same two functions as dk_host.strerror and dk_host.err_name, so no
 * installed header names a symbol a vendor's plugin would have to link.
 */
#ifndef DK_UTIL_ERRORS_H
#define DK_UTIL_ERRORS_H
#include <stddef.h>

#include "dynkv/types.h"

/* Message for a dynkv code or a -errno value; never NULL, static storage.
 * Any thread. */
const char *dk_strerror(int err);
/* Symbolic name ("DK_ENOTFOUND", "EIO", ...); never NULL, static storage. */
const char *dk_err_name(int err);

/* Format a message into err[0..errlen) (nothing when err is NULL or errlen
 * is 0; truncated to fit) and return rc, so that a failure reads
 * `return dk_errf(DK_ECORRUPT, err, errlen, "...", ...);`. Any thread. */
int dk_errf(int rc, char *err, size_t errlen, const char *fmt, ...) DK_PRINTF(4, 5);

#endif /* DK_UTIL_ERRORS_H */
