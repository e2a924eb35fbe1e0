-- Liaison schema, version 1 (PostgreSQL).
-- Times are unix nanoseconds (0 = none) so that SQLite and PostgreSQL store
-- and compare them identically. Refs are stored in their String() form.

-- items holds the newest snapshot of every record, and the case it is in.
CREATE TABLE items (
    ref        TEXT PRIMARY KEY,
    case_id    BIGINT NOT NULL,
    snapshot   TEXT NOT NULL,              -- core.Item as JSON
    discovered TEXT NOT NULL DEFAULT '',   -- []core.Link the resolver last found in this record, JSON
    updated_at BIGINT NOT NULL DEFAULT 0, -- the snapshot's UpdatedAt
    version    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX items_case ON items (case_id);

-- links joins records; a case is a connected component of this graph.
-- source_ref is the record whose text a discovered link was found in.
CREATE TABLE links (
    from_ref   TEXT NOT NULL,
    to_ref     TEXT NOT NULL,
    role       TEXT NOT NULL,
    origin     TEXT NOT NULL,
    source_ref TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (from_ref, to_ref)
);
CREATE INDEX links_to ON links (to_ref);

-- inbox is every event received, de-duplicated by (source, delivery_id).
CREATE TABLE inbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    ref          TEXT NOT NULL,
    type         TEXT NOT NULL,
    via          TEXT NOT NULL,
    event        TEXT NOT NULL,   -- core.Event as JSON, without Raw
    raw          BYTEA,           -- the body as received; NULL once pruned
    raw_encoding TEXT NOT NULL DEFAULT '', -- '' or 'deflate'
    received_at  BIGINT NOT NULL,
    processed_at BIGINT NOT NULL DEFAULT 0,
    UNIQUE (source, delivery_id)
);
-- Raw bodies arrive deflated (or small): PostgreSQL need not try to
-- compress them again.
ALTER TABLE inbox ALTER COLUMN raw SET STORAGE EXTERNAL;
CREATE INDEX inbox_ref ON inbox (ref, id);
CREATE INDEX inbox_received ON inbox (received_at);

-- work is the queue of dirty cases. claimed_gen is dirty_gen when the case
-- was claimed: a larger dirty_gen at release means it was marked again.
CREATE TABLE work (
    case_id       BIGINT PRIMARY KEY,
    due_at        BIGINT NOT NULL,
    dirty_gen     BIGINT NOT NULL DEFAULT 0,
    claimed_by    TEXT NOT NULL DEFAULT '',
    claimed_until BIGINT NOT NULL DEFAULT 0,
    claimed_gen   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX work_due ON work (due_at);

-- case_merges remembers which case a joined case went into, so that a
-- worker still holding the old id can release it.
CREATE TABLE case_merges (
    old_id BIGINT PRIMARY KEY,
    new_id BIGINT NOT NULL
);
CREATE INDEX case_merges_new ON case_merges (new_id);

-- case_ids hands out case ids.
CREATE SEQUENCE case_ids;

-- outbox is every planned action, by idempotency key, never deleted: a done
-- key is what stops the planner from planning it again.
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    case_id      BIGINT NOT NULL,
    subject_ref  TEXT NOT NULL,
    action       TEXT NOT NULL,   -- core.Action as JSON, bookkeeping fields zero
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX outbox_case ON outbox (case_id, id);
CREATE INDEX outbox_state ON outbox (state, id);
CREATE INDEX outbox_subject ON outbox (subject_ref);

CREATE TABLE cursors (
    source     TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- mirrors maps a mirrored comment (core.MirrorKey) to the copy's id.
CREATE TABLE mirrors (
    key        TEXT PRIMARY KEY,
    src_ref    TEXT NOT NULL,
    target_ref TEXT NOT NULL,
    mirror_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX mirrors_src ON mirrors (src_ref);

-- synced holds the value last synchronised for a field (core.SyncKey).
CREATE TABLE synced (
    key        TEXT PRIMARY KEY,
    a_ref      TEXT NOT NULL,
    b_ref      TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX synced_a ON synced (a_ref);

CREATE TABLE audit (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    case_id    BIGINT NOT NULL,
    target_ref TEXT NOT NULL,
    rule       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    detail     TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX audit_target ON audit (target_ref, id);
CREATE INDEX audit_at ON audit (at);

CREATE TABLE conflicts (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT NOT NULL,
    case_id BIGINT NOT NULL,
    rule    TEXT NOT NULL,
    field   TEXT NOT NULL,
    a_ref   TEXT NOT NULL,
    a_value TEXT NOT NULL,
    b_ref   TEXT NOT NULL,
    b_value TEXT NOT NULL,
    last    TEXT NOT NULL
);

CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
