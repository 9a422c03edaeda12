-- kefu foundation schema (PostgreSQL). Money is integer minor units; times are timestamptz;
-- lists and free-form attributes are JSONB.

CREATE TABLE customers (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       TEXT UNIQUE,
    phone       TEXT,
    name        TEXT,
    locale      TEXT,
    time_zone   TEXT,
    country     TEXT,
    tags        JSONB NOT NULL DEFAULT '[]',
    attributes  JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX customers_phone ON customers (phone);

CREATE TABLE customer_consents (
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    granted     BOOLEAN NOT NULL,
    source      TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, channel)
);

CREATE TABLE channel_identities (
    channel      TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    customer_id  BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    verified     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX channel_identities_customer ON channel_identities (customer_id);

CREATE TABLE products (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    vendor        TEXT,
    product_type  TEXT,
    tags          JSONB NOT NULL DEFAULT '[]',
    published     BOOLEAN NOT NULL DEFAULT TRUE,
    image_url     TEXT,
    content_hash  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE product_translations (
    product_id   BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    lang         TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (product_id, lang)
);

CREATE TABLE product_variants (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id        BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position          BIGINT NOT NULL,
    sku               TEXT UNIQUE,
    title             TEXT NOT NULL DEFAULT '',
    price_minor       BIGINT NOT NULL,
    compare_at_minor  BIGINT,
    currency          TEXT NOT NULL,
    stock             BIGINT,
    grams             BIGINT,
    UNIQUE (product_id, position)
);

CREATE TABLE orders (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    external_id         TEXT,
    customer_id         BIGINT REFERENCES customers (id) ON DELETE SET NULL,
    email               TEXT,
    phone               TEXT,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL,
    financial_status    TEXT,
    fulfillment_status  TEXT NOT NULL,
    subtotal_minor      BIGINT NOT NULL,
    shipping_minor      BIGINT NOT NULL,
    taxes_minor         BIGINT NOT NULL,
    discount_minor      BIGINT NOT NULL,
    total_minor         BIGINT NOT NULL,
    refunded_minor      BIGINT NOT NULL,
    discount_codes      JSONB NOT NULL DEFAULT '[]',
    shipping_method     TEXT,
    shipping_address    JSONB,
    billing_name        TEXT,
    payment_method      TEXT,
    note                TEXT,
    tags                JSONB NOT NULL DEFAULT '[]',
    source              TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    paid_at             TIMESTAMPTZ,
    fulfilled_at        TIMESTAMPTZ,
    cancelled_at        TIMESTAMPTZ,
    content_hash        TEXT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, created_at);

CREATE TABLE order_lines (
    order_id            BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position            BIGINT NOT NULL,
    sku                 TEXT,
    name                TEXT NOT NULL,
    quantity            BIGINT NOT NULL,
    price_minor         BIGINT NOT NULL,
    compare_at_minor    BIGINT,
    discount_minor      BIGINT NOT NULL,
    requires_shipping   BOOLEAN NOT NULL,
    taxable             BOOLEAN NOT NULL,
    fulfillment_status  TEXT,
    vendor              TEXT,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_lines_sku ON order_lines (sku);

CREATE TABLE shipments (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id         BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    carrier          TEXT NOT NULL,
    tracking_number  TEXT NOT NULL,
    promised_by      TIMESTAMPTZ,
    status           TEXT NOT NULL,
    shipped_at       TIMESTAMPTZ,
    delivered_at     TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (carrier, tracking_number)
);
CREATE INDEX shipments_order ON shipments (order_id);

CREATE TABLE tracking_events (
    shipment_id  BIGINT NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    event_time   TIMESTAMPTZ NOT NULL,
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
    tags          JSONB NOT NULL DEFAULT '[]',
    url           TEXT,
    source        TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX documents_group ON documents (group_key, lang);

CREATE TABLE staff_users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE conversations (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel      TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    customer_id  BIGINT REFERENCES customers (id) ON DELETE SET NULL,
    state        TEXT NOT NULL,
    language     TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    closed_at    TIMESTAMPTZ
);
CREATE INDEX conversations_thread ON conversations (channel, thread_id, created_at);
CREATE INDEX conversations_customer ON conversations (customer_id);

CREATE TABLE messages (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id  BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel          TEXT NOT NULL,
    external_id      TEXT,
    role             TEXT NOT NULL,
    staff_id         BIGINT REFERENCES staff_users (id),
    body             TEXT NOT NULL,
    citations        JSONB NOT NULL DEFAULT '[]',
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE handoffs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id  BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reason           TEXT NOT NULL,
    requested_at     TIMESTAMPTZ NOT NULL,
    claimed_by       BIGINT REFERENCES staff_users (id),
    claimed_at       TIMESTAMPTZ,
    resolved_at      TIMESTAMPTZ
);
CREATE INDEX handoffs_open ON handoffs (resolved_at, requested_at);

CREATE TABLE audit_log (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT,
    details  JSONB NOT NULL DEFAULT '{}'
);
