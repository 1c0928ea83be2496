"""The cluster on real, non-loopback addresses: every node in its own
network namespace (tests/cluster/netns.py) with one address on 10.77.0.0/24,
the namespaces bridged, and the test's client in one more (10.77.0.100).
Nothing here runs on 127.0.0.x between hosts, so what loopback tests
cannot see is seen here:

- with a cluster key, three nodes listening on 0.0.0.0 with
  `[node] advertise_address` form a cluster across three hosts; every
  member is listed under its real address (never 0.0.0.0), data written on
  one host is read on another, and a process on a fourth host without the
  key is refused (logged with its address) and never becomes a member;
- protected mode (no key): a node refuses to start with a non-loopback or
  wildcard rpc_listen/gossip_listen; a node on loopback serves HTTP on its
  real address while its cluster ports are unreachable from another host;
  and even when another host's packets are forwarded onto its loopback
  ports (DNAT), its RPC refuses the connection and its gossip rejects the
  datagram, counted and logged with the peer's real address; `insecure =
  true` lifts the rule, as documented;
- cross-host restore: a node's snapshot (taken with `dynkv snapshot`)
  restored on another host, under another address, rejoins as
  `replacing`, gets back every key (also those written after the
  snapshot, with no hints to help), and the cluster lists it at its new
  address; while the original still runs, the copy refuses to start.

Skipped, with the reason, where namespaces cannot be made (not root, no
CAP_SYS_ADMIN, no iproute2).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import dkcluster
import netns
from dkbb import quote_key, unb64
from dkcluster import wait_until

DYNKVD = dkcluster.DYNKVD
DYNKV = os.path.join(dkcluster.BUILDDIR, "client", "dynkv")
HTTP, RPC, GOSSIP = 8080, 8081, 8082
CLIENT = 100
FAST = {"gossip_interval": "200ms", "request_timeout": "1s"}


@pytest.fixture
def lab(request):
    """Hosts 1-4 and the client host 100; a cluster record for the failure
    report; everything stopped and removed at the end."""
    why = netns.unavailable()
    if why:
        pytest.skip(why)
    root = tempfile.mkdtemp(prefix="dynkv-ns-")
    cl = netns.NsCluster(root)
    request.node._dk_clusters = [cl]
    net = None
    try:
        net = netns.Net([1, 2, 3, 4, CLIENT])
        cl.net = net
        yield cl
    finally:
        killed = cl.stop_all()
        cl.logs = {n.id: n.read_log() for n in cl.nodes}
        if net is not None:
            net.close()
        shutil.rmtree(root, ignore_errors=True)
    assert not killed, "still running 10 s after SIGTERM (killed): " + ", ".join(killed)


def test_stale_namespaces_are_removed():
    """Namespaces left by a run that was killed (its pid in their names no
    longer runs) go, with the processes still inside them; a live run's
    namespaces stay."""
    why = netns.unavailable()
    if why:
        pytest.skip(why)
    p = subprocess.Popen(["true"])
    p.wait()
    dead = "%s%d-h1" % (netns.PREFIX, p.pid)
    live = "%s%d-probe-live" % (netns.PREFIX, os.getpid())
    sleeper = None
    try:
        for name in (dead, live):
            subprocess.run(["ip", "netns", "add", name], check=True)
        sleeper = subprocess.Popen(["ip", "netns", "exec", dead, "sleep", "600"])
        assert wait_until(lambda: subprocess.run(["ip", "netns", "pids", dead], stdout=subprocess.PIPE)
                          .stdout.split(), 5)
        assert dead in netns.remove_stale()
        sleeper.wait(10)                # killed with its namespace
        names = netns._ns_list()
        assert dead not in names and live in names, names
    finally:
        if sleeper and sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        for name in (dead, live):
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)


def keygen(lab):
    path = os.path.join(lab.root, "cluster.key")
    if not os.path.exists(path):
        p = subprocess.run([DYNKVD, "keygen", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert p.returncode == 0, p.stdout
    return path


def node_conf(node_id, listen_ip, seeds, key=None, advertise=None, engine="memory", sets=None):
    conf = {
        "node": {"id": node_id, "http_listen": "%s:%d" % (listen_ip, HTTP),
                 "rpc_listen": "%s:%d" % (listen_ip, RPC), "gossip_listen": "%s:%d" % (listen_ip, GOSSIP)},
        "cluster": dict(FAST, name="nsclus", seeds=",".join("%s:%d" % (s, GOSSIP) for s in seeds)),
        "storage": {"engine": engine},
    }
    if advertise:
        conf["node"]["advertise_address"] = advertise
    if key:
        conf["security"] = {"cluster_key_file": key}
    for name, value in (sets or {}).items():
        sec, k = name.rsplit(".", 1)
        conf.setdefault(sec, {})[k] = value
    return conf


def add_node(lab, host, node_id, conf):
    n = lab.add(netns.NsNode(lab.net[host], lab.root, node_id, conf))
    n.lab = lab
    return n


def client(lab):
    return lab.net[CLIENT]


def req(lab, node_ip, method, path, body=None, headers=None, timeout=10.0):
    return client(lab).request(node_ip, HTTP, method, path, body, headers, timeout)


def view(lab, ip):
    """GET /cluster from the client host: {id: member}, or {} when the node
    does not answer."""
    try:
        st, _, body = req(lab, ip, "GET", "/cluster", timeout=2.0)
    except OSError:
        return {}
    if st != 200:
        return {}
    return {m["id"]: m for m in json.loads(body)["members"]}


def all_normal(lab, ips, ids):
    for ip in ips:
        v = view(lab, ip)
        if any(v.get(i, {}).get("state") != "normal" or v.get(i, {}).get("status") != "normal" for i in ids):
            return False
    return True


def start_and_wait_live(node, timeout=20):
    node.start(DYNKVD)

    def live():
        if not node.alive():
            raise AssertionError("%s exited (%s); its log ends:\n%s"
                                 % (node.id, node.proc.returncode, node.read_log()[-3000:]))
        try:
            return req(node.lab, node.host.ip, "GET", "/livez", timeout=1.0)[0] == 200
        except OSError:
            return False

    assert wait_until(live, timeout, 0.1), "%s does not answer /livez from the client host:\n%s" % (
        node.id, node.read_log()[-3000:])


def put(lab, ip, key, value, cl="all"):
    return req(lab, ip, "PUT", "/kv/" + quote_key(key), value.encode(), {"X-Consistency": cl})


def local_value(lab, ip, key):
    st, _, body = req(lab, ip, "GET", "/admin/local/" + quote_key(key))
    if st != 200:
        return (st, None)
    j = json.loads(body)
    if j.get("conflict"):
        return (st, sorted(unb64(s["value"]) for s in j["values"]))
    return (st, [unb64(j["value"])])


def metric(lab, ip, name):
    st, _, body = req(lab, ip, "GET", "/metrics")
    assert st == 200
    m = re.search(r"^%s (\d+)" % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else 0


def three_hosts(lab, key=None, engine="memory", wildcard=False, sets=None):
    ips = [lab.net[i].ip for i in (1, 2, 3)]
    nodes = []
    for i in (1, 2, 3):
        ip = lab.net[i].ip
        conf = node_conf("n%d" % i, "0.0.0.0" if wildcard else ip, ips, key,
                         advertise=ip if wildcard else None, engine=engine, sets=sets)
        n = add_node(lab, i, "n%d" % i, conf)
        nodes.append(n)
    for n in nodes:
        start_and_wait_live(n)
    ok = wait_until(lambda: all_normal(lab, ips, ["n1", "n2", "n3"]), 30, 0.2)
    assert ok, "no 3-node cluster across hosts: %r" % {ip: view(lab, ip) for ip in ips}
    return nodes, ips


def test_keyed_cluster_on_three_hosts_with_advertise_address(lab):
    key = keygen(lab)
    nodes, ips = three_hosts(lab, key=key, wildcard=True)
    for ip in ips:
        v = view(lab, ip)
        for i, mip in enumerate(ips, 1):
            m = v["n%d" % i]
            assert (m["http"], m["rpc"], m["gossip"]) == \
                ("%s:%d" % (mip, HTTP), "%s:%d" % (mip, RPC), "%s:%d" % (mip, GOSSIP)), (ip, m)
    # writes through one host, reads through another, every replica
    for k in range(20):
        st, _, body = put(lab, ips[0], "ns-%d" % k, "v%d" % k)
        assert st == 200, (st, body)
    for k in range(20):
        for ip in ips:
            assert local_value(lab, ip, "ns-%d" % k) == (200, [b"v%d" % k]), (ip, k)

    # a process on a fourth host without the key (insecure, so it starts on
    # a real address) is refused by every member and never joins
    rogue_conf = node_conf("rogue", lab.net[4].ip, ips, sets={"security.insecure": "true"})
    rogue = add_node(lab, 4, "rogue", rogue_conf)
    start_and_wait_live(rogue)
    assert "insecure" in rogue.read_log()
    ok = wait_until(lambda: all("rejected gossip from %s" % lab.net[4].ip in n.read_log() for n in nodes), 15)
    assert ok, [n.read_log()[-1500:] for n in nodes]
    time.sleep(1.0)
    for ip in ips:
        assert sorted(view(lab, ip)) == ["n1", "n2", "n3"], (ip, view(lab, ip))
    assert rogue.stop() == 0


def test_protected_mode_across_hosts(lab):
    h1 = lab.net[1]
    # (1) no key and a real or wildcard cluster address: refused at start
    for listen in (h1.ip, "0.0.0.0"):
        conf = node_conf("p1", listen, [h1.ip], advertise=h1.ip if listen == "0.0.0.0" else None)
        conf["node"]["http_listen"] = "%s:%d" % (h1.ip, HTTP)
        bad = add_node(lab, 1, "p1-" + listen, conf)
        bad.start(DYNKVD)
        rc = bad.proc.wait(30)
        text = bad.read_log()
        assert rc == 2, (rc, text[-2000:])
        assert "[node] rpc_listen = %s:%d is not a loopback address, but there is no " \
               "[security] cluster_key_file" % (listen, RPC) in text, text[-2000:]
        # --check-config lists every error: gossip_listen is refused as well
        chk = lab.net[1].run([DYNKVD, "--check-config", bad.ini])
        assert chk.returncode == 2, chk
        assert "[node] gossip_listen = %s:%d is not a loopback address" % (listen, GOSSIP) in chk.stderr, chk

    # (2) no key, cluster ports on loopback, HTTP on the real address: the
    # client host reaches HTTP, not the cluster ports
    conf = node_conf("p1", "127.0.0.1", ["127.0.0.1"])
    conf["node"]["http_listen"] = "%s:%d" % (h1.ip, HTTP)
    p1 = add_node(lab, 1, "p1", conf)
    start_and_wait_live(p1)
    assert "protected mode" in p1.read_log()
    with pytest.raises(ConnectionRefusedError):
        client(lab).connect((h1.ip, RPC), timeout=3).close()

    # (3) packets from another host forwarded onto the loopback ports (DNAT
    # in p1's namespace): the node itself refuses them by their source
    cmds = [["sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1"]]
    for proto, port in (("tcp", RPC), ("udp", GOSSIP), ("tcp", GOSSIP)):
        cmds.append(["iptables", "-t", "nat", "-A", "PREROUTING", "-p", proto, "-d", h1.ip, "--dport",
                     str(port), "-j", "DNAT", "--to-destination", "127.0.0.1:%d" % port])
    for cmd in cmds:
        p = h1.run(cmd)
        if p.returncode != 0:   # procps and iptables are in scripts/deps.sh; a kernel may lack NAT
            pytest.skip("cannot forward to loopback in a namespace here (%s): %s" % (cmd[0], p.stderr.strip()))
    rejected = metric(lab, h1.ip, "dynkv_rpc_connections_rejected_total")
    s = client(lab).connect((h1.ip, RPC), timeout=5)     # the kernel accepts...
    try:
        s.sendall(b"\0" * 16)
        s.settimeout(5)
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b"", data                         # ...the node closes at once
    finally:
        s.close()
    cip = client(lab).ip
    assert wait_until(lambda: "rpc: refused connection from %s" % cip in p1.read_log(), 5), p1.read_log()[-2000:]
    assert "protected mode" in p1.read_log().split("rpc: refused connection from %s" % cip, 1)[1][:200]
    assert metric(lab, h1.ip, "dynkv_rpc_connections_rejected_total") == rejected + 1

    u = client(lab).socket(socket.SOCK_DGRAM)
    try:
        u.sendto(b"DKG1 not even a real datagram", (h1.ip, GOSSIP))
    finally:
        u.close()
    name = 'dynkv_gossip_rejected_total{reason="not_loopback"}'
    assert wait_until(lambda: metric(lab, h1.ip, name) >= 1, 5), name
    assert "rejected gossip from %s" % cip in p1.read_log(), p1.read_log()[-2000:]
    # loopback peers are still fine: the node is alive and ready
    assert req(lab, h1.ip, "GET", "/readyz")[0] == 200
    assert p1.stop() == 0
    h1.run(["iptables", "-t", "nat", "-F", "PREROUTING"], check=True)
    h1.run(["sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=0"], check=True)

    # (4) insecure = true lifts the rule, on a network one trusts: a keyless
    # cluster on real addresses forms, with a warning in every log
    nodes, ips = three_hosts(lab, sets={"security.insecure": "true"})
    for n in nodes:
        assert re.search(r"WARN.*insecure", n.read_log()), n.read_log()[-2000:]


def cli(lab, ip, *args):
    """The dynkv CLI, run on the client host against node ip."""
    return client(lab).run([DYNKV, "-n", "%s:%d" % (ip, HTTP)] + list(args), timeout=60)


@pytest.mark.skipif(not dkcluster.have_engine("lsm"), reason="engine-lsm.so not built")
def test_cross_host_restore(lab):
    key = keygen(lab)
    nodes, ips = three_hosts(lab, key=key, engine="lsm",
                             sets={"cluster.hint_window": "0", "storage.memtable_size": "1MiB"})
    n1, n2, n3 = nodes
    old = ["old-%03d" % i for i in range(150)]
    for k in old:
        st, _, body = put(lab, ips[0], k, "v1-" + k)
        assert st == 200, (k, st, body)
    p = cli(lab, n2.host.ip, "snapshot", "before")
    assert p.returncode == 0, (p.stdout, p.stderr)
    snap = os.path.join(n2.data_dir, "snapshots", "before")
    assert os.path.isfile(os.path.join(snap, "SNAPSHOT")), os.listdir(snap)
    keep = os.path.join(lab.root, "n2-before")
    shutil.copytree(snap, keep)

    # after the snapshot: new keys and new versions n2 will not have
    new = ["new-%03d" % i for i in range(80)]
    for k in new:
        assert put(lab, ips[0], k, "v1-" + k)[0] == 200, k
    for k in old[:30]:
        st, hdrs, _ = req(lab, ips[0], "GET", "/admin/local/" + quote_key(k))
        ctx = hdrs.get("x-context")
        st, _, body = req(lab, ips[0], "PUT", "/kv/" + quote_key(k), ("v2-" + k).encode(),
                          {"X-Consistency": "all", "X-Context": ctx})
        assert st == 200, (k, st, body)

    # the restored copy on host 4 (another address): while the original
    # still runs it must not start (one live process per node id)
    h4 = lab.net[4]
    seeds = [ips[0], ips[2]]

    def restored_conf(data_dir):
        conf = node_conf("n2", h4.ip, seeds, key, engine="lsm",
                         sets={"cluster.hint_window": "0", "storage.memtable_size": "1MiB"})
        conf["node"]["data_dir"] = data_dir
        return conf

    twin_dir = os.path.join(lab.root, "n2-twin")
    shutil.copytree(keep, twin_dir)
    twin = add_node(lab, 4, "n2", restored_conf(twin_dir))
    twin.start(DYNKVD)
    rc = twin.proc.wait(60)
    assert rc == 1, (rc, twin.read_log()[-3000:])
    assert re.search(r"another live process at %s:\d+ answers as node id n2" % re.escape(ips[1]),
                     twin.read_log()), twin.read_log()[-3000:]
    assert all_normal(lab, ips, ["n1", "n2", "n3"]), "the refused twin disturbed the cluster"

    # the original goes; the snapshot comes back on host 4
    assert n2.stop() == 0
    moved = add_node(lab, 4, "n2", restored_conf(keep))
    start_and_wait_live(moved, timeout=60)
    assert "starts from snapshot before" in moved.read_log(), moved.read_log()[-3000:]

    want = {k: local_value(lab, ips[0], k) for k in old + new}
    assert want["old-005"] == (200, [b"v2-old-005"]) and want["new-079"] == (200, [b"v1-new-079"])

    def behind():
        return [k for k in want if local_value(lab, h4.ip, k) != want[k]]

    t0 = time.monotonic()
    left = wait_until(lambda: not behind(), 90, 0.5) or behind()
    assert left is True, "after %.0f s the restored n2 still differs on %d keys, e.g. %r" % (
        time.monotonic() - t0, len(left), [(k, want[k], local_value(lab, h4.ip, k)) for k in left[:3]])

    def moved_normal():
        for ip in (ips[0], ips[2], h4.ip):
            m = view(lab, ip).get("n2", {})
            if m.get("state") != "normal" or m.get("status") != "normal" or \
                    m.get("http") != "%s:%d" % (h4.ip, HTTP):
                return False
        return True

    assert wait_until(moved_normal, 30, 0.2), {ip: view(lab, ip).get("n2") for ip in (ips[0], ips[2], h4.ip)}
    assert sorted(view(lab, ips[0])) == ["n1", "n2", "n3"]
    # reads through the moved node, at quorum, see the post-snapshot data
    st, _, body = req(lab, h4.ip, "GET", "/kv/old-007", headers={"X-Consistency": "all"})
    assert st == 200 and unb64(json.loads(body)["value"]) == b"v2-old-007", (st, body)
