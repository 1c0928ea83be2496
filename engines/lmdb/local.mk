# engines/lmdb: the LMDB adapter, when configure found liblmdb.
if HAVE_LMDB
plugin_LTLIBRARIES += engine-lmdb.la
engine_lmdb_la_SOURCES = engines/lmdb/lmdb.c $(DK_ADAPTER_COMMON)
engine_lmdb_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
engine_lmdb_la_LIBADD = framework/util/libdkutil.la -llmdb
TESTS += tests/unit/engine-lmdb.test
endif
