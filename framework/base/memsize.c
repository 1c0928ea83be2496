/*
 * memsize.c - the memory this process may use, and the block cache size
 * that follows it (the rule and its reasons are in memsize.h).
 *
 * The cgroup limit is read from the group /proc/self/cgroup names (v2,
 * "0::/path"), then from the root of the mounted hierarchy (a container
 * sees its own group there), then v1's memory controller. "max" or a
 * limit above RAM means no limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/memsize.h"

/* The unsigned number at the start of the file at path, or 0. */
static uint64_t mem_read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[64];
    uint64_t v = 0;
    if (fgets(line, sizeof line, f)) {
        char *end;
        unsigned long long n = strtoull(line, &end, 10);
        if (end != line)
            v = (uint64_t)n;
    }
    fclose(f);
    return v;
}

/* This process's group in the hierarchy whose /proc/self/cgroup line
 * starts with prefix ("0::" for v2, or ends a v1 line naming the memory
 * controller: ":memory:"), or "" when none. */
static void mem_cgroup_path(const char *prefix, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *at =
            strcmp(prefix, "0::") == 0 ? (strncmp(line, prefix, 3) == 0 ? line : NULL) : strstr(line, prefix);
        if (at) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, len, "%s", at + strlen(prefix));
            break;
        }
    }
    fclose(f);
}

/* The limit file under root for this process's group (when it has one
 * besides the root), else at root itself: 0 when neither reads. */
static uint64_t mem_cgroup_file(const char *prefix, const char *root, const char *file)
{
    char group[900], path[1024];
    uint64_t v = 0;
    mem_cgroup_path(prefix, group, sizeof group);
    if (group[0] && strcmp(group, "/") != 0) {
        snprintf(path, sizeof path, "%s%s/%s", root, group, file);
        v = mem_read_number(path);
    }
    if (!v) {
        snprintf(path, sizeof path, "%s/%s", root, file);
        v = mem_read_number(path);
    }
    return v;
}

static uint64_t mem_cgroup_limit(void)
{
    uint64_t v = mem_cgroup_file("0::", "/sys/fs/cgroup", "memory.max");
    return v ? v : mem_cgroup_file(":memory:", "/sys/fs/cgroup/memory", "memory.limit_in_bytes");
}

uint64_t dk_mem_usable(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    uint64_t limit = mem_cgroup_limit();
    if (limit && (!ram || limit < ram))
        return limit;
    return ram;
}

uint64_t dk_block_cache_size(uint64_t configured, uint64_t mem)
{
    if (configured != DK_CONFIG_AUTO)
        return configured;
    if (!mem)
        return DK_BLOCK_CACHE_UNKNOWN;
    uint64_t v = mem / DK_BLOCK_CACHE_AUTO_DIV;
    if (v < DK_BLOCK_CACHE_AUTO_MIN)
        v = DK_BLOCK_CACHE_AUTO_MIN;
    if (v > DK_BLOCK_CACHE_AUTO_MAX)
        v = DK_BLOCK_CACHE_AUTO_MAX;
    return v;
}
