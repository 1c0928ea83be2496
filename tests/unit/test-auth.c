/*
 * test-auth.c - the tokens file and the token check (framework/api/auth.c):
 * a file with comments, blank lines and CRLF loads every client; each
 * kind of malformed line is refused with "file:line:" and the right line
 * number; a token matches only its own entry and only with the Bearer
 * scheme; roles order read < write < admin; the route table; reload keeps
 * the old table when the new file is bad; failures are counted by reason.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <http_parser.h>
#include "api/auth.h"
#include "dynkv/types.h"

static char err[512];

/* "NAME ROLE sha256(token)\n" into buf. */
static const char *entry(char *buf, size_t len, const char *name, const char *role, const char *token)
{
    char hex[65];
    CU_ASSERT_EQUAL_FATAL(dk_auth_hash_hex(token, strlen(token), hex), 0);
    snprintf(buf, len, "%s %s %s\n", name, role, hex);
    return buf;
}

static dk_auth *parse(const char *text)
{
    dk_auth *a = NULL;
    err[0] = '\0';
    if (dk__auth_parse(text, strlen(text), "tokens", &a, err, sizeof err) != 0)
        return NULL;
    return a;
}

static dk_auth_result check(dk_auth *a, const char *hdr, dk_auth_role need, char *name)
{
    return dk_auth_check(a, hdr, hdr ? strlen(hdr) : 0, need, name, name ? DK_AUTH_NAME_MAX + 1 : 0);
}

static void test_hash(void)
{
    char hex[65];
    CU_ASSERT_EQUAL_FATAL(dk_auth_hash_hex("abc", 3, hex), 0);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_good_file(void)
{
    char l1[128], l2[128], l3[128], text[1024];
    snprintf(text, sizeof text, "# clients\n\n  # indented comment\n%s%s\r\n%s",
             entry(l1, sizeof l1, "app", "read", "t-read"), "",
             entry(l2, sizeof l2, "svc.w-1@x", "write", "t-write"));
    /* the write line ends with \n: make it CRLF by hand */
    size_t n = strlen(text);
    text[n - 1] = '\r';
    strcat(text, "\n");
    strcat(text, entry(l3, sizeof l3, "ops", "admin", "t-admin"));
    text[strlen(text) - 1] = '\0'; /* last line without a newline */
    dk_auth *a = parse(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(dk_auth_count(a), 3);
    char name[DK_AUTH_NAME_MAX + 1];
    CU_ASSERT_EQUAL(check(a, "Bearer t-read", DK_ROLE_READ, name), DK_AUTH_OK);
    CU_ASSERT_STRING_EQUAL(name, "app");
    CU_ASSERT_EQUAL(check(a, "bearer  t-write  ", DK_ROLE_WRITE, name), DK_AUTH_OK);
    CU_ASSERT_STRING_EQUAL(name, "svc.w-1@x");
    CU_ASSERT_EQUAL(check(a, "BEARER\tt-admin", DK_ROLE_ADMIN, name), DK_AUTH_OK);
    CU_ASSERT_STRING_EQUAL(name, "ops");
    dk_auth_free(a);
    /* an empty file and a comments-only file load, with no clients */
    a = parse("");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(dk_auth_count(a), 0);
    CU_ASSERT_EQUAL(check(a, "Bearer t-read", DK_ROLE_READ, NULL), DK_AUTH_INVALID);
    dk_auth_free(a);
}

/* text must be refused with a message that starts with want_prefix and
 * contains want. */
static void refused(const char *text, const char *want_prefix, const char *want)
{
    dk_auth *a = parse(text);
    CU_ASSERT_PTR_NULL(a);
    dk_auth_free(a);
    if (strncmp(err, want_prefix, strlen(want_prefix)) != 0 || !strstr(err, want)) {
        fprintf(stderr, "\nmessage: %s\nwanted: %s ... %s\n", err, want_prefix, want);
        CU_FAIL("wrong message");
    }
}

static void test_malformed(void)
{
    char ok[128], ok2[128], text[1024];
    entry(ok, sizeof ok, "app", "read", "t1");
    entry(ok2, sizeof ok2, "app2", "read", "t2");
    snprintf(text, sizeof text, "# c\n%sapp2 read\n", ok);
    refused(text, "tokens:3:", "3 fields");
    snprintf(text, sizeof text, "%sapp2 read %.64s extra\n", ok, ok + 9);
    refused(text, "tokens:2:", "found more");
    snprintf(text, sizeof text, "\n\n%.4sreader%s", ok, ok + 8);
    refused(text, "tokens:3:", "role 'reader' is not read, write or admin");
    snprintf(text, sizeof text, "app read %.63s\n", ok + 9);
    refused(text, "tokens:1:", "64 lowercase hex");
    /* uppercase hex is refused: the file says lowercase */
    char up[128];
    snprintf(up, sizeof up, "%s", ok);
    for (char *p = up + 9; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    refused(up, "tokens:1:", "64 lowercase hex");
    snprintf(text, sizeof text, "a/b%s", ok + 3);
    refused(text, "tokens:1:", "client name");
    snprintf(text, sizeof text, "%s#\n%.4swrite%s", ok, ok, ok + 8);
    refused(text, "tokens:3:", "client 'app' is already named on line 1");
    snprintf(text, sizeof text, "%s%.3sx write%s", ok, ok, ok + 8);
    refused(text, "tokens:2:", "same token hash as client 'app' on line 1");
    snprintf(text, sizeof text, "%s%s", ok, ok2);
    dk_auth *a = parse(text);
    CU_ASSERT_PTR_NOT_NULL(a);
    dk_auth_free(a);
    char nul[] = "app read x\0y\n";
    dk_auth *b = NULL;
    CU_ASSERT_NOT_EQUAL(dk__auth_parse(nul, sizeof nul - 1, "f", &b, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "f:1: a NUL byte"));
    char *longl = malloc(2000);
    memset(longl, '#', 1999);
    longl[1999] = 0;
    refused(longl, "tokens:1:", "longer than 1024");
    free(longl);
}

/* The failure counter of reason, from the /metrics family. */
static unsigned long long failures(const char *reason)
{
    dk_buf out;
    dk_buf_init(&out);
    CU_ASSERT_EQUAL(dk_auth_metrics_render(&out), 0);
    dk_buf_append(&out, "", 1);
    const char *s = (const char *)out.data;
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE dynkv_http_auth_failures_total counter\n"));
    char want[96];
    snprintf(want, sizeof want, "dynkv_http_auth_failures_total{reason=\"%s\"} ", reason);
    const char *p = strstr(s, want);
    CU_ASSERT_PTR_NOT_NULL(p);
    unsigned long long v = p ? strtoull(p + strlen(want), NULL, 10) : 0;
    dk_buf_free(&out);
    return v;
}

static void test_check(void)
{
    unsigned long long missing0 = failures("missing"), invalid0 = failures("invalid");
    unsigned long long forbidden0 = failures("forbidden");
    char l1[128], l2[128], l3[128], text[512];
    snprintf(text, sizeof text, "%s%s%s", entry(l1, sizeof l1, "r", "read", "tok-r"),
             entry(l2, sizeof l2, "w", "write", "tok-w"), entry(l3, sizeof l3, "a", "admin", "tok-a"));
    dk_auth *a = parse(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    char name[DK_AUTH_NAME_MAX + 1];
    CU_ASSERT_EQUAL(check(a, NULL, DK_ROLE_READ, NULL), DK_AUTH_MISSING);
    CU_ASSERT_EQUAL(check(a, "", DK_ROLE_READ, NULL), DK_AUTH_MISSING);
    CU_ASSERT_EQUAL(check(a, "Basic dG9rLXI=", DK_ROLE_READ, NULL), DK_AUTH_MISSING);
    CU_ASSERT_EQUAL(check(a, "Bearer", DK_ROLE_READ, NULL), DK_AUTH_MISSING);
    CU_ASSERT_EQUAL(check(a, "Bearer   ", DK_ROLE_READ, NULL), DK_AUTH_MISSING);
    CU_ASSERT_EQUAL(check(a, "Bearertok-r", DK_ROLE_READ, NULL), DK_AUTH_MISSING);
    CU_ASSERT_EQUAL(check(a, "tok-r", DK_ROLE_READ, NULL), DK_AUTH_MISSING);
    CU_ASSERT_EQUAL(check(a, "Bearer tok-x", DK_ROLE_READ, NULL), DK_AUTH_INVALID);
    CU_ASSERT_EQUAL(check(a, "Bearer tok-r2", DK_ROLE_READ, NULL), DK_AUTH_INVALID);
    CU_ASSERT_EQUAL(check(a, "Bearer tok-", DK_ROLE_READ, NULL), DK_AUTH_INVALID);
    CU_ASSERT_EQUAL(check(a, "Bearer TOK-R", DK_ROLE_READ, NULL), DK_AUTH_INVALID);
    /* the role order */
    static const struct {
        const char *tok;
        dk_auth_role need;
        dk_auth_result want;
    } m[] = {
        {"tok-r", DK_ROLE_READ, DK_AUTH_OK},         {"tok-r", DK_ROLE_WRITE, DK_AUTH_FORBIDDEN},
        {"tok-r", DK_ROLE_ADMIN, DK_AUTH_FORBIDDEN}, {"tok-w", DK_ROLE_READ, DK_AUTH_OK},
        {"tok-w", DK_ROLE_WRITE, DK_AUTH_OK},        {"tok-w", DK_ROLE_ADMIN, DK_AUTH_FORBIDDEN},
        {"tok-a", DK_ROLE_READ, DK_AUTH_OK},         {"tok-a", DK_ROLE_WRITE, DK_AUTH_OK},
        {"tok-a", DK_ROLE_ADMIN, DK_AUTH_OK},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "Bearer %s", m[i].tok);
        name[0] = '\0';
        CU_ASSERT_EQUAL(check(a, hdr, m[i].need, name), m[i].want);
        CU_ASSERT_EQUAL(name[0], m[i].tok[4]); /* the client is named even when forbidden */
    }
    /* a very long token is invalid, not a crash */
    char *big = malloc(DK_AUTH_TOKEN_MAX + 100);
    strcpy(big, "Bearer ");
    memset(big + 7, 'x', DK_AUTH_TOKEN_MAX + 50);
    big[7 + DK_AUTH_TOKEN_MAX + 50] = '\0';
    CU_ASSERT_EQUAL(check(a, big, DK_ROLE_READ, NULL), DK_AUTH_INVALID);
    free(big);
    /* failures are counted by reason */
    CU_ASSERT_EQUAL(failures("missing") - missing0, 7);
    CU_ASSERT_EQUAL(failures("invalid") - invalid0, 5);
    CU_ASSERT_EQUAL(failures("forbidden") - forbidden0, 3);
    dk_auth_free(a);
}

static void test_routes(void)
{
    static const struct {
        int method;
        const char *path;
        int mnt;
        dk_auth_role want;
    } r[] = {
        {HTTP_GET, "/livez", 0, DK_ROLE_OPEN},
        {HTTP_GET, "/readyz", 1, DK_ROLE_OPEN},
        {HTTP_HEAD, "/health", 0, DK_ROLE_OPEN},
        {HTTP_POST, "/health", 0, DK_ROLE_OPEN},
        {HTTP_GET, "/ui/", 0, DK_ROLE_OPEN},
        {HTTP_GET, "/ui", 0, DK_ROLE_OPEN},
        {HTTP_GET, "/ui/index.html", 0, DK_ROLE_OPEN},
        {HTTP_GET, "/ui/x", 0, DK_ROLE_READ},
        {HTTP_GET, "/metrics", 0, DK_ROLE_OPEN},
        {HTTP_GET, "/metrics", 1, DK_ROLE_READ},
        {HTTP_OPTIONS, "/metrics", 1, DK_ROLE_OPEN},
        {HTTP_POST, "/metrics", 0, DK_ROLE_ADMIN},
        {HTTP_GET, "/kv/a", 0, DK_ROLE_READ},
        {HTTP_HEAD, "/kv/a", 0, DK_ROLE_READ},
        {HTTP_PUT, "/kv/a", 0, DK_ROLE_WRITE},
        {HTTP_DELETE, "/kv/a", 0, DK_ROLE_WRITE},
        {HTTP_POST, "/kv/a", 0, DK_ROLE_WRITE},
        {HTTP_GET, "/kv", 0, DK_ROLE_READ},
        {HTTP_GET, "/crdt/c", 0, DK_ROLE_READ},
        {HTTP_POST, "/crdt/c", 0, DK_ROLE_WRITE},
        {HTTP_GET, "/cluster", 0, DK_ROLE_READ},
        {HTTP_GET, "/cluster/ring", 0, DK_ROLE_READ},
        {HTTP_GET, "/cluster/endpoints/k", 0, DK_ROLE_READ},
        {HTTP_PUT, "/cluster", 0, DK_ROLE_ADMIN},
        {HTTP_GET, "/info", 0, DK_ROLE_READ},
        {HTTP_GET, "/admin/repair", 0, DK_ROLE_ADMIN},
        {HTTP_GET, "/admin/local/k", 0, DK_ROLE_ADMIN},
        {HTTP_POST, "/admin/cleanup", 0, DK_ROLE_ADMIN},
        {HTTP_GET, "/admin", 0, DK_ROLE_ADMIN},
        {HTTP_GET, "/nope", 0, DK_ROLE_READ},
        {HTTP_DELETE, "/nope", 0, DK_ROLE_ADMIN},
        {HTTP_GET, "/livez/x", 0, DK_ROLE_READ},
        {HTTP_GET, "/kvx", 0, DK_ROLE_READ},
        {HTTP_PUT, "/kvx", 0, DK_ROLE_ADMIN},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        dk_auth_role got = dk_auth_route_role(r[i].method, r[i].path, strlen(r[i].path), r[i].mnt);
        if (got != r[i].want)
            fprintf(stderr, "\n%s %s (metrics_need_token %d): %s, want %s\n", http_method_str(r[i].method),
                    r[i].path, r[i].mnt, dk_auth_role_name(got), dk_auth_role_name(r[i].want));
        CU_ASSERT_EQUAL(got, r[i].want);
    }
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void test_reload(void)
{
    char dir[] = "/tmp/dk-auth-XXXXXX", path[128], l1[128], l2[128], text[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/tokens", dir);
    dk_auth *a = NULL;
    CU_ASSERT_NOT_EQUAL(dk_auth_open(&a, path, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read the tokens file"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    write_text(path, entry(l1, sizeof l1, "one", "read", "tok-1"));
    CU_ASSERT_EQUAL_FATAL(dk_auth_open(&a, path, err, sizeof err), 0);
    CU_ASSERT_EQUAL(check(a, "Bearer tok-1", DK_ROLE_READ, NULL), DK_AUTH_OK);
    /* a bad file: the old table stays */
    write_text(path, "one read nothex\n");
    size_t n = 99;
    CU_ASSERT_NOT_EQUAL(dk_auth_reload(a, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(n, 99);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":1:"));
    CU_ASSERT_EQUAL(check(a, "Bearer tok-1", DK_ROLE_READ, NULL), DK_AUTH_OK);
    /* a good file replaces it: one removed, two added */
    write_text(path, entry(l2, sizeof l2, "two", "admin", "tok-2"));
    CU_ASSERT_EQUAL(dk_auth_reload(a, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(check(a, "Bearer tok-1", DK_ROLE_READ, NULL), DK_AUTH_INVALID);
    CU_ASSERT_EQUAL(check(a, "Bearer tok-2", DK_ROLE_ADMIN, NULL), DK_AUTH_OK);
    dk_auth_free(a);
    /* a parsed table has no file to reload */
    snprintf(text, sizeof text, "%s", l1);
    a = parse(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_NOT_EQUAL(dk_auth_reload(a, NULL, err, sizeof err), 0);
    dk_auth_free(a);
    unlink(path);
    rmdir(dir);
}

static CU_TestInfo auth_tests[] = {
    {"sha256 hex", test_hash},
    {"a good file loads", test_good_file},
    {"malformed lines refused with file:line", test_malformed},
    {"bearer check and role order", test_check},
    {"route roles", test_routes},
    {"reload keeps the old table on error", test_reload},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {"auth", NULL, NULL, NULL, NULL, auth_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
