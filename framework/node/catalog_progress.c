/*
 * catalog_progress.c - the catalog's record of work that must survive a
 * restart: the ranges a node streams in (per plan, the ranges completed
 * and, per source, the key its stream continues after) and anti-entropy's
 * last completed exchange per replica group and peer (which the tombstone
 * rule must not forget). Tables stream_ranges, stream_cursors and
 * repair_state, created by the migrations in catalog.c.
 *
 * A save writes its rows in one BEGIN IMMEDIATE transaction, so a crash
 * leaves either the previous progress or the new one. A load checks each
 * row's shape and refuses a malformed one with DK_ECORRUPT naming the
 * table and row.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "node/catalog.h"
#include "node/catalog_int.h"

int dk_catalog_stream_load(dk_catalog *c, const char *plan, dk_catalog_range **ranges, size_t *n_ranges,
                           dk_catalog_cursor **cursors, size_t *n_cursors)
{
    *ranges = NULL;
    *cursors = NULL;
    *n_ranges = *n_cursors = 0;
    sqlite3_stmt *st;
    int rc = dk__cat_prepare(c, &st,
                             "SELECT range_start, range_end, keys, bytes FROM stream_ranges"
                             " WHERE plan = ?1 ORDER BY range_end",
                             NULL, 0, plan, NULL);
    if (rc)
        return rc;
    size_t cap = 0;
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != DK_CATALOG_SPAN / 2 ||
            sqlite3_column_bytes(st, 1) != DK_CATALOG_SPAN / 2) {
            rc = dk__cat_fail(c, DK_ECORRUPT, NULL, 0, "stream_ranges row %zu is malformed", *n_ranges + 1);
            break;
        }
        if (*n_ranges == cap) {
            cap = cap ? cap * 2 : 64;
            dk_catalog_range *nr = realloc(*ranges, cap * sizeof(**ranges));
            if (!nr) {
                rc = -ENOMEM;
                break;
            }
            *ranges = nr;
        }
        dk_catalog_range *r = &(*ranges)[(*n_ranges)++];
        memcpy(r->span, sqlite3_column_blob(st, 0), DK_CATALOG_SPAN / 2);
        memcpy(r->span + DK_CATALOG_SPAN / 2, sqlite3_column_blob(st, 1), DK_CATALOG_SPAN / 2);
        r->keys = (uint64_t)sqlite3_column_int64(st, 2);
        r->bytes = (uint64_t)sqlite3_column_int64(st, 3);
    }
    if (!rc && src != SQLITE_DONE)
        rc = dk__cat_sqlfail(c, src, NULL, 0, "loading stream ranges");
    sqlite3_finalize(st);
    st = NULL;
    if (!rc)
        rc = dk__cat_prepare(c, &st,
                             "SELECT source, ranges_hash, cursor, keys, bytes FROM stream_cursors"
                             " WHERE plan = ?1 ORDER BY source",
                             NULL, 0, plan, NULL);
    cap = 0;
    src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        int clen = sqlite3_column_bytes(st, 2);
        if (*n_cursors == cap) {
            cap = cap ? cap * 2 : 8;
            dk_catalog_cursor *nc = realloc(*cursors, cap * sizeof(**cursors));
            if (!nc) {
                rc = -ENOMEM;
                break;
            }
            *cursors = nc;
        }
        dk_catalog_cursor *x = &(*cursors)[*n_cursors];
        memset(x, 0, sizeof(*x));
        if (clen < 0 || clen > (int)DK_CATALOG_CURSOR_MAX ||
            dk__cat_col_text(st, 0, x->source, sizeof x->source) ||
            dk__cat_col_text(st, 1, x->ranges_hash, sizeof x->ranges_hash)) {
            rc = dk__cat_fail(c, DK_ECORRUPT, NULL, 0, "stream_cursors row %zu is malformed", *n_cursors + 1);
            break;
        }
        if (clen)
            memcpy(x->cursor, sqlite3_column_blob(st, 2), (size_t)clen);
        x->cursor_len = (size_t)clen;
        x->keys = (uint64_t)sqlite3_column_int64(st, 3);
        x->bytes = (uint64_t)sqlite3_column_int64(st, 4);
        (*n_cursors)++;
    }
    if (!rc && st && src != SQLITE_DONE)
        rc = dk__cat_sqlfail(c, src, NULL, 0, "loading stream cursors");
    sqlite3_finalize(st);
    if (rc) {
        free(*ranges);
        free(*cursors);
        *ranges = NULL;
        *cursors = NULL;
        *n_ranges = *n_cursors = 0;
    }
    return rc;
}

int dk_catalog_stream_save(dk_catalog *c, const char *plan, const dk_catalog_cursor *cur,
                           const dk_catalog_range *done, size_t n_done)
{
    int rc = dk__cat_exec(c, "BEGIN IMMEDIATE", "saving stream progress", NULL, 0);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    if (cur) {
        rc = dk__cat_prepare(c, &st, "INSERT OR REPLACE INTO stream_cursors VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                             NULL, 0, plan, cur->source, cur->ranges_hash, NULL);
        if (!rc) {
            sqlite3_bind_blob(st, 4, cur->cursor, (int)cur->cursor_len, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 5, (sqlite3_int64)cur->keys);
            sqlite3_bind_int64(st, 6, (sqlite3_int64)cur->bytes);
            rc = dk__cat_run(c, st, "saving a stream cursor");
        }
    }
    if (!rc && n_done)
        rc = dk__cat_prepare(c, &st, "INSERT OR REPLACE INTO stream_ranges VALUES(?1, ?2, ?3, ?4, ?5)", NULL,
                             0, plan, NULL);
    for (size_t i = 0; !rc && i < n_done; i++) {
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 2, done[i].span, DK_CATALOG_SPAN / 2, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, done[i].span + DK_CATALOG_SPAN / 2, DK_CATALOG_SPAN / 2, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)done[i].keys);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)done[i].bytes);
        int src = sqlite3_step(st);
        if (src != SQLITE_DONE)
            rc = dk__cat_sqlfail(c, src, NULL, 0, "saving a completed stream range");
    }
    if (n_done)
        sqlite3_finalize(st);
    if (!rc)
        rc = dk__cat_exec(c, "COMMIT", "saving stream progress", NULL, 0);
    if (rc)
        dk__cat_rollback(c);
    return rc;
}

int dk_catalog_repair_save(dk_catalog *c, const dk_repair_row *rows, size_t n)
{
    int rc = dk__cat_exec(c, "BEGIN IMMEDIATE", "saving repair progress", NULL, 0);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO repair_state VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1,
                           &st, NULL) != SQLITE_OK)
        rc = dk__cat_sqlfail(c, sqlite3_errcode(c->db), NULL, 0, "saving repair progress");
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, rows[i].group, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rows[i].peer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, rows[i].last_start_ms);
        sqlite3_bind_int64(st, 4, rows[i].last_end_ms);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)rows[i].keys_in);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)rows[i].keys_out);
        int src = sqlite3_step(st);
        if (src != SQLITE_DONE)
            rc = dk__cat_sqlfail(c, src, NULL, 0, "saving a repair row");
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = dk__cat_exec(c, "COMMIT", "saving repair progress", NULL, 0);
    if (rc)
        dk__cat_rollback(c);
    return rc;
}

int dk_catalog_stream_forget(dk_catalog *c, const char *keep)
{
    sqlite3_stmt *st;
    int rc = dk__cat_prepare(c, &st, "DELETE FROM stream_ranges WHERE plan != ?1", NULL, 0, keep, NULL);
    if (!rc)
        rc = dk__cat_run(c, st, "forgetting stream ranges");
    if (!rc)
        rc = dk__cat_prepare(c, &st, "DELETE FROM stream_cursors WHERE plan != ?1", NULL, 0, keep, NULL);
    if (!rc)
        rc = dk__cat_run(c, st, "forgetting stream cursors");
    return rc;
}

int dk_catalog_repair_load(dk_catalog *c, dk_repair_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT grp, peer, last_start_ms, last_end_ms, keys_in, keys_out"
                           " FROM repair_state ORDER BY grp, peer",
                           -1, &st, NULL) != SQLITE_OK)
        return dk__cat_sqlfail(c, sqlite3_errcode(c->db), NULL, 0, "loading repair progress");
    dk_repair_row *r = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0, src;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            dk_repair_row *nr = realloc(r, cap * sizeof(*r));
            if (!nr) {
                rc = -ENOMEM;
                break;
            }
            r = nr;
        }
        dk_repair_row *x = &r[cnt];
        memset(x, 0, sizeof(*x));
        x->last_start_ms = sqlite3_column_int64(st, 2);
        x->last_end_ms = sqlite3_column_int64(st, 3);
        sqlite3_int64 in = sqlite3_column_int64(st, 4), outk = sqlite3_column_int64(st, 5);
        if (dk__cat_col_text(st, 0, x->group, sizeof x->group) ||
            dk__cat_col_text(st, 1, x->peer, sizeof x->peer) || !x->group[0] || !x->peer[0] ||
            x->last_start_ms < 0 || x->last_end_ms < 0 || in < 0 || outk < 0) {
            rc = dk__cat_fail(c, DK_ECORRUPT, NULL, 0, "repair_state row %zu is malformed", cnt + 1);
            break;
        }
        x->keys_in = (uint64_t)in;
        x->keys_out = (uint64_t)outk;
        cnt++;
    }
    if (!rc && src != SQLITE_DONE)
        rc = dk__cat_sqlfail(c, src, NULL, 0, "loading repair progress");
    sqlite3_finalize(st);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    *n = cnt;
    return 0;
}
