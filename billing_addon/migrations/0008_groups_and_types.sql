-- Beyond the manual (issue #15), the columns and the table every part of it shares.
-- Later migrations of the same issue add what only one part needs.
--
-- Departments (billing units): a group of extensions and accounts, for reports,
-- exports, a department manager's view and calling plans.
CREATE TABLE department (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_utc  INTEGER NOT NULL,
    updated_utc  INTEGER NOT NULL
);

-- An account (PIN billing) is a row of the extension table of kind 'account': it has a
-- balance, credit, lock, ledger, calls and statistics exactly like an extension, through
-- the same money code.  Extensions and accounts share one number space (number stays
-- UNIQUE), so a number names one payer wherever it is typed.
ALTER TABLE extension ADD COLUMN kind TEXT NOT NULL DEFAULT 'extension'
    CHECK (kind IN ('extension', 'account'));
ALTER TABLE extension ADD COLUMN department_id INTEGER REFERENCES department (id);
CREATE INDEX extension_department ON extension (department_id);

-- Call types (billing_addon/calltypes.py): each rate has one, each call keeps the type
-- of the rate it was rated by ('' when it had none: unrated, denied before rating).
ALTER TABLE rate ADD COLUMN call_type TEXT NOT NULL DEFAULT 'other';
ALTER TABLE call ADD COLUMN call_type TEXT NOT NULL DEFAULT '';
-- An account's call: the extension (phone) it was made from; NULL for an extension's own.
ALTER TABLE call ADD COLUMN phone_id INTEGER;
-- Seconds of the call paid by a calling plan's free allowance, not by money.
ALTER TABLE call ADD COLUMN free_s INTEGER NOT NULL DEFAULT 0;
