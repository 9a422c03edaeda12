//! The HTTP server: a status page at `/` and a health check at `/healthz`, with request
//! spans keyed on the matched route and graceful shutdown on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kefu_bot::store::Store;
use serde_json::json;
use tower_http::trace::TraceLayer;

use crate::config::Settings;

struct AppState {
    store: Store,
    settings: Settings,
    demo: bool,
    started: std::time::Instant,
}

pub fn router(store: Store, settings: Settings, demo: bool) -> Router {
    let state = Arc::new(AppState {
        store,
        settings,
        demo,
        started: std::time::Instant::now(),
    });
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .with_state(state)
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or("unmatched");
            tracing::info_span!("http", method = %req.method(), path)
        }))
}

pub async fn serve(
    store: Store,
    settings: Settings,
    addr: SocketAddr,
    demo: bool,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // Scripts and tests read this line to find the port.
    println!("kefu listening on http://{local}");
    tracing::info!(%local, backend = store.backend().as_str(), "serving");
    let app = router(store.clone(), settings, demo);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("server error")?;
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
        shop = escape(if state.demo && s.shop.name == "My shop" {
            "Lotus & Pine (demo shop)"
        } else {
            &s.shop.name
        }),
        version = env!("CARGO_PKG_VERSION"),
        demo = if state.demo { ", demo mode" } else { "" },
        backend = state.store.backend().as_str(),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
