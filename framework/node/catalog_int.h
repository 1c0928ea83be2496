/*
 * catalog_int.h - what the catalog's two files share, private to node/:
 * catalog.c (the database, its migrations, identity, plugins, meta and
 * members) and catalog_progress.c (the progress of streaming and of
 * anti-entropy repairs). The handle and the helpers every query uses:
 * errors worded "path: what: message" and kept as the catalog's last
 * error, statements prepared with text arguments, transactions.
 *
 * Called on whichever thread owns the catalog handle (one sqlite3* per
 * thread, never shared).
 */
#ifndef DK_CATALOG_INT_H
#define DK_CATALOG_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include "node/catalog.h"
#include "util/errors.h"

struct dk_catalog {
    sqlite3 *db;
    char *data_dir;
    char *path; /* data_dir/catalog.db */
    char errmsg[512];
};

/* Record "path: " and the formatted text as the catalog's last error (and
 * in err when given); returns code. */
int dk__cat_fail(dk_catalog *c, int code, char *err, size_t errlen, const char *fmt, ...) DK_PRINTF(5, 6);

/* A failed SQLite call with result src: "path: what: sqlite's message";
 * returns our code for src. */
int dk__cat_sqlfail(dk_catalog *c, int src, char *err, size_t errlen, const char *what);

/* Run sql (no rows); 0 or the error as dk__cat_sqlfail words it. */
int dk__cat_exec(dk_catalog *c, const char *sql, const char *what, char *err, size_t errlen);

/* Roll back the open transaction, if any. */
void dk__cat_rollback(dk_catalog *c);

/* Prepare sql into *st and bind the NULL-terminated text arguments to ?1,
 * ?2, ...; 0, or an error with *st finalised (NULL when binding failed). */
int dk__cat_prepare(dk_catalog *c, sqlite3_stmt **st, const char *sql, char *err, size_t errlen, ...);

/* Step st, which returns no rows, and finalise it; 0 or the catalog's
 * last error. */
int dk__cat_run(dk_catalog *c, sqlite3_stmt *st, const char *what);

/* Copy text column col of st into dst (len bytes); DK_ECORRUPT when it
 * does not fit. */
int dk__cat_col_text(sqlite3_stmt *st, int col, char *dst, size_t len);

#endif /* DK_CATALOG_INT_H */
