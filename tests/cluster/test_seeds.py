"""Seeds by host name and [node] advertise_address: a cluster whose only
seed is written `localhost:PORT` forms (the name is resolved on the loop,
and the node it names finds itself among the seeds); a node listening on
0.0.0.0 with advertise_address is listed by the others at that address;
a wildcard listener without advertise_address refuses to start."""

import json
import os
import subprocess

import pytest

import dkcluster

IP_PREFIX = "127.0.0"   # localhost is 127.0.0.1, node 1 of the cluster


def _make(root, nodes, base_port, sets=(), node_sets=None, keyed=True):
    c = dkcluster.tool.create(os.path.join(root, "c"), nodes, engine="memory",
                              sets=dkcluster.FAST + list(sets), ip_prefix=IP_PREFIX,
                              base_port=base_port, node_sets=node_sets, keyed=keyed)
    c = dkcluster.tool.Cluster(c.root, detach=False)
    dkcluster.ALL_CLUSTERS.append(c)
    return c


def _ephemeral_low():
    """The first port of the kernel's ephemeral range (32768 by default)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Below the ephemeral range: this module's nodes listen on 127.0.0.x (and
# one on 0.0.0.0), where every client connection of every suite running
# beside this one takes its local port from that range; a port probed free
# could be taken by one of them before the node bound it (EADDRINUSE at
# start). The other modules listen on 127.0.x.y, x > 0, which clients never
# take ports on (their source address is 127.0.0.1).
PORT_END = _ephemeral_low() if 21000 < _ephemeral_low() <= 60000 else 60000


def _base_port(ips):
    return dkcluster.tool.find_base_port(ips, start=20000, end=PORT_END)


def _wildcard_ports(avoid):
    """A port triple free on every address (0.0.0.0), away from avoid..avoid+2."""
    free = dkcluster.tool.port_is_free
    for q in list(range(avoid + 3, PORT_END - 3, 3)) + list(range(20000, avoid - 3, 3)):
        if all(free("0.0.0.0", q + k) for k in range(3)):
            return q
    pytest.fail("no port triple free on 0.0.0.0")


def test_localhost_seed_forms_a_cluster():
    ips = ["%s.%d" % (IP_PREFIX, i) for i in range(1, 4)]
    port = _base_port(ips)
    root = dkcluster.tmp_root()
    c = _make(root, 3, port, sets=["cluster.seeds=localhost:%d" % (port + 2)])
    try:
        with open(c.nodes[1].ini) as f:
            assert "seeds = localhost:%d" % (port + 2) in f.read()
        c.start(timeout=60)
        for n in c.nodes:
            v = dkcluster.view(n)
            got = {m["id"]: (m["state"], m["gossip"]) for m in v["members"]}
            assert got == {m.id: ("normal", m.gossip) for m in c.nodes}, (n.id, got)
        assert "seed localhost:%d is this node" % (port + 2) in c.nodes[0].read_log()
    finally:
        dkcluster.cleanup(c)


def test_wildcard_listener_advertises_its_address():
    ips = ["%s.%d" % (IP_PREFIX, i) for i in range(1, 4)]
    port = _base_port(ips)
    other = _wildcard_ports(port)
    root = dkcluster.tmp_root()
    wild = ["node.http_listen=0.0.0.0:%d" % other, "node.rpc_listen=0.0.0.0:%d" % (other + 1),
            "node.gossip_listen=0.0.0.0:%d" % (other + 2), "node.advertise_address=%s.3" % IP_PREFIX,
            "security.insecure=true"]
    c = _make(root, 3, port, node_sets={3: wild}, keyed=False)
    # node 3 listens on other ports (0.0.0.0:port would take the others' ports)
    meta_path = os.path.join(c.root, dkcluster.tool.MARKER)
    with open(meta_path) as f:
        meta = json.load(f)
    meta["nodes"][2].update({"http": other, "rpc": other + 1, "gossip": other + 2})
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    c = dkcluster.tool.Cluster(c.root, detach=False)
    dkcluster.ALL_CLUSTERS.append(c)
    try:
        c.start(timeout=60)
        want = "%s.3" % IP_PREFIX
        for n in c.nodes:
            m = {m["id"]: m for m in dkcluster.view(n)["members"]}["n3"]
            assert m["state"] == "normal", (n.id, m)
            assert m["gossip"] == "%s:%d" % (want, other + 2), (n.id, m)
            assert m["rpc"] == "%s:%d" % (want, other + 1), (n.id, m)
            assert m["http"] == "%s:%d" % (want, other), (n.id, m)
        # and the cluster works through it: a write on n3 is read on n1
        r = dkcluster.put(c.nodes[2], "adv-key", b"v1", cl="all")
        assert r.status in (200, 201, 204), r
        assert dkcluster.values(dkcluster.get(c.nodes[0], "adv-key", cl="all")) == [b"v1"]
    finally:
        dkcluster.cleanup(c)


def test_wildcard_without_advertise_refuses(tmp_path):
    ini = tmp_path / "node.ini"
    ini.write_text("[node]\nid = w1\ndata_dir = %s\nhttp_listen = 0.0.0.0:1\n"
                   "rpc_listen = 127.0.0.1:2\ngossip_listen = 127.0.0.1:3\n"
                   "[security]\ninsecure = true\n" % (tmp_path / "data"))
    p = subprocess.run([dkcluster.DYNKVD, "--config", str(ini)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    err = p.stderr.decode()
    assert p.returncode != 0, err
    assert "http_listen = 0.0.0.0:1" in err and "advertise_address" in err, err
    assert not (tmp_path / "data").exists() or not os.listdir(tmp_path / "data")


def test_advertise_address_is_checked(tmp_path):
    ini = tmp_path / "node.ini"
    ini.write_text("[node]\nadvertise_address = 10.0.0.1:80\n")
    p = subprocess.run([dkcluster.DYNKVD, "--check-config", str(ini)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode != 0 and "advertise_address" in out, out
