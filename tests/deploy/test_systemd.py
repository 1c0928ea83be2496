"""The systemd unit `make install` installs: `systemd-analyze verify`
accepts it without a warning, `systemd-analyze security` rates its
hardening, it says what the issue asks (Type=notify, ReadWritePaths for the
data folder, reload by SIGHUP); and a real dynkvd under a fake
NOTIFY_SOCKET sends READY=1 only once it is ready, RELOADING=1/READY=1
around SIGHUP and STOPPING=1 on SIGTERM."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import dkbb

UNIT = os.path.join(dkbb.BUILDDIR, "deploy", "systemd", "dynkvd.service")


def unit_text():
    if not os.path.exists(UNIT):
        raise AssertionError("%s is not built (make builds it)" % UNIT)
    with open(UNIT) as f:
        return f.read()


def unit_keys(text):
    """{key: [values]} of the unit's assignments, all sections together."""
    keys = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        keys.setdefault(k.strip(), []).append(v.strip())
    return keys


@pytest.fixture
def analyze():
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return tool


def test_unit_content():
    k = unit_keys(unit_text())
    assert k["Type"] == ["notify"], k.get("Type")
    assert k["ReadWritePaths"] == ["/var/lib/dynkv"], k.get("ReadWritePaths")
    assert k["StateDirectory"] == ["dynkv"]
    assert any("--config" in v and v.split()[0].endswith("/dynkvd") for v in k["ExecStart"]), k["ExecStart"]
    assert any("--check-config" in v for v in k["ExecStartPre"]), k.get("ExecStartPre")
    assert "-HUP" in k["ExecReload"][0]
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
                      "PrivateDevices", "RestrictAddressFamilies", "SystemCallFilter",
                      "CapabilityBoundingSet", "MemoryDenyWriteExecute"):
        assert hardening in k, "no %s in the unit" % hardening
    assert k["ProtectSystem"] == ["strict"]
    # the stop timeout leaves room for the drain
    assert int(k["TimeoutStopSec"][0].rstrip("s")) > 30


def test_systemd_analyze_verify(analyze, tmp_path):
    """verify checks that ExecStart's binary exists: point it at the build."""
    text = re.sub(r"(?m)^(ExecStart(?:Pre)?=)\S+/dynkvd", r"\1" + dkbb.DYNKVD, unit_text())
    path = tmp_path / "dynkvd.service"
    path.write_text(text)
    p = subprocess.run([analyze, "verify", str(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0 and out.strip() == "", "systemd-analyze verify:\n" + out
    p = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(path)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    m = re.search(r"Overall exposure level for dynkvd.service: ([0-9.]+)", out)
    if p.returncode != 0 and not m:
        pytest.skip("systemd-analyze security --offline is not available here: " + out[-300:])
    assert m and float(m.group(1)) <= 2.0, "exposure too high:\n" + out[-3000:]


def linked_with_libsystemd():
    try:
        out = subprocess.run(["ldd", dkbb.DYNKVD], stdout=subprocess.PIPE, timeout=30).stdout
    except OSError:
        return False
    return b"libsystemd" in out


class NotifySocket:
    """The service manager's end of sd_notify: an AF_UNIX datagram socket."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def drain(self, timeout=0.0):
        self.sock.settimeout(timeout if timeout > 0 else 0.001)
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
                self.sock.settimeout(0.001)
        except (socket.timeout, BlockingIOError):
            pass
        return self.messages

    def wait_for(self, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain(0.1)
            if any(what in m for m in self.messages):
                return True
        return False

    def close(self):
        self.sock.close()


def start_notified(node, sock_path, path="/livez"):
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = sock_path
    try:
        node.start(path=path)
    finally:
        if old is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = old


@pytest.fixture
def notify(tmp_path):
    if not linked_with_libsystemd():
        pytest.skip("dynkvd was built without libsystemd (install libsystemd-dev and reconfigure)")
    s = NotifySocket(str(tmp_path / "notify"))
    yield s
    s.close()


def test_ready_only_when_ready(notify, tmp_path):
    # a node whose seed never answers stays joining: no READY=1, a STATUS
    n = dkbb.Node("memory", ["cluster.seeds=127.0.0.1:%d" % dkbb.free_port()])
    try:
        start_notified(n, notify.path)
        assert notify.wait_for("STATUS=not ready"), notify.messages
        time.sleep(1.0)
        notify.drain()
        assert not any("READY=1" in m for m in notify.messages), notify.messages
        assert any("membership" in m for m in notify.messages), notify.messages
        assert n.request("GET", "/readyz").status == 503
    finally:
        assert n.cleanup() == 0
    notify.messages = []
    # a lone node is ready at once: READY=1, and /readyz agrees
    n = dkbb.Node("memory")
    try:
        start_notified(n, notify.path)
        assert notify.wait_for("READY=1"), notify.messages
        assert n.request("GET", "/readyz").status == 200
        n.proc.send_signal(signal.SIGHUP)
        assert notify.wait_for("RELOADING=1"), notify.messages
        assert notify.wait_for("log reopened"), notify.messages
        n.proc.send_signal(signal.SIGTERM)
        assert notify.wait_for("STOPPING=1"), notify.messages
        assert n.proc.wait(dkbb.STOP_TIMEOUT) == 0
        n.proc = None
    finally:
        assert n.cleanup() == 0
