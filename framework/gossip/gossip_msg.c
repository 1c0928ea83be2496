/*
 * gossip_msg.c - encoder and validating decoder of membership messages
 * (layout in gossip_msg.h).
 *
 * The decoder walks the message once with a bounds-checked cursor and
 * rejects anything out of place: it never trusts a length before checking
 * it against the bytes left, and it checks the MAC before it looks at any
 * field, so bytes from outside the cluster never reach a field parser.
 */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "gossip/gossip_msg.h"
#include "util/coding.h"

#define GM_HEADER_FIXED DK_GOSSIP_HEADER_LEN
#define GM_TRAILER_MAX DK_GOSSIP_MAC_LEN

/* Field kinds, each with its own length bound and character set. */
enum { GM_ID, GM_NAME, GM_ADDR };

static int gm_char_ok(int kind, unsigned char c)
{
    if (kind == GM_ID)
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    return c > 0x20 && c < 0x7f; /* printable, no space */
}

static size_t gm_max(int kind)
{
    return kind == GM_ADDR ? DK_MEMBER_ADDR_MAX - 1 : DK_MEMBER_NAME_MAX;
}

static int gm_str_ok(int kind, const char *s, size_t len)
{
    if (len > gm_max(kind))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!gm_char_ok(kind, (unsigned char)s[i]))
            return 0;
    return 1;
}

static int gm_put_str(dk_gossip_enc *e, int kind, const char *s, size_t reserve)
{
    size_t len = s ? strlen(s) : 0;
    if (!gm_str_ok(kind, s, len))
        return -EINVAL;
    if (e->len + 1 + len + reserve > e->cap)
        return DK_ETOOBIG;
    e->buf[e->len++] = (uint8_t)len;
    if (len)
        memcpy(e->buf + e->len, s, len);
    e->len += len;
    return 0;
}

int dk__gossip_enc_begin(dk_gossip_enc *e, uint8_t *buf, size_t cap, int type, uint32_t seq,
                         const char *cluster, const char *from, const char *target, const char *target_addr)
{
    if (type < DK_GOSSIP_PING || type > DK_GOSSIP_PULL)
        return -EINVAL;
    e->buf = buf;
    e->cap = cap;
    e->len = 0;
    e->n = 0;
    if (cap < GM_HEADER_FIXED + 2 + GM_TRAILER_MAX)
        return DK_ETOOBIG;
    dk_put_u32(buf, DK_GOSSIP_MAGIC);
    buf[4] = DK_GOSSIP_VERSION;
    buf[5] = (uint8_t)type;
    buf[6] = 0;
    buf[7] = 0;
    dk_put_u32(buf + 8, seq);
    memset(buf + 12, 0, 16); /* sent_ms, msg_seq: written by enc_finish */
    e->len = GM_HEADER_FIXED;
    int rc;
    size_t rsv = 2 + GM_TRAILER_MAX;
    if ((rc = gm_put_str(e, GM_NAME, cluster, rsv)) || (rc = gm_put_str(e, GM_ID, from, rsv)) ||
        (rc = gm_put_str(e, GM_ID, target, rsv)) || (rc = gm_put_str(e, GM_ADDR, target_addr, rsv)))
        return rc;
    e->count_pos = e->len;
    dk_put_u16(buf + e->len, 0);
    e->len += 2;
    return 0;
}

int dk__gossip_enc_add(dk_gossip_enc *e, const dk_member *m)
{
    if ((unsigned)m->state > DK_MEMBER_REMOVED || (unsigned)m->status > DK_STATUS_MAX ||
        m->incarnation > DK_MEMBER_INC_MAX || m->weight < 1 || m->weight > 100 || !m->id[0] ||
        !m->gossip_addr[0])
        return -EINVAL;
    if (e->n >= 0xffffu)
        return DK_ETOOBIG;
    size_t start = e->len;
    if (e->len + 1 + 2 * DK_VARINT_MAX + GM_TRAILER_MAX > e->cap)
        return DK_ETOOBIG;
    e->buf[e->len++] = (uint8_t)m->state;
    e->len += dk_put_varint(e->buf + e->len, m->incarnation);
    e->len += dk_put_varint(e->buf + e->len, m->weight);
    int rc;
    if ((rc = gm_put_str(e, GM_ID, m->id, GM_TRAILER_MAX)) ||
        (rc = gm_put_str(e, GM_ADDR, m->gossip_addr, GM_TRAILER_MAX)) ||
        (rc = gm_put_str(e, GM_ADDR, m->rpc_addr, GM_TRAILER_MAX)) ||
        (rc = gm_put_str(e, GM_ADDR, m->http_addr, GM_TRAILER_MAX)) ||
        (rc = gm_put_str(e, GM_NAME, m->dc, GM_TRAILER_MAX)) ||
        (rc = gm_put_str(e, GM_NAME, m->rack, GM_TRAILER_MAX))) {
        e->len = start;
        return rc;
    }
    if (e->len + 1 + 2 * DK_VARINT_MAX + GM_TRAILER_MAX > e->cap) {
        e->len = start;
        return DK_ETOOBIG;
    }
    e->buf[e->len++] = (uint8_t)m->status;
    e->len += dk_put_varint(e->buf + e->len, m->actor_inc);
    e->len += dk_put_varint(e->buf + e->len, m->epoch);
    e->n++;
    return 0;
}

static int gm_mac(const uint8_t key[DK_GOSSIP_KEY_LEN], const uint8_t *p, size_t n, uint8_t *mac)
{
    unsigned int out_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)DK_GOSSIP_KEY_LEN, p, n, mac, &out_len) || out_len != DK_GOSSIP_MAC_LEN)
        return DK_ECORRUPT;
    return 0;
}

int dk__gossip_enc_finish(dk_gossip_enc *e, const uint8_t key[DK_GOSSIP_KEY_LEN], uint64_t sent_ms,
                          uint64_t msg_seq, size_t *len)
{
    dk_put_u16(e->buf + e->count_pos, (uint16_t)e->n);
    dk_put_u64(e->buf + 12, sent_ms);
    dk_put_u64(e->buf + 20, msg_seq);
    /* enc_begin and enc_add always leave room for the MAC */
    int rc = gm_mac(key, e->buf, e->len, e->buf + e->len);
    if (rc)
        return rc;
    e->len += DK_GOSSIP_MAC_LEN;
    *len = e->len;
    return 0;
}

/* A bounds-checked read cursor. */
typedef struct gm_cur {
    const uint8_t *p, *end;
} gm_cur;

static int gm_get_str(gm_cur *c, int kind, char *out, size_t outsz, int required)
{
    if (c->p >= c->end)
        return DK_ECORRUPT;
    size_t len = *c->p++;
    if (len > (size_t)(c->end - c->p) || len >= outsz || (required && len == 0) ||
        !gm_str_ok(kind, (const char *)c->p, len))
        return DK_ECORRUPT;
    memcpy(out, c->p, len);
    out[len] = '\0';
    c->p += len;
    return 0;
}

static int gm_get_update(gm_cur *c, dk_member *m)
{
    uint64_t inc, weight;
    size_t k;
    memset(m, 0, sizeof *m);
    if (c->p >= c->end || *c->p > DK_MEMBER_REMOVED)
        return DK_ECORRUPT;
    m->state = (dk_member_state)*c->p++;
    if (!(k = dk_get_varint(c->p, c->end, &inc)) || inc > DK_MEMBER_INC_MAX)
        return DK_ECORRUPT;
    c->p += k;
    if (!(k = dk_get_varint(c->p, c->end, &weight)) || weight < 1 || weight > 100)
        return DK_ECORRUPT;
    c->p += k;
    m->incarnation = inc;
    m->weight = (uint32_t)weight;
    int rc;
    if ((rc = gm_get_str(c, GM_ID, m->id, sizeof m->id, 1)) ||
        (rc = gm_get_str(c, GM_ADDR, m->gossip_addr, sizeof m->gossip_addr, 1)) ||
        (rc = gm_get_str(c, GM_ADDR, m->rpc_addr, sizeof m->rpc_addr, 0)) ||
        (rc = gm_get_str(c, GM_ADDR, m->http_addr, sizeof m->http_addr, 0)) ||
        (rc = gm_get_str(c, GM_NAME, m->dc, sizeof m->dc, 0)) ||
        (rc = gm_get_str(c, GM_NAME, m->rack, sizeof m->rack, 0)))
        return rc;
    uint64_t actor;
    if (c->p >= c->end || *c->p > DK_STATUS_MAX)
        return DK_ECORRUPT;
    m->status = (dk_member_status)*c->p++;
    if (!(k = dk_get_varint(c->p, c->end, &actor)) || actor > UINT32_MAX)
        return DK_ECORRUPT;
    c->p += k;
    m->actor_inc = (uint32_t)actor;
    if (!(k = dk_get_varint(c->p, c->end, &m->epoch)))
        return DK_ECORRUPT;
    c->p += k;
    return 0;
}

int dk__gossip_decode(const uint8_t *buf, size_t n, const uint8_t key[DK_GOSSIP_KEY_LEN], dk_gossip_msg *out)
{
    memset(out, 0, sizeof *out);
    /* header, four string lengths, the count, the MAC */
    if (n < GM_HEADER_FIXED + 4 + 2 + DK_GOSSIP_MAC_LEN || n > DK_GOSSIP_FRAME_MAX)
        return DK_ECORRUPT;
    if (dk_get_u32(buf) != DK_GOSSIP_MAGIC || buf[4] != DK_GOSSIP_VERSION)
        return DK_ECORRUPT;
    size_t body = n - DK_GOSSIP_MAC_LEN;
    uint8_t mac[DK_GOSSIP_MAC_LEN];
    if (gm_mac(key, buf, body, mac) || CRYPTO_memcmp(mac, buf + body, DK_GOSSIP_MAC_LEN) != 0)
        return -EACCES;
    /* authentic from here on: what is wrong now is a member's bug */
    if (buf[6] != 0 || buf[7] != 0)
        return DK_ECORRUPT;
    out->type = buf[5];
    if (out->type < DK_GOSSIP_PING || out->type > DK_GOSSIP_PULL)
        return DK_ECORRUPT;
    out->seq = dk_get_u32(buf + 8);
    out->sent_ms = dk_get_u64(buf + 12);
    out->msg_seq = dk_get_u64(buf + 20);
    gm_cur c = {buf + GM_HEADER_FIXED, buf + body};
    int rc;
    if ((rc = gm_get_str(&c, GM_NAME, out->cluster, sizeof out->cluster, 1)) ||
        (rc = gm_get_str(&c, GM_ID, out->from, sizeof out->from, 1)) ||
        (rc = gm_get_str(&c, GM_ID, out->target, sizeof out->target, 0)) ||
        (rc = gm_get_str(&c, GM_ADDR, out->target_addr, sizeof out->target_addr, 0)))
        return rc;
    if (c.end - c.p < 2)
        return DK_ECORRUPT;
    out->n_updates = dk_get_u16(c.p);
    c.p += 2;
    out->updates = c.p;
    dk_member m;
    for (uint32_t i = 0; i < out->n_updates; i++)
        if ((rc = gm_get_update(&c, &m)))
            return rc;
    if (c.p != c.end)
        return DK_ECORRUPT;
    out->updates_end = c.end;
    return 0;
}

int dk__gossip_peek_cluster(const uint8_t *buf, size_t n, char out[DK_MEMBER_NAME_MAX + 1])
{
    out[0] = '\0';
    if (n < GM_HEADER_FIXED + 4 + 2 + DK_GOSSIP_MAC_LEN || n > DK_GOSSIP_FRAME_MAX ||
        dk_get_u32(buf) != DK_GOSSIP_MAGIC || buf[4] != DK_GOSSIP_VERSION)
        return DK_ECORRUPT;
    gm_cur c = {buf + GM_HEADER_FIXED, buf + n - DK_GOSSIP_MAC_LEN};
    return gm_get_str(&c, GM_NAME, out, DK_MEMBER_NAME_MAX + 1, 1);
}

int dk__gossip_update_next(const dk_gossip_msg *msg, const uint8_t **p, dk_member *out)
{
    if (*p >= msg->updates_end)
        return DK_EEOF;
    gm_cur c = {*p, msg->updates_end};
    int rc = gm_get_update(&c, out);
    if (rc)
        return rc;
    *p = c.p;
    return 0;
}
