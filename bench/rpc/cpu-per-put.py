"""bench/rpc/cpu-per-put.py - CPU (user+sys of all three nodes, from
/proc/PID/stat) per quorum PUT of a 10 KiB value on a local keyed 3-node
cluster (memory engine), one client connection, after 200 warm-up PUTs.

usage: DYNKVD=path/to/dynkvd python3 bench/rpc/cpu-per-put.py IP_PREFIX N
Run it with two builds in turn (e.g. before and after a change) and compare
medians: on a shared machine single runs vary by +-20%."""
import http.client, importlib.machinery, importlib.util, os, sys, tempfile, time, shutil
loader = importlib.machinery.SourceFileLoader(
    "dkc", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "dynkv-cluster"))
spec = importlib.util.spec_from_loader("dkc", loader); tool = importlib.util.module_from_spec(spec); loader.exec_module(tool)
prefix, n = sys.argv[1], int(sys.argv[2])
root = tempfile.mkdtemp(prefix="rpcauth-cpu-")
c = tool.create(os.path.join(root, "c"), 3, engine="memory", ip_prefix=prefix)
c = tool.Cluster(c.root)
def cpu():
    t = 0
    for nd in c.nodes:
        with open("/proc/%d/stat" % c.pid(nd.id)) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        t += int(parts[11]) + int(parts[12])
    return t / os.sysconf("SC_CLK_TCK")
try:
    c.start(timeout=60)
    val = os.urandom(10240)
    conn = http.client.HTTPConnection(c.nodes[0].ip, c.nodes[0].http_port, timeout=10)
    for i in range(200):
        conn.request("PUT", "/kv/warm%d" % i, val, {"X-Consistency": "quorum"}); conn.getresponse().read()
    t0 = cpu(); w0 = time.monotonic()
    for i in range(n):
        conn.request("PUT", "/kv/k%d" % i, val, {"X-Consistency": "quorum"}); r = conn.getresponse(); r.read()
        assert r.status in (200, 201, 204), r.status
    t1 = cpu()
    print("%s: %.1f us CPU per quorum PUT (10 KiB), %d PUTs, %.1f s wall" % (os.environ.get("DYNKVD", "?"), (t1 - t0) / n * 1e6, n, time.monotonic() - w0))
finally:
    c.stop(); shutil.rmtree(root, ignore_errors=True)
