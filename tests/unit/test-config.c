/*
 * test-config.c - the configuration file: defaults, every value type,
 * every refusal with its file:line message, --check-config collecting
 * every error, the example file matching the defaults, and plugin
 * sections with their options. The command line (--config, --set, the
 * listener rules, --help, --version) is test-config-args.c; both use
 * tc_config.h.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/duration.h"
#include "base/memsize.h"

#include "tc_config.h"

static void test_defaults(void)
{
    dk_config c;
    dk_config_defaults(&c);
    CU_ASSERT_STRING_EQUAL(c.node.id, "n1");
    CU_ASSERT_STRING_EQUAL(c.node.data_dir, "./data/n1");
    CU_ASSERT_STRING_EQUAL(c.node.http_listen, "127.0.0.1:8080");
    CU_ASSERT_STRING_EQUAL(c.node.rpc_listen, "127.0.0.1:7070");
    CU_ASSERT_STRING_EQUAL(c.node.gossip_listen, "127.0.0.1:7946");
    CU_ASSERT_EQUAL(c.node.weight, 1);
    CU_ASSERT_EQUAL(c.node.loop_threads, 0);
    CU_ASSERT_EQUAL(c.node.worker_threads, 4);
    CU_ASSERT_EQUAL(c.node.log_level, DK_LOG_INFO);
    CU_ASSERT_STRING_EQUAL(c.node.log_file, "");
    CU_ASSERT_STRING_EQUAL(c.cluster.name, "dynkv");
    CU_ASSERT_EQUAL(c.cluster.n_seeds, 0);
    CU_ASSERT_EQUAL(c.cluster.n_replicas, 3);
    CU_ASSERT_EQUAL(c.cluster.read_consistency, DK_CONSISTENCY_ONE);
    CU_ASSERT_EQUAL(c.cluster.write_consistency, DK_CONSISTENCY_ONE);
    CU_ASSERT_EQUAL(c.cluster.sloppy_quorum, 1);
    CU_ASSERT_EQUAL(c.cluster.gossip_interval, 1000);
    CU_ASSERT_EQUAL(c.cluster.anti_entropy_interval, 600000);
    CU_ASSERT_EQUAL(c.cluster.request_timeout, 2000);
    CU_ASSERT_EQUAL(c.cluster.gc_grace, 10LL * 86400000);
    CU_ASSERT_EQUAL(c.cluster.hint_window, 3LL * 3600000);
    CU_ASSERT_EQUAL(c.cluster.max_siblings, 100);
    CU_ASSERT_EQUAL(c.cluster.vv_prune_entries, 10);
    CU_ASSERT_EQUAL(c.cluster.vv_prune_age, 7LL * 86400000);
    CU_ASSERT_STRING_EQUAL(c.security.cluster_key_file, "");
    CU_ASSERT_EQUAL(c.security.insecure, 0);
    CU_ASSERT_EQUAL(c.security.metrics_need_token, 0);
    CU_ASSERT_STRING_EQUAL(c.storage.engine, "lsm");
    CU_ASSERT_STRING_EQUAL(c.storage.plugin_dir, "");
    CU_ASSERT_EQUAL(c.storage.sync, 1);
    CU_ASSERT_EQUAL(c.storage.memtable_size, 64ull << 20);
    CU_ASSERT_EQUAL(c.storage.block_cache_size, DK_CONFIG_AUTO);
    CU_ASSERT_STRING_EQUAL(c.compaction.policy, "leveled");
    CU_ASSERT_STRING_EQUAL(c.conflict.resolver, "vclock");
    CU_ASSERT_EQUAL(c.n_popts, 0);
    CU_ASSERT_EQUAL(dk_config_check(&c, tc_err, sizeof tc_err), 0);
    dk_config_free(&c);
}

static void test_every_type(void)
{
    dk_config c;
    int rc = tc_load("types.ini",
                     "; a comment\n"
                     "# another comment\n"
                     "[node]\n"
                     "id = node_2-b\n"
                     "data_dir = /var/lib/dynkv/n2   ; inline comment after a space\n"
                     "http_listen = [::1]:18080\n"
                     "rpc_listen = host-1.example:17070\n"
                     "weight = 100\n"
                     "worker_threads = 128\n"
                     "log_level = DEBUG\n"
                     "[cluster]\n"
                     "name = Prod.EU-1\n"
                     "seeds = 127.0.0.1:7946, 127.0.0.2:7946\n"
                     "  127.0.0.3:7946 127.0.0.4:7946,\n"
                     "\n"
                     "\t127.0.0.5:7946\n"
                     "n_replicas = 9\n"
                     "read_consistency = quorum\n"
                     "write_consistency = all\n"
                     "sloppy_quorum = off\n"
                     "gossip_interval = 500ms\n"
                     "anti_entropy_interval = 0\n"
                     "request_timeout = 15\n"
                     "gc_grace = 1d\n"
                     "hint_window = 90 m\n"
                     "vv_prune_age = 2h\n"
                     "[security]\n"
                     "tokens_file = /etc/dk;tokens\n"
                     "insecure = yes\n"
                     "[storage]\n"
                     "sync = no\n"
                     "memtable_size = 1MiB\n"
                     "block_cache_size = 0\n"
                     "[engine.lsm]\n"
                     "compaction_rate_limit = 10MB/s\n"
                     "codec = none   ; kept as text for the plugin\n"
                     "[compaction.leveled]\n"
                     "base_level_size = 2G\n"
                     "[conflict]\n"
                     "resolver = lww\n",
                     &c);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(c.node.id, "node_2-b");
    CU_ASSERT_STRING_EQUAL(c.node.data_dir, "/var/lib/dynkv/n2");
    CU_ASSERT_STRING_EQUAL(c.node.http_listen, "[::1]:18080");
    CU_ASSERT_STRING_EQUAL(c.node.rpc_listen, "host-1.example:17070");
    CU_ASSERT_EQUAL(c.node.weight, 100);
    CU_ASSERT_EQUAL(c.node.worker_threads, 128);
    CU_ASSERT_EQUAL(c.node.log_level, DK_LOG_DEBUG);
    CU_ASSERT_STRING_EQUAL(c.cluster.name, "Prod.EU-1");
    CU_ASSERT_EQUAL_FATAL(c.cluster.n_seeds, 5);
    CU_ASSERT_STRING_EQUAL(c.cluster.seeds[0], "127.0.0.1:7946");
    CU_ASSERT_STRING_EQUAL(c.cluster.seeds[2], "127.0.0.3:7946");
    CU_ASSERT_STRING_EQUAL(c.cluster.seeds[4], "127.0.0.5:7946");
    CU_ASSERT_EQUAL(c.cluster.n_replicas, 9);
    CU_ASSERT_EQUAL(c.cluster.read_consistency, DK_CONSISTENCY_QUORUM);
    CU_ASSERT_EQUAL(c.cluster.write_consistency, DK_CONSISTENCY_ALL);
    CU_ASSERT_EQUAL(c.cluster.sloppy_quorum, 0);
    CU_ASSERT_EQUAL(c.cluster.gossip_interval, 500);
    CU_ASSERT_EQUAL(c.cluster.anti_entropy_interval, 0);
    CU_ASSERT_EQUAL(c.cluster.request_timeout, 15000);
    CU_ASSERT_EQUAL(c.cluster.gc_grace, 86400000);
    CU_ASSERT_EQUAL(c.cluster.hint_window, 90 * 60000);
    CU_ASSERT_EQUAL(c.cluster.vv_prune_age, 2 * 3600000);
    /* ';' without a space before it is part of the value. */
    CU_ASSERT_STRING_EQUAL(c.security.tokens_file, "/etc/dk;tokens");
    CU_ASSERT_EQUAL(c.security.insecure, 1);
    CU_ASSERT_EQUAL(c.storage.sync, 0);
    CU_ASSERT_EQUAL(c.storage.memtable_size, 1u << 20);
    CU_ASSERT_EQUAL(c.storage.block_cache_size, 0);
    CU_ASSERT_STRING_EQUAL(c.conflict.resolver, "lww");
    /* Plugin sections are text with their line, in file order. */
    CU_ASSERT_EQUAL_FATAL(c.n_popts, 3);
    const dk_config_popt *o = dk_config_popt_find(&c, "engine.lsm", "codec");
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_STRING_EQUAL(o->value, "none");
    CU_ASSERT_EQUAL(o->line, 36);
    CU_ASSERT_STRING_EQUAL(c.popts[0].key, "compaction_rate_limit");
    CU_ASSERT_STRING_EQUAL(c.popts[0].value, "10MB/s");
    CU_ASSERT_STRING_EQUAL(c.popts[2].section, "compaction.leveled");
    CU_ASSERT_PTR_NULL(dk_config_popt_find(&c, "engine.lsm", "bloom_bits_per_key"));
    /* Keys the file did not mention keep their defaults. */
    CU_ASSERT_EQUAL(c.node.loop_threads, 0);
    CU_ASSERT_STRING_EQUAL(c.storage.engine, "lsm");
    dk_config_free(&c);
}

/* Files saved by Windows editors: a UTF-8 byte-order mark and CRLF. */
static void test_bom_crlf(void)
{
    dk_config c;
    CU_ASSERT_EQUAL(tc_load("crlf.ini",
                            "\xEF\xBB\xBF[node]\r\nid = n9\r\n[cluster]\r\n"
                            "seeds = a:1,\r\n  b:2\r\n",
                            &c),
                    0);
    CU_ASSERT_STRING_EQUAL(c.node.id, "n9");
    CU_ASSERT_EQUAL_FATAL(c.cluster.n_seeds, 2);
    CU_ASSERT_STRING_EQUAL(c.cluster.seeds[1], "b:2");
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_load("crlf.ini", "[node]\r\nweight = 0\r\n", &c), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "crlf.ini:2: [node] weight = 0: expected an integer in 1..100"));
    dk_config_free(&c);
}

static void test_bool_forms(void)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "off", "0", "OFF"};
    dk_config c;
    dk_config_defaults(&c);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        c.storage.sync = 1;
        CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "sync", no[i], tc_err, sizeof tc_err), 0);
        CU_ASSERT_EQUAL(c.storage.sync, 0);
    }
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        c.storage.sync = 0;
        CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "sync", yes[i], tc_err, sizeof tc_err), 0);
        CU_ASSERT_EQUAL(c.storage.sync, 1);
    }
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "sync", "maybe", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "[storage] sync = maybe: expected true or false (or yes/no, on/off, 1/0)");
    CU_ASSERT_EQUAL(c.storage.sync, 1);
    dk_config_free(&c);
}

static void test_sizes_durations(void)
{
    uint64_t u;
    int64_t ms;
    char buf[32];
    CU_ASSERT(dk_size_parse("0", &u) == 0 && u == 0);
    CU_ASSERT(dk_size_parse("4096", &u) == 0 && u == 4096);
    CU_ASSERT(dk_size_parse("4k", &u) == 0 && u == 4096);
    CU_ASSERT(dk_size_parse("4KB", &u) == 0 && u == 4096);
    CU_ASSERT(dk_size_parse("4KiB", &u) == 0 && u == 4096);
    CU_ASSERT(dk_size_parse("3 MB", &u) == 0 && u == 3u << 20);
    CU_ASSERT(dk_size_parse("5GiB", &u) == 0 && u == 5ull << 30);
    CU_ASSERT(dk_size_parse("7g", &u) == 0 && u == 7ull << 30);
    CU_ASSERT(dk_size_parse("16777216T", &u) == DK_ECONFIG); /* 2^64: overflow */
    CU_ASSERT(dk_size_parse("99999999999999999999", &u) == DK_ECONFIG);
    CU_ASSERT(dk_size_parse("1.5G", &u) == DK_ECONFIG);
    CU_ASSERT(dk_size_parse("-1", &u) == DK_ECONFIG);
    CU_ASSERT(dk_size_parse("10X", &u) == DK_ECONFIG);
    CU_ASSERT(dk_size_parse("", &u) == DK_ECONFIG);
    CU_ASSERT(dk_size_parse("M", &u) == DK_ECONFIG);
    CU_ASSERT(dk_duration_parse("250ms", &ms) == 0 && ms == 250);
    CU_ASSERT(dk_duration_parse("7", &ms) == 0 && ms == 7000);
    CU_ASSERT(dk_duration_parse("7s", &ms) == 0 && ms == 7000);
    CU_ASSERT(dk_duration_parse("3m", &ms) == 0 && ms == 180000);
    CU_ASSERT(dk_duration_parse("3h", &ms) == 0 && ms == 3 * 3600000);
    CU_ASSERT(dk_duration_parse("10d", &ms) == 0 && ms == 864000000);
    CU_ASSERT(dk_duration_parse("1w", &ms) == DK_ECONFIG);
    CU_ASSERT(dk_duration_parse("3H", &ms) == DK_ECONFIG);
    CU_ASSERT(dk_duration_parse("1.5h", &ms) == DK_ECONFIG);
    CU_ASSERT(dk_duration_parse("-5s", &ms) == DK_ECONFIG);
    CU_ASSERT(dk_duration_parse("9223372036854775807d", &ms) == DK_ECONFIG);
    dk_size_format(64ull << 20, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "64MiB");
    dk_size_format(1000, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "1000");
    dk_duration_format(90000, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "90s");
    dk_duration_format(36 * 3600000LL, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "36h");
}

static void test_ranges(void)
{
    dk_config c;
    dk_config_defaults(&c);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "weight", "0", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "[node] weight = 0: expected an integer in 1..100");
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "weight", "101", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "weight", "3x", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "weight", "99999999999999999999", tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_EQUAL(c.node.weight, 1);
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "memtable_size", "512KiB", tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "expected a size in 1MiB..4GiB"));
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "memtable_size", "4GiB", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "gossip_interval", "2h", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "expected a duration in 10ms..1h"));
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "read_consistency", "two", tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "[cluster] read_consistency = two: expected one of: one, quorum, all");
    /* Keys that moved to a plugin's section say where they went. */
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "codec", "lz4", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "[storage] codec moved to the plugin's own section: write it under "
                                   "[engine.lsm] (the engine's own section; codec_level sets the level)");
    CU_ASSERT_EQUAL(dk_config_set(&c, "compaction", "target_file_size", "32KiB", tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "write it under [compaction.leveled]"));
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "log_level", "verbose", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "id", "N1", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "a-z, 0-9, '_' and '-'"));
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "engine", "../evil", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "id",
                                  "a1234567890123456789012345678901234567890123456789012345678901234", tc_err,
                                  sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "name", "has space", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "http_listen", "localhost", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "http_listen", "1.2.3.4:0", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "http_listen", "1.2.3.4:65536", tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "http_listen", "::1:80", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "node", "data_dir", "", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "seeds", "a:1 b", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "'b' is not a seed address"));
    /* A list set through dk_config_set replaces the list. */
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "seeds", "a:1,b:2", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "seeds", "c:3", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL_FATAL(c.cluster.n_seeds, 1);
    CU_ASSERT_STRING_EQUAL(c.cluster.seeds[0], "c:3");
    /* A bad list leaves the old one in place. */
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "seeds", "d:4, e", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_EQUAL_FATAL(c.cluster.n_seeds, 1);
    CU_ASSERT_STRING_EQUAL(c.cluster.seeds[0], "c:3");
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "seeds", "", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(c.cluster.n_seeds, 0);
    /* The shared secret became a key file: the old key says where it went. */
    CU_ASSERT_EQUAL(dk_config_set(&c, "cluster", "shared_secret", "s3cret", tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "[security] cluster_key_file"));
    CU_ASSERT_PTR_NULL(strstr(tc_err, "s3cret"));
    CU_ASSERT_EQUAL(dk_config_set(&c, "nodes", "weight", "2", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "unknown section [nodes]"));
    dk_config_free(&c);
}

static void test_file_refusals(void)
{
    tc_refused("[node]\nid = n1\n[cluster]\nname = x\n\n\nn_replicas = 12\n",
               "7: [cluster] n_replicas = 12: expected an integer in 1..9");
    tc_refused("[node]\nid = n1\n[bogus]\nx = 1\n",
               "3: unknown section [bogus]; expected one of [node], [cluster], [storage], "
               "[compaction], [conflict], [security], [log], or a plugin's own section such as [engine.lsm], "
               "[compaction.leveled], [conflict.lww] or [codec.zstd]");
    /* An empty unknown section is refused too, though inih never reports it. */
    tc_refused("[node]\n[Node]\n", "2: unknown section [Node]; expected one of [node], [cluster], "
                                   "[storage], [compaction], [conflict], [security], [log], or a plugin's "
                                   "own section such as [engine.lsm], "
                                   "[compaction.leveled], [conflict.lww] or [codec.zstd]");
    tc_refused("[engine.LSM]\n", "1: unknown section [engine.LSM]; expected one of [node], [cluster], "
                                 "[storage], [compaction], [conflict], [security], [log], or a plugin's own "
                                 "section such as [engine.lsm], "
                                 "[compaction.leveled], [conflict.lww] or [codec.zstd]");
    tc_refused("[storage]\nbloom_bits_per_key = 12\n",
               "2: [storage] bloom_bits_per_key moved to the plugin's own section: write it under "
               "[engine.lsm] (the engine's own section)");
    tc_refused("[conflict]\nresolver = vclock\nresolvr = lww\n",
               "3: unknown key 'resolvr' in [conflict]; expected one of: resolver");
    tc_refused("[node]\nweight = 2\nid = n2\nweight = 3\n",
               "4: [node] weight is set twice (first on line 2); expected each key once");
    tc_refused("[cluster]\nseeds = a:1\nseeds = b:2\n",
               "3: [cluster] seeds is set twice (first on line 2); expected each key once");
    tc_refused("[node]\nweight = 2\n  3\n",
               "3: this indented line continues [node] weight, which takes one value; only list keys "
               "such as [cluster] seeds continue on indented lines: remove the indentation");
    /* A repeated section header ends the list: this is a second seeds. */
    tc_refused("[cluster]\nseeds = a:1\n[cluster]\n  seeds = b:2\n",
               "4: [cluster] seeds is set twice (first on line 2); expected each key once");
    tc_refused("id = n1\n", "1: key 'id' is outside any section; expected it under a [section] header");
    tc_refused("[node]\nthis is not a key\n", "2: expected '[section]', 'key = value' or a comment");
    tc_refused("[node\n", "1: expected '[section]', 'key = value' or a comment");
    tc_refused("[cluster]\nname = \"dynkv\"\n",
               "2: [cluster] name = \"dynkv\": expected 1..64 characters from A-Z, a-z, 0-9, '_', '.' "
               "and '-'; note that quotes are not removed: write the value bare");
    tc_refused("[cluster]\nread_consistency = quorum;all\n",
               "2: [cluster] read_consistency = quorum;all: expected one of: one, quorum, all; note "
               "that ';' starts a comment only after a space or tab");
    /* The first error wins, also against a later syntax error. */
    tc_refused("[node]\nweight = x\n[broken\n", "2: [node] weight = x: expected an integer in 1..100");
    tc_refused("[broken\n[node]\nweight = x\n", "1: expected '[section]', 'key = value' or a comment");

    /* 250 characters on line 3: refused before inih would cut it in two. */
    char text[400];
    int n = snprintf(text, sizeof text, "[cluster]\nname = a\nseeds = ");
    memset(text + n, 'x', 250 - strlen("seeds = "));
    strcpy(text + n + 250 - strlen("seeds = "), "\n");
    CU_ASSERT_EQUAL_FATAL(strlen(text), (size_t)n + 250 - strlen("seeds = ") + 1);
    tc_refused(text, "3: line longer than 199 characters; use indented continuation lines");

    /* Exactly 199 characters is still fine. */
    dk_config c;
    char ok[300];
    memset(ok, 0, sizeof ok);
    strcpy(ok, "[node]\ndata_dir = /");
    size_t len = strlen(ok);
    memset(ok + len, 'd', 7 + 199 - len);
    strcat(ok, "\n");
    CU_ASSERT_EQUAL(tc_load("ok.ini", ok, &c), 0);
    CU_ASSERT_EQUAL(strlen(c.node.data_dir), 199 - strlen("data_dir = "));
    dk_config_free(&c);
}

static void test_missing_file(void)
{
    dk_config c;
    char path[600];
    dk_config_defaults(&c);
    snprintf(path, sizeof path, "%s/does-not-exist.ini", tc_dir);
    CU_ASSERT_EQUAL(dk_config_load_file(&c, path, tc_err, sizeof tc_err), DK_ECONFIG);
    char want[800];
    snprintf(want, sizeof want, "%s: cannot open the configuration file: %s", path, strerror(ENOENT));
    CU_ASSERT_STRING_EQUAL(tc_err, want);
    CU_ASSERT_EQUAL(dk_config_load_file(&c, tc_dir, tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, tc_dir));
    dk_config_free(&c);
}

/* [storage] block_cache_size: auto (the default) follows memory, an
 * explicit size (0 too) wins; "auto" is a word of that key only. */
static void test_block_cache_auto(void)
{
    dk_config c;
    dk_config_defaults(&c);
    CU_ASSERT_EQUAL(c.storage.block_cache_size, DK_CONFIG_AUTO);
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "block_cache_size", "1GiB", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(c.storage.block_cache_size, 1ull << 30);
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "block_cache_size", "AUTO", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(c.storage.block_cache_size, DK_CONFIG_AUTO);
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "block_cache_size", "65GiB", tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "expected auto or a size in 0..64GiB"));
    CU_ASSERT_EQUAL(dk_config_set(&c, "storage", "memtable_size", "auto", tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "expected a size in 1MiB..4GiB"));
    dk_config_free(&c);

    const uint64_t mib = 1ull << 20, gib = 1ull << 30;
    CU_ASSERT_EQUAL(dk_block_cache_size(DK_CONFIG_AUTO, 24 * gib), 3 * gib);
    CU_ASSERT_EQUAL(dk_block_cache_size(DK_CONFIG_AUTO, 4 * gib), 512 * mib);
    CU_ASSERT_EQUAL(dk_block_cache_size(DK_CONFIG_AUTO, 256 * mib), 64 * mib); /* the floor */
    CU_ASSERT_EQUAL(dk_block_cache_size(DK_CONFIG_AUTO, 512 * gib), 16 * gib); /* the cap */
    CU_ASSERT_EQUAL(dk_block_cache_size(DK_CONFIG_AUTO, 0), 128 * mib);        /* unknown memory */
    CU_ASSERT_EQUAL(dk_block_cache_size(32 * mib, 24 * gib), 32 * mib);
    CU_ASSERT_EQUAL(dk_block_cache_size(0, 24 * gib), 0);
    uint64_t mem = dk_mem_usable();
    CU_ASSERT(mem >= 64 * mib);
    CU_ASSERT(mem <= (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGE_SIZE));
}

static void test_example_file(void)
{
    const char *src = getenv("DYNKV_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/single-node.ini", src ? src : ".");
    dk_config d, c;
    dk_config_defaults(&d);
    dk_config_defaults(&c);
    int rc = dk_config_load_file(&c, path, tc_err, sizeof tc_err);
    if (rc)
        fprintf(stderr, "%s\n", tc_err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(memcmp(&c.node, &d.node, sizeof d.node) == 0);
    CU_ASSERT(memcmp(&c.storage, &d.storage, sizeof d.storage) == 0);
    CU_ASSERT(memcmp(&c.compaction, &d.compaction, sizeof d.compaction) == 0);
    CU_ASSERT(memcmp(&c.conflict, &d.conflict, sizeof d.conflict) == 0);
    CU_ASSERT_EQUAL(c.cluster.n_seeds, 0);
    CU_ASSERT(memcmp(&c.cluster, &d.cluster, sizeof d.cluster) == 0);
    dk_config_free(&c);
    dk_config_free(&d);
}

/* --check-config: every error reported, in order, and loading goes on. */
typedef struct tc_report {
    int n;
    char msgs[16][700];
} tc_report;

static void tc_collect(void *arg, const char *msg)
{
    tc_report *r = arg;
    if (r->n < 16)
        snprintf(r->msgs[r->n], sizeof r->msgs[0], "%s", msg);
    r->n++;
}

static void test_collect_every_error(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s",
             tc_write("many.ini", "[node]\n"
                                  "weight = 0\n"          /* 2: bad value */
                                  "no equals sign here\n" /* 3: not ini */
                                  "id = ok-id\n"          /* 4: fine, and applied */
                                  "[bogus]\n"             /* 5: unknown section */
                                  "a = 1\n"               /* 6: skipped, not reported again */
                                  "[storage]\n"
                                  "nonsense = 1\n" /* 8: unknown key */
                                  "engine = memory\n"
                                  "engine = lsm\n" /* 10: set twice */
                                  "[cluster\n"));  /* 11: header without ] */
    char *argv[] = {"dynkvd",
                    "--config",
                    path,
                    "--set",
                    "node.loop_threads=65",
                    "--set",
                    "node.rpc_listen=127.0.0.1:7946",
                    NULL};
    dk_config c;
    tc_report r = {0};
    int n = dk_config_check_args(&c, 7, argv, tc_collect, &r);
    CU_ASSERT_EQUAL(n, r.n);
    CU_ASSERT_EQUAL(r.n, 8);
    static const char *const want[] = {":2: [node] weight = 0",
                                       ":3: expected '[section]'",
                                       ":5: unknown section [bogus]",
                                       ":8: unknown key 'nonsense'",
                                       ":10: [storage] engine is set twice",
                                       ":11: a section header without ']'",
                                       "--set node.loop_threads=65",
                                       "rpc_listen and gossip_listen are both"};
    for (int i = 0; i < 8 && i < r.n; i++) {
        CU_ASSERT_PTR_NOT_NULL(strstr(r.msgs[i], want[i]));
        if (!strstr(r.msgs[i], want[i]))
            fprintf(stderr, "error %d: %s\n(want %s)\n", i, r.msgs[i], want[i]);
    }
    CU_ASSERT_STRING_EQUAL(c.node.id, "ok-id");
    CU_ASSERT_STRING_EQUAL(c.storage.engine, "memory");
    dk_config_free(&c);

    /* a valid file: no error; a missing one: exactly one */
    char *ok[] = {"dynkvd", "--config", (char *)tc_write("fine.ini", "[node]\nid = n7\n"), NULL};
    r.n = 0;
    CU_ASSERT_EQUAL(dk_config_check_args(&c, 3, ok, tc_collect, &r), 0);
    CU_ASSERT_STRING_EQUAL(c.node.id, "n7");
    dk_config_free(&c);
    char *missing[] = {"dynkvd", "--config", "/nonexistent/x.ini", NULL};
    CU_ASSERT_EQUAL(dk_config_check_args(&c, 3, missing, tc_collect, &r), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.msgs[0], "/nonexistent/x.ini"));
    dk_config_free(&c);

    /* the normal loader still stops at the first error */
    dk_config_defaults(&c);
    CU_ASSERT_EQUAL(dk_config_load_file(&c, path, tc_err, sizeof tc_err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "many.ini:2:"));
    dk_config_free(&c);
}

/* A plugin's own section: kept as text by the loader, parsed against the
 * plugin's option table by dk_config_plugin_options with the node's units
 * and "file:line:" messages. */
typedef struct tc_popts {
    int64_t n;
    uint64_t size, rate;
    int64_t dur;
    int flag, word;
    const char *name;
} tc_popts;

static const char *const tc_words[] = {"zstd", "lz4", "none", NULL};
static const dk_option tc_spec[] = {
    {.key = "n", .type = DK_OPT_INT, .offset = offsetof(tc_popts, n), .min = -5, .max = 5, .dflt = "1"},
    {.key = "size",
     .type = DK_OPT_SIZE,
     .offset = offsetof(tc_popts, size),
     .min = 1024,
     .max = 1ll << 30,
     .dflt = "64KiB"},
    {.key = "rate",
     .type = DK_OPT_RATE,
     .offset = offsetof(tc_popts, rate),
     .min = 0,
     .max = 1ll << 30,
     .dflt = "0"},
    {.key = "dur",
     .type = DK_OPT_DURATION,
     .offset = offsetof(tc_popts, dur),
     .min = 1000,
     .max = 86400000,
     .dflt = "1h"},
    {.key = "flag", .type = DK_OPT_BOOL, .offset = offsetof(tc_popts, flag), .dflt = "no"},
    {.key = "word",
     .type = DK_OPT_WORD,
     .offset = offsetof(tc_popts, word),
     .words = tc_words,
     .dflt = "lz4"},
    {.key = "name", .type = DK_OPT_STRING, .offset = offsetof(tc_popts, name), .dflt = "x"},
};
#define TC_NSPEC (sizeof tc_spec / sizeof tc_spec[0])

static void test_plugin_sections(void)
{
    dk_config c;
    tc_popts o;
    char want[1024];
    int rc = tc_load("plugin.ini",
                     "[storage]\n"
                     "engine = lsm\n"
                     "[engine.lsm]\n"
                     "n = -3\n"
                     "size = 2MiB\n"
                     "rate = 8MiB/s\n"
                     "dur = 90s\n"
                     "flag = on\n"
                     "word = NONE\n"
                     "name = hello world\n"
                     "[codec.zstd]\n"
                     "level = 3\n",
                     &c);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "engine.lsm", tc_spec, TC_NSPEC, &o, tc_err, sizeof tc_err),
                    0);
    CU_ASSERT_EQUAL(o.n, -3);
    CU_ASSERT_EQUAL(o.size, 2u << 20);
    CU_ASSERT_EQUAL(o.rate, 8u << 20);
    CU_ASSERT_EQUAL(o.dur, 90000);
    CU_ASSERT_EQUAL(o.flag, 1);
    CU_ASSERT_EQUAL(o.word, 2);
    CU_ASSERT_STRING_EQUAL(o.name, "hello world");
    /* A section nobody set: every default. */
    CU_ASSERT_EQUAL(
        dk_config_plugin_options(&c, "engine.other", tc_spec, TC_NSPEC, &o, tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(o.n, 1);
    CU_ASSERT_EQUAL(o.size, 64u << 10);
    CU_ASSERT_EQUAL(o.dur, 3600000);
    CU_ASSERT_EQUAL(o.word, 1);
    CU_ASSERT_STRING_EQUAL(o.name, "x");
    /* A key the plugin does not take, named with its file and line. */
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "codec.zstd", tc_spec, TC_NSPEC, &o, tc_err, sizeof tc_err),
                    DK_ECONFIG);
    snprintf(want, sizeof want,
             "%s/plugin.ini:12: [codec.zstd] level = 3: unknown key 'level' in "
             "[codec.zstd]; expected one of: n, size, rate, dur, flag, word, name",
             tc_dir);
    CU_ASSERT_STRING_EQUAL(tc_err, want);
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "codec.zstd", NULL, 0, &o, tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "plugin.ini:12: [codec.zstd] level = 3: unknown key 'level': "
                                          "the plugin of [codec.zstd] takes no options"));
    /* Bad values: the node's own messages. */
    CU_ASSERT_EQUAL(dk_config_set(&c, "engine.lsm", "n", "6", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "engine.lsm", tc_spec, TC_NSPEC, &o, tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "--set engine.lsm.n=6: expected an integer in -5..5");
    CU_ASSERT_EQUAL(dk_config_set(&c, "engine.lsm", "n", "0", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(dk_config_set(&c, "engine.lsm", "word", "\"zstd\"", tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "engine.lsm", tc_spec, TC_NSPEC, &o, tc_err, sizeof tc_err),
                    DK_ECONFIG);
    CU_ASSERT_STRING_EQUAL(tc_err, "--set engine.lsm.word=\"zstd\": expected one of: zstd, lz4, none; "
                                   "note that quotes are not removed: write the value bare");
    dk_config_free(&c);

    /* A value out of range in the file names the file and line. */
    CU_ASSERT_EQUAL_FATAL(tc_load("plugin2.ini", "[compaction.leveled]\n\nsize = 1\n", &c), 0);
    CU_ASSERT_EQUAL(
        dk_config_plugin_options(&c, "compaction.leveled", tc_spec, TC_NSPEC, &o, tc_err, sizeof tc_err),
        DK_ECONFIG);
    snprintf(want, sizeof want,
             "%s/plugin2.ini:3: [compaction.leveled] size = 1: expected a size in "
             "1KiB..1GiB (bytes, or a K/KB/KiB, M/MB/MiB or G/GB/GiB suffix; all powers of 1024)",
             tc_dir);
    CU_ASSERT_STRING_EQUAL(tc_err, want);
    dk_config_free(&c);

    /* No range given: any value of the type. */
    dk_option any = {
        .key = "n", .type = DK_OPT_INT, .offset = offsetof(tc_popts, n), .dflt = "-123456789012"};
    dk_config_defaults(&c);
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "engine.lsm", &any, 1, &o, tc_err, sizeof tc_err), 0);
    CU_ASSERT_EQUAL(o.n, -123456789012LL);
    dk_config_free(&c);

    /* A broken option table is the plugin's fault, not the operator's. */
    dk_option bad = {.key = "x", .type = DK_OPT_INT, .min = 5, .max = 9, .dflt = "1"};
    dk_config_defaults(&c);
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "engine.lsm", &bad, 1, &o, tc_err, sizeof tc_err),
                    DK_EBADPLUGIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "[engine.lsm] x: the plugin's default '1' is refused"));
    bad = (dk_option){.key = "Bad", .type = DK_OPT_INT, .dflt = "0"};
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "engine.lsm", &bad, 1, &o, tc_err, sizeof tc_err),
                    DK_EBADPLUGIN);
    bad = (dk_option){.key = "x", .type = 99, .dflt = "0"};
    CU_ASSERT_EQUAL(dk_config_plugin_options(&c, "engine.lsm", &bad, 1, &o, tc_err, sizeof tc_err),
                    DK_EBADPLUGIN);
    dk_config_free(&c);

    /* Loader refusals in plugin sections. */
    tc_refused("[engine.lsm]\ncodec = zstd\ncodec = lz4\n",
               "3: [engine.lsm] codec is set twice (first on line 2); expected each key once");
    tc_refused("[engine.lsm]\ncodec = zstd\n  lz4\n",
               "3: this indented line continues [engine.lsm] codec, which takes one value; only list "
               "keys such as [cluster] seeds continue on indented lines: remove the indentation");
    tc_refused("[engine.lsm]\nCodec = zstd\n",
               "2: [engine.lsm] Codec = zstd: 'Codec' is not a plugin option name; expected 1..64 "
               "characters from a-z, 0-9 and '_'");

    /* --set reaches plugin sections, after the file. */
    int exit_now = 0;
    const char *path = tc_write("p3.ini", "[engine.lsm]\ncodec = zstd\n");
    char *argv[] = {"dynkvd",
                    "--config",
                    (char *)path,
                    "--set",
                    "engine.lsm.codec=lz4",
                    "--set",
                    "compaction.size_tiered.min_threshold=8",
                    NULL};
    CU_ASSERT_EQUAL_FATAL(dk_config_from_args(&c, 7, argv, &exit_now, tc_err, sizeof tc_err), 0);
    o.word = -1;
    const dk_config_popt *p = dk_config_popt_find(&c, "engine.lsm", "codec");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->value, "lz4");
    CU_ASSERT_EQUAL(p->line, 0);
    CU_ASSERT_PTR_NOT_NULL(dk_config_popt_find(&c, "compaction.size_tiered", "min_threshold"));
    CU_ASSERT_PTR_NOT_NULL(dk_config_popt_first(&c, "compaction.size_tiered"));
    CU_ASSERT_PTR_NULL(dk_config_popt_first(&c, "compaction.leveled"));
    dk_config_free(&c);
    CU_ASSERT_EQUAL(tc_args(&c, &exit_now, "--set", "engine.Lsm.codec=lz4", NULL), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_err, "unknown section [engine.Lsm]"));
    dk_config_free(&c);
}

static CU_TestInfo tc_tests[] = {
    {"--check-config collects every error", test_collect_every_error},
    {"defaults", test_defaults},
    {"every value type", test_every_type},
    {"byte-order mark and CRLF", test_bom_crlf},
    {"bool forms", test_bool_forms},
    {"sizes and durations", test_sizes_durations},
    {"ranges and formats", test_ranges},
    {"file refusals name file:line", test_file_refusals},
    {"missing file", test_missing_file},
    {"example file holds the defaults", test_example_file},
    {"block_cache_size = auto follows memory", test_block_cache_auto},
    {"plugin sections and their options", test_plugin_sections},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "config", .pInitFunc = tc_setup, .pCleanupFunc = tc_teardown, .pTests = tc_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
