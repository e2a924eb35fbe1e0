-- Version 3: a case joined from two claims of different owners keeps the
-- later one, and holds the earlier lease beside it (held_until), so that
-- the keeper's release leaves the case to no one only until that lease is
-- over, not until its own would have been.
ALTER TABLE work ADD COLUMN held_until INTEGER NOT NULL DEFAULT 0;
