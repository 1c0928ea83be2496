# compaction/time_window: the time_window policy plugin.
plugin_LTLIBRARIES += compaction-time_window.la
compaction_time_window_la_SOURCES = compaction/time_window/time_window.c $(DK_COMPACTION_COMMON)
compaction_time_window_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
compaction_time_window_la_LIBADD = framework/util/libdkutil.la -lm
