/*
 * config_check.c - the rules between configuration keys, checked once the
 * file and every --set are applied: listen addresses that clash, cluster
 * ports off loopback without a cluster key, wildcard listeners without an
 * advertised address, log levels, TLS files that go together, and the crdt
 * resolver refused as the resolver of plain values.
 *
 * One function (dk__cfg_check_rules) holds every rule and runs in both
 * modes: stop at the first failure (dk_config_check, dynkvd's start) or
 * report each one (dk_config_check_args, --check-config). Two copies of
 * the rules, one per mode, would drift apart.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "base/config_int.h"
#include "base/log.h"
#include "dynkv/crdt.h"

/* Two listen addresses that name the same host:port (port 0 never clashes:
 * each socket gets its own free port). */
static int cfg_same_listen(const char *a, const char *b)
{
    const char *colon = strrchr(a, ':');
    return strcmp(a, b) == 0 && !(colon && strcmp(colon, ":0") == 0);
}

/* Is the host of listen address a ("ip:port", "[ip6]:port", "name:port")
 * a loopback address: 127.0.0.0/8, ::1, ::ffff:127.x.y.z or localhost? */
static int cfg_addr_loopback(const char *a)
{
    char host[DK_CONFIG_ADDR_MAX + 1];
    const char *end;
    if (a[0] == '[') {
        a++;
        end = strchr(a, ']');
    } else {
        end = strrchr(a, ':');
    }
    size_t n = end ? (size_t)(end - a) : strlen(a);
    if (n >= sizeof(host))
        return 0;
    memcpy(host, a, n);
    host[n] = '\0';
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    return strcmp(host, "localhost") == 0;
}

/* Is the host of listen address a the wildcard (0.0.0.0, [::], empty)? */
static int cfg_addr_wildcard(const char *a)
{
    const char *colon = strrchr(a, ':');
    size_t n = colon ? (size_t)(colon - a) : strlen(a);
    return n == 0 || (n == 7 && !strncmp(a, "0.0.0.0", 7)) || (n == 4 && !strncmp(a, "[::]", 4));
}

/* Every rule between keys; each failure goes to report, or ends the check
 * with err when report is NULL. Returns the number of failures. */
int dk__cfg_check_rules(const dk_config *c, char *err, size_t errlen, dk_config_report_fn report, void *arg)
{
    const char *where = c->path[0] ? c->path : "configuration";
    static const struct {
        const char *a, *b;
        size_t oa, ob;
    } pairs[] = {
        {"http_listen", "rpc_listen", offsetof(dk_config, node.http_listen),
         offsetof(dk_config, node.rpc_listen)},
        {"rpc_listen", "gossip_listen", offsetof(dk_config, node.rpc_listen),
         offsetof(dk_config, node.gossip_listen)},
        {"http_listen", "gossip_listen", offsetof(dk_config, node.http_listen),
         offsetof(dk_config, node.gossip_listen)},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *va = (const char *)c + pairs[i].oa, *vb = (const char *)c + pairs[i].ob;
        /* http and rpc may not share even a port-0 spelling (the existing
         * rule); the gossip pairs only clash on a real port. */
        if (i == 0 ? strcmp(va, vb) != 0 : !cfg_same_listen(va, vb))
            continue;
        snprintf(err, errlen, "%.300s: [node] %s and %s are both %.270s; expected two different addresses",
                 where, pairs[i].a, pairs[i].b, va);
        if (!report)
            return 1;
        report(arg, err);
        n++;
    }
    /* Protected mode: without a cluster key, cluster traffic is not
     * authenticated by any secret, so it stays on loopback addresses. */
    static const char *const listens[] = {"rpc_listen", "gossip_listen"};
    for (int i = 0; i < 2 && !c->security.cluster_key_file[0] && !c->security.insecure; i++) {
        const char *v = i == 0 ? c->node.rpc_listen : c->node.gossip_listen;
        if (cfg_addr_loopback(v))
            continue;
        snprintf(err, errlen,
                 "%.300s: [node] %s = %.270s is not a loopback address, but there is no "
                 "[security] cluster_key_file: without a key anyone who reaches the port could join the "
                 "cluster and read or write every key. Write a key with `dynkvd keygen PATH`, copy it to "
                 "every node and set [security] cluster_key_file = PATH (or, on a network you trust "
                 "completely, [security] insecure = true)",
                 where, listens[i], v);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    /* A wildcard listen address is not an address others can reach: the
     * node must be told which one to advertise. */
    static const char *const all_listens[] = {"http_listen", "rpc_listen", "gossip_listen"};
    for (int i = 0; i < 3 && !c->node.advertise_address[0]; i++) {
        const char *v = i == 0 ? c->node.http_listen : i == 1 ? c->node.rpc_listen : c->node.gossip_listen;
        if (!cfg_addr_wildcard(v))
            continue;
        snprintf(err, errlen,
                 "%.300s: [node] %s = %.270s listens on every interface, but other members "
                 "cannot reach a wildcard address: set [node] advertise_address to the host name or IP "
                 "address they should use for this node",
                 where, all_listens[i], v);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    char why[300];
    if (dk_log_apply_levels(c->log.levels, why, sizeof why, 1) != 0) {
        snprintf(err, errlen, "%.300s: [log] levels = %.200s: %s", where, c->log.levels, why);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    const dk_config_security *sec = &c->security;
    const char *tls_msg = NULL;
    if (!sec->tls_cert_file[0] != !sec->tls_key_file[0])
        tls_msg = "[security] tls_cert_file and tls_key_file go together: set both for HTTPS, or neither";
    if (tls_msg) {
        snprintf(err, errlen, "%.300s: %s", where, tls_msg);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    if (sec->tls_ca_file[0] && !sec->tls_cert_file[0]) {
        /* Mutual TLS between nodes needs this node's own certificate. */
        snprintf(err, errlen,
                 "%.300s: [security] tls_ca_file (mutual TLS between nodes) needs tls_cert_file "
                 "and tls_key_file: the node's certificate, signed by that CA, naming its node id",
                 where);
        if (!report)
            return n + 1;
        report(arg, err);
        n++;
    }
    return n;
}

int dk_config_check(const dk_config *c, char *err, size_t errlen)
{
    const char *where = c->path[0] ? c->path : "configuration";
    /* The crdt resolver is loaded on every node for CRDT objects; as the
     * resolver of plain values it would take a PUT's bytes for an
     * operation and refuse them all. */
    if (strcmp(c->conflict.resolver, DK_CRDT_RESOLVER) == 0) {
        snprintf(err, errlen,
                 "%s: [conflict] resolver = %s: every node already uses the crdt resolver for "
                 "CRDT keys (/crdt/{key}), and it cannot resolve plain /kv values; expected a resolver of "
                 "values such as vclock or lww",
                 where, c->conflict.resolver);
        return DK_ECONFIG;
    }
    return dk__cfg_check_rules(c, err, errlen, NULL, NULL) ? DK_ECONFIG : 0;
}
