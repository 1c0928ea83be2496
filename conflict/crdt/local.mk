# conflict/crdt: the crdt resolver plugin (counters, sets, registers, maps),
# loaded by every node next to its configured resolver for CRDT objects;
# its unit tests drive it through dlopen like test-resolvers.
plugin_LTLIBRARIES += conflict-crdt.la
conflict_crdt_la_SOURCES = conflict/crdt/crdt.c conflict/crdt/crdt_state.h conflict/crdt/state.c \
	conflict/crdt/counter.c conflict/crdt/orset.c conflict/crdt/lwwreg.c conflict/crdt/ormap.c
conflict_crdt_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
conflict_crdt_la_LIBADD = framework/util/libdkutil.la

check_PROGRAMS += tests/unit/test-crdt tests/unit/test-crdt-laws
TESTS += tests/unit/test-crdt tests/unit/test-crdt-laws
tests_unit_test_crdt_SOURCES = tests/unit/test-crdt.c tests/unit/tc_crdt.h tests/unit/tc_plugin.h tests/unit/cu_main.h
tests_unit_test_crdt_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_crdt_LDADD = $(DK_UNIT_LINK)
tests_unit_test_crdt_laws_SOURCES = tests/unit/test-crdt-laws.c tests/unit/tc_crdt.h tests/unit/tc_plugin.h \
	tests/unit/cu_main.h
tests_unit_test_crdt_laws_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_crdt_laws_LDADD = $(DK_UNIT_LINK)
