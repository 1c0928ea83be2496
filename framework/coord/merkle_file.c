/*
 * merkle_file.c - write and read the saved copy of the Merkle trees (format
 * and contract in merkle_file.h).
 *
 * The whole file is built in memory and written in one go (a group is
 * 32 KiB of leaves; a node belongs to a handful of groups), and read back
 * the same way, bounded by MF_SIZE_MAX. Every length is checked against
 * what is left before it is used, and the checksum before anything is
 * trusted, so a damaged file is reported with the offset where it goes
 * wrong and never read past its end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "coord/merkle_file.h"
#include "util/coding.h"

#define MF_MAGIC "DKMT"
#define MF_HEADER 36u /* magic, version, seq, saved_ms, files, node id length */
#define MF_GROUP_LEAVES (8u * DK_MERKLE_LEAVES)
#define MF_SIZE_MAX (256u << 20)

static void mf_path(char *out, size_t len, const char *dir, const char *suffix)
{
    snprintf(out, len, "%s/%s%s", dir, DK_MERKLE_FILE, suffix);
}

static int mf_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int mf_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int dk_merkle_file_write(const char *dir, const dk_merkle_file *f, char *err, size_t errlen)
{
    char path[4200], tmp[4200];
    mf_path(path, sizeof(path), dir, "");
    mf_path(tmp, sizeof(tmp), dir, ".tmp");
    size_t idlen = strlen(f->node), size = MF_HEADER + idlen + 4 + 8;
    for (size_t i = 0; i < f->n; i++)
        size += 4 + strlen(f->g[i].key) + MF_GROUP_LEAVES;
    uint8_t *b = malloc(size), *p = b;
    if (!b) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    memcpy(p, MF_MAGIC, 4);
    dk_put_u32(p + 4, DK_MERKLE_FILE_VERSION);
    dk_put_u64(p + 8, f->seq);
    dk_put_u64(p + 16, (uint64_t)f->saved_ms);
    dk_put_u64(p + 24, f->files);
    dk_put_u32(p + 32, (uint32_t)idlen);
    memcpy(p + MF_HEADER, f->node, idlen);
    p += MF_HEADER + idlen;
    dk_put_u32(p, (uint32_t)f->n);
    p += 4;
    for (size_t i = 0; i < f->n; i++) {
        size_t klen = strlen(f->g[i].key);
        dk_put_u32(p, (uint32_t)klen);
        memcpy(p + 4, f->g[i].key, klen);
        p += 4 + klen;
        for (uint32_t k = 0; k < DK_MERKLE_LEAVES; k++, p += 8)
            dk_put_u64(p, f->g[i].leaf[k]);
    }
    dk_put_u64(p, XXH3_64bits(b, (size_t)(p - b)));

    const char *step = "create";
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        rc = -errno;
    if (!rc) {
        step = "write";
        rc = mf_write_all(fd, b, size);
    }
    if (!rc && fsync(fd) != 0) {
        step = "fsync";
        rc = -errno;
    }
    if (fd >= 0 && close(fd) != 0 && !rc) {
        step = "close";
        rc = -errno;
    }
    if (!rc && rename(tmp, path) != 0) {
        step = "rename";
        rc = -errno;
    }
    if (!rc) {
        step = "sync the folder of";
        rc = mf_sync_dir(dir);
    }
    if (rc) {
        snprintf(err, errlen, "cannot %s %s: %s", step, tmp, strerror(-rc));
        unlink(tmp);
    }
    free(b);
    return rc;
}

static int mf_corrupt(const char *path, size_t off, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s at offset %zu: %s", path, off, what);
    return DK_ECORRUPT;
}

/* Read all of path into *out (malloc'd). */
static int mf_slurp(const char *path, uint8_t **out, size_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(fd, &st) ? -errno : 0;
    if (!rc && (st.st_size < 0 || (uint64_t)st.st_size > MF_SIZE_MAX))
        rc = -EFBIG;
    uint8_t *b = rc ? NULL : malloc((size_t)st.st_size + 1);
    if (!rc && !b)
        rc = -ENOMEM;
    size_t got = 0;
    while (!rc && got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = r < 0 ? -errno : -EIO;
        else
            got += (size_t)r;
    }
    close(fd);
    if (rc) {
        free(b);
        return rc;
    }
    *out = b;
    *len = got;
    return 0;
}

int dk_merkle_file_read(const char *dir, dk_merkle_file *f, char *err, size_t errlen)
{
    char path[4200];
    mf_path(path, sizeof(path), dir, "");
    memset(f, 0, sizeof(*f));
    uint8_t *b;
    size_t len = 0;
    int rc = mf_slurp(path, &b, &len);
    if (rc == -EFBIG)
        return mf_corrupt(path, 0, "larger than any saved tree file", err, errlen);
    if (rc) {
        if (rc != -ENOENT)
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    size_t at = 0;
    if (len < MF_HEADER + 4 + 8 || memcmp(b, MF_MAGIC, 4) != 0) {
        rc = mf_corrupt(path, 0, "not a saved Merkle tree file", err, errlen);
        goto out;
    }
    if (dk_get_u32(b + 4) < DK_MERKLE_FILE_VERSION) {
        snprintf(err, errlen, "%s holds trees of an older release (format version %u, not %u)", path,
                 (unsigned)dk_get_u32(b + 4), DK_MERKLE_FILE_VERSION);
        rc = -ESTALE;
        goto out;
    }
    if (dk_get_u32(b + 4) != DK_MERKLE_FILE_VERSION) {
        rc = mf_corrupt(path, 4, "unknown format version", err, errlen);
        goto out;
    }
    size_t end = len - 8;
    if (dk_get_u64(b + end) != XXH3_64bits(b, end)) {
        rc = mf_corrupt(path, end, "checksum mismatch", err, errlen);
        goto out;
    }
    f->seq = dk_get_u64(b + 8);
    f->saved_ms = (int64_t)dk_get_u64(b + 16);
    f->files = dk_get_u64(b + 24);
    uint32_t idlen = dk_get_u32(b + 32);
    at = MF_HEADER;
    if (idlen == 0 || idlen > DK_NODE_ID_MAX || idlen + 4 > end - at) {
        rc = mf_corrupt(path, 32, "bad node id length", err, errlen);
        goto out;
    }
    memcpy(f->node, b + at, idlen);
    at += idlen;
    uint32_t n = dk_get_u32(b + at);
    if (n > (end - at - 4) / (4 + MF_GROUP_LEAVES)) {
        rc = mf_corrupt(path, at, "more groups than the file holds", err, errlen);
        goto out;
    }
    at += 4;
    if (n && !(f->g = calloc(n, sizeof(*f->g)))) {
        rc = -ENOMEM;
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t klen = end - at >= 4 ? dk_get_u32(b + at) : 0;
        if (klen == 0 || klen > DK_MERKLE_FILE_KEY_MAX || (uint64_t)klen + 4 + MF_GROUP_LEAVES > end - at) {
            rc = mf_corrupt(path, at, "bad group", err, errlen);
            goto out;
        }
        memcpy(f->g[i].key, b + at + 4, klen);
        at += 4 + klen;
        for (uint32_t k = 0; k < DK_MERKLE_LEAVES; k++, at += 8)
            f->g[i].leaf[k] = dk_get_u64(b + at);
        f->n = i + 1;
    }
    if (at != end)
        rc = mf_corrupt(path, at, "trailing bytes after the last group", err, errlen);
out:
    free(b);
    return rc;
}

int dk_merkle_file_remove(const char *dir)
{
    char path[4200];
    mf_path(path, sizeof(path), dir, "");
    if (unlink(path) != 0)
        return errno == ENOENT ? 0 : -errno;
    return mf_sync_dir(dir);
}

void dk_merkle_file_free(dk_merkle_file *f)
{
    free(f->g);
    f->g = NULL;
    f->n = 0;
}
