#!/usr/bin/env bash
# scripts/test.sh - install dependencies, build, run every test suite (unit,
# black-box HTTP, fuzz, cluster, vendor, style), then build again with
# AddressSanitizer + UndefinedBehaviorSanitizer in _build-san and run the
# unit and black-box suites there; end with the one line
# "N passed, N failed" totalling both passes.
# The sanitizer build runs at idle priority beside the first pass.
# DK_NO_SANITIZERS=1 skips the second pass (a quicker local run).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" || exit 1
"$top/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }

# show_failures DIR: the tail of every failed suite's log.
show_failures() {
    for log in $(grep -l -E '^:test-result: (FAIL|ERROR)' $(find "$1" -name '*.trs') 2>/dev/null); do
        echo "==== ${log%.trs}.log" ; tail -n 40 "${log%.trs}.log"
    done
}

# The sanitizer build (the second pass's programs and test programs)
# compiles beside the first pass at idle priority: it takes the CPU the
# suites leave while they wait on processes, sockets and timers, and
# yields it at once when they run.
# In a session of its own (setsid): where the kernel groups tasks by
# session (autogroup), nice counts only inside the group, so the build's
# group is made the lowest-weight one. Without setsid or ionice it runs
# with what there is; it is stopped when this script ends early.
san="$top/_build-san"
san_pid=""
if [ -z "${DK_NO_SANITIZERS:-}" ]; then
    mkdir -p "$san"
    lower=""
    command -v setsid >/dev/null 2>&1 && lower="setsid"
    idle="nice -n 19"
    ionice -c3 true 2>/dev/null && idle="$idle ionice -c3"
    $lower sh -c '{ echo 19 >/proc/self/autogroup; } 2>/dev/null
        cd "$1" || exit 1
        { [ -f Makefile ] || $4 "$2/configure" -q --enable-sanitizers >configure.log 2>&1; } &&
            $4 make -j"$3" -s >build.log 2>&1 &&
            $4 make -j"$3" -s check TESTS= >>build.log 2>&1' sh "$san" "$top" "$(nproc)" "$idle" &
    san_pid=$!
    # setsid does not fork here (no job control): the build's process
    # group is san_pid.
    trap '[ -n "$san_pid" ] && { kill -- -"$san_pid" || kill "$san_pid"; } 2>/dev/null' EXIT
    trap 'exit 130' INT TERM
fi

cd "$top/_build"
find . -name '*.trs' -delete
make -j"$(nproc)" -k check >/dev/null 2>&1
make_rc=$?
show_failures .
dirs=("$top/_build")

if [ -n "$san_pid" ]; then
    cd "$san"
    # Whatever became of the background build, configure and make run
    # again in the foreground: they finish what it left (nothing, normally)
    # and a failure is the code's, not the lowered priority's.
    wait "$san_pid"
    san_pid=""
    if { [ -f Makefile ] || "$top/configure" -q --enable-sanitizers >configure.log 2>&1; } &&
        make -j"$(nproc)" -s >>build.log 2>&1; then
        find . -name '*.trs' -delete
        # The longest first (test-lsm-crash, the black-box suite, then
        # test-crdt-laws), so that the short ones fill the other core beside
        # them: in its alphabetical place test-crdt-laws started at 214 s
        # of the pass and ran alone after the others ended, to 286 s.
        all=$(make -s print-tests | tr ' ' '\n')
        long='tests/unit/test-lsm-crash|tests/unit/test-crdt-laws'
        tests=$(grep -x 'tests/unit/test-lsm-crash' <<<"$all"; grep -E '^tests/blackbox/' <<<"$all"
                grep -x 'tests/unit/test-crdt-laws' <<<"$all"
                grep -E '^tests/unit/' <<<"$all" | grep -vxE "$long")
        tests=$(tr '\n' ' ' <<<"$tests")
        make -j"$(nproc)" -k check TESTS="$tests" >/dev/null 2>&1 || make_rc=1
        show_failures .
        dirs+=("$san")
    else
        tail -n 30 build.log 2>/dev/null
        # Counted as one failed suite in the closing line.
        find . -name '*.trs' -delete
        echo ":test-result: FAIL" > sanitizer-build.trs
        echo "the sanitizer build failed (see $san/build.log)" > sanitizer-build.log
        dirs+=("$san")
        make_rc=1
    fi
fi

"$top/tests/summary.sh" "${dirs[@]}"
rc=$?
[ $make_rc -eq 0 ] || rc=1
exit $rc
