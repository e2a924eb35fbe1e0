-- Version 4: the start of an attempt whose outcome is unknown (a write that
-- timed out, or a resend begun), so that the next try waits until it can no
-- longer be in flight and looks it up before writing again.
ALTER TABLE outbox ADD COLUMN sent_at BIGINT NOT NULL DEFAULT 0;
