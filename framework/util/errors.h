/*
 * errors.h - messages and symbolic names for dynkv error codes (the
 * DK_ERRNO_MAP list in dynkv/types.h) and -errno values.
 *
 * Internal to the framework and the in-tree plugins' tests: a plugin gets
 * the same two functions as dk_host.strerror and dk_host.err_name, so no
 * installed header names a symbol a vendor's plugin would have to link.
 */
#ifndef DK_UTIL_ERRORS_H
#define DK_UTIL_ERRORS_H

/* Message for a dynkv code or a -errno value; never NULL, static storage.
 * Any thread. */
const char *dk_strerror(int err);
/* Symbolic name ("DK_ENOTFOUND", "EIO", ...); never NULL, static storage. */
const char *dk_err_name(int err);

#endif /* DK_UTIL_ERRORS_H */
