"""The JSON API under ``/api/v1`` (docs/api.md), on the web UI's server: one module per
area (extensions, rates, history, stays), what they share in ``core``, the OpenAPI document
in ``openapi``.  ``install`` adds its routes to the app."""

from __future__ import annotations

import json
from typing import List

import bottle

from . import extensions, history, openapi, rates, stays
from .core import PREFIX, ApiCore, Operation

OPERATIONS: List[Operation] = (extensions.OPERATIONS + rates.OPERATIONS + history.OPERATIONS
                               + stays.OPERATIONS)


def install(app: bottle.Bottle, ui, cfg) -> ApiCore:
    """The API's routes, and its answers to no such path (404) or method (405) as JSON:
    the web UI's error pages stay for every other path."""
    api = ApiCore(ui, cfg)
    app.route(PREFIX + "/openapi.json", "GET", openapi.serve)
    for op in OPERATIONS:
        app.route(op.path, op.method, api.callback(op))
    for code in (404, 405):
        app.error(code)(_either(app.error_handler.get(code)))
    return api


def _either(web_handler):
    def handle(error: bottle.HTTPError):
        if not bottle.request.path.startswith(PREFIX + "/"):
            return web_handler(error) if web_handler else error.body
        bottle.response.content_type = "application/json"
        method, path = bottle.request.method, bottle.request.path[:80]
        if error.status_code == 405:
            return json.dumps({"error": {"code": "method-not-allowed", "message":
                                         f"{path} does not take {method}"}})
        return json.dumps({"error": {"code": "no-such-operation", "message": f"there is no "
                                     f"operation {method} {path} (see {PREFIX}/openapi.json)"}})
    return handle
