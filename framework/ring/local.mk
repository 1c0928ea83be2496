# framework/ring: the consistent-hash ring (tokens, preference lists) and
# its unit test. A folder of its own because both coord/ (routing) and
# cluster/ (which builds the ring from membership) need it.
framework_libdynkv_la_SOURCES += framework/ring/ring.c framework/ring/ring.h

check_PROGRAMS += tests/unit/test-ring
TESTS += tests/unit/test-ring

tests_unit_test_ring_SOURCES = tests/unit/test-ring.c tests/unit/cu_main.h
tests_unit_test_ring_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS)
tests_unit_test_ring_LDADD = $(DK_UNIT_LINK)
