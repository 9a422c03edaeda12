//! What channel adapters keep: updates already processed, each channel's read position,
//! marketing subscriptions per channel identity, and one-time tokens that link a channel
//! identity to a customer.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::records::{Consent, CustomerId};
use super::{Result, Store, StoreError, on_pool};
use crate::shop::Channel;

/// A channel user's marketing subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub subscribed: bool,
    pub source: String,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Records that an update (a Telegram `update_id`, …) is being processed. `false`
    /// when it was recorded before: the update is a redelivery and must be skipped.
    pub async fn claim_update(&self, channel: Channel, key: &str) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(
            "INSERT INTO channel_updates (channel, update_key, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(channel.as_str())
        .bind(key)
        .bind(Utc::now())
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// A channel's read position (the Telegram `getUpdates` offset), if one was saved.
    pub async fn cursor(&self, channel: Channel) -> Result<Option<i64>> {
        on_pool!(self, p => Ok(sqlx::query_scalar("SELECT position FROM channel_cursors WHERE channel = $1")
            .bind(channel.as_str())
            .fetch_optional(p)
            .await?))
    }

    /// Saves a channel's read position; it never moves backwards.
    pub async fn set_cursor(&self, channel: Channel, position: i64) -> Result<()> {
        on_pool!(self, p => { sqlx::query(
            "INSERT INTO channel_cursors (channel, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (channel) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at \
             WHERE excluded.position > channel_cursors.position",
        )
        .bind(channel.as_str())
        .bind(position)
        .bind(Utc::now())
        .execute(p)
        .await?; });
        Ok(())
    }

    /// Subscribes or unsubscribes a channel user from marketing messages, effective at
    /// once. When the user is linked to a customer, the customer's consent for the
    /// channel changes with it.
    pub async fn set_subscription(
        &self,
        channel: Channel,
        external_id: &str,
        subscribed: bool,
        source: &str,
    ) -> Result<()> {
        let now = Utc::now();
        on_pool!(self, p => { sqlx::query(
            "INSERT INTO channel_users (channel, external_id, subscribed, source, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (channel, external_id) DO UPDATE SET subscribed = excluded.subscribed, source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(channel.as_str())
        .bind(external_id)
        .bind(subscribed)
        .bind(source)
        .bind(now)
        .execute(p)
        .await?; });
        if let Some(identity) = self.identity(channel, external_id).await? {
            self.set_consent(
                identity.customer_id,
                &Consent {
                    channel,
                    granted: subscribed,
                    source: source.to_string(),
                    at: now,
                },
            )
            .await?;
        }
        if !subscribed {
            // Campaign messages planned before the opt-out are not sent.
            self.skip_unsent_marketing(channel, external_id).await?;
        }
        Ok(())
    }

    /// A channel user's marketing subscription, if they ever chose one.
    pub async fn subscription(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<Subscription>> {
        let row: Option<(Option<bool>, Option<String>, DateTime<Utc>)> = on_pool!(self, p => sqlx::query_as(
            "SELECT subscribed, source, updated_at FROM channel_users WHERE channel = $1 AND external_id = $2",
        )
        .bind(channel.as_str())
        .bind(external_id)
        .fetch_optional(p)
        .await?);
        Ok(row.and_then(|(subscribed, source, at)| {
            Some(Subscription {
                subscribed: subscribed?,
                source: source.unwrap_or_default(),
                at,
            })
        }))
    }

    /// The answer language a channel user chose (Telegram `/lang`).
    pub async fn user_language(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<String>> {
        let row: Option<Option<String>> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT language FROM channel_users WHERE channel = $1 AND external_id = $2",
        )
        .bind(channel.as_str())
        .bind(external_id)
        .fetch_optional(p)
        .await?);
        Ok(row.flatten())
    }

    /// Saves the answer language a channel user chose; `None` goes back to following
    /// the language they write in.
    pub async fn set_user_language(
        &self,
        channel: Channel,
        external_id: &str,
        language: Option<&str>,
    ) -> Result<()> {
        on_pool!(self, p => { sqlx::query(
            "INSERT INTO channel_users (channel, external_id, language, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (channel, external_id) DO UPDATE SET language = excluded.language, updated_at = excluded.updated_at",
        )
        .bind(channel.as_str())
        .bind(external_id)
        .bind(language)
        .bind(Utc::now())
        .execute(p)
        .await?; });
        Ok(())
    }

    /// A one-time token that links whoever presents it to `customer` (a Telegram
    /// `/start` deep link). Only its hash is stored. 32 URL-safe characters, within
    /// Telegram's 64-character limit for deep-link payloads.
    pub async fn create_link_token(&self, customer: CustomerId, valid: Duration) -> Result<String> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Corrupt(format!("no randomness for a link token: {e}")))?;
        let token = url_safe(&bytes);
        let now = Utc::now();
        on_pool!(self, p => { sqlx::query(
            "INSERT INTO link_tokens (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash(&token))
        .bind(customer)
        .bind(now)
        .bind(now + valid)
        .execute(p)
        .await?; });
        Ok(token)
    }

    /// Uses a link token: the customer it links to, or `None` when it is unknown,
    /// expired or used already. A token works once.
    pub async fn redeem_link_token(&self, token: &str) -> Result<Option<CustomerId>> {
        let now = Utc::now();
        on_pool!(self, p => Ok(sqlx::query_scalar(
            "UPDATE link_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING customer_id",
        )
        .bind(now)
        .bind(token_hash(token))
        .fetch_optional(p)
        .await?))
    }
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn url_safe(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // 6 bits per character; 24 bytes give exactly 32 characters.
    let mut out = String::with_capacity(bytes.len() * 4 / 3);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..(chunk.len() + 1) {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_url_safe_and_32_long() {
        let t = super::url_safe(&[0xff; 24]);
        assert_eq!(t.len(), 32);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(super::url_safe(&[0, 0, 0]), "AAAA");
        assert_eq!(super::url_safe(&[0xfb, 0xff, 0xbf]), "-_-_");
    }
}
