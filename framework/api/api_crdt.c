/*
 * api_crdt.c - the /crdt/{key} routes (DESIGN.md section 7): POST applies
 * one JSON operation to a CRDT, GET reads its value.
 *
 *   POST /crdt/{key}  Content-Type: application/json
 *     {"type":"counter","increment":N}            N may be negative
 *     {"type":"set","add":["a",...]} or {"type":"set","remove":[...]}
 *     {"type":"register","assign":"text"}
 *     {"type":"map","update":{"field":{op},...},"remove":["field",...]}
 *                     (field operations: counter, set or register)
 *   -> 200 {"key":"k","type":"counter","value":12}, the value after the
 *      operation; GET /crdt/{key} answers the same shape (a set's value is
 *      a sorted array, a register's a string, a map's an object of values).
 *
 * Errors: 400 bad_json / bad_operation (with what is wrong), 404, 405, 409
 * type_mismatch (an operation of another type than the key's, or a plain
 * /kv key), 411, 413, 415, and the coordinator's 503/504 as for PUT.
 * X-Consistency and X-Quorum apply; X-TTL, X-Context and the conditional
 * headers do not (400): a CRDT merges every write and is never deleted.
 *
 * The request's JSON is checked and turned into the binary operation of
 * dynkv/crdt.h here, on the loop thread, so a bad operation is refused with
 * its precise message before anything is forwarded or replicated; the
 * write then travels as a PUT does (coordinator, replicas) with the
 * operation as its value and the CRDT object type. Parsing on the loop
 * rather than a worker costs one jansson parse, which is why bodies are
 * capped at API_CRDT_BODY_MAX (256 KiB, half the state limit: an operation
 * larger than that could not fit a state anyway); a hop to a worker would
 * cost more than parsing the operations clients actually send. Answers
 * render on the loop as kv.c's do, from the resolver's value
 * (node/resolve.h) turned into JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "api/api_json.h"
#include "node/object.h"
#include "node/resolve.h"
#include "util/crdt_codec.h"
#include "util/errors.h"

#define API_CRDT_BODY_MAX (256u * 1024u)

/* ---- loop side: the request ------------------------------------------------- */

/* A JSON array of strings into a new array of slices borrowed from it. */
static int crdt_strings(json_t *a, const char *what, int names, dk_slice **out, uint32_t *n, char *msg,
                        size_t len)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(a))
        return dk_errf(-1, msg, len, "\"%s\" must be an array of strings", what);
    size_t count = json_array_size(a);
    if (count == 0)
        return 0;
    if (!(*out = calloc(count, sizeof(**out))))
        return dk_errf(-1, msg, len, "out of memory");
    for (size_t i = 0; i < count; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s))
            return dk_errf(-1, msg, len, "\"%s\" must be an array of strings", what);
        dk_slice v = {(const uint8_t *)json_string_value(s), json_string_length(s)};
        if (names && (v.len == 0 || v.len > DK_CRDT_NAME_MAX))
            return dk_errf(-1, msg, len, "map field names are 1 to %u bytes", DK_CRDT_NAME_MAX);
        (*out)[(*n)++] = v;
    }
    return 0;
}

/* The member names an operation of this type may have, for messages and
 * for refusing unknown ones. */
static const char *crdt_members(uint8_t type)
{
    switch (type) {
    case DK_CRDT_COUNTER: return "increment";
    case DK_CRDT_SET: return "add or remove";
    case DK_CRDT_REGISTER: return "assign";
    default: return "update and/or remove";
    }
}

static int crdt_member_ok(uint8_t type, const char *k)
{
    if (strcmp(k, "type") == 0)
        return 1;
    switch (type) {
    case DK_CRDT_COUNTER: return strcmp(k, "increment") == 0;
    case DK_CRDT_SET: return strcmp(k, "add") == 0 || strcmp(k, "remove") == 0;
    case DK_CRDT_REGISTER: return strcmp(k, "assign") == 0;
    default: return strcmp(k, "update") == 0 || strcmp(k, "remove") == 0;
    }
}

/* Parse one JSON operation (a map field's when nested) into op, whose
 * strings borrow from the JSON. 0, or -1 with the message. op's arrays are
 * the caller's to free either way. */
static int crdt_parse_op(json_t *o, int nested, dk_crdt_op *op, char *msg, size_t len)
{
    static const char *const types[] = {NULL, "counter", "set", "register", "map"};
    if (!json_is_object(o))
        return dk_errf(-1, msg, len,
                       nested
                           ? "a map field's operation must be a JSON object"
                           : "the body must be one JSON object, e.g. {\"type\":\"counter\",\"increment\":1}");
    json_t *t = json_object_get(o, "type");
    if (!t)
        return dk_errf(-1, msg, len, "\"type\" is missing; expected counter, set, register or map");
    if (!json_is_string(t))
        return dk_errf(-1, msg, len, "\"type\" must be a string: counter, set, register or map");
    for (uint8_t i = DK_CRDT_COUNTER; i <= DK_CRDT_MAP; i++)
        if (strcmp(json_string_value(t), types[i]) == 0)
            op->type = i;
    if (!op->type)
        return dk_errf(-1, msg, len, "unknown type \"%.64s\"; expected counter, set, register or map",
                       json_string_value(t));
    if (nested && op->type == DK_CRDT_MAP)
        return dk_errf(-1, msg, len,
                       "map fields hold counters, sets and registers: nested maps are not supported");
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (!crdt_member_ok(op->type, k))
            return dk_errf(-1, msg, len, "unknown field \"%.64s\" in a %s operation; expected %s", k,
                           types[op->type], crdt_members(op->type));
    }
    switch (op->type) {
    case DK_CRDT_COUNTER:
        v = json_object_get(o, "increment");
        if (!json_is_integer(v))
            return dk_errf(-1, msg, len, "\"increment\" must be a whole number (negative to decrement)");
        op->delta = json_integer_value(v);
        return 0;
    case DK_CRDT_SET: {
        json_t *add = json_object_get(o, "add"), *rm = json_object_get(o, "remove");
        if (!add == !rm)
            return dk_errf(-1, msg, len,
                           "a set operation has either \"add\" or \"remove\", an array of strings");
        op->set_kind = add ? DK_CRDT_SET_ADD : DK_CRDT_SET_REMOVE;
        return crdt_strings(add ? add : rm, add ? "add" : "remove", 0, &op->elems, &op->n_elems, msg, len);
    }
    case DK_CRDT_REGISTER:
        v = json_object_get(o, "assign");
        if (!json_is_string(v))
            return dk_errf(-1, msg, len, "\"assign\" must be a string");
        op->text = (dk_slice){(const uint8_t *)json_string_value(v), json_string_length(v)};
        return 0;
    default: break;
    }
    json_t *up = json_object_get(o, "update"), *rm = json_object_get(o, "remove");
    if (!up && !rm)
        return dk_errf(-1, msg, len,
                       "a map operation has \"update\" (an object of field operations) and/or "
                       "\"remove\" (an array of field names)");
    if (rm && crdt_strings(rm, "remove", 1, &op->removes, &op->n_removes, msg, len))
        return -1;
    if (up) {
        if (!json_is_object(up))
            return dk_errf(-1, msg, len, "\"update\" must be an object of field operations");
        size_t n = json_object_size(up), klen;
        if (n && !(op->fields = calloc(n, sizeof(*op->fields))))
            return dk_errf(-1, msg, len, "out of memory");
        json_object_keylen_foreach(up, k, klen, v)
        {
            dk_crdt_field_op *f = &op->fields[op->n_fields++];
            f->name = (dk_slice){(const uint8_t *)k, klen};
            if (klen == 0 || klen > DK_CRDT_NAME_MAX)
                return dk_errf(-1, msg, len, "map field names are 1 to %u bytes", DK_CRDT_NAME_MAX);
            if (crdt_parse_op(v, 1, &f->op, msg, len))
                return -1;
        }
    }
    return 0;
}

static int crdt_header_refused(dk_api_kv *k, const dk_http_request *r)
{
    static const char *const none[] = {"x-ttl", "x-context", "if-match", "if-none-match"};
    char msg[160];
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        if (dk_http_header_get(r, none[i], NULL)) {
            snprintf(msg, sizeof(msg),
                     "%s does not apply to /crdt/: CRDT writes merge, never expire and take no "
                     "context",
                     none[i]);
            dk__api_error(&k->q, 400, "bad_header", msg);
            return -1;
        }
    }
    return 0;
}

static int crdt_post(dk_api_kv *k, const dk_http_request *r)
{
    char msg[300];
    size_t len;
    const char *ct = dk_http_header_get(r, "content-type", &len);
    /* application/json, with parameters (charset) allowed */
    if (!ct || len < 16 || strncasecmp(ct, "application/json", 16) != 0 ||
        (len > 16 && ct[16] != ';' && ct[16] != ' ')) {
        dk__api_error(&k->q, 415, "unsupported_media_type",
                      "send the operation as Content-Type: application/json");
        return -1;
    }
    if (!dk_http_header_get(r, "content-length", NULL) && !dk_http_header_get(r, "transfer-encoding", NULL)) {
        dk__api_error(&k->q, 411, "length_required",
                      "send the operation with Content-Length or chunked transfer encoding");
        return -1;
    }
    if (r->body.len > API_CRDT_BODY_MAX) {
        dk__api_error(&k->q, 413, "operation_too_large", "a CRDT operation is at most 256 KiB of JSON");
        return -1;
    }
    if (crdt_header_refused(k, r))
        return -1;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)r->body.ptr, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(msg, sizeof(msg), "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        dk__api_error(&k->q, 400, "bad_json", msg);
        return -1;
    }
    dk_crdt_op op;
    memset(&op, 0, sizeof(op));
    int rc = crdt_parse_op(doc, 0, &op, msg, sizeof(msg));
    /* Sorted, duplicates dropped: the encoding is canonical. */
    if (rc == 0 && dk_crdt_op_canon(&op) != 0)
        rc = dk_errf(-1, msg, sizeof(msg), "a field is both updated and removed in one operation");
    if (rc == 0 && dk_crdt_op_encode(&op, &k->crdt_op) != 0) {
        snprintf(msg, sizeof(msg), "the operation cannot be encoded");
        rc = -1;
    }
    k->crdt_type = op.type;
    dk_crdt_op_free(&op);
    json_decref(doc);
    if (rc) {
        dk__api_error(&k->q, 400, "bad_operation", msg);
        return -1;
    }
    k->value = dk_buf_slice(&k->crdt_op);
    return 0;
}

int dk__api_crdt_request(dk_api_kv *k, const dk_http_request *r)
{
    switch (r->method) {
    case HTTP_GET: k->q.op = DK_OP_GET; return 0;
    case HTTP_POST:
        k->q.op = DK_OP_PUT;
        k->write = 1;
        return crdt_post(k, r);
    default:
        dk_buf_append_str(&k->q.headers, "Allow: GET, POST\r\n");
        dk__api_error(&k->q, 405, "method_not_allowed", "use GET or POST on /crdt/{key}");
        return -1;
    }
}

/* ---- responses ------------------------------------------------------ */

static json_t *crdt_json_value(const dk_crdt_value *v)
{
    switch (v->type) {
    case DK_CRDT_COUNTER: return json_integer(v->count);
    case DK_CRDT_REGISTER: return json_stringn((const char *)v->text.ptr, v->text.len);
    case DK_CRDT_SET: {
        json_t *a = json_array();
        for (uint32_t i = 0; a && i < v->n_elems; i++)
            if (json_array_append_new(a, json_stringn((const char *)v->elems[i].ptr, v->elems[i].len)) != 0) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    case DK_CRDT_MAP: {
        json_t *o = json_object();
        for (uint32_t i = 0; o && i < v->n_fields; i++) {
            json_t *fv = crdt_json_value(&v->fields[i].value);
            if (!fv ||
                json_object_setn_new(o, (const char *)v->fields[i].name.ptr, v->fields[i].name.len, fv)) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    default: return NULL;
    }
}

static void crdt_sink(void *arg, dk_slice v)
{
    dk_buf *b = arg;
    if (dk_buf_append(b, v.ptr, v.len) != 0)
        b->len = 0;
}

int dk__api_crdt_is_crdt(dk_slice raw)
{
    dk_object_header h;
    return raw.len && dk_object_peek(raw, &h) == 0 && h.type == DK_OBJECT_CRDT;
}

int dk__api_crdt_describe(dk_api *api, json_t *o, dk_slice raw, const dk_object *obj)
{
    dk_buf enc = DK_BUF_INIT;
    dk_crdt_value v;
    memset(&v, 0, sizeof(v));
    int rc = dk_resolve_value(&api->node->resolvers, raw, obj, crdt_sink, &enc);
    if (rc == 0 && (enc.len == 0 || dk_crdt_value_decode(dk_buf_slice(&enc), &v) != 0))
        rc = DK_ECORRUPT;
    json_t *val = rc == 0 ? crdt_json_value(&v) : NULL;
    if (rc == 0 && !val)
        rc = -ENOMEM;
    if (rc == 0) {
        json_object_set_new(o, "type", json_string(dk_crdt_type_name(v.type)));
        json_object_set_new(o, "value", val);
    }
    dk_crdt_value_free(&v);
    dk_buf_free(&enc);
    return rc;
}

/* The error of a CRDT read or operation. */
static void crdt_error(dk_api_kv *k, int rc)
{
    char msg[300];
    const char *want = dk_crdt_type_name(k->crdt_type);
    switch (rc) {
    case DK_EWRONGTYPE:
        if (!k->write)
            dk__api_error(&k->q, 409, "type_mismatch",
                          "this key holds a plain value, not a CRDT: use GET /kv/{key}");
        else {
            snprintf(msg, sizeof(msg),
                     "this key holds something else than a %s (another CRDT type, or a plain "
                     "value written with PUT /kv/); GET /crdt/{key} or GET /kv/{key} shows it",
                     want ? want : "CRDT");
            dk__api_error(&k->q, 409, "type_mismatch", msg);
        }
        break;
    case DK_ETOOBIG:
        snprintf(msg, sizeof(msg), "the CRDT would exceed %u KiB; remove elements or fields first",
                 DK_CRDT_STATE_MAX / 1024);
        dk__api_error(&k->q, 413, "crdt_too_large", msg);
        break;
    case -ERANGE: dk__api_error(&k->q, 400, "bad_operation", "the counter would overflow"); break;
    case -EINVAL:
        dk__api_error(&k->q, 400, "bad_operation", "the operation was refused by the CRDT resolver");
        break;
    case DK_ENOTFOUND:
        dk__api_error(&k->q, 404, "not_found",
                      "no CRDT is stored under this key; POST an operation to create one");
        break;
    default: dk__api_store_error(&k->q, rc, &k->acks); break;
    }
}

void dk__api_crdt_render(dk_api_kv *k, int rc, dk_slice raw, const dk_object *obj)
{
    if (rc == 0 && raw.len && !dk__api_crdt_is_crdt(raw))
        rc = dk_store_is_live(obj, dk_now_ms()) ? DK_EWRONGTYPE : DK_ENOTFOUND;
    if (rc == 0 && !raw.len)
        rc = DK_ENOTFOUND;
    if (rc) {
        crdt_error(k, rc);
        return;
    }
    json_t *o = json_object();
    dk_json_set_key(o, "key", (dk_slice){k->key, k->key_len});
    rc = dk__api_crdt_describe(k->q.api, o, raw, obj);
    if (rc) {
        json_decref(o);
        dk__api_store_error(&k->q, rc == DK_EUNSUPPORTED ? DK_ECORRUPT : rc, &k->acks);
        return;
    }
    dk__api_json(&k->q, 200, o);
}
