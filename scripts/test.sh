#!/usr/bin/env bash
# scripts/test.sh - install dependencies, build, run every test suite (unit,
# black-box HTTP, fuzz, cluster, vendor, style), then build again with
# AddressSanitizer + UndefinedBehaviorSanitizer in _build-san and run the
# unit and black-box suites there; end with the one line
# "N passed, N failed" totalling both passes.
# The sanitizer build and its unit programs run at idle priority beside the
# first pass; its black-box suite runs after it.
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

# The sanitizer pass's build and its unit test programs run beside the
# first pass at idle priority: they take the CPU the suites leave while
# they wait on processes, sockets and timers (the cluster suite's minutes,
# mostly), and yield it at once when the suites run. Once built, the
# background job marks its tree (.dk-built) and runs the unit programs,
# the longest first (test-lsm-crash, then test-crdt-laws) so that the
# short ones fill the other core beside them; the black-box suite runs at
# normal priority once the cluster shards have ended, beside the first
# pass' last suites and what is left of them (in the first pass' order
# the sanitizer build ended a minute into the cluster suite, and the
# second pass then took 4.8 minutes after the first).
# In a session of its own (setsid): where the kernel groups tasks by
# session (autogroup), nice counts only inside the group, so the job's
# group is made the lowest-weight one. Without setsid or ionice it runs
# with what there is; it is stopped when this script ends early.
san="$top/_build-san"
san_pid=""
if [ -z "${DK_NO_SANITIZERS:-}" ]; then
    mkdir -p "$san"
    rm -f "$san/.dk-built"
    all=$(make -s -C "$top/_build" print-tests | tr ' ' '\n')
    long='tests/unit/test-lsm-crash|tests/unit/test-crdt-laws'
    units=$(grep -x 'tests/unit/test-lsm-crash' <<<"$all"; grep -x 'tests/unit/test-crdt-laws' <<<"$all"
            grep -E '^tests/unit/' <<<"$all" | grep -vxE "$long")
    units=$(tr '\n' ' ' <<<"$units")
    lower=""
    command -v setsid >/dev/null 2>&1 && lower="setsid"
    idle="nice -n 19"
    ionice -c3 true 2>/dev/null && idle="$idle ionice -c3"
    $lower sh -c '{ echo 19 >/proc/self/autogroup; } 2>/dev/null
        cd "$1" || exit 3
        { [ -f Makefile ] || $4 "$2/configure" -q --enable-sanitizers >configure.log 2>&1; } &&
            $4 make -j"$3" -s >build.log 2>&1 &&
            $4 make -j"$3" -s check TESTS= >>build.log 2>&1 || exit 3
        find . -name "*.trs" -delete
        touch .dk-built
        $4 make -j"$3" -k check TESTS="$5" TEST_SUITE_LOG=unit-suite.log >/dev/null 2>&1' \
        sh "$san" "$top" "$(nproc)" "$idle" "$units" &
    san_pid=$!
    # setsid does not fork here (no job control): the job's process
    # group is san_pid.
    trap 'for p in $san_pid $bb_pid; do { kill -- -"$p" || kill "$p"; } 2>/dev/null; done' EXIT
    trap 'exit 130' INT TERM
fi

cd "$top/_build"
find . -name '*.trs' -delete
rm -f .dk-first-done
# The sanitizer black-box suite starts once the cluster shards have ended
# (their .trs files) and the sanitizer build is done, beside the first
# pass' last suites (vendor, style...), not beside the cluster suite,
# whose ring moves are the tests a busy CPU makes late.
bb_pid=""
if [ -n "$san_pid" ]; then
    cluster_trs=$(grep -E '^tests/cluster/' <<<"$all" | sed 's/$/.trs/' | tr '\n' ' ')
    # In a session of its own too, so that the EXIT trap stops it whole.
    $lower bash -c 'for t in $1; do
            while [ ! -f "$t" ] && [ ! -f .dk-first-done ]; do sleep 1; done
        done
        while [ ! -f "$2/.dk-built" ] && kill -0 "$3" 2>/dev/null; do sleep 1; done
        [ -f "$2/.dk-built" ] || exit 0
        cd "$2" && make -j"$4" -k check TESTS=tests/blackbox/run-blackbox.sh \
            TEST_SUITE_LOG=blackbox-suite.log >/dev/null 2>&1' \
        bash "$cluster_trs" "$san" "$san_pid" "$(nproc)" &
    bb_pid=$!
fi
make -j"$(nproc)" -k check >/dev/null 2>&1
make_rc=$?
touch .dk-first-done
show_failures .
dirs=("$top/_build")

if [ -n "$san_pid" ]; then
    cd "$san"
    # The background job builds, then runs the unit programs: wait for the
    # build only (or for the job, when it ended without one).
    while [ ! -f .dk-built ] && kill -0 "$san_pid" 2>/dev/null; do
        sleep 1
    done
    if [ -f .dk-built ]; then
        wait "$bb_pid" || make_rc=1
        wait "$san_pid" || make_rc=1
        san_pid="" bb_pid=""
        show_failures .
        dirs+=("$san")
    else
        wait "$san_pid" "$bb_pid"
        san_pid="" bb_pid=""
        # Whatever became of the background build, configure and make run
        # again in the foreground: they finish what it left and a failure
        # is the code's, not the lowered priority's.
        if { [ -f Makefile ] || "$top/configure" -q --enable-sanitizers >configure.log 2>&1; } &&
            make -j"$(nproc)" -s >>build.log 2>&1; then
            find . -name '*.trs' -delete
            # The longest first, the black-box suite beside test-lsm-crash.
            tests=$(echo tests/unit/test-lsm-crash tests/blackbox/run-blackbox.sh ${units/tests\/unit\/test-lsm-crash/})
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
fi

"$top/tests/summary.sh" "${dirs[@]}"
rc=$?
[ $make_rc -eq 0 ] || rc=1
exit $rc
