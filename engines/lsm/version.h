/*
 * version.h - the set of live tables (version.c) and the manifest that
 * records how it changes (manifest.c).
 *
 * A version is an immutable, reference-counted array of table files.
 * Readers and iterators pin the version they started with; compaction and
 * flush build a new one from the current one plus an edit. A file object
 * is shared by every version holding it; when an edit removes a file it is
 * marked obsolete and unlinked when the last version holding it goes, so
 * an iterator never loses a table under it.
 */
#ifndef DK_LSM_VERSION_H
#define DK_LSM_VERSION_H
#include <pthread.h>
#include <stdatomic.h>

#include "blob.h"
#include "table.h"

#define LSM_NUM_LEVELS 7

typedef struct lsm_reaper lsm_reaper;

/* What files need to delete themselves. */
typedef struct lsm_fileenv {
    lsm_env *env;
    const char *dir;
    lsm_cache *cache;
    lsm_codecs *codecs; /* the engine's block codecs; may be NULL */
    const dk_host *host;
    lsm_reaper *reaper; /* deletes what readers retire; NULL: inline */
    lsm_blobs *blobs;   /* the engine's blob files (blob.h); NULL: tables name none */
    int lost_blobs_ok;  /* recovery: a blob file that cannot be opened fails its
                         * reads, not the tables naming it (version.c) */
} lsm_fileenv;

typedef struct lsm_file {
    _Atomic int refs;
    uint64_t number, size;
    /* size plus the bytes of the blob records its references name: the
     * data the table stands for, what compaction policies size levels by
     * (dk_run.size, compact.c) */
    uint64_t data_size;
    uint32_t level;
    int busy;             /* in a running compaction; under the engine lock */
    int damaged;          /* a compaction met a damaged block in it: never
                               * picked again (compact.c), also after a restart
                               * (NNNNNN.bad, version.c); under the engine lock */
    _Atomic int obsolete; /* unlink when the last reference goes */
    lsm_table *table;
    lsm_blob **blobs; /* a reference on each blob file the table names */
    size_t nblobs;
    const lsm_fileenv *fenv;
    struct lsm_file *reap_next; /* on the reaper's list */
} lsm_file;

/* Open table `number` at `level`; the file object has one reference. */
int dk__lsm_file_open(const lsm_fileenv *fe, uint64_t number, uint32_t level, uint64_t size, lsm_file **out);
void dk__lsm_file_ref(lsm_file *f);
/* Persist f's damage mark as NNNNNN.bad beside the table (version.c), so
 * the next open marks it again. Returns 0 or the env's error. Blocking. */
int dk__lsm_file_mark_damaged(lsm_file *f);
void dk__lsm_file_unref(lsm_file *f);

/* The reaper: a thread that closes and deletes obsolete tables whose last
 * reference a reader dropped, so a point read or an iterator (possibly on
 * an event loop) never pays for unlink, page-cache truncation, discard
 * and the block-cache purge. Started at open; stop drains the list and
 * joins. Everything else (compaction, flush, close) deletes inline. */
int dk__lsm_reaper_start(lsm_reaper **out);
void dk__lsm_reaper_stop(lsm_reaper *r);
/* User-key range of the file. */
dk_slice dk__lsm_file_smallest(const lsm_file *f);
dk_slice dk__lsm_file_largest(const lsm_file *f);

typedef struct lsm_version {
    _Atomic int refs;
    lsm_file **files; /* sorted: level, then L0 newest first, else smallest key */
    size_t n;
    /* Level l's files are files[level_start[l] .. level_start[l + 1]). */
    size_t level_start[LSM_NUM_LEVELS + 1];
    /* Level l >= 1 holds runs with disjoint user-key ranges, so a point
     * read binary-searches it. A policy may leave any level overlapping
     * (size-tiered does); readers then check every run of it. */
    uint8_t disjoint[LSM_NUM_LEVELS];
    uint64_t id; /* unique in the process: the memo's key (memo.h) */
} lsm_version;

typedef struct lsm_edit_file {
    uint32_t level;
    uint64_t number, size;
} lsm_edit_file;

/* A version edit: what a manifest record says. */
typedef struct lsm_edit {
    int has_log, has_next, has_seq;
    uint64_t log_number; /* WALs numbered below are obsolete */
    uint64_t next_file;
    uint64_t last_seq;
    lsm_edit_file *adds;
    size_t nadd, capadd;
    uint64_t *dels;
    size_t ndel, capdel;
} lsm_edit;

void dk__lsm_edit_init(lsm_edit *e);
void dk__lsm_edit_free(lsm_edit *e);
int dk__lsm_edit_add(lsm_edit *e, uint32_t level, uint64_t number, uint64_t size);
int dk__lsm_edit_del(lsm_edit *e, uint64_t number);
int dk__lsm_edit_encode(const lsm_edit *e, dk_buf *out);
/* Decode a record payload; 0 or DK_ECORRUPT. */
int dk__lsm_edit_decode(lsm_edit *e, const uint8_t *p, size_t n);

/* A version with one reference holding files[0..n) (each gets a ref). */
lsm_version *dk__lsm_version_new(lsm_file *const *files, size_t n);
void dk__lsm_version_ref(lsm_version *v);
void dk__lsm_version_unref(lsm_version *v);
/* The same for a reader: obsolete files it held last go to the reaper. */
void dk__lsm_version_unref_reader(lsm_version *v);
/* base minus edit's deletions plus `added` (opened files, in edit order);
 * each removed file is marked obsolete only by dk__lsm_version_retire. */
lsm_version *dk__lsm_version_apply(const lsm_version *base, const lsm_edit *e, lsm_file *const *added);
/* Mark the files e deletes from base obsolete (after the edit is durable),
 * except those e adds back (a compaction move re-lists a file at a deeper
 * level under the same number). */
void dk__lsm_version_retire(const lsm_version *base, const lsm_edit *e);
/* After an install of e over base as nv: mark obsolete every blob file a
 * table e deleted named and no table of nv names (blob.h). */
void dk__lsm_version_retire_blobs(const lsm_version *base, const lsm_version *nv, const lsm_edit *e);
/* A blob file v's tables name: its number, the record bytes they
 * reference in it (of its size, the rest is garbage) and the object. */
typedef struct lsm_blob_live {
    uint64_t number, live;
    lsm_blob *blob;
} lsm_blob_live;
/* Every blob file v's tables name, once, by ascending number (the oldest
 * first), into *out (for the caller to free) and *count: 0, or -ENOMEM
 * with *out NULL. One pass over the (table, blob file) pairs through a
 * hash table: with random keys every table names nearly every blob file,
 * and a sort of the pairs at each compaction job grew with their product. */
int dk__lsm_version_blob_live(const lsm_version *v, lsm_blob_live **out, size_t *count);
/* The blob files v's tables name, sorted, *count of them, for the caller
 * to free (NULL: none, or out of memory); dk__lsm_blob_numbers_has
 * searches such a list. */
uint64_t *dk__lsm_version_blob_numbers(const lsm_version *v, size_t *count);
int dk__lsm_blob_numbers_has(const uint64_t *nums, size_t n, uint64_t number);
/* True when a table of v names blob file number. */
int dk__lsm_version_has_blob(const lsm_version *v, uint64_t number);
size_t dk__lsm_version_level_count(const lsm_version *v, uint32_t level);
/* The runs of v whose user-key range covers key, highest max sequence
 * first: binary search in disjoint levels, a scan of overlapping ones.
 * *cand is small (room for 32) or, with more candidates, a malloc'd
 * array the caller frees (*cand != small). 0 or -ENOMEM. Any thread;
 * the caller holds a reference to v. */
int dk__lsm_version_candidates(const lsm_version *v, dk_slice key, lsm_file **small, lsm_file ***cand,
                               size_t *n);

/* ---- manifest.c ------------------------------------------------------ */

typedef struct lsm_manifest {
    lsm_env *env;
    lsm_wfile *f;
    uint64_t number;
    char *dir;
} lsm_manifest;

/* What recovery found: the edits folded into one. */
typedef struct lsm_recovered {
    uint64_t manifest_number, log_number, next_file, last_seq;
    lsm_edit_file *files;
    size_t n;
    int fresh; /* no CURRENT: a new database */
} lsm_recovered;

/* Read CURRENT and replay its manifest. A torn last record (a crash
 * during an append that never returned) is ignored; any other bad record
 * is DK_ECORRUPT with the file and offset logged. */
int dk__lsm_manifest_recover(lsm_env *env, const char *dir, const dk_host *host, lsm_recovered *out);
void dk__lsm_recovered_free(lsm_recovered *r);
/* Write MANIFEST-<number> holding snapshot, sync it, point CURRENT at it
 * (write-to-temp, sync, rename, sync dir). */
int dk__lsm_manifest_create(lsm_env *env, const char *dir, uint64_t number, const lsm_edit *snapshot,
                            lsm_manifest *m);
/* Sync the directory (new tables' entries), append e and sync. */
int dk__lsm_manifest_append(lsm_manifest *m, const lsm_edit *e);
void dk__lsm_manifest_close(lsm_manifest *m);
#endif
