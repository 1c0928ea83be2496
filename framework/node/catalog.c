/*
 * catalog.c - the node's SQLite catalog (data_dir/catalog.db).
 *
 * SQLite in WAL mode with synchronous=FULL: a committed transaction is on
 * disk when COMMIT returns, which the incarnation bump relies on, and
 * readers in other connections (admin tools) do not block the node. The
 * schema evolves through the explicit, numbered cat_migrations list: each
 * step runs in its own BEGIN IMMEDIATE transaction that re-reads the
 * version first, so two processes opening the same fresh directory cannot
 * both apply a step, and a crash leaves the catalog at a whole version. A
 * catalog newer than the code is refused instead of being half understood.
 * (The alternative, "CREATE TABLE IF NOT EXISTS" at every start, cannot
 * alter a table later and cannot tell an old binary it is too old.)
 *
 * The progress of streaming and repairs lives in catalog_progress.c; the
 * handle and the query helpers both files use are in catalog_int.h.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "node/catalog.h"
#include "node/catalog_int.h"
#include "util/errors.h"
#include "base/member.h"

#define CAT_BUSY_TIMEOUT_MS 5000

/* Migration N (1-based) is cat_migrations[N - 1]. Append only: a shipped
 * step is never edited, a schema change is a new step. */
static const char *const cat_migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE node_identity(node_id TEXT NOT NULL, incarnation INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE plugins(kind TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,"
    " path TEXT NOT NULL, sha256 TEXT NOT NULL, loaded_ms INTEGER NOT NULL, PRIMARY KEY(kind));"
    "CREATE TABLE engine_binding(engine TEXT NOT NULL);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE members(node_id TEXT PRIMARY KEY, address TEXT NOT NULL, dc TEXT NOT NULL,"
    " rack TEXT NOT NULL, weight INTEGER NOT NULL, state TEXT NOT NULL,"
    " incarnation INTEGER NOT NULL, updated_ms INTEGER NOT NULL);",
    /* 2: peers need all three addresses of a member, not only gossip's */
    "ALTER TABLE members ADD COLUMN rpc_address TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE members ADD COLUMN http_address TEXT NOT NULL DEFAULT '';",
    /* 3: anti-entropy's last completed exchange per replica group and peer,
     * which the tombstone rule must not forget across restarts */
    "CREATE TABLE repair_state(grp TEXT NOT NULL, peer TEXT NOT NULL, last_start_ms INTEGER NOT NULL,"
    " last_end_ms INTEGER NOT NULL, keys_in INTEGER NOT NULL, keys_out INTEGER NOT NULL,"
    " PRIMARY KEY(grp, peer));",
    /* 4: ring status apart from liveness, the version-vector actor and
     * status epoch of each member, and the progress of the ranges this
     * node streams in: the ranges completed per plan, and per source the
     * key its stream continues after */
    "ALTER TABLE members ADD COLUMN status TEXT NOT NULL DEFAULT 'normal';"
    "ALTER TABLE members ADD COLUMN actor_incarnation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE members ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE stream_ranges(plan TEXT NOT NULL, range_start BLOB NOT NULL,"
    " range_end BLOB NOT NULL, keys INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " PRIMARY KEY(plan, range_end));"
    "CREATE TABLE stream_cursors(plan TEXT NOT NULL, source TEXT NOT NULL, ranges_hash TEXT NOT NULL,"
    " cursor BLOB NOT NULL, keys INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY(plan, source));",
};
#define CAT_NMIGRATIONS ((int)(sizeof cat_migrations / sizeof cat_migrations[0]))

_Static_assert(sizeof cat_migrations / sizeof cat_migrations[0] == DK_CATALOG_SCHEMA_VERSION,
               "DK_CATALOG_SCHEMA_VERSION must equal the number of migrations");

static int64_t cat_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Our code for an SQLite result code. */
static int cat_code(int src)
{
    switch (src & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return DK_ECORRUPT;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return DK_ETIMEOUT;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH: return -EACCES;
    default: return -EIO;
    }
}

/* Record "path: what: message" as the catalog's last error (and in err
 * when given); returns code. */
int dk__cat_fail(dk_catalog *c, int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(c->errmsg, sizeof c->errmsg, "%s: ", c->path);
    if (n >= 0 && (size_t)n < sizeof c->errmsg) {
        va_start(ap, fmt);
        vsnprintf(c->errmsg + n, sizeof c->errmsg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    if (err && errlen)
        snprintf(err, errlen, "%s", c->errmsg);
    return code;
}

/* A failed SQLite call: "path: what: sqlite's message". */
int dk__cat_sqlfail(dk_catalog *c, int src, char *err, size_t errlen, const char *what)
{
    return dk__cat_fail(c, cat_code(src), err, errlen, "%s: %s", what, sqlite3_errmsg(c->db));
}

int dk__cat_exec(dk_catalog *c, const char *sql, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : dk__cat_sqlfail(c, rc, err, errlen, what);
}

void dk__cat_rollback(dk_catalog *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Prepare sql and bind the NULL-terminated text arguments to ?1, ?2, ... */
int dk__cat_prepare(dk_catalog *c, sqlite3_stmt **st, const char *sql, char *err, size_t errlen, ...)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        return dk__cat_sqlfail(c, rc, err, errlen, "preparing a statement");
    va_list ap;
    va_start(ap, errlen);
    const char *arg;
    for (int i = 1; (arg = va_arg(ap, const char *)) != NULL; i++) {
        if ((rc = sqlite3_bind_text(*st, i, arg, -1, SQLITE_TRANSIENT)) != SQLITE_OK)
            break;
    }
    va_end(ap);
    if (rc != SQLITE_OK) {
        dk__cat_sqlfail(c, rc, err, errlen, "binding a value");
        sqlite3_finalize(*st);
        *st = NULL;
        return cat_code(rc);
    }
    return 0;
}

/* mkdir -p dir (mode 0755 for what it creates). */
static int cat_mkdirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -ENOMEM;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char save = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = save;
        if (save == '\0')
            break;
    }
    struct stat sb;
    if (rc == 0 && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        rc = -ENOTDIR;
    free(p);
    return rc;
}

/* The stored schema version (0 for a new catalog). Inside a transaction. */
static int cat_read_version(dk_catalog *c, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = dk__cat_prepare(c, &st, "SELECT max(version) FROM schema_version", err, errlen, NULL);
    if (rc)
        return rc;
    rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    if (rc != SQLITE_ROW)
        rc = dk__cat_sqlfail(c, rc, err, errlen, "reading the schema version");
    else if (v < 0 || v > 1000000)
        rc = dk__cat_fail(c, DK_ECORRUPT, err, errlen, "schema version %lld is not valid", (long long)v);
    else
        rc = (int)v;
    sqlite3_finalize(st);
    return rc;
}

static int cat_migrate(dk_catalog *c, char *err, size_t errlen)
{
    int rc = dk__cat_exec(c, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)",
                          "creating the schema_version table", err, errlen);
    for (;;) {
        if (rc || (rc = dk__cat_exec(c, "BEGIN IMMEDIATE", "starting a migration", err, errlen)))
            return rc;
        int v = cat_read_version(c, err, errlen);
        if (v < 0) {
            rc = v;
            break;
        }
        if (v > CAT_NMIGRATIONS) {
            rc = dk__cat_fail(c, DK_EUNSUPPORTED, err, errlen,
                              "catalog schema version %d is newer than this dynkv understands (%d); "
                              "run a dynkv release at least as new as the one that wrote it",
                              v, CAT_NMIGRATIONS);
            break;
        }
        if (v == CAT_NMIGRATIONS)
            return dk__cat_exec(c, "COMMIT", "committing", err, errlen);
        char what[64], sql[96];
        snprintf(what, sizeof what, "applying migration %d", v + 1);
        snprintf(sql, sizeof sql, "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d)", v + 1);
        if ((rc = dk__cat_exec(c, cat_migrations[v], what, err, errlen)) != 0 ||
            (rc = dk__cat_exec(c, sql, what, err, errlen)) != 0 ||
            (rc = dk__cat_exec(c, "COMMIT", what, err, errlen)) != 0)
            break;
    }
    dk__cat_rollback(c);
    return rc;
}

int dk_catalog_open(const char *data_dir, dk_catalog **out, char *err, size_t errlen)
{
    *out = NULL;
    dk_catalog *c = calloc(1, sizeof *c);
    size_t n = strlen(data_dir);
    if (!c || !(c->data_dir = strdup(data_dir)) || !(c->path = malloc(n + sizeof "/catalog.db"))) {
        snprintf(err, errlen, "%s/catalog.db: out of memory", data_dir);
        dk_catalog_close(c);
        return -ENOMEM;
    }
    snprintf(c->path, n + sizeof "/catalog.db", "%s/catalog.db", data_dir);

    int rc = cat_mkdirs(data_dir);
    if (rc) {
        snprintf(err, errlen, "%s: cannot create the data directory: %s", data_dir, dk_strerror(rc));
        dk_catalog_close(c);
        return rc;
    }
    int src = sqlite3_open_v2(c->path, &c->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = c->db ? dk__cat_sqlfail(c, src, err, errlen, "cannot open")
                   : dk__cat_fail(c, -ENOMEM, err, errlen, "cannot open: out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, CAT_BUSY_TIMEOUT_MS);

    /* journal_mode answers with the mode in effect, which is not WAL when
     * the file system cannot do it: refuse rather than run without it. */
    sqlite3_stmt *st;
    if ((rc = dk__cat_prepare(c, &st, "PRAGMA journal_mode=WAL", err, errlen, NULL)) != 0)
        goto fail;
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = dk__cat_sqlfail(c, src, err, errlen, "cannot switch to WAL mode");
    } else if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        rc = dk__cat_fail(c, -EIO, err, errlen, "cannot switch to WAL mode (journal mode stays %s)",
                          (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc || (rc = dk__cat_exec(c, "PRAGMA synchronous=FULL", "setting synchronous=FULL", err, errlen)) ||
        (rc = cat_migrate(c, err, errlen)))
        goto fail;
    c->errmsg[0] = '\0';
    *out = c;
    return 0;
fail:
    dk_catalog_close(c);
    return rc;
}

void dk_catalog_close(dk_catalog *c)
{
    if (!c)
        return;
    if (c->db)
        sqlite3_close(c->db);
    free(c->data_dir);
    free(c->path);
    free(c);
}

int dk_catalog_schema_version(dk_catalog *c)
{
    return cat_read_version(c, NULL, 0);
}

/* Read the single identity row: 1 with *incarnation set and node_id
 * copied, 0 when there is none, or a negative code. */
static int cat_read_identity(dk_catalog *c, char *node_id, size_t idlen, uint32_t *incarnation, char *err,
                             size_t errlen)
{
    sqlite3_stmt *st;
    int rc = dk__cat_prepare(c, &st, "SELECT node_id, incarnation FROM node_identity", err, errlen, NULL);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = 0;
    } else if (src != SQLITE_ROW) {
        rc = dk__cat_sqlfail(c, src, err, errlen, "reading the node identity");
    } else {
        int64_t inc = sqlite3_column_int64(st, 1);
        const char *id = (const char *)sqlite3_column_text(st, 0);
        int ok = id && inc >= 1 && inc <= UINT32_MAX;
        if (ok)
            snprintf(node_id, idlen, "%s", id);
        /* Stepping again invalidates id: copied above. */
        if (!ok || sqlite3_step(st) != SQLITE_DONE) {
            rc = dk__cat_fail(c, DK_ECORRUPT, err, errlen,
                              "the node_identity table is malformed "
                              "(expected one row with an incarnation in 1..%u)",
                              UINT32_MAX);
        } else {
            *incarnation = (uint32_t)inc;
            rc = 1;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int cat_store_incarnation(dk_catalog *c, uint32_t inc, char *err, size_t errlen)
{
    char sql[80];
    snprintf(sql, sizeof sql, "UPDATE node_identity SET incarnation = %u", inc);
    return dk__cat_exec(c, sql, "storing the incarnation", err, errlen);
}

int dk_catalog_identity(dk_catalog *c, const char *node_id, int state_lost, uint32_t *incarnation,
                        int *created, char *err, size_t errlen)
{
    char stored[DK_NODE_ID_MAX + 2];
    uint32_t inc = 0;
    size_t idlen = strlen(node_id);
    if (idlen == 0 || idlen > DK_NODE_ID_MAX)
        return dk__cat_fail(c, DK_ECONFIG, err, errlen, "node id '%s' must have 1..%u characters", node_id,
                            DK_NODE_ID_MAX);
    int rc = dk__cat_exec(c, "BEGIN IMMEDIATE", "starting a transaction", err, errlen);
    if (rc)
        return rc;
    int found = cat_read_identity(c, stored, sizeof stored, &inc, err, errlen);
    if (found < 0) {
        rc = found;
        goto fail;
    }
    if (!found) {
        char sql[64];
        sqlite3_stmt *st;
        snprintf(sql, sizeof sql, "INSERT INTO node_identity VALUES(?1, 1, %lld)", (long long)cat_now_ms());
        if ((rc = dk__cat_prepare(c, &st, sql, err, errlen, node_id, NULL)) != 0)
            goto fail;
        int src = sqlite3_step(st);
        sqlite3_finalize(st);
        if (src != SQLITE_DONE) {
            rc = dk__cat_sqlfail(c, src, err, errlen, "storing the node identity");
            goto fail;
        }
        inc = 1;
    } else if (strcmp(stored, node_id) != 0) {
        rc = dk__cat_fail(c, DK_EMISMATCH, err, errlen,
                          "data directory %s belongs to node '%s'; the "
                          "configuration says node.id = '%s'",
                          c->data_dir, stored, node_id);
        goto fail;
    } else if (state_lost) {
        if (inc == UINT32_MAX) {
            rc = dk__cat_fail(c, DK_ETOOBIG, err, errlen, "incarnation %u cannot be incremented", inc);
            goto fail;
        }
        if ((rc = cat_store_incarnation(c, ++inc, err, errlen)) != 0)
            goto fail;
    }
    if ((rc = dk__cat_exec(c, "COMMIT", "committing the node identity", err, errlen)) != 0)
        goto fail;
    *incarnation = inc;
    *created = !found;
    return 0;
fail:
    dk__cat_rollback(c);
    return rc;
}

int dk_catalog_raise_incarnation(dk_catalog *c, uint32_t min, uint32_t *incarnation, char *err, size_t errlen)
{
    char stored[DK_NODE_ID_MAX + 2];
    uint32_t inc = 0;
    int rc = dk__cat_exec(c, "BEGIN IMMEDIATE", "starting a transaction", err, errlen);
    if (rc)
        return rc;
    int found = cat_read_identity(c, stored, sizeof stored, &inc, err, errlen);
    if (found <= 0) {
        rc = found < 0 ? found : dk__cat_fail(c, DK_ENOTFOUND, err, errlen, "no node identity stored yet");
        goto fail;
    }
    if (inc < min && (rc = cat_store_incarnation(c, min, err, errlen)) != 0)
        goto fail;
    if ((rc = dk__cat_exec(c, "COMMIT", "committing the incarnation", err, errlen)) != 0)
        goto fail;
    *incarnation = inc < min ? min : inc;
    return 0;
fail:
    dk__cat_rollback(c);
    return rc;
}

int dk_catalog_bind_engine(dk_catalog *c, const char *engine, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = dk__cat_exec(c, "BEGIN IMMEDIATE", "starting a transaction", err, errlen);
    if (rc)
        return rc;
    if ((rc = dk__cat_prepare(c, &st, "SELECT engine FROM engine_binding", err, errlen, NULL)) != 0)
        goto fail;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *bound = (const char *)sqlite3_column_text(st, 0);
        if (!bound || strcmp(bound, engine) != 0) {
            rc = dk__cat_fail(c, DK_EMISMATCH, err, errlen,
                              "data directory %s was written by engine '%s'; "
                              "the configuration asks for '%s'",
                              c->data_dir, bound ? bound : "", engine);
            goto fail;
        }
    } else if (src != SQLITE_DONE) {
        rc = dk__cat_sqlfail(c, src, err, errlen, "reading the engine binding");
        goto fail;
    } else {
        sqlite3_finalize(st);
        if ((rc =
                 dk__cat_prepare(c, &st, "INSERT INTO engine_binding VALUES(?1)", err, errlen, engine, NULL)))
            goto fail;
        if ((src = sqlite3_step(st)) != SQLITE_DONE) {
            rc = dk__cat_sqlfail(c, src, err, errlen, "storing the engine binding");
            goto fail;
        }
    }
    sqlite3_finalize(st);
    return dk__cat_exec(c, "COMMIT", "committing the engine binding", err, errlen);
fail:
    sqlite3_finalize(st);
    dk__cat_rollback(c);
    return rc;
}

/* Run a statement that returns no rows; the catalog's last error on failure. */
int dk__cat_run(dk_catalog *c, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    int rc = src == SQLITE_DONE ? 0 : dk__cat_sqlfail(c, src, NULL, 0, what);
    sqlite3_finalize(st);
    return rc;
}

int dk_catalog_record_plugin(dk_catalog *c, const char *kind, const char *name, const char *version,
                             const char *path, const char *sha256_hex)
{
    char sql[128];
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO plugins VALUES(?1, ?2, ?3, ?4, ?5, %lld)",
             (long long)cat_now_ms());
    int rc = dk__cat_prepare(c, &st, sql, NULL, 0, kind, name, version ? version : "", path ? path : "",
                             sha256_hex ? sha256_hex : "", NULL);
    return rc ? rc : dk__cat_run(c, st, "recording a plugin");
}

/* Copy column i of st into buf (when buf is given), truncating. */
static void cat_copy_col(sqlite3_stmt *st, int i, char *buf, size_t len)
{
    if (buf && len) {
        const char *s = (const char *)sqlite3_column_text(st, i);
        snprintf(buf, len, "%s", s ? s : "");
    }
}

int dk_catalog_plugin(dk_catalog *c, const char *kind, char *name, size_t namelen, char *version,
                      size_t versionlen, char *sha256_hex, size_t shalen)
{
    sqlite3_stmt *st;
    int rc = dk__cat_prepare(c, &st, "SELECT name, version, sha256 FROM plugins WHERE kind = ?1", NULL, 0,
                             kind, NULL);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        cat_copy_col(st, 0, name, namelen);
        cat_copy_col(st, 1, version, versionlen);
        cat_copy_col(st, 2, sha256_hex, shalen);
    } else {
        rc = src == SQLITE_DONE ? DK_ENOTFOUND : dk__cat_sqlfail(c, src, NULL, 0, "reading a plugin record");
    }
    sqlite3_finalize(st);
    return rc;
}

int dk_catalog_meta_get(dk_catalog *c, const char *key, char *val, size_t vallen)
{
    sqlite3_stmt *st;
    int rc = dk__cat_prepare(c, &st, "SELECT value FROM meta WHERE key = ?1", NULL, 0, key, NULL);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (n + 1 > vallen)
            rc = DK_ETOOBIG;
        else if (v)
            memcpy(val, v, n + 1);
        else
            val[0] = '\0';
    } else {
        rc = src == SQLITE_DONE ? DK_ENOTFOUND : dk__cat_sqlfail(c, src, NULL, 0, "reading metadata");
    }
    sqlite3_finalize(st);
    return rc;
}

int dk_catalog_meta_set(dk_catalog *c, const char *key, const char *val)
{
    sqlite3_stmt *st;
    int rc = dk__cat_prepare(c, &st, "INSERT OR REPLACE INTO meta VALUES(?1, ?2)", NULL, 0, key, val, NULL);
    return rc ? rc : dk__cat_run(c, st, "storing metadata");
}

const char *dk_catalog_errmsg(dk_catalog *c)
{
    return c->errmsg;
}

int dk_catalog_members_save(dk_catalog *c, const dk_member *m, size_t n)
{
    int rc = dk__cat_exec(c, "BEGIN IMMEDIATE", "saving members", NULL, 0);
    if (rc)
        return rc;
    rc = dk__cat_exec(c, "DELETE FROM members", "saving members", NULL, 0);
    sqlite3_stmt *st = NULL;
    if (!rc && sqlite3_prepare_v2(
                   c->db,
                   "INSERT INTO members(node_id, address, dc, rack, weight, state, incarnation, updated_ms,"
                   " rpc_address, http_address, status, actor_incarnation, epoch)"
                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                   -1, &st, NULL) != SQLITE_OK)
        rc = dk__cat_sqlfail(c, sqlite3_errcode(c->db), NULL, 0, "saving members");
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, m[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, m[i].gossip_addr, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, m[i].dc, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, m[i].rack, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, m[i].weight);
        sqlite3_bind_text(st, 6, dk_member_state_name(m[i].state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)m[i].incarnation);
        sqlite3_bind_int64(st, 8, m[i].updated_ms);
        sqlite3_bind_text(st, 9, m[i].rpc_addr, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, m[i].http_addr, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, dk_member_status_name(m[i].status), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 12, m[i].actor_inc);
        sqlite3_bind_int64(st, 13, (sqlite3_int64)m[i].epoch);
        int src = sqlite3_step(st);
        if (src != SQLITE_DONE)
            rc = dk__cat_sqlfail(c, src, NULL, 0, "saving a member");
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = dk__cat_exec(c, "COMMIT", "saving members", NULL, 0);
    if (rc)
        dk__cat_rollback(c);
    return rc;
}

/* Copy column col of st into a fixed field; DK_ECORRUPT when it does not fit. */
int dk__cat_col_text(sqlite3_stmt *st, int col, char *dst, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = t ? strlen((const char *)t) : 0;
    if (n >= len)
        return DK_ECORRUPT;
    memcpy(dst, t ? (const char *)t : "", n + 1);
    return 0;
}

int dk_catalog_members_load(dk_catalog *c, dk_member **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            c->db,
            "SELECT node_id, address, rpc_address, http_address, dc, rack, weight, state,"
            " incarnation, updated_ms, status, actor_incarnation, epoch FROM members ORDER BY node_id",
            -1, &st, NULL) != SQLITE_OK)
        return dk__cat_sqlfail(c, sqlite3_errcode(c->db), NULL, 0, "loading members");
    dk_member *m = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0, src;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            dk_member *nm = realloc(m, cap * sizeof(*m));
            if (!nm) {
                rc = -ENOMEM;
                break;
            }
            m = nm;
        }
        dk_member *x = &m[cnt];
        memset(x, 0, sizeof(*x));
        sqlite3_int64 w = sqlite3_column_int64(st, 6), inc = sqlite3_column_int64(st, 8);
        sqlite3_int64 actor = sqlite3_column_int64(st, 11);
        if (dk__cat_col_text(st, 0, x->id, sizeof x->id) ||
            dk__cat_col_text(st, 1, x->gossip_addr, sizeof x->gossip_addr) ||
            dk__cat_col_text(st, 2, x->rpc_addr, sizeof x->rpc_addr) ||
            dk__cat_col_text(st, 3, x->http_addr, sizeof x->http_addr) ||
            dk__cat_col_text(st, 4, x->dc, sizeof x->dc) ||
            dk__cat_col_text(st, 5, x->rack, sizeof x->rack) || w < 1 || w > 100 || inc < 0 || actor < 0 ||
            actor > UINT32_MAX || sqlite3_column_int64(st, 12) < 0 ||
            dk_member_state_parse((const char *)sqlite3_column_text(st, 7), &x->state) != 0 ||
            dk_member_status_parse((const char *)sqlite3_column_text(st, 10), &x->status) != 0) {
            rc = dk__cat_fail(c, DK_ECORRUPT, NULL, 0, "members row %zu is malformed", cnt + 1);
            break;
        }
        x->weight = (uint32_t)w;
        x->incarnation = (uint64_t)inc;
        x->updated_ms = sqlite3_column_int64(st, 9);
        x->actor_inc = (uint32_t)actor;
        x->epoch = (uint64_t)sqlite3_column_int64(st, 12);
        cnt++;
    }
    if (!rc && src != SQLITE_DONE)
        rc = dk__cat_sqlfail(c, src, NULL, 0, "loading members");
    sqlite3_finalize(st);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    *n = cnt;
    return 0;
}
