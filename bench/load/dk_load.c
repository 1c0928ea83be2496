/*
 * dk_load - an HTTP/1.1 load generator for dynkv's /kv/{key} API that does
 * not suffer from coordinated omission (the same idea as wrk2).
 *
 * Design:
 *  - One thread, one epoll loop, C keep-alive connections spread round-robin
 *    over the target nodes (connection i talks to target i % T). Each
 *    connection has at most one request outstanding, as a browser or a
 *    pooled client would; responses are parsed with libhttp-parser.
 *  - Open loop (--rate R): request number s is *intended* to start at
 *    t0 + s/R. Whenever a connection is idle and the next intended time has
 *    come, that request goes out; when every connection is busy, the due
 *    requests wait in an (implicit) FIFO backlog. Latency is measured from the
 *    intended time, not from when the request could be written, so a server
 *    stall shows up in the percentiles of every request it delayed. A
 *    timerfd set to the next intended time (with 1 us timer slack) wakes the
 *    loop; the wake-up delay is part of the measured latency.
 *  - Closed loop (no --rate): every connection sends its next request as
 *    soon as the previous response arrived; latency is from the actual send.
 *    This finds the peak throughput, and its percentiles are service times.
 *  - Latencies go into a log-linear histogram (64 sub-buckets per power of
 *    two of nanoseconds: within 1.6 %); quantiles report a bucket's upper
 *    bound. Requests due during --warmup are left out of the totals (the
 *    per-second INTERVAL lines include them).
 *  - After --duration, no new request is scheduled; the backlog and the
 *    requests in flight drain for up to --drain seconds; what is left then is
 *    reported as unfinished. The achieved rate is the recorded completions
 *    over the time from the end of warm-up to the last completion.
 *  - A failed connection (reset, refused, bad response, --timeout expired)
 *    counts one error for its in-flight request and reconnects after 20 ms.
 *    Responses are counted by status: 2xx are successes, 404 "notfound",
 *    everything else an error.
 *  - PUT bodies are --value-size bytes sliced at random offsets from a pool
 *    of pseudo-random (incompressible) bytes. GETs send
 *    `Accept: application/octet-stream` (the raw value, no JSON/base64) and
 *    check that a 200 body is --value-size bytes long ("badlen" otherwise).
 *
 *  - --redis speaks RESP to a Redis server instead (SET key value / GET key,
 *    the same keys, values, rates and clock), so the peer in a CPU-cost run
 *    is driven by the same open loop as dynkv. A reply is parsed by a small
 *    incremental RESP reader: +OK counts as 200, a nil bulk ($-1) as 404, a
 *    bulk string as 200 with its length checked like a GET body, an error
 *    (-ERR) as 500.
 *
 *  - --tls (or --cacert FILE) speaks HTTPS (OpenSSL, TLS 1.2+): each
 *    connection does its handshake once when it connects, then carries its
 *    requests as before; a request is written with SSL_write from one
 *    buffer (head and body copied together) and read with SSL_read. With
 *    --cacert the server's certificate is verified against FILE (the
 *    target's host as IP address); with --tls alone it is not.
 *
 * Output: a human summary, optional per-second INTERVAL lines, and one line
 * `RESULT key=value ...` for scripts (see bench/load/README.md).
 *
 * Files: this one holds the options and the main loop (when each request is
 * due, dispatch to idle connections, timeouts); load_client.c the
 * connections (HTTP, RESP, TLS); load_report.c the histograms, counters and
 * output lines; load.h what they share.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

ld_options ld_opt = {.conns = 50,
                     .duration = 10,
                     .drain = 10,
                     .timeout = 10,
                     .vsize = 10240,
                     .keyspace = 100000,
                     .seed = 1,
                     .repeat = 1,
                     .prefix = "k"};
unsigned char *ld_pool;
uint64_t ld_t0, ld_warm_end;

static ld_conn *ld_conns;
static uint64_t ld_rng;
static uint64_t ld_end, ld_next_seq;

static uint64_t ld_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ld_rand(void)
{
    /* xorshift64* */
    ld_rng ^= ld_rng >> 12;
    ld_rng ^= ld_rng << 25;
    ld_rng ^= ld_rng >> 27;
    return ld_rng * 2685821657736338717ull;
}

void ld_die(const char *what)
{
    fprintf(stderr, "dk_load: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int ld_parse_target(const char *s, int i)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    memcpy(&ld_opt.addr[i], res->ai_addr, res->ai_addrlen);
    ld_opt.addrlen[i] = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(ld_opt.host[i], sizeof ld_opt.host[i], "%s", s);
    return 0;
}

static void ld_usage(int code)
{
    fprintf(
        code ? stderr : stdout,
        "Usage: dk_load [options] HOST:PORT[,HOST:PORT...]\n"
        "  -m, --method put|get      request kind (default put)\n"
        "  -c, --connections N       keep-alive connections, spread over the targets (50)\n"
        "  -R, --rate R              open loop at R requests/s; 0 or absent: closed loop\n"
        "  -d, --duration S          seconds of load after the start (10)\n"
        "  -w, --warmup S            first seconds not recorded (0)\n"
        "  -n, --requests N          closed loop: stop after N requests (0: no limit)\n"
        "  -s, --value-size B        PUT body / expected GET body size (10240)\n"
        "  -k, --keyspace N          keys are PREFIX + 10 digits in [0, N) (100000)\n"
        "  -p, --prefix P            key prefix (k)\n"
        "      --seq                 keys in order 0,1,2,... instead of uniform random\n"
        "      --perm                every key once, in a scrambled order (then again)\n"
        "      --repeat N            with --seq or --perm: each key N times in a row (1)\n"
        "  -H, --header 'Name: v'    extra request header, repeatable\n"
        "  -i, --interval            print an INTERVAL line every second\n"
        "      --slow MS             print a SLOW line (CLOCK_MONOTONIC times) per request slower than MS\n"
        "      --drain S             wait for the backlog this long after --duration (10)\n"
        "      --timeout S           a request taking longer fails its connection (10)\n"
        "      --seed N              random seed (1)\n"
        "      --redis               speak RESP to a Redis server (SET/GET) instead of HTTP\n"
        "      --tls                 HTTPS (TLS 1.2+), the server's certificate not checked\n"
        "      --cacert FILE         HTTPS, the certificate checked against the CA in FILE\n");
    exit(code);
}

static void ld_parse_args(int argc, char **argv)
{
    static const struct option longs[] = {{"method", 1, 0, 'm'},
                                          {"connections", 1, 0, 'c'},
                                          {"rate", 1, 0, 'R'},
                                          {"duration", 1, 0, 'd'},
                                          {"warmup", 1, 0, 'w'},
                                          {"requests", 1, 0, 'n'},
                                          {"value-size", 1, 0, 's'},
                                          {"keyspace", 1, 0, 'k'},
                                          {"prefix", 1, 0, 'p'},
                                          {"seq", 0, 0, 'S'},
                                          {"perm", 0, 0, 'P'},
                                          {"header", 1, 0, 'H'},
                                          {"interval", 0, 0, 'i'},
                                          {"drain", 1, 0, 'D'},
                                          {"timeout", 1, 0, 'T'},
                                          {"seed", 1, 0, 'E'},
                                          {"redis", 0, 0, 'r'},
                                          {"tls", 0, 0, 'L'},
                                          {"cacert", 1, 0, 'A'},
                                          {"slow", 1, 0, 'W'},
                                          {"repeat", 1, 0, 'Y'},
                                          {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};
    int o;
    ld_opt.put = 1;
    while ((o = getopt_long(argc, argv, "m:c:R:d:w:n:s:k:p:H:ih", longs, NULL)) != -1) {
        switch (o) {
        case 'm':
            if (!strcasecmp(optarg, "put"))
                ld_opt.put = 1;
            else if (!strcasecmp(optarg, "get"))
                ld_opt.put = 0;
            else
                ld_usage(2);
            break;
        case 'c': ld_opt.conns = atoi(optarg); break;
        case 'R': ld_opt.rate = atof(optarg); break;
        case 'd': ld_opt.duration = atof(optarg); break;
        case 'w': ld_opt.warmup = atof(optarg); break;
        case 'n': ld_opt.limit = strtoull(optarg, NULL, 10); break;
        case 's': ld_opt.vsize = strtoull(optarg, NULL, 10); break;
        case 'k': ld_opt.keyspace = strtoull(optarg, NULL, 10); break;
        case 'p': ld_opt.prefix = optarg; break;
        case 'S': ld_opt.seq = 1; break;
        case 'P': ld_opt.seq = 2; break;
        case 'Y': ld_opt.repeat = strtoull(optarg, NULL, 10); break;
        case 'H':
            if (ld_opt.nheaders == LD_MAX_HEADERS || !strchr(optarg, ':'))
                ld_usage(2);
            ld_opt.headers[ld_opt.nheaders++] = optarg;
            break;
        case 'i': ld_opt.interval = 1; break;
        case 'W': ld_opt.slow_ms = atof(optarg); break;
        case 'D': ld_opt.drain = atof(optarg); break;
        case 'T': ld_opt.timeout = atof(optarg); break;
        case 'E': ld_opt.seed = strtoull(optarg, NULL, 10); break;
        case 'r': ld_opt.redis = 1; break;
        case 'L': ld_opt.tls = 1; break;
        case 'A':
            ld_opt.tls = 1;
            ld_opt.cacert = optarg;
            break;
        case 'h': ld_usage(0); break;
        default: ld_usage(2);
        }
    }
    if (optind != argc - 1 || ld_opt.conns < 1 || ld_opt.conns > 10000 || ld_opt.keyspace == 0 ||
        ld_opt.keyspace >= 1000000007ull || ld_opt.vsize > 64u << 20 || ld_opt.duration <= 0 ||
        ld_opt.rate < 0 || strlen(ld_opt.prefix) > 200 || ld_opt.repeat == 0)
        ld_usage(2);
    char *list = strdup(argv[optind]), *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (ld_opt.ntargets == LD_MAX_TARGETS || ld_parse_target(t, ld_opt.ntargets) < 0) {
            fprintf(stderr, "dk_load: bad target %s (want HOST:PORT)\n", t);
            exit(2);
        }
        ld_opt.ntargets++;
    }
    free(list);
    if (ld_opt.ntargets == 0)
        ld_usage(2);
}

static void ld_arm(int tfd, uint64_t at)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(at / 1000000000ull), .tv_nsec = (long)(at % 1000000000ull)}};
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int main(int argc, char **argv)
{
    ld_parse_args(argc, argv);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    ld_rng = ld_opt.seed * 0x9E3779B97F4A7C15ull + 1;
    ld_pool = malloc(LD_POOL + ld_opt.vsize);
    ld_conns = calloc((size_t)ld_opt.conns, sizeof *ld_conns);
    ld_idle = calloc((size_t)ld_opt.conns, sizeof *ld_idle);
    if (!ld_pool || !ld_conns || !ld_idle)
        ld_die("malloc");
    for (size_t i = 0; i < LD_POOL + ld_opt.vsize; i += 8) {
        uint64_t r = ld_rand();
        memcpy(ld_pool + i, &r, (LD_POOL + ld_opt.vsize - i) < 8 ? LD_POOL + ld_opt.vsize - i : 8);
    }
    ld_client_init();
    ld_ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ld_ep < 0 || tfd < 0)
        ld_die("epoll/timerfd");
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ld_ep, EPOLL_CTL_ADD, tfd, &tev);

    uint64_t now = ld_now();
    for (int i = 0; i < ld_opt.conns; i++) {
        ld_conns[i].idx = i;
        ld_conns[i].fd = -1;
        ld_conns[i].target = i % ld_opt.ntargets;
        ld_connect(&ld_conns[i], now);
    }
    /* Connect everything before the clock starts (at most 5 s). */
    struct epoll_event evs[256];
    uint64_t give_up = now + 5000000000ull;
    while (ld_nidle < ld_opt.conns && now < give_up) {
        int n = epoll_wait(ld_ep, evs, 256, 50);
        now = ld_now();
        for (int i = 0; i < n; i++)
            if (evs[i].data.ptr)
                ld_event(evs[i].data.ptr, evs[i].events, now);
        for (int i = 0; i < ld_opt.conns; i++)
            if (ld_conns[i].state == LD_DOWN && ld_conns[i].retry_at <= now)
                ld_connect(&ld_conns[i], now);
    }
    if (ld_nidle == 0) {
        fprintf(stderr, "dk_load: could not connect to %s\n", ld_opt.host[0]);
        return 2;
    }

    ld_t0 = ld_now();
    ld_warm_end = ld_t0 + (uint64_t)(ld_opt.warmup * 1e9);
    ld_end = ld_t0 + (uint64_t)(ld_opt.duration * 1e9);
    uint64_t drain_end = ld_end + (uint64_t)(ld_opt.drain * 1e9);
    uint64_t tmo = (uint64_t)(ld_opt.timeout * 1e9);
    double interval_ns = ld_opt.rate > 0 ? 1e9 / ld_opt.rate : 0;
    uint64_t total_seq = ld_opt.rate > 0 ? (uint64_t)(ld_opt.duration * ld_opt.rate) : 0;
    uint64_t next_tick = ld_t0 + 10000000ull, next_ivl = ld_t0 + 1000000000ull;
    for (;;) {
        now = ld_now();
        int stop = now >= ld_end || (ld_opt.limit && ld_issued >= ld_opt.limit);
        /* Dispatch due requests to idle connections. */
        if (ld_opt.rate > 0) {
            while (ld_nidle > 0 && ld_next_seq < total_seq) {
                uint64_t at = ld_t0 + (uint64_t)((double)ld_next_seq * interval_ns);
                if (at > now)
                    break;
                ld_conn *c = ld_idle[--ld_nidle];
                ld_next_seq++;
                ld_send(c, at, now);
            }
        } else if (!stop) {
            while (ld_nidle > 0 && !(ld_opt.limit && ld_issued >= ld_opt.limit)) {
                ld_conn *c = ld_idle[--ld_nidle];
                ld_send(c, now, now);
            }
        }
        if (now >= next_tick) {
            for (int i = 0; i < ld_opt.conns; i++) {
                ld_conn *c = &ld_conns[i];
                if (c->state == LD_BUSY && now - c->sent > tmo) {
                    ld_timeouts++;
                    ld_fail(c, now);
                } else if (c->state == LD_DOWN && c->retry_at <= now && now < drain_end) {
                    ld_connect(c, now);
                }
            }
            next_tick = now + 10000000ull;
        }
        if (ld_opt.interval && now >= next_ivl) {
            ld_print_ivl(now);
            next_ivl += 1000000000ull;
        }
        int backlog = ld_opt.rate > 0 && ld_next_seq < total_seq;
        if ((stop && !backlog && ld_inflight == 0) || now >= drain_end)
            break;
        uint64_t wake = next_tick;
        if (ld_opt.interval && next_ivl < wake)
            wake = next_ivl;
        if (backlog && ld_nidle > 0) {
            uint64_t at = ld_t0 + (uint64_t)((double)ld_next_seq * interval_ns);
            if (at < wake)
                wake = at;
        }
        ld_arm(tfd, wake);
        int n = epoll_wait(ld_ep, evs, 256, -1);
        if (n < 0 && errno != EINTR)
            ld_die("epoll_wait");
        now = ld_now();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t exp;
                ssize_t r = read(tfd, &exp, sizeof exp);
                (void)r;
            } else {
                ld_event(evs[i].data.ptr, evs[i].events, now);
            }
        }
    }
    now = ld_now();
    uint64_t unsent = ld_opt.rate > 0 ? total_seq - ld_next_seq : 0;
    uint64_t unfinished = ld_inflight + unsent;
    ld_report(unfinished);
    for (int i = 0; i < ld_opt.conns; i++)
        if (ld_conns[i].fd >= 0)
            close(ld_conns[i].fd);
    free(ld_pool);
    free(ld_conns);
    free(ld_idle);
    close(tfd);
    close(ld_ep);
    return ld_errors || unfinished ? 1 : 0;
}
