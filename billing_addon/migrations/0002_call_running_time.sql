-- A reservation's end in the box's running time (billing_addon/boottime.py), which a
-- clock step cannot move: the boot it was made in and its end in seconds of that boot's
-- uptime.  Rows from before this version keep boot_id '' and are timed by expires_utc.
ALTER TABLE call ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE call ADD COLUMN expires_uptime REAL;
