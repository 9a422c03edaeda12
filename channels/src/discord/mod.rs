//! Discord's REST API for what kefu posts: direct messages to a user and posts in a
//! server's channel, optionally pinned.
//!
//! * **No duplicates.** Every post carries a nonce with `enforce_nonce`, so Discord
//!   answers a repeated post (a retry after a timeout, or a restart after a crash) with
//!   the message it already created instead of a second one. Nonces are at most
//!   [`MAX_NONCE`] characters.
//! * **Rate limits.** Discord announces each route's budget in `X-RateLimit-*` headers
//!   and answers `429` with `retry_after` (seconds) when it is exceeded; a bot also has a
//!   global budget of 50 requests per second. [`Rest`] keeps to all three: it waits
//!   while a route's bucket is empty, keeps under the global rate, and after a `429`
//!   waits as told and tries again.
//!
//! [`test_server`] is a local server with Discord's documented behaviour for tests.

pub mod test_server;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Discord's API, version 10.
pub const API_URL: &str = "https://discord.com/api/v10";
/// Characters in a message's `content`.
pub const MAX_CONTENT: usize = 2000;
/// Embeds in one message.
pub const MAX_EMBEDS: usize = 10;
/// Buttons in one action row, and action rows in one message.
pub const MAX_BUTTONS_PER_ROW: usize = 5;
pub const MAX_ROWS: usize = 5;
/// Characters in a nonce.
pub const MAX_NONCE: usize = 25;
/// Requests per second a bot may make overall.
pub const GLOBAL_PER_SECOND: usize = 50;
/// How often a request is tried again after a `429` before giving up.
const MAX_RATE_LIMITED: u32 = 5;
/// Longest wait after a `429` before giving up: a longer one is left to the caller.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// A message to post.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embeds: Vec<Embed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ActionRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<EmbedImage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedImage {
    pub url: String,
}

/// A row of buttons (component type 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRow {
    #[serde(rename = "type")]
    pub kind: u8,
    pub components: Vec<Button>,
}

/// A button (component type 2): a link (style 5) or one that tells the bot (style 1,
/// with a `custom_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    #[serde(rename = "type")]
    pub kind: u8,
    pub style: u8,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
}

impl Button {
    pub fn link(label: &str, url: &str) -> Self {
        Button {
            kind: 2,
            style: 5,
            label: truncate(label, 80),
            url: Some(url.to_owned()),
            custom_id: None,
        }
    }
}

impl ActionRow {
    /// Buttons in rows of [`MAX_BUTTONS_PER_ROW`], at most [`MAX_ROWS`] rows.
    pub fn rows(buttons: Vec<Button>) -> Vec<ActionRow> {
        buttons
            .chunks(MAX_BUTTONS_PER_ROW)
            .take(MAX_ROWS)
            .map(|chunk| ActionRow {
                kind: 1,
                components: chunk.to_vec(),
            })
            .collect()
    }
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text with Discord's markdown characters escaped, so a customer's name or a product
/// title shows as written.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// Discord refused it: HTTP status, Discord's JSON error code and message.
    #[error("Discord answered {status}: {message} (code {code})")]
    Api {
        status: u16,
        code: u64,
        message: String,
    },
    /// Still rate limited after waiting and trying again.
    #[error("Discord keeps rate-limiting this route (retry after {0:?})")]
    RateLimited(Duration),
    #[error("request to Discord failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected answer from Discord: {0}")]
    Unexpected(String),
}

impl DiscordError {
    /// Discord's error code, when Discord gave one.
    pub fn code(&self) -> Option<u64> {
        match self {
            DiscordError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again later can work: network trouble, 5xx, rate limits and a
    /// token Discord does not accept (fixable in the settings).
    pub fn is_transient(&self) -> bool {
        match self {
            DiscordError::Api { status, .. } => *status >= 500 || *status == 401,
            DiscordError::RateLimited(_) | DiscordError::Http(_) => true,
            DiscordError::Unexpected(_) => false,
        }
    }

    /// The user does not take direct messages from this bot (blocked it, shares no
    /// server with it or turned DMs off): code 50007.
    pub fn cannot_message_user(&self) -> bool {
        self.code() == Some(codes::CANNOT_MESSAGE_USER)
    }
}

/// Discord's JSON error codes kefu tells apart.
pub mod codes {
    pub const UNKNOWN_CHANNEL: u64 = 10003;
    pub const UNKNOWN_MESSAGE: u64 = 10008;
    pub const UNKNOWN_USER: u64 = 10013;
    pub const MISSING_ACCESS: u64 = 50001;
    pub const CANNOT_MESSAGE_USER: u64 = 50007;
    pub const MISSING_PERMISSIONS: u64 = 50013;
    pub const INVALID_FORM_BODY: u64 = 50035;
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: u64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    retry_after: Option<f64>,
    #[serde(default)]
    global: bool,
}

#[derive(Debug, Deserialize)]
struct Created {
    id: String,
}

/// A route's budget as Discord last announced it.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Requests per window, when Discord said.
    limit: Option<u64>,
    remaining: u64,
    reset_at: Instant,
}

/// Seconds from a header or a JSON field, when they are a sane number.
fn seconds(value: f64) -> Option<Duration> {
    value
        .is_finite()
        .then(|| Duration::from_secs_f64(value.clamp(0.0, 3600.0)))
}

#[derive(Debug, Default)]
struct Limits {
    /// By route, e.g. `POST /channels/123/messages`.
    buckets: HashMap<String, Bucket>,
    /// When the last requests went out, for the global budget.
    recent: VecDeque<Instant>,
    /// Nothing goes out before this (after a global `429`).
    paused_until: Option<Instant>,
}

/// Discord's REST API for one bot. Clones share the rate-limit state.
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
    token: String,
    limits: Arc<Mutex<Limits>>,
    /// Requests per second overall.
    per_second: usize,
    /// Discord refused the token: no more requests.
    unauthorized: Arc<std::sync::atomic::AtomicBool>,
    /// Direct-message channel by user id.
    dm_channels: Arc<Mutex<HashMap<String, String>>>,
}

impl Rest {
    /// A client for bot `token` at `base` ([`API_URL`], or a test server's).
    pub fn new(token: &str, base: &str) -> Result<Self, DiscordError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!(
                "DiscordBot (https://github.com/kefu-bot/kefu, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()?;
        Ok(Rest {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            limits: Arc::default(),
            per_second: GLOBAL_PER_SECOND,
            unauthorized: Arc::default(),
            dm_channels: Arc::default(),
        })
    }

    /// The same client keeping to `per_second` requests per second overall (Discord
    /// raises the global limit of large bots on request).
    pub fn with_rate(mut self, per_second: usize) -> Self {
        self.per_second = per_second.max(1);
        self
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `route` and the global budget allow a request, and counts it.
    async fn admit(&self, route: &str) {
        loop {
            let wait_until = {
                let mut l = self.limits();
                let now = Instant::now();
                while l
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_millis(1010))
                {
                    l.recent.pop_front();
                }
                let mut until = l.paused_until.filter(|t| *t > now);
                if let Some(b) = l.buckets.get_mut(route)
                    && b.reset_at <= now
                    && let Some(limit) = b.limit
                {
                    // A new window: its full budget until Discord says otherwise.
                    b.remaining = limit;
                }
                if let Some(b) = l.buckets.get(route)
                    && b.remaining == 0
                    && b.reset_at > now
                {
                    until = Some(until.map_or(b.reset_at, |u| u.max(b.reset_at)));
                }
                if l.recent.len() >= self.per_second
                    && let Some(first) = l.recent.front()
                {
                    let free = *first + Duration::from_millis(1010);
                    until = Some(until.map_or(free, |u| u.max(free)));
                }
                if until.is_none() {
                    l.recent.push_back(now);
                    if let Some(b) = l.buckets.get_mut(route) {
                        b.remaining = b.remaining.saturating_sub(1);
                    }
                }
                until
            };
            match wait_until {
                None => return,
                Some(t) => tokio::time::sleep_until(t).await,
            }
        }
    }

    /// Remembers the route's budget from a response's headers.
    fn learn(&self, route: &str, headers: &reqwest::header::HeaderMap) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let (Some(remaining), Some(reset_after)) =
            (num("x-ratelimit-remaining"), num("x-ratelimit-reset-after"))
        else {
            return;
        };
        let Some(reset_after) = seconds(reset_after) else {
            return;
        };
        let reset_at = Instant::now() + reset_after;
        let limit = num("x-ratelimit-limit").map(|l| l as u64);
        let remaining = remaining as u64;
        let mut l = self.limits();
        match l.buckets.get_mut(route) {
            // Answers to requests sent together arrive in any order: within one window
            // the lowest count is the true one (ours already counts what is in flight).
            Some(b)
                if b.reset_at > Instant::now()
                    && reset_at <= b.reset_at + Duration::from_millis(500) =>
            {
                b.remaining = b.remaining.min(remaining);
                b.limit = limit.or(b.limit);
            }
            _ => {
                l.buckets.insert(
                    route.to_owned(),
                    Bucket {
                        limit,
                        remaining,
                        reset_at,
                    },
                );
            }
        }
    }

    /// Sends a request on `route`; JSON body in, JSON body out (`None` for 204).
    async fn call(
        &self,
        method: reqwest::Method,
        route: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, DiscordError> {
        let mut limited = 0;
        loop {
            if self.unauthorized.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(DiscordError::Api {
                    status: 401,
                    code: 0,
                    message:
                        "Discord refused the bot token earlier: fix discord.bot_token and restart"
                            .into(),
                });
            }
            self.admit(route).await;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("Authorization", format!("Bot {}", self.token));
            request = match body {
                Some(b) => request.json(b),
                None => request.header("Content-Length", "0"),
            };
            let response = request.send().await?;
            let status = response.status();
            self.learn(route, response.headers());
            let retry_after_header = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok())
                .and_then(seconds);
            if status == reqwest::StatusCode::NO_CONTENT {
                return Ok(None);
            }
            let bytes = response.bytes().await?;
            if status.is_success() {
                return serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| DiscordError::Unexpected(format!("{path}: {e}")));
            }
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                code: 0,
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                retry_after: None,
                global: false,
            });
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let wait = error
                    .retry_after
                    .and_then(seconds)
                    .or(retry_after_header)
                    .unwrap_or(Duration::from_secs(1));
                limited += 1;
                let until = Instant::now() + wait;
                {
                    // Kept even when giving up, so the next request waits too.
                    let mut l = self.limits();
                    if error.global {
                        l.paused_until = Some(until);
                    } else {
                        let limit = l.buckets.get(route).and_then(|b| b.limit);
                        l.buckets.insert(
                            route.to_owned(),
                            Bucket {
                                limit,
                                remaining: 0,
                                reset_at: until,
                            },
                        );
                    }
                }
                if limited > MAX_RATE_LIMITED || wait > MAX_WAIT {
                    return Err(DiscordError::RateLimited(wait));
                }
                tracing::debug!(route, ?wait, global = error.global, "Discord rate limit");
                continue;
            }
            if status == reqwest::StatusCode::UNAUTHORIZED {
                // A wrong token: nothing more goes to Discord from this process (Discord
                // bans addresses that keep sending invalid requests). Fix the token and
                // restart.
                self.unauthorized
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            return Err(DiscordError::Api {
                status: status.as_u16(),
                code: error.code,
                message: error.message,
            });
        }
    }

    /// The direct-message channel with `user` (opened once, then remembered).
    pub async fn dm_channel(&self, user: &str) -> Result<String, DiscordError> {
        if let Some(id) = self
            .dm_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
        {
            return Ok(id.clone());
        }
        let body = serde_json::json!({ "recipient_id": user });
        let created = self
            .call(
                reqwest::Method::POST,
                "POST /users/@me/channels",
                "/users/@me/channels",
                Some(&body),
            )
            .await?;
        let id = created
            .and_then(|v| serde_json::from_value::<Created>(v).ok())
            .ok_or_else(|| DiscordError::Unexpected("no channel id for a DM".into()))?
            .id;
        self.dm_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user.to_owned(), id.clone());
        Ok(id)
    }

    /// Posts `message` in `channel`. With the same `nonce` within a few minutes, Discord
    /// returns the message it made the first time. Returns the message id.
    pub async fn post(
        &self,
        channel: &str,
        message: &Message,
        nonce: &str,
    ) -> Result<String, DiscordError> {
        let mut body =
            serde_json::to_value(message).map_err(|e| DiscordError::Unexpected(e.to_string()))?;
        if let Some(map) = body.as_object_mut() {
            map.insert(
                "nonce".into(),
                nonce.chars().take(MAX_NONCE).collect::<String>().into(),
            );
            map.insert("enforce_nonce".into(), true.into());
        }
        let path = format!("/channels/{channel}/messages");
        let created = self
            .call(
                reqwest::Method::POST,
                &format!("POST {path}"),
                &path,
                Some(&body),
            )
            .await?;
        created
            .and_then(|v| serde_json::from_value::<Created>(v).ok())
            .map(|c| c.id)
            .ok_or_else(|| DiscordError::Unexpected("no message id".into()))
    }

    /// Pins a message (needs the Pin Messages permission in that channel; a channel
    /// holds at most 250 pins).
    pub async fn pin(&self, channel: &str, message: &str) -> Result<(), DiscordError> {
        let path = format!("/channels/{channel}/messages/pins/{message}");
        self.call(
            reqwest::Method::PUT,
            &format!("PUT /channels/{channel}/pins"),
            &path,
            None,
        )
        .await?;
        Ok(())
    }
}
