/*
 * codecs.c - the engine's block codec registry (codecs.h).
 *
 * A fixed array of 256 refs, one per possible id, filled once and never
 * emptied until close: a codec's id is stored in data, so the mapping
 * cannot change while the engine runs, and a slot never needs freeing
 * while a reader may hold its pointer. Alternative not taken: asking the
 * host on every block read, which would put a lock and a name lookup on
 * the read path.
 */
#include "codecs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct lsm_codecs {
    const dk_host *host;
    pthread_mutex_t mu;     /* registration */
    dk_codec_ref refs[256]; /* by id; written once under mu */
    _Atomic(const dk_codec_ref *) by_id[256];
};

int dk__lsm_codecs_new(const dk_host *host, lsm_codecs **out)
{
    lsm_codecs *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->host = host;
    pthread_mutex_init(&c->mu, NULL);
    for (int i = 0; i < 256; i++)
        atomic_init(&c->by_id[i], NULL);
    *out = c;
    return 0;
}

void dk__lsm_codecs_free(lsm_codecs *c)
{
    if (!c)
        return;
    for (int i = 0; i < 256; i++)
        if (atomic_load(&c->by_id[i]))
            c->host->codec_close(c->host, &c->refs[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const dk_codec_ref *dk__lsm_codecs_get(lsm_codecs *c, uint8_t id)
{
    return c ? atomic_load_explicit(&c->by_id[id], memory_order_acquire) : NULL;
}

int dk__lsm_codecs_open(lsm_codecs *c, const char *name, int level, const dk_codec_ref **out)
{
    const dk_host *h = c->host;
    dk_codec_ref ref;
    int rc = h->codec_open(h, name, level, &ref);
    if (rc)
        return rc;
    if (ref.id > 255) {
        h->log(h, DK_LOG_ERROR, "lsm: codec '%s' has id %u; this engine stores ids 0..255", ref.name,
               (unsigned)ref.id);
        h->codec_close(h, &ref);
        return DK_EBADPLUGIN;
    }
    pthread_mutex_lock(&c->mu);
    const dk_codec_ref *have = atomic_load(&c->by_id[ref.id]);
    if (have) {
        rc = strcmp(have->name, ref.name) ? DK_EBADPLUGIN : 0;
        if (rc)
            h->log(h, DK_LOG_ERROR, "lsm: codecs '%s' and '%s' both claim id %u", have->name, ref.name,
                   (unsigned)ref.id);
        h->codec_close(h, &ref);
    } else {
        c->refs[ref.id] = ref;
        have = &c->refs[ref.id];
        atomic_store_explicit(&c->by_id[ref.id], have, memory_order_release);
    }
    pthread_mutex_unlock(&c->mu);
    *out = rc ? NULL : have;
    return rc;
}

int dk__lsm_codecs_need(lsm_codecs *c, uint8_t id, const char *name, const char *path)
{
    const dk_host *h = c->host;
    const dk_codec_ref *have = dk__lsm_codecs_get(c, id);
    if (!have) {
        int rc = dk__lsm_codecs_open(c, name, 0, &have);
        if (rc) {
            h->log(h, DK_LOG_ERROR,
                   "lsm: table %s was written with codec '%s' (id %u), which cannot be "
                   "opened (%s): install the codec plugin codec-%s.so in the plugin folder",
                   path, name, (unsigned)id, h->strerror(h, rc), name);
            return rc;
        }
    }
    if (have->id != id || strcmp(have->name, name) != 0) {
        h->log(h, DK_LOG_ERROR, "lsm: table %s names codec '%s' for id %u, but codec '%s' has id %u here",
               path, name, (unsigned)id, have->name, (unsigned)have->id);
        return DK_ECORRUPT;
    }
    return 0;
}
