/*
 * cli_ops.c - the operator views of the dynkv CLI (as nodetool and etcdctl
 * have them): status (every member with its own /info and snapshots), ring, getendpoints,
 * info and loglevel; a table by default, JSON with -o json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The ring document's node entry for id, or NULL. */
static json_t *cli_ring_node(json_t *ring, const char *id)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(ring, "nodes"), i, n) if (strcmp(cli_str(n, "id"), id) == 0) return n;
    return NULL;
}

/* GET /info from one member's own HTTP address (short timeout), or NULL. */
static json_t *cli_member_info(cli *c, const char *http)
{
    dk_hc_response r;
    if (cli_call_member(c, http, "/info", &r) != 0)
        return NULL;
    json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    dk__hc_response_free(&r);
    return j;
}

/* The member's snapshots (GET /admin/snapshots on its own address): sets
 * "snapshots" (how many) and "snapshot_bytes" (their files' total, shared
 * with the live data by hard links until compaction replaces them) in
 * row, both null when http is NULL (a member that did not answer /info),
 * or when it does not answer or refuses (a token without the admin role). */
static void cli_member_snapshots(cli *c, const char *http, json_t *row)
{
    dk_hc_response r;
    json_t *j = NULL;
    if (http && cli_call_member(c, http, "/admin/snapshots", &r) == 0) {
        j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
        dk__hc_response_free(&r);
    }
    json_t *list = json_object_get(j, "snapshots");
    if (!json_is_array(list)) {
        json_object_set_new(row, "snapshots", json_null());
        json_object_set_new(row, "snapshot_bytes", json_null());
        json_decref(j);
        return;
    }
    json_int_t bytes = 0;
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) bytes += json_integer_value(json_object_get(s, "bytes"));
    json_object_set_new(row, "snapshots", json_integer((json_int_t)json_array_size(list)));
    json_object_set_new(row, "snapshot_bytes", json_integer(bytes));
    json_decref(j);
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
    json_array_foreach(json_object_get(view, "members"), i, m)
    {
        const char *id = cli_str(m, "id"), *state = cli_str(m, "state");
        json_t *rn = cli_ring_node(ring, id);
        json_t *info = strcmp(state, "removed") ? cli_member_info(c, cli_str(m, "http")) : NULL;
        json_t *row =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id", id, "state", state, "http", cli_str(m, "http"),
                      "dc", cli_str(m, "dc"), "rack", cli_str(m, "rack"), "reachable", info != NULL);
        json_object_set(row, "load_bytes", info ? json_object_get(info, "data_bytes") : json_null());
        json_object_set(row, "version", info ? json_object_get(info, "version") : json_null());
        json_object_set(row, "ready", info ? json_object_get(info, "ready") : json_null());
        json_object_set(row, "ownership", rn ? json_object_get(rn, "ownership") : json_null());
        json_object_set(row, "effective_ownership",
                        rn ? json_object_get(rn, "effective_ownership") : json_null());
        json_object_set(row, "vnodes", rn ? json_object_get(rn, "vnodes") : json_null());
        cli_member_snapshots(c, info ? cli_str(m, "http") : NULL, row);
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
        printf("%-10s %-8s %-21s %10s %8s %10s %6s %-14s %-8s %-6s %-6s\n", "ID", "STATE", "HTTP", "LOAD",
               "OWNS", "EFFECTIVE", "VNODES", "SNAPSHOTS", "VERSION", "DC", "RACK");
        json_array_foreach(rows, i, m)
        {
            char load[32], own[16], eff[16], sbytes[32], snaps[48] = "?";
            const char *ver = json_string_value(json_object_get(m, "version"));
            if (json_is_integer(json_object_get(m, "snapshots")))
                snprintf(snaps, sizeof(snaps), "%lld (%s)", cli_int(m, "snapshots"),
                         cli_bytes(json_object_get(m, "snapshot_bytes"), sbytes, sizeof(sbytes)));
            printf("%-10s %-8s %-21s %10s %8s %10s %6lld %-14s %-8s %-6s %-6s\n", cli_str(m, "id"),
                   cli_str(m, "state"), cli_str(m, "http"),
                   cli_bytes(json_object_get(m, "load_bytes"), load, sizeof(load)),
                   cli_pct(json_object_get(m, "ownership"), own, sizeof(own)),
                   cli_pct(json_object_get(m, "effective_ownership"), eff, sizeof(eff)), cli_int(m, "vnodes"),
                   snaps, ver ? ver : "?", cli_str(m, "dc"), cli_str(m, "rack"));
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
        cli_usage(stderr);
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
        json_array_foreach(json_object_get(ring, "ranges"), i, n)
        {
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
        json_array_foreach(json_object_get(ring, "nodes"), i, n)
        {
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
        printf("%-16s: %lldd %02lldh %02lldm %02llds\n", "Uptime", up / 86400, up / 3600 % 24, up / 60 % 60,
               up % 60);
        printf("%-16s: %s (%s)\n", "Data", cli_bytes(json_object_get(j, "data_bytes"), b1, sizeof(b1)),
               cli_str(j, "data_dir"));
        printf("%-16s: %s\n", "Memtable", cli_bytes(json_object_get(j, "memtable_bytes"), b2, sizeof(b2)));
        printf("%-16s: %s\n", "Cache hit rate",
               cli_pct(json_object_get(j, "cache_hit_rate"), pct, sizeof(pct)));
        printf("%-16s: %s\n", "Hints backlog",
               cli_bytes(json_object_get(j, "hints_backlog_bytes"), b3, sizeof(b3)));
        printf("%-16s: %s, %.2f s CPU, %lld of %lld fds\n", "Process",
               cli_bytes(json_object_get(p, "resident_memory_bytes"), b4, sizeof(b4)),
               json_number_value(json_object_get(p, "cpu_seconds")), cli_int(p, "open_fds"),
               cli_int(p, "max_fds"));
        printf("%-16s: %s\n", "Ready", ready ? "yes" : "no");
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(j, "not_ready"), i, f)
            printf("%-16s  %s: %s\n", "", cli_str(f, "name"), cli_str(f, "message"));
    }
    json_decref(j);
    return ready ? 0 : EX_DEGRADED;
}

/* loglevel [LEVEL [SUBSYSTEM]]: show, or set the node's level or one
 * subsystem's (LEVEL "default" gives a subsystem back to the node's). */
static int cmd_loglevel(cli *c, int argc, char **argv)
{
    int ex;
    json_t *j;
    if (argc == 1) {
        j = cli_get_doc(c, "/admin/loglevel", "loglevel", &ex);
    } else {
        char target[160];
        char *lv = cli_encode(argv[1]), *sub = argc == 3 ? cli_encode(argv[2]) : NULL;
        if (!lv || (argc == 3 && !sub)) {
            free(lv);
            free(sub);
            return cli_die(EX_ERROR, "out of memory");
        }
        snprintf(target, sizeof(target), "/admin/loglevel?level=%.40s%s%.60s", lv, sub ? "&subsystem=" : "",
                 sub ? sub : "");
        free(lv);
        free(sub);
        dk_hc_response r;
        if ((ex = cli_call(c, "POST", target, NULL, 0, "", 0, &r)) != 0)
            return ex;
        j = r.status == 200 ? cli_json(&r, "loglevel") : NULL;
        ex = r.status != 200 ? cli_server_error("loglevel", &r) : j ? 0 : EX_ERROR;
        dk__hc_response_free(&r);
    }
    if (!j)
        return ex;
    if (c->json) {
        cli_print_doc(j);
    } else {
        printf("%-16s %s (%s)\n", "node", cli_str(j, "level"), cli_str(j, "format"));
        const char *name;
        json_t *v;
        json_object_foreach(json_object_get(j, "subsystems"), name, v)
            printf("%-16s %s\n", name, json_string_value(v) ? json_string_value(v) : "");
    }
    json_decref(j);
    return 0;
}

/* The operator verbs; *handled = 0 when cmd is none of them. */
int cli_ops_dispatch(cli *c, int argc, char **argv, int *handled)
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
    if (strcmp(cmd, "loglevel") == 0 && argc <= 3)
        return cmd_loglevel(c, argc, argv);
    *handled = 0;
    return 0;
}
