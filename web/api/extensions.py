"""The API's extensions: list (the Extensions page's search), get, edit, recharge and
adjust, by the same core functions as the pages (``accounts``, ``departments``)."""

from __future__ import annotations

from typing import Any, Dict, List

from billing_addon import accounts, departments, reports, sites
from billing_addon.store import sql_one

from .core import ApiError, Operation, Request, flag_in, money_in, money_out, text_in, time_out


def extension_json(ext: reports.ExtensionRow) -> Dict[str, Any]:
    row = accounts.get_extension(ext.number)
    return {
        "number": ext.number, "name": ext.name, "billing_enabled": ext.billing_enabled,
        "payment_type": ext.payment_type, "status": ext.status,
        "balance": money_out(ext.balance), "credit": money_out(ext.credit),
        "reserved": money_out(ext.reserved), "total_recharges": money_out(ext.total_recharges),
        "available": money_out(ext.balance + ext.credit - ext.reserved),
        "department_id": row.department_id,
        "low_balance_threshold": None if row.low_balance_threshold is None
        else money_out(row.low_balance_threshold),
        "missing": ext.missing, "updated": time_out(row.updated_utc),
    }


def extension_number(request: Request, number: str, kind: str = "extension") -> str:
    """``number`` when it is an extension (or an account: ``kind``) the token may see:
    else 404, or 403 for a manager's token outside its departments.  One short query:
    the recharge path."""
    row = sql_one("SELECT kind FROM extension WHERE number = ? AND " + sites.number_scope(),
                  (number.strip()[:40],))
    if row is None or row[0] != kind:
        raise ApiError(404, "not-found", f"there is no {kind} {number[:40]!r}")
    request.check_numbers([number])
    return number.strip()


def _one(request: Request, number: str, kind: str = "extension") -> reports.ExtensionRow:
    return reports.extensions_by_number([extension_number(request, number, kind)])[0]


def list_extensions(request: Request, kind: str = "extension"):
    q = request.query
    text = q.get("page", "1").strip()
    if not (text.isascii() and text.isdigit()) or int(text[:8]) < 1:
        raise ApiError(400, "invalid", "page: a whole number from 1")
    per_page = q.get("per_page", "50").strip()
    if not (per_page.isascii() and per_page.isdigit()) or not 1 <= int(per_page[:6]) <= 500:
        raise ApiError(400, "invalid", "per_page: a whole number from 1 to 500")
    choices = {"status": ("locked", "unlocked"), "payment_type": ("prepaid", "postpaid"),
               "billing": ("on", "off"), "low": ("1",)}
    filters = {}
    for key, allowed in choices.items():
        value = q.get(key, "").strip()
        if value and value not in allowed:
            raise ApiError(400, "invalid", f"{key}: one of {', '.join(allowed)}")
        filters[key] = value
    page = reports.extensions_page(number=q.get("q", ""), page=int(text[:8]),
                                   per_page=int(per_page[:6]), departments=request.departments(),
                                   kind=kind, **filters)
    return {f"{kind}s": [extension_json(e) for e in page.rows], "page": page.page,
            "per_page": page.per_page, "total": page.total, "has_next": page.has_next}


def get_extension(request: Request, number: str):
    return extension_json(_one(request, number))


EDIT_FIELDS = ("name", "billing_enabled", "credit", "status", "payment_type",
               "low_balance_threshold", "department_id")


def edit_extension(request: Request, number: str):
    """Change the fields given (the others are kept), all or none."""
    ext = _one(request, number)
    body = request.body
    changes: Dict[str, Any] = {}
    if "name" in body:
        name = text_in(body, "name") or ""
        if len(name.strip()) > 80:
            raise ApiError(400, "invalid", "name: at most 80 characters")
        changes["name"] = name
    if "billing_enabled" in body:
        changes["billing_enabled"] = flag_in(body, "billing_enabled")
    if "credit" in body:
        changes["credit"] = money_in(body, "credit", allow_zero=True)
    for key, allowed in (("status", accounts.STATUSES), ("payment_type", accounts.PAYMENT_TYPES)):
        if key in body:
            if body[key] not in allowed:
                raise ApiError(400, "invalid", f"{key}: one of {', '.join(allowed)}")
            changes[key] = body[key]
    if "low_balance_threshold" in body:
        changes["low_threshold"] = (accounts.USE_DEFAULT if body["low_balance_threshold"] is None
                                    else money_in(body, "low_balance_threshold", allow_zero=True))
    department = body.get("department_id", ...)
    if department is not ... and department is not None:
        if not isinstance(department, int) or isinstance(department, bool):
            raise ApiError(400, "invalid", "department_id: a department's id, or null for none")
        departments.get(department)
    if not changes and department is ...:
        raise ApiError(400, "invalid", f"give at least one field to change: {', '.join(EDIT_FIELDS)}")
    if changes:
        accounts.edit([ext.number], **changes)
    if department is not ...:
        departments.assign([ext.number], department)
    return extension_json(_one(request, number))


def _recharge_json(done: accounts.Recharge) -> Dict[str, Any]:
    return {"number": done.number, "ledger_id": done.ledger_id, "amount": money_out(done.amount),
            "balance_before": money_out(done.pre_balance),
            "balance_after": money_out(done.post_balance)}


def recharge(request: Request, number: str, kind: str = "extension"):
    """Add money to one extension (an ``Idempotency-Key`` makes a retry safe)."""
    if "amount" not in request.body:
        raise ApiError(400, "invalid", "amount is required")
    amount = money_in(request.body, "amount")
    done = accounts.recharge([extension_number(request, number, kind)], amount,
                             operator=request.operator())
    return 201, _recharge_json(done[0])


def adjust(request: Request, number: str, kind: str = "extension"):
    """Correct a balance up or down with a reason; not a recharge."""
    for field in ("amount", "reason"):
        if field not in request.body:
            raise ApiError(400, "invalid", f"{field} is required")
    change = money_in(request.body, "amount", allow_negative=True)
    reason = text_in(request.body, "reason") or ""
    number = extension_number(request, number, kind)
    entry = accounts.adjust(number, change, reason, operator=request.operator())
    return 201, {"number": number, "ledger_id": entry.id, "amount": money_out(change),
                 "balance_after": money_out(entry.balance_after), "reason": entry.reason}


# PIN accounts (docs/accounts.md): the same rows and rules as extensions, of kind account

def list_accounts(request: Request):
    return list_extensions(request, "account")


def get_account(request: Request, number: str):
    return extension_json(_one(request, number, "account"))


def recharge_account(request: Request, number: str):
    return recharge(request, number, "account")


def adjust_account(request: Request, number: str):
    return adjust(request, number, "account")


N = "/api/v1/extensions/<number>"
A = "/api/v1/accounts/<number>"
OPERATIONS: List[Operation] = [
    Operation("/api/v1/extensions", "GET", ("/extensions", "GET"), list_extensions),
    Operation(N, "GET", ("/extensions", "GET"), get_extension),
    Operation(N, "PATCH", ("/extensions/edit", "POST"), edit_extension, EDIT_FIELDS),
    Operation(N + "/recharge", "POST", ("/extensions/recharge", "POST"), recharge,
              ("amount",), idempotent=True),
    Operation(N + "/adjust", "POST", ("/extensions/adjust", "POST"), adjust,
              ("amount", "reason"), idempotent=True),
    Operation("/api/v1/accounts", "GET", ("/accounts", "GET"), list_accounts),
    Operation(A, "GET", ("/accounts", "GET"), get_account),
    Operation(A + "/recharge", "POST", ("/extensions/recharge", "POST"), recharge_account,
              ("amount",), idempotent=True),
    Operation(A + "/adjust", "POST", ("/extensions/adjust", "POST"), adjust_account,
              ("amount", "reason"), idempotent=True),
]
