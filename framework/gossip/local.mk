# framework/gossip: SWIM membership over UDP with TCP push-pull, its
# message codec, their unit tests and its fuzz target.
framework_libdynkv_la_SOURCES += \
	framework/gossip/membership.c framework/gossip/membership.h \
	framework/gossip/membership_tcp.c framework/gossip/membership_int.h \
	framework/gossip/membership_status.c framework/gossip/membership_auth.c \
	framework/gossip/membership_seed.c framework/gossip/membership_conf.c \
	framework/gossip/membership_verdict.c \
	framework/gossip/gossip_guard.c framework/gossip/gossip_guard.h \
	framework/gossip/gossip_msg.c framework/gossip/gossip_msg.h

check_PROGRAMS += tests/unit/test-membership
TESTS += tests/unit/test-membership

tests_unit_test_membership_SOURCES = tests/unit/test-membership.c tests/unit/tc_membership.h \
	tests/unit/tc_gossip.h tests/unit/cu_main.h
tests_unit_test_membership_CFLAGS = $(DK_UNIT_CC) $(CRYPTO_CFLAGS)
tests_unit_test_membership_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-membership-detect
TESTS += tests/unit/test-membership-detect

tests_unit_test_membership_detect_SOURCES = tests/unit/test-membership-detect.c tests/unit/tc_membership.h \
	tests/unit/tc_gossip.h tests/unit/cu_main.h
tests_unit_test_membership_detect_CFLAGS = $(DK_UNIT_CC) $(CRYPTO_CFLAGS)
tests_unit_test_membership_detect_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-gossip-codec
TESTS += tests/unit/test-gossip-codec

tests_unit_test_gossip_codec_SOURCES = tests/unit/test-gossip-codec.c tests/unit/tc_gossip.h tests/unit/cu_main.h
tests_unit_test_gossip_codec_CFLAGS = $(DK_UNIT_CC) $(CRYPTO_CFLAGS)
tests_unit_test_gossip_codec_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-gossip-auth
TESTS += tests/unit/test-gossip-auth

tests_unit_test_gossip_auth_SOURCES = tests/unit/test-gossip-auth.c tests/unit/cu_main.h
tests_unit_test_gossip_auth_CFLAGS = $(DK_UNIT_CC) $(CRYPTO_CFLAGS)
tests_unit_test_gossip_auth_LDADD = $(DK_UNIT_LINK)

# The libFuzzer target is built by tests/fuzz/run-fuzz.sh from its line in
# tests/fuzz/targets.txt; ship its source for distcheck.
EXTRA_DIST += tests/fuzz/fuzz-gossip.c
