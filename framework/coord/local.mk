# framework/coord: the quorum coordinator (read, write, CAS, prefix scans),
# the replica side of its protocol, hinted handoff, anti-entropy (Merkle
# trees, exchanges, the repair rule), and their unit tests.
framework_libdynkv_la_SOURCES += \
	framework/coord/coordinator.c framework/coord/coordinator.h framework/coord/coord_int.h \
	framework/coord/coord_write.c framework/coord/coord_send.c \
	framework/coord/coord_cas.c framework/coord/coord_forward.c framework/coord/coord_read.c framework/coord/coord_repair.c \
	framework/coord/replica.c framework/coord/hints.c framework/coord/hints.h \
	framework/coord/stream.c framework/coord/stream.h framework/coord/stream_fetch.c \
	framework/coord/stream_source.c framework/coord/handoff.c \
	framework/coord/cleanup.c framework/coord/cleanup.h \
	framework/coord/coord_scan.c framework/coord/coord_scan.h \
	framework/coord/scan_replica.c framework/coord/scan_merge.c \
	framework/coord/merkle.c framework/coord/merkle.h \
	framework/coord/merkle_file.c framework/coord/merkle_file.h framework/coord/ae_saved.c \
	framework/coord/antientropy.c framework/coord/antientropy.h framework/coord/ae_round.c \
	framework/coord/ae_layout.c framework/coord/ae_exchange.c framework/coord/ae_serve.c \
	framework/coord/session_read.c framework/coord/session_read.h

check_PROGRAMS += tests/unit/test-coordinator tests/unit/test-coord-read tests/unit/test-coord-digest tests/unit/test-coord-loops tests/unit/test-scan tests/unit/test-merkle tests/unit/test-antientropy
TESTS += tests/unit/test-coordinator tests/unit/test-coord-read tests/unit/test-coord-digest tests/unit/test-coord-loops tests/unit/test-scan tests/unit/test-merkle tests/unit/test-antientropy

tests_unit_test_coordinator_SOURCES = tests/unit/test-coordinator.c tests/unit/tc_coord.h tests/unit/tc_cluster.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_coordinator_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_coordinator_LDADD = $(DK_UNIT_LINK)

tests_unit_test_coord_loops_SOURCES = tests/unit/test-coord-loops.c tests/unit/tc_cluster.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_coord_loops_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_coord_loops_LDADD = $(DK_UNIT_LINK)

tests_unit_test_coord_read_SOURCES = tests/unit/test-coord-read.c tests/unit/tc_coord.h tests/unit/tc_cluster.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_coord_read_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_coord_read_LDADD = $(DK_UNIT_LINK)

tests_unit_test_coord_digest_SOURCES = tests/unit/test-coord-digest.c tests/unit/tc_coord.h tests/unit/tc_cluster.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_coord_digest_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS)
tests_unit_test_coord_digest_LDADD = $(DK_UNIT_LINK)

tests_unit_test_scan_SOURCES = tests/unit/test-scan.c tests/unit/cu_main.h
tests_unit_test_scan_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_scan_LDADD = $(DK_UNIT_LINK)

tests_unit_test_merkle_SOURCES = tests/unit/test-merkle.c tests/unit/cu_main.h
tests_unit_test_merkle_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS)
tests_unit_test_merkle_LDADD = $(DK_UNIT_LINK)

tests_unit_test_antientropy_SOURCES = tests/unit/test-antientropy.c tests/unit/tc_cluster.h tests/unit/tc_loop.h tests/unit/cu_main.h
tests_unit_test_antientropy_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_antientropy_LDADD = $(DK_UNIT_LINK)

check_PROGRAMS += tests/unit/test-merkle-file
TESTS += tests/unit/test-merkle-file
tests_unit_test_merkle_file_SOURCES = tests/unit/test-merkle-file.c tests/unit/cu_main.h
tests_unit_test_merkle_file_CFLAGS = $(DK_UNIT_CC) $(XXHASH_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_merkle_file_LDADD = $(DK_UNIT_LINK)
