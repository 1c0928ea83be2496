# rules for the third-party engine adapters (rocksdb, leveldb, lmdb): each
# is built and run through the engine conformance suite only when configure
# found its library (DK_OPTIONAL_ENGINE in configure.ac). The helpers they
# share (engines/common/adapter.c) are compiled into each plugin.
EXTRA_DIST += tests/unit/engine-rocksdb.test tests/unit/engine-leveldb.test tests/unit/engine-lmdb.test
DK_ADAPTER_COMMON = engines/common/adapter.c engines/common/adapter.h

if HAVE_ROCKSDB
plugin_LTLIBRARIES += engine-rocksdb.la
engine_rocksdb_la_SOURCES = engines/rocksdb/rocksdb.c $(DK_ADAPTER_COMMON)
engine_rocksdb_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
engine_rocksdb_la_LIBADD = framework/util/libdkutil.la -lrocksdb
TESTS += tests/unit/engine-rocksdb.test
EXTRA_tests_unit_test_engine_DEPENDENCIES += engine-rocksdb.la
endif

if HAVE_LEVELDB
plugin_LTLIBRARIES += engine-leveldb.la
engine_leveldb_la_SOURCES = engines/leveldb/leveldb.c $(DK_ADAPTER_COMMON)
# -z nodelete: LevelDB's Env::Default() starts a background thread that is
# never joined; if dlclose() unmapped libleveldb under it, the parked thread
# would sit in a futex on unmapped memory (LeakSanitizer's stop-the-world
# aborts on it at exit). Keeping the plugin, hence libleveldb, mapped avoids it.
engine_leveldb_la_LDFLAGS = $(DK_PLUGIN_LDOPTS) -Wl,-z,nodelete
engine_leveldb_la_LIBADD = framework/util/libdkutil.la -lleveldb
TESTS += tests/unit/engine-leveldb.test
EXTRA_tests_unit_test_engine_DEPENDENCIES += engine-leveldb.la
endif

if HAVE_LMDB
plugin_LTLIBRARIES += engine-lmdb.la
engine_lmdb_la_SOURCES = engines/lmdb/lmdb.c $(DK_ADAPTER_COMMON)
engine_lmdb_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
engine_lmdb_la_LIBADD = framework/util/libdkutil.la -llmdb
TESTS += tests/unit/engine-lmdb.test
EXTRA_tests_unit_test_engine_DEPENDENCIES += engine-lmdb.la
endif
