# bench/mem-bound.sh - sourced by the benchmark scripts that start servers
# (bench/load/common.sh, bench/run-engines.sh): mem_bound and mem_unbound.
# Not executable on its own.

# mem_bound: put this script, and so every server, peer and load generator
# it starts, in a memory cgroup of MEM_LIMIT bytes (default 2G; a numfmt
# --from=iec size; 0: no bound). Why: on a virtual machine whose free memory
# goes back to the host (Firecracker's free page reporting here), the first
# write to a page not used lately costs a host fault (~10 us per 4 KiB), so a
# store writing new files into an unbounded page cache on an idle machine
# pays for every page it writes; a server whose memory is full reclaims and
# reuses its pages instead, which is what the bound makes happen (see
# bench/results/membound-2026-12-05-s11.md). Both sides of a comparison run
# under the same bound. Sets MEM_BOUND (for the report) and MEM_CG (the
# cgroup folder, removed by load_cleanup). Needs root and a memory
# controller (v2 or v1); without them the run goes on unbounded and says so.
mem_bound() {
    MEM_CG=
    mb_lim=${MEM_LIMIT:-2G}
    if [ "$mb_lim" = 0 ]; then
        MEM_BOUND="none (MEM_LIMIT=0)"
        return 0
    fi
    mb_bytes=$(numfmt --from=iec "$mb_lim" 2>/dev/null) || { echo "MEM_LIMIT=$mb_lim is not a size" >&2; exit 2; }
    if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        MEM_CG_ROOT=/sys/fs/cgroup mb_file=memory.max
    elif [ -d /sys/fs/cgroup/memory ]; then
        MEM_CG_ROOT=/sys/fs/cgroup/memory mb_file=memory.limit_in_bytes
    else
        MEM_BOUND="none (no memory cgroup on this machine)"
        return 0
    fi
    MEM_CG=$MEM_CG_ROOT/dk-bench-$$
    if mkdir "$MEM_CG" 2>/dev/null && echo "$mb_bytes" >"$MEM_CG/$mb_file" &&
        echo $$ >"$MEM_CG/cgroup.procs"; then
        MEM_BOUND="$mb_lim ($MEM_CG)"
    else
        rmdir "$MEM_CG" 2>/dev/null
        MEM_CG=
        MEM_BOUND="none (could not make a memory cgroup: not root?)"
    fi
    echo "== memory bound: $MEM_BOUND" >&2
}

# mem_unbound: leave and remove mem_bound's cgroup (after the servers ended).
mem_unbound() {
    [ -n "${MEM_CG:-}" ] || return 0
    echo $$ >"$MEM_CG_ROOT/cgroup.procs" 2>/dev/null
    rmdir "$MEM_CG" 2>/dev/null
    MEM_CG=
}

# mem_outside_exec CMD...: exec CMD outside mem_bound's cgroup. Only as a
# background job (`mem_outside_exec CMD... &`: the job becomes CMD, so $!
# is its pid). For a peer that keeps its whole data set in memory (Redis
# without persistence under Dynomite): the bound would make it fail (the
# OOM killer ends it once the PUT peaks wrote more than the bound), and it
# writes no files, so the bound's reason does not apply to it.
mem_outside_exec() {
    if [ -n "${MEM_CG:-}" ]; then
        exec sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' mem_outside_exec "$MEM_CG_ROOT" "$@"
    fi
    exec "$@"
}
