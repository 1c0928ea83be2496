# engines/memory: the in-memory reference engine, a plugin like any other.
plugin_LTLIBRARIES += engine-memory.la
engine_memory_la_SOURCES = engines/memory/memory.c
engine_memory_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
engine_memory_la_LIBADD = framework/util/libdkutil.la -lpthread
