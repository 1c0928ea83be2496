/*
 * gossip_msg.h - the wire format of membership messages: SWIM datagrams
 * (PING, ACK, PING_REQ) over UDP and full-table push-pull frames over TCP.
 *
 * One layout serves both, so one decoder (and one fuzz target) covers every
 * byte membership reads from a socket:
 *
 *   u32 magic "DKG1" | u8 version (1) | u8 type | u8 flags | u8 0
 *   u32 seq
 *   str cluster | str from | str target | str target_addr
 *   u16 n_updates | n_updates x update
 *   u32 masked CRC-32C of every byte before it
 *   [32-byte HMAC-SHA256(secret, every byte before it)]  when flags & MAC
 *
 *   update = u8 state | varint incarnation | varint weight | str id
 *            | str gossip_addr | str rpc_addr | str http_addr | str dc | str rack
 *            [ | u8 status | varint actor_inc | varint epoch ]   when flags & EXT
 *   str    = u8 length | bytes (no NUL; bounded per field)
 *
 * The EXT flag (every encoder here sets it) appends the ring status, the
 * version-vector actor incarnation and the status epoch to each update. A message without
 * it (an older node, the oldest fuzz seeds) still decodes: its members get
 * status removed when their state is removed and normal otherwise, which
 * is what an older node meant by putting every other member on the ring.
 * Old decoders refuse EXT messages (they check the flag bits), so mixed
 * versions do not gossip silently wrong records.
 *
 * Integers are little-endian (util/coding.h). A datagram is the message as
 * is; over TCP each message is preceded by its u32 length. The decoder
 * checks the length, magic, version, CRC, MAC, every field's bounds and
 * character set, and every update, before the caller uses anything; the
 * updates are then read again with dk__gossip_update_next, which cannot
 * fail on a validated message. Not taken: reusing rpc_frame (its frames
 * are stream frames with a handshake; a datagram must stand alone).
 *
 * Everything here is pure and thread-safe.
 */
#ifndef DK_GOSSIP_MSG_H
#define DK_GOSSIP_MSG_H
#include <stddef.h>
#include <stdint.h>
#include "gossip/membership.h"

#define DK_GOSSIP_MAGIC        0x31474b44u  /* "DKG1" little-endian */
#define DK_GOSSIP_VERSION      1u
#define DK_GOSSIP_FLAG_MAC     0x01u
#define DK_GOSSIP_FLAG_EXT     0x02u         /* updates carry status and actor_inc */
#define DK_GOSSIP_MAC_LEN      32u
#define DK_GOSSIP_UDP_MAX      1400u         /* bytes per datagram we send */
#define DK_GOSSIP_FRAME_MAX    (4u << 20)    /* bytes per TCP push-pull message */
#define DK_GOSSIP_UPDATE_MAX   419u          /* encoded size bound of one update */

enum {
    DK_GOSSIP_PING = 1,         /* target = recipient's id */
    DK_GOSSIP_ACK = 2,          /* target = id of the node that was probed */
    DK_GOSSIP_PING_REQ = 3,     /* probe target at target_addr for me */
    DK_GOSSIP_PUSH = 4,         /* TCP: my full table, answer with yours */
    DK_GOSSIP_PULL = 5,         /* TCP: the answer */
};

typedef struct dk_gossip_msg {
    uint8_t type;
    uint32_t seq;
    int has_mac;
    int has_ext;                /* DK_GOSSIP_FLAG_EXT */
    char cluster[DK_MEMBER_NAME_MAX + 1];
    char from[DK_MEMBER_NAME_MAX + 1];
    char target[DK_MEMBER_NAME_MAX + 1];
    char target_addr[DK_MEMBER_ADDR_MAX];
    uint32_t n_updates;
    const uint8_t *updates;     /* borrowed from the decoded buffer */
    const uint8_t *updates_end;
} dk_gossip_msg;

/* An encoder writing into caller memory. */
typedef struct dk_gossip_enc {
    uint8_t *buf;
    size_t cap, len;
    size_t count_pos;
    uint32_t n;
} dk_gossip_enc;

/*
 * Start a message of type in buf[0..cap). Strings may be NULL (empty).
 * Returns 0, -EINVAL for a string longer than its field or a bad type, or
 * DK_ETOOBIG when cap cannot hold the header and trailer.
 */
int dk__gossip_enc_begin(dk_gossip_enc *e, uint8_t *buf, size_t cap, int type, uint32_t seq,
                         const char *cluster, const char *from, const char *target,
                         const char *target_addr);

/* Append one member update. DK_ETOOBIG when it does not fit with the
 * trailer (the message is unchanged and still valid to finish), -EINVAL
 * when a field is out of bounds. */
int dk__gossip_enc_add(dk_gossip_enc *e, const dk_member *m);

/* Write the count, CRC and (when secret is non-NULL and non-empty) the
 * MAC. *len gets the message size. Returns 0 or DK_ECORRUPT if OpenSSL
 * fails. */
int dk__gossip_enc_finish(dk_gossip_enc *e, const char *secret, size_t *len);

/*
 * Validate and decode the message in buf[0..n). With a non-empty secret
 * the message must carry a valid MAC; without one it must carry none.
 * Returns 0, DK_ECORRUPT (malformed, bad CRC, bad field) or -EACCES (MAC
 * missing, unexpected or wrong). out borrows buf for its update bytes.
 */
int dk__gossip_decode(const uint8_t *buf, size_t n, const char *secret, dk_gossip_msg *out);

/* Read the next update of a decoded message into *out (updated_ms = 0),
 * advancing *p. Returns 0, or DK_EEOF when none is left. */
int dk__gossip_update_next(const dk_gossip_msg *msg, const uint8_t **p, dk_member *out);

#endif /* DK_GOSSIP_MSG_H */
