# engines/rocksdb: the RocksDB adapter, when configure found librocksdb.
if HAVE_ROCKSDB
plugin_LTLIBRARIES += engine-rocksdb.la
engine_rocksdb_la_SOURCES = engines/rocksdb/rocksdb.c $(DK_ADAPTER_COMMON)
engine_rocksdb_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
engine_rocksdb_la_LIBADD = framework/util/libdkutil.la -lrocksdb
TESTS += tests/unit/engine-rocksdb.test
endif
