-- Campaigns and their durable outbox. A campaign is planned once: its recipients are
-- written as outbox rows (one per campaign, step and recipient, unique) in the same
-- transaction as the campaign row, so a crash leaves either the whole plan or none of it.
-- The dispatcher claims due rows with a lease, sends, and records the result per row.
CREATE TABLE campaigns (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    spec         TEXT NOT NULL,
    spec_hash    TEXT NOT NULL,
    state        TEXT NOT NULL,
    planned_for  TIMESTAMPTZ NOT NULL,
    ongoing      BOOLEAN NOT NULL DEFAULT FALSE,
    deadline     TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);

CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    step         TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    customer_id  BIGINT REFERENCES customers (id) ON DELETE CASCADE,
    channel      TEXT NOT NULL,
    address      TEXT NOT NULL,
    variant      TEXT,
    language     TEXT NOT NULL,
    payload      TEXT NOT NULL,
    marketing    BOOLEAN NOT NULL,
    due_at       TIMESTAMPTZ NOT NULL,
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  TIMESTAMPTZ,
    last_error   TEXT,
    external_id  TEXT,
    sent_at      TIMESTAMPTZ,
    UNIQUE (campaign_id, step, recipient)
);
CREATE INDEX outbox_due ON outbox (state, due_at);
CREATE INDEX outbox_customer ON outbox (customer_id, due_at);
CREATE INDEX outbox_campaign ON outbox (campaign_id, state);

-- Customers who pressed a livestream's RSVP button: they get its reminders.
CREATE TABLE campaign_rsvps (
    campaign_id  TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    customer_id  BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (campaign_id, customer_id)
);

-- Clicks on tracked links (`/l/…`): which outbox row, which link of its message.
CREATE TABLE campaign_clicks (
    outbox_id  BIGINT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    link       INTEGER NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX campaign_clicks_outbox ON campaign_clicks (outbox_id);
