"""GET /ui/ serves the embedded dashboard (HTML, its own CSP, no external
resource), /ui redirects there, and the read-only views the page fetches
from other members allow cross-origin reads. The page itself is driven in
Chromium by tests/cluster/test_ui.py."""

import re


def test_ui_page(node):
    r = node.request("GET", "/ui/")
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/html; charset=utf-8", r.headers
    csp = r.header("Content-Security-Policy") or ""
    assert "default-src 'none'" in csp and "connect-src" in csp, csp
    html = r.body.decode()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "/cluster/ring?ranges" in html
    # no CDN: nothing is loaded from another origin
    assert not re.search(r'(src|href)="(https?:)?//', html), "external resource in the page"
    assert node.request("GET", "/ui/index.html").body == r.body
    r = node.request("GET", "/ui")
    assert r.status == 301 and r.header("Location") == "/ui/", r
    assert node.request("POST", "/ui/", body=b"").status == 405
    r = node.request("GET", "/metrics")
    assert r.header("Access-Control-Allow-Origin") == "*", r.headers
