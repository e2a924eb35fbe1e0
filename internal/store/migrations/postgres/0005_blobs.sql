-- Attachment content, kept once per content hash and apart from
-- the snapshots, events and actions, which name it by hash. A file is cut
-- in chunks so that it is read, and sent on, a piece at a time.
CREATE TABLE blobs (
    hash    TEXT PRIMARY KEY,       -- "sha256:" and the content's hex digest
    size    BIGINT NOT NULL,
    chunks  BIGINT NOT NULL,
    seen_at BIGINT NOT NULL         -- last ingest that carried it; pruning counts from it
);
CREATE INDEX blobs_seen ON blobs (seen_at);
CREATE TABLE blob_chunks (
    hash    TEXT NOT NULL,
    n       BIGINT NOT NULL,           -- 0, 1, ...
    data    BYTEA NOT NULL,
    PRIMARY KEY (hash, n)
);
-- Attachments are mostly compressed already (images, PDFs, archives).
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
