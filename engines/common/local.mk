# engines/common: helpers the third-party engine adapters share (bounds,
# status mapping), compiled into each adapter plugin. Each adapter is built
# and run through the engine conformance suite only when configure found its
# library (DK_OPTIONAL_ENGINE in configure.ac).
DK_ADAPTER_COMMON = engines/common/adapter.c engines/common/adapter.h
EXTRA_DIST += tests/unit/engine-rocksdb.test tests/unit/engine-leveldb.test tests/unit/engine-lmdb.test
