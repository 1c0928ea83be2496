# framework/ring rules: the consistent-hash ring and the node-to-node RPC
# frame codec (both part of the core library), and their unit tests.
framework_libdynkv_la_SOURCES += \
	framework/ring.c framework/ring.h \
	framework/rpc_frame.c framework/rpc_frame.h

check_PROGRAMS += tests/unit/test-ring tests/unit/test-rpc-frame
TESTS += tests/unit/test-ring tests/unit/test-rpc-frame

tests_unit_test_ring_SOURCES = tests/unit/test-ring.c tests/unit/cu_main.h
tests_unit_test_ring_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS)
tests_unit_test_ring_LDADD = $(DK_UNIT_LINK)

tests_unit_test_rpc_frame_SOURCES = tests/unit/test-rpc-frame.c tests/unit/cu_main.h
tests_unit_test_rpc_frame_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_rpc_frame_LDADD = $(DK_UNIT_LINK)

# The libFuzzer target is built by tests/fuzz/run-fuzz.sh from its line in
# tests/fuzz/targets.txt; ship its source for distcheck.
EXTRA_DIST += tests/fuzz/fuzz-rpc-frame.c
