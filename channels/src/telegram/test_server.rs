//! A local Telegram Bot API server for tests and benchmarks: it answers
//! `{api_url}/bot{token}/{method}` the way api.telegram.org does — same JSON envelopes,
//! same error codes and descriptions, same documented rate limits — records every request
//! and every message the bot sent, and lets a test queue updates, redeliver them, post them
//! to the bot's webhook, start a 429 storm, or have a user block the bot.
//!
//! # Requests
//!
//! Routes are `/bot{token}/{method}` for any HTTP verb. Method names are case-insensitive,
//! as on Telegram. Parameters are merged from the query string and the body, which may be
//! `application/json`, `application/x-www-form-urlencoded` or `multipart/form-data` (file
//! parts are recorded as [`UploadedFile`]: field, file name, size). Form and multipart
//! values arrive as strings, so numbers, booleans and JSON-serialised objects
//! (`reply_markup`, `reply_parameters`, `allowed_updates`, `commands`) are accepted both as
//! JSON values and as strings. `chat_id` is a number, a numeric string, or `@username` of a
//! chat the server knows.
//!
//! Every numeric chat id is a chat the bot may write to: a positive id is a private chat, an
//! id below −10¹² a supergroup, any other negative id a basic group — unless a test
//! registered the chat with another kind ([`TestServer::add_chat`], or by pushing a message
//! in it). Message ids are per chat, counting from 1, shared by the user's and the bot's
//! messages as on Telegram. Update ids count from 100001.
//!
//! Answers are `{"ok":true,"result":…}` (plus `description` where Telegram adds one), or
//! `{"ok":false,"error_code":N,"description":"…"}` with HTTP status N, plus
//! `"parameters":{"retry_after":S}` on 429. A request is checked in this order, and the
//! first failing check answers:
//!
//! 1. the token (401 `Unauthorized`), then the method name (404 `Not Found`);
//! 2. flood mode ([`TestServer::flood`]), for the send methods only (429);
//! 3. the parameters and the messages they refer to (400, e.g. `Bad Request: message text
//!    is empty`, `Bad Request: message to edit not found`, `Bad Request: message is not
//!    modified: …`);
//! 4. a chat whose user blocked the bot ([`TestServer::block`]), for the send methods and
//!    `sendChatAction` (403 `Forbidden: bot was blocked by the user`);
//! 5. the rate limits, for the send methods only (429);
//!
//! and only a request that passes all of them changes anything.
//!
//! # Rate limits
//!
//! The *send methods* are `sendMessage`, `sendPhoto`, `editMessageText` and
//! `editMessageReplyMarkup`: each accepted call counts as one message in its chat. Nothing
//! else is limited (`getUpdates`, `sendChatAction`, `answerCallbackQuery`, `deleteMessage`,
//! `pinChatMessage`, …). The model, which a client-side limiter can reproduce exactly:
//!
//! * A send's time is the instant the server evaluates it: after its body has been read,
//!   under the server's lock, so times are non-decreasing in evaluation order. These are the
//!   `at` of [`RecordedRequest`] and [`SentMessage`].
//! * **Overall**: a send at time `t` is allowed if fewer than [`Limits::global_per_sec`]
//!   accepted sends have times in the half-open window `(t − 1 s, t]`.
//! * **Private chat** (chat id > 0): a token bucket of capacity [`Limits::chat_burst`], full
//!   at first, refilling continuously at [`Limits::chat_per_sec`] tokens per second; a send
//!   takes one token. It is computed as the equivalent GCRA in whole nanoseconds: with
//!   `T = round(10⁹ / chat_per_sec)` ns and `τ = (chat_burst − 1)·T`, a send at `t` is
//!   allowed if `t ≥ TAT − τ`, and then `TAT := max(TAT, t) + T` (TAT starts in the past).
//! * **Group, supergroup or channel** (chat id < 0): a send at `t` is allowed if fewer than
//!   [`Limits::group_per_min`] accepted sends to that chat have times in `(t − 60 s, t]`.
//! * A send must pass the overall limit and its chat's limit. If it does not, it is answered
//!   429 and consumes nothing; `retry_after` is the wait until it would have been allowed
//!   (the longest of the failing limits' waits, assuming no other traffic), in seconds
//!   rounded up, at least 1.
//! * Flood mode answers every send method with 429 and the given `retry_after` until it
//!   ends, before any other check; such answers consume nothing either.
//!
//! # Updates
//!
//! Pushed updates wait in a queue. `getUpdates` returns, in queue order, up to `limit`
//! (1–100, default 100) queued updates with `update_id ≥ offset`, waiting up to `timeout`
//! seconds for one to arrive. A positive `offset` confirms (drops) the queued updates below
//! it; a negative one keeps only the last `−offset`. A redelivered or replayed update
//! ([`TestServer::redeliver`], [`TestServer::push_update`] with an old id) is appended to the
//! queue and delivered at least once whatever the offset, then confirmed like any other. The
//! `allowed_updates` setting, shared by `getUpdates` and `setWebhook`, filters updates when
//! they are pushed, as on Telegram (default: all kinds but `chat_member`, `message_reaction`
//! and `message_reaction_count`). A new `getUpdates` ends a waiting one with 409; so does
//! setting a webhook.
//!
//! # Not like Telegram
//!
//! Webhook URLs may be `http://` (for local receivers); updates reach the webhook only
//! through [`TestServer::post_to_webhook`]. Text and caption lengths are counted on the raw
//! string in UTF-16 code units, before `parse_mode` markup is removed, so formatted text is
//! over-counted. `setMyCommands` keeps one list whatever the scope or language. Photos sent
//! by URL are not downloaded. Inline messages (`inline_message_id`) are not supported.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Form, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Largest request body accepted: Telegram's limit for files uploaded by bots.
const MAX_BODY_BYTES: usize = 50 * 1024 * 1024;
/// Telegram's limit on message text, in UTF-16 code units.
const MAX_TEXT_UTF16: usize = 4096;
/// Telegram's limit on media captions, in UTF-16 code units.
const MAX_CAPTION_UTF16: usize = 1024;
/// Telegram's limit on `callback_data`, in bytes.
const MAX_CALLBACK_DATA_BYTES: usize = 64;
/// Chat ids below this are supergroups (Telegram's `-100…` ids).
const SUPERGROUP_ID_BELOW: i64 = -1_000_000_000_000;
/// Id of the bot user when the token does not start with a numeric id.
const DEFAULT_BOT_ID: i64 = 1_000_000_001;
/// The first update id handed out; far from message ids so that mixing them up shows.
const FIRST_UPDATE_ID: i64 = 100_001;
/// The bot's username, as answered by `getMe`.
pub const BOT_USERNAME: &str = "kefu_test_bot";
/// Header carrying the webhook secret token on webhook posts.
pub const SECRET_TOKEN_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// Every method the server implements, by its canonical name.
const METHODS: [&str; 17] = [
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "sendPhoto",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "sendChatAction",
    "pinChatMessage",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "getChat",
];

/// The methods that count against the rate limits and that flood mode rejects.
pub const SEND_METHODS: [&str; 4] = [
    "sendMessage",
    "sendPhoto",
    "editMessageText",
    "editMessageReplyMarkup",
];

/// Update kinds Telegram leaves out when `allowed_updates` is empty or was never set.
const NOT_DELIVERED_BY_DEFAULT: [&str; 3] =
    ["chat_member", "message_reaction", "message_reaction_count"];

/// Chat actions `sendChatAction` accepts.
const CHAT_ACTIONS: [&str; 11] = [
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// Fields that give an inline keyboard button something to do; a button needs one.
const INLINE_BUTTON_ACTIONS: [&str; 10] = [
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
];

/// The rate limits the server enforces on the send methods (see the module docs for the
/// exact model). A zero switches a limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Accepted sends allowed in any sliding one-second window, all chats together
    /// (Telegram: 30). 0 switches the overall limit off.
    pub global_per_sec: u32,
    /// Refill rate of each private chat's token bucket, in sends per second (Telegram:
    /// about 1). Zero, negative or non-finite switches the per-chat limit off.
    pub chat_per_sec: f64,
    /// Capacity of each private chat's token bucket: how many sends may go at once after a
    /// quiet spell (Telegram allows short bursts; 3 here). 0 switches the per-chat limit off.
    pub chat_burst: u32,
    /// Accepted sends allowed in any sliding 60-second window to one group, supergroup or
    /// channel (Telegram: 20). 0 switches the group limit off.
    pub group_per_min: u32,
}

impl Default for Limits {
    /// Telegram's documented limits: 30 per second overall, about one per second per chat
    /// with bursts of 3, 20 per minute per group.
    fn default() -> Self {
        Self {
            global_per_sec: 30,
            chat_per_sec: 1.0,
            chat_burst: 3,
            group_per_min: 20,
        }
    }
}

impl Limits {
    /// No rate limits at all (flood mode still works).
    pub fn unlimited() -> Self {
        Self {
            global_per_sec: 0,
            chat_per_sec: 0.0,
            chat_burst: 0,
            group_per_min: 0,
        }
    }
}

/// The kind of a Telegram chat, as in the Chat object's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// A one-to-one chat with a user.
    Private,
    /// A basic group.
    Group,
    /// A supergroup.
    Supergroup,
    /// A channel; the bot's posts there carry `sender_chat` instead of `from`.
    Channel,
}

impl ChatKind {
    /// The `type` string of the Chat object.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Group => "group",
            Self::Supergroup => "supergroup",
            Self::Channel => "channel",
        }
    }
}

/// A chat as the server describes it in Chat objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRef {
    /// The chat id: positive for private chats, negative otherwise.
    pub id: i64,
    /// What kind of chat it is.
    pub kind: ChatKind,
    /// The title of a group, supergroup or channel.
    pub title: Option<String>,
    /// The other party's first name in a private chat (defaults to the sender's).
    pub first_name: Option<String>,
    /// The chat's `@username`, without the `@`, if it has one.
    pub username: Option<String>,
}

impl ChatRef {
    /// A private chat with user `id`.
    pub fn private(id: i64) -> Self {
        Self {
            id,
            kind: ChatKind::Private,
            title: None,
            first_name: None,
            username: None,
        }
    }

    /// A basic group.
    pub fn group(id: i64, title: &str) -> Self {
        Self::public(id, ChatKind::Group, title)
    }

    /// A supergroup (ids look like `-100…`).
    pub fn supergroup(id: i64, title: &str) -> Self {
        Self::public(id, ChatKind::Supergroup, title)
    }

    /// A channel.
    pub fn channel(id: i64, title: &str) -> Self {
        Self::public(id, ChatKind::Channel, title)
    }

    /// The same chat with an `@username` (given without the `@`), so `chat_id` may name it.
    pub fn with_username(mut self, username: &str) -> Self {
        self.username = Some(username.trim_start_matches('@').to_owned());
        self
    }

    fn public(id: i64, kind: ChatKind, title: &str) -> Self {
        Self {
            id,
            kind,
            title: Some(title.to_owned()),
            first_name: None,
            username: None,
        }
    }

    /// The chat a bare numeric id stands for (see the module docs).
    fn from_id(id: i64) -> Self {
        if id > 0 {
            Self::private(id)
        } else if id < SUPERGROUP_ID_BELOW {
            Self::supergroup(id, &format!("Supergroup {id}"))
        } else {
            Self::group(id, &format!("Group {id}"))
        }
    }

    /// A private chat takes its name from the user writing in it, as on Telegram.
    fn filled_from(mut self, user: &UserRef) -> Self {
        if self.kind == ChatKind::Private && self.id == user.id {
            if self.first_name.is_none() {
                self.first_name = Some(user.first_name.clone());
            }
            if self.username.is_none() {
                self.username.clone_from(&user.username);
            }
        }
        self
    }

    /// The Chat object.
    pub fn to_json(&self) -> Value {
        let mut chat = Map::new();
        chat.insert("id".into(), self.id.into());
        chat.insert("type".into(), self.kind.as_str().into());
        if self.kind == ChatKind::Private {
            let first_name = self
                .first_name
                .clone()
                .unwrap_or_else(|| format!("User {}", self.id));
            chat.insert("first_name".into(), first_name.into());
        } else {
            let title = self
                .title
                .clone()
                .unwrap_or_else(|| format!("Chat {}", self.id));
            chat.insert("title".into(), title.into());
        }
        if let Some(username) = &self.username {
            chat.insert("username".into(), username.clone().into());
        }
        Value::Object(chat)
    }
}

/// A (human) Telegram user who writes to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    /// The user id (also the id of the private chat with them).
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// `@username` without the `@`, if any.
    pub username: Option<String>,
    /// IETF language tag of the user's client, e.g. `"de"`.
    pub language_code: Option<String>,
}

impl UserRef {
    /// A user with just an id and a first name.
    pub fn new(id: i64, first_name: &str) -> Self {
        Self {
            id,
            first_name: first_name.to_owned(),
            username: None,
            language_code: None,
        }
    }

    /// The same user with a username.
    pub fn with_username(mut self, username: &str) -> Self {
        self.username = Some(username.trim_start_matches('@').to_owned());
        self
    }

    /// The same user with a client language.
    pub fn with_language(mut self, language_code: &str) -> Self {
        self.language_code = Some(language_code.to_owned());
        self
    }

    /// The User object.
    pub fn to_json(&self) -> Value {
        let mut user = Map::new();
        user.insert("id".into(), self.id.into());
        user.insert("is_bot".into(), false.into());
        user.insert("first_name".into(), self.first_name.clone().into());
        if let Some(username) = &self.username {
            user.insert("username".into(), username.clone().into());
        }
        if let Some(language) = &self.language_code {
            user.insert("language_code".into(), language.clone().into());
        }
        Value::Object(user)
    }
}

/// A file part of a `multipart/form-data` request (its bytes are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// The form field name, e.g. `photo`.
    pub field: String,
    /// The file name the client gave, if any.
    pub file_name: Option<String>,
    /// The part's content type, if given.
    pub content_type: Option<String>,
    /// Size in bytes.
    pub size: usize,
}

/// Where the photo of a `sendPhoto` came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhotoSource {
    /// An `http(s)://` URL for Telegram to fetch.
    Url(String),
    /// A `file_id` of a photo this server sent before.
    FileId(String),
    /// A file uploaded in the request.
    Upload(UploadedFile),
}

/// A message the bot sent or edited successfully (one per accepted send method call).
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The method: `sendMessage`, `sendPhoto`, `editMessageText` or `editMessageReplyMarkup`.
    pub method: String,
    /// The chat it went to.
    pub chat_id: i64,
    /// The id of the message sent or edited.
    pub message_id: i64,
    /// The message text (`sendMessage`, `editMessageText`).
    pub text: Option<String>,
    /// The caption (`sendPhoto`).
    pub caption: Option<String>,
    /// The photo (`sendPhoto`).
    pub photo: Option<PhotoSource>,
    /// `parse_mode` as given.
    pub parse_mode: Option<String>,
    /// `reply_markup` as given, parsed to JSON (any keyboard kind).
    pub reply_markup: Option<Value>,
    /// The message this one replies to, if any.
    pub reply_to_message_id: Option<i64>,
    /// When the server accepted it (the time the rate limits saw).
    pub at: Instant,
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The method: canonical name if known, else as written in the URL (for a URL outside
    /// `/bot{token}/{method}`, its path).
    pub method: String,
    /// All parameters merged into one JSON object (form values stay strings).
    pub params: Value,
    /// File parts of a multipart request.
    pub files: Vec<UploadedFile>,
    /// When the server evaluated it (see the module docs); for `getUpdates`, when it
    /// arrived, before any long-poll wait.
    pub at: Instant,
    /// The HTTP status answered (= `error_code` for errors).
    pub status: u16,
    /// The error description, for errors.
    pub description: Option<String>,
    /// `parameters.retry_after` of a 429.
    pub retry_after: Option<u32>,
}

impl RecordedRequest {
    /// The numeric `chat_id` the request named, if it named one by number.
    pub fn chat_id(&self) -> Option<i64> {
        match self.params.get("chat_id")? {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }
}

/// The webhook as set by `setWebhook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookInfo {
    /// Where updates are posted.
    pub url: String,
    /// Sent back in the `X-Telegram-Bot-Api-Secret-Token` header, if set.
    pub secret_token: Option<String>,
    /// `allowed_updates` given with the webhook, if any.
    pub allowed_updates: Option<Vec<String>>,
    /// `max_connections` given with the webhook, if any.
    pub max_connections: Option<i64>,
}

/// Why [`TestServer::post_to_webhook`] could not post.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No webhook is set.
    #[error("no webhook is set")]
    NotSet,
    /// No update with this id was ever pushed.
    #[error("no update {0} was ever pushed")]
    UnknownUpdate(i64),
    /// The HTTP request failed (connection refused, timeout…).
    #[error("posting the update to the webhook failed")]
    Http(#[from] reqwest::Error),
}

/// A running local Bot API server. Clones share the server; it stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct TestServer {
    shared: Arc<Shared>,
    _task: Arc<AbortOnDrop>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("api_url", &self.shared.config.api_url)
            .field("limits", &self.shared.config.limits)
            .finish_non_exhaustive()
    }
}

/// Stops the server task when the last [`TestServer`] clone goes.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TestServer {
    /// Starts a server on `127.0.0.1` (a free port) for bot `token` with Telegram's limits.
    pub async fn start(token: &str) -> std::io::Result<TestServer> {
        Self::start_with(token, Limits::default()).await
    }

    /// Starts a server on `127.0.0.1` (a free port) for bot `token` with the given limits.
    pub async fn start_with(token: &str, limits: Limits) -> std::io::Result<TestServer> {
        // reqwest is built without a crypto provider; webhook posts are plain HTTP, but the
        // client cannot even be built without one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let config = Config {
            token: token.to_owned(),
            api_url: format!("http://{addr}"),
            bot_id: token
                .split(':')
                .next()
                .and_then(|id| id.parse().ok())
                .unwrap_or(DEFAULT_BOT_ID),
            limits,
            epoch: Instant::now(),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(ServerState::new(limits)),
            config,
            updates_changed: Notify::new(),
            sent_changed: Notify::new(),
            http,
        });
        let app = Router::new()
            .route("/{bot}/{method}", any(handle))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "Telegram test server stopped");
            }
        });
        Ok(TestServer {
            shared,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// The base URL a client uses as its Bot API URL, e.g. `http://127.0.0.1:41234`;
    /// requests go to `{api_url}/bot{token}/{method}`.
    pub fn api_url(&self) -> String {
        self.shared.config.api_url.clone()
    }

    /// The full URL of `method` for this server's token.
    pub fn method_url(&self, method: &str) -> String {
        format!(
            "{}/bot{}/{method}",
            self.shared.config.api_url, self.shared.config.token
        )
    }

    /// The bot's user id (the number before `:` in the token, if there is one).
    pub fn bot_id(&self) -> i64 {
        self.shared.config.bot_id
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.shared.config.limits
    }

    /// Makes a chat known (its kind, title, username) before anyone writes in it.
    pub fn add_chat(&self, chat: ChatRef) {
        self.shared.lock().chat_mut(chat);
    }

    /// Queues a `message` update (`channel_post` in a channel, without `from`): `from`
    /// writes `text` in `chat`. Returns its update id. A text starting with `/` gets a
    /// `bot_command` entity, as Telegram adds.
    pub fn push_message(&self, chat: ChatRef, from: UserRef, text: &str) -> i64 {
        let chat = chat.filled_from(&from);
        let is_channel = chat.kind == ChatKind::Channel;
        let mut state = self.shared.lock();
        let stored = state.chat_mut(chat);
        let message_id = stored.next_message_id();
        let mut message = Map::new();
        message.insert("message_id".into(), message_id.into());
        if is_channel {
            message.insert("sender_chat".into(), stored.chat.to_json());
        } else {
            message.insert("from".into(), from.to_json());
        }
        message.insert("chat".into(), stored.chat.to_json());
        message.insert("date".into(), unix_now().into());
        message.insert("text".into(), text.into());
        if let Some(command) = text
            .split_whitespace()
            .next()
            .filter(|word| word.starts_with('/'))
        {
            let entity = json!({"type": "bot_command", "offset": 0, "length": utf16_len(command)});
            message.insert("entities".into(), json!([entity]));
        }
        let message = Value::Object(message);
        stored
            .messages
            .insert(message_id, StoredMessage::from_user(message.clone(), text));
        let kind = if is_channel {
            "channel_post"
        } else {
            "message"
        };
        let update_id = state.push_new(kind, message);
        drop(state);
        self.shared.updates_changed.notify_waiters();
        update_id
    }

    /// Queues a `callback_query` update: `from` pressed a button with `data` under message
    /// `message_id` of `chat`. Returns its update id. The query's `message` is the message's
    /// current state, or an inaccessible message (`date` 0) if the server does not know it.
    /// The query id is answerable once with `answerCallbackQuery`.
    pub fn push_callback(&self, chat: ChatRef, from: UserRef, message_id: i64, data: &str) -> i64 {
        let chat = chat.filled_from(&from);
        let mut state = self.shared.lock();
        state.callback_seq += 1;
        let query_id = 7_000_000_000_000_000_u64
            .wrapping_add(state.callback_seq)
            .to_string();
        let stored = state.chat_mut(chat);
        let message = stored.messages.get(&message_id).map_or_else(
            || json!({"chat": stored.chat.to_json(), "message_id": message_id, "date": 0}),
            |message| message.json.clone(),
        );
        let query = json!({
            "id": query_id,
            "from": from.to_json(),
            "message": message,
            "chat_instance": stored.chat.id.unsigned_abs().to_string(),
            "data": data,
        });
        state.open_callbacks.insert(query_id);
        let update_id = state.push_new("callback_query", query);
        drop(state);
        self.shared.updates_changed.notify_waiters();
        update_id
    }

    /// Queues a raw update. Without an integer `update_id` it gets the next one; with one,
    /// that id is kept (an id already handed out makes it a replay, delivered whatever the
    /// client's offset). A value that is not a JSON object is queued as an empty update.
    /// Returns the update id.
    pub fn push_update(&self, update: Value) -> i64 {
        let mut update = match update {
            Value::Object(update) => update,
            _ => Map::new(),
        };
        let mut state = self.shared.lock();
        let update_id = match update.get("update_id").and_then(Value::as_i64) {
            Some(id) => {
                let replay = id < state.next_update_id;
                state.next_update_id = state.next_update_id.max(id.saturating_add(1));
                state.enqueue(id, Value::Object(update), replay);
                id
            }
            None => {
                let id = state.take_update_id();
                update.insert("update_id".into(), id.into());
                state.enqueue(id, Value::Object(update), false);
                id
            }
        };
        drop(state);
        self.shared.updates_changed.notify_waiters();
        update_id
    }

    /// Puts an already pushed update back at the end of the queue, as Telegram does when it
    /// was not confirmed: it is delivered again even if the client's offset is past it.
    /// Returns false if no update with that id was ever pushed.
    pub fn redeliver(&self, update_id: i64) -> bool {
        let mut state = self.shared.lock();
        if !state.updates.contains_key(&update_id) {
            return false;
        }
        state.queue.push_back(Queued {
            update_id,
            replay: true,
            delivered: false,
        });
        drop(state);
        self.shared.updates_changed.notify_waiters();
        true
    }

    /// POSTs update `update_id` as JSON to the webhook URL, with the
    /// `X-Telegram-Bot-Api-Secret-Token` header when a secret was set. A 2xx answer confirms
    /// the update (takes it out of the queue). Returns the webhook's HTTP status.
    pub async fn post_to_webhook(&self, update_id: i64) -> Result<u16, WebhookError> {
        let (webhook, update) = {
            let state = self.shared.lock();
            let webhook = state.webhook.clone().ok_or(WebhookError::NotSet)?;
            let update = state
                .updates
                .get(&update_id)
                .cloned()
                .ok_or(WebhookError::UnknownUpdate(update_id))?;
            (webhook, update)
        };
        let mut request = self.shared.http.post(&webhook.url).json(&update);
        if let Some(secret) = &webhook.secret_token {
            request = request.header(SECRET_TOKEN_HEADER, secret);
        }
        let status = request.send().await?.status();
        if status.is_success() {
            self.shared
                .lock()
                .queue
                .retain(|queued| queued.update_id != update_id);
        }
        Ok(status.as_u16())
    }

    /// Every message the bot sent or edited successfully, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// Every request answered, in the order the answers were made.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many requests were answered 429 (rate limits and flood mode).
    pub fn too_many_requests(&self) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|request| request.status == 429)
            .count()
    }

    /// How many updates are queued and not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// The current state of a message as Telegram would show it (after edits), or `None`
    /// if it does not exist or was deleted.
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        let state = self.shared.lock();
        state
            .chats
            .get(&chat_id)?
            .messages
            .get(&message_id)
            .map(|message| message.json.clone())
    }

    /// Waits until at least `n` messages were sent (or `timeout` passes) and returns all
    /// sent so far.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = deadline_after(timeout);
        loop {
            let notified = self.shared.sent_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.shared.lock();
                if state.sent.len() >= n {
                    return state.sent.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.sent();
            }
        }
    }

    /// Starts a "429 storm": for `duration` from now every send method call is answered
    /// 429 with `retry_after_secs` (at least 1), consuming no rate-limit capacity.
    pub fn flood(&self, duration: Duration, retry_after_secs: u32) {
        let until = Instant::now().checked_add(duration);
        self.shared.lock().flood = Some((until, retry_after_secs.max(1)));
    }

    /// The user of private chat `chat_id` blocks the bot: from now on every send method
    /// and `sendChatAction` to that chat is answered 403 `Forbidden: bot was blocked by the
    /// user`, as Telegram does, and changes nothing. Messages to other chats go on as
    /// before.
    pub fn block(&self, chat_id: i64) {
        self.shared.lock().blocked.insert(chat_id);
    }

    /// How many requests to `chat_id` were answered 403 because its user blocked the bot.
    pub fn blocked_answers(&self, chat_id: i64) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|request| request.status == 403 && request.chat_id() == Some(chat_id))
            .count()
    }

    /// The webhook as set, if one is.
    pub fn webhook(&self) -> Option<WebhookInfo> {
        self.shared.lock().webhook.clone()
    }
}

/// Settings fixed at start.
#[derive(Debug)]
struct Config {
    token: String,
    api_url: String,
    bot_id: i64,
    limits: Limits,
    /// Origin of the rate limiter's clock.
    epoch: Instant,
}

impl Config {
    /// The bot as the `from` of its messages.
    fn bot_user(&self) -> Value {
        json!({"id": self.bot_id, "is_bot": true, "first_name": "Kefu Test Bot", "username": BOT_USERNAME})
    }

    /// The `getMe` answer, with every field teloxide's `Me` requires.
    fn me(&self) -> Value {
        json!({
            "id": self.bot_id,
            "is_bot": true,
            "first_name": "Kefu Test Bot",
            "username": BOT_USERNAME,
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
            "can_connect_to_business": false,
            "has_main_web_app": false,
            "has_topics_enabled": false,
            "allows_users_to_create_topics": false,
        })
    }
}

/// What the router's handlers share with [`TestServer`].
struct Shared {
    config: Config,
    state: Mutex<ServerState>,
    /// Woken when updates are queued, a poll starts or the webhook changes.
    updates_changed: Notify,
    /// Woken when a message is recorded as sent.
    sent_changed: Notify,
    /// For webhook posts.
    http: reqwest::Client,
}

impl Shared {
    /// The state; a panic elsewhere while it was locked leaves it usable for the records.
    fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An update in the delivery queue.
#[derive(Debug, Clone, Copy)]
struct Queued {
    update_id: i64,
    /// Redelivered or replayed: delivered at least once whatever the offset.
    replay: bool,
    /// Returned by a `getUpdates` since it was queued.
    delivered: bool,
}

/// A message as the server keeps it.
#[derive(Debug, Clone)]
struct StoredMessage {
    /// The Message object as it stands (edits applied).
    json: Value,
    text: Option<String>,
    /// The inline keyboard shown under it, if any.
    inline_markup: Option<Value>,
    from_bot: bool,
}

impl StoredMessage {
    fn from_user(json: Value, text: &str) -> Self {
        Self {
            json,
            text: Some(text.to_owned()),
            inline_markup: None,
            from_bot: false,
        }
    }
}

/// A chat the server knows and its messages.
#[derive(Debug)]
struct ChatState {
    chat: ChatRef,
    last_message_id: i64,
    messages: HashMap<i64, StoredMessage>,
    pinned: Option<i64>,
}

impl ChatState {
    fn next_message_id(&mut self) -> i64 {
        self.last_message_id += 1;
        self.last_message_id
    }
}

/// Everything mutable, behind one lock (never held across an await).
#[derive(Debug)]
struct ServerState {
    next_update_id: i64,
    queue: VecDeque<Queued>,
    /// Every update ever pushed, for redelivery and webhook posts.
    updates: BTreeMap<i64, Value>,
    /// `allowed_updates` in force; `None` is Telegram's default.
    allowed_updates: Option<Vec<String>>,
    /// Counts `getUpdates` calls; a waiting poll whose number is no longer current ends.
    poll_generation: u64,
    webhook: Option<WebhookInfo>,
    chats: HashMap<i64, ChatState>,
    /// Lower-cased username → chat id.
    usernames: HashMap<String, i64>,
    /// Photo sets by each of their `file_id`s.
    photos: HashMap<String, Value>,
    open_callbacks: HashSet<String>,
    callback_seq: u64,
    commands: Value,
    requests: Vec<RecordedRequest>,
    sent: Vec<SentMessage>,
    limiter: Limiter,
    /// Flood mode: until when (`None`: for ever), and the `retry_after` to answer.
    flood: Option<(Option<Instant>, u32)>,
    /// Private chats whose user blocked the bot.
    blocked: HashSet<i64>,
}

impl ServerState {
    fn new(limits: Limits) -> Self {
        Self {
            next_update_id: FIRST_UPDATE_ID,
            queue: VecDeque::new(),
            updates: BTreeMap::new(),
            allowed_updates: None,
            poll_generation: 0,
            webhook: None,
            chats: HashMap::new(),
            usernames: HashMap::new(),
            photos: HashMap::new(),
            open_callbacks: HashSet::new(),
            callback_seq: 0,
            commands: json!([]),
            requests: Vec::new(),
            sent: Vec::new(),
            limiter: Limiter::new(limits),
            flood: None,
            blocked: HashSet::new(),
        }
    }

    /// The chat, registered or updated with what `chat` says about it.
    /// What `chat` leaves out (a username, a first name) is kept from before.
    fn chat_mut(&mut self, mut chat: ChatRef) -> &mut ChatState {
        if let Some(username) = &chat.username {
            self.usernames.insert(username.to_lowercase(), chat.id);
        }
        let entry = self.chat_by_id(chat.id);
        if chat.username.is_none() {
            chat.username = entry.chat.username.take();
        }
        if chat.first_name.is_none() {
            chat.first_name = entry.chat.first_name.take();
        }
        entry.chat = chat;
        entry
    }

    /// The chat with this id, created from the id alone if unknown.
    fn chat_by_id(&mut self, id: i64) -> &mut ChatState {
        self.chats.entry(id).or_insert_with(|| ChatState {
            chat: ChatRef::from_id(id),
            last_message_id: 0,
            messages: HashMap::new(),
            pinned: None,
        })
    }

    fn take_update_id(&mut self) -> i64 {
        let id = self.next_update_id;
        self.next_update_id = id.saturating_add(1);
        id
    }

    /// Queues a new update of `kind` carrying `payload`; returns its id.
    fn push_new(&mut self, kind: &str, payload: Value) -> i64 {
        let id = self.take_update_id();
        let mut update = Map::new();
        update.insert("update_id".into(), id.into());
        update.insert(kind.into(), payload);
        self.enqueue(id, Value::Object(update), false);
        id
    }

    /// Stores the update and queues it if `allowed_updates` lets it through.
    fn enqueue(&mut self, update_id: i64, update: Value, replay: bool) {
        let kind = update
            .as_object()
            .and_then(|fields| fields.keys().find(|key| *key != "update_id"))
            .cloned();
        self.updates.insert(update_id, update);
        if kind.is_none_or(|kind| self.allows(&kind)) {
            self.queue.push_back(Queued {
                update_id,
                replay,
                delivered: false,
            });
        }
    }

    fn allows(&self, kind: &str) -> bool {
        match &self.allowed_updates {
            Some(allowed) => allowed.iter().any(|allowed| allowed == kind),
            None => !NOT_DELIVERED_BY_DEFAULT.contains(&kind),
        }
    }

    /// Applies `getUpdates`' `offset`: drops confirmed updates.
    fn confirm(&mut self, offset: i64) {
        if offset > 0 {
            self.queue.retain(|queued| {
                queued.update_id >= offset || (queued.replay && !queued.delivered)
            });
        } else if offset < 0 {
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            while self.queue.len() > keep {
                self.queue.pop_front();
            }
        }
    }

    /// Up to `limit` deliverable updates, in queue order, marked delivered.
    fn take_batch(&mut self, offset: i64, limit: usize) -> Vec<Value> {
        let mut batch = Vec::new();
        for queued in &mut self.queue {
            if batch.len() >= limit {
                break;
            }
            if !(queued.replay || queued.update_id >= offset) {
                continue;
            }
            if let Some(update) = self.updates.get(&queued.update_id) {
                batch.push(update.clone());
                queued.delivered = true;
            }
        }
        batch
    }

    /// Turns `allowed_updates` as given into the setting (an empty list means the default).
    fn set_allowed_updates(&mut self, allowed: Option<Vec<String>>) {
        if let Some(allowed) = allowed {
            self.allowed_updates = if allowed.is_empty() {
                None
            } else {
                Some(allowed)
            };
        }
    }

    /// Flood mode's 429, if it is on.
    fn flooded(&self, at: Instant) -> Result<(), ApiError> {
        match self.flood {
            Some((until, retry_after)) if until.is_none_or(|until| at < until) => {
                Err(ApiError::too_many(retry_after))
            }
            _ => Ok(()),
        }
    }

    /// The 403 Telegram answers when the chat's user blocked the bot.
    fn reachable(&self, chat_id: i64) -> Result<(), ApiError> {
        if self.blocked.contains(&chat_id) {
            return Err(ApiError::forbidden("bot was blocked by the user"));
        }
        Ok(())
    }

    /// The rate limits: consumes capacity if the send at `at` is allowed, else a 429.
    fn admit(&mut self, config: &Config, chat_id: i64, at: Instant) -> Result<(), ApiError> {
        let now = at.saturating_duration_since(config.epoch);
        let wait = self.limiter.wait(chat_id, now);
        if wait.is_zero() {
            self.limiter.consume(chat_id, now);
            Ok(())
        } else {
            Err(ApiError::too_many(retry_after_secs(wait)))
        }
    }

    /// The chat `chat_id` names: a numeric id (any, see the module docs) or `@username`.
    fn resolve_chat(&mut self, params: &Params<'_>) -> Result<i64, ApiError> {
        let id = match params.0.get("chat_id") {
            None | Some(Value::Null) => return Err(ApiError::bad("chat_id is empty")),
            Some(Value::Number(number)) => number.as_i64().ok_or_else(chat_not_found)?,
            Some(Value::String(text)) => {
                let text = text.trim();
                if text.is_empty() {
                    return Err(ApiError::bad("chat_id is empty"));
                }
                if let Ok(id) = text.parse::<i64>() {
                    id
                } else if let Some(username) = text.strip_prefix('@') {
                    *self
                        .usernames
                        .get(&username.to_lowercase())
                        .ok_or_else(chat_not_found)?
                } else {
                    return Err(chat_not_found());
                }
            }
            Some(_) => return Err(chat_not_found()),
        };
        if id == 0 {
            return Err(ApiError::bad("chat_id is empty"));
        }
        self.chat_by_id(id);
        Ok(id)
    }

    /// Runs every method but `getUpdates`; `at` is the request's time.
    fn call(
        &mut self,
        config: &Config,
        method: &str,
        params: &Params<'_>,
        files: &[UploadedFile],
        at: Instant,
    ) -> Result<Reply, ApiError> {
        if SEND_METHODS.contains(&method) {
            self.flooded(at)?;
        }
        match method {
            "getMe" => Ok(Reply::new(config.me())),
            "sendMessage" => self.send_message(config, params, at),
            "sendPhoto" => self.send_photo(config, params, files, at),
            "editMessageText" => self.edit_message_text(config, params, at),
            "editMessageReplyMarkup" => self.edit_message_reply_markup(config, params, at),
            "deleteMessage" => {
                let (chat_id, message_id) = self.chat_and_message(params)?;
                let chat = self.chat_by_id(chat_id);
                chat.messages
                    .remove(&message_id)
                    .ok_or_else(|| ApiError::bad("message to delete not found"))?;
                if chat.pinned == Some(message_id) {
                    chat.pinned = None;
                }
                Ok(Reply::new(true.into()))
            }
            "pinChatMessage" => {
                let (chat_id, message_id) = self.chat_and_message(params)?;
                let chat = self.chat_by_id(chat_id);
                if !chat.messages.contains_key(&message_id) {
                    return Err(ApiError::bad("message to pin not found"));
                }
                chat.pinned = Some(message_id);
                Ok(Reply::new(true.into()))
            }
            "answerCallbackQuery" => {
                let id = params.string("callback_query_id").unwrap_or_default();
                if id.is_empty() {
                    return Err(ApiError::bad("query_id is empty"));
                }
                if params
                    .string("text")
                    .is_some_and(|text| text.chars().count() > 200)
                {
                    return Err(ApiError::bad("MESSAGE_TOO_LONG"));
                }
                if !self.open_callbacks.remove(&id) {
                    return Err(ApiError::bad(
                        "query is too old and response timeout expired or query ID is invalid",
                    ));
                }
                Ok(Reply::new(true.into()))
            }
            "sendChatAction" => {
                let chat_id = self.resolve_chat(params)?;
                let action = params.string("action").unwrap_or_default();
                if action.is_empty() {
                    return Err(ApiError::bad("action is empty"));
                }
                if !CHAT_ACTIONS.contains(&action.as_str()) {
                    return Err(ApiError::bad("wrong parameter action in request"));
                }
                self.reachable(chat_id)?;
                Ok(Reply::new(true.into()))
            }
            "setMyCommands" => {
                self.commands = parse_commands(params)?;
                Ok(Reply::new(true.into()))
            }
            "getMyCommands" => Ok(Reply::new(self.commands.clone())),
            "deleteMyCommands" => {
                self.commands = json!([]);
                Ok(Reply::new(true.into()))
            }
            "getChat" => {
                let chat_id = self.resolve_chat(params)?;
                let chat = self.chat_by_id(chat_id);
                let mut info = match chat.chat.to_json() {
                    Value::Object(info) => info,
                    _ => Map::new(),
                };
                info.insert("accent_color_id".into(), 0.into());
                info.insert("max_reaction_count".into(), 11.into());
                info.insert(
                    "accepted_gift_types".into(),
                    json!({"unlimited_gifts": false, "limited_gifts": false, "unique_gifts": false, "premium_subscription": false}),
                );
                if let Some(pinned) = chat.pinned.and_then(|id| chat.messages.get(&id)) {
                    info.insert("pinned_message".into(), pinned.json.clone());
                }
                Ok(Reply::new(Value::Object(info)))
            }
            "setWebhook" => self.set_webhook(params),
            "deleteWebhook" => {
                if params.boolean("drop_pending_updates") {
                    self.queue.clear();
                }
                let description = if self.webhook.take().is_some() {
                    "Webhook was deleted"
                } else {
                    "Webhook is already deleted"
                };
                Ok(Reply {
                    result: true.into(),
                    description: Some(description),
                })
            }
            "getWebhookInfo" => {
                let mut info = json!({"url": "", "has_custom_certificate": false, "pending_update_count": self.queue.len()});
                if let (Some(webhook), Some(fields)) = (&self.webhook, info.as_object_mut()) {
                    fields.insert("url".into(), webhook.url.clone().into());
                    fields.insert(
                        "max_connections".into(),
                        webhook.max_connections.unwrap_or(40).into(),
                    );
                    if let Some(allowed) = &webhook.allowed_updates {
                        fields.insert("allowed_updates".into(), json!(allowed));
                    }
                }
                Ok(Reply::new(info))
            }
            _ => Err(ApiError::not_found()),
        }
    }

    fn send_message(
        &mut self,
        config: &Config,
        params: &Params<'_>,
        at: Instant,
    ) -> Result<Reply, ApiError> {
        let chat_id = self.resolve_chat(params)?;
        let text = params.string("text").unwrap_or_default();
        check_text(&text)?;
        let parse_mode = parse_mode(params)?;
        let markup = parse_reply_markup(params)?;
        let reply_to = self.reply_target(chat_id, params)?;
        self.reachable(chat_id)?;
        self.admit(config, chat_id, at)?;

        let (mut message, message_id) = self.new_bot_message(config, chat_id, reply_to);
        message.insert("text".into(), text.clone().into());
        let inline_markup = markup.as_ref().and_then(inline_keyboard);
        if let Some(inline) = &inline_markup {
            message.insert("reply_markup".into(), inline.clone());
        }
        let message = Value::Object(message);
        let stored = StoredMessage {
            json: message.clone(),
            text: Some(text.clone()),
            inline_markup,
            from_bot: true,
        };
        self.chat_by_id(chat_id).messages.insert(message_id, stored);
        self.sent.push(SentMessage {
            method: "sendMessage".into(),
            chat_id,
            message_id,
            text: Some(text),
            caption: None,
            photo: None,
            parse_mode,
            reply_markup: markup,
            reply_to_message_id: reply_to,
            at,
        });
        Ok(Reply::new(message))
    }

    fn send_photo(
        &mut self,
        config: &Config,
        params: &Params<'_>,
        files: &[UploadedFile],
        at: Instant,
    ) -> Result<Reply, ApiError> {
        let chat_id = self.resolve_chat(params)?;
        let caption = params
            .string("caption")
            .filter(|caption| !caption.is_empty());
        if caption
            .as_deref()
            .is_some_and(|caption| utf16_len(caption) > MAX_CAPTION_UTF16)
        {
            return Err(ApiError::bad("message caption is too long"));
        }
        let parse_mode = parse_mode(params)?;
        let markup = parse_reply_markup(params)?;
        let reply_to = self.reply_target(chat_id, params)?;
        let source = self.photo_source(params, files)?;
        self.reachable(chat_id)?;
        self.admit(config, chat_id, at)?;

        let (mut message, message_id) = self.new_bot_message(config, chat_id, reply_to);
        let sizes = match &source {
            PhotoSource::FileId(file_id) => self
                .photos
                .get(file_id)
                .cloned()
                .unwrap_or_else(|| json!([])),
            PhotoSource::Url(_) | PhotoSource::Upload(_) => {
                let size = match &source {
                    PhotoSource::Upload(file) => file.size,
                    _ => 24_576,
                };
                let sizes = photo_sizes(chat_id, message_id, size);
                for size in sizes.as_array().into_iter().flatten() {
                    if let Some(file_id) = size.get("file_id").and_then(Value::as_str) {
                        self.photos.insert(file_id.to_owned(), sizes.clone());
                    }
                }
                sizes
            }
        };
        message.insert("photo".into(), sizes);
        if let Some(caption) = &caption {
            message.insert("caption".into(), caption.clone().into());
        }
        let inline_markup = markup.as_ref().and_then(inline_keyboard);
        if let Some(inline) = &inline_markup {
            message.insert("reply_markup".into(), inline.clone());
        }
        let message = Value::Object(message);
        let stored = StoredMessage {
            json: message.clone(),
            text: None,
            inline_markup,
            from_bot: true,
        };
        self.chat_by_id(chat_id).messages.insert(message_id, stored);
        self.sent.push(SentMessage {
            method: "sendPhoto".into(),
            chat_id,
            message_id,
            text: None,
            caption,
            photo: Some(source),
            parse_mode,
            reply_markup: markup,
            reply_to_message_id: reply_to,
            at,
        });
        Ok(Reply::new(message))
    }

    fn edit_message_text(
        &mut self,
        config: &Config,
        params: &Params<'_>,
        at: Instant,
    ) -> Result<Reply, ApiError> {
        let (chat_id, message_id) = self.chat_and_message(params)?;
        let text = params.string("text").unwrap_or_default();
        check_text(&text)?;
        let parse_mode = parse_mode(params)?;
        let markup = parse_reply_markup(params)?;
        let inline_markup = markup.as_ref().and_then(inline_keyboard);
        {
            let stored = self.editable(chat_id, message_id)?;
            let Some(old_text) = &stored.text else {
                return Err(ApiError::bad("there is no text in the message to edit"));
            };
            if *old_text == text && stored.inline_markup == inline_markup {
                return Err(not_modified());
            }
        }
        self.reachable(chat_id)?;
        self.admit(config, chat_id, at)?;

        let stored = self.editable(chat_id, message_id)?;
        stored.text = Some(text.clone());
        stored.inline_markup.clone_from(&inline_markup);
        if let Some(message) = stored.json.as_object_mut() {
            message.insert("text".into(), text.clone().into());
            message.insert("edit_date".into(), unix_now().into());
            match &inline_markup {
                Some(inline) => message.insert("reply_markup".into(), inline.clone()),
                None => message.remove("reply_markup"),
            };
        }
        let message = stored.json.clone();
        self.sent.push(SentMessage {
            method: "editMessageText".into(),
            chat_id,
            message_id,
            text: Some(text),
            caption: None,
            photo: None,
            parse_mode,
            reply_markup: markup,
            reply_to_message_id: None,
            at,
        });
        Ok(Reply::new(message))
    }

    fn edit_message_reply_markup(
        &mut self,
        config: &Config,
        params: &Params<'_>,
        at: Instant,
    ) -> Result<Reply, ApiError> {
        let (chat_id, message_id) = self.chat_and_message(params)?;
        let markup = parse_reply_markup(params)?;
        let inline_markup = markup.as_ref().and_then(inline_keyboard);
        if self.editable(chat_id, message_id)?.inline_markup == inline_markup {
            return Err(not_modified());
        }
        self.reachable(chat_id)?;
        self.admit(config, chat_id, at)?;

        let stored = self.editable(chat_id, message_id)?;
        stored.inline_markup.clone_from(&inline_markup);
        if let Some(message) = stored.json.as_object_mut() {
            message.insert("edit_date".into(), unix_now().into());
            match &inline_markup {
                Some(inline) => message.insert("reply_markup".into(), inline.clone()),
                None => message.remove("reply_markup"),
            };
        }
        let message = stored.json.clone();
        let text = stored.text.clone();
        self.sent.push(SentMessage {
            method: "editMessageReplyMarkup".into(),
            chat_id,
            message_id,
            text,
            caption: None,
            photo: None,
            parse_mode: None,
            reply_markup: markup,
            reply_to_message_id: None,
            at,
        });
        Ok(Reply::new(message))
    }

    fn set_webhook(&mut self, params: &Params<'_>) -> Result<Reply, ApiError> {
        let url = params.string("url").unwrap_or_default();
        let secret_token = params
            .string("secret_token")
            .filter(|secret| !secret.is_empty());
        if let Some(secret) = &secret_token {
            let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if secret.len() > 256 || !secret.chars().all(allowed) {
                return Err(ApiError::bad("secret token contains unallowed characters"));
            }
        }
        let allowed_updates = parse_allowed_updates(params)?;
        let max_connections = params.integer("max_connections")?;
        if max_connections.is_some_and(|max| !(1..=100).contains(&max)) {
            return Err(ApiError::bad(
                "bad webhook: max_connections must be between 1 and 100",
            ));
        }
        if params.boolean("drop_pending_updates") {
            self.queue.clear();
        }
        self.set_allowed_updates(allowed_updates.clone());
        if url.trim().is_empty() {
            let description = if self.webhook.take().is_some() {
                "Webhook was deleted"
            } else {
                "Webhook is already deleted"
            };
            return Ok(Reply {
                result: true.into(),
                description: Some(description),
            });
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ApiError::bad(
                "bad webhook: An HTTPS URL must be provided for webhook",
            ));
        }
        let webhook = WebhookInfo {
            url,
            secret_token,
            allowed_updates,
            max_connections,
        };
        let description = if self.webhook.as_ref() == Some(&webhook) {
            "Webhook is already set"
        } else {
            "Webhook was set"
        };
        self.webhook = Some(webhook);
        Ok(Reply {
            result: true.into(),
            description: Some(description),
        })
    }

    /// `chat_id` and `message_id` of a method acting on one message.
    fn chat_and_message(&mut self, params: &Params<'_>) -> Result<(i64, i64), ApiError> {
        if !params.0.contains_key("chat_id") && params.0.contains_key("inline_message_id") {
            return Err(ApiError::bad("MESSAGE_ID_INVALID"));
        }
        let chat_id = self.resolve_chat(params)?;
        let message_id = params
            .integer("message_id")?
            .ok_or_else(|| ApiError::bad("message identifier is not specified"))?;
        Ok((chat_id, message_id))
    }

    /// A message the bot may edit.
    fn editable(&mut self, chat_id: i64, message_id: i64) -> Result<&mut StoredMessage, ApiError> {
        let stored = self
            .chat_by_id(chat_id)
            .messages
            .get_mut(&message_id)
            .ok_or_else(|| ApiError::bad("message to edit not found"))?;
        if stored.from_bot {
            Ok(stored)
        } else {
            Err(ApiError::bad("message can't be edited"))
        }
    }

    /// The message a send replies to (`reply_parameters` or `reply_to_message_id`), which
    /// must exist unless `allow_sending_without_reply`.
    fn reply_target(&mut self, chat_id: i64, params: &Params<'_>) -> Result<Option<i64>, ApiError> {
        let reply_parameters = params
            .json("reply_parameters")
            .map_err(|()| ApiError::bad("can't parse reply parameters JSON object"))?;
        let (message_id, lenient) = match &reply_parameters {
            Some(reply) => {
                let message_id = reply.get("message_id").and_then(Value::as_i64);
                let lenient = reply
                    .get("allow_sending_without_reply")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                (message_id, lenient)
            }
            None => (
                params.integer("reply_to_message_id")?,
                params.boolean("allow_sending_without_reply"),
            ),
        };
        let Some(message_id) = message_id.filter(|id| *id != 0) else {
            return Ok(None);
        };
        if self.chat_by_id(chat_id).messages.contains_key(&message_id) {
            Ok(Some(message_id))
        } else if lenient {
            Ok(None)
        } else {
            Err(ApiError::bad("message to be replied not found"))
        }
    }

    /// Where a `sendPhoto`'s photo comes from.
    fn photo_source(
        &self,
        params: &Params<'_>,
        files: &[UploadedFile],
    ) -> Result<PhotoSource, ApiError> {
        let upload = |field: &str| -> Result<PhotoSource, ApiError> {
            let file = files
                .iter()
                .find(|file| file.field == field)
                .ok_or_else(|| ApiError::bad("there is no photo in the request"))?;
            if file.size == 0 {
                return Err(ApiError::bad("file must be non-empty"));
            }
            Ok(PhotoSource::Upload(file.clone()))
        };
        match params
            .string("photo")
            .map(|photo| photo.trim().to_owned())
            .filter(|photo| !photo.is_empty())
        {
            Some(photo) => {
                if let Some(field) = photo.strip_prefix("attach://") {
                    upload(field)
                } else if photo.starts_with("http://") || photo.starts_with("https://") {
                    Ok(PhotoSource::Url(photo))
                } else if self.photos.contains_key(&photo) {
                    Ok(PhotoSource::FileId(photo))
                } else {
                    Err(ApiError::bad("wrong file identifier/HTTP URL specified"))
                }
            }
            None => upload("photo"),
        }
    }

    /// The common fields of a message the bot sends to `chat_id`, and its new id.
    fn new_bot_message(
        &mut self,
        config: &Config,
        chat_id: i64,
        reply_to: Option<i64>,
    ) -> (Map<String, Value>, i64) {
        let chat = self.chat_by_id(chat_id);
        let message_id = chat.next_message_id();
        let mut message = Map::new();
        message.insert("message_id".into(), message_id.into());
        if chat.chat.kind == ChatKind::Channel {
            message.insert("sender_chat".into(), chat.chat.to_json());
        } else {
            message.insert("from".into(), config.bot_user());
        }
        message.insert("chat".into(), chat.chat.to_json());
        message.insert("date".into(), unix_now().into());
        if let Some(replied) = reply_to.and_then(|id| chat.messages.get(&id)) {
            // Telegram nests the replied message without its own reply.
            let mut replied = replied.json.clone();
            if let Some(fields) = replied.as_object_mut() {
                fields.remove("reply_to_message");
            }
            message.insert("reply_to_message".into(), replied);
        }
        (message, message_id)
    }
}

/// The rate limiter (see the module docs); times are durations since the server started.
#[derive(Debug)]
struct Limiter {
    limits: Limits,
    /// GCRA emission interval of private chats, `None` when that limit is off.
    interval: Option<Duration>,
    global: VecDeque<Duration>,
    /// Theoretical arrival time per private chat.
    chats: HashMap<i64, Duration>,
    groups: HashMap<i64, VecDeque<Duration>>,
}

impl Limiter {
    fn new(limits: Limits) -> Self {
        let rate = limits.chat_per_sec;
        // `as` saturates, and the clamp keeps the interval at least a nanosecond.
        let interval = (limits.chat_burst > 0 && rate.is_finite() && rate > 0.0)
            .then(|| Duration::from_nanos((1e9 / rate).round().clamp(1.0, u64::MAX as f64) as u64));
        Self {
            limits,
            interval,
            global: VecDeque::new(),
            chats: HashMap::new(),
            groups: HashMap::new(),
        }
    }

    /// How long a send to `chat_id` at `now` must wait; zero if it is allowed now.
    fn wait(&mut self, chat_id: i64, now: Duration) -> Duration {
        let mut wait = window_wait(
            &mut self.global,
            self.limits.global_per_sec,
            Duration::from_secs(1),
            now,
        );
        if chat_id > 0 {
            if let (Some(interval), Some(tat)) = (self.interval, self.chats.get(&chat_id)) {
                let tolerance = interval
                    .checked_mul(self.limits.chat_burst.saturating_sub(1))
                    .unwrap_or(Duration::MAX);
                wait = wait.max(tat.saturating_sub(tolerance).saturating_sub(now));
            }
        } else if self.limits.group_per_min > 0 {
            let window = self.groups.entry(chat_id).or_default();
            wait = wait.max(window_wait(
                window,
                self.limits.group_per_min,
                Duration::from_secs(60),
                now,
            ));
        }
        wait
    }

    /// Counts an accepted send to `chat_id` at `now`.
    fn consume(&mut self, chat_id: i64, now: Duration) {
        if self.limits.global_per_sec > 0 {
            self.global.push_back(now);
        }
        if chat_id > 0 {
            if let Some(interval) = self.interval {
                let tat = self.chats.entry(chat_id).or_insert(now);
                *tat = (*tat).max(now).saturating_add(interval);
            }
        } else if self.limits.group_per_min > 0 {
            self.groups.entry(chat_id).or_default().push_back(now);
        }
    }
}

/// The wait before a sliding window of `window` holding `limit` sends admits one more at
/// `now`; drops the sends that have left the window. A `limit` of 0 never waits.
fn window_wait(
    sends: &mut VecDeque<Duration>,
    limit: u32,
    window: Duration,
    now: Duration,
) -> Duration {
    while sends
        .front()
        .is_some_and(|at| at.saturating_add(window) <= now)
    {
        sends.pop_front();
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit == 0 || sends.len() < limit {
        return Duration::ZERO;
    }
    // One more fits once all but `limit - 1` of the sends in the window have left it.
    sends.get(sends.len() - limit).map_or(Duration::ZERO, |at| {
        at.saturating_add(window).saturating_sub(now)
    })
}

/// Whole seconds, rounded up, at least 1.
fn retry_after_secs(wait: Duration) -> u32 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
}

/// A successful answer.
#[derive(Debug)]
struct Reply {
    result: Value,
    /// Telegram's `description` on some successes (`setWebhook`).
    description: Option<&'static str>,
}

impl Reply {
    fn new(result: Value) -> Self {
        Self {
            result,
            description: None,
        }
    }
}

/// An error answer, as Telegram words it.
#[derive(Debug, Clone)]
struct ApiError {
    code: u16,
    description: String,
    retry_after: Option<u32>,
}

impl ApiError {
    fn bad(what: &str) -> Self {
        Self {
            code: 400,
            description: format!("Bad Request: {what}"),
            retry_after: None,
        }
    }

    fn too_many(retry_after: u32) -> Self {
        Self {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }

    fn forbidden(what: &str) -> Self {
        Self {
            code: 403,
            description: format!("Forbidden: {what}"),
            retry_after: None,
        }
    }

    fn conflict(what: &str) -> Self {
        Self {
            code: 409,
            description: format!("Conflict: {what}"),
            retry_after: None,
        }
    }

    fn unauthorized() -> Self {
        Self {
            code: 401,
            description: "Unauthorized".into(),
            retry_after: None,
        }
    }

    fn not_found() -> Self {
        Self {
            code: 404,
            description: "Not Found".into(),
            retry_after: None,
        }
    }

    fn too_large() -> Self {
        Self {
            code: 413,
            description: "Request Entity Too Large".into(),
            retry_after: None,
        }
    }
}

fn chat_not_found() -> ApiError {
    ApiError::bad("chat not found")
}

fn not_modified() -> ApiError {
    ApiError::bad(
        "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    )
}

/// The parameters of one request, merged into a JSON object.
struct Params<'a>(&'a Map<String, Value>);

impl Params<'_> {
    /// A string parameter; numbers and booleans are taken as their text.
    fn string(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }

    /// An integer parameter, as a JSON number or a numeric string; absent or empty is `None`.
    fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        let invalid = || ApiError::bad(&format!("field \"{key}\" must be of type Integer"));
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => number.as_i64().map(Some).ok_or_else(invalid),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => text.trim().parse().map(Some).map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    }

    /// A boolean parameter: `true`, `"true"`, `"1"` or a non-zero number.
    fn boolean(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Value::Bool(flag)) => *flag,
            Some(Value::String(text)) => {
                matches!(text.trim().to_ascii_lowercase().as_str(), "true" | "1")
            }
            Some(Value::Number(number)) => number.as_f64().is_some_and(|n| n != 0.0),
            _ => false,
        }
    }

    /// A JSON-valued parameter, given as JSON or as a string holding JSON.
    fn json(&self, key: &str) -> Result<Option<Value>, ()> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => serde_json::from_str(text).map(Some).map_err(|_| ()),
            Some(other) => Ok(Some(other.clone())),
        }
    }
}

/// `timeout` from now, or about thirty years for timeouts too long to represent.
fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Telegram trims message text; what is left must be 1–4096 UTF-16 code units.
fn check_text(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        Err(ApiError::bad("message text is empty"))
    } else if utf16_len(text) > MAX_TEXT_UTF16 {
        Err(ApiError::bad("message is too long"))
    } else {
        Ok(())
    }
}

fn parse_mode(params: &Params<'_>) -> Result<Option<String>, ApiError> {
    match params.string("parse_mode").filter(|mode| !mode.is_empty()) {
        None => Ok(None),
        Some(mode)
            if ["html", "markdown", "markdownv2"].contains(&mode.to_ascii_lowercase().as_str()) =>
        {
            Ok(Some(mode))
        }
        Some(_) => Err(ApiError::bad("unsupported parse_mode")),
    }
}

fn parse_allowed_updates(params: &Params<'_>) -> Result<Option<Vec<String>>, ApiError> {
    let invalid = || ApiError::bad("can't parse allowed updates JSON array");
    let Some(value) = params.json("allowed_updates").map_err(|()| invalid())? else {
        return Ok(None);
    };
    let kinds = value.as_array().ok_or_else(invalid)?;
    kinds
        .iter()
        .map(|kind| kind.as_str().map(str::to_owned).ok_or_else(invalid))
        .collect::<Result<_, _>>()
        .map(Some)
}

fn parse_commands(params: &Params<'_>) -> Result<Value, ApiError> {
    let invalid = || ApiError::bad("can't parse commands JSON object");
    let commands = params
        .json("commands")
        .map_err(|()| invalid())?
        .ok_or_else(|| ApiError::bad("commands are empty"))?;
    let list = commands.as_array().ok_or_else(invalid)?;
    if list.len() > 100 {
        return Err(ApiError::bad("too many commands"));
    }
    for command in list {
        let name = command
            .get("command")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let description = command
            .get("description")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let name = name.strip_prefix('/').unwrap_or(name);
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
        if name.is_empty() || name.len() > 32 || !name.chars().all(valid) {
            return Err(ApiError::bad("BOT_COMMAND_INVALID"));
        }
        if description.trim().is_empty() || description.chars().count() > 256 {
            return Err(ApiError::bad("command description is empty or too long"));
        }
    }
    Ok(commands)
}

/// `reply_markup`, checked like Telegram does.
fn parse_reply_markup(params: &Params<'_>) -> Result<Option<Value>, ApiError> {
    let unparsable = || ApiError::bad("can't parse reply keyboard markup JSON object");
    let Some(markup) = params.json("reply_markup").map_err(|()| unparsable())? else {
        return Ok(None);
    };
    let fields = markup.as_object().ok_or_else(unparsable)?;
    if let Some(keyboard) = fields.get("inline_keyboard") {
        for button in rows_of_buttons(keyboard, "inline_keyboard")? {
            check_inline_button(button)?;
        }
    } else if let Some(keyboard) = fields.get("keyboard") {
        for button in rows_of_buttons(keyboard, "keyboard")? {
            let text = button
                .as_str()
                .or_else(|| button.get("text").and_then(Value::as_str));
            if text.is_none() {
                return Err(ApiError::bad(
                    "can't parse keyboard button: Field \"text\" must be of type String",
                ));
            }
        }
    } else if !fields.contains_key("remove_keyboard") && !fields.contains_key("force_reply") {
        return Err(unparsable());
    }
    Ok(Some(markup))
}

/// The buttons of a keyboard that must be an array of arrays.
fn rows_of_buttons<'a>(keyboard: &'a Value, field: &str) -> Result<Vec<&'a Value>, ApiError> {
    let invalid = || {
        ApiError::bad(&format!(
            "field \"{field}\" of the keyboard must be an Array of Arrays"
        ))
    };
    let rows = keyboard.as_array().ok_or_else(invalid)?;
    let mut buttons = Vec::new();
    for row in rows {
        buttons.extend(row.as_array().ok_or_else(invalid)?);
    }
    Ok(buttons)
}

fn check_inline_button(button: &Value) -> Result<(), ApiError> {
    let fields = button.as_object().ok_or_else(|| {
        ApiError::bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    })?;
    if !fields.get("text").is_some_and(Value::is_string) {
        return Err(ApiError::bad(
            "can't parse inline keyboard button: Field \"text\" must be of type String",
        ));
    }
    if let Some(data) = fields.get("callback_data") {
        let valid = data
            .as_str()
            .is_some_and(|data| !data.is_empty() && data.len() <= MAX_CALLBACK_DATA_BYTES);
        if !valid {
            return Err(ApiError::bad("BUTTON_DATA_INVALID"));
        }
    }
    if let Some(url) = fields.get("url")
        && url.as_str().is_none_or(|url| url.trim().is_empty())
    {
        return Err(ApiError::bad("BUTTON_URL_INVALID"));
    }
    if !INLINE_BUTTON_ACTIONS
        .iter()
        .any(|action| fields.contains_key(*action))
    {
        return Err(ApiError::bad(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
        ));
    }
    Ok(())
}

/// The markup a Message shows: only a non-empty inline keyboard.
fn inline_keyboard(markup: &Value) -> Option<Value> {
    let rows = markup.get("inline_keyboard")?.as_array()?;
    rows.iter()
        .any(|row| row.as_array().is_some_and(|buttons| !buttons.is_empty()))
        .then(|| markup.clone())
}

/// The PhotoSize array of a new photo: a thumbnail and the full size.
fn photo_sizes(chat_id: i64, message_id: i64, size: usize) -> Value {
    let chat = chat_id.unsigned_abs();
    json!([
        {"file_id": format!("AgAC-test-{chat}-{message_id}-s"), "file_unique_id": format!("AQAD{chat}x{message_id}s"),
         "file_size": size.clamp(1, 1_000), "width": 90, "height": 90},
        {"file_id": format!("AgAC-test-{chat}-{message_id}-x"), "file_unique_id": format!("AQAD{chat}x{message_id}x"),
         "file_size": size, "width": 800, "height": 800},
    ])
}

/// The router's single handler: `/bot{token}/{method}`.
async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    request: Request,
) -> Response {
    let arrived = Instant::now();
    let (params, files, read_error) = match read_params(request).await {
        Ok((params, files)) => (params, files, None),
        Err(error) => (Map::new(), Vec::new(), Some(error)),
    };
    let canonical = METHODS
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(&method));
    let name = canonical.map_or(method, str::to_owned);
    let authorized = bot.strip_prefix("bot") == Some(shared.config.token.as_str());

    let (outcome, at) = match (authorized, canonical, read_error) {
        (false, _, _) => (Err(ApiError::unauthorized()), arrived),
        (true, None, _) => (Err(ApiError::not_found()), arrived),
        (true, Some(_), Some(error)) => (Err(error), arrived),
        (true, Some("getUpdates"), None) => (
            get_updates(&shared, &Params(&params)).await.map(Reply::new),
            arrived,
        ),
        (true, Some(method), None) => {
            let mut state = shared.lock();
            let at = Instant::now();
            let sent_before = state.sent.len();
            let outcome = state.call(&shared.config, method, &Params(&params), &files, at);
            let record = record(&name, params, files, at, &outcome);
            state.requests.push(record);
            let sent_now = state.sent.len();
            drop(state);
            if sent_now > sent_before {
                shared.sent_changed.notify_waiters();
            }
            if matches!(method, "setWebhook" | "deleteWebhook") {
                shared.updates_changed.notify_waiters();
            }
            return answer(outcome);
        }
    };
    let record = record(&name, params, files, at, &outcome);
    shared.lock().requests.push(record);
    answer(outcome)
}

/// Answers URLs outside `/bot{token}/{method}` with 404, like Telegram.
async fn not_found(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let outcome = Err(ApiError::not_found());
    let record = record(uri.path(), Map::new(), Vec::new(), Instant::now(), &outcome);
    shared.lock().requests.push(record);
    answer(outcome)
}

fn record(
    method: &str,
    params: Map<String, Value>,
    files: Vec<UploadedFile>,
    at: Instant,
    outcome: &Result<Reply, ApiError>,
) -> RecordedRequest {
    let (status, description, retry_after) = match outcome {
        Ok(_) => (200, None, None),
        Err(error) => (
            error.code,
            Some(error.description.clone()),
            error.retry_after,
        ),
    };
    RecordedRequest {
        method: method.to_owned(),
        params: Value::Object(params),
        files,
        at,
        status,
        description,
        retry_after,
    }
}

fn answer(outcome: Result<Reply, ApiError>) -> Response {
    match outcome {
        Ok(reply) => {
            let mut body = json!({"ok": true, "result": reply.result});
            if let (Some(description), Some(fields)) = (reply.description, body.as_object_mut()) {
                fields.insert("description".into(), description.into());
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(error) => {
            let mut body =
                json!({"ok": false, "error_code": error.code, "description": error.description});
            if let (Some(retry_after), Some(fields)) = (error.retry_after, body.as_object_mut()) {
                fields.insert("parameters".into(), json!({"retry_after": retry_after}));
            }
            let status =
                StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(body)).into_response()
        }
    }
}

/// `getUpdates`, with its long poll.
async fn get_updates(shared: &Shared, params: &Params<'_>) -> Result<Value, ApiError> {
    let offset = params.integer("offset")?.unwrap_or(0);
    let limit =
        usize::try_from(params.integer("limit")?.unwrap_or(100).clamp(1, 100)).unwrap_or(100);
    let timeout = params
        .integer("timeout")?
        .unwrap_or(0)
        .clamp(0, 86_400)
        .unsigned_abs();
    let allowed_updates = parse_allowed_updates(params)?;
    let deadline = deadline_after(Duration::from_secs(timeout));
    let generation = {
        let mut state = shared.lock();
        if state.webhook.is_some() {
            return Err(webhook_conflict());
        }
        state.poll_generation += 1;
        state.set_allowed_updates(allowed_updates);
        state.confirm(offset);
        state.poll_generation
    };
    // Ends an older poll still waiting.
    shared.updates_changed.notify_waiters();
    loop {
        let notified = shared.updates_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut state = shared.lock();
            if state.poll_generation != generation {
                return Err(ApiError::conflict(
                    "terminated by other getUpdates request; make sure that only one bot instance is running",
                ));
            }
            if state.webhook.is_some() {
                return Err(webhook_conflict());
            }
            let batch = state.take_batch(offset, limit);
            if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Value::Array(batch));
            }
        }
        // Either something changed or the time is up; the loop tells which.
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

fn webhook_conflict() -> ApiError {
    ApiError::conflict(
        "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    )
}

/// Merges the query string and the body (JSON, form or multipart) into one object.
async fn read_params(
    request: Request,
) -> Result<(Map<String, Value>, Vec<UploadedFile>), ApiError> {
    let mut params = Map::new();
    let mut files = Vec::new();
    if request.uri().query().is_some() {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
            .map_err(|_| ApiError::bad("can't parse query string"))?;
        params.extend(
            pairs
                .into_iter()
                .map(|(key, value)| (key, Value::String(value))),
        );
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|_| ApiError::bad("can't parse multipart form data"))?;
        let broken = |error: axum::extract::multipart::MultipartError| {
            if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::bad("can't parse multipart form data")
            }
        };
        while let Some(field) = multipart.next_field().await.map_err(broken)? {
            let name = field.name().unwrap_or_default().to_owned();
            if let Some(file_name) = field.file_name().map(str::to_owned) {
                let content_type = field.content_type().map(str::to_owned);
                let size = field.bytes().await.map_err(broken)?.len();
                files.push(UploadedFile {
                    field: name,
                    file_name: Some(file_name),
                    content_type,
                    size,
                });
            } else {
                let value = field.text().await.map_err(broken)?;
                params.insert(name, Value::String(value));
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, &())
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large()
                } else {
                    ApiError::bad("can't parse form data")
                }
            })?;
        params.extend(
            pairs
                .into_iter()
                .map(|(key, value)| (key, Value::String(value))),
        );
    } else {
        let is_json = content_type.starts_with("application/json");
        let body = Bytes::from_request(request, &())
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large()
                } else {
                    ApiError::bad("can't read request body")
                }
            })?;
        if !body.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(fields)) => params.extend(fields),
                // Telegram ignores a body it was not told is JSON.
                _ if !is_json => {}
                _ => return Err(ApiError::bad("can't parse JSON object")),
            }
        }
    }
    Ok((params, files))
}
