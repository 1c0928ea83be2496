# framework/util: leaf helpers with no state, a libtool convenience library
# linked into the core and into every plugin.
noinst_LTLIBRARIES += framework/util/libdkutil.la
framework_util_libdkutil_la_SOURCES = \
	framework/util/errors.c framework/util/errors.h \
	framework/util/crc32c.c framework/util/crc32c.h \
	framework/util/coding.h framework/util/hex.h framework/util/strcopy.h \
	framework/util/buf.c framework/util/buf.h framework/util/buf_cache.c
framework_util_libdkutil_la_CFLAGS = $(AM_CFLAGS) -fPIC
# version vectors, objects in memory and the DVV operations (helper "object")
framework_util_libdkutil_la_SOURCES += framework/util/vv.c framework/util/vv.h
framework_util_libdkutil_la_SOURCES += framework/util/base64.c framework/util/base64.h
# the CRDT operation and value encodings of dynkv/crdt.h (host and crdt plugin)
framework_util_libdkutil_la_SOURCES += framework/util/crdt_codec.c framework/util/crdt_codec.h \
	framework/util/cursor.h

check_PROGRAMS += tests/unit/test-base64
TESTS += tests/unit/test-base64
tests_unit_test_base64_SOURCES = tests/unit/test-base64.c tests/unit/cu_main.h
tests_unit_test_base64_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_base64_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-buf-cache
TESTS += tests/unit/test-buf-cache
tests_unit_test_buf_cache_SOURCES = tests/unit/test-buf-cache.c tests/unit/cu_main.h
tests_unit_test_buf_cache_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_buf_cache_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-crdt-codec
TESTS += tests/unit/test-crdt-codec
tests_unit_test_crdt_codec_SOURCES = tests/unit/test-crdt-codec.c tests/unit/cu_main.h
tests_unit_test_crdt_codec_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_crdt_codec_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-crc32c
TESTS += tests/unit/test-crc32c
tests_unit_test_crc32c_SOURCES = tests/unit/test-crc32c.c tests/unit/cu_main.h
tests_unit_test_crc32c_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_crc32c_LDADD = $(DK_UNIT_LINK)
