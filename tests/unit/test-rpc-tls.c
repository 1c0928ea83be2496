/*
 * test-rpc-tls.c - the RPC's mutual TLS layer (rpc/rpc_tls.h) on its own:
 * two connection states, an initiator and an acceptor, pass their
 * ciphertext to each other in memory, no sockets. The certificates are
 * self-signed P-256 ones made in memory, each its own trust anchor (the
 * "CA file" is the certificate itself), so "another CA" is simply the
 * other certificate. What must hold: a mutual handshake completes and
 * carries data both ways unchanged; the node-id check reads the CN and the
 * DNS subjectAltName; a peer whose certificate the CA did not sign is
 * refused on either side with a reason naming the certificate; bytes that
 * are not TLS are refused; a reload changes the anchors of new
 * connections; a CA file that does not load is a configuration error.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "dynkv/types.h"
#include "rpc/rpc_tls.h"

static char tmpdir[] = "/tmp/dk-test-rpc-tls-XXXXXX";
static char cert_a[256], key_a[256], cert_b[256], key_b[256];

/* A self-signed certificate with CN cn and, if san, that subjectAltName. */
static int write_cert(const char *cert_path, const char *key_path, const char *cn, const char *san)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int ok = pk && x;
    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, pk);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(x, n);
        if (san) {
            X509V3_CTX v3;
            X509V3_set_ctx_nodb(&v3);
            X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
            X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
            ok = e && X509_add_ext(x, e, -1);
            X509_EXTENSION_free(e);
        }
        ok = ok && X509_sign(x, pk, EVP_sha256()) > 0;
    }
    FILE *f = ok ? fopen(cert_path, "w") : NULL;
    ok = f && PEM_write_X509(f, x);
    if (f)
        fclose(f);
    f = ok ? fopen(key_path, "w") : NULL;
    ok = f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    if (f)
        fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

static int suite_init(void)
{
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(cert_a, sizeof(cert_a), "%s/a.pem", tmpdir);
    snprintf(key_a, sizeof(key_a), "%s/a.key", tmpdir);
    snprintf(cert_b, sizeof(cert_b), "%s/b.pem", tmpdir);
    snprintf(key_b, sizeof(key_b), "%s/b.key", tmpdir);
    return write_cert(cert_a, key_a, "n1", "DNS:node-one,IP:127.0.0.1") ||
                   write_cert(cert_b, key_b, "n2", NULL)
               ? -1
               : 0;
}

static int suite_clean(void)
{
    unlink(cert_a);
    unlink(key_a);
    unlink(cert_b);
    unlink(key_b);
    rmdir(tmpdir);
    return 0;
}

/* Pass ciphertext back and forth until both are up or one fails; returns
 * 0, 1 (the initiator failed) or 2 (the acceptor failed), with the
 * failing side's reason in err. */
static int pump(dk_rpc_tls_conn *ini, dk_rpc_tls_conn *acc, char *err, size_t errlen)
{
    dk_buf to_acc = DK_BUF_INIT, to_ini = DK_BUF_INIT, plain = DK_BUF_INIT;
    int res = 0;
    CU_ASSERT_FATAL(dk_rpc_tls_start(ini, &to_acc, err, errlen) == 0);
    for (int round = 0; round < 10 && !res; round++) {
        dk_buf out = DK_BUF_INIT;
        if (dk_rpc_tls_feed(acc, to_acc.data, to_acc.len, &plain, &out, err, errlen))
            res = 2;
        dk_buf_reset(&to_acc);
        dk_buf_append(&to_ini, out.data, out.len);
        dk_buf_free(&out);
        if (!res && dk_rpc_tls_feed(ini, to_ini.data, to_ini.len, &plain, &to_acc, err, errlen))
            res = 1;
        dk_buf_reset(&to_ini);
        if (!res && dk_rpc_tls_up(ini) && dk_rpc_tls_up(acc) && !to_acc.len)
            break;
    }
    CU_ASSERT(plain.len == 0);
    dk_buf_free(&to_acc);
    dk_buf_free(&to_ini);
    dk_buf_free(&plain);
    return res;
}

static dk_rpc_tls *load(const char *cert, const char *key, const char *ca)
{
    char err[512];
    dk_rpc_tls *t = NULL;
    int rc = dk_rpc_tls_new(cert, key, ca, &t, err, sizeof(err));
    if (rc)
        fprintf(stderr, "load: %s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    return t;
}

/* Send n bytes from a to b through encrypt and feed; they arrive unchanged. */
static void carry(dk_rpc_tls_conn *a, dk_rpc_tls_conn *b, size_t n)
{
    char err[256];
    uint8_t *msg = malloc(n);
    CU_ASSERT_FATAL(msg != NULL);
    for (size_t i = 0; i < n; i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    dk_buf cipher = DK_BUF_INIT, plain = DK_BUF_INIT, out = DK_BUF_INIT;
    CU_ASSERT(dk_rpc_tls_encrypt(a, msg, n, &cipher) == 0);
    CU_ASSERT(cipher.len > n);
    /* In two pieces, the first ending inside a record. */
    size_t cut = cipher.len / 3;
    CU_ASSERT(dk_rpc_tls_feed(b, cipher.data, cut, &plain, &out, err, sizeof(err)) == 0);
    CU_ASSERT(dk_rpc_tls_partial(b));
    CU_ASSERT(dk_rpc_tls_feed(b, cipher.data + cut, cipher.len - cut, &plain, &out, err, sizeof(err)) == 0);
    CU_ASSERT(!dk_rpc_tls_partial(b));
    CU_ASSERT(plain.len == n && memcmp(plain.data, msg, n) == 0);
    dk_buf_free(&cipher);
    dk_buf_free(&plain);
    dk_buf_free(&out);
    free(msg);
}

static void test_mutual_handshake_and_data(void)
{
    char err[512] = "";
    dk_rpc_tls *t = load(cert_a, key_a, cert_a);
    dk_rpc_tls_conn *ini = dk_rpc_tls_conn_new(t, 0), *acc = dk_rpc_tls_conn_new(t, 1);
    CU_ASSERT_FATAL(ini && acc);
    dk_buf early = DK_BUF_INIT;
    CU_ASSERT(dk_rpc_tls_encrypt(ini, "x", 1, &early) == -1); /* not up yet */
    dk_buf_free(&early);
    int rc = pump(ini, acc, err, sizeof(err));
    CU_ASSERT(rc == 0);
    if (rc)
        fprintf(stderr, "handshake: %s\n", err);
    CU_ASSERT(dk_rpc_tls_up(ini) && dk_rpc_tls_up(acc));
    CU_ASSERT(strncmp(dk_rpc_tls_version(acc), "TLSv1.3 ", 8) == 0);
    /* The node-id check: CN n1 and DNS node-one name it; nothing else. */
    CU_ASSERT(dk_rpc_tls_peer_is(ini, "n1") && dk_rpc_tls_peer_is(acc, "n1"));
    CU_ASSERT(dk_rpc_tls_peer_is(acc, "node-one"));
    CU_ASSERT(!dk_rpc_tls_peer_is(acc, "n2") && !dk_rpc_tls_peer_is(acc, "n") &&
              !dk_rpc_tls_peer_is(acc, "n10"));
    CU_ASSERT(!dk_rpc_tls_peer_is(acc, "127.0.0.1"));
    carry(ini, acc, 200000);
    carry(acc, ini, 100);
    dk_rpc_tls_conn_free(ini);
    dk_rpc_tls_conn_free(acc);
    dk_rpc_tls_free(t);
}

static void test_other_ca_is_refused_both_ways(void)
{
    char err[512] = "";
    dk_rpc_tls *ta = load(cert_a, key_a, cert_a), *tb = load(cert_b, key_b, cert_b);
    /* The acceptor trusts A only; the initiator comes with B. In TLS 1.3
     * the acceptor checks the client certificate last. */
    dk_rpc_tls_conn *ini = dk_rpc_tls_conn_new(tb, 0), *acc = dk_rpc_tls_conn_new(ta, 1);
    CU_ASSERT(pump(ini, acc, err, sizeof(err)) != 0);
    CU_ASSERT(!dk_rpc_tls_up(acc));
    CU_ASSERT(strstr(err, "certificate") != NULL);
    dk_rpc_tls_conn_free(ini);
    dk_rpc_tls_conn_free(acc);
    /* The initiator trusts A only; the acceptor shows B. */
    ini = dk_rpc_tls_conn_new(ta, 0);
    acc = dk_rpc_tls_conn_new(tb, 1);
    err[0] = '\0';
    CU_ASSERT(pump(ini, acc, err, sizeof(err)) == 1);
    CU_ASSERT(!dk_rpc_tls_up(ini));
    CU_ASSERT(strstr(err, "peer certificate not accepted") != NULL);
    dk_rpc_tls_conn_free(ini);
    dk_rpc_tls_conn_free(acc);
    dk_rpc_tls_free(ta);
    dk_rpc_tls_free(tb);
}

static void test_plain_bytes_are_refused(void)
{
    char err[512] = "";
    dk_rpc_tls *t = load(cert_a, key_a, cert_a);
    dk_rpc_tls_conn *acc = dk_rpc_tls_conn_new(t, 1);
    static const char frame[] = "\x44\x4b\x01\x01\x00\x00\x00\x10plain RPC HELLO frame";
    dk_buf plain = DK_BUF_INIT, out = DK_BUF_INIT;
    CU_ASSERT(dk_rpc_tls_feed(acc, frame, sizeof(frame) - 1, &plain, &out, err, sizeof(err)) == -1);
    CU_ASSERT(plain.len == 0 && err[0] != '\0');
    CU_ASSERT(dk_rpc_tls_feed(acc, "", 0, &plain, &out, err, sizeof(err)) == -1); /* stays failed */
    dk_buf_free(&plain);
    dk_buf_free(&out);
    dk_rpc_tls_conn_free(acc);
    dk_rpc_tls_free(t);
}

static void test_reload_changes_new_connections(void)
{
    char err[512] = "";
    dk_rpc_tls *t = load(cert_a, key_a, cert_a), *tb = load(cert_b, key_b, cert_b);
    dk_rpc_tls_conn *old = dk_rpc_tls_conn_new(t, 1);
    CU_ASSERT(dk_rpc_tls_reload(t, cert_b, key_b, cert_b, err, sizeof(err)) == 0);
    dk_rpc_tls_conn *ini = dk_rpc_tls_conn_new(tb, 0), *acc = dk_rpc_tls_conn_new(t, 1);
    CU_ASSERT(pump(ini, acc, err, sizeof(err)) == 0);
    CU_ASSERT(dk_rpc_tls_peer_is(acc, "n2"));
    dk_rpc_tls_conn_free(ini);
    dk_rpc_tls_conn_free(acc);
    /* A connection made before the reload keeps the old anchors (A). */
    ini = dk_rpc_tls_conn_new(tb, 0);
    CU_ASSERT(pump(ini, old, err, sizeof(err)) != 0);
    dk_rpc_tls_conn_free(ini);
    dk_rpc_tls_conn_free(old);
    /* A reload that fails keeps the current context. */
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/none.pem", tmpdir);
    CU_ASSERT(dk_rpc_tls_reload(t, cert_b, key_b, missing, err, sizeof(err)) == DK_ECONFIG);
    CU_ASSERT(strstr(err, "tls_ca_file") != NULL);
    ini = dk_rpc_tls_conn_new(tb, 0);
    acc = dk_rpc_tls_conn_new(t, 1);
    CU_ASSERT(pump(ini, acc, err, sizeof(err)) == 0);
    dk_rpc_tls_conn_free(ini);
    dk_rpc_tls_conn_free(acc);
    dk_rpc_tls_free(t);
    dk_rpc_tls_free(tb);
}

static void test_bad_files_are_config_errors(void)
{
    char err[512], missing[300];
    dk_rpc_tls *t = NULL;
    snprintf(missing, sizeof(missing), "%s/none.pem", tmpdir);
    CU_ASSERT(dk_rpc_tls_new(cert_a, key_a, missing, &t, err, sizeof(err)) == DK_ECONFIG);
    CU_ASSERT(strstr(err, "tls_ca_file") != NULL);
    CU_ASSERT(dk_rpc_tls_new(cert_a, key_b, cert_a, &t, err, sizeof(err)) == DK_ECONFIG);
    CU_ASSERT(strstr(err, "tls_key_file") != NULL);
    CU_ASSERT(dk_rpc_tls_new(missing, key_a, cert_a, &t, err, sizeof(err)) == DK_ECONFIG);
    CU_ASSERT(strstr(err, "tls_cert_file") != NULL);
    CU_ASSERT(t == NULL);
}

static CU_TestInfo tls_tests[] = {
    {"mutual handshake, data both ways, node-id check", test_mutual_handshake_and_data},
    {"another CA is refused on either side", test_other_ca_is_refused_both_ways},
    {"plain bytes are refused", test_plain_bytes_are_refused},
    {"reload changes new connections only", test_reload_changes_new_connections},
    {"bad files are configuration errors", test_bad_files_are_config_errors},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {.pName = "rpc-tls", .pInitFunc = suite_init, .pCleanupFunc = suite_clean, .pTests = tls_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
