# framework/node: one node's durable state and lifecycle: the catalog, the
# host API handed to its plugins (whose record callbacks read the object
# header), the object codec and client contexts, the choice of resolver per
# object type, the local store, and dk_node which opens them in order; their
# unit tests.
framework_libdynkv_la_SOURCES += \
	framework/node/catalog.c framework/node/catalog.h framework/node/catalog_progress.c \
	framework/node/catalog_int.h \
	framework/node/host.c framework/node/host.h \
	framework/node/object.c framework/node/object.h \
	framework/node/context.c framework/node/context.h \
	framework/node/hmac.c framework/node/hmac.h \
	framework/node/resolve.c framework/node/resolve.h \
	framework/node/supersede.c framework/node/supersede.h \
	framework/node/store.c framework/node/store.h framework/node/store_int.h \
	framework/node/store_async.c \
	framework/node/store_fence.c framework/node/store_fence.h \
	framework/node/node.c framework/node/node.h \
	framework/node/snapshot.c framework/node/snapshot.h \
	framework/node/session.c framework/node/session.h

check_PROGRAMS += tests/unit/test-catalog tests/unit/test-vv tests/unit/test-object tests/unit/test-resolve
TESTS += tests/unit/test-catalog tests/unit/test-vv tests/unit/test-object tests/unit/test-resolve
check_PROGRAMS += tests/unit/test-store tests/unit/test-supersede
TESTS += tests/unit/test-store tests/unit/test-supersede

tests_unit_test_catalog_SOURCES = tests/unit/test-catalog.c tests/unit/cu_main.h
tests_unit_test_catalog_CFLAGS = $(DK_UNIT_CC) $(INIH_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_catalog_LDADD = $(DK_UNIT_LINK)

tests_unit_test_vv_SOURCES = tests/unit/test-vv.c tests/unit/cu_main.h
tests_unit_test_vv_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_vv_LDADD = $(DK_UNIT_LINK)

tests_unit_test_object_SOURCES = tests/unit/test-object.c tests/unit/cu_main.h
tests_unit_test_object_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_object_LDADD = $(DK_UNIT_LINK)

tests_unit_test_resolve_SOURCES = tests/unit/test-resolve.c tests/unit/tc_resolve.h tests/unit/cu_main.h
tests_unit_test_resolve_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_resolve_LDADD = $(DK_UNIT_LINK)

tests_unit_test_store_SOURCES = tests/unit/test-store.c tests/unit/cu_main.h
tests_unit_test_store_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_store_LDADD = $(DK_UNIT_LINK)

tests_unit_test_supersede_SOURCES = tests/unit/test-supersede.c tests/unit/tc_resolve.h tests/unit/cu_main.h
tests_unit_test_supersede_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_supersede_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-session
TESTS += tests/unit/test-session
tests_unit_test_session_SOURCES = tests/unit/test-session.c tests/unit/cu_main.h
tests_unit_test_session_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_session_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-hmac
TESTS += tests/unit/test-hmac
tests_unit_test_hmac_SOURCES = tests/unit/test-hmac.c tests/unit/cu_main.h
tests_unit_test_hmac_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_hmac_LDADD = $(DK_UNIT_LINK) $(CRYPTO_LIBS)
