//! Channel adapters: each maps its platform's input (Telegram updates, Discord events,
//! web-widget frames, e-mail) to bot events and carries out the bot's replies on that
//! platform. Conversations and their deduplicated messages are stored through
//! [`kefu_bot::store::Store`].

pub mod discord;
pub mod email;
pub mod hub;
pub mod limiter;
pub mod telegram;
pub mod web;

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
