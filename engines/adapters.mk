# rules for the third-party engine adapters (rocksdb, leveldb, lmdb)
