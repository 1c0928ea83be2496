/*
 * rpc_tls.c - mutual TLS for RPC connections over memory BIOs (see
 * rpc_tls.h).
 *
 * The SSL never touches the socket: its read BIO is filled with what libuv
 * read, its write BIO is drained after every SSL call into the caller's
 * buffer, so ciphertext leaves in the order OpenSSL produced it. One
 * context (TLS_method) serves both roles; each SSL is put in accept or
 * connect state. Verification is OpenSSL's chain check against the CA file
 * only (no default trust store); the node-id check is ours, made by the
 * caller once the peer has said who it is (dk_rpc_tls_peer_is).
 *
 * Not taken: session tickets and resumption (connections between nodes
 * live long and are few; num_tickets 0 saves the work of issuing them),
 * renegotiation (off), factoring the engine with http/tls.c (the HTTP side
 * is server-only with ALPN and a metric of its own; both are short).
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "base/tls_mem.h"
#include "dynkv/types.h"
#include "rpc/rpc_tls.h"

struct dk_rpc_tls {
    uv_mutex_t mu;
    SSL_CTX *ctx; /* current; under mu */
    atomic_uint refs;
};

struct dk_rpc_tls_conn {
    SSL *ssl;
    BIO *in, *out; /* owned by ssl */
    int failed, up;
    char version[96];
};

static SSL_CTX *tls_ctx_load(const char *cert_file, const char *key_file, const char *ca_file, char *err,
                             size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        dk_tls_err_text(why, sizeof(why), "out of memory");
        snprintf(err, errlen, "cannot create a TLS context: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        dk_tls_err_text(why, sizeof(why), "unreadable");
        snprintf(err, errlen, "[security] tls_cert_file %s: cannot load a PEM certificate chain: %s",
                 cert_file, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        dk_tls_err_text(why, sizeof(why), "unreadable");
        snprintf(err, errlen,
                 "[security] tls_key_file %s: not a PEM private key of the certificate in %s: %s", key_file,
                 cert_file, why);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        dk_tls_err_text(why, sizeof(why), "unreadable");
        snprintf(err, errlen, "[security] tls_ca_file %s: cannot load PEM CA certificates: %s", ca_file, why);
        goto fail;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int dk_rpc_tls_new(const char *cert_file, const char *key_file, const char *ca_file, dk_rpc_tls **out,
                   char *err, size_t errlen)
{
    SSL_CTX *ctx = tls_ctx_load(cert_file, key_file, ca_file, err, errlen);
    if (!ctx)
        return DK_ECONFIG;
    dk_rpc_tls *t = calloc(1, sizeof(*t));
    if (!t || uv_mutex_init(&t->mu)) {
        free(t);
        SSL_CTX_free(ctx);
        snprintf(err, errlen, "out of memory");
        return DK_ECONFIG;
    }
    t->ctx = ctx;
    atomic_init(&t->refs, 1);
    *out = t;
    return 0;
}

int dk_rpc_tls_reload(dk_rpc_tls *t, const char *cert_file, const char *key_file, const char *ca_file,
                      char *err, size_t errlen)
{
    SSL_CTX *ctx = tls_ctx_load(cert_file, key_file, ca_file, err, errlen);
    if (!ctx)
        return DK_ECONFIG;
    uv_mutex_lock(&t->mu);
    SSL_CTX *old = t->ctx;
    t->ctx = ctx;
    uv_mutex_unlock(&t->mu);
    SSL_CTX_free(old);
    return 0;
}

dk_rpc_tls *dk_rpc_tls_ref(dk_rpc_tls *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void dk_rpc_tls_free(dk_rpc_tls *t)
{
    if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    SSL_CTX_free(t->ctx);
    uv_mutex_destroy(&t->mu);
    free(t);
}

dk_rpc_tls_conn *dk_rpc_tls_conn_new(dk_rpc_tls *t, int accept)
{
    dk_rpc_tls_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    uv_mutex_lock(&t->mu);
    c->ssl = dk_tls_mem_new(t->ctx, accept, &c->in, &c->out);
    uv_mutex_unlock(&t->mu);
    if (!c->ssl) {
        free(c);
        return NULL;
    }
    return c;
}

void dk_rpc_tls_conn_free(dk_rpc_tls_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    free(c);
}

static int tls_drain(dk_rpc_tls_conn *c, dk_buf *out)
{
    return dk_tls_mem_drain(c->out, out);
}

/* The reason of a failed SSL call e, preferring the certificate check's. */
static void tls_fail_text(dk_rpc_tls_conn *c, int e, char *err, size_t errlen)
{
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        snprintf(err, errlen, "peer certificate not accepted: %s", X509_verify_cert_error_string(v));
        return;
    }
    dk_tls_err_text(err, errlen, e == SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream" : "TLS error");
}

/* Drive the handshake on; 0 (done or waiting) or -1. */
static int tls_step(dk_rpc_tls_conn *c, dk_buf *out, char *err, size_t errlen)
{
    if (!c->up) {
        int n = SSL_do_handshake(c->ssl);
        if (n == 1) {
            c->up = 1;
            snprintf(c->version, sizeof(c->version), "%s %s", SSL_get_version(c->ssl),
                     SSL_get_cipher_name(c->ssl));
        } else {
            int e = SSL_get_error(c->ssl, n);
            if (e != SSL_ERROR_WANT_READ) {
                tls_fail_text(c, e, err, errlen);
                c->failed = 1;
                (void)tls_drain(c, out);
                return -1;
            }
            ERR_clear_error();
        }
    }
    if (tls_drain(c, out)) {
        snprintf(err, errlen, "out of memory");
        c->failed = 1;
        return -1;
    }
    return 0;
}

int dk_rpc_tls_start(dk_rpc_tls_conn *c, dk_buf *out, char *err, size_t errlen)
{
    return tls_step(c, out, err, errlen);
}

int dk_rpc_tls_feed(dk_rpc_tls_conn *c, const void *data, size_t len, dk_buf *plain, dk_buf *out, char *err,
                    size_t errlen)
{
    if (c->failed) {
        snprintf(err, errlen, "connection already failed");
        return -1;
    }
    if (len && (len > INT_MAX || BIO_write(c->in, data, (int)len) != (int)len)) {
        snprintf(err, errlen, "out of memory");
        c->failed = 1;
        return -1;
    }
    if (tls_step(c, out, err, errlen))
        return -1;
    while (c->up) {
        if (dk_buf_reserve(plain, 16 * 1024)) {
            snprintf(err, errlen, "out of memory");
            c->failed = 1;
            return -1;
        }
        size_t room = plain->cap - plain->len;
        int n = SSL_read(c->ssl, plain->data + plain->len, room > INT_MAX ? INT_MAX : (int)room);
        if (n > 0) {
            plain->len += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            break;
        }
        tls_fail_text(c, e, err, errlen);
        c->failed = 1;
        (void)tls_drain(c, out);
        return -1;
    }
    if (tls_drain(c, out)) {
        snprintf(err, errlen, "out of memory");
        c->failed = 1;
        return -1;
    }
    return 0;
}

int dk_rpc_tls_up(const dk_rpc_tls_conn *c)
{
    return c->up && !c->failed;
}

int dk_rpc_tls_partial(const dk_rpc_tls_conn *c)
{
    return BIO_ctrl_pending(c->in) > 0 || SSL_has_pending(c->ssl);
}

int dk_rpc_tls_encrypt(dk_rpc_tls_conn *c, const void *p, size_t len, dk_buf *out)
{
    if (c->failed || !c->up || len > INT_MAX)
        return -1;
    if (dk_buf_reserve(out, len + (len / 16384 + 1) * 64))
        return -1;
    if (len && SSL_write(c->ssl, p, (int)len) != (int)len) {
        ERR_clear_error();
        c->failed = 1;
        return -1;
    }
    return tls_drain(c, out);
}

/* Does the ASN.1 string s equal id exactly (no wildcards)? */
static int name_is(const ASN1_STRING *s, const char *id)
{
    size_t n = strlen(id);
    return s && (size_t)ASN1_STRING_length(s) == n && memcmp(ASN1_STRING_get0_data(s), id, n) == 0;
}

int dk_rpc_tls_peer_is(const dk_rpc_tls_conn *c, const char *id)
{
    X509 *cert = SSL_get1_peer_certificate(c->ssl);
    int ok = 0;
    if (!cert)
        return 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !ok; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS)
            ok = name_is(g->d.dNSName, id);
    }
    GENERAL_NAMES_free(sans);
    const X509_NAME *subj = X509_get_subject_name(cert);
    for (int i = -1; !ok && (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;)
        ok = name_is(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)), id);
    X509_free(cert);
    ERR_clear_error();
    return ok;
}

const char *dk_rpc_tls_version(const dk_rpc_tls_conn *c)
{
    return c->version;
}
