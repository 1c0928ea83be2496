#!/usr/bin/env bash
# scripts/format.sh [--check|--apply] [SRCDIR] - the C layout of .clang-format.
#   --check  list the tracked *.c/*.h files clang-format would change and
#            exit 1 if there is any (0 with a message when clang-format is
#            not installed, so a machine without it still builds);
#   --apply  rewrite those files in place.
# Files matching a glob of .clang-format-ignore are skipped; hand-aligned
# tables inside a file sit between /* clang-format off */ and .. on */.
set -uo pipefail
mode=${1:---check}
src=${2:-.}
cd "$src" || exit 2
case "$mode" in --check|--apply) ;; *) echo "usage: $0 [--check|--apply] [SRCDIR]" >&2; exit 2 ;; esac
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
    echo "format: $cf not found, skipping (apt-get install clang-format)"
    exit 0
fi

ignore=()
if [ -f .clang-format-ignore ]; then
    while IFS= read -r line; do
        case "$line" in ''|'#'*) continue ;; esac
        ignore+=("$line")
    done < .clang-format-ignore
fi
# The tracked C files; outside a git checkout (a release tarball, also one
# unpacked inside a checkout by make distcheck) every C file but builds'.
list_c_files() {
    local top
    top=$(git rev-parse --show-toplevel 2>/dev/null)
    if [ -n "$top" ] && [ "$top" -ef . ]; then
        git ls-files '*.c' '*.h'
    else
        find . -name '*.[ch]' -not -path './_build*' -not -path './dynkv-*' | sed 's|^\./||'
    fi
}

files=()
while IFS= read -r f; do
    for g in "${ignore[@]+"${ignore[@]}"}"; do
        # shellcheck disable=SC2254
        case "$f" in $g) continue 2 ;; esac
    done
    files+=("$f")
done < <(list_c_files)
[ ${#files[@]} -gt 0 ] || { echo "format: no C files"; exit 0; }

if [ "$mode" = --apply ]; then
    printf '%s\0' "${files[@]}" | xargs -0 -n 50 "$cf" -i --style=file || exit 1
    echo "format: formatted ${#files[@]} files"
    exit 0
fi
# --dry-run names each line it would change as FILE:LINE:COL: warning/error.
bad=$(printf '%s\0' "${files[@]}" | xargs -0 -n 50 "$cf" --style=file --dry-run 2>&1 |
      sed -nE 's/^([^:]+):[0-9]+:[0-9]+: (warning|error): .*/\1/p' | sort -u)
for f in $bad; do echo "format: $f is not formatted (scripts/format.sh --apply)"; done
[ -n "$bad" ] && exit 1
echo "format: ok (${#files[@]} files)"
