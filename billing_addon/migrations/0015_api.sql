-- The JSON API (issue #16): its tokens and the answers kept for Idempotency-Key retries.
-- A token's secret is never stored: only the SHA-256 of it (api_tokens.py).  A token of
-- role 'manager' acts for the departments in api_token_department.
CREATE TABLE api_token (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    secret_sha256  TEXT NOT NULL UNIQUE,
    created_by     TEXT NOT NULL DEFAULT '',
    created_utc    INTEGER NOT NULL,
    last_used_utc  INTEGER,
    revoked_utc    INTEGER
);
CREATE TABLE api_token_department (
    token_id       INTEGER NOT NULL REFERENCES api_token (id) ON DELETE CASCADE,
    department_id  INTEGER NOT NULL REFERENCES department (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, department_id)
);
-- written in the same transaction as the recharge or adjustment it answered
CREATE TABLE api_idempotency (
    token_id      INTEGER NOT NULL REFERENCES api_token (id) ON DELETE CASCADE,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT NOT NULL,
    created_utc   INTEGER NOT NULL,
    PRIMARY KEY (token_id, idem_key)
);
