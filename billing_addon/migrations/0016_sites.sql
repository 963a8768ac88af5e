-- Sites (issue #16): several boxes, one per property, on one central store
-- (docs/scale.md).  Every row gets the site of the box that made it; '' is a box on its
-- own, and for rates and accounts every site (shared rates, group-wide accounts).
-- A SQLite file is one box, so one site: number and uniqueid stay UNIQUE here (no table
-- rebuild); PostgreSQL's version of this migration makes them unique per site.
ALTER TABLE extension ADD COLUMN site TEXT NOT NULL DEFAULT '';
ALTER TABLE rate ADD COLUMN site TEXT NOT NULL DEFAULT '';
ALTER TABLE call ADD COLUMN site TEXT NOT NULL DEFAULT '';

-- a site's Call Log, and the rates a site loads
CREATE INDEX call_site_started ON call (site, started_utc);
CREATE INDEX rate_site ON rate (site, deck);
-- the site names a report offers in its Site filter (PostgreSQL: its (site, number) key)
CREATE INDEX extension_site ON extension (site);
