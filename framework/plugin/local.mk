# framework/plugin: the plugin loader and the wrappers of the framework's
# calls into plugins (core library), its unit test, and the deliberately
# broken test plugins the loader must refuse. The engine conformance
# runner is tools/engine-check.
framework_libdynkv_la_SOURCES += framework/plugin/plugin_host.c framework/plugin/plugin_host.h \
	framework/plugin/plugin_call.h
# test-plugin-host: loads good and broken plugins from $(top_builddir)/.libs
# (DYNKV_PLUGIN_PATH). Every test plugin is a check-only module declared at
# the top level, so it lands next to the real plugins.
check_PROGRAMS += tests/unit/test-plugin-host
TESTS += tests/unit/test-plugin-host
tests_unit_test_plugin_host_SOURCES = tests/unit/test-plugin-host.c
tests_unit_test_plugin_host_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_plugin_host_LDADD = $(DK_UNIT_LINK)
EXTRA_tests_unit_test_plugin_host_DEPENDENCIES = engine-memory.la \
	engine-badmagic.la engine-badmajor.la engine-badminor.la \
	engine-wrongkind.la engine-badname.la engine-nulldesc.la engine-nullops.la \
	engine-shortops.la engine-nullmethod.la engine-minimal.la engine-nosym.la \
	compaction-minimal.la conflict-minimal.la compaction-legacy.la compaction-oneknob.la

# One source, one module per way an engine descriptor can be wrong.
check_LTLIBRARIES += engine-badmagic.la
engine_badmagic_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_badmagic_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_BADMAGIC
engine_badmagic_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-badmajor.la
engine_badmajor_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_badmajor_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_BADMAJOR
engine_badmajor_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-badminor.la
engine_badminor_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_badminor_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_BADMINOR
engine_badminor_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-wrongkind.la
engine_wrongkind_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_wrongkind_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_WRONGKIND
engine_wrongkind_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-badname.la
engine_badname_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_badname_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_BADNAME
engine_badname_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-nulldesc.la
engine_nulldesc_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_nulldesc_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_NULLDESC
engine_nulldesc_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-nullops.la
engine_nullops_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_nullops_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_NULLOPS
engine_nullops_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-shortops.la
engine_shortops_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_shortops_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_SHORTOPS
engine_shortops_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-nullmethod.la
engine_nullmethod_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_nullmethod_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_NULLMETHOD
engine_nullmethod_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += engine-minimal.la
engine_minimal_la_SOURCES = tests/unit/bad_plugins/engine_variant.c
engine_minimal_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_MINIMAL
engine_minimal_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

# Not a plugin: exports another function instead of dynkv_plugin_entry.
check_LTLIBRARIES += engine-nosym.la
engine_nosym_la_SOURCES = tests/unit/bad_plugins/nosym.c
engine_nosym_la_LDFLAGS = -module -avoid-version -shared -no-undefined -rpath /nowhere \
	-export-symbols-regex '^dk_test_not_an_entry$$' $(DK_LDFLAGS)

check_LTLIBRARIES += compaction-minimal.la
compaction_minimal_la_SOURCES = tests/unit/bad_plugins/compaction_minimal.c
compaction_minimal_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)

check_LTLIBRARIES += conflict-minimal.la
conflict_minimal_la_SOURCES = tests/unit/bad_plugins/conflict_minimal.c
conflict_minimal_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)
