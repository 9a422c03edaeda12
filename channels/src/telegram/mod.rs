//! Telegram: private chats are support conversations through the agent; commands
//! (`/start` with a deep-link token, `/help`, `/lang`, `/human`, `/stop`), inline
//! keyboards for quick replies, ratings and language; long polling or a webhook checked
//! with its secret token; every update processed once; every send through the bot's one
//! outbound [`Limiter`], with 429 `retry_after` pausing all of the bot's sends.
//!
//! [`test_server`] is a local Bot API server for tests and benchmarks.

pub mod test_server;

pub use teloxide::types::ChatId;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kefu_bot::agent::{Agent, Answers, Inbound, ReplyKind};
use kefu_bot::shop::Channel;
use kefu_bot::store::{Citation, StoreError};
use serde_json::json;
use teloxide::payloads::{
    EditMessageTextSetters, GetUpdatesSetters, PinChatMessageSetters, SendMessageSetters,
    SendPhotoSetters, SetWebhookSetters,
};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, ChatAction, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message,
    ParseMode, Update, UpdateKind, User,
};
use teloxide::{Bot, RequestError};

use crate::hub::{Hub, HubEvent, customer_key};
use crate::limiter::{Limiter, Priority};

/// Path of the webhook route.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";
/// Telegram's header carrying the webhook's secret token.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Telegram's limit on a message's text, in UTF-16 code units.
const MAX_TEXT: usize = 4096;
/// Telegram's limit on a photo's caption, in UTF-16 code units.
pub const MAX_CAPTION: usize = 1024;
/// How often a reply being written is edited on screen at most.
const DRAFT_EDIT_EVERY: Duration = Duration::from_millis(1500);
/// Attempts for a send that fails on the network (429s do not count: they wait).
const NETWORK_ATTEMPTS: u32 = 4;

/// Languages `/lang` offers: code and name in that language.
const LANGUAGES: [(&str, &str); 8] = [
    ("en", "English"),
    ("zh-CN", "简体中文"),
    ("zh-TW", "繁體中文"),
    ("es", "Español"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("ja", "日本語"),
    ("pt", "Português"),
];

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("Telegram API: {0}")]
    Api(#[from] RequestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("agent: {0}")]
    Agent(String),
    #[error("bad api_url `{0}`: {1}")]
    Url(String, String),
}

/// How kefu receives updates.
#[derive(Clone)]
pub enum Mode {
    /// `getUpdates` long polling (no public address needed).
    Polling,
    /// Telegram posts updates to `url`; requests without `secret` are refused.
    Webhook { url: String, secret: String },
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Polling => f.write_str("Polling"),
            Mode::Webhook { url, .. } => f
                .debug_struct("Webhook")
                .field("url", url)
                .field("secret", &"[redacted]")
                .finish(),
        }
    }
}

/// What the adapter needs from the settings.
#[derive(Clone)]
pub struct TelegramConfig {
    pub token: String,
    /// Base URL of the Bot API (`https://api.telegram.org`, or a test server).
    pub api_url: String,
    pub mode: Mode,
    /// Answer in groups when mentioned (`@botname …`) or replied to.
    pub answer_in_groups: bool,
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &"[redacted]")
            .field("api_url", &self.api_url)
            .field("mode", &self.mode)
            .field("answer_in_groups", &self.answer_in_groups)
            .finish()
    }
}

/// The result of a marketing send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignSend {
    Sent(i32),
    /// The user sent `/stop` (or unsubscribed elsewhere): nothing was sent.
    OptedOut,
}

/// The sending side of the bot alone: what campaign delivery needs, without the agent.
/// Every send goes through the shared [`Limiter`].
#[derive(Clone)]
pub struct Outbound {
    bot: Bot,
    limiter: Arc<Limiter>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

impl Outbound {
    pub fn new(token: &str, api_url: &str, limiter: Arc<Limiter>) -> Result<Self, TelegramError> {
        let url = reqwest_url(api_url)?;
        Ok(Self {
            bot: Bot::new(token).set_api_url(url),
            limiter,
        })
    }

    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// Sends a text (HTML) to a chat within the bot's limits, splitting it at Telegram's
    /// length limit. A 429 pauses every send of the bot for `retry_after` and the message
    /// is sent after the pause; network errors are retried with backoff. Returns the id of
    /// the last message sent.
    pub async fn send(
        &self,
        chat: ChatId,
        html: &str,
        keyboard: Option<InlineKeyboardMarkup>,
        priority: Priority,
    ) -> Result<i32, TelegramError> {
        let parts = split(html, MAX_TEXT);
        let count = parts.len();
        let mut last = 0;
        for (i, part) in parts.into_iter().enumerate() {
            let markup = if i + 1 == count {
                keyboard.clone()
            } else {
                None
            };
            last = self.send_one(chat, &part, markup, priority).await?;
        }
        Ok(last)
    }

    /// Sends a photo from `url` with `caption_html` (at most [`MAX_CAPTION`] UTF-16
    /// units; see [`caption_fits`]) as one message, within the bot's limits like
    /// [`Outbound::send`]. Returns the message's id.
    pub async fn send_photo(
        &self,
        chat: ChatId,
        url: url::Url,
        caption_html: &str,
        keyboard: Option<InlineKeyboardMarkup>,
        priority: Priority,
    ) -> Result<i32, TelegramError> {
        self.with_retries(chat, priority, || {
            let mut request = self
                .bot
                .send_photo(chat, InputFile::url(url.clone()))
                .caption(caption_html.to_string())
                .parse_mode(ParseMode::Html);
            if let Some(k) = &keyboard {
                request = request.reply_markup(k.clone());
            }
            request
        })
        .await
    }

    async fn send_one(
        &self,
        chat: ChatId,
        html: &str,
        keyboard: Option<InlineKeyboardMarkup>,
        priority: Priority,
    ) -> Result<i32, TelegramError> {
        self.with_retries(chat, priority, || {
            let mut request = self
                .bot
                .send_message(chat, html.to_string())
                .parse_mode(ParseMode::Html);
            if let Some(k) = &keyboard {
                request = request.reply_markup(k.clone());
            }
            request
        })
        .await
    }

    /// Makes the request `build` gives within the bot's limits: a 429 pauses every send
    /// of the bot for `retry_after` and the request is made again after the pause;
    /// network errors are retried with backoff.
    async fn with_retries<R>(
        &self,
        chat: ChatId,
        priority: Priority,
        build: impl Fn() -> R,
    ) -> Result<i32, TelegramError>
    where
        R: std::future::IntoFuture<Output = Result<Message, RequestError>>,
    {
        let mut network_failures = 0;
        loop {
            self.limiter.acquire(chat.0, priority).await;
            match build().await {
                Ok(sent) => return Ok(sent.id.0),
                Err(RequestError::RetryAfter(s)) => {
                    tracing::warn!(
                        retry_after = s.seconds(),
                        "telegram: 429, pausing all sends"
                    );
                    self.limiter.pause(s.duration());
                }
                Err(RequestError::Network(e)) if network_failures + 1 < NETWORK_ATTEMPTS => {
                    network_failures += 1;
                    tracing::warn!(error = %e, attempt = network_failures, "telegram: send failed, retrying");
                    tokio::time::sleep(Duration::from_millis(250 << network_failures)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Replaces the text (HTML, at most one message long) and keyboard of a message the
    /// bot sent, within the bot's limits like [`Outbound::send`].
    pub async fn edit(
        &self,
        chat: ChatId,
        message: i32,
        html: &str,
        keyboard: Option<InlineKeyboardMarkup>,
        priority: Priority,
    ) -> Result<i32, TelegramError> {
        self.with_retries(chat, priority, || {
            let mut request = self
                .bot
                .edit_message_text(chat, teloxide::types::MessageId(message), html.to_string())
                .parse_mode(ParseMode::Html);
            if let Some(k) = &keyboard {
                request = request.reply_markup(k.clone());
            }
            request
        })
        .await
    }

    /// Pins a message in a group or channel, silently.
    pub async fn pin(&self, chat: ChatId, message: i32) -> Result<(), TelegramError> {
        self.bot
            .pin_chat_message(chat, teloxide::types::MessageId(message))
            .disable_notification(true)
            .await?;
        Ok(())
    }
}

/// The Telegram adapter.
pub struct Telegram {
    bot: Bot,
    out: Outbound,
    agent: Arc<Agent>,
    limiter: Arc<Limiter>,
    answers: Answers,
    config: TelegramConfig,
    username: String,
    /// One lock per chat: a chat's updates are handled in order.
    chats: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Told when a linked customer's conversation grows, so their open widget shows it.
    hub: Hub,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("username", &self.username)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Telegram {
    /// Checks the token (`getMe`) and registers the commands. In webhook mode it also
    /// registers the webhook; in polling mode it removes any webhook left from before.
    pub async fn connect(
        agent: Arc<Agent>,
        limiter: Arc<Limiter>,
        config: TelegramConfig,
    ) -> Result<Arc<Self>, TelegramError> {
        let url = reqwest_url(&config.api_url)?;
        let bot = Bot::new(config.token.clone()).set_api_url(url);
        let me = bot.get_me().await?;
        let commands = vec![
            teloxide::types::BotCommand::new("start", "Start, or subscribe to news again"),
            teloxide::types::BotCommand::new("help", "What I can do"),
            teloxide::types::BotCommand::new("lang", "Choose my language"),
            teloxide::types::BotCommand::new("human", "Talk to a person"),
            teloxide::types::BotCommand::new("stop", "Stop news and offers"),
        ];
        bot.set_my_commands(commands).await?;
        match &config.mode {
            Mode::Polling => {
                bot.delete_webhook().await?;
            }
            Mode::Webhook { url, secret } => {
                let target = reqwest_url(url)?;
                bot.set_webhook(target)
                    .secret_token(secret.clone())
                    .allowed_updates(allowed_updates())
                    .await?;
            }
        }
        let answers = Answers::builtin().map_err(|e| TelegramError::Agent(e.to_string()))?;
        Ok(Arc::new(Self {
            out: Outbound {
                bot: bot.clone(),
                limiter: limiter.clone(),
            },
            bot,
            agent,
            limiter,
            answers,
            username: me.username().to_string(),
            config,
            chats: Mutex::new(HashMap::new()),
            hub: Hub::default(),
        }))
    }

    /// The bot's username (without `@`).
    /// The hub this adapter tells about new messages of linked customers; give the
    /// same one to the web widget ([`crate::web::Widget::with_hub`]).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// Long polling until `shutdown` resolves. The offset is saved after each batch, so a
    /// restart neither skips nor re-asks for updates; a redelivered update is still
    /// answered once.
    pub async fn poll(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let store = self.agent.store().clone();
        let mut offset = match store.cursor(Channel::Telegram).await {
            Ok(o) => o.unwrap_or(0),
            Err(e) => {
                tracing::error!(error = %e, "telegram: cannot read the saved offset; starting from Telegram's");
                0
            }
        };
        let mut backoff = Duration::from_secs(1);
        loop {
            let request = self
                .bot
                .get_updates()
                .offset(i32::try_from(offset).unwrap_or(i32::MAX))
                .timeout(25)
                .allowed_updates(allowed_updates());
            let updates = tokio::select! {
                _ = &mut shutdown => return,
                r = request.into_future() => r,
            };
            match updates {
                Ok(updates) => {
                    backoff = Duration::from_secs(1);
                    let Some(last) = updates.iter().map(|u| u.id.0).max() else {
                        continue;
                    };
                    self.process_batch(&updates).await;
                    offset = i64::from(last) + 1;
                    if let Err(e) = store.set_cursor(Channel::Telegram, offset).await {
                        tracing::error!(error = %e, "telegram: cannot save the offset");
                    }
                }
                Err(RequestError::RetryAfter(s)) => {
                    tokio::time::sleep(s.duration()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "telegram: getUpdates failed");
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Handles a batch: chats in parallel, each chat's updates in order.
    pub async fn process_batch(&self, updates: &[Update]) {
        let mut by_chat: HashMap<i64, Vec<&Update>> = HashMap::new();
        for u in updates {
            let chat = u.chat().map_or(0, |c| c.id.0);
            by_chat.entry(chat).or_default().push(u);
        }
        futures::future::join_all(by_chat.into_values().map(|list| async move {
            for u in list {
                if let Err(e) = self.process(u).await {
                    tracing::error!(error = %e, update = u.id.0, "telegram: update failed");
                }
            }
        }))
        .await;
    }

    /// The webhook route, `POST /telegram/webhook`. The secret token is compared in
    /// constant time before anything is parsed or written; a wrong or missing token gets
    /// 403.
    pub fn webhook_router(self: Arc<Self>) -> Router {
        Router::new()
            .route(WEBHOOK_PATH, post(webhook))
            .with_state(self)
    }

    /// Handles one update, at most once: messages are deduplicated by the agent on the
    /// update id, commands and buttons by the recorded update id.
    pub async fn process(&self, update: &Update) -> Result<(), TelegramError> {
        let chat_lock = update.chat().map(|c| self.chat_lock(c.id.0));
        let _guard = match &chat_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let key = format!("u{}", update.id.0);
        match &update.kind {
            UpdateKind::Message(msg) => self.on_message(&key, msg).await,
            UpdateKind::CallbackQuery(q) => {
                // Always stop the button's spinner, even for a redelivered update.
                let _ = self.bot.answer_callback_query(q.id.clone()).await;
                let Some(msg) = q.message.as_ref().and_then(|m| m.regular_message()) else {
                    return Ok(());
                };
                if !msg.chat.is_private() {
                    return Ok(());
                }
                let data = q.data.as_deref().unwrap_or_default();
                self.on_button(&key, msg.chat.id, &q.from, data).await
            }
            _ => Ok(()),
        }
    }

    fn chat_lock(&self, chat: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut chats = self.chats.lock().unwrap_or_else(PoisonError::into_inner);
        if chats.len() > 10_000 {
            chats.retain(|_, l| Arc::strong_count(l) > 1);
        }
        chats.entry(chat).or_default().clone()
    }

    async fn on_message(&self, key: &str, msg: &Message) -> Result<(), TelegramError> {
        let (Some(text), Some(from)) = (msg.text(), msg.from.as_ref()) else {
            return Ok(());
        };
        if from.is_bot {
            return Ok(());
        }
        if msg.chat.is_private() {
            if let Some((command, arg)) = command(text, &self.username)
                && command != "human"
            {
                return self.on_command(key, msg.chat.id, from, &command, arg).await;
            }
            return self.turn(key, msg.chat.id, from, text, true).await;
        }
        if (msg.chat.is_group() || msg.chat.is_supergroup()) && self.config.answer_in_groups {
            let mention = format!("@{}", self.username);
            let to_bot = text.contains(&mention)
                || msg
                    .reply_to_message()
                    .and_then(|r| r.from.as_ref())
                    .is_some_and(|u| u.username.as_deref() == Some(self.username.as_str()));
            if to_bot {
                let question = text.replace(&mention, " ");
                return self
                    .turn(key, msg.chat.id, from, question.trim(), false)
                    .await;
            }
        }
        Ok(())
    }

    /// One customer message through the agent. In groups nobody is verified and order
    /// questions are sent to a private chat.
    async fn turn(
        &self,
        key: &str,
        chat: ChatId,
        from: &User,
        text: &str,
        private: bool,
    ) -> Result<(), TelegramError> {
        let store = self.agent.store();
        let user = from.id.0.to_string();
        let customer = if private {
            store
                .identity(Channel::Telegram, &user)
                .await?
                .filter(|i| i.verified)
                .map(|i| i.customer_id)
        } else {
            None
        };
        let (lang_hint, lang_fixed) = self.user_language(from).await?;
        let thread_id = if private {
            chat.0.to_string()
        } else {
            format!("{}:{}", chat.0, user)
        };
        let _ = self.bot.send_chat_action(chat, ChatAction::Typing).await;
        let inbound = Inbound {
            channel: Channel::Telegram,
            thread_id,
            external_id: Some(key.to_string()),
            text: text.to_string(),
            customer,
            lang_hint: Some(lang_hint),
            lang_fixed,
            client: None,
        };
        // In a private chat a streaming engine's reply shows as it is written: the first
        // sentences as a new message, edited as more arrive, and the whole reply last.
        let (pieces, incoming) = tokio::sync::mpsc::unbounded_channel::<String>();
        let agent = self.agent.clone();
        let answer = async move {
            let sink = move |piece: &str| {
                let _ = pieces.send(piece.to_string());
            };
            let sink: Option<&(dyn Fn(&str) + Send + Sync)> =
                if private { Some(&sink) } else { None };
            agent.handle_streaming(&inbound, sink).await
        };
        let (outcome, draft) = tokio::join!(answer, self.draft(chat, incoming));
        let outcome = outcome.map_err(|e| TelegramError::Agent(e.to_string()))?;
        if outcome.duplicate {
            return Ok(());
        }
        if let Some(customer) = customer {
            self.hub
                .publish(&customer_key(customer), HubEvent::Messages);
        }
        if !private && (outcome.awaiting_verification || outcome.verified) {
            let text = self.render(&outcome.language, "chat_private_only");
            self.send_text(chat, &text, None).await?;
            return Ok(());
        }
        let mut draft = draft;
        for reply in &outcome.replies {
            let keyboard = (reply.kind == ReplyKind::AskRating).then(rating_keyboard);
            let text = with_citations(
                &reply.text,
                &reply.citations,
                &self.render(&outcome.language, "source"),
            );
            // The streamed draft becomes the answer; an answer longer than one message
            // goes out whole instead, and the draft is deleted below.
            let fits = text.encode_utf16().count() <= MAX_TEXT;
            match draft.filter(|_| reply.kind == ReplyKind::Answer && fits) {
                Some(message) => {
                    draft = None;
                    self.out
                        .edit(chat, message, &text, keyboard, Priority::Support)
                        .await?;
                }
                None => {
                    self.send(chat, &text, keyboard, Priority::Support).await?;
                }
            }
        }
        // A draft no reply took over (the answer was replaced, or too long) goes away.
        if let Some(message) = draft
            && let Err(e) = self
                .bot
                .delete_message(chat, teloxide::types::MessageId(message))
                .await
        {
            tracing::warn!(error = %e, "telegram: unfinished draft not deleted");
        }
        Ok(())
    }

    /// Shows a reply as it is written: the first pieces as a new message, then edits at
    /// most every [`DRAFT_EDIT_EVERY`] (edits count against the chat's limits too).
    /// Returns the draft message's id once the pieces stop, if one was sent.
    async fn draft(
        &self,
        chat: ChatId,
        mut pieces: tokio::sync::mpsc::UnboundedReceiver<String>,
    ) -> Option<i32> {
        let mut text = String::new();
        let mut message: Option<i32> = None;
        let mut shown = 0;
        let mut edited = tokio::time::Instant::now();
        while let Some(piece) = pieces.recv().await {
            text.push_str(&piece);
            while let Ok(more) = pieces.try_recv() {
                text.push_str(&more);
            }
            let html = format!("{} …", escape_html(text.trim_end()));
            if html.encode_utf16().count() > MAX_TEXT {
                // Too long to show as one message: the whole reply comes at the end.
                continue;
            }
            match message {
                None => match self.out.send(chat, &html, None, Priority::Support).await {
                    Ok(id) => {
                        message = Some(id);
                        shown = text.len();
                        edited = tokio::time::Instant::now();
                    }
                    Err(e) => tracing::warn!(error = %e, "telegram: draft not sent"),
                },
                Some(id) if edited.elapsed() >= DRAFT_EDIT_EVERY && text.len() > shown => {
                    if let Err(e) = self
                        .out
                        .edit(chat, id, &html, None, Priority::Support)
                        .await
                    {
                        tracing::warn!(error = %e, "telegram: draft not updated");
                    }
                    shown = text.len();
                    edited = tokio::time::Instant::now();
                }
                Some(_) => {}
            }
        }
        message
    }

    async fn on_command(
        &self,
        key: &str,
        chat: ChatId,
        from: &User,
        command: &str,
        arg: &str,
    ) -> Result<(), TelegramError> {
        let store = self.agent.store();
        if !store.claim_update(Channel::Telegram, key).await? {
            return Ok(());
        }
        let user = from.id.0.to_string();
        let lang = self.ui_language(from).await?;
        match command {
            "start" if !arg.is_empty() => {
                let text = match store.redeem_link_token(arg).await? {
                    Some(customer) => {
                        store
                            .link_identity(Channel::Telegram, &user, customer, true)
                            .await?;
                        let name = store
                            .customer(customer)
                            .await?
                            .and_then(|c| c.name)
                            .unwrap_or_default();
                        self.answers.render(
                            &lang,
                            "chat_linked",
                            &json!({ "shop": self.shop(), "name": name }),
                        )
                    }
                    None => self.render(&lang, "chat_link_invalid"),
                };
                self.send_text(chat, &text, None).await?;
            }
            "start" => {
                let was = store.subscription(Channel::Telegram, &user).await?;
                if was.is_some_and(|s| !s.subscribed) {
                    store
                        .set_subscription(Channel::Telegram, &user, true, "telegram /start")
                        .await?;
                    let text = self.render(&lang, "chat_subscribed");
                    self.send_text(chat, &text, None).await?;
                }
                let greeting = self.render(&lang, "greeting");
                let keyboard = InlineKeyboardMarkup::new([[
                    InlineKeyboardButton::callback(self.render(&lang, "chat_track"), "q:track"),
                    InlineKeyboardButton::callback(self.render(&lang, "chat_human"), "q:human"),
                ]]);
                self.send_text(chat, &greeting, Some(keyboard)).await?;
            }
            "stop" => {
                store
                    .set_subscription(Channel::Telegram, &user, false, "telegram /stop")
                    .await?;
                let text = self.render(&lang, "chat_stopped");
                self.send_text(chat, &text, None).await?;
            }
            "lang" => {
                let pick = LANGUAGES.iter().find(|(code, _)| {
                    !arg.is_empty()
                        && (code.eq_ignore_ascii_case(arg) || code.split('-').next() == Some(arg))
                });
                match pick {
                    Some((code, _)) => self.set_language(chat, from, Some(code)).await?,
                    None if arg.eq_ignore_ascii_case("auto") => {
                        self.set_language(chat, from, None).await?;
                    }
                    None => {
                        let mut rows: Vec<Vec<InlineKeyboardButton>> = LANGUAGES
                            .chunks(2)
                            .map(|pair| {
                                pair.iter()
                                    .map(|(code, name)| {
                                        InlineKeyboardButton::callback(
                                            *name,
                                            format!("lang:{code}"),
                                        )
                                    })
                                    .collect()
                            })
                            .collect();
                        rows.push(vec![InlineKeyboardButton::callback(
                            self.render(&lang, "chat_lang_auto_button"),
                            "lang:auto",
                        )]);
                        let text = self.render(&lang, "chat_lang_pick");
                        self.send_text(chat, &text, Some(InlineKeyboardMarkup::new(rows)))
                            .await?;
                    }
                }
            }
            _ => {
                let text = self.render(&lang, "chat_help");
                self.send_text(chat, &text, None).await?;
            }
        }
        Ok(())
    }

    async fn on_button(
        &self,
        key: &str,
        chat: ChatId,
        from: &User,
        data: &str,
    ) -> Result<(), TelegramError> {
        if let Some(score) = data.strip_prefix("rate:") {
            return self.turn(key, chat, from, score, true).await;
        }
        if let Some(code) = data.strip_prefix("lang:") {
            if !self
                .agent
                .store()
                .claim_update(Channel::Telegram, key)
                .await?
            {
                return Ok(());
            }
            if code == "auto" {
                self.set_language(chat, from, None).await?;
            } else if let Some((code, _)) = LANGUAGES.iter().find(|(c, _)| *c == code) {
                self.set_language(chat, from, Some(code)).await?;
            }
            return Ok(());
        }
        if let Some(campaign) = data.strip_prefix("rsvp:") {
            return self.rsvp(key, chat, from, campaign).await;
        }
        match data {
            // The unsubscribe button of a campaign message: the same as /stop.
            "stop" => self.on_command(key, chat, from, "stop", "").await,
            "q:track" => {
                let lang = self.ui_language(from).await?;
                let text = self.render(&lang, "chat_track");
                self.turn(key, chat, from, &text, true).await
            }
            "q:human" => self.turn(key, chat, from, "/human", true).await,
            _ => Ok(()),
        }
    }

    /// An RSVP button of a livestream campaign: the linked customer gets its reminders.
    async fn rsvp(
        &self,
        key: &str,
        chat: ChatId,
        from: &User,
        campaign: &str,
    ) -> Result<(), TelegramError> {
        let store = self.agent.store();
        if !store.claim_update(Channel::Telegram, key).await? {
            return Ok(());
        }
        let user = from.id.0.to_string();
        let Some(identity) = store.identity(Channel::Telegram, &user).await? else {
            return Ok(());
        };
        if store.campaign(campaign).await?.is_none() {
            return Ok(());
        }
        store.rsvp(campaign, identity.customer_id).await?;
        let lang = self.ui_language(from).await?;
        let text = self.render(&lang, "chat_rsvp");
        self.send_text(chat, &text, None).await?;
        Ok(())
    }

    /// Saves the user's answer language (`None`: follow what they write in) and confirms
    /// it in that language.
    async fn set_language(
        &self,
        chat: ChatId,
        from: &User,
        code: Option<&str>,
    ) -> Result<(), TelegramError> {
        self.agent
            .store()
            .set_user_language(Channel::Telegram, &from.id.0.to_string(), code)
            .await?;
        let text = match code {
            Some(code) => self.render(code, "chat_lang_set"),
            None => self.render(&self.ui_language(from).await?, "chat_lang_auto"),
        };
        self.send_text(chat, &text, None).await?;
        Ok(())
    }

    /// The language to answer in, and whether the user chose it: their `/lang` choice
    /// (kept whatever they write in), else their Telegram app's (followed only until
    /// they write in another language).
    async fn user_language(&self, from: &User) -> Result<(String, bool), TelegramError> {
        let chosen = self
            .agent
            .store()
            .user_language(Channel::Telegram, &from.id.0.to_string())
            .await?;
        Ok(match chosen {
            Some(lang) => (lang, true),
            None => (
                from.language_code
                    .clone()
                    .unwrap_or_else(|| self.agent.settings().default_language.clone()),
                false,
            ),
        })
    }

    /// The language for the bot's own messages (commands, buttons).
    async fn ui_language(&self, from: &User) -> Result<String, TelegramError> {
        Ok(self.user_language(from).await?.0)
    }

    fn shop(&self) -> &str {
        &self.agent.settings().shop_name
    }

    fn render(&self, lang: &str, key: &str) -> String {
        self.answers
            .render(lang, key, &json!({ "shop": self.shop() }))
    }

    /// Sends plain text (escaped for Telegram's HTML) as a support reply.
    async fn send_text(
        &self,
        chat: ChatId,
        text: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<i32, TelegramError> {
        self.send(chat, &escape_html(text), keyboard, Priority::Support)
            .await
    }

    /// Sends a text (HTML) to a chat within the bot's limits; see [`Outbound::send`].
    pub async fn send(
        &self,
        chat: ChatId,
        html: &str,
        keyboard: Option<InlineKeyboardMarkup>,
        priority: Priority,
    ) -> Result<i32, TelegramError> {
        self.out.send(chat, html, keyboard, priority).await
    }

    /// A marketing message to a private chat: skipped when the user opted out (`/stop`),
    /// sent after any waiting support reply otherwise.
    pub async fn send_campaign(
        &self,
        chat: ChatId,
        html: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<CampaignSend, TelegramError> {
        let subscription = self
            .agent
            .store()
            .subscription(Channel::Telegram, &chat.0.to_string())
            .await?;
        if subscription.is_some_and(|s| !s.subscribed) {
            return Ok(CampaignSend::OptedOut);
        }
        let id = self.send(chat, html, keyboard, Priority::Campaign).await?;
        Ok(CampaignSend::Sent(id))
    }
}

async fn webhook(
    State(telegram): State<Arc<Telegram>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Mode::Webhook { secret, .. } = &telegram.config.mode else {
        return StatusCode::NOT_FOUND;
    };
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !crate::constant_time_eq(given, secret.as_bytes()) {
        return StatusCode::FORBIDDEN;
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "telegram webhook: not an update");
            return StatusCode::BAD_REQUEST;
        }
    };
    match telegram.process(&update).await {
        Ok(()) => StatusCode::OK,
        // Telegram delivers the update again later; the update id keeps it answered once.
        Err(e) => {
            tracing::error!(error = %e, update = update.id.0, "telegram webhook: update failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]
}

fn reqwest_url(raw: &str) -> Result<url::Url, TelegramError> {
    url::Url::parse(raw).map_err(|e| TelegramError::Url(raw.to_string(), e.to_string()))
}

/// `/command@botname arg` → (`command`, `arg`). Commands addressed to another bot are not
/// ours.
fn command<'a>(text: &'a str, username: &str) -> Option<(String, &'a str)> {
    let rest = text.strip_prefix('/')?;
    let (head, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (name, target) = head.split_once('@').unwrap_or((head, ""));
    if !target.is_empty() && !target.eq_ignore_ascii_case(username) {
        return None;
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    Some((name.to_ascii_lowercase(), arg.trim()))
}

fn rating_keyboard() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([(1..=5)
        .map(|n| InlineKeyboardButton::callback(format!("{n} ★"), format!("rate:{n}")))
        .collect::<Vec<_>>()])
}

pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The reply as Telegram HTML, with its sources as links.
fn with_citations(text: &str, citations: &[Citation], label: &str) -> String {
    let mut out = escape_html(text);
    if !citations.is_empty() {
        out.push_str("\n\n");
        out.push_str(&escape_html(label));
        out.push(':');
        for c in citations {
            out.push_str("\n• ");
            match c
                .url
                .as_deref()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            {
                Some(url) => out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape_html(url).replace('"', "&quot;"),
                    escape_html(&c.title)
                )),
                None => out.push_str(&escape_html(&c.title)),
            }
        }
    }
    out
}

/// Splits text into pieces of at most `max` UTF-16 code units, at line breaks where
/// possible, never inside an HTML tag or entity.
/// Whether `html` fits a photo's caption. Telegram counts the text without its markup;
/// the markup is counted here too, so a caption that fits here fits there.
pub fn caption_fits(html: &str) -> bool {
    html.encode_utf16().count() <= MAX_CAPTION
}

fn split(text: &str, max: usize) -> Vec<String> {
    let units = |s: &str| s.encode_utf16().count();
    if units(text) <= max {
        return vec![text.to_string()];
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        if units(&current) + units(line) > max && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        if units(line) <= max {
            current.push_str(line);
            continue;
        }
        // A single line longer than the limit: cut between characters, outside tags
        // and entities.
        let mut depth = false;
        for ch in line.chars() {
            if units(&current) + ch.len_utf16() > max && !depth {
                parts.push(std::mem::take(&mut current));
            }
            match ch {
                '<' | '&' => depth = true,
                '>' | ';' => depth = false,
                _ => {}
            }
            current.push(ch);
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            command("/start abc", "kefu_bot"),
            Some(("start".into(), "abc"))
        );
        assert_eq!(
            command("/Stop@kefu_bot", "kefu_bot"),
            Some(("stop".into(), ""))
        );
        assert_eq!(command("/stop@other_bot", "kefu_bot"), None);
        assert_eq!(command("hello /stop", "kefu_bot"), None);
        assert_eq!(command("/", "kefu_bot"), None);
        assert_eq!(
            command("/lang  de ", "kefu_bot"),
            Some(("lang".into(), "de"))
        );
    }

    #[test]
    fn secret_comparison() {
        assert!(crate::constant_time_eq(b"abc", b"abc"));
        assert!(!crate::constant_time_eq(b"abc", b"abd"));
        assert!(!crate::constant_time_eq(b"abc", b"abcd"));
        assert!(!crate::constant_time_eq(b"", b"a"));
    }

    #[test]
    fn html_and_sources() {
        let c = [
            Citation {
                document_id: "returns".into(),
                title: "Returns & refunds".into(),
                url: Some("https://shop.example/returns?a=1&b=\"2\"".into()),
            },
            Citation {
                document_id: "x".into(),
                title: "<b>x</b>".into(),
                url: Some("javascript:alert(1)".into()),
            },
        ];
        let html = with_citations("1 < 2 & 3 > 2", &c, "Source");
        assert_eq!(
            html,
            "1 &lt; 2 &amp; 3 &gt; 2\n\nSource:\n• <a href=\"https://shop.example/returns?a=1&amp;b=&quot;2&quot;\">Returns &amp; refunds</a>\n• &lt;b&gt;x&lt;/b&gt;"
        );
    }

    #[test]
    fn splitting_respects_the_limit_and_entities() {
        let text = format!("{}\n{}", "a".repeat(10), "b&amp;".repeat(5));
        let parts = split(&text, 12);
        assert!(
            parts.iter().all(|p| p.encode_utf16().count() <= 12),
            "{parts:?}"
        );
        assert_eq!(parts.concat(), text);
        assert!(
            parts
                .iter()
                .all(|p| p.matches('&').count() == p.matches(';').count()),
            "{parts:?}"
        );
        // Emoji are two UTF-16 units each.
        let emoji = "😀".repeat(5);
        let parts = split(&emoji, 4);
        assert_eq!(parts, vec!["😀😀", "😀😀", "😀"]);
    }
}
