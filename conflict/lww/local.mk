# conflict/lww: the lww resolver plugin.
plugin_LTLIBRARIES += conflict-lww.la
conflict_lww_la_SOURCES = conflict/lww/lww.c $(DK_CONFLICT_COMMON)
conflict_lww_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
