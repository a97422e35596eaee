-- Integers stand in for booleans and text for timestamps (RFC 3339) and JSON, so the same
-- queries run on SQLite and PostgreSQL through sqlx's Any driver. Written for PostgreSQL; the
-- one clause SQLite spells differently (the identity column) is rewritten by db.rs.
CREATE TABLE restaurants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cuisine TEXT NOT NULL,
    version BIGINT NOT NULL,
    last_modified TEXT NOT NULL,
    last_modified_by TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE menu_items (
    id TEXT PRIMARY KEY,
    restaurant_id TEXT NOT NULL REFERENCES restaurants (id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    available BIGINT NOT NULL,
    version BIGINT NOT NULL,
    last_modified TEXT NOT NULL,
    last_modified_by TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX menu_items_by_restaurant ON menu_items (restaurant_id, position);

CREATE TABLE carts (
    owner TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    last_modified TEXT NOT NULL,
    last_modified_by TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE cart_lines (
    owner TEXT NOT NULL REFERENCES carts (owner),
    item_id TEXT NOT NULL,
    restaurant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (owner, item_id)
);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    lines TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    placed_at TEXT NOT NULL,
    -- placed_at in ms since the epoch; with id, the stable sort key for pagination.
    placed_ms BIGINT NOT NULL,
    -- When the kitchen moves the order on (ms since the epoch); NULL once delivered.
    next_step_at BIGINT,
    version BIGINT NOT NULL,
    last_modified TEXT NOT NULL,
    last_modified_by TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX orders_by_owner ON orders (owner, placed_ms, id);
CREATE INDEX orders_pending ON orders (next_step_at) WHERE next_step_at IS NOT NULL;

CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    source TEXT NOT NULL,
    data TEXT NOT NULL,
    -- The subject whose private data this is; NULL for public events (menus).
    owner TEXT
);

CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    etag TEXT,
    created_at TEXT NOT NULL
);
