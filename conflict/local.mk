# rules for conflict: the resolver plugins (libtool modules loaded with
# dlopen like a vendor's), each with the shared conf reader
# (conflict/common/resolver_conf.c) compiled into it, and their scripted scenario
# test.
DK_CONFLICT_COMMON = conflict/common/resolver_conf.c conflict/common/resolver_conf.h

plugin_LTLIBRARIES += conflict-vclock.la conflict-lww.la
conflict_vclock_la_SOURCES = conflict/vclock/vclock.c $(DK_CONFLICT_COMMON)
conflict_vclock_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
conflict_vclock_la_LIBADD = framework/util/libdkutil.la
conflict_lww_la_SOURCES = conflict/lww/lww.c $(DK_CONFLICT_COMMON)
conflict_lww_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
conflict_lww_la_LIBADD = framework/util/libdkutil.la

check_PROGRAMS += tests/unit/test-resolvers
TESTS += tests/unit/test-resolvers
tests_unit_test_resolvers_SOURCES = tests/unit/test-resolvers.c tests/unit/cu_main.h
tests_unit_test_resolvers_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_resolvers_LDADD = $(DK_UNIT_LINK)
