/*
 * dynkv/crdt.h - the two encodings the host and the crdt resolver
 * (conflict/crdt) exchange: the operation a CRDT write carries in its value
 * (dk_write.value) and the value a client reads (dk_conflict_ops.value).
 *
 * The host parses a client's JSON (POST /crdt/{key}) into an operation and
 * renders the value back as JSON (GET /crdt/{key}); the resolver never sees
 * JSON, and its state format stays private to it. A binary form rather than
 * JSON in the plugin: the JSON is checked where the request arrives, so a
 * bad request is refused with a precise message before it is forwarded or
 * replicated, and the plugin links no JSON library.
 *
 * Notation: u8 is one byte; uvar an unsigned LEB128 varint in its shortest
 * form (framework/util/coding.h); svar a zigzag-encoded signed varint
 * ((v << 1) ^ (v >> 63)); str a uvar length then that many bytes.
 * Both encodings are canonical: lists are sorted bytewise (shorter first on
 * a common prefix) and hold no duplicates, so each operation and each value
 * has exactly one encoding, and a decoder refuses anything else.
 *
 * Operation:
 *   u8   DK_CRDT_FORMAT
 *   u8   type, then
 *     DK_CRDT_COUNTER   svar delta                 increment (negative: decrement)
 *     DK_CRDT_SET       u8 DK_CRDT_SET_ADD or _REMOVE, uvar n, n x str element
 *     DK_CRDT_REGISTER  str text                   assign
 *     DK_CRDT_MAP       uvar n, n x (str name, u8 type, that type's body
 *                       as above: counter, set or register, not map),
 *                       then uvar m, m x str name  (fields to remove);
 *                       names sorted, no name both updated and removed
 *
 * Value:
 *   u8   DK_CRDT_FORMAT
 *   u8   type, then
 *     DK_CRDT_COUNTER   svar value
 *     DK_CRDT_SET       uvar n, n x str element    the elements present
 *     DK_CRDT_REGISTER  str text                   the winning assignment
 *     DK_CRDT_MAP       uvar n, n x (str name, u8 type, that type's value
 *                       body: counter, set or register)
 *
 * Map field names are 1..DK_CRDT_NAME_MAX bytes; set elements and register
 * texts may be empty. The resolver keeps a CRDT's state at most
 * DK_CRDT_STATE_MAX bytes after an operation (DK_ETOOBIG otherwise).
 */
#ifndef DK_CRDT_H
#define DK_CRDT_H

#define DK_CRDT_FORMAT 1u

/* CRDT types (also the order in which a map shows one of several types
 * concurrently created under one name: the higher wins). Append only. */
enum { DK_CRDT_COUNTER = 1, DK_CRDT_SET = 2, DK_CRDT_REGISTER = 3, DK_CRDT_MAP = 4 };

/* A set operation's kind. */
enum { DK_CRDT_SET_ADD = 1, DK_CRDT_SET_REMOVE = 2 };

#define DK_CRDT_NAME_MAX 256u
#define DK_CRDT_STATE_MAX (512u * 1024u)

/* The name of the resolver plugin that owns CRDT objects (conflict-crdt.so). */
#define DK_CRDT_RESOLVER "crdt"

#endif /* DK_CRDT_H */
