/*
 * leaver.c - the drain of a node that is left and its "handed off"
 * (see leaver.h).
 */
#include <stdio.h>

#include "cluster/leaver.h"
#include "base/log.h"
#include "base/metrics.h"

int dk_cluster_left(const dk_cluster *c)
{
    return c && __atomic_load_n(&c->lv_left, __ATOMIC_ACQUIRE);
}

int dk_cluster_handed_off(const dk_cluster *c)
{
    return c && __atomic_load_n(&c->lv_handed_off, __ATOMIC_ACQUIRE);
}

uint64_t dk_cluster_hints_left(const dk_cluster *c)
{
    return c ? __atomic_load_n(&c->lv_hints, __ATOMIC_ACQUIRE) : 0;
}

uint64_t dk_cluster_hints_describe(dk_cluster *c, char *out, size_t len)
{
    if (!c->coord) {
        if (len)
            out[0] = 0;
        return 0;
    }
    return dk_coord_hints_pending(c->coord, 0, out, len);
}

json_t *dk_cluster_decommission_json(const dk_cluster *c)
{
    int left = dk_cluster_left(c), done = dk_cluster_handed_off(c);
    return json_pack("{s:s, s:b, s:I, s:s}", "status", left ? "left" : "not left", "handed_off", done,
                     "hints_pending", (json_int_t)dk_cluster_hints_left(c), "message",
                     done   ? "handed off: the process can be stopped"
                     : left ? "left: draining (hints to deliver, writes in flight)"
                            : "not decommissioned");
}

void dk__leaver_step(dk_cluster *c, dk_member_status self)
{
    uint64_t hints = c->coord ? dk_coord_hints_pending(c->coord, self == DK_STATUS_LEFT, NULL, 0) : 0;
    __atomic_store_n(&c->lv_hints, hints, __ATOMIC_RELEASE);
    if (self != DK_STATUS_LEFT)
        return;
    uint64_t now = uv_now(c->loop);
    if (!dk_cluster_left(c)) {
        c->lv_since = now;
        __atomic_store_n(&c->lv_left, 1, __ATOMIC_RELEASE);
        dk_log(DK_LOG_INFO,
               "decommission: %s is left: it serves no data and drains (%llu hint(s) to deliver, "
               "writes in flight for up to %lld ms)",
               c->cfg->node.id, (unsigned long long)hints, (long long)c->cfg->cluster.request_timeout);
    }
    if (dk_cluster_handed_off(c))
        return;
    if (hints || now - c->lv_since < (uint64_t)c->cfg->cluster.request_timeout + DK_LEAVER_SLACK_MS)
        return;
    __atomic_store_n(&c->lv_handed_off, 1, __ATOMIC_RELEASE);
    dk_metrics_set_gauge("decommission_handed_off", 1);
    dk_log(DK_LOG_INFO,
           "decommission complete: %s handed off (no hint left, no write in flight), safe to stop",
           c->cfg->node.id);
}
