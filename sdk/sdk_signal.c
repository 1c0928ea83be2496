/*
 * sdk_signal.c - when the handle fetches the ring again. The nodes put
 * the tag of the ring they route with on every /kv, /crdt and scan answer
 * (X-Ring: 16 hex digits, the "ring_tag" of GET /cluster/ring, equal on
 * every node with the same ring) and say X-Coordinator: not-replica when
 * they are not one of the key's replicas (framework/api/api_ring.c). An
 * answer signals that the handle's ring is out of date when
 *
 *   - its X-Ring differs from the tag fetched with the handle's ring (or
 *     the handle has none: a cluster that had no ring when it opened), or
 *   - it says not-replica for a request the handle routed by its ring.
 *
 * A signal marks the handle; the next call fetches the ring before it
 * routes (the answer that signalled is not delayed), from the node that
 * signalled first, which holds the newer ring while gossip spreads it.
 * Signalled fetches are at most one per SDK_SIGNAL_MS: while nodes
 * disagree (a join spreading, a flapping member) answers keep signalling,
 * and the handle must not refetch on every one of them. A handle is used
 * by one thread at a time and a fetch is done inside a call, so at most
 * one fetch is ever in flight. The refresh_ms timer stays as a fallback
 * (nodes older than the signal send no X-Ring), and so do the fetches
 * after connection failures and 503s (SDK_REFETCH_MS apart).
 */
#include <string.h>

#include "sdk_int.h"

int dk__sdk_ring_tag_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || strlen(s) != 16)
        return -1;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int dk__sdk_ring_signal(dkc *c, int node, const char *x_ring, const char *x_coord, int routed)
{
    if (c->opt.no_routing)
        return SDK_SIG_NONE;
    uint64_t tag;
    int sig = SDK_SIG_NONE;
    if (dk__sdk_ring_tag_parse(x_ring, &tag) == 0 && (!c->has_tag || tag != c->ring_tag))
        sig = SDK_SIG_TAG;
    else if (routed && x_coord && strcmp(x_coord, "not-replica") == 0)
        sig = SDK_SIG_NOT_REPLICA;
    if (sig != SDK_SIG_NONE) {
        c->st.ring_signals++;
        c->signalled = 1;
        c->signal_node = node;
    }
    return sig;
}

int dk__sdk_refresh_due(const dkc *c, int64_t now)
{
    if (c->signalled && (!c->signal_fetched || now - c->signal_fetched >= SDK_SIGNAL_MS))
        return SDK_DUE_SIGNAL;
    if (now - c->refresh_tried < SDK_REFETCH_MS)
        return SDK_DUE_NO;
    if (c->need_refresh)
        return SDK_DUE_FAILURE;
    if (c->opt.refresh_ms > 0 && now - c->refreshed >= c->opt.refresh_ms)
        return SDK_DUE_TIMER;
    return SDK_DUE_NO;
}
