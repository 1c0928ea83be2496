/*
 * cli_cluster.c - the cluster and admin verbs of the dynkv CLI: cluster
 * status (the members table of GET /cluster, a progress bar under a member
 * that streams), decommission (waits until the node handed off),
 * removenode, cleanup, streams, and repair
 * (start one and poll until it is done, or show the status).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

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

int cmd_cluster_status(cli *c)
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
        printf("%-10s %-8s %-21s %-21s %-21s %-6s %-6s %6s %11s %9s %-9s\n", "ID", "STATE", "HTTP", "RPC",
               "GOSSIP", "DC", "RACK", "WEIGHT", "INCARNATION", "OWNERSHIP", "STATUS");
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(j, "members"), i, m)
        {
            char own[32] = "-";
            json_t *o = json_object_get(m, "ownership");
            if (json_is_number(o))
                snprintf(own, sizeof(own), "%.1f%%", json_number_value(o) * 100.0);
            printf("%-10s %-8s %-21s %-21s %-21s %-6s %-6s %6lld %11lld %9s %-9s\n", cli_str(m, "id"),
                   cli_str(m, "state"), cli_str(m, "http"), cli_str(m, "rpc"), cli_str(m, "gossip"),
                   cli_str(m, "dc"), cli_str(m, "rack"),
                   (long long)json_integer_value(json_object_get(m, "weight")),
                   (long long)json_integer_value(json_object_get(m, "incarnation")), own,
                   cli_str(m, "status"));
            cli_progress_line(json_object_get(m, "streaming"));
        }
    }
    json_decref(j);
    dk__hc_response_free(&r);
    return ex;
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
    json_object_foreach(json_object_get(j, "receivers"), id, v) printf(
        "receiver %-10s %-9s %6lld of %lld ranges, %lld keys, %lld bytes\n", id, cli_str(v, "state"),
        cli_int(v, "ranges_done"), cli_int(v, "ranges_total"), cli_int(v, "keys"), cli_int(v, "bytes"));
}

/* After POST /admin/decommission answered 200: poll GET /admin/decommission
 * until the node says it handed off (it is left, its hints delivered, its
 * writes in flight settled), at most --wait seconds (c->wait_s, default
 * CLI_DECOMMISSION_WAIT_S); progress on stderr every few seconds. Prints the
 * last status (JSON with -j). */
static int cli_decommission_wait(cli *c)
{
    time_t t0 = time(NULL), said = t0;
    for (;;) {
        dk_hc_response r;
        int ex = cli_call(c, "GET", "/admin/decommission", NULL, 0, NULL, 0, &r);
        if (ex)
            return ex;
        json_t *j = r.status == 200 ? cli_json(&r, "decommission") : NULL;
        if (r.status != 200 || !j) {
            ex = r.status != 200 ? cli_server_error("decommission", &r) : EX_ERROR;
            dk__hc_response_free(&r);
            return ex;
        }
        int done = json_is_true(json_object_get(j, "handed_off"));
        time_t now = time(NULL);
        if (done) {
            if (c->json)
                cli_print_json(&r);
            else
                printf("%s is left and handed off: safe to stop\n", cli_str(j, "node"));
        } else if (now - t0 >= c->wait_s) {
            ex = cli_die(
                EX_ERROR,
                "decommission: %s has not handed off after %d s (status %s, %lld hint(s) to deliver): "
                "it still runs; do not stop it yet (GET /admin/decommission shows when it can be)",
                cli_str(j, "node"), c->wait_s, cli_str(j, "status"), cli_int(j, "hints_pending"));
        } else if (now - said >= 5) {
            fprintf(stderr, "decommission: %s is %s, waiting for it to hand off (%lld hint(s) to deliver)\n",
                    cli_str(j, "node"), cli_str(j, "status"), cli_int(j, "hints_pending"));
            said = now;
        }
        json_decref(j);
        dk__hc_response_free(&r);
        if (done || ex)
            return ex;
        usleep(200 * 1000);
    }
}

/* The admin verbs: one request each, the JSON with -j, else one line (or
 * the streams table); any non-200 answer exits non-zero with its message.
 * decommission then waits until the node handed off (its last status). */
int cmd_admin(cli *c, const char *verb, const char *id)
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
    else if (!strcmp(verb, "decommission")) {
        if (!c->wait_s) { /* --wait 0: the node is leaving; do not wait for it */
            if (c->json)
                cli_print_json(&r);
            else
                printf("%s\n", cli_str(j, "message"));
            json_decref(j);
            dk__hc_response_free(&r);
            return 0;
        }
        if (!c->json)
            printf("%s\n", cli_str(j, "message"));
        json_decref(j);
        dk__hc_response_free(&r);
        return cli_decommission_wait(c);
    } else if (c->json)
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

static int cmd_repair_status(cli *c)
{
    int ex;
    json_t *j = cli_repair_doc(c, &ex), *trees = json_object_get(j, "trees"),
           *round = json_object_get(j, "round");
    if (!j || c->json) {
        if (j)
            cli_dump(j);
        json_decref(j);
        return ex;
    }
    char t1[40], t2[40];
    printf("node %s, repaired before %s, interval %lld ms\n", cli_str(j, "node"),
           cli_time(json_object_get(j, "repaired_before_ms"), t1, sizeof(t1)), cli_int(j, "interval_ms"));
    printf("trees %s: %lld group(s), %lld keys at the last build (%lld ms), %lld build(s)\n",
           cli_str(trees, "state"), cli_int(trees, "groups"), cli_int(trees, "keys"),
           cli_int(trees, "build_ms"), cli_int(trees, "rebuilds"));
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
    json_array_foreach(json_object_get(j, "requests"), i, p) printf(
        "repair %lld %s, prefix %s, started %s: %lld of %lld exchanges failed, %lld received, %lld sent; "
        "errors: %s\n",
        cli_int(p, "id"), cli_str(p, "state"), cli_str(p, "prefix"),
        cli_time(json_object_get(p, "started_ms"), t1, sizeof(t1)), cli_int(p, "failed"),
        cli_int(p, "exchanges"), cli_int(p, "keys_received"), cli_int(p, "keys_sent"), cli_str(p, "errors"));
    json_decref(j);
    return 0;
}

/* POST /admin/repair, then poll the status until the request is done. */
int cmd_repair(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"key-prefix", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    const char *prefix = "";
    int opt, ex;
    if (argc == 2 && strcmp(argv[1], "status") == 0)
        return cmd_repair_status(c);
    optind = 0;
    while ((opt = getopt_long(argc, argv, "p:", opts, NULL)) != -1) {
        if (opt != 'p')
            return cli_usage(stderr), EX_USAGE_;
        prefix = optarg;
    }
    if (argc != optind)
        return cli_usage(stderr), EX_USAGE_;
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
         : id <= 0       ? (j ? cli_die(EX_ERROR, "repair: the answer has no request id") : EX_ERROR)
                         : 0;
    json_decref(j);
    dk__hc_response_free(&r);
    while (!ex) {
        json_t *doc = cli_repair_doc(c, &ex), *q = NULL, *x;
        size_t i;
        json_array_foreach(json_object_get(doc, "requests"), i, x) if (cli_int(x, "id") == id) q = x;
        const char *st = q ? cli_str(q, "state") : "";
        if (doc && !q)
            ex = cli_die(EX_ERROR, "repair %lld: the node no longer lists it (restarted?)", id);
        if (q && (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0)) {
            if (c->json)
                cli_dump(q);
            else
                printf("repair %lld %s: %lld exchange(s), %lld failed, %lld keys received, %lld sent\n", id,
                       st, cli_int(q, "exchanges"), cli_int(q, "failed"), cli_int(q, "keys_received"),
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
