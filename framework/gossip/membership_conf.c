/*
 * membership_conf.c - a new membership instance takes in its
 * configuration (dk_membership_start, before any handle exists): the
 * cluster name and the self record, checked by encoding them (the gossip
 * encoder knows every field's bounds, so there is one definition of a
 * valid record); self's incarnation raised above the one persisted for
 * it, so a restart never reuses one; the persisted table; the seeds,
 * noting whether one of them is this node as the others spell it (its
 * advertise address with the listen port); and the timing knobs with
 * their defaults. A bad value is an error naming it; a persisted record
 * past the incarnation maximum is skipped with a warning, as gossip would
 * refuse it. Kept apart from membership.c, whose subject is the running
 * protocol.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "gossip/membership_int.h"

/* Validate a member by encoding it (the encoder checks every field). */
static int ms_member_ok(const dk_member *mem)
{
    uint8_t scratch[DK_GOSSIP_UPDATE_MAX + 128];
    dk_gossip_enc e;
    return dk__gossip_enc_begin(&e, scratch, sizeof scratch, DK_GOSSIP_PING, 0, NULL, NULL, NULL, NULL) ==
               0 &&
           dk__gossip_enc_add(&e, mem) == 0;
}

int dk__ms_conf(dk_membership *m, const dk_membership_conf *c, char *err, size_t errlen)
{
    if (!c->cluster_name || !c->cluster_name[0] || strlen(c->cluster_name) > DK_MEMBER_NAME_MAX) {
        snprintf(err, errlen, "membership: cluster name must have 1..%u characters", DK_MEMBER_NAME_MAX);
        return -EINVAL;
    }
    snprintf(m->cluster, sizeof m->cluster, "%s", c->cluster_name);
    uint8_t scratch[256];
    dk_gossip_enc e;
    if (dk__gossip_enc_begin(&e, scratch, sizeof scratch, DK_GOSSIP_PING, 0, m->cluster, NULL, NULL, NULL)) {
        snprintf(err, errlen, "membership: bad cluster name '%s'", m->cluster);
        return -EINVAL;
    }
    dk_member self = c->self;
    self.state = DK_MEMBER_JOINING;
    if (!self.weight)
        self.weight = 1;
    if (!ms_member_ok(&self) || dk__ms_parse_addr(self.gossip_addr, &m->self_sa)) {
        snprintf(err, errlen, "membership: bad self record (id '%s', gossip address '%s')", self.id,
                 self.gossip_addr);
        return -EINVAL;
    }
    memcpy(m->key, c->key, sizeof m->key);
    m->loopback_only = c->loopback_only;
    m->msg_seq = dk__gossip_seq_start();
    m->interval = c->interval_ms ? c->interval_ms : 1000;
    dk__gossip_guard_init(&m->guard, 10 * m->interval > DK_GOSSIP_WINDOW_MIN_MS ? 10 * m->interval
                                                                                : DK_GOSSIP_WINDOW_MIN_MS);
    m->probe_timeout = m->interval / 2 ? m->interval / 2 : 1;
    m->indirect_k = c->indirect_k ? c->indirect_k : 3;
    m->suspicion_mult = c->suspicion_mult ? c->suspicion_mult : 2;
    m->pushpull_every = c->pushpull_every ? c->pushpull_every : 10;
    for (size_t i = 0; i < c->n_initial; i++) {
        if (strcmp(c->initial[i].id, self.id))
            continue;
        if (c->initial[i].incarnation >= DK_MEMBER_INC_MAX) {
            dk_log(DK_LOG_WARN,
                   "membership: ignoring our persisted record: incarnation %llu is "
                   "past the maximum",
                   (unsigned long long)c->initial[i].incarnation);
            continue;
        }
        m->self_floor = c->initial[i].incarnation;
        if (c->initial[i].gossip_addr[0] && strcmp(c->initial[i].gossip_addr, self.gossip_addr) != 0 &&
            dk__ms_parse_addr(c->initial[i].gossip_addr, &m->dup_sa) == 0)
            snprintf(m->dup_addr, sizeof m->dup_addr, "%s", c->initial[i].gossip_addr);
        if (c->initial[i].incarnation >= self.incarnation)
            self.incarnation = c->initial[i].incarnation + 1;
    }
    if (self.incarnation >= DK_MEMBER_INC_MAX)
        self.incarnation = DK_MEMBER_INC_MAX - 1;
    self.incarnation++;
    self.updated_ms = dk__ms_wall_ms();
    int rc = dk__ms_add(m, &self, 0);
    if (rc)
        return rc;
    m->recs[0].tx_left = dk__ms_retransmits(m);
    for (size_t i = 0; i < c->n_initial; i++) {
        const dk_member *im = &c->initial[i];
        if (!strcmp(im->id, self.id) || dk__ms_find(m, im->id) >= 0)
            continue;
        if (im->incarnation > DK_MEMBER_INC_MAX) {
            dk_log(DK_LOG_WARN,
                   "membership: ignoring the persisted record of '%s': incarnation "
                   "%llu is past the maximum",
                   im->id, (unsigned long long)im->incarnation);
            continue;
        }
        if (!ms_member_ok(im)) {
            snprintf(err, errlen, "membership: bad initial member '%s'", im->id);
            return -EINVAL;
        }
        if ((rc = dk__ms_add(m, im, 0)))
            return rc;
    }
    if (c->advertise && c->advertise[0])
        snprintf(m->advertise, sizeof m->advertise, "%s", c->advertise);
    char adv[DK_MEMBER_ADDR_MAX + 8]; /* our address as the seeds list spells it */
    const char *lport = strrchr(self.gossip_addr, ':');
    if (m->advertise[0])
        snprintf(adv, sizeof adv, "%s%s%s%s", strchr(m->advertise, ':') ? "[" : "", m->advertise,
                 strchr(m->advertise, ':') ? "]" : "", lport ? lport : "");
    else
        snprintf(adv, sizeof adv, "%s", self.gossip_addr);
    m->seed_flags = calloc(c->n_seeds + 1, 1);
    if (!m->seed_flags)
        return -ENOMEM;
    for (size_t i = 0; i < c->n_seeds; i++) {
        const char *colon = strrchr(c->seeds[i], ':');
        if (strlen(c->seeds[i]) >= DK_MEMBER_ADDR_MAX || !colon || colon == c->seeds[i] ||
            strtol(colon + 1, NULL, 10) <= 0) {
            snprintf(err, errlen, "membership: seed '%s' is not host:port", c->seeds[i]);
            return -EINVAL;
        }
        if (!strcmp(c->seeds[i], adv)) {
            m->self_is_seed = 1;
            continue;
        }
        char(*s)[DK_MEMBER_ADDR_MAX] = realloc(m->seeds, (m->n_seeds + 1) * sizeof *s);
        if (!s)
            return -ENOMEM;
        m->seeds = s;
        if (dk__ms_seed_is_name(c->seeds[i]))
            m->seed_flags[m->n_seeds] = MS_SEED_NAME;
        snprintf(m->seeds[m->n_seeds++], DK_MEMBER_ADDR_MAX, "%s", c->seeds[i]);
    }
    m->n_seed_flags = m->n_seeds;
    m->on_change = c->on_change;
    m->on_duplicate = c->on_duplicate;
    m->arg = c->arg;
    return 0;
}
