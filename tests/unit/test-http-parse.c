/*
 * test-http-parse.c - the HTTP transport's pieces that need no socket: the
 * incremental request parser (fragmented and pipelined input, sticky
 * errors with their status, the head check that refuses a request before
 * its body), requests reused from a pool, percent decoding and query
 * lookup, status texts and the JSON error body. The server over real sockets is tested
 * in test-http.c.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <http_parser.h>
#include "http/http.h"

static void test_parser_fragments(void)
{
    const char *in = "\r\nPOST /kv/x%2Fy?prefix=a&limit=3 HTTP/1.1\r\nHOST: h\r\nX-Consistency:  quorum \r\n"
                     "Content-Length: 4\r\n\r\nbodyGET / HTTP/1.1\r\nX-Empty:\r\n\r\n";
    size_t len = strlen(in);
    for (size_t step = 1; step <= len; step = step * 3 + 1) {
        dk__http_parse p;
        dk__http_parse_init(&p, 100, 1000);
        dk__http_req *got[2] = {NULL, NULL};
        int n = 0;
        size_t off = 0;
        while (off < len) {
            size_t end = off + step < len ? off + step : len, pos = off;
            while (pos < end) {
                size_t used;
                int rc = dk__http_parse_feed(&p, in + pos, end - pos, &used);
                CU_ASSERT_FATAL(rc >= 0);
                pos += used;
                if (rc == DK__HTTP_REQUEST && n < 2)
                    got[n++] = dk__http_parse_take(&p);
            }
            off = end;
        }
        CU_ASSERT_FATAL(n == 2);
        const dk_http_request *r = &got[0]->pub;
        CU_ASSERT_EQUAL(r->method, HTTP_POST);
        CU_ASSERT_STRING_EQUAL(r->method_name, "POST");
        CU_ASSERT(r->path_len == 9 && memcmp(r->path, "/kv/x%2Fy", 9) == 0);
        CU_ASSERT(r->query_len == 16 && memcmp(r->query, "prefix=a&limit=3", 16) == 0);
        CU_ASSERT_EQUAL(r->n_headers, 3);
        size_t vl;
        const char *v = dk_http_header_get(r, "x-consistency", &vl);
        CU_ASSERT(v && vl == 6 && memcmp(v, "quorum", 6) == 0);
        v = dk_http_header_get(r, "host", &vl);
        CU_ASSERT(v && vl == 1 && v[0] == 'h');
        CU_ASSERT_PTR_NULL(dk_http_header_get(r, "HOST", NULL));
        CU_ASSERT(r->body.len == 4 && memcmp(r->body.ptr, "body", 4) == 0);
        CU_ASSERT(r->keep_alive && r->http_minor == 1);
        r = &got[1]->pub;
        CU_ASSERT(r->method == HTTP_GET && r->path_len == 1 && r->query_len == 0 && r->body.len == 0);
        v = dk_http_header_get(r, "x-empty", &vl);
        CU_ASSERT(v != NULL && vl == 0);
        CU_ASSERT_FALSE(dk__http_parse_busy(&p));
        dk__http_req_free(got[0]);
        dk__http_req_free(got[1]);
        dk__http_parse_free(&p);
    }
}

static void test_parser_errors(void)
{
    static const struct {
        const char *in;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        {"GET /\x01 HTTP/1.1\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413},
        {"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         431},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dk__http_parse p;
        dk__http_parse_init(&p, 100, 64);
        size_t used, len = strlen(cases[i].in);
        int rc = dk__http_parse_feed(&p, cases[i].in, len, &used);
        CU_ASSERT(rc < 0);
        CU_ASSERT_EQUAL(p.err_status, cases[i].status);
        CU_ASSERT_PTR_NOT_NULL(p.err_code);
        CU_ASSERT_EQUAL(dk__http_parse_feed(&p, "GET", 3, &used), rc); /* sticky */
        dk__http_parse_free(&p);
    }
}

/* A head check that refuses PUT /secret and counts its calls. */
static void hc_refuse_secret(void *arg, const dk_http_request *head, dk_http_early *out)
{
    ++*(int *)arg;
    if (head->path_len == 7 && memcmp(head->path, "/secret", 7) == 0) {
        out->status = 401;
        out->code = "unauthorized";
        snprintf(out->message, sizeof(out->message), "no token");
        snprintf(out->headers, sizeof(out->headers), "WWW-Authenticate: Bearer\r\n");
    }
}

static void test_parser_head_check(void)
{
    /* Refused at the end of the head: the body is not consumed, nothing of
     * it is buffered, and the outcome is sticky as any error. */
    const char *in = "PUT /secret HTTP/1.1\r\nContent-Length: 50\r\n\r\n0123456789";
    dk__http_parse p;
    int calls = 0;
    size_t used;
    dk__http_parse_init(&p, 100, 1000);
    p.head_check = hc_refuse_secret;
    p.head_arg = &calls;
    int rc = dk__http_parse_feed(&p, in, strlen(in), &used);
    CU_ASSERT_EQUAL(rc, -EACCES);
    CU_ASSERT_EQUAL(calls, 1);
    CU_ASSERT_EQUAL(p.err_status, 401);
    CU_ASSERT_STRING_EQUAL(p.err_code, "unauthorized");
    CU_ASSERT_STRING_EQUAL(p.err_msg, "no token");
    CU_ASSERT_EQUAL(p.early.status, 401);
    CU_ASSERT(used <= strlen(in) - 10);
    CU_ASSERT_PTR_NULL(dk__http_parse_take(&p));
    CU_ASSERT_EQUAL(dk__http_parse_feed(&p, "x", 1, &used), -EACCES);
    dk__http_parse_free(&p);

    /* A request without a body is not checked here (the handler is); one
     * the check lets through, chunked or not, completes as usual. */
    const char *ok = "GET /secret HTTP/1.1\r\n\r\n"
                     "PUT /open HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"
                     "PUT /secret HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
    calls = 0;
    dk__http_parse_init(&p, 100, 1000);
    p.head_check = hc_refuse_secret;
    p.head_arg = &calls;
    size_t off = 0, len = strlen(ok);
    int done = 0;
    while (off < len && (rc = dk__http_parse_feed(&p, ok + off, len - off, &used)) >= 0) {
        off += used;
        if (rc == DK__HTTP_REQUEST) {
            dk__http_req_free(dk__http_parse_take(&p));
            done++;
        }
    }
    CU_ASSERT_EQUAL(done, 2);
    CU_ASSERT_EQUAL(calls, 2);
    CU_ASSERT_EQUAL(rc, -EACCES);
    CU_ASSERT_EQUAL(p.err_status, 401);
    dk__http_parse_free(&p);
}

static void test_url(void)
{
    char out[64];
    CU_ASSERT_EQUAL(dk_url_decode("a%20b%2Fc+d", 11, out, sizeof(out)), 7);
    CU_ASSERT_STRING_EQUAL(out, "a b/c+d");
    CU_ASSERT_EQUAL(dk_url_decode("%e2%82%AC", 9, out, sizeof(out)), 3);
    CU_ASSERT(memcmp(out, "\xe2\x82\xac", 3) == 0);
    CU_ASSERT_EQUAL(dk_url_decode("x%00y", 5, out, sizeof(out)), 3);
    CU_ASSERT(out[1] == '\0' && out[2] == 'y');
    CU_ASSERT_EQUAL(dk_url_decode("%G1", 3, out, sizeof(out)), -EINVAL);
    CU_ASSERT_EQUAL(dk_url_decode("ab%4", 4, out, sizeof(out)), -EINVAL);
    CU_ASSERT_EQUAL(dk_url_decode("%", 1, out, sizeof(out)), -EINVAL);
    CU_ASSERT_EQUAL(dk_url_decode("abcd", 4, out, 3), -ENOBUFS);
    CU_ASSERT_EQUAL(dk_url_decode("abc", 3, out, 3), 3);
    CU_ASSERT_EQUAL(dk_url_decode("", 0, out, sizeof(out)), 0);

    const char *q = "prefix=a%2Fb&limit=10&flag&empty=&sp=x+y&bad=%zz&pre%66ix=second&cursor=%4";
    size_t ql = strlen(q);
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "prefix", out, sizeof(out)), 3);
    CU_ASSERT_STRING_EQUAL(out, "a/b");
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "limit", out, sizeof(out)), 2);
    CU_ASSERT_STRING_EQUAL(out, "10");
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "flag", out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "empty", out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "sp", out, sizeof(out)), 3);
    CU_ASSERT_STRING_EQUAL(out, "x y");
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "bad", out, sizeof(out)), -EINVAL);
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "cursor", out, sizeof(out)), -EINVAL);
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "missing", out, sizeof(out)), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "limi", out, sizeof(out)), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(dk_url_query_get(q, ql, "prefix", out, 2), -ENOBUFS);
    CU_ASSERT_EQUAL(dk_url_query_get("", 0, "a", out, sizeof(out)), DK_ENOTFOUND);
    /* a name is matched after decoding */
    CU_ASSERT_EQUAL(dk_url_query_get("pre%66ix=z", 10, "prefix", out, sizeof(out)), 1);
    CU_ASSERT_STRING_EQUAL(out, "z");
}

static void test_status_text_and_error_json(void)
{
    CU_ASSERT_STRING_EQUAL(dk_http_status_text(404), "Not Found");
    CU_ASSERT_STRING_EQUAL(dk_http_status_text(431), "Request Header Fields Too Large");
    CU_ASSERT_STRING_EQUAL(dk_http_status_text(599), "Server Error");
    dk_buf b = DK_BUF_INIT;
    CU_ASSERT(dk__http_error_json(&b, "bad_request", "say \"hi\"\\\n") == 0);
    CU_ASSERT(b.len == strlen("{\"error\":\"bad_request\",\"message\":\"say \\\"hi\\\"\\\\\\u000a\"}"));
    CU_ASSERT(
        memcmp(b.data, "{\"error\":\"bad_request\",\"message\":\"say \\\"hi\\\"\\\\\\u000a\"}", b.len) == 0);
    dk_buf_free(&b);
}

/* Feed in whole; the one request it holds (taken), or NULL. */
static dk__http_req *parse_one(dk__http_parse *p, const char *in)
{
    size_t len = strlen(in), off = 0;
    while (off < len) {
        size_t used;
        int rc = dk__http_parse_feed(p, in + off, len - off, &used);
        CU_ASSERT_FATAL(rc >= 0);
        off += used;
        if (rc == DK__HTTP_REQUEST)
            return dk__http_parse_take(p);
    }
    return NULL;
}

/* A parser with a pool reuses a request given back (the same memory, its
 * buffers kept) and nothing of the previous request shows through: fewer
 * headers, no body, another path. A request with a head too large to keep
 * goes back to the allocator; a full pool keeps no more. */
static void test_parser_pool(void)
{
    dk__http_pool pool = {0};
    dk__http_parse p;
    dk__http_parse_init(&p, 1000, 16000);
    p.pool = &pool;
    dk__http_req *a = parse_one(&p, "PUT /kv/first HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"
                                    "Content-Length: 5\r\n\r\nhello");
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT(a->pub.n_headers == 5 && a->pub.body.len == 5);
    dk__http_req_release(&pool, a);
    CU_ASSERT_EQUAL(pool.n, 1);
    dk__http_req *b = parse_one(&p, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    CU_ASSERT_PTR_EQUAL(b, a); /* reused */
    CU_ASSERT_EQUAL(pool.n, 0);
    CU_ASSERT(b->pub.method == HTTP_GET && b->pub.path_len == 2 && memcmp(b->pub.path, "/x", 2) == 0);
    CU_ASSERT_EQUAL(b->pub.n_headers, 1);
    CU_ASSERT_EQUAL(b->pub.body.len, 0);
    CU_ASSERT_PTR_NULL(dk_http_header_get(&b->pub, "a", NULL));
    size_t vl;
    const char *v = dk_http_header_get(&b->pub, "host", &vl);
    CU_ASSERT(v && vl == 1 && v[0] == 'h');
    dk__http_req_release(&pool, b);
    /* a head over what the pool keeps (4 KiB) is freed, not kept */
    char big[6000];
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Big: %05000d\r\n\r\n", 0);
    dk__http_req *c = parse_one(&p, big);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(pool.n, 0);
    dk__http_req_release(&pool, c);
    CU_ASSERT_EQUAL(pool.n, 0);
    /* at most DK__HTTP_POOL_MAX */
    dk__http_req *many[DK__HTTP_POOL_MAX + 1];
    for (int i = 0; i <= DK__HTTP_POOL_MAX; i++)
        CU_ASSERT_FATAL((many[i] = parse_one(&p, "GET / HTTP/1.1\r\n\r\n")) != NULL);
    for (int i = 0; i <= DK__HTTP_POOL_MAX; i++)
        dk__http_req_release(&pool, many[i]);
    CU_ASSERT_EQUAL(pool.n, DK__HTTP_POOL_MAX);
    dk__http_parse_free(&p);
    dk__http_pool_free(&pool);
    CU_ASSERT_EQUAL(pool.n, 0);
    CU_ASSERT_PTR_NULL(pool.free);
}

/* A head of n bytes: "GET /" padded with 'a' to n bytes with " HTTP/1.1\r\n\r\n". */
static void head_of(char *out, size_t n)
{
    const char *tail = " HTTP/1.1\r\n\r\n";
    size_t t = strlen(tail);
    memcpy(out, "GET /", 5);
    memset(out + 5, 'a', n - 5 - t);
    memcpy(out + n - t, tail, t + 1);
}

/* The head limit of requests without a body, which complete in the call
 * that parses their head: a head of exactly max_header bytes passes, one
 * more byte is refused, fed whole or a byte at a time; pipelined heads are
 * each counted alone (the count restarts after each request). */
static void test_parser_head_limit_bodyless(void)
{
    char a[80], b[80], two[160];
    head_of(a, 64);
    head_of(b, 65);
    for (int bytewise = 0; bytewise <= 1; bytewise++) {
        for (int over = 0; over <= 1; over++) {
            const char *in = over ? b : a;
            dk__http_parse p;
            dk__http_parse_init(&p, 100, 64);
            size_t off = 0, len = strlen(in), used;
            int rc = DK__HTTP_MORE;
            while (off < len && rc == DK__HTTP_MORE) {
                rc = dk__http_parse_feed(&p, in + off, bytewise ? 1 : len - off, &used);
                off += used;
            }
            if (over) {
                CU_ASSERT(rc < 0);
                CU_ASSERT_EQUAL(p.err_status, 431);
            } else {
                CU_ASSERT_EQUAL(rc, DK__HTTP_REQUEST);
                CU_ASSERT_EQUAL(off, len);
                dk__http_req *r = dk__http_parse_take(&p);
                CU_ASSERT_FATAL(r != NULL);
                CU_ASSERT_EQUAL(r->pub.path_len, 64 - 4 - 13); /* "GET " and " HTTP/1.1\r\n\r\n" */
                dk__http_req_free(r);
            }
            dk__http_parse_free(&p);
        }
    }
    /* Three heads of 64 bytes back to back (192 > 64) all complete. */
    snprintf(two, sizeof(two), "%s%s", a, a);
    dk__http_parse p;
    dk__http_parse_init(&p, 100, 64);
    int got = 0;
    for (int round = 0; round < 2; round++) {
        size_t off = 0, len = strlen(round ? a : two), used;
        const char *in = round ? a : two;
        while (off < len) {
            int rc = dk__http_parse_feed(&p, in + off, len - off, &used);
            off += used;
            CU_ASSERT_FATAL(rc >= 0);
            if (rc == DK__HTTP_REQUEST) {
                dk__http_req_free(dk__http_parse_take(&p));
                got++;
            }
        }
    }
    CU_ASSERT_EQUAL(got, 3);
    CU_ASSERT_FALSE(dk__http_parse_busy(&p));
    dk__http_parse_free(&p);
}

/* The fast split of plain origin-form targets gives what
 * http_parser_parse_url gives, and leaves everything else to it. */
static void test_target_fast_path(void)
{
    static const char *const simple[] = {
        "/",
        "/kv/g-123",
        "/kv/x%2Fy?prefix=a&limit=3",
        "/kv/a?",
        "/scan?prefix=&cursor=a:b@c",
        "/kv/~a.b_c-d!$&'()*+,;=:@",
        "//kv",
        "/kv/a?b=/c",
    };
    static const char *const other[] = {
        "",     "*",       "http://h/kv/a", "/kv/a#f", "/kv/a?b?c", "/kv/a b", "/kv/\x7f", "/kv/\xc3\xa9",
        "kv/a", "/kv/a\"", "/kv/<a>",       "/kv/a|b",
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        const char *t = simple[i];
        dk_http_request r;
        memset(&r, 0, sizeof r);
        CU_ASSERT_EQUAL_FATAL(dk__http_target_simple(t, strlen(t), &r), 1);
        struct http_parser_url u;
        http_parser_url_init(&u);
        CU_ASSERT_EQUAL_FATAL(http_parser_parse_url(t, strlen(t), 0, &u), 0);
        size_t plen = (u.field_set & (1u << UF_PATH)) ? u.field_data[UF_PATH].len : 0;
        size_t qlen = (u.field_set & (1u << UF_QUERY)) ? u.field_data[UF_QUERY].len : 0;
        CU_ASSERT(r.path == t && r.path_len == plen);
        CU_ASSERT_EQUAL(r.query_len, qlen);
        if (qlen)
            CU_ASSERT(r.query == t + u.field_data[UF_QUERY].off);
    }
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        dk_http_request r;
        memset(&r, 0, sizeof r);
        CU_ASSERT_EQUAL(dk__http_target_simple(other[i], strlen(other[i]), &r), 0);
        CU_ASSERT_PTR_NULL(r.path);
    }
}

static CU_TestInfo http_parse_tests[] = {
    {"fragmented pipelined input", test_parser_fragments},
    {"parser errors", test_parser_errors},
    {"head check before the body", test_parser_head_check},
    {"percent decoding and query", test_url},
    {"status text and JSON errors", test_status_text_and_error_json},
    {"requests reused from a pool", test_parser_pool},
    {"plain targets split without the URL parser", test_target_fast_path},
    {"head limit of requests without a body", test_parser_head_limit_bodyless},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "http-parse", .pTests = http_parse_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
