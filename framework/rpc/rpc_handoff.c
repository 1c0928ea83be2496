/*
 * rpc_handoff.c - encoder and validating decoder of the handoff check's
 * two messages (layouts in rpc_handoff.h). A file of its own, like the
 * streaming messages: the frame layer only needs the type numbers.
 */
#include <errno.h>
#include <string.h>

#include "rpc/rpc_frame.h"
#include "rpc/rpc_handoff.h"
#include "rpc/rpc_wire.h"
#include "util/coding.h"

static int id_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > DK_NODE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
            return 0;
    return 1;
}

int dk_msg_handoff_query_encode(dk_buf *out, const dk_msg_handoff_query *m)
{
    if (m->n_targets == 0 || m->n_targets > DK_HANDOFF_TARGETS_MAX)
        return -EINVAL;
    for (uint32_t i = 0; i < m->n_targets; i++)
        if (!id_ok((const uint8_t *)m->targets[i], strnlen(m->targets[i], DK_NODE_ID_MAX + 1)))
            return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_varint(&w, m->n_targets);
    for (uint32_t i = 0; i < m->n_targets; i++)
        wr_lp(&w, m->targets[i], strlen(m->targets[i]));
    return wr_done(&w);
}

int dk_msg_handoff_query_decode(dk_slice body, dk_msg_handoff_query *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->n_targets = (uint32_t)rd_bounded(&r, 1, DK_HANDOFF_TARGETS_MAX);
    for (uint32_t i = 0; i < m->n_targets && !r.bad; i++) {
        dk_slice s = rd_lp(&r, 1, DK_NODE_ID_MAX);
        if (r.bad || !id_ok(s.ptr, s.len)) {
            r.bad = 1;
            break;
        }
        memcpy(m->targets[i], s.ptr, s.len);
        m->targets[i][s.len] = '\0';
    }
    return rd_done(&r);
}

int dk_msg_handoff_state_encode(dk_buf *out, const dk_msg_handoff_state *m)
{
    if (m->flags & ~(DK_HANDOFF_SETTLED | DK_HANDOFF_COUNTED))
        return -EINVAL;
    wr w;
    wr_init(&w, out);
    wr_varint(&w, m->epoch);
    wr_varint(&w, m->flags);
    wr_varint(&w, m->hinted);
    return wr_done(&w);
}

int dk_msg_handoff_state_decode(dk_slice body, dk_msg_handoff_state *m)
{
    rd r;
    rd_init(&r, body);
    memset(m, 0, sizeof(*m));
    m->epoch = rd_varint(&r);
    m->flags = (uint32_t)rd_bounded(&r, 0, DK_HANDOFF_SETTLED | DK_HANDOFF_COUNTED);
    m->hinted = (uint32_t)rd_bounded(&r, 0, DK_HANDOFF_TARGETS_MAX);
    return rd_done(&r);
}
