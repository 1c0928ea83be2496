# tests/plugins/abi-1.0: a compaction policy built against the ABI 1.0
# headers as released (frozen copies in include/dynkv/; never edit them),
# so the tests can show that the current host loads and runs a 1.0 plugin
# (test-plugin-host, run-plugin-options.sh). Its CPPFLAGS replace
# AM_CPPFLAGS on purpose: the frozen headers, not framework/include.
check_LTLIBRARIES += compaction-legacy.la
compaction_legacy_la_SOURCES = tests/plugins/abi-1.0/legacy.c
compaction_legacy_la_CPPFLAGS = -I$(srcdir)/tests/plugins/abi-1.0/include
compaction_legacy_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)
EXTRA_DIST += tests/plugins/abi-1.0/include/dynkv/types.h \
	tests/plugins/abi-1.0/include/dynkv/plugin.h tests/plugins/abi-1.0/include/dynkv/compaction.h
