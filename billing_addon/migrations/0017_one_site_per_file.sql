-- A SQLite file holds one site (docs/scale.md), so 0016's site indexes hold every row
-- under one key.  SQLite's planner, which keeps no statistics here, still took them for
-- a lookup of several uniqueids or numbers "AND site = ''": a walk over every call of
-- the file (at a million calls, 0.13 s for a CDR batch of ten), instead of one probe a
-- key in the UNIQUE index.  call_started and rate_deck serve the other queries as well.
DROP INDEX call_site_started;
DROP INDEX rate_site;
DROP INDEX extension_site;
