/*
 * member.h - the record of one cluster member as gossip spreads it, the
 * catalog persists it and the cluster view reads it: a plain value type,
 * here so that none of those three has to include another's header.
 *
 * A record carries two independent things. `state` is liveness as the
 * failure detector sees it (joining = not yet in touch with the cluster,
 * normal, suspect, down; leaving/removed for a graceful gossip leave).
 * `status` is the member's place in the ring: it changes only when the
 * member (or, for a removal, an operator through another member) says so,
 * and it survives the member being down, so a down node that was
 * bootstrapping is still known to be joining, not normal. The alternative,
 * one field for both, cannot say "down, and still owning its ranges" and
 * "down, and never owned any" apart.
 */
#ifndef DK_MEMBER_H
#define DK_MEMBER_H
#include <stdint.h>

#define DK_MEMBER_NAME_MAX 64u /* id, dc, rack */
#define DK_MEMBER_ADDR_MAX 64u /* buffer size of an address: 63 chars + NUL */
/* The highest incarnation a record may carry (2^53 - 1: exact in JSON
 * numbers). A member raises its own by one per change, so no real life
 * comes near it; gossip refuses records above it, and a node never raises
 * its own past it (a refutation that would is refused and logged), so an
 * incarnation never wraps to 0. */
#define DK_MEMBER_INC_MAX ((UINT64_C(1) << 53) - 1)

typedef enum dk_member_state {
    DK_MEMBER_JOINING = 0,
    DK_MEMBER_NORMAL = 1,
    DK_MEMBER_LEAVING = 2,
    DK_MEMBER_SUSPECT = 3,
    DK_MEMBER_DOWN = 4,
    DK_MEMBER_REMOVED = 5,
} dk_member_state;

/* Ring status (see above). Which members the cluster's rings hold:
 *   current ring (reads, writes that count): normal, leaving, replacing;
 *   future ring (where data must be once moves end): normal, joining,
 *   replacing.
 * A replacing member came back with lost data under an id the ring
 * already had: it keeps its place but is not read from, and it receives
 * writes without counting, until it streamed its ranges and says normal. */
typedef enum dk_member_status {
    DK_STATUS_JOINING = 0,
    DK_STATUS_NORMAL = 1,
    DK_STATUS_LEAVING = 2,
    DK_STATUS_LEFT = 3,
    DK_STATUS_REMOVED = 4,
    DK_STATUS_REPLACING = 5,
} dk_member_status;
#define DK_STATUS_MAX DK_STATUS_REPLACING

typedef struct dk_member {
    char id[DK_MEMBER_NAME_MAX + 1];      /* [a-z0-9_-]{1,64} */
    char gossip_addr[DK_MEMBER_ADDR_MAX]; /* ip:port or [ip6]:port */
    char rpc_addr[DK_MEMBER_ADDR_MAX];    /* carried for peers; may be "" */
    char http_addr[DK_MEMBER_ADDR_MAX];
    char dc[DK_MEMBER_NAME_MAX + 1];
    char rack[DK_MEMBER_NAME_MAX + 1];
    uint32_t weight; /* 1..100 */
    uint64_t incarnation;
    dk_member_state state;
    int64_t updated_ms;      /* local wall-clock ms of the last change */
    dk_member_status status; /* ring status */
    uint32_t actor_inc;      /* version-vector actor incarnation; 0 = unknown */
    uint64_t epoch;          /* wall-clock ms when the current status began
                                                 * (names one ring move; 0 = unknown) */
} dk_member;

/* "joining", "normal", ...; "unknown" for other values. Static storage. */
const char *dk_member_state_name(dk_member_state s);

/* Parse a state name back (for the catalog). Returns 0 or -EINVAL. */
int dk_member_state_parse(const char *name, dk_member_state *out);

/* "joining", "normal", "leaving", "left", "removed", "replacing";
 * "unknown" for other values. Static storage. */
const char *dk_member_status_name(dk_member_status s);

/* Parse a status name back (for the catalog). Returns 0 or -EINVAL. */
int dk_member_status_parse(const char *name, dk_member_status *out);

/* Ring membership by status: on the current ring (normal, leaving,
 * replacing), read from (normal, leaving), on the future ring (normal,
 * joining, replacing). */
int dk_member_status_current(dk_member_status s);
int dk_member_status_readable(dk_member_status s);
int dk_member_status_future(dk_member_status s);

#endif /* DK_MEMBER_H */
