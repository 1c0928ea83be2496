/*
 * gossip_msg.h - the wire format of membership messages: SWIM datagrams
 * (PING, ACK, PING_REQ) over UDP and full-table push-pull frames over TCP.
 *
 * One layout serves both, so one decoder (and one fuzz target) covers every
 * byte membership reads from a socket:
 *
 *   u32 magic "DKG1" | u8 version (2) | u8 type | u8 flags (0) | u8 0
 *   u32 seq                            probe sequence (ACK matching)
 *   u64 sent_ms                        sender's wall clock, ms since 1970
 *   u64 msg_seq                        sender's message counter (freshness)
 *   str cluster | str from | str target | str target_addr
 *   u16 n_updates | n_updates x update
 *   32-byte HMAC-SHA256(gossip key, every byte before it)
 *
 *   update = u8 state | varint incarnation | varint weight | str id
 *            | str gossip_addr | str rpc_addr | str http_addr | str dc | str rack
 *            | u8 status | varint actor_inc | varint epoch
 *   str    = u8 length | bytes (no NUL; bounded per field)
 *
 * Every message carries the MAC, always: with a key file the gossip key is
 * derived from the cluster key; in protected mode (no key file) it is
 * derived from the cluster name, so the code path is the same and only the
 * secrecy differs (membership.h says what protects such a node instead).
 * The MAC covers the whole message, header and timestamps included, so a
 * receiver can trust sent_ms and msg_seq to judge freshness
 * (gossip_guard.h). Version 1 (a CRC and an optional MAC, no timestamps)
 * is refused: a cluster upgrades all its nodes together.
 *
 * Incarnations above DK_MEMBER_INC_MAX are refused by the encoder and the
 * decoder alike, so no record can ever carry one that would wrap.
 *
 * Integers are little-endian (util/coding.h); varints are LEB128. A
 * datagram is the message as is; over TCP each message is preceded by its
 * u32 length. The decoder checks the length, magic and version, then the
 * MAC, and only then every field's bounds and character set and every
 * update, before the caller uses anything; the updates are then read again
 * with dk__gossip_update_next, which cannot fail on a validated message.
 * Not taken: reusing rpc_frame (its frames are stream frames with a
 * handshake; a datagram must stand alone); a CRC besides the MAC (the MAC
 * already rejects every corruption).
 *
 * Everything here is pure and thread-safe.
 */
#ifndef DK_GOSSIP_MSG_H
#define DK_GOSSIP_MSG_H
#include <stddef.h>
#include <stdint.h>
#include "gossip/membership.h"

#define DK_GOSSIP_MAGIC 0x31474b44u /* "DKG1" little-endian */
#define DK_GOSSIP_VERSION 2u
#define DK_GOSSIP_KEY_LEN DK_MEMBERSHIP_KEY_LEN
#define DK_GOSSIP_MAC_LEN 32u
#define DK_GOSSIP_HEADER_LEN 28u       /* magic .. msg_seq */
#define DK_GOSSIP_UDP_MAX 1400u        /* bytes per datagram we send */
#define DK_GOSSIP_FRAME_MAX (4u << 20) /* bytes per TCP push-pull message */
#define DK_GOSSIP_UPDATE_MAX 419u      /* encoded size bound of one update */

enum {
    DK_GOSSIP_PING = 1,     /* target = recipient's id */
    DK_GOSSIP_ACK = 2,      /* target = id of the node that was probed */
    DK_GOSSIP_PING_REQ = 3, /* probe target at target_addr for me */
    DK_GOSSIP_PUSH = 4,     /* TCP: my full table, answer with yours */
    DK_GOSSIP_PULL = 5,     /* TCP: the answer */
};

typedef struct dk_gossip_msg {
    uint8_t type;
    uint32_t seq;
    uint64_t sent_ms; /* sender's wall clock */
    uint64_t msg_seq; /* sender's message counter */
    char cluster[DK_MEMBER_NAME_MAX + 1];
    char from[DK_MEMBER_NAME_MAX + 1];
    char target[DK_MEMBER_NAME_MAX + 1];
    char target_addr[DK_MEMBER_ADDR_MAX];
    uint32_t n_updates;
    const uint8_t *updates; /* borrowed from the decoded buffer */
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
                         const char *cluster, const char *from, const char *target, const char *target_addr);

/* Append one member update. DK_ETOOBIG when it does not fit with the
 * trailer (the message is unchanged and still valid to finish), -EINVAL
 * when a field is out of bounds. */
int dk__gossip_enc_add(dk_gossip_enc *e, const dk_member *m);

/* Write the count, the sender's clock and message counter, and the MAC
 * under key. *len gets the message size. Returns 0 or DK_ECORRUPT if
 * OpenSSL fails. */
int dk__gossip_enc_finish(dk_gossip_enc *e, const uint8_t key[DK_GOSSIP_KEY_LEN], uint64_t sent_ms,
                          uint64_t msg_seq, size_t *len);

/*
 * Validate and decode the message in buf[0..n): its MAC must verify under
 * key. Returns 0, DK_ECORRUPT (malformed: too short, another magic or
 * version, a bad field) or -EACCES (wrong MAC). out borrows buf for its
 * update bytes. Freshness is the caller's (gossip_guard.h).
 */
int dk__gossip_decode(const uint8_t *buf, size_t n, const uint8_t key[DK_GOSSIP_KEY_LEN], dk_gossip_msg *out);

/* The cluster name an unauthenticated message claims, for a log line
 * only (it proves nothing): 0 and out, or DK_ECORRUPT. */
int dk__gossip_peek_cluster(const uint8_t *buf, size_t n, char out[DK_MEMBER_NAME_MAX + 1]);

/* Read the next update of a decoded message into *out (updated_ms = 0),
 * advancing *p. Returns 0, or DK_EEOF when none is left. */
int dk__gossip_update_next(const dk_gossip_msg *msg, const uint8_t **p, dk_member *out);

#endif /* DK_GOSSIP_MSG_H */
