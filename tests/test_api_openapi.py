"""The OpenAPI document of /api/v1 (web/api/openapi.py): valid OpenAPI 3, exactly the
routes Bottle serves under /api/v1 (a route added without its entry fails here), and
every operation called once with its answer checked against the document."""

from __future__ import annotations

import json
import re

import pytest
from billing_addon.web.api.openapi import DOCUMENT
from openapi_spec_validator import validate

from billing_addon import api_tokens
from tests import api_support
from tests.api_support import ApiClient, documented_operations
from tests.test_api import box  # noqa: F401 - the fixture


def test_the_document_is_valid_openapi_3():
    validate(DOCUMENT)


def _served(app):
    """(METHOD, document path) of every /api/v1 route in Bottle's route table."""
    found = set()
    for route in app.routes:
        if not route.rule.startswith("/api/v1/"):
            continue
        found.add((route.method, re.sub(r"<([a-z_]+)(:[^>]*)?>", r"{\1}", route.rule)))
    return found


def test_every_served_route_is_in_the_document_and_back(box):  # noqa: F811
    app, _tokens, _path = box
    assert _served(app) == set(documented_operations())


# one call of every operation: (method, path, body)
CALLS = [
    ("GET", "/api/v1/openapi.json", None),
    ("GET", "/api/v1/extensions?q=100", None),
    ("GET", "/api/v1/extensions/1001", None),
    ("PATCH", "/api/v1/extensions/1001", {"name": "Lobby"}),
    ("POST", "/api/v1/extensions/1001/recharge", {"amount": "1.25"}),
    ("POST", "/api/v1/extensions/1001/adjust", {"amount": "-0.25", "reason": "typo"}),
    ("GET", "/api/v1/accounts", None),
    ("GET", "/api/v1/accounts/8001", None),
    ("POST", "/api/v1/accounts/8001/recharge", {"amount": "4"}),
    ("POST", "/api/v1/accounts/8001/adjust", {"amount": "-1", "reason": "fee"}),
    ("GET", "/api/v1/rates", None),
    ("POST", "/api/v1/rates", {"prefix": "8", "rate": "0.02", "unit": 60}),
    ("GET", "/api/v1/rates/test?extension=1001&dialed=912", None),
    ("GET", "/api/v1/rates/export.csv", None),
    ("POST", "/api/v1/rates/import", "CSV"),
    ("GET", "/api/v1/rates/1", None),
    ("PUT", "/api/v1/rates/1", {"prefix": "9", "rate": "0.02", "unit": 1}),
    ("DELETE", "/api/v1/rates/1", None),
    ("GET", "/api/v1/calls?limit=2", None),
    ("GET", "/api/v1/calls/export.csv", None),
    ("GET", "/api/v1/recharges?limit=2", None),
    ("GET", "/api/v1/recharges/export.csv", None),
    ("GET", "/api/v1/statistics?by=year", None),
    ("POST", "/api/v1/extensions/1004/check-in", {"guest": "Ann Lee", "deposit": "20"}),
    ("GET", "/api/v1/stays?open=1", None),
    ("POST", "/api/v1/extensions/1004/check-out", {}),
    ("GET", "/api/v1/statements", None),
    ("GET", "/api/v1/statements/S-000001", None),
    ("GET", "/api/v1/statements/S-000001.pdf", None),
]


def test_every_operation_answers_as_the_document_says(box):  # noqa: F811
    app, tokens, _path = box
    client = ApiClient(app, tokens["billing"])
    api_support.CALLED.clear()
    deck = client.get("/api/v1/rates/export.csv").body
    for method, path, body in CALLS:
        if body == "CSV":
            response = client.call(method, path, raw=deck, content_type="text/csv")
        else:
            response = client.call(method, path, body)
        assert response.status in (200, 201), (method, path, response.text[:300])
    assert api_support.CALLED == set(documented_operations())


@pytest.mark.parametrize("role", api_tokens.ROLES)
def test_errors_of_every_role_answer_as_the_document_says(box, role):  # noqa: F811
    """Refusals are checked against the document too (their status is documented)."""
    app, tokens, _path = box
    client = ApiClient(app, tokens[role])
    for method, path, body in CALLS:
        if body == "CSV":
            client.call(method, path, raw=b"nonsense", content_type="text/csv")
        elif path != "/api/v1/openapi.json":
            client.call(method, path, {"unknown": 1} if body else None)


def test_no_such_operation_or_method_answers_json(box):  # noqa: F811
    app, tokens, _path = box
    client = ApiClient(app, tokens["billing"]).client
    response = client.request("GET", "/api/v1/nothing")
    assert response.status == 404 and response.header("Content-Type") == "application/json"
    assert json.loads(response.body)["error"]["code"] == "no-such-operation"
    response = client.request("DELETE", "/api/v1/extensions/1001")
    assert response.status == 405 and "GET" in response.header("Allow")
    assert json.loads(response.body)["error"]["code"] == "method-not-allowed"
    assert client.request("GET", "/nothing").header("Content-Type").startswith("text/html")
