/*
 * dynkv.c - the dynkv command-line client.
 *
 *   dynkv [-n [https://]HOST:PORT] [--cacert FILE] [-C one|quorum|all] [--strict] [-j|-o json|table] COMMAND ...
 *
 * Each command is one HTTP request (scan: one per page) to any node through
 * the blocking client in http_client.c; answers are JSON parsed with
 * jansson. Keys are percent-encoded byte by byte, so any key that fits on a
 * command line reaches the server unchanged. Values go to stdout raw (get)
 * or escaped one pair per line (scan); errors go to stderr with the
 * server's own message and a distinct exit status per kind of failure
 * (see usage()), so scripts can tell "not found" from "not enough replicas".
 *
 * Not taken: printing the JSON by default (the common case is a shell
 * pipeline that wants the value); -j gives the server's JSON unchanged.
 *
 * The operator verbs (status, ring, getendpoints, info; as nodetool and
 * etcdctl have them) print a table by default and JSON with -o json, with
 * fractions rounded so that no 0.99999999999999922 reaches a script.
 * status asks every member's own /info for its load and version.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "util/base64.h"

enum {
    EX_OK_ = 0,
    EX_ERROR = 1,        /* the server refused or failed the request */
    EX_USAGE_ = 2,       /* bad command line */
    EX_SIBLINGS = 3,     /* get: concurrent values, all printed */
    EX_NOTFOUND = 4,     /* get: no such key */
    EX_PRECOND = 5,      /* put: If-Match / If-None-Match failed (412) */
    EX_UNAVAILABLE = 6,  /* not enough replicas answered (503) or timeout (504) */
    EX_CONNECT = 7,      /* could not talk to the node at all */
    EX_DEGRADED = 8,     /* status: a member not normal or silent; info: not ready */
};

#define CLI_MAX_STDIN ((size_t)64 * 1024 * 1024)
#define CLI_MAX_HEADERS 8

typedef struct cli {
    char host[256], port[16];
    const char *consistency;
    int strict, json, timeout_ms;
    dk_hc_header hdrs[CLI_MAX_HEADERS];
    size_t n_hdrs;
} cli;

static void usage(FILE *to)
{
    fputs("usage: dynkv [options] COMMAND ARGS...\n"
          "\n"
          "commands:\n"
          "  get KEY                     print the value (raw bytes)\n"
          "  put [-c CTX] [-t TTL] [--if-match TOKEN | --if-none-match] KEY VALUE|-\n"
          "                              store VALUE (- reads stdin); prints the new context\n"
          "  delete [-c CTX] KEY         delete (a tombstone; deleting a missing key succeeds)\n"
          "  scan [--limit N] PREFIX     print KEY<TAB>VALUE lines in key order, following\n"
          "                              cursors; at most N pairs; \\t \\n \\\\ and control\n"
          "                              bytes are escaped (\\xNN); siblings: one line each;\n"
          "                              exit 6 when ranges of the cluster could not be read\n"
          "  cluster status              the members table of GET /cluster, a progress bar under\n"
          "                              a member that streams\n"
          "  decommission                the node (-n) streams its ranges to their next owners\n"
          "                              and leaves the ring (POST /admin/decommission)\n"
          "  removenode ID               remove the dead member ID: its ranges get new replicas\n"
          "                              from the remaining ones (POST /admin/remove/ID)\n"
          "  cleanup                     drop the node's copies of keys it no longer\n"
          "                              replicates (POST /admin/cleanup)\n"
          "  streams                     ranges the node streams in and out (GET /admin/streams)\n"
          "  repair [--key-prefix P]     anti-entropy now with every replica of the node's\n"
          "                              ranges (or only keys starting with P); waits,\n"
          "                              prints what moved, exits 1 if an exchange failed\n"
          "  repair status               repaired-before time, rounds, last exchange per\n"
          "                              replica group and peer, recent repairs\n"
          "\n"
          "operator commands (-o table, the default, or -o json):\n"
          "  status                      every member: state, load (bytes on disk), primary\n"
          "                              and effective ownership (replicas counted), vnodes,\n"
          "                              version; exit 8 when a member is not normal or does\n"
          "                              not answer\n"
          "  ring [--ranges]             the ring's nodes (vnodes, ownership); --ranges: every\n"
          "                              token range and its replicas\n"
          "  getendpoints KEY            the replicas of KEY in preference order\n"
          "  info                        this node: version, uptime, data size, memtable, cache\n"
          "                              hit rate, hints backlog, readiness; exit 8 when the\n"
          "                              node is not ready\n"
          "\n"
          "options:\n"
          "  -n, --node HOST:PORT        node to ask (default $DYNKV_NODE or 127.0.0.1:8080);\n"
          "                              https://HOST:PORT speaks HTTPS\n"
          "      --cacert FILE           HTTPS, trusting the PEM CA certificates in FILE\n"
          "                              (default $DYNKV_CACERT; without it, the system's)\n"
          "  -o, --output table|json     how the operator commands print (-o json = -j)\n"
          "  -C, --consistency LEVEL     one | quorum | all (X-Consistency)\n"
          "      --strict                strict quorum: count only the key's own replicas\n"
          "  -T, --timeout SECONDS       per-wait network timeout (default 10)\n"
          "  -j, --json                  print the server's JSON answer instead\n"
          "  -h, --help                  this text\n"
          "\n"
          "get with siblings prints each value after a line\n"
          "  'sibling I/N version {...} timestamp MS', then 'context TOKEN':\n"
          "  a put with -c TOKEN replaces them all.\n"
          "\n"
          "exit status:\n"
          "  0 success            1 the server answered with an error\n"
          "  2 bad usage          3 get: concurrent values (siblings printed)\n"
          "  4 get: key not found 5 put: precondition failed (412)\n"
          "  6 not enough replicas answered (503), the cluster timed out (504),\n"
          "    or scan: some token ranges had no live replica (206; keys printed)\n"
          "  7 could not connect to the node or read its answer\n"
          "  8 status: a member is not normal or did not answer; info: the node is not\n"
          "    ready (the output says which)\n"
          "an unknown command is bad usage (2), and the message names it.\n", to);
}

static int cli_die(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("dynkv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static int cli_parse_node(cli *c, const char *spec)
{
    const char *colon;
    const char *host = spec;
    size_t hlen;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return -1;
        host = spec + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - spec);
    }
    const char *port = colon + 1;
    if (hlen == 0 || hlen >= sizeof(c->host) || !*port || strlen(port) >= sizeof(c->port) ||
        strspn(port, "0123456789") != strlen(port))
        return -1;
    memcpy(c->host, host, hlen);
    c->host[hlen] = '\0';
    strcpy(c->port, port);
    return 0;
}

static void cli_add_header(cli *c, const char *name, const char *value)
{
    if (c->n_hdrs < CLI_MAX_HEADERS) {
        c->hdrs[c->n_hdrs].name = name;
        c->hdrs[c->n_hdrs].value = value;
        c->n_hdrs++;
    }
}

/* Percent-encode every byte that is not unreserved (RFC 3986). Caller frees. */
static char *cli_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
            *q == '-' || *q == '.' || *q == '_' || *q == '~') {
            *p++ = (char)*q;
        } else {
            *p++ = '%';
            *p++ = hex[*q >> 4];
            *p++ = hex[*q & 15];
        }
    }
    *p = '\0';
    return out;
}

/* Decode standard base64 (padding optional) into a malloc'd buffer. */
static int cli_unb64(const char *in, unsigned char **out, size_t *outlen)
{
    size_t n = strlen(in), bad;
    unsigned char *buf = malloc(n / 4 * 3 + 3);
    long got = buf ? dk_base64_decode(in, n, DK_B64_STD, buf, &bad) : -1;
    if (got < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = (size_t)got;
    return 0;
}

/* One request with the global headers plus `extra`; maps transport
 * failures to EX_CONNECT. Returns 0 or an exit code. */
static int cli_call(cli *c, const char *method, const char *target, const dk_hc_header *extra,
                    size_t n_extra, const void *body, size_t len, dk_hc_response *r)
{
    dk_hc_header all[CLI_MAX_HEADERS * 2];
    size_t n = 0;
    for (size_t i = 0; i < c->n_hdrs; i++)
        all[n++] = c->hdrs[i];
    for (size_t i = 0; i < n_extra && n < sizeof(all) / sizeof(all[0]); i++)
        all[n++] = extra[i];
    char err[512];
    if (dk__hc_request(c->host, c->port, method, target, all, n, body, len, c->timeout_ms, r,
                       err, sizeof(err)) != 0)
        return cli_die(EX_CONNECT, "%s %s:%s: %s", method, c->host, c->port, err);
    return 0;
}

/* Report a non-2xx answer from the server's JSON error and pick the exit
 * code for it. */
static int cli_server_error(const char *what, const dk_hc_response *r)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    const char *code = j ? json_string_value(json_object_get(j, "error")) : NULL;
    const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
    char extra[160] = "";
    json_t *acks = j ? json_object_get(j, "acks") : NULL;
    if (json_is_integer(acks))
        snprintf(extra, sizeof(extra), "; %lld acknowledged, %lld needed, %lld replicas",
                 (long long)json_integer_value(acks),
                 (long long)json_integer_value(json_object_get(j, "needed")),
                 (long long)json_integer_value(json_object_get(j, "replicas")));
    int ex = r->status == 412 ? EX_PRECOND
           : (r->status == 503 || r->status == 504) ? EX_UNAVAILABLE : EX_ERROR;
    if (msg)
        cli_die(ex, "%s: %s (HTTP %d %s%s)", what, msg, r->status, code ? code : "", extra);
    else
        cli_die(ex, "%s: HTTP %d: %.200s", what, r->status, r->body_len ? r->body : "(no body)");
    json_decref(j);
    return ex;
}

static json_t *cli_json(const dk_hc_response *r, const char *what)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    if (!j || !json_is_object(j)) {
        cli_die(EX_ERROR, "%s: the answer is not a JSON object (%s)", what, j ? "wrong type" : e.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

static void cli_print_json(const dk_hc_response *r)
{
    fwrite(r->body, 1, r->body_len, stdout);
    if (r->body_len && r->body[r->body_len - 1] != '\n')
        putchar('\n');
}

static int cli_write_value(const char *b64, int newline_on_tty)
{
    unsigned char *v;
    size_t n;
    if (!b64 || cli_unb64(b64, &v, &n) != 0)
        return cli_die(EX_ERROR, "the answer has no valid base64 value");
    fwrite(v, 1, n, stdout);
    if (newline_on_tty && n && v[n - 1] != '\n' && isatty(STDOUT_FILENO))
        putchar('\n');
    free(v);
    return 0;
}

static const char *cli_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static char *cli_kv_target(const char *key)
{
    char *enc = cli_encode(key);
    char *t = enc ? malloc(strlen(enc) + 5) : NULL;
    if (t)
        sprintf(t, "/kv/%s", enc);
    free(enc);
    return t;
}

static int cmd_get(cli *c, const char *key)
{
    dk_hc_header acc = {"Accept", "application/json"};
    dk_hc_response r;
    char *t = cli_kv_target(key);
    int ex = t ? cli_call(c, "GET", t, &acc, 1, NULL, 0, &r) : EX_ERROR;
    free(t);
    if (ex)
        return ex;
    if (r.status == 404) {
        ex = c->json ? (cli_print_json(&r), EX_NOTFOUND) : cli_die(EX_NOTFOUND, "%s: not found", key);
    } else if (r.status != 200 && r.status != 300) {
        ex = cli_server_error(key, &r);
    } else if (c->json) {
        json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
        ex = json_is_true(json_object_get(j, "conflict")) ? EX_SIBLINGS : 0;
        json_decref(j);
        cli_print_json(&r);
    } else {
        json_t *j = cli_json(&r, key);
        if (!j) {
            ex = EX_ERROR;
        } else if (json_is_true(json_object_get(j, "conflict"))) {
            json_t *vals = json_object_get(j, "values");
            size_t i, n = json_array_size(vals);
            json_t *s;
            json_array_foreach(vals, i, s) {
                char *ver = json_dumps(json_object_get(s, "version"), JSON_COMPACT | JSON_SORT_KEYS);
                printf("sibling %zu/%zu version %s timestamp %lld\n", i + 1, n, ver ? ver : "{}",
                       (long long)json_integer_value(json_object_get(s, "timestamp")));
                free(ver);
                if (cli_write_value(json_string_value(json_object_get(s, "value")), 0) != 0)
                    break;
                putchar('\n');
            }
            printf("context %s\n", cli_str(j, "context"));
            fprintf(stderr, "dynkv: %s has %zu concurrent values; put with -c CONTEXT to resolve\n",
                    key, n);
            ex = EX_SIBLINGS;
        } else {
            ex = cli_write_value(json_string_value(json_object_get(j, "value")), 1);
        }
        json_decref(j);
    }
    dk__hc_response_free(&r);
    return ex;
}

static int cli_read_stdin(char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (n == cap) {
            if (cap >= CLI_MAX_STDIN) {
                free(buf);
                errno = EFBIG;
                return -1;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) {
            if (ferror(stdin)) {
                free(buf);
                return -1;
            }
            break;
        }
    }
    *out = buf;
    *len = n;
    return 0;
}

static const struct option put_opts[] = {
    {"context", required_argument, NULL, 'c'},
    {"ttl", required_argument, NULL, 't'},
    {"if-match", required_argument, NULL, 'm'},
    {"if-none-match", no_argument, NULL, 'N'},
    {NULL, 0, NULL, 0},
};

static int cmd_put_delete(cli *c, int is_put, int argc, char **argv)
{
    dk_hc_header extra[4];
    size_t n_extra = 0;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, is_put ? "c:t:" : "c:", put_opts, NULL)) != -1) {
        if (opt == 'c') {
            extra[n_extra++] = (dk_hc_header){"X-Context", optarg};
        } else if (opt == 't' && is_put) {
            extra[n_extra++] = (dk_hc_header){"X-TTL", optarg};
        } else if (opt == 'm' && is_put) {
            extra[n_extra++] = (dk_hc_header){"If-Match", optarg};
        } else if (opt == 'N' && is_put) {
            extra[n_extra++] = (dk_hc_header){"If-None-Match", "*"};
        } else {
            usage(stderr);
            return EX_USAGE_;
        }
        if (n_extra == 4)
            break;
    }
    if (argc - optind != (is_put ? 2 : 1)) {
        usage(stderr);
        return EX_USAGE_;
    }
    const char *key = argv[optind];
    char *body = NULL;
    size_t len = 0;
    if (is_put && strcmp(argv[optind + 1], "-") == 0) {
        if (cli_read_stdin(&body, &len) != 0)
            return cli_die(EX_ERROR, "cannot read the value from stdin: %s", strerror(errno));
    } else if (is_put) {
        len = strlen(argv[optind + 1]);
        body = malloc(len + 1);
        if (body)
            memcpy(body, argv[optind + 1], len + 1);
    }
    char *t = cli_kv_target(key);
    dk_hc_response r;
    int ex = (!t || (is_put && !body)) ? cli_die(EX_ERROR, "out of memory")
           : cli_call(c, is_put ? "PUT" : "DELETE", t, extra, n_extra, body, len, &r);
    free(t);
    free(body);
    if (ex)
        return ex;
    if (r.status != 200 && r.status != 201 && r.status != 204) {
        ex = cli_server_error(key, &r);
    } else if (c->json) {
        cli_print_json(&r);
    } else if (is_put) {
        json_t *j = cli_json(&r, key);
        const char *ctx = j ? json_string_value(json_object_get(j, "context")) : NULL;
        if (ctx)
            printf("%s\n", ctx);
        ex = j ? 0 : EX_ERROR;
        json_decref(j);
    }
    dk__hc_response_free(&r);
    return ex;
}

/* Write bytes for a KEY<TAB>VALUE line: \\, \t, \n and control bytes escaped. */
static void cli_put_escaped(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\')
            fputs("\\\\", stdout);
        else if (p[i] == '\t')
            fputs("\\t", stdout);
        else if (p[i] == '\n')
            fputs("\\n", stdout);
        else if (p[i] < 0x20 || p[i] == 0x7f)
            printf("\\x%02x", p[i]);
        else
            putchar(p[i]);
    }
}

static int cli_scan_line(const char *key, const char *b64)
{
    unsigned char *v;
    size_t n;
    if (!key || !b64 || cli_unb64(b64, &v, &n) != 0)
        return cli_die(EX_ERROR, "scan: a pair without a valid key or base64 value");
    cli_put_escaped((const unsigned char *)key, strlen(key));
    putchar('\t');
    cli_put_escaped(v, n);
    putchar('\n');
    free(v);
    return 0;
}

/* Print one scan page's pairs; counts them against *left. */
static int cli_scan_page(json_t *pairs, long *left)
{
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p) {
        if (*left == 0)
            break;
        const char *key = json_string_value(json_object_get(p, "key"));
        if (json_is_true(json_object_get(p, "too_large"))) {
            /* Listed without its value: too large to travel between nodes. */
            cli_die(0, "scan: %s: the stored value is too large to list; read it with get", key ? key : "?");
        } else if (json_is_true(json_object_get(p, "conflict"))) {
            size_t k;
            json_t *s;
            json_array_foreach(json_object_get(p, "values"), k, s)
                if (cli_scan_line(key, json_string_value(json_object_get(s, "value"))) != 0)
                    return EX_ERROR;
        } else if (cli_scan_line(key, json_string_value(json_object_get(p, "value"))) != 0) {
            return EX_ERROR;
        }
        (*left)--;
    }
    return 0;
}

static int cmd_scan(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'}, {NULL, 0, NULL, 0}};
    long left = -1;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
        char *end;
        if (opt != 'l' || (left = strtol(optarg, &end, 10)) < 1 || *end) {
            usage(stderr);
            return EX_USAGE_;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return EX_USAGE_;
    }
    char *prefix = cli_encode(argv[optind]), *cursor = NULL;
    int ex = prefix ? 0 : EX_ERROR;
    size_t gaps = 0;                    /* unreadable token ranges reported by 206 pages */
    while (!ex && left != 0) {
        long page = left > 0 && left < 1000 ? left : 1000;
        char *t = malloc(strlen(prefix) + (cursor ? strlen(cursor) : 0) + 64);
        if (!t) {
            ex = cli_die(EX_ERROR, "out of memory");
            break;
        }
        sprintf(t, "/kv?prefix=%s&limit=%ld%s%s", prefix, page, cursor ? "&cursor=" : "",
                cursor ? cursor : "");
        dk_hc_response r;
        ex = cli_call(c, "GET", t, NULL, 0, NULL, 0, &r);
        free(t);
        if (ex)
            break;
        /* 206: the page is right for the ranges that could be read. */
        int ok = r.status == 200 || r.status == 206;
        json_t *j = ok ? cli_json(&r, "scan") : NULL;
        if (!ok)
            ex = cli_server_error("scan", &r);
        else if (!j || !json_is_array(json_object_get(j, "pairs")))
            ex = j ? cli_die(EX_ERROR, "scan: the answer has no pairs") : EX_ERROR;
        else if (c->json)
            cli_print_json(&r);
        else
            ex = cli_scan_page(json_object_get(j, "pairs"), &left);
        if (j && r.status == 206) {
            json_t *ranges = json_object_get(j, "unavailable_ranges");
            gaps = json_array_size(ranges) > gaps ? json_array_size(ranges) : gaps;
        }
        free(cursor);
        cursor = NULL;
        const char *next = j ? json_string_value(json_object_get(j, "cursor")) : NULL;
        if (!ex && next && *next && !(cursor = cli_encode(next)))
            ex = cli_die(EX_ERROR, "out of memory");
        json_decref(j);
        dk__hc_response_free(&r);
        if (!cursor)
            break;
    }
    free(cursor);
    free(prefix);
    if (!ex && gaps)
        ex = cli_die(EX_UNAVAILABLE, "scan: incomplete: %zu token range%s had no live replica (HTTP 206); "
                     "the keys printed are not all of them, retry when the cluster is whole", gaps,
                     gaps == 1 ? "" : "s");
    return ex;
}

/* Under a member that streams: "  streaming [#####.....]  12/30 ranges,
 * 1.2 MB, 3400 keys (state)", from GET /cluster's per-member progress. */
static void cli_progress_line(json_t *p)
{
    if (!json_is_object(p))
        return;
    long long done = (long long)json_integer_value(json_object_get(p, "ranges_done"));
    long long total = (long long)json_integer_value(json_object_get(p, "ranges_total"));
    char bar[31];
    int fill = total > 0 ? (int)(done * 30 / total) : 30;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    double mb = (double)json_integer_value(json_object_get(p, "bytes")) / 1e6;
    printf("           streaming [%s] %lld/%lld ranges, %.1f MB, %lld keys (%s)\n", bar, done, total, mb,
           (long long)json_integer_value(json_object_get(p, "keys")), cli_str(p, "state"));
}

static int cmd_cluster_status(cli *c)
{
    dk_hc_response r;
    int ex = cli_call(c, "GET", "/cluster", NULL, 0, NULL, 0, &r);
    if (ex)
        return ex;
    json_t *j = r.status == 200 ? cli_json(&r, "cluster status") : NULL;
    if (r.status != 200) {
        ex = cli_server_error("cluster status", &r);
    } else if (!j || !json_is_array(json_object_get(j, "members"))) {
        ex = j ? cli_die(EX_ERROR, "cluster status: the answer has no members list") : EX_ERROR;
    } else if (c->json) {
        cli_print_json(&r);
    } else {
        printf("node %s, ring version %lld\n", cli_str(j, "node"),
               (long long)json_integer_value(json_object_get(j, "ring_version")));
        printf("%-10s %-8s %-21s %-21s %-21s %-6s %-6s %6s %11s %9s %-9s\n", "ID", "STATE", "HTTP",
               "RPC", "GOSSIP", "DC", "RACK", "WEIGHT", "INCARNATION", "OWNERSHIP", "STATUS");
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(j, "members"), i, m) {
            char own[32] = "-";
            json_t *o = json_object_get(m, "ownership");
            if (json_is_number(o))
                snprintf(own, sizeof(own), "%.1f%%", json_number_value(o) * 100.0);
            printf("%-10s %-8s %-21s %-21s %-21s %-6s %-6s %6lld %11lld %9s %-9s\n", cli_str(m, "id"),
                   cli_str(m, "state"), cli_str(m, "http"), cli_str(m, "rpc"), cli_str(m, "gossip"),
                   cli_str(m, "dc"), cli_str(m, "rack"),
                   (long long)json_integer_value(json_object_get(m, "weight")),
                   (long long)json_integer_value(json_object_get(m, "incarnation")), own, cli_str(m, "status"));
            cli_progress_line(json_object_get(m, "streaming"));
        }
    }
    json_decref(j);
    dk__hc_response_free(&r);
    return ex;
}

/* A wall-clock time in ms as ISO 8601 UTC, or "-" for JSON null. */
static const char *cli_time(json_t *ms, char *buf, size_t len)
{
    if (!json_is_integer(ms))
        return "-";
    long long v = json_integer_value(ms);
    time_t secs = (time_t)(v / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03lldZ", v % 1000);
    return buf;
}

static long long cli_int(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void cli_print_streams(json_t *j)
{
    json_t *in = json_object_get(j, "incoming"), *out = json_object_get(j, "served"), *s, *v;
    const char *move = json_string_value(json_object_get(j, "move")), *id;
    printf("node %s, move %s\n", cli_str(j, "node"), move ? move : "none");
    printf("incoming: %lld of %lld ranges, %lld keys, %lld bytes%s\n", cli_int(in, "ranges_done"),
           cli_int(in, "ranges_total"), cli_int(in, "keys"), cli_int(in, "bytes"),
           json_is_true(json_object_get(in, "done")) ? " (done)" : "");
    size_t i;
    json_array_foreach(json_object_get(in, "streams"), i, s)
        printf("  from %-10s %6lld ranges %8lld keys %12lld bytes %6lld batches  %s\n", cli_str(s, "source"),
               cli_int(s, "ranges"), cli_int(s, "keys"), cli_int(s, "bytes"), cli_int(s, "batches"),
               cli_str(s, "state"));
    printf("served: %lld keys, %lld bytes in %lld batches\n", cli_int(out, "keys"), cli_int(out, "bytes"),
           cli_int(out, "batches"));
    json_object_foreach(json_object_get(j, "receivers"), id, v)
        printf("receiver %-10s %-9s %6lld of %lld ranges, %lld keys, %lld bytes\n", id, cli_str(v, "state"),
               cli_int(v, "ranges_done"), cli_int(v, "ranges_total"), cli_int(v, "keys"), cli_int(v, "bytes"));
}

/* The admin verbs: one request each, the JSON with -j, else one line (or
 * the streams table); any non-200 answer exits non-zero with its message. */
static int cmd_admin(cli *c, const char *verb, const char *id)
{
    char target[128];
    const char *method = strcmp(verb, "streams") ? "POST" : "GET";
    if (id) {
        char *enc = cli_encode(id);
        if (!enc)
            return cli_die(EX_ERROR, "out of memory");
        snprintf(target, sizeof(target), "/admin/remove/%.100s", enc);
        free(enc);
    } else {
        snprintf(target, sizeof(target), "/admin/%s", verb);
    }
    dk_hc_response r;
    int ex = cli_call(c, method, target, NULL, 0, "", 0, &r);
    if (ex)
        return ex;
    json_t *j = r.status == 200 ? cli_json(&r, verb) : NULL;
    if (r.status != 200)
        ex = cli_server_error(verb, &r);
    else if (!j)
        ex = EX_ERROR;
    else if (c->json)
        cli_print_json(&r);
    else if (!strcmp(verb, "streams"))
        cli_print_streams(j);
    else if (!strcmp(verb, "cleanup"))
        printf("%s: %lld keys scanned, %lld dropped, %lld kept\n", cli_str(j, "node"), cli_int(j, "scanned"),
               cli_int(j, "dropped"), cli_int(j, "kept"));
    else
        printf("%s\n", cli_str(j, "message"));
    json_decref(j);
    dk__hc_response_free(&r);
    return ex;
}

/* GET /admin/repair as a JSON object, or NULL after reporting (*ex set). */
static json_t *cli_repair_doc(cli *c, int *ex)
{
    dk_hc_response r;
    if ((*ex = cli_call(c, "GET", "/admin/repair", NULL, 0, NULL, 0, &r)) != 0)
        return NULL;
    json_t *j = r.status == 200 ? cli_json(&r, "repair status") : NULL;
    if (r.status != 200)
        *ex = cli_server_error("repair status", &r);
    else if (!j || !json_is_array(json_object_get(j, "groups")))
        *ex = j ? cli_die(EX_ERROR, "repair status: the answer has no groups") : EX_ERROR;
    dk__hc_response_free(&r);
    if (*ex)
        json_decref(j);
    return *ex ? NULL : j;
}

static void cli_dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    printf("%s\n", s ? s : "{}");
    free(s);
}

static int cmd_repair_status(cli *c)
{
    int ex;
    json_t *j = cli_repair_doc(c, &ex), *trees = json_object_get(j, "trees"), *round = json_object_get(j, "round");
    if (!j || c->json) {
        if (j)
            cli_dump(j);
        json_decref(j);
        return ex;
    }
    char t1[40], t2[40];
    printf("node %s, repaired before %s, interval %lld ms\n", cli_str(j, "node"),
           cli_time(json_object_get(j, "repaired_before_ms"), t1, sizeof(t1)), cli_int(j, "interval_ms"));
    printf("trees %s: %lld group(s), %lld keys at the last build (%lld ms), %lld build(s)\n", cli_str(trees, "state"),
           cli_int(trees, "groups"), cli_int(trees, "keys"), cli_int(trees, "build_ms"), cli_int(trees, "rebuilds"));
    if (json_is_true(json_object_get(round, "running")))
        printf("round running: %lld of %lld exchanges done\n", cli_int(round, "exchanges_done"),
               cli_int(round, "exchanges"));
    else if (json_is_integer(json_object_get(round, "next_scheduled_in_ms")))
        printf("next round in %.1f s\n", (double)cli_int(round, "next_scheduled_in_ms") / 1000.0);
    else
        printf("no scheduled rounds (interval 0): repair on demand only\n");
    printf("%-24s %-10s %-24s %-24s %9s %9s  %s\n", "REPLICAS", "PEER", "LAST START", "LAST END", "RECEIVED",
           "SENT", "LAST ERROR");
    size_t i, k;
    json_t *g, *p;
    json_array_foreach(json_object_get(j, "groups"), i, g)
        json_array_foreach(json_object_get(g, "peers"), k, p)
            printf("%-24s %-10s %-24s %-24s %9lld %9lld  %s\n", cli_str(g, "replicas"), cli_str(p, "peer"),
                   cli_time(json_object_get(p, "last_start_ms"), t1, sizeof(t1)),
                   cli_time(json_object_get(p, "last_end_ms"), t2, sizeof(t2)), cli_int(p, "keys_received"),
                   cli_int(p, "keys_sent"), cli_str(p, "last_error"));
    json_array_foreach(json_object_get(j, "requests"), i, p)
        printf("repair %lld %s, prefix %s, started %s: %lld of %lld exchanges failed, %lld received, %lld sent; "
               "errors: %s\n", cli_int(p, "id"), cli_str(p, "state"), cli_str(p, "prefix"),
               cli_time(json_object_get(p, "started_ms"), t1, sizeof(t1)), cli_int(p, "failed"),
               cli_int(p, "exchanges"), cli_int(p, "keys_received"), cli_int(p, "keys_sent"), cli_str(p, "errors"));
    json_decref(j);
    return 0;
}

/* POST /admin/repair, then poll the status until the request is done. */
static int cmd_repair(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"key-prefix", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    const char *prefix = "";
    int opt, ex;
    if (argc == 2 && strcmp(argv[1], "status") == 0)
        return cmd_repair_status(c);
    optind = 0;
    while ((opt = getopt_long(argc, argv, "p:", opts, NULL)) != -1) {
        if (opt != 'p')
            return usage(stderr), EX_USAGE_;
        prefix = optarg;
    }
    if (argc != optind)
        return usage(stderr), EX_USAGE_;
    char *enc = cli_encode(prefix), *t = enc ? malloc(strlen(enc) + 32) : NULL;
    if (t)
        sprintf(t, "/admin/repair%s%s", *enc ? "?prefix=" : "", enc);
    free(enc);
    if (!t)
        return cli_die(EX_ERROR, "out of memory");
    dk_hc_response r;
    ex = cli_call(c, "POST", t, NULL, 0, "", 0, &r);
    free(t);
    if (ex)
        return ex;
    json_t *j = r.status == 202 ? cli_json(&r, "repair") : NULL;
    long long id = j ? cli_int(j, "id") : 0;
    ex = r.status != 202 ? cli_server_error("repair", &r)
       : id <= 0 ? (j ? cli_die(EX_ERROR, "repair: the answer has no request id") : EX_ERROR) : 0;
    json_decref(j);
    dk__hc_response_free(&r);
    while (!ex) {
        json_t *doc = cli_repair_doc(c, &ex), *q = NULL, *x;
        size_t i;
        json_array_foreach(json_object_get(doc, "requests"), i, x)
            if (cli_int(x, "id") == id)
                q = x;
        const char *st = q ? cli_str(q, "state") : "";
        if (doc && !q)
            ex = cli_die(EX_ERROR, "repair %lld: the node no longer lists it (restarted?)", id);
        if (q && (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0)) {
            if (c->json)
                cli_dump(q);
            else
                printf("repair %lld %s: %lld exchange(s), %lld failed, %lld keys received, %lld sent\n", id, st,
                       cli_int(q, "exchanges"), cli_int(q, "failed"), cli_int(q, "keys_received"),
                       cli_int(q, "keys_sent"));
            if (strcmp(st, "failed") == 0)
                ex = cli_die(EX_ERROR, "repair %lld failed: %s", id, cli_str(q, "errors"));
            json_decref(doc);
            return ex;
        }
        json_decref(doc);
        if (!ex)
            usleep(200 * 1000);
    }
    return ex;
}

/* ---- operator commands: status, ring, getendpoints, info ----------------- */

/* Print a JSON document with fractions kept short (no 0.99999999999999922). */
static void cli_print_doc(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    printf("%s\n", s ? s : "null");
    free(s);
}

/* GET target on c's node as a JSON object, or NULL after reporting (*ex set). */
static json_t *cli_get_doc(cli *c, const char *target, const char *what, int *ex)
{
    dk_hc_response r;
    if ((*ex = cli_call(c, "GET", target, NULL, 0, NULL, 0, &r)) != 0)
        return NULL;
    json_t *j = NULL;
    if (r.status != 200)
        *ex = cli_server_error(what, &r);
    else if (!(j = cli_json(&r, what)))
        *ex = EX_ERROR;
    dk__hc_response_free(&r);
    return j;
}

/* 1536 -> "1.5 KiB"; plain bytes below 1 KiB. */
static const char *cli_bytes(json_t *v, char *buf, size_t len)
{
    if (!json_is_integer(v))
        return "?";
    double b = (double)json_integer_value(v);
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
    return buf;
}

static const char *cli_pct(json_t *v, char *buf, size_t len)
{
    if (!json_is_number(v))
        return "-";
    snprintf(buf, len, "%.1f%%", json_number_value(v) * 100.0);
    return buf;
}

/* The ring document's node entry for id, or NULL. */
static json_t *cli_ring_node(json_t *ring, const char *id)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(ring, "nodes"), i, n)
        if (strcmp(cli_str(n, "id"), id) == 0)
            return n;
    return NULL;
}

/* GET /info from one member's own HTTP address (short timeout), or NULL. */
static json_t *cli_member_info(cli *c, const char *http)
{
    cli m = *c;
    m.n_hdrs = 0;
    m.timeout_ms = c->timeout_ms < 3000 ? c->timeout_ms : 3000;
    if (!http || !*http || cli_parse_node(&m, http) != 0)
        return NULL;
    char err[256];
    dk_hc_response r;
    if (dk__hc_request(m.host, m.port, "GET", "/info", NULL, 0, NULL, 0, m.timeout_ms, &r, err,
                       sizeof(err)) != 0)
        return NULL;
    json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    dk__hc_response_free(&r);
    return j;
}

static int cmd_status(cli *c)
{
    int ex;
    json_t *view = cli_get_doc(c, "/cluster", "status", &ex);
    json_t *ring = view ? cli_get_doc(c, "/cluster/ring", "status", &ex) : NULL;
    if (!view || !ring) {
        json_decref(view);
        return ex;
    }
    json_t *out = json_object(), *rows = json_array();
    int degraded = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(view, "members"), i, m) {
        const char *id = cli_str(m, "id"), *state = cli_str(m, "state");
        json_t *rn = cli_ring_node(ring, id);
        json_t *info = strcmp(state, "removed") ? cli_member_info(c, cli_str(m, "http")) : NULL;
        json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id", id, "state", state,
                                "http", cli_str(m, "http"), "dc", cli_str(m, "dc"), "rack", cli_str(m, "rack"),
                                "reachable", info != NULL);
        json_object_set(row, "load_bytes", info ? json_object_get(info, "data_bytes") : json_null());
        json_object_set(row, "version", info ? json_object_get(info, "version") : json_null());
        json_object_set(row, "ready", info ? json_object_get(info, "ready") : json_null());
        json_object_set(row, "ownership", rn ? json_object_get(rn, "ownership") : json_null());
        json_object_set(row, "effective_ownership", rn ? json_object_get(rn, "effective_ownership") : json_null());
        json_object_set(row, "vnodes", rn ? json_object_get(rn, "vnodes") : json_null());
        json_array_append_new(rows, row);
        if (strcmp(state, "normal") != 0 || !info)
            degraded = 1;
        json_decref(info);
    }
    json_object_set(out, "node", json_object_get(view, "node"));
    json_object_set(out, "cluster", json_object_get(view, "cluster"));
    json_object_set(out, "ring_version", json_object_get(ring, "ring_version"));
    json_object_set(out, "n_replicas", json_object_get(ring, "n_replicas"));
    json_object_set_new(out, "members", rows);
    if (c->json) {
        cli_print_doc(out);
    } else {
        printf("cluster %s, ring version %lld, %lld replicas per key (asked %s)\n", cli_str(view, "cluster"),
               cli_int(ring, "ring_version"), cli_int(ring, "n_replicas"), cli_str(view, "node"));
        printf("%-10s %-8s %-21s %10s %8s %10s %6s %-8s %-6s %-6s\n", "ID", "STATE", "HTTP", "LOAD", "OWNS",
               "EFFECTIVE", "VNODES", "VERSION", "DC", "RACK");
        json_array_foreach(rows, i, m) {
            char load[32], own[16], eff[16];
            const char *ver = json_string_value(json_object_get(m, "version"));
            printf("%-10s %-8s %-21s %10s %8s %10s %6lld %-8s %-6s %-6s\n", cli_str(m, "id"), cli_str(m, "state"),
                   cli_str(m, "http"), cli_bytes(json_object_get(m, "load_bytes"), load, sizeof(load)),
                   cli_pct(json_object_get(m, "ownership"), own, sizeof(own)),
                   cli_pct(json_object_get(m, "effective_ownership"), eff, sizeof(eff)),
                   cli_int(m, "vnodes"), ver ? ver : "?", cli_str(m, "dc"), cli_str(m, "rack"));
        }
    }
    json_decref(out);
    json_decref(ring);
    json_decref(view);
    if (degraded && !c->json)
        fprintf(stderr, "dynkv: status: not every member is normal and answering\n");
    return degraded ? EX_DEGRADED : 0;
}

static int cmd_ring(cli *c, int argc, char **argv)
{
    int ranges = argc == 2 && strcmp(argv[1], "--ranges") == 0;
    if (argc > 2 || (argc == 2 && !ranges)) {
        usage(stderr);
        return EX_USAGE_;
    }
    int ex;
    json_t *ring = cli_get_doc(c, ranges ? "/cluster/ring?ranges" : "/cluster/ring", "ring", &ex);
    if (!ring)
        return ex;
    size_t i;
    json_t *n;
    if (c->json) {
        cli_print_doc(ring);
    } else if (ranges) {
        printf("%-32s %-32s %s\n", "START (EXCLUSIVE)", "END (INCLUSIVE)", "REPLICAS");
        json_array_foreach(json_object_get(ring, "ranges"), i, n) {
            printf("%-32s %-32s", cli_str(n, "start"), cli_str(n, "end"));
            size_t k;
            json_t *id;
            json_array_foreach(json_object_get(n, "replicas"), k, id)
                printf("%s%s", k ? "," : " ", json_string_value(id));
            putchar('\n');
        }
    } else {
        printf("ring version %lld, %lld vnodes, %lld replicas per key\n", cli_int(ring, "ring_version"),
               cli_int(ring, "vnodes"), cli_int(ring, "n_replicas"));
        printf("%-10s %-8s %-6s %-6s %6s %6s %8s %10s\n", "ID", "STATE", "DC", "RACK", "WEIGHT", "VNODES",
               "OWNS", "EFFECTIVE");
        json_array_foreach(json_object_get(ring, "nodes"), i, n) {
            char own[16], eff[16];
            printf("%-10s %-8s %-6s %-6s %6lld %6lld %8s %10s\n", cli_str(n, "id"), cli_str(n, "state"),
                   cli_str(n, "dc"), cli_str(n, "rack"), cli_int(n, "weight"), cli_int(n, "vnodes"),
                   cli_pct(json_object_get(n, "ownership"), own, sizeof(own)),
                   cli_pct(json_object_get(n, "effective_ownership"), eff, sizeof(eff)));
        }
    }
    json_decref(ring);
    return 0;
}

static int cmd_getendpoints(cli *c, const char *key)
{
    char *enc = cli_encode(key), *t = enc ? malloc(strlen(enc) + 32) : NULL;
    if (!t) {
        free(enc);
        return cli_die(EX_ERROR, "out of memory");
    }
    sprintf(t, "/cluster/endpoints/%s", enc);
    free(enc);
    int ex;
    json_t *j = cli_get_doc(c, t, key, &ex);
    free(t);
    if (!j)
        return ex;
    if (c->json) {
        cli_print_doc(j);
    } else {
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(j, "replicas"), i, r)
            printf("%-10s %-21s %-8s %s/%s\n", cli_str(r, "id"), cli_str(r, "http"), cli_str(r, "state"),
                   cli_str(r, "dc"), cli_str(r, "rack"));
    }
    json_decref(j);
    return 0;
}

static int cmd_info(cli *c)
{
    int ex;
    json_t *j = cli_get_doc(c, "/info", "info", &ex);
    if (!j)
        return ex;
    int ready = json_is_true(json_object_get(j, "ready"));
    if (c->json) {
        cli_print_doc(j);
    } else {
        char b1[32], b2[32], b3[32], b4[32], pct[16];
        json_t *p = json_object_get(j, "process");
        long long up = cli_int(j, "uptime_seconds");
        printf("%-16s: %s\n", "Node", cli_str(j, "node"));
        printf("%-16s: %s\n", "Version", cli_str(j, "version"));
        printf("%-16s: %s\n", "Cluster", cli_str(j, "cluster"));
        printf("%-16s: %s / %s / %s\n", "Plugins", cli_str(j, "engine"), cli_str(j, "compaction"),
               cli_str(j, "resolver"));
        printf("%-16s: %lldd %02lldh %02lldm %02llds\n", "Uptime", up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
        printf("%-16s: %s (%s)\n", "Data", cli_bytes(json_object_get(j, "data_bytes"), b1, sizeof(b1)),
               cli_str(j, "data_dir"));
        printf("%-16s: %s\n", "Memtable", cli_bytes(json_object_get(j, "memtable_bytes"), b2, sizeof(b2)));
        printf("%-16s: %s\n", "Cache hit rate", cli_pct(json_object_get(j, "cache_hit_rate"), pct, sizeof(pct)));
        printf("%-16s: %s\n", "Hints backlog", cli_bytes(json_object_get(j, "hints_backlog_bytes"), b3, sizeof(b3)));
        printf("%-16s: %s, %.2f s CPU, %lld of %lld fds\n", "Process",
               cli_bytes(json_object_get(p, "resident_memory_bytes"), b4, sizeof(b4)),
               json_number_value(json_object_get(p, "cpu_seconds")), cli_int(p, "open_fds"), cli_int(p, "max_fds"));
        printf("%-16s: %s\n", "Ready", ready ? "yes" : "no");
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(j, "not_ready"), i, f)
            printf("%-16s  %s: %s\n", "", cli_str(f, "name"), cli_str(f, "message"));
    }
    json_decref(j);
    return ready ? 0 : EX_DEGRADED;
}

/* The operator verbs; *handled = 0 when cmd is none of them. */
static int cli_ops_dispatch(cli *c, int argc, char **argv, int *handled)
{
    const char *cmd = argv[0];
    *handled = 1;
    if (strcmp(cmd, "status") == 0 && argc == 1)
        return cmd_status(c);
    if (strcmp(cmd, "ring") == 0)
        return cmd_ring(c, argc, argv);
    if (strcmp(cmd, "getendpoints") == 0 && argc == 2)
        return cmd_getendpoints(c, argv[1]);
    if (strcmp(cmd, "info") == 0 && argc == 1)
        return cmd_info(c);
    *handled = 0;
    return 0;
}

static const char *const cli_verbs[] = {
    "get", "put", "delete", "scan", "cluster", "decommission", "removenode", "cleanup", "streams",
    "repair", "status", "ring", "getendpoints", "info", NULL,
};

/* Bad usage of cmd: name the verb that was not known, or say how the known
 * one is used. */
static int cli_bad_command(const char *cmd)
{
    for (int i = 0; cli_verbs[i]; i++)
        if (strcmp(cmd, cli_verbs[i]) == 0) {
            usage(stderr);
            return cli_die(EX_USAGE_, "wrong arguments for '%s' (see the usage above)", cmd);
        }
    char known[256] = "";
    size_t used = 0;
    for (int i = 0; cli_verbs[i] && used < sizeof(known); i++)
        used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", cli_verbs[i]);
    return cli_die(EX_USAGE_, "unknown command '%s'; the commands are %s (dynkv --help)", cmd, known);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"node", required_argument, NULL, 'n'},
        {"consistency", required_argument, NULL, 'C'},
        {"strict", no_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"cacert", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    cli c = {.timeout_ms = 10000};
    const char *node = getenv("DYNKV_NODE"), *cacert = getenv("DYNKV_CACERT");
    int opt;
    while ((opt = getopt_long(argc, argv, "+n:C:T:jo:h", opts, NULL)) != -1) {
        char *end;
        double secs;
        switch (opt) {
        case 'n':
            node = optarg;
            break;
        case 'C':
            if (strcmp(optarg, "one") && strcmp(optarg, "quorum") && strcmp(optarg, "all"))
                return cli_die(EX_USAGE_, "-C wants one, quorum or all, not '%s'", optarg);
            c.consistency = optarg;
            break;
        case 's':
            c.strict = 1;
            break;
        case 'T':
            secs = strtod(optarg, &end);
            if (end == optarg || *end || secs <= 0 || secs > 3600)
                return cli_die(EX_USAGE_, "-T wants seconds (0 < T <= 3600), not '%s'", optarg);
            c.timeout_ms = (int)(secs * 1000);
            break;
        case 'j':
            c.json = 1;
            break;
        case 'o':
            if (strcmp(optarg, "json") && strcmp(optarg, "table"))
                return cli_die(EX_USAGE_, "-o wants json or table, not '%s'", optarg);
            c.json = strcmp(optarg, "json") == 0;
            break;
        case 'A':
            cacert = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE_;
        }
    }
    const char *spec = node && *node ? node : "127.0.0.1:8080";
    char tls_err[512];
    if (dk__hc_tls_setup(&spec, cacert, tls_err, sizeof(tls_err)) != 0)
        return cli_die(EX_USAGE_, "%s", tls_err);
    if (cli_parse_node(&c, spec) != 0)
        return cli_die(EX_USAGE_, "-n wants HOST:PORT or https://HOST:PORT, not '%s'", node);
    if (c.consistency)
        cli_add_header(&c, "X-Consistency", c.consistency);
    if (c.strict)
        cli_add_header(&c, "X-Quorum", "strict");
    argc -= optind;
    argv += optind;
    if (argc < 1) {
        usage(stderr);
        return EX_USAGE_;
    }
    const char *cmd = argv[0];
    if (strcmp(cmd, "get") == 0 && argc == 2)
        return cmd_get(&c, argv[1]);
    if (strcmp(cmd, "put") == 0 || strcmp(cmd, "delete") == 0)
        return cmd_put_delete(&c, cmd[0] == 'p', argc, argv);
    if (strcmp(cmd, "scan") == 0)
        return cmd_scan(&c, argc, argv);
    if (strcmp(cmd, "cluster") == 0 && argc == 2 && strcmp(argv[1], "status") == 0)
        return cmd_cluster_status(&c);
    if ((!strcmp(cmd, "decommission") || !strcmp(cmd, "cleanup") || !strcmp(cmd, "streams")) && argc == 1)
        return cmd_admin(&c, cmd, NULL);
    if (!strcmp(cmd, "removenode") && argc == 2)
        return cmd_admin(&c, cmd, argv[1]);
    if (strcmp(cmd, "repair") == 0)
        return cmd_repair(&c, argc, argv);
    int handled, ex = cli_ops_dispatch(&c, argc, argv, &handled);
    if (handled)
        return ex;
    return cli_bad_command(cmd);
}
