//! The staff console's campaign view: `GET /console/campaigns` shows every campaign's
//! delivery as it happens (refreshed every two seconds), from `GET /api/campaigns`.
//! Both need `http.console_token`: the API as `Authorization: Bearer …`, the page asks
//! for it once per browser tab. Without the setting both are off.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use kefu_bot::store::{Store, row_state};
use serde::Serialize;
use serde_json::json;

use crate::config::Settings;

/// One campaign's progress.
#[derive(Debug, Serialize)]
pub struct Progress {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub planned_for: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Rows by state (`pending`, `sending`, `sent`, `skipped`, `failed`, `cancelled`).
    pub rows: BTreeMap<String, i64>,
    pub total: i64,
    /// Share of rows that are done (sent, skipped, failed or cancelled), 0–1.
    pub done: f64,
    /// Why rows were not sent: (state, reason, rows).
    pub problems: Vec<(String, String, i64)>,
}

/// Every campaign's progress, newest plan first.
pub async fn progress(store: &Store) -> kefu_bot::store::Result<Vec<Progress>> {
    let mut out = Vec::new();
    let mut campaigns = store.campaigns().await?;
    campaigns.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    for c in campaigns {
        let mut rows: BTreeMap<String, i64> = BTreeMap::new();
        for x in store.outbox_counts(&c.id).await? {
            *rows.entry(x.state).or_default() += x.rows;
        }
        let total: i64 = rows.values().sum();
        let open = rows.get(row_state::PENDING).copied().unwrap_or(0)
            + rows.get(row_state::SENDING).copied().unwrap_or(0);
        let done = if total == 0 {
            1.0
        } else {
            (total - open) as f64 / total as f64
        };
        out.push(Progress {
            problems: store.outbox_problems(&c.id).await?,
            id: c.id,
            name: c.name,
            kind: c.kind,
            state: c.state.as_str().to_owned(),
            planned_for: c.planned_for,
            finished_at: c.finished_at,
            rows,
            total,
            done,
        });
    }
    Ok(out)
}

/// Whether `Authorization: Bearer …` carries `secret` (compared in constant time).
pub fn bearer_matches(headers: &HeaderMap, secret: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    !given.is_empty() && kefu_channels::constant_time_eq(given.as_bytes(), secret.as_bytes())
}

/// The answer to give when the request does not carry the console token.
pub fn refused(settings: &Settings, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = settings
        .http
        .console_token
        .as_ref()
        .filter(|t| !t.expose().trim().is_empty())
    else {
        return Some(
            (
                StatusCode::NOT_FOUND,
                "set http.console_token to use the console",
            )
                .into_response(),
        );
    };
    if bearer_matches(headers, token.expose()) {
        None
    } else {
        Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "wrong or missing console token" })),
            )
                .into_response(),
        )
    }
}

/// `GET /api/campaigns`.
pub async fn campaigns_api(store: &Store, settings: &Settings, headers: &HeaderMap) -> Response {
    if let Some(answer) = refused(settings, headers) {
        return answer;
    }
    match progress(store).await {
        Ok(p) => Json(json!({ "campaigns": p })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "try again in a moment" })),
            )
                .into_response()
        }
    }
}

/// `GET /console/campaigns`.
pub fn campaigns_page(settings: &Settings) -> Response {
    if settings
        .http
        .console_token
        .as_ref()
        .is_none_or(|t| t.expose().trim().is_empty())
    {
        return (
            StatusCode::NOT_FOUND,
            "set http.console_token to use the console",
        )
            .into_response();
    }
    Html(PAGE.replace("{{shop}}", &html_escape(&settings.shop.name))).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Campaigns · {{shop}} · kefu console</title>
<style>
body{font-family:system-ui,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{font-size:12px;text-transform:uppercase;color:#666}.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#eee;border-radius:3px;height:10px;width:160px;overflow:hidden}.bar>i{display:block;height:100%;background:#1a5c3a}
.state{font-size:12px;padding:2px 6px;border-radius:3px;background:#eef;white-space:nowrap}.finished{background:#eee}.running{background:#e3f4ea}.paused{background:#fff3d6}.cancelled{background:#fde8e8}
.problems{font-size:12px;color:#a33}#signin{display:none}#error{color:#a33}
</style></head><body>
<h1>Campaigns <small style="font-weight:normal;color:#777">{{shop}}</small></h1>
<form id="signin"><label>Console token <input id="token" type="password" autocomplete="current-password"></label> <button>Show</button></form>
<p id="error" role="alert"></p>
<table id="campaigns" hidden><thead><tr><th>campaign</th><th>state</th><th>progress</th><th class="num">sent</th><th class="num">pending</th><th class="num">skipped</th><th class="num">failed</th><th class="num">total</th></tr></thead><tbody></tbody></table>
<p id="updated" style="font-size:12px;color:#777"></p>
<script>
"use strict";
const key = "kefu-console-token";
const form = document.getElementById("signin");
const table = document.getElementById("campaigns");
function text(tag, value, cls) { const e = document.createElement(tag); e.textContent = value; if (cls) e.className = cls; return e; }
async function refresh() {
  const token = sessionStorage.getItem(key);
  if (!token) { form.style.display = "block"; return; }
  let answer;
  try { answer = await fetch("/api/campaigns", { headers: { Authorization: "Bearer " + token } }); }
  catch (e) { document.getElementById("error").textContent = "kefu is not reachable; retrying"; return; }
  if (answer.status === 401) { sessionStorage.removeItem(key); form.style.display = "block"; document.getElementById("error").textContent = "That token is not right."; return; }
  if (!answer.ok) { document.getElementById("error").textContent = "kefu answered " + answer.status + "; retrying"; return; }
  document.getElementById("error").textContent = "";
  form.style.display = "none";
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const c of (await answer.json()).campaigns) {
    const n = s => c.rows[s] || 0;
    const tr = document.createElement("tr");
    tr.dataset.campaign = c.id;
    const name = text("td", "");
    name.append(text("b", c.name), document.createElement("br"), text("small", c.id + " · " + c.kind));
    for (const p of c.problems) { name.append(document.createElement("br"), text("span", p[2] + " " + p[0] + ": " + p[1], "problems")); }
    const state = document.createElement("td");
    state.append(text("span", c.state, "state " + c.state));
    tr.append(name, state);
    const cell = document.createElement("td"), bar = document.createElement("div"), fill = document.createElement("i");
    bar.className = "bar"; fill.style.width = Math.round(c.done * 100) + "%"; bar.append(fill);
    cell.append(bar, text("small", Math.round(c.done * 100) + " %", "pct"));
    tr.append(cell, text("td", n("sent"), "num sent"), text("td", n("pending") + n("sending"), "num pending"),
      text("td", n("skipped"), "num"), text("td", n("failed"), "num"), text("td", c.total, "num"));
    body.append(tr);
  }
  table.hidden = false;
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}
form.addEventListener("submit", e => { e.preventDefault(); sessionStorage.setItem(key, document.getElementById("token").value); refresh(); });
refresh();
setInterval(refresh, 2000);
</script></body></html>
"#;
