# bench/load/cluster-lib.sh - what run-cluster.sh needs beyond common.sh: a
# second dynkv cluster beside the one cluster_up makes, so that two
# configurations (durable and storage.sync = false) run rounds side by side
# in one run, as the peer does. Sourced after common.sh; not executable on
# its own.

# cluster2_up DIR CREATE-OPTION...: a second cluster in DIR (under $TMP),
# made with `tools/dynkv-cluster create DIR CREATE-OPTION...` on ports free
# now (the first cluster's are taken, so they differ), and started. Sets
# CL2, TARGETS2 (host:port, comma separated) and PIDS2 (the three dynkvd);
# cluster2_down removes it (the caller's EXIT trap calls it too).
cluster2_up() {
    CL2=$1
    shift
    c2_port=$(free_port 127.0.0.1 127.0.0.2 127.0.0.3) || die "no free port for the second cluster"
    python3 "$CTL" create "$CL2" "$@" --base-port "$c2_port" >/dev/null
    python3 "$CTL" start "$CL2" --timeout 60 >"$CL2.start.log" 2>&1 ||
        { cat "$CL2.start.log" >&2; die "the second cluster did not start"; }
    TARGETS2=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(",".join("%s:%d" % (n["ip"], n["http"]) for n in d["nodes"]))' "$CL2/cluster.json")
    PIDS2=$(cat "$CL2"/n*/pid)
}

# cluster2_down: stop and remove the second cluster, if there is one.
cluster2_down() {
    [ -n "${CL2:-}" ] && [ -f "$CL2/cluster.json" ] && python3 "$CTL" destroy "$CL2" >/dev/null 2>&1
    CL2=''
}
