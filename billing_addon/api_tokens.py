"""The JSON API's tokens (docs/api.md): made and revoked by a billing user, each with a
name and a role of the billing area (billing, auditor, or manager of some departments).

A token is 32 random bytes shown once, when it is made; the store keeps only their
SHA-256 (a random token is not a password: no slow hash is needed, and a leaked table
gives nothing to try).  A request's token is looked up by that hash and compared again
in constant time.  A revoked token is refused from the next request on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from . import departments, store
from .errors import Refusal
from .i18n import _
from .store import now_utc, sql, sql_in, sql_one, staging_txn

# the roles of the billing area (web/auth.py's BILLING_ROLES)
BILLING, AUDITOR, MANAGER = "billing", "auditor", "manager"
ROLES = (BILLING, AUDITOR, MANAGER)
PREFIX = "bat_"  # "billing API token": easy to spot in a leaked log or a secret scanner
MAX_NAME = 80
TOUCH_EVERY_S = 60  # last-used time is written at most once a minute per token


class TokenError(Refusal):
    """A refused token operation; nothing was changed."""


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    role: str
    created_by: str
    created_utc: int
    last_used_utc: Optional[int]
    revoked_utc: Optional[int]
    departments: Tuple[int, ...] = ()

    @property
    def scope(self) -> Optional[List[int]]:
        """The departments it sees: None (all) but for a manager's token."""
        return list(self.departments) if self.role == MANAGER else None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


_COLUMNS = "id, name, role, created_by, created_utc, last_used_utc, revoked_utc"


def _token(row, depts: Sequence[int] = ()) -> Token:
    token_id, name, role, created_by, created_utc, last_used_utc, revoked_utc = row
    return Token(token_id, name, role, created_by, created_utc, last_used_utc, revoked_utc,
                 tuple(depts))


def _departments_of(token_ids: List[int]) -> dict:
    found: dict = {}
    for token_id, dept_id in sql_in("SELECT token_id, department_id FROM api_token_department "
                                    "WHERE token_id IN ({}) ORDER BY department_id", token_ids):
        found.setdefault(token_id, []).append(dept_id)
    return found


def create(name: str, role: str, department_ids: Sequence[int] = (),
           created_by: str = "") -> Tuple[Token, str]:
    """A new token and its secret (the only time the secret is seen)."""
    name = (name or "").strip()
    if not name:
        raise TokenError(_("give the token a name (what uses it)"))
    if len(name) > MAX_NAME:
        raise TokenError(_("the name is at most 80 characters"))
    if role not in ROLES:
        raise TokenError(_("unknown role {role}").format(role=repr(str(role)[:20])))
    wanted = sorted({departments.parse_id(d) for d in department_ids})
    if role == MANAGER and not wanted:
        raise TokenError(_("a department manager's token needs at least one department"))
    if role != MANAGER and wanted:
        raise TokenError(_("only a department manager's token has departments"))
    for dept_id in wanted:
        departments.get(dept_id)  # DepartmentError (a Refusal) when unknown
    secret = PREFIX + secrets.token_urlsafe(32)
    now = now_utc()
    with staging_txn():
        sql("INSERT INTO api_token (name, role, secret_sha256, created_by, created_utc) "
            "VALUES (?, ?, ?, ?, ?)", (name, role, digest(secret), created_by[:80], now))
        token_id = sql_one("SELECT id FROM api_token WHERE secret_sha256 = ?", (digest(secret),))[0]
        for dept_id in wanted:
            sql("INSERT INTO api_token_department (token_id, department_id) VALUES (?, ?)",
                (token_id, dept_id))
    return get(token_id), secret


def get(token_id: int) -> Token:
    token_id = int(token_id)
    row = (sql_one(f"SELECT {_COLUMNS} FROM api_token WHERE id = ?", (token_id,))
           if 0 < token_id <= store.MAX_ID else None)
    if row is None:
        raise TokenError(_("there is no such token"))
    return _token(row, _departments_of([row[0]]).get(row[0], []))


def listed() -> List[Token]:
    """Every token, the newest first (revoked ones too: when and by whom is history)."""
    rows = sql(f"SELECT {_COLUMNS} FROM api_token ORDER BY id DESC").fetchall()
    depts = _departments_of([r[0] for r in rows])
    return [_token(r, depts.get(r[0], [])) for r in rows]


def revoke(token_id: int) -> Token:
    """Revoke a token: every later request with it is refused.  Revoking twice is fine."""
    token = get(token_id)
    if token.revoked_utc is None:
        with staging_txn():
            sql("UPDATE api_token SET revoked_utc = ? WHERE id = ? AND revoked_utc IS NULL",
                (now_utc(), token.id))
    return get(token.id)


def authenticate(secret: str) -> Optional[Token]:
    """The live token whose secret this is, else None (unknown, malformed or revoked)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    hashed = digest(secret)
    row = sql_one(f"SELECT {_COLUMNS}, secret_sha256 FROM api_token WHERE secret_sha256 = ?",
                  (hashed,))
    if row is None or not hmac.compare_digest(row[-1], hashed) or row[6] is not None:
        return None
    token = _token(row[:-1], _departments_of([row[0]]).get(row[0], []))
    now = now_utc()
    if token.last_used_utc is None or now - token.last_used_utc >= TOUCH_EVERY_S:
        with staging_txn():
            sql("UPDATE api_token SET last_used_utc = ? WHERE id = ?", (now, token.id))
    return token
