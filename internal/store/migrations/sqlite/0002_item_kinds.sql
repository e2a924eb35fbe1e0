-- Version 2: items are selectable by system and kind, and placeholders
-- (records known only as a link's end) are told apart from records whose
-- snapshot was seen, for Records.
ALTER TABLE items ADD COLUMN system TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN known INTEGER NOT NULL DEFAULT 0;
UPDATE items SET
    system = substr(ref, 1, instr(ref, '/') - 1),
    kind = substr(substr(ref, instr(ref, '/') + 1), 1, instr(substr(ref, instr(ref, '/') + 1), '/') - 1),
    known = updated_at <> 0;
CREATE INDEX items_kind ON items (kind, updated_at);
