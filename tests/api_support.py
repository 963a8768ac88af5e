"""The JSON API's test client: every answer it gets is checked against the OpenAPI
document (its status is documented for that operation, its body matches the schema),
and the operations called are recorded, so a test can say every one was exercised."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Set, Tuple

from billing_addon.web.api.openapi import DOCUMENT
from openapi_schema_validator import OAS30Validator

from tests.webclient import Client, Response

CALLED: Set[Tuple[str, str]] = set()  # (method, document path) of every checked answer


def _resolved(schema: Any) -> Any:
    """``schema`` with every ``$ref`` of the document replaced by what it names."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _resolved(DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
        return {key: _resolved(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_resolved(value) for value in schema]
    return schema


def _template(path: str) -> str:
    """The document's path that ``path`` (without query) is: the one with the most
    literal text (``/rates/test`` before ``/rates/{rate_id}``)."""
    found = [p for p in DOCUMENT["paths"]
             if re.fullmatch(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(p)), path)]
    assert found, f"{path} is not in the OpenAPI document"
    return max(found, key=lambda p: len(re.sub(r"\{[a-z_]+\}", "", p)))


def check(method: str, path: str, response: Response) -> None:
    template = _template(path.split("?")[0])
    operation = DOCUMENT["paths"][template].get(method.lower())
    assert operation is not None, f"{method} {template} is not in the OpenAPI document"
    documented = operation["responses"].get(str(response.status))
    assert documented is not None, (f"{method} {path}: status {response.status} is not documented",
                                    response.text[:500])
    content_type = (response.header("Content-Type") or "").split(";")[0]
    assert content_type in documented["content"], (method, path, content_type)
    if content_type == "application/json":
        OAS30Validator(_resolved(documented["content"][content_type]["schema"])).validate(
            json.loads(response.body))
    CALLED.add((method.upper(), template))


class ApiClient:
    """Requests with a token (or none), JSON bodies, every answer checked."""

    def __init__(self, app, token: Optional[str] = None):
        self.client = Client(app)
        self.token = token

    def call(self, method: str, path: str, body: Any = None, *, raw: Optional[bytes] = None,
             content_type: str = "application/json", headers: Optional[Dict[str, str]] = None,
             check_status: Optional[int] = None, token: Optional[str] = "default") -> Response:
        sent = dict(headers or {})
        token = self.token if token == "default" else token
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        response = self.client.request(method, path, data, content_type if data else "",
                                       headers=sent)
        check(method, path, response)
        if check_status is not None:
            assert response.status == check_status, (response.status, response.text[:1000])
        return response

    def get(self, path: str, **kw) -> Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> Response:
        return self.call("POST", path, body, **kw)

    def json(self, method: str, path: str, body: Any = None, status: int = 200, **kw) -> Any:
        return json.loads(self.call(method, path, body, check_status=status, **kw).body)


def error_code(response: Response) -> str:
    return json.loads(response.body)["error"]["code"]


def documented_operations() -> List[Tuple[str, str]]:
    return sorted((method.upper(), path) for path, ops in DOCUMENT["paths"].items()
                  for method in ops)
