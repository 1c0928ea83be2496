#!/usr/bin/env bash
# scripts/check-style.sh SRCDIR [BUILDDIR] - the mechanical part of STYLE.md:
#  1. include layering: framework/<a>/ includes framework/<b>/ only when
#     framework/LAYERS allows it; no folder includes another's *_int.h;
#     plugins include only "dynkv/..." and "util/..." of the framework;
#  2. every C file opens with a design comment;
#  3. every symbol the core library exports starts with dk_ or dk__
#     (checked on BUILDDIR's framework/.libs/libdynkv.a when it exists);
#  4. the C layout of .clang-format (scripts/format.sh --check), once the
#     tree has been formatted: the commit that did it added .format-applied.
# Prints one line per violation and exits 1 if there is any.
set -uo pipefail
src=${1:-.}
build=${2:-}
cd "$src" || exit 2
bad=0
say() { echo "check-style: $*"; bad=1; }

declare -A allow
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    allow[${line%%:*}]=" ${line#*:} "
done < framework/LAYERS

for f in $(find framework -name '*.[ch]' -not -path 'framework/include/*' | sort); do
    own=${f#framework/}; own=${own%%/*}
    [ -n "${allow[$own]+x}" ] || { say "$f: folder '$own' is not in framework/LAYERS"; continue; }
    while IFS=: read -r ln inc; do
        dir=${inc%%/*}
        [ "$dir" = "$inc" ] && { say "$f:$ln: include \"$inc\" without its folder"; continue; }
        [ "$dir" = dynkv ] && continue
        if [ "$dir" != "$own" ]; then
            case "${allow[$own]}" in *" $dir "*) ;; *) say "$f:$ln: $own/ may not include $inc (framework/LAYERS)" ;; esac
            case "$inc" in *_int.h) say "$f:$ln: $inc is private to $dir/" ;; esac
        fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed -E 's/^([0-9]+):.*"([^"]+)".*/\1:\2/')
done

for d in engines compaction conflict plugins; do
    [ -d "$d" ] || continue
    while IFS=: read -r f ln inc; do
        case "$inc" in
            dynkv/*|util/*) ;;
            *) [ -f "$(dirname "$f")/$inc" ] || say "$f:$ln: a plugin includes only dynkv/, util/ and its own files, not \"$inc\"" ;;
        esac
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $(find "$d" -name '*.[ch]') /dev/null |
             sed -E 's/^([^:]+):([0-9]+):.*"([^"]+)".*/\1:\2:\3/')
done

for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './_build/*'); do
    first=$(grep -m1 -vE '^[[:space:]]*$' "$f")
    case "$first" in '/*'*|'//'*) ;; *) say "$f:1: no design comment at the top" ;; esac
done

lib=${build:+$build/framework/.libs/libdynkv.a}
if [ -n "$lib" ] && [ -f "$lib" ]; then
    for s in $(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u); do
        case "$s" in dk_*|dk__*) ;; *) say "$lib exports $s (exported names start with dk_)" ;; esac
    done
fi
if [ -f .format-applied ]; then
    while IFS= read -r line; do
        case "$line" in "format: ok"*|*"not found, skipping"*) echo "check-style: $line" ;; *) say "${line#format: }" ;; esac
    done < <(scripts/format.sh --check .)
fi
[ $bad -eq 0 ] && echo "check-style: ok"
exit $bad
