/*
 * http.h - the HTTP/1.1 server transport of dynkvd.
 *
 * One dk_http_server per libuv loop. It owns everything about bytes on the
 * socket: keep-alive, pipelining (responses leave strictly in request
 * order), bodies (Content-Length or chunked, bounded), Expect: 100-continue,
 * limits, timeouts and graceful stop. The request handlers (the KV API) sit
 * on top: they get one callback per complete request and answer it with
 * dk_http_respond(), now or later, on the same loop thread.
 *
 * Several loops may serve the same address: the first server binds the
 * listening socket, the others share it (dk_http_conf.share) and accept
 * from it in turn. SO_REUSEPORT is not used: with it a second process
 * could bind the same address and silently take half of the connections,
 * where an operator expects "address already in use".
 *
 * Threads: every function here runs on the server's loop thread, except
 * dk_http_server_stats(), the pure helpers (dk_http_header_get,
 * dk_http_status_text, url.h) and the dk__http_parse_* functions, which use
 * only their arguments.
 */
#ifndef DK_HTTP_H
#define DK_HTTP_H
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <uv.h>
#include <http_parser.h>
#include "dynkv/types.h"
#include "util/buf.h"
#include "http/url.h"

typedef struct dk_http_server dk_http_server;
typedef struct dk_http_exchange dk_http_exchange; /* one request/response */

/* A request header; names are lowercased, values as received (without the
 * surrounding whitespace). */
typedef struct dk_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} dk_http_header;

/* A complete request. All memory belongs to the exchange and stays valid
 * until dk_http_respond() is called for it. Strings are not NUL-terminated. */
typedef struct dk_http_request {
    int method;              /* http_parser's enum http_method */
    const char *method_name; /* "GET", ... (static) */
    const char *path;        /* raw, still percent-encoded, no query */
    size_t path_len;
    const char *query; /* without '?', may be empty (len 0) */
    size_t query_len;
    const dk_http_header *headers;
    size_t n_headers;
    dk_slice body;  /* decoded (chunks reassembled) */
    int http_minor; /* 0 or 1 (HTTP/1.x only) */
    int keep_alive; /* the connection stays open after this one */
} dk_http_request;

/*
 * Limits every server of one node shares (each loop's server points to
 * the same struct): the connection cap and the budget of response bytes
 * queued for slow readers. The caller sets the first three fields, leaves
 * the counters zero, and keeps the struct until every server using it has
 * stopped. Counters are relaxed atomics, readable from any thread.
 *
 * Over max_connections a new connection is accepted, answered 503 with
 * Connection: close and closed (counted in refused). A connection stops
 * being read and parsed while its answered-but-unwritten bytes reach
 * max_conn_output, and, while the node's total is over 5/8 of
 * max_output_total, so does every connection that has output queued. One
 * that owes nothing takes a request while the total plus the answers
 * being prepared (three times the requests in flight times the average
 * answer size: object read, value decoded, answer built) stays under 3/4 of
 * the ceiling; the last quarter covers what the count does not see
 * (connection buffers, allocator slack).
 * Requests stay unparsed in the connection's buffer (then in the
 * kernel's, throttling the client by TCP flow control) and are answered
 * in order once the output drains. When a connection that owes nothing
 * waits for room, connections whose oldest unwritten answer has waited
 * over 500 ms are closed, oldest first (as Redis does with clients over
 * their output buffer limit): slow readers cannot pin the budget or
 * starve clients that read.
 */
typedef struct dk_http_limits {
    uint32_t max_connections;       /* [0 = no cap] per node */
    size_t max_conn_output;         /* [4 MiB] per connection */
    size_t max_output_total;        /* [256 MiB] per node */
    _Atomic uint64_t open;          /* connections open (refused ones until closed) */
    _Atomic uint64_t output;        /* response bytes answered and not yet written */
    _Atomic uint64_t refused;       /* connections answered 503 (or closed) over the cap */
    _Atomic uint64_t accept_errors; /* accept() failures (EMFILE, ENFILE, ...) */
    _Atomic uint64_t evicted;       /* slow readers closed at the ceiling */
    _Atomic uint64_t inflight;      /* requests the handlers hold (live connections) */
    _Atomic uint64_t avg_answer;    /* moving average of answer sizes (bytes) */
    _Atomic uint64_t waiting;       /* connections owing nothing that wait for room */
} dk_http_limits;

/*
 * An answer a head check gives instead of reading the body (status 0: go
 * on). The check fills it; the layer sends {"error":code,"message":message}
 * with the extra headers ("Name: value\r\n" lines, or empty) and closes
 * the connection, discarding whatever of the body still arrives.
 */
typedef struct dk_http_early {
    int status;       /* 0, or the 4xx to answer now */
    const char *code; /* static */
    char message[200];
    char headers[128];
} dk_http_early;

/*
 * Called on the loop thread, with the handler's arg, when the head of a
 * request that has a body is complete and before any byte of the body is
 * read or buffered (http-parser's on_headers_complete). head has every
 * field but the body. Lets the node refuse an unauthenticated upload at
 * once: no client without a token can make it hold a body. Requests
 * without a body are not checked here and reach the handler as usual.
 */
typedef void (*dk_http_head_check)(void *arg, const dk_http_request *head, dk_http_early *out);

/* Server configuration. Zero fields take the defaults in brackets. */
typedef struct dk_http_conf {
    const char *listen;                 /* "127.0.0.1:8080", "[::1]:0"; port 0 = any */
    size_t max_body;                    /* [1 MiB] larger bodies get 413 */
    size_t max_header;                  /* [16 KiB] larger request heads get 431 */
    uint32_t max_pipeline;              /* [32] outstanding requests per connection */
    uint64_t idle_timeout_ms;           /* [60000] idle keep-alive connections close */
    uint64_t request_timeout_ms;        /* [30000] a request still arriving after this: 408 */
    const struct dk_http_server *share; /* [NULL] accept on this server's socket
                                         * (another loop's) instead of binding */
    dk_http_limits *limits;             /* [NULL: the server's own, no connection cap,
                                 * default output bounds] */
    struct dk_tls_server *tls;          /* [NULL] plain HTTP; else HTTPS only (http/tls.h;
                                 * the caller keeps it until the server stopped) */
    dk_http_head_check head_check;      /* [NULL] every head goes on to its body */
} dk_http_conf;

/* Counters of one server; read with dk_http_server_stats() from any thread. */
typedef struct dk_http_stats {
    uint64_t accepted;     /* connections accepted since start */
    uint64_t open;         /* connections open now */
    uint64_t requests;     /* complete requests handed to the handler */
    uint64_t parse_errors; /* requests answered 400/413/431/505 by this layer */
    uint64_t early;        /* requests answered by the head check, body unread */
    uint64_t timeouts;     /* connections closed by the idle/request timers */
    uint64_t refused;      /* connections this server refused over the cap */
} dk_http_stats;

/*
 * Called on the loop thread for each complete request, in arrival order.
 * The handler must call dk_http_respond (or _error) exactly once for x, now
 * or later, on the same loop thread; req stays valid until then. If the
 * connection dies first, responding just frees x.
 */
typedef void (*dk_http_handler)(void *arg, dk_http_exchange *x, const dk_http_request *req);

/*
 * Bind conf->listen (SO_REUSEADDR only, so an address another process
 * listens on fails with -EADDRINUSE) and start serving on loop; or, with
 * conf->share, accept on a duplicate of that server's listening socket
 * (conf->listen is then ignored; share must stay started until this
 * server has started). Returns 0 and *out, or a negative code with a
 * message in err (bad address, bind failure). conf is copied. Loop thread.
 */
int dk_http_server_start(uv_loop_t *loop, const dk_http_conf *conf, dk_http_handler h, void *arg,
                         dk_http_server **out, char *err, size_t errlen);

/* The bound port (the real one when conf asked for port 0). Any thread. */
int dk_http_server_port(const dk_http_server *s);

/*
 * Graceful stop: close the listener; stop reading new requests, except
 * that a request already arriving on a connection may finish arriving
 * (within request_timeout_ms) and is served; let the requests handed to
 * the handler be answered and flushed (the last response on each
 * connection says "Connection: close"); close every connection; then free s and call done(arg) on the loop thread. Call once,
 * on the loop thread; s is invalid from the moment done runs. Exchanges whose connection had already died may still
 * be answered after done (dk_http_respond then only frees them).
 */
void dk_http_server_stop(dk_http_server *s, void (*done)(void *arg), void *arg);

/* Copy the counters (relaxed atomic reads). Any thread while s lives. */
void dk_http_server_stats(const dk_http_server *s, dk_http_stats *out);

/* First header called lowercase_name; returns its value and length, or NULL
 * when absent. The value points into r (valid as r). */
const char *dk_http_header_get(const dk_http_request *r, const char *lowercase_name, size_t *len);

/*
 * Send the response to x: status, Content-Type (NULL: none), extra_headers
 * (NULL, or "Name: value\r\n" lines; never Content-Length or Connection,
 * which this layer writes), and the body (copied). Content-Length is always
 * sent; HEAD requests get no body bytes; 204 and 304 get neither. After
 * this call x and its request are gone. Loop thread.
 */
void dk_http_respond(dk_http_exchange *x, int status, const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len);

/* As dk_http_respond, but the body is taken rather than copied: the
 * layer frees body->data after the write (headers and body leave in one
 * writev) and leaves *body empty. Loop thread. */
void dk_http_respond_buf(dk_http_exchange *x, int status, const char *content_type, const char *extra_headers,
                         dk_buf *body);
/* Respond with the project's JSON error body
 * {"error":"<code>","message":"<message>"} (message is JSON-escaped). */
void dk_http_respond_error(dk_http_exchange *x, int status, const char *code, const char *message);

/* Reason phrase for a status ("Not Found"); never NULL, static. */
const char *dk_http_status_text(int status);

/* ---- Internal: the socket-free request parser (server and fuzzer) ------ */

/* Where one header lies in dk__http_req.head while the head is parsed. */
typedef struct dk__http_hoff {
    size_t name_off, name_len, value_off, value_len;
} dk__http_hoff;

/* One parsed request and the storage its dk_http_request points into. */
typedef struct dk__http_req {
    dk_http_request pub;
    dk_buf head; /* URL, then header names and values */
    dk_buf body;
    dk__http_hoff *off; /* headers as offsets while head grows */
    size_t n_off, cap_off;
    dk_http_header *hdrs; /* pointers into head once it is complete */
    size_t cap_hdrs;
    size_t url_len;
    int expect_continue;       /* "Expect: 100-continue" and a body follows */
    struct dk__http_req *next; /* in a pool's free list */
} dk__http_req;

/*
 * Requests kept for reuse, with their buffers (one pool per server, so
 * per loop thread; every connection of the server parses into it): once a
 * few are in circulation a request allocates nothing. At most
 * DK__HTTP_POOL_MAX are kept, and only with modest buffers (a large head
 * or body goes back to the allocator), so an idle server holds little.
 */
#define DK__HTTP_POOL_MAX 64
typedef struct dk__http_pool {
    dk__http_req *free;
    unsigned n;
} dk__http_pool;

/* Give r back: kept in pool (may be NULL) when there is room and its
 * buffers are small, freed otherwise. NULL r: nothing. */
void dk__http_req_release(dk__http_pool *pool, dk__http_req *r);
/* Free every request pool keeps. */
void dk__http_pool_free(dk__http_pool *pool);

/* dk__http_parse_feed outcomes (>= 0) */
enum {
    DK__HTTP_MORE = 0,   /* all bytes used; feed more */
    DK__HTTP_HEAD = 1,   /* head done, body follows, client expects 100 Continue */
    DK__HTTP_REQUEST = 2 /* a request is complete: dk__http_parse_take() */
};

typedef struct dk__http_parse {
    http_parser hp;
    size_t max_body, max_header;
    size_t head_bytes;    /* bytes of the current head (or trailers) so far */
    int in_body;          /* head complete, body or trailers in progress */
    int in_message;       /* a request has begun and is not complete */
    int last_value;       /* last header callback was a value */
    int event;            /* outcome a callback paused the parser for */
    int err;              /* sticky: once set, feed returns it */
    int err_status;       /* 400, 413, 431, 505 */
    const char *err_code; /* "bad_request", ... */
    const char *err_msg;
    size_t body_wire;              /* chunked: encoded body bytes so far */
    dk_http_head_check head_check; /* [NULL] see dk_http_conf */
    void *head_arg;
    dk_http_early early; /* what head_check answered; err_msg points in */
    char msg[160];       /* storage for err_msg when composed */
    dk__http_req *cur;   /* being assembled; owned */
    dk__http_req *done;  /* complete, waiting for take; owned */
    dk__http_pool *pool; /* [NULL] where requests come from and go back to */
} dk__http_parse;

/* Prepare p for a new connection (head_check NULL; set it and head_arg
 * after this call to check heads; pool NULL: each request is allocated
 * and freed, else set pool too). An answer of head_check is an error
 * outcome (-EACCES) with early.status set; early.headers go with it. */
void dk__http_parse_init(dk__http_parse *p, size_t max_body, size_t max_header);

/* Split the request target t[0..len) into out's path and query when it is
 * a plain origin-form target (the parser's fast path); 1 when it did, 0
 * (out unchanged) for anything that needs http_parser_parse_url. */
int dk__http_target_simple(const char *t, size_t len, dk_http_request *out);

/*
 * Parse up to len bytes, stopping after at most one outcome; *used says how
 * many bytes were consumed (the rest must be fed again). Returns an outcome
 * above, or a negative code (-EPROTO, DK_ETOOBIG, -ENOMEM) with err_status,
 * err_code and err_msg set: the answer to send before closing. After an
 * error the parser only repeats it.
 */
int dk__http_parse_feed(dk__http_parse *p, const char *data, size_t len, size_t *used);

/* The request completed by the last DK__HTTP_REQUEST outcome; the caller
 * owns it (dk__http_req_free, or dk__http_req_release to p's pool). NULL
 * if none. */
dk__http_req *dk__http_parse_take(dk__http_parse *p);

/* The request whose head just completed (DK__HTTP_HEAD); borrowed. */
static inline const dk__http_req *dk__http_parse_current(const dk__http_parse *p)
{
    return p->cur;
}

/* 1 while a request has begun arriving and is not complete. */
static inline int dk__http_parse_busy(const dk__http_parse *p)
{
    return p->in_message;
}

/* Free what p holds (a partial or untaken request). */
void dk__http_parse_free(dk__http_parse *p);

void dk__http_req_free(dk__http_req *r);

/*
 * Append to out the response head up to, not including, the Connection
 * line and the blank line (dk__http_head_finish adds them). Returns 0 or
 * -ENOMEM.
 */
int dk__http_head_start(dk_buf *out, int status, const char *content_type, const char *extra_headers,
                        size_t body_len);
int dk__http_head_finish(dk_buf *out, int close, int http10_keepalive);

/* Append {"error":code,"message":message} with JSON escaping. */
int dk__http_error_json(dk_buf *out, const char *code, const char *message);
#endif
