//! `kefu bench widget` and `kefu bench telegram`: the channels under load on this machine.
//!
//! - widget: a real `kefu serve` (a child process, so its memory is its own) on a small
//!   demo shop; many widget WebSocket sessions open at once, the server's resident memory
//!   per session, then round trips (message sent → the bot's reply received) at a steady
//!   rate over some of the sessions.
//! - telegram: the adapter sends as fast as its limiter allows into the local Bot API test
//!   server, which enforces Telegram's documented limits; the achieved share of the
//!   allowed rate and the number of 429 answers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use kefu_bot::agent::{Agent, AgentSettings};
use kefu_bot::store::{ConnectOptions, Store};
use kefu_channels::limiter::{Limiter, Limits, Priority};
use kefu_channels::telegram::test_server::{self, TestServer};
use kefu_channels::telegram::{Mode, Telegram, TelegramConfig};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::bench_agent::percentile;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `kefu serve` child process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the kefu binary")?;
        let mut child = Command::new(exe)
            .current_dir(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("KEFU__WEB__SITE_KEY", "bench")
            // The channel is measured, not retrieval: no model download in a scratch shop.
            .env("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting kefu serve")?;
        let stdout = child.stdout.take().context("kefu serve's output")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let Some(line) = lines.next() else {
                bail!("kefu serve exited before listening");
            };
            if let Some(rest) = line?.strip_prefix("kefu listening on ") {
                break rest.trim().replacen("http://", "ws://", 1);
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, base })
    }

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the server's memory (Linux /proc)")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS in /proc/PID/status")
    }
}

async fn open_session(url: &str, visitor: String) -> anyhow::Result<Socket> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let hello = json!({"type": "hello", "site": "bench", "visitor": visitor, "lang": "en"});
    ws.send(Message::Text(hello.to_string().into())).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"welcome\"") => return Ok(ws),
            Some(Ok(Message::Text(t))) => bail!("unexpected first frame: {t}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed before welcome"),
        }
    }
}

/// Sends one message and waits for the bot's reply; the round trip.
async fn round_trip(ws: &mut Socket, id: &str, text: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let frame = json!({"type": "message", "id": id, "text": text});
    ws.send(Message::Text(frame.to_string().into())).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"role\":\"bot\"") => {
                return Ok(started.elapsed());
            }
            Some(Ok(Message::Text(t))) if t.contains("\"type\":\"error\"") => bail!("{t}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed while waiting for a reply"),
        }
    }
}

const QUESTIONS: [&str; 6] = [
    "hello",
    "How long does shipping take?",
    "What is your return policy?",
    "Do you have green tea?",
    "Can I pay with PayPal?",
    "thanks",
];

pub async fn widget(
    sessions: usize,
    rate: usize,
    secs: u64,
    dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let owned = dir.is_none();
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("kefu-bench-widget-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    if !dir.join("kefu-data/kefu.db").exists() {
        eprintln!("loading a small demo shop into {}…", dir.display());
        let status = Command::new(std::env::current_exe()?)
            .current_dir(&dir)
            .args(["demo", "load", "--customers", "200", "--orders", "1000"])
            .env("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("kefu demo load failed");
        }
    }
    let server = Server::start(&dir)?;
    let url = format!("{}/ws/widget", server.base);
    // Fresh visitors on every run: a kept work folder holds earlier runs' threads.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 1_000_000_000)
        .unwrap_or_default();

    // Warm up: the first answers load the index and templates.
    let mut warm = open_session(&url, format!("bench-{run}-warm")).await?;
    for (i, q) in QUESTIONS.iter().enumerate() {
        round_trip(&mut warm, &format!("w{i}"), q).await?;
    }
    drop(warm);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib()?;

    eprintln!("opening {sessions} widget sessions…");
    let opened = Instant::now();
    let mut sockets: Vec<Socket> = Vec::with_capacity(sessions);
    for chunk in (0..sessions).collect::<Vec<_>>().chunks(250) {
        let batch = futures::future::join_all(
            chunk
                .iter()
                .map(|i| open_session(&url, format!("bench-{run}-{i:08}"))),
        )
        .await;
        for s in batch {
            sockets.push(s.context("opening a session (raise `ulimit -n` for many sessions)")?);
        }
    }
    let open_secs = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kib()?;
    let per_session = (after.saturating_sub(before)) as f64 * 1024.0 / sessions.max(1) as f64;
    println!(
        "{sessions} concurrent widget sessions opened in {open_secs:.1} s; server memory {:.1} MiB → {:.1} MiB: {:.1} KiB per session",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per_session / 1024.0
    );

    // Round trips at a steady total rate: `rate` sessions each send one message a second,
    // starts spread over the second.
    let active = rate.min(sockets.len());
    let mut workers = Vec::with_capacity(active);
    let start = Instant::now() + Duration::from_millis(200);
    for (i, mut ws) in sockets.drain(..active).enumerate() {
        let offset = Duration::from_secs_f64(i as f64 / active.max(1) as f64);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(secs as usize);
            let mut errors = 0usize;
            for n in 0..secs {
                let due = start + offset + Duration::from_secs(n);
                tokio::time::sleep_until(due.into()).await;
                let q = QUESTIONS[(i + n as usize) % QUESTIONS.len()];
                match round_trip(&mut ws, &format!("b{i}x{n}"), q).await {
                    Ok(d) => latencies.push(d),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = vec![];
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "round trips: {} messages in {elapsed:.1} s ({:.0}/s, {errors} errors) over {active} sessions while {} more stay open; p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        sockets.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    drop(sockets);
    drop(server);
    if owned {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn telegram(secs: u64, senders: usize) -> anyhow::Result<ExitCode> {
    const TOKEN: &str = "1:bench";
    let server = TestServer::start_with(TOKEN, test_server::Limits::default()).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kefu.db").display());
    let store = Store::open(&url, &ConnectOptions::default()).await?;
    let agent = Arc::new(Agent::new(store, None, AgentSettings::default())?);
    let limiter = Arc::new(Limiter::new(Limits::default()));
    let telegram = Telegram::connect(
        agent,
        limiter,
        TelegramConfig {
            token: TOKEN.into(),
            api_url: server.api_url(),
            mode: Mode::Polling,
            answer_in_groups: false,
        },
    )
    .await?;
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    let next = Arc::new(std::sync::atomic::AtomicI64::new(1));
    let workers: Vec<_> = (0..senders)
        .map(|_| {
            let telegram = telegram.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut failed = 0usize;
                while Instant::now() < end {
                    let chat = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let send = telegram.send(
                        kefu_channels::telegram::ChatId(chat),
                        "New this week: first-flush Darjeeling.",
                        None,
                        Priority::Campaign,
                    );
                    match tokio::time::timeout_at(end.into(), send).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => failed += 1,
                        Err(_) => break,
                    }
                }
                failed
            })
        })
        .collect();
    let mut failed = 0;
    for w in workers {
        failed += w.await?;
    }
    let window = Duration::from_secs(secs);
    let accepted = server
        .sent()
        .iter()
        .filter(|m| m.at.saturating_duration_since(started) < window)
        .count();
    let allowed = 30 * secs as usize;
    println!(
        "telegram: {accepted} messages accepted in {secs} s by the test server = {:.1} % of the allowed 30/s; {} answered 429; {failed} failed",
        accepted as f64 * 100.0 / allowed as f64,
        server.too_many_requests()
    );
    Ok(ExitCode::SUCCESS)
}
