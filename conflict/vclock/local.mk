# conflict/vclock: the vclock resolver plugin.
plugin_LTLIBRARIES += conflict-vclock.la
conflict_vclock_la_SOURCES = conflict/vclock/vclock.c $(DK_CONFLICT_COMMON)
conflict_vclock_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
