/*
 * cluster.c - see cluster.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <openssl/crypto.h>

#include "cluster/cluster.h"
#include "cluster/leaver.h"
#include "cluster/loops.h"
#include "cluster/rebalance.h"
#include "rpc/rpc_tls.h"
#include "base/log.h"
#include "base/metrics.h"
#include "util/vv.h"
#include "util/strcopy.h"

static int member_in_ring(const dk_member *m)
{
    return m->state != DK_MEMBER_REMOVED && dk_member_status_current(m->status);
}

/* Alive and serving its ranges: gossip says it runs, and its ring status
 * lets it answer reads (a replacing node is on the ring without its data). */
static int member_alive(const dk_member *m)
{
    return (m->state == DK_MEMBER_NORMAL || m->state == DK_MEMBER_JOINING || m->state == DK_MEMBER_LEAVING) &&
           dk_member_status_readable(m->status);
}

/* Rebuild the ring when its member set (ids, weights, places) changed. */
static void cluster_update_ring(dk_cluster *c, const dk_member *m, size_t n)
{
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    size_t in = 0;
    for (size_t i = 0; i < n; i++) {
        if (!member_in_ring(&m[i]))
            continue;
        in++;
        XXH3_64bits_update(h, m[i].id, strlen(m[i].id) + 1);
        XXH3_64bits_update(h, m[i].dc, strlen(m[i].dc) + 1);
        XXH3_64bits_update(h, m[i].rack, strlen(m[i].rack) + 1);
        XXH3_64bits_update(h, &m[i].weight, sizeof(m[i].weight));
    }
    char sig[64];
    snprintf(sig, sizeof(sig), "%zu-%016llx", in, (unsigned long long)XXH3_64bits_digest(h));
    XXH3_freeState(h);
    if (strcmp(sig, c->ring_sig) == 0)
        return;
    dk_ring_node *rn = calloc(in ? in : 1, sizeof(*rn));
    if (!rn)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!member_in_ring(&m[i]))
            continue;
        snprintf(rn[k].id, sizeof(rn[k].id), "%s", m[i].id);
        snprintf(rn[k].dc, sizeof(rn[k].dc), "%s", m[i].dc);
        snprintf(rn[k].rack, sizeof(rn[k].rack), "%s", m[i].rack);
        rn[k].weight = m[i].weight ? m[i].weight : 1;
        rn[k].state = m[i].state;
        k++;
    }
    dk_ring *r = NULL;
    int rc = dk_ring_build(rn, k, DK_RING_VNODES_DEFAULT, c->ring_version + 1, &r);
    free(rn);
    if (rc) {
        dk_log(DK_LOG_ERROR, "cluster: cannot build the ring from %zu members: %s", k, dk_strerror(rc));
        return;
    }
    c->ring_version++;
    snprintf(c->ring_sig, sizeof(c->ring_sig), "%s", sig);
    dk_ring_cell_set(&c->ring, r);
    dk__loops_ring_changed(c);
    dk_log(DK_LOG_INFO, "cluster: ring version %llu with %zu node%s", (unsigned long long)c->ring_version, k,
           k == 1 ? "" : "s");
}

/* Worker thread: raise the actor incarnation when asked, write the member
 * table into the catalog. */
static void save_work(uv_work_t *w)
{
    dk_cluster *c = w->data;
    if (c->raise_to) {
        char err[256];
        uint32_t inc = 0;
        int rrc = dk_catalog_raise_incarnation(c->node->catalog, c->raise_to, &inc, err, sizeof(err));
        if (rrc)
            dk_log(DK_LOG_ERROR, "cluster: cannot raise the actor incarnation: %s", err);
        else
            c->raised = inc;
    }
    if (!c->saving_copy)
        return;
    int rc = dk_catalog_members_save(c->node->catalog, c->saving_copy, c->n_saving_copy);
    if (rc)
        dk_log(DK_LOG_WARN, "cluster: cannot persist the member table: %s (%s)", dk_strerror(rc),
               dk_catalog_errmsg(c->node->catalog));
}

static void save_start(dk_cluster *c);
static void stop_step(void *arg);

/* Loop thread. */
static void save_done(uv_work_t *w, int status)
{
    dk_cluster *c = w->data;
    free(c->saving_copy);
    c->saving_copy = NULL;
    c->saving = 0;
    if (c->raise_to && c->raised >= c->raise_to) {
        dk_actor a;
        if (dk_actor_set(&a, c->cfg->node.id, c->raised) == 0) {
            c->node->actor = a;
            dk_store_set_actor(c->node->store, &a);
            dk_log(DK_LOG_INFO, "cluster: %s now writes as actor incarnation %u (the cluster remembered %u)",
                   c->cfg->node.id, c->raised, c->raise_to - 1);
            if (c->members && !c->stopping)
                dk_membership_set_actor(c->members, c->raised);
        }
        c->raise_to = 0;
        c->raising = 0;
    } else if (c->raise_to && !c->stopping) {
        save_start(c); /* the raise failed: try again */
        return;
    }
    if (c->stopping)
        stop_step(c); /* the save was the last thing stop waited for */
    else if (c->to_save)
        save_start(c);
}

void dk__cluster_raise_actor(dk_cluster *c, uint32_t min)
{
    if (c->raising || c->stopping)
        return;
    c->raising = 1;
    c->raise_to = min;
    if (!c->saving)
        save_start(c);
}

static void save_start(dk_cluster *c)
{
    c->saving_copy = c->to_save;
    c->n_saving_copy = c->n_to_save;
    c->to_save = NULL;
    c->save_work.data = c;
    if (uv_queue_work(c->loop, &c->save_work, save_work, save_done) == 0)
        c->saving = 1;
    else {
        free(c->saving_copy);
        c->saving_copy = NULL;
    }
}

/* Loop thread: gossip published a new member table. */
static void on_members(void *arg, const dk_member *m, size_t n)
{
    dk_cluster *c = arg;
    dk_member *copy = malloc((n ? n : 1) * sizeof(*m));
    if (!copy)
        return;
    memcpy(copy, m, n * sizeof(*m));
    free(c->table);
    c->table = copy;
    c->n_table = n;
    /* The loops: off and their member table first, then the ring that
     * matches it, then whether they may coordinate again (loops.h). */
    dk__loops_members(c, m, n);
    cluster_update_ring(c, m, n);
    dk_rebalance_on_members(c, m, n);
    dk__loops_evaluate(c);
    /* Persist the latest table; intermediate ones may be skipped. */
    dk_member *save = malloc((n ? n : 1) * sizeof(*m));
    if (!save || c->stopping) {
        free(save);
        return;
    }
    memcpy(save, m, n * sizeof(*m));
    free(c->to_save);
    c->to_save = save;
    c->n_to_save = n;
    if (!c->saving)
        save_start(c);
}

static dk_ring *view_ring(void *arg)
{
    dk_cluster *c = arg;
    /* The cell is set on this loop only: no lock to read it here. */
    dk_ring *r = dk_ring_cell_peek(&c->ring);
    if (r)
        dk_ring_ref(r);
    return r;
}

/* The coordinator's view callbacks below run on the loop thread. */
static int view_readable(void *arg)
{
    return dk_rebalance_readable(arg);
}

static size_t view_pending(void *arg, dk_token t, dk_coord_pending *out)
{
    return dk_rebalance_pending(arg, t, out);
}

static const char *view_transition(void *arg)
{
    return dk_rebalance_sig(arg);
}

static int view_receiving(void *arg, const char *node_id)
{
    return dk_rebalance_receiving(arg, node_id);
}

static int view_up(void *arg, const char *node_id, char *rpc_addr, size_t len, int *up)
{
    dk_cluster *c = arg;
    for (size_t i = 0; i < c->n_table; i++) {
        const dk_member *m = &c->table[i];
        if (strcmp(m->id, node_id) == 0) {
            snprintf(rpc_addr, len, "%s", m->rpc_addr);
            *up = m->state == DK_MEMBER_NORMAL || m->state == DK_MEMBER_JOINING ||
                  m->state == DK_MEMBER_LEAVING;
            return 0;
        }
    }
    return DK_ENOTFOUND;
}

static int view_peer(void *arg, const char *node_id, char *rpc_addr, size_t len, int *alive)
{
    dk_cluster *c = arg;
    for (size_t i = 0; i < c->n_table; i++) {
        if (strcmp(c->table[i].id, node_id) == 0) {
            dk_strcopy(rpc_addr, len, c->table[i].rpc_addr);
            *alive = member_alive(&c->table[i]);
            return 0;
        }
    }
    return DK_ENOTFOUND;
}

/* Loop 0: requests from peers go to the coordinator once it exists
 * (those of loop 0's connections, and those the other loops relay). */
void dk__cluster_on_rpc(void *arg, dk_rpc_req *q, const dk_frame_header *h, dk_slice body)
{
    dk_cluster *c = arg;
    dk_metrics_add("rpc_loop0_served_total", 1);
    /* Just normal and fenced (rebalance.h): no reads of its data yet; the
     * coordinator counts this as a replica that did not answer. */
    int fenced = dk_rebalance_fenced(c) && (h->type == DK_MSG_GET_REPLICA || h->type == DK_MSG_SCAN_RANGE);
    if (c->coord && !fenced) {
        dk_coord_on_rpc(c->coord, q, h, body);
        return;
    }
    /* Refused before anything is done with it: a forwarded write goes on
     * to the next replica (coord_forward.c). */
    dk_buf b = DK_BUF_INIT;
    const char *msg = fenced        ? "node has just joined: reads wait until every member counts it"
                      : c->stopping ? "node is stopping"
                                    : "node is starting";
    dk_msg_error e = {.code = c->stopping && !fenced ? DK_ECLOSED : DK_EUNAVAILABLE,
                      .message = {(const uint8_t *)msg, strlen(msg)}};
    dk_msg_error_encode(&b, &e);
    dk_rpc_reply(q, DK_MSG_ERROR, b.data, b.len);
    dk_buf_free(&b);
}

/* The actual address of a listener that may have asked for port 0. */
static void with_port(char *out, size_t len, const char *listen, int port)
{
    const char *colon = strrchr(listen, ':');
    size_t host = colon ? (size_t)(colon - listen) : strlen(listen);
    snprintf(out, len, "%.*s:%d", (int)host, listen, port);
}

/* [node] advertise_address as a numeric IP into ip[INET6_ADDRSTRLEN] ("" when
 * unset): a host name is resolved once, at start (the address others use
 * for this node must not change under them). 0, or an error in err. */
static int advertise_ip(uv_loop_t *loop, const char *adv, char *ip, size_t iplen, char *err, size_t errlen)
{
    ip[0] = '\0';
    if (!adv[0])
        return 0;
    char host[DK_CONFIG_ADDR_MAX + 1];
    size_t n = strlen(adv);
    if (adv[0] == '[' && n > 2)
        snprintf(host, sizeof(host), "%.*s", (int)(n - 2), adv + 1);
    else
        snprintf(host, sizeof(host), "%s", adv);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    uv_getaddrinfo_t req;
    int rc = uv_getaddrinfo(loop, &req, NULL, host, NULL, &hints);
    if (rc) {
        snprintf(err, errlen, "cluster: cannot resolve [node] advertise_address = %s: %s", adv,
                 uv_strerror(rc));
        return rc;
    }
    const struct addrinfo *pick = req.addrinfo;
    for (const struct addrinfo *a = req.addrinfo; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    rc = pick ? uv_ip_name(pick->ai_addr, ip, iplen) : UV_EAI_NONAME;
    uv_freeaddrinfo(req.addrinfo);
    if (rc)
        snprintf(err, errlen, "cluster: [node] advertise_address = %s has no usable address", adv);
    return rc;
}

/* host:port others use: the advertised IP when there is one, else the
 * host of the listen address; the port from port (or from the listen
 * address when port < 0). */
static void advertised(char *out, size_t len, const char *ip, const char *listen, int port)
{
    const char *colon = strrchr(listen, ':');
    if (port < 0)
        port = colon ? atoi(colon + 1) : 0;
    if (!ip[0])
        with_port(out, len, listen, port);
    else if (strchr(ip, ':'))
        snprintf(out, len, "[%s]:%d", ip, port);
    else
        snprintf(out, len, "%s:%d", ip, port);
}


/* Membership: another live process claims our id and we started last. A
 * copied data directory must not serve as the node it copies (its writes
 * would reuse the original's version-vector counters), so stop at once,
 * exit status 1 as for any other refusal to start; nothing acknowledged is
 * lost (the WAL holds it). */
static void on_duplicate_id(void *arg, const char *why)
{
    (void)arg;
    fprintf(stderr, "dynkvd: %s; refusing to run\n", why);
    _exit(1);
}

int dk_cluster_start(dk_cluster *c, uv_loop_t *loop, dk_node *node, const char *http_addr,
                     const dk_cluster_loops *loops, char *err, size_t errlen)
{
    const dk_config *cfg = node->cfg;
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->node = node;
    c->cfg = cfg;
    dk_ring_cell_init(&c->ring, NULL);

    if (!node->cluster_key.keyed && cfg->security.insecure)
        dk_log(DK_LOG_WARN,
               "[security] insecure = true and no cluster_key_file: RPC and gossip take cluster "
               "traffic from any address, and anyone who knows the cluster name '%s' can join it and read "
               "or write every key; set [security] cluster_key_file (`dynkvd keygen PATH`)",
               cfg->cluster.name);
    dk_rpc_tls *rpc_tls = NULL;
    if (cfg->security.tls_ca_file[0]) {
        int trc = dk_rpc_tls_new(cfg->security.tls_cert_file, cfg->security.tls_key_file,
                                 cfg->security.tls_ca_file, &rpc_tls, err, errlen);
        if (trc)
            return trc;
    }
    uint8_t rpc_key[DK_CLUSTER_KEY_LEN];
    dk_cluster_key_derive(&node->cluster_key, "rpc", rpc_key);
    dk_rpc_conf rc_conf = {
        .listen = cfg->node.rpc_listen,
        .cluster_name = cfg->cluster.name,
        .node_id = cfg->node.id,
        .incarnation = node->actor.incarnation,
        .key = rpc_key,
        .loopback_only = !node->cluster_key.keyed && !cfg->security.insecure,
        .max_inbound = (uint32_t)cfg->cluster.max_rpc_connections,
        .frame_timeout_ms = (uint64_t)cfg->cluster.request_timeout,
        .on_request = dk__cluster_on_rpc,
        .arg = c,
        .tls = rpc_tls,
    };
    int rc = dk_rpc_start(loop, &rc_conf, &c->rpc, err, errlen);
    if (rc) {
        OPENSSL_cleanse(rpc_key, sizeof(rpc_key));
        return rc;
    }

    dk_coord_conf cc = {
        .loop = loop,
        .node = node,
        .rpc = c->rpc,
        .view = {.arg = c,
                 .ring = view_ring,
                 .peer = view_peer,
                 .readable = view_readable,
                 .pending = view_pending,
                 .up = view_up,
                 .transition = view_transition,
                 .receiving = view_receiving},
        .hint_engine = node->hint_engine,
        .hint_ops = node->engine_ops,
    };
    rc = dk_coord_start(&cc, &c->coord, err, errlen);
    if (rc == 0)
        rc = dk__loops_start(c, loops, &rc_conf, err, errlen);
    OPENSSL_cleanse(rpc_key, sizeof(rpc_key));
    if (rc)
        return rc;

    dk_member *initial = NULL;
    size_t n_initial = 0;
    if (dk_catalog_members_load(node->catalog, &initial, &n_initial) != 0)
        dk_log(DK_LOG_WARN, "cluster: ignoring the persisted member table: %s",
               dk_catalog_errmsg(node->catalog));
    const char **seeds = calloc(cfg->cluster.n_seeds + 1, sizeof(*seeds));
    for (size_t i = 0; seeds && i < cfg->cluster.n_seeds; i++)
        seeds[i] = cfg->cluster.seeds[i];

    char adv_ip[INET6_ADDRSTRLEN];
    if ((rc = advertise_ip(loop, cfg->node.advertise_address, adv_ip, sizeof(adv_ip), err, errlen))) {
        free(seeds);
        free(initial);
        return rc;
    }
    dk_membership_conf mc = {
        .cluster_name = cfg->cluster.name,
        .advertise = adv_ip,
        .seeds = seeds,
        .n_seeds = seeds ? cfg->cluster.n_seeds : 0,
        .interval_ms = (uint64_t)cfg->cluster.gossip_interval,
        .initial = initial,
        .n_initial = n_initial,
        .on_change = on_members,
        .arg = c,
        .on_duplicate = on_duplicate_id,
    };
    /* every message carries a MAC under the gossip key; without a key file
     * (protected mode) that key is public, so only loopback peers count */
    dk_cluster_key_derive(&node->cluster_key, "gossip", mc.key);
    mc.loopback_only = !node->cluster_key.keyed && !cfg->security.insecure;
    dk_member *self = &mc.self;
    snprintf(self->id, sizeof(self->id), "%s", cfg->node.id);
    snprintf(self->gossip_addr, sizeof(self->gossip_addr), "%.63s", cfg->node.gossip_listen);
    advertised(self->rpc_addr, sizeof(self->rpc_addr), adv_ip, cfg->node.rpc_listen, dk_rpc_port(c->rpc));
    advertised(self->http_addr, sizeof(self->http_addr), adv_ip, http_addr, -1);
    snprintf(self->dc, sizeof(self->dc), "%s", cfg->node.dc);
    snprintf(self->rack, sizeof(self->rack), "%s", cfg->node.rack);
    self->weight = (uint32_t)cfg->node.weight;
    self->state = DK_MEMBER_NORMAL;
    self->status = dk_rebalance_initial_status(node, cfg->node.id, initial, n_initial);
    self->actor_inc = node->actor.incarnation;
    if (self->status != DK_STATUS_NORMAL)
        dk_log(DK_LOG_INFO, "cluster: %s starts %s%s", cfg->node.id, dk_member_status_name(self->status),
               node->data_lost ? " (no data from a previous life)" : "");
    rc = dk_membership_start(loop, &mc, &c->members, err, errlen);
    OPENSSL_cleanse(mc.key, sizeof(mc.key));
    free(seeds);
    free(initial);
    if (rc) {
        c->members = NULL;
        return rc;
    }
    rc = dk_rebalance_start(c);
    if (rc)
        snprintf(err, errlen, "cluster: cannot start rebalancing: %s", dk_strerror(rc));
    return rc;
}

void dk_cluster_rpc_stats(dk_cluster *c, dk_rpc_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (c->rpc)
        dk_rpc_stats_get(c->rpc, st);
    dk__loops_rpc_stats(c, st);
}

/* Loop thread: every loop's own coordinator is closed. */
static void loops_stopped(void *arg)
{
    dk_cluster *c = arg;
    c->lp_stopped = 1;
    stop_step(c);
}

/* Loop thread: the rebalance timer is closed. */
static void rb_stopped(void *arg)
{
    dk_cluster *c = arg;
    c->rb_stopped = 1;
    stop_step(c);
}

static void stop_step(void *arg)
{
    dk_cluster *c = arg;
    if (c->rb && !c->rb_stopping) {
        c->rb_stopping = 1;
        dk_rebalance_stop(c, rb_stopped, c);
        return;
    }
    if (c->rb && !c->rb_stopped)
        return;
    if (c->lp && !c->lp_stopping) {
        c->lp_stopping = 1; /* the loops' coordinators stop before the primary */
        dk__loops_stop(c, loops_stopped, c);
        return;
    }
    if (c->lp && !c->lp_stopped)
        return;
    if (c->coord) {
        dk_coord *co = c->coord;
        c->coord = NULL;
        dk_coord_stop(co, stop_step, c);
        return;
    }
    if (c->rpc) {
        dk_rpc *r = c->rpc;
        c->rpc = NULL;
        dk_rpc_stop(r, stop_step, c);
        return;
    }
    if (c->members) {
        dk_membership *m = c->members;
        c->members = NULL;
        dk_membership_stop(m, stop_step, c);
        return;
    }
    if (c->saving)
        return; /* save_done calls back here */
    dk_rebalance_free(c);
    dk__loops_free(c);
    free(c->table);
    c->table = NULL;
    free(c->to_save);
    c->to_save = NULL;
    dk_ring_cell_destroy(&c->ring);
    if (c->stop_done)
        c->stop_done(c->stop_arg);
}

void dk_cluster_stop(dk_cluster *c, void (*done)(void *), void *arg)
{
    c->stopping = 1;
    c->stop_done = done;
    c->stop_arg = arg;
    stop_step(c);
}

int dk_cluster_render(dk_cluster *c, dk_buf *out)
{
    dk_member *m = NULL;
    size_t n = 0;
    if (c->members && dk_membership_snapshot(c->members, &m, &n) != 0)
        return -ENOMEM;
    dk_ring *r = dk_ring_cell_get(&c->ring);
    json_t *o = json_object();
    json_object_set_new(o, "node", json_string(c->cfg->node.id));
    json_object_set_new(o, "cluster", json_string(c->cfg->cluster.name));
    json_object_set_new(o, "ring_version", json_integer(r ? (json_int_t)dk_ring_version(r) : 0));
    json_object_set_new(o, "n_replicas", json_integer(c->cfg->cluster.n_replicas));
    json_object_set_new(o, "streaming", dk_rebalance_progress(c));
    json_object_set_new(o, "decommission", dk_cluster_decommission_json(c));
    json_object_set_new(o, "handed_off", json_boolean(dk_cluster_handed_off(c)));
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        int idx = r ? dk_ring_find(r, m[i].id) : -1;
        json_t *e = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:f}", "id", m[i].id, "state",
            dk_member_state_name(m[i].state), "status",
            dk_member_status_name(m[i].status == DK_STATUS_REPLACING ? DK_STATUS_JOINING : m[i].status),
            "gossip", m[i].gossip_addr, "rpc", m[i].rpc_addr, "http", m[i].http_addr, "dc", m[i].dc, "rack",
            m[i].rack, "weight", (int)m[i].weight, "incarnation", (json_int_t)m[i].incarnation,
            "actor_incarnation", (json_int_t)m[i].actor_inc, "ownership",
            idx >= 0 ? dk_ring_ownership(r, (uint32_t)idx) : 0.0);
        if (m[i].status == DK_STATUS_REPLACING)
            json_object_set_new(e, "replacing", json_true());
        json_t *prog = dk_rebalance_member_progress(c, m[i].id);
        if (prog)
            json_object_set_new(e, "streaming", prog);
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "members", arr);
    char *s = json_dumps(o, JSON_COMPACT);
    int rc = s ? dk_buf_append_str(out, s) : -ENOMEM;
    free(s);
    json_decref(o);
    dk_ring_unref(r);
    free(m);
    return rc;
}
