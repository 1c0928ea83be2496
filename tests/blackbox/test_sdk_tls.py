"""libdynkv-client (sdk/dkc-probe) against one HTTPS node with client
tokens: with the CA file and a write token it puts and reads back over
TLS on keep-alive connections; without a token (or with a wrong one)
dkc_open fails with the server's message; against a CA that did not sign the
node's certificate dkc_open fails and says why."""

import os
import json
import shutil
import subprocess
import tempfile

import pytest

import dkbb
from test_auth import make_token, write_tokens
from test_tls import TlsNode, make_ca, make_cert

PROBE = os.path.join(dkbb.BUILDDIR, "sdk", "dkc-probe")


@pytest.fixture(scope="module")
def snode():
    if not os.access(PROBE, os.X_OK):
        pytest.fail("%s is not built (make check builds it)" % PROBE)
    d = tempfile.mkdtemp(prefix="dynkv-sdk-tls-")
    ca_key, ca = make_ca(d, "ca")
    cert, key = make_cert(d, "server", ca_key, ca)
    _, other = make_ca(d, "other")
    token, line = make_token("sdk-writer", "write")
    n = TlsNode({"ca": ca, "cert": cert, "key": key})
    path = os.path.join(n.root, "tokens")
    write_tokens(path, [line])
    n.sets.append("security.tokens_file=" + path)
    n.pki = {"ca": ca, "other": other, "token": token}
    try:
        n.start()
        yield n
    finally:
        rc = n.cleanup()
        shutil.rmtree(d, ignore_errors=True)
    assert rc == 0, n.log_text[-4000:]


def probe(node, commands, **env):
    e = dict(os.environ)
    e.update(env)
    p = subprocess.run([PROBE, "https://127.0.0.1:%d" % node.port], input="\n".join(commands) + "\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, timeout=60)
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines()], p.stderr


def test_tls_and_token(snode):
    rc, out, err = probe(snode, ["put sdk-tls hello", "get sdk-tls", "stats"],
                         DKC_CACERT=snode.pki["ca"], DKC_TOKEN=snode.pki["token"])
    assert rc == 0, err
    assert out[1]["rc"] == 0, out
    assert (out[2]["rc"], out[2]["values"]) == (0, ["hello"]), out
    assert (out[3]["attempts"], out[3]["connects"]) == (2, 2), out   # the ring fetch's, then one kept


def test_no_token_is_refused(snode):
    rc, out, err = probe(snode, ["get sdk-tls"], DKC_CACERT=snode.pki["ca"])
    assert rc == 1 and "401 unauthorized" in err, (rc, out, err)   # dkc_open: DKC_EAUTH
    rc, out, err = probe(snode, ["get sdk-tls"], DKC_CACERT=snode.pki["ca"], DKC_TOKEN="not-a-token")
    assert rc == 1 and "401" in err, (rc, out, err)


def test_wrong_ca_fails_to_open(snode):
    rc, out, err = probe(snode, ["get sdk-tls"], DKC_CACERT=snode.pki["other"], DKC_TOKEN=snode.pki["token"])
    assert rc == 1 and "not trusted" in err, (rc, out, err)
