# conflict/common: the conf reader every built-in resolver compiles in, and
# the scripted scenario test of the resolvers.
DK_CONFLICT_COMMON = conflict/common/resolver_conf.c conflict/common/resolver_conf.h

check_PROGRAMS += tests/unit/test-resolvers
TESTS += tests/unit/test-resolvers
tests_unit_test_resolvers_SOURCES = tests/unit/test-resolvers.c tests/unit/tc_plugin.h tests/unit/cu_main.h
tests_unit_test_resolvers_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_resolvers_LDADD = $(DK_UNIT_LINK)
