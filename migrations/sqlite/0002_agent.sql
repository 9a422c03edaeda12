-- The support agent: what it remembers about a conversation, satisfaction ratings,
-- handoff summaries for staff, return requests, and per-conversation LLM usage.
ALTER TABLE conversations ADD COLUMN context TEXT NOT NULL DEFAULT '{}';
ALTER TABLE conversations ADD COLUMN rating INTEGER;
ALTER TABLE conversations ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE handoffs ADD COLUMN summary TEXT NOT NULL DEFAULT '';

CREATE TABLE return_requests (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    conversation_id  INTEGER REFERENCES conversations (id) ON DELETE SET NULL,
    lines            TEXT NOT NULL DEFAULT '[]',
    reason           TEXT,
    status           TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX return_requests_order ON return_requests (order_id);
