/*
 * sysstat.c - process I/O counters, du and peak RSS for the benchmark.
 *
 * Write amplification uses the kernel's per-process write_bytes: it counts
 * a page when the process dirties it (or writes it with O_DIRECT), so a
 * 100-byte append to a page that is already dirty costs nothing more,
 * while an append after an fdatasync counts the page again, as the disk
 * sees it. Alternative not taken: summing the sizes of files created under
 * --db; that misses rewritten WAL pages and files deleted mid-run.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sysstat.h"

int dk__io_read(dk_io_counters *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -errno;
    char name[64];
    unsigned long long v;
    int found = 0;
    while (fscanf(f, "%63[^:]: %llu\n", name, &v) == 2) {
        if (!strcmp(name, "write_bytes")) {
            out->write_bytes = v;
            found |= 1;
        } else if (!strcmp(name, "read_bytes")) {
            out->read_bytes = v;
        } else if (!strcmp(name, "wchar")) {
            out->wchar = v;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : -EIO;
}

/* nftw has no user argument: one walk at a time (sysstat.h). */
static uint64_t du_used, du_apparent;

static int du_visit(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)p;
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode)) {
        du_used += (uint64_t)st->st_blocks * 512u;
        du_apparent += (uint64_t)st->st_size;
    }
    return 0;
}

int dk__du(const char *path, uint64_t *used, uint64_t *apparent)
{
    du_used = du_apparent = 0;
    if (nftw(path, du_visit, 16, FTW_PHYS) != 0)
        return errno ? -errno : -EIO;
    *used = du_used;
    *apparent = du_apparent;
    return 0;
}

uint64_t dk__peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

uint64_t dk__proc_cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

uint64_t dk__thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t dk__threads_cpu_ns(const char *comm)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    uint64_t sum = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[64], name[32] = "";
        unsigned long long ns = 0;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%.20s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int ok = fgets(name, sizeof(name), f) != NULL;
        fclose(f);
        name[strcspn(name, "\n")] = 0;
        if (!ok || strcmp(name, comm))
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%.20s/schedstat", de->d_name);
        if ((f = fopen(path, "r"))) {
            if (fscanf(f, "%llu", &ns) == 1)
                sum += ns;
            fclose(f);
        }
    }
    closedir(d);
    return sum;
}

static int rm_visit(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (ftw->level == 0)
        return 0;
    int rc = (type == FTW_DP) ? rmdir(p) : unlink(p);
    return rc == 0 ? 0 : -1;
}

int dk__rm_tree_contents(const char *path)
{
    if (nftw(path, rm_visit, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return errno ? -errno : -EIO;
    return 0;
}
