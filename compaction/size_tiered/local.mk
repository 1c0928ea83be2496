# compaction/size_tiered: the size_tiered policy plugin.
plugin_LTLIBRARIES += compaction-size_tiered.la
compaction_size_tiered_la_SOURCES = compaction/size_tiered/size_tiered.c $(DK_COMPACTION_COMMON)
compaction_size_tiered_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
compaction_size_tiered_la_LIBADD = framework/util/libdkutil.la -lm
