/*
 * codecs.h - the block codecs one LSM engine reads and writes with
 * (codecs.c): the configured one, opened at start with its level, and every
 * other codec an existing table names in its properties, opened through
 * the host (dk_host.codec_open) when the table is opened. Blocks carry the
 * codec's id in their trailer (table.h), so a table written with lz4 stays
 * readable after the engine is configured for zstd, and a table whose codec
 * plugin is missing stops the engine at open, naming the file.
 *
 * Lookups by id are lock-free (an atomic pointer per id): readers on every
 * thread decode blocks; registration, at table open, takes a mutex.
 */
#ifndef DK_LSM_CODECS_H
#define DK_LSM_CODECS_H
#include <stdint.h>

#include "dynkv/codec.h"

typedef struct lsm_codecs lsm_codecs;

/* An empty registry opening codecs through host (which must outlive it).
 * Returns 0 or -ENOMEM. */
int dk__lsm_codecs_new(const dk_host *host, lsm_codecs **out);

/* Close every codec (after every table using them is closed) and free c.
 * NULL is a no-op. */
void dk__lsm_codecs_free(lsm_codecs *c);

/* Open codec `name` at `level` (0 = its default) and register it under its
 * id; *out is the registered ref (valid until dk__lsm_codecs_free). When
 * its id is registered already (a table named it first), that ref is
 * returned. Returns 0, or what dk_host.codec_open returned (logged);
 * DK_EBADPLUGIN when a different codec holds the id. Any thread. */
int dk__lsm_codecs_open(lsm_codecs *c, const char *name, int level, const dk_codec_ref **out);

/* Make sure codec `id` named `name`, which the table at path uses, is
 * registered, opening it at its default level if needed. Returns 0, or an
 * error logged with the table's path (a missing plugin: -ENOENT; another
 * codec under that id: DK_ECORRUPT). Any thread. */
int dk__lsm_codecs_need(lsm_codecs *c, uint8_t id, const char *name, const char *path);

/* The codec registered under id, or NULL. Lock-free; any thread. */
const dk_codec_ref *dk__lsm_codecs_get(lsm_codecs *c, uint8_t id);

#endif
