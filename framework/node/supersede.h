/*
 * supersede.h - whether one copy of a key makes merging pointless: when a
 * replica's copy supersedes the stored one, the merge of the two is that
 * copy, so it can be stored as it came (a blind apply) without calling a
 * resolver; only copies that are truly concurrent need the resolver's
 * read-modify-write.
 */
#ifndef DK_SUPERSEDE_H
#define DK_SUPERSEDE_H

#include "dynkv/types.h"

/*
 * 1 when merging `in` into `cur` (each decoded from its encoding) gives
 * `in` back under every resolver dynkv ships (vclock's DVV sync, lww's
 * maximum, the crdt join), else 0. Both must be of the same type; `in`
 * must dominate by version and be the newest write:
 *   - every entry of cur's vv is in in's vv with a counter and a time at
 *     least as large (so the merged vv is in's);
 *   - every sibling of cur has a dot in's vv covers (the sync drops it
 *     unless in holds it too);
 *   - every sibling of in either has a dot cur's vv does not cover, or is
 *     held by cur with the very same content (so the sync keeps it as is);
 *     in's siblings are in dot order, no dot twice;
 *   - in's newest write time is later than cur's (lww keeps the latest
 *     sibling, crdt the latest dot and time), or cur has no sibling.
 * Equal copies give 0 (the merge is a no-op the caller sees anyway).
 * Pure and O(siblings * siblings + vv entries); any thread.
 */
int dk_object_supersedes(dk_slice cur_raw, const dk_object *cur, dk_slice in_raw, const dk_object *in);

/* The same judged from cur's head only (cur_head a prefix of its encoding,
 * cur decoded from it by dk_object_decode_head, so values past the prefix
 * are left out): where the rules need a value of cur that is left out
 * (a sibling in holds too), the answer is 0, as for any doubt. */
int dk_object_supersedes_head(dk_slice cur_head, const dk_object *cur, dk_slice in_raw, const dk_object *in);

#endif /* DK_SUPERSEDE_H */
