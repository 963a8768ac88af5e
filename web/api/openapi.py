"""The OpenAPI 3 document of ``/api/v1``, written by hand (tests/test_api_openapi.py
checks it is valid, that it has exactly the routes the app serves, and every answer
of the tests against it)."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

from .core import json_response

Schema = Dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: List[str], nullable: Optional[List[str]] = None, **props: Schema) -> Schema:
    """An object with exactly ``props``; those in ``nullable`` may also be null."""
    for name in nullable or []:
        props[name] = ref("MoneyOrNull") if props[name] == ref("Money") \
            else dict(props[name], nullable=True)
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": False}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time",
                "description": "ISO 8601 with the box's UTC offset"}
MONEY_IN: Schema = {"oneOf": [{"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,4})?$"},
                              {"type": "object", "required": ["amount"], "additionalProperties": False,
                               "properties": {"amount": STR, "currency": STR}}],
                    "description": "a decimal string (never a JSON number), or Money"}

SCHEMAS: Dict[str, Schema] = {
    "Money": obj(["amount", "currency"],
                 amount={"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2,4}$"}, currency=STR),
    "MoneyOrNull": dict(obj(["amount", "currency"], amount={"type": "string"}, currency=STR),
                        nullable=True),
    "Error": obj(["error"], error=obj(["code", "message"], code=STR, message=STR)),
    "Extension": obj(
        ["number", "name", "billing_enabled", "payment_type", "status", "balance", "credit",
         "reserved", "total_recharges", "available", "department_id", "low_balance_threshold",
         "missing", "updated"], ["department_id", "low_balance_threshold"],
        number=STR, name=STR, billing_enabled=BOOL,
        payment_type={"type": "string", "enum": ["prepaid", "postpaid"]},
        status={"type": "string", "enum": ["unlocked", "locked"]},
        balance=ref("Money"), credit=ref("Money"), reserved=ref("Money"),
        total_recharges=ref("Money"), available=ref("Money"), department_id=INT,
        low_balance_threshold=ref("Money"), missing=BOOL, updated=TIME),
    "ExtensionPage": obj(["extensions", "page", "per_page", "total", "has_next"],
                         extensions={"type": "array", "items": ref("Extension")},
                         page=INT, per_page=INT, total=INT, has_next=BOOL),
    "AccountPage": obj(["accounts", "page", "per_page", "total", "has_next"],
                       accounts={"type": "array", "items": ref("Extension")},
                       page=INT, per_page=INT, total=INT, has_next=BOOL),
    "ExtensionEdit": {"type": "object", "additionalProperties": False, "properties": {
        "name": STR, "billing_enabled": BOOL, "credit": MONEY_IN,
        "status": {"type": "string", "enum": ["unlocked", "locked"]},
        "payment_type": {"type": "string", "enum": ["prepaid", "postpaid"]},
        "low_balance_threshold": {"nullable": True, "description": "money (as amount), or null: "
                                  "the Settings default"},
        "department_id": {"type": "integer", "nullable": True}}},
    "RechargeRequest": obj(["amount"], amount=MONEY_IN),
    "Recharged": obj(["number", "ledger_id", "amount", "balance_before", "balance_after"],
                     number=STR, ledger_id=INT, amount=ref("Money"), balance_before=ref("Money"),
                     balance_after=ref("Money")),
    "AdjustRequest": obj(["amount", "reason"], amount=MONEY_IN, reason=STR),
    "Adjusted": obj(["number", "ledger_id", "amount", "balance_after", "reason"], number=STR,
                    ledger_id=INT, amount=ref("Money"), balance_after=ref("Money"), reason=STR),
    "Call": obj(["id", "start", "extension", "name", "phone", "dialed", "answered_s", "free_s",
                 "rate", "call_type", "cost", "status", "reason"],
                ["phone", "answered_s", "call_type", "reason"],
                id=INT, start=TIME, extension=STR, name=STR, phone=STR, dialed=STR,
                answered_s=INT, free_s=INT, rate=STR, call_type=STR, cost=ref("Money"),
                status=STR, reason=STR),
    "CallPage": obj(["calls", "next_cursor"], ["next_cursor"],
                    calls={"type": "array", "items": ref("Call")}, next_cursor=STR),
    "RechargeEntry": obj(["id", "time", "extension", "name", "kind", "amount", "balance_before",
                          "balance_after", "operator", "reason"], ["reason"],
                         id=INT, time=TIME, extension=STR, name=STR,
                         kind={"type": "string", "enum": ["recharge", "adjustment"]},
                         amount=ref("Money"), balance_before=ref("Money"),
                         balance_after=ref("Money"), operator=STR, reason=STR),
    "RechargePage": obj(["recharges", "next_cursor"], ["next_cursor"],
                        recharges={"type": "array", "items": ref("RechargeEntry")},
                        next_cursor=STR),
    "StatRow": obj(["period", "calls", "answered_calls", "answered_s", "average_s", "cost"],
                   period=STR, calls=INT, answered_calls=INT, answered_s=INT, average_s=INT,
                   cost=ref("Money")),
    "Statistics": obj(["by", "from", "to", "periods", "total", "departments"], ["from", "to"],
                      by={"type": "string", "enum": ["day", "month", "year"]},
                      **{"from": {"type": "string", "format": "date"},
                         "to": {"type": "string", "format": "date"}},
                      periods={"type": "array", "items": ref("StatRow")}, total=ref("StatRow"),
                      departments={"type": "array", "items": obj(
                          ["department_id", "name", "calls", "answered_s", "cost"],
                          ["department_id"], department_id=INT, name=STR, calls=INT,
                          answered_s=INT, cost=ref("Money"))}),
    "Rate": obj(["id", "prefix", "length", "initial_cost", "initial_time", "rate", "unit",
                 "start", "end", "remarks", "active", "all_extensions", "extensions",
                 "call_type"],
                id=INT, prefix=STR, length=INT, initial_cost=ref("Money"), initial_time=INT,
                rate=ref("Money"), unit=INT, start=STR, end=STR, remarks=STR, active=BOOL,
                all_extensions=BOOL, extensions={"type": "array", "items": STR}, call_type=STR),
    "RateInput": {"type": "object", "required": ["prefix", "rate", "unit"], "additionalProperties": False,
                  "properties": {"prefix": STR, "length": INT, "initial_cost": MONEY_IN,
                                 "initial_time": INT, "rate": MONEY_IN, "unit": INT, "start": STR,
                                 "end": STR, "remarks": STR, "active": BOOL,
                                 "all_extensions": BOOL,
                                 "extensions": {"type": "array", "items": STR}, "call_type": STR}},
    "RatePage": obj(["rates", "next_cursor"], ["next_cursor"],
                    rates={"type": "array", "items": ref("Rate")}, next_cursor=STR),
    "RateTest": obj(["extension", "dialed", "at", "duration_s", "rate_id", "call_type", "cost",
                     "unrated_policy"], ["rate_id", "call_type", "unrated_policy"],
                    extension=STR, dialed=STR, at=TIME, duration_s=INT, rate_id=INT,
                    call_type=STR, cost=ref("Money"), unrated_policy=STR),
    "Stay": obj(["id", "extension", "guest", "checked_in", "checked_out", "statement"],
                ["checked_out", "statement"], id=INT, extension=STR, guest=STR, checked_in=TIME,
                checked_out=TIME, statement=STR),
    "StayList": obj(["stays"], stays={"type": "array", "items": ref("Stay")}),
    "CheckIn": obj(["guest"], guest=STR, deposit=MONEY_IN, credit=MONEY_IN),
    "CheckOut": {"type": "object", "additionalProperties": False,
                 "properties": {"payment": MONEY_IN, "close_unknown": dict(
                     BOOL, description="close the stay's released calls that have no known "
                     "cost yet as not charged (else check-out waits for them: 400 refused)")}},
    "Statement": obj(["number", "extension", "guest", "issued", "from", "to", "opening_balance",
                      "closing_balance", "calls", "call_cost", "recharges", "adjustments",
                      "payments"], ["guest"],
                     number=STR, extension=STR, guest=STR, issued=TIME,
                     **{"from": TIME, "to": TIME}, opening_balance=ref("Money"),
                     closing_balance=ref("Money"), calls=INT, call_cost=ref("Money"),
                     recharges=ref("Money"), adjustments=ref("Money"), payments=ref("Money")),
    "StatementList": obj(["statements"], statements={"type": "array", "items": obj(
        ["number", "issued", "extension", "from", "to"], [], number=STR, issued=TIME,
        extension=STR, **{"from": TIME, "to": TIME})}),
    "Imported": obj(["imported", "replaced", "warnings"], imported=INT, replaced=BOOL,
                    warnings={"type": "array", "items": STR}),
    "Deleted": obj(["deleted"], deleted=INT),
}


def _param(name: str, where: str = "query", schema: Optional[Schema] = None,
           description: str = "") -> Schema:
    return {"name": name, "in": where, "required": where == "path",
            "schema": schema or STR, "description": description}


NUMBER = _param("number", "path", description="the extension's number")
RATE_ID = _param("rate_id", "path", INT)
CURSOR = [_param("cursor", description="next_cursor of the page before"),
          _param("limit", schema={"type": "integer", "minimum": 1, "maximum": 500})]
RANGE = [_param("from", schema={"type": "string", "format": "date"},
                description="first day (box's zone)"),
         _param("to", schema={"type": "string", "format": "date"}, description="last day"),
         _param("q", description="extension number or name contains"),
         _param("department", description="a department's id")]
IDEMPOTENCY = _param("Idempotency-Key", "header", description="makes a retry safe: the same key "
                     "and body give the first answer again; another body 409")
CSV = {"text/csv": {"schema": STR}}


def _json(schema: str) -> Schema:
    return {"application/json": {"schema": ref(schema)}}


def op(summary: str, ok: str, *, status: str = "200", params: Optional[List[Schema]] = None,
       body: Optional[str] = None, content: Optional[Schema] = None,
       raw_body: Optional[Schema] = None) -> Schema:
    responses: Dict[str, Any] = {status: {"description": "done", "content": content or _json(ok)}}
    for code, what in (("400", "bad input (nothing changed)"), ("401", "no, unknown or revoked token"),
                       ("403", "the token's role may not"), ("404", "no such thing"),
                       ("409", "Idempotency-Key used with another body"), ("413", "body too large"),
                       ("415", "wrong content type"), ("429", "throttled (Retry-After)"),
                       ("500", "a fault of the box (in its log)"),
                       ("503", "the store cannot save or be reached")):
        responses[code] = {"description": what, "content": _json("Error")}
    out: Dict[str, Any] = {"summary": summary, "parameters": params or [], "responses": responses}
    if body:
        out["requestBody"] = {"required": True, "content": _json(body)}
    if raw_body:
        out["requestBody"] = {"required": True, "content": raw_body}
    return out


PATHS: Dict[str, Dict[str, Schema]] = {
    "/api/v1/extensions": {"get": op("Extensions (the Extensions page's search)", "ExtensionPage", params=[
        _param("q", description="number or name contains"), _param("status"), _param("payment_type"),
        _param("billing", description="on or off"), _param("low", description="1: below threshold"),
        _param("department"), _param("page", schema=INT), _param("per_page", schema=INT)])},
    "/api/v1/extensions/{number}": {
        "get": op("One extension", "Extension", params=[NUMBER]),
        "patch": op("Edit the fields given", "Extension", params=[NUMBER], body="ExtensionEdit")},
    "/api/v1/extensions/{number}/recharge": {"post": op(
        "Recharge", "Recharged", status="201", params=[NUMBER, IDEMPOTENCY], body="RechargeRequest")},
    "/api/v1/extensions/{number}/adjust": {"post": op(
        "Adjust a balance (with a reason)", "Adjusted", status="201", params=[NUMBER, IDEMPOTENCY],
        body="AdjustRequest")},
    "/api/v1/accounts": {"get": op("PIN accounts (the Accounts page)", "AccountPage", params=[
        _param("q", description="number or name contains"), _param("status"),
        _param("payment_type"), _param("department"), _param("page", schema=INT),
        _param("per_page", schema=INT)])},
    "/api/v1/accounts/{number}": {"get": op("One account", "Extension", params=[NUMBER])},
    "/api/v1/accounts/{number}/recharge": {"post": op(
        "Recharge an account", "Recharged", status="201", params=[NUMBER, IDEMPOTENCY],
        body="RechargeRequest")},
    "/api/v1/accounts/{number}/adjust": {"post": op(
        "Adjust an account's balance", "Adjusted", status="201", params=[NUMBER, IDEMPOTENCY],
        body="AdjustRequest")},
    "/api/v1/rates": {"get": op("Rates in force", "RatePage", params=CURSOR + [
        _param("q", description="prefix starts with or remarks contain"), _param("type")]),
                      "post": op("Add a rate", "Rate", status="201", body="RateInput")},
    "/api/v1/rates/test": {"get": op("Rate Tester", "RateTest", params=[
        _param("extension"), _param("dialed"), _param("duration", schema=INT),
        _param("at", description="local time, ISO 8601")])},
    "/api/v1/rates/export.csv": {"get": op("The rate file", "", content=CSV)},
    "/api/v1/rates/import": {"post": op("Import a rate file (all rows or none)", "Imported",
                                        status="201", params=[_param("replace")], raw_body=CSV)},
    "/api/v1/rates/{rate_id}": {
        "get": op("One rate", "Rate", params=[RATE_ID]),
        "put": op("Replace a rate", "Rate", params=[RATE_ID], body="RateInput"),
        "delete": op("Delete a rate", "Deleted", params=[RATE_ID])},
    "/api/v1/calls": {"get": op("Call Log, newest first", "CallPage",
                                params=CURSOR + RANGE + [_param("type")])},
    "/api/v1/calls/export.csv": {"get": op("Call Log as CSV", "", content=CSV,
                                           params=RANGE + [_param("type")])},
    "/api/v1/recharges": {"get": op("Recharge History, newest first", "RechargePage",
                                    params=CURSOR + RANGE)},
    "/api/v1/recharges/export.csv": {"get": op("Recharge History as CSV", "", content=CSV,
                                               params=RANGE)},
    "/api/v1/statistics": {"get": op("The Statistics page's figures", "Statistics", params=[
        _param("by"), _param("from", schema={"type": "string", "format": "date"}),
        _param("to", schema={"type": "string", "format": "date"}), _param("extension"),
        _param("department"), _param("type")])},
    "/api/v1/stays": {"get": op("Stays, open ones first", "StayList", params=[
        _param("open", description="1: only guests checked in")])},
    "/api/v1/extensions/{number}/check-in": {"post": op(
        "Check a guest in (deposit recharged, credit set)", "Stay", status="201",
        params=[NUMBER, IDEMPOTENCY], body="CheckIn")},
    "/api/v1/extensions/{number}/check-out": {"post": op(
        "Check out: the payment taken, the statement issued", "Statement", status="201",
        params=[NUMBER, IDEMPOTENCY], body="CheckOut")},
    "/api/v1/statements": {"get": op("Statements issued, newest first", "StatementList")},
    "/api/v1/statements/{number}": {"get": op("A statement's summary", "Statement", params=[
        _param("number", "path", description="S-000001")])},
    "/api/v1/statements/{number}.{kind}": {"get": op(
        "A statement's file", "", params=[_param("number", "path"), _param(
            "kind", "path", {"type": "string", "enum": ["pdf", "xlsx"]})],
        content={"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                     "schema": {"type": "string", "format": "binary"}}})},
    "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                     "responses": {"200": {"description": "OpenAPI 3",
                                                           "content": {"application/json": {
                                                               "schema": {"type": "object"}}}}}}},
}

DOCUMENT: Dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Call billing add-on API", "version": "1",
             "description": "See docs/api.md. Money is a decimal string with its currency, "
                            "never a JSON number; times are ISO 8601 with the box's offset."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": PATHS,
    "components": {"schemas": SCHEMAS,
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
}


def document() -> Dict[str, Any]:
    return copy.deepcopy(DOCUMENT)


def serve():
    return json_response(DOCUMENT)

