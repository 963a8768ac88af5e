-- Call types (issue #15.3): barring, and the per-type day totals Statistics read.
--
-- The call types an extension (or account) and a department may NOT call: a
-- comma-separated list of calltypes.CALL_TYPES ('' bars nothing; 'free' is never in it).
ALTER TABLE extension ADD COLUMN barred_types TEXT NOT NULL DEFAULT '';
ALTER TABLE department ADD COLUMN barred_types TEXT NOT NULL DEFAULT '';

-- call_daily split by call type: settling adds to it in the same transaction as to
-- call_daily; call_type is the call's ('' for an unrated one).
CREATE TABLE call_type_daily (
    local_day       TEXT NOT NULL,
    extension_id    INTEGER NOT NULL REFERENCES extension (id),
    call_type       TEXT NOT NULL,
    calls           INTEGER NOT NULL DEFAULT 0,
    answered_calls  INTEGER NOT NULL DEFAULT 0,
    answered_s      INTEGER NOT NULL DEFAULT 0,
    cost            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (local_day, extension_id, call_type)
) WITHOUT ROWID;
CREATE INDEX call_type_daily_ext ON call_type_daily (extension_id, local_day);

-- Its sum over every extension, one row per day and type, kept by triggers (as
-- call_day_total is for call_daily), so Statistics of all extensions read a few rows a day.
CREATE TABLE call_type_day_total (
    local_day       TEXT NOT NULL,
    call_type       TEXT NOT NULL,
    calls           INTEGER NOT NULL DEFAULT 0,
    answered_calls  INTEGER NOT NULL DEFAULT 0,
    answered_s      INTEGER NOT NULL DEFAULT 0,
    cost            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (local_day, call_type)
) WITHOUT ROWID;

CREATE TRIGGER call_type_daily_added AFTER INSERT ON call_type_daily BEGIN
    INSERT INTO call_type_day_total (local_day, call_type, calls, answered_calls, answered_s, cost)
    VALUES (NEW.local_day, NEW.call_type, NEW.calls, NEW.answered_calls, NEW.answered_s, NEW.cost)
    ON CONFLICT (local_day, call_type) DO UPDATE SET
        calls = calls + excluded.calls, answered_calls = answered_calls + excluded.answered_calls,
        answered_s = answered_s + excluded.answered_s, cost = cost + excluded.cost;
END;

CREATE TRIGGER call_type_daily_removed AFTER DELETE ON call_type_daily BEGIN
    UPDATE call_type_day_total SET calls = calls - OLD.calls,
        answered_calls = answered_calls - OLD.answered_calls,
        answered_s = answered_s - OLD.answered_s, cost = cost - OLD.cost
    WHERE local_day = OLD.local_day AND call_type = OLD.call_type;
END;

-- settling adds to its row: one UPDATE of the difference
CREATE TRIGGER call_type_daily_changed AFTER UPDATE ON call_type_daily
WHEN NEW.local_day = OLD.local_day AND NEW.call_type = OLD.call_type BEGIN
    UPDATE call_type_day_total SET calls = calls + NEW.calls - OLD.calls,
        answered_calls = answered_calls + NEW.answered_calls - OLD.answered_calls,
        answered_s = answered_s + NEW.answered_s - OLD.answered_s,
        cost = cost + NEW.cost - OLD.cost
    WHERE local_day = NEW.local_day AND call_type = NEW.call_type;
END;

CREATE TRIGGER call_type_daily_moved AFTER UPDATE ON call_type_daily
WHEN NEW.local_day != OLD.local_day OR NEW.call_type != OLD.call_type BEGIN
    UPDATE call_type_day_total SET calls = calls - OLD.calls,
        answered_calls = answered_calls - OLD.answered_calls,
        answered_s = answered_s - OLD.answered_s, cost = cost - OLD.cost
    WHERE local_day = OLD.local_day AND call_type = OLD.call_type;
    INSERT INTO call_type_day_total (local_day, call_type, calls, answered_calls, answered_s, cost)
    VALUES (NEW.local_day, NEW.call_type, NEW.calls, NEW.answered_calls, NEW.answered_s, NEW.cost)
    ON CONFLICT (local_day, call_type) DO UPDATE SET
        calls = calls + excluded.calls, answered_calls = answered_calls + excluded.answered_calls,
        answered_s = answered_s + excluded.answered_s, cost = cost + excluded.cost;
END;

-- the calls settled before this migration, as settling counts them (call_days.py)
INSERT INTO call_type_daily (local_day, extension_id, call_type, calls, answered_calls,
                             answered_s, cost)
SELECT local_day, extension_id, call_type, count(*), sum(answered_s > 0), sum(answered_s),
       sum(cost)
FROM call WHERE status IN ('charged', 'unrated') AND settled_utc IS NOT NULL
GROUP BY local_day, extension_id, call_type;
