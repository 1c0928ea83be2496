/*
 * sdk_kv.c - libdynkv-client's public operations (dynkv/client.h):
 * opening a handle on seed nodes, the key-value calls over /kv/{key}, the
 * get -> resolve -> modify -> put-with-context cycle, and the CRDT calls
 * over /crdt/{key}. Requests and answers are the HTTP API's (DESIGN.md
 * section 7): values travel raw on PUT and as base64 in GET's JSON.
 *
 * Which requests may fail over after reaching a replica: GET (reads),
 * PUT and DELETE with a context (sending one twice supersedes the same
 * versions: the second write becomes a sibling-free overwrite), and CRDT
 * reads. Blind writes and CRDT operations (a counter increment applied
 * twice counts twice) fail over only when the connection was never made.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "sdk_int.h"
#include "util/base64.h"

void dkc_options_init(dkc_options *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 1000;
    o->timeout_ms = 10000;
    o->retries = 2;
    o->refresh_ms = 30000;
    o->pool_size = 4;
}

const char *dkc_errmsg(const dkc *c)
{
    return c ? c->err : "out of memory";
}

int dkc_open(const char *seeds, const dkc_options *opt, dkc **out)
{
    dkc *c = calloc(1, sizeof(*c));
    *out = c;
    if (!c)
        return DKC_ENOMEM;
    c->signal_node = -1;
    if (opt)
        c->opt = *opt;
    else
        dkc_options_init(&c->opt);
    if (c->opt.connect_timeout_ms <= 0)
        c->opt.connect_timeout_ms = 1000;
    if (c->opt.timeout_ms <= 0)
        c->opt.timeout_ms = 10000;
    if (c->opt.retries < 0)
        c->opt.retries = 0;
    if (c->opt.pool_size < 0)
        c->opt.pool_size = 0;
    if (c->opt.token && *c->opt.token) {
        size_t n = strlen(c->opt.token) + 8;
        c->auth = malloc(n);
        if (!c->auth)
            return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
        snprintf(c->auth, n, "Bearer %s", c->opt.token);
    }
    if (c->opt.consistency && !(c->consistency = strdup(c->opt.consistency)))
        return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
    if (c->opt.strict && !(c->strict = strdup("strict")))
        return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
    c->opt.token = c->opt.ca_file = c->opt.consistency = NULL; /* not kept */
    int tls = opt && (opt->tls || (opt->ca_file && *opt->ca_file));
    const char *p = seeds ? seeds : "";
    while (*p) {
        size_t len = strcspn(p, ", ");
        if (len == 0) {
            p++;
            continue;
        }
        const char *s = p;
        if (len > 8 && strncmp(s, "https://", 8) == 0) {
            tls = 1;
            s += 8;
        } else if (len > 7 && strncmp(s, "http://", 7) == 0) {
            s += 7;
        }
        sdk_seed *ns = realloc(c->seeds, (c->n_seeds + 1) * sizeof(*ns));
        if (!ns)
            return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
        c->seeds = ns;
        sdk_seed *sd = &c->seeds[c->n_seeds];
        if (dk__sdk_split_addr(s, len - (size_t)(s - p), sd->host, sizeof(sd->host), sd->port,
                               sizeof(sd->port)) != 0)
            return dk__sdk_fail(c, DKC_EINVAL, "bad seed '%.*s': expected HOST:PORT", (int)len, p);
        char id[300];
        snprintf(id, sizeof(id), "%s:%s", sd->host, sd->port);
        c->n_seeds++;
        if (dk__sdk_node(c, id, sd->host, sd->port) < 0)
            return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
        p += len;
    }
    if (c->n_seeds == 0)
        return dk__sdk_fail(c, DKC_EINVAL, "no seed node given (HOST:PORT[,HOST:PORT...])");
    if (tls) {
        char err[256];
        c->tls = dk__hc_tls_ctx(opt ? opt->ca_file : NULL, err, sizeof(err));
        if (!c->tls)
            return dk__sdk_fail(c, DKC_EINVAL, "%s", err);
    }
    return dk__sdk_refresh(c);
}

void dkc_close(dkc *c)
{
    if (!c)
        return;
    dk__sdk_nodes_free(c);
    if (c->tls)
        dk__hc_tls_ctx_free(c->tls);
    free(c->ranges);
    free(c->seeds);
    free(c->auth);
    free(c->consistency);
    free(c->strict);
    free(c->session);
    dk__hc_response_free(&c->last);
    free(c);
}

void dkc_get_stats(const dkc *c, dkc_stats *out)
{
    *out = c->st;
    out->last_node = c->last_node;
}

size_t dkc_replicas(dkc *c, const char *key, const char **ids, size_t max)
{
    uint16_t reps[SDK_MAX_REP];
    size_t n = dk__sdk_route(c, key, strlen(key), reps, SDK_MAX_REP);
    for (size_t i = 0; i < n && i < max; i++)
        ids[i] = c->nodes[reps[i]].id;
    return n < max ? n : max;
}

void dkc_object_free(dkc_object *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_values; i++) {
        free(o->values[i].data);
        free(o->values[i].version);
    }
    free(o->values);
    free(o->context);
    free(o);
}

/* "/kv/KEY" or "/crdt/KEY", percent-encoded; NULL (c->err set) on a bad key. */
static char *kv_target(dkc *c, const char *prefix, const char *key)
{
    if (!key || !*key) {
        dk__sdk_fail(c, DKC_EINVAL, "the key is empty");
        return NULL;
    }
    char *enc = dk__sdk_encode(key);
    size_t n = enc ? strlen(prefix) + strlen(enc) + 1 : 0;
    char *t = enc ? malloc(n) : NULL;
    if (t)
        snprintf(t, n, "%s%s", prefix, enc);
    else
        dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
    free(enc);
    return t;
}

/* Decode one {"value","version","timestamp"} into v. */
static int kv_value(json_t *e, dkc_value *v)
{
    const char *b64 = json_string_value(json_object_get(e, "value"));
    if (!b64)
        return -1;
    size_t n = strlen(b64), bad;
    v->data = malloc(n / 4 * 3 + 3);
    if (!v->data)
        return -1;
    long got = dk_base64_decode(b64, n, DK_B64_STD, v->data, &bad);
    if (got < 0)
        return -1;
    v->len = (size_t)got;
    v->data[v->len] = '\0';
    json_t *ver = json_object_get(e, "version");
    v->version = ver ? json_dumps(ver, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
    v->timestamp = (int64_t)json_integer_value(json_object_get(e, "timestamp"));
    return v->version ? 0 : -1;
}

static int kv_parse_get(dkc *c, const dk_hc_response *r, dkc_object **out)
{
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, 0, &je);
    dkc_object *o = calloc(1, sizeof(*o));
    int rc = DKC_EPROTO;
    if (!j || !o)
        goto out;
    json_t *vals = json_object_get(j, "values");
    size_t n = json_is_array(vals) ? json_array_size(vals) : 1;
    o->values = calloc(n, sizeof(*o->values));
    const char *ctx = json_string_value(json_object_get(j, "context"));
    o->context = strdup(ctx ? ctx : "");
    if (!o->values || !o->context)
        goto out;
    for (size_t i = 0; i < n; i++) {
        o->n_values++;
        if (kv_value(json_is_array(vals) ? json_array_get(vals, i) : j, &o->values[i]) != 0)
            goto out;
    }
    *out = o;
    o = NULL;
    rc = 0;
out:
    if (rc)
        dk__sdk_fail(c, rc, "the GET answer is not what the API gives (%.60s)", r->body);
    dkc_object_free(o);
    json_decref(j);
    return rc;
}

int dkc_get(dkc *c, const char *key, dkc_object **out)
{
    *out = NULL;
    char *t = kv_target(c, "/kv/", key);
    if (!t)
        return key && *key ? DKC_ENOMEM : DKC_EINVAL;
    sdk_hdr h[] = {{"Accept", "application/json"}};
    dk_hc_response r;
    int rc = dk__sdk_call(c, key, "GET", t, h, 1, NULL, 0, 1, &r);
    free(t);
    if (rc != 0)
        return rc;
    rc = r.status == 200 ? kv_parse_get(c, &r, out) : dk__sdk_status_error(c, &r);
    dk__sdk_keep(c, &r);
    return rc;
}

int dkc_put(dkc *c, const char *key, const void *value, size_t len, const dkc_write *w, char **context_out)
{
    if (context_out)
        *context_out = NULL;
    char *t = kv_target(c, "/kv/", key);
    if (!t)
        return key && *key ? DKC_ENOMEM : DKC_EINVAL;
    sdk_hdr h[5];
    size_t nh = 0;
    char ttl[24];
    int safe = 0;
    h[nh++] = (sdk_hdr){"Content-Type", "application/octet-stream"};
    if (w && w->context && *w->context) {
        h[nh++] = (sdk_hdr){"X-Context", w->context};
        safe = 1;
    }
    if (w && w->ttl_s) {
        snprintf(ttl, sizeof(ttl), "%" PRIu32, w->ttl_s);
        h[nh++] = (sdk_hdr){"X-TTL", ttl};
    }
    if (w && w->if_match && *w->if_match)
        h[nh++] = (sdk_hdr){"If-Match", w->if_match};
    else if (w && w->if_none_match)
        h[nh++] = (sdk_hdr){"If-None-Match", "*"};
    dk_hc_response r;
    int rc = dk__sdk_call(c, key, "PUT", t, h, nh, value ? value : "", len, safe, &r);
    free(t);
    if (rc != 0)
        return rc;
    if (r.status == 200 || r.status == 201 || r.status == 204) {
        if (context_out) {
            json_error_t je;
            json_t *j = json_loadb(r.body, r.body_len, 0, &je);
            const char *ctx = json_string_value(json_object_get(j, "context"));
            *context_out = strdup(ctx ? ctx : "");
            json_decref(j);
            if (!*context_out)
                rc = dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
        }
    } else {
        rc = dk__sdk_status_error(c, &r);
    }
    dk__sdk_keep(c, &r);
    return rc;
}

int dkc_delete(dkc *c, const char *key, const char *context)
{
    char *t = kv_target(c, "/kv/", key);
    if (!t)
        return key && *key ? DKC_ENOMEM : DKC_EINVAL;
    sdk_hdr h[1];
    size_t nh = 0;
    if (context && *context)
        h[nh++] = (sdk_hdr){"X-Context", context};
    dk_hc_response r;
    int rc = dk__sdk_call(c, key, "DELETE", t, h, nh, NULL, 0, nh > 0, &r);
    free(t);
    if (rc != 0)
        return rc;
    if (r.status != 200 && r.status != 204)
        rc = dk__sdk_status_error(c, &r);
    dk__sdk_keep(c, &r);
    return rc;
}

int dkc_update(dkc *c, const char *key, dkc_resolve_fn resolve, dkc_modify_fn modify, void *arg,
               uint32_t ttl_s)
{
    dkc_object *o = NULL;
    int rc = dkc_get(c, key, &o);
    if (rc != 0 && rc != DKC_ENOTFOUND)
        return rc;
    void *merged = NULL, *nv = NULL;
    size_t merged_len = 0, nv_len = 0;
    const void *cur = NULL;
    size_t cur_len = 0;
    if (o && o->n_values > 1) {
        if (!resolve) {
            rc = dk__sdk_fail(c, DKC_ESIBLINGS, "%s has %zu siblings and no resolver was given", key,
                              o->n_values);
            goto out;
        }
        if ((rc = resolve(arg, o->values, o->n_values, &merged, &merged_len)) != 0) {
            dk__sdk_fail(c, rc, "the resolver gave up");
            goto out;
        }
        cur = merged;
        cur_len = merged_len;
    } else if (o) {
        cur = o->values[0].data;
        cur_len = o->values[0].len;
    }
    if ((rc = modify(arg, cur, cur_len, &nv, &nv_len)) != 0) {
        dk__sdk_fail(c, rc, "the modify callback gave up");
        goto out;
    }
    dkc_write w = {.context = o ? o->context : NULL, .ttl_s = ttl_s};
    rc = dkc_put(c, key, nv, nv_len, &w, NULL);
out:
    free(merged);
    free(nv);
    dkc_object_free(o);
    return rc;
}

int dkc_crdt_apply(dkc *c, const char *key, const char *op_json, char **value_json)
{
    if (value_json)
        *value_json = NULL;
    char *t = kv_target(c, "/crdt/", key);
    if (!t)
        return key && *key ? DKC_ENOMEM : DKC_EINVAL;
    sdk_hdr h[] = {{"Content-Type", "application/json"}};
    dk_hc_response r;
    int rc = dk__sdk_call(c, key, "POST", t, h, 1, op_json, strlen(op_json), 0, &r);
    free(t);
    if (rc != 0)
        return rc;
    if (r.status != 200) {
        rc = dk__sdk_status_error(c, &r);
    } else if (value_json) {
        json_error_t je;
        json_t *j = json_loadb(r.body, r.body_len, 0, &je);
        json_t *v = json_object_get(j, "value");
        *value_json = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (!*value_json)
            rc = dk__sdk_fail(c, DKC_EPROTO, "the CRDT answer has no value (%.60s)", r.body);
        json_decref(j);
    }
    dk__sdk_keep(c, &r);
    return rc;
}

int dkc_crdt_get(dkc *c, const char *key, char **value_json)
{
    *value_json = NULL;
    char *t = kv_target(c, "/crdt/", key);
    if (!t)
        return key && *key ? DKC_ENOMEM : DKC_EINVAL;
    dk_hc_response r;
    int rc = dk__sdk_call(c, key, "GET", t, NULL, 0, NULL, 0, 1, &r);
    free(t);
    if (rc != 0)
        return rc;
    if (r.status != 200) {
        rc = dk__sdk_status_error(c, &r);
    } else {
        json_error_t je;
        json_t *j = json_loadb(r.body, r.body_len, 0, &je);
        json_t *v = json_object_get(j, "value");
        *value_json = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (!*value_json)
            rc = dk__sdk_fail(c, DKC_EPROTO, "the CRDT answer has no value (%.60s)", r.body);
        json_decref(j);
    }
    dk__sdk_keep(c, &r);
    return rc;
}

/* Apply {"type":type, field: arg} (arg stolen). */
static int crdt_op(dkc *c, const char *key, const char *type, const char *field, json_t *arg,
                   char **value_json)
{
    json_t *op = json_pack("{s:s, s:o}", "type", type, field, arg);
    char *s = op ? json_dumps(op, JSON_COMPACT) : NULL;
    json_decref(op);
    if (!s)
        return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
    int rc = dkc_crdt_apply(c, key, s, value_json);
    free(s);
    return rc;
}

int dkc_counter_add(dkc *c, const char *key, int64_t delta, int64_t *value)
{
    char *v = NULL;
    int rc = crdt_op(c, key, "counter", "increment", json_integer((json_int_t)delta), value ? &v : NULL);
    if (rc == 0 && value) {
        char *end;
        *value = strtoll(v, &end, 10);
        if (*end)
            rc = dk__sdk_fail(c, DKC_EPROTO, "a counter's value is not an integer: %.40s", v);
    }
    free(v);
    return rc;
}

static json_t *crdt_strings(const char *const *m, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(m[i]));
    return a;
}

int dkc_set_add(dkc *c, const char *key, const char *const *members, size_t n)
{
    return crdt_op(c, key, "set", "add", crdt_strings(members, n), NULL);
}

int dkc_set_remove(dkc *c, const char *key, const char *const *members, size_t n)
{
    return crdt_op(c, key, "set", "remove", crdt_strings(members, n), NULL);
}

int dkc_register_assign(dkc *c, const char *key, const char *value)
{
    return crdt_op(c, key, "register", "assign", json_string(value), NULL);
}

unsigned dkc_siblings(const dkc *c)
{
    const char *v = dkc_last_header(c, "X-Siblings");
    return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

int dkc_scan_page(dkc *c, const char *prefix, const char *cursor, unsigned limit, char **page_json)
{
    *page_json = NULL;
    char *p = dk__sdk_encode(prefix ? prefix : ""), *cur = cursor && *cursor ? dk__sdk_encode(cursor) : NULL;
    size_t n = (p ? strlen(p) : 0) + (cur ? strlen(cur) : 0) + 64;
    char *t = p && (cur || !(cursor && *cursor)) ? malloc(n) : NULL;
    if (!t) {
        free(p);
        free(cur);
        return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
    }
    int used = snprintf(t, n, "/kv?prefix=%s", p);
    if (limit)
        used += snprintf(t + used, n - (size_t)used, "&limit=%u", limit);
    if (cur)
        snprintf(t + used, n - (size_t)used, "&cursor=%s", cur);
    free(p);
    free(cur);
    dk_hc_response r;
    int rc = dk__sdk_call(c, NULL, "GET", t, NULL, 0, NULL, 0, 1, &r);
    free(t);
    if (rc != 0)
        return rc;
    if (r.status == 200 || r.status == 206) {
        if (!(*page_json = strdup(r.body ? r.body : "")))
            rc = dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
    } else {
        rc = dk__sdk_status_error(c, &r);
    }
    dk__sdk_keep(c, &r);
    return rc;
}

const char *dkc_session(const dkc *c)
{
    return c->session;
}

int dkc_set_session(dkc *c, const char *token)
{
    char *copy = token && *token ? strdup(token) : NULL;
    if (token && *token && !copy)
        return dk__sdk_fail(c, DKC_ENOMEM, "out of memory");
    free(c->session);
    c->session = copy;
    return 0;
}

int dkc_last_status(const dkc *c)
{
    return c->last.status;
}

const char *dkc_last_body(const dkc *c, size_t *len)
{
    if (len)
        *len = c->last.body_len;
    return c->last.body ? c->last.body : "";
}

const char *dkc_last_header(const dkc *c, const char *name)
{
    return c->last.status ? dk__hc_header(&c->last, name) : NULL;
}
