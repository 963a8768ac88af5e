-- Speed (issue #15): one per-day statistics table split by call type, instead of
-- call_daily beside call_type_daily (migration 0011), so that settling writes one row
-- (and its trigger one total) a call, not two of each.  call_daily's key gets the call
-- type ('' for an unrated call); call_day_total's too; readers wanting every type sum them.
-- SQLite cannot change a primary key: the new tables are made, filled, and renamed.

-- call_type_daily is call_daily split by type; where a box's rows disagree with
-- call_daily (they never should), both are rebuilt from the calls as settling counts them
-- (call_days.py), as a zone change does.
CREATE TEMP TABLE call_daily_disagrees AS
SELECT EXISTS (
    SELECT 1 FROM (
        SELECT local_day, extension_id, calls, answered_calls, answered_s, cost FROM call_daily
        UNION ALL
        SELECT local_day, extension_id, -calls, -answered_calls, -answered_s, -cost
        FROM call_type_daily)
    GROUP BY local_day, extension_id
    HAVING sum(calls) != 0 OR sum(answered_calls) != 0 OR sum(answered_s) != 0
        OR sum(cost) != 0) AS rebuild;

-- Keyed by extension first: one extension's days (Statistics of an extension, of a
-- department's members, the per-department totals) are a range of the table itself, in
-- order, without a second index to write at every settle or to look rows up through.
-- Statistics of every extension read call_day_total.
CREATE TABLE call_daily_by_type (
    extension_id    INTEGER NOT NULL REFERENCES extension (id),
    local_day       TEXT NOT NULL,
    call_type       TEXT NOT NULL DEFAULT '',
    calls           INTEGER NOT NULL DEFAULT 0,
    answered_calls  INTEGER NOT NULL DEFAULT 0,
    answered_s      INTEGER NOT NULL DEFAULT 0,
    cost            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (extension_id, local_day, call_type)
) WITHOUT ROWID;

INSERT INTO call_daily_by_type (local_day, extension_id, call_type, calls, answered_calls,
                                answered_s, cost)
SELECT local_day, extension_id, call_type, calls, answered_calls, answered_s, cost
FROM call_type_daily WHERE NOT (SELECT rebuild FROM call_daily_disagrees);

INSERT INTO call_daily_by_type (local_day, extension_id, call_type, calls, answered_calls,
                                answered_s, cost)
SELECT local_day, extension_id, call_type, count(*), sum(answered_s > 0), sum(answered_s),
       sum(cost)
FROM call WHERE status IN ('charged', 'unrated') AND settled_utc IS NOT NULL
    AND (SELECT rebuild FROM call_daily_disagrees)
GROUP BY local_day, extension_id, call_type;

DROP TABLE call_daily_disagrees;

-- the old tables go with their triggers and indexes
DROP TABLE call_type_daily;
DROP TABLE call_type_day_total;
DROP TABLE call_daily;
DROP TABLE call_day_total;
ALTER TABLE call_daily_by_type RENAME TO call_daily;

-- The day's totals over all extensions, per type: Statistics of every extension read a
-- few rows a day.  Kept by the triggers below (as in migration 0007), whichever code
-- writes call_daily (settling, re-rating, the zone-change rebuild), in its transaction.
CREATE TABLE call_day_total (
    local_day       TEXT NOT NULL,
    call_type       TEXT NOT NULL DEFAULT '',
    calls           INTEGER NOT NULL DEFAULT 0,
    answered_calls  INTEGER NOT NULL DEFAULT 0,
    answered_s      INTEGER NOT NULL DEFAULT 0,
    cost            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (local_day, call_type)
) WITHOUT ROWID;

INSERT INTO call_day_total (local_day, call_type, calls, answered_calls, answered_s, cost)
SELECT local_day, call_type, sum(calls), sum(answered_calls), sum(answered_s), sum(cost)
FROM call_daily GROUP BY local_day, call_type;

CREATE TRIGGER call_daily_added AFTER INSERT ON call_daily BEGIN
    INSERT INTO call_day_total (local_day, call_type, calls, answered_calls, answered_s, cost)
    VALUES (NEW.local_day, NEW.call_type, NEW.calls, NEW.answered_calls, NEW.answered_s, NEW.cost)
    ON CONFLICT (local_day, call_type) DO UPDATE SET
        calls = calls + excluded.calls, answered_calls = answered_calls + excluded.answered_calls,
        answered_s = answered_s + excluded.answered_s, cost = cost + excluded.cost;
END;

CREATE TRIGGER call_daily_removed AFTER DELETE ON call_daily BEGIN
    UPDATE call_day_total SET calls = calls - OLD.calls,
        answered_calls = answered_calls - OLD.answered_calls,
        answered_s = answered_s - OLD.answered_s, cost = cost - OLD.cost
    WHERE local_day = OLD.local_day AND call_type = OLD.call_type;
END;

-- settling adds to its row: one UPDATE of the difference
CREATE TRIGGER call_daily_changed AFTER UPDATE ON call_daily
WHEN NEW.local_day = OLD.local_day AND NEW.call_type = OLD.call_type BEGIN
    UPDATE call_day_total SET calls = calls + NEW.calls - OLD.calls,
        answered_calls = answered_calls + NEW.answered_calls - OLD.answered_calls,
        answered_s = answered_s + NEW.answered_s - OLD.answered_s,
        cost = cost + NEW.cost - OLD.cost
    WHERE local_day = NEW.local_day AND call_type = NEW.call_type;
END;

CREATE TRIGGER call_daily_moved AFTER UPDATE ON call_daily
WHEN NEW.local_day != OLD.local_day OR NEW.call_type != OLD.call_type BEGIN
    UPDATE call_day_total SET calls = calls - OLD.calls,
        answered_calls = answered_calls - OLD.answered_calls,
        answered_s = answered_s - OLD.answered_s, cost = cost - OLD.cost
    WHERE local_day = OLD.local_day AND call_type = OLD.call_type;
    INSERT INTO call_day_total (local_day, call_type, calls, answered_calls, answered_s, cost)
    VALUES (NEW.local_day, NEW.call_type, NEW.calls, NEW.answered_calls, NEW.answered_s, NEW.cost)
    ON CONFLICT (local_day, call_type) DO UPDATE SET
        calls = calls + excluded.calls, answered_calls = answered_calls + excluded.answered_calls,
        answered_s = answered_s + excluded.answered_s, cost = cost + excluded.cost;
END;

-- Calling plans (billing_addon/plans.py IN_USE): the call types some assigned plan gives
-- free seconds for; authorize and settle look for a pool only for these.
INSERT OR REPLACE INTO setting (key, value)
SELECT 'calling_plans', coalesce(group_concat(call_type), '') FROM (
    SELECT DISTINCT call_type FROM plan_allowance WHERE free_s > 0 AND plan_id IN
        (SELECT plan_id FROM extension UNION SELECT plan_id FROM department));
