/*
 * dynkv.c - the dynkv command-line client.
 *
 *   dynkv [-n [https://]HOST:PORT] [--cacert FILE] [--token T] [-C one|quorum|all] [--strict] [-j|-o json|table] COMMAND ...
 *
 * With --token TOKEN or $DYNKV_TOKEN, every request carries
 * "Authorization: Bearer TOKEN" (the node's [security] tokens_file); a 401
 * or 403 exits 9. The environment variable keeps the token out of the
 * process list; --token wins when both are given.
 *
 * The verbs live by concern in cli_data.c, cli_cluster.c and cli_ops.c,
 * the transport and printing helpers in cli_call.c and cli_output.c
 * (cli.h); this file holds the usage, the options and the dispatch.
 *
 * The data verbs (get, put, delete, scan, crdt) go through libdynkv-client,
 * the C SDK (routed to the key's replicas, with failover; cli_data.c); the
 * operator verbs are one HTTP request each to the -n node through the
 * blocking client the SDK is built on (http_client.c); answers are JSON
 * parsed with jansson. Keys are percent-encoded byte by byte, so any key that fits on a
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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http_client.h"

void cli_usage(FILE *to)
{
    fputs("usage: dynkv [options] COMMAND ARGS...\n"
          "\n"
          "commands:\n"
          "  get KEY                     print the value (raw bytes)\n"
          "  put [-c CTX] [-t TTL] [--if-match TOKEN | --if-none-match] KEY VALUE|-\n"
          "                              store VALUE (- reads stdin); prints the new context\n"
          "  delete [-c CTX] KEY         delete (a tombstone; deleting a missing key succeeds)\n"
          "  crdt get KEY                print a CRDT's value (JSON)\n"
          "  crdt apply KEY OP|-         apply one operation, e.g. '{\"type\":\"counter\",\"increment\":1}'\n"
          "                              (POST /crdt/KEY); prints the value after it\n"
          "  scan [--limit N] PREFIX     print KEY<TAB>VALUE lines in key order, following\n"
          "                              cursors; at most N pairs; \\t \\n \\\\ and control\n"
          "                              bytes are escaped (\\xNN); siblings: one line each;\n"
          "                              exit 6 when ranges of the cluster could not be read\n"
          "  cluster status              the members table of GET /cluster, a progress bar under\n"
          "                              a member that streams\n"
          "  decommission                the node (-n) streams its ranges to their next owners\n"
          "                              and leaves the ring (POST /admin/decommission), then\n"
          "                              waits until it handed off: safe to stop (--wait)\n"
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
          "  loglevel [LEVEL [SUBSYSTEM]] show the node's log levels, or set the node's\n"
          "                              (error|warn|info|debug) or one subsystem's (rpc,\n"
          "                              membership, ...; LEVEL default: the node's again)\n"
          "  snapshot [NAME]             a point-in-time copy of this node's data under\n"
          "                              data_dir/snapshots/NAME (default name: UTC time)\n"
          "  listsnapshots               this node's snapshots: name, time, size, path\n"
          "  clearsnapshot NAME          delete one\n"
          "  compact                     compact the node's whole key range now (waits; exit\n"
          "                              1 when the engine cannot compact on demand)\n"
          "  flush                       make the node's writes durable, memtables to tables\n"
          "  drain                       the node drains as for SIGTERM (stops accepting,\n"
          "                              finishes requests in flight, flushes) and exits 0\n"
          "\n"
          "options:\n"
          "  -n, --node HOST:PORT        node to ask (default $DYNKV_NODE or 127.0.0.1:8080);\n"
          "                              https://HOST:PORT speaks HTTPS\n"
          "      --cacert FILE           HTTPS, trusting the PEM CA certificates in FILE\n"
          "                              (default $DYNKV_CACERT; without it, the system's)\n"
          "      --token TOKEN           send Authorization: Bearer TOKEN (default $DYNKV_TOKEN;\n"
          "                              the variable keeps it out of the process list)\n"
          "  -o, --output table|json     how the operator commands print (-o json = -j)\n"
          "  -C, --consistency LEVEL     one | quorum | all (X-Consistency)\n"
          "      --strict                strict quorum: count only the key's own replicas\n"
          "      --no-routing            data commands: send every request to the -n node\n"
          "                              (which coordinates or forwards it) instead of\n"
          "                              straight to the key's replicas\n"
          "  -T, --timeout SECONDS       per-wait network timeout (default 10)\n"
          "      --wait SECONDS          decommission: wait at most this long for the hand-off\n"
          "                              (default 600; 0: return once the node is leaving)\n"
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
          "  9 the node wants a valid token (401) or the token's role is too low (403)\n"
          "an unknown command is bad usage (2), and the message names it.\n",
          to);
}

static const char *const cli_verbs[] = {
    "get",           "put",          "delete",  "scan",     "crdt",     "cluster",
    "decommission",  "removenode",   "cleanup", "streams",  "repair",   "status",
    "ring",          "getendpoints", "info",    "loglevel", "snapshot", "listsnapshots",
    "clearsnapshot", "compact",      "flush",   "drain",    NULL,
};

/* Bad usage of cmd: name the verb that was not known, or say how the known
 * one is used. */
static int cli_bad_command(const char *cmd)
{
    for (int i = 0; cli_verbs[i]; i++)
        if (strcmp(cmd, cli_verbs[i]) == 0) {
            cli_usage(stderr);
            return cli_die(EX_USAGE_, "wrong arguments for '%s' (see the usage above)", cmd);
        }
    char known[512] = "";
    size_t used = 0;
    for (int i = 0; cli_verbs[i] && used < sizeof(known); i++)
        used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", cli_verbs[i]);
    return cli_die(EX_USAGE_, "unknown command '%s'; the commands are %s (dynkv --help)", cmd, known);
}

/* Run the verb argv[0]; its exit status. */
static int cli_dispatch(cli *c, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "get") == 0 && argc == 2)
        return cmd_get(c, argv[1]);
    if (strcmp(cmd, "put") == 0 || strcmp(cmd, "delete") == 0)
        return cmd_put_delete(c, cmd[0] == 'p', argc, argv);
    if (strcmp(cmd, "scan") == 0)
        return cmd_scan(c, argc, argv);
    if (strcmp(cmd, "crdt") == 0)
        return cmd_crdt(c, argc, argv);
    if (strcmp(cmd, "cluster") == 0 && argc == 2 && strcmp(argv[1], "status") == 0)
        return cmd_cluster_status(c);
    if ((!strcmp(cmd, "decommission") || !strcmp(cmd, "cleanup") || !strcmp(cmd, "streams")) && argc == 1)
        return cmd_admin(c, cmd, NULL);
    if (!strcmp(cmd, "removenode") && argc == 2)
        return cmd_admin(c, cmd, argv[1]);
    if (strcmp(cmd, "repair") == 0)
        return cmd_repair(c, argc, argv);
    int handled, ex = cli_ops_dispatch(c, argc, argv, &handled);
    if (handled)
        return ex;
    ex = cli_snapshot_dispatch(c, argc, argv, &handled);
    if (handled)
        return ex;
    ex = cli_maint_dispatch(c, argc, argv, &handled);
    if (handled)
        return ex;
    return cli_bad_command(cmd);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"node", required_argument, NULL, 'n'},   {"consistency", required_argument, NULL, 'C'},
        {"strict", no_argument, NULL, 's'},       {"timeout", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},         {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {"token", required_argument, NULL, 'K'},
        {"cacert", required_argument, NULL, 'A'}, {"no-routing", no_argument, NULL, 'R'},
        {"wait", required_argument, NULL, 'W'},   {NULL, 0, NULL, 0},
    };
    cli c = {.timeout_ms = 10000, .wait_s = CLI_DECOMMISSION_WAIT_S};
    const char *node = getenv("DYNKV_NODE");
    const char *token = getenv("DYNKV_TOKEN"), *cacert = getenv("DYNKV_CACERT");
    int opt;
    while ((opt = getopt_long(argc, argv, "+n:C:T:jo:h", opts, NULL)) != -1) {
        char *end;
        double secs;
        switch (opt) {
        case 'n': node = optarg; break;
        case 'C':
            if (strcmp(optarg, "one") && strcmp(optarg, "quorum") && strcmp(optarg, "all"))
                return cli_die(EX_USAGE_, "-C wants one, quorum or all, not '%s'", optarg);
            c.consistency = optarg;
            break;
        case 's': c.strict = 1; break;
        case 'T':
            secs = strtod(optarg, &end);
            if (end == optarg || *end || secs <= 0 || secs > 3600)
                return cli_die(EX_USAGE_, "-T wants seconds (0 < T <= 3600), not '%s'", optarg);
            c.timeout_ms = (int)(secs * 1000);
            break;
        case 'j': c.json = 1; break;
        case 'o':
            if (strcmp(optarg, "json") && strcmp(optarg, "table"))
                return cli_die(EX_USAGE_, "-o wants json or table, not '%s'", optarg);
            c.json = strcmp(optarg, "json") == 0;
            break;
        case 'h': cli_usage(stdout); return 0;
        case 'K': token = optarg; break;
        case 'A': cacert = optarg; break;
        case 'R': c.no_routing = 1; break;
        case 'W':
            secs = strtod(optarg, &end);
            if (end == optarg || *end || secs < 0 || secs > 86400)
                return cli_die(EX_USAGE_, "--wait wants seconds (0 <= W <= 86400), not '%s'", optarg);
            c.wait_s = (int)secs;
            break;
        default: cli_usage(stderr); return EX_USAGE_;
        }
    }
    const char *spec = node && *node ? node : "127.0.0.1:8080";
    c.seed = spec;
    c.cacert = cacert && *cacert ? cacert : NULL;
    c.token = token && *token ? token : NULL;
    char tls_err[512];
    if (dk__hc_tls_setup(&spec, cacert, tls_err, sizeof(tls_err)) != 0)
        return cli_die(EX_USAGE_, "%s", tls_err);
    if (cli_parse_node(&c, spec) != 0)
        return cli_die(EX_USAGE_, "-n wants HOST:PORT or https://HOST:PORT, not '%s'", node);
    char *bearer = NULL;
    if (token && *token) {
        if (strpbrk(token, " \t\r\n"))
            return cli_die(EX_USAGE_, "the token has a blank or a line break in it");
        if (!(bearer = malloc(strlen(token) + 8)))
            return cli_die(EX_ERROR, "out of memory");
        sprintf(bearer, "Bearer %s", token);
        c.authorization = bearer;
    }
    if (c.consistency)
        cli_add_header(&c, "X-Consistency", c.consistency);
    if (c.strict)
        cli_add_header(&c, "X-Quorum", "strict");
    argc -= optind;
    argv += optind;
    if (argc < 1) {
        cli_usage(stderr);
        return EX_USAGE_;
    }
    int ex = cli_dispatch(&c, argc, argv);
    free(bearer);
    return ex;
}
