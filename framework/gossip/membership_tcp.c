/*
 * membership_tcp.c - full-table push-pull over TCP, joining (at start and
 * dk_membership_join), and the numeric address helpers both files use.
 *
 * An exchange is one connection: the initiator (bound to its own gossip
 * IP) sends PUSH with its whole table, the listener merges it and answers
 * PULL with its own, then both close. Each message is a u32 length and a
 * gossip_msg message (same checks as a datagram, bounded by
 * DK_GOSSIP_FRAME_MAX: the MAC and freshness gate of membership_auth.c;
 * in protected mode a connection from off loopback is closed at once). Every connection has a deadline of
 * max(2 intervals, 1 s), so a peer that stalls costs one timer.
 *
 * Joining: a node is "joining" until an exchange with a seed (or, failing
 * the seeds, any member it already knew) succeeds. Attempts cycle through
 * those targets; after every full cycle without success the node logs a
 * warning and waits twice as long (interval doubling up to 30 s).
 *
 * First contact (dk_membership_contact): every node, seeds included,
 * tries each target once at start; the first exchange that succeeds sets
 * contact = 1, a whole cycle of failures sets -1 (nobody else is up: a
 * first node). A node with no data waits for this to decide whether it
 * must bootstrap; a seed keeps its "joined" liveness meanwhile.
 *
 * Not taken: a streaming merge (decoding while reading) - a whole table is
 * a few hundred KiB at most, and a complete message can be validated
 * (CRC, MAC) before any of it is applied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "gossip/membership_int.h"
#include "util/coding.h"

#define MS_BACKOFF_MAX 30000u

int dk__ms_parse_addr(const char *s, struct sockaddr_storage *out)
{
    char host[DK_MEMBER_ADDR_MAX];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strlen(s) >= sizeof host)
        return -EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return -EINVAL;
    size_t hl = (size_t)(colon - s);
    memset(out, 0, sizeof *out);
    if (s[0] == '[') {
        if (hl < 3 || s[hl - 1] != ']')
            return -EINVAL;
        memcpy(host, s + 1, hl - 2);
        host[hl - 2] = '\0';
        return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) ? -EINVAL : 0;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) ? -EINVAL : 0;
}

/* "ip:port" of a socket address into out[DK_MEMBER_ADDR_MAX]. */
void dk__ms_format_addr(const struct sockaddr *sa, char *out)
{
    char ip[48] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        snprintf(out, DK_MEMBER_ADDR_MAX, "[%s]:%d", ip, port);
        return;
    }
    uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    snprintf(out, DK_MEMBER_ADDR_MAX, "%s:%d", ip, port);
}

struct ms_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t creq;
    uv_write_t wreq;
    dk_membership *m;
    ms_conn *next;
    int outgoing, closing;
    int refused;      /* our answer to a push that failed its MAC: no exchange */
    int dup_check;    /* the newcomer asking another claimant of its id */
    int open_handles; /* tcp and timer; the last close frees */
    uint8_t hdr[4];
    size_t hdr_got;
    uint8_t *body;
    size_t body_len, body_got;
    uint8_t *out;
    char peer[DK_MEMBER_ADDR_MAX];
    struct sockaddr_storage sa; /* the peer's address (for the protected-mode rule) */
    int sa_ok;
};

static void pp_finish(ms_conn *c);

static void pp_on_close(uv_handle_t *h)
{
    ms_conn *c = h->data;
    dk_membership *m = c->m;
    if (--c->open_handles == 0) {
        free(c->body);
        free(c->out);
        free(c);
    }
    dk__ms_handle_closed(m);
}

static void pp_close(ms_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    dk_membership *m = c->m;
    for (ms_conn **pp = &m->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (c->outgoing)
        m->pp_outgoing = 0;
    uv_close((uv_handle_t *)&c->tcp, pp_on_close);
    uv_close((uv_handle_t *)&c->timer, pp_on_close);
}

static void pp_fail(ms_conn *c, const char *why)
{
    dk_membership *m = c->m;
    if (c->outgoing) {
        MS_STAT(m, pushpull_failed);
        dk_log(m->joined ? DK_LOG_DEBUG : DK_LOG_INFO, "membership: exchange with %s failed: %s", c->peer,
               why);
    } else {
        dk_log(DK_LOG_DEBUG, "membership: exchange from %s dropped: %s", c->peer, why);
    }
    int retry = c->outgoing && (!m->joined || m->contact == 0) && !m->stopping;
    pp_close(c);
    if (!retry)
        return;
    size_t cycle = m->n_seeds + m->n_recs - 1;
    m->join_failures++;
    uint64_t delay = m->interval / 4 + 1;
    if ((cycle == 0 || m->join_failures % cycle == 0) && m->contact == 0) {
        m->contact = -1; /* every target failed once: nobody else is up */
        dk_log(DK_LOG_INFO, "membership: %s reached none of %zu seeds and known members", m->recs[0].m.id,
               cycle);
        dk__ms_publish_force(m);
        if (m->joined) {
            dk__ms_join_schedule(m, m->interval);
            return;
        }
    }
    if (cycle == 0 || m->join_failures % cycle == 0) {
        m->join_backoff = m->join_backoff ? m->join_backoff * 2 : m->interval;
        if (m->join_backoff > MS_BACKOFF_MAX)
            m->join_backoff = MS_BACKOFF_MAX;
        delay = m->join_backoff;
        dk_log(DK_LOG_WARN,
               "membership: %s cannot reach any seed or known member (%zu tried),"
               " retrying in %llu ms",
               m->recs[0].m.id, cycle, (unsigned long long)delay);
    }
    dk__ms_join_schedule(m, delay);
}

static void pp_on_deadline(uv_timer_t *t)
{
    pp_fail(t->data, "deadline passed");
}

static ms_conn *pp_new(dk_membership *m, int outgoing, const char *peer)
{
    ms_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->m = m;
    c->outgoing = outgoing;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    uv_tcp_init(m->loop, &c->tcp);
    uv_timer_init(m->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    m->handles_open += 2;
    c->next = m->conns;
    m->conns = c;
    uint64_t deadline = m->interval * 2 > 1000 ? m->interval * 2 : 1000;
    uv_timer_start(&c->timer, pp_on_deadline, deadline, 0);
    return c;
}

/* Encode the whole table (none when empty) as one length-prefixed message
 * into c->out. */
static int pp_encode(ms_conn *c, int type, int empty, size_t *len)
{
    dk_membership *m = c->m;
    size_t cap = 4 + 512 + m->n_recs * DK_GOSSIP_UPDATE_MAX;
    if (cap > 4 + DK_GOSSIP_FRAME_MAX)
        cap = 4 + DK_GOSSIP_FRAME_MAX;
    if (!(c->out = malloc(cap)))
        return -ENOMEM;
    dk_gossip_enc e;
    int rc = dk__gossip_enc_begin(&e, c->out + 4, cap - 4, type, 0, m->cluster, m->recs[0].m.id, NULL, NULL);
    for (size_t i = 0; rc == 0 && !empty && i < m->n_recs; i++)
        rc = dk__gossip_enc_add(&e, &m->recs[i].m);
    size_t n = 0;
    if (rc == 0 || rc == DK_ETOOBIG)
        rc = dk__ms_seal(m, &e, &n);
    if (rc)
        return rc;
    dk_put_u32(c->out, (uint32_t)n);
    *len = n + 4;
    return 0;
}

static void pp_on_write(uv_write_t *w, int status)
{
    ms_conn *c = w->data;
    if (c->closing)
        return;
    if (status < 0) {
        pp_fail(c, uv_strerror(status));
        return;
    }
    if (!c->outgoing) {
        if (!c->refused)
            MS_STAT(c->m, pushpull_ok);
        pp_close(c); /* the listener is done once its answer is out */
    }
}

static int pp_send(ms_conn *c, int type, int empty)
{
    size_t len;
    int rc = pp_encode(c, type, empty, &len);
    if (rc)
        return rc;
    uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)len);
    c->wreq.data = c;
    return uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, pp_on_write);
}

/* A complete message arrived: validate, merge, answer or conclude. */
static void pp_finish(ms_conn *c)
{
    dk_membership *m = c->m;
    dk_gossip_msg msg;
    uv_read_stop((uv_stream_t *)&c->tcp);
    int rc = dk__ms_accept(m, c->body, c->body_len, c->sa_ok ? (const struct sockaddr *)&c->sa : NULL,
                           c->peer, &msg);
    if (rc == DK_GOSSIP_REJ_MAC && !c->outgoing) {
        /* Answer with our name and no members: the sender's log can then
         * say which cluster refused it (it cannot verify us either). */
        c->refused = 1;
        if (pp_send(c, DK_GOSSIP_PULL, 1))
            pp_fail(c, "mac");
        return;
    }
    if (rc) {
        pp_fail(c, dk_membership_reject_name(rc));
        return;
    }
    if (msg.type != (c->outgoing ? DK_GOSSIP_PULL : DK_GOSSIP_PUSH)) {
        dk__ms_reject(m, DK_GOSSIP_REJ_MALFORMED, NULL, c->peer, "a message of the wrong type over TCP");
        pp_fail(c, "wrong message type");
        return;
    }
    if (strcmp(msg.cluster, m->cluster)) {
        dk__ms_wrong_cluster(m, c->peer, msg.cluster);
        if (c->outgoing) {
            dk_log(DK_LOG_ERROR,
                   "membership: %s refused us: it belongs to cluster '%s' and we to '%s'; "
                   "check cluster.name and cluster.seeds",
                   c->peer, msg.cluster, m->cluster);
            pp_fail(c, "another cluster");
        } else if ((rc = pp_send(c, DK_GOSSIP_PULL, 0)) != 0) {
            /* Answer anyway (the peer ignores our members, its cluster
             * being another): it learns which cluster refused it. */
            pp_fail(c, dk_strerror(rc));
        }
        return;
    }
    if (!strcmp(msg.from, m->recs[0].m.id) && c->outgoing && c->dup_check) {
        /* The newcomer's check: a live process answers as this id. */
        char why[400];
        snprintf(why, sizeof why,
                 "another live process at %s answers as node id %s: a copied data "
                 "directory or a duplicate [node] id",
                 c->peer, msg.from);
        dk_log(DK_LOG_ERROR, "membership: %s; this node came last and refuses to run", why);
        pp_close(c);
        if (m->on_duplicate)
            m->on_duplicate(m->arg, why);
        return;
    }
    if (!strcmp(msg.from, m->recs[0].m.id) && !c->outgoing)
        dk_log(DK_LOG_ERROR,
               "membership: %s exchanged state as node id %s, which is this node's: a copied "
               "data directory or a duplicate [node] id (it should stop)",
               c->peer, msg.from);
    const uint8_t *p = msg.updates;
    dk_member u;
    if (strcmp(msg.from, m->recs[0].m.id)) {
        dk__ms_heard(m, msg.from);
        while (dk__gossip_update_next(&msg, &p, &u) == 0)
            dk__ms_apply_peer(m, &u);
    }
    if (m->contact != 1) {
        m->contact = 1;
        m->dirty = 1; /* the cluster view waits for this moment */
    }
    if (!c->outgoing) {
        if ((rc = pp_send(c, DK_GOSSIP_PULL, 0)))
            pp_fail(c, dk_strerror(rc));
    } else {
        MS_STAT(m, pushpull_ok);
        if (!m->joined) {
            m->joined = 1;
            m->join_backoff = 0;
            m->join_failures = 0;
            dk_log(DK_LOG_INFO, "membership: %s joined through %s", m->recs[0].m.id, c->peer);
            if (m->recs[0].m.state == DK_MEMBER_JOINING)
                dk__ms_self_set(m, DK_MEMBER_NORMAL);
        }
        pp_close(c);
    }
    dk__ms_publish(m);
}

static void pp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    ms_conn *c = h->data;
    *buf = uv_buf_init((char *)c->m->rxbuf, sizeof c->m->rxbuf);
}

static void pp_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ms_conn *c = s->data;
    if (c->closing || nread == 0)
        return;
    if (nread < 0) {
        pp_fail(c, uv_strerror((int)nread));
        return;
    }
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t n = (size_t)nread;
    while (n > 0 && c->hdr_got < 4) {
        c->hdr[c->hdr_got++] = *p++;
        n--;
        if (c->hdr_got == 4) {
            c->body_len = dk_get_u32(c->hdr);
            if (c->body_len < 16 || c->body_len > DK_GOSSIP_FRAME_MAX || !(c->body = malloc(c->body_len))) {
                dk__ms_reject(c->m, DK_GOSSIP_REJ_MALFORMED, NULL, c->peer, "bad message length");
                pp_fail(c, "bad message length");
                return;
            }
        }
    }
    if (n == 0)
        return;
    if (n > c->body_len - c->body_got) {
        dk__ms_reject(c->m, DK_GOSSIP_REJ_MALFORMED, NULL, c->peer, "bytes after the message");
        pp_fail(c, "bytes after the message");
        return;
    }
    memcpy(c->body + c->body_got, p, n);
    c->body_got += n;
    if (c->body_got == c->body_len)
        pp_finish(c);
}

static void pp_on_connect(uv_connect_t *req, int status)
{
    ms_conn *c = req->data;
    if (c->closing)
        return;
    int rc = status;
    if (rc == 0)
        rc = pp_send(c, DK_GOSSIP_PUSH, 0);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->tcp, pp_on_alloc, pp_on_read);
    if (rc)
        pp_fail(c, rc == -ENOMEM ? "out of memory" : uv_strerror(rc));
}

int dk__ms_pp_start(dk_membership *m, const struct sockaddr_storage *sa, const char *label)
{
    if (m->pp_outgoing)
        return 1;
    if (m->stopping)
        return DK_ECLOSED;
    ms_conn *c = pp_new(m, 1, label);
    if (!c)
        return -ENOMEM;
    c->sa = *sa;
    c->sa_ok = 1;
    m->pp_outgoing = 1;
    /* leave from our own address: a firewall rule between two node IPs
     * must cut gossip the way it cuts everything else */
    struct sockaddr_storage local = m->self_sa;
    if (local.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&local)->sin6_port = 0;
    else
        ((struct sockaddr_in *)&local)->sin_port = 0;
    c->creq.data = c;
    int rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&local, 0);
    if (rc == 0)
        rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)sa, pp_on_connect);
    if (rc)
        pp_fail(c, uv_strerror(rc));
    return 0;
}

static void pp_on_connection(uv_stream_t *server, int status)
{
    dk_membership *m = server->data;
    if (status < 0 || m->stopping)
        return;
    ms_conn *c = pp_new(m, 0, "?");
    if (!c)
        return;
    int len = sizeof c->sa;
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        pp_close(c);
        return;
    }
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->sa, &len) == 0) {
        c->sa_ok = 1;
        dk__ms_format_addr((const struct sockaddr *)&c->sa, c->peer);
    }
    if (m->loopback_only && (!c->sa_ok || !dk__gossip_addr_loopback((const struct sockaddr *)&c->sa))) {
        dk__ms_reject(m, DK_GOSSIP_REJ_NOT_LOOPBACK, NULL, c->peer,
                      "protected mode (no [security] cluster_key_file) takes cluster traffic "
                      "from loopback addresses only; connection closed");
        pp_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, pp_on_alloc, pp_on_read))
        pp_close(c);
}

int dk__ms_tcp_listen(dk_membership *m)
{
    int rc = uv_tcp_bind(&m->tcp, (const struct sockaddr *)&m->self_sa, 0);
    return rc ? rc : uv_listen((uv_stream_t *)&m->tcp, 64, pp_on_connection);
}

void dk__ms_conns_close(dk_membership *m)
{
    while (m->conns)
        pp_close(m->conns);
}

/* Pick uniformly among the other seeds and every record that is not
 * removed (down ones included: that is how a partition heals). */
void dk__ms_pp_random(dk_membership *m)
{
    size_t n = m->n_seeds;
    for (size_t i = 1; i < m->n_recs; i++)
        n += m->recs[i].m.state != DK_MEMBER_REMOVED && m->recs[i].sa_ok;
    if (n == 0)
        return;
    size_t k = (size_t)(dk__ms_rand(m) % n);
    if (k < m->n_seeds) {
        dk__ms_seed_try(m, k);
        return;
    }
    k -= m->n_seeds;
    for (size_t i = 1; i < m->n_recs; i++) {
        if (m->recs[i].m.state == DK_MEMBER_REMOVED || !m->recs[i].sa_ok)
            continue;
        if (k-- == 0) {
            dk__ms_pp_start(m, &m->recs[i].sa, m->recs[i].m.gossip_addr);
            return;
        }
    }
}

/* Timer (loop thread): the next join attempt, seeds first, then the
 * members this node knew at start. Once joined, one random exchange. */
static void ms_on_join_timer(uv_timer_t *t)
{
    dk_membership *m = t->data;
    if (m->stopping)
        return;
    if (m->pending_seed) { /* dk_membership_join asked for this one */
        size_t k = m->pending_seed - 1;
        if (k < m->n_seeds && dk__ms_seed_try(m, k) == 1) {
            dk__ms_join_schedule(m, m->interval / 4 + 1);
            return;
        }
        m->pending_seed = 0;
        return;
    }
    if (m->joined && m->contact != 0) {
        dk__ms_pp_random(m);
        return;
    }
    size_t cycle = m->n_seeds + m->n_recs - 1;
    for (size_t tries = 0; tries < cycle; tries++) {
        size_t k = m->join_pos++ % cycle;
        int rc;
        if (k < m->n_seeds) {
            if ((rc = dk__ms_seed_try(m, k)) == -EAGAIN)
                continue;
        } else {
            const ms_rec *r = &m->recs[k - m->n_seeds + 1];
            if (r->m.state == DK_MEMBER_REMOVED || !r->sa_ok)
                continue;
            rc = dk__ms_pp_start(m, &r->sa, r->m.gossip_addr);
        }
        if (rc == 1) /* an exchange is running; look again soon */
            dk__ms_join_schedule(m, m->interval / 4 + 1);
        return;
    }
    dk__ms_join_schedule(m, m->interval); /* nothing to try yet */
}

void dk__ms_duplicate_check(dk_membership *m)
{
    dk_log(DK_LOG_INFO,
           "membership: %s lived at %s before: asking that address whether a process there "
           "still claims the id",
           m->recs[0].m.id, m->dup_addr);
    ms_conn *before = m->conns;
    if (dk__ms_pp_start(m, &m->dup_sa, m->dup_addr) == 0 && m->conns && m->conns != before)
        m->conns->dup_check = 1; /* a failure joins as usual (pp_fail) */
    else
        dk__ms_join_schedule(m, 0);
}

void dk__ms_join_schedule(dk_membership *m, uint64_t delay_ms)
{
    if (!m->stopping)
        uv_timer_start(&m->join_timer, ms_on_join_timer, delay_ms, 0);
}

int dk_membership_join(dk_membership *m, const char *addr)
{
    struct sockaddr_storage sa;
    if (strlen(addr) >= DK_MEMBER_ADDR_MAX || dk__ms_parse_addr(addr, &sa))
        return -EINVAL;
    char(*s)[DK_MEMBER_ADDR_MAX] = realloc(m->seeds, (m->n_seeds + 1) * sizeof *s);
    if (!s)
        return -ENOMEM;
    m->seeds = s;
    snprintf(m->seeds[m->n_seeds++], DK_MEMBER_ADDR_MAX, "%s", addr);
    if (dk__ms_pp_start(m, &sa, addr) == 1) {
        m->pending_seed = m->n_seeds; /* one is running: this one right after it */
        dk__ms_join_schedule(m, m->interval / 4 + 1);
    }
    return 0;
}
