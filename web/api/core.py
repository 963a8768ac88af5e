"""What every operation of the JSON API shares: the token, its role and throttle, the
JSON body and its checks, the formats of money and time, and errors as JSON.

The order of the checks of a request (``ApiCore.callback``): the body's size (413,
before it is read), the token (401; cookies are never looked at, so a browser session
cannot call the API and CSRF does not apply), the throttle (429), the role through
``roles.refusal`` with the web page the operation stands for (403: the auditor's
read-only rule and the manager's allow-list are the web UI's, not a copy), the
activation (403), then the operation.  Any ``Refusal`` of the core becomes a 400 with
its message; nothing was changed by it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import bottle

from billing_addon import api_tokens, departments, i18n, idempotency, localefmt, money, settings, store
from billing_addon.errors import Refusal

from .. import roles

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
JSON_TYPE = "application/json"


class ApiError(Exception):
    """An answer other than success: HTTP status, stable code, message (English)."""

    def __init__(self, status: int, code: str, message: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self) -> bottle.HTTPResponse:
        return json_response({"error": {"code": self.code, "message": self.message}},
                             self.status, self.headers)


def json_response(body: Any, status: int = 200, headers: Optional[Dict[str, str]] = None
                  ) -> bottle.HTTPResponse:
    response = bottle.HTTPResponse(json.dumps(body, ensure_ascii=False), status=status)
    response.set_header("Content-Type", JSON_TYPE)
    for name, value in (headers or {}).items():
        response.set_header(name, value)
    return response


# --- formats --------------------------------------------------------------------------


def money_out(units: int) -> Dict[str, str]:
    """Money as the API sends it: a decimal string (never a JSON number) and the currency."""
    return {"amount": money.to_decimal_string(int(units)), "currency": settings.get("currency")}


def time_out(ts: Optional[int]) -> Optional[str]:
    """A stored UTC second as ISO 8601 with the box's offset (2024-05-01T12:00:00+02:00)."""
    moment = localefmt.from_epoch(ts)
    return None if moment is None else moment.astimezone(settings.zone()).isoformat()


class JsonFloat(str):
    """A JSON number with a fraction or exponent, kept as its text: never a float."""


def _no_float(text: str) -> JsonFloat:
    return JsonFloat(text)


def _no_constant(text: str):
    raise ApiError(400, "malformed-json", f"{text} is not JSON")


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    seen: Dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ApiError(400, "duplicate-field", f"the field {key!r} is given twice")
        seen[key] = value
    return seen


def money_in(body: Dict[str, Any], field: str, *, allow_negative: bool = False,
             allow_zero: bool = False) -> int:
    """The amount in ``body[field]``: a decimal string ("12.50", a point as the decimal
    mark), or ``{"amount": "12.50", "currency": "CNY"}`` in the box's currency.  A JSON
    number is refused, never read as a float."""
    value = body.get(field)
    if isinstance(value, dict):
        extra = set(value) - {"amount", "currency"}
        if extra:
            raise ApiError(400, "unknown-field", f"unknown field {field}.{sorted(extra)[0]}")
        currency = value.get("currency", settings.get("currency"))
        if currency != settings.get("currency"):
            raise ApiError(400, "wrong-currency", f"{field}: the box counts in "
                           f"{settings.get('currency')}, not {str(currency)[:10]}")
        value = value.get("amount")
    if isinstance(value, (int, JsonFloat)) and not isinstance(value, bool):
        raise ApiError(400, "money-not-a-string",
                       f"{field}: give money as a decimal string like \"12.50\", "
                       "not a JSON number (a number may be read as a float)")
    if not isinstance(value, str):
        raise ApiError(400, "invalid", f"{field}: a decimal string like \"12.50\" is required")
    try:
        return money.parse_amount(value, allow_negative=allow_negative, allow_zero=allow_zero)
    except money.AmountError as exc:
        raise ApiError(400, "invalid-amount", f"{field}: {exc}") from None


def text_in(body: Dict[str, Any], field: str, default: Optional[str] = None) -> Optional[str]:
    value = body.get(field, default)
    if value is not None and (not isinstance(value, str) or isinstance(value, JsonFloat)):
        raise ApiError(400, "invalid", f"{field}: a string is required")
    return value


def flag_in(body: Dict[str, Any], field: str) -> Optional[bool]:
    value = body.get(field)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, "invalid", f"{field}: true or false is required")
    return value


# --- throttling -----------------------------------------------------------------------


class TokenBuckets:
    """Per token: ``rate`` requests a second on average, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._lock = threading.Lock()
        self._buckets: Dict[int, Tuple[float, float]] = {}  # token id -> (tokens, at)

    def wait_for(self, key: int) -> float:
        """0 when the request may go now (and it is counted), else seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


# --- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One route of the API: ``page`` is the web page (rule, method) it does the work
    of, whose role rules apply to it (``roles.refusal``)."""
    path: str
    method: str
    page: Tuple[str, str]
    handler: Callable[..., Any]
    fields: Tuple[str, ...] = ()  # the JSON body's fields (none: no body)
    idempotent: bool = False  # Idempotency-Key accepted (recharge, adjust)
    raw_body: bool = False  # the handler reads the body itself (a rate file)


class Request:
    """What a handler gets: the token, the query, the checked JSON body."""

    def __init__(self, token: api_tokens.Token, body: Dict[str, Any]):
        self.token, self.body = token, body

    @property
    def query(self) -> bottle.FormsDict:
        return bottle.request.query.decode()

    @property
    def scope(self) -> Optional[List[int]]:
        return self.token.scope

    def operator(self) -> str:
        return f"api:{self.token.name}"[:80]

    def check_numbers(self, numbers: Iterable[str]) -> None:
        """A manager's token naming an extension outside its departments: 403."""
        scope = self.scope
        if scope is not None and departments.outside(list(numbers), scope):  # web's rule
            raise ApiError(403, "outside-departments",
                           "this extension is not in the token's departments; nothing was changed")

    def departments(self) -> Optional[List[int]]:
        """The departments a list shows: the query's ``department`` within the scope."""
        try:
            return roles.narrowed(self.scope, self.query.get("department", ""))
        except departments.DepartmentError as exc:
            raise ApiError(400, "invalid", f"department: {exc}") from None


class ApiCore:
    """The API's per-app state: the web core (activation, upload limit) and the throttle."""

    def __init__(self, ui, cfg):
        api = cfg.section("api") if cfg is not None else {}
        self.ui = ui
        self.max_body = ui.max_upload
        self.buckets = TokenBuckets(float(api.get("rate_per_second", 20)), int(api.get("burst", 40)))

    def callback(self, op: Operation) -> Callable:
        def run(**url_args):
            with i18n.using(i18n.DEFAULT_LOCALE):  # the API speaks English, like the CLI
                try:
                    return self._run(op, url_args)
                except ApiError as exc:
                    return exc.response()
                except idempotency.KeyReused as exc:
                    return ApiError(409, "idempotency-key-reused", f"{exc}; nothing was changed").response()
                except Refusal as exc:
                    return ApiError(400, "refused", str(exc)).response()
                except store.Unreachable:
                    return ApiError(503, "store-unreachable", "the billing store cannot be "
                                    "reached; nothing was changed").response()
                except bottle.HTTPResponse:
                    raise
                except Exception as exc:  # noqa: BLE001 - a JSON answer, the detail in the log
                    disk = store.disk_problem(exc)
                    if disk:
                        return ApiError(503, "disk-problem",
                                        f"the box cannot save anything: {disk}").response()
                    log.exception("API %s %s failed", op.method, op.path)
                    return ApiError(500, "internal-error", "something went wrong on the box; the "
                                    "error is in the add-on's log").response()

        run.__name__ = op.handler.__name__
        return run

    def _run(self, op: Operation, url_args: Dict[str, Any]):
        self._check_size()
        token = self._token()
        wait = self.buckets.wait_for(token.id)
        if wait:
            seconds = max(1, int(wait + 0.999))
            raise ApiError(429, "throttled", f"too many requests for this token: retry in {seconds} s",
                           {"Retry-After": str(seconds)})
        refused = roles.refusal(token.role, *op.page)
        if refused:
            code = "read-only" if token.role == api_tokens.AUDITOR else "not-for-managers"
            raise ApiError(403, code, refused)
        allowed, reason = self.ui.activation_cache.may_sign_in()
        if not allowed:
            raise ApiError(403, "billing-inactive", reason)
        if op.method != "GET" and store.damaged:
            raise ApiError(503, "database-damaged", "the billing database is damaged: nothing can "
                           "be changed until it is restored from a backup")
        needs_json = not op.raw_body and (op.fields or op.method in ("POST", "PATCH", "PUT"))
        body = self._body(op) if needs_json else {}
        request = Request(token, body)
        key = bottle.request.get_header("Idempotency-Key")
        if key is None:
            return self._answer(op.handler(request, **url_args))
        if not op.idempotent:
            raise ApiError(400, "idempotency-not-supported", "this operation takes no Idempotency-Key")
        key = key.strip()
        if not key or len(key) > idempotency.MAX_KEY or not key.isascii():
            raise ApiError(400, "invalid-idempotency-key", "Idempotency-Key: 1 to 200 ASCII characters")
        fingerprint = idempotency.request_hash(op.method, bottle.request.path, body)

        def work():
            answer = op.handler(request, **url_args)
            return (answer[0], answer[1]) if isinstance(answer, tuple) else (200, answer)

        status, answer, replayed = idempotency.once(token.id, key, fingerprint, work)
        return json_response(answer, status, {"Idempotent-Replayed": "true" if replayed else "false"})

    @staticmethod
    def _answer(result):
        if isinstance(result, bottle.HTTPResponse):
            return result
        if isinstance(result, tuple):
            return json_response(result[1], result[0])
        return json_response(result)

    def _check_size(self) -> None:
        env = bottle.request.environ
        if env.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            raise ApiError(411, "length-required", "send the body with a Content-Length")
        try:
            length = int(env.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ApiError(400, "malformed-request", "Content-Length is not a number") from None
        if length > self.max_body:
            raise ApiError(413, "body-too-large", f"the body is {length} bytes; at most "
                           f"{self.max_body} are accepted ([web] max_upload_kb); nothing was changed")

    @staticmethod
    def _token() -> api_tokens.Token:
        header = bottle.request.get_header("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "unauthorized", "send a token: Authorization: Bearer <token>",
                           {"WWW-Authenticate": 'Bearer realm="billing"'})
        token = api_tokens.authenticate(secret.strip())
        if token is None:
            raise ApiError(401, "unauthorized", "the token is unknown or revoked",
                           {"WWW-Authenticate": 'Bearer realm="billing", error="invalid_token"'})
        return token

    @staticmethod
    def _body(op: Operation) -> Dict[str, Any]:
        raw = bottle.request.body.read()
        if not raw:
            return {}  # no body: no field given (each operation says which it needs)
        content_type = bottle.request.content_type.split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            raise ApiError(415, "not-json", "send the body as application/json")
        try:
            body = json.loads(raw.decode("utf-8"), parse_float=_no_float,
                              parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, "malformed-json", f"the body is not JSON: {str(exc)[:120]}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "malformed-json", "the body must be a JSON object")
        unknown = sorted(set(body) - set(op.fields))
        if unknown:
            allowed = ", ".join(op.fields) or "none"
            raise ApiError(400, "unknown-field", f"unknown field {unknown[0]!r} (allowed: {allowed}); "
                           "nothing was changed")
        return body


def page_args(query) -> Tuple[Optional[str], int]:
    """(cursor, limit) of a list's query: ``limit`` 1..500 (default 50)."""
    text = query.get("limit", "50").strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text[:6]) <= 500:
        raise ApiError(400, "invalid", "limit: a whole number from 1 to 500")
    return (query.get("cursor", "").strip() or None), int(text)
