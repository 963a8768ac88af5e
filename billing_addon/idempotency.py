"""Exactly-once for retried API requests (the ``Idempotency-Key`` header, docs/api.md).

The first request with a key runs its work and keeps its answer under (token, key) in
the same transaction as the money it moved: either both are committed or neither is,
so a retry after a timeout or a ``kill -9`` finds the answer exactly when the recharge
happened.  A retry with the same key and the same request gets that first answer and
changes nothing; the same key with another request is refused (``KeyReused``).  A
refused request (bad input, unknown extension) keeps nothing: nothing was done.

Answers are kept ``KEEP_S`` (30 days): a retry later than that is a new request.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Tuple

from .errors import Refusal
from .store import money_txn, now_utc, sql, sql_one

MAX_KEY = 200
KEEP_S = 30 * 86400
PRUNE_EVERY_S = 3600
_pruned = {"at": 0}  # when answers past KEEP_S were last deleted (by this process)


class KeyReused(Refusal):
    """The key was used before for another request; nothing was changed."""


def request_hash(method: str, path: str, body: Any) -> str:
    """What makes two requests "the same": method, path and the parsed body (key order
    and spacing do not count)."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def once(token_id: int, key: str, fingerprint: str,
         work: Callable[[], Tuple[int, Any]]) -> Tuple[int, Any, bool]:
    """(status, answer, replayed): ``work()``'s (status, JSON-able answer) the first time,
    the kept one after.  ``work`` runs inside this money transaction (its own
    transactions nest in it as savepoints)."""
    with money_txn():
        now = now_utc()
        if now - _pruned["at"] >= PRUNE_EVERY_S:
            sql("DELETE FROM api_idempotency WHERE created_utc < ?", (now - KEEP_S,))
            _pruned["at"] = now
        row = sql_one("SELECT request_hash, status, body FROM api_idempotency "
                      "WHERE token_id = ? AND idem_key = ?", (token_id, key))
        if row is not None:
            if row[0] != fingerprint:
                raise KeyReused("this Idempotency-Key was used for another request")
            return row[1], json.loads(row[2]), True
        status, answer = work()
        sql("INSERT INTO api_idempotency (token_id, idem_key, request_hash, status, body, created_utc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, key, fingerprint, status, json.dumps(answer), now))
        return status, answer, False
