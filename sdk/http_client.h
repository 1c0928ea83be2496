/*
 * http_client.h - a small blocking HTTP/1.1 client, shared by the dynkv
 * CLI (client/) and libdynkv-client (sdk/); internal to both (dk__ names,
 * not installed, not exported from the SDK library).
 *
 * Over plain sockets or TLS (OpenSSL), with poll() deadlines; no libuv.
 * dk__hc_request makes one request on its own connection (Connection:
 * close), what the CLI needs; dk_hc_conn carries keep-alive requests one
 * after the other, what the SDK's connection pool holds. The response is read whole into
 * memory: status, headers and body (Content-Length, chunked, or until the
 * server closes), each bounded so a misbehaving server cannot make the CLI
 * allocate without limit.
 */
#ifndef DK_SDK_HTTP_CLIENT_H
#define DK_SDK_HTTP_CLIENT_H

#include <stddef.h>
#include <openssl/ssl.h>

/* Bounds on what a response may contain. */
#define DK_HC_MAX_HEAD (64 * 1024)
#define DK_HC_MAX_BODY ((size_t)256 * 1024 * 1024)
#define DK_HC_MAX_HEADERS 100

typedef struct dk_hc_header {
    const char *name, *value;
} dk_hc_header;

typedef struct dk_hc_response {
    int status;
    char *head; /* owned: the header block, NUL-separated in place */
    dk_hc_header headers[DK_HC_MAX_HEADERS];
    size_t n_headers;
    char *body; /* owned, NUL-terminated (not counted in body_len) */
    size_t body_len;
} dk_hc_response;

/*
 * Send `method target` to host:port with the extra request headers `hdrs`
 * (n of them) and an optional body (a Content-Length is always sent for
 * PUT/POST, even for an empty body), then read the whole response into *out.
 * `timeout_ms` bounds connecting and every wait for data. Returns 0, or -1
 * with a message in err (connection refused, timeout, malformed response);
 * on failure *out holds nothing to free. The caller frees a filled *out with
 * dk__hc_response_free(). Blocking; any thread.
 */
int dk__hc_request(const char *host, const char *port, const char *method, const char *target,
                   const dk_hc_header *hdrs, size_t n, const void *body, size_t body_len, int timeout_ms,
                   dk_hc_response *out, char *err, size_t errlen);

/*
 * Choose plain HTTP or HTTPS for every later request of the process from a
 * node spec and an optional CA file: "https://HOST:PORT", or a CA file
 * with a bare "HOST:PORT", means HTTPS, the server's certificate checked
 * against ca_file (or, without one, the system's CAs) and against HOST;
 * "http://HOST:PORT" or a bare spec without a CA file means plain HTTP.
 * *spec is advanced past the scheme. Returns 0, or -1 with err (CA file
 * unreadable, --cacert with http://). Call before the first request.
 */
int dk__hc_tls_setup(const char **spec, const char *ca_file, char *err, size_t errlen);

/* The value of the first response header named `name` (case-insensitive),
 * or NULL; valid until dk__hc_response_free(r). */
const char *dk__hc_header(const dk_hc_response *r, const char *name);

/* A TLS client context checking servers against ca_file (or, without one,
 * the system's CAs), TLS 1.2 at least; NULL with err on failure. Free it
 * with dk__hc_tls_ctx_free() after the last connection using it. */
SSL_CTX *dk__hc_tls_ctx(const char *ca_file, char *err, size_t errlen);
void dk__hc_tls_ctx_free(SSL_CTX *ctx);

/* One open connection (plain, or TLS when tls is not NULL: the server's
 * certificate checked against host). NULL with err when it cannot connect
 * within timeout_ms. */
typedef struct dk_hc_conn dk_hc_conn;
dk_hc_conn *dk__hc_conn_open(const char *host, const char *port, SSL_CTX *tls, int timeout_ms, char *err,
                             size_t errlen);

/*
 * One request on c, as dk__hc_request, sending Connection: keep-alive when
 * keep_alive (close otherwise). *reusable says whether c may carry another
 * request (the server kept it open and the body was framed). Returns 0;
 * -1 with err; or -2 when the server closed or reset the connection
 * without sending a byte of answer (a pooled connection that went stale:
 * the caller may send again on a fresh one). On failure c is unusable.
 */
int dk__hc_conn_request(dk_hc_conn *c, const char *method, const char *target, const dk_hc_header *hdrs,
                        size_t n, const void *body, size_t body_len, int timeout_ms, int keep_alive,
                        dk_hc_response *out, int *reusable, char *err, size_t errlen);

/* Close c (NULL: nothing). */
void dk__hc_conn_close(dk_hc_conn *c);

/* Free what a successful dk__hc_request() put in *r; safe on a zeroed r. */
void dk__hc_response_free(dk_hc_response *r);

#endif /* DK_SDK_HTTP_CLIENT_H */
