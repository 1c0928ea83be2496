#!/usr/bin/env bash
# scripts/test.sh - install dependencies, build, run every test suite (unit,
# black-box HTTP, fuzz, cluster, vendor, style), then build again with
# AddressSanitizer + UndefinedBehaviorSanitizer in _build-san and run the
# unit and black-box suites there; end with the one line
# "N passed, N failed" totalling both passes.
# DK_NO_SANITIZERS=1 skips the second pass (a quicker local run).
#
# Schedule. The cluster suite takes longest by far and waits on sockets and
# timers much more than it computes (a fifth of a core), so its two halves
# (tests/cluster/local.mk) start first, side by side in a `make check` of
# their own, and the rest runs beside them: the other suites (make -jN),
# then the sanitizer suites, while the sanitizer build compiles at a lower
# priority (nice: it takes what the suites leave and does not slow their
# timing). The longest suites of each list start first, so that the short
# ones fill the gaps at the end.
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

# first_of "LONG..." "ALL...": ALL with the names in LONG moved to the front.
first_of() {
    local long=$1 all=$2 t out=""
    for t in $long; do
        case " $all " in *" $t "*) out="$out $t" ;; esac
    done
    for t in $all; do
        case " $long " in *" $t "*) ;; *) out="$out $t" ;; esac
    done
    echo "$out"
}

# Background jobs get a process group each (set -m while starting them), so
# that an interrupted run stops them and what they started (the cluster
# suite's nodes run in its group).
groups=()
stop_groups() {
    local g
    for g in "${groups[@]}"; do
        kill -TERM -- "-$g" 2>/dev/null
    done
}
trap 'trap - INT TERM; stop_groups; exit 130' INT TERM

jobs=$(nproc)
cd "$top/_build" || exit 1
find . -name '*.trs' -delete
# Everything the suites need is built once here: two `make check` share this
# tree below, and must find nothing left to build.
make -j"$jobs" -k check TESTS= >/dev/null 2>&1
cluster=$(make -s print-tests | tr ' ' '\n' | grep '^tests/cluster/' | tr '\n' ' ')
rest=$(make -s print-tests | tr ' ' '\n' | grep -v '^tests/cluster/' | tr '\n' ' ')
rest=$(first_of "tests/fuzz/run-fuzz.sh tests/vendor/run-vendor.sh tests/unit/test-crdt-laws
    bench/sweep/check-sweep.sh tests/vendor/run-examples.sh tests/blackbox/run-blackbox.sh" "$rest")
set -m
make -j"$jobs" -k check TESTS="$cluster" TEST_SUITE_LOG=cluster-suite.log >/dev/null 2>&1 &
cluster_pid=$!
set +m
groups+=("$cluster_pid")
dirs=("$top/_build")

san="$top/_build-san"
if [ -z "${DK_NO_SANITIZERS:-}" ]; then
    mkdir -p "$san"
    set -m
    (
        cd "$san" || exit 1
        { [ -f Makefile ] || nice -n 10 "$top/configure" -q --enable-sanitizers >configure.log 2>&1; } &&
            nice -n 10 make -j"$jobs" -s >build.log 2>&1
    ) &
    san_pid=$!
    set +m
    groups+=("$san_pid")
fi

make -j"$jobs" -k check TESTS="$rest" >/dev/null 2>&1
make_rc=$?

if [ -z "${DK_NO_SANITIZERS:-}" ]; then
    cd "$san" || exit 1
    if wait "$san_pid"; then
        find . -name '*.trs' -delete
        tests=$(make -s print-tests | tr ' ' '\n' |
                grep -E '^tests/(unit|blackbox)/' | tr '\n' ' ')
        tests=$(first_of "tests/blackbox/run-blackbox.sh tests/unit/test-crdt-laws" "$tests")
        make -j"$jobs" -k check TESTS="$tests" >/dev/null 2>&1 || make_rc=1
    else
        tail -n 30 build.log 2>/dev/null
        # Counted as one failed suite in the closing line.
        find . -name '*.trs' -delete
        echo ":test-result: FAIL" > sanitizer-build.trs
        echo "the sanitizer build failed (see $san/build.log)" > sanitizer-build.log
        make_rc=1
    fi
    dirs+=("$san")
fi

wait "$cluster_pid" || make_rc=1
for d in "${dirs[@]}"; do
    show_failures "$d"
done

"$top/tests/summary.sh" "${dirs[@]}"
rc=$?
[ $make_rc -eq 0 ] || rc=1
exit $rc
