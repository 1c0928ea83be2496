/*
 * cluster_key.c - load, generate and derive from the cluster key (see
 * cluster_key.h). The file holds hex rather than raw bytes so an operator
 * can copy it between machines with any tool and see at a glance that it
 * is whole; the mode check follows ssh: a secret others can read is a
 * configuration error, not a warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cluster_key.h"
#include "dynkv/types.h"
#include "util/hex.h"

#define HEX_LEN (2 * DK_CLUSTER_KEY_LEN)

static void unkeyed(dk_cluster_key *k, const char *cluster_name)
{
    static const char label[] = "dynkv unkeyed cluster:";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) || !EVP_DigestUpdate(md, label, sizeof label - 1) ||
        !EVP_DigestUpdate(md, cluster_name, strlen(cluster_name)) || !EVP_DigestFinal_ex(md, k->bytes, &len))
        memset(k->bytes, 0, sizeof k->bytes); /* only on allocation failure: still deterministic */
    EVP_MD_CTX_free(md);
    k->keyed = 0;
}

int dk_cluster_key_load(dk_cluster_key *k, const char *path, const char *cluster_name, char *err,
                        size_t errlen)
{
    memset(k, 0, sizeof(*k));
    if (!path || !path[0]) {
        unkeyed(k, cluster_name ? cluster_name : "");
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open the cluster key file: %s", path, strerror(errno));
        return DK_ECONFIG;
    }
    struct stat st;
    char text[HEX_LEN + 3];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = read(fd, text, sizeof text);
    int saved = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: cannot read the cluster key file: %s", path,
                 strerror(saved ? saved : EINVAL));
        return DK_ECONFIG;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen,
                 "%s: mode %04o lets other users read or change the cluster key; "
                 "chmod 600 it",
                 path, (unsigned)(st.st_mode & 07777));
        return DK_ECONFIG;
    }
    size_t len = (size_t)n;
    if (len > 0 && text[len - 1] == '\n')
        len--;
    int ok = len == HEX_LEN;
    for (size_t i = 0; ok && i < DK_CLUSTER_KEY_LEN; i++) {
        int hi = dk_hex_value((unsigned char)text[2 * i]), lo = dk_hex_value((unsigned char)text[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            k->bytes[i] = (uint8_t)((unsigned)hi << 4 | (unsigned)lo);
    }
    OPENSSL_cleanse(text, sizeof text);
    if (!ok) {
        dk_cluster_key_clear(k);
        snprintf(err, errlen,
                 "%s: expected %d hex digits and a newline (a key written by "
                 "`dynkvd keygen PATH`)",
                 path, HEX_LEN);
        return DK_ECONFIG;
    }
    k->keyed = 1;
    return 0;
}

static int sync_dir_of(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

int dk_cluster_key_generate(const char *path, char *err, size_t errlen)
{
    uint8_t key[DK_CLUSTER_KEY_LEN];
    char text[HEX_LEN + 1];
    if (RAND_bytes(key, sizeof key) != 1) {
        snprintf(err, errlen, "%s: the system random generator failed", path);
        return -EIO;
    }
    for (size_t i = 0; i < sizeof key; i++)
        snprintf(text + 2 * i, 3, "%02x", key[i]);
    text[HEX_LEN] = '\n';
    OPENSSL_cleanse(key, sizeof key);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "%s: %s", path,
                 rc == -EEXIST ? "exists already; a cluster keeps its key (remove it first to make a new one)"
                               : strerror(-rc));
        OPENSSL_cleanse(text, sizeof text);
        return rc;
    }
    int rc = 0;
    if (fchmod(fd, 0600) != 0 || write(fd, text, HEX_LEN + 1) != HEX_LEN + 1 || fsync(fd) != 0)
        rc = errno ? -errno : -EIO;
    OPENSSL_cleanse(text, sizeof text);
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc)
        rc = sync_dir_of(path);
    if (rc) {
        unlink(path);
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
    }
    return rc;
}

void dk_cluster_key_derive(const dk_cluster_key *k, const char *purpose, uint8_t out[DK_CLUSTER_KEY_LEN])
{
    char label[96];
    int n = snprintf(label, sizeof label, "dynkv/%s", purpose);
    unsigned int len = 0;
    if (n < 0 || (size_t)n >= sizeof label ||
        !HMAC(EVP_sha256(), k->bytes, DK_CLUSTER_KEY_LEN, (const unsigned char *)label, (size_t)n, out,
              &len) ||
        len != DK_CLUSTER_KEY_LEN)
        memset(out, 0, DK_CLUSTER_KEY_LEN); /* HMAC-SHA256 only fails on allocation */
}

void dk_cluster_key_clear(dk_cluster_key *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}
