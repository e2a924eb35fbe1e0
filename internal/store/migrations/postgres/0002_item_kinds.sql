-- Version 2: items are selectable by system and kind, and placeholders
-- (records known only as a link's end) are told apart from records whose
-- snapshot was seen, for Records.
ALTER TABLE items
    ADD COLUMN system TEXT NOT NULL DEFAULT '',
    ADD COLUMN kind TEXT NOT NULL DEFAULT '',
    ADD COLUMN known BIGINT NOT NULL DEFAULT 0;
UPDATE items SET
    system = split_part(ref, '/', 1),
    kind = split_part(ref, '/', 2),
    known = CASE WHEN updated_at <> 0 THEN 1 ELSE 0 END;
CREATE INDEX items_kind ON items (kind, updated_at);
