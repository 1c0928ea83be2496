/*
 * test-cluster-key.c - the cluster key file: keygen writes a 0600 file of
 * 64 hex digits that loads back to the same derived keys, refuses to
 * overwrite; loading refuses a readable-by-others file, a short or
 * non-hex file and a missing one with the path in the message; purposes
 * derive different keys; no file gives a key that depends on the cluster
 * name and says it is unkeyed.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/cluster_key.h"
#include "dynkv/types.h"

static char dir[] = "/tmp/dk-ckey-XXXXXX";
static char path[256], err[512];

static int ck_setup(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/cluster.key", dir);
    return 0;
}

static int ck_teardown(void)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static void write_file(const char *text, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void test_generate_load(void)
{
    unlink(path);
    CU_ASSERT_EQUAL_FATAL(dk_cluster_key_generate(path, err, sizeof err), 0);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    CU_ASSERT_EQUAL(st.st_size, 65);

    dk_cluster_key a, b;
    CU_ASSERT_EQUAL_FATAL(dk_cluster_key_load(&a, path, "c1", err, sizeof err), 0);
    CU_ASSERT_EQUAL(a.keyed, 1);
    CU_ASSERT_EQUAL_FATAL(dk_cluster_key_load(&b, path, "other", err, sizeof err), 0);
    CU_ASSERT_EQUAL(memcmp(a.bytes, b.bytes, DK_CLUSTER_KEY_LEN), 0);

    uint8_t g[DK_CLUSTER_KEY_LEN], r[DK_CLUSTER_KEY_LEN], g2[DK_CLUSTER_KEY_LEN];
    dk_cluster_key_derive(&a, "gossip", g);
    dk_cluster_key_derive(&a, "rpc", r);
    dk_cluster_key_derive(&b, "gossip", g2);
    CU_ASSERT_NOT_EQUAL(memcmp(g, r, sizeof g), 0);
    CU_ASSERT_EQUAL(memcmp(g, g2, sizeof g), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(g, a.bytes, sizeof g), 0);

    /* A second keygen never replaces a cluster's key. */
    CU_ASSERT_EQUAL(dk_cluster_key_generate(path, err, sizeof err), -EEXIST);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "exists already"));
    dk_cluster_key c;
    CU_ASSERT_EQUAL(dk_cluster_key_load(&c, path, "c1", err, sizeof err), 0);
    CU_ASSERT_EQUAL(memcmp(a.bytes, c.bytes, DK_CLUSTER_KEY_LEN), 0);

    /* Two keygens make different keys. */
    unlink(path);
    CU_ASSERT_EQUAL_FATAL(dk_cluster_key_generate(path, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(dk_cluster_key_load(&c, path, "c1", err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a.bytes, c.bytes, DK_CLUSTER_KEY_LEN), 0);
}

static void test_refused(void)
{
    dk_cluster_key k;
    const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    write_file(hex, 0600);
    CU_ASSERT_EQUAL(dk_cluster_key_load(&k, path, "c", err, sizeof err), 0);
    CU_ASSERT_EQUAL(k.bytes[1], 0x11);
    CU_ASSERT_EQUAL(k.bytes[31], 0xff);

    write_file(hex, 0644);
    CU_ASSERT_EQUAL(dk_cluster_key_load(&k, path, "c", err, sizeof err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));

    write_file("0011\n", 0600);
    CU_ASSERT_EQUAL(dk_cluster_key_load(&k, path, "c", err, sizeof err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "64 hex digits"));

    write_file("zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 0600);
    CU_ASSERT_EQUAL(dk_cluster_key_load(&k, path, "c", err, sizeof err), DK_ECONFIG);

    write_file("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00\n", 0600);
    CU_ASSERT_EQUAL(dk_cluster_key_load(&k, path, "c", err, sizeof err), DK_ECONFIG);

    unlink(path);
    CU_ASSERT_EQUAL(dk_cluster_key_load(&k, path, "c", err, sizeof err), DK_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));
}

static void test_unkeyed(void)
{
    dk_cluster_key a, b, c;
    CU_ASSERT_EQUAL(dk_cluster_key_load(&a, "", "c1", err, sizeof err), 0);
    CU_ASSERT_EQUAL(dk_cluster_key_load(&b, "", "c1", err, sizeof err), 0);
    CU_ASSERT_EQUAL(dk_cluster_key_load(&c, "", "c2", err, sizeof err), 0);
    CU_ASSERT_EQUAL(a.keyed, 0);
    CU_ASSERT_EQUAL(memcmp(a.bytes, b.bytes, DK_CLUSTER_KEY_LEN), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a.bytes, c.bytes, DK_CLUSTER_KEY_LEN), 0);
    dk_cluster_key_clear(&a);
    static const uint8_t zero[DK_CLUSTER_KEY_LEN];
    CU_ASSERT_EQUAL(memcmp(a.bytes, zero, sizeof zero), 0);
}

static CU_TestInfo ck_tests[] = {
    {"keygen then load", test_generate_load},
    {"bad files refused", test_refused},
    {"no file: key from the cluster name", test_unkeyed},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo dk_suites[] = {
    {"cluster_key", ck_setup, ck_teardown, NULL, NULL, ck_tests},
    CU_SUITE_INFO_NULL,
};

#include "cu_main.h"
