#!/bin/sh
# scripts/get-promtool.sh [CACHE_DIR] - print the path of a promtool binary,
# fetching one if needed: $PROMTOOL, then `promtool` on $PATH, then
# CACHE_DIR/usr/bin/promtool, else `apt-get download prometheus` (Debian's
# package carries promtool but would install a whole server) unpacked with
# `dpkg -x` into CACHE_DIR (default ${TMPDIR:-/tmp}/dynkv-tools/prometheus).
# Exits 1 with the reason on stderr when none can be had (no package
# archive, not Debian). Nothing is installed system-wide.
set -u
cache=${1:-${TMPDIR:-/tmp}/dynkv-tools/prometheus}
if [ -n "${PROMTOOL:-}" ] && [ -x "$PROMTOOL" ]; then echo "$PROMTOOL"; exit 0; fi
if p=$(command -v promtool 2>/dev/null); then echo "$p"; exit 0; fi
if [ -x "$cache/usr/bin/promtool" ]; then echo "$cache/usr/bin/promtool"; exit 0; fi
command -v apt-get >/dev/null 2>&1 || { echo "get-promtool: no promtool and no apt-get" >&2; exit 1; }
dl=$(mktemp -d "${TMPDIR:-/tmp}/dk-promtool.XXXXXX") || exit 1
trap 'rm -rf "$dl"' EXIT INT TERM
# apt-get download writes into the current folder; as root it warns that
# the _apt user cannot write there, which is harmless.
if ! (cd "$dl" && chmod 755 . && apt-get download -q prometheus >download.log 2>&1); then
    echo "get-promtool: apt-get download prometheus failed (is the package archive reachable?):" >&2
    tail -n 3 "$dl/download.log" >&2
    exit 1
fi
mkdir -p "$cache.tmp.$$" || exit 1
if ! dpkg -x "$dl"/prometheus_*.deb "$cache.tmp.$$" || [ ! -x "$cache.tmp.$$/usr/bin/promtool" ]; then
    rm -rf "$cache.tmp.$$"
    echo "get-promtool: the prometheus package holds no usr/bin/promtool" >&2
    exit 1
fi
# Keep only promtool; several runs may race here, the first rename wins.
mkdir -p "$cache.tmp.$$/keep/usr/bin" && mv "$cache.tmp.$$/usr/bin/promtool" "$cache.tmp.$$/keep/usr/bin/"
mkdir -p "$(dirname "$cache")"
mv "$cache.tmp.$$/keep" "$cache" 2>/dev/null || true
rm -rf "$cache.tmp.$$"
[ -x "$cache/usr/bin/promtool" ] || { echo "get-promtool: could not unpack into $cache" >&2; exit 1; }
echo "$cache/usr/bin/promtool"
