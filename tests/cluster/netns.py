"""Real (non-loopback) addresses for the cluster suite: network namespaces.

`Net(hosts)` makes one network namespace per host, each with one address
on a private subnet (10.77.0.H/24 for host H) on its `eth0`, and joins them
through a bridge that lives in one more namespace (the "switch"), so that
nothing is added to the machine's own network: no interface, address or
route of the root namespace changes, and two runs at once cannot clash
(each has its own switch, so the same subnet in both is fine).

    switch ns  dknsPID-sw:  br0 -- vH (veth) --+
    host ns    dknsPID-hH:            eth0 <---+  10.77.0.H/24, lo up

Names carry the pid of the run that made them.  At set-up, namespaces of
this prefix whose pid no longer runs (a run killed before its teardown)
are removed, with any process still inside; `close()` (called by the
fixture also when a test fails, and at exit) removes this run's own.

Processes run inside a host with `ip netns exec` (the same pid: `ip` execs
the command); sockets the test itself opens are created inside a host by a
short-lived thread that enters the namespace with setns(2) (a socket stays
in the namespace it was made in), so requests need no subprocess.

When namespaces cannot be made here (not root, no CAP_SYS_ADMIN, no `ip`,
no veth or bridge support), `Net.unavailable()` says why and the tests
skip with that reason; they never fail for it.  Only the Python standard
library and iproute2 are used.
"""

import atexit
import ctypes
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import threading

PREFIX = "dkns"
SUBNET = "10.77.0"
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)
_open_nets = []     # closed at exit if a caller did not (an interrupted run)


def _ip(*args, check=True):
    p = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if check and p.returncode != 0:
        raise OSError("ip %s: %s" % (" ".join(args), p.stderr.decode(errors="replace").strip()))
    return p


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ns_list():
    p = _ip("netns", "list", check=False)
    return [line.split()[0] for line in p.stdout.decode().splitlines() if line.strip()]


def _ns_remove(name):
    """Kill every process in namespace `name` and delete it."""
    p = _ip("netns", "pids", name, check=False)
    for pid in p.stdout.decode().split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _ip("netns", "del", name, check=False)


def remove_stale():
    """Delete namespaces of our prefix whose run (the pid in the name) is
    gone.  Returns their names."""
    gone = []
    for name in _ns_list():
        m = re.match(r"^%s(\d+)-" % PREFIX, name)
        if m and not _pid_alive(int(m.group(1))):
            _ns_remove(name)
            gone.append(name)
    return gone


_why_not = None


def unavailable():
    """None when this machine lets us make namespaces with veth pairs and a
    bridge, else the reason (checked once per process)."""
    global _why_not
    if _why_not is not None:
        return _why_not or None
    why = ""
    if not shutil.which("ip"):
        why = "no `ip` command (Debian package iproute2)"
    elif os.geteuid() != 0:
        why = "network namespaces need root (CAP_SYS_ADMIN); running as uid %d" % os.geteuid()
    else:
        probe = "%s%d-probe" % (PREFIX, os.getpid())
        try:
            _ip("netns", "add", probe)
            _ip("-n", probe, "link", "add", "br0", "type", "bridge")
            _ip("-n", probe, "link", "add", "a0", "type", "veth", "peer", "name", "a1")
            fd = os.open(os.path.join(NETNS_DIR, probe), os.O_RDONLY)
            os.close(fd)
        except OSError as e:
            why = "cannot make a network namespace with a bridge and a veth pair: %s" % e
        finally:
            _ip("netns", "del", probe, check=False)
    _why_not = why
    return why or None


def _in_ns(path, fn):
    """Run fn() on a fresh thread that entered the network namespace at
    `path`; returns its result or raises its exception."""
    out = {}

    def body():
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
            finally:
                os.close(fd)
            out["value"] = fn()
        except BaseException as e:   # handed to the caller
            out["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


@atexit.register
def _close_all():
    for n in list(_open_nets):
        n.close()


class Host:
    """One namespace with one address."""

    def __init__(self, net, index):
        self.net = net
        self.index = index
        self.name = "%s-h%d" % (net.tag, index)
        self.ip = "%s.%d" % (SUBNET, index)
        self.path = os.path.join(NETNS_DIR, self.name)

    def socket(self, kind=socket.SOCK_STREAM):
        """A new (unconnected) socket inside this host."""
        return _in_ns(self.path, lambda: socket.socket(socket.AF_INET, kind))

    def connect(self, addr, timeout=10.0):
        """A TCP connection from this host to addr (ip, port)."""
        def make():
            return socket.create_connection(addr, timeout=timeout)
        return _in_ns(self.path, make)

    def request(self, ip, port, method, path, body=None, headers=None, timeout=10.0):
        """One HTTP request from this host: (status, {header: value}, body)."""
        host = self

        class Conn(http.client.HTTPConnection):
            def connect(self):
                self.sock = host.connect((self.host, self.port), self.timeout)

        c = Conn(ip, port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def argv(self, args):
        return ["ip", "netns", "exec", self.name] + list(args)

    def run(self, args, timeout=60, **kw):
        """Run a command inside this host to completion (stdout and stderr
        captured, as text)."""
        return subprocess.run(self.argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, universal_newlines=True, **kw)

    def popen(self, args, **kw):
        return subprocess.Popen(self.argv(args), **kw)


class Net:
    """Hosts 10.77.0.H for H in `hosts` on one bridge.  Use as a context
    manager or call close(); both remove everything."""

    def __init__(self, hosts):
        why = unavailable()
        if why:
            raise OSError(why)
        remove_stale()
        self.tag = "%s%d" % (PREFIX, os.getpid())
        self.switch = "%s-sw" % self.tag
        self.hosts = {}
        self._made = []
        _open_nets.append(self)
        try:
            self._add_ns(self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for i in hosts:
                self.add_host(i)
        except BaseException:
            self.close()
            raise

    def _add_ns(self, name):
        if name in _ns_list():          # our pid, an earlier Net not closed
            _ns_remove(name)
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, i):
        if not 1 <= i <= 254 or i in self.hosts:
            raise ValueError("host %r" % i)
        h = Host(self, i)
        self._add_ns(h.name)
        port = "v%d" % i
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.name)
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        _ip("-n", h.name, "addr", "add", "%s/24" % h.ip, "dev", "eth0")
        _ip("-n", h.name, "link", "set", "eth0", "up")
        self.hosts[i] = h
        return h

    def __getitem__(self, i):
        return self.hosts[i]

    def close(self):
        for name in reversed(self._made):
            _ns_remove(name)
        self._made = []
        if self in _open_nets:
            _open_nets.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NsNode:
    """A dynkvd run inside a host with its own node.ini (written from
    `conf`, {section: {key: value}}); its folder holds the log."""

    def __init__(self, host, root, node_id, conf):
        self.host = host
        self.node_id = node_id
        self.id = "%s@%s" % (node_id, host.ip)     # unique in reports: one id may move hosts
        self.dir = os.path.join(root, self.id)
        self.ini = os.path.join(self.dir, "node.ini")
        self.log = os.path.join(self.dir, "dynkvd.log")
        self.data_dir = conf.get("node", {}).get("data_dir") or os.path.join(self.dir, "data")
        conf.setdefault("node", {})["data_dir"] = self.data_dir
        self.conf = conf
        self.proc = None
        os.makedirs(self.dir, exist_ok=True)
        with open(self.ini, "w") as f:
            for sec, keys in conf.items():
                f.write("[%s]\n" % sec)
                for k, v in keys.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")

    @property
    def http(self):
        return "%s:%s" % (self.host.ip, self.http_port)

    @property
    def http_port(self):
        return int(self.conf["node"]["http_listen"].rsplit(":", 1)[1])

    def start(self, dynkvd, extra=()):
        with open(self.log, "ab") as log:
            self.proc = self.host.popen([dynkvd, "--config", self.ini] + list(extra), stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        return self.proc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop it: `sig`, then SIGKILL after `timeout`.  Returns the exit
        status, or "killed" when SIGKILL was needed."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "killed"
        return self.proc.returncode

    def read_log(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class NsCluster:
    """Nodes in namespaces, shaped as the conftest's failure report wants
    (nodes with id, http, log and read_log; node(id); logs; root)."""

    def __init__(self, root):
        self.root = root
        self.nodes = []
        self.logs = {}

    def add(self, node):
        self.nodes.append(node)
        return node

    def node(self, node_id):
        for n in reversed(self.nodes):
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def stop_all(self):
        """SIGTERM every node still running (SIGKILL after 10 s); returns the
        ids of those that needed SIGKILL."""
        killed = []
        for n in self.nodes:
            if n.alive() and n.stop() == "killed":
                killed.append(n.id)
        return killed
