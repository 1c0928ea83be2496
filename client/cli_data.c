/*
 * cli_data.c - the data verbs of the dynkv CLI: get (siblings printed one
 * after the other, then the context), put and delete (with a context, a
 * TTL, If-Match or If-None-Match), and scan (following cursors, one
 * escaped KEY<TAB>VALUE line per value).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static char *cli_kv_target(const char *key)
{
    char *enc = cli_encode(key);
    char *t = enc ? malloc(strlen(enc) + 5) : NULL;
    if (t)
        sprintf(t, "/kv/%s", enc);
    free(enc);
    return t;
}

int cmd_get(cli *c, const char *key)
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

int cmd_put_delete(cli *c, int is_put, int argc, char **argv)
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
            cli_usage(stderr);
            return EX_USAGE_;
        }
        if (n_extra == 4)
            break;
    }
    if (argc - optind != (is_put ? 2 : 1)) {
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
