/*
 * context.c - client context tokens: encode a vv as a MACed base64url token
 * and decode either a token or the JSON version map (format in context.h).
 * base64url (util/base64.h) is canonical only, so every accepted token
 * re-encodes to itself. The MAC is compared in constant time (a timing
 * oracle must not let a client build a valid MAC byte by byte).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "node/context.h"
#include "node/hmac.h"
#include "util/base64.h"
#include "util/errors.h"
#include "util/vv.h"

/*
 * HMAC-SHA256 truncated, for context tokens and for session tokens
 * (node/session.c, under its own derived key). Every GET and write answer
 * carries one of each, so the keyed HMAC state (node/hmac.h) is kept per
 * thread for the last CTX_MAC_SLOTS keys: a call costs the two digests of
 * the message, instead of fetching the algorithm and hashing the key each
 * time, which one-shot HMAC() does (a fifth of a GET's user CPU in a
 * profile). Two slots, so the context key and the session key do not
 * evict each other on every answer. The cache is freed when its thread
 * ends.
 */
#define CTX_MAC_SLOTS 2

typedef struct ctx_mac_slot {
    uint8_t key[DK_CONTEXT_KEY_LEN];
    dk_hmac *h; /* keyed with key, or NULL */
} ctx_mac_slot;

typedef struct ctx_mac_cache {
    ctx_mac_slot slot[CTX_MAC_SLOTS];
    unsigned next;                           /* the slot a new key takes */
    struct ctx_mac_cache *prev, *next_cache; /* every thread's, so a live one is always reachable */
} ctx_mac_cache;

static pthread_key_t ctx_mac_tls;
static int ctx_mac_tls_ok;
static pthread_once_t ctx_mac_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t ctx_mac_mu = PTHREAD_MUTEX_INITIALIZER;
static ctx_mac_cache *ctx_mac_all;

static void ctx_mac_cache_free(void *arg)
{
    ctx_mac_cache *m = arg;
    pthread_mutex_lock(&ctx_mac_mu);
    if (m->prev)
        m->prev->next_cache = m->next_cache;
    else if (ctx_mac_all == m)
        ctx_mac_all = m->next_cache;
    if (m->next_cache)
        m->next_cache->prev = m->prev;
    pthread_mutex_unlock(&ctx_mac_mu);
    for (unsigned i = 0; i < CTX_MAC_SLOTS; i++) {
        dk_hmac_free(m->slot[i].h);
        OPENSSL_cleanse(m->slot[i].key, sizeof(m->slot[i].key));
    }
    free(m);
}

static void ctx_mac_setup(void)
{
    ctx_mac_tls_ok = pthread_key_create(&ctx_mac_tls, ctx_mac_cache_free) == 0;
}

static ctx_mac_cache *ctx_mac_thread(void)
{
    pthread_once(&ctx_mac_once, ctx_mac_setup);
    if (!ctx_mac_tls_ok)
        return NULL;
    ctx_mac_cache *m = pthread_getspecific(ctx_mac_tls);
    if (m)
        return m;
    if (!(m = calloc(1, sizeof(*m))))
        return NULL;
    if (pthread_setspecific(ctx_mac_tls, m) != 0) {
        free(m);
        return NULL;
    }
    pthread_mutex_lock(&ctx_mac_mu);
    m->next_cache = ctx_mac_all;
    if (ctx_mac_all)
        ctx_mac_all->prev = m;
    ctx_mac_all = m;
    pthread_mutex_unlock(&ctx_mac_mu);
    return m;
}

/* This thread's HMAC state keyed with key, or NULL (then the one-shot
 * path runs). The slots' keys are compared with memcmp, not in constant
 * time: both sides are this node's own keys, never a client's input, and
 * CRYPTO_memcmp's byte loop cost more than the rest of the lookup (~300
 * instructions a compare, three a GET). MACs are still compared in
 * constant time. */
static dk_hmac *ctx_mac_keyed(const uint8_t key[DK_CONTEXT_KEY_LEN])
{
    ctx_mac_cache *m = ctx_mac_thread();
    if (!m)
        return NULL;
    for (unsigned i = 0; i < CTX_MAC_SLOTS; i++) {
        ctx_mac_slot *sl = &m->slot[i];
        if (sl->h && memcmp(sl->key, key, DK_CONTEXT_KEY_LEN) == 0) /* see above */
            return sl->h;
    }
    ctx_mac_slot *sl = &m->slot[m->next];
    m->next = (m->next + 1) % CTX_MAC_SLOTS;
    dk_hmac_free(sl->h);
    memcpy(sl->key, key, DK_CONTEXT_KEY_LEN);
    sl->h = dk_hmac_new(key, DK_CONTEXT_KEY_LEN);
    return sl->h;
}

int dk_context_mac(const uint8_t key[DK_CONTEXT_KEY_LEN], const void *p, size_t len, uint8_t *out, size_t n)
{
    uint8_t full[EVP_MAX_MD_SIZE];
    dk_hmac *h = ctx_mac_keyed(key);
    if (n <= DK_HMAC_LEN && h && dk_hmac_mac(h, p, len, full) == 0) {
        memcpy(out, full, n);
        return 0;
    }
    unsigned int k = 0;
    if (!HMAC(EVP_sha256(), key, DK_CONTEXT_KEY_LEN, p, len, full, &k) || k < n)
        return -ENOMEM;
    memcpy(out, full, n);
    return 0;
}

static int ctx_mac(const uint8_t key[DK_CONTEXT_KEY_LEN], const uint8_t *p, size_t len,
                   uint8_t mac[DK_CONTEXT_MAC_LEN])
{
    return dk_context_mac(key, p, len, mac, DK_CONTEXT_MAC_LEN);
}

int dk_context_text_tail(dk_buf *out, size_t start)
{
    size_t n = out->len - start, t = dk_base64_len(n, DK_B64_URL);
    /* Room for the text after the bytes first, so that they do not move
     * while it is written. */
    int rc = dk_buf_reserve(out, t + 1);
    if (!rc)
        rc = dk_base64_encode(out->data + start, n, DK_B64_URL, out);
    if (rc) {
        out->len = start;
        return rc;
    }
    memmove(out->data + start, out->data + start + n, t + 1);
    out->len = start + t;
    return 0;
}

/* The binary token is assembled at out's end and replaced by its text
 * there: no buffer of its own (an answer encodes one per request). */
int dk_context_encode(const uint8_t key[DK_CONTEXT_KEY_LEN], const dk_vv *v, dk_buf *out)
{
    size_t start = out->len;
    uint8_t ver = DK_CONTEXT_VERSION, mac[DK_CONTEXT_MAC_LEN];
    int rc = dk_buf_append(out, &ver, 1);
    if (!rc)
        rc = dk_vv_encode(v, out);
    if (!rc)
        rc = ctx_mac(key, out->data + start, out->len - start, mac);
    if (!rc)
        rc = dk_buf_append(out, mac, sizeof(mac));
    if (!rc)
        return dk_context_text_tail(out, start);
    out->len = start;
    return rc;
}

static int ctx_decode_json(const char *s, size_t len, dk_vv *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return dk_errf(-EINVAL, err, errlen, "context: invalid JSON at position %d: %s", jerr.position,
                       jerr.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = dk_errf(-EINVAL, err, errlen, "context: expected a JSON object of node -> counter");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        dk_actor a;
        if (dk_actor_parse(key, strlen(key), &a)) {
            rc = dk_errf(-EINVAL, err, errlen,
                         "context: \"%.80s\" is not a node id ([a-z0-9_-]{1,64}, optionally #incarnation)",
                         key);
            goto out;
        }
        if (!json_is_integer(val) || json_integer_value(val) < 0) {
            rc = dk_errf(-EINVAL, err, errlen, "context: counter of \"%s\" must be a non-negative integer",
                         key);
            goto out;
        }
        if ((uint64_t)json_integer_value(val) > DK_CONTEXT_COUNTER_MAX) {
            rc = dk_errf(-EINVAL, err, errlen,
                         "context: counter of \"%s\" is larger than any this store issues", key);
            goto out;
        }
        if (dk_vv_get(out, &a)) {
            rc = dk_errf(-EINVAL, err, errlen, "context: node \"%s\" appears twice", key);
            goto out;
        }
        if ((rc = dk_vv_set(out, &a, (uint64_t)json_integer_value(val), 0)))
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

/* The binary form of a token, raw[0..n): version, MAC, then the vv. */
static int ctx_decode_raw(const uint8_t key[DK_CONTEXT_KEY_LEN], const uint8_t *raw, size_t n, dk_vv *out,
                          char *err, size_t errlen)
{
    if (n >= 1 && raw[0] == 1)
        return dk_errf(DK_ECORRUPT, err, errlen, "context from an older version; read the key again");
    if (n < 1 + 1 + DK_CONTEXT_MAC_LEN)
        return dk_errf(DK_ECORRUPT, err, errlen, "context: token too short");
    if (raw[0] != DK_CONTEXT_VERSION)
        return dk_errf(DK_ECORRUPT, err, errlen, "context: unsupported token version %u", raw[0]);
    uint8_t mac[DK_CONTEXT_MAC_LEN];
    size_t body = n - DK_CONTEXT_MAC_LEN;
    int rc = ctx_mac(key, raw, body, mac);
    if (rc)
        return rc;
    if (CRYPTO_memcmp(mac, raw + body, DK_CONTEXT_MAC_LEN) != 0)
        return dk_errf(DK_ECORRUPT, err, errlen,
                       "context: token not issued by this cluster, or altered; read the key again");
    size_t used;
    rc = dk_vv_decode(raw + 1, body - 1, out, &used);
    if (rc == DK_ECORRUPT || (!rc && used != body - 1))
        return dk_errf(DK_ECORRUPT, err, errlen, "context: malformed version vector in token");
    return rc;
}

int dk_context_decode(const uint8_t key[DK_CONTEXT_KEY_LEN], const char *s, size_t len, dk_vv *out,
                      int *is_map, char *err, size_t errlen)
{
    out->n = 0;
    if (is_map)
        *is_map = 0;
    if (err && errlen)
        err[0] = '\0';
    if (len > DK_CONTEXT_MAX)
        return dk_errf(-EINVAL, err, errlen, "context: token longer than %u bytes", DK_CONTEXT_MAX);
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (i == len)
        return 0;
    int rc;
    if (s[i] == '{') {
        if (is_map)
            *is_map = 1;
        rc = ctx_decode_json(s + i, len - i, out, err, errlen);
    } else {
        uint8_t raw[DK_CONTEXT_MAX * 3 / 4 + 3];
        size_t bad = 0;
        long n = dk_base64_decode(s + i, len - i, DK_B64_URL, raw, &bad);
        if (n < 0)
            rc = dk_errf(DK_ECORRUPT, err, errlen, "context: not a token (bad base64url at character %zu)",
                         bad + i);
        else
            rc = ctx_decode_raw(key, raw, (size_t)n, out, err, errlen);
    }
    if (rc)
        dk_vv_free(out);
    return rc;
}

int dk_vv_to_json(const dk_vv *v, dk_buf *out)
{
    size_t start = out->len;
    int rc = dk_buf_append(out, "{", 1);
    for (uint32_t i = 0; !rc && i < v->n; i++) {
        char name[DK_ACTOR_TEXT_MAX];
        rc = dk_actor_format(&v->e[i].actor, name, sizeof(name));
        if (!rc)
            rc = dk_buf_printf(out, "%s\"%s\":%llu", i ? "," : "", name, (unsigned long long)v->e[i].counter);
    }
    if (!rc)
        rc = dk_buf_printf(out, "}");
    if (rc)
        out->len = start;
    return rc;
}
