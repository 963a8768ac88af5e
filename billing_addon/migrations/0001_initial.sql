-- Initial schema.  Money columns are INTEGER minor units (1/10000 of the currency),
-- times are INTEGER UTC epoch seconds; local_day is the call's day in the box's zone.

CREATE TABLE setting (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE extension (
    id               INTEGER PRIMARY KEY,
    number           TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL DEFAULT '',
    billing_enabled  INTEGER NOT NULL DEFAULT 0,
    payment_type     TEXT NOT NULL DEFAULT 'prepaid' CHECK (payment_type IN ('prepaid', 'postpaid')),
    status           TEXT NOT NULL DEFAULT 'unlocked' CHECK (status IN ('unlocked', 'locked')),
    credit           INTEGER NOT NULL DEFAULT 0 CHECK (credit >= 0),
    balance          INTEGER NOT NULL DEFAULT 0,
    reserved         INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    total_recharges  INTEGER NOT NULL DEFAULT 0,
    recharges_since  INTEGER NOT NULL DEFAULT 0,   -- ledger id after which total_recharges counts
    source           TEXT NOT NULL DEFAULT 'manual',  -- pbx | dialed | manual
    missing          INTEGER NOT NULL DEFAULT 0,   -- gone from the PBX configuration
    created_utc      INTEGER NOT NULL,
    updated_utc      INTEGER NOT NULL
);

CREATE TABLE rate (
    id              INTEGER PRIMARY KEY,
    active          INTEGER NOT NULL DEFAULT 1,
    remarks         TEXT NOT NULL DEFAULT '',
    prefix          TEXT NOT NULL,
    length          INTEGER NOT NULL DEFAULT 0 CHECK (length >= 0),
    initial_cost    INTEGER NOT NULL DEFAULT 0 CHECK (initial_cost >= 0),
    initial_time    INTEGER NOT NULL DEFAULT 0 CHECK (initial_time >= 0),
    rate            INTEGER NOT NULL DEFAULT 0 CHECK (rate >= 0),
    unit            INTEGER NOT NULL DEFAULT 60 CHECK (unit > 0),
    start_s         INTEGER NOT NULL DEFAULT 0,
    end_s           INTEGER NOT NULL DEFAULT 86400,
    all_extensions  INTEGER NOT NULL DEFAULT 0,
    created_utc     INTEGER NOT NULL,
    updated_utc     INTEGER NOT NULL
);
CREATE INDEX rate_prefix ON rate (prefix);

CREATE TABLE rate_extension (
    rate_id       INTEGER NOT NULL REFERENCES rate (id) ON DELETE CASCADE,
    extension_id  INTEGER NOT NULL REFERENCES extension (id) ON DELETE CASCADE,
    PRIMARY KEY (rate_id, extension_id)
);
CREATE INDEX rate_extension_ext ON rate_extension (extension_id);

CREATE TABLE call (
    id             INTEGER PRIMARY KEY,
    uniqueid       TEXT NOT NULL UNIQUE,
    extension_id   INTEGER NOT NULL REFERENCES extension (id),
    dialed         TEXT NOT NULL,
    started_utc    INTEGER NOT NULL,
    local_day      TEXT NOT NULL,
    status         TEXT NOT NULL,   -- in-progress | charged | unrated | denied | expired
    reason         TEXT NOT NULL DEFAULT '',
    rate_id        INTEGER,         -- no foreign key: a deleted rate keeps its calls
    rate_snapshot  TEXT NOT NULL DEFAULT '',
    reserved       INTEGER NOT NULL DEFAULT 0,
    limit_ms       INTEGER,
    answered_s     INTEGER,
    dial_status    TEXT NOT NULL DEFAULT '',
    cost           INTEGER NOT NULL DEFAULT 0,
    source         TEXT NOT NULL DEFAULT 'agi',
    expires_utc    INTEGER,
    settled_utc    INTEGER
);
CREATE INDEX call_ext_started ON call (extension_id, started_utc);
CREATE INDEX call_started ON call (started_utc);
CREATE INDEX call_open ON call (status, expires_utc);

CREATE TABLE ledger (
    id             INTEGER PRIMARY KEY,
    extension_id   INTEGER NOT NULL REFERENCES extension (id),
    kind           TEXT NOT NULL CHECK (kind IN ('recharge', 'call', 'adjustment')),
    amount         INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    call_id        INTEGER UNIQUE REFERENCES call (id),
    reason         TEXT NOT NULL DEFAULT '',
    operator       TEXT NOT NULL DEFAULT '',
    created_utc    INTEGER NOT NULL
);
CREATE INDEX ledger_ext ON ledger (extension_id, id);
CREATE INDEX ledger_kind_time ON ledger (kind, created_utc);

-- Per local day and extension, kept in the settling transaction so that statistics
-- never scan the call table.
CREATE TABLE call_daily (
    local_day       TEXT NOT NULL,
    extension_id    INTEGER NOT NULL REFERENCES extension (id),
    calls           INTEGER NOT NULL DEFAULT 0,
    answered_calls  INTEGER NOT NULL DEFAULT 0,
    answered_s      INTEGER NOT NULL DEFAULT 0,
    cost            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (local_day, extension_id)
);

CREATE TABLE billing_user (
    id             INTEGER PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL DEFAULT 'billing',
    enabled        INTEGER NOT NULL DEFAULT 1,
    created_utc    INTEGER NOT NULL,
    updated_utc    INTEGER NOT NULL
);
