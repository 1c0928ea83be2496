/*
 * http_tls_io.c - where HTTPS (conf.tls) hooks into a connection of
 * http_conn.c: conn_read_cb turns what it read into plaintext first
 * (dk__http_tls_in), and every write goes through dk__http_conn_write,
 * which encrypts the buffers into one ciphertext buffer and calls the
 * caller's callback with the caller's request when that is written.
 * Handshake bytes and alerts go out from the read side
 * (dk__http_tls_send). Plain connections only pass through
 * dk__http_conn_write.
 */
#include <stdlib.h>
#include "base/log.h"
#include "http/http_int.h"
#include "http/tls.h"

typedef struct tls_write {
    uv_write_t wr;
    http_conn *c;
    uv_write_t *orig; /* the caller's request, or NULL */
    uv_write_cb cb;
    dk_buf cipher;
} tls_write;

static void tls_write_cb(uv_write_t *wr, int status)
{
    tls_write *w = wr->data;
    http_conn *c = w->c;
    uv_write_t *orig = w->orig;
    uv_write_cb cb = w->cb;
    dk_buf_free(&w->cipher);
    free(w);
    if (cb) {
        cb(orig, status);
    } else if (!c->closing && (status < 0 || c->tls_dead)) {
        dk__http_conn_close(c); /* an alert went out (or could not) */
    }
}

/* Write ciphertext the SSL produced on its own (handshake, alerts, tickets,
 * close_notify); takes out's bytes. Returns 0 or closes c. */
int dk__http_tls_send(http_conn *c, dk_buf *out)
{
    if (!out->len) {
        dk_buf_free(out);
        return 0;
    }
    tls_write *w = calloc(1, sizeof(*w));
    if (!w) {
        dk_buf_free(out);
        dk__http_conn_close(c);
        return -1;
    }
    w->c = c;
    w->cipher = *out;
    dk_buf_init(out);
    w->wr.data = w;
    uv_buf_t b = uv_buf_init((char *)w->cipher.data, (unsigned)w->cipher.len);
    if (uv_write(&w->wr, (uv_stream_t *)&c->tcp, &b, 1, tls_write_cb)) {
        dk_buf_free(&w->cipher);
        free(w);
        dk__http_conn_close(c);
        return -1;
    }
    return 0;
}

/* Every write of the connection: plain, or encrypted into one buffer whose
 * write completes the caller's request req (req->data is left alone). */
int dk__http_conn_write(http_conn *c, uv_write_t *req, const uv_buf_t *b, unsigned n, uv_write_cb cb)
{
    if (!c->tls)
        return uv_write(req, (uv_stream_t *)&c->tcp, b, n, cb);
    tls_write *w = calloc(1, sizeof(*w));
    if (!w)
        return UV_ENOMEM;
    w->c = c;
    w->orig = req;
    w->cb = cb;
    w->wr.data = w;
    if (dk_tls_conn_encrypt(c->tls, b, n, &w->cipher)) {
        dk_buf_free(&w->cipher);
        free(w);
        return UV_EPROTO;
    }
    uv_buf_t cb_buf = uv_buf_init((char *)w->cipher.data, (unsigned)w->cipher.len);
    int rc = uv_write(&w->wr, (uv_stream_t *)&c->tcp, &cb_buf, 1, tls_write_cb);
    if (rc) {
        dk_buf_free(&w->cipher);
        free(w);
    }
    return rc;
}

/* Decrypt what was read into the server's plaintext buffer and point *buf
 * at it. Returns the plaintext length: 0 when there is none yet (the
 * handshake goes on), -1 when c failed and is closing. */
ssize_t dk__http_tls_in(http_conn *c, const uv_buf_t **buf, size_t len)
{
    dk_http_server *s = c->s;
    dk_buf out = DK_BUF_INIT;
    char err[256];
    int was_up = dk_tls_conn_established(c->tls);
    dk_buf_reset(&s->tls_plain);
    int rc = dk_tls_conn_feed(c->tls, (*buf)->base, len, &s->tls_plain, &out, err, sizeof(err));
    if (rc) {
        if (!was_up)
            dk_tls_note_failure(&c->tcp, err);
        else
            dk_log(DK_LOG_DEBUG, "TLS: closing a connection after a bad record: %s", err);
        c->tls_dead = 1;
        c->no_more = 1;
        dk__http_conn_stop_reading(c);
        if (out.len)
            dk__http_tls_send(c, &out); /* the alert, then tls_write_cb closes */
        else
            dk__http_conn_close(c);
        dk_buf_free(&out);
        return -1;
    }
    if (dk__http_tls_send(c, &out))
        return -1;
    s->tls_view = uv_buf_init((char *)s->tls_plain.data, (unsigned)s->tls_plain.len);
    *buf = &s->tls_view;
    if (!s->tls_plain.len)
        dk__http_conn_arm(c);
    return (ssize_t)s->tls_plain.len;
}
