//! The web chat widget: `/widget.js` (one script tag on the shop's pages) and its
//! WebSocket at `/ws/widget`.
//!
//! Protocol (JSON text frames). The client starts with
//! `{"type":"hello","site":KEY,"visitor":ID,"user_id"?,"user_hash"?,"lang"?,"after":N}`
//! and then sends `{"type":"message","id":CLIENT_ID,"text":…,"user_id"?,"user_hash"?}`.
//! The server answers `welcome`, then every stored message of the thread with an id above
//! `after` (`{"type":"message","id":N,"role":…,"text":…,"citations":[…],"client_id"?}`),
//! and from then on new messages as they are stored, `typing`, streamed `delta` pieces,
//! `rate` (ask for a 1–5 rating) and `error` frames.
//!
//! Resume: messages carry the database id; a client that reconnects says which id it saw
//! last and gets exactly what it missed, also after a server restart. A message the
//! client sends twice (it resends what was not confirmed) is stored and answered once:
//! its client id is the dedup key.

pub mod client;
pub mod identity;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use kefu_bot::agent::{Agent, Inbound, Outcome, ReplyKind};
use kefu_bot::shop::{Channel, Email, Role};
use kefu_bot::store::{Citation, CustomerId, Message, MessageId};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

pub use crate::hub::{Hub, HubEvent};
pub use identity::{IdentityError, Visitor};

/// The widget script, served as `/widget.js`.
pub const WIDGET_JS: &str = include_str!("widget.js");

/// Largest frame a widget may send. Messages are capped by the agent's own limit well
/// below this; anything larger is refused by the WebSocket layer.
const MAX_FRAME: usize = 16 * 1024;
/// Messages a connection may send in a burst, and how fast the allowance refills.
const BURST: f64 = 8.0;
const REFILL_PER_SEC: f64 = 1.0;
/// The first frame must arrive within this time.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// Messages sent per history page.
const HISTORY_PAGE: i64 = 500;

/// What the widget endpoint needs from the settings.
#[derive(Clone, Default)]
pub struct WidgetConfig {
    /// Public key in the `<script data-site=…>` tag; connections with another key are
    /// refused. `None` accepts any key (development).
    pub site_key: Option<String>,
    /// HMAC secret for `user_hash`; without it logged-in users are refused.
    pub identity_secret: Option<Vec<u8>>,
    /// Origins (`https://shop.example.com`, lower case, no trailing slash) whose pages may
    /// open a connection; empty allows any. Browsers always send `Origin` on WebSocket
    /// requests, so another site cannot embed the widget with this shop's key.
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the visitor's address.
    pub trusted_proxies: Vec<client::Network>,
}

impl std::fmt::Debug for WidgetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetConfig")
            .field("site_key", &self.site_key)
            .field(
                "identity_secret",
                &self.identity_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The widget endpoint's shared state.
#[derive(Debug)]
pub struct Widget {
    agent: Arc<Agent>,
    hub: Hub,
    config: WidgetConfig,
}

impl Widget {
    pub fn new(agent: Arc<Agent>, config: WidgetConfig) -> Self {
        Self {
            agent,
            hub: Hub::default(),
            config,
        }
    }

    /// Shares `hub` with the other channels, so a signed-in customer sees their messages
    /// there live.
    pub fn with_hub(mut self, hub: Hub) -> Self {
        self.hub = hub;
        self
    }

    /// The hub, for other parts of kefu that add messages to web threads (the console).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Routes `/widget.js` and `/ws/widget`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/widget.js", get(widget_js))
            .route("/ws/widget", get(upgrade))
            .with_state(self)
    }
}

async fn widget_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        WIDGET_JS,
    )
        .into_response()
}

async fn upgrade(
    State(widget): State<Arc<Widget>>,
    headers: axum::http::HeaderMap,
    extensions: axum::http::Extensions,
    ws: WebSocketUpgrade,
) -> Response {
    // The server adds the peer's address (`into_make_service_with_connect_info`).
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let address = client::client_address(peer, forwarded, &widget.config.trusted_proxies)
        .map(|a| a.to_string());
    let allowed = &widget.config.allowed_origins;
    if !allowed.is_empty() {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase());
        if !origin.is_some_and(|o| allowed.contains(&o)) {
            return (
                axum::http::StatusCode::FORBIDDEN,
                "this page's origin may not open the chat (web.allowed_origins)",
            )
                .into_response();
        }
    }
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            if let Err(e) = Session::run(widget, socket, address).await {
                tracing::debug!(error = %e, "widget connection ended");
            }
        })
}

// ----- frames -----

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Hello {
        #[serde(default)]
        site: Option<String>,
        visitor: String,
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        user_hash: Option<String>,
        #[serde(default)]
        lang: Option<String>,
        #[serde(default)]
        after: MessageId,
    },
    Message {
        id: String,
        text: String,
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        user_hash: Option<String>,
    },
    Ping,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame<'a> {
    Welcome {
        thread: &'a str,
        verified: bool,
        shop: &'a str,
    },
    Message {
        id: MessageId,
        role: &'static str,
        /// Where it was written, when not in the widget (a linked customer's Telegram
        /// conversation shows in their widget history).
        #[serde(skip_serializing_if = "Option::is_none")]
        channel: Option<&'static str>,
        text: &'a str,
        citations: &'a [Citation],
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
        at: String,
    },
    Typing {
        on: bool,
    },
    Delta {
        draft: u64,
        text: &'a str,
    },
    Rate,
    Pong,
    Error {
        code: &'static str,
        message: String,
    },
}

fn frame(f: &ServerFrame<'_>) -> WsMessage {
    // Serialising these plain structs cannot fail.
    WsMessage::Text(Utf8Bytes::from(
        serde_json::to_string(f).unwrap_or_default(),
    ))
}

type Turn = Pin<Box<dyn Future<Output = Result<Outcome, String>> + Send>>;

/// One widget connection.
struct Session {
    widget: Arc<Widget>,
    visitor: Visitor,
    thread: String,
    customer: Option<CustomerId>,
    lang: Option<String>,
    /// The last message id this connection has sent.
    cursor: MessageId,
    /// The visitor's network address, when known.
    address: Option<String>,
    allowance: f64,
    refilled: Instant,
}

impl Session {
    async fn run(
        widget: Arc<Widget>,
        socket: WebSocket,
        address: Option<String>,
    ) -> Result<(), String> {
        let (mut tx, mut rx) = socket.split();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, rx.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => t,
            Ok(_) => return Ok(()),
            Err(_) => return close(&mut tx, "timeout", "no hello frame").await,
        };
        let (site, visitor, user_id, user_hash, lang, after) =
            match serde_json::from_str::<ClientFrame>(&hello) {
                Ok(ClientFrame::Hello {
                    site,
                    visitor,
                    user_id,
                    user_hash,
                    lang,
                    after,
                }) => (site, visitor, user_id, user_hash, lang, after),
                Ok(_) => return close(&mut tx, "bad_frame", "the first frame must be hello").await,
                Err(e) => return close(&mut tx, "bad_frame", &format!("hello: {e}")).await,
            };
        if let Some(expected) = &widget.config.site_key
            && site.as_deref() != Some(expected.as_str())
        {
            return close(&mut tx, "bad_site", "unknown site key (data-site)").await;
        }
        let visitor = match identity::check(
            widget.config.identity_secret.as_deref(),
            &visitor,
            user_id.as_deref(),
            user_hash.as_deref(),
        ) {
            Ok(v) => v,
            Err(e) => return close(&mut tx, "bad_identity", &e.to_string()).await,
        };
        let customer = match customer_of(&widget.agent, &visitor).await {
            Ok(c) => c,
            Err(e) => return close(&mut tx, "unavailable", &e).await,
        };
        let thread = visitor.thread();
        let mut session = Session {
            widget: widget.clone(),
            visitor,
            thread,
            customer,
            lang: lang.filter(|l| !l.is_empty() && l.len() <= 35),
            cursor: after.max(0),
            address,
            allowance: BURST,
            refilled: Instant::now(),
        };
        let mut events = widget.hub.subscribe(&session.thread);
        // A signed-in customer's other channels (a linked Telegram chat) show live too.
        let customer_key = session.customer.map(crate::hub::customer_key);
        let mut elsewhere = customer_key.as_deref().map(|key| widget.hub.subscribe(key));
        let result = session
            .serve(&mut tx, &mut rx, &mut events, elsewhere.as_mut())
            .await;
        drop(events);
        drop(elsewhere);
        widget.hub.release(&session.thread);
        if let Some(key) = &customer_key {
            widget.hub.release(key);
        }
        result
    }

    async fn serve(
        &mut self,
        tx: &mut futures::stream::SplitSink<WebSocket, WsMessage>,
        rx: &mut futures::stream::SplitStream<WebSocket>,
        events: &mut tokio::sync::broadcast::Receiver<HubEvent>,
        mut elsewhere: Option<&mut tokio::sync::broadcast::Receiver<HubEvent>>,
    ) -> Result<(), String> {
        let shop = self.widget.agent.settings().shop_name.clone();
        send(
            tx,
            &ServerFrame::Welcome {
                thread: &self.thread,
                verified: self.customer.is_some(),
                shop: &shop,
            },
        )
        .await?;
        self.flush(tx).await?;

        let mut queue: VecDeque<Inbound> = VecDeque::new();
        let mut turn: Option<Turn> = None;
        loop {
            if turn.is_none()
                && let Some(inbound) = queue.pop_front()
            {
                self.widget
                    .hub
                    .publish(&self.thread, HubEvent::Typing(true));
                turn = Some(self.start_turn(inbound));
            }
            tokio::select! {
                incoming = rx.next() => {
                    let text = match incoming {
                        Some(Ok(WsMessage::Text(t))) => t,
                        Some(Ok(WsMessage::Close(_))) | None => return Ok(()),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return Err(e.to_string()),
                    };
                    match self.accept(&text) {
                        Ok(Some(inbound)) => queue.push_back(inbound),
                        Ok(None) => send(tx, &ServerFrame::Pong).await?,
                        Err((code, message)) => {
                            send(tx, &ServerFrame::Error { code, message }).await?;
                            if code == "bad_identity" {
                                return Ok(());
                            }
                        }
                    }
                }
                event = events.recv() => match event {
                    Ok(HubEvent::Messages) | Err(RecvError::Lagged(_)) => self.flush(tx).await?,
                    Ok(HubEvent::Typing(on)) => send(tx, &ServerFrame::Typing { on }).await?,
                    Ok(HubEvent::Delta { draft, text }) => send(tx, &ServerFrame::Delta { draft, text: &text }).await?,
                    Ok(HubEvent::AskRating) => {
                        self.flush(tx).await?;
                        send(tx, &ServerFrame::Rate).await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                event = recv_or_wait(&mut elsewhere) => match event {
                    Ok(HubEvent::Messages) | Err(RecvError::Lagged(_)) => self.flush(tx).await?,
                    // Typing and drafts elsewhere are that channel's own business.
                    Ok(_) => {}
                    Err(RecvError::Closed) => elsewhere = None,
                },
                done = until(&mut turn) => {
                    turn = None;
                    let hub = &self.widget.hub;
                    hub.publish(&self.thread, HubEvent::Typing(false));
                    match done {
                        Ok(outcome) => {
                            hub.publish(&self.thread, HubEvent::Messages);
                            if outcome.replies.iter().any(|r| r.kind == ReplyKind::AskRating) {
                                hub.publish(&self.thread, HubEvent::AskRating);
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, thread = %self.thread, "widget turn failed");
                            send(tx, &ServerFrame::Error { code: "unavailable", message: "the assistant is unavailable; please try again".into() }).await?;
                        }
                    }
                }
            }
        }
    }

    /// Checks a client frame: a message becomes the agent's input; `None` for a ping.
    fn accept(&mut self, raw: &str) -> Result<Option<Inbound>, (&'static str, String)> {
        let frame: ClientFrame =
            serde_json::from_str(raw).map_err(|e| ("bad_frame", format!("{e}")))?;
        let (id, text, user_id, user_hash) = match frame {
            ClientFrame::Ping => return Ok(None),
            ClientFrame::Hello { .. } => {
                return Err(("bad_frame", "hello was already sent".into()));
            }
            ClientFrame::Message {
                id,
                text,
                user_id,
                user_hash,
            } => (id, text, user_id, user_hash),
        };
        // The identity is proven again on every message: a page cannot switch users on an
        // open connection, and a hash that stopped being valid stops working at once.
        let visitor_id = match &self.visitor {
            Visitor::Anonymous { visitor } => visitor.clone(),
            Visitor::User { .. } => String::new(),
        };
        let claimed = identity::check(
            self.widget.config.identity_secret.as_deref(),
            if visitor_id.is_empty() {
                "anonymous"
            } else {
                &visitor_id
            },
            user_id.as_deref(),
            user_hash.as_deref(),
        )
        .map_err(|e| ("bad_identity", e.to_string()))?;
        if claimed != self.visitor {
            return Err((
                "bad_identity",
                "the message's user differs from the connection's".into(),
            ));
        }
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err((
                "bad_frame",
                "message id must be 1–64 characters of A-Z a-z 0-9 _ -".into(),
            ));
        }
        if text.trim().is_empty() {
            return Err(("bad_frame", "message text is empty".into()));
        }
        let now = Instant::now();
        self.allowance = (self.allowance
            + now.duration_since(self.refilled).as_secs_f64() * REFILL_PER_SEC)
            .min(BURST);
        self.refilled = now;
        if self.allowance < 1.0 {
            return Err(("slow_down", "too many messages; wait a moment".into()));
        }
        self.allowance -= 1.0;
        Ok(Some(Inbound {
            channel: Channel::Web,
            thread_id: self.thread.clone(),
            external_id: Some(format!("{}/{id}", self.thread)),
            text,
            customer: self.customer,
            lang_hint: self.lang.clone(),
            lang_fixed: false,
            client: self.address.clone(),
        }))
    }

    fn start_turn(&self, inbound: Inbound) -> Turn {
        let widget = self.widget.clone();
        let thread = self.thread.clone();
        Box::pin(async move {
            // Stored first, so the customer's own message shows (and is confirmed) before
            // the answer is written.
            let hub = widget.hub.clone();
            let draft = draft_id();
            let sink = move |piece: &str| {
                hub.publish(
                    &thread,
                    HubEvent::Delta {
                        draft,
                        text: piece.to_string(),
                    },
                );
            };
            widget
                .agent
                .handle_streaming(&inbound, Some(&sink))
                .await
                .map_err(|e| e.to_string())
        })
    }

    /// Sends every stored message of the thread this connection has not sent yet.
    async fn flush(
        &mut self,
        tx: &mut futures::stream::SplitSink<WebSocket, WsMessage>,
    ) -> Result<(), String> {
        loop {
            let store = self.widget.agent.store();
            let page = match self.customer {
                // A known customer sees their conversations on every channel.
                Some(customer) => {
                    store
                        .customer_messages(
                            Channel::Web,
                            &self.thread,
                            customer,
                            self.cursor,
                            HISTORY_PAGE,
                        )
                        .await
                }
                None => {
                    store
                        .thread_messages(Channel::Web, &self.thread, self.cursor, HISTORY_PAGE)
                        .await
                }
            }
            .map_err(|e| e.to_string())?;
            let full = page.len() as i64 == HISTORY_PAGE;
            for m in &page {
                if m.role == Role::System {
                    self.cursor = m.id;
                    continue;
                }
                send(tx, &message_frame(m, &self.thread)).await?;
                self.cursor = m.id;
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// The next event of an optional subscription; never, without one.
async fn recv_or_wait(
    events: &mut Option<&mut tokio::sync::broadcast::Receiver<HubEvent>>,
) -> Result<HubEvent, RecvError> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

fn message_frame<'a>(m: &'a Message, thread: &str) -> ServerFrame<'a> {
    let client_id = m
        .external_id
        .as_deref()
        .and_then(|e| e.strip_prefix(thread))
        .and_then(|e| e.strip_prefix('/'));
    ServerFrame::Message {
        id: m.id,
        role: m.role.as_str(),
        channel: (m.channel != Channel::Web).then(|| m.channel.as_str()),
        text: &m.body,
        citations: &m.citations,
        client_id,
        at: m.created_at.to_rfc3339(),
    }
}

/// Resolves when the turn in progress ends; never while there is none.
async fn until(turn: &mut Option<Turn>) -> Result<Outcome, String> {
    match turn {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

fn draft_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

async fn send(
    tx: &mut futures::stream::SplitSink<WebSocket, WsMessage>,
    f: &ServerFrame<'_>,
) -> Result<(), String> {
    tx.send(frame(f)).await.map_err(|e| e.to_string())
}

async fn close(
    tx: &mut futures::stream::SplitSink<WebSocket, WsMessage>,
    code: &'static str,
    message: &str,
) -> Result<(), String> {
    send(
        tx,
        &ServerFrame::Error {
            code,
            message: message.to_string(),
        },
    )
    .await?;
    // 4400-range close codes are the application's; the reason is limited to 123 bytes.
    let reason: String = code.chars().take(120).collect();
    let _ = tx
        .send(WsMessage::Close(Some(CloseFrame {
            code: 4400,
            reason: Utf8Bytes::from(reason),
        })))
        .await;
    Ok(())
}

/// The shop customer a logged-in widget user is: the web identity linked to their user
/// id, or, when the shop uses e-mail addresses as user ids, the customer with that
/// address (linked from then on).
async fn customer_of(agent: &Agent, visitor: &Visitor) -> Result<Option<CustomerId>, String> {
    let Visitor::User { user_id } = visitor else {
        return Ok(None);
    };
    let store = agent.store();
    if let Some(identity) = store
        .identity(Channel::Web, user_id)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(Some(identity.customer_id));
    }
    let Ok(email) = Email::parse(user_id) else {
        return Ok(None);
    };
    let Some(customer) = store
        .customer_by_email(&email)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    store
        .link_identity(Channel::Web, user_id, customer.id, true)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(customer.id))
}
