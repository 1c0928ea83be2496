/*
 * context.c - client context tokens: encode a vv as a base64url token and
 * decode either a token or the JSON version map (format in context.h).
 * base64url (util/base64.h) is canonical only, so every accepted token
 * re-encodes to itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "node/context.h"
#include "util/base64.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/vv.h"

static int ctx_fail(int rc, char *err, size_t errlen, const char *fmt, ...) DK_PRINTF(4, 5);

static int ctx_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int dk_context_encode(const dk_vv *v, dk_buf *out)
{
    dk_buf raw = DK_BUF_INIT;
    uint8_t ver = DK_CONTEXT_VERSION, crc[4];
    int rc = dk_buf_append(&raw, &ver, 1);
    if (!rc)
        rc = dk_vv_encode(v, &raw);
    if (!rc) {
        dk_put_u32(crc, dk_crc32c_mask(dk_crc32c(raw.data, raw.len)));
        rc = dk_buf_append(&raw, crc, sizeof(crc));
    }
    if (!rc)
        rc = dk_base64_encode(raw.data, raw.len, DK_B64_URL, out);
    dk_buf_free(&raw);
    return rc;
}

static int ctx_decode_json(const char *s, size_t len, dk_vv *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ctx_fail(-EINVAL, err, errlen, "context: invalid JSON at position %d: %s",
                        jerr.position, jerr.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = ctx_fail(-EINVAL, err, errlen, "context: expected a JSON object of node -> counter");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        dk_actor a;
        if (dk_actor_parse(key, strlen(key), &a)) {
            rc = ctx_fail(-EINVAL, err, errlen,
                          "context: \"%.80s\" is not a node id ([a-z0-9_-]{1,64}, optionally #incarnation)", key);
            goto out;
        }
        if (!json_is_integer(val) || json_integer_value(val) < 0) {
            rc = ctx_fail(-EINVAL, err, errlen, "context: counter of \"%s\" must be a non-negative integer", key);
            goto out;
        }
        if (dk_vv_get(out, &a)) {
            rc = ctx_fail(-EINVAL, err, errlen, "context: node \"%s\" appears twice", key);
            goto out;
        }
        if ((rc = dk_vv_set(out, &a, (uint64_t)json_integer_value(val), 0)))
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

int dk_context_decode(const char *s, size_t len, dk_vv *out, char *err, size_t errlen)
{
    out->n = 0;
    if (err && errlen)
        err[0] = '\0';
    if (len > DK_CONTEXT_MAX)
        return ctx_fail(-EINVAL, err, errlen, "context: token longer than %u bytes", DK_CONTEXT_MAX);
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (i == len)
        return 0;
    int rc;
    if (s[i] == '{') {
        rc = ctx_decode_json(s + i, len - i, out, err, errlen);
    } else {
        uint8_t raw[DK_CONTEXT_MAX * 3 / 4 + 3];
        size_t bad = 0;
        long n = dk_base64_decode(s + i, len - i, DK_B64_URL, raw, &bad);
        if (n < 0) {
            rc = ctx_fail(DK_ECORRUPT, err, errlen, "context: not a token (bad base64url at character %zu)", bad + i);
        } else if (n < 1 + 1 + 4) {
            rc = ctx_fail(DK_ECORRUPT, err, errlen, "context: token too short");
        } else if (dk_get_u32(raw + n - 4) != dk_crc32c_mask(dk_crc32c(raw, (size_t)n - 4))) {
            rc = ctx_fail(DK_ECORRUPT, err, errlen, "context: token checksum mismatch (was it truncated or altered?)");
        } else if (raw[0] != DK_CONTEXT_VERSION) {
            rc = ctx_fail(DK_ECORRUPT, err, errlen, "context: unsupported token version %u", raw[0]);
        } else {
            size_t used;
            rc = dk_vv_decode(raw + 1, (size_t)n - 5, out, &used);
            if (rc == DK_ECORRUPT || (!rc && used != (size_t)n - 5))
                rc = ctx_fail(DK_ECORRUPT, err, errlen, "context: malformed version vector in token");
        }
    }
    if (rc)
        dk_vv_free(out);
    return rc;
}

int dk_vv_to_json(const dk_vv *v, dk_buf *out)
{
    size_t start = out->len;
    int rc = dk_buf_append(out, "{", 1);
    for (uint32_t i = 0; !rc && i < v->n; i++) {
        char name[DK_ACTOR_TEXT_MAX];
        rc = dk_actor_format(&v->e[i].actor, name, sizeof(name));
        if (!rc)
            rc = dk_buf_printf(out, "%s\"%s\":%llu", i ? "," : "", name,
                               (unsigned long long)v->e[i].counter);
    }
    if (!rc)
        rc = dk_buf_printf(out, "}");
    if (rc)
        out->len = start;
    return rc;
}
