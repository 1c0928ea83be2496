# framework/coord: the quorum coordinator (read, write, CAS), the replica
# side of its protocol and hinted handoff, and its unit test.
framework_libdynkv_la_SOURCES += \
	framework/coord/coordinator.c framework/coord/coordinator.h framework/coord/coord_int.h \
	framework/coord/coord_write.c framework/coord/coord_read.c \
	framework/coord/replica.c framework/coord/hints.c framework/coord/hints.h \
	framework/coord/merkle.c framework/coord/merkle.h

check_PROGRAMS += tests/unit/test-coordinator tests/unit/test-merkle
TESTS += tests/unit/test-coordinator tests/unit/test-merkle

tests_unit_test_coordinator_SOURCES = tests/unit/test-coordinator.c tests/unit/cu_main.h
tests_unit_test_coordinator_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_coordinator_LDADD = $(DK_UNIT_LINK)

tests_unit_test_merkle_SOURCES = tests/unit/test-merkle.c tests/unit/cu_main.h
tests_unit_test_merkle_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS)
tests_unit_test_merkle_LDADD = $(DK_UNIT_LINK)
