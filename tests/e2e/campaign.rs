//! Campaign delivery survives SIGKILL: `kefu campaign run` is killed at random moments
//! and started again until the campaign is finished; the Telegram test server's record
//! must show every recipient exactly once, except at most one repeat per kill (a message
//! in flight when the process died). On PostgreSQL two replicas deliver one campaign
//! side by side.
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
use kefu_bot::store::{ConnectOptions, Consent, CustomerRecord, Merge, Store};
use kefu_channels::telegram::test_server::{Limits, TestServer};

use crate::{PgDb, kefu, text};

const TOKEN: &str = "123456:CRASH-TEST";
/// Telegram user ids of the recipients start here.
const FIRST_CHAT: i64 = 7_000_000;

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

fn write_config(dir: &Path, db_url: &str, api_url: &str) {
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
    consent: [telegram]
channels: [telegram]
schedule:
  at: {at}
content:
  fallback_language: en
  languages:
    en:
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
    let store = Store::open(db_url, &ConnectOptions::default())
        .await
        .unwrap();
    let now = Utc::now();
    let records: Vec<CustomerRecord> = (0..recipients)
        .map(|i| CustomerRecord {
            email: Some(Email::parse(&format!("crash{i}@example.com")).unwrap()),
            name: Some(format!("Guest{i} Tester")),
            identities: vec![(Channel::Telegram, (FIRST_CHAT + i as i64).to_string(), true)],
            consents: vec![Consent {
                channel: Channel::Telegram,
                granted: true,
                source: "crash test".into(),
                at: now,
            }],
            ..Default::default()
        })
        .collect();
    let mut writer = store.writer().await.unwrap();
    for chunk in records.chunks(5_000) {
        writer
            .write_customers(chunk, Merge::Overwrite)
            .await
            .unwrap();
    }
    writer.commit().await.unwrap();
    store.close().await;
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

/// Per chat, how many campaign messages the test server accepted.
fn received(server: &TestServer) -> HashMap<i64, usize> {
    let mut out = HashMap::new();
    for m in server.sent() {
        if m.method == "sendMessage" && m.chat_id >= FIRST_CHAT {
            *out.entry(m.chat_id).or_insert(0) += 1;
        }
    }
    out
}

fn check(server: &TestServer, recipients: usize, kills: usize) -> usize {
    let got = received(server);
    let missing: Vec<i64> = (0..recipients as i64)
        .map(|i| FIRST_CHAT + i)
        .filter(|c| !got.contains_key(c))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "recipients never got the message, e.g. {missing:?}"
    );
    assert_eq!(
        got.len(),
        recipients,
        "messages went to chats outside the audience"
    );
    let repeats: usize = got.values().map(|n| n - 1).sum();
    assert!(
        repeats <= kills,
        "{repeats} repeated message(s) after {kills} kill(s): at most one per kill is allowed"
    );
    repeats
}

async fn crash_and_finish(dir: &Path, server: &TestServer, kills: usize, seed_ms: u64) -> usize {
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
    let sent_before = server.sent().len();
    assert!(sent_before > 0);
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
    let server = TestServer::start_with(TOKEN, Limits::unlimited())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kefu.db").display());
    write_config(dir.path(), &db, &server.api_url());
    seed(&db, recipients).await;
    let killed = crash_and_finish(dir.path(), &server, kills, 7).await;
    let repeats = check(&server, recipients, killed);
    eprintln!("sqlite: {recipients} recipients, {killed} kills, {repeats} repeats");
    status_says_finished(dir.path());
    // Running it again sends nothing more.
    let before = server.sent().len();
    let out = kefu(dir.path(), &["campaign", "run", "winter.yaml"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(server.sent().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_campaign_survives_sigkill_with_two_replicas() {
    let recipients = env_usize("KEFU_CRASH_RECIPIENTS", 20_000);
    let kills = env_usize("KEFU_CRASH_KILLS", 20);
    let server = TestServer::start_with(TOKEN, Limits::unlimited())
        .await
        .unwrap();
    let pg = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &pg.url, &server.api_url());
    seed(&pg.url, recipients).await;
    // Plan once, then two replicas deliver it while one of them keeps being killed.
    let out = kefu(
        dir.path(),
        &["campaign", "run", "winter.yaml", "--detach"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut steady = spawn_run(dir.path(), &["campaign", "run", "winter.yaml"]);
    let killed = crash_and_finish(dir.path(), &server, kills, 11).await;
    assert!(
        wait(&mut steady, Duration::from_secs(600)).await,
        "the steady replica did not finish"
    );
    let repeats = check(&server, recipients, killed);
    eprintln!("postgres: {recipients} recipients, {killed} kills, {repeats} repeats, two replicas");
    status_says_finished(dir.path());
    pg.drop().await;
}
