-- kefu foundation schema (SQLite). Money is integer minor units; times are RFC 3339 text
-- in UTC; lists and free-form attributes are JSON text.

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    email       TEXT UNIQUE,
    phone       TEXT,
    name        TEXT,
    locale      TEXT,
    time_zone   TEXT,
    country     TEXT,
    tags        TEXT NOT NULL DEFAULT '[]',
    attributes  TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX customers_phone ON customers (phone);

CREATE TABLE customer_consents (
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    granted     BOOLEAN NOT NULL,
    source      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (customer_id, channel)
);

CREATE TABLE channel_identities (
    channel      TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    customer_id  INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    verified     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX channel_identities_customer ON channel_identities (customer_id);

CREATE TABLE products (
    id            INTEGER PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    vendor        TEXT,
    product_type  TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',
    published     BOOLEAN NOT NULL DEFAULT TRUE,
    image_url     TEXT,
    content_hash  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE product_translations (
    product_id   INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    lang         TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (product_id, lang)
);

CREATE TABLE product_variants (
    id                INTEGER PRIMARY KEY,
    product_id        INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position          INTEGER NOT NULL,
    sku               TEXT UNIQUE,
    title             TEXT NOT NULL DEFAULT '',
    price_minor       INTEGER NOT NULL,
    compare_at_minor  INTEGER,
    currency          TEXT NOT NULL,
    stock             INTEGER,
    grams             INTEGER,
    UNIQUE (product_id, position)
);

CREATE TABLE orders (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    external_id         TEXT,
    customer_id         INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    email               TEXT,
    phone               TEXT,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL,
    financial_status    TEXT,
    fulfillment_status  TEXT NOT NULL,
    subtotal_minor      INTEGER NOT NULL,
    shipping_minor      INTEGER NOT NULL,
    taxes_minor         INTEGER NOT NULL,
    discount_minor      INTEGER NOT NULL,
    total_minor         INTEGER NOT NULL,
    refunded_minor      INTEGER NOT NULL,
    discount_codes      TEXT NOT NULL DEFAULT '[]',
    shipping_method     TEXT,
    shipping_address    TEXT,
    billing_name        TEXT,
    payment_method      TEXT,
    note                TEXT,
    tags                TEXT NOT NULL DEFAULT '[]',
    source              TEXT,
    created_at          TEXT NOT NULL,
    paid_at             TEXT,
    fulfilled_at        TEXT,
    cancelled_at        TEXT,
    content_hash        TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, created_at);

CREATE TABLE order_lines (
    order_id            INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position            INTEGER NOT NULL,
    sku                 TEXT,
    name                TEXT NOT NULL,
    quantity            INTEGER NOT NULL,
    price_minor         INTEGER NOT NULL,
    compare_at_minor    INTEGER,
    discount_minor      INTEGER NOT NULL,
    requires_shipping   BOOLEAN NOT NULL,
    taxable             BOOLEAN NOT NULL,
    fulfillment_status  TEXT,
    vendor              TEXT,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_lines_sku ON order_lines (sku);

CREATE TABLE shipments (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    carrier          TEXT NOT NULL,
    tracking_number  TEXT NOT NULL,
    promised_by      TEXT,
    status           TEXT NOT NULL,
    shipped_at       TEXT,
    delivered_at     TEXT,
    updated_at       TEXT NOT NULL,
    UNIQUE (carrier, tracking_number)
);
CREATE INDEX shipments_order ON shipments (order_id);

CREATE TABLE tracking_events (
    shipment_id  INTEGER NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    event_time   TEXT NOT NULL,
    status       TEXT NOT NULL,
    location     TEXT,
    description  TEXT,
    PRIMARY KEY (shipment_id, event_time, status)
);

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    lang          TEXT NOT NULL,
    group_key     TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    tags          TEXT NOT NULL DEFAULT '[]',
    url           TEXT,
    source        TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX documents_group ON documents (group_key, lang);

CREATE TABLE staff_users (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TEXT NOT NULL
);

CREATE TABLE conversations (
    id           INTEGER PRIMARY KEY,
    channel      TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    customer_id  INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    state        TEXT NOT NULL,
    language     TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE INDEX conversations_thread ON conversations (channel, thread_id, created_at);
CREATE INDEX conversations_customer ON conversations (customer_id);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel          TEXT NOT NULL,
    external_id      TEXT,
    role             TEXT NOT NULL,
    staff_id         INTEGER REFERENCES staff_users (id),
    body             TEXT NOT NULL,
    citations        TEXT NOT NULL DEFAULT '[]',
    created_at       TEXT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE handoffs (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reason           TEXT NOT NULL,
    requested_at     TEXT NOT NULL,
    claimed_by       INTEGER REFERENCES staff_users (id),
    claimed_at       TEXT,
    resolved_at      TEXT
);
CREATE INDEX handoffs_open ON handoffs (resolved_at, requested_at);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT,
    details  TEXT NOT NULL DEFAULT '{}'
);
