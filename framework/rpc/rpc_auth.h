/*
 * rpc_auth.h - authentication of RPC connections: the handshake proofs,
 * the per-connection session keys, and the MAC carried by every frame
 * after the handshake (protocol version 3).
 *
 * Every node holds the cluster's RPC key, K = dk_cluster_key_derive(key,
 * "rpc"). A connection starts with three frames:
 *
 *   initiator -> acceptor  HELLO      version, cluster, id_i, inc_i, nonce_i
 *   acceptor -> initiator  HELLO_ACK  version, cluster, id_a, inc_a, nonce_a,
 *                                     mac = proof(K, "acceptor", T)
 *   initiator -> acceptor  AUTH       mac = proof(K, "initiator", T)
 *
 * Both nonces are fresh random bytes, so each proof covers a challenge
 * its verifier chose: a recorded HELLO_ACK or AUTH is worth nothing on
 * another connection, and the role label keeps a proof from being
 * reflected back at its sender. T, the transcript, is (all strings as one
 * length byte then the bytes, integers little-endian):
 *
 *   lp("dynkv-rpc") u32(version) lp(cluster)
 *   lp(id_i) u32(inc_i) nonce_i[16]  lp(id_a) u32(inc_a) nonce_a[16]
 *
 *   proof(K, role, T)  = HMAC-SHA256(K, lp(role) T)
 *   session key i->a   = HMAC-SHA256(K, lp("initiator->acceptor") T)[0:16]
 *   session key a->i   = HMAC-SHA256(K, lp("acceptor->initiator") T)[0:16]
 *
 * Every later frame (the initiator's from right after AUTH, the
 * acceptor's once it has checked AUTH) is followed on the wire by a
 * DK_RPC_TAG_LEN-byte tag:
 *
 *   tag   = AES-128-GCM(key = session key of the direction, iv = nonce,
 *                       plaintext = empty, AAD = frame).tag   (GMAC)
 *   nonce = u64(seq) u32(0)                                   (96 bits)
 *
 * where frame is the whole encoded frame (header, body, body CRC) and seq
 * counts that direction's tagged frames from 0. A wrong tag, a replayed,
 * reordered or dropped frame (wrong seq) closes the connection.
 *
 * Nonces: GMAC breaks if one key ever tags two messages under the same
 * nonce. Here each direction of each connection has its own key (the
 * transcript holds both sides' fresh nonces, the label the direction) and
 * its seq only grows; dk_rpc_mac refuses to go past seq 2^64 - 2 rather
 * than wrap. So no (key, nonce) pair repeats.
 *
 * Why GMAC (protocol 3) and not HMAC-SHA256 (protocol 2): the frames need
 * integrity, not secrecy (confidentiality is TLS's job, [security]
 * tls_ca_file), and the MAC runs over every byte replicated. With AES-NI
 * and carry-less multiply GHASH is several times faster than SHA-256 even
 * with the SHA extensions (bench/results/rpc-gmac-2026-12-05.md), and the
 * keyed context costs nothing per frame but setting the IV. 16 bytes of tag
 * as before; the two tags are not compatible, hence the version.
 *
 * Pure functions over OpenSSL; any thread. A dk_rpc_mac is one
 * direction's state and belongs to one connection.
 */
#ifndef DK_RPC_AUTH_H
#define DK_RPC_AUTH_H
#include <stddef.h>
#include <stdint.h>
#include "rpc/rpc_frame.h"

#define DK_RPC_KEY_LEN 32u  /* the cluster's RPC key K */
#define DK_RPC_SKEY_LEN 16u /* a session key (AES-128) */
#define DK_RPC_NONCE_LEN 12u
#define DK_RPC_TAG_LEN 16u

/* The proof of role ("initiator" or "acceptor") over the transcript of
 * the initiator's HELLO ini and the acceptor's HELLO_ACK acc (their MAC
 * fields are not part of it). Returns 0, -EINVAL (a field out of its
 * limits) or DK_ECORRUPT (OpenSSL failed). */
int dk_rpc_auth_proof(const uint8_t key[DK_RPC_KEY_LEN], const char *role, const dk_msg_hello *ini,
                      const dk_msg_hello *acc, uint8_t out[DK_HELLO_MAC_LEN]);

/* 0 when mac is proof(key, role, ini, acc), -EACCES otherwise (constant
 * time), or an error of dk_rpc_auth_proof. */
int dk_rpc_auth_check(const uint8_t key[DK_RPC_KEY_LEN], const char *role, const dk_msg_hello *ini,
                      const dk_msg_hello *acc, const uint8_t mac[DK_HELLO_MAC_LEN]);

/* The two session keys of the connection. Same returns as the proof. */
int dk_rpc_auth_session(const uint8_t key[DK_RPC_KEY_LEN], const dk_msg_hello *ini, const dk_msg_hello *acc,
                        uint8_t i2a[DK_RPC_SKEY_LEN], uint8_t a2i[DK_RPC_SKEY_LEN]);

/* One direction's frame MAC: a keyed GCM context and the next seq. */
typedef struct dk_rpc_mac {
    void *ctx; /* EVP_CIPHER_CTX, AES-128-ECB (the block cipher); NULL = not set up */
    void *gcm; /* GCM128_CONTEXT over ctx (GHASH key computed once) */
    uint64_t seq;
} dk_rpc_mac;

/* Key m with a session key (seq 0). Returns 0, -ENOMEM or DK_ECORRUPT. */
int dk_rpc_mac_init(dk_rpc_mac *m, const uint8_t key[DK_RPC_SKEY_LEN]);

/* The tag of the next frame [frame, frame + len); advances seq. Returns 0
 * or DK_ECORRUPT (OpenSSL failed, len > INT_MAX, or seq would wrap). */
int dk_rpc_mac_seal(dk_rpc_mac *m, const uint8_t *frame, size_t len, uint8_t tag[DK_RPC_TAG_LEN]);
/* The same over a frame given in n parts (laid end to end: the tag is the
 * one dk_rpc_mac_seal gives for the whole). */
int dk_rpc_mac_seal_v(dk_rpc_mac *m, const dk_slice *parts, size_t n, uint8_t tag[DK_RPC_TAG_LEN]);

/* Check tag for the next frame: 0 and seq advances, or -EACCES (constant
 * time) / DK_ECORRUPT. */
int dk_rpc_mac_open(dk_rpc_mac *m, const uint8_t *frame, size_t len, const uint8_t tag[DK_RPC_TAG_LEN]);

/* Free m's context (idempotent). */
void dk_rpc_mac_free(dk_rpc_mac *m);
#endif
