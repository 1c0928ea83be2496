/*
 * api_json.h - JSON renderings of stored objects for the HTTP API (the
 * response shapes of DESIGN.md section 7). Pure functions; used on workers.
 */
#ifndef DK_API_JSON_H
#define DK_API_JSON_H

#include <jansson.h>
#include "dynkv/types.h"

/* Set o[name] to the key: a JSON string when it is valid UTF-8, else its
 * base64 text with o[name "_encoding"] = "base64". */
int dk_json_set_key(json_t *o, const char *name, dk_slice key);

/* A base64 (standard alphabet, padded) JSON string of bytes. NULL on ENOMEM. */
json_t *dk_json_base64(dk_slice bytes);

/* {"actor":counter,...} of a version vector. Counters are unsigned 64-bit:
 * one above INT64_MAX is held as jansson's (negative) integer of the same
 * bits and printed unsigned by dk_json_dump (see there). */
json_t *dk_json_vv(const dk_vv *vv);

/*
 * Describe obj's live siblings into o: with one, "value", "version" (the
 * object's vv) and "timestamp"; with several, "values":[{"value",
 * "version":{dot},"timestamp"}...], "conflict":true and "version". Returns
 * the number of live siblings (0 adds nothing).
 */
int dk_json_describe(json_t *o, const dk_object *obj, int64_t now_ms);

/* Serialise o compactly into out (replacing its contents); -ENOMEM.
 * Objects keep their insertion order. The integers of an object that is
 * the value of a member named "version" (version maps and dots, the only
 * unsigned numbers of the API) print as unsigned 64-bit; every other
 * number prints as jansson prints it. */
struct dk_buf;
int dk_json_dump(json_t *o, struct dk_buf *out);
#endif
