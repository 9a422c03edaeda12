-- Channels: updates already processed (Telegram update_id, …), each channel's read
-- position (the Telegram getUpdates offset), what each channel user chose (marketing
-- subscription by /stop and /start, answer language by /lang), and one-time tokens that link a channel identity to a
-- shop customer (Telegram deep links).
CREATE TABLE channel_updates (
    channel      TEXT NOT NULL,
    update_key   TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (channel, update_key)
);

CREATE TABLE channel_cursors (
    channel     TEXT PRIMARY KEY,
    position    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE channel_users (
    channel      TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    subscribed   BOOLEAN,
    source       TEXT,
    language     TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (channel, external_id)
);

CREATE TABLE link_tokens (
    token_hash   TEXT PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT
);
