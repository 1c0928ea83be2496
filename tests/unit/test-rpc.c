/*
 * test-rpc.c - the RPC transport (framework/rpc/rpc.h) over real
 * sockets: handshake and requests, deadlines and probes, a peer that goes
 * down and comes back, stop, and the peers it must refuse (other cluster,
 * other secret, bad MACs, malformed frames, silent peers). Many calls in
 * flight at once (order, write batching, backpressure) are in
 * test-rpc-batch.c.
 *
 * Every test runs several dk_rpc instances on 127.0.0.1 (port 0) in one
 * uv loop on the test thread (tc_rpc.h); SPIN runs the loop until a
 * condition holds (a 5 ms ticker keeps uv_run from blocking). Raw blocking sockets play
 * hostile clients: the kernel completes their connect from the listen
 * backlog, so they never need the loop while they send. Each test stops
 * its instances and asserts uv_loop_close() == 0.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/log.h"
#include "base/metrics.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "rpc/rpc.h"
#include "tc_rpc.h"

/* ---- tests ---------------------------------------------------------------- */

static void test_ping_and_request(void)
{
    node a = {0}, b = {0};
    pair_start(&a, &b);
    CU_ASSERT(b.port > 0 && b.port != a.port);

    dk_msg_ping ping = {123456789u};
    dk_buf pb = DK_BUF_INIT;
    CU_ASSERT_FATAL(dk_msg_ping_encode(&pb, &ping) == 0);
    res x = {0};
    CU_ASSERT_FATAL(dk_rpc_call(a.r, "b", b.addr, DK_MSG_PING, pb.data, pb.len, 1000, on_res, &x) == 0);
    CU_ASSERT(x.calls == 0); /* never from inside dk_rpc_call */
    SPIN(x.calls, 2000);
    CU_ASSERT(x.calls == 1 && x.status == 0 && x.type == DK_MSG_PONG);
    dk_msg_ping pong;
    CU_ASSERT(dk_msg_ping_decode((dk_slice){(const uint8_t *)x.body, x.len}, &pong) == 0);
    CU_ASSERT(pong.time_ns == ping.time_ns);
    dk_buf_free(&pb);

    CU_ASSERT(call_sync(&a, &b, "hello") == 0);
    b.hold = 1;
    res y = {0};
    CU_ASSERT_FATAL(call(&a, &b, "who", 1000, &y) == 0);
    SPIN(b.n_held == 1, 2000);
    CU_ASSERT_FATAL(b.n_held == 1);
    CU_ASSERT_STRING_EQUAL(dk_rpc_req_peer(b.held[0]), "a");
    node_answer_all(&b, 0);
    SPIN(y.calls, 2000);
    CU_ASSERT(y.calls == 1 && y.status == 0);

    dk_rpc_stats sa = stats(&a), sb = stats(&b);
    CU_ASSERT(sa.conns_connected >= 1 && sb.conns_accepted >= 1);
    CU_ASSERT(sa.requests_out == 3 && sb.requests_in == 3);
    CU_ASSERT(sa.handshake_failures == 0 && sb.handshake_failures == 0 && sb.bad_frames == 0);

    /* Refused before queueing: an error and no callback. */
    res z = {0};
    CU_ASSERT(dk_rpc_call(a.r, "b", b.addr, DK_MSG_PING, NULL, 0, 0, on_res, &z) == -EINVAL);
    CU_ASSERT(dk_rpc_call(a.r, "b", "nowhere", DK_MSG_PING, NULL, 0, 100, on_res, &z) == -EINVAL);
    CU_ASSERT(dk_rpc_call(a.r, "B!", b.addr, DK_MSG_PING, NULL, 0, 100, on_res, &z) == -EINVAL);
    CU_ASSERT(dk_rpc_call(a.r, "b", b.addr, DK_MSG_HELLO, NULL, 0, 100, on_res, &z) == -EINVAL);
    void *big = calloc(1, DK_FRAME_BODY_MAX + 1);
    CU_ASSERT(dk_rpc_call(a.r, "b", b.addr, DK_MSG_PUT_REPLICA, big, DK_FRAME_BODY_MAX + 1, 100, on_res,
                          &z) == DK_ETOOBIG);
    free(big);
    SPIN(0, 50);
    CU_ASSERT(z.calls == 0);

    pair_stop(&a, &b);
}

static void test_deadline(void)
{
    node a = {0}, b = {0};
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "warm") == 0);
    b.hold = 1;
    res x = {0};
    uint64_t t0 = uv_hrtime();
    CU_ASSERT_FATAL(call(&a, &b, "slow", 100, &x) == 0);
    SPIN(x.calls, 2000);
    CU_ASSERT(x.calls == 1 && x.status == DK_ETIMEOUT);
    CU_ASSERT((x.at_ns - t0) / 1000000u >= 90);
    CU_ASSERT(stats(&a).timeouts == 1);
    /* The transport probes the connection; b's transport answers the PING
     * although its handler is stuck, so the connection stays. */
    SPIN(stats(&b).requests_in >= 3, 1000);
    CU_ASSERT(stats(&b).requests_in == 3);
    CU_ASSERT_FATAL(b.n_held == 1);
    node_answer_all(&b, 0);
    SPIN(stats(&a).late_replies == 1, 1000);
    CU_ASSERT(stats(&a).late_replies == 1);
    CU_ASSERT(x.calls == 1);
    b.hold = 0;
    SPIN(0, 400); /* past the probe timeout */
    CU_ASSERT(call_sync(&a, &b, "again") == 0);
    /* No connection was lost to the probe. */
    CU_ASSERT(stats(&a).conns_connected == stats(&a).conns_open);
    CU_ASSERT(stats(&a).timeouts == 1);
    pair_stop(&a, &b);
}

/* Deadlines that arrive out of order: a short one after a long one is
 * failed first and the long one still answers; the deadline timer, left
 * running for a request answered in time, and moved earlier for a short
 * deadline, always reaches the next deadline. */
static void test_deadline_order(void)
{
    node a = {0}, b = {0};
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "warm") == 0);
    b.hold = 1;
    res lng = {0}, shrt = {0}, mid = {0}, gone = {0};
    CU_ASSERT_FATAL(call(&a, &b, "gone", 60, &gone) == 0);
    SPIN(b.n_held == 1, 2000);
    CU_ASSERT_FATAL(b.n_held == 1);
    node_answer_all(&b, 0); /* answered before its deadline */
    SPIN(gone.calls, 2000);
    CU_ASSERT(gone.calls == 1 && gone.status == 0);
    CU_ASSERT_FATAL(call(&a, &b, "long", 4000, &lng) == 0);
    SPIN(0, 100); /* past the answered one's deadline */
    CU_ASSERT_FATAL(call(&a, &b, "short", 100, &shrt) == 0);
    CU_ASSERT_FATAL(call(&a, &b, "mid", 400, &mid) == 0);
    SPIN(shrt.calls, 2000);
    CU_ASSERT(shrt.calls == 1 && shrt.status == DK_ETIMEOUT);
    CU_ASSERT(mid.calls == 0 && lng.calls == 0);
    SPIN(mid.calls, 2000);
    CU_ASSERT(mid.calls == 1 && mid.status == DK_ETIMEOUT);
    CU_ASSERT(lng.calls == 0);
    CU_ASSERT(stats(&a).timeouts == 2);
    SPIN(b.n_held == 3, 2000);
    CU_ASSERT_FATAL(b.n_held == 3);
    node_answer_all(&b, 0);
    SPIN(lng.calls, 2000);
    CU_ASSERT(lng.calls == 1 && lng.status == 0);
    CU_ASSERT(gone.calls == 1 && shrt.calls == 1 && mid.calls == 1);
    pair_stop(&a, &b);
}

static void test_peer_down_and_back(void)
{
    node a = {0}, b = {0};
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "up") == 0);
    int port = b.port;
    node_stop(&b);

    res x = {0};
    uint64_t t0 = uv_hrtime();
    CU_ASSERT_FATAL(call(&a, &b, "down", 5000, &x) == 0);
    SPIN(x.calls, 2000);
    CU_ASSERT(x.calls == 1 && (x.status == DK_EUNAVAILABLE || x.status == -ECONNRESET));
    CU_ASSERT((x.at_ns - t0) / 1000000u < 1000); /* fast, not at the deadline */
    res y = {0};
    t0 = uv_hrtime();
    CU_ASSERT_FATAL(call(&a, &b, "backoff", 5000, &y) == 0);
    SPIN(y.calls, 2000);
    CU_ASSERT(y.calls == 1 && y.status == DK_EUNAVAILABLE);
    CU_ASSERT((y.at_ns - t0) / 1000000u < 200);
    CU_ASSERT(stats(&a).connect_failures >= 1);

    CU_ASSERT_FATAL(node_start_at(&b, "b", "dk-test", NULL, "127.0.0.1", port, 0) == 0);
    int ok = 0;
    for (int i = 0; i < 100 && !ok; i++) {
        res z = {0};
        CU_ASSERT_FATAL(call(&a, &b, "back", 1000, &z) == 0);
        SPIN(z.calls, 2000);
        ok = z.calls == 1 && z.status == 0;
        if (!ok)
            SPIN(0, 50);
    }
    CU_ASSERT(ok);
    pair_stop(&a, &b);
}

static int file_has(const char *path, const char *needle)
{
    char buf[16384];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static void test_wrong_cluster(void)
{
    node a = {0}, b = {0}, c = {0};
    char dir[] = "/tmp/dk-test-rpc-XXXXXX", path[64];
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/log", dir);
    CU_ASSERT_FATAL(dk_log_open(path, DK_LOG_INFO) == 0);
    loop_setup();
    /* a listens on 127.0.0.2, so its outgoing sockets come from there. */
    CU_ASSERT_FATAL(node_start_at(&a, "a", "dk-test", NULL, "127.0.0.2", 0, 0) == 0);
    CU_ASSERT_FATAL(node_start(&b, "b", "dk-test", NULL) == 0);
    CU_ASSERT_FATAL(node_start(&c, "c", "other", NULL) == 0);
    CU_ASSERT(call_sync(&a, &c, "hi") == DK_ECONFIG);
    CU_ASSERT(stats(&c).wrong_cluster == 1 && stats(&c).handshake_failures == 1);
    CU_ASSERT(stats(&a).wrong_cluster == 1 && stats(&a).handshake_failures == 1);
    CU_ASSERT(stats(&c).requests_in == 0);
    /* A different node answering at the address is refused as well. */
    res x = {0};
    CU_ASSERT_FATAL(dk_rpc_call(a.r, "zz", b.addr, DK_MSG_GET_REPLICA, "k", 1, 1000, on_res, &x) == 0);
    SPIN(x.calls, 2000);
    CU_ASSERT(x.calls == 1 && x.status == DK_ECONFIG);
    CU_ASSERT(call_sync(&a, &b, "still fine") == 0);
    node_stop(&a);
    node_stop(&b);
    node_stop(&c);
    loop_teardown();
    dk_log_close();
    /* Both sides logged, with the peer's address and both cluster names. */
    CU_ASSERT(file_has(path, "refused connection from 127.0.0.2:"));
    CU_ASSERT(file_has(path, "handshake with node c at 127.0.0.1:"));
    CU_ASSERT(file_has(path, "node a belongs to cluster 'dk-test', node c to cluster 'other'"));
    CU_ASSERT(file_has(path, "node zz was expected"));
    unlink(path);
    CU_ASSERT(rmdir(dir) == 0);
}

static void test_secret(void)
{
    node s1 = {0}, s1b = {0}, s2 = {0}, open_ = {0};
    loop_setup();
    CU_ASSERT_FATAL(node_start(&s1, "s1", "dk-test", "one") == 0);
    CU_ASSERT_FATAL(node_start(&s1b, "s1b", "dk-test", "one") == 0);
    CU_ASSERT_FATAL(node_start(&s2, "s2", "dk-test", "two") == 0);
    CU_ASSERT_FATAL(node_start(&open_, "open", "dk-test", NULL) == 0);
    CU_ASSERT(call_sync(&s1, &s1b, "same key") == 0);
    CU_ASSERT(call_sync(&s1, &s2, "other key") == -EACCES);
    CU_ASSERT(call_sync(&open_, &s2, "default key") == -EACCES);
    CU_ASSERT(call_sync(&s1, &open_, "peer with the default key") == -EACCES);
    /* The initiator finds the acceptor's proof wrong and never sends its
     * own: the acceptor serves nothing. */
    CU_ASSERT(stats(&s2).requests_in == 0 && stats(&open_).requests_in == 0);
    CU_ASSERT(stats(&s1).handshake_failures == 2 && stats(&s1).auth_failures == 2);
    CU_ASSERT(stats(&open_).auth_failures == 1);
    CU_ASSERT(stats(&s1).wrong_cluster == 0);
    node_stop(&s1);
    node_stop(&s1b);
    node_stop(&s2);
    node_stop(&open_);
    loop_teardown();
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int raw_send(int fd, const void *p, size_t n)
{
    return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* Has the server closed fd? Reads (and drops) whatever it sent first. */
static int raw_closed(int fd)
{
    char buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            return 0;
    }
}

static int raw_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

typedef struct raw_session {
    dk_rpc_mac out, in;
} raw_session;

static void raw_session_free(raw_session *s)
{
    dk_rpc_mac_free(&s->out);
    dk_rpc_mac_free(&s->in);
}

/* Receive one frame (and, with tag, its MAC after it) on fd into in,
 * waiting up to 2 s; returns the frame's length or -1. */
static ssize_t raw_recv_frame(int fd, uint8_t *in, size_t cap, size_t tag, dk_frame_header *h, dk_slice *body)
{
    size_t have = 0;
    uint64_t end = uv_hrtime() + 2000000000u;
    while (uv_hrtime() < end && have < cap) {
        /* The acceptor runs on this thread's loop: turn it while waiting. */
        if (!raw_readable(fd)) {
            uv_run(&loop, UV_RUN_ONCE);
            continue;
        }
        ssize_t n = recv(fd, in + have, cap - have, MSG_DONTWAIT);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        ssize_t f = dk_frame_decode(in, have, h, body, NULL, 0);
        if (f < 0)
            return -1;
        if (f > 0 && have >= (size_t)f + tag)
            return f;
    }
    return -1;
}

/* The initiator's half of the handshake on fd, as node id with the key of
 * secret (test_key), cluster "dk-test"; keys *s. Returns 0, or -1 when the
 * acceptor refused or proved nothing. */
static int raw_handshake(int fd, const char *secret, const char *id, raw_session *s)
{
    uint8_t key[DK_RPC_KEY_LEN], in[4096];
    dk_msg_hello hs[2];
    dk_buf b = DK_BUF_INIT, f = DK_BUF_INIT;
    test_key(secret, key);
    memset(hs, 0, sizeof(hs));
    hs[0].proto_version = DK_RPC_PROTO_VERSION;
    strcpy(hs[0].cluster, "dk-test");
    strcpy(hs[0].node_id, id);
    hs[0].incarnation = 1;
    hs[0].nonce[0] = (uint8_t)fd;
    int ok = dk_msg_hello_encode(&b, &hs[0]) == 0 &&
             dk_frame_encode(&f, DK_MSG_HELLO, 0, 0, b.data, b.len) == 0 && raw_send(fd, f.data, f.len);
    dk_frame_header h;
    dk_slice body;
    ok = ok && raw_recv_frame(fd, in, sizeof(in), 0, &h, &body) > 0 && h.type == DK_MSG_HELLO_ACK &&
         dk_msg_hello_decode(body, &hs[1]) == 0 && hs[1].has_mac &&
         dk_rpc_auth_check(key, "acceptor", &hs[0], &hs[1], hs[1].mac) == 0;
    dk_msg_auth a;
    dk_buf_reset(&b);
    dk_buf_reset(&f);
    ok = ok && dk_rpc_auth_proof(key, "initiator", &hs[0], &hs[1], a.mac) == 0 &&
         dk_msg_auth_encode(&b, &a) == 0 && dk_frame_encode(&f, DK_MSG_AUTH, 0, 0, b.data, b.len) == 0 &&
         raw_send(fd, f.data, f.len);
    uint8_t i2a[DK_RPC_SKEY_LEN], a2i[DK_RPC_SKEY_LEN];
    ok = ok && dk_rpc_auth_session(key, &hs[0], &hs[1], i2a, a2i) == 0 &&
         dk_rpc_mac_init(&s->out, i2a) == 0 && dk_rpc_mac_init(&s->in, a2i) == 0;
    dk_buf_free(&b);
    dk_buf_free(&f);
    return ok ? 0 : -1;
}

/* Send the frame in *f with its MAC (f keeps the frame, without the tag). */
static int raw_send_sealed(int fd, raw_session *s, dk_buf *f)
{
    uint8_t tag[DK_RPC_TAG_LEN];
    if (dk_rpc_mac_seal(&s->out, f->data, f->len, tag) != 0)
        return 0;
    return raw_send(fd, f->data, f->len) && raw_send(fd, tag, sizeof(tag));
}

/* A GET_REPLICA of body on a raw session; returns 1 when the answer echoes
 * it with a right MAC. */
static int raw_request(int fd, raw_session *s, uint64_t id, const char *body)
{
    dk_buf f = DK_BUF_INIT;
    uint8_t in[4096];
    dk_frame_header h;
    dk_slice b;
    int ok =
        dk_frame_encode(&f, DK_MSG_GET_REPLICA, 0, id, body, strlen(body)) == 0 && raw_send_sealed(fd, s, &f);
    ssize_t n = ok ? raw_recv_frame(fd, in, sizeof(in), DK_RPC_TAG_LEN, &h, &b) : -1;
    ok = n > 0 && h.request_id == id && b.len == strlen(body) && memcmp(b.ptr, body, b.len) == 0 &&
         dk_rpc_mac_open(&s->in, in, (size_t)n, in + n) == 0;
    dk_buf_free(&f);
    return ok;
}

static void test_bad_frames(void)
{
    node a = {0}, b = {0};
    pair_start(&a, &b);
    CU_ASSERT(call_sync(&a, &b, "before") == 0);
    int fds[5];

    /* Not our protocol at all. */
    fds[0] = raw_connect(b.port);
    CU_ASSERT_FATAL(fds[0] >= 0);
    CU_ASSERT(raw_send(fds[0], "GET / HTTP/1.1\r\n\r\n", 18));

    /* A HELLO whose body CRC is wrong. */
    dk_msg_hello m;
    memset(&m, 0, sizeof(m));
    m.proto_version = DK_RPC_PROTO_VERSION;
    strcpy(m.cluster, "dk-test");
    strcpy(m.node_id, "raw");
    m.incarnation = 1;
    dk_buf hb = DK_BUF_INIT, f = DK_BUF_INIT;
    CU_ASSERT_FATAL(dk_msg_hello_encode(&hb, &m) == 0);
    CU_ASSERT_FATAL(dk_frame_encode(&f, DK_MSG_HELLO, 0, 0, hb.data, hb.len) == 0);
    f.data[f.len - 1] ^= 0x5a;
    fds[1] = raw_connect(b.port);
    CU_ASSERT_FATAL(fds[1] >= 0);
    CU_ASSERT(raw_send(fds[1], f.data, f.len));

    /* A header (valid CRC) announcing a body over the limit. */
    uint8_t hdr[DK_FRAME_HEADER_LEN] = {0};
    dk_put_u16(hdr, DK_FRAME_MAGIC);
    hdr[2] = DK_FRAME_VERSION;
    hdr[3] = DK_MSG_HELLO;
    dk_put_u32(hdr + 16, DK_FRAME_BODY_MAX + 1);
    dk_put_u32(hdr + 20, dk_crc32c_mask(dk_crc32c(hdr, 20)));
    fds[3] = raw_connect(b.port);
    CU_ASSERT_FATAL(fds[3] >= 0);
    CU_ASSERT(raw_send(fds[3], hdr, sizeof(hdr)));

    /* A correct handshake, then a PING with a corrupt body (and a right
     * MAC over it). */
    fds[2] = raw_connect(b.port);
    CU_ASSERT_FATAL(fds[2] >= 0);
    raw_session rs;
    CU_ASSERT_FATAL(raw_handshake(fds[2], NULL, "raw", &rs) == 0);
    dk_buf p = DK_BUF_INIT;
    dk_msg_ping ping = {7};
    dk_buf_reset(&hb);
    CU_ASSERT_FATAL(dk_msg_ping_encode(&hb, &ping) == 0);
    CU_ASSERT_FATAL(dk_frame_encode(&p, DK_MSG_PING, 0, 9, hb.data, hb.len) == 0);
    p.data[DK_FRAME_HEADER_LEN] ^= 1;
    CU_ASSERT(raw_send_sealed(fds[2], &rs, &p));
    raw_session_free(&rs);

    /* Silent after connecting: the handshake timer closes it. */
    fds[4] = raw_connect(b.port);
    CU_ASSERT_FATAL(fds[4] >= 0);

    SPIN(raw_closed(fds[0]) && raw_closed(fds[1]) && raw_closed(fds[2]) && raw_closed(fds[3]), 2000);
    for (int i = 0; i < 4; i++)
        CU_ASSERT(raw_closed(fds[i]));
    CU_ASSERT(stats(&b).bad_frames == 4);
    CU_ASSERT(call_sync(&a, &b, "during") == 0);
    SPIN(raw_closed(fds[4]), 2000);
    CU_ASSERT(raw_closed(fds[4]));
    CU_ASSERT(stats(&b).handshake_failures == 1);
    CU_ASSERT(call_sync(&a, &b, "after") == 0);
    CU_ASSERT(stats(&b).conns_open == stats(&b).conns_accepted - 5); /* only a's are left */
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    dk_buf_free(&hb);
    dk_buf_free(&f);
    dk_buf_free(&p);
    pair_stop(&a, &b);
}

/* Send a HELLO of protocol version proto as "raw" on fd; returns the type
 * of the answer frame, or -1. */
static int raw_hello_only(int fd, uint32_t proto)
{
    dk_msg_hello m;
    uint8_t in[4096];
    memset(&m, 0, sizeof(m));
    m.proto_version = proto;
    strcpy(m.cluster, "dk-test");
    strcpy(m.node_id, "raw");
    m.incarnation = 1;
    dk_buf b = DK_BUF_INIT, f = DK_BUF_INIT;
    int ok = dk_msg_hello_encode(&b, &m) == 0 &&
             dk_frame_encode(&f, DK_MSG_HELLO, 0, 0, b.data, b.len) == 0 && raw_send(fd, f.data, f.len);
    dk_buf_free(&b);
    dk_buf_free(&f);
    dk_frame_header h;
    dk_slice body;
    return ok && raw_recv_frame(fd, in, sizeof(in), 0, &h, &body) > 0 ? h.type : -1;
}

static void test_auth(void)
{
    node b = {0}, c = {0};
    raw_session s;
    loop_setup();
    g_frame_timeout_ms = 300;
    CU_ASSERT_FATAL(node_start(&b, "b", "dk-test", NULL) == 0);
    g_max_inbound = 2;
    CU_ASSERT_FATAL(node_start(&c, "c", "dk-test", NULL) == 0);
    g_max_inbound = 0;
    g_frame_timeout_ms = 0;

    /* A client with the key: requests and answers carry good MACs. */
    int fd = raw_connect(b.port);
    CU_ASSERT_FATAL(fd >= 0 && raw_handshake(fd, NULL, "raw", &s) == 0);
    CU_ASSERT(raw_request(fd, &s, 1, "one"));
    CU_ASSERT(raw_request(fd, &s, 2, "two"));
    /* The same frame again (a replay): its MAC is for seq 2, not 3. */
    dk_buf f = DK_BUF_INIT;
    CU_ASSERT_FATAL(dk_frame_encode(&f, DK_MSG_GET_REPLICA, 0, 3, "x", 1) == 0);
    uint8_t tag[DK_RPC_TAG_LEN];
    CU_ASSERT_FATAL(dk_rpc_mac_seal(&s.out, f.data, f.len, tag) == 0);
    CU_ASSERT(raw_send(fd, f.data, f.len) && raw_send(fd, tag, sizeof(tag)));
    CU_ASSERT(raw_send(fd, f.data, f.len) && raw_send(fd, tag, sizeof(tag)));
    SPIN(raw_closed(fd), 2000);
    CU_ASSERT(raw_closed(fd));
    CU_ASSERT(stats(&b).auth_failures == 1 && stats(&b).requests_in == 3);
    raw_session_free(&s);
    close(fd);

    /* A flipped bit in a MAC closes the connection; nothing is served. */
    fd = raw_connect(b.port);
    CU_ASSERT_FATAL(fd >= 0 && raw_handshake(fd, NULL, "raw", &s) == 0);
    CU_ASSERT_FATAL(dk_rpc_mac_seal(&s.out, f.data, f.len, tag) == 0);
    tag[5] ^= 0x10;
    CU_ASSERT(raw_send(fd, f.data, f.len) && raw_send(fd, tag, sizeof(tag)));
    SPIN(raw_closed(fd), 2000);
    CU_ASSERT(raw_closed(fd));
    CU_ASSERT(stats(&b).auth_failures == 2 && stats(&b).requests_in == 3);
    raw_session_free(&s);
    close(fd);

    /* Without the key: an AUTH with a made-up proof is refused, and a
     * request right behind it is never served. */
    fd = raw_connect(b.port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(raw_hello_only(fd, DK_RPC_PROTO_VERSION) == DK_MSG_HELLO_ACK);
    dk_buf ab = DK_BUF_INIT, af = DK_BUF_INIT;
    dk_msg_auth a;
    memset(&a, 0x42, sizeof(a));
    CU_ASSERT_FATAL(dk_msg_auth_encode(&ab, &a) == 0 &&
                    dk_frame_encode(&af, DK_MSG_AUTH, 0, 0, ab.data, ab.len) == 0);
    CU_ASSERT(raw_send(fd, af.data, af.len) && raw_send(fd, f.data, f.len) && raw_send(fd, tag, sizeof(tag)));
    SPIN(raw_closed(fd), 2000);
    CU_ASSERT(raw_closed(fd));
    CU_ASSERT(stats(&b).auth_failures == 3 && stats(&b).requests_in == 3);
    close(fd);

    /* A request before AUTH is refused. */
    fd = raw_connect(b.port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(raw_hello_only(fd, DK_RPC_PROTO_VERSION) == DK_MSG_HELLO_ACK);
    CU_ASSERT(raw_send(fd, f.data, f.len));
    SPIN(raw_closed(fd), 2000);
    CU_ASSERT(raw_closed(fd));
    CU_ASSERT(stats(&b).requests_in == 3);
    close(fd);

    /* A version-1 node gets an ERROR naming both versions. */
    fd = raw_connect(b.port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(raw_hello_only(fd, 1) == DK_MSG_ERROR);
    close(fd);

    /* Half a frame after the handshake: closed after frame_timeout_ms. */
    fd = raw_connect(b.port);
    CU_ASSERT_FATAL(fd >= 0 && raw_handshake(fd, NULL, "raw", &s) == 0);
    uint64_t t0 = uv_hrtime();
    CU_ASSERT(raw_send(fd, f.data, DK_FRAME_HEADER_LEN + 1));
    SPIN(raw_closed(fd), 2000);
    CU_ASSERT(raw_closed(fd));
    CU_ASSERT((uv_hrtime() - t0) / 1000000u >= 250);
    CU_ASSERT(stats(&b).frame_timeouts == 1);
    raw_session_free(&s);
    close(fd);

    /* The connection cap: the third connection to c is closed at once,
     * the two first still work. */
    int fds[3];
    raw_session ss[2];
    for (int i = 0; i < 3; i++) {
        fds[i] = raw_connect(c.port);
        CU_ASSERT_FATAL(fds[i] >= 0);
        SPIN(stats(&c).conns_accepted + stats(&c).conns_rejected == (uint64_t)i + 1, 2000);
    }
    SPIN(raw_closed(fds[2]), 2000);
    CU_ASSERT(raw_closed(fds[2]));
    CU_ASSERT(stats(&c).conns_rejected == 1);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_FATAL(raw_handshake(fds[i], NULL, "raw", &ss[i]) == 0);
        CU_ASSERT(raw_request(fds[i], &ss[i], 1, "capped"));
        raw_session_free(&ss[i]);
    }
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    dk_buf_free(&f);
    dk_buf_free(&ab);
    dk_buf_free(&af);
    node_stop(&b);
    node_stop(&c);
    loop_teardown();
}

/* A fake peer on a raw socket: accept a's connection and read its HELLO. */
static int ghost_accept(int lfd, uint8_t *in, size_t cap)
{
    SPIN(raw_readable(lfd), 2000);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return -1;
    SPIN(raw_readable(fd), 2000);
    dk_frame_header h;
    dk_slice body;
    ssize_t got = recv(fd, in, cap, MSG_DONTWAIT);
    CU_ASSERT(got > 0 && dk_frame_decode(in, (size_t)got, &h, &body, NULL, 0) == got);
    CU_ASSERT(h.type == DK_MSG_HELLO);
    return fd;
}

static void test_silent_peer(void)
{
    node a = {0}, ghost = {.id = "ghost"};
    uint8_t in[4096];
    loop_setup();
    CU_ASSERT_FATAL(node_start(&a, "a", "dk-test", NULL) == 0);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    CU_ASSERT_FATAL(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 8) == 0);
    CU_ASSERT_FATAL(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
    snprintf(ghost.addr, sizeof(ghost.addr), "127.0.0.1:%d", ntohs(sa.sin_port));

    /* A peer that never answers HELLO: the call fails at the connect +
     * handshake timeout (300 ms), long before its own deadline. */
    res x = {0};
    uint64_t t0 = uv_hrtime();
    CU_ASSERT_FATAL(call(&a, &ghost, "one", 5000, &x) == 0);
    int fd1 = ghost_accept(lfd, in, sizeof(in));
    CU_ASSERT_FATAL(fd1 >= 0);
    SPIN(x.calls, 2000);
    CU_ASSERT(x.calls == 1 && x.status == DK_EUNAVAILABLE);
    CU_ASSERT((x.at_ns - t0) / 1000000u >= 250 && (x.at_ns - t0) / 1000000u < 2000);
    CU_ASSERT(stats(&a).handshake_failures == 1);
    close(fd1);

    /* Past the backoff, the next call connects again; this time the peer
     * completes the handshake and then goes silent (a partition). */
    SPIN(0, 150);
    res y = {0}, z = {0};
    CU_ASSERT_FATAL(call(&a, &ghost, "two", 500, &y) == 0);
    int fd2 = ghost_accept(lfd, in, sizeof(in));
    CU_ASSERT_FATAL(fd2 >= 0);
    dk_msg_hello m;
    memset(&m, 0, sizeof(m));
    m.proto_version = DK_RPC_PROTO_VERSION;
    strcpy(m.cluster, "dk-test");
    strcpy(m.node_id, "ghost");
    m.incarnation = 1;
    /* A's HELLO is in `in`; prove the key over both. */
    dk_frame_header ah;
    dk_slice abody;
    dk_msg_hello ahello;
    uint8_t key[DK_RPC_KEY_LEN];
    test_key(NULL, key);
    CU_ASSERT_FATAL(dk_frame_decode(in, sizeof(in), &ah, &abody, NULL, 0) > 0);
    CU_ASSERT_FATAL(dk_msg_hello_decode(abody, &ahello) == 0);
    CU_ASSERT_FATAL(dk_rpc_auth_proof(key, "acceptor", &ahello, &m, m.mac) == 0);
    m.has_mac = 1;
    dk_buf hb = DK_BUF_INIT, f = DK_BUF_INIT;
    CU_ASSERT_FATAL(dk_msg_hello_encode(&hb, &m) == 0);
    CU_ASSERT_FATAL(dk_frame_encode(&f, DK_MSG_HELLO_ACK, 0, 0, hb.data, hb.len) == 0);
    CU_ASSERT(raw_send(fd2, f.data, f.len));
    SPIN(y.calls, 2000);
    CU_ASSERT(y.calls == 1 && y.status == DK_ETIMEOUT);
    /* In flight when the probe PING goes unanswered: the connection is
     * closed and this call fails with -ECONNRESET, not at its deadline. */
    CU_ASSERT_FATAL(call(&a, &ghost, "three", 5000, &z) == 0);
    SPIN(z.calls, 2000);
    CU_ASSERT(z.calls == 1 && z.status == -ECONNRESET);
    CU_ASSERT(stats(&a).timeouts == 2); /* the request and the probe */
    CU_ASSERT(stats(&a).conns_open == 0);
    SPIN(raw_closed(fd2), 1000);
    CU_ASSERT(raw_closed(fd2));
    close(fd2);
    close(lfd);
    dk_buf_free(&hb);
    dk_buf_free(&f);
    node_stop(&a);
    loop_teardown();
}

static void test_stop_fails_pending(void)
{
    enum { N = 5 };
    node a = {0}, b = {0};
    res x[N], w = {0};
    loop_setup();
    memset(x, 0, sizeof(x));
    CU_ASSERT_FATAL(node_start(&a, "a", "dk-test", NULL) == 0);
    CU_ASSERT_FATAL(node_start(&b, "b", "dk-test", NULL) == 0);
    b.hold = 1;
    for (int i = 0; i < N; i++) {
        x[i].call_again = a.r;
        CU_ASSERT_FATAL(call(&a, &b, "pending", 10000, &x[i]) == 0);
    }
    SPIN(b.n_held == N, 2000);
    CU_ASSERT_FATAL(b.n_held == N);
    /* One more, to another peer, still waiting for its connection. */
    node other = {.id = "u"};
    snprintf(other.addr, sizeof(other.addr), "%s", b.addr);
    CU_ASSERT_FATAL(call(&a, &other, "waiting", 10000, &w) == 0);

    dk_rpc_stop(a.r, node_stopped, &a);
    /* Every callback ran, exactly once, before dk_rpc_stop returned, and a
     * call from inside one is refused. */
    for (int i = 0; i < N; i++) {
        CU_ASSERT(x[i].calls == 1 && x[i].status == DK_ECLOSED);
        CU_ASSERT(x[i].again_rc == DK_ECLOSED);
    }
    CU_ASSERT(w.calls == 1 && w.status == DK_ECLOSED);
    CU_ASSERT(a.stopped == 0);
    SPIN(a.stopped, 2000);
    CU_ASSERT(a.stopped == 1);
    /* b's connection from a is gone: its answers are dropped quietly. */
    SPIN(stats(&b).conns_open == 0, 2000);
    node_answer_all(&b, 0);
    SPIN(0, 50);
    for (int i = 0; i < N; i++)
        CU_ASSERT(x[i].calls == 1);
    CU_ASSERT(w.calls == 1);
    node_stop(&b);
    loop_teardown();
}

static CU_TestInfo rpc_tests[] = {
    {"handshake, PING/PONG and a request", test_ping_and_request},
    {"deadline, probe and late answer", test_deadline},
    {"deadlines out of order", test_deadline_order},
    {"peer down fails fast, then reconnects", test_peer_down_and_back},
    {"other cluster and other node refused", test_wrong_cluster},
    {"shared secret", test_secret},
    {"authenticated handshake, frame MACs and limits", test_auth},
    {"malformed frames close one connection", test_bad_frames},
    {"silent peer: handshake timeout, probe closes", test_silent_peer},
    {"stop fails pending calls once", test_stop_fails_pending},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc", .pTests = rpc_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
