-- Nothing to do: SQLite's 0017 drops the site indexes a file with one site does not
-- need.  Here the store holds many sites, and its planner weighs them with statistics.
SELECT 1;
