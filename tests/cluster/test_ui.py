"""The /ui/ dashboard in a real browser: Debian's headless Chromium driven
through chromedriver's WebDriver protocol (plain HTTP from the standard
library) against a 3-node cluster. The page loads without console errors,
draws every token range of the ring, lists the members /cluster lists with
their states and per-node request rates, and shows a killed node as down
within 10 s. With client tokens on (and metrics_need_token), the page asks
for a token, refuses a wrong one, and with a read token draws the ring and
every member's rates (cross-origin /metrics with the token). Screenshots go
to the test log folder."""

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import dkcluster
from dkcluster import wait_until

IP_PREFIX = "127.0.12"
SHOTS = os.path.join(dkcluster.BUILDDIR, "tests", "cluster")


def find(*names):
    for n in names:
        p = shutil.which(n) or (n if os.path.isabs(n) and os.access(n, os.X_OK) else None)
        if p:
            return p
    return None


class WebDriver:
    """Just enough of the W3C WebDriver protocol: a session, navigation,
    scripts, the browser log and screenshots."""

    def __init__(self, driver, browser):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.profile = tempfile.mkdtemp(prefix="dynkv-chromium-")
        self.proc = subprocess.Popen([driver, "--port=%d" % self.port], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.call("GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise AssertionError("chromedriver did not start")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": browser, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--user-data-dir=" + self.profile]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = json.loads(r.read().decode() or "{}")
        finally:
            conn.close()
        value = data.get("value", data)
        if r.status != 200:
            raise AssertionError("WebDriver %s %s: %d %r" % (method, path, r.status, value))
        return value

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.session, path), body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def js(self, script):
        return self.s("POST", "/execute/sync", {"script": script, "args": []})

    def log(self):
        for path in ("/se/log", "/log"):
            try:
                return self.s("POST", path, {"type": "browser"})
            except AssertionError:
                continue
        return []

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))

    def close(self):
        try:
            if getattr(self, "session", None):
                self.s("DELETE", "")
        except (AssertionError, OSError):
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def browser():
    chrome = find("chromium", "/usr/bin/chromium")
    driver = find("chromedriver", "/usr/bin/chromedriver")
    if not chrome or not driver:
        pytest.skip("headless Chromium is not installed (Debian packages chromium, chromium-driver)")
    wd = WebDriver(driver, chrome)
    yield wd
    wd.close()


ROWS = """return Array.from(document.querySelectorAll('#members tbody tr')).map(
    tr => [tr.dataset.node, tr.dataset.state, tr.children[6].textContent, tr.children[7].textContent]);"""


def test_dashboard_in_chromium(make_cluster, browser):
    c = make_cluster(3)
    n1 = c.nodes[0]
    for i in range(30):
        assert dkcluster.put(c.nodes[i % 3], "ui-%d" % i, "v", cl="all").status == 200
    r = dkcluster.request(n1, "GET", "/ui/")
    assert r.status == 200 and r.header("Content-Type").startswith("text/html"), r
    assert b"<svg" in r.body and b"http://" not in r.body.split(b"<script>")[0].replace(
        b"http://www.w3.org", b""), "the page loads something from elsewhere"

    browser.go("http://%s/ui/" % n1.http)
    updates = "return Number(document.body.dataset.updates || 0);"
    assert wait_until(lambda: browser.js(updates) >= 2, 30), browser.js("return document.body.innerHTML;")
    # more traffic, so the next refresh has a rate to show
    for i in range(20):
        dkcluster.get(c.nodes[i % 3], "ui-%d" % i)
    done = browser.js(updates)
    assert wait_until(lambda: browser.js(updates) > done, 20)

    view = dkcluster.view(n1)
    rows = browser.js(ROWS)
    assert sorted((r[0], r[1]) for r in rows) == sorted((m["id"], m["state"]) for m in view["members"]), rows
    assert all(r[2] != "-" for r in rows), "no request rate shown: %r" % rows
    arcs = browser.js("return Array.from(document.querySelectorAll('#ring path[data-owner]')).map(p => p.dataset.owner);")
    assert len(arcs) == 768 and sorted(set(arcs)) == ["n1", "n2", "n3"], (len(arcs), sorted(set(arcs)))
    severe = [e for e in browser.log() if e.get("level") in ("SEVERE", "ERROR")]
    assert not severe, "console errors: %r" % severe
    browser.screenshot(os.path.join(SHOTS, "ui-dashboard.png"))

    # a killed node turns down on the page within 10 s
    c.kill("n3")
    t0 = time.monotonic()
    down = "return (document.querySelector('#members tr[data-node=\"n3\"]') || {dataset: {}}).dataset.state;"
    assert wait_until(lambda: browser.js(down) == "down", 10), browser.js(ROWS)
    took = time.monotonic() - t0
    browser.screenshot(os.path.join(SHOTS, "ui-dashboard-n3-down.png"))
    owners_down = browser.js("""return Array.from(document.querySelectorAll('#ring path[data-owner]'))
        .filter(p => p.dataset.owner === 'n3').map(p => p.getAttribute('fill'));""")
    assert owners_down and len(set(owners_down)) == 1, owners_down
    assert took < 10, took


def test_dashboard_with_tokens(make_cluster, browser, tmp_path):
    toks = {}
    for role in ("read", "write"):
        out = subprocess.run([dkcluster.DYNKVD, "token", "ui-" + role, role], stdout=subprocess.PIPE,
                             check=True, timeout=30).stdout.decode().splitlines()
        toks[role] = out
    path = tmp_path / "tokens"
    path.write_text(toks["read"][1] + "\n" + toks["write"][1] + "\n")
    c = make_cluster(2, sets=["security.tokens_file=%s" % path, "security.metrics_need_token=true"],
                     start=False)
    c.token = toks["read"][0]
    for n in c.nodes:
        n.token = c.token
    c.start(timeout=30)
    n1 = c.nodes[0]
    auth = {"Authorization": "Bearer " + toks["write"][0]}
    for i in range(10):
        assert dkcluster.put(c.nodes[i % 2], "uit-%d" % i, "v", cl="all", headers=auth).status == 200
    assert dkcluster.request(n1, "GET", "/ui/").status == 200      # the page itself is open

    browser.go("http://%s/ui/" % n1.http)
    login = "return !document.getElementById('login').hidden;"
    assert wait_until(lambda: browser.js(login), 10), browser.js("return document.body.innerHTML;")
    submit = """const i = document.getElementById('token'); i.value = '%s';
        document.getElementById('login').requestSubmit(); return true;"""
    browser.js(submit % "not-a-token")
    why = "return document.getElementById('login-why').textContent;"
    assert wait_until(lambda: browser.js(login) and "refused" in browser.js(why), 10), browser.js(why)
    browser.js(submit % toks["read"][0])
    updates = "return Number(document.body.dataset.updates || 0);"
    assert wait_until(lambda: browser.js(updates) >= 2, 30), browser.js("return document.body.innerHTML;")
    for i in range(10):
        dkcluster.get(c.nodes[i % 2], "uit-%d" % i, headers=auth)
    done = browser.js(updates)
    assert wait_until(lambda: browser.js(updates) > done, 20)
    rows = browser.js(ROWS)
    assert sorted(r[0] for r in rows) == ["n1", "n2"], rows
    assert all(r[2] != "-" for r in rows), "no request rate shown (metrics with the token): %r" % rows
    assert not browser.js(login)
    assert browser.js("return sessionStorage.getItem('dynkv-token');") == toks["read"][0]
    severe = [e for e in browser.log() if e.get("level") in ("SEVERE", "ERROR")
              and "401" not in e.get("message", "")]
    assert not severe, "console errors: %r" % severe
    browser.screenshot(os.path.join(SHOTS, "ui-dashboard-tokens.png"))
