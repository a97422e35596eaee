-- Web Push: the browsers each user asked to be told of their orders' progress, the
-- notifications waiting to go to them, and the server's VAPID key.
--
-- A notification is queued per subscription in the transaction of the change it tells of, so
-- none is sent for a change that did not commit and none is lost when the process dies before
-- sending it; a sender claims a row for a while (`claimed_until`), so two BFFs on one database
-- do not both send it, and a row a dead process claimed is sent once its claim runs out.
CREATE TABLE push_subscriptions (
    endpoint TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_owner ON push_subscriptions (owner, created_ms);
CREATE TABLE push_queue (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint TEXT NOT NULL,
    payload TEXT NOT NULL,
    queued_ms BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX push_queue_claimed ON push_queue (claimed_until, id);
-- Settings the server makes for itself once and every process on the database shares (the
-- VAPID key: subscriptions are bound to it, so it must survive restarts and be the same in
-- every region).
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
