/*
 * session.c - client session tokens (format in session.h).
 *
 * What a token summarises, and why. A token holds, for each of the last
 * DK_SESSION_KEYS keys the client wrote or read, the causal context (the
 * object's version vector) of the answer it got. A later read of such a
 * key is answered only with an object whose version vector descends that
 * one (coord/session_read.c reads more replicas or waits until one does).
 * Descending the vv is exactly "at least as new": the DVV context of an
 * object covers every version it contains or superseded, so an answer
 * that descends what the client saw holds the client's own writes (or
 * later versions made with them in view) and everything the client read
 * before - read-your-writes and monotonic reads in one check, whatever
 * node coordinated which request, with no clock involved.
 *
 * Not taken: a hybrid-logical-clock watermark. It is compact and covers
 * every key, but a Dynamo replica keeps no ordered log, so no replica can
 * say "I hold every write up to time T"; the only thing a watermark can be
 * checked against is the key's own newest write time, and that cannot
 * tell "the client's write has not arrived" from "the client never wrote
 * this key, its newest version is simply older". It would refuse
 * up-to-date answers (every key last written before the client's latest
 * action) or accept stale ones. Version vectors per key range do not work
 * either: counters are per key, so merging them across keys makes
 * thresholds no single key ever reaches.
 *
 * Bounded size. A token names at most DK_SESSION_KEYS keys (about 35 bytes
 * each in a 3-node cluster; a full token is ~600 characters). Entries keep
 * the time their counter last advanced: objects drop vv entries older
 * than cluster.vv_prune_age (vv.h), so a session entry that old cannot be
 * required of an answer (session_read.c skips entries older than half of
 * it; a write that old has long reached every replica). The least recently used key is evicted
 * when a new one comes; its bucket (tag % 64) is marked in `spill`, and a
 * read of any key of a marked bucket is raised to a quorum read: the
 * guarantee is exact for the keys the token names and best effort beyond
 * them (documented in README's session section).
 *
 * Keys appear in tokens only as 64-bit tags, XXH3-64 of the key seeded
 * with the session key's first 8 bytes: a token does not show the keys
 * in the clear, and two keys share a tag with probability 2^-64 per pair
 * (a shared tag would only make one key's reads wait for the other's
 * versions, then answer 503: never stale data; a client that crafted
 * collisions would only hurt its own session). Not an HMAC: the tag needs
 * no unforgeability (the MAC covers the token), and an HMAC costs
 * microseconds per request.
 *
 * MAC: HMAC-SHA256 truncated to 16 bytes under HMAC-SHA256(context key,
 * "dynkv session token v1"), compared in constant time; a token another
 * cluster issued, or an edited one, is refused (400 bad_session). A
 * session whose note changed nothing (`changed` still 0) can send back
 * the token it came with, so a read of an unchanged key costs one MAC.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <xxhash.h>

#include "node/context.h"
#include "node/session.h"
#include "util/base64.h"
#include "util/coding.h"
#include "util/errors.h"
#include "util/vv.h"

#define SESSION_HEAD 10u /* version, n, spill */
static const char session_label[] = "dynkv session token v1";

/* HMAC-SHA256(key, p[0..len)) truncated to n bytes, with the thread's
 * keyed state (node/context.h). */
static int session_hmac(const uint8_t key[DK_CONTEXT_KEY_LEN], const void *p, size_t len, uint8_t *out,
                        size_t n)
{
    return dk_context_mac(key, p, len, out, n);
}

static uint64_t session_tag(const dk_session *s, dk_slice key)
{
    return XXH3_64bits_withSeed(key.ptr, key.len, dk_get_u64(s->key));
}

/* The last derivation of this thread: every request derives the same key. */
static _Thread_local struct {
    int set;
    uint8_t from[DK_CONTEXT_KEY_LEN], key[DK_CONTEXT_KEY_LEN];
} session_cache;

/* s->key from context_key (derived once per thread per context key). */
static int session_set_key(dk_session *s, const uint8_t context_key[DK_CONTEXT_KEY_LEN])
{
    /* memcmp: the node's own keys on both sides (context.c, ctx_mac_keyed). */
    if (!session_cache.set || memcmp(session_cache.from, context_key, DK_CONTEXT_KEY_LEN) != 0) {
        int rc = session_hmac(context_key, session_label, sizeof(session_label) - 1, session_cache.key,
                              sizeof(session_cache.key));
        if (rc)
            return rc;
        memcpy(session_cache.from, context_key, DK_CONTEXT_KEY_LEN);
        session_cache.set = 1;
    }
    memcpy(s->key, session_cache.key, sizeof(s->key));
    return 0;
}

int dk_session_init(dk_session *s, const uint8_t context_key[DK_CONTEXT_KEY_LEN])
{
    memset(s, 0, sizeof(*s));
    for (uint32_t i = 0; i < DK_SESSION_KEYS; i++)
        dk_vv_init(&s->e[i].vv);
    return session_set_key(s, context_key);
}

/* Every entry, not only the first n: a token that failed to decode part
 * way may have left a version vector past n. */
int dk_session_reuse(dk_session *s, const uint8_t context_key[DK_CONTEXT_KEY_LEN])
{
    for (uint32_t i = 0; i < DK_SESSION_KEYS; i++) {
        s->e[i].tag = 0;
        s->e[i].vv.n = 0;
    }
    s->n = 0;
    s->spill = 0;
    s->changed = 0;
    return session_set_key(s, context_key);
}

void dk_session_free(dk_session *s)
{
    for (uint32_t i = 0; i < DK_SESSION_KEYS; i++)
        dk_vv_free(&s->e[i].vv);
    s->n = 0;
}

static void session_clear(dk_session *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        s->e[i].vv.n = 0;
    s->n = 0;
    s->spill = 0;
    s->changed = 0;
}

static int session_parse(dk_session *s, const uint8_t *raw, size_t len, char *err, size_t errlen)
{
    if (len < SESSION_HEAD + DK_CONTEXT_MAC_LEN)
        return dk_errf(DK_ECORRUPT, err, errlen, "session token too short");
    if (raw[0] != DK_SESSION_VERSION)
        return dk_errf(DK_ECORRUPT, err, errlen, "unsupported session token version %u", raw[0]);
    size_t body = len - DK_CONTEXT_MAC_LEN;
    uint8_t mac[DK_CONTEXT_MAC_LEN];
    int rc = session_hmac(s->key, raw, body, mac, sizeof(mac));
    if (rc)
        return rc;
    if (CRYPTO_memcmp(mac, raw + body, sizeof(mac)) != 0)
        return dk_errf(DK_ECORRUPT, err, errlen, "session token not issued by this cluster, or altered");
    uint32_t n = raw[1];
    if (n > DK_SESSION_KEYS)
        return dk_errf(DK_ECORRUPT, err, errlen, "session token names too many keys");
    s->spill = dk_get_u64(raw + 2);
    size_t off = SESSION_HEAD;
    for (uint32_t i = 0; i < n; i++) {
        size_t used = 0;
        if (body - off < 8)
            return dk_errf(DK_ECORRUPT, err, errlen, "session token truncated");
        s->e[i].tag = dk_get_u64(raw + off);
        off += 8;
        rc = dk_vv_decode(raw + off, body - off, &s->e[i].vv, &used);
        if (rc)
            return rc == DK_ECORRUPT ? dk_errf(rc, err, errlen, "malformed version vector in session token")
                                     : rc;
        off += used;
        s->n = i + 1;
    }
    if (off != body)
        return dk_errf(DK_ECORRUPT, err, errlen, "trailing bytes in session token");
    return 0;
}

int dk_session_decode(dk_session *s, const char *tok, size_t len, char *err, size_t errlen)
{
    session_clear(s);
    if (err && errlen)
        err[0] = '\0';
    if (len == 0)
        return 0;
    if (len > DK_SESSION_MAX)
        return dk_errf(-EINVAL, err, errlen, "session token longer than %u bytes", DK_SESSION_MAX);
    uint8_t raw[DK_SESSION_MAX / 4 * 3 + 3];
    size_t bad = 0;
    long n = dk_base64_decode(tok, len, DK_B64_URL, raw, &bad);
    if (n < 0)
        return dk_errf(DK_ECORRUPT, err, errlen, "session token is not base64url (at byte %zu)", bad);
    int rc = session_parse(s, raw, (size_t)n, err, errlen);
    if (rc)
        session_clear(s);
    return rc;
}

int dk_session_encode(const dk_session *s, dk_buf *out)
{
    size_t start = out->len; /* assembled at out's end, then made text there */
    uint8_t head[SESSION_HEAD], mac[DK_CONTEXT_MAC_LEN];
    head[0] = DK_SESSION_VERSION;
    head[1] = (uint8_t)s->n;
    dk_put_u64(head + 2, s->spill);
    int rc = dk_buf_append(out, head, sizeof(head));
    for (uint32_t i = 0; i < s->n && !rc; i++) {
        uint8_t t[8];
        dk_put_u64(t, s->e[i].tag);
        rc = dk_buf_append(out, t, sizeof(t));
        if (!rc)
            rc = dk_vv_encode(&s->e[i].vv, out);
    }
    if (!rc)
        rc = session_hmac(s->key, out->data + start, out->len - start, mac, sizeof(mac));
    if (!rc)
        rc = dk_buf_append(out, mac, sizeof(mac));
    if (!rc)
        return dk_context_text_tail(out, start);
    out->len = start;
    return rc;
}

const dk_vv *dk_session_need(const dk_session *s, dk_slice key, int *spilled)
{
    *spilled = 0;
    if (s->n == 0 && s->spill == 0)
        return NULL;
    uint64_t tag = session_tag(s, key);
    *spilled = (int)((s->spill >> (tag % 64)) & 1);
    for (uint32_t i = 0; i < s->n; i++)
        if (s->e[i].tag == tag)
            return &s->e[i].vv;
    return NULL;
}

int dk_session_note(dk_session *s, dk_slice key, const dk_vv *vv)
{
    uint64_t tag = session_tag(s, key);
    uint32_t i = 0;
    while (i < s->n && s->e[i].tag != tag)
        i++;
    if (i != 0 || i == s->n)
        s->changed = 1; /* a new entry, or a new order */
    if (i == s->n) {
        if (s->n == DK_SESSION_KEYS) {
            i = s->n - 1; /* the least recent goes */
            s->spill |= UINT64_C(1) << (s->e[i].tag % 64);
            s->e[i].vv.n = 0;
        } else {
            s->n++;
        }
        s->e[i].tag = tag;
    }
    for (uint32_t k = 0; k < vv->n; k++) {
        const dk_vv_entry *x = &vv->e[k];
        if (x->counter > dk_vv_get(&s->e[i].vv, &x->actor)) {
            if (dk_vv_set(&s->e[i].vv, &x->actor, x->counter, x->time_ms > 0 ? x->time_ms : 0) != 0)
                return -ENOMEM;
            s->changed = 1;
        }
    }
    /* Move entry i to the front, keeping the others' order. */
    dk_session_entry moved = s->e[i];
    memmove(&s->e[1], &s->e[0], i * sizeof(s->e[0]));
    s->e[0] = moved;
    return 0;
}
