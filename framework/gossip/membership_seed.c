/*
 * membership_seed.c - seeds given by host name, and the advertised address.
 *
 * A seed is "host:port". A numeric host is parsed at once; a name is
 * resolved with uv_getaddrinfo on the loop every time the join timer picks
 * that seed, so a DNS name that appears after the node started (a
 * Kubernetes headless Service fills in as pods come up) works on a later
 * attempt, and a seed that moved is followed. One resolution per seed runs
 * at a time; each counts as an open handle (handles_open), so stopping
 * waits for it. A name that resolves to this node's own advertised
 * address is this node: it is skipped from then on, and, like a numeric
 * seed equal to our address, makes this node a seed (joined without
 * anybody else).
 *
 * Everything here runs on the loop thread.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "gossip/membership_int.h"

typedef struct ms_resolve {
    uv_getaddrinfo_t req;
    dk_membership *m;
    size_t k;
} ms_resolve;

static int ms_same_sa(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return 0;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
    }
    return 0;
}

/* This node found itself among the seeds: it may start alone. */
static void ms_seed_is_self(dk_membership *m, size_t k)
{
    m->seed_flags[k] |= MS_SEED_SELF;
    dk_log(DK_LOG_INFO, "membership: seed %s is this node (%s)", m->seeds[k], m->recs[0].m.gossip_addr);
    if (m->self_is_seed)
        return;
    m->self_is_seed = 1;
    if (!m->joined) {
        m->joined = 1;
        dk__ms_self_set(m, DK_MEMBER_NORMAL);
        dk__ms_publish(m);
    }
    size_t others = m->n_recs - 1;
    for (size_t i = 0; i < m->n_seeds; i++)
        others += i >= m->n_seed_flags || !(m->seed_flags[i] & MS_SEED_SELF);
    if (others == 0 && m->contact == 0) {
        m->contact = -1; /* nobody else to ask: the first node of a cluster */
        dk__ms_publish_force(m);
    }
}

static void ms_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    ms_resolve *r = req->data;
    dk_membership *m = r->m;
    size_t k = r->k;
    free(r);
    if (!m->stopping) {
        m->seed_flags[k] &= (unsigned char)~MS_SEED_BUSY;
        const struct addrinfo *pick = NULL;
        int self = 0;
        for (const struct addrinfo *a = res; a && !self; a = a->ai_next) {
            if (ms_same_sa(a->ai_addr, &m->adv_sa))
                self = 1;
            else if (a->ai_family == m->adv_sa.ss_family && (!pick || pick->ai_family != a->ai_family))
                pick = a;
            else if (!pick && (a->ai_family == AF_INET || a->ai_family == AF_INET6))
                pick = a;
        }
        if (status < 0) {
            dk_log(m->joined ? DK_LOG_DEBUG : DK_LOG_INFO, "membership: cannot resolve seed %s: %s",
                   m->seeds[k], uv_strerror(status));
            if (!m->joined || m->contact == 0)
                dk__ms_join_schedule(m, m->interval);
        } else if (self) {
            ms_seed_is_self(m, k);
        } else if (pick) {
            struct sockaddr_storage sa;
            memset(&sa, 0, sizeof sa);
            memcpy(&sa, pick->ai_addr, pick->ai_addrlen <= sizeof sa ? pick->ai_addrlen : sizeof sa);
            dk__ms_pp_start(m, &sa, m->seeds[k]);
        }
    }
    if (res)
        uv_freeaddrinfo(res);
    dk__ms_handle_closed(m);
}

int dk__ms_seed_is_name(const char *addr)
{
    struct sockaddr_storage sa;
    return dk__ms_parse_addr(addr, &sa) != 0;
}

int dk__ms_seed_try(dk_membership *m, size_t k)
{
    struct sockaddr_storage sa;
    unsigned char f = k < m->n_seed_flags ? m->seed_flags[k] : 0;
    if (f & MS_SEED_SELF)
        return -EAGAIN;
    if (!(f & MS_SEED_NAME))
        return dk__ms_parse_addr(m->seeds[k], &sa) ? -EAGAIN : dk__ms_pp_start(m, &sa, m->seeds[k]);
    if ((f & MS_SEED_BUSY) || m->pp_outgoing)
        return 1; /* resolve when the exchange could start at once */
    if (m->stopping)
        return DK_ECLOSED;
    char host[DK_MEMBER_ADDR_MAX];
    snprintf(host, sizeof host, "%s", m->seeds[k]);
    char *colon = strrchr(host, ':');
    if (!colon)
        return -EAGAIN;
    *colon = '\0';
    ms_resolve *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->m = m;
    r->k = k;
    r->req.data = r;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = uv_getaddrinfo(m->loop, &r->req, ms_on_resolved, host, colon + 1, &hints);
    if (rc) {
        free(r);
        dk_log(DK_LOG_INFO, "membership: cannot resolve seed %s: %s", m->seeds[k], uv_strerror(rc));
        return -EAGAIN;
    }
    m->seed_flags[k] |= MS_SEED_BUSY;
    m->handles_open++;
    return 1;
}

int dk__ms_advertise(dk_membership *m, char *err, size_t errlen)
{
    if (!m->advertise[0]) {
        m->adv_sa = m->self_sa;
        return 0;
    }
    const char *colon = strrchr(m->recs[0].m.gossip_addr, ':');
    char addr[DK_MEMBER_ADDR_MAX + 8];
    snprintf(addr, sizeof addr, "%s%s%s%s", strchr(m->advertise, ':') ? "[" : "", m->advertise,
             strchr(m->advertise, ':') ? "]" : "", colon ? colon : ":0");
    if (strlen(addr) >= DK_MEMBER_ADDR_MAX || dk__ms_parse_addr(addr, &m->adv_sa)) {
        snprintf(err, errlen, "membership: advertised address '%s' is not a numeric IP address",
                 m->advertise);
        return -EINVAL;
    }
    snprintf(m->recs[0].m.gossip_addr, DK_MEMBER_ADDR_MAX, "%s", addr);
    return 0;
}
