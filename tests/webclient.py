"""A small in-process WSGI client for the web UI tests (cookies, forms, CSRF)."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlencode, urlsplit

Form = Union[Dict[str, object], Sequence[Tuple[str, str]]]


@dataclass
class Response:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes
    errors: str = ""

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    def headers_all(self, name: str) -> List[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def location(self) -> str:
        loc = self.header("Location") or ""
        parts = urlsplit(loc)
        return parts.path + ("?" + parts.query if parts.query else "")


def _pairs(data: Optional[Form]) -> List[Tuple[str, str]]:
    if data is None:
        return []
    items = data.items() if isinstance(data, dict) else data
    out = []
    for key, value in items:
        if isinstance(value, (list, tuple)):
            out += [(key, str(v)) for v in value]
        else:
            out.append((key, str(value)))
    return out


@dataclass
class Client:
    app: object
    cookies: Dict[str, str] = field(default_factory=dict)
    remote_addr: str = "127.0.0.1"

    def request(self, method: str, path: str, body: bytes = b"", content_type: str = "",
                headers: Optional[Dict[str, str]] = None, check: Optional[int] = None) -> Response:
        parts = urlsplit(path)
        environ = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": self.remote_addr,
            "HTTP_HOST": "localhost", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)) if body else "",
        }
        if content_type:
            environ["CONTENT_TYPE"] = content_type
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for key, value in (headers or {}).items():
            environ["HTTP_" + key.upper().replace("-", "_")] = value
        captured = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = response_headers

        chunks = self.app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        response = Response(captured["status"], captured["headers"], data)
        if response.status == 500:
            response.errors = environ["wsgi.errors"].getvalue()
        for value in response.headers_all("Set-Cookie"):
            cookie = SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if check is not None:
            assert response.status == check, (response.status, response.errors or response.text[:2000])
        return response

    def get(self, path: str, check: Optional[int] = None, **kw) -> Response:
        return self.request("GET", path, check=check, **kw)

    def post(self, path: str, data: Optional[Form] = None, check: Optional[int] = None,
             csrf: Optional[str] = "auto", files: Optional[Dict[str, Tuple[str, bytes]]] = None,
             **kw) -> Response:
        pairs = _pairs(data)
        if csrf == "auto":
            csrf = self.csrf()
        if csrf is not None:
            pairs.append(("csrf", csrf))
        if files:
            boundary = uuid.uuid4().hex
            out = io.BytesIO()
            for key, value in pairs:
                out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode())
                out.write(value.encode("utf-8") + b"\r\n")
            for key, (filename, content) in files.items():
                out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; '
                          f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
                out.write(content + b"\r\n")
            out.write(f"--{boundary}--\r\n".encode())
            return self.request("POST", path, out.getvalue(), f"multipart/form-data; boundary={boundary}",
                                check=check, **kw)
        return self.request("POST", path, urlencode(pairs).encode(), "application/x-www-form-urlencoded",
                            check=check, **kw)

    def download_xlsx(self, path: str) -> Response:
        """An .xlsx export: the file itself, streamed as the answer."""
        r = self.get(path, check=200)
        assert r.header("Content-Type").startswith("application/vnd.openxmlformats"), r.header("Content-Type")
        return r

    def csrf(self) -> str:
        """The session's CSRF token, read from a page (the login page when signed out)."""
        page = self.get("/login" if "billing_session" not in self.cookies else "/_csrf_probe")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if not match:
            page = self.get("/login")
            match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text[:500]
        return match.group(1)

    def login(self, username: str, password: str, check: Optional[int] = 303) -> Response:
        self.get("/login")
        return self.post("/login", {"username": username, "password": password}, check=check)


def activated_app(overrides: Optional[dict] = None, admin_password: str = "admin-secret-1"):
    """The web UI on the test's open store, billing activated by the admin (a trial of
    ``web_fakes.FakeActivation``); ``overrides``: config sections, as ``config.load``."""
    from billing_addon.web import auth
    from billing_addon.web.app import make_app

    from billing_addon import config
    from tests.web_fakes import FakeActivation

    app = make_app(config.load(None, overrides or {}), FakeActivation())
    auth.set_admin_password(admin_password)
    admin = Client(app)
    admin.login("admin", admin_password)
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    return app
