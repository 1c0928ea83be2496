"""The container image and the Kubernetes manifests, checked without a
container runtime or a cluster: the Dockerfile's shape (Debian 12,
multi-stage, non-root, the node's ports exposed), the entrypoint's
arguments (run with a stub dynkvd, then checked by the real
`dynkvd --check-config` and started for real), and every probe path and
port, Service, seed and volume of the manifests against the node's
configuration and the routes a running node serves."""

import configparser
import os
import re
import subprocess

import pytest

import dkbb

SRCDIR = os.environ.get("DYNKV_SRCDIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(SRCDIR, "deploy")
DOCKERFILE = os.path.join(DEPLOY, "docker", "Dockerfile")
NODE_INI = os.path.join(DEPLOY, "docker", "node.ini")
ENTRYPOINT = os.path.join(DEPLOY, "docker", "entrypoint.sh")
MANIFEST = os.path.join(DEPLOY, "kubernetes", "dynkv.yaml")


def node_conf():
    """The image's node.ini: {section: {key: value}} (comments stripped)."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",))
    cp.read(NODE_INI)
    return {s: dict(cp[s]) for s in cp.sections()}


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def manifest():
    try:
        import yaml
    except ImportError:
        pytest.skip("python3-yaml is not installed")
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def the(manifest, kind):
    found = [d for (k, _), d in manifest.items() if k == kind]
    assert found, "no %s in %s" % (kind, MANIFEST)
    return found


def test_dockerfile_shape():
    with open(DOCKERFILE) as f:
        text = f.read()
    froms = re.findall(r"(?m)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text)
    assert len(froms) >= 2, "not multi-stage: %r" % froms
    assert all(img.startswith("debian:12") for img, _ in froms), froms
    build_stage = froms[0][1]
    assert build_stage and re.search(r"COPY --from=%s " % build_stage, text), "nothing copied from the build stage"
    user = re.findall(r"(?m)^USER\s+(\S+)", text)
    assert user and user[-1].split(":")[0] not in ("0", "root"), "the image runs as root: %r" % user
    exposed = set(re.findall(r"(?m)^EXPOSE\s+(.*)$", text)[0].split())
    c = node_conf()["node"]
    want = {"%d/tcp" % port_of(c["http_listen"]), "%d/tcp" % port_of(c["rpc_listen"]),
            "%d/tcp" % port_of(c["gossip_listen"]), "%d/udp" % port_of(c["gossip_listen"])}
    assert exposed == want, "EXPOSE %r, the node uses %r" % (exposed, want)
    volume = re.findall(r'(?m)^VOLUME\s+\["?([^"\]]+)', text)
    assert volume and c["data_dir"].startswith(volume[0].rstrip("/") + "/"), (volume, c["data_dir"])
    entry = re.findall(r'(?m)^ENTRYPOINT\s+\["([^"]+)"', text)[0]
    assert re.search(r"(?m)^COPY deploy/docker/entrypoint.sh %s$" % re.escape(entry), text)
    assert re.search(r"(?m)^COPY deploy/docker/node.ini /etc/dynkv/node.ini$", text)


def entrypoint_args(tmp_path, env):
    """The dynkvd arguments entrypoint.sh builds, through a stub dynkvd."""
    stub = tmp_path / "dynkvd-stub"
    args = tmp_path / "args"
    stub.write_text("#!/bin/sh\nprintf '%%s\\n' \"$@\" > %s\n" % args)
    stub.chmod(0o755)
    with open(ENTRYPOINT) as f:
        script = f.read()
    assert "exec /usr/bin/dynkvd " in script and "conf=/etc/dynkv/node.ini" in script
    script = script.replace("exec /usr/bin/dynkvd ", "exec %s " % stub)
    script = script.replace("conf=/etc/dynkv/node.ini", "conf=%s" % NODE_INI)
    ep = tmp_path / "entrypoint.sh"
    ep.write_text(script)
    p = subprocess.run(["sh", str(ep)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return args.read_text().splitlines()


def test_entrypoint_makes_a_valid_node(tmp_path):
    p = subprocess.run(["sh", "-n", ENTRYPOINT], stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr
    ports = [dkbb.free_port() for _ in range(3)]
    env = dict(os.environ, DYNKV_NODE_ID="DynKV_0.pod", POD_IP="127.0.0.1",
               DYNKV_SEEDS="localhost:%d,seed.invalid:%d" % (ports[2], ports[2]),
               DYNKV_HTTP_PORT=str(ports[0]), DYNKV_RPC_PORT=str(ports[1]),
               DYNKV_GOSSIP_PORT=str(ports[2]))
    args = entrypoint_args(tmp_path, env)
    assert args[:2] == ["--config", NODE_INI], args
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert "node.id=dynkv_0-pod" in sets, sets
    assert "node.http_listen=127.0.0.1:%d" % ports[0] in sets, sets
    # host names go to the node as they are (it resolves them at each join attempt)
    assert "cluster.seeds=localhost:%d,seed.invalid:%d" % (ports[2], ports[2]) in sets, sets
    assert not any(s.startswith("node.advertise_address=") for s in sets), sets
    # the real dynkvd accepts what the entrypoint built (with this build's
    # plugins and a scratch data directory)
    data = tmp_path / "data"
    extra = ["--set", "storage.plugin_dir=" + dkbb.PLUGIN_PATH, "--set", "node.data_dir=%s" % data]
    check = ["--check-config" if a == "--config" else a for a in args] + extra
    p = subprocess.run([dkbb.DYNKVD] + check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    assert p.returncode == 0, p.stdout.decode()
    assert not data.exists()


def test_entrypoint_advertises_on_a_wildcard(tmp_path):
    env = dict(os.environ, DYNKV_NODE_ID="n1", DYNKV_ADVERTISE_ADDRESS="10.1.2.3")
    env.pop("POD_IP", None)
    sets = [a for a in entrypoint_args(tmp_path, env) if "=" in a]
    assert "node.http_listen=0.0.0.0:8080" in sets and "node.advertise_address=10.1.2.3" in sets, sets
    # what dynkvd says without one
    ini = tmp_path / "n.ini"
    ini.write_text("[node]\ngossip_listen = 0.0.0.0:7946\n[security]\ninsecure = true\n")
    p = subprocess.run([dkbb.DYNKVD, "--check-config", str(ini)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    assert p.returncode != 0 and b"advertise_address" in p.stdout, p.stdout


def test_probes_match_the_node(manifest, tmp_path):
    sts = the(manifest, "StatefulSet")[0]
    pod = sts["spec"]["template"]["spec"]
    c = pod["containers"][0]
    named = {p["name"]: p for p in c["ports"]}
    conf = node_conf()["node"]
    # container ports are the node's ports (gossip on TCP and UDP)
    want = {("http", "TCP"): port_of(conf["http_listen"]), ("rpc", "TCP"): port_of(conf["rpc_listen"]),
            ("gossip-tcp", "TCP"): port_of(conf["gossip_listen"]),
            ("gossip-udp", "UDP"): port_of(conf["gossip_listen"])}
    have = {(p["name"], p.get("protocol", "TCP")): p["containerPort"] for p in c["ports"]}
    assert have == want, "container ports %r, the node listens on %r" % (have, want)
    probes = {k: c[k] for k in ("startupProbe", "livenessProbe", "readinessProbe") if k in c}
    assert {"livenessProbe", "readinessProbe"} <= set(probes), probes
    assert probes["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # a real node (the image's node.ini, this build) answers every probe
    n = dkbb.Node("memory")
    n.extra_args = ["--config", NODE_INI]
    try:
        n.start()
        for kind, pr in probes.items():
            g = pr["httpGet"]
            port = g["port"]
            assert isinstance(port, int) or port in named, "%s port %r is not a container port" % (kind, port)
            cport = named[port]["containerPort"] if not isinstance(port, int) else port
            assert cport == port_of(conf["http_listen"]), \
                "%s probes port %r, the HTTP API is on %s" % (kind, port, conf["http_listen"])
            r = n.request("GET", g["path"])
            assert r.status == 200, "%s path %s answers %r" % (kind, g["path"], r)
    finally:
        assert n.cleanup() == 0


def test_services_seeds_volumes_and_budget(manifest):
    sts = the(manifest, "StatefulSet")[0]
    pod = sts["spec"]["template"]
    labels = pod["metadata"]["labels"]
    c = pod["spec"]["containers"][0]
    conf = node_conf()
    names = {p["name"] for p in c["ports"]}
    headless = manifest[("Service", sts["spec"]["serviceName"])]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"].get("publishNotReadyAddresses") is True, \
        "joining peers must resolve each other before they are ready"
    for svc in the(manifest, "Service"):
        sel = svc["spec"]["selector"]
        assert all(labels.get(k) == v for k, v in sel.items()), "%s selects %r" % (svc["metadata"]["name"], sel)
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in names, "%s targets unknown port %r" % (svc["metadata"]["name"], p)
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # seeds: this StatefulSet's pods through the headless Service, gossip port
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    gossip = port_of(conf["node"]["gossip_listen"])
    replicas = sts["spec"]["replicas"]
    for seed in env["DYNKV_SEEDS"]["value"].split(","):
        host, port = seed.rsplit(":", 1)
        m = re.match(r"^%s-(\d+)\.%s$" % (sts["metadata"]["name"], headless["metadata"]["name"]), host)
        assert m and int(m.group(1)) < replicas, "seed %s is not a pod of the StatefulSet" % seed
        assert int(port) == gossip, seed
    # the data directory is on the claim
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    data_mount = [mounts[n] for n in claims if n in mounts]
    assert data_mount and conf["node"]["data_dir"].startswith(data_mount[0].rstrip("/") + "/"), \
        (mounts, conf["node"]["data_dir"])
    # non-root as the image's user; room to drain before SIGKILL
    sc = pod["spec"]["securityContext"]
    with open(DOCKERFILE) as f:
        uid = re.findall(r"(?m)^USER\s+(\d+)", f.read())[-1]
    assert sc["runAsNonRoot"] is True and str(sc["runAsUser"]) == uid
    pre = c["lifecycle"]["preStop"]["exec"]["command"]
    pre_s = int(pre[1]) if pre[0] == "sleep" else 0
    assert pod["spec"]["terminationGracePeriodSeconds"] > 30 + pre_s, "no time for drain_timeout (30 s)"
    # the budget keeps a quorum of every key's replicas
    pdb = the(manifest, "PodDisruptionBudget")[0]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    n_replicas = int(conf.get("cluster", {}).get("n_replicas", 3))
    assert pdb["spec"]["maxUnavailable"] <= (n_replicas - 1) // 2, pdb["spec"]


PRESTOP = os.path.join(DEPLOY, "docker", "prestop.sh")


def run_prestop(tmp_path, hostname, replicas, decommission_status=200, leaves=True):
    """deploy/docker/prestop.sh with stub curl and sleep on PATH: the stub
    API server answers the scale subresource with `replicas`, the node its
    decommission and /cluster. Returns (curl calls, log text, sleeps)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    calls = tmp_path / "curl-calls"
    sleeps = tmp_path / "sleeps"
    for f in (calls, sleeps):
        f.write_text("")
    scale = '{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"dynkv"},' \
            '"spec":{"replicas":%d},"status":{"replicas":4,"selector":"x"}}' % replicas
    member = '{"id":"%s","state":"normal","status":"%s","gossip":"10.0.0.9:7946"}' % (
        hostname, "left" if leaves else "leaving")
    (bindir / "curl").write_text(
        "#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\n"
        "case \"$*\" in\n"
        "  */scale*) printf '%%s' '%s';;\n"
        "  */admin/decommission*) printf '{\"status\":\"leaving\"}\\n%d';;\n"
        "  */cluster*) printf '%%s' '{\"node\":\"x\",\"members\":[%s]}';;\n"
        "  *) exit 7;;\nesac\n" % (calls, scale, decommission_status, member))
    (bindir / "sleep").write_text("#!/bin/sh\necho \"$1\" >> %s\n" % sleeps)
    for f in ("curl", "sleep"):
        (bindir / f).chmod(0o755)
    sa = tmp_path / "sa"
    sa.mkdir(exist_ok=True)
    (sa / "token").write_text("sa-token")
    (sa / "namespace").write_text("prod")
    (sa / "ca.crt").write_text("")
    tok = tmp_path / "admin-token"
    tok.write_text("adm1n")
    logf = tmp_path / "prestop.log"
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), HOSTNAME=hostname,
               POD_IP="10.0.0.9", DYNKV_SA_DIR=str(sa), DYNKV_ADMIN_TOKEN_FILE=str(tok),
               DYNKV_PRESTOP_LOG=str(logf), KUBERNETES_SERVICE_HOST="10.96.0.1",
               KUBERNETES_SERVICE_PORT="443", DYNKV_DECOMMISSION_TIMEOUT="3")
    p = subprocess.run(["sh", PRESTOP], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    log = logf.read_text() if logf.exists() else ""
    return calls.read_text().splitlines(), log, sleeps.read_text().split()


def test_prestop_decommissions_on_scale_down(manifest, tmp_path):
    sts = the(manifest, "StatefulSet")[0]
    pod = sts["spec"]["template"]["spec"]
    c = pod["containers"][0]
    # the hook is the image's script, which the Dockerfile installs
    cmd = c["lifecycle"]["preStop"]["exec"]["command"]
    with open(DOCKERFILE) as f:
        docker = f.read()
    assert re.search(r"(?m)^COPY deploy/docker/prestop.sh %s$" % re.escape(cmd[0]), docker), cmd
    assert re.search(r"(?m)^RUN apt-get.*\n(?:.*\\\n)*.*\bcurl\b", docker), "the hook needs curl in the image"
    p = subprocess.run(["sh", "-n", PRESTOP], stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr
    # the pod's service account may read the StatefulSet's scale, nothing more
    sa = pod["serviceAccountName"]
    assert ("ServiceAccount", sa) in manifest
    binding = the(manifest, "RoleBinding")[0]
    assert {"kind": "ServiceAccount", "name": sa} in binding["subjects"]
    role = manifest[("Role", binding["roleRef"]["name"])]
    assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["statefulsets/scale"],
                              "resourceNames": [sts["metadata"]["name"]], "verbs": ["get"]}], role
    # an optional admin token from a Secret, where the script looks for it
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    tok = [n for n, v in vols.items() if v.get("secret", {}).get("optional")]
    assert tok and mounts[tok[0]] == "/etc/dynkv/admin-token", (tok, mounts)
    with open(PRESTOP) as f:
        script = f.read()
    assert "/etc/dynkv/admin-token/token" in script
    # room for the decommission before SIGKILL
    timeout = int(re.search(r"DYNKV_DECOMMISSION_TIMEOUT:-(\d+)", script).group(1))
    assert pod["terminationGracePeriodSeconds"] > timeout + 30 + 5, pod["terminationGracePeriodSeconds"]
    http = port_of(node_conf()["node"]["http_listen"])
    assert "${DYNKV_HTTP_PORT:-%d}" % http in script

    # scaled from 4 to 3: dynkv-3 decommissions (with the admin token) and
    # waits until it left; dynkv-2 and a replica count it cannot read keep
    # the member and only sleep
    calls, log, sleeps = run_prestop(tmp_path, "dynkv-3", 3)
    assert "https://10.96.0.1:443/apis/apps/v1/namespaces/prod/statefulsets/dynkv/scale" in calls[0], calls
    assert "Authorization: Bearer sa-token" in calls[0], calls
    post = [l for l in calls if "/admin/decommission" in l]
    assert len(post) == 1 and "-X POST" in post[0] and "http://10.0.0.9:%d/admin/decommission" % http in post[0], calls
    assert "Authorization: Bearer adm1n" in post[0], post
    assert any("/cluster" in l for l in calls), calls
    assert "decommissioning dynkv-3" in log and "dynkv-3 left the ring" in log, log
    assert sleeps == [], sleeps

    calls, log, sleeps = run_prestop(tmp_path, "dynkv-2", 3)
    assert not any("/admin/decommission" in l for l in calls), calls
    assert sleeps == ["5"], sleeps

    calls, log, sleeps = run_prestop(tmp_path, "dynkv-3", 3, decommission_status=409)
    assert "decommission refused (409)" in log, log
    assert not any("/cluster" in l for l in calls), calls

    calls, log, sleeps = run_prestop(tmp_path, "dynkv-3", 3, leaves=False)
    assert "did not finish leaving" in log, log
