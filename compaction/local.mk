# rules for compaction: the three policy plugins, each a libtool module
# with the shared helpers (compaction/common/runs.c) compiled into it, and
# their unit test.
DK_COMPACTION_COMMON = compaction/common/runs.c compaction/common/runs.h

plugin_LTLIBRARIES += compaction-leveled.la compaction-size_tiered.la compaction-time_window.la
compaction_leveled_la_SOURCES = compaction/leveled/leveled.c $(DK_COMPACTION_COMMON)
compaction_leveled_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
compaction_leveled_la_LIBADD = framework/util/libdkutil.la -lm
compaction_size_tiered_la_SOURCES = compaction/size_tiered/size_tiered.c $(DK_COMPACTION_COMMON)
compaction_size_tiered_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
compaction_size_tiered_la_LIBADD = framework/util/libdkutil.la -lm
compaction_time_window_la_SOURCES = compaction/time_window/time_window.c $(DK_COMPACTION_COMMON)
compaction_time_window_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
compaction_time_window_la_LIBADD = framework/util/libdkutil.la -lm

check_PROGRAMS += tests/unit/test-compaction
tests_unit_test_compaction_SOURCES = tests/unit/test-compaction.c \
	tests/unit/fake_host.c tests/unit/fake_host.h
tests_unit_test_compaction_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_compaction_LDADD = $(CUNIT_LIBS) $(LIBS) -lpthread -lm
EXTRA_tests_unit_test_compaction_DEPENDENCIES = compaction-leveled.la \
	compaction-size_tiered.la compaction-time_window.la
TESTS += tests/unit/test-compaction
