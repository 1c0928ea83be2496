/*
 * crdt_state.h - the crdt resolver's state in memory, private to the
 * plugin: the dot stores of the four types, their codec, joins and
 * operations. crdt.c is the plugin glue; state.c holds the parts every type
 * shares (actors, dots, the state's encoding); counter.c, orset.c,
 * lwwreg.c and ormap.c hold one type each.
 *
 * The model (Almeida, Shoker and Baquero's causal CRDTs). An object's
 * version vector (dk_object.vv) is its causal context: every dot (actor,
 * counter) the object has ever seen, compacted into one counter per actor
 * because each actor issues its dots in order on its own copy. The state is
 * a dot store: the dots that are still "live" and what each one carries.
 * Joining two copies keeps a dot that both hold, or that one holds and the
 * other's context has not seen; a dot one copy dropped after seeing it
 * (a remove, an overwrite) stays dropped. That one rule, applied per type,
 * is commutative, associative and idempotent, needs no tombstones (the
 * context remembers removals), and is the same for a type at the top of an
 * object or inside a map.
 *
 * Dots name their actor by an index into the call's actor pool (crdt_pool):
 * the sorted union of every actor the inputs' contexts name, so index order
 * is actor order and a context is an array of counters by index.
 *
 * Strings (elements, register texts, field names) are borrowed slices of
 * the inputs (stored values, the operation), which outlive the call.
 */
#ifndef DK_CONFLICT_CRDT_STATE_H
#define DK_CONFLICT_CRDT_STATE_H

#include <stdint.h>
#include "dynkv/crdt.h"
#include "dynkv/types.h"
#include "util/buf.h"
#include "util/crdt_codec.h"
#include "util/cursor.h"

#define CRDT_STATE_FORMAT 1u

/* The actors of one call, sorted by dk_actor_cmp, unique. */
typedef struct crdt_pool {
    dk_actor *a;
    uint32_t n, cap;
} crdt_pool;

typedef struct crdt_dot {
    uint32_t actor;   /* index into the pool */
    uint64_t counter; /* >= 1 */
} crdt_dot;

/* A context: ctx[i] is the highest counter seen from pool actor i. */
static inline int crdt_covered(const uint64_t *ctx, crdt_dot d)
{
    return d.counter <= ctx[d.actor];
}

static inline int crdt_dot_cmp(crdt_dot a, crdt_dot b)
{
    if (a.actor != b.actor)
        return a.actor < b.actor ? -1 : 1;
    return (a.counter > b.counter) - (a.counter < b.counter);
}

/* How a body names actors when it is read or written: a state's own table
 * maps to pool indexes (read), pool indexes map to the table (write). */
typedef struct crdt_codec_ctx {
    const uint32_t *to_pool; /* read: table index -> pool index */
    uint32_t n_table;
    const uint64_t *ctx;      /* read: every dot must be covered */
    const uint32_t *to_table; /* write: pool index -> table index */
} crdt_codec_ctx;

/* ---- PN-counter (counter.c) ------------------------------------------------- */

/* One actor's contribution, with the dot of its latest change. */
typedef struct crdt_cnt {
    crdt_dot dot;
    uint64_t p, n; /* increments and decrements, each a sum */
} crdt_cnt;

typedef struct crdt_counter {
    crdt_cnt *e; /* sorted by actor, one per actor */
    uint32_t n, cap;
} crdt_counter;

/* ---- OR-set (orset.c) -------------------------------------------------------- */

typedef struct crdt_elem {
    dk_slice v;
    uint32_t dot0, n_dots; /* its dots: dots[dot0 .. dot0 + n_dots) */
} crdt_elem;

typedef struct crdt_set {
    crdt_elem *e; /* sorted by value, unique, each with >= 1 dot */
    uint32_t n, cap;
    crdt_dot *dots; /* per element sorted, unique */
    uint32_t n_dots, cap_dots;
} crdt_set;

/* ---- LWW-register (lwwreg.c) --------------------------------------------------- */

/* A hybrid logical clock timestamp: wall time (ms) and a logical counter
 * that orders events within one wall value. */
typedef struct crdt_hlc {
    uint64_t wall, logical;
} crdt_hlc;

typedef struct crdt_reg_entry {
    crdt_dot dot;
    crdt_hlc ts;
    dk_slice v;
} crdt_reg_entry;

typedef struct crdt_register {
    crdt_reg_entry *e; /* concurrent assignments, sorted by dot */
    uint32_t n, cap;
} crdt_register;

/* ---- map (ormap.c) --------------------------------------------------------------- */

struct crdt_field;

typedef struct crdt_map {
    struct crdt_field *f; /* sorted by (name, type), unique, none empty */
    uint32_t n, cap;
} crdt_map;

/* The dot store of one type. */
typedef struct crdt_body {
    uint8_t type; /* DK_CRDT_*, 0 = none */
    union {
        crdt_counter c;
        crdt_set s;
        crdt_register r;
        crdt_map m;
    } u;
} crdt_body;

typedef struct crdt_field {
    dk_slice name;
    crdt_body body; /* counter, set or register; never empty */
} crdt_field;

/* ---- shared (state.c) ------------------------------------------------------------ */

/* Add the actors of v to the pool (kept sorted). 0 or -ENOMEM. */
int crdt_pool_add_vv(crdt_pool *p, const dk_vv *v);
int crdt_pool_add(crdt_pool *p, const dk_actor *a);
/* The pool index of a, or -1. */
int64_t crdt_pool_find(const crdt_pool *p, const dk_actor *a);
void crdt_pool_free(crdt_pool *p);
/* A context over the pool from a vv (counters of actors it lacks are 0);
 * the caller frees it. NULL on ENOMEM. */
uint64_t *crdt_pool_ctx(const crdt_pool *p, const dk_vv *v);

/*
 * Decode a state into *out (a body of its type): format, type, the actor
 * table (sorted, valid, every actor used, each in the pool), then the body;
 * every dot must be covered by ctx (the object's vv over the pool). 0,
 * DK_ECORRUPT or -ENOMEM (out freed).
 */
int crdt_state_decode(dk_slice in, const crdt_pool *pool, const uint64_t *ctx, crdt_body *out);
/* Encode body (type set) as a state into out (appended): the table of the
 * actors it uses, then the body. 0 or -ENOMEM. */
int crdt_state_encode(const crdt_body *b, const crdt_pool *pool, dk_buf *out);

/* Per-type dispatch of the functions below. An empty body of a type is
 * one with no entries (crdt_body_init). */
void crdt_body_init(crdt_body *b, uint8_t type);
void crdt_body_free(crdt_body *b);
int crdt_body_empty(const crdt_body *b);
int crdt_body_read(dk_rd *r, const crdt_codec_ctx *cc, crdt_body *b); /* b->type set */
void crdt_body_mark(const crdt_body *b, uint8_t *used);
void crdt_body_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_body *b);
/* out (uninitialised) = the join of a (context ca) and b (context cb), two
 * bodies of the same type. 0 or -ENOMEM. */
int crdt_body_join(const crdt_body *a, const uint64_t *ca, const crdt_body *b, const uint64_t *cb,
                   crdt_body *out);
/* out (uninitialised) = a deep copy of b (its own arrays). 0 or -ENOMEM. */
int crdt_body_copy(const crdt_body *b, crdt_body *out);
/* The value of b into v; v's arrays are its own (dk_crdt_value_free). */
int crdt_body_value(const crdt_body *b, dk_crdt_value *v);

/* Everything an operation needs beyond itself. */
typedef struct crdt_apply_ctx {
    crdt_dot dot;   /* the write's new dot */
    crdt_hlc floor; /* every timestamp the object has seen (lwwreg) */
    uint64_t now_ms;
} crdt_apply_ctx;

/* Apply op (of b's type) to b, replacing *b. 0, DK_EWRONGTYPE (a map field
 * of another type), -ERANGE (a counter would overflow) or -ENOMEM (b
 * unchanged on error). */
int crdt_body_apply(crdt_body *b, const dk_crdt_op *op, const crdt_apply_ctx *ac);

/* The latest timestamp among b's register entries (nested too) into *max. */
void crdt_body_max_hlc(const crdt_body *b, crdt_hlc *max);

/* ---- per type ---------------------------------------------------------------------- */

/*
 * Every type T has the same functions, with these contracts:
 *   crdt_T_free   frees the arrays (never the borrowed strings); zeroes T.
 *   crdt_T_read   reads T's body (T zeroed by the caller): 0, -1 with
 *                 r->bad set for malformed or non-canonical input, or
 *                 -ENOMEM; the caller frees T either way.
 *   crdt_T_mark   sets used[actor] for every dot's actor.
 *   crdt_T_write  writes the canonical body (errors stick in w).
 *   crdt_T_join   out (uninitialised) = the dot-store join of a (context
 *                 ca) and b (context cb): 0, or -ENOMEM with out freed.
 *   crdt_T_apply  applies one operation with the write's dot, replacing
 *                 T; T is unchanged on error.
 *   crdt_T_value  what a client reads (arrays in v are v's).
 * All are pure; strings in outputs are borrowed from the inputs.
 */

void crdt_counter_free(crdt_counter *c);
int crdt_counter_read(dk_rd *r, const crdt_codec_ctx *cc, crdt_counter *c);
void crdt_counter_mark(const crdt_counter *c, uint8_t *used);
void crdt_counter_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_counter *c);
int crdt_counter_join(const crdt_counter *a, const uint64_t *ca, const crdt_counter *b, const uint64_t *cb,
                      crdt_counter *out);
int crdt_counter_apply(crdt_counter *c, int64_t delta, crdt_dot dot);
int64_t crdt_counter_value(const crdt_counter *c);

void crdt_set_free(crdt_set *s);
int crdt_set_read(dk_rd *r, const crdt_codec_ctx *cc, crdt_set *s);
void crdt_set_mark(const crdt_set *s, uint8_t *used);
void crdt_set_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_set *s);
int crdt_set_join(const crdt_set *a, const uint64_t *ca, const crdt_set *b, const uint64_t *cb,
                  crdt_set *out);
int crdt_set_apply(crdt_set *s, const dk_crdt_op *op, crdt_dot dot);
int crdt_set_value(const crdt_set *s, dk_crdt_value *v);

void crdt_register_free(crdt_register *r);
int crdt_register_read(dk_rd *rd, const crdt_codec_ctx *cc, crdt_register *r);
void crdt_register_mark(const crdt_register *r, uint8_t *used);
void crdt_register_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_register *r);
int crdt_register_join(const crdt_register *a, const uint64_t *ca, const crdt_register *b, const uint64_t *cb,
                       crdt_register *out);
int crdt_register_apply(crdt_register *r, dk_slice text, const crdt_apply_ctx *ac);
void crdt_register_max_hlc(const crdt_register *r, crdt_hlc *max);
/* The winning entry (latest timestamp, ties by dot), NULL when empty. */
const crdt_reg_entry *crdt_register_winner(const crdt_register *r);
int crdt_hlc_cmp(crdt_hlc a, crdt_hlc b);

void crdt_map_free(crdt_map *m);
int crdt_map_read(dk_rd *r, const crdt_codec_ctx *cc, crdt_map *m);
void crdt_map_mark(const crdt_map *m, uint8_t *used);
void crdt_map_write(dk_wr *w, const crdt_codec_ctx *cc, const crdt_map *m);
int crdt_map_join(const crdt_map *a, const uint64_t *ca, const crdt_map *b, const uint64_t *cb,
                  crdt_map *out);
int crdt_map_apply(crdt_map *m, const dk_crdt_op *op, const crdt_apply_ctx *ac);
int crdt_map_value(const crdt_map *m, dk_crdt_value *v);
void crdt_map_max_hlc(const crdt_map *m, crdt_hlc *max);

/* Grow an array of elements of size sz to hold at least need (doubling).
 * 0 or -ENOMEM. */
int crdt_grow(void **arr, uint32_t *cap, uint32_t need, size_t sz);

/* Read one dot: a table index (mapped to the pool) and a counter >= 1
 * covered by the context; sets r->bad otherwise. */
crdt_dot crdt_read_dot(dk_rd *r, const crdt_codec_ctx *cc);
void crdt_write_dot(dk_wr *w, const crdt_codec_ctx *cc, crdt_dot d);

#endif /* DK_CONFLICT_CRDT_STATE_H */
