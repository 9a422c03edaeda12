-- The support agent: what it remembers about a conversation, satisfaction ratings,
-- handoff summaries for staff, return requests, and per-conversation LLM usage.
ALTER TABLE conversations ADD COLUMN context JSONB NOT NULL DEFAULT '{}';
ALTER TABLE conversations ADD COLUMN rating INTEGER;
ALTER TABLE conversations ADD COLUMN prompt_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN completion_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE handoffs ADD COLUMN summary TEXT NOT NULL DEFAULT '';

CREATE TABLE return_requests (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id         BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    conversation_id  BIGINT REFERENCES conversations (id) ON DELETE SET NULL,
    lines            JSONB NOT NULL DEFAULT '[]',
    reason           TEXT,
    status           TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX return_requests_order ON return_requests (order_id);
