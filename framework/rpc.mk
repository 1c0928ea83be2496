# framework/rpc rules: the node-to-node RPC transport over TCP (part of the
# core library) and its unit test.
framework_libdynkv_la_SOURCES += \
	framework/rpc.c framework/rpc.h framework/rpc_int.h \
	framework/rpc_server.c framework/rpc_client.c

check_PROGRAMS += tests/unit/test-rpc
TESTS += tests/unit/test-rpc

tests_unit_test_rpc_SOURCES = tests/unit/test-rpc.c tests/unit/cu_main.h
tests_unit_test_rpc_CFLAGS = $(DK_UNIT_CC) $(CRYPTO_CFLAGS)
tests_unit_test_rpc_LDADD = $(DK_UNIT_LINK)
