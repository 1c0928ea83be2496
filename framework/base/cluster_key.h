/*
 * cluster_key.h - the cluster's secret key ([security] cluster_key_file)
 * and the keys derived from it for each use.
 *
 * Every member of a cluster holds the same 32-byte key, written once by
 * `dynkvd keygen PATH` (or `tools/dynkv-cluster create`) as 64 lowercase
 * hex digits and a newline, mode 0600. No subsystem uses the key itself:
 * each derives its own with dk_cluster_key_derive and a purpose label
 * ("gossip", "rpc", "context"), so a key recovered from one use (a MAC
 * oracle, a bug) says nothing about the others.
 *
 * Without a key file the node is in protected mode (cluster traffic on
 * loopback only, see DESIGN.md and README "Security"): the key is then
 * derived from the cluster name, which anyone may know. It still tells
 * clusters apart and catches mangled tokens, but it keeps no secret;
 * `keyed` says which case holds so callers can say so in logs.
 *
 * Plain data, read-only after load: any thread may derive from it.
 */
#ifndef DK_CLUSTER_KEY_H
#define DK_CLUSTER_KEY_H
#include <stddef.h>
#include <stdint.h>

#define DK_CLUSTER_KEY_LEN 32

typedef struct dk_cluster_key {
    int keyed; /* 1: from a key file; 0: from the cluster name */
    uint8_t bytes[DK_CLUSTER_KEY_LEN];
} dk_cluster_key;

/* Load the key at path into *k; path "" gives the unkeyed key of the
 * cluster named cluster_name. A file that is not 64 hex digits (plus an
 * optional newline), or that group or others may read or write, is
 * refused: returns DK_ECONFIG with "PATH: ..." in err. */
int dk_cluster_key_load(dk_cluster_key *k, const char *path, const char *cluster_name, char *err,
                        size_t errlen);

/* Write a new random key to path (created with mode 0600, never over an
 * existing file; the file and its folder are fsynced). Returns 0, or a
 * negative errno with "PATH: ..." in err. */
int dk_cluster_key_generate(const char *path, char *err, size_t errlen);

/* The key for one purpose: HMAC-SHA256(key, "dynkv/" purpose). */
void dk_cluster_key_derive(const dk_cluster_key *k, const char *purpose, uint8_t out[DK_CLUSTER_KEY_LEN]);

/* Wipe *k (memory that held a key). */
void dk_cluster_key_clear(dk_cluster_key *k);
#endif
