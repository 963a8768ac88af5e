-- The deck a rate row belongs to.  The rates in force are the rows whose deck is from
-- the setting rates_deck_from to rates_deck (both 0 when unset); an import writes its
-- rows under a new deck number, out of sight, and then moves that window over them in
-- one short transaction (billing_addon/rates.py).
ALTER TABLE rate ADD COLUMN deck INTEGER NOT NULL DEFAULT 0;
CREATE INDEX rate_deck ON rate (deck);
