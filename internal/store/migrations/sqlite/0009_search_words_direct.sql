-- Version 9: PostgreSQL's title index stops keeping a pending list. The
-- FTS5 index here has none: nothing changes.
SELECT 1;
