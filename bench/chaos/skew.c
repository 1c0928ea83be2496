/* skew.c - an LD_PRELOAD shim that shifts a process's wall clock.
 *
 * clock_gettime() of CLOCK_REALTIME and CLOCK_REALTIME_COARSE returns the
 * real time plus $DK_SKEW_MS milliseconds (read once, may be negative);
 * the monotonic clocks are left alone, so timers and timeouts behave and
 * only the timestamps a node puts on writes (lww) and logs move.  The
 * chaos soak (bench/chaos/faults.py) compiles it with cc into a round's
 * folder for --skew; it is not part of the build.  faketime(1) would do
 * the same but is not installed everywhere and shifts every clock.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

#define NS_PER_S 1000000000LL

static long long skew_ns(void)
{
    static int init;
    static long long v;

    if (!init) {
        const char *s = getenv("DK_SKEW_MS");

        v = s ? atoll(s) * 1000000LL : 0;
        init = 1;
    }
    return v;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    int rc;

    if (!real)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    rc = real(clk, ts);
    if (rc == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE)) {
        long long t = (long long)ts->tv_sec * NS_PER_S + ts->tv_nsec + skew_ns();

        ts->tv_sec = t / NS_PER_S;
        ts->tv_nsec = t % NS_PER_S;
    }
    return rc;
}
