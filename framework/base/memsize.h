/*
 * memsize.h - sizes that follow the machine's memory: the memory this
 * process may use, and the block cache [storage] block_cache_size = auto
 * (the default) asks for.
 *
 * auto is 1/8 of that memory, at least 64 MiB and at most 16 GiB, computed
 * once at start (the node logs it and exports it as the gauge
 * storage_block_cache_size_bytes). Why these numbers: a GET served from
 * the block cache costs no read syscall, and data sets grow with the
 * machine, so a fixed 128 MiB (the old default) left most of a server's
 * memory to the page cache, where every hit is still a preadv2 and a
 * block checksum. RocksDB's tuning guide puts the block cache at about a
 * third of memory on a dedicated host, Cassandra sizes its caches from the
 * heap it sizes from RAM; 1/8 leaves room for what is not the cache
 * (memtables, 2 x memtable_size; connections' buffers, max_output_total;
 * the page cache, which still holds the compressed tables) and for three
 * nodes on one machine (tools/dynkv-cluster's local cluster: 3/8 of RAM
 * at most, and only as data is read: the cache allocates a block when it
 * caches it, nothing up front). The cap keeps one node on a large host
 * from holding more than an operator would expect without asking; the
 * floor keeps small containers at a useful size. An explicit value,
 * including 0, still wins.
 *
 * The memory is physical RAM, or the cgroup's limit when that is lower
 * (cgroup v2 memory.max of this process's group, or v1
 * memory.limit_in_bytes): inside a container, 1/8 of the host would be
 * wrong.
 */
#ifndef DK_MEMSIZE_H
#define DK_MEMSIZE_H

#include <stdint.h>

#define DK_BLOCK_CACHE_AUTO_DIV 8
#define DK_BLOCK_CACHE_AUTO_MIN (64ull << 20)
#define DK_BLOCK_CACHE_AUTO_MAX (16ull << 30)
#define DK_BLOCK_CACHE_UNKNOWN (128ull << 20) /* when the memory cannot be read */

/* Bytes of memory this process may use (RAM, or a lower cgroup limit);
 * 0 when neither can be read. */
uint64_t dk_mem_usable(void);

/* The block cache size for a configured value: the value itself, or for
 * DK_CONFIG_AUTO the rule above applied to mem bytes (0: unknown). */
uint64_t dk_block_cache_size(uint64_t configured, uint64_t mem);

#endif /* DK_MEMSIZE_H */
