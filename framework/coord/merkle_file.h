/*
 * merkle_file.h - the saved copy of a node's Merkle trees (merkle.h), so a
 * restart loads them instead of scanning the whole store (issue 8: "rebuilt
 * from the engine on start if its saved copy is missing or stale").
 *
 * File data_dir/DK_MERKLE_FILE, little-endian:
 *
 *   offset  size
 *        0     4  magic "DKMT"
 *        4     4  format version (DK_MERKLE_FILE_VERSION)
 *        8     8  seq: the engine's last sequence number the trees cover
 *       16     8  saved_ms: wall clock of the save
 *       24     8  files: a fingerprint of the engine's immutable files
 *       32     4  node id length, then the node id
 *              4  group count, then per group:
 *                   4 key length, key (the replica group's name "/" the
 *                     signature of its ranges: it changes with the ring),
 *                   DK_MERKLE_LEAVES x 8 leaves
 *       end-8  8  XXH3-64 of every byte before it
 *
 * Freshness is the caller's (ae_saved.c): the copy is used only when its
 * groups are the current ring's, the engine's last sequence number is
 * still seq (nothing was written since the trees were copied) and its
 * table files are the same (none lost or changed while the node was down).
 *
 * Writing goes to a temporary file that is synced and renamed over the
 * old one, then the folder is synced: a crash leaves the old copy, the new
 * one or none, never a torn one. Threads: any; blocking (a worker).
 */
#ifndef DK_MERKLE_FILE_H
#define DK_MERKLE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "coord/merkle.h"
#include "node/catalog.h"

#define DK_MERKLE_FILE "merkle.trees"
/* 2: the trees of item definition 2 (merkle.h); a file of version 1 holds
 * trees of definition 1 and is refused as older (-ESTALE): rebuilt. */
#define DK_MERKLE_FILE_VERSION 2u
#define DK_MERKLE_FILE_KEY_MAX DK_CATALOG_REPAIR_GROUP_MAX

typedef struct dk_merkle_file_group {
    char key[DK_MERKLE_FILE_KEY_MAX + 1];
    uint64_t leaf[DK_MERKLE_LEAVES];
} dk_merkle_file_group;

typedef struct dk_merkle_file {
    char node[DK_NODE_ID_MAX + 1];
    uint64_t seq;
    int64_t saved_ms;
    uint64_t files;
    size_t n;                /* groups */
    dk_merkle_file_group *g; /* malloc'd; dk_merkle_file_free */
} dk_merkle_file;

/* Write f as dir/DK_MERKLE_FILE (temp, fsync, rename, fsync dir). Returns 0
 * or -errno with err naming the file and the step. */
int dk_merkle_file_write(const char *dir, const dk_merkle_file *f, char *err, size_t errlen);

/* Read dir/DK_MERKLE_FILE into f (free it with dk_merkle_file_free, also
 * on error). Returns 0; -ENOENT when there is none; DK_ECORRUPT with err
 * naming the file and the offset of what is wrong (bad magic or version,
 * a length past the end, trailing bytes, a checksum mismatch); -ESTALE for
 * a file of an older format version (err says so); or -errno. */
int dk_merkle_file_read(const char *dir, dk_merkle_file *f, char *err, size_t errlen);

/* Delete dir/DK_MERKLE_FILE and sync dir. Returns 0 (also when there was
 * none) or -errno. */
int dk_merkle_file_remove(const char *dir);

void dk_merkle_file_free(dk_merkle_file *f);

#endif /* DK_MERKLE_FILE_H */
