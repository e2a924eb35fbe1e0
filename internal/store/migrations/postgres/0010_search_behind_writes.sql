-- Version 10: SQLite's search index moves behind the writes. PostgreSQL's
-- trigger stays: it writes no full-text segment per transaction, and its
-- writes are spread over several connections.
SELECT 1;
