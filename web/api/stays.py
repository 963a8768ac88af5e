"""The API's stays and statements: check in, check out (its statement), the stays and
statements issued, and a statement's PDF or xlsx, by ``billing_addon.stays`` and
``statements`` as the Stays page does them."""

from __future__ import annotations

from typing import Any, Dict, List

import bottle

from billing_addon import money, statement_files, statements, stays

from .core import ApiError, Operation, Request, flag_in, money_in, text_in, time_out
from .extensions import extension_number


def stay_json(s: stays.Stay) -> Dict[str, Any]:
    return {"id": s.id, "extension": s.number, "guest": s.guest, "checked_in": time_out(s.checkin_utc),
            "checked_out": time_out(s.checkout_utc), "statement": s.statement or None}


def statement_json(snap: Dict[str, Any]) -> Dict[str, Any]:
    """A statement's summary (its files have every line)."""
    def amount(units: int) -> Dict[str, str]:
        return {"amount": money.to_decimal_string(units), "currency": snap["currency"]}

    totals = snap["totals"]
    return {"number": snap["number"], "extension": snap["extension"]["number"],
            "guest": snap["guest"] or None, "issued": time_out(snap["issued_utc"]),
            "from": time_out(snap["period"]["from_utc"]), "to": time_out(snap["period"]["to_utc"]),
            "opening_balance": amount(snap["opening_balance"]),
            "closing_balance": amount(snap["closing_balance"]), "calls": totals["calls"],
            "call_cost": amount(totals["call_cost"]), "recharges": amount(totals["recharges"]),
            "adjustments": amount(totals["adjustments"]), "payments": amount(totals["payments"])}


def list_stays(request: Request):
    open_only = request.query.get("open", "") == "1"
    return {"stays": [stay_json(s) for s in stays.listing(open_only=open_only)]}


def check_in(request: Request, number: str):
    body = request.body
    guest = text_in(body, "guest") or ""
    deposit = money_in(body, "deposit", allow_zero=True) if "deposit" in body else 0
    credit = money_in(body, "credit", allow_zero=True) if "credit" in body else None
    stay = stays.check_in(extension_number(request, number), guest, deposit=deposit, credit=credit,
                          operator=request.operator())
    return 201, stay_json(stay)


def check_out(request: Request, number: str):
    payment = money_in(request.body, "payment", allow_zero=True) if "payment" in request.body else 0
    close_unknown = flag_in(request.body, "close_unknown") if "close_unknown" in request.body else False
    snap = stays.check_out(extension_number(request, number), payment=payment,
                           operator=request.operator(), close_unknown=bool(close_unknown))
    return 201, statement_json(snap)


def list_statements(request: Request):
    return {"statements": [{"number": n, "issued": time_out(issued), "extension": ext,
                            "from": time_out(start), "to": time_out(end)}
                           for n, issued, ext, start, end in statements.listing(limit=200)]}


def _snapshot(number: str) -> Dict[str, Any]:
    try:
        return statements.load(number)
    except statements.StatementError:
        raise ApiError(404, "not-found", f"there is no statement {number[:20]!r}") from None


def get_statement(request: Request, number: str):
    return statement_json(_snapshot(number))


def statement_file(request: Request, number: str, kind: str):
    snap = _snapshot(number)
    body = statement_files.to_pdf(snap) if kind == "pdf" else statement_files.to_xlsx(snap)
    types = {"pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    return bottle.HTTPResponse(body, status=200, headers={
        "Content-Type": types[kind],
        "Content-Disposition": f'attachment; filename="{snap["number"]}.{kind}"'})


N = "/api/v1/extensions/<number>"
S = r"/api/v1/statements/<number:re:S-\d+>"
OPERATIONS: List[Operation] = [
    Operation("/api/v1/stays", "GET", ("/stays", "GET"), list_stays),
    Operation(N + "/check-in", "POST", ("/stays/check-in", "POST"), check_in,
              ("guest", "deposit", "credit"), idempotent=True),
    Operation(N + "/check-out", "POST", ("/stays/check-out", "POST"), check_out,
              ("payment", "close_unknown"), idempotent=True),
    Operation("/api/v1/statements", "GET", ("/stays", "GET"), list_statements),
    Operation(S, "GET", (r"/statements/<number:re:S-\d+>", "GET"), get_statement),
    Operation(S + ".<kind:re:pdf|xlsx>", "GET", (r"/statements/<number:re:S-\d+>.pdf", "GET"),
              statement_file),
]
