/*
 * load.h - what dk_load's three files share: dk_load.c (options and the
 * main loop: when each request is due, dispatch to idle connections,
 * timeouts), load_client.c (the connections: HTTP/RESP over TCP or TLS)
 * and load_report.c (histograms, counters, INTERVAL and RESULT lines).
 *
 * dk_load is one thread over one epoll loop, so the state is plain
 * globals, each defined in the file that owns it (noted below) and only
 * read by the others.
 */
#ifndef DK_LOAD_H
#define DK_LOAD_H
#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <openssl/ssl.h>

#define LD_SUB_BITS 6
#define LD_SUB (1 << LD_SUB_BITS)
#define LD_NBUCKETS (LD_SUB * (64 - LD_SUB_BITS + 1))
#define LD_MAX_TARGETS 64
#define LD_MAX_HEADERS 16
#define LD_RBUF 65536
#define LD_POOL (1 << 20)
#define LD_RECONNECT_NS 20000000ull

typedef struct ld_hist {
    uint64_t n, max, b[LD_NBUCKETS];
} ld_hist;

enum { LD_DOWN, LD_CONNECTING, LD_HANDSHAKE, LD_IDLE, LD_BUSY };

typedef struct ld_conn {
    int fd, state, idx, target;
    uint64_t intended, sent, retry_at; /* ns, CLOCK_MONOTONIC */
    char hdr[1024];
    struct iovec iov[3];
    int niov;
    http_parser parser;
    int done, keepalive, status;
    size_t body_len;
    /* --redis: the RESP reply reader */
    char line[64];
    size_t line_len;
    int64_t bulk_left; /* > 0: bytes of a bulk string (+2 for CRLF) still due */
    SSL *ssl;          /* --tls */
    char *tbuf;        /* --tls: the request, head and body in one buffer */
    size_t tcap;
} ld_conn;

typedef struct ld_options {
    int put, redis;
    struct sockaddr_storage addr[LD_MAX_TARGETS];
    socklen_t addrlen[LD_MAX_TARGETS];
    char host[LD_MAX_TARGETS][128];
    int ntargets;
    const char *headers[LD_MAX_HEADERS];
    int nheaders;
    int conns;
    double rate, duration, warmup, drain, timeout, interval;
    double slow_ms; /* > 0: print a SLOW line per request slower than this */
    size_t vsize;
    uint64_t keyspace, limit, seed;
    int seq;
    uint64_t repeat; /* --seq/--perm: each key this many times in a row */
    const char *prefix;
    int tls;
    const char *cacert;
} ld_options;

/* dk_load.c: the options, the pool PUT bodies are sliced from, the start
 * of the clock and the end of warm-up (ns, CLOCK_MONOTONIC). */
extern ld_options ld_opt;
extern unsigned char *ld_pool;
extern uint64_t ld_t0, ld_warm_end;

/* load_client.c: the epoll set, the idle connections, and counts of
 * requests issued and in flight, connection errors, timeouts (counted by
 * the main loop) and TLS handshakes. */
extern int ld_ep;
extern ld_conn **ld_idle;
extern int ld_nidle;
extern uint64_t ld_issued, ld_inflight, ld_conn_errors, ld_timeouts, ld_handshakes;

/* load_report.c: failed requests after warm-up (the exit status). */
extern uint64_t ld_errors;

/* dk_load.c: the next number of the seeded xorshift64* sequence. */
uint64_t ld_rand(void);
/* dk_load.c: say what failed with errno's text and exit(2). */
void ld_die(const char *what);

/* Parser callbacks and, with --tls, the TLS context; exits on failure. */
void ld_client_init(void);
/* Start a non-blocking connect of c to its target (c->state LD_CONNECTING;
 * on an immediate refusal c stays LD_DOWN with a retry time). */
void ld_connect(ld_conn *c, uint64_t now);
/* Send the next request (key number ld_issued) on idle connection c; its
 * latency counts from intended. */
void ld_send(ld_conn *c, uint64_t intended, uint64_t now);
/* A request failed on c (reset, bad response, timeout): count it, close c
 * for a reconnect LD_RECONNECT_NS later. */
void ld_fail(ld_conn *c, uint64_t now);
/* Handle epoll events ev on c: connect and handshake progress, pending
 * writes, responses (a complete one puts c back on the idle list). */
void ld_event(ld_conn *c, uint32_t ev, uint64_t now);

/* Count a completed request: status (a RESP reply mapped to 200, 404 or
 * 500) and, for a GET's 200, whether body_len is --value-size. Only
 * requests due after warm-up reach the totals; INTERVAL lines count all. */
void ld_record(uint64_t intended, uint64_t sent, int status, size_t body_len, uint64_t now);
/* Count a request that failed with its connection. */
void ld_record_fail(uint64_t intended);
/* Print one INTERVAL line for the second ending at now and start the next. */
void ld_print_ivl(uint64_t now);
/* Print the summary and the RESULT line; unfinished counts requests in
 * flight or never sent when the run ended. */
void ld_report(uint64_t unfinished);

#endif /* DK_LOAD_H */
