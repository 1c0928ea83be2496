/*
 * tls_mem.h - the OpenSSL pieces the HTTPS listener (http/tls.c) and the
 * node-to-node TLS (rpc/rpc_tls.c) share: a connection's SSL object driven
 * over two memory BIOs (the event loop owns the socket; OpenSSL only sees
 * bytes we hand it and hands back bytes to send), the drain of what it
 * wrote, and OpenSSL's error queue as text. Each caller keeps its own
 * context loading and policy (ALPN, client certificates, node names).
 * Any thread, one connection at a time.
 */
#ifndef DK_BASE_TLS_MEM_H
#define DK_BASE_TLS_MEM_H
#include <stddef.h>
#include <openssl/ssl.h>
#include "util/buf.h"

/* A new SSL on ctx, server side (accept) or client side, reading from *in
 * and writing to *out (memory BIOs it owns: SSL_free frees them). An empty
 * *in means "no data yet", not end of file. NULL when out of memory (the
 * error queue is cleared). */
SSL *dk_tls_mem_new(SSL_CTX *ctx, int accept, BIO **in, BIO **out);

/* Append what the SSL wrote to its out BIO to buf and empty the BIO.
 * 0, or -1 when buf cannot grow (the bytes stay in the BIO). */
int dk_tls_mem_drain(BIO *out, dk_buf *buf);

/* The first queued OpenSSL error as text, or fallback; clears the queue. */
void dk_tls_err_text(char *buf, size_t len, const char *fallback);
#endif
