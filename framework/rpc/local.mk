# framework/rpc: node-to-node frames (codec) and the TCP transport, client
# and server sides, and their unit tests.
framework_libdynkv_la_SOURCES += \
	framework/rpc/rpc_frame.c framework/rpc/rpc_frame.h framework/rpc/rpc_wire.h \
	framework/rpc/rpc_stream.c framework/rpc/rpc_stream.h \
	framework/rpc/rpc_scan.c framework/rpc/rpc_scan.h \
	framework/rpc/rpc_ae.c framework/rpc/rpc_ae.h \
	framework/rpc/rpc_handoff.c framework/rpc/rpc_handoff.h \
	framework/rpc/rpc.c framework/rpc/rpc.h framework/rpc/rpc_int.h \
	framework/rpc/rpc_server.c framework/rpc/rpc_client.c framework/rpc/rpc_write.c \
	framework/rpc/rpc_auth.c framework/rpc/rpc_auth.h framework/rpc/rpc_handshake.c \
	framework/rpc/rpc_tls.c framework/rpc/rpc_tls.h

check_PROGRAMS += tests/unit/test-rpc-frame tests/unit/test-rpc-frame-range tests/unit/test-rpc tests/unit/test-rpc-batch tests/unit/test-rpc-handoff tests/unit/test-rpc-tls tests/unit/test-rpc-spread tests/unit/test-rpc-turn
TESTS += tests/unit/test-rpc-frame tests/unit/test-rpc-frame-range tests/unit/test-rpc tests/unit/test-rpc-batch tests/unit/test-rpc-handoff tests/unit/test-rpc-tls tests/unit/test-rpc-spread tests/unit/test-rpc-turn

tests_unit_test_rpc_tls_SOURCES = tests/unit/test-rpc-tls.c tests/unit/cu_main.h
tests_unit_test_rpc_tls_CFLAGS = $(DK_UNIT_CC) $(SSL_CFLAGS)
tests_unit_test_rpc_tls_LDADD = $(DK_UNIT_LINK) $(SSL_LIBS) $(CRYPTO_LIBS)

tests_unit_test_rpc_handoff_SOURCES = tests/unit/test-rpc-handoff.c tests/unit/cu_main.h
tests_unit_test_rpc_handoff_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_rpc_handoff_LDADD = $(DK_UNIT_LINK)

tests_unit_test_rpc_frame_SOURCES = tests/unit/test-rpc-frame.c tests/unit/tc_frame.h tests/unit/cu_main.h
tests_unit_test_rpc_frame_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_rpc_frame_LDADD = $(DK_UNIT_LINK)

tests_unit_test_rpc_frame_range_SOURCES = tests/unit/test-rpc-frame-range.c tests/unit/tc_frame.h tests/unit/cu_main.h
tests_unit_test_rpc_frame_range_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS)
tests_unit_test_rpc_frame_range_LDADD = $(DK_UNIT_LINK)

tests_unit_test_rpc_SOURCES = tests/unit/test-rpc.c tests/unit/tc_rpc.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_rpc_CFLAGS = $(DK_UNIT_CC) $(CRYPTO_CFLAGS)
tests_unit_test_rpc_LDADD = $(DK_UNIT_LINK)

tests_unit_test_rpc_spread_SOURCES = tests/unit/test-rpc-spread.c tests/unit/tc_rpc.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_rpc_spread_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_rpc_spread_LDADD = $(DK_UNIT_LINK)

tests_unit_test_rpc_batch_SOURCES = tests/unit/test-rpc-batch.c tests/unit/tc_rpc.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_rpc_batch_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_rpc_batch_LDADD = $(DK_UNIT_LINK)

tests_unit_test_rpc_turn_SOURCES = tests/unit/test-rpc-turn.c tests/unit/tc_rpc.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_rpc_turn_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_rpc_turn_LDADD = $(DK_UNIT_LINK)

# The libFuzzer target is built by tests/fuzz/run-fuzz.sh from its line in
# tests/fuzz/targets.txt; ship its source for distcheck.
EXTRA_DIST += tests/fuzz/fuzz-rpc-frame.c
