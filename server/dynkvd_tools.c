/*
 * dynkvd_tools.c - `dynkvd token` and `dynkvd keygen`: the two secrets a
 * node's configuration names, made by the binary that checks them, so an
 * operator needs no other tool and the formats cannot drift apart.
 *
 * A token is 32 bytes from OpenSSL's RAND_bytes in base64url; the node
 * keeps only its SHA-256 (api/auth.h), so the token is printed once and
 * its file line beside it. The cluster key is written by
 * base/cluster_key.c, which also loads it. Both scrub the secret from
 * memory before they return.
 *
 * `dynkvd --check-config` loads the configuration with the collecting
 * loader (every error, not the first), then each plugin, the tokens file
 * and the certificates it names, without opening a data directory.
 *
 * Kept out of dynkvd.c, whose subject is the running node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "api/auth.h"
#include "base/cluster_key.h"
#include "base/config.h"
#include "http/tls.h"
#include "node/node.h"
#include "rpc/rpc_tls.h"
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

/* --check-config: every error on stderr, each on its own line. */
static void check_report(void *arg, const char *msg)
{
    int *n = arg;
    (*n)++;
    fprintf(stderr, "dynkvd: %s\n", msg);
}

/* dynkvd --check-config FILE [--set ...]: argv with --check-config turned
 * into --config, checked by the collecting loader, then the plugins. */
int dynkvd_check_config(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    int n = 0, errors = 0;
    const char *file = NULL;
    if (!args)
        return 2;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0) {
            args[n++] = "--config";
            if (i + 1 < argc)
                file = argv[i + 1];
        } else if (strncmp(argv[i], "--check-config=", 15) == 0) {
            args[n++] = "--config";
            args[n++] = argv[i] + 15;
            file = argv[i] + 15;
        } else {
            args[n++] = argv[i];
        }
    }
    dk_config c;
    int rc = dk_config_check_args(&c, n, args, check_report, &errors);
    if (rc == -ENOMEM) {
        fprintf(stderr, "dynkvd: out of memory\n");
        errors++;
    }
    dk_node_check_plugins(&c, check_report, &errors);
    if (rc == 0 && c.security.tokens_file[0]) {
        dk_auth *a = NULL;
        char aerr[1024];
        if (dk_auth_open(&a, c.security.tokens_file, aerr, sizeof(aerr)) != 0)
            check_report(&errors, aerr);
        dk_auth_free(a);
    }
    if (rc == 0 && c.security.tls_cert_file[0] && c.security.tls_key_file[0]) {
        dk_tls_server *t = NULL;
        char terr[1024];
        if (dk_tls_server_new(c.security.tls_cert_file, c.security.tls_key_file, &t, terr, sizeof(terr)) != 0)
            check_report(&errors, terr);
        dk_tls_server_free(t);
    }
    if (rc == 0 && c.security.tls_ca_file[0] && c.security.tls_cert_file[0] && c.security.tls_key_file[0]) {
        dk_rpc_tls *t = NULL;
        char terr[1024];
        if (dk_rpc_tls_new(c.security.tls_cert_file, c.security.tls_key_file, c.security.tls_ca_file, &t,
                           terr, sizeof(terr)) != 0)
            check_report(&errors, terr);
        dk_rpc_tls_free(t);
    }
    if (errors)
        fprintf(stderr, "dynkvd: %s: %d error%s; nothing was started and no data directory was touched\n",
                file ? file : "configuration", errors, errors == 1 ? "" : "s");
    else
        printf("%s: configuration OK (node %s, data_dir %s, engine %s, compaction %s, resolver %s)\n",
               file ? file : "defaults", c.node.id, c.node.data_dir, c.storage.engine, c.compaction.policy,
               c.conflict.resolver);
    dk_config_free(&c);
    free(args);
    return errors ? 2 : 0;
}
