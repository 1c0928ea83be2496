/*
 * test-catalog.c - the SQLite catalog: schema and WAL mode, node identity
 * and incarnation bumps across reopen, engine binding, plugin records,
 * metadata, and refusal of a catalog newer than the code.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node/catalog.h"
#include "gossip/membership.h"

static char tk_dir[] = "/tmp/dk-test-catalog-XXXXXX";
static char tk_err[1024];

static int tk_setup(void)
{
    return mkdtemp(tk_dir) ? 0 : -1;
}

static int tk_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tk_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh data directory path under the test folder (static buffer). */
static const char *tk_datadir(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tk_dir, name);
    return path;
}

/* Run one SQL query on data_dir/catalog.db with a separate connection and
 * return the first column of the first row as text (static buffer). */
static const char *tk_query(const char *data_dir, const char *sql)
{
    static char out[256];
    char path[600];
    sqlite3 *db;
    sqlite3_stmt *st;
    snprintf(path, sizeof path, "%s/catalog.db", data_dir);
    out[0] = '\0';
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return "(open failed)";
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
        else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            snprintf(out, sizeof out, "(error %s)", sqlite3_errmsg(db));
        sqlite3_finalize(st);
    } else {
        snprintf(out, sizeof out, "(error %s)", sqlite3_errmsg(db));
    }
    sqlite3_close(db);
    return out;
}

static void test_fresh_open(void)
{
    const char *dir = tk_datadir("fresh/nested/n1");
    dk_catalog *c = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_schema_version(c), 4);
    CU_ASSERT_EQUAL(DK_CATALOG_SCHEMA_VERSION, 4);
    CU_ASSERT_STRING_EQUAL(tk_query(dir, "PRAGMA journal_mode"), "wal");
    CU_ASSERT_STRING_EQUAL(tk_query(dir, "SELECT version FROM schema_version"), "4");
    CU_ASSERT_STRING_EQUAL(tk_query(dir, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                         "name IN ('node_identity', 'plugins', 'engine_binding', "
                                         "'meta', 'members', 'schema_version', 'repair_state', "
                                         "'stream_ranges', 'stream_cursors')"),
                           "9");
    dk_catalog_close(c);

    /* Reopen: same version, the migration is not run twice. */
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_schema_version(c), 4);
    CU_ASSERT_STRING_EQUAL(tk_query(dir, "SELECT count(*) FROM schema_version"), "1");
    CU_ASSERT_STRING_EQUAL(tk_query(dir, "PRAGMA journal_mode"), "wal");
    dk_catalog_close(c);
}

static void test_identity(void)
{
    const char *dir = tk_datadir("identity");
    char d[512];
    snprintf(d, sizeof d, "%s", dir);
    dk_catalog *c;
    uint32_t inc = 0;
    int created = -1;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_identity(c, "n1", 0, &inc, &created, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(inc, 1);
    CU_ASSERT_EQUAL(created, 1);
    dk_catalog_close(c);

    /* Restart: same incarnation. */
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_identity(c, "n1", 0, &inc, &created, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(inc, 1);
    CU_ASSERT_EQUAL(created, 0);
    /* Lost state: bumped, and the bump is on disk for another reader. */
    CU_ASSERT_EQUAL(dk_catalog_identity(c, "n1", 1, &inc, &created, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(inc, 2);
    CU_ASSERT_EQUAL(created, 0);
    CU_ASSERT_STRING_EQUAL(tk_query(d, "SELECT incarnation FROM node_identity"), "2");
    dk_catalog_close(c);

    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_identity(c, "n1", 0, &inc, &created, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(inc, 2);
    /* Peers remember a higher incarnation: raise to it, never lower. */
    CU_ASSERT_EQUAL(dk_catalog_raise_incarnation(c, 7, &inc, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(inc, 7);
    CU_ASSERT_EQUAL(dk_catalog_raise_incarnation(c, 3, &inc, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(inc, 7);
    CU_ASSERT_EQUAL(dk_catalog_identity(c, "n1", 1, &inc, &created, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(inc, 8);

    /* Another node id on this directory is refused, naming both. */
    CU_ASSERT_EQUAL(dk_catalog_identity(c, "n2", 0, &inc, &created, tk_err, sizeof tk_err), DK_EMISMATCH);
    char want[1600];
    snprintf(want, sizeof want,
             "%s/catalog.db: data directory %s belongs to node 'n1'; the "
             "configuration says node.id = 'n2'",
             d, d);
    CU_ASSERT_STRING_EQUAL(tk_err, want);
    CU_ASSERT_STRING_EQUAL(dk_catalog_errmsg(c), want);
    /* The refusal changed nothing. */
    CU_ASSERT_EQUAL(dk_catalog_identity(c, "n1", 0, &inc, &created, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(inc, 8);
    dk_catalog_close(c);
}

static void test_engine_binding(void)
{
    char d[512];
    snprintf(d, sizeof d, "%s", tk_datadir("engine"));
    dk_catalog *c;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_bind_engine(c, "memory", tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_bind_engine(c, "memory", tk_err, sizeof tk_err), 0);
    dk_catalog_close(c);
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_bind_engine(c, "lsm", tk_err, sizeof tk_err), DK_EMISMATCH);
    char want[1600];
    snprintf(want, sizeof want,
             "%s/catalog.db: data directory %s was written by engine 'memory'; "
             "the configuration asks for 'lsm'",
             d, d);
    CU_ASSERT_STRING_EQUAL(tk_err, want);
    CU_ASSERT_EQUAL(dk_catalog_bind_engine(c, "memory", tk_err, sizeof tk_err), 0);
    CU_ASSERT_STRING_EQUAL(tk_query(d, "SELECT count(*) FROM engine_binding"), "1");
    dk_catalog_close(c);
}

static void test_plugins(void)
{
    char d[512], name[65], version[32], sha[65];
    snprintf(d, sizeof d, "%s", tk_datadir("plugins"));
    dk_catalog *c;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_plugin(c, "engine", name, sizeof name, NULL, 0, NULL, 0), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(dk_catalog_record_plugin(c, "engine", "lsm", "1.0.0", "/p/engine-lsm.so", "ab12"), 0);
    CU_ASSERT_EQUAL(dk_catalog_record_plugin(c, "conflict", "vclock", "0.1", NULL, NULL), 0);
    /* A new record for a kind replaces the old one. */
    CU_ASSERT_EQUAL(dk_catalog_record_plugin(c, "engine", "memory", "2.0", "/p/engine-memory.so", "cd34"), 0);
    CU_ASSERT_EQUAL(
        dk_catalog_plugin(c, "engine", name, sizeof name, version, sizeof version, sha, sizeof sha), 0);
    CU_ASSERT_STRING_EQUAL(name, "memory");
    CU_ASSERT_STRING_EQUAL(version, "2.0");
    CU_ASSERT_STRING_EQUAL(sha, "cd34");
    dk_catalog_close(c);
    CU_ASSERT_STRING_EQUAL(tk_query(d, "SELECT count(*) FROM plugins"), "2");
    CU_ASSERT_STRING_EQUAL(tk_query(d, "SELECT path FROM plugins WHERE kind = 'engine'"),
                           "/p/engine-memory.so");
    CU_ASSERT_STRING_EQUAL(
        tk_query(d, "SELECT loaded_ms > 1600000000000 FROM plugins WHERE kind = 'conflict'"), "1");
}

static void test_meta(void)
{
    char d[512], val[16];
    snprintf(d, sizeof d, "%s", tk_datadir("meta"));
    dk_catalog *c;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_meta_get(c, "ring_epoch", val, sizeof val), DK_ENOTFOUND);
    CU_ASSERT_EQUAL(dk_catalog_meta_set(c, "ring_epoch", "41"), 0);
    CU_ASSERT_EQUAL(dk_catalog_meta_set(c, "ring_epoch", "42"), 0);
    CU_ASSERT_EQUAL(dk_catalog_meta_set(c, "empty", ""), 0);
    dk_catalog_close(c);
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_meta_get(c, "ring_epoch", val, sizeof val), 0);
    CU_ASSERT_STRING_EQUAL(val, "42");
    CU_ASSERT_EQUAL(dk_catalog_meta_get(c, "empty", val, sizeof val), 0);
    CU_ASSERT_STRING_EQUAL(val, "");
    CU_ASSERT_EQUAL(dk_catalog_meta_set(c, "long", "0123456789abcdef"), 0);
    CU_ASSERT_EQUAL(dk_catalog_meta_get(c, "long", val, sizeof val), DK_ETOOBIG);
    CU_ASSERT_EQUAL(dk_catalog_meta_get(c, "long", val, 3), DK_ETOOBIG);
    dk_catalog_close(c);
}

static void test_newer_schema_refused(void)
{
    char d[512];
    snprintf(d, sizeof d, "%s", tk_datadir("future"));
    dk_catalog *c;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    dk_catalog_close(c);
    CU_ASSERT_STRING_EQUAL(tk_query(d, "UPDATE schema_version SET version = 99"), "");
    c = (dk_catalog *)1;
    CU_ASSERT_EQUAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), DK_EUNSUPPORTED);
    CU_ASSERT_PTR_NULL(c);
    char want[1600];
    snprintf(want, sizeof want,
             "%s/catalog.db: catalog schema version 99 is newer than this dynkv "
             "understands (%d); run a dynkv release at least as new as the one that wrote it",
             d, DK_CATALOG_SCHEMA_VERSION);
    CU_ASSERT_STRING_EQUAL(tk_err, want);
    /* The refusal left the catalog as it was. */
    CU_ASSERT_STRING_EQUAL(tk_query(d, "SELECT version FROM schema_version"), "99");
}

static void test_bad_files(void)
{
    /* A file that is not SQLite: refused, naming the file. */
    char d[512], path[600];
    snprintf(d, sizeof d, "%s", tk_datadir("garbage"));
    CU_ASSERT_EQUAL_FATAL(mkdir(d, 0755), 0);
    snprintf(path, sizeof path, "%s/catalog.db", d);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (int i = 0; i < 512; i++)
        fputs("not a database ", f);
    fclose(f);
    dk_catalog *c;
    CU_ASSERT_EQUAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), DK_ECORRUPT);
    CU_ASSERT_EQUAL(strncmp(tk_err, path, strlen(path)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_err, "not a database"));

    /* A data_dir below a regular file cannot be created. */
    char below[700];
    snprintf(below, sizeof below, "%s/sub", path);
    CU_ASSERT(dk_catalog_open(below, &c, tk_err, sizeof tk_err) < 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_err, "cannot create the data directory"));
}

static void test_members(void)
{
    const char *dir = tk_datadir("members");
    dk_catalog *c = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    dk_member *m = NULL;
    size_t n = 99;
    CU_ASSERT_EQUAL(dk_catalog_members_load(c, &m, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(m);
    dk_member in[2];
    memset(in, 0, sizeof in);
    strcpy(in[0].id, "n1");
    strcpy(in[0].gossip_addr, "127.0.0.1:7946");
    strcpy(in[0].rpc_addr, "127.0.0.1:7070");
    strcpy(in[0].http_addr, "127.0.0.1:8080");
    strcpy(in[0].dc, "dc1");
    strcpy(in[0].rack, "r1");
    in[0].weight = 2;
    in[0].incarnation = 7;
    in[0].state = DK_MEMBER_NORMAL;
    in[0].updated_ms = 1234;
    in[0].status = DK_STATUS_LEAVING;
    in[0].actor_inc = 3;
    in[0].epoch = 1ull << 41;
    in[1] = in[0];
    strcpy(in[1].id, "n2");
    in[1].state = DK_MEMBER_DOWN;
    in[1].incarnation = 1ull << 40;
    in[1].status = DK_STATUS_JOINING;
    in[1].actor_inc = 0;
    in[1].epoch = 0;
    CU_ASSERT_EQUAL(dk_catalog_members_save(c, in, 2), 0);
    /* Saving replaces the whole table. */
    CU_ASSERT_EQUAL(dk_catalog_members_save(c, in, 2), 0);
    dk_catalog_close(c);
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL_FATAL(dk_catalog_members_load(c, &m, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(memcmp(&m[0], &in[0], sizeof in[0]), 0);
    CU_ASSERT_STRING_EQUAL(m[1].id, "n2");
    CU_ASSERT_EQUAL(m[1].state, DK_MEMBER_DOWN);
    CU_ASSERT_EQUAL(m[1].incarnation, 1ull << 40);
    CU_ASSERT_STRING_EQUAL(m[1].rpc_addr, "127.0.0.1:7070");
    /* a down member keeps its ring status */
    CU_ASSERT_EQUAL(m[1].status, DK_STATUS_JOINING);
    CU_ASSERT_EQUAL(m[0].status, DK_STATUS_LEAVING);
    CU_ASSERT_EQUAL(m[0].actor_inc, 3);
    free(m);
    dk_catalog_close(c);
    /* A malformed row is refused, not half-loaded. */
    tk_query(dir, "UPDATE members SET status = 'lost' WHERE node_id = 'n2'");
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_members_load(c, &m, &n), DK_ECORRUPT);
    CU_ASSERT_PTR_NULL(m);
    dk_catalog_close(c);
    tk_query(dir, "UPDATE members SET status = 'joining', state = 'zombie' WHERE node_id = 'n2'");
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_members_load(c, &m, &n), DK_ECORRUPT);
    CU_ASSERT_PTR_NULL(m);
    dk_catalog_close(c);
}

/* A catalog written by the previous schema (2) gains the ring status of
 * its members as 'normal' (what every member on the ring was) and the
 * stream progress table. */
static void test_migrate_v2(void)
{
    char d[512], path[600];
    snprintf(d, sizeof d, "%s", tk_datadir("v2"));
    CU_ASSERT_EQUAL_FATAL(mkdir(d, 0755), 0);
    snprintf(path, sizeof path, "%s/catalog.db", d);
    sqlite3 *db;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
    CU_ASSERT_EQUAL(
        sqlite3_exec(
            db,
            "CREATE TABLE schema_version(version INTEGER NOT NULL); INSERT INTO schema_version VALUES(2);"
            "CREATE TABLE node_identity(node_id TEXT NOT NULL, incarnation INTEGER NOT NULL,"
            " created_ms INTEGER NOT NULL);"
            "CREATE TABLE plugins(kind TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,"
            " path TEXT NOT NULL, sha256 TEXT NOT NULL, loaded_ms INTEGER NOT NULL, PRIMARY KEY(kind));"
            "CREATE TABLE engine_binding(engine TEXT NOT NULL);"
            "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE members(node_id TEXT PRIMARY KEY, address TEXT NOT NULL, dc TEXT NOT NULL,"
            " rack TEXT NOT NULL, weight INTEGER NOT NULL, state TEXT NOT NULL,"
            " incarnation INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
            " rpc_address TEXT NOT NULL DEFAULT '', http_address TEXT NOT NULL DEFAULT '');"
            "INSERT INTO members VALUES('n7', '127.0.0.7:7946', 'dc1', 'r1', 1, 'down', 4, 5,"
            " '127.0.0.7:7070', '127.0.0.7:8080');",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    dk_catalog *c;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(d, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_schema_version(c), 4);
    dk_member *m = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_members_load(c, &m, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(m[0].state, DK_MEMBER_DOWN);
    CU_ASSERT_EQUAL(m[0].status, DK_STATUS_NORMAL);
    CU_ASSERT_EQUAL(m[0].actor_inc, 0);
    free(m);
    dk_catalog_close(c);
    CU_ASSERT_STRING_EQUAL(tk_query(d, "SELECT count(*) FROM stream_ranges"), "0");
}

/* Streaming progress: cursors per (plan, source), completed ranges per
 * plan, reloaded after a reopen, and forgotten for other plans. */
static void test_stream_progress(void)
{
    const char *dir = tk_datadir("stream");
    dk_catalog *c = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    dk_catalog_cursor cur = {
        .source = "n2", .ranges_hash = "h1", .cursor = "user:9", .cursor_len = 6, .keys = 10, .bytes = 1000};
    dk_catalog_range done[2];
    memset(done, 0, sizeof done);
    done[0].span[0] = 1;
    done[0].keys = 3;
    done[1].span[31] = 7;
    done[1].bytes = 99;
    CU_ASSERT_EQUAL(dk_catalog_stream_save(c, "planA", &cur, NULL, 0), 0);
    cur.cursor_len = 7;
    memcpy(cur.cursor, "user:10", 7);
    CU_ASSERT_EQUAL(dk_catalog_stream_save(c, "planA", &cur, done, 2), 0);
    CU_ASSERT_EQUAL(dk_catalog_stream_save(c, "planB", NULL, done, 1), 0);
    dk_catalog_close(c);
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    dk_catalog_range *r = NULL;
    dk_catalog_cursor *k = NULL;
    size_t nr = 0, nk = 0;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_stream_load(c, "planA", &r, &nr, &k, &nk), 0);
    CU_ASSERT_EQUAL(nr, 2);
    CU_ASSERT_EQUAL(nk, 1);
    if (nr == 2 && nk == 1) {
        CU_ASSERT_EQUAL(memcmp(r[1].span, done[1].span, DK_CATALOG_SPAN), 0); /* by end token */
        CU_ASSERT_EQUAL(r[1].bytes, 99);
        CU_ASSERT_EQUAL(r[0].keys, 3);
        CU_ASSERT_STRING_EQUAL(k[0].source, "n2");
        CU_ASSERT_STRING_EQUAL(k[0].ranges_hash, "h1");
        CU_ASSERT(k[0].cursor_len == 7 && memcmp(k[0].cursor, "user:10", 7) == 0);
    }
    free(r);
    free(k);
    CU_ASSERT_EQUAL(dk_catalog_stream_forget(c, "planB"), 0);
    CU_ASSERT_EQUAL(dk_catalog_stream_load(c, "planA", &r, &nr, &k, &nk), 0);
    CU_ASSERT(nr == 0 && nk == 0 && !r && !k);
    CU_ASSERT_EQUAL(dk_catalog_stream_load(c, "planB", &r, &nr, &k, &nk), 0);
    CU_ASSERT_EQUAL(nr, 1);
    free(r);
    free(k);
    dk_catalog_close(c);
}

static void test_repair_rows(void)
{
    const char *dir = tk_datadir("repair");
    dk_catalog *c = NULL;
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    dk_repair_row *r = NULL;
    size_t n = 9;
    CU_ASSERT_EQUAL(dk_catalog_repair_load(c, &r, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    dk_repair_row in[2];
    memset(in, 0, sizeof in);
    strcpy(in[0].group, "n1,n2,n3/00000000deadbeef");
    strcpy(in[0].peer, "n2");
    in[0].last_start_ms = 1000;
    in[0].last_end_ms = 1500;
    in[0].keys_in = 3;
    in[0].keys_out = 1ull << 40;
    in[1] = in[0];
    strcpy(in[1].peer, "n3");
    CU_ASSERT_EQUAL(dk_catalog_repair_save(c, in, 2), 0);
    in[0].last_start_ms = 2000; /* a later exchange replaces the row */
    CU_ASSERT_EQUAL(dk_catalog_repair_save(c, in, 1), 0);
    dk_catalog_close(c);
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL_FATAL(dk_catalog_repair_load(c, &r, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(memcmp(&r[0], &in[0], sizeof in[0]), 0);
    CU_ASSERT_EQUAL(memcmp(&r[1], &in[1], sizeof in[1]), 0);
    free(r);
    dk_catalog_close(c);

    /* A version 2 catalog gains the table on open, rows are refused when
     * malformed. */
    tk_query(dir, "DROP TABLE repair_state");
    tk_query(dir, "DROP TABLE stream_ranges"); /* and what migration 4 adds */
    tk_query(dir, "DROP TABLE stream_cursors");
    tk_query(dir, "ALTER TABLE members DROP COLUMN status");
    tk_query(dir, "ALTER TABLE members DROP COLUMN actor_incarnation");
    tk_query(dir, "ALTER TABLE members DROP COLUMN epoch");
    tk_query(dir, "UPDATE schema_version SET version = 2");
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_schema_version(c), 4);
    CU_ASSERT_EQUAL(dk_catalog_repair_load(c, &r, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(dk_catalog_repair_save(c, in, 1), 0);
    dk_catalog_close(c);
    tk_query(dir, "UPDATE repair_state SET last_start_ms = -5");
    CU_ASSERT_EQUAL_FATAL(dk_catalog_open(dir, &c, tk_err, sizeof tk_err), 0);
    CU_ASSERT_EQUAL(dk_catalog_repair_load(c, &r, &n), DK_ECORRUPT);
    CU_ASSERT_PTR_NULL(r);
    dk_catalog_close(c);
}

static CU_TestInfo tk_tests[] = {
    {"streaming progress", test_stream_progress},
    {"schema 2 migrates to 4", test_migrate_v2},
    {"fresh open: schema 4, WAL", test_fresh_open},
    {"repair progress save/load, upgrade from schema 2", test_repair_rows},
    {"member table save/load", test_members},
    {"identity and incarnation", test_identity},
    {"engine binding", test_engine_binding},
    {"plugin records", test_plugins},
    {"meta get/set", test_meta},
    {"newer schema refused", test_newer_schema_refused},
    {"bad files refused", test_bad_files},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "catalog", .pInitFunc = tk_setup, .pCleanupFunc = tk_teardown, .pTests = tk_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
