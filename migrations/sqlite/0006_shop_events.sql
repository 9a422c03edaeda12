-- Shop events that the order and product exports do not carry, for triggered campaigns:
-- carts (abandoned when no checkout follows), products coming back in stock, and the
-- customers who asked to be told when one does. Fed by `kefu import events` and
-- `POST /api/events`.
CREATE TABLE carts (
    id            TEXT PRIMARY KEY,
    customer_id   INTEGER REFERENCES customers (id) ON DELETE CASCADE,
    url           TEXT,
    total_minor   INTEGER,
    currency      TEXT,
    items         TEXT NOT NULL DEFAULT '[]',
    updated_at    TEXT NOT NULL,
    completed_at  TEXT
);
CREATE INDEX carts_updated ON carts (updated_at);

CREATE TABLE restocks (
    product_handle  TEXT NOT NULL,
    at              TEXT NOT NULL,
    PRIMARY KEY (product_handle, at)
);
CREATE INDEX restocks_at ON restocks (at);

CREATE TABLE stock_alerts (
    customer_id     INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    product_handle  TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (customer_id, product_handle)
);

-- Secrets this installation makes for itself (the key of tracked and one-click links in
-- campaign messages), shared by every replica through the database.
CREATE TABLE instance_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
