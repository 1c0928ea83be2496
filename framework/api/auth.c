/*
 * auth.c - see auth.h: the tokens file, the constant-time token check, the
 * role each route needs, and the two hooks that answer 401 or 403: the
 * head check (dk_api_head_check), which refuses a request with a body as
 * soon as its headers are in, before the body is read, and the router's,
 * for the rest.
 *
 * Route -> role (any method not listed needs the role on its right):
 *
 *   /livez /readyz /health, /ui /ui/ /ui/index.html   open
 *   OPTIONS /metrics (a CORS preflight carries no credentials)   open
 *   GET /metrics                      open; read when metrics_need_token
 *   GET|HEAD /kv /kv/{key} /crdt/{key}            read;  other methods write
 *   GET|HEAD /cluster /cluster/ring /cluster/endpoints/{key} /info
 *                                                 read;  other methods admin
 *   /admin and /admin/... (repair, streams, local/{key}, decommission,
 *   remove/{id}, cleanup), every method           admin
 *   any other path                    GET|HEAD read; other methods admin
 *
 * The last row makes the table fail closed: a route added later is never
 * open unless it is named here.
 *
 * A token's digest, not the token, is what is compared and what lives in
 * memory; the token itself is read from the request and never copied or
 * logged. Failures are counted per reason for /metrics.
 *
 * Cost of a check (measured on the shared 2-core machine at load 15, so
 * high): one SHA-256 of the token with the digest fetched once, ~0.7 us,
 * plus one CRYPTO_memcmp per client, ~80 ns each (1000 clients: ~87 us).
 * Not taken: an index on the digest, which would end the scan early and
 * so break the "compare with every entry" rule; with tens of clients the
 * scan costs less than the hash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <http_parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <uv.h>

#include "api/api_int.h"
#include "api/auth.h"
#include "base/metrics.h"

#define AUTH_FILE_MAX (1024 * 1024) /* bytes of a tokens file */
#define AUTH_LINE_MAX 1024

typedef struct auth_entry {
    char name[DK_AUTH_NAME_MAX + 1];
    dk_auth_role role;
    uint8_t digest[32];
} auth_entry;

typedef struct auth_table {
    auth_entry *e;
    size_t n;
} auth_table;

struct dk_auth {
    uv_rwlock_t lock;
    auth_table *cur; /* guarded by lock */
    char *path;      /* NULL: parsed from text */
    EVP_MD *md;      /* SHA-256 fetched once (OpenSSL 3), or NULL */
};

static uint64_t auth_failures[4]; /* by dk_auth_result; relaxed atomics */

dk_auth_role dk_auth_role_parse(const char *s, size_t len)
{
    if (len == 4 && memcmp(s, "read", 4) == 0)
        return DK_ROLE_READ;
    if (len == 5 && memcmp(s, "write", 5) == 0)
        return DK_ROLE_WRITE;
    if (len == 5 && memcmp(s, "admin", 5) == 0)
        return DK_ROLE_ADMIN;
    return DK_ROLE_OPEN;
}

const char *dk_auth_role_name(dk_auth_role r)
{
    static const char *const names[] = {"open", "read", "write", "admin"};
    return (unsigned)r < 4 ? names[r] : "?";
}

int dk_auth_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > DK_AUTH_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '@'))
            return 0;
    }
    return 1;
}

/* md: a fetched SHA-256, or NULL for EVP_sha256(), which OpenSSL 3 looks
 * up in its provider on every call (half the cost of hashing a token). */
static int auth_sha256(const EVP_MD *md, const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    return EVP_Digest(p, n, out, &len, md ? md : EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -1;
}

int dk_auth_hash_hex(const void *p, size_t n, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t d[32];
    if (auth_sha256(NULL, p, n, d) != 0)
        return -1;
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

/* 64 lowercase hex digits -> 32 bytes; -1 when s is anything else. */
static int auth_unhex(const char *s, size_t len, uint8_t out[32])
{
    if (len != 64)
        return -1;
    for (size_t i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return 0;
}

static void table_free(auth_table *t)
{
    if (!t)
        return;
    if (t->e)
        OPENSSL_cleanse(t->e, t->n * sizeof(*t->e));
    free(t->e);
    free(t);
}

/* Split line[0..len) at blanks into at most 4 fields; returns the count
 * (4 means "more than 3"). */
static int auth_fields(const char *line, size_t len, const char *f[4], size_t fl[4])
{
    int n = 0;
    size_t i = 0;
    while (i < len && n < 4) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len)
            break;
        f[n] = line + i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        fl[n] = (size_t)(line + i - f[n]);
        n++;
    }
    return n;
}

/* Check one non-comment line and append its entry to t. */
static int auth_line(auth_table *t, size_t *cap, const char *line, size_t len, const char *fname,
                     size_t lineno, size_t *lines, char *err, size_t errlen)
{
    const char *f[4];
    size_t fl[4];
    int n = auth_fields(line, len, f, fl);
    if (n != 3) {
        snprintf(err, errlen, "%s:%zu: expected NAME ROLE SHA256-HEX (3 fields), found %s", fname, lineno,
                 n > 3    ? "more"
                 : n == 2 ? "2"
                          : "1");
        return DK_ECONFIG;
    }
    auth_entry e = {.role = dk_auth_role_parse(f[1], fl[1])};
    if (!dk_auth_name_ok(f[0], fl[0])) {
        snprintf(err, errlen, "%s:%zu: the client name must be 1 to %d of A-Z a-z 0-9 . _ - @", fname, lineno,
                 DK_AUTH_NAME_MAX);
        return DK_ECONFIG;
    }
    memcpy(e.name, f[0], fl[0]);
    if (e.role == DK_ROLE_OPEN) {
        snprintf(err, errlen, "%s:%zu: role '%.*s' is not read, write or admin", fname, lineno,
                 (int)(fl[1] > 32 ? 32 : fl[1]), f[1]);
        return DK_ECONFIG;
    }
    if (auth_unhex(f[2], fl[2], e.digest) != 0) {
        snprintf(err, errlen,
                 "%s:%zu: the third field must be 64 lowercase hex digits, the SHA-256 of "
                 "the token (dynkvd token NAME ROLE prints a line)",
                 fname, lineno);
        return DK_ECONFIG;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->e[i].name, e.name) == 0) {
            snprintf(err, errlen, "%s:%zu: client '%s' is already named on line %zu", fname, lineno, e.name,
                     lines[i]);
            return DK_ECONFIG;
        }
        if (memcmp(t->e[i].digest, e.digest, 32) == 0) {
            snprintf(err, errlen, "%s:%zu: the same token hash as client '%s' on line %zu", fname, lineno,
                     t->e[i].name, lines[i]);
            return DK_ECONFIG;
        }
    }
    if (t->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        auth_entry *ne = malloc(nc * sizeof(*ne));
        if (!ne)
            return -ENOMEM;
        if (t->n) {
            memcpy(ne, t->e, t->n * sizeof(*ne));
            OPENSSL_cleanse(t->e, t->n * sizeof(*ne));
        }
        free(t->e);
        t->e = ne;
        *cap = nc;
    }
    t->e[t->n++] = e;
    return 0;
}

static int auth_parse_table(const char *text, size_t len, const char *fname, auth_table **out, char *err,
                            size_t errlen)
{
    auth_table *t = calloc(1, sizeof(*t));
    size_t cap = 0, lineno = 0, *lines = NULL, lines_cap = 0;
    int rc = t ? 0 : -ENOMEM;
    for (size_t pos = 0; !rc && pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, ll = end - pos;
        const char *line = text + pos;
        lineno++;
        pos = end + 1;
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (ll > AUTH_LINE_MAX || memchr(line, '\0', ll)) {
            snprintf(err, errlen, "%s:%zu: %s", fname, lineno,
                     ll > AUTH_LINE_MAX ? "line longer than 1024 bytes" : "a NUL byte in the line");
            rc = DK_ECONFIG;
            break;
        }
        size_t i = 0;
        while (i < ll && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == ll || line[i] == '#')
            continue;
        if (t->n == lines_cap) {
            size_t *nl2 = realloc(lines, (lines_cap = lines_cap ? lines_cap * 2 : 8) * sizeof(*lines));
            if (!nl2) {
                rc = -ENOMEM;
                break;
            }
            lines = nl2;
        }
        lines[t->n] = lineno;
        rc = auth_line(t, &cap, line, ll, fname, lineno, lines, err, errlen);
    }
    free(lines);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "%s: out of memory", fname);
    if (rc) {
        table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Read path whole (at most AUTH_FILE_MAX bytes) and parse it. */
static int auth_load(const char *path, auth_table **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot read the tokens file: %s", path, strerror(e));
        return -e;
    }
    char *buf = malloc(AUTH_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, AUTH_FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    int rc;
    if (bad) {
        snprintf(err, errlen, "%s: cannot read the tokens file%s", path, buf ? "" : ": out of memory");
        rc = buf ? -EIO : -ENOMEM;
    } else if (n > AUTH_FILE_MAX) {
        snprintf(err, errlen, "%s: the tokens file is larger than 1 MiB", path);
        rc = DK_ECONFIG;
    } else {
        rc = auth_parse_table(buf, n, path, out, err, errlen);
    }
    free(buf);
    return rc;
}

static int auth_new(dk_auth **out, auth_table *t, const char *path)
{
    dk_auth *a = calloc(1, sizeof(*a));
    if (!a || uv_rwlock_init(&a->lock) != 0) {
        free(a);
        table_free(t);
        return -ENOMEM;
    }
    a->cur = t;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    a->md = EVP_MD_fetch(NULL, "SHA256", NULL);
#endif
    if (path && !(a->path = strdup(path))) {
        dk_auth_free(a);
        return -ENOMEM;
    }
    *out = a;
    return 0;
}

int dk__auth_parse(const char *text, size_t len, const char *fname, dk_auth **out, char *err, size_t errlen)
{
    auth_table *t;
    int rc = auth_parse_table(text, len, fname, &t, err, errlen);
    return rc ? rc : auth_new(out, t, NULL);
}

int dk_auth_open(dk_auth **out, const char *path, char *err, size_t errlen)
{
    auth_table *t;
    int rc = auth_load(path, &t, err, errlen);
    if (!rc && (rc = auth_new(out, t, path)) != 0)
        snprintf(err, errlen, "%s: out of memory", path);
    return rc;
}

int dk_auth_reload(dk_auth *a, size_t *n_clients, char *err, size_t errlen)
{
    auth_table *t, *old;
    if (!a->path) {
        snprintf(err, errlen, "no tokens file to reload");
        return -EINVAL;
    }
    int rc = auth_load(a->path, &t, err, errlen);
    if (rc)
        return rc;
    uv_rwlock_wrlock(&a->lock);
    old = a->cur;
    a->cur = t;
    uv_rwlock_wrunlock(&a->lock);
    table_free(old);
    if (n_clients)
        *n_clients = t->n;
    return 0;
}

size_t dk_auth_count(dk_auth *a)
{
    uv_rwlock_rdlock(&a->lock);
    size_t n = a->cur->n;
    uv_rwlock_rdunlock(&a->lock);
    return n;
}

void dk_auth_free(dk_auth *a)
{
    if (!a)
        return;
    table_free(a->cur);
    uv_rwlock_destroy(&a->lock);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_MD_free(a->md);
#endif
    free(a->path);
    free(a);
}

static dk_auth_result auth_fail(dk_auth_result r)
{
    __atomic_add_fetch(&auth_failures[r], 1, __ATOMIC_RELAXED);
    return r;
}

dk_auth_result dk_auth_check(dk_auth *a, const char *hdr, size_t hdr_len, dk_auth_role need, char *name,
                             size_t name_len)
{
    /* "Bearer" is case-insensitive (RFC 7235); one or more blanks, then
     * the token to the end (trailing blanks are not part of it). */
    if (!hdr || hdr_len < 7 || strncasecmp(hdr, "bearer", 6) != 0 || (hdr[6] != ' ' && hdr[6] != '\t'))
        return auth_fail(DK_AUTH_MISSING);
    size_t i = 7;
    while (i < hdr_len && (hdr[i] == ' ' || hdr[i] == '\t'))
        i++;
    size_t end = hdr_len;
    while (end > i && (hdr[end - 1] == ' ' || hdr[end - 1] == '\t'))
        end--;
    if (end == i)
        return auth_fail(DK_AUTH_MISSING);
    if (end - i > DK_AUTH_TOKEN_MAX)
        return auth_fail(DK_AUTH_INVALID);
    uint8_t d[32];
    if (auth_sha256(a->md, hdr + i, end - i, d) != 0)
        return auth_fail(DK_AUTH_INVALID);
    /* Compare with every entry, never stopping at a match. */
    size_t found = SIZE_MAX;
    uv_rwlock_rdlock(&a->lock);
    const auth_table *t = a->cur;
    for (size_t k = 0; k < t->n; k++) {
        int diff = CRYPTO_memcmp(d, t->e[k].digest, sizeof(d));
        found = diff == 0 ? k : found;
    }
    dk_auth_role role = found == SIZE_MAX ? DK_ROLE_OPEN : t->e[found].role;
    if (found != SIZE_MAX && name && name_len)
        snprintf(name, name_len, "%s", t->e[found].name);
    uv_rwlock_rdunlock(&a->lock);
    OPENSSL_cleanse(d, sizeof(d));
    if (found == SIZE_MAX)
        return auth_fail(DK_AUTH_INVALID);
    return role >= need ? DK_AUTH_OK : auth_fail(DK_AUTH_FORBIDDEN);
}

static int auth_path_is(const char *p, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(p, want, len) == 0;
}

static int auth_path_under(const char *p, size_t len, const char *dir)
{
    size_t n = strlen(dir); /* dir ends with '/' */
    return (len >= n && memcmp(p, dir, n) == 0) || (len == n - 1 && memcmp(p, dir, len) == 0);
}

dk_auth_role dk_auth_route_role(int method, const char *path, size_t len, int metrics_need_token)
{
    int reads = method == HTTP_GET || method == HTTP_HEAD;
    if (auth_path_is(path, len, "/livez") || auth_path_is(path, len, "/readyz") ||
        auth_path_is(path, len, "/health") || auth_path_is(path, len, "/ui") ||
        auth_path_is(path, len, "/ui/") || auth_path_is(path, len, "/ui/index.html"))
        return DK_ROLE_OPEN;
    if (auth_path_is(path, len, "/metrics")) {
        if (method == HTTP_OPTIONS || (reads && !metrics_need_token))
            return DK_ROLE_OPEN;
        return reads ? DK_ROLE_READ : DK_ROLE_ADMIN;
    }
    if (auth_path_under(path, len, "/kv/") || auth_path_under(path, len, "/crdt/"))
        return reads ? DK_ROLE_READ : DK_ROLE_WRITE;
    if (auth_path_under(path, len, "/admin/"))
        return DK_ROLE_ADMIN;
    return reads ? DK_ROLE_READ : DK_ROLE_ADMIN;
}

int dk_auth_metrics_render(dk_buf *out)
{
    static const char *const reasons[] = {NULL, "missing", "invalid", "forbidden"};
    int rc =
        dk_metrics_family(out, "dynkv_http_auth_failures_total", "counter",
                          "HTTP requests refused by client authentication: missing (no bearer token, 401), "
                          "invalid (an unknown token, 401), forbidden (a role too low, 403).");
    for (int r = DK_AUTH_MISSING; r <= DK_AUTH_FORBIDDEN && !rc; r++)
        rc = dk_buf_printf(out, "dynkv_http_auth_failures_total{reason=\"%s\"} %llu\n", reasons[r],
                           (unsigned long long)__atomic_load_n(&auth_failures[r], __ATOMIC_RELAXED));
    return rc;
}

/* The answer a request gets from client authentication: out->status 0
 * when it may go on, else 401 or 403 with code, message and headers. One
 * decision for both places that ask (the head check and the router), so
 * an early answer and a late one read the same. */
static void auth_decide(dk_api *api, const dk_http_request *r, dk_http_early *out)
{
    memset(out, 0, sizeof(*out));
    dk_auth_role need =
        dk_auth_route_role(r->method, r->path, r->path_len, api->cfg->security.metrics_need_token);
    if (need == DK_ROLE_OPEN)
        return;
    size_t len;
    const char *v = dk_http_header_get(r, "authorization", &len);
    char name[DK_AUTH_NAME_MAX + 1];
    dk_auth_result res = dk_auth_check(api->auth, v, len, need, name, sizeof(name));
    if (res == DK_AUTH_OK)
        return;
    if (res == DK_AUTH_FORBIDDEN) {
        out->status = 403;
        out->code = "forbidden";
        snprintf(out->message, sizeof(out->message),
                 "client '%s' may not do this: %s on this route needs the %s role", name, r->method_name,
                 dk_auth_role_name(need));
        return;
    }
    int missing = res == DK_AUTH_MISSING;
    out->status = 401;
    out->code = missing ? "unauthorized" : "invalid_token";
    snprintf(out->message, sizeof(out->message), "%s",
             missing ? "this node needs a client token: send Authorization: Bearer TOKEN"
                     : "the bearer token is not one this node knows");
    snprintf(out->headers, sizeof(out->headers), "%s",
             missing ? "WWW-Authenticate: Bearer realm=\"dynkv\"\r\n"
                     : "WWW-Authenticate: Bearer realm=\"dynkv\", error=\"invalid_token\"\r\n");
}

void dk_api_head_check(void *arg, const dk_http_request *head, dk_http_early *out)
{
    dk_api *api = arg;
    if (api->auth)
        auth_decide(api, head, out);
}

int dk__api_authorize(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    dk_http_early e;
    auth_decide(api, r, &e);
    if (!e.status)
        return 0;
    dk_api_req *q = dk__api_req_new(api, x, sizeof(*q), DK_OP_OTHER);
    if (!q)
        return -1;
    if (e.headers[0])
        dk_buf_append_str(&q->headers, e.headers);
    dk__api_fail(q, e.status, e.code, e.message);
    return -1;
}
