/*
 * rpc_handshake.c - what both sides of the RPC handshake share: building
 * this node's HELLO, checking the other side's, keying a connection's
 * frame MACs once the proofs are checked, and the rate-limited log of
 * refusals. The exchange itself (who sends what when) is in
 * rpc_server.c (HELLO -> HELLO_ACK, then AUTH) and rpc_client.c
 * (HELLO_ACK -> AUTH); the cryptography is in rpc_auth.c.
 *
 * Refusals are logged with the peer's address, at most RPC_LOG_BURST per
 * RPC_LOG_WINDOW_MS; the rest are counted and summed up in the next
 * window's first line, so a flood of forged connections cannot flood the
 * log (the metrics count every one).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "base/log.h"
#include "rpc/rpc_int.h"

#define RPC_LOG_WINDOW_MS 10000u
#define RPC_LOG_BURST 20u

void dk__rpc_refusal(dk_rpc *r, const char *fmt, ...)
{
    uint64_t now = uv_now(r->loop);
    if (now - r->log_window >= RPC_LOG_WINDOW_MS || r->log_window == 0) {
        if (r->log_dropped)
            dk_log(DK_LOG_WARN,
                   "rpc: %u more refusals in the last %u s were not logged (see the "
                   "dynkv_rpc_* metrics)",
                   r->log_dropped, RPC_LOG_WINDOW_MS / 1000);
        r->log_window = now ? now : 1;
        r->log_count = 0;
        r->log_dropped = 0;
    }
    if (r->log_count >= RPC_LOG_BURST) {
        r->log_dropped++;
        return;
    }
    r->log_count++;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    dk_log(DK_LOG_WARN, "%s", line);
}

/* This node's HELLO (or HELLO_ACK, before its proof) with a fresh nonce. */
int dk__rpc_hello_make(dk_rpc *r, dk_msg_hello *m)
{
    memset(m, 0, sizeof(*m));
    m->proto_version = DK_RPC_PROTO_VERSION;
    strcpy(m->cluster, r->cluster);
    strcpy(m->node_id, r->node_id);
    m->incarnation = r->incarnation;
    return uv_random(NULL, NULL, m->nonce, sizeof(m->nonce), 0, NULL);
}

/*
 * Decode and check the other side's HELLO or HELLO_ACK body into *m:
 * protocol version, cluster name and, for the client, the node id it
 * expected at that address (the proof is checked by the caller, which has
 * both HELLOs). Returns 0, or a code (DK_ECORRUPT, DK_EUNSUPPORTED,
 * DK_ECONFIG) with msg set; counts the failure in the stats.
 */
int dk__rpc_hello_check(dk_rpc *r, dk_slice body, const char *expect_id, dk_msg_hello *m, char *msg,
                        size_t msglen)
{
    int rc = dk_msg_hello_decode(body, m);
    if (rc) {
        snprintf(msg, msglen, "malformed HELLO");
    } else if (m->proto_version != DK_RPC_PROTO_VERSION) {
        rc = DK_EUNSUPPORTED;
        snprintf(msg, msglen,
                 "node %s speaks RPC protocol version %u, node %s speaks %u (every node of "
                 "a cluster must run a release with the same protocol%s)",
                 m->node_id, m->proto_version, r->node_id, DK_RPC_PROTO_VERSION,
                 m->proto_version == 2 ? "; version 3 tags frames with AES-128-GMAC, not HMAC" : "");
    } else if (strcmp(m->cluster, r->cluster) != 0) {
        rc = DK_ECONFIG;
        RPC_COUNT(r, wrong_cluster);
        snprintf(msg, msglen, "node %s belongs to cluster '%s', node %s to cluster '%s'", m->node_id,
                 m->cluster, r->node_id, r->cluster);
    } else if (expect_id && strcmp(expect_id, m->node_id) != 0) {
        rc = DK_ECONFIG;
        snprintf(msg, msglen, "node %s answered where node %s was expected", m->node_id, expect_id);
    }
    if (rc)
        RPC_COUNT(r, handshake_failures);
    return rc;
}

/* Key c's frame MACs from the handshake's two HELLOs (c->hs), free them,
 * and turn MACs on: every frame from now on carries one. */
int dk__rpc_conn_keys(rpc_conn *c)
{
    uint8_t i2a[DK_RPC_SKEY_LEN], a2i[DK_RPC_SKEY_LEN];
    int rc = dk_rpc_auth_session(c->r->key, &c->hs[0], &c->hs[1], i2a, a2i);
    if (!rc)
        rc = dk_rpc_mac_init(&c->mac_out, c->inbound ? a2i : i2a);
    if (!rc)
        rc = dk_rpc_mac_init(&c->mac_in, c->inbound ? i2a : a2i);
    OPENSSL_cleanse(i2a, sizeof(i2a));
    OPENSSL_cleanse(a2i, sizeof(a2i));
    free(c->hs);
    c->hs = NULL;
    if (!rc)
        c->authed = 1;
    return rc;
}
