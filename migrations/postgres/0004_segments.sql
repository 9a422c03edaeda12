-- Segments: the RFM scores and churn risk of every customer as last computed by
-- `kefu segments recompute` (or `kefu serve` on its schedule). A snapshot for reports and
-- SQL users; campaign audiences compute them afresh. Customers who never ordered have no
-- scores and no group.
CREATE TABLE customer_scores (
    customer_id     BIGINT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    r               SMALLINT,
    f               SMALLINT,
    m               SMALLINT,
    rfm_group       TEXT,
    recency_days    BIGINT,
    orders          BIGINT NOT NULL,
    monetary_minor  BIGINT NOT NULL,
    churn_risk      DOUBLE PRECISION NOT NULL,
    computed_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX customer_scores_group ON customer_scores (rfm_group);

-- Scoring reads every customer's orders in one pass: (customer, time) order with what it
-- counts, so the pass walks this index alone (no sort, no table look-ups).
CREATE INDEX orders_segments ON orders (customer_id, created_at) INCLUDE (total_minor, refunded_minor, status, cancelled_at);
