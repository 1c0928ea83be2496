/*
 * tls.h - TLS for the HTTP listener: OpenSSL driven over memory BIOs, so
 * the socket stays libuv's and this module only turns bytes into bytes.
 *
 * A dk_tls_server holds the current SSL_CTX (certificate chain and key)
 * and is shared by every loop of the node. dk_tls_server_reload() builds a
 * new SSL_CTX from the files and swaps it in when it loads: connections
 * made afterwards use it, existing ones keep the one they started with
 * (each SSL holds a reference to its SSL_CTX), so a reload drops nothing.
 *
 * A dk_tls_conn is one connection's TLS state (an SSL with a memory BIO
 * for the ciphertext that arrived and one for the ciphertext to send).
 * The transport feeds it what it reads and gets plaintext back, encrypts
 * its responses through it, and writes whatever ciphertext it produced
 * (handshake messages, alerts, records, close_notify) in the order it was
 * produced.
 *
 * Threads: dk_tls_server_* from any thread; a dk_tls_conn on one thread
 * at a time (its connection's loop).
 */
#ifndef DK_HTTP_TLS_H
#define DK_HTTP_TLS_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "util/buf.h"

typedef struct dk_tls_server dk_tls_server;
typedef struct dk_tls_conn dk_tls_conn;

/*
 * Load the PEM certificate chain cert_file and its private key key_file
 * (TLS 1.2 minimum, 1.3 preferred). Returns 0 and *out, or DK_ECONFIG with
 * a message in err (a file missing or unreadable, not PEM, or a key that
 * does not match the certificate).
 */
int dk_tls_server_new(const char *cert_file, const char *key_file, dk_tls_server **out, char *err,
                      size_t errlen);

/* Build a new context from the files and use it for new connections; on
 * failure keep the current one and return DK_ECONFIG with err. Any thread. */
int dk_tls_server_reload(dk_tls_server *t, const char *cert_file, const char *key_file, char *err,
                         size_t errlen);

/* Free t; connections still open keep their own reference to its
 * context. */
void dk_tls_server_free(dk_tls_server *t);

/* A new server-side connection state, or NULL (out of memory). */
dk_tls_conn *dk_tls_conn_new(dk_tls_server *t);
void dk_tls_conn_free(dk_tls_conn *c);

/*
 * Feed len bytes read from the socket. Plaintext that became available is
 * appended to plain, ciphertext to send (handshake, alerts, tickets) to
 * out. Returns 0, or -1 when the connection must end (a failed handshake,
 * a bad record, not TLS at all) with the reason in err; out may then
 * hold an alert worth sending before closing.
 */
int dk_tls_conn_feed(dk_tls_conn *c, const void *data, size_t len, dk_buf *plain, dk_buf *out, char *err,
                     size_t errlen);

/* Encrypt the n buffers of b into out (appended). Returns 0, or -1 when
 * the handshake is not finished or the connection failed. */
int dk_tls_conn_encrypt(dk_tls_conn *c, const uv_buf_t *b, unsigned n, dk_buf *out);

/* Append a close_notify alert to out, once (later calls add nothing).
 * Nothing is sent on a connection whose handshake did not finish. */
void dk_tls_conn_close_notify(dk_tls_conn *c, dk_buf *out);

/* The handshake is under way, or part of a record waits for the rest:
 * the transport holds the connection to its request deadline. */
int dk_tls_conn_busy(const dk_tls_conn *c);

/* The handshake finished. */
int dk_tls_conn_established(const dk_tls_conn *c);

/* Count a failed handshake (metric http_tls_handshake_failures) and log
 * it with the peer's address, at most once a second per process (the rest
 * are counted in the next line). Any thread. */
void dk_tls_note_failure(const uv_tcp_t *peer, const char *why);

#endif /* DK_HTTP_TLS_H */
