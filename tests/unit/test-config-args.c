/*
 * test-config-args.c - the configuration from dynkvd's command line
 * (dk_config_from_args): --config and --set in any order with the last
 * --set winning, the errors of a bad command line, the listener rules it
 * checks once everything is read (protected mode: loopback listeners
 * unless a cluster key or insecure = true; a wildcard listener needs
 * advertise_address), the daemon-style message, and --help and
 * --version. The file half (types, refusals, plugin sections) is
 * test-config.c; both use tc_config.h.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

#include "tc_config.h"

static void test_args_overrides(void)
{
    dk_config c;
    int exit_now = 7;
    char path[600];
    snprintf(path, sizeof path, "%s",
             tc_write("args.ini", "[node]\nid = n7\nweight = 5\n"
                                  "[cluster]\nseeds = a:1, b:2\n"));
    /* --set given before --config still applies after the file; later
     * --set of the same key wins. */
    int rc = tc_args(&c, &exit_now, "--set", "node.weight=9", "--config", path, "--set=node.weight=10", "-s",
                     "cluster.seeds=c:3", "--set", "node.dc=eu-west.1", NULL);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(exit_now, 0);
    CU_ASSERT_STRING_EQUAL(c.node.id, "n7");
    CU_ASSERT_EQUAL(c.node.weight, 10);
    CU_ASSERT_STRING_EQUAL(c.node.dc, "eu-west.1");
    CU_ASSERT_EQUAL_FATAL(c.cluster.n_seeds, 1);
    CU_ASSERT_STRING_EQUAL(c.cluster.seeds[0], "c:3");
    CU_ASSERT_STRING_EQUAL(c.path, path);
    dk_config_free(&c);

    /* No file at all: defaults plus overrides. */
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "storage.engine=memory", NULL), 0);
    CU_ASSERT_STRING_EQUAL(c.storage.engine, "memory");
    CU_ASSERT_STRING_EQUAL(c.node.id, "n1");
    dk_config_free(&c);
}

static void test_protected_mode(void)
{
    static const struct {
        const char *rpc, *gossip;
        int ok;
    } cases[] = {
        {"127.0.0.1:7070", "127.0.0.1:7946", 1},    {"127.9.8.7:1", "[::1]:2", 1},
        {"[::ffff:127.0.0.2]:1", "localhost:2", 1}, {"0.0.0.0:7070", "127.0.0.1:7946", 0},
        {"127.0.0.1:7070", "[::]:7946", 0},         {"10.1.2.3:7070", "127.0.0.1:7946", 0},
        {"127.0.0.1:7070", "128.0.0.1:7946", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int mode = 0; mode < 3; mode++) { /* no key; insecure; a key file */
            dk_config c;
            int exit_now = 0;
            char rpc[80], gossip[80];
            snprintf(rpc, sizeof rpc, "node.rpc_listen=%s", cases[i].rpc);
            snprintf(gossip, sizeof gossip, "node.gossip_listen=%s", cases[i].gossip);
            int rc = tc_args(&c, &exit_now, "--set", rpc, "--set", gossip, "--set",
                             "node.advertise_address=10.9.8.7", "--set",
                             mode == 1 ? "security.insecure=true" : "security.insecure=false", "--set",
                             mode == 2 ? "security.cluster_key_file=/k" : "security.cluster_key_file=", NULL);
            int want_ok = cases[i].ok || mode > 0;
            CU_ASSERT_EQUAL(rc == 0, want_ok);
            if (!want_ok && rc == 0)
                fprintf(stderr, "case %zu mode %d accepted\n", i, mode);
            dk_config_free(&c);
        }
    }
    /* The message says what to do. */
    dk_config c;
    dk_config_defaults(&c);
    snprintf(c.node.gossip_listen, sizeof c.node.gossip_listen, "0.0.0.0:7946");
    CU_ASSERT_EQUAL(dk_config_check(&c, tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT(strstr(tc_err, "[node] gossip_listen = 0.0.0.0:7946 is not a loopback address") != NULL);
    CU_ASSERT(strstr(tc_err, "dynkvd keygen") && strstr(tc_err, "insecure = true"));
    dk_config_free(&c);
}

/* A wildcard listener needs [node] advertise_address; the key takes a host
 * or an IP, not host:port. */
static void test_advertise(void)
{
    dk_config c;
    int exit_now = 0;
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "security.insecure=true", "--set",
                            "node.http_listen=0.0.0.0:8080", NULL),
                    DK_ECONFIG);
    CU_ASSERT(strstr(tc_err, "[node] http_listen = 0.0.0.0:8080 listens on every interface") != NULL);
    CU_ASSERT(strstr(tc_err, "advertise_address") != NULL);
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "security.insecure=true", "--set",
                            "node.gossip_listen=[::]:7946", "--set", "node.advertise_address=node1.example",
                            NULL),
                    0);
    CU_ASSERT_STRING_EQUAL(c.node.advertise_address, "node1.example");
    dk_config_free(&c);
    static const char *const ok[] = {"10.0.0.5", "[fd00::1]", "fd00::1", "dynkv-0.dynkv.default.svc"};
    static const char *const bad[] = {"10.0.0.5:80", "a b", "[nope]", "x/y"};
    for (size_t i = 0; i < 4; i++) {
        char set[96];
        snprintf(set, sizeof set, "node.advertise_address=%s", ok[i]);
        CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", set, NULL), 0);
        dk_config_free(&c);
        snprintf(set, sizeof set, "node.advertise_address=%s", bad[i]);
        CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", set, NULL), DK_ECONFIG);
        CU_ASSERT(strstr(tc_err, "host name or an IP address") != NULL);
        dk_config_free(&c);
    }
}

static void test_args_errors(void)
{
    dk_config c;
    int exit_now;
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "node.weight=x", NULL), DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "--set node.weight=x: expected an integer in 1..100");
    dk_config_free(&c);
    static const char *const bad[] = {"nodeweight", "node.weight", ".weight=1", "node.=1", "node=1.2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", bad[i], NULL), DK_ECONFIG);
        snprintf(want, sizeof want, "--set %s: expected section.key=value, e.g. --set node.id=n2", bad[i]);
        CU_ASSERT_STRING_EQUAL(tc_err, want);
        dk_config_free(&c);
    }
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "node.wieght=2", NULL), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(tc_err, "--set node.wieght=2: unknown key 'wieght' in [node]; expected one of: id, "));
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", NULL), DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "--set: expected a value after it (see --help)");
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--verbose", NULL), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "unknown option '--verbose'"));
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "node.ini", NULL), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "unexpected argument 'node.ini'"));
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "-c", "a.ini", "--config=b.ini", NULL), DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err,
                           "--config given twice ('a.ini' and 'b.ini'); expected one configuration file");
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "compaction.min_threshold=40", NULL), DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "--set compaction.min_threshold=40: [compaction] min_threshold moved "
                                   "to the plugin's own section: write it under [compaction.size_tiered] or "
                                   "[compaction.time_window]");
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "node.rpc_listen=127.0.0.1:8080", NULL), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "http_listen and rpc_listen are both 127.0.0.1:8080"));
    dk_config_free(&c);
    /* crdt is not a resolver of plain values (it serves /crdt/ keys) */
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "conflict.resolver=crdt", NULL), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err,
                                  "configuration: [conflict] resolver = crdt: every node already uses "
                                  "the crdt resolver for CRDT keys"));
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "expected a resolver of values such as vclock or lww"));
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "conflict.resolver=lww", NULL), 0);
    dk_config_free(&c);
}

/* What dynkvd prints for a bad file: "<file>:<line>: <what>: <expected>". */
static void test_daemon_message(void)
{
    dk_config c;
    int exit_now = 0;
    char path[600], want[900];
    snprintf(path, sizeof path, "%s",
             tc_write("node.ini", "[node]\nid = n1\n\n[cluster]\n"
                                  "name = dynkv\n; comment\nn_replicas = 12\n"));
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--config", path, "--set", "node.weight=2", NULL), DK_ECONFIG);
    CU_ASSERT_EQUAL(exit_now, 0);
    snprintf(want, sizeof want, "%s:7: [cluster] n_replicas = 12: expected an integer in 1..9", path);
    CU_ASSERT_STRING_EQUAL(tc_err, want);
    dk_config_free(&c);
    snprintf(path, sizeof path, "%s/missing.ini", tc_dir);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--config", path, NULL), DK_ECONFIG);
    CU_ASSERT_EQUAL(strncmp(tc_err, path, strlen(path)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "cannot open the configuration file"));
    dk_config_free(&c);
}

static void test_help_version(void)
{
    dk_config c;
    int exit_now = 0;
    fflush(stdout);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--help", NULL), 0);
    CU_ASSERT_EQUAL(exit_now, 1);
    dk_config_free(&c);
    exit_now = 0;
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "node.weight=2", "-V", NULL), 0);
    CU_ASSERT_EQUAL(exit_now, 1);
    dk_config_free(&c);
    exit_now = 0;
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "-h", NULL), 0);
    CU_ASSERT_EQUAL(exit_now, 1);
    dk_config_free(&c);

    /* The usage text names the options and the section.key convention. */
    char path[600];
    snprintf(path, sizeof path, "%s/usage.txt", tc_dir);
    FILE *f = fopen(path, "w+");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    dk_config_usage("dynkvd", f);
    rewind(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "--config FILE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "--set section.key=value"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "section.key"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "cluster.n_replicas = 3"));
}

/* examples/single-node.ini spells out every default. */
static CU_TestInfo ta_tests[] = {
    {"--set overrides after the file", test_args_overrides},
    {"command line errors", test_args_errors},
    {"protected mode: loopback listeners without a key", test_protected_mode},
    {"advertise_address and wildcard listeners", test_advertise},
    {"daemon-style error message", test_daemon_message},
    {"--help and --version", test_help_version},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "config-args", .pInitFunc = tc_setup, .pCleanupFunc = tc_teardown, .pTests = ta_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
