-- Order ids are client-generated and scoped per owner: an id someone else used is simply free
-- for you, so checkout and GET reveal nothing about other users' orders.
CREATE TABLE orders_per_owner (
    id TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    lines TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    placed_at TEXT NOT NULL,
    placed_ms BIGINT NOT NULL,
    next_step_at BIGINT,
    version BIGINT NOT NULL,
    last_modified TEXT NOT NULL,
    last_modified_by TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, id)
);
INSERT INTO orders_per_owner (id, owner, status, lines, total_cents, placed_at, placed_ms, next_step_at, version, last_modified, last_modified_by, deleted)
    SELECT id, owner, status, lines, total_cents, placed_at, placed_ms, next_step_at, version, last_modified, last_modified_by, deleted FROM orders;
DROP TABLE orders;
ALTER TABLE orders_per_owner RENAME TO orders;
CREATE INDEX orders_by_owner ON orders (owner, placed_ms, id);
CREATE INDEX orders_pending ON orders (next_step_at) WHERE next_step_at IS NOT NULL;
