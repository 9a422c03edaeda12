-- Failed verification attempts, kept so limits hold across conversations, channels and
-- replicas: per order (`order_key`: `order:ID` for an order that exists, `ref:NAME` for a
-- typed reference that matches none, so both behave the same), per client address of the
-- web widget, and shop-wide. Rows older than the longest window are deleted as new ones
-- are written.
CREATE TABLE verification_failures (
    id         BIGSERIAL PRIMARY KEY,
    order_key  TEXT,
    client     TEXT,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX verification_failures_order ON verification_failures (order_key, at);
CREATE INDEX verification_failures_client ON verification_failures (client, at);
CREATE INDEX verification_failures_at ON verification_failures (at);

-- The staff handoff opened for a locked subject (an order key), so a lockout opens one
-- handoff per window instead of one per attempt.
CREATE TABLE verification_lockouts (
    subject    TEXT PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL
);
