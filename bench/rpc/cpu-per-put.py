"""bench/rpc/cpu-per-put.py - CPU (user+sys of all three nodes, from
/proc/PID/stat) per quorum PUT of a 10 KiB value on a local keyed 3-node
cluster (memory engine), one client connection, after 200 warm-up PUTs.

usage: DYNKVD=path/to/dynkvd python3 bench/rpc/cpu-per-put.py IP_PREFIX N [plain|https|mtls]
Run it with two builds in turn (e.g. before and after a change) and compare
medians: on a shared machine single runs vary by +-20%.

The third argument (default plain) adds TLS, with a throwaway CA and one
certificate per node made with the openssl command: "https" sets
tls_cert_file/tls_key_file (HTTPS for the client, RPC plain), "mtls" adds
tls_ca_file (RPC mutual TLS too). mtls minus https is what RPC's TLS costs;
the client's one keep-alive HTTPS connection is the same in both."""
import http.client, importlib.machinery, importlib.util, json, os, ssl, subprocess, sys, tempfile, time, shutil
loader = importlib.machinery.SourceFileLoader(
    "dkc", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "dynkv-cluster"))
spec = importlib.util.spec_from_loader("dkc", loader); tool = importlib.util.module_from_spec(spec); loader.exec_module(tool)
prefix, n = sys.argv[1], int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
assert mode in ("plain", "https", "mtls"), mode
root = tempfile.mkdtemp(prefix="rpcauth-cpu-")


def ossl(*argv):
    subprocess.run(("openssl",) + argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


node_sets = None
ca = os.path.join(root, "ca.pem")
if mode != "plain":
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         os.path.join(root, "ca.key"), "-out", ca, "-days", "2", "-subj", "/CN=bench CA")
    node_sets = {}
    for i in range(1, 4):
        b = os.path.join(root, "n%d" % i)
        with open(b + ".ext", "w") as f:
            f.write("subjectAltName=DNS:n%d,IP:%s.%d\n" % (i, prefix, i))
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", b + ".key",
             "-out", b + ".csr", "-subj", "/CN=n%d" % i)
        ossl("x509", "-req", "-in", b + ".csr", "-CA", ca, "-CAkey", os.path.join(root, "ca.key"),
             "-CAcreateserial", "-out", b + ".pem", "-days", "2", "-extfile", b + ".ext")
        node_sets[i] = ["security.tls_cert_file=" + b + ".pem", "security.tls_key_file=" + b + ".key"]
        if mode == "mtls":
            node_sets[i].append("security.tls_ca_file=" + ca)
c = tool.create(os.path.join(root, "c"), 3, engine="memory", ip_prefix=prefix, node_sets=node_sets)
c = tool.Cluster(c.root)


def connect(nd):
    if mode == "plain":
        return http.client.HTTPConnection(nd.ip, nd.http_port, timeout=10)
    return http.client.HTTPSConnection(nd.ip, nd.http_port, timeout=10,
                                       context=ssl.create_default_context(cafile=ca))


def cpu():
    t = 0
    for nd in c.nodes:
        with open("/proc/%d/stat" % c.pid(nd.id)) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        t += int(parts[11]) + int(parts[12])
    return t / os.sysconf("SC_CLK_TCK")


def ready(nd):
    try:
        k = connect(nd)
        k.request("GET", "/readyz"); r = k.getresponse(); r.read(); ok = r.status == 200
        k.request("GET", "/cluster"); v = json.loads(k.getresponse().read())
        k.close()
        return ok and sum(m["state"] == "normal" for m in v["members"]) == 3
    except (OSError, http.client.HTTPException, ValueError) as e:
        if os.environ.get("BENCH_DEBUG"):
            print(nd.id, e)
        return False


try:
    if mode == "plain":
        c.start(timeout=60)
    else:
        c.start(timeout=60, wait="none")
        deadline = time.monotonic() + 60
        while not all(ready(nd) for nd in c.nodes):
            assert time.monotonic() < deadline, "cluster not ready"
            time.sleep(0.2)
    val = os.urandom(10240)
    conn = connect(c.nodes[0])
    for i in range(200):
        conn.request("PUT", "/kv/warm%d" % i, val, {"X-Consistency": "quorum"}); conn.getresponse().read()
    t0 = cpu(); w0 = time.monotonic()
    for i in range(n):
        conn.request("PUT", "/kv/k%d" % i, val, {"X-Consistency": "quorum"}); r = conn.getresponse(); r.read()
        assert r.status in (200, 201, 204), r.status
    t1 = cpu()
    print("%s (%s): %.1f us CPU per quorum PUT (10 KiB), %d PUTs, %.1f s wall" % (
        os.environ.get("DYNKVD", "?"), mode, (t1 - t0) / n * 1e6, n, time.monotonic() - w0))
finally:
    c.stop(); shutil.rmtree(root, ignore_errors=True)
