# tests/vendor/lib.sh - shell helpers shared by tests/vendor/run-*.sh
# (sourced, not run): a scratch folder removed at exit, dynkvd processes
# started and always stopped by pid, HTTP through Python's http.client, and
# the case counters behind the closing "# dk-summary: P passed, F failed"
# line that tests/summary.sh reads.
#
# Uses DYNKV_SRCDIR, DYNKV_BUILDDIR and DYNKV_PLUGIN_PATH as `make check`
# sets them; run by hand from the build dir, they default to the source tree
# this file is in, the current folder and its .libs.

vt_here=$(cd "$(dirname "$0")" && pwd)
DYNKV_SRCDIR=${DYNKV_SRCDIR:-$(cd "$vt_here/../.." && pwd)}
DYNKV_BUILDDIR=${DYNKV_BUILDDIR:-$(pwd)}
DYNKV_PLUGIN_PATH=${DYNKV_PLUGIN_PATH:-$DYNKV_BUILDDIR/.libs}
VT_PY=/usr/bin/python3
[ -x "$VT_PY" ] || VT_PY=python3

vt_passed=0 vt_failed=0 vt_pids=""
vt_tmp=$(mktemp -d "${TMPDIR:-/tmp}/dk-vendor.XXXXXX") || exit 99

vt_cleanup() {
    for p in $vt_pids; do
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$vt_tmp"
}
trap vt_cleanup EXIT
trap 'exit 130' INT TERM

vt_pass() { echo "PASS: $1"; vt_passed=$((vt_passed + 1)); }
vt_fail() { echo "FAIL: $1"; vt_failed=$((vt_failed + 1)); }
# vt_check NAME COMMAND...: one case, passing when COMMAND succeeds;
# returns 1 when it failed.
vt_check() {
    vt_name=$1
    shift
    if "$@"; then vt_pass "$vt_name"; else vt_fail "$vt_name"; return 1; fi
}

# Print the summary and exit: non-zero on any failure or when nothing ran.
vt_finish() {
    echo "# dk-summary: $vt_passed passed, $vt_failed failed"
    [ "$vt_failed" -eq 0 ] && [ "$vt_passed" -gt 0 ]
    exit $?
}

# A TCP port free on 127.0.0.1 right now.
vt_free_port() {
    "$VT_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# vt_start LOG DYNKVD ARGS...: start a node with stdout and stderr in LOG
# and wait (20 s at most) for its "serving http://" line. Sets vt_pid.
# Returns 1, with the log shown, when the node exits or never serves.
vt_start() {
    vt_log=$1
    shift
    # Empty LOG here, not in the background job: its redirection may run
    # after the first grep below, which would then see the previous run's
    # "serving" line and return before this node listens.
    : >"$vt_log"
    "$@" >>"$vt_log" 2>&1 &
    vt_pid=$!
    vt_pids="$vt_pids $vt_pid"
    vt_i=0
    while [ $vt_i -lt 200 ]; do
        grep -q 'serving http://' "$vt_log" && return 0
        kill -0 "$vt_pid" 2>/dev/null || break
        sleep 0.1
        vt_i=$((vt_i + 1))
    done
    echo "-- dynkvd did not start serving; its log ($vt_log):"
    sed -n '1,40p' "$vt_log"
    return 1
}

# vt_stop PID: SIGTERM, wait for the exit (20 s at most, then SIGKILL);
# returns 0 only when the node exited 0.
vt_stop() {
    kill -TERM "$1" 2>/dev/null || return 1
    vt_i=0
    while kill -0 "$1" 2>/dev/null && [ $vt_i -lt 200 ]; do
        sleep 0.1
        vt_i=$((vt_i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1"
    vt_rc=$?
    vt_pids=$(for p in $vt_pids; do [ "$p" = "$1" ] || printf ' %s' "$p"; done)
    [ "$vt_rc" -eq 0 ] || echo "-- dynkvd (pid $1) exited $vt_rc"
    return "$vt_rc"
}

# vt_http METHOD URL [BODY]: print "STATUS BODY" (the raw value for a GET:
# Accept: application/octet-stream); status 000 when no answer came.
vt_http() {
    "$VT_PY" - "$@" <<'EOF'
import http.client, sys, urllib.parse
method, url = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
u = urllib.parse.urlsplit(url)
headers = {"Accept": "application/octet-stream"}
try:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=headers)
    r = c.getresponse()
    sys.stdout.write("%d %s" % (r.status, r.read().decode("latin-1")))
except OSError as e:
    sys.stdout.write("000 %s" % e)
EOF
}

# vt_expect NAME WANT METHOD URL [BODY]: one case comparing vt_http's output.
vt_expect() {
    vt_name=$1 vt_want=$2
    shift 2
    vt_got=$(vt_http "$@")
    if [ "$vt_got" = "$vt_want" ]; then
        vt_pass "$vt_name"
    else
        vt_fail "$vt_name: $* gave '$(printf '%s' "$vt_got" | head -c 300)', expected '$vt_want'"
    fi
}

# vt_status NAME WANT METHOD URL [BODY]: one case comparing only the status.
vt_status() {
    vt_name=$1 vt_want=$2
    shift 2
    vt_got=$(vt_http "$@")
    if [ "${vt_got%% *}" = "$vt_want" ]; then
        vt_pass "$vt_name"
    else
        vt_fail "$vt_name: $* gave '$(printf '%s' "$vt_got" | head -c 300)', expected status $vt_want"
    fi
}
