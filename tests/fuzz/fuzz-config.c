/*
 * fuzz-config.c - libFuzzer target for the INI configuration parser
 * (framework/base/config_*.c over Debian's inih): the bytes of a node's
 * .ini file.
 *
 * inih reads from a FILE*, so each input is written to one temporary file
 * (created once per process with mkstemp, truncated and rewritten on every
 * run, removed at exit) and loaded with dk_config_load_file over the
 * defaults, as dynkvd does. Beyond "never crash": a failed load returns
 * DK_ECONFIG with a non-empty, NUL-terminated message; a successful one
 * also goes through dk_config_check under the same rule. A violated
 * property aborts, which libFuzzer reports as a crash with the input saved.
 *
 * Build (clang, see tests/fuzz/run-fuzz.sh): the sources on the config:
 * line of tests/fuzz/targets.txt, with -linih.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_path[] = "/tmp/dk-fuzz-config-XXXXXX";
static int fz_fd = -1;

static void fz_check(int ok)
{
    if (!ok)
        abort();
}

static void fz_cleanup(void)
{
    unlink(fz_path);
}

/* An error must be DK_ECONFIG with a message that says something. */
static void fz_error_ok(int rc, const char *err, size_t errlen)
{
    if (rc == 0)
        return;
    fz_check(rc == DK_ECONFIG);
    fz_check(memchr(err, '\0', errlen) != NULL && err[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_fd < 0) {
        fz_fd = mkstemp(fz_path);
        fz_check(fz_fd >= 0);
        atexit(fz_cleanup);
    }
    fz_check(ftruncate(fz_fd, 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fz_fd, data + done, size - done, (off_t)done);
        fz_check(n > 0);
        done += (size_t)n;
    }

    dk_config c;
    char err[512];
    dk_config_defaults(&c);
    memset(err, 'x', sizeof(err)); /* no stale NUL to hide a missing message */
    int rc = dk_config_load_file(&c, fz_path, err, sizeof(err));
    fz_error_ok(rc, err, sizeof(err));
    if (rc == 0) {
        memset(err, 'x', sizeof(err));
        fz_error_ok(dk_config_check(&c, err, sizeof(err)), err, sizeof(err));
    }
    dk_config_free(&c);
    return 0;
}
