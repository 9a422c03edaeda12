//! Campaign delivery survives SIGKILL: `kefu campaign run` is killed again and again and
//! started again until the campaign is finished. The audience is split between Telegram
//! (the Bot API test server), Discord (the Discord test server) and e-mail (a real SMTP
//! server, aiosmtpd); a few Telegram users blocked the bot. On PostgreSQL two replicas
//! deliver one campaign side by side while one of them keeps being killed.
//!
//! Right after each kill the test reads the outbox as the dead process left it: kills
//! must have landed while delivery was under way, and some with a message on its way.
//! At the end the outbox is exact — every row `sent`, the blocked users' rows `skipped`
//! and those users unsubscribed after one 403 each, nothing `pending`, `sending` or
//! `failed` — and so is what the servers received: every other recipient got the
//! message on their own channel, once. A second copy is allowed only on Telegram and
//! SMTP (neither can tell a retry from a new message) and only for a row that a kill
//! caught `sending`; it is required where the kill caught the message received but not
//! yet recorded. Discord never gets one (the nonce).
//!
//! A third run has Telegram's real limits while kefu is allowed to go faster, so
//! Telegram's 429s pace delivery, and each kill lands while kefu waits out a 429's
//! `retry_after`: afterwards every recipient has exactly one message.
//!
//! Sizes: `KEFU_CRASH_RECIPIENTS` (default 20,000) and
//! `KEFU_CRASH_KILLS` (default 20).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use kefu_bot::shop::{Channel, Email};
use kefu_bot::store::{ConnectOptions, CustomerRecord, Store};
use kefu_channels::discord::test_server::{Limits as DiscordLimits, TestServer as DiscordServer};
use kefu_channels::telegram::test_server::{Limits, RecordedRequest, SEND_METHODS, TestServer};
use sqlx::Connection;

use crate::smtp::Smtp;
use crate::{PgDb, kefu, text};

const TOKEN: &str = "123456:CRASH-TEST";
/// Telegram user ids of the recipients start here.
const FIRST_CHAT: i64 = 7_000_000;
const DISCORD_TOKEN: &str = "crash-test-discord";
/// Discord user ids of the recipients start here.
const FIRST_DISCORD_USER: u64 = 200_000_000_000_000_000;
/// Every this many recipients, one blocked the bot on Telegram (recipient 0 first).
const BLOCKED_EVERY: usize = 3_000;
/// What a blocked user's row says when the 403 skipped it.
const BLOCKED_REASON: &str = "bot blocked: Forbidden: bot was blocked by the user";
/// What it says when the unsubscribe was recorded but the process died before the row
/// was: the next run skips it without sending.
const UNSUBSCRIBED_REASON: &str = "unsubscribed (blocked)";

/// Who gets the campaign.
#[derive(Debug, Clone, Copy)]
struct Audience {
    recipients: usize,
    /// Telegram, Discord and e-mail in turn; otherwise Telegram alone.
    all_channels: bool,
}

impl Audience {
    fn channel(&self, i: usize) -> Channel {
        if !self.all_channels {
            return Channel::Telegram;
        }
        match i % 3 {
            0 => Channel::Telegram,
            1 => Channel::Discord,
            _ => Channel::Email,
        }
    }

    /// Recipient `i` blocked the bot on Telegram (a multiple of 3 is always on Telegram).
    fn blocked(&self, i: usize) -> bool {
        i.is_multiple_of(BLOCKED_EVERY)
    }

    fn blocked_count(&self) -> usize {
        (0..self.recipients).filter(|i| self.blocked(*i)).count()
    }
}

fn chat_of(i: usize) -> i64 {
    FIRST_CHAT + i as i64
}

fn email_of(i: usize) -> String {
    format!("crash{i}@example.com")
}

/// The channels' servers: Telegram always, Discord and SMTP for the mixed audience.
struct Servers {
    telegram: TestServer,
    discord: Option<DiscordServer>,
    smtp: Option<Smtp>,
}

impl Servers {
    /// All three, without rate limits; `None` when no SMTP server can be started here.
    async fn all_unlimited() -> Option<Servers> {
        let smtp = Smtp::start()?;
        Some(Servers {
            telegram: TestServer::start_with(TOKEN, Limits::unlimited())
                .await
                .unwrap(),
            discord: Some(
                DiscordServer::start_with(DISCORD_TOKEN, DiscordLimits::unlimited())
                    .await
                    .unwrap(),
            ),
            smtp: Some(smtp),
        })
    }

    /// The Telegram server alone, with Telegram's own limits (30 messages a second).
    async fn telegram_with_its_limits() -> Servers {
        Servers {
            telegram: TestServer::start_with(TOKEN, Limits::default())
                .await
                .unwrap(),
            discord: None,
            smtp: None,
        }
    }

    /// The audience's blocked users block the bot.
    fn block(&self, audience: Audience) {
        for i in (0..audience.recipients).filter(|i| audience.blocked(*i)) {
            self.telegram.block(chat_of(i));
        }
    }

    fn total(&self) -> usize {
        self.telegram.sent().len()
            + self.discord.as_ref().map_or(0, |d| d.posted().len())
            + self.smtp.as_ref().map_or(0, |s| s.messages().len())
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
    fn next_ms(&mut self, lo: u64, hi: u64) -> Duration {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Duration::from_millis(lo + (self.0 >> 33) % (hi - lo))
    }
}

/// kefu.toml and the campaign for the servers there are. `in_flight`: messages on their
/// way at once.
fn write_config(dir: &Path, db_url: &str, servers: &Servers, in_flight: usize) {
    let api_url = servers.telegram.api_url();
    // 1,000 a second is what Telegram allows a bot with paid broadcasts; against
    // Telegram's own limits (the third run) its 429s pace delivery.
    let mut config = format!(
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
in_flight = {in_flight}
"#
    );
    let mut channels = vec!["telegram"];
    if let Some(discord) = &servers.discord {
        let discord_url = discord.api_url();
        config.push_str(&format!(
            r#"
[discord]
enabled = true
bot_token = "{DISCORD_TOKEN}"
application_id = "100000000000000001"
api_url = "{discord_url}"
max_per_second = 1000
"#
        ));
        channels.push("discord");
    }
    if let Some(smtp) = &servers.smtp {
        let smtp_port = smtp.port;
        config.push_str(&format!(
            r#"
[email]
enabled = true
from = "Lotus & Pine <news@lotus.example>"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
max_per_second = 1000
"#
        ));
        channels.push("email");
    }
    std::fs::write(dir.join("kefu.toml"), config).unwrap();
    let channels = channels.join(", ");
    let at = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(
        dir.join("winter.yaml"),
        format!(
            r#"id: winter-teas
name: Winter teas
kind: content
audience:
  filter:
    consent: [{channels}]
channels: [{channels}]
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

async fn seed(db_url: &str, audience: Audience) {
    let records: Vec<CustomerRecord> = (0..audience.recipients)
        .map(|i| {
            let channel = audience.channel(i);
            let identity = match channel {
                Channel::Telegram => Some(chat_of(i).to_string()),
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

fn exited(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(Some(_)))
}

/// An outbox row as the test reads it from the database.
#[derive(Debug, Clone)]
struct Row {
    channel: Channel,
    address: String,
    state: String,
    attempts: i64,
    lease_owner: Option<String>,
    last_error: Option<String>,
}

impl Row {
    /// The recipient's number.
    fn recipient(&self) -> usize {
        let n = match self.channel {
            Channel::Telegram => self.address.parse::<i64>().ok().map(|c| c - FIRST_CHAT),
            Channel::Discord => self
                .address
                .parse::<u64>()
                .ok()
                .and_then(|u| i64::try_from(u - FIRST_DISCORD_USER).ok()),
            _ => self
                .address
                .strip_prefix("crash")
                .and_then(|r| r.strip_suffix("@example.com"))
                .and_then(|i| i.parse().ok()),
        };
        n.and_then(|n| usize::try_from(n).ok())
            .unwrap_or_else(|| panic!("a row outside the audience: {self:?}"))
    }

    /// Claimed by the process with this id (owners are `{pid}-{nonce}`).
    fn held_by(&self, pid: u32) -> bool {
        self.state == "sending"
            && self
                .lease_owner
                .as_deref()
                .and_then(|o| o.split_once('-'))
                .is_some_and(|(p, _)| p == pid.to_string())
    }

    fn is_final(&self) -> bool {
        matches!(
            self.state.as_str(),
            "sent" | "skipped" | "failed" | "cancelled"
        )
    }
}

const OUTBOX: &str = "SELECT channel, address, state, attempts, lease_owner, last_error \
                      FROM outbox WHERE campaign_id = 'winter-teas' ORDER BY id";
const HELD: &str = "SELECT COUNT(*) FROM outbox WHERE state = 'sending' AND lease_owner LIKE $1";

type RawRow = (String, String, String, i64, Option<String>, Option<String>);

/// The test's own connection to kefu's database, to read the outbox while kefu runs or
/// right after it died.
enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    async fn open(url: &str) -> Db {
        if url.starts_with("postgres") {
            Db::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        } else {
            Db::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        }
    }

    async fn outbox(&mut self) -> Vec<Row> {
        let raw: Vec<RawRow> = match self {
            Db::Sqlite(c) => sqlx::query_as(OUTBOX).fetch_all(c).await.unwrap(),
            Db::Postgres(c) => sqlx::query_as(OUTBOX).fetch_all(c).await.unwrap(),
        };
        raw.into_iter()
            .map(
                |(channel, address, state, attempts, lease_owner, last_error)| Row {
                    channel: channel.parse().unwrap(),
                    address,
                    state,
                    attempts,
                    lease_owner,
                    last_error,
                },
            )
            .collect()
    }

    /// How many rows the process with this id is sending right now.
    async fn held_by(&mut self, pid: u32) -> i64 {
        let owner = format!("{pid}-%");
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(HELD).bind(owner).fetch_one(c).await,
            Db::Postgres(c) => sqlx::query_scalar(HELD).bind(owner).fetch_one(c).await,
        }
        .unwrap()
    }

    async fn close(self) {
        match self {
            Db::Sqlite(c) => c.close().await.unwrap(),
            Db::Postgres(c) => c.close().await.unwrap(),
        }
    }
}

/// Per recipient number, how many campaign messages reached them, and on which channel.
/// A blocked user's 403s are not messages.
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
    for m in servers.discord.iter().flat_map(DiscordServer::posted) {
        if let Some(user) = m.user_id.and_then(|u| u.parse::<u64>().ok()) {
            count((user - FIRST_DISCORD_USER) as usize, Channel::Discord);
        }
    }
    for (to, n) in servers.smtp.iter().flat_map(Smtp::by_recipient) {
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

/// What the test saw right after each kill.
#[derive(Debug, Default)]
struct Ledger {
    kills: usize,
    /// Kills after which some rows were done and some not yet.
    mid_delivery: usize,
    /// Per recipient, one entry for each kill that left their row `sending` in the dead
    /// process's hands: how many copies (403s for a blocked user) their server had
    /// received by then.
    caught: HashMap<usize, Vec<usize>>,
}

impl Ledger {
    /// Records the outbox as process `pid` left it, read right after its kill, and then
    /// what the servers had received.
    fn record(&mut self, pid: u32, rows: &[Row], servers: &Servers, audience: Audience) {
        self.kills += 1;
        let done = rows.iter().filter(|r| r.is_final()).count();
        if done > 0 && done < rows.len() {
            self.mid_delivery += 1;
        }
        let caught: Vec<usize> = rows
            .iter()
            .filter(|r| r.held_by(pid))
            .map(Row::recipient)
            .collect();
        if caught.is_empty() {
            return;
        }
        let got = received(servers);
        for i in caught {
            let copies = if audience.blocked(i) {
                servers.telegram.blocked_answers(chat_of(i))
            } else {
                got.get(&i).map_or(0, |(_, n)| *n)
            };
            self.caught.entry(i).or_default().push(copies);
        }
    }

    /// Rows the kills caught on their way (with one message in flight, one per kill at
    /// most).
    fn caught_sending(&self) -> usize {
        self.caught.values().map(Vec::len).sum()
    }

    /// The copies recipient `i` must have got at least: one, and one more for each kill
    /// that caught their row `sending` once the copy then on its way had arrived (the
    /// row is sent again after its lease runs out).
    fn at_least(&self, i: usize) -> usize {
        let mut resent = 0;
        for &copies in self.caught.get(&i).into_iter().flatten() {
            if copies > resent {
                resent += 1;
            }
        }
        1 + resent
    }
}

/// How exactly a row's claims are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claims {
    /// One kefu at a time (SQLite): after each kill nothing changes the outbox until the
    /// next run starts, so every claim a kill interrupted was seen.
    Seen,
    /// A replica keeps running through the kills and may take a dead one's row back
    /// before the test reads it: only the total is known.
    Bounded,
}

/// The final outbox and what the servers received, against what the kills left.
/// Returns how many repeated messages there were.
async fn check(
    db: &mut Db,
    db_url: &str,
    servers: &Servers,
    audience: Audience,
    ledger: &Ledger,
    claims: Claims,
) -> usize {
    let rows = db.outbox().await;
    assert_eq!(rows.len(), audience.recipients, "one row per recipient");
    let blocked = audience.blocked_count();
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        *states.entry(row.state.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("sent", audience.recipients - blocked),
        ("skipped", blocked),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    assert_eq!(states, expected, "the outbox after the last run");

    let got = received(servers);
    let mut repeats = 0;
    let mut extra_claims = 0;
    for row in &rows {
        let i = row.recipient();
        assert_eq!(row.channel, audience.channel(i), "recipient {i}'s row");
        let caught = ledger.caught.get(&i).map_or(0, Vec::len);
        if claims == Claims::Seen {
            assert_eq!(
                row.attempts,
                1 + caught as i64,
                "recipient {i}: a row is claimed again only after a kill caught it: {row:?}"
            );
        }
        extra_claims += row.attempts as usize - 1;
        let attempts = row.attempts as usize;
        if audience.blocked(i) {
            assert_eq!(row.state, "skipped", "{row:?}");
            let reason = row.last_error.as_deref();
            if attempts == 1 {
                assert_eq!(reason, Some(BLOCKED_REASON));
            } else {
                assert!(
                    matches!(reason, Some(BLOCKED_REASON | UNSUBSCRIBED_REASON)),
                    "{row:?}"
                );
            }
            assert!(!got.contains_key(&i), "blocked user {i} got a message");
            // One 403, and no more unless a kill came between it and its record.
            let refused = servers.telegram.blocked_answers(chat_of(i));
            assert!(
                (1..=attempts).contains(&refused),
                "blocked user {i}: {refused} 403s over {attempts} claim(s)"
            );
            continue;
        }
        assert_eq!(row.state, "sent", "{row:?}");
        let Some(&(channel, copies)) = got.get(&i) else {
            panic!("recipient {i} never got the message: {row:?}");
        };
        assert_eq!(
            channel,
            audience.channel(i),
            "recipient {i} on the wrong channel"
        );
        if channel == Channel::Discord {
            assert_eq!(
                copies, 1,
                "Discord repeated a message despite the nonce: {row:?}"
            );
        } else {
            let least = ledger.at_least(i);
            assert!(
                (least..=attempts).contains(&copies),
                "recipient {i} got {copies} copies; between {least} and {attempts} expected \
                 (kills caught the row with {:?} received): {row:?}",
                ledger.caught.get(&i)
            );
        }
        repeats += copies - 1;
    }
    assert_eq!(
        got.len(),
        audience.recipients - blocked,
        "messages went to recipients outside the audience"
    );
    if claims == Claims::Bounded {
        // One message in flight per process: a kill leaves at most one row to claim again.
        assert!(
            extra_claims <= ledger.kills,
            "{extra_claims} rows claimed again after {} kill(s)",
            ledger.kills
        );
    }
    assert!(
        repeats <= ledger.kills,
        "{repeats} repeated message(s) after {} kill(s): at most one per kill is allowed",
        ledger.kills
    );

    // The blocked users are unsubscribed from Telegram marketing, as is their consent.
    let store = Store::open(db_url, &ConnectOptions::default())
        .await
        .unwrap();
    for i in (0..audience.recipients).filter(|i| audience.blocked(*i)) {
        let sub = store
            .subscription(Channel::Telegram, &chat_of(i).to_string())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("blocked user {i} has no subscription record"));
        assert_eq!((sub.subscribed, sub.source.as_str()), (false, "blocked"));
        let customer = store
            .customer_by_email(&Email::parse(&email_of(i)).unwrap())
            .await
            .unwrap()
            .unwrap();
        let consents: Vec<(Channel, bool, String)> = store
            .consents(customer.id)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.channel, c.granted, c.source))
            .collect();
        assert_eq!(
            consents,
            vec![(Channel::Telegram, false, "blocked".to_owned())]
        );
    }
    store.close().await;
    repeats
}

/// The kills landed while delivery was under way, and some caught a row on its way.
fn kills_landed_mid_delivery(ledger: &Ledger) {
    assert!(
        ledger.kills > 0,
        "no run was killed before the campaign finished"
    );
    assert!(
        ledger.mid_delivery > 0,
        "no kill landed while some rows were done and some not: {ledger:?}"
    );
    assert!(
        ledger.caught_sending() > 0,
        "no kill caught a row being sent: {ledger:?}"
    );
}

/// Starts and kills runs, then lets one finish. The first kill comes at a random moment
/// (it may land while the campaign is being planned); each later one a random while
/// after its run started sending.
async fn crash_and_finish(
    dir: &Path,
    db: &mut Db,
    servers: &Servers,
    audience: Audience,
    kills: usize,
    seed: u64,
) -> Ledger {
    let mut lcg = Lcg(seed);
    let mut ledger = Ledger::default();
    'kills: for k in 0..kills {
        let mut child = spawn_run(dir, &["campaign", "run", "winter.yaml"]);
        let pid = child.id();
        if k == 0 {
            tokio::time::sleep(lcg.next_ms(150, 1200)).await;
        } else {
            let started = Instant::now();
            while db.held_by(pid).await == 0 {
                if exited(&mut child) {
                    break 'kills;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "run {k} sent nothing for two minutes"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(lcg.next_ms(0, 500)).await;
        }
        if exited(&mut child) {
            // It finished before the kill: nothing left to interrupt.
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let rows = db.outbox().await;
        ledger.record(pid, &rows, servers, audience);
    }
    let mut last = spawn_run(dir, &["campaign", "run", "winter.yaml"]);
    assert!(
        wait(&mut last, Duration::from_secs(600)).await,
        "the last run did not finish"
    );
    assert!(servers.total() > 0);
    ledger
}

/// Whether kefu is waiting out a 429: one was served since the first `before`, and it
/// is the last answer to a send.
fn backing_off(seen: &[RecordedRequest], before: usize) -> bool {
    let served = seen.iter().filter(|r| r.status == 429).count();
    let last = seen
        .iter()
        .rev()
        .find(|r| SEND_METHODS.contains(&r.method.as_str()));
    served > before && last.is_some_and(|r| r.status == 429)
}

/// Whether every chat Telegram took a message for, or refused with a 403, has its row
/// recorded as done.
fn recorded(rows: &[Row], seen: &[RecordedRequest]) -> bool {
    let done: HashSet<&str> = rows
        .iter()
        .filter(|r| r.is_final())
        .map(|r| r.address.as_str())
        .collect();
    seen.iter()
        .filter(|r| SEND_METHODS.contains(&r.method.as_str()) && matches!(r.status, 200 | 403))
        .all(|r| {
            r.chat_id()
                .is_some_and(|c| done.contains(c.to_string().as_str()))
        })
}

/// Starts and kills runs, each while it waits out a 429 with everything Telegram
/// answered recorded, then lets one finish.
async fn kill_in_back_offs(
    dir: &Path,
    db: &mut Db,
    servers: &Servers,
    audience: Audience,
    kills: usize,
) -> Ledger {
    let mut ledger = Ledger::default();
    for k in 0..kills {
        let before = servers.telegram.too_many_requests();
        let mut child = spawn_run(dir, &["campaign", "run", "winter.yaml"]);
        let pid = child.id();
        let started = Instant::now();
        loop {
            let seen = servers.telegram.requests();
            if backing_off(&seen, before)
                && recorded(&db.outbox().await, &seen)
                && servers.telegram.requests().len() == seen.len()
            {
                break;
            }
            assert!(!exited(&mut child), "run {k} ended without meeting a 429");
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "run {k} met no 429 in two minutes"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let rows = db.outbox().await;
        let seen = servers.telegram.requests();
        assert!(
            backing_off(&seen, before),
            "kill {k} did not land in a 429 back-off: {:?}",
            seen.last()
        );
        assert!(
            recorded(&rows, &seen),
            "kill {k} caught a message Telegram took but kefu had not recorded"
        );
        ledger.record(pid, &rows, servers, audience);
    }
    let mut last = spawn_run(dir, &["campaign", "run", "winter.yaml"]);
    assert!(
        wait(&mut last, Duration::from_secs(600)).await,
        "the last run did not finish"
    );
    ledger
}

fn status_says_finished(dir: &Path) {
    let out = kefu(dir, &["campaign", "status", "winter-teas"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("finished"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_campaign_survives_sigkill() {
    let audience = Audience {
        recipients: env_usize("KEFU_CRASH_RECIPIENTS", 20_000),
        all_channels: true,
    };
    let kills = env_usize("KEFU_CRASH_KILLS", 20);
    let Some(servers) = Servers::all_unlimited().await else {
        return;
    };
    servers.block(audience);
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("kefu.db").display());
    write_config(dir.path(), &db_url, &servers, 1);
    seed(&db_url, audience).await;
    let mut db = Db::open(&db_url).await;
    let ledger = crash_and_finish(dir.path(), &mut db, &servers, audience, kills, 7).await;
    kills_landed_mid_delivery(&ledger);
    let repeats = check(&mut db, &db_url, &servers, audience, &ledger, Claims::Seen).await;
    eprintln!(
        "sqlite: {} recipients, {} kills ({} mid-delivery, {} caught a row being sent), {repeats} repeats",
        audience.recipients,
        ledger.kills,
        ledger.mid_delivery,
        ledger.caught_sending()
    );
    status_says_finished(dir.path());
    // Running it again sends nothing more.
    let before = servers.total();
    let out = kefu(dir.path(), &["campaign", "run", "winter.yaml"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(servers.total(), before);
    db.close().await;
    // The e-mail is well-formed: a one-click unsubscribe, the row's own Message-ID.
    let smtp = servers.smtp.as_ref().unwrap();
    let mail = smtp.messages().into_iter().next().unwrap();
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

/// Telegram's real limits (30 messages a second overall) against a kefu allowed 1,000
/// and forty messages in flight, so that it outruns them whatever this machine's speed:
/// every burst ends in 429s and a one-second pause of all sends. Each run is killed in
/// such a pause, once everything Telegram answered is recorded; nothing is then on its
/// way, so nobody may get a message twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_campaign_survives_sigkill_in_a_telegram_429_back_off() {
    let audience = Audience {
        recipients: 150,
        all_channels: false,
    };
    let kills = 3;
    let servers = Servers::telegram_with_its_limits().await;
    servers.block(audience);
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("kefu.db").display());
    write_config(dir.path(), &db_url, &servers, 40);
    seed(&db_url, audience).await;
    let mut db = Db::open(&db_url).await;
    let ledger = kill_in_back_offs(dir.path(), &mut db, &servers, audience, kills).await;
    assert_eq!(ledger.kills, kills);
    kills_landed_mid_delivery(&ledger);
    let repeats = check(&mut db, &db_url, &servers, audience, &ledger, Claims::Seen).await;
    assert_eq!(repeats, 0, "a kill in a 429 back-off repeated a message");
    let too_many = servers.telegram.too_many_requests();
    assert!(too_many >= kills, "{too_many} 429s");
    eprintln!(
        "429 back-offs: {} recipients, {kills} kills, {} rows caught waiting, {too_many} 429s served",
        audience.recipients,
        ledger.caught_sending()
    );
    status_says_finished(dir.path());
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_campaign_survives_sigkill_with_two_replicas() {
    let audience = Audience {
        recipients: env_usize("KEFU_CRASH_RECIPIENTS", 20_000),
        all_channels: true,
    };
    let kills = env_usize("KEFU_CRASH_KILLS", 20);
    let Some(servers) = Servers::all_unlimited().await else {
        return;
    };
    servers.block(audience);
    let pg = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &pg.url, &servers, 1);
    seed(&pg.url, audience).await;
    // Plan once, then two replicas deliver it while one of them keeps being killed.
    let out = kefu(
        dir.path(),
        &["campaign", "run", "winter.yaml", "--detach"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut db = Db::open(&pg.url).await;
    let mut steady = spawn_run(dir.path(), &["campaign", "run", "winter.yaml"]);
    let ledger = crash_and_finish(dir.path(), &mut db, &servers, audience, kills, 11).await;
    assert!(
        wait(&mut steady, Duration::from_secs(600)).await,
        "the steady replica did not finish"
    );
    kills_landed_mid_delivery(&ledger);
    let repeats = check(
        &mut db,
        &pg.url,
        &servers,
        audience,
        &ledger,
        Claims::Bounded,
    )
    .await;
    eprintln!(
        "postgres: {} recipients, {} kills ({} mid-delivery, {} caught a row being sent), {repeats} repeats, two replicas",
        audience.recipients,
        ledger.kills,
        ledger.mid_delivery,
        ledger.caught_sending()
    );
    status_says_finished(dir.path());
    db.close().await;
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
