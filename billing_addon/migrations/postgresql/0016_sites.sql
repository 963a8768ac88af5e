-- Sites (issue #16): several boxes, one per property, on one central store
-- (docs/scale.md).  Every row gets the site of the box that made it; '' is a box on its
-- own, and for rates and accounts every site (shared rates, group-wide accounts).
-- Extension numbers are per site (1001 at two hotels is two extensions) and so are
-- Asterisk uniqueids (two boxes' may collide): the UNIQUE(number) and UNIQUE(uniqueid)
-- of the baseline become UNIQUE(site, number) and UNIQUE(site, uniqueid).  That a
-- number names one payer within a site (accounts against extensions) is checked in the
-- code (sites.py).
ALTER TABLE extension ADD COLUMN site TEXT NOT NULL DEFAULT '';
ALTER TABLE rate ADD COLUMN site TEXT NOT NULL DEFAULT '';
ALTER TABLE call ADD COLUMN site TEXT NOT NULL DEFAULT '';

ALTER TABLE extension DROP CONSTRAINT extension_number_key;
ALTER TABLE extension ADD CONSTRAINT extension_site_number_key UNIQUE (site, number);
ALTER TABLE call DROP CONSTRAINT call_uniqueid_key;
ALTER TABLE call ADD CONSTRAINT call_site_uniqueid_key UNIQUE (site, uniqueid);

-- a site's Call Log, and the rates a site loads
CREATE INDEX call_site_started ON call (site, started_utc);
CREATE INDEX rate_site ON rate (site, deck);
