//! A local stand-in for Discord's REST API, for tests and benchmarks: the routes kefu
//! uses, with Discord's documented answers.
//!
//! * `POST /api/v10/users/@me/channels` opens a DM channel (the same one for the same
//!   user every time);
//! * `POST /api/v10/channels/{id}/messages` posts, checking what Discord checks: a known
//!   channel (`404`, code 10003), content of at most 2,000 characters and not empty
//!   (`400`, codes 50035 and 50006), at most 10 embeds, a nonce of at most 25 characters;
//!   a user who takes no DMs from the bot gets `403`, code 50007. With `enforce_nonce`, a
//!   nonce the bot used within the last [`NONCE_WINDOW`] returns the message made the
//!   first time instead of a new one (Discord keeps nonces per author, for a few
//!   minutes);
//! * `PUT /api/v10/channels/{id}/messages/pins/{message}` pins (`204`; `404`, code 10008
//!   for an unknown message).
//!
//! Every request needs `Authorization: Bot {token}` (`401` otherwise). Rate limits, when
//! on: 5 messages per 5 s per channel and 50 requests per second overall; a request over
//! either gets `429` with `retry_after` in seconds (and `global: true` for the overall
//! one). Answers carry `X-RateLimit-Limit`, `-Remaining`, `-Reset-After` and `-Bucket`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{MAX_CONTENT, MAX_EMBEDS, MAX_NONCE};

/// How long Discord remembers a nonce for `enforce_nonce`.
pub const NONCE_WINDOW: Duration = Duration::from_secs(300);
/// DM channel ids start here.
const FIRST_DM_CHANNEL: u64 = 900_000_000_000_000_000;
/// Message ids start here.
const FIRST_MESSAGE: u64 = 1_100_000_000_000_000_000;

/// Rate limits the server enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Messages per channel per [`Limits::channel_window`]; 0 switches it off.
    pub per_channel: usize,
    pub channel_window: Duration,
    /// Requests per second overall; 0 switches it off.
    pub global_per_sec: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_channel: 5,
            channel_window: Duration::from_secs(5),
            global_per_sec: 50,
        }
    }
}

impl Limits {
    pub fn unlimited() -> Self {
        Limits {
            per_channel: 0,
            channel_window: Duration::from_secs(5),
            global_per_sec: 0,
        }
    }
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub channel_id: String,
    pub message_id: String,
    /// The user, for a DM channel.
    pub user_id: Option<String>,
    pub content: String,
    pub embeds: Vec<Value>,
    pub components: Vec<Value>,
    pub nonce: Option<String>,
}

#[derive(Default)]
struct ServerState {
    /// DM channel id → user id, and back.
    dm_users: HashMap<String, String>,
    dm_channels: HashMap<String, String>,
    /// Server channels the bot can post in.
    channels: HashSet<String>,
    /// Users who take no DMs from the bot.
    closed_dms: HashSet<String>,
    posted: Vec<Posted>,
    /// The bot's nonces → (index in `posted`, when).
    nonces: HashMap<String, (usize, Instant)>,
    pins: Vec<(String, String)>,
    /// Per channel: when its window started and how many messages in it.
    channel_windows: HashMap<String, (Instant, usize)>,
    recent: VecDeque<Instant>,
    too_many: usize,
    requests: usize,
    next_dm: u64,
    next_message: u64,
}

struct Shared {
    token: String,
    limits: Limits,
    state: Mutex<ServerState>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running server; it stops when the last clone is dropped.
#[derive(Clone)]
pub struct TestServer {
    shared: Arc<Shared>,
    api_url: String,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("api_url", &self.api_url)
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

fn error(status: StatusCode, code: u64, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

impl TestServer {
    /// Starts a server on `127.0.0.1` (a free port) for bot `token` with Discord's limits.
    pub async fn start(token: &str) -> std::io::Result<TestServer> {
        Self::start_with(token, Limits::default()).await
    }

    pub async fn start_with(token: &str, limits: Limits) -> std::io::Result<TestServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            limits,
            state: Mutex::new(ServerState {
                next_dm: FIRST_DM_CHANNEL,
                next_message: FIRST_MESSAGE,
                ..ServerState::default()
            }),
        });
        let app = Router::new()
            .route("/api/v10/users/@me/channels", post(open_dm))
            .route("/api/v10/channels/{channel}/messages", post(create_message))
            .route(
                "/api/v10/channels/{channel}/messages/pins/{message}",
                put(pin),
            )
            .fallback(|| async { error(StatusCode::NOT_FOUND, 0, "404: Not Found") })
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "Discord test server stopped");
            }
        });
        Ok(TestServer {
            shared,
            api_url: format!("http://{addr}/api/v10"),
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// The API base URL, e.g. `http://127.0.0.1:41234/api/v10`.
    pub fn api_url(&self) -> String {
        self.api_url.clone()
    }

    /// A server channel the bot can post in.
    pub fn add_channel(&self, id: &str) {
        self.shared.state().channels.insert(id.to_owned());
    }

    /// `user` takes no DMs from the bot (blocked it, or turned DMs off).
    pub fn close_dms(&self, user: &str) {
        self.shared.state().closed_dms.insert(user.to_owned());
    }

    /// Every message accepted, in order.
    pub fn posted(&self) -> Vec<Posted> {
        self.shared.state().posted.clone()
    }

    /// (channel, message) pairs pinned.
    pub fn pins(&self) -> Vec<(String, String)> {
        self.shared.state().pins.clone()
    }

    /// How many requests were answered `429`.
    pub fn too_many_requests(&self) -> usize {
        self.shared.state().too_many
    }

    /// How many requests arrived.
    pub fn requests(&self) -> usize {
        self.shared.state().requests
    }

    /// Waits until at least `n` messages were accepted, or `timeout`.
    pub async fn wait_for_posted(&self, n: usize, timeout: Duration) -> Vec<Posted> {
        let until = Instant::now() + timeout;
        loop {
            let posted = self.posted();
            if posted.len() >= n || Instant::now() >= until {
                return posted;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Checks the token and the global limit and counts the request: the error answer, if
/// any.
fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let mut s = shared.state();
    s.requests += 1;
    let expected = format!("Bot {}", shared.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Some(error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized"));
    }
    let limit = shared.limits.global_per_sec;
    if limit > 0 {
        let now = Instant::now();
        while s
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            s.recent.pop_front();
        }
        if s.recent.len() >= limit {
            s.too_many += 1;
            let retry = s
                .recent
                .front()
                .map_or(1.0, |t| 1.0 - now.duration_since(*t).as_secs_f64());
            return Some(rate_limited(retry, true));
        }
        s.recent.push_back(now);
    }
    None
}

fn rate_limited(retry_after: f64, global: bool) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({
            "message": "You are being rate limited.",
            "retry_after": (retry_after * 1000.0).ceil() / 1000.0,
            "global": global,
        })),
    )
        .into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}", retry_after.ceil() as u64)) {
        h.insert("retry-after", v);
    }
    h.insert(
        "x-ratelimit-scope",
        HeaderValue::from_static(if global { "global" } else { "user" }),
    );
    response
}

async fn open_dm(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let user = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("recipient_id").and_then(json_id));
    let Some(user) = user.filter(|u| u.parse::<u64>().is_ok()) else {
        return error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
    };
    let mut s = shared.state();
    let id = match s.dm_channels.get(&user) {
        Some(id) => id.clone(),
        None => {
            s.next_dm += 1;
            let id = s.next_dm.to_string();
            s.dm_channels.insert(user.clone(), id.clone());
            s.dm_users.insert(id.clone(), user.clone());
            id
        }
    };
    axum::Json(json!({ "id": id, "type": 1, "recipients": [{ "id": user }] })).into_response()
}

/// An id as Discord accepts it: a string or a number.
fn json_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            50109,
            "The request body contains invalid JSON.",
        );
    };
    let content = body
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let list = |key: &str| {
        body.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let embeds = list("embeds");
    let components = list("components");
    let nonce = body.get("nonce").and_then(json_id);
    if content.chars().count() > MAX_CONTENT
        || embeds.len() > MAX_EMBEDS
        || nonce
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NONCE)
    {
        return error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
    }
    if content.is_empty() && embeds.is_empty() && components.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        );
    }
    let enforce = body
        .get("enforce_nonce")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut s = shared.state();
    let user = s.dm_users.get(&channel).cloned();
    if user.is_none() && !s.channels.contains(&channel) {
        return error(StatusCode::NOT_FOUND, 10003, "Unknown Channel");
    }
    if user.as_ref().is_some_and(|u| s.closed_dms.contains(u)) {
        return error(
            StatusCode::FORBIDDEN,
            50007,
            "Cannot send messages to this user",
        );
    }
    let now = Instant::now();
    if enforce
        && let Some(n) = &nonce
        && let Some((index, at)) = s.nonces.get(n).copied()
        && now.duration_since(at) < NONCE_WINDOW
        && let Some(first) = s.posted.get(index)
    {
        return message_json(first, None);
    }
    let limits = shared.limits;
    let mut remaining = None;
    if limits.per_channel > 0 {
        let window = s.channel_windows.entry(channel.clone()).or_insert((now, 0));
        if now.duration_since(window.0) >= limits.channel_window {
            *window = (now, 0);
        }
        let reset_after = limits
            .channel_window
            .saturating_sub(now.duration_since(window.0))
            .as_secs_f64();
        if window.1 >= limits.per_channel {
            s.too_many += 1;
            return rate_limited(reset_after, false);
        }
        window.1 += 1;
        remaining = Some((limits.per_channel - window.1, reset_after));
    }
    s.next_message += 1;
    let posted = Posted {
        channel_id: channel.clone(),
        message_id: s.next_message.to_string(),
        user_id: user,
        content,
        embeds,
        components,
        nonce: nonce.clone(),
    };
    s.posted.push(posted.clone());
    if let Some(n) = nonce {
        let index = s.posted.len() - 1;
        s.nonces.insert(n, (index, now));
    }
    message_json(&posted, remaining.map(|r| (limits.per_channel, r.0, r.1)))
}

fn message_json(m: &Posted, bucket: Option<(usize, usize, f64)>) -> Response {
    let mut response = axum::Json(json!({
        "id": m.message_id,
        "channel_id": m.channel_id,
        "content": m.content,
        "embeds": m.embeds,
        "components": m.components,
        "nonce": m.nonce,
        "type": 0,
    }))
    .into_response();
    if let Some((limit, remaining, reset_after)) = bucket {
        let h = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
            ("x-ratelimit-bucket", "channel-messages".to_owned()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
    }
    response
}

async fn pin(
    State(shared): State<Arc<Shared>>,
    Path((channel, message)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let mut s = shared.state();
    if !s
        .posted
        .iter()
        .any(|p| p.channel_id == channel && p.message_id == message)
    {
        return error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    }
    s.pins.push((channel, message));
    StatusCode::NO_CONTENT.into_response()
}
