-- Stays (check-in / check-out) and their statements, and the ledger kind 'payment':
-- money taken at the desk that settles what a stay owes.  A payment adds to the balance
-- like a recharge but is not one (it is not in total_recharges nor the Recharge
-- History); verify sums every kind alike.  SQLite cannot alter a CHECK, so the ledger
-- table is rebuilt with the same rows and ids.
CREATE TABLE ledger_new (
    id             INTEGER PRIMARY KEY,
    extension_id   INTEGER NOT NULL REFERENCES extension (id),
    kind           TEXT NOT NULL CHECK (kind IN ('recharge', 'call', 'adjustment', 'payment')),
    amount         INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    call_id        INTEGER UNIQUE REFERENCES call (id),
    reason         TEXT NOT NULL DEFAULT '',
    operator       TEXT NOT NULL DEFAULT '',
    created_utc    INTEGER NOT NULL
);
INSERT INTO ledger_new (id, extension_id, kind, amount, balance_after, call_id, reason, operator,
                        created_utc)
    SELECT id, extension_id, kind, amount, balance_after, call_id, reason, operator, created_utc
    FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE INDEX ledger_ext ON ledger (extension_id, id);
CREATE INDEX ledger_kind_time ON ledger (kind, created_utc);
CREATE INDEX ledger_ext_time ON ledger (extension_id, created_utc);

-- One guest's stay on one extension.  checkout_utc and statement_id stay NULL while the
-- stay is open; at most one open stay per extension.
CREATE TABLE stay (
    id             INTEGER PRIMARY KEY,
    extension_id   INTEGER NOT NULL REFERENCES extension (id),
    guest          TEXT NOT NULL,
    previous_name  TEXT NOT NULL DEFAULT '',
    checkin_utc    INTEGER NOT NULL,
    checkout_utc   INTEGER,
    statement_id   INTEGER REFERENCES statement (id),
    operator       TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX stay_open ON stay (extension_id) WHERE checkout_utc IS NULL;
CREATE INDEX stay_checkin ON stay (checkin_utc);

-- A statement as issued: its snapshot (JSON, billing_addon/statements.py) is what was
-- printed and is never recomputed; the triggers keep the row unchangeable.
CREATE TABLE statement (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    number         TEXT NOT NULL UNIQUE,
    extension_id   INTEGER NOT NULL REFERENCES extension (id),
    issued_utc     INTEGER NOT NULL,
    from_utc       INTEGER NOT NULL,
    to_utc         INTEGER NOT NULL,
    snapshot       TEXT NOT NULL
);
CREATE INDEX statement_ext ON statement (extension_id, id);
CREATE TRIGGER statement_no_update BEFORE UPDATE ON statement
BEGIN SELECT RAISE(ABORT, 'a statement is kept as issued'); END;
CREATE TRIGGER statement_no_delete BEFORE DELETE ON statement
BEGIN SELECT RAISE(ABORT, 'a statement is kept as issued'); END;
