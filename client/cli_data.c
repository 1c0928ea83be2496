/*
 * cli_data.c - the data verbs of the dynkv CLI, on libdynkv-client (the
 * SDK, dynkv/client.h): get (siblings printed one after the other, then
 * the context), put and delete (with a context, a TTL, If-Match or
 * If-None-Match), scan (following cursors, one escaped KEY<TAB>VALUE line
 * per value) and crdt (get, apply).
 *
 * The node of -n is the seed: the SDK fetches the ring from it and sends
 * each key's request straight to one of the key's replicas, failing over
 * to the next one (reads, writes with a context, and any request whose
 * connection was never made), exactly as a program using the SDK does;
 * scans go to the -n node (and everything does with --no-routing, for
 * nodes whose advertised addresses the client cannot reach). -j prints the answering node's JSON as it
 * came (dkc_last_body); a put adds "siblings" to it when the node said
 * how many concurrent values the key has after the write, and says so on
 * stderr when that is more than one (a blind put next to a stored value
 * makes a sibling; put -c CONTEXT replaces what the context names).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dynkv/client.h"

/* The SDK's last answer seen as a dk_hc_response (borrowed: not freed). */
static dk_hc_response cli_last(const dkc *h)
{
    dk_hc_response r;
    memset(&r, 0, sizeof(r));
    r.status = dkc_last_status(h);
    r.body = (char *)dkc_last_body(h, &r.body_len);
    return r;
}

/* Report an SDK failure rc of the call about `what`; its exit status. */
static int cli_sdk_error(const dkc *h, const char *what, int rc)
{
    if (h && dkc_last_status(h) > 0) {
        dk_hc_response r = cli_last(h);
        return cli_server_error(what, &r);
    }
    const char *msg = dkc_errmsg(h);
    switch (rc) {
    case DKC_ECONNECT: return cli_die(EX_CONNECT, "%s: %s", what, msg);
    case DKC_EAUTH:
        return cli_die(EX_AUTH, "%s: %s; %s", what, msg,
                       strstr(msg, "401") ? "give a token with --token or "
                                            "$DYNKV_TOKEN"
                                          : "this token's role does not allow it");
    case DKC_EUNAVAILABLE: return cli_die(EX_UNAVAILABLE, "%s: %s", what, msg);
    case DKC_ENOMEM: return cli_die(EX_ERROR, "out of memory");
    default: return cli_die(EX_ERROR, "%s: %s", what, msg);
    }
}

/* A handle on the cluster through the -n node, or NULL after reporting
 * (*ex set). Only a node that cannot be reached, refuses the token or
 * cannot be named stops here; a node without a ring (a lone node) leaves
 * routing off and every request goes to it. */
static dkc *cli_open(cli *c, int *ex)
{
    dkc_options o;
    dkc_options_init(&o);
    o.token = c->token;
    o.ca_file = c->cacert;
    o.consistency = c->consistency;
    o.strict = c->strict;
    o.timeout_ms = c->timeout_ms;
    o.connect_timeout_ms = c->timeout_ms;
    o.refresh_ms = 0; /* one command: the ring of the start */
    o.pool_size = 1;
    o.no_routing = c->no_routing;
    dkc *h = NULL;
    int rc = dkc_open(c->seed, &o, &h);
    if (!h) {
        *ex = cli_die(EX_ERROR, "out of memory");
        return NULL;
    }
    if (rc == DKC_EINVAL || rc == DKC_ECONNECT || rc == DKC_EAUTH || rc == DKC_ENOMEM) {
        *ex = rc == DKC_EINVAL     ? cli_die(EX_USAGE_, "%s", dkc_errmsg(h))
              : rc == DKC_ECONNECT ? cli_die(EX_CONNECT, "%s", dkc_errmsg(h))
                                   : cli_sdk_error(h, c->seed, rc);
        dkc_close(h);
        return NULL;
    }
    *ex = 0;
    return h;
}

/* A version map as JSON with sorted keys (caller frees). */
static char *cli_sorted(const char *json)
{
    json_t *j = json_loads(json ? json : "{}", 0, NULL);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return s;
}

int cmd_get(cli *c, const char *key)
{
    int ex;
    dkc *h = cli_open(c, &ex);
    if (!h)
        return ex;
    dkc_object *o = NULL;
    int rc = dkc_get(h, key, &o);
    if (c->json && (rc == 0 || rc == DKC_ENOTFOUND) && dkc_last_status(h)) {
        dk_hc_response r = cli_last(h);
        cli_print_json(&r);
        ex = rc ? EX_NOTFOUND : o->n_values > 1 ? EX_SIBLINGS : 0;
    } else if (rc == DKC_ENOTFOUND) {
        ex = cli_die(EX_NOTFOUND, "%s: not found", key);
    } else if (rc) {
        ex = cli_sdk_error(h, key, rc);
    } else if (o->n_values > 1) {
        for (size_t i = 0; i < o->n_values; i++) {
            char *ver = cli_sorted(o->values[i].version);
            printf("sibling %zu/%zu version %s timestamp %lld\n", i + 1, o->n_values, ver ? ver : "{}",
                   (long long)o->values[i].timestamp);
            free(ver);
            fwrite(o->values[i].data, 1, o->values[i].len, stdout);
            putchar('\n');
        }
        printf("context %s\n", o->context && *o->context ? o->context : "-");
        fprintf(stderr, "dynkv: %s has %zu concurrent values; put with -c CONTEXT to resolve\n", key,
                o->n_values);
        ex = EX_SIBLINGS;
    } else {
        const dkc_value *v = &o->values[0];
        fwrite(v->data, 1, v->len, stdout);
        if (v->len && v->data[v->len - 1] != '\n' && isatty(STDOUT_FILENO))
            putchar('\n');
        ex = 0;
    }
    dkc_object_free(o);
    dkc_close(h);
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

int cmd_put_delete(cli *c, int is_put, int argc, char **argv)
{
    dkc_write w;
    memset(&w, 0, sizeof(w));
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, is_put ? "c:t:" : "c:", put_opts, NULL)) != -1) {
        char *end;
        unsigned long ttl;
        if (opt == 'c') {
            w.context = optarg;
        } else if (opt == 't' && is_put) {
            errno = 0;
            ttl = strtoul(optarg, &end, 10);
            if (end == optarg || *end || *optarg == '-' || errno || ttl == 0 || ttl > 3153600000UL)
                return cli_die(EX_USAGE_, "-t wants whole seconds from 1 to 3153600000, not '%s'", optarg);
            w.ttl_s = (uint32_t)ttl;
        } else if (opt == 'm' && is_put) {
            w.if_match = optarg;
        } else if (opt == 'N' && is_put) {
            w.if_none_match = 1;
        } else {
            cli_usage(stderr);
            return EX_USAGE_;
        }
    }
    if (argc - optind != (is_put ? 2 : 1) || (w.if_match && w.if_none_match)) {
        cli_usage(stderr);
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
        if (!(body = malloc(len + 1)))
            return cli_die(EX_ERROR, "out of memory");
        memcpy(body, argv[optind + 1], len + 1);
    }
    int ex;
    dkc *h = cli_open(c, &ex);
    if (!h) {
        free(body);
        return ex;
    }
    char *ctx = NULL;
    int rc = is_put ? dkc_put(h, key, body, len, &w, &ctx) : dkc_delete(h, key, w.context);
    free(body);
    unsigned sib = is_put && rc == 0 ? dkc_siblings(h) : 0;
    if (rc) {
        ex = cli_sdk_error(h, key, rc);
    } else if (c->json) {
        json_t *j = json_loadb(dkc_last_body(h, NULL), strlen(dkc_last_body(h, NULL)), 0, NULL);
        if (j && sib)
            json_object_set_new(j, "siblings", json_integer(sib));
        char *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (out)
            printf("%s\n", out);
        else
            ex = cli_die(EX_ERROR, "%s: the answer is not JSON", key);
        free(out);
        json_decref(j);
    } else if (is_put) {
        if (ctx && *ctx)
            printf("%s\n", ctx);
    }
    if (sib > 1)
        fprintf(stderr,
                "dynkv: %s now has %u concurrent values: this put made a sibling next to the value "
                "stored (to replace a value, put with -c CONTEXT from get or an earlier put)\n",
                key, sib);
    free(ctx);
    dkc_close(h);
    return ex;
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
    json_array_foreach(pairs, i, p)
    {
        if (*left == 0)
            break;
        const char *key = json_string_value(json_object_get(p, "key"));
        if (json_is_true(json_object_get(p, "too_large"))) {
            /* Listed without its value: too large to travel between nodes. */
            cli_die(0, "scan: %s: the stored value is too large to list; read it with get", key ? key : "?");
        } else if (json_is_true(json_object_get(p, "conflict"))) {
            size_t k;
            json_t *s;
            json_array_foreach(json_object_get(p, "values"), k,
                               s) if (cli_scan_line(key, json_string_value(json_object_get(s, "value"))) !=
                                      0) return EX_ERROR;
        } else if (cli_scan_line(key, json_string_value(json_object_get(p, "value"))) != 0) {
            return EX_ERROR;
        }
        (*left)--;
    }
    return 0;
}

int cmd_scan(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'}, {NULL, 0, NULL, 0}};
    long left = -1;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
        char *end;
        if (opt != 'l' || (left = strtol(optarg, &end, 10)) < 1 || *end) {
            cli_usage(stderr);
            return EX_USAGE_;
        }
    }
    if (argc - optind != 1) {
        cli_usage(stderr);
        return EX_USAGE_;
    }
    int ex;
    dkc *h = cli_open(c, &ex);
    if (!h)
        return ex;
    char *cursor = NULL;
    size_t gaps = 0; /* unreadable token ranges reported by 206 pages */
    while (!ex && left != 0) {
        unsigned page = left > 0 && left < 1000 ? (unsigned)left : 1000;
        char *text = NULL;
        int rc = dkc_scan_page(h, argv[optind], cursor, page, &text);
        if (rc) {
            ex = cli_sdk_error(h, "scan", rc);
            break;
        }
        /* 206: the page is right for the ranges that could be read. */
        json_t *j = json_loads(text, 0, NULL);
        free(text);
        if (!j || !json_is_array(json_object_get(j, "pairs"))) {
            ex = cli_die(EX_ERROR, "scan: the answer has no pairs");
        } else if (c->json) {
            dk_hc_response r = cli_last(h);
            cli_print_json(&r);
        } else {
            ex = cli_scan_page(json_object_get(j, "pairs"), &left);
        }
        if (j && dkc_last_status(h) == 206) {
            json_t *ranges = json_object_get(j, "unavailable_ranges");
            gaps = json_array_size(ranges) > gaps ? json_array_size(ranges) : gaps;
        }
        free(cursor);
        cursor = NULL;
        const char *next = j ? json_string_value(json_object_get(j, "cursor")) : NULL;
        if (!ex && next && *next && !(cursor = strdup(next)))
            ex = cli_die(EX_ERROR, "out of memory");
        json_decref(j);
        if (!cursor)
            break;
    }
    free(cursor);
    dkc_close(h);
    if (!ex && gaps)
        ex = cli_die(EX_UNAVAILABLE,
                     "scan: incomplete: %zu token range%s had no live replica (HTTP 206); "
                     "the keys printed are not all of them, retry when the cluster is whole",
                     gaps, gaps == 1 ? "" : "s");
    return ex;
}

/* crdt get KEY | crdt apply KEY OPERATION|- : the value as JSON (-j: the
 * node's whole answer). */
int cmd_crdt(cli *c, int argc, char **argv)
{
    int get = argc == 3 && strcmp(argv[1], "get") == 0;
    if (!get && !(argc == 4 && strcmp(argv[1], "apply") == 0)) {
        cli_usage(stderr);
        return cli_die(EX_USAGE_, "crdt wants 'get KEY' or 'apply KEY OPERATION' (JSON, or - for stdin)");
    }
    const char *key = argv[2];
    char *op = NULL;
    size_t len;
    if (!get && strcmp(argv[3], "-") == 0 && cli_read_stdin(&op, &len) != 0)
        return cli_die(EX_ERROR, "cannot read the operation from stdin: %s", strerror(errno));
    if (op) {
        char *z = realloc(op, len + 1);
        if (!z) {
            free(op);
            return cli_die(EX_ERROR, "out of memory");
        }
        op = z;
        op[len] = '\0';
    }
    int ex;
    dkc *h = cli_open(c, &ex);
    if (!h) {
        free(op);
        return ex;
    }
    char *value = NULL;
    int rc = get ? dkc_crdt_get(h, key, &value) : dkc_crdt_apply(h, key, op ? op : argv[3], &value);
    if (rc == DKC_ENOTFOUND && !c->json) {
        ex = cli_die(EX_NOTFOUND, "%s: not found", key);
    } else if (rc && !(c->json && rc == DKC_ENOTFOUND)) {
        ex = cli_sdk_error(h, key, rc);
    } else if (c->json) {
        dk_hc_response r = cli_last(h);
        cli_print_json(&r);
        ex = rc ? EX_NOTFOUND : 0;
    } else {
        printf("%s\n", value);
    }
    free(value);
    free(op);
    dkc_close(h);
    return ex;
}
