-- Re-rating (issue #15 item 6, billing_addon/rerate.py): a run is the preview the user
-- saw, saved, so that applying it changes exactly those calls by exactly those amounts.
-- state: 'saving' (its items are being written), 'preview' (ready to apply),
-- 'applying' (applied in steps; a crash leaves it here and apply resumes), 'applied'.
CREATE TABLE rerate_run (
    id                INTEGER PRIMARY KEY,
    from_day          TEXT NOT NULL,            -- the period, the box's local days
    to_day            TEXT NOT NULL,
    extensions        TEXT NOT NULL DEFAULT '', -- the numbers chosen, space-separated
    department        TEXT NOT NULL DEFAULT '', -- or the department chosen (its name)
    operator          TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL DEFAULT 'saving'
                      CHECK (state IN ('saving', 'preview', 'applying', 'applied')),
    created_utc       INTEGER NOT NULL,
    apply_started_utc INTEGER,
    applied_utc       INTEGER,
    rates             TEXT NOT NULL DEFAULT '{}', -- JSON: new rate id -> its snapshot
    old_rates         TEXT NOT NULL DEFAULT '{}', -- JSON: old rate id -> its name then
    changed           INTEGER NOT NULL DEFAULT 0, -- calls whose cost changes
    uncovered         INTEGER NOT NULL DEFAULT 0, -- charged calls no rate covers now
    old_total         INTEGER NOT NULL DEFAULT 0, -- of the changed calls
    new_total         INTEGER NOT NULL DEFAULT 0,
    applied           INTEGER NOT NULL DEFAULT 0, -- counts once applied
    skipped           INTEGER NOT NULL DEFAULT 0
);

-- One changed (or uncovered: new_cost NULL) call of a run.  An item is marked applied
-- in the transaction that writes its adjustment, so a second apply never repeats it.
CREATE TABLE rerate_item (
    run_id       INTEGER NOT NULL REFERENCES rerate_run (id),
    call_id      INTEGER NOT NULL REFERENCES call (id),
    old_cost     INTEGER NOT NULL,
    new_cost     INTEGER,
    old_rate_id  INTEGER,
    new_rate_id  INTEGER,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'applied', 'skipped', 'uncovered')),
    note         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, call_id)
) WITHOUT ROWID;
CREATE INDEX rerate_item_state ON rerate_item (run_id, state, call_id);
