-- Statistics at 1M calls (issue #17.5): the day's totals over all extensions, so that
-- Statistics of every extension read one row per day, not one per day and extension.
-- Triggers keep it equal to the sum of call_daily, whichever code writes call_daily
-- (settling, the zone-change rebuild), in the same transaction.
CREATE TABLE call_day_total (
    local_day       TEXT PRIMARY KEY,
    calls           INTEGER NOT NULL DEFAULT 0,
    answered_calls  INTEGER NOT NULL DEFAULT 0,
    answered_s      INTEGER NOT NULL DEFAULT 0,
    cost            INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TRIGGER call_daily_added AFTER INSERT ON call_daily BEGIN
    INSERT INTO call_day_total (local_day, calls, answered_calls, answered_s, cost)
    VALUES (NEW.local_day, NEW.calls, NEW.answered_calls, NEW.answered_s, NEW.cost)
    ON CONFLICT (local_day) DO UPDATE SET
        calls = calls + excluded.calls, answered_calls = answered_calls + excluded.answered_calls,
        answered_s = answered_s + excluded.answered_s, cost = cost + excluded.cost;
END;

CREATE TRIGGER call_daily_removed AFTER DELETE ON call_daily BEGIN
    UPDATE call_day_total SET calls = calls - OLD.calls,
        answered_calls = answered_calls - OLD.answered_calls,
        answered_s = answered_s - OLD.answered_s, cost = cost - OLD.cost
    WHERE local_day = OLD.local_day;
END;

-- settling adds to its day's row: one UPDATE of the difference
CREATE TRIGGER call_daily_changed AFTER UPDATE ON call_daily
WHEN NEW.local_day = OLD.local_day BEGIN
    UPDATE call_day_total SET calls = calls + NEW.calls - OLD.calls,
        answered_calls = answered_calls + NEW.answered_calls - OLD.answered_calls,
        answered_s = answered_s + NEW.answered_s - OLD.answered_s,
        cost = cost + NEW.cost - OLD.cost
    WHERE local_day = NEW.local_day;
END;

CREATE TRIGGER call_daily_moved AFTER UPDATE ON call_daily
WHEN NEW.local_day != OLD.local_day BEGIN
    UPDATE call_day_total SET calls = calls - OLD.calls,
        answered_calls = answered_calls - OLD.answered_calls,
        answered_s = answered_s - OLD.answered_s, cost = cost - OLD.cost
    WHERE local_day = OLD.local_day;
    INSERT INTO call_day_total (local_day, calls, answered_calls, answered_s, cost)
    VALUES (NEW.local_day, NEW.calls, NEW.answered_calls, NEW.answered_s, NEW.cost)
    ON CONFLICT (local_day) DO UPDATE SET
        calls = calls + excluded.calls, answered_calls = answered_calls + excluded.answered_calls,
        answered_s = answered_s + excluded.answered_s, cost = cost + excluded.cost;
END;

-- Statistics of one extension: its days in order, not a walk of every extension's days.
CREATE INDEX call_daily_ext ON call_daily (extension_id, local_day);

INSERT INTO call_day_total (local_day, calls, answered_calls, answered_s, cost)
SELECT local_day, sum(calls), sum(answered_calls), sum(answered_s), sum(cost)
FROM call_daily GROUP BY local_day;
