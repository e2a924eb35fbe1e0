-- Version 6: what the console's search box looks records up by, kept by
-- a trigger so that writers need not know of it: the record's id (the ref
-- without system and kind: 4521, KBOT-88, acme/app#12, a Message-ID), its
-- reporter, assignee and title, all in lower case. Titles get a trigram
-- index when the pg_trgm extension can be had (it ships with PostgreSQL;
-- creating it needs the CREATE privilege on the database); without it a
-- free-text search reads every title.
CREATE TABLE item_search (
    ref      TEXT PRIMARY KEY,
    rid      TEXT NOT NULL,
    reporter TEXT NOT NULL,
    assignee TEXT NOT NULL,
    words    TEXT NOT NULL
);
CREATE INDEX item_search_rid ON item_search (rid);
CREATE INDEX item_search_reporter ON item_search (reporter);
CREATE INDEX item_search_assignee ON item_search (assignee);

-- A record's people are those of its first snapshot (a placeholder's come
-- when it is first seen); its title follows every change. Most updates
-- change a status or a field: the trigger's condition compares the title,
-- the one cost every update pays.
CREATE FUNCTION item_search_put() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE s jsonb := NEW.snapshot::jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.known = NEW.known THEN
        UPDATE item_search SET words = lower(coalesce(s->>'title', '')) WHERE ref = NEW.ref;
        RETURN NULL;
    END IF;
    INSERT INTO item_search (ref, rid, reporter, assignee, words)
    VALUES (NEW.ref, lower(substr(NEW.ref, length(NEW.system) + length(NEW.kind) + 3)),
            lower(coalesce(s->>'reporter', '')), lower(coalesce(s->>'assignee', '')), lower(coalesce(s->>'title', '')))
    ON CONFLICT (ref) DO UPDATE SET reporter = excluded.reporter, assignee = excluded.assignee, words = excluded.words;
    RETURN NULL;
END $$;

INSERT INTO item_search (ref, rid, reporter, assignee, words)
SELECT ref, lower(substr(ref, length(system) + length(kind) + 3)), lower(coalesce(snapshot::jsonb->>'reporter', '')),
       lower(coalesce(snapshot::jsonb->>'assignee', '')), lower(coalesce(snapshot::jsonb->>'title', ''))
FROM items;

CREATE TRIGGER item_search_insert AFTER INSERT ON items
    FOR EACH ROW EXECUTE FUNCTION item_search_put();
CREATE TRIGGER item_search_update AFTER UPDATE OF snapshot, known ON items
    FOR EACH ROW WHEN (OLD.known <> NEW.known OR (OLD.snapshot::jsonb->>'title') IS DISTINCT FROM (NEW.snapshot::jsonb->>'title'))
    EXECUTE FUNCTION item_search_put();

DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available: the console''s free-text search reads every title';
END $$;
DO $$
DECLARE ns text := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm');
BEGIN
    IF ns IS NOT NULL THEN
        EXECUTE format('CREATE INDEX item_search_words ON item_search USING gin (words %I.gin_trgm_ops)', ns);
    END IF;
END $$;
ANALYZE item_search;
