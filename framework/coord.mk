# framework/coord rules: the quorum coordinator, the replica side of its
# protocol and hinted handoff (part of the core library), and its unit test.
framework_libdynkv_la_SOURCES += \
	framework/coordinator.c framework/coordinator.h framework/coord_int.h \
	framework/coord_write.c framework/coord_read.c \
	framework/replica.c framework/hints.c framework/hints.h

check_PROGRAMS += tests/unit/test-coordinator
TESTS += tests/unit/test-coordinator

tests_unit_test_coordinator_SOURCES = tests/unit/test-coordinator.c tests/unit/cu_main.h
tests_unit_test_coordinator_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_coordinator_LDADD = $(DK_UNIT_LINK)
