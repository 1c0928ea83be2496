/*
 * errors.c - messages and names for dynkv error codes, generated from the
 * single DK_ERRNO_MAP list in dynkv/types.h; -errno values fall through to
 * the C library. dk_errf formats a caller's error message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "dynkv/types.h"
#include "util/errors.h"

const char *dk_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
/* clang-format off */
#define DK__ERR_MSG(name, code, msg) case code: return msg;
        DK_ERRNO_MAP(DK__ERR_MSG)
#undef DK__ERR_MSG
        /* clang-format on */
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

const char *dk_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
/* clang-format off */
#define DK__ERR_NAME(name, code, msg) case code: return "DK_E" #name;
        DK_ERRNO_MAP(DK__ERR_NAME)
#undef DK__ERR_NAME
/* clang-format on */
/* clang-format off */
#define DK__SYS(e) case -e: return #e;
        DK__SYS(EIO) DK__SYS(ENOMEM) DK__SYS(ENOENT) DK__SYS(EEXIST)
        DK__SYS(EINVAL) DK__SYS(ENOSPC) DK__SYS(EACCES) DK__SYS(EAGAIN)
        DK__SYS(ENOTDIR) DK__SYS(EBUSY) DK__SYS(ECONNREFUSED) DK__SYS(ETIMEDOUT)
#undef DK__SYS
            /* clang-format on */
            default : return "UNKNOWN";
    }
}

int dk_errf(int rc, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}
