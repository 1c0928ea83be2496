"""Black-box helpers for dynkvd: start a real node, talk HTTP to it.

A Node is one dynkvd process on a fresh temporary directory (data dir plus a
log file holding its stdout and stderr) with its HTTP API on a free
127.0.0.1 port and its RPC and gossip sockets on port 0.  Nodes are started
by the fixtures in conftest.py, which always stop them (SIGTERM, then SIGKILL)
and remove their directories, even when a test fails.

Requests go through http.client (one fresh connection per request, so one
test's broken connection never leaks into the next) or through raw sockets
(RawConn) when a test needs malformed input, pipelining or chunked bodies.
Only the Python standard library is used.
"""

import atexit
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

BUILDDIR = os.environ.get("DYNKV_BUILDDIR") or os.getcwd()
PLUGIN_PATH = os.environ.get("DYNKV_PLUGIN_PATH") or os.path.join(BUILDDIR, ".libs")
DYNKVD = os.environ.get("DYNKVD") or os.path.join(BUILDDIR, "server", "dynkvd")

# Bounds on a start (until GET /health answers) and a stop (SIGTERM until
# exit), not targets: the black-box suite also runs under the sanitizer
# build (2-5x slower) beside the other suites on a loaded CI machine, and a
# clean stop of the lsm engine drains, flushes its memtable and runs
# LeakSanitizer's exit check (drain_timeout alone is 30 s by default).
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
IO_TIMEOUT = 15.0
MIB = 1024 * 1024

# Every node ever created by this process, so a failing test's report can
# carry the logs of the nodes involved (conftest.py reads it).
ALL_NODES = []


def have_engine(name):
    return os.path.exists(os.path.join(PLUGIN_PATH, "engine-%s.so" % name))


def free_port():
    return free_ports(1)[0]


def free_ports(n):
    """n distinct ports free now on 127.0.0.1: each socket stays bound
    until all are chosen (one at a time, the kernel may hand out the same
    port twice, and a node then refuses http_listen = rpc_listen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def quote_key(key):
    """Percent-encode every byte of a key that is not unreserved."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    return urllib.parse.quote_from_bytes(key, safe="")


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text.encode("ascii"), validate=True)


@atexit.register
def _kill_leftovers():
    """Last resort when pytest itself is interrupted: no daemon outlives the
    run (fixtures normally stop every node)."""
    for n in ALL_NODES:
        if n.proc is not None and n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait()
        if n.own_root:
            shutil.rmtree(n.root, ignore_errors=True)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as received
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError("response %d is not JSON (%s): %r"
                                 % (self.status, e, self.body[:300]))

    def __repr__(self):
        return "<Response %d %r body=%r>" % (self.status, self.headers, self.body[:300])


class Node:
    """One dynkvd process.  `sets` are extra `--set key=value` strings;
    `wrapper` is a command the daemon runs under (its argv is appended), for
    example one that mounts a small file system first and then execs."""

    def __init__(self, engine="memory", sets=(), root=None, wrapper=()):
        self.engine = engine
        self.sets = list(sets)
        self.wrapper = list(wrapper)
        self.extra_args = []  # more dynkvd arguments, e.g. ["--config", path]
        self.own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="dynkv-bb-")
        self.data_dir = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "dynkvd.log")
        self.proc = None
        self.port = None
        self.log_text = ""
        self.runs = 0
        ALL_NODES.append(self)

    # -- process control ---------------------------------------------------

    def argv(self, port):
        argv = [DYNKVD,
                "--set", "node.data_dir=" + self.data_dir,
                "--set", "node.http_listen=127.0.0.1:%d" % port,
                "--set", "storage.engine=" + self.engine,
                "--set", "storage.plugin_dir=" + PLUGIN_PATH,
                "--set", "node.rpc_listen=127.0.0.1:0",
                "--set", "node.gossip_listen=127.0.0.1:0"]
        for s in self.sets:
            argv += ["--set", s]
        return argv + self.extra_args

    def spawn(self, port):
        """Start the process without waiting for it to serve."""
        if not os.path.exists(DYNKVD):
            raise AssertionError("dynkvd not found at %s (build it first)" % DYNKVD)
        self.runs += 1
        log = open(self.log_path, "ab")
        log.write(("\n=== run %d: %s\n" % (self.runs, " ".join(self.argv(port)))).encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(self.wrapper + self.argv(port), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        self.port = port

    def start(self, path="/health"):
        """Start and poll GET `path` (/health, the readiness alias, or
        /livez for a node that is not meant to become ready) until 200.  A
        fresh port is chosen on every attempt; an attempt whose process
        exits early (port taken between our probe and its bind) is retried
        twice."""
        for attempt in range(3):
            self.spawn(free_port())
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    r = self.request("GET", path, timeout=1.0)
                    if r.status == 200:
                        return self
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.kill()
                raise AssertionError("dynkvd did not answer GET %s with 200 within %.0f s\n%s"
                                     % (path, START_TIMEOUT, self.read_log()))
            # reported here; teardown must not count it again as a bad stop
            status, self.proc = self.proc.returncode, None
            if attempt == 2 or "in use" not in self.read_log().lower():
                raise AssertionError("dynkvd exited with status %d at start\n%s"
                                     % (status, self.read_log()))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send `sig`, wait up to `timeout`, SIGKILL if still alive.  Returns
        the exit status (negative for a signal, as subprocess reports), or
        None when the process had to be killed."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
        return self._lsan_tool_crash(rc)

    def _lsan_tool_crash(self, rc):
        """Under the sanitizer build, LeakSanitizer's own tracer thread now
        and then crashes in the exit-time leak check ("Tracer caught signal
        11" / "LeakSanitizer has encountered a fatal error"; seen once in
        ~450 stops) after the node stopped cleanly. That is the tool failing,
        not the node: count it as the clean exit the log shows, unless a leak
        or any other sanitizer report is there too."""
        if rc != 1:
            return rc
        log = self.read_log()
        tail = log[log.rfind("=== run "):]
        if ("LeakSanitizer has encountered a fatal error" in tail and "Tracer caught signal" in tail
                and " INFO stopped" in tail and "detected memory leaks" not in tail
                and "ERROR: AddressSanitizer" not in tail and "runtime error:" not in tail):
            sys.stderr.write("dkbb: %s: LeakSanitizer's tracer crashed after a clean stop; counted as exit 0\n"
                             % self.log_path)
            return 0
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def restart(self, sets=None):
        """SIGTERM (must exit 0), then start again on the same data dir."""
        rc = self.stop()
        assert rc == 0, "dynkvd exited %r on SIGTERM\n%s" % (rc, self.read_log())
        if sets is not None:
            self.sets = list(sets)
        return self.start()

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                self.log_text = f.read().decode("utf-8", "replace")
        except OSError:
            pass
        return self.log_text

    def cleanup(self):
        """Stop (killing if needed) and remove the directory.  Returns the
        status stop() returned."""
        rc = self.stop()
        self.read_log()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        return rc

    # -- HTTP --------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=IO_TIMEOUT):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.reason, r.getheaders(), data)
        finally:
            conn.close()

    def put(self, key, value, headers=None):
        if isinstance(value, str):
            value = value.encode()
        return self.request("PUT", "/kv/" + quote_key(key), body=value, headers=headers)

    def get(self, key, headers=None):
        return self.request("GET", "/kv/" + quote_key(key), headers=headers)

    def delete(self, key, headers=None):
        return self.request("DELETE", "/kv/" + quote_key(key), headers=headers)

    def put_ok(self, key, value, headers=None):
        r = self.put(key, value, headers)
        assert r.status == 200, "PUT %r: %r" % (key, r)
        return r.json()

    def get_value(self, key):
        """The single value of a key (asserting no conflict), or None on 404."""
        r = self.get(key)
        if r.status == 404:
            return None
        assert r.status == 200, "GET %r: %r" % (key, r)
        j = r.json()
        assert not j.get("conflict"), "unexpected siblings for %r: %r" % (key, j)
        return unb64(j["value"])

    def scan(self, prefix, limit=None, cursor=None):
        q = [("prefix", prefix)]
        if limit is not None:
            q.append(("limit", str(limit)))
        if cursor is not None:
            q.append(("cursor", cursor))
        return self.request("GET", "/kv?" + urllib.parse.urlencode(q))

    def scan_all(self, prefix, limit=None, max_pages=10000):
        """Follow cursors to the end; returns (pairs, page_count)."""
        pairs, cursor, pages = [], None, 0
        while True:
            r = self.scan(prefix, limit, cursor)
            assert r.status == 200, "scan %r cursor %r: %r" % (prefix, cursor, r)
            j = r.json()
            assert isinstance(j.get("pairs"), list), j
            if limit is not None:
                assert len(j["pairs"]) <= limit, "page longer than limit %d" % limit
            pairs += j["pairs"]
            pages += 1
            cursor = j.get("cursor", "missing")
            assert cursor is None or (isinstance(cursor, str) and cursor), \
                "cursor must be null or a non-empty string: %r" % (cursor,)
            if cursor is None:
                return pairs, pages
            assert pages < max_pages, "scan does not terminate"

    def metrics(self):
        r = self.request("GET", "/metrics")
        assert r.status == 200, r
        return r

    def assert_still_serving(self, key=None, value=None):
        """After a bad request: a fresh connection's /health is 200 and a
        previously stored key still reads back."""
        assert self.alive(), "dynkvd died\n" + self.read_log()
        r = self.request("GET", "/health")
        assert r.status == 200, "health after bad request: %r" % r
        if key is not None:
            assert self.get_value(key) == value, "stored key %r lost" % key


class RawConn:
    """A raw TCP connection for byte-exact requests and response parsing."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_tolerant(self, data, chunk=65536):
        """Send as much of `data` as the peer accepts; a server that answers
        early and closes may reset the connection.  Returns bytes sent."""
        sent = 0
        try:
            while sent < len(data):
                sent += self.sock.send(data[sent:sent + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sent

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by server")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, head_request=False):
        """Parse one HTTP/1.x response (Content-Length, chunked, or until
        close) and return a Response."""
        status_line = self._line().decode("latin-1")
        parts = status_line.split(" ", 2)
        assert len(parts) >= 2 and parts[0].startswith("HTTP/1."), \
            "bad status line %r" % status_line
        status = int(parts[1])
        headers = []
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        resp = Response(status, parts[2] if len(parts) > 2 else "", headers, b"")
        if head_request or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if "chunked" in te:
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._take(size)
                self._take(2)
            resp.body = body
        elif cl is not None:
            resp.body = self._take(int(cl))
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def at_eof(self, timeout=5.0):
        """True when the server closes the connection within `timeout`
        (a reset counts as closed) and sends nothing more."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return data == b"" and not self.buf


def request_bytes(method, path, headers=(), body=None, version="HTTP/1.1"):
    """Build a request; Content-Length is added for a body unless given."""
    lines = ["%s %s %s" % (method, path, version), "Host: 127.0.0.1"]
    names = {h[0].lower() for h in headers}
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return data + (body or b"")


def chunked(pieces):
    """Encode `pieces` (list of bytes) as a chunked body with its last-chunk."""
    out = b""
    for p in pieces:
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n\r\n"


def wait_until(pred, timeout, interval=0.05):
    """Poll `pred` until it returns a true value or `timeout` passes; returns
    the last result."""
    deadline = time.monotonic() + timeout
    while True:
        res = pred()
        if res or time.monotonic() >= deadline:
            return res
        time.sleep(interval)


def pytest_terminal_summary(terminalreporter):
    """pytest hook shared by the blackbox and cluster conftest.py files (each
    imports it): write "passed failed skipped" to the file named by
    $DK_PYTEST_COUNTS, which tests/run-pytest.sh reads.  Errors count as
    failed, xpassed as passed, xfailed as skipped."""
    path = os.environ.get("DK_PYTEST_COUNTS")
    if not path:
        return
    st = terminalreporter.stats
    passed = len(st.get("passed", [])) + len(st.get("xpassed", []))
    failed = len(st.get("failed", [])) + len(st.get("error", []))
    skipped = len(st.get("skipped", [])) + len(st.get("xfailed", []))
    with open(path, "w") as f:
        f.write("%d %d %d\n" % (passed, failed, skipped))
