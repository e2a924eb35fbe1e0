-- Version 6: what the console's search box looks records up by, kept by
-- triggers so that writers need not know of it: the record's id (the ref
-- without system and kind: 4521, KBOT-88, acme/app#12, a Message-ID), its
-- reporter and assignee, all in lower case; and its title in a trigram
-- index (item_words, rowid = item_search.id), so that any part of a title
-- is found without reading every record.
CREATE TABLE item_search (
    id       INTEGER PRIMARY KEY,
    ref      TEXT NOT NULL UNIQUE,
    rid      TEXT NOT NULL,
    reporter TEXT NOT NULL,
    assignee TEXT NOT NULL
);
CREATE INDEX item_search_rid ON item_search (rid);
CREATE INDEX item_search_reporter ON item_search (reporter);
CREATE INDEX item_search_assignee ON item_search (assignee);
CREATE VIRTUAL TABLE item_words USING fts5(words, tokenize = 'trigram', detail = 'none');

INSERT INTO item_search (ref, rid, reporter, assignee)
SELECT ref, lower(substr(ref, length(system) + length(kind) + 3)),
       lower(coalesce(json_extract(snapshot, '$.reporter'), '')), lower(coalesce(json_extract(snapshot, '$.assignee'), ''))
FROM items;
INSERT INTO item_words (rowid, words)
SELECT s.id, lower(coalesce(json_extract(i.snapshot, '$.title'), '')) FROM item_search s JOIN items i ON i.ref = s.ref;

CREATE TRIGGER item_search_insert AFTER INSERT ON items BEGIN
    INSERT INTO item_search (ref, rid, reporter, assignee)
    VALUES (new.ref, lower(substr(new.ref, length(new.system) + length(new.kind) + 3)),
            lower(coalesce(json_extract(new.snapshot, '$.reporter'), '')), lower(coalesce(json_extract(new.snapshot, '$.assignee'), '')))
    ON CONFLICT (ref) DO UPDATE SET reporter = excluded.reporter, assignee = excluded.assignee;
    DELETE FROM item_words WHERE rowid = (SELECT id FROM item_search WHERE ref = new.ref);
    INSERT INTO item_words (rowid, words)
    SELECT id, lower(coalesce(json_extract(new.snapshot, '$.title'), '')) FROM item_search WHERE ref = new.ref;
END;
-- Most updates change a status or a field: the title is compared (the
-- one cost every update pays), and only a changed one is indexed again.
-- A record's people are those of its first snapshot: a placeholder's come
-- when it is first seen.
CREATE TRIGGER item_search_seen AFTER UPDATE OF known ON items WHEN old.known = 0 AND new.known = 1 BEGIN
    UPDATE item_search SET reporter = lower(coalesce(json_extract(new.snapshot, '$.reporter'), '')),
        assignee = lower(coalesce(json_extract(new.snapshot, '$.assignee'), ''))
    WHERE ref = new.ref;
END;
CREATE TRIGGER item_search_title AFTER UPDATE OF snapshot ON items
WHEN json_extract(old.snapshot, '$.title') IS NOT json_extract(new.snapshot, '$.title') BEGIN
    DELETE FROM item_words WHERE rowid = (SELECT id FROM item_search WHERE ref = new.ref);
    INSERT INTO item_words (rowid, words)
    SELECT id, lower(coalesce(json_extract(new.snapshot, '$.title'), '')) FROM item_search WHERE ref = new.ref;
END;
