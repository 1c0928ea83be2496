/*
 * cli.h - what the files of the dynkv command-line client share: the
 * command-line state (which node, consistency, the bearer token, output
 * form), the exit statuses, talking to the node (cli_call.c), printing
 * (cli_output.c), and the verbs: data (cli_data.c: get, put, delete,
 * scan, crdt; through libdynkv-client, routed by the ring), cluster and admin (cli_cluster.c: cluster status, decommission,
 * removenode, cleanup, streams, repair), operator views (cli_ops.c:
 * status, ring, getendpoints, info), snapshots (cli_snapshot.c:
 * snapshot, listsnapshots, clearsnapshot), maintenance (cli_maint.c:
 * compact, flush, drain). dynkv.c parses the options and picks
 * the verb.
 *
 * Everything here runs on the one thread of the CLI and blocks.
 */
#ifndef DK_CLIENT_CLI_H
#define DK_CLIENT_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include "http_client.h"

enum {
    EX_OK_ = 0,
    EX_ERROR = 1,       /* the server refused or failed the request */
    EX_USAGE_ = 2,      /* bad command line */
    EX_SIBLINGS = 3,    /* get: concurrent values, all printed */
    EX_NOTFOUND = 4,    /* get: no such key */
    EX_PRECOND = 5,     /* put: If-Match / If-None-Match failed (412) */
    EX_UNAVAILABLE = 6, /* not enough replicas answered (503) or timeout (504) */
    EX_CONNECT = 7,     /* could not talk to the node at all */
    EX_DEGRADED = 8,    /* status: a member not normal or silent; info: not ready */
    EX_AUTH = 9,        /* no valid token (401) or a role too low (403) */
};

#define CLI_MAX_STDIN ((size_t)64 * 1024 * 1024)
#define CLI_MAX_HEADERS 8
/* How long decommission waits for the hand-off unless --wait says otherwise. */
#define CLI_DECOMMISSION_WAIT_S 600

typedef struct cli {
    char host[256], port[16];
    const char *consistency;
    int strict, json, timeout_ms;
    dk_hc_header hdrs[CLI_MAX_HEADERS]; /* sent with every request to host */
    size_t n_hdrs;
    const char *authorization; /* "Bearer TOKEN" or NULL; sent to every node */
    /* For the data verbs' SDK handle (cli_data.c): -n as given (with its
     * scheme), --cacert, the bare token. */
    const char *seed, *cacert, *token;
    int no_routing; /* --no-routing: everything to the seed */
    int wait_s;     /* --wait: how long decommission waits for the hand-off (0: not at all) */
} cli;

/* dynkv.c: the usage text. */
void cli_usage(FILE *to);

/* ---- cli_output.c ---- */
/* "dynkv: " + the message on stderr; returns code. */
int cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decode standard base64 into a malloc'd buffer; 0 or -1. */
int cli_unb64(const char *in, unsigned char **out, size_t *outlen);
/* The response body as received, with a final newline. */
void cli_print_json(const dk_hc_response *r);
/* Write a base64 value raw to stdout (a newline after it on a tty when
 * newline_on_tty); 0 or an exit code. */
int cli_write_value(const char *b64, int newline_on_tty);
/* o[k] as a string ("-" when not one) / as an integer (0). Borrowed. */
const char *cli_str(json_t *o, const char *k);
long long cli_int(json_t *o, const char *k);
/* A wall-clock time in ms as ISO 8601 UTC in buf, or "-" for JSON null. */
const char *cli_time(json_t *ms, char *buf, size_t len);
/* j compact on one line / indented with short fractions. */
void cli_dump(json_t *j);
void cli_print_doc(json_t *j);
/* Bytes as "1.5 KiB", a fraction as "12.5%", in buf (or "?" / "-"). */
const char *cli_bytes(json_t *v, char *buf, size_t len);
const char *cli_pct(json_t *v, char *buf, size_t len);
/* Bytes for a KEY<TAB>VALUE line: \\, \t, \n and control bytes escaped. */
void cli_put_escaped(const unsigned char *p, size_t n);

/* ---- cli_call.c ---- */
/* HOST:PORT or [V6]:PORT into c->host, c->port; 0 or -1. */
int cli_parse_node(cli *c, const char *spec);
/* A header for every request (name and value are borrowed for the run). */
void cli_add_header(cli *c, const char *name, const char *value);
/* Percent-encode every byte that is not unreserved. Caller frees. */
char *cli_encode(const char *s);
/* One request to c's node with c's headers (and the token) plus extra;
 * 0 and *r, or an exit code after reporting. */
int cli_call(cli *c, const char *method, const char *target, const dk_hc_header *extra, size_t n_extra,
             const void *body, size_t len, dk_hc_response *r);
/* One GET to another member at http ("HOST:PORT") with the token only and
 * a short timeout; 0 and *r, or -1. */
int cli_call_member(const cli *c, const char *http, const char *target, dk_hc_response *r);
/* Report a non-2xx answer and return its exit code. */
int cli_server_error(const char *what, const dk_hc_response *r);
/* The body as a JSON object, or NULL after reporting. */
json_t *cli_json(const dk_hc_response *r, const char *what);
/* GET target as a JSON object, or NULL after reporting (*ex set). */
json_t *cli_get_doc(cli *c, const char *target, const char *what, int *ex);

/* ---- the verbs; each returns the exit status ---- */
int cmd_get(cli *c, const char *key);
int cmd_put_delete(cli *c, int is_put, int argc, char **argv);
int cmd_scan(cli *c, int argc, char **argv);
int cmd_crdt(cli *c, int argc, char **argv);
int cmd_cluster_status(cli *c);
int cmd_admin(cli *c, const char *verb, const char *id);
int cmd_repair(cli *c, int argc, char **argv);
/* The operator verbs; *handled = 0 when argv[0] is none of them. */
int cli_ops_dispatch(cli *c, int argc, char **argv, int *handled);
int cli_snapshot_dispatch(cli *c, int argc, char **argv, int *handled);
/* cli_maint.c: compact, flush, drain; *handled = 0 when argv is none. */
int cli_maint_dispatch(cli *c, int argc, char **argv, int *handled);
#endif
