-- Version 6: what the console's search box looks records up by, kept by
-- a trigger so that writers need not know of it: the record's id (the ref
-- without system and kind: 4521, KBOT-88, acme/app#12, a Message-ID), and
-- its title and people in lower case for a free-text match.
CREATE TABLE item_search (
    ref   TEXT PRIMARY KEY,
    rid   TEXT NOT NULL,
    words TEXT NOT NULL
);
CREATE INDEX item_search_rid ON item_search (lower(rid));
CREATE FUNCTION item_search_put() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE s jsonb := NEW.snapshot::jsonb;
BEGIN
    INSERT INTO item_search (ref, rid, words)
    VALUES (NEW.ref, substr(NEW.ref, length(NEW.system) + length(NEW.kind) + 3),
            lower(coalesce(s->>'title', '') || ' ' || coalesce(s->>'reporter', '') || ' ' || coalesce(s->>'assignee', '')))
    ON CONFLICT (ref) DO UPDATE SET rid = excluded.rid, words = excluded.words;
    RETURN NULL;
END $$;
INSERT INTO item_search (ref, rid, words)
SELECT ref, substr(ref, length(system) + length(kind) + 3),
       lower(coalesce(snapshot::jsonb->>'title', '') || ' ' || coalesce(snapshot::jsonb->>'reporter', '') || ' ' || coalesce(snapshot::jsonb->>'assignee', ''))
FROM items;
CREATE TRIGGER item_search_put AFTER INSERT OR UPDATE OF snapshot ON items
    FOR EACH ROW EXECUTE FUNCTION item_search_put();
