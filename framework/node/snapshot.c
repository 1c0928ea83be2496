/*
 * snapshot.c - write, list and delete node snapshots; notice a restored
 * one at start (snapshot.h).
 *
 * A snapshot is first written as snapshots/.NAME.tmp and renamed into
 * place once complete and synced, so a crash never leaves a folder that
 * looks like a snapshot but is not whole; a leftover .tmp is deleted by
 * the next snapshot of that name. The engine and the hint store are
 * checkpointed one after the other: a hint taken between the two belongs
 * to a write that another replica holds, and the restored node is
 * refilled from its peers anyway.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "node/snapshot.h"
#include "plugin/plugin_call.h"
#include "util/errors.h"

static _Atomic int snap_busy;

int dk_snapshot_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > DK_SNAPSHOT_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

static int rm_tree(const char *path)
{
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? 0 : -errno;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

static _Thread_local uint64_t du_total;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        du_total += (uint64_t)st->st_size;
    return 0;
}

static uint64_t du_tree(const char *path)
{
    du_total = 0;
    nftw(path, du_one, 16, FTW_PHYS);
    return du_total;
}

static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* A consistent copy of the catalog through a connection of our own (the
 * catalog is in WAL mode: this reads while the node writes). */
static int copy_catalog(const char *data_dir, const char *dest, char *err, size_t errlen)
{
    char src[DK_CONFIG_PATH_MAX + 32];
    snprintf(src, sizeof(src), "%s/catalog.db", data_dir);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(src, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(db, 5000);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, dest, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "copying %s to %s: %s", src, dest, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc != SQLITE_OK)
        return -EIO;
    return sync_path(dest);
}

static int write_marker(const char *dir, const dk_snapshot_info *info)
{
    char path[DK_CONFIG_PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/" DK_SNAPSHOT_MARKER, dir);
    FILE *f = fopen(path, "wx");
    if (!f)
        return -errno;
    fprintf(f, "name=%s\nnode=%s\ncreated_ms=%lld\n", info->name, info->node, (long long)info->created_ms);
    int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
    if (fclose(f) != 0 && !rc)
        rc = -errno;
    return rc;
}

/* Read a SNAPSHOT file into *info (name, node, created_ms); 0 or -errno. */
static int read_marker(const char *dir, dk_snapshot_info *info)
{
    char path[DK_CONFIG_PATH_MAX + 128], line[256];
    snprintf(path, sizeof(path), "%s/" DK_SNAPSHOT_MARKER, dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "name=", 5))
            snprintf(info->name, sizeof(info->name), "%.*s", DK_SNAPSHOT_NAME_MAX, line + 5);
        else if (!strncmp(line, "node=", 5))
            snprintf(info->node, sizeof(info->node), "%.*s", DK_CONFIG_NAME_MAX, line + 5);
        else if (!strncmp(line, "created_ms=", 11))
            info->created_ms = strtoll(line + 11, NULL, 10);
    }
    fclose(f);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int snap_write(dk_node *n, const char *tmp, dk_snapshot_info *info, char *err, size_t errlen)
{
    char path[DK_CONFIG_PATH_MAX + 160];
    int rc;
    if (mkdir(tmp, 0755) != 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return rc;
    }
    const struct {
        const char *what, *sub;
        void *obj;
    } parts[] = {
        {"the engine", "engine", n->engine},
        {"the hint store", "hints", n->hint_engine},
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        dk_engine_ref ref = {n->engine_ops, parts[i].obj};
        snprintf(path, sizeof(path), "%s/%s", tmp, parts[i].sub);
        if ((rc = dk_engine_checkpoint(&ref, path)) != 0) {
            snprintf(err, errlen,
                     rc == DK_EUNSUPPORTED ? "engine %s cannot take snapshots (no checkpoint method)"
                                           : "checkpoint of %s failed: %s",
                     rc == DK_EUNSUPPORTED ? n->engine_plugin->name : parts[i].what, dk_strerror(rc));
            return rc;
        }
    }
    snprintf(path, sizeof(path), "%s/catalog.db", tmp);
    if ((rc = copy_catalog(n->cfg->node.data_dir, path, err, errlen)))
        return rc;
    if ((rc = write_marker(tmp, info)) || (rc = sync_path(tmp))) {
        snprintf(err, errlen, "%s: cannot write the snapshot marker: %s", tmp, strerror(-rc));
        return rc;
    }
    return 0;
}

int dk_snapshot_create(dk_node *n, const char *name, dk_snapshot_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof(*info));
    if (!dk_snapshot_name_ok(name, strlen(name))) {
        snprintf(err, errlen, "a snapshot name matches [A-Za-z0-9_.-]{1,%d} and does not start with '.'",
                 DK_SNAPSHOT_NAME_MAX);
        return -EINVAL;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&snap_busy, &expected, 1)) {
        snprintf(err, errlen, "another snapshot is being written on this node; retry when it is done");
        return -EBUSY;
    }
    char root[DK_CONFIG_PATH_MAX + 16], final[DK_CONFIG_PATH_MAX + 96], tmp[DK_CONFIG_PATH_MAX + 104];
    snprintf(root, sizeof(root), "%s/snapshots", n->cfg->node.data_dir);
    snprintf(final, sizeof(final), "%s/%s", root, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", root, name);
    snprintf(info->name, sizeof(info->name), "%s", name);
    snprintf(info->node, sizeof(info->node), "%s", n->cfg->node.id);
    info->created_ms = now_ms();
    int rc = 0;
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot create: %s", root, strerror(errno));
    } else if (access(final, F_OK) == 0) {
        rc = -EEXIST;
        snprintf(err, errlen, "snapshot %s exists already; delete it first or choose another name", name);
    } else if ((rc = rm_tree(tmp)) != 0) {
        snprintf(err, errlen, "%s: cannot remove a leftover: %s", tmp, strerror(-rc));
    } else if ((rc = snap_write(n, tmp, info, err, errlen)) == 0) {
        if (rename(tmp, final) != 0 || sync_path(root) != 0) {
            rc = -errno;
            snprintf(err, errlen, "%s: cannot rename into place: %s", final, strerror(errno));
        }
    }
    if (rc)
        rm_tree(tmp);
    else
        info->bytes = du_tree(final);
    if (rc)
        dk_log(DK_LOG_ERROR, "snapshot %s failed: %s", name, err);
    else
        dk_log(DK_LOG_INFO, "snapshot %s written to %s (%llu bytes)", name, final,
               (unsigned long long)info->bytes);
    atomic_store(&snap_busy, 0);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dk_snapshot_list(dk_node *n, void (*fn)(void *arg, const dk_snapshot_info *s), void *arg)
{
    char root[DK_CONFIG_PATH_MAX + 16], dir[DK_CONFIG_PATH_MAX + 96];
    snprintf(root, sizeof(root), "%s/snapshots", n->cfg->node.data_dir);
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!dk_snapshot_name_ok(e->d_name, strlen(e->d_name)))
            continue; /* ".", "..", a .NAME.tmp being written */
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(names, cap * sizeof(*names));
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            names = grown;
        }
        if (!(names[count] = strdup(e->d_name))) {
            rc = -ENOMEM;
            break;
        }
        count++;
    }
    closedir(d);
    if (!rc && count)
        qsort(names, count, sizeof(*names), name_cmp);
    for (size_t i = 0; i < count; i++) {
        dk_snapshot_info info = {0};
        snprintf(dir, sizeof(dir), "%s/%s", root, names[i]);
        if (!rc && read_marker(dir, &info) == 0) {
            snprintf(info.name, sizeof(info.name), "%s", names[i]);
            info.bytes = du_tree(dir);
            fn(arg, &info);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int dk_snapshot_remove(dk_node *n, const char *name, char *err, size_t errlen)
{
    if (!dk_snapshot_name_ok(name, strlen(name))) {
        snprintf(err, errlen, "no such snapshot name: names match [A-Za-z0-9_.-]{1,%d}",
                 DK_SNAPSHOT_NAME_MAX);
        return -EINVAL;
    }
    char dir[DK_CONFIG_PATH_MAX + 96];
    snprintf(dir, sizeof(dir), "%s/snapshots/%s", n->cfg->node.data_dir, name);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "no snapshot %s on this node", name);
        return DK_ENOTFOUND;
    }
    int rc = rm_tree(dir);
    if (rc)
        snprintf(err, errlen, "%s: cannot delete: %s", dir, strerror(-rc));
    else
        dk_log(DK_LOG_INFO, "snapshot %s deleted", name);
    return rc;
}

int dk_snapshot_restored(const char *data_dir, dk_snapshot_info *info)
{
    memset(info, 0, sizeof(*info));
    return read_marker(data_dir, info) == 0;
}

int dk_snapshot_restore_done(const char *data_dir)
{
    char path[DK_CONFIG_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/" DK_SNAPSHOT_MARKER, data_dir);
    if (unlink(path) != 0 && errno != ENOENT)
        return -errno;
    return sync_path(data_dir);
}
