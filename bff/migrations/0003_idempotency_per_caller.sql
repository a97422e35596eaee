-- Idempotency keys are scoped per caller (the token's subject): one caller can neither replay
-- nor detect another's key. Rows recorded before carry the subject '' and are matched only by
-- their fingerprint, which already covers the caller, so their own caller still gets the replay.
CREATE TABLE idempotency_per_caller (
    subject TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    etag TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (subject, key)
);
INSERT INTO idempotency_per_caller (subject, key, fingerprint, status, body, etag, created_at)
    SELECT '', key, fingerprint, status, body, etag, created_at FROM idempotency;
DROP TABLE idempotency;
ALTER TABLE idempotency_per_caller RENAME TO idempotency;
