/*
 * auth.h - client authentication of the HTTP API by bearer tokens
 * ([security] tokens_file).
 *
 * The tokens file names one client per line, "NAME ROLE SHA256-HEX": the
 * node never holds a token, only the SHA-256 of each one, so the file can
 * be read by whoever deploys it without giving anyone access. A request
 * carries "Authorization: Bearer TOKEN"; the node hashes TOKEN and compares
 * the digest with every entry in constant time (CRYPTO_memcmp, and no early
 * exit), so neither the time taken nor the position of a match tells an
 * attacker anything about the stored hashes.
 *
 * Roles are ordered: read < write (read + write) < admin (everything).
 * Which role a route needs is decided here, by method and path, in one
 * place (dk_auth_route_role), so a route another file adds later is not
 * open by accident: anything not named open needs at least read.
 *
 * Threads: a dk_auth is shared by every loop thread. The table behind it
 * is replaced whole on reload under a reader-writer lock; a check holds
 * the read side only while it compares digests. Not taken: a refcounted
 * table swapped with atomics, which saves a lock that is never contended
 * except during a reload.
 */
#ifndef DK_API_AUTH_H
#define DK_API_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"

#define DK_AUTH_NAME_MAX 64   /* characters of a client name */
#define DK_AUTH_TOKEN_MAX 512 /* longer bearer tokens are invalid */

typedef enum dk_auth_role {
    DK_ROLE_OPEN = 0, /* a route that needs no token */
    DK_ROLE_READ = 1,
    DK_ROLE_WRITE = 2,
    DK_ROLE_ADMIN = 3,
} dk_auth_role;

/* Outcome of dk_auth_check. */
typedef enum dk_auth_result {
    DK_AUTH_OK = 0,
    DK_AUTH_MISSING = 1,   /* no Authorization header, or not Bearer */
    DK_AUTH_INVALID = 2,   /* a token no entry matches */
    DK_AUTH_FORBIDDEN = 3, /* a known client whose role is too low */
} dk_auth_result;

typedef struct dk_auth dk_auth;

/* "read", "write", "admin" -> role; DK_ROLE_OPEN when s is none of them. */
dk_auth_role dk_auth_role_parse(const char *s, size_t len);
/* The role's name ("open" for DK_ROLE_OPEN); static. */
const char *dk_auth_role_name(dk_auth_role r);

/* 1 when name is 1 to DK_AUTH_NAME_MAX of [A-Za-z0-9._@-]. Pure. */
int dk_auth_name_ok(const char *name, size_t len);

/*
 * Load the tokens file at path. Returns 0 and *out (free with
 * dk_auth_free), or a negative code with "path:line: what is wrong" (or
 * "path: cannot read ...") in err. Blocking file read: start-up or a
 * worker.
 */
int dk_auth_open(dk_auth **out, const char *path, char *err, size_t errlen);

/*
 * Re-read the file dk_auth_open was given and replace the table. When the
 * file does not load, the old table stays and err says why. Returns 0 (and
 * the new number of clients in *n_clients when not NULL) or a negative
 * code. Blocking file read: a worker thread; any thread may check at the
 * same time.
 */
int dk_auth_reload(dk_auth *a, size_t *n_clients, char *err, size_t errlen);

/* Clients in the current table. Any thread. */
size_t dk_auth_count(dk_auth *a);

/* Free a (NULL is fine). No check may run concurrently. */
void dk_auth_free(dk_auth *a);

/*
 * Check the Authorization header value hdr (hdr_len bytes; NULL: absent)
 * against need (> DK_ROLE_OPEN). On DK_AUTH_OK and DK_AUTH_FORBIDDEN the
 * client's name is copied into name (name_len >= DK_AUTH_NAME_MAX + 1;
 * may be NULL). Counts every failure for dk_auth_metrics_render. Any
 * thread.
 */
dk_auth_result dk_auth_check(dk_auth *a, const char *hdr, size_t hdr_len, dk_auth_role need, char *name,
                             size_t name_len);

/*
 * The role a request needs: method is http_parser's enum http_method, path
 * the raw path without the query. metrics_need_token: [security]
 * metrics_need_token. Pure. The table lives in auth.c's comment and in
 * README.md ("Client authentication").
 */
dk_auth_role dk_auth_route_role(int method, const char *path, size_t path_len, int metrics_need_token);

/* Append the dynkv_http_auth_failures_total family (reason missing,
 * invalid, forbidden; process-wide counters). Returns 0 or -ENOMEM. Any
 * thread. */
int dk_auth_metrics_render(dk_buf *out);

/* SHA-256 of p[0..n) as 64 lowercase hex digits and a NUL in hex. Returns
 * 0, or -1 when OpenSSL fails. Any thread. */
int dk_auth_hash_hex(const void *p, size_t n, char hex[65]);

/* Parse the text of a tokens file (fname only names it in errors) into a
 * fresh dk_auth without a path (reload then fails). For dk_auth_open and
 * the unit tests. Returns 0 or a negative code with err set. Pure. */
int dk__auth_parse(const char *text, size_t len, const char *fname, dk_auth **out, char *err, size_t errlen);
#endif
