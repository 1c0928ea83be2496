/*
 * catalog.h - the node's durable bookkeeping in SQLite
 * (data_dir/catalog.db): node identity and incarnation, the engine bound to
 * the data directory, the loaded plugins, generic key/value metadata and
 * (for the cluster work) the membership table and anti-entropy's progress.
 *
 * Threads: a dk_catalog owns one sqlite3 connection and must be used from
 * one thread at a time (any thread, not concurrently); open one catalog per
 * thread that needs it. Every call may block on disk (writes are fsynced),
 * so never call it on a loop thread.
 *
 * Errors: functions return 0 or a negative code (DK_E* or -errno). Those
 * that take err/errlen write a one-line message naming data_dir/catalog.db
 * and SQLite's reason; the others keep it for dk_catalog_errmsg.
 */
#ifndef DK_CATALOG_H
#define DK_CATALOG_H
#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "base/member.h"

/* Schema version this code creates and understands. */
#define DK_CATALOG_SCHEMA_VERSION 4

typedef struct dk_catalog dk_catalog;

/* Create data_dir (like mkdir -p) and data_dir/catalog.db if needed, set
 * WAL mode and synchronous=FULL, and run the pending migrations, each in
 * its own transaction. A catalog whose schema is newer than this code is
 * refused (DK_EUNSUPPORTED); an unreadable or corrupt one gives
 * DK_ECORRUPT or -errno. On success *out is owned by the caller
 * (dk_catalog_close). */
int dk_catalog_open(const char *data_dir, dk_catalog **out, char *err, size_t errlen);

/* Close the connection and free c; NULL is accepted. */
void dk_catalog_close(dk_catalog *c);

/* The schema version of the open catalog (DK_CATALOG_SCHEMA_VERSION once
 * open succeeded), or a negative code. */
int dk_catalog_schema_version(dk_catalog *c);

/*
 * The node's identity. First start: store node_id with incarnation 1 and
 * set *created = 1. Later starts: node_id must equal the stored id
 * (otherwise DK_EMISMATCH, the message names both); *created = 0. When
 * state_lost != 0 on a later start, the incarnation is incremented and the
 * change committed (fsynced) before returning, so version-vector actors of
 * a node that lost its data are never reused. *incarnation gets the
 * current value. On a first start state_lost changes nothing (the
 * catalog itself is new): a node whose whole data directory was wiped
 * learns its last incarnation from peers and calls
 * dk_catalog_raise_incarnation.
 */
int dk_catalog_identity(dk_catalog *c, const char *node_id, int state_lost, uint32_t *incarnation,
                        int *created, char *err, size_t errlen);

/* Raise the stored incarnation to at least min (e.g. when peers remember a
 * higher one for this node after its disk was replaced) and store the
 * result in *incarnation. Requires dk_catalog_identity to have run.
 * Committed durably before returning. */
int dk_catalog_raise_incarnation(dk_catalog *c, uint32_t min, uint32_t *incarnation, char *err,
                                 size_t errlen);

/* Bind the data directory to an engine: the first call records engine,
 * later calls with the same name succeed, with another name fail with
 * DK_EMISMATCH: "data directory D was written by engine 'a'; the
 * configuration asks for 'b'". */
int dk_catalog_bind_engine(dk_catalog *c, const char *engine, char *err, size_t errlen);

/* Record the plugin currently loaded for kind ("engine", "compaction",
 * "conflict", "codec"), replacing the previous record of that kind, with
 * the load time. version, path and sha256_hex may be NULL (stored empty). */
int dk_catalog_record_plugin(dk_catalog *c, const char *kind, const char *name, const char *version,
                             const char *path, const char *sha256_hex);

/* Read the plugin recorded for kind into the given buffers (each may be
 * NULL; strings are truncated to their length). DK_ENOTFOUND when none. */
int dk_catalog_plugin(dk_catalog *c, const char *kind, char *name, size_t namelen, char *version,
                      size_t versionlen, char *sha256_hex, size_t shalen);

/* Generic metadata. get copies the value with its NUL into val: returns 0,
 * DK_ENOTFOUND, or DK_ETOOBIG when vallen is too small. */
int dk_catalog_meta_get(dk_catalog *c, const char *key, char *val, size_t vallen);
int dk_catalog_meta_set(dk_catalog *c, const char *key, const char *val);

/* The message of the last failure on c ("" if none); valid until the next
 * call on c, same thread. */
const char *dk_catalog_errmsg(dk_catalog *c);


/* Replace the persisted member table with m[0..n) in one durable
 * transaction. Blocking: call it on a worker, never on a loop thread. */
int dk_catalog_members_save(dk_catalog *c, const dk_member *m, size_t n);

/* Load the persisted member table into a malloc'd array (*out NULL and *n 0
 * when empty; the caller frees it). DK_ECORRUPT names a malformed row. */
int dk_catalog_members_load(dk_catalog *c, dk_member **out, size_t *n);

/* ---- streaming progress (coord/stream.c) ---------------------------------
 * A plan is one ring move (its signature). Ranges are 32-byte spans: the
 * start then the end token, each 16 bytes big-endian (hi, lo), so blobs
 * sort like tokens. */
#define DK_CATALOG_SPAN 32u
#define DK_CATALOG_CURSOR_MAX 256u

typedef struct dk_catalog_range {
    uint8_t span[DK_CATALOG_SPAN];
    uint64_t keys, bytes;
} dk_catalog_range;

typedef struct dk_catalog_cursor {
    char source[DK_NODE_ID_MAX + 1];
    char ranges_hash[24]; /* names the set of ranges the cursor is for */
    uint8_t cursor[DK_CATALOG_CURSOR_MAX];
    size_t cursor_len;
    uint64_t keys, bytes;
} dk_catalog_cursor;

/* The completed ranges and stream cursors recorded for plan, in malloc'd
 * arrays the caller frees (NULL and 0 when none). */
int dk_catalog_stream_load(dk_catalog *c, const char *plan, dk_catalog_range **ranges, size_t *n_ranges,
                           dk_catalog_cursor **cursors, size_t *n_cursors);

/* In one durable transaction: store cur (when not NULL) as the cursor of
 * (plan, cur->source), and record done[0..n_done) as completed ranges of
 * plan. */
int dk_catalog_stream_save(dk_catalog *c, const char *plan, const dk_catalog_cursor *cur,
                           const dk_catalog_range *done, size_t n_done);

/* Forget the progress of every plan but keep ("" forgets all). */
int dk_catalog_stream_forget(dk_catalog *c, const char *keep);

/* Anti-entropy progress, one row per (replica group, peer): the start and
 * end (wall clock, ms) of the last exchange with that peer that completed,
 * and the keys it moved each way. group names the group's members and its
 * token ranges (coord/antientropy.c), so a ring change starts new rows. */
#define DK_CATALOG_REPAIR_GROUP_MAX 700u
typedef struct dk_repair_row {
    char group[DK_CATALOG_REPAIR_GROUP_MAX + 1];
    char peer[DK_NODE_ID_MAX + 1];
    int64_t last_start_ms, last_end_ms;
    uint64_t keys_in, keys_out;
} dk_repair_row;

/* Insert or replace rows[0..n) in one durable transaction. Blocking. */
int dk_catalog_repair_save(dk_catalog *c, const dk_repair_row *rows, size_t n);

/* Load every row into a malloc'd array (*out NULL and *n 0 when there are
 * none; the caller frees it). DK_ECORRUPT names a malformed row. */
int dk_catalog_repair_load(dk_catalog *c, dk_repair_row **out, size_t *n);

#endif /* DK_CATALOG_H */
