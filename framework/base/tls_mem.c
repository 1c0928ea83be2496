/*
 * tls_mem.c - an SSL object over memory BIOs, and OpenSSL errors as text
 * (tls_mem.h).
 */
#include <stdio.h>
#include <openssl/err.h>
#include "base/tls_mem.h"

SSL *dk_tls_mem_new(SSL_CTX *ctx, int accept, BIO **in, BIO **out)
{
    SSL *ssl = SSL_new(ctx);
    *in = BIO_new(BIO_s_mem());
    *out = BIO_new(BIO_s_mem());
    if (!ssl || !*in || !*out) {
        BIO_free(*in);
        BIO_free(*out);
        SSL_free(ssl);
        *in = *out = NULL;
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(*in, -1);
    SSL_set_bio(ssl, *in, *out);
    if (accept)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    return ssl;
}

int dk_tls_mem_drain(BIO *out, dk_buf *buf)
{
    char *p;
    long n = BIO_get_mem_data(out, &p);
    if (n <= 0)
        return 0;
    if (dk_buf_append(buf, p, (size_t)n))
        return -1;
    (void)BIO_reset(out);
    return 0;
}

void dk_tls_err_text(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", fallback);
    ERR_clear_error();
}
