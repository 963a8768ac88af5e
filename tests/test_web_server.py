"""The web UI served as the daemon serves it (``daemon.WebServer``, waitress on
loopback): oversized bodies refused before they are read, the trusted proxy's
X-Forwarded-Proto and -For (and nobody else's), relative redirects, the sign-in lock-out
from two client addresses."""

from __future__ import annotations

import http.client
import re
import socket
import time
from urllib.parse import urlencode

import pytest
from billing_addon.web import auth
from billing_addon.web.app import make_app

from billing_addon import config
from billing_addon.daemon import WebServer
from tests.web_fakes import FakeActivation

PROXY, OTHER = "127.0.0.2", "127.0.0.3"
ADMIN_PW = "admin-secret-1"


@pytest.fixture
def server(db_path):
    cfg = config.load(None, {"web": {"port": "0", "max_upload_kb": "64", "trusted_proxy": PROXY}})
    web = WebServer(make_app(cfg, FakeActivation()), cfg.section("web")).start()
    auth.set_admin_password(ADMIN_PW)
    yield web.address
    web.stop()


def _get(address, path, source, headers):
    conn = http.client.HTTPConnection(*address, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


def test_an_oversized_body_is_refused_before_it_is_sent(server):
    """A 300 MB POST to /login: the 413 and the close come after the headers, while
    the client has sent 1 MB at most."""
    sent = 0
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: box\r\nContent-Type: "
                     b"application/x-www-form-urlencoded\r\nContent-Length: 314572800\r\n\r\n")
        sock.settimeout(0.2)
        reply = b""
        deadline = time.monotonic() + 5
        while not reply and sent < 1024 * 1024 and time.monotonic() < deadline:
            try:
                sent += sock.send(b"x" * 65536)
            except OSError:  # the server already closed its side
                break
            try:
                reply = sock.recv(4096)
            except socket.timeout:
                pass
        sock.settimeout(5)
        while not reply.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), (reply[:200], sent)
    assert b"Connection: close" in reply
    assert sent <= 1024 * 1024


def test_a_body_a_little_over_the_limit_gets_the_web_uis_own_answer(server):
    conn = http.client.HTTPConnection(*server, timeout=10)
    body = b"x" * (200 * 1024)  # over 64 KB, under the server's 64 KB + 1 MB
    conn.request("POST", "/login", body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    assert response.status == 413 and "The largest file accepted is 64 KB" in text


def test_only_the_trusted_proxy_makes_the_cookie_secure(server):
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"}
    via_proxy = _get(server, "/login", PROXY, https)
    assert via_proxy.status == 200
    assert "; Secure" in via_proxy.getheader("Set-Cookie")
    direct = _get(server, "/login", OTHER, https)  # anyone else claiming HTTPS
    assert direct.status == 200
    assert "Secure" not in direct.getheader("Set-Cookie")
    plain = _get(server, "/login", PROXY, {})  # the proxy itself, over plain HTTP
    assert "Secure" not in plain.getheader("Set-Cookie")


def test_redirects_do_not_reflect_the_host_header(server):
    response = _get(server, "/extensions?n=1001", OTHER, {"Host": "evil.example"})
    assert response.status == 303
    assert response.getheader("Location").startswith("/login?next=")


def _sign_in(address, source, username, password, headers=None):
    """GET /login then POST it, from ``source``: the status of the POST."""
    conn = http.client.HTTPConnection(*address, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/login", headers=headers or {})
        page = conn.getresponse()
        text = page.read().decode()
        cookie = page.getheader("Set-Cookie").split(";")[0]
        token = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
        body = urlencode({"username": username, "password": password, "csrf": token})
        conn.request("POST", "/login", body=body, headers={
            **(headers or {}), "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded"})
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def test_failures_at_one_address_do_not_lock_the_admin_out_at_another(server):
    for _ in range(5):
        assert _sign_in(server, "127.0.0.4", "admin", "guess") == 401
    assert _sign_in(server, "127.0.0.4", "admin", ADMIN_PW) == 429
    assert _sign_in(server, "127.0.0.5", "admin", ADMIN_PW) == 303


def test_behind_the_proxy_the_lock_out_follows_the_forwarded_client(server):
    for _ in range(5):
        assert _sign_in(server, PROXY, "admin", "guess", {"X-Forwarded-For": "192.0.2.4"}) == 401
    assert _sign_in(server, PROXY, "admin", ADMIN_PW, {"X-Forwarded-For": "192.0.2.4"}) == 429
    assert _sign_in(server, PROXY, "admin", ADMIN_PW, {"X-Forwarded-For": "192.0.2.5"}) == 303
    # a client that is not the proxy cannot pick its address by header
    for _ in range(5):
        _sign_in(server, OTHER, "admin", "guess", {"X-Forwarded-For": "192.0.2.9"})
    assert _sign_in(server, OTHER, "admin", ADMIN_PW, {"X-Forwarded-For": "192.0.2.10"}) == 429
