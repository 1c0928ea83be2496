/*
 * http.c - the socket-free half of the HTTP transport: request parsing on
 * top of http-parser, response heads, JSON error bodies, status texts.
 *
 * The connection code (http_conn.c) and the fuzzer (tests/fuzz/fuzz-http.c)
 * drive the same dk__http_parse_feed(), so what the fuzzer exercises is what
 * the server runs.
 *
 * http-parser is a push parser that reports pieces of the URL and headers as
 * they arrive, possibly split across reads; each piece is copied into the
 * request's own buffer (the read buffer is reused), so a request outlives
 * the bytes it came from, as handlers may answer later. The parser is paused
 * at the end of each head and each message, which gives exact byte
 * positions: the head-size limit is counted on the bytes really fed (its
 * built-in limit is process-global, so it cannot serve per-server limits),
 * and one feed never runs past a complete request, which is what lets the
 * connection stop reading when too many requests are outstanding.
 *
 * The end of a head is also where the head check (dk_http_conf.head_check)
 * runs for a request that announces a body: before the body buffer is
 * reserved or a byte of the body is read, so a refused upload costs the
 * node its headers only.
 *
 * Requests come from, and go back to, the parser's pool when it has one
 * (the server's, per loop): a request and its buffers are reused, so a
 * GET allocates nothing here once the pool is warm.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http/http.h"

/* Marks a pause that only records a position (end of a head without
 * Expect); not an outcome for the caller. */
#define HTTP_EV_MARK (-1)

static void http_fail(dk__http_parse *p, int err, int status, const char *code, const char *msg)
{
    if (p->err)
        return;
    p->err = err;
    p->err_status = status;
    p->err_code = code;
    p->err_msg = msg;
}

void dk__http_req_free(dk__http_req *r)
{
    if (!r)
        return;
    dk_buf_free(&r->head);
    dk_buf_free(&r->body);
    free(r->off);
    free(r->hdrs);
    free(r);
}

/* What a kept request may hold: a typical head, a small body, the
 * header arrays of up to 32 headers. */
#define POOL_HEAD_MAX 4096
#define POOL_BODY_MAX 16384
#define POOL_HDRS_MAX 32

void dk__http_req_release(dk__http_pool *pool, dk__http_req *r)
{
    if (!r)
        return;
    if (!pool || pool->n >= DK__HTTP_POOL_MAX || r->head.cap > POOL_HEAD_MAX || r->body.cap > POOL_BODY_MAX ||
        r->cap_off > POOL_HDRS_MAX || r->cap_hdrs > POOL_HDRS_MAX) {
        dk__http_req_free(r);
        return;
    }
    r->next = pool->free;
    pool->free = r;
    pool->n++;
}

void dk__http_pool_free(dk__http_pool *pool)
{
    dk__http_req *r;
    while ((r = pool->free) != NULL) {
        pool->free = r->next;
        dk__http_req_free(r);
    }
    pool->n = 0;
}

/* An empty request: a kept one (its buffers emptied, not freed) or a
 * new one. */
static dk__http_req *http_req_get(dk__http_pool *pool)
{
    dk__http_req *r = pool ? pool->free : NULL;
    if (!r)
        return calloc(1, sizeof(*r));
    pool->free = r->next;
    pool->n--;
    dk_buf head = r->head, body = r->body;
    dk__http_hoff *off = r->off;
    dk_http_header *hdrs = r->hdrs;
    size_t cap_off = r->cap_off, cap_hdrs = r->cap_hdrs;
    memset(r, 0, sizeof(*r));
    r->head = head;
    r->head.len = 0;
    r->body = body;
    r->body.len = 0;
    r->off = off;
    r->cap_off = cap_off;
    r->hdrs = hdrs;
    r->cap_hdrs = cap_hdrs;
    return r;
}

static int http_on_message_begin(http_parser *hp)
{
    dk__http_parse *p = hp->data;
    dk__http_req_release(p->pool, p->cur);
    p->cur = http_req_get(p->pool);
    if (!p->cur) {
        http_fail(p, -ENOMEM, 503, "overloaded", "server out of memory; retry later");
        return -1;
    }
    p->in_message = 1;
    p->in_body = 0;
    p->last_value = 0;
    p->body_wire = 0;
    return 0;
}

static int http_append(dk__http_parse *p, dk_buf *b, const char *at, size_t len)
{
    if (dk_buf_append(b, at, len) == 0)
        return 0;
    http_fail(p, -ENOMEM, 503, "overloaded", "server out of memory; retry later");
    return -1;
}

static int http_on_url(http_parser *hp, const char *at, size_t len)
{
    dk__http_parse *p = hp->data;
    if (http_append(p, &p->cur->head, at, len))
        return -1;
    p->cur->url_len += len;
    return 0;
}

static int http_on_header_field(http_parser *hp, const char *at, size_t len)
{
    dk__http_parse *p = hp->data;
    dk__http_req *r = p->cur;
    if (p->in_body) /* chunked trailers: not kept */
        return 0;
    if (p->last_value || r->n_off == 0) {
        if (r->n_off == r->cap_off) {
            size_t cap = r->cap_off ? r->cap_off * 2 : 16;
            dk__http_hoff *o = realloc(r->off, cap * sizeof(*o));
            if (!o) {
                http_fail(p, -ENOMEM, 503, "overloaded", "server out of memory; retry later");
                return -1;
            }
            r->off = o;
            r->cap_off = cap;
        }
        dk__http_hoff *h = &r->off[r->n_off++];
        h->name_off = r->head.len;
        h->name_len = 0;
        h->value_off = r->head.len;
        h->value_len = 0;
        p->last_value = 0;
    }
    r->off[r->n_off - 1].name_len += len;
    return http_append(p, &r->head, at, len);
}

static int http_on_header_value(http_parser *hp, const char *at, size_t len)
{
    dk__http_parse *p = hp->data;
    dk__http_req *r = p->cur;
    if (p->in_body || r->n_off == 0)
        return 0;
    dk__http_hoff *h = &r->off[r->n_off - 1];
    if (!p->last_value) {
        h->value_off = r->head.len;
        h->value_len = 0;
        p->last_value = 1;
    }
    h->value_len += len;
    return http_append(p, &r->head, at, len);
}

/* RFC 7230 tchar: the bytes allowed in a header name. */
static int http_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Turn the offsets into the public view of the request: names checked and
 * lowercased, values without trailing whitespace, path and query split. */
static int http_finish_head(dk__http_parse *p)
{
    dk__http_req *r = p->cur;
    char *base = (char *)r->head.data;
    if (r->n_off > r->cap_hdrs) {
        dk_http_header *h = realloc(r->hdrs, r->n_off * sizeof(*h));
        if (!h) {
            http_fail(p, -ENOMEM, 503, "overloaded", "server out of memory; retry later");
            return -1;
        }
        r->hdrs = h;
        r->cap_hdrs = r->n_off;
    }
    for (size_t i = 0; i < r->n_off; i++) {
        dk__http_hoff *o = &r->off[i];
        char *name = base + o->name_off;
        /* http-parser lets some non-token bytes (a space) into names; a
         * name like "Transfer-Encoding " must not reach a handler */
        if (o->name_len == 0) {
            http_fail(p, -EPROTO, 400, "bad_request", "malformed HTTP request: empty header name");
            return -1;
        }
        for (size_t k = 0; k < o->name_len; k++) {
            if (!http_tchar((unsigned char)name[k])) {
                http_fail(p, -EPROTO, 400, "bad_request",
                          "malformed HTTP request: invalid character in a header name");
                return -1;
            }
            if (name[k] >= 'A' && name[k] <= 'Z')
                name[k] = (char)(name[k] - 'A' + 'a');
        }
        while (o->value_len && (base[o->value_off + o->value_len - 1] == ' ' ||
                                base[o->value_off + o->value_len - 1] == '\t'))
            o->value_len--;
        r->hdrs[i].name = name;
        r->hdrs[i].name_len = o->name_len;
        r->hdrs[i].value = base + o->value_off;
        r->hdrs[i].value_len = o->value_len;
    }
    r->pub.headers = r->hdrs;
    r->pub.n_headers = r->n_off;
    r->pub.method = p->hp.method;
    r->pub.method_name = http_method_str(p->hp.method);
    r->pub.http_minor = p->hp.http_minor;
    r->pub.keep_alive = http_should_keep_alive(&p->hp);

    if (dk__http_target_simple(base, r->url_len, &r->pub))
        return 0;
    struct http_parser_url u;
    http_parser_url_init(&u);
    int is_connect = p->hp.method == HTTP_CONNECT;
    if (r->url_len == 0 || r->url_len > UINT16_MAX ||
        http_parser_parse_url(base, r->url_len, is_connect, &u)) {
        http_fail(p, -EPROTO, 400, "bad_request",
                  "malformed request target; send an origin-form path such as /kv/key");
        return -1;
    }
    if (u.field_set & (1u << UF_PATH)) {
        r->pub.path = base + u.field_data[UF_PATH].off;
        r->pub.path_len = u.field_data[UF_PATH].len;
    } else if (is_connect) {
        r->pub.path = base;
        r->pub.path_len = r->url_len;
    } else {
        r->pub.path = "/";
        r->pub.path_len = 1;
    }
    if (u.field_set & (1u << UF_QUERY)) {
        r->pub.query = base + u.field_data[UF_QUERY].off;
        r->pub.query_len = u.field_data[UF_QUERY].len;
    } else {
        r->pub.query = "";
        r->pub.query_len = 0;
    }
    return 0;
}

/* The origin-form targets every /kv request sends ("/path" or
 * "/path?query", unreserved, sub-delims, ':', '@' and '%' only, at most
 * one '?'), split without http_parser_parse_url, whose state machine is a
 * fifth of a GET's parsing. Anything else (absolute-form, '#', other
 * bytes, CONNECT's authority) returns 0 and takes the full parse, which
 * gives the same path and query for these (test-http-parse checks both
 * ways on a list of targets). */
static int http_target_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
    case '/':
    case '%': return 1;
    default: return 0;
    }
}

int dk__http_target_simple(const char *t, size_t len, dk_http_request *out)
{
    if (len == 0 || len > UINT16_MAX || t[0] != '/')
        return 0;
    size_t q = len;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '?' && q == len)
            q = i;
        else if (!http_target_char(c))
            return 0;
    }
    out->path = t;
    out->path_len = q;
    if (q < len) {
        out->query = t + q + 1;
        out->query_len = len - q - 1;
    } else {
        out->query = "";
        out->query_len = 0;
    }
    return 1;
}

static int http_on_headers_complete(http_parser *hp)
{
    dk__http_parse *p = hp->data;
    dk__http_req *r = p->cur;
    if (http_finish_head(p))
        return -1;
    if (hp->http_major != 1) {
        http_fail(p, -EPROTO, 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
        return -1;
    }
    int chunked = (hp->flags & F_CHUNKED) != 0;
    int has_length = !chunked && hp->content_length != ULLONG_MAX && hp->content_length > 0;
    if (has_length && hp->content_length > p->max_body) {
        snprintf(p->msg, sizeof(p->msg), "request body of %llu bytes exceeds the limit of %zu bytes",
                 (unsigned long long)hp->content_length, p->max_body);
        http_fail(p, DK_ETOOBIG, 413, "value_too_large", p->msg);
        return -1;
    }
    if ((has_length || chunked) && p->head_check) {
        /* Before a byte of the body is read or room made for it. */
        memset(&p->early, 0, sizeof(p->early));
        p->head_check(p->head_arg, &r->pub, &p->early);
        if (p->early.status) {
            http_fail(p, -EACCES, p->early.status, p->early.code ? p->early.code : "refused",
                      p->early.message);
            return -1;
        }
    }
    if (has_length && dk_buf_reserve(&r->body, (size_t)hp->content_length)) {
        http_fail(p, -ENOMEM, 503, "overloaded", "server out of memory; retry later");
        return -1;
    }
    size_t elen;
    const char *e = dk_http_header_get(&r->pub, "expect", &elen);
    r->expect_continue = e && elen == 12 && strncasecmp(e, "100-continue", 12) == 0 && hp->http_minor >= 1 &&
                         (chunked || has_length);
    if (!has_length && !chunked) {
        /* No body: http-parser completes the message on the head's final
         * LF, in this same call (on_message_complete pauses there), so no
         * pause here; parse_feed counts the head when the message ends. */
        return 0;
    }
    p->in_body = 1;
    p->event = r->expect_continue ? DK__HTTP_HEAD : HTTP_EV_MARK;
    http_parser_pause(hp, 1);
    return 0;
}

static int http_on_body(http_parser *hp, const char *at, size_t len)
{
    dk__http_parse *p = hp->data;
    dk__http_req *r = p->cur;
    if (len > p->max_body - r->body.len) {
        snprintf(p->msg, sizeof(p->msg), "request body exceeds the limit of %zu bytes", p->max_body);
        http_fail(p, DK_ETOOBIG, 413, "value_too_large", p->msg);
        return -1;
    }
    return http_append(p, &r->body, at, len);
}

static int http_on_message_complete(http_parser *hp)
{
    dk__http_parse *p = hp->data;
    dk__http_req *r = p->cur;
    r->pub.body.ptr = r->body.data;
    r->pub.body.len = r->body.len;
    dk__http_req_release(p->pool, p->done);
    p->done = r;
    p->cur = NULL;
    p->in_message = 0;
    p->in_body = 0;
    p->head_bytes = 0;
    p->event = DK__HTTP_REQUEST;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings http_settings = {
    .on_message_begin = http_on_message_begin,
    .on_url = http_on_url,
    .on_header_field = http_on_header_field,
    .on_header_value = http_on_header_value,
    .on_headers_complete = http_on_headers_complete,
    .on_body = http_on_body,
    .on_message_complete = http_on_message_complete,
};

void dk__http_parse_init(dk__http_parse *p, size_t max_body, size_t max_header)
{
    memset(p, 0, sizeof(*p));
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    p->max_body = max_body;
    p->max_header = max_header;
}

void dk__http_parse_free(dk__http_parse *p)
{
    dk__http_req_release(p->pool, p->cur);
    dk__http_req_release(p->pool, p->done);
    p->cur = p->done = NULL;
}

dk__http_req *dk__http_parse_take(dk__http_parse *p)
{
    dk__http_req *r = p->done;
    p->done = NULL;
    return r;
}

/* Chunk-size lines and extensions are not bounded by http-parser; bound the
 * encoded body so a stream of empty extensions cannot run forever. */
static size_t http_wire_limit(const dk__http_parse *p)
{
    size_t lim = p->max_body;
    return (lim > SIZE_MAX / 8 ? SIZE_MAX / 2 : lim * 4) + p->max_header + 1024;
}

int dk__http_parse_feed(dk__http_parse *p, const char *data, size_t len, size_t *used)
{
    size_t off = 0;
    *used = 0;
    if (p->err)
        return p->err;
    while (off < len) {
        size_t chunk = len - off;
        int head = !p->in_body;
        if (head && chunk > p->max_header - p->head_bytes + 1)
            chunk = p->max_header - p->head_bytes + 1;
        p->event = 0;
        size_t h0 = p->head_bytes;
        size_t n = http_parser_execute(&p->hp, &http_settings, data + off, chunk);
        enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
        off += n;
        *used = off;
        if (head && p->event == DK__HTTP_REQUEST) /* a message without body ended in its head */
            p->head_bytes = h0 + n;
        else if (head) /* a head ends paused before its final LF: count it */
            p->head_bytes += n + (p->in_body ? 1 : 0);
        else if (p->in_body && (p->hp.flags & F_CHUNKED))
            p->body_wire += n;
        if (p->err)
            return p->err;
        if (head && p->head_bytes > p->max_header) {
            snprintf(p->msg, sizeof(p->msg),
                     "request line and headers exceed %zu bytes; send fewer or shorter headers",
                     p->max_header);
            http_fail(p, -EMSGSIZE, 431, "header_too_large", p->msg);
            return p->err;
        }
        if (p->body_wire > http_wire_limit(p)) {
            http_fail(p, DK_ETOOBIG, 413, "value_too_large", "chunked body encoding is too large");
            return p->err;
        }
        if (e == HPE_PAUSED) {
            http_parser_pause(&p->hp, 0);
            if (p->event == DK__HTTP_REQUEST && head)
                p->head_bytes = 0; /* checked above; the next head starts */
            if (p->event > 0)
                return p->event;
            continue;
        }
        if (e == HPE_HEADER_OVERFLOW) {
            http_fail(p, -EMSGSIZE, 431, "header_too_large",
                      "request headers are too large; send fewer or shorter headers");
            return p->err;
        }
        if (e != HPE_OK || n == 0) {
            snprintf(p->msg, sizeof(p->msg), "malformed HTTP request: %s",
                     e != HPE_OK ? http_errno_description(e) : "parser made no progress");
            http_fail(p, -EPROTO, 400, "bad_request", p->msg);
            return p->err;
        }
    }
    return DK__HTTP_MORE;
}

const char *dk_http_header_get(const dk_http_request *r, const char *lowercase_name, size_t *len)
{
    size_t n = strlen(lowercase_name);
    for (size_t i = 0; i < r->n_headers; i++) {
        const dk_http_header *h = &r->headers[i];
        if (h->name_len == n && memcmp(h->name, lowercase_name, n) == 0) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

const char *dk_http_status_text(int status)
{
    const char *s = status >= 100 && status <= 599 ? http_status_str((enum http_status)status) : NULL;
    if (s && strcmp(s, "<unknown>") != 0)
        return s;
    switch (status / 100) {
    case 1: return "Informational";
    case 2: return "Success";
    case 3: return "Redirection";
    case 4: return "Client Error";
    default: return "Server Error";
    }
}

/* Append the decimal digits of v (the head is written on every answer:
 * plain appends, no printf). */
static int http_append_u64(dk_buf *out, uint64_t v)
{
    char d[24];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return dk_buf_append(out, d + i, sizeof(d) - i);
}

int dk__http_head_start(dk_buf *out, int status, const char *content_type, const char *extra_headers,
                        size_t body_len)
{
    /* One allocation for a typical head (status, type, length, a context). */
    int rc = dk_buf_reserve(out, 256);
    if (!rc)
        rc = dk_buf_append_str(out, "HTTP/1.1 ");
    if (!rc)
        rc = http_append_u64(out, (uint64_t)(status < 0 ? 0 : status));
    if (!rc)
        rc = dk_buf_append(out, " ", 1);
    if (!rc)
        rc = dk_buf_append_str(out, dk_http_status_text(status));
    if (!rc && content_type) {
        rc = dk_buf_append_str(out, "\r\nContent-Type: ");
        if (!rc)
            rc = dk_buf_append_str(out, content_type);
    }
    if (!rc && status != 204 && status != 304 && status >= 200) {
        rc = dk_buf_append_str(out, "\r\nContent-Length: ");
        if (!rc)
            rc = http_append_u64(out, body_len);
    }
    if (!rc)
        rc = dk_buf_append(out, "\r\n", 2);
    if (!rc && extra_headers)
        rc = dk_buf_append_str(out, extra_headers);
    return rc;
}

int dk__http_head_finish(dk_buf *out, int close, int http10_keepalive)
{
    const char *line = close              ? "Connection: close\r\n\r\n"
                       : http10_keepalive ? "Connection: keep-alive\r\n\r\n"
                                          : "\r\n";
    return dk_buf_append_str(out, line);
}

static int http_json_str(dk_buf *out, const char *s)
{
    int rc = dk_buf_append(out, "\"", 1);
    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = dk_buf_append(out, esc, 2);
        } else if (c < 0x20) {
            rc = dk_buf_printf(out, "\\u%04x", c);
        } else {
            rc = dk_buf_append(out, s, 1);
        }
    }
    return rc ? rc : dk_buf_append(out, "\"", 1);
}

int dk__http_error_json(dk_buf *out, const char *code, const char *message)
{
    int rc = dk_buf_append_str(out, "{\"error\":");
    if (!rc)
        rc = http_json_str(out, code);
    if (!rc)
        rc = dk_buf_append_str(out, ",\"message\":");
    if (!rc)
        rc = http_json_str(out, message);
    if (!rc)
        rc = dk_buf_append_str(out, "}");
    return rc;
}
