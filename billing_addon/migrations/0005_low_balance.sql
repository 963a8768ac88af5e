-- Low balance (issue #14): a threshold per extension (NULL: the low_balance_threshold
-- setting), the crossing an alert was queued for (NULL: not low, or not yet noticed;
-- set when the housekeeping queues the alert, cleared when the balance is back at or
-- above the threshold, so each crossing mails once), and the outbox the mail sender
-- works through outside the call path.
ALTER TABLE extension ADD COLUMN low_balance_threshold INTEGER;
ALTER TABLE extension ADD COLUMN low_alerted_utc INTEGER;
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_utc INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_utc INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    sent_utc INTEGER
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_utc, next_try_utc);
