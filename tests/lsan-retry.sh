#!/bin/sh
# tests/lsan-retry.sh PROGRAM [ARGS...] - automake's LOG_COMPILER: runs a
# test. Anything but a unit test program (tests/unit/test-*) runs as it is.
#
# A unit test program is run once more when, and only when, it failed
# because LeakSanitizer's own tracer thread crashed in the exit-time leak
# check ("Tracer caught signal 11" and "LeakSanitizer has encountered a
# fatal error") with no leak, no AddressSanitizer error and no
# UndefinedBehaviorSanitizer report in its output: the sanitizer runtime
# failing after every test passed, not the program (seen a few times in a
# hundred runs of the sanitizer build on a loaded machine; the black-box
# harness, tests/blackbox/dkbb.py, tolerates the same crash of a daemon).
# The second run's result is the test's result, and the log says a rerun
# happened.
case "$1" in
*tests/unit/test-*) ;;
*) exec "$@" ;;
esac

out=$(mktemp "${TMPDIR:-/tmp}/dk-lsan-retry.XXXXXX") || exec "$@"
"$@" >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" -ne 0 ] &&
    grep -q "LeakSanitizer has encountered a fatal error" "$out" &&
    grep -q "Tracer caught signal" "$out" &&
    ! grep -q -e "detected memory leaks" -e "ERROR: AddressSanitizer" -e "runtime error:" "$out"; then
    echo "lsan-retry: $1: LeakSanitizer's tracer crashed at exit (the tool, not the test): running it once more"
    "$@"
    rc=$?
fi
rm -f "$out"
exit "$rc"
