//! The web chat widget in headless Chromium, driven over WebDriver (chromedriver): the
//! demo page, a question answered with its source, history after a reload, resume after
//! a server restart, a logged-in user with a good and a bad hash, and the Arabic page in
//! right-to-left layout. Screenshots go to `target/screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian); without them the test says so and
//! passes, unless `KEFU_REQUIRE_BROWSER=1` (CI) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::serve::{Server, spawn_with};
use super::widget::{SHIPPING_TIMES_ANSWER, SHIPPING_TIMES_URL, order_names, orders_of};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session.
struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// The browser, or `None` (the test skips) when chromedriver is not installed and
    /// `KEFU_REQUIRE_BROWSER` is unset; with it set, a missing browser fails the test.
    async fn start_or_skip() -> Option<Self> {
        let browser = Self::start().await;
        if browser.is_none() {
            assert!(
                std::env::var("KEFU_REQUIRE_BROWSER").is_err(),
                "KEFU_REQUIRE_BROWSER is set but chromedriver is not installed"
            );
            eprintln!("skipped: chromedriver not found (apt-get install chromium chromium-driver)");
        }
        browser
    }

    async fn start() -> Option<Self> {
        let driver_bin = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").output().is_ok())?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_string();
        Some(Self {
            driver,
            http,
            session,
            base,
            _profile: profile,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), url);
        if method == reqwest::Method::POST {
            req = req.json(&body);
        }
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(err) = r["value"].get("error") {
            panic!("WebDriver {path}: {err}: {}", r["value"]["message"]);
        }
        r["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_string()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Types into an element like a user; `\u{E007}` is the Enter key.
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Waits until the script returns something truthy, and returns it.
    async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.js(script).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self
            .call(reqwest::Method::GET, "/screenshot", json!({}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }

    async fn close(&self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

fn serve_demo(dir: &Path, port: u16) -> Server {
    let listen = format!("127.0.0.1:{port}");
    spawn_with(dir, &["--demo", "--listen", &listen], &[])
}

/// Bot messages in the widget's log.
const BOT_COUNT: &str = "return document.querySelectorAll('#kefu-root .kefu-log .kefu-bot').length";

/// Asks in the widget and returns the text of the bot's answer.
async fn ask(browser: &Browser, question: &str) -> String {
    let before = browser.js(BOT_COUNT).await.as_u64().unwrap();
    browser
        .type_into("#kefu-input", &format!("{question}\u{E007}"))
        .await;
    browser
        .wait_for(
            "the bot's answer",
            &format!("{} > {before}", BOT_COUNT.trim_end_matches(';')),
        )
        .await;
    browser
        .js("const m = document.querySelectorAll('#kefu-root .kefu-bot .kefu-text'); return m[m.length - 1].textContent")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_widget_works_in_a_real_browser() {
    let Some(browser) = Browser::start_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = super::kefu(
        dir.path(),
        &["demo", "load", "--customers", "80", "--orders", "400"],
        &[],
    );
    assert!(out.status.success(), "{}", super::text(&out.stderr));
    // A fixed port: after the restart the page reconnects to the same address.
    let port = free_port();
    let server = serve_demo(dir.path(), port);
    let base = server.base.clone();

    // The demo page, the bubble, a question answered with its source.
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_for(
            "the widget",
            "return document.querySelector('#kefu-root .kefu-bubble') !== null",
        )
        .await;
    browser.click("#kefu-root .kefu-bubble").await;
    let focused = browser.js("return document.activeElement.id").await;
    assert_eq!(focused, "kefu-input", "opening the panel focuses the input");
    let expanded = browser
        .js("return document.querySelector('#kefu-root .kefu-bubble').getAttribute('aria-expanded')")
        .await;
    assert_eq!(expanded, "true");
    browser
        .wait_for(
            "online",
            "return document.getElementById('kefu-root').dataset.state === 'online'",
        )
        .await;
    let answer = ask(&browser, "How long does shipping take?").await;
    assert_eq!(answer, SHIPPING_TIMES_ANSWER);
    let sources = browser
        .wait_for(
            "a source link",
            "const a = document.querySelectorAll('#kefu-root .kefu-bot .kefu-cites [data-doc]'); \
             return a.length && Array.from(a).map(l => [l.dataset.doc, l.textContent, l.href])",
        )
        .await;
    assert_eq!(
        sources,
        json!([["shipping-times", "Shipping times", SHIPPING_TIMES_URL]])
    );
    browser.screenshot("widget-answer.png").await;

    // Reload: the history is back, once.
    browser.js("location.reload(); return true").await;
    browser
        .wait_for(
            "the history after a reload",
            "return document.querySelectorAll('#kefu-root .kefu-log .kefu-msg[data-id]').length >= 2",
        )
        .await;
    let texts = browser
        .js("return Array.from(document.querySelectorAll('#kefu-root .kefu-customer .kefu-text')).map(e => e.textContent)")
        .await;
    assert_eq!(texts, json!(["How long does shipping take?"]));

    // The server restarts; the widget notices, reconnects and keeps working.
    drop(server);
    browser
        .wait_for(
            "offline",
            "return document.getElementById('kefu-root').dataset.state === 'offline'",
        )
        .await;
    let server = serve_demo(dir.path(), port);
    browser
        .wait_for(
            "back online",
            "return document.getElementById('kefu-root').dataset.state === 'online'",
        )
        .await;
    browser.click("#kefu-root .kefu-bubble").await;
    ask(&browser, "Do you ship to Canada?").await;
    let ids = browser
        .js("return Array.from(document.querySelectorAll('#kefu-root .kefu-msg[data-id]')).map(e => e.dataset.id)")
        .await;
    let ids: Vec<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "no message shown twice: {ids:?}");
    // Both questions and both answers, in order, each once.
    assert_eq!(ids, ["1", "2", "3", "4"]);
    let authors = browser
        .js("return Array.from(document.querySelectorAll('#kefu-root .kefu-msg[data-id]')).map(e => e.classList.contains('kefu-bot') ? 'bot' : 'customer')")
        .await;
    assert_eq!(authors, json!(["customer", "bot", "customer", "bot"]));
    let texts = browser
        .js("return Array.from(document.querySelectorAll('#kefu-root .kefu-customer .kefu-text')).map(e => e.textContent)")
        .await;
    assert_eq!(
        texts,
        json!(["How long does shipping take?", "Do you ship to Canada?"])
    );

    // A logged-in demo customer (the page signs their id): their orders.
    browser
        .goto(&format!("{base}/?as=emily.johnson@example.com"))
        .await;
    browser
        .wait_for(
            "the widget",
            "return document.querySelector('#kefu-root .kefu-bubble') !== null",
        )
        .await;
    browser.click("#kefu-root .kefu-bubble").await;
    browser
        .wait_for(
            "online",
            "return document.getElementById('kefu-root').dataset.state === 'online'",
        )
        .await;
    let orders = ask(&browser, "Show me my orders").await;
    // Her most recent orders, newest first, and no one else's.
    let hers = orders_of(dir.path(), "emily.johnson@example.com").await;
    assert!(
        orders.starts_with("Here are your most recent orders:\n"),
        "{orders}"
    );
    assert_eq!(order_names(&orders), hers[..hers.len().min(5)], "{orders}");
    browser.screenshot("widget-verified.png").await;

    // The widget on another site (the shop's own origin) with a forged hash: refused,
    // and the widget says the chat is unavailable.
    let forged = format!(
        "<!doctype html><html lang=\"en\"><body><h1>Another shop page</h1><script src=\"{base}/widget.js\" data-site=\"demo\" data-user-id=\"emily.johnson@example.com\" data-user-hash=\"{}\" data-open=\"true\"></script></body></html>",
        "0".repeat(64)
    );
    let shop_site = static_page(forged).await;
    browser.goto(&shop_site).await;
    let note = browser
        .wait_for(
            "the refusal",
            "const n = document.querySelector('#kefu-root .kefu-note'); return n && n.textContent",
        )
        .await;
    assert_eq!(note, "Chat is unavailable right now.");

    // Arabic: right to left, the bubble on the left, strings in Arabic.
    browser.goto(&format!("{base}/?lang=ar")).await;
    browser
        .wait_for(
            "the widget",
            "return document.querySelector('#kefu-root .kefu-bubble') !== null",
        )
        .await;
    let layout = browser
        .js("const r = document.getElementById('kefu-root'); const b = r.querySelector('.kefu-bubble').getBoundingClientRect(); \
             return [getComputedStyle(r).direction, b.left < innerWidth / 2, r.querySelector('.kefu-bubble').getAttribute('aria-label')]")
        .await;
    assert_eq!(layout, json!(["rtl", true, "افتح المحادثة"]));
    browser.click("#kefu-root .kefu-bubble").await;
    browser.screenshot("widget-rtl.png").await;

    browser.close().await;
    drop(server);
}

/// Serves `html` at `/` on a free port of its own (another origin than kefu's).
async fn static_page(html: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The console's campaign view in headless Chromium: it asks for the token, then shows a
/// campaign's delivery as `kefu serve` sends it, up to finished.
#[tokio::test]
async fn the_campaign_console_shows_delivery_progress_in_a_real_browser() {
    use kefu_bot::shop::Channel;

    let Some(browser) = Browser::start_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kefu.db").display());
    std::fs::write(
        dir.path().join("kefu.toml"),
        format!(
            "[database]\nurl = \"{db}\"\n\n[http]\nconsole_token = \"console-secret\"\n\n[web]\nenabled = true\n\n\
             [campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n"
        ),
    )
    .unwrap();
    let people: Vec<_> = (0..3)
        .map(|i| {
            super::customer(
                &format!("web{i}@example.com"),
                &format!("Web{i} Visitor"),
                Channel::Web,
                Some(format!("user-{i}")),
            )
        })
        .collect();
    super::seed_customers(&db, &people).await;
    std::fs::write(
        dir.path().join("news.yaml"),
        format!(
            "id: web-news\nname: Winter news\nkind: content\naudience:\n  filter:\n    consent: [web]\n\
             channels: [web]\nschedule:\n  at: {}\ncontent:\n  fallback_language: en\n  languages:\n    en:\n      \
             text: \"Hi {{{{customer.first_name}}}}, winter teas are in.\"\n",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .unwrap();
    let out = super::kefu(
        dir.path(),
        &["campaign", "run", "news.yaml", "--detach"],
        &[],
    );
    assert!(out.status.success(), "{}", super::text(&out.stderr));
    let server = spawn_with(dir.path(), &[], &[]);

    browser
        .goto(&format!("{}/console/campaigns", server.base))
        .await;
    browser
        .wait_for(
            "the sign-in form",
            "return getComputedStyle(document.getElementById('signin')).display !== 'none'",
        )
        .await;
    browser.type_into("#token", "wrong").await;
    browser.click("#signin button").await;
    browser
        .wait_for(
            "the refusal",
            "return document.getElementById('error').textContent",
        )
        .await;
    browser
        .js("document.getElementById('token').value = ''; return true")
        .await;
    browser.type_into("#token", "console-secret").await;
    browser.click("#signin button").await;
    let row = browser
        .wait_for(
            "the finished campaign",
            "const r = document.querySelector('tr[data-campaign=\"web-news\"]'); \
             return r && r.querySelector('.state').textContent === 'finished' \
               && [r.querySelector('.sent').textContent, r.querySelector('.pending').textContent, r.querySelector('.pct').textContent]",
        )
        .await;
    assert_eq!(row, json!(["3", "0", "100 %"]));
    browser.screenshot("console-campaigns.png").await;
    browser.close().await;
    drop(server);
}
