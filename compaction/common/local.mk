# compaction/common: helpers every built-in policy compiles in (runs.c), and
# the unit tests of the policies: synthetic run shapes and a simulated
# engine; both load the plugins with dlopen (tests/unit/tc_plugin.c)
# against the fake host.
DK_COMPACTION_COMMON = compaction/common/runs.c compaction/common/runs.h
DK_COMPACTION_TEST_SOURCES = tests/unit/tc_plugin.c tests/unit/tc_plugin.h \
	tests/unit/fake_host.c tests/unit/fake_host.h tests/unit/cu_main.h
DK_COMPACTION_TEST_PLUGINS = compaction-leveled.la compaction-size_tiered.la \
	compaction-time_window.la

check_PROGRAMS += tests/unit/test-compaction
tests_unit_test_compaction_SOURCES = tests/unit/test-compaction.c $(DK_COMPACTION_TEST_SOURCES)
tests_unit_test_compaction_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_compaction_LDADD = $(DK_UNIT_LINK) $(LIBS) -lpthread -lm
EXTRA_tests_unit_test_compaction_DEPENDENCIES = $(DK_COMPACTION_TEST_PLUGINS)
TESTS += tests/unit/test-compaction

check_PROGRAMS += tests/unit/test-compaction-sim
tests_unit_test_compaction_sim_SOURCES = tests/unit/test-compaction-sim.c $(DK_COMPACTION_TEST_SOURCES)
tests_unit_test_compaction_sim_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_compaction_sim_LDADD = $(DK_UNIT_LINK) $(LIBS) -lpthread -lm
EXTRA_tests_unit_test_compaction_sim_DEPENDENCIES = $(DK_COMPACTION_TEST_PLUGINS)
TESTS += tests/unit/test-compaction-sim
