-- Accounts with a PIN (issue #15, item 1; docs/accounts.md).
--
-- An account (extension row of kind 'account') has a PIN, stored only as its keyed hash
-- (HMAC-SHA256 under a per-box key kept outside the database, billing_addon/pins.py):
-- deterministic, so one PIN belongs to one account of the box (the unique index) and a
-- caller's PIN is checked by one lookup.
ALTER TABLE extension ADD COLUMN pin_hash TEXT;
CREATE UNIQUE INDEX extension_pin_hash ON extension (pin_hash) WHERE pin_hash IS NOT NULL;

-- An extension (phone) whose outbound calls ask for an account and its PIN.
ALTER TABLE extension ADD COLUMN account_billing INTEGER NOT NULL DEFAULT 0;

-- Wrong PINs typed on a phone: how many in the current window (which began at
-- pin_failed_utc), and until when further account attempts are refused.
ALTER TABLE extension ADD COLUMN pin_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE extension ADD COLUMN pin_failed_utc INTEGER;
ALTER TABLE extension ADD COLUMN pin_blocked_until_utc INTEGER;
