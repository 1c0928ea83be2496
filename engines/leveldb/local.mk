# engines/leveldb: the LevelDB adapter, when configure found libleveldb.
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
endif
