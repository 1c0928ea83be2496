/*
 * fuzz-http.c - libFuzzer target for the HTTP request parser.
 *
 * Drives dk__http_parse_feed(), the very function the server's connections
 * use, with arbitrary bytes. The first input byte picks the fragment size,
 * so one corpus entry also covers requests split across reads at every
 * position. Each complete request goes through what a handler would do
 * with it (header lookup, percent-decoding, query lookup) and the response
 * head and JSON error formatting. Invariants checked: the parser never
 * claims more bytes than it was given, always makes progress or stops with
 * an outcome, and answers errors only with the statuses this layer uses.
 */
#include <stdint.h>
#include <stdlib.h>
#include "http/http.h"
#include "http/url.h"

static void fuzz_check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void fuzz_use(const dk_http_request *r)
{
    char out[512];
    size_t vl;
    const char *v = dk_http_header_get(r, "content-type", &vl);
    fuzz_check(!v || vl <= 1024);
    for (size_t i = 0; i < r->n_headers; i++)
        for (size_t k = 0; k < r->headers[i].name_len; k++)
            fuzz_check(r->headers[i].name[k] < 'A' || r->headers[i].name[k] > 'Z');
    ssize_t n = dk_url_decode(r->path, r->path_len, out, sizeof(out));
    fuzz_check(n < 0 || (size_t)n <= r->path_len);
    n = dk_url_query_get(r->query, r->query_len, "prefix", out, sizeof(out));
    fuzz_check(n < 0 || (size_t)n <= r->query_len);
    /* numeric parameters and headers: digits only, within the bound */
    uint64_t num = 0;
    n = dk_url_query_get(r->query, r->query_len, "limit", out, sizeof(out));
    if (n >= 0 && dk_parse_decimal(out, (size_t)n, 1000, &num) == 0) {
        fuzz_check(num <= 1000 && n >= 1);
        for (ssize_t i = 0; i < n; i++)
            fuzz_check(out[i] >= '0' && out[i] <= '9');
    }
    v = dk_http_header_get(r, "x-ttl", &vl);
    if (v && dk_parse_decimal(v, vl, UINT64_MAX, &num) == 0)
        fuzz_check(vl >= 1 && vl <= 20 && v[0] >= '0' && v[0] <= '9');
    fuzz_check(r->body.len <= 4096);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] ? data[0] : size;
    const char *in = (const char *)data + 1;
    size_t len = size - 1, off = 0;
    dk__http_parse p;
    dk__http_parse_init(&p, 4096, 1024);
    int failed = 0;
    while (off < len && !failed) {
        size_t end = len - off > step ? off + step : len;
        while (off < end) {
            size_t used;
            int rc = dk__http_parse_feed(&p, in + off, end - off, &used);
            fuzz_check(used <= end - off);
            off += used;
            if (rc < 0) {
                fuzz_check(p.err_status == 400 || p.err_status == 413 || p.err_status == 431 ||
                           p.err_status == 503 || p.err_status == 505);
                dk_buf b = DK_BUF_INIT;
                fuzz_check(dk__http_error_json(&b, p.err_code, p.err_msg) == 0);
                fuzz_check(dk__http_head_start(&b, p.err_status, "application/json", NULL, b.len) == 0);
                fuzz_check(dk__http_head_finish(&b, 1, 0) == 0);
                dk_buf_free(&b);
                failed = 1;
                break;
            }
            if (rc == DK__HTTP_REQUEST) {
                dk__http_req *r = dk__http_parse_take(&p);
                fuzz_check(r != NULL);
                fuzz_use(&r->pub);
                dk__http_req_free(r);
            } else if (rc == DK__HTTP_HEAD) {
                fuzz_check(dk__http_parse_current(&p)->expect_continue);
            } else {
                fuzz_check(rc == DK__HTTP_MORE && off == end);
            }
        }
    }
    dk__http_parse_free(&p);
    return 0;
}
