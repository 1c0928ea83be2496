/*
 * snapshot.h - node snapshots: a point-in-time copy of a node's data under
 * data_dir/snapshots/NAME, and the restore marker.
 *
 * A snapshot folder has the layout of a data directory: engine/ and hints/
 * (each the engine's checkpoint, hard links where the engine can),
 * catalog.db (a consistent copy through SQLite's VACUUM INTO) and a
 * SNAPSHOT file (name, node id, creation time). Restoring is copying the
 * folder as the node's data directory (README "Snapshots and restore"):
 * at start dk_node_open finds the SNAPSHOT file, takes a new incarnation
 * for the node's version-vector actor (its counters after the snapshot
 * were used by writes it no longer has) and starts with data_lost set, so
 * the cluster streams its ranges back before it serves reads, exactly as
 * for a replaced node; then it removes the marker.
 *
 * Creating one blocks on I/O: call it on a worker. One at a time per
 * process (DK_EBUSY otherwise). Names match [A-Za-z0-9_.-]{1,64} and do
 * not start with '.'.
 */
#ifndef DK_NODE_SNAPSHOT_H
#define DK_NODE_SNAPSHOT_H
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"

#define DK_SNAPSHOT_NAME_MAX 64
#define DK_SNAPSHOT_MARKER "SNAPSHOT"

typedef struct dk_snapshot_info {
    char name[DK_SNAPSHOT_NAME_MAX + 1];
    char node[DK_CONFIG_NAME_MAX + 1];
    int64_t created_ms;
    uint64_t bytes; /* apparent size of its files (links counted in full) */
} dk_snapshot_info;

/* 1 when name is a valid snapshot name. */
int dk_snapshot_name_ok(const char *name, size_t len);

/* Write the snapshot `name` of n. Returns 0 and fills *info, or: -EINVAL
 * (bad name), -EEXIST, -EBUSY (another snapshot is being written),
 * DK_EUNSUPPORTED (the engine has no checkpoint), another negative code
 * for I/O; err says what. Nothing is left behind on failure. */
int dk_snapshot_create(dk_node *n, const char *name, dk_snapshot_info *info, char *err, size_t errlen);

/* Call fn for every snapshot of n, in name order. Returns 0 or a negative
 * code (the snapshots folder cannot be read; none yet is 0). */
int dk_snapshot_list(dk_node *n, void (*fn)(void *arg, const dk_snapshot_info *s), void *arg);

/* Delete snapshot `name`: 0, DK_ENOTFOUND, -EINVAL or an I/O error. */
int dk_snapshot_remove(dk_node *n, const char *name, char *err, size_t errlen);

/* dk_node_open: whether data_dir holds a restored snapshot (1, *info
 * filled from its marker, bytes 0), and, once the node took its new
 * identity, forget the marker. */
int dk_snapshot_restored(const char *data_dir, dk_snapshot_info *info);
int dk_snapshot_restore_done(const char *data_dir);
#endif
