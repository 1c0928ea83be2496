/*
 * tls.c - TLS for the HTTP listener over memory BIOs (see tls.h).
 *
 * The SSL never touches the socket: its read BIO is a memory BIO the
 * transport fills with what libuv read, its write BIO a memory BIO this
 * module drains after every SSL call into the caller's buffer, so the
 * ciphertext leaves in exactly the order OpenSSL produced it. A memory
 * BIO accepts every write, so SSL_write never stops half way.
 *
 * The context: TLS 1.2 minimum (1.0 and 1.1 are refused with a
 * protocol_version alert), OpenSSL's default cipher lists, no
 * renegotiation (a client could make the server do one expensive
 * handshake after another on one connection), ALPN "http/1.1" when the
 * client offers it, and SSL_MODE_RELEASE_BUFFERS
 * so an idle connection does not pin its record buffers.
 *
 * The current context is a pointer under a mutex: SSL_new takes its own
 * reference, so a reload only swaps the pointer and drops the server's
 * reference; the old context goes when its last connection does.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "base/log.h"
#include "base/tls_mem.h"
#include "base/metrics.h"
#include "http/tls.h"

struct dk_tls_server {
    uv_mutex_t mu;
    SSL_CTX *ctx; /* current; under mu */
};

struct dk_tls_conn {
    SSL *ssl;
    BIO *in, *out; /* owned by ssl */
    int failed;
};

/* ALPN: this listener speaks HTTP/1.1 only; a client that offers it gets
 * it, one that offers only h2 gets no ALPN answer (and then falls back or
 * gives up), never a protocol the parser would not understand. */
static int tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                    unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_ctx_load(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        dk_tls_err_text(why, sizeof(why), "out of memory");
        snprintf(err, errlen, "cannot create a TLS context: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx,
                        SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        dk_tls_err_text(why, sizeof(why), "unreadable");
        snprintf(err, errlen, "[security] tls_cert_file %s: cannot load a PEM certificate chain: %s",
                 cert_file, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            snprintf(err, errlen, "[security] tls_key_file %s is not the key of the certificate in %s",
                     key_file, cert_file);
            goto fail;
        }
        dk_tls_err_text(why, sizeof(why), "unreadable");
        snprintf(err, errlen, "[security] tls_key_file %s: cannot load a PEM private key: %s", key_file, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        dk_tls_err_text(why, sizeof(why), "mismatch");
        snprintf(err, errlen, "[security] tls_key_file %s is not the key of the certificate in %s (%s)",
                 key_file, cert_file, why);
        goto fail;
    }
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int dk_tls_server_new(const char *cert_file, const char *key_file, dk_tls_server **out, char *err,
                      size_t errlen)
{
    SSL_CTX *ctx = tls_ctx_load(cert_file, key_file, err, errlen);
    if (!ctx)
        return DK_ECONFIG;
    dk_tls_server *t = calloc(1, sizeof(*t));
    if (!t || uv_mutex_init(&t->mu)) {
        free(t);
        SSL_CTX_free(ctx);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    t->ctx = ctx;
    *out = t;
    return 0;
}

int dk_tls_server_reload(dk_tls_server *t, const char *cert_file, const char *key_file, char *err,
                         size_t errlen)
{
    SSL_CTX *ctx = tls_ctx_load(cert_file, key_file, err, errlen);
    if (!ctx)
        return DK_ECONFIG;
    uv_mutex_lock(&t->mu);
    SSL_CTX *old = t->ctx;
    t->ctx = ctx;
    uv_mutex_unlock(&t->mu);
    SSL_CTX_free(old);
    return 0;
}

void dk_tls_server_free(dk_tls_server *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    uv_mutex_destroy(&t->mu);
    free(t);
}

dk_tls_conn *dk_tls_conn_new(dk_tls_server *t)
{
    dk_tls_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    uv_mutex_lock(&t->mu);
    c->ssl = dk_tls_mem_new(t->ctx, 1, &c->in, &c->out);
    uv_mutex_unlock(&t->mu);
    if (!c->ssl) {
        free(c);
        return NULL;
    }
    return c;
}

void dk_tls_conn_free(dk_tls_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl); /* frees both BIOs */
    free(c);
}

/* Move what the SSL wrote into out. */
static int tls_drain(dk_tls_conn *c, dk_buf *out)
{
    return dk_tls_mem_drain(c->out, out);
}

int dk_tls_conn_feed(dk_tls_conn *c, const void *data, size_t len, dk_buf *plain, dk_buf *out, char *err,
                     size_t errlen)
{
    if (c->failed) {
        snprintf(err, errlen, "connection already failed");
        return -1;
    }
    if (len && BIO_write(c->in, data, (int)len) != (int)len) {
        snprintf(err, errlen, "out of memory");
        c->failed = 1;
        return -1;
    }
    for (;;) {
        if (dk_buf_reserve(plain, 16 * 1024)) {
            snprintf(err, errlen, "out of memory");
            c->failed = 1;
            return -1;
        }
        int n = SSL_read(c->ssl, plain->data + plain->len, (int)(plain->cap - plain->len));
        if (n > 0) {
            plain->len += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_ZERO_RETURN) {
            /* Need more bytes, or the peer's close_notify: its TCP end of
             * file follows and ends the connection. */
            ERR_clear_error();
            break;
        }
        dk_tls_err_text(err, errlen,
                        e == SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream" : "TLS error");
        c->failed = 1;
        (void)tls_drain(c, out); /* an alert, if OpenSSL made one */
        return -1;
    }
    if (tls_drain(c, out)) {
        snprintf(err, errlen, "out of memory");
        c->failed = 1;
        return -1;
    }
    return 0;
}

/* Up to this much plaintext in several buffers (a response head and a
 * small body) is copied together first: one record and one seal instead
 * of one per buffer. */
#define TLS_COALESCE (16 * 1024)

static int tls_write1(dk_tls_conn *c, const void *p, size_t len)
{
    if (len > INT_MAX || SSL_write(c->ssl, p, (int)len) != (int)len) {
        ERR_clear_error();
        c->failed = 1;
        return -1;
    }
    return 0;
}

int dk_tls_conn_encrypt(dk_tls_conn *c, const uv_buf_t *b, unsigned n, dk_buf *out)
{
    if (c->failed || !SSL_is_init_finished(c->ssl))
        return -1;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += b[i].len;
    /* Records add 22 bytes (TLS 1.3) to 29 per 16 KiB: reserve once. */
    if (dk_buf_reserve(out, total + (total / 16384 + n + 1) * 64))
        return -1;
    if (n > 1 && total <= TLS_COALESCE) {
        char tmp[TLS_COALESCE];
        size_t off = 0;
        for (unsigned i = 0; i < n; i++) {
            memcpy(tmp + off, b[i].base, b[i].len);
            off += b[i].len;
        }
        if (tls_write1(c, tmp, off))
            return -1;
    } else {
        for (unsigned i = 0; i < n; i++)
            if (b[i].len && tls_write1(c, b[i].base, b[i].len))
                return -1;
    }
    return tls_drain(c, out);
}

void dk_tls_conn_close_notify(dk_tls_conn *c, dk_buf *out)
{
    if (c->failed || !SSL_is_init_finished(c->ssl) || (SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN))
        return;
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
    (void)tls_drain(c, out);
}

int dk_tls_conn_busy(const dk_tls_conn *c)
{
    return !SSL_is_init_finished(c->ssl) || BIO_ctrl_pending(c->in) > 0;
}

int dk_tls_conn_established(const dk_tls_conn *c)
{
    return SSL_is_init_finished(c->ssl);
}

void dk_tls_note_failure(const uv_tcp_t *peer, const char *why)
{
    static _Atomic uint64_t last_ms, suppressed;
    dk_metrics_add("http_tls_handshake_failures", 1);
    uint64_t now = uv_hrtime() / 1000000, prev = atomic_load(&last_ms);
    if (prev && now - prev < 1000) {
        atomic_fetch_add(&suppressed, 1);
        return;
    }
    if (!atomic_compare_exchange_strong(&last_ms, &prev, now ? now : 1)) {
        atomic_fetch_add(&suppressed, 1);
        return;
    }
    char addr[64] = "a peer that already closed";
    struct sockaddr_storage ss;
    int alen = sizeof(ss);
    if (uv_tcp_getpeername(peer, (struct sockaddr *)&ss, &alen) == 0) {
        int port = 0;
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, addr, sizeof(addr));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, addr, sizeof(addr));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
        size_t l = strlen(addr);
        snprintf(addr + l, sizeof(addr) - l, ":%d", port);
    }
    uint64_t more = atomic_exchange(&suppressed, 0);
    if (more)
        dk_log(DK_LOG_WARN,
               "TLS handshake with %s failed: %s (and %llu more failures in the %llu s before, "
               "not logged one by one; metric dynkv_http_tls_handshake_failures_total counts all)",
               addr, why, (unsigned long long)more, (unsigned long long)((now - prev) / 1000));
    else
        dk_log(DK_LOG_WARN, "TLS handshake with %s failed: %s", addr, why);
}
