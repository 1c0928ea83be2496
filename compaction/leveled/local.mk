# compaction/leveled: the leveled policy plugin.
plugin_LTLIBRARIES += compaction-leveled.la
compaction_leveled_la_SOURCES = compaction/leveled/leveled.c $(DK_COMPACTION_COMMON)
compaction_leveled_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
compaction_leveled_la_LIBADD = framework/util/libdkutil.la -lm
