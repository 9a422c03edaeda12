//! Campaign delivery survives SIGKILL: `kefu campaign run` is killed at random moments
//! and started again until the campaign is finished. The audience is split between
//! Telegram (the Bot API test server), Discord (the Discord test server) and e-mail (a
//! real SMTP server, aiosmtpd). What they received must show every recipient exactly
//! once, except at most one repeat per kill on Telegram and SMTP together (the message
//! in flight when the process died) and none on Discord (the nonce). On PostgreSQL two
//! replicas deliver one campaign side by side.
//!
//! Sizes: `KEFU_CRASH_RECIPIENTS` (default 20,000) and
//! `KEFU_CRASH_KILLS` (default 20).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use kefu_bot::shop::Channel;
use kefu_bot::shop::Email;
use kefu_bot::store::{ConnectOptions, CustomerRecord, Store};
use kefu_channels::discord::test_server::{Limits as DiscordLimits, TestServer as DiscordServer};
use kefu_channels::telegram::test_server::{Limits, TestServer};

use crate::smtp::Smtp;
use crate::{PgDb, kefu, text};

const TOKEN: &str = "123456:CRASH-TEST";
/// Telegram user ids of the recipients start here.
const FIRST_CHAT: i64 = 7_000_000;
const DISCORD_TOKEN: &str = "crash-test-discord";
/// Discord user ids of the recipients start here.
const FIRST_DISCORD_USER: u64 = 200_000_000_000_000_000;

/// Recipient `i`'s channel: a third each.
fn channel_of(i: usize) -> Channel {
    match i % 3 {
        0 => Channel::Telegram,
        1 => Channel::Discord,
        _ => Channel::Email,
    }
}

fn email_of(i: usize) -> String {
    format!("crash{i}@example.com")
}

/// The three channels' servers.
struct Servers {
    telegram: TestServer,
    discord: DiscordServer,
    smtp: Smtp,
}

impl Servers {
    /// `None` when no SMTP server can be started here.
    async fn start() -> Option<Servers> {
        let smtp = Smtp::start()?;
        Some(Servers {
            telegram: TestServer::start_with(TOKEN, Limits::unlimited())
                .await
                .unwrap(),
            discord: DiscordServer::start_with(DISCORD_TOKEN, DiscordLimits::unlimited())
                .await
                .unwrap(),
            smtp,
        })
    }

    fn total(&self) -> usize {
        self.telegram.sent().len() + self.discord.posted().len() + self.smtp.messages().len()
    }
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator for kill moments (no randomness crate needed).
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

fn write_config(dir: &Path, db_url: &str, servers: &Servers) {
    let api_url = servers.telegram.api_url();
    let discord_url = servers.discord.api_url();
    let smtp_port = servers.smtp.port;
    let config = format!(
        r#"[database]
url = "{db_url}"

[http]
public_url = "https://shop.example"

[shop]
name = "Lotus & Pine"
time_zone = "UTC"

[telegram]
enabled = true
bot_token = "{TOKEN}"
api_url = "{api_url}"
max_per_second = 1000

[discord]
enabled = true
bot_token = "{DISCORD_TOKEN}"
application_id = "100000000000000001"
api_url = "{discord_url}"
max_per_second = 1000

[email]
enabled = true
from = "Lotus & Pine <news@lotus.example>"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
max_per_second = 1000

[campaigns]
quiet_hours_start = "00:00"
quiet_hours_end = "00:00"
frequency_cap_max = 100
lease_seconds = 3
"#
    );
    std::fs::write(dir.join("kefu.toml"), config).unwrap();
    let at = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(
        dir.join("winter.yaml"),
        format!(
            r#"id: winter-teas
name: Winter teas
kind: content
audience:
  filter:
    consent: [telegram, discord, email]
channels: [telegram, discord, email]
schedule:
  at: {at}
content:
  fallback_language: en
  languages:
    en:
      subject: Winter teas
      text: "Hi {{{{customer.first_name}}}}, our winter teas are here."
      buttons:
        - label: See them
          url: https://shop.example/collections/winter
"#
        ),
    )
    .unwrap();
}

async fn seed(db_url: &str, recipients: usize) {
    let records: Vec<CustomerRecord> = (0..recipients)
        .map(|i| {
            let channel = channel_of(i);
            let identity = match channel {
                Channel::Telegram => Some((FIRST_CHAT + i as i64).to_string()),
                Channel::Discord => Some((FIRST_DISCORD_USER + i as u64).to_string()),
                _ => None,
            };
            crate::customer(&email_of(i), &format!("Guest{i} Tester"), channel, identity)
        })
        .collect();
    crate::seed_customers(db_url, &records).await;
}

fn spawn_run(dir: &Path, args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu"));
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("KEFU") {
            cmd.env_remove(key);
        }
    }
    // KEFU_CRASH_LOG=1 shows the runs' warnings.
    let log = std::env::var_os("KEFU_CRASH_LOG").is_some();
    cmd.env("RUST_LOG", if log { "warn" } else { "error" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(if log { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .expect("start kefu")
}

async fn wait(child: &mut Child, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Per recipient number, how many campaign messages reached them, and on which channel.
fn received(servers: &Servers) -> HashMap<usize, (Channel, usize)> {
    let mut out: HashMap<usize, (Channel, usize)> = HashMap::new();
    let mut count = |i: usize, channel: Channel| {
        out.entry(i).or_insert((channel, 0)).1 += 1;
    };
    for m in servers.telegram.sent() {
        if m.method == "sendMessage" && m.chat_id >= FIRST_CHAT {
            count((m.chat_id - FIRST_CHAT) as usize, Channel::Telegram);
        }
    }
    for m in servers.discord.posted() {
        if let Some(user) = m.user_id.and_then(|u| u.parse::<u64>().ok()) {
            count((user - FIRST_DISCORD_USER) as usize, Channel::Discord);
        }
    }
    for (to, n) in servers.smtp.by_recipient() {
        if let Some(i) = to
            .strip_prefix("crash")
            .and_then(|r| r.strip_suffix("@example.com"))
            .and_then(|i| i.parse().ok())
        {
            for _ in 0..n {
                count(i, Channel::Email);
            }
        }
    }
    out
}

fn check(servers: &Servers, recipients: usize, kills: usize) -> usize {
    let got = received(servers);
    let missing: Vec<usize> = (0..recipients)
        .filter(|i| !got.contains_key(i))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "recipients never got the message, e.g. {missing:?}"
    );
    assert_eq!(
        got.len(),
        recipients,
        "messages went to recipients outside the audience"
    );
    for (i, (channel, _)) in &got {
        assert_eq!(
            *channel,
            channel_of(*i),
            "recipient {i} on the wrong channel"
        );
    }
    let repeats = |c: Channel| -> usize {
        got.values()
            .filter(|(ch, _)| *ch == c)
            .map(|(_, n)| n - 1)
            .sum()
    };
    assert_eq!(
        repeats(Channel::Discord),
        0,
        "Discord repeated a message despite the nonce"
    );
    let repeated = repeats(Channel::Telegram) + repeats(Channel::Email);
    assert!(
        repeated <= kills,
        "{repeated} repeated message(s) after {kills} kill(s): at most one per kill is allowed"
    );
    repeated
}

async fn crash_and_finish(dir: &Path, servers: &Servers, kills: usize, seed_ms: u64) -> usize {
    let mut lcg = Lcg(seed_ms);
    let mut killed = 0;
    for _ in 0..kills {
        let mut child = spawn_run(dir, &["campaign", "run", "winter.yaml"]);
        tokio::time::sleep(Duration::from_millis(lcg.next_ms(150, 1200))).await;
        if let Ok(Some(_)) = child.try_wait() {
            // It finished before the kill: nothing left to interrupt.
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed += 1;
    }
    let mut last = spawn_run(dir, &["campaign", "run", "winter.yaml"]);
    assert!(
        wait(&mut last, Duration::from_secs(600)).await,
        "the last run did not finish"
    );
    assert!(servers.total() > 0);
    killed
}

fn status_says_finished(dir: &Path) {
    let out = kefu(dir, &["campaign", "status", "winter-teas"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("finished"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_campaign_survives_sigkill() {
    let recipients = env_usize("KEFU_CRASH_RECIPIENTS", 20_000);
    let kills = env_usize("KEFU_CRASH_KILLS", 20);
    let Some(servers) = Servers::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kefu.db").display());
    write_config(dir.path(), &db, &servers);
    seed(&db, recipients).await;
    let killed = crash_and_finish(dir.path(), &servers, kills, 7).await;
    let repeats = check(&servers, recipients, killed);
    eprintln!("sqlite: {recipients} recipients, {killed} kills, {repeats} repeats");
    status_says_finished(dir.path());
    // Running it again sends nothing more.
    let before = servers.total();
    let out = kefu(dir.path(), &["campaign", "run", "winter.yaml"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(servers.total(), before);
    // The e-mail is well-formed: a one-click unsubscribe, the row's own Message-ID.
    let mail = servers.smtp.messages().into_iter().next().unwrap();
    assert_eq!(
        crate::smtp::header(&mail, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        crate::smtp::header(&mail, "List-Unsubscribe")
            .is_some_and(|u| u.starts_with("<https://shop.example/u/")),
        "{mail}"
    );
    assert!(
        crate::smtp::header(&mail, "Message-ID").is_some_and(|id| id
            .starts_with("<kefu.winter-teas.")
            && id.ends_with("@lotus.example>")),
        "{mail}"
    );
    assert_eq!(
        crate::smtp::header(&mail, "Subject").as_deref(),
        Some("Winter teas")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_campaign_survives_sigkill_with_two_replicas() {
    let recipients = env_usize("KEFU_CRASH_RECIPIENTS", 20_000);
    let kills = env_usize("KEFU_CRASH_KILLS", 20);
    let Some(servers) = Servers::start().await else {
        return;
    };
    let pg = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &pg.url, &servers);
    seed(&pg.url, recipients).await;
    // Plan once, then two replicas deliver it while one of them keeps being killed.
    let out = kefu(
        dir.path(),
        &["campaign", "run", "winter.yaml", "--detach"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut steady = spawn_run(dir.path(), &["campaign", "run", "winter.yaml"]);
    let killed = crash_and_finish(dir.path(), &servers, kills, 11).await;
    assert!(
        wait(&mut steady, Duration::from_secs(600)).await,
        "the steady replica did not finish"
    );
    let repeats = check(&servers, recipients, killed);
    eprintln!("postgres: {recipients} recipients, {killed} kills, {repeats} repeats, two replicas");
    status_says_finished(dir.path());
    pg.drop().await;
}

/// The links in a campaign e-mail work against `kefu serve`: RSVP signs the customer up
/// for the reminders; one-click unsubscribe (RFC 8058) drops their reminders at once; a
/// GET (a link scanner) changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_rsvp_and_one_click_unsubscribe_links_work() {
    let Some(smtp) = Smtp::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kefu.db").display());
    std::fs::write(
        dir.path().join("kefu.toml"),
        format!(
            r#"[database]
url = "{db}"

[http]
public_url = "https://shop.example"

[shop]
name = "Lotus & Pine"
time_zone = "UTC"

[email]
enabled = true
from = "news@lotus.example"
smtp_host = "127.0.0.1"
smtp_port = {}
smtp_security = "none"

[campaigns]
quiet_hours_start = "00:00"
quiet_hours_end = "00:00"
"#,
            smtp.port
        ),
    )
    .unwrap();
    let starts = (Utc::now() + chrono::Duration::days(3)).format("%Y-%m-%dT%H:%M:%SZ");
    let announce = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(
        dir.path().join("live.yaml"),
        format!(
            r#"id: live-tasting
name: Live tasting
kind: livestream
audience:
  filter:
    consent: [email]
channels: [email]
schedule:
  at: {announce}
livestream:
  starts_at: {starts}
  url: https://live.example/tasting
  reminders: [24h]
  rsvp: true
  reminder:
    fallback_language: en
    languages:
      en:
        text: "Starting tomorrow!"
  live:
    fallback_language: en
    languages:
      en:
        text: "We are live."
content:
  fallback_language: en
  languages:
    en:
      subject: Live tasting
      text: "Hi {{{{customer.first_name}}}}, join our live tasting."
      buttons:
        - label: Remind me
          action: rsvp
"#
        ),
    )
    .unwrap();
    // Two customers by e-mail.
    let people: Vec<CustomerRecord> = ["ann", "bo"]
        .iter()
        .map(|n| {
            crate::customer(
                &format!("{n}@example.com"),
                &format!("{n} Tester"),
                Channel::Email,
                None,
            )
        })
        .collect();
    crate::seed_customers(&db, &people).await;
    let out = kefu(
        dir.path(),
        &["campaign", "run", "live.yaml", "--detach"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let server = crate::serve::spawn_with(dir.path(), &[], &[]);
    let started = Instant::now();
    while smtp.messages().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the announcements did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = smtp.messages();
    let mail_to = |who: &str| {
        mails
            .iter()
            .find(|m| crate::smtp::header(m, "X-RcptTo").as_deref() == Some(who))
            .unwrap()
            .clone()
    };
    let local = |url: &str| url.replace("https://shop.example", &server.base);
    // Ann RSVPs: the link is in the text part.
    let ann = mail_to("ann@example.com");
    let rsvp = ann
        .lines()
        .find_map(|l| l.strip_prefix("Remind me: "))
        .unwrap()
        .trim()
        .to_owned();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let page = http.get(local(&rsvp)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Live tasting"));
    let done = http.post(local(&rsvp)).send().await.unwrap();
    assert_eq!(done.status(), 200);
    // Bo unsubscribes with one click, as a mail client does from the header.
    let bo = mail_to("bo@example.com");
    let unsubscribe = crate::smtp::header(&bo, "List-Unsubscribe").unwrap();
    let unsubscribe = local(unsubscribe.trim_start_matches('<').trim_end_matches('>'));
    let scanned = http.get(&unsubscribe).send().await.unwrap();
    assert_eq!(scanned.status(), 200);
    assert!(scanned.text().await.unwrap().contains("Unsubscribe?"));
    let tampered = http
        .post(unsubscribe.replace("/u/", "/u/9"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 404);
    let one_click = http
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);
    assert!(one_click.text().await.unwrap().contains("unsubscribed"));
    drop(server);

    let store = Store::open(&db, &ConnectOptions::default()).await.unwrap();
    let id_of = async |who: &str| {
        store
            .customer_by_email(&Email::parse(who).unwrap())
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let (ann, bo) = (
        id_of("ann@example.com").await,
        id_of("bo@example.com").await,
    );
    assert!(store.has_rsvp("live-tasting", ann).await.unwrap());
    assert!(!store.has_rsvp("live-tasting", bo).await.unwrap());
    let sub = store
        .subscription(Channel::Email, "bo@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(!sub.subscribed);
    let consents = store.consents(bo).await.unwrap();
    assert!(
        consents
            .iter()
            .any(|c| c.channel == Channel::Email && !c.granted),
        "{consents:?}"
    );
    assert!(
        store
            .consents(ann)
            .await
            .unwrap()
            .iter()
            .any(|c| c.channel == Channel::Email && c.granted)
    );
    store.close().await;
}

/// Shop events arrive by file (`kefu import events`, all lines or none) and over HTTP
/// (`POST /api/events` with the bearer token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_events_arrive_by_file_and_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kefu.db").display());
    std::fs::write(
        dir.path().join("kefu.toml"),
        format!("[database]\nurl = \"{db}\"\n\n[http]\nevents_token = \"s3cret-token\"\n"),
    )
    .unwrap();
    crate::seed_customers(
        &db,
        &[crate::customer(
            "mei@example.com",
            "Mei Lin",
            Channel::Email,
            None,
        )],
    )
    .await;
    let hours_ago = |h: i64| (Utc::now() - chrono::Duration::hours(h)).to_rfc3339();
    let good = format!(
        "{}\n{}\n",
        serde_json::json!({"type": "cart", "id": "c-1", "customer": "mei@example.com", "total": "12.50", "currency": "EUR", "at": hours_ago(5)}),
        serde_json::json!({"type": "stock_alert", "customer": "mei@example.com", "product": "gaiwan", "at": hours_ago(5)}),
    );
    let bad = format!(
        "{good}{}\n",
        serde_json::json!({"type": "cart", "id": "c-2", "total": "12.50", "at": hours_ago(1)})
    );
    std::fs::write(dir.path().join("bad.jsonl"), bad).unwrap();
    std::fs::write(dir.path().join("good.jsonl"), good).unwrap();
    let out = kefu(dir.path(), &["import", "events", "bad.jsonl"], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.jsonl:3: event: total: needs a `currency`")
            && err.contains("nothing from this file was imported"),
        "{err}"
    );
    let store = Store::open(&db, &ConnectOptions::default()).await.unwrap();
    let window = (Utc::now() - chrono::Duration::days(1), Utc::now());
    let abandoned = || async { store.abandoned_carts(window.0, window.1).await.unwrap() };
    assert!(
        abandoned().await.is_empty(),
        "nothing from the bad file was kept"
    );
    let out = kefu(dir.path(), &["import", "events", "good.jsonl"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(abandoned().await.len(), 1);

    let server = crate::serve::spawn_with(dir.path(), &[], &[]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!("{}/api/events", server.base);
    let events = serde_json::json!([
        {"type": "checkout", "cart": "c-1", "at": hours_ago(4)},
        {"type": "restock", "product": "gaiwan", "at": hours_ago(1)},
    ]);
    let refused = http.post(&url).json(&events).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = http
        .post(&url)
        .bearer_auth("s3cret-token")
        .json(&serde_json::json!([{"type": "restock", "at": hours_ago(1)}]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("event 1: missing field `product`")
    );
    let ok = http
        .post(&url)
        .bearer_auth("s3cret-token")
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<serde_json::Value>().await.unwrap()["recorded"], 2);
    drop(server);
    assert!(abandoned().await.is_empty(), "checked out");
    let alerts = store.restock_alerts(window.0, window.1, &[]).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    store.close().await;
}
