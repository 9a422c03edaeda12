-- Segments: the RFM scores and churn risk of every customer as last computed by
-- `kefu segments recompute` (or `kefu serve` on its schedule). A snapshot for reports and
-- SQL users; campaign audiences compute them afresh. Customers who never ordered have no
-- scores and no group.
CREATE TABLE customer_scores (
    customer_id     INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    r               INTEGER,
    f               INTEGER,
    m               INTEGER,
    rfm_group       TEXT,
    recency_days    INTEGER,
    orders          INTEGER NOT NULL,
    monetary_minor  INTEGER NOT NULL,
    churn_risk      REAL NOT NULL,
    computed_at     TEXT NOT NULL
);
CREATE INDEX customer_scores_group ON customer_scores (rfm_group);

-- Scoring reads every customer's orders in one pass: (customer, time) order with what it
-- counts, so the pass walks this index alone (no sort, no table look-ups).
CREATE INDEX orders_segments ON orders (customer_id, created_at, total_minor, refunded_minor, status, cancelled_at);
