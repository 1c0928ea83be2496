/*
 * sysstat.h - what the benchmark measures about the process and the disk:
 * bytes written by the process (/proc/self/io), disk usage of a directory
 * tree (like du), and peak resident set size (getrusage).
 */
#ifndef DK_BENCH_SYSSTAT_H
#define DK_BENCH_SYSSTAT_H

#include <stdint.h>

typedef struct dk_io_counters {
    uint64_t write_bytes; /* bytes this process sent (or dirtied) for the storage layer */
    uint64_t wchar;       /* bytes passed to write()-family system calls */
    uint64_t read_bytes;  /* bytes this process caused to be fetched from storage */
} dk_io_counters;

/* Read /proc/self/io (all threads of the process, so an engine's
 * background compaction threads are counted). Returns 0, or -errno when
 * the file is missing or unreadable (kernels without task I/O accounting);
 * then *out is zeroed. */
int dk__io_read(dk_io_counters *out);

/* Disk usage of the tree under path: the sum of st_blocks * 512 of every
 * regular file (what du reports) into *used and the sum of st_size into
 * *apparent. Returns 0 or -errno. One walk at a time in the process (the
 * walk keeps its sums in statics). */
int dk__du(const char *path, uint64_t *used, uint64_t *apparent);

/* Peak resident set size of this process so far, in bytes. */
uint64_t dk__peak_rss(void);

/* User + system CPU time of the whole process (every thread, the
 * engine's background threads included) so far, in ns (getrusage). */
uint64_t dk__proc_cpu_ns(void);

/* CPU time of the calling thread so far, in ns (CLOCK_THREAD_CPUTIME_ID). */
uint64_t dk__thread_cpu_ns(void);

/* CPU time so far of this process's threads named comm (an engine's
 * background threads, e.g. "lsm-compact"), in ns, from each task's
 * schedstat under /proc/self/task; 0 when there is none or /proc cannot
 * tell. */
uint64_t dk__threads_cpu_ns(const char *comm);

/* Remove the tree under path (not path itself). Returns 0 or -errno. */
int dk__rm_tree_contents(const char *path);

#endif /* DK_BENCH_SYSSTAT_H */
