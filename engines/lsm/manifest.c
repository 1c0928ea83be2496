/*
 * manifest.c - the manifest: an append-only log of version edits (version.h).
 *
 * Record framing is the WAL's: masked crc32c (u32) | length (u32) |
 * payload, the CRC over the length and the payload. CURRENT names the live
 * manifest. Every open writes a fresh manifest holding one snapshot edit
 * and switches CURRENT to it atomically, so manifests never grow without
 * bound and recovery never appends to a file whose tail it had to judge.
 *
 * Recovery distinguishes a torn tail from corruption. A crash while
 * appending can only leave a prefix of the last record (fewer than 8
 * header bytes, or a length running past the end of the file) or zeros
 * where the file system extended the file; that record's edit never took
 * effect, because files are deleted only after the append's sync returned,
 * so it is ignored. A complete record with a bad CRC, or one that does not
 * decode, is corruption: the engine refuses to open, naming the file and
 * offset, rather than guess which tables are live.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"
#include "version.h"

static int mf_log(const dk_host *h, int rc, const char *path, uint64_t off, const char *what)
{
    if (h && h->log)
        h->log(h, DK_LOG_ERROR, "lsm: %s in %s at offset %llu", what, path, (unsigned long long)off);
    return rc;
}

static int mf_fold(lsm_recovered *r, const lsm_edit *e)
{
    if (e->has_log)
        r->log_number = e->log_number;
    if (e->has_next)
        r->next_file = e->next_file;
    if (e->has_seq)
        r->last_seq = e->last_seq;
    for (size_t i = 0; i < e->ndel; i++)
        for (size_t j = 0; j < r->n; j++)
            if (r->files[j].number == e->dels[i]) {
                r->files[j] = r->files[--r->n];
                break;
            }
    if (e->nadd) {
        lsm_edit_file *f = realloc(r->files, (r->n + e->nadd) * sizeof(*f));
        if (!f)
            return -ENOMEM;
        r->files = f;
        memcpy(r->files + r->n, e->adds, e->nadd * sizeof(*f));
        r->n += e->nadd;
    }
    return 0;
}

static int mf_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int dk__lsm_manifest_recover(lsm_env *env, const char *dir, const dk_host *host, lsm_recovered *out)
{
    char path[4096];
    memset(out, 0, sizeof(*out));
    uint8_t *cur;
    size_t len;
    snprintf(path, sizeof(path), "%s/CURRENT", dir);
    int rc = dk__lsm_env_read_all(env, path, &cur, &len);
    if (rc == -ENOENT) {
        out->fresh = 1;
        return 0;
    }
    if (rc)
        return mf_log(host, rc, path, 0, "cannot read CURRENT");
    char name[64];
    unsigned long long num = 0;
    size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;
    memcpy(name, cur, n);
    name[n] = '\0';
    free(cur);
    char nl = 0;
    if (sscanf(name, "MANIFEST-%llu%c", &num, &nl) != 2 || nl != '\n')
        return mf_log(host, DK_ECORRUPT, path, 0, "malformed CURRENT");
    out->manifest_number = num;
    snprintf(path, sizeof(path), "%s/MANIFEST-%06llu", dir, num);
    uint8_t *data;
    if ((rc = dk__lsm_env_read_all(env, path, &data, &len)))
        return mf_log(host, rc == -ENOENT ? DK_ECORRUPT : rc, path, 0,
                      "cannot read the manifest CURRENT names");
    size_t off = 0, records = 0;
    while (off < len) {
        size_t left = len - off;
        const uint8_t *p = data + off;
        if (left < 8 || dk_get_u32(p + 4) > left - 8 || mf_all_zero(p, left))
            break; /* torn tail */
        uint32_t rl = dk_get_u32(p + 4);
        lsm_edit e;
        dk__lsm_edit_init(&e);
        if (dk_crc32c_unmask(dk_get_u32(p)) != dk_crc32c(p + 4, (size_t)rl + 4))
            rc = mf_log(host, DK_ECORRUPT, path, off, "manifest record checksum mismatch");
        else if ((rc = dk__lsm_edit_decode(&e, p + 8, rl)))
            rc = mf_log(host, rc, path, off, "malformed manifest record");
        else
            rc = mf_fold(out, &e);
        dk__lsm_edit_free(&e);
        if (rc)
            break;
        off += 8 + (size_t)rl;
        records++;
    }
    free(data);
    if (!rc && records == 0)
        rc = mf_log(host, DK_ECORRUPT, path, 0, "manifest holds no complete record");
    if (!rc && off < len && host && host->log)
        host->log(host, DK_LOG_WARN, "lsm: ignored a torn manifest tail of %llu bytes in %s at offset %llu",
                  (unsigned long long)(len - off), path, (unsigned long long)off);
    if (rc)
        dk__lsm_recovered_free(out);
    return rc;
}

void dk__lsm_recovered_free(lsm_recovered *r)
{
    free(r->files);
    r->files = NULL;
    r->n = 0;
}

static int mf_append_record(lsm_manifest *m, const lsm_edit *e)
{
    dk_buf b = DK_BUF_INIT;
    uint8_t hdr[8] = {0};
    int rc = dk_buf_append(&b, hdr, 8);
    if (!rc)
        rc = dk__lsm_edit_encode(e, &b);
    if (!rc) {
        dk_put_u32(b.data + 4, (uint32_t)(b.len - 8));
        dk_put_u32(b.data, dk_crc32c_mask(dk_crc32c(b.data + 4, b.len - 4)));
        rc = m->env->ops->append(m->f, b.data, b.len);
    }
    if (!rc)
        rc = m->env->ops->sync(m->f, 0);
    dk_buf_free(&b);
    return rc;
}

int dk__lsm_manifest_create(lsm_env *env, const char *dir, uint64_t number, const lsm_edit *snapshot,
                            lsm_manifest *m)
{
    char path[4096], cur[64];
    memset(m, 0, sizeof(*m));
    m->env = env;
    m->number = number;
    if (!(m->dir = strdup(dir)))
        return -ENOMEM;
    snprintf(path, sizeof(path), "%s/MANIFEST-%06llu", dir, (unsigned long long)number);
    int rc = env->ops->create(env, path, &m->f);
    if (rc) {
        m->f = NULL;
        dk__lsm_manifest_close(m);
        return rc;
    }
    rc = mf_append_record(m, snapshot);
    int n = snprintf(cur, sizeof(cur), "MANIFEST-%06llu\n", (unsigned long long)number);
    if (!rc)
        rc = dk__lsm_env_write_atomic(env, dir, "CURRENT", cur, (size_t)n);
    if (rc)
        dk__lsm_manifest_close(m);
    return rc;
}

int dk__lsm_manifest_append(lsm_manifest *m, const lsm_edit *e)
{
    int rc = m->env->ops->sync_dir(m->env, m->dir);
    return rc ? rc : mf_append_record(m, e);
}

void dk__lsm_manifest_close(lsm_manifest *m)
{
    if (m->f)
        m->env->ops->close_w(m->f);
    m->f = NULL;
    free(m->dir);
    m->dir = NULL;
}
