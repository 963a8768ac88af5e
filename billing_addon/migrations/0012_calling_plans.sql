-- Calling plans (issue #15 item 5, docs/plans.md): free seconds a month per call type,
-- assigned to an extension/account or to a department, used before money.
CREATE TABLE plan (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_utc  INTEGER NOT NULL,
    updated_utc  INTEGER NOT NULL
);

-- A plan's free seconds a month for one call type (calltypes.CALL_TYPES); a type
-- without a row has none.
CREATE TABLE plan_allowance (
    plan_id    INTEGER NOT NULL REFERENCES plan (id) ON DELETE CASCADE,
    call_type  TEXT NOT NULL,
    free_s     INTEGER NOT NULL CHECK (free_s >= 0),
    PRIMARY KEY (plan_id, call_type)
);

-- An extension's (or account's) own plan wins over its department's.
ALTER TABLE extension ADD COLUMN plan_id INTEGER REFERENCES plan (id);
ALTER TABLE department ADD COLUMN plan_id INTEGER REFERENCES plan (id);

-- A pool's use of its allowance in one local month ('YYYY-MM' in the box's zone at the
-- call's start): an extension with its own plan is a pool ('extension', its id), the
-- members of a department on the department's plan share one ('department', its id).
CREATE TABLE plan_usage (
    pool_kind   TEXT NOT NULL CHECK (pool_kind IN ('extension', 'department')),
    pool_id     INTEGER NOT NULL,
    month       TEXT NOT NULL,
    call_type   TEXT NOT NULL,
    used_s      INTEGER NOT NULL DEFAULT 0,
    reserved_s  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pool_kind, pool_id, month, call_type)
) WITHOUT ROWID;

-- Which pool and month a call draws on, and the free seconds authorize reserved for it
-- (held from the pool while the call is 'in-progress'); its used seconds are call.free_s.
-- Only calls that got free seconds (or hold some) have a row.
CREATE TABLE plan_call (
    call_id     INTEGER PRIMARY KEY REFERENCES call (id),
    pool_kind   TEXT NOT NULL,
    pool_id     INTEGER NOT NULL,
    month       TEXT NOT NULL,
    call_type   TEXT NOT NULL,
    reserved_s  INTEGER NOT NULL DEFAULT 0
);

-- The pools follow their calls by triggers, in the statement that changes the call (so
-- exactly once with its charge, whichever code settles or releases it):
-- a call recorded on a pool holds its reserved seconds (and, settled already: a call
-- authorize never saw, its free seconds are used);
CREATE TRIGGER plan_call_recorded AFTER INSERT ON plan_call BEGIN
    INSERT INTO plan_usage (pool_kind, pool_id, month, call_type, used_s, reserved_s)
    VALUES (NEW.pool_kind, NEW.pool_id, NEW.month, NEW.call_type,
            (SELECT free_s FROM call WHERE id = NEW.call_id), NEW.reserved_s)
    ON CONFLICT (pool_kind, pool_id, month, call_type) DO UPDATE SET
        used_s = used_s + excluded.used_s, reserved_s = reserved_s + excluded.reserved_s;
END;

-- a call that leaves 'in-progress' (settled, or released as stale) gives its held seconds
-- back, and the free seconds set when it is charged are used (one UPDATE for both).
CREATE TRIGGER plan_call_changed AFTER UPDATE OF status, free_s ON call
WHEN NEW.free_s != OLD.free_s OR (OLD.status = 'in-progress' AND NEW.status != 'in-progress')
BEGIN
    UPDATE plan_usage SET used_s = used_s + NEW.free_s - OLD.free_s,
        reserved_s = reserved_s - CASE WHEN OLD.status = 'in-progress'
            AND NEW.status != 'in-progress' THEN (SELECT reserved_s FROM plan_call
            WHERE call_id = NEW.id) ELSE 0 END
    WHERE (pool_kind, pool_id, month, call_type) = (SELECT pool_kind, pool_id, month, call_type
        FROM plan_call WHERE call_id = NEW.id);
END;
