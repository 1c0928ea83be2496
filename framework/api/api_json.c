/*
 * api_json.c - see api_json.h. Values are base64 in the standard padded
 * alphabet (util/base64.h), what clients' base64 decoders expect.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_json.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/vv.h"

json_t *dk_json_base64(dk_slice bytes)
{
    dk_buf b = DK_BUF_INIT;
    json_t *s = NULL;
    if (dk_base64_encode(bytes.ptr, bytes.len, DK_B64_STD, &b) == 0)
        s = json_stringn_nocheck(b.data ? (const char *)b.data : "", b.len);
    dk_buf_free(&b);
    return s;
}

int dk_json_set_key(json_t *o, const char *name, dk_slice key)
{
    json_t *s = json_stringn((const char *)key.ptr, key.len);
    if (s)
        return json_object_set_new(o, name, s) ? -ENOMEM : 0;
    char enc_name[64];
    snprintf(enc_name, sizeof(enc_name), "%s_encoding", name);
    if (json_object_set_new(o, name, dk_json_base64(key)) ||
        json_object_set_new(o, enc_name, json_string("base64")))
        return -ENOMEM;
    return 0;
}

json_t *dk_json_vv(const dk_vv *vv)
{
    json_t *o = json_object();
    for (uint32_t i = 0; o && i < vv->n; i++) {
        char actor[DK_NODE_ID_MAX + 16];
        dk_actor_format(&vv->e[i].actor, actor, sizeof(actor));
        json_object_set_new(o, actor, json_integer((json_int_t)vv->e[i].counter));
    }
    return o;
}

static json_t *json_dot(const dk_sibling *s)
{
    json_t *o = json_object();
    char actor[DK_NODE_ID_MAX + 16];
    dk_actor_format(&s->actor, actor, sizeof(actor));
    json_object_set_new(o, actor, json_integer((json_int_t)s->counter));
    return o;
}

static int sibling_live(const dk_sibling *s, int64_t now_ms)
{
    return !(s->flags & DK_SIB_TOMBSTONE) && (s->expiry_ms == 0 || s->expiry_ms > now_ms);
}

int dk_json_describe(json_t *o, const dk_object *obj, int64_t now_ms)
{
    int live = 0;
    const dk_sibling *one = NULL;
    for (uint32_t i = 0; i < obj->n_sib; i++)
        if (sibling_live(&obj->sib[i], now_ms)) {
            live++;
            one = &obj->sib[i];
        }
    if (live == 0)
        return 0;
    json_object_set_new(o, "version", dk_json_vv(&obj->vv));
    if (live == 1) {
        json_object_set_new(o, "value", dk_json_base64(one->value));
        json_object_set_new(o, "timestamp", json_integer(one->write_time_ms));
        return 1;
    }
    json_t *vals = json_array();
    for (uint32_t i = 0; i < obj->n_sib; i++) {
        const dk_sibling *s = &obj->sib[i];
        if (!sibling_live(s, now_ms))
            continue;
        json_t *v = json_object();
        json_object_set_new(v, "value", dk_json_base64(s->value));
        json_object_set_new(v, "version", json_dot(s));
        json_object_set_new(v, "timestamp", json_integer(s->write_time_ms));
        json_array_append_new(vals, v);
    }
    json_object_set_new(o, "values", vals);
    json_object_set_new(o, "conflict", json_true());
    return live;
}

static int json_sink(const char *p, size_t n, void *arg)
{
    return dk_buf_append(arg, p, n) ? -1 : 0;
}

/* A member name as a JSON string: plain printable ASCII as it is (every
 * name the API sets), anything else escaped by jansson. */
static int json_emit_key(const char *k, dk_buf *out)
{
    size_t n = strlen(k);
    int plain = 1;
    for (size_t i = 0; plain && i < n; i++)
        plain = k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' && k[i] != '\\';
    if (plain)
        return dk_buf_append(out, "\"", 1) || dk_buf_append(out, k, n) || dk_buf_append(out, "\"", 1)
                   ? -ENOMEM
                   : 0;
    json_t *ks = json_string(k);
    int rc = !ks || json_dump_callback(ks, json_sink, out, JSON_COMPACT | JSON_ENCODE_ANY) ? -ENOMEM : 0;
    json_decref(ks);
    return rc;
}

/* Write o to out; in_version: o is the value of a "version" member. */
static int json_emit(const json_t *o, dk_buf *out, int in_version)
{
    const int flags = JSON_COMPACT | JSON_ENCODE_ANY;
    if (json_is_object(o)) {
        const char *k;
        json_t *v;
        int first = 1;
        if (dk_buf_append(out, "{", 1))
            return -ENOMEM;
        json_object_foreach((json_t *)o, k, v)
        {
            if ((!first && dk_buf_append(out, ",", 1)) || json_emit_key(k, out) || dk_buf_append(out, ":", 1))
                return -ENOMEM;
            first = 0;
            int uns = json_is_integer(v) && in_version;
            if (uns ? dk_buf_printf(out, "%llu", (unsigned long long)(uint64_t)json_integer_value(v))
                    : json_emit(v, out, strcmp(k, "version") == 0))
                return -ENOMEM;
        }
        return dk_buf_append(out, "}", 1) ? -ENOMEM : 0;
    }
    if (json_is_array(o)) {
        size_t i;
        json_t *v;
        if (dk_buf_append(out, "[", 1))
            return -ENOMEM;
        json_array_foreach(o, i, v)
        {
            if ((i && dk_buf_append(out, ",", 1)) || json_emit(v, out, 0))
                return -ENOMEM;
        }
        return dk_buf_append(out, "]", 1) ? -ENOMEM : 0;
    }
    return json_dump_callback(o, json_sink, out, flags) ? -ENOMEM : 0;
}

int dk_json_dump(json_t *o, dk_buf *out)
{
    dk_buf_reset(out);
    int rc = json_emit(o, out, 0);
    if (rc)
        dk_buf_reset(out);
    return rc;
}
