//! The HTTP server: the web chat widget (`/widget.js`, `/ws/widget`), a status page, a
//! health check at `/healthz`, and with `--demo` a demo shop page with the widget on it;
//! request spans keyed on the matched route and graceful shutdown on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kefu_bot::agent::Agent;
use kefu_bot::store::Store;
use kefu_campaigns::deliver::Action;
use kefu_channels::hub::Hub;
use kefu_channels::limiter::Limiter;
use kefu_channels::telegram::Telegram;
use kefu_channels::web::{Widget, WidgetConfig, identity};
use serde_json::json;
use tower_http::trace::TraceLayer;

use crate::config::Settings;

struct AppState {
    store: Store,
    /// Where tracked and one-click links point, and their key.
    links: kefu_campaigns::deliver::LinkBase,
    settings: Settings,
    demo: bool,
    widget: WidgetConfig,
    started: std::time::Instant,
}

/// The demo page's site key when `web.site_key` is not set.
const DEMO_SITE_KEY: &str = "demo";

/// kefu's HTTP routes. `hub` is shared with the other channel adapters (Telegram), so
/// the widget shows a linked customer's messages there live.
pub async fn router(
    agent: Arc<Agent>,
    settings: Settings,
    demo: bool,
    hub: Hub,
) -> anyhow::Result<Router> {
    let mut widget = WidgetConfig {
        allowed_origins: settings
            .web
            .allowed_origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect(),
        site_key: settings.web.site_key.clone(),
        trusted_proxies: settings
            .web
            .trusted_proxies
            .iter()
            .map(|p| kefu_channels::web::client::Network::parse(p))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("kefu.toml [web] trusted_proxies: {e}"))?,
        identity_secret: settings
            .web
            .identity_secret
            .as_ref()
            .map(|s| s.expose().as_bytes().to_vec()),
    };
    if demo {
        widget
            .site_key
            .get_or_insert_with(|| DEMO_SITE_KEY.to_string());
        if widget.identity_secret.is_none() {
            // The demo page signs its sample users with a secret that lives as long as
            // the process.
            let mut secret = vec![0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            widget.identity_secret = Some(secret);
        }
    }
    let web_enabled = settings.web.enabled;
    let links = crate::campaign::link_base(&settings, agent.store()).await?;
    let state = Arc::new(AppState {
        links,
        store: agent.store().clone(),
        settings,
        demo,
        widget: widget.clone(),
        started: std::time::Instant::now(),
    });
    let mut app = Router::new()
        .route("/status", get(status_page))
        .route("/healthz", get(healthz))
        .route("/l/{link}", get(tracked_link))
        .route("/u/{link}", get(unsubscribe_page).post(unsubscribe))
        .route("/rsvp/{link}", get(rsvp_page).post(rsvp))
        .route("/api/events", axum::routing::post(shop_events))
        .route(
            "/api/campaigns",
            get(
                |State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap| async move {
                    crate::console::campaigns_api(&state.store, &state.settings, &headers).await
                },
            ),
        )
        .route(
            "/console/campaigns",
            get(|State(state): State<Arc<AppState>>| async move {
                crate::console::campaigns_page(&state.settings)
            }),
        );
    app = if demo {
        app.route("/", get(demo_page))
    } else {
        app.route("/", get(status_page))
    };
    let mut app = app.with_state(state);
    if demo || web_enabled {
        app = app.merge(Arc::new(Widget::new(agent, widget).with_hub(hub)).router());
    }
    Ok(
        app.layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or("unmatched");
            tracing::info_span!("http", method = %req.method(), path)
        })),
    )
}

pub async fn serve(
    agent: Agent,
    settings: Settings,
    addr: SocketAddr,
    demo: bool,
) -> anyhow::Result<()> {
    let store = agent.store().clone();
    let agent = Arc::new(agent);
    let mut senders: Vec<Arc<dyn kefu_campaigns::deliver::Sender>> = Vec::new();
    let telegram = match settings
        .telegram_config()
        .map_err(|e| anyhow::anyhow!("kefu.toml [telegram]: {e}"))?
    {
        None => None,
        Some(config) => {
            // One limiter for the bot: support replies and campaign traffic share it.
            let limiter = Arc::new(Limiter::new(settings.telegram_limits()));
            senders.push(Arc::new(crate::campaign::TelegramSender {
                out: kefu_channels::telegram::Outbound::new(
                    &config.token,
                    &config.api_url,
                    limiter.clone(),
                )?,
                store: store.clone(),
            }));
            let telegram = Telegram::connect(agent.clone(), limiter, config)
                .await
                .context(
                    "connecting to Telegram (check telegram.bot_token and telegram.api_url)",
                )?;
            tracing::info!(bot = telegram.username(), "telegram connected");
            Some(telegram)
        }
    };
    let webhook = settings.telegram.mode == "webhook";
    let settings_for_campaigns = settings.clone();
    let hub = telegram
        .as_ref()
        .map(|t| t.hub().clone())
        .unwrap_or_default();
    if settings.web.enabled || demo {
        // Campaign messages in the chat widget show at once in open widgets.
        senders.push(Arc::new(crate::campaign::WebSender {
            store: store.clone(),
            hub: Some(hub.clone()),
        }));
    }
    let mut app = router(agent, settings, demo, hub).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut poller = None;
    if let Some(telegram) = telegram {
        if webhook {
            app = app.merge(telegram.webhook_router());
        } else {
            let mut stopped = stopped.clone();
            poller = Some(tokio::spawn(telegram.poll(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })));
        }
    }
    senders
        .extend(crate::campaign::mail_and_discord_senders(&settings_for_campaigns, &store).await?);
    let options = crate::campaign::dispatch_options(&settings_for_campaigns, &store).await?;
    // Campaign delivery: due outbox rows go out through the same senders and limiters.
    let dispatcher = (!senders.is_empty()).then(|| {
        let dispatcher = Arc::new(kefu_campaigns::deliver::Dispatcher::new(
            store.clone(),
            senders,
            options,
        ));
        let mut stopped = stopped.clone();
        tokio::spawn(dispatcher.run(None, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }))
    });
    // RFM scores and churn risk for reports: recomputed a minute after start, then daily.
    let scores = {
        let store = store.clone();
        let window = settings_for_campaigns.campaigns.rfm_window_days;
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let wait = if first { 60 } else { 24 * 3600 };
                first = false;
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                if let Err(e) =
                    kefu_campaigns::segments::recompute(&store, chrono::Utc::now(), window).await
                {
                    tracing::error!(error = %e, "recomputing RFM scores failed");
                }
            }
        })
    };
    // Recurring and triggered campaigns: their due rows are added every five minutes.
    let schedule = {
        let store = store.clone();
        let settings = settings_for_campaigns.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = campaign_tick(&store, &settings).await {
                    tracing::error!(error = %e, "scheduling campaigns failed");
                }
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(300)) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
        })
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // Scripts and tests read this line to find the port.
    println!("kefu listening on http://{local}");
    tracing::info!(%local, backend = store.backend().as_str(), "serving");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
    .context("server error")?;
    let _ = stop.send(true);
    if let Some(poller) = poller {
        let _ = poller.await;
    }
    let _ = scores.await;
    let _ = schedule.await;
    if let Some(dispatcher) = dispatcher {
        match dispatcher.await {
            Ok(Err(e)) => tracing::error!(error = %e, "campaign delivery stopped"),
            Err(e) => tracing::error!(error = %e, "campaign delivery stopped"),
            Ok(Ok(())) => {}
        }
    }
    drop(stopped);
    store.close().await;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn campaign_tick(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let segments = kefu_campaigns::segments::Segments::load(&settings.campaigns.segments_file)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_rfm_window_days(settings.campaigns.rfm_window_days);
    let plan_settings = crate::campaign::plan_settings(settings)?;
    let tick = kefu_campaigns::triggers::tick(store, &segments, &plan_settings, chrono::Utc::now())
        .await?;
    for (campaign, rows) in tick.added {
        tracing::info!(campaign, rows, "campaign: new messages planned");
    }
    for (campaign, why) in tick.failed {
        tracing::warn!(campaign, why, "campaign: nothing planned");
    }
    Ok(())
}

/// A tracked campaign link: records the click and redirects to the link's target.
async fn tracked_link(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(link): axum::extract::Path<String>,
) -> Response {
    let Some((row, n)) = state.links.parse(&link) else {
        return (StatusCode::NOT_FOUND, "unknown link").into_response();
    };
    let payload = match state.store.record_click(row, n as i64).await {
        Ok(Some(p)) => p,
        Ok(None) => return (StatusCode::NOT_FOUND, "unknown link").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "tracked link: database unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again in a moment").into_response();
        }
    };
    let target = serde_json::from_str::<kefu_campaigns::deliver::Payload>(&payload)
        .ok()
        .and_then(|p| p.links().get(n).map(|u| u.to_string()))
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    match target {
        Some(url) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        None => (StatusCode::NOT_FOUND, "unknown link").into_response(),
    }
}

/// The outbox row an action link is for, or the page to answer with.
async fn action_row(
    state: &AppState,
    action: Action,
    link: &str,
) -> Result<kefu_bot::store::OutboxRow, Response> {
    let gone = || {
        small_page(
            StatusCode::NOT_FOUND,
            &state.settings.shop.name,
            "This link is not valid",
            "It may have been copied incompletely.",
            None,
        )
    };
    let Some(row) = state.links.parse_action(action, link) else {
        return Err(gone());
    };
    match state.store.outbox_row(row).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => Err(gone()),
        Err(e) => Err(unavailable("campaign link", &e)),
    }
}

/// The answer when the database cannot be reached: logged, and "try again".
fn unavailable(what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what}: database unavailable");
    (StatusCode::SERVICE_UNAVAILABLE, "try again in a moment").into_response()
}

/// A one-message page; `button` is a form posting back to the same address. Link
/// scanners fetch with GET, so only the POST acts.
fn small_page(
    status: StatusCode,
    shop: &str,
    title: &str,
    text: &str,
    button: Option<&str>,
) -> Response {
    let form = button
        .map(|label| {
            format!(
                "<form method=\"post\"><button type=\"submit\" style=\"font-size:16px;padding:10px 18px\">{}</button></form>",
                escape(label)
            )
        })
        .unwrap_or_default();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · {shop}</title></head><body style=\"font-family:Helvetica,Arial,sans-serif;max-width:520px;margin:48px auto;padding:0 16px\">\
         <h1 style=\"font-size:22px\">{title}</h1><p>{text}</p>{form}</body></html>",
        title = escape(title),
        shop = escape(shop),
        text = escape(text),
    );
    (status, Html(page)).into_response()
}

async fn unsubscribe_page(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(link): axum::extract::Path<String>,
) -> Result<Response, Response> {
    let row = action_row(&state, Action::Unsubscribe, &link).await?;
    let shop = &state.settings.shop.name;
    Ok(small_page(
        StatusCode::OK,
        shop,
        "Unsubscribe?",
        &format!(
            "You will get no more news and offers from {shop} on {}. Replies to your own questions and order updates still reach you.",
            channel_name(&row.channel)
        ),
        Some("Unsubscribe"),
    ))
}

fn channel_name(channel: &str) -> &str {
    match channel {
        "email" => "e-mail",
        "discord" => "Discord",
        "telegram" => "Telegram",
        "web" => "this site's chat",
        other => other,
    }
}

/// One-click unsubscribe (RFC 8058: mail clients POST `List-Unsubscribe=One-Click`).
async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(link): axum::extract::Path<String>,
) -> Result<Response, Response> {
    let row = action_row(&state, Action::Unsubscribe, &link).await?;
    let Ok(channel) = row.channel.parse::<kefu_bot::shop::Channel>() else {
        return Err((StatusCode::NOT_FOUND, "unknown channel").into_response());
    };
    let done = async {
        state
            .store
            .set_subscription(channel, &row.address, false, "unsubscribe link")
            .await?;
        if let Some(customer) = row.customer_id {
            state
                .store
                .set_consent(
                    customer,
                    &kefu_bot::store::Consent {
                        channel,
                        granted: false,
                        source: "unsubscribe link".into(),
                        at: chrono::Utc::now(),
                    },
                )
                .await?;
        }
        Ok::<_, kefu_bot::store::StoreError>(())
    };
    done.await.map_err(|e| unavailable("unsubscribe", &e))?;
    let shop = &state.settings.shop.name;
    Ok(small_page(
        StatusCode::OK,
        shop,
        "You are unsubscribed",
        &format!(
            "{shop} sends you no more news and offers on {}.",
            channel_name(&row.channel)
        ),
        None,
    ))
}

async fn rsvp_page(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(link): axum::extract::Path<String>,
) -> Result<Response, Response> {
    let row = action_row(&state, Action::Rsvp, &link).await?;
    let name = match state.store.campaign(&row.campaign_id).await {
        Ok(Some(c)) => c.name,
        _ => row.campaign_id.clone(),
    };
    Ok(small_page(
        StatusCode::OK,
        &state.settings.shop.name,
        &name,
        "Get a reminder before it starts, and a message when it is live.",
        Some("Remind me"),
    ))
}

async fn rsvp(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(link): axum::extract::Path<String>,
) -> Result<Response, Response> {
    let row = action_row(&state, Action::Rsvp, &link).await?;
    let Some(customer) = row.customer_id else {
        return Err((
            StatusCode::NOT_FOUND,
            "this message was not sent to a customer",
        )
            .into_response());
    };
    state
        .store
        .rsvp(&row.campaign_id, customer)
        .await
        .map_err(|e| unavailable("RSVP", &e))?;
    Ok(small_page(
        StatusCode::OK,
        &state.settings.shop.name,
        "You're on the list",
        "We will remind you before it starts.",
        None,
    ))
}

/// The shop's events (carts, checkouts, restocks, stock alerts): one JSON object or a
/// list, with `Authorization: Bearer {http.events_token}`. All are recorded or none.
async fn shop_events(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(token) = state
        .settings
        .http
        .events_token
        .as_ref()
        .filter(|t| !t.expose().trim().is_empty())
    else {
        return (
            StatusCode::NOT_FOUND,
            "set http.events_token to receive shop events",
        )
            .into_response();
    };
    if !crate::console::bearer_matches(&headers, token.expose()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "wrong or missing bearer token" })),
        )
            .into_response();
    }
    let values = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(list)) => list,
        Ok(one @ serde_json::Value::Object(_)) => vec![one],
        Ok(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "send an event object or a list of them" })),
            )
                .into_response();
        }
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": format!("not JSON: {e}") })),
            )
                .into_response();
        }
    };
    let mut reader = kefu_bot::import::EventReader::new(&state.store);
    let mut events = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        match reader.event(value).await {
            Ok(e) => events.push(e),
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": format!("event {}: {e}", i + 1) })),
                )
                    .into_response();
            }
        }
    }
    if let Err(e) = state.store.record_events(&events).await {
        tracing::error!(error = %e, "shop events: database unavailable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "try again in a moment" })),
        )
            .into_response();
    }
    Json(json!({ "recorded": events.len() })).into_response()
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ok", "database": state.store.backend().as_str(), "version": env!("CARGO_PKG_VERSION") })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "error", "code": "database_unavailable" }))).into_response()
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn status_page(State(state): State<Arc<AppState>>) -> Response {
    let stats = match state.store.stats().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "status page: cannot read counts");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
        }
    };
    let s = &state.settings;
    let channel = |name: &str, on: bool| {
        format!(
            "<li>{name}: <b>{}</b></li>",
            if on { "on in settings" } else { "off" }
        )
    };
    let channels = [
        channel("Web chat widget", s.web.enabled),
        channel("Telegram", s.telegram.enabled),
        channel("Discord", s.discord.enabled),
        channel("E-mail", s.email.enabled),
    ]
    .join("");
    let engine = match &s.llm.model {
        Some(model) if s.llm.base_url.is_some() => format!("LLM <code>{}</code>", escape(model)),
        _ => "offline answer engine (no LLM configured)".to_string(),
    };
    let rows = [
        ("FAQ and policy articles", stats.documents),
        ("Products", stats.products),
        ("Customers", stats.customers),
        ("Channel identities", stats.identities),
        ("Orders", stats.orders),
        ("Order lines", stats.order_lines),
        ("Parcels", stats.shipments),
        ("Tracking events", stats.tracking_events),
        ("Conversations", stats.conversations),
        ("Open handoffs", stats.open_handoffs),
    ]
    .iter()
    .map(|(k, v)| format!("<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>"))
    .collect::<String>();
    let uptime = state.started.elapsed().as_secs();
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kefu — {shop}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2a24}}
h1{{margin-bottom:0}}table{{border-collapse:collapse}}th,td{{padding:.2rem 1rem .2rem 0;text-align:left}}td{{font-variant-numeric:tabular-nums}}
.ok{{color:#176c3a}}code{{background:#eef3ef;padding:0 .3rem}}</style></head>
<body><h1>kefu 客服</h1><p class="ok">Running — version {version}, up {uptime} s{demo}.</p>
<h2>{shop}</h2><table>{rows}</table>
<h2>Channel settings</h2><ul>{channels}</ul>
<h2>Answers</h2><p>{engine}</p>
<h2>Storage</h2><p>{backend} database.</p>
<p><a href="/healthz">/healthz</a></p></body></html>"#,
        shop = escape(shop_name(&state)),
        version = env!("CARGO_PKG_VERSION"),
        demo = if state.demo { ", demo mode" } else { "" },
        backend = state.store.backend().as_str(),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

#[derive(serde::Deserialize)]
struct DemoQuery {
    /// A demo customer's e-mail address: the page embeds the widget as that logged-in user.
    #[serde(rename = "as")]
    as_customer: Option<String>,
    /// The page's language (`ar` shows the right-to-left layout).
    lang: Option<String>,
}

/// Demo customers the page offers to log in as (they exist in every demo shop).
const DEMO_PEOPLE: [(&str, &str); 4] = [
    ("Emily Johnson", "emily.johnson@example.com"),
    ("Wang Fang", "wang.fang@example.com"),
    ("Lucía García", "lucia.garcia@example.com"),
    ("Yuki Tanaka", "yuki.tanaka@example.com"),
];

const DEMO_LANGUAGES: [(&str, &str); 7] = [
    ("en", "English"),
    ("zh", "中文"),
    ("es", "Español"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("ja", "日本語"),
    ("ar", "العربية"),
];

/// The demo shop's home page with the widget on it: products, and links to chat as a
/// guest or as a logged-in demo customer, in any of the widget's languages.
async fn demo_page(State(state): State<Arc<AppState>>, Query(q): Query<DemoQuery>) -> Response {
    let lang = q
        .lang
        .as_deref()
        .filter(|l| DEMO_LANGUAGES.iter().any(|(code, _)| code == l))
        .unwrap_or("en");
    let dir = if lang == "ar" { "rtl" } else { "ltr" };
    let user = q
        .as_customer
        .as_deref()
        .and_then(|email| DEMO_PEOPLE.iter().find(|(_, e)| *e == email));
    let identity = match (user, &state.widget.identity_secret) {
        (Some((_, email)), Some(secret)) => format!(
            r#" data-user-id="{}" data-user-hash="{}""#,
            escape(email),
            identity::sign(secret, email)
        ),
        _ => String::new(),
    };
    let products = match state.store.products().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "demo page: cannot read products");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
        }
    };
    let cards: String = products
        .iter()
        .filter(|p| p.published)
        .take(8)
        .map(|p| {
            let title = p
                .translations
                .iter()
                .find(|t| t.lang == lang)
                .or_else(|| p.translations.iter().find(|t| t.lang == "en"))
                .or_else(|| p.translations.first())
                .map_or(p.handle.as_str(), |t| t.title.as_str());
            let price = p
                .variants
                .first()
                .map(|v| format!("{}.{:02} {}", v.price / 100, v.price % 100, v.currency))
                .unwrap_or_default();
            format!(
                "<li><h3>{}</h3><p>{}</p></li>",
                escape(title),
                escape(&price)
            )
        })
        .collect();
    let who = match user {
        Some((name, email)) => format!("Logged in as <b>{}</b> ({})", escape(name), escape(email)),
        None => "Browsing as a guest".to_string(),
    };
    let people: String = DEMO_PEOPLE
        .iter()
        .map(|(name, email)| {
            format!(
                r#"<a href="/?as={}&amp;lang={lang}">{}</a>"#,
                escape(email),
                escape(name)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let languages: String = DEMO_LANGUAGES
        .iter()
        .map(|(code, name)| {
            let as_param = user
                .map(|(_, e)| format!("as={}&amp;", escape(e)))
                .unwrap_or_default();
            format!(r#"<a href="/?{as_param}lang={code}" lang="{code}">{name}</a>"#)
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let site = state.widget.site_key.as_deref().unwrap_or(DEMO_SITE_KEY);
    let page = format!(
        r#"<!doctype html>
<html lang="{lang}" dir="{dir}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{shop} — demo shop</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1d2a24;background:#fbfaf7}}
header{{background:#1f6f50;color:#fff;padding:1.5rem 2rem}}header h1{{margin:0}}main{{max-width:60rem;margin:0 auto;padding:1rem 2rem 6rem}}
ul.products{{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:1rem}}
ul.products li{{background:#fff;border:1px solid #e3e0d8;border-radius:10px;padding:1rem}}ul.products h3{{margin:0 0 .5rem;font-size:1rem}}
.bar{{background:#fff;border:1px solid #e3e0d8;border-radius:10px;padding:.75rem 1rem;margin:1rem 0}}a{{color:#17603f}}</style></head>
<body><header><h1>{shop}</h1><p>Teaware, tea and slow mornings — a demo shop for kefu.</p></header>
<main><div class="bar"><p id="who">{who}. Chat as: <a href="/?lang={lang}">a guest</a> · {people}</p><p>Language: {languages}</p>
<p>Ask the chat bubble anything: “How long does shipping take?”, “Where is my order?”, “I want to return my teapot”. <a href="/status">Server status</a></p></div>
<h2>Products</h2><ul class="products">{cards}</ul></main>
<script src="/widget.js" data-site="{site}" data-lang="{lang}"{identity} async></script>
</body></html>"#,
        shop = escape(shop_name(&state)),
        site = escape(site),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

fn shop_name(state: &AppState) -> &str {
    &state.settings.shop.name
}
