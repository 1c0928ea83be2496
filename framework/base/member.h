/*
 * member.h - the record of one cluster member as gossip spreads it, the
 * catalog persists it and the cluster view reads it: a plain value type,
 * here so that none of those three has to include another's header.
 */
#ifndef DK_MEMBER_H
#define DK_MEMBER_H
#include <stdint.h>

#define DK_MEMBER_NAME_MAX 64u      /* id, dc, rack */
#define DK_MEMBER_ADDR_MAX 64u      /* buffer size of an address: 63 chars + NUL */

typedef enum dk_member_state {
    DK_MEMBER_JOINING = 0,
    DK_MEMBER_NORMAL = 1,
    DK_MEMBER_LEAVING = 2,
    DK_MEMBER_SUSPECT = 3,
    DK_MEMBER_DOWN = 4,
    DK_MEMBER_REMOVED = 5,
} dk_member_state;

typedef struct dk_member {
    char id[DK_MEMBER_NAME_MAX + 1];            /* [a-z0-9_-]{1,64} */
    char gossip_addr[DK_MEMBER_ADDR_MAX];       /* ip:port or [ip6]:port */
    char rpc_addr[DK_MEMBER_ADDR_MAX];          /* carried for peers; may be "" */
    char http_addr[DK_MEMBER_ADDR_MAX];
    char dc[DK_MEMBER_NAME_MAX + 1];
    char rack[DK_MEMBER_NAME_MAX + 1];
    uint32_t weight;                            /* 1..100 */
    uint64_t incarnation;
    dk_member_state state;
    int64_t updated_ms;                         /* local wall-clock ms of the last change */
} dk_member;

/* "joining", "normal", ...; "unknown" for other values. Static storage. */
const char *dk_member_state_name(dk_member_state s);

/* Parse a state name back (for the catalog). Returns 0 or -EINVAL. */
int dk_member_state_parse(const char *name, dk_member_state *out);

#endif /* DK_MEMBER_H */
