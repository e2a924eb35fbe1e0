-- Version 7: sync an admin paused, for one record (scope 'record') or for
-- the whole case a record is in (scope 'case'). A case's pause is kept
-- under one of its records rather than the case id, so it follows that
-- record through joins and splits, as the case does. Plain rows: every
-- replica's engine reads them when it reconciles.
CREATE TABLE paused (
    ref       TEXT NOT NULL,
    scope     TEXT NOT NULL,
    paused_by TEXT NOT NULL,
    paused_at BIGINT NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (ref, scope)
);
