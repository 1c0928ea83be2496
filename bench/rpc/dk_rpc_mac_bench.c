/*
 * dk_rpc_mac_bench.c - CPU cost of the RPC frame MAC (rpc_auth.h, AES-128-GMAC
 * since protocol 3): one dk_rpc_mac_seal per frame of 64 B, 1 KiB, 10 KiB and
 * 1 MiB, the work each side of a connection does per frame (the receiver's
 * dk_rpc_mac_open is the same GMAC plus a compare). Time is the process's CPU time, so a loaded
 * machine still gives the cost, not the wait.
 *
 * Usage: dk_rpc_mac_bench [--runs R]
 * Prints one RESULT line per size (median of R runs): bytes, us per frame,
 * MB/s.
 *
 * Not a test: timings belong in bench/results/, not in make check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpc/rpc_auth.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = 5;
    if (argc == 3 && strcmp(argv[1], "--runs") == 0)
        runs = atoi(argv[2]);
    if (runs < 1 || runs > 99) {
        fprintf(stderr, "usage: dk_rpc_mac_bench [--runs 1..99]\n");
        return 2;
    }
    static const size_t sizes[] = {64, 1024, 10240, 1u << 20};
    size_t max = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
    uint8_t *buf = malloc(max), key[DK_RPC_SKEY_LEN], tag[DK_RPC_TAG_LEN];
    dk_rpc_mac m;
    if (!buf)
        return 1;
    memset(buf, 0x5a, max);
    memset(key, 7, sizeof(key));
    if (dk_rpc_mac_init(&m, key) != 0)
        return 1;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        long iters = (long)(200e6 / (double)(n + 1000));
        double us[99];
        for (int r = 0; r < runs; r++) {
            double t0 = cpu_s();
            for (long i = 0; i < iters; i++)
                if (dk_rpc_mac_seal(&m, buf, n, tag) != 0)
                    return 1;
            us[r] = (cpu_s() - t0) / (double)iters * 1e6;
        }
        qsort(us, (size_t)runs, sizeof(us[0]), cmp_double);
        double med = us[runs / 2];
        printf("RESULT bytes=%zu us_per_frame=%.3f mb_per_s=%.0f\n", n, med, (double)n / med);
    }
    dk_rpc_mac_free(&m);
    free(buf);
    return 0;
}
