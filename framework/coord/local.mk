# framework/coord: the quorum coordinator (read, write, CAS, prefix scans),
# the replica side of its protocol and hinted handoff, and its unit tests.
framework_libdynkv_la_SOURCES += \
	framework/coord/coordinator.c framework/coord/coordinator.h framework/coord/coord_int.h \
	framework/coord/coord_write.c framework/coord/coord_read.c \
	framework/coord/replica.c framework/coord/hints.c framework/coord/hints.h \
	framework/coord/coord_scan.c framework/coord/coord_scan.h \
	framework/coord/scan_replica.c framework/coord/scan_merge.c

check_PROGRAMS += tests/unit/test-coordinator tests/unit/test-scan
TESTS += tests/unit/test-coordinator tests/unit/test-scan

tests_unit_test_coordinator_SOURCES = tests/unit/test-coordinator.c tests/unit/cu_main.h
tests_unit_test_coordinator_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_coordinator_LDADD = $(DK_UNIT_LINK)

tests_unit_test_scan_SOURCES = tests/unit/test-scan.c tests/unit/cu_main.h
tests_unit_test_scan_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_scan_LDADD = $(DK_UNIT_LINK)
