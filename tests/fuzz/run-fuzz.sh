#!/bin/sh
# tests/fuzz/run-fuzz.sh - build and run every libFuzzer target listed in
# tests/fuzz/targets.txt for a short time budget, one test case per target,
# and end with the line tests/summary.sh reads:
#   "# dk-summary: P passed, F failed"
# A target passes when it builds and fuzzes its budget without a crash, leak,
# sanitizer report, timeout or OOM.  A target that does not build fails.
# With no targets listed it prints "0 passed, 0 failed, 1 skipped" and exits
# 77 (automake's SKIP).
#
# Build: clang -g -O1 -fsanitize=fuzzer,address,undefined with the
# framework include dirs, the Debian libraries (pkg-config) and
# -lhttp_parser, into a temporary folder (or $DK_FUZZ_OUT).  Seeds come from
# tests/fuzz/corpus/<name>/, copied first (the source tree may be read-only);
# libFuzzer runs every seed before mutating, so corpus files are regression
# cases.
#
# Usage: run-fuzz.sh [--long SECONDS]
#   (no argument)     CI's smoke run: DK_FUZZ_SECONDS split across targets
#   --long SECONDS    a campaign: EACH target fuzzes for SECONDS (one after
#                     the other; DK_FUZZ_SECONDS is ignored).  With
#                     DK_FUZZ_OUT set, the grown corpora stay in
#                     $DK_FUZZ_OUT/corpus-<name> for minimising into the
#                     seeds: fuzz-<name> -merge=1 NEWDIR tests/fuzz/corpus/<name>
#                     $DK_FUZZ_OUT/corpus-<name> (see below).
#
# Environment:
#   DK_FUZZ_SECONDS   total fuzzing time split across targets (default 20)
#   DK_FUZZ_TARGETS   space-separated names to run (default: all listed)
#   DK_FUZZ_MAX_LEN   libFuzzer -max_len (default 65536)
#   DK_FUZZ_OUT       keep binaries, corpora and logs in this folder
#   DK_FUZZ_CC        compiler (default clang)
#   DYNKV_SRCDIR / DYNKV_BUILDDIR   set by `make check`; default: the tree
#                     this script is in / the current directory
#
# Running one target longer by hand (from the build dir):
#   DK_FUZZ_OUT=/tmp/fz DK_FUZZ_TARGETS=http DK_FUZZ_SECONDS=600 \
#       /work/main/tests/fuzz/run-fuzz.sh
# or build once that way and then call the binary directly, e.g. on 2 cores:
#   /tmp/fz/fuzz-http -max_len=65536 -rss_limit_mb=2048 -jobs=2 \
#       /tmp/fz/corpus-http /work/main/tests/fuzz/corpus/http
# (new inputs go to the first folder; the seed folder is only read).  To
# shrink what it found into the seed corpus: /tmp/fz/fuzz-http -merge=1
# tests/fuzz/corpus/http /tmp/fz/corpus-http
#
# Adding a crash as a regression case: the runner copies each crash/leak/
# timeout input to tests/fuzz/artifacts/<name>-<kind>-<sha1> in the build
# dir and prints a reproducer command.  Reproduce with
#   /tmp/fz/fuzz-<name> tests/fuzz/artifacts/<name>-crash-<sha1>
# (shrink it with -minimize_crash=1 -runs=10000), copy it to
# tests/fuzz/corpus/<name>/regress-<short-description>, fix the bug, and
# check the target passes on it; the corpus folder is distributed whole.
set -u

long="" want_long=0
while [ $# -gt 0 ]; do
    case $1 in
    --long) [ $# -ge 2 ] || { echo "run-fuzz: --long takes a number of seconds" >&2; exit 2; }
            long=$2 want_long=1; shift ;;
    --long=*) long=${1#--long=} want_long=1 ;;
    *) echo "run-fuzz: usage: $0 [--long SECONDS]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$want_long" -eq 1 ]; then
    case $long in ''|*[!0-9]*|0) echo "run-fuzz: --long takes a whole number of seconds (at least 1)" >&2; exit 2 ;; esac
fi

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${DYNKV_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=${DYNKV_BUILDDIR:-$(pwd)}
list=$srcdir/tests/fuzz/targets.txt
budget=${DK_FUZZ_SECONDS:-20}
max_len=${DK_FUZZ_MAX_LEN:-65536}
cc=${DK_FUZZ_CC:-clang}

case $budget in ''|*[!0-9]*) echo "run-fuzz: DK_FUZZ_SECONDS must be a whole number" >&2; exit 2 ;; esac
case $max_len in ''|*[!0-9]*) echo "run-fuzz: DK_FUZZ_MAX_LEN must be a whole number" >&2; exit 2 ;; esac

# "name: sources" lines, comments and blanks dropped, filtered by
# DK_FUZZ_TARGETS.
targets=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' "$list" 2>/dev/null)
if [ -n "${DK_FUZZ_TARGETS:-}" ]; then
    targets=$(printf '%s\n' "$targets" | while IFS= read -r line; do
        for want in $DK_FUZZ_TARGETS; do
            [ "${line%%:*}" = "$want" ] && printf '%s\n' "$line"
        done
    done)
fi
ntargets=$(printf '%s\n' "$targets" | grep -c .)
if [ "$ntargets" -eq 0 ]; then
    echo "run-fuzz: no fuzz targets listed in $list${DK_FUZZ_TARGETS:+ matching: $DK_FUZZ_TARGETS}"
    echo "# dk-summary: 0 passed, 0 failed, 1 skipped"
    exit 77
fi
per=$((budget / ntargets))
[ "$per" -ge 1 ] || per=1
[ -n "$long" ] && per=$long

if [ -n "${DK_FUZZ_OUT:-}" ]; then
    work=$DK_FUZZ_OUT
    mkdir -p "$work" || exit 2
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/dk-fuzz.XXXXXX") || exit 2
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
fi
artifacts=$builddir/tests/fuzz/artifacts

# Library flags once; a missing library makes every build fail visibly.
libflags=$(pkg-config --cflags --libs libuv jansson libcrypto libxxhash libzstd sqlite3 inih 2>"$work/pkg-config.log")
pkg_ok=$?

passed=0 failed=0
names=""
fail_case() {
    echo "FAIL: fuzz-$1: $2"
    failed=$((failed + 1))
    names="$names $1"
}

# The here-document keeps the loop in this shell so the counters survive.
while IFS= read -r line; do
    name=$(printf '%s' "${line%%:*}" | tr -d '[:space:]')
    srcs=${line#*:}
    case $name in
    ''|*[!a-z0-9_-]*) fail_case "$name" "bad target name in targets.txt: '$line'"; continue ;;
    esac
    bin=$work/fuzz-$name
    blog=$work/build-$name.log
    echo "== fuzz-$name: building"
    if [ "$pkg_ok" -ne 0 ]; then
        cat "$work/pkg-config.log"
        fail_case "$name" "pkg-config failed (install the -dev packages BUILD.md lists)"
        continue
    fi
    paths="" missing=""
    for s in $srcs; do
        [ -f "$srcdir/$s" ] || missing="$missing $s"
        paths="$paths $srcdir/$s"
    done
    if [ -z "$paths" ] || [ -n "$missing" ]; then
        fail_case "$name" "missing sources:${missing:- none listed}"
        continue
    fi
    # shellcheck disable=SC2086 # word splitting of the flag and file lists is intended
    if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer -std=gnu11 -pthread \
            -DDK_FUZZ=1 -DDK_VERSION='"fuzz"' -DPLUGINDIR='"/nonexistent"' \
            -I"$srcdir/framework/include" -I"$srcdir/framework" -I"$srcdir" \
            $paths $libflags -lhttp_parser -ldl -lm -o "$bin" >"$blog" 2>&1; then
        sed -n '1,60p' "$blog"
        fail_case "$name" "does not build"
        continue
    fi

    corpus=$work/corpus-$name
    art=$work/artifacts-$name
    rm -rf "$corpus" "$art"
    mkdir -p "$corpus" "$art"
    seeds=$srcdir/tests/fuzz/corpus/$name
    if [ -d "$seeds" ]; then
        cp -R "$seeds/." "$corpus/" && chmod -R u+w "$corpus"
    fi
    nseeds=$(find "$corpus" -type f | wc -l)
    echo "== fuzz-$name: fuzzing ${per}s from $nseeds seed(s)"
    rlog=$work/run-$name.log
    # timeout(1) is a safety net only: -max_total_time ends a healthy run.
    ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        timeout -k 5 $((per + 60)) "$bin" -max_total_time="$per" -rss_limit_mb=2048 \
            -max_len="$max_len" -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$art/" "$corpus" >"$rlog" 2>&1
    rc=$?
    # slow-unit-* files are reports, not failures
    found=$(find "$art" -type f ! -name 'slow-unit-*' | sort)
    if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
        runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$rlog")
        echo "PASS: fuzz-$name (${runs:-?} runs)"
        passed=$((passed + 1))
        continue
    fi
    tail -n 60 "$rlog"
    mkdir -p "$artifacts"
    for f in $found; do
        keep=$artifacts/$name-$(basename "$f")
        cp "$f" "$keep"
        if [ -n "${DK_FUZZ_OUT:-}" ]; then
            echo "-- input saved as $keep; reproduce: $bin $keep"
        else
            echo "-- input saved as $keep; reproduce: DK_FUZZ_OUT=/tmp/fz DK_FUZZ_TARGETS=$name $0, then /tmp/fz/fuzz-$name $keep"
        fi
        od -A x -t x1z "$f" | head -n 16
    done
    fail_case "$name" "fuzzer exited $rc${found:+ with a crashing input}"
done <<EOF
$targets
EOF

[ -n "$names" ] && echo "failed fuzz targets:$names"
echo "# dk-summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
