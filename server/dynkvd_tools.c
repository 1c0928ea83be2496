/*
 * dynkvd_tools.c - `dynkvd token` and `dynkvd keygen`: the two secrets a
 * node's configuration names, made by the binary that checks them, so an
 * operator needs no other tool and the formats cannot drift apart.
 *
 * A token is 32 bytes from OpenSSL's RAND_bytes in base64url; the node
 * keeps only its SHA-256 (api/auth.h), so the token is printed once and
 * its file line beside it. The cluster key is written by
 * base/cluster_key.c, which also loads it. Both scrub the secret from
 * memory before they return. Kept out of dynkvd.c, whose subject is the
 * running node.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "api/auth.h"
#include "base/cluster_key.h"
#include "dynkvd_tools.h"
#include "util/base64.h"

int dynkvd_token(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: dynkvd token NAME ROLE   (ROLE: read, write or admin)\n");
        return 2;
    }
    const char *name = argv[2], *role = argv[3];
    if (!dk_auth_name_ok(name, strlen(name))) {
        fprintf(stderr, "dynkvd: token: the client name must be 1 to %d of A-Z a-z 0-9 . _ - @\n",
                DK_AUTH_NAME_MAX);
        return 2;
    }
    if (dk_auth_role_parse(role, strlen(role)) == DK_ROLE_OPEN) {
        fprintf(stderr, "dynkvd: token: role '%s' is not read, write or admin\n", role);
        return 2;
    }
    unsigned char raw[32];
    char hex[65];
    dk_buf tok;
    dk_buf_init(&tok);
    int ok = RAND_bytes(raw, sizeof(raw)) == 1 && dk_base64_encode(raw, sizeof(raw), DK_B64_URL, &tok) == 0 &&
             dk_auth_hash_hex(tok.data, tok.len, hex) == 0;
    OPENSSL_cleanse(raw, sizeof(raw));
    if (ok) {
        printf("%s\n%s %s %s\n", (const char *)tok.data, name, role, hex);
        fprintf(stderr,
                "dynkvd: the first line is the token for client '%s' (shown once: the node keeps only "
                "its hash); append the second line to the [security] tokens_file and send the node SIGHUP\n",
                name);
    } else {
        fprintf(stderr, "dynkvd: token: cannot make a random token (OpenSSL)\n");
    }
    if (tok.data)
        OPENSSL_cleanse(tok.data, tok.len);
    dk_buf_free(&tok);
    return ok ? 0 : 1;
}

int dynkvd_keygen(int argc, char **argv)
{
    char err[1024] = "";
    if (argc != 3) {
        fprintf(stderr, "usage: dynkvd keygen PATH\n");
        return 2;
    }
    if (dk_cluster_key_generate(argv[2], err, sizeof(err)) != 0) {
        fprintf(stderr, "dynkvd: %s\n", err);
        return 1;
    }
    printf("wrote a new cluster key to %s: give every node of the cluster a copy "
           "(mode 0600) and set [security] cluster_key_file to it\n",
           argv[2]);
    return 0;
}
