/*
 * rpc_tls.h - mutual TLS under the RPC frames ([security] tls_ca_file with
 * tls_cert_file and tls_key_file). OpenSSL runs over memory BIOs as for
 * HTTPS (http/tls.h): the socket stays libuv's and this module only turns
 * ciphertext into plaintext and back, so rpc.c keeps its framing, MACs and
 * writes unchanged on top.
 *
 * Both directions use one context: the node's certificate chain and key,
 * the CA file as the only trust anchors, TLS 1.2 minimum (1.3 preferred),
 * peer verification required both ways (the acceptor demands a client
 * certificate). Identity: the certificate must also name the node id the
 * peer claims (its subject CN or a DNS subjectAltName equal to the id), so
 * a node holding a good certificate cannot pass itself off as another
 * node. The cluster-key handshake and frame MACs still run on top.
 *
 * dk_rpc_tls_reload() swaps the context under a mutex (any thread): new
 * connections use the new certificate and CA, open ones keep theirs (each
 * SSL holds its context). The node's RPC instances on every loop share
 * one dk_rpc_tls (reference-counted), so one reload serves them all.
 */
#ifndef DK_RPC_TLS_H
#define DK_RPC_TLS_H
#include <stddef.h>
#include "util/buf.h"

typedef struct dk_rpc_tls dk_rpc_tls;
typedef struct dk_rpc_tls_conn dk_rpc_tls_conn;

/* Load certificate chain, key and CA (PEM). 0 and *out, or DK_ECONFIG
 * with a message in err. */
int dk_rpc_tls_new(const char *cert_file, const char *key_file, const char *ca_file, dk_rpc_tls **out,
                   char *err, size_t errlen);
int dk_rpc_tls_reload(dk_rpc_tls *t, const char *cert_file, const char *key_file, const char *ca_file,
                      char *err, size_t errlen);
/* Another reference to t (any thread); dk_rpc_tls_free drops one, the
 * last frees t. */
dk_rpc_tls *dk_rpc_tls_ref(dk_rpc_tls *t);
void dk_rpc_tls_free(dk_rpc_tls *t);

/* One connection's state; accept != 0 for the acceptor. NULL when out of
 * memory. */
dk_rpc_tls_conn *dk_rpc_tls_conn_new(dk_rpc_tls *t, int accept);
void dk_rpc_tls_conn_free(dk_rpc_tls_conn *c);

/* Start the handshake (the initiator's ClientHello goes to out). */
int dk_rpc_tls_start(dk_rpc_tls_conn *c, dk_buf *out, char *err, size_t errlen);

/*
 * Feed ciphertext read from the socket: plaintext is appended to plain,
 * ciphertext to send (handshake, alerts) to out. Returns 0, or -1 when the
 * connection must end, with the reason in err (a verification failure
 * names what failed) and possibly an alert in out.
 */
int dk_rpc_tls_feed(dk_rpc_tls_conn *c, const void *data, size_t len, dk_buf *plain, dk_buf *out, char *err,
                    size_t errlen);

/* The handshake completed (the peer's certificate verified). */
int dk_rpc_tls_up(const dk_rpc_tls_conn *c);

/* Ciphertext of a partial record waits for the rest. */
int dk_rpc_tls_partial(const dk_rpc_tls_conn *c);

/* Encrypt len bytes into out. 0, or -1 (not up, failed, out of memory). */
int dk_rpc_tls_encrypt(dk_rpc_tls_conn *c, const void *p, size_t len, dk_buf *out);

/* Does the verified peer certificate name node id (CN or DNS SAN)? */
int dk_rpc_tls_peer_is(const dk_rpc_tls_conn *c, const char *id);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs. */
const char *dk_rpc_tls_version(const dk_rpc_tls_conn *c);

#endif /* DK_RPC_TLS_H */
