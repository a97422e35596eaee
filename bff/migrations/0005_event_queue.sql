-- On PostgreSQL a command queues its events here, in its own transaction; the sequencer
-- (bff/src/sequencer.rs) numbers them into `events` once they committed, many per transaction.
-- SQLite's single writer numbers events at once and leaves this table empty.
CREATE TABLE event_queue (
    queued BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    source TEXT NOT NULL,
    data TEXT NOT NULL,
    owner TEXT
);
