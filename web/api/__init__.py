"""The JSON API under ``/api/v1`` (docs/api.md), on the web UI's server: one module per
area (extensions, rates, history, stays), what they share in ``core``, the OpenAPI document
in ``openapi``.  ``install`` adds its routes to the app."""

from __future__ import annotations

from typing import List

import bottle

from . import extensions, history, openapi, rates, stays
from .core import PREFIX, ApiCore, ApiError, Operation

OPERATIONS: List[Operation] = (extensions.OPERATIONS + rates.OPERATIONS + history.OPERATIONS
                               + stays.OPERATIONS)
CATCH_ALL = PREFIX + "/<rest:path>"  # anything else under /api/v1: a JSON 404


def install(app: bottle.Bottle, ui, cfg) -> ApiCore:
    api = ApiCore(ui, cfg)
    app.route(PREFIX + "/openapi.json", "GET", openapi.serve)
    for op in OPERATIONS:
        app.route(op.path, op.method, api.callback(op))
    app.route(CATCH_ALL, ["GET", "POST", "PUT", "PATCH", "DELETE"], _no_such_operation)
    return api


def _no_such_operation(rest: str):
    return ApiError(404, "no-such-operation", f"there is no operation {bottle.request.method} "
                    f"{bottle.request.path[:80]} (see {PREFIX}/openapi.json)").response()
