-- Version 10: the console's search index is brought up to date behind the
-- writes instead of inside them. A write only notes the records it
-- changed in search_pending; the store indexes the noted records in
-- batches, every quarter second and before every search (searchIndex).
-- Indexing in the triggers took about a fifth of the writer's time per
-- webhook: FTS5 writes a segment for every transaction that touches it.
DROP TRIGGER item_search_insert;
DROP TRIGGER item_search_seen;
DROP TRIGGER item_search_title;
CREATE TABLE search_pending (ref TEXT PRIMARY KEY) WITHOUT ROWID;
-- ON CONFLICT DO NOTHING, not INSERT OR IGNORE: the store writes items
-- with upserts, and an upsert's conflict policy overrides a trigger's OR.
CREATE TRIGGER search_pending_insert AFTER INSERT ON items BEGIN
    INSERT INTO search_pending (ref) VALUES (new.ref) ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER search_pending_update AFTER UPDATE OF snapshot, known ON items BEGIN
    INSERT INTO search_pending (ref) VALUES (new.ref) ON CONFLICT DO NOTHING;
END;
