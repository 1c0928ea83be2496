"""Safe process behaviour: SIGHUP reopens the log (logrotate) and reloads
the log level, SIGTERM drains (no new connections, the request in flight
is answered, exit 0) within drain_timeout, also when sent the moment the
node first answers, a node refuses an HTTP, RPC or
gossip address that is in use, `dynkvd --check-config` reports every
error at once without touching a data directory, and a bad plugin name
leaves no data directory behind."""

import os
import signal
import socket
import time

import pytest

import dkbb
from dkbb import Node, wait_until
from test_ops import base_sets, run_dynkvd


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def accepts(port):
    """True when a TCP connection to 127.0.0.1:port is accepted."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def start_request(c, head):
    """Send a PUT's head with Expect: 100-continue and wait for the 100:
    from then on the node holds the request in flight (a fixed pause was
    not enough on a loaded machine: a SIGTERM that came before the node
    had accepted the connection found nothing to drain)."""
    c.send(head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n", 1))
    r = c.read_response()
    assert r.status == 100, r


def test_sighup_reopens_log_and_reloads_level(make_node):
    n = make_node("memory", start=False)
    os.makedirs(n.root, exist_ok=True)
    log = os.path.join(n.root, "node.log")
    ini = os.path.join(n.root, "node.ini")
    with open(ini, "w") as f:
        f.write("[node]\nlog_level = info\nlog_file = %s\n" % log)
    n.extra_args = ["--config", ini]
    n.start()
    assert "serving http://" in read(log), read(log)
    # logrotate: rename the file, then SIGHUP
    os.rename(log, log + ".1")
    n.put_ok("hup-1", b"x")
    n.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "SIGHUP: log reopened" in read(log), 15), \
        "no new log file after SIGHUP:\n" + read(log + ".1")[-2000:]
    assert "level info" in read(log)
    assert "serving http://" in read(log + ".1") and "serving http://" not in read(log)
    assert n.alive() and n.get_value("hup-1") == b"x"
    # a changed level is applied
    with open(ini, "w") as f:
        f.write("[node]\nlog_level = debug\nlog_file = %s\n" % log)
    n.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "level debug" in read(log), 15), read(log)
    # a configuration that no longer loads keeps the settings and the node
    with open(ini, "w") as f:
        f.write("[node]\nlog_level = loud\n")
    n.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "does not load" in read(log), 15), read(log)
    assert "log_level = loud" in read(log)
    n.put_ok("hup-2", b"y")
    assert n.stop() == 0, read(log)
    assert "stopped" in read(log)


def test_sigterm_drains_the_request_in_flight(make_node, engine):
    n = make_node(engine)
    with dkbb.RawConn(n.port) as c:
        start_request(c, b"PUT /kv/drain-key HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        c.send(b"hello")
        time.sleep(0.2)
        n.proc.send_signal(signal.SIGTERM)

        assert wait_until(lambda: not accepts(n.port), 15), "still accepting connections after SIGTERM"
        c.send(b"world")
        r = c.read_response()
        assert r.status == 200, r
        assert (r.header("Connection") or "").lower() == "close", r.headers
        assert c.at_eof()
    rc = n.proc.wait(dkbb.STOP_TIMEOUT)
    assert rc == 0, n.read_log()
    log = n.read_log()
    assert "draining" in log and "engine flushed" in log and "stopped" in log, log[-2000:]
    n.proc = None
    # what was answered 200 during the drain is there after a restart (lsm)
    n.start()
    if engine == "lsm":
        assert n.get_value("drain-key") == b"helloworld"


def test_stop_signal_right_after_start_still_drains(make_node):
    """The HTTP port accepts connections (and loop 1 answers) before loop
    0 has installed the signal handlers; a SIGTERM sent the moment the
    port accepts waits for them (it used to kill the node, exit -15,
    without a drain)."""
    for i in range(5):
        n = make_node("memory", ["node.loop_threads=2"], start=False)
        n.spawn(dkbb.free_port())
        assert wait_until(lambda: accepts(n.port), dkbb.START_TIMEOUT, 0.001), n.read_log()
        n.proc.send_signal(signal.SIGTERM)
        rc = n.proc.wait(dkbb.STOP_TIMEOUT)
        log = n.read_log()
        n.proc = None
        assert rc == 0, "start %d: exit %r\n%s" % (i, rc, log[-2000:])
        assert "draining" in log and "stopped" in log, log[-2000:]


def test_drain_timeout_bounds_the_wait(make_node):
    n = make_node("memory", ["node.drain_timeout=1s"])
    with dkbb.RawConn(n.port) as c:
        start_request(c, b"PUT /kv/never HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        c.send(b"hel")
        time.sleep(0.2)
        t0 = time.monotonic()
        n.proc.send_signal(signal.SIGTERM)
        rc = n.proc.wait(dkbb.STOP_TIMEOUT)
        took = time.monotonic() - t0
    assert rc == 1, "exit %r after the drain timeout\n%s" % (rc, n.read_log())
    assert 0.8 < took < 10, took    # 1 s, not the default 30 s (sanitizer build: slower exit)
    assert "drain_timeout" in n.read_log()
    n.proc = None


@pytest.mark.parametrize("which", ["http_listen", "rpc_listen", "gossip_listen"])
def test_address_in_use_refused(make_node, which):
    ports = dkbb.free_ports(3)
    first = make_node("memory", ["node.rpc_listen=127.0.0.1:%d" % ports[1],
                                 "node.gossip_listen=127.0.0.1:%d" % ports[2]])
    taken = {"http_listen": "127.0.0.1:%d" % first.port,
             "rpc_listen": "127.0.0.1:%d" % ports[1],
             "gossip_listen": "127.0.0.1:%d" % ports[2]}[which]
    second = Node("memory", ["node.id=n2", "node.%s=%s" % (which, taken)])
    try:
        argv = second.argv(dkbb.free_port())
        rc, out = run_dynkvd(argv[1:], timeout=15)
    finally:
        second.cleanup()
    assert rc == 1, "a second node started on %s's %s:\n%s" % (which, taken, out)
    assert "in use" in out.lower(), out
    assert first.alive() and first.request("GET", "/readyz").status == 200
    # the first node still answers every request itself
    for i in range(10):
        first.put_ok("addr-%d" % i, b"x")


def test_check_config_reports_every_error(tmp_path):
    data = tmp_path / "data"
    ini = tmp_path / "node.ini"
    ini.write_text("[node]\n"
                   "id = Bad Id\n"                          # 2
                   "data_dir = %s\n"                         # 3
                   "weight = 500\n"                          # 4
                   "this line is not ini\n"                  # 5
                   "[nosuch]\n"                              # 6
                   "x = 1\n"
                   "[storage]\n"                             # 8
                   "engine = nosuch\n"                       # 9
                   "plugin_dir = %s\n"                       # 10
                   "bogus = 1\n"                             # 11
                   "[cluster]\n"
                   "n_replicas = 0\n" % (data, dkbb.PLUGIN_PATH))   # 13
    rc, out = run_dynkvd(["--check-config", str(ini), "--set", "node.loop_threads=65"])
    assert rc == 2, out
    for want in ("node.ini:2:", "node.ini:4:", "node.ini:5:", "node.ini:6:", "node.ini:11:",
                 "node.ini:13:", "loop_threads", "engine-nosuch", "8 errors"):
        assert want in out, "%r missing from:\n%s" % (want, out)
    assert "node.ini:7:" not in out, "keys of an unknown section reported again:\n" + out
    assert not data.exists(), "--check-config created the data directory"


def test_check_config_accepts_a_valid_file(tmp_path):
    data = tmp_path / "data"
    ini = tmp_path / "node.ini"
    ini.write_text("[node]\ndata_dir = %s\n[storage]\nengine = memory\nplugin_dir = %s\n"
                   % (data, dkbb.PLUGIN_PATH))
    rc, out = run_dynkvd(["--check-config", str(ini)])
    assert rc == 0, out
    assert "configuration OK" in out and "engine memory" in out, out
    assert not data.exists()
    # a missing file is one error
    rc, out = run_dynkvd(["--check-config", str(tmp_path / "missing.ini")])
    assert rc == 2 and "missing.ini" in out and "1 error" in out, out


def test_bad_plugin_leaves_no_data_dir(tmp_path):
    """engine = nosuch used to bind a fresh data dir to 'nosuch' for good."""
    sets = base_sets(str(tmp_path))
    sets[sets.index("storage.engine=memory")] = "storage.engine=nosuch"
    rc, out = run_dynkvd(sets)
    assert rc != 0 and "nosuch" in out, out
    assert not (tmp_path / "data").exists(), os.listdir(str(tmp_path / "data"))
    # and the same directory then starts with a real engine
    n = Node("memory", root=str(tmp_path))
    try:
        n.start()
        n.put_ok("after-nosuch", b"x")
    finally:
        assert n.cleanup() == 0


def test_keygen_writes_a_private_key_the_node_uses(tmp_path):
    key = tmp_path / "cluster.key"
    rc, out = run_dynkvd(["keygen", str(key)])
    assert rc == 0 and str(key) in out, out
    assert os.stat(str(key)).st_mode & 0o777 == 0o600
    text = key.read_text()
    assert len(text) == 65 and text.endswith("\n") and int(text, 16) >= 0
    # never over an existing key
    rc, out = run_dynkvd(["keygen", str(key)])
    assert rc == 1 and "exists already" in out, out
    assert key.read_text() == text
    # a node starts with it and serves
    n = Node("memory", root=str(tmp_path), sets=["security.cluster_key_file=%s" % key])
    try:
        n.start()
        n.put_ok("keyed", b"x")
    finally:
        assert n.cleanup() == 0
    # a key others may read is refused at start, naming the file
    os.chmod(str(key), 0o644)
    sets = base_sets(str(tmp_path)) + ["--set", "security.cluster_key_file=%s" % key]
    rc, out = run_dynkvd(sets)
    assert rc == 2 and str(key) in out and "chmod 600" in out, out
