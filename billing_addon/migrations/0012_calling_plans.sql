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
);

-- Which pool and month a call draws on, and the free seconds it holds reserved while in
-- progress (0 once settled or released); its used seconds are call.free_s.
CREATE TABLE plan_call (
    call_id     INTEGER PRIMARY KEY REFERENCES call (id),
    pool_kind   TEXT NOT NULL,
    pool_id     INTEGER NOT NULL,
    month       TEXT NOT NULL,
    call_type   TEXT NOT NULL,
    reserved_s  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX plan_call_pool ON plan_call (pool_kind, pool_id, month);
