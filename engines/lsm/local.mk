# engines/lsm: the default storage engine. Everything but the plugin entry
# lives in a convenience library so unit tests can drive the internals
# (with the fault-injecting env) without going through dlopen. It links no
# compression library: block codecs are plugins (plugins/codec/) it gets
# through the host.
noinst_LTLIBRARIES += engines/lsm/liblsm.la
engines_lsm_liblsm_la_SOURCES = \
	engines/lsm/env.h engines/lsm/env_posix.c \
	engines/lsm/ikey.h engines/lsm/merge.c \
	engines/lsm/wal.h engines/lsm/wal.c \
	engines/lsm/skiplist.h engines/lsm/skiplist.c \
	engines/lsm/memtable.h engines/lsm/memtable.c \
	engines/lsm/block.h engines/lsm/block.c \
	engines/lsm/bloom.h engines/lsm/bloom.c \
	engines/lsm/cache.h engines/lsm/cache.c \
	engines/lsm/door.h engines/lsm/door.c engines/lsm/memo.h engines/lsm/memo.c \
	engines/lsm/codecs.h engines/lsm/codecs.c \
	engines/lsm/table.h engines/lsm/table_builder.c engines/lsm/table_reader.c \
	engines/lsm/blob.h engines/lsm/blob_file.c engines/lsm/blob_set.c \
	engines/lsm/blob_gc.h engines/lsm/blob_gc.c \
	engines/lsm/version.h engines/lsm/version.c engines/lsm/manifest.c \
	engines/lsm/lsm.h engines/lsm/lsm.c engines/lsm/lsm_write.c engines/lsm/lsm_read.c engines/lsm/lsm_iter.c engines/lsm/flush.c engines/lsm/recovery.c \
	engines/lsm/compact.c engines/lsm/compact_pace.h engines/lsm/compact_pace.c engines/lsm/pace.h engines/lsm/pace.c engines/lsm/flush_pace.h engines/lsm/flush_pace.c \
	engines/lsm/io_yield.h engines/lsm/io_yield.c \
	engines/lsm/checkpoint.c
engines_lsm_liblsm_la_CFLAGS = $(AM_CFLAGS) -fPIC
engines_lsm_liblsm_la_LIBADD = -lpthread

plugin_LTLIBRARIES += engine-lsm.la
engine_lsm_la_SOURCES = engines/lsm/plugin.c
engine_lsm_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
engine_lsm_la_LIBADD = engines/lsm/liblsm.la framework/util/libdkutil.la -lpthread

# Unit tests of the internals: CUnit, the fake host, the fault env.
DK_LSM_TEST_CFLAGS = $(DK_UNIT_CC) -I$(srcdir)/engines/lsm -I$(srcdir)/tests/unit
DK_LSM_TEST_LIBS = engines/lsm/liblsm.la framework/libdynkv.la $(CUNIT_LIBS) -lpthread


# The engine conformance runner (tools/engine-check) against this engine.
TESTS += tests/unit/engine-lsm.test
EXTRA_DIST += tests/unit/engine-lsm.test

check_PROGRAMS += tests/unit/test-lsm-engine
TESTS += tests/unit/test-lsm-engine
tests_unit_test_lsm_engine_SOURCES = tests/unit/test-lsm-engine.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_engine_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_engine_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-pace
TESTS += tests/unit/test-lsm-pace
tests_unit_test_lsm_pace_SOURCES = tests/unit/test-lsm-pace.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_pace_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_pace_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-yield
TESTS += tests/unit/test-lsm-yield
tests_unit_test_lsm_yield_SOURCES = tests/unit/test-lsm-yield.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_yield_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_yield_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-trace
TESTS += tests/unit/test-lsm-trace
tests_unit_test_lsm_trace_SOURCES = tests/unit/test-lsm-trace.c
tests_unit_test_lsm_trace_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_trace_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-jitter
TESTS += tests/unit/test-lsm-jitter
tests_unit_test_lsm_jitter_SOURCES = tests/unit/test-lsm-jitter.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_jitter_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_jitter_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-lend
TESTS += tests/unit/test-lsm-lend
tests_unit_test_lsm_lend_SOURCES = tests/unit/test-lsm-lend.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_lend_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_lend_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-recovery
TESTS += tests/unit/test-lsm-recovery
tests_unit_test_lsm_recovery_SOURCES = tests/unit/test-lsm-recovery.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_recovery_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_recovery_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-damage
TESTS += tests/unit/test-lsm-damage
tests_unit_test_lsm_damage_SOURCES = tests/unit/test-lsm-damage.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_damage_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_damage_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-crash
TESTS += tests/unit/test-lsm-crash
tests_unit_test_lsm_crash_SOURCES = tests/unit/test-lsm-crash.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_crash_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_crash_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-store
TESTS += tests/unit/test-lsm-store
tests_unit_test_lsm_store_SOURCES = tests/unit/test-lsm-store.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_store_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_store_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-window
TESTS += tests/unit/test-lsm-window
tests_unit_test_lsm_window_SOURCES = tests/unit/test-lsm-window.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_window_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_window_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-switch
TESTS += tests/unit/test-lsm-switch
tests_unit_test_lsm_switch_SOURCES = tests/unit/test-lsm-switch.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_switch_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_switch_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-cache
TESTS += tests/unit/test-lsm-cache
tests_unit_test_lsm_cache_SOURCES = tests/unit/test-lsm-cache.c
tests_unit_test_lsm_cache_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_cache_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-memtable
TESTS += tests/unit/test-lsm-memtable
tests_unit_test_lsm_memtable_SOURCES = tests/unit/test-lsm-memtable.c
tests_unit_test_lsm_memtable_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_memtable_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-block
TESTS += tests/unit/test-lsm-block
tests_unit_test_lsm_block_SOURCES = tests/unit/test-lsm-block.c
tests_unit_test_lsm_block_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_block_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-format
TESTS += tests/unit/test-lsm-format
tests_unit_test_lsm_format_SOURCES = tests/unit/test-lsm-format.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_format_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_format_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-iter
TESTS += tests/unit/test-lsm-iter
tests_unit_test_lsm_iter_SOURCES = tests/unit/test-lsm-iter.c tests/unit/test-lsm-util.h
tests_unit_test_lsm_iter_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_iter_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-wal
TESTS += tests/unit/test-lsm-wal
tests_unit_test_lsm_wal_SOURCES = tests/unit/test-lsm-wal.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_wal_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_wal_LDADD = $(DK_LSM_TEST_LIBS)

# libFuzzer targets for the WAL/manifest and SSTable parsers, listed in
# tests/fuzz/targets.txt and run by tests/fuzz/run-fuzz.sh.
EXTRA_DIST += tests/fuzz/fuzz-wal.c tests/fuzz/fuzz-sstable.c

check_PROGRAMS += tests/unit/test-lsm-kill
TESTS += tests/unit/test-lsm-kill
tests_unit_test_lsm_kill_SOURCES = tests/unit/test-lsm-kill.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_kill_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_kill_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-policy
TESTS += tests/unit/test-lsm-policy
tests_unit_test_lsm_policy_SOURCES = tests/unit/test-lsm-policy.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_policy_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_policy_LDADD = $(DK_LSM_TEST_LIBS) $(LIBS)
EXTRA_tests_unit_test_lsm_policy_DEPENDENCIES = compaction-leveled.la \
	compaction-size_tiered.la compaction-time_window.la

check_PROGRAMS += tests/unit/test-lsm-blob
TESTS += tests/unit/test-lsm-blob
tests_unit_test_lsm_blob_SOURCES = tests/unit/test-lsm-blob.c tests/unit/test-lsm-blob.h tests/unit/test-lsm-util.h \
	tests/unit/test-lsm-host.h tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c \
	engines/lsm/env_fault.h
tests_unit_test_lsm_blob_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_blob_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-direct
TESTS += tests/unit/test-lsm-direct
tests_unit_test_lsm_direct_SOURCES = tests/unit/test-lsm-direct.c tests/unit/test-lsm-blob.h tests/unit/test-lsm-util.h \
	tests/unit/test-lsm-host.h tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_direct_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_direct_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-memo
TESTS += tests/unit/test-lsm-memo
tests_unit_test_lsm_memo_SOURCES = tests/unit/test-lsm-memo.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_memo_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_memo_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-head
TESTS += tests/unit/test-lsm-head
tests_unit_test_lsm_head_SOURCES = tests/unit/test-lsm-head.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_head_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_head_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-blobgc
TESTS += tests/unit/test-lsm-blobgc
tests_unit_test_lsm_blobgc_SOURCES = tests/unit/test-lsm-blobgc.c tests/unit/test-lsm-blob.h tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_blobgc_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_blobgc_LDADD = $(DK_LSM_TEST_LIBS) $(LIBS)
EXTRA_tests_unit_test_lsm_blobgc_DEPENDENCIES = compaction-leveled.la

check_PROGRAMS += tests/unit/test-lsm-walend
TESTS += tests/unit/test-lsm-walend
tests_unit_test_lsm_walend_SOURCES = tests/unit/test-lsm-walend.c tests/unit/test-lsm-util.h \
	tests/unit/fake_host.c tests/unit/fake_host.h engines/lsm/env_fault.c engines/lsm/env_fault.h
tests_unit_test_lsm_walend_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_walend_LDADD = $(DK_LSM_TEST_LIBS)

check_PROGRAMS += tests/unit/test-lsm-ckpt
TESTS += tests/unit/test-lsm-ckpt
tests_unit_test_lsm_ckpt_SOURCES = tests/unit/test-lsm-ckpt.c tests/unit/test-lsm-util.h tests/unit/test-lsm-host.h \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_lsm_ckpt_CFLAGS = $(DK_LSM_TEST_CFLAGS)
tests_unit_test_lsm_ckpt_LDADD = $(DK_LSM_TEST_LIBS)
