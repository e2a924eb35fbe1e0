-- Version 6: what the console's search box looks records up by, kept by
-- triggers so that writers need not know of it: the record's id (the ref
-- without system and kind: 4521, KBOT-88, acme/app#12, a Message-ID), and
-- its title and people in lower case for a free-text match.
CREATE TABLE item_search (
    ref   TEXT PRIMARY KEY,
    rid   TEXT NOT NULL,
    words TEXT NOT NULL
);
CREATE INDEX item_search_rid ON item_search (lower(rid));
INSERT INTO item_search (ref, rid, words)
SELECT ref, substr(ref, length(system) + length(kind) + 3),
       lower(coalesce(json_extract(snapshot, '$.title'), '') || ' ' || coalesce(json_extract(snapshot, '$.reporter'), '') || ' ' || coalesce(json_extract(snapshot, '$.assignee'), ''))
FROM items;
CREATE TRIGGER item_search_insert AFTER INSERT ON items BEGIN
    DELETE FROM item_search WHERE ref = new.ref;
    INSERT INTO item_search (ref, rid, words) VALUES (new.ref, substr(new.ref, length(new.system) + length(new.kind) + 3),
        lower(coalesce(json_extract(new.snapshot, '$.title'), '') || ' ' || coalesce(json_extract(new.snapshot, '$.reporter'), '') || ' ' || coalesce(json_extract(new.snapshot, '$.assignee'), '')));
END;
CREATE TRIGGER item_search_update AFTER UPDATE OF snapshot ON items BEGIN
    DELETE FROM item_search WHERE ref = new.ref;
    INSERT INTO item_search (ref, rid, words) VALUES (new.ref, substr(new.ref, length(new.system) + length(new.kind) + 3),
        lower(coalesce(json_extract(new.snapshot, '$.title'), '') || ' ' || coalesce(json_extract(new.snapshot, '$.reporter'), '') || ' ' || coalesce(json_extract(new.snapshot, '$.assignee'), '')));
END;
