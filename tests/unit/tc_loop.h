/*
 * tc_loop.h - SPIN(cond, ms), the loop spinner the unit tests that run a
 * uv loop on the test thread share: run `loop` (a uv_loop_t the including
 * file defines) one iteration at a time until cond holds or ms have
 * passed, then carry on either way (the test asserts cond itself).
 * UV_RUN_ONCE blocks until an event, so the including file keeps a short
 * repeating timer on the loop. A macro rather than a function because
 * cond is an expression re-evaluated after each iteration.
 */
#ifndef DK_TEST_TC_LOOP_H
#define DK_TEST_TC_LOOP_H
#include <stdint.h>
#include <uv.h>

#define SPIN(cond, ms)                                                                                       \
    do {                                                                                                     \
        uint64_t end_ = uv_hrtime() + (uint64_t)(ms)*1000000u;                                               \
        while (!(cond) && uv_hrtime() < end_)                                                                \
            uv_run(&loop, UV_RUN_ONCE);                                                                      \
    } while (0)

#endif
