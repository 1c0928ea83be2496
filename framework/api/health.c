/*
 * health.c - see health.h. The checks read what the subsystems already
 * publish for other threads: the engine's stats, the membership's own
 * record (dk_membership_self, any thread) and the ring cell's snapshot.
 * Nothing here writes to the engine to find out whether it can be written:
 * a probe write would cost an fsync per probe and put keys into the data
 * that every scan and repair would then see.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/health.h"
#include "api/api_json.h"
#include "cluster/cluster.h"
#include "gossip/membership.h"
#include "ring/ring.h"

static atomic_int health_draining;

void dk_health_set_draining(int draining)
{
    atomic_store(&health_draining, draining);
}

static dk_ready_check *health_add(dk_readiness *r, const char *name, int ok, const char *fmt, ...)
    DK_PRINTF(4, 5);
static dk_ready_check *health_add(dk_readiness *r, const char *name, int ok, const char *fmt, ...)
{
    if (r->n >= DK_READY_CHECKS_MAX)
        return NULL;
    dk_ready_check *c = &r->checks[r->n++];
    c->name = name;
    c->ok = ok;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
    if (!ok)
        r->ok = 0;
    return c;
}

typedef struct ro_scan {
    char name[64]; /* the first stat that says read-only */
    int retrying;  /* a *_readonly_retrying stat is set */
} ro_scan;

/* Worker thread (inside the engine's stats call). */
static void health_stat(void *arg, const char *name, uint64_t value)
{
    ro_scan *s = arg;
    size_t n = strlen(name);
    if (value && !s->name[0] && n >= 8 && strcmp(name + n - 8, "readonly") == 0)
        snprintf(s->name, sizeof(s->name), "%s", name);
    if (value && n >= 17 && strcmp(name + n - 17, "readonly_retrying") == 0)
        s->retrying = 1;
}

static void health_engine(dk_node *node, dk_readiness *r)
{
    if (!node || !node->engine) {
        health_add(r, "engine", 0, "the storage engine is not open");
        return;
    }
    ro_scan s = {{0}, 0};
    dk_engine_ref e = dk_node_engine(node);
    (void)dk_engine_stats(&e, health_stat, &s); /* none: s stays as initialised */
    if (s.name[0] && s.retrying)
        health_add(r, "engine", 0,
                   "engine '%s' refuses writes for now (%s = 1): it ran out of disk space "
                   "or file descriptors and retries on its own (see the log); free space or descriptors",
                   node->engine_plugin->name, s.name);
    else if (s.name[0])
        health_add(r, "engine", 0,
                   "engine '%s' refuses writes after an I/O error (%s = 1); see the log, "
                   "fix the disk and restart the node",
                   node->engine_plugin->name, s.name);
    else
        health_add(r, "engine", 1, "engine '%s' accepts writes", node->engine_plugin->name);
}

static void health_cluster(dk_cluster *c, dk_readiness *r)
{
    dk_membership *m = c->members;
    if (!c->coord || !c->rpc || !m) {
        health_add(r, "cluster", 0, "the cluster services (RPC, gossip, coordinator) are not running");
        return;
    }
    health_add(r, "cluster", 1, "RPC, gossip and the coordinator run");
    dk_member self;
    dk_membership_self(m, &self);
    switch (self.state) {
    case DK_MEMBER_NORMAL: health_add(r, "membership", 1, "normal"); break;
    case DK_MEMBER_JOINING:
        health_add(r, "membership", 0,
                   "joining: no seed or known member has answered a state exchange "
                   "yet; check [cluster] seeds and that a seed runs");
        break;
    default:
        health_add(r, "membership", 0, "%s: this node does not take its share of the ring",
                   dk_member_state_name(self.state));
        break;
    }
    switch (self.status) {
    case DK_STATUS_NORMAL: health_add(r, "ring_status", 1, "normal"); break;
    case DK_STATUS_JOINING:
    case DK_STATUS_REPLACING:
        health_add(r, "ring_status", 0,
                   "%s: streaming its ranges in; not read from until they arrived "
                   "(dynkv streams shows the progress)",
                   dk_member_status_name(self.status));
        break;
    default:
        health_add(r, "ring_status", 0, "%s: this node is handing its ranges over or is out of the ring",
                   dk_member_status_name(self.status));
        break;
    }
    dk_ring *ring = dk_ring_cell_get(&c->ring);
    if (!ring)
        health_add(r, "ring", 0, "no ring has been built yet");
    else if (dk_ring_find(ring, self.id) < 0)
        health_add(r, "ring", 0, "ring version %llu does not include node %s",
                   (unsigned long long)dk_ring_version(ring), self.id);
    else
        health_add(r, "ring", 1, "ring version %llu includes node %s",
                   (unsigned long long)dk_ring_version(ring), self.id);
    dk_ring_unref(ring);
}

void dk_health_evaluate(dk_node *node, dk_cluster *cluster, dk_readiness *out)
{
    memset(out, 0, sizeof(*out));
    out->ok = 1;
    health_engine(node, out);
    if (cluster)
        health_cluster(cluster, out);
    if (atomic_load(&health_draining))
        health_add(out, "draining", 0, "the node is stopping (SIGTERM): finishing in-flight requests");
    else
        health_add(out, "draining", 1, "not stopping");
}

int dk_health_render(const dk_readiness *r, const char *node_id, int verbose, dk_buf *body)
{
    json_t *o = json_object();
    json_t *arr = json_array();
    char msg[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < r->n; i++) {
        const dk_ready_check *c = &r->checks[i];
        if (!c->ok && used < sizeof(msg)) {
            int n =
                snprintf(msg + used, sizeof(msg) - used, "%s%s: %s", used ? "; " : "", c->name, c->message);
            used += n > 0 ? (size_t)n : 0;
        }
        if (c->ok && !verbose)
            continue;
        json_array_append_new(
            arr, json_pack("{s:s, s:b, s:s}", "name", c->name, "ok", c->ok, "message", c->message));
    }
    json_object_set_new(o, "status", json_string(r->ok ? "ok" : "unavailable"));
    json_object_set_new(o, "node", json_string(node_id));
    if (!r->ok) {
        json_object_set_new(o, "error", json_string("not_ready"));
        json_object_set_new(o, "message", json_string(msg));
    }
    json_object_set_new(o, "checks", arr);
    int rc = dk_json_dump(o, body);
    json_decref(o);
    return rc ? rc : r->ok ? 200 : 503;
}
