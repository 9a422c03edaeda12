//! `kefu bench campaign`: plan a content campaign for many generated recipients on SQLite
//! (segment, variant assignment, quiet hours, caps, rendering, outbox), then deliver it
//! into the Telegram Bot API test server, which enforces Telegram's limits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use kefu_bot::shop::{Channel, Email};
use kefu_bot::store::{ConnectOptions, Consent, CustomerRecord, Merge, Store};
use kefu_campaigns::deliver::{DispatchOptions, Dispatcher, LinkBase, Sender};
use kefu_campaigns::plan::{self, PlanSettings};
use kefu_campaigns::rules::{LocalWindow, hhmm};
use kefu_campaigns::segments::Segments;
use kefu_campaigns::spec::{self, FrequencyCap, Templates};
use kefu_channels::limiter::{Limiter, Limits};
use kefu_channels::telegram::Outbound;
use kefu_channels::telegram::test_server::{self, TestServer};

use super::TelegramSender;

const TOKEN: &str = "1:bench";
const ZONES: [&str; 5] = [
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "UTC",
];
const LOCALES: [&str; 5] = ["zh-CN", "de", "en", "ja", "es"];

fn campaign_yaml(at: &str) -> String {
    format!(
        r#"id: bench-winter
name: Winter teas
kind: content
audience:
  filter:
    consent: [telegram]
channels: [telegram]
schedule:
  at: {at}
frequency_cap: {{max: 5, days: 7}}
content:
  fallback_language: en
  languages:
    en:
      text: "Hi {{{{customer.first_name}}}}, our winter teas are here: {{{{shop.name}}}} picked them for you."
      buttons:
        - label: See them
          url: "https://shop.example/collections/winter?c={{{{customer.segment}}}}"
    zh-Hans:
      text: "{{{{customer.name}}}}，冬季新茶到了。"
      buttons:
        - label: 去看看
          url: https://shop.example/zh/collections/winter
    de:
      text: "Hallo {{{{customer.first_name}}}}, unsere Wintertees sind da."
variants:
  - id: a
    weight: 45
  - id: b
    weight: 45
    content:
      fallback_language: en
      languages:
        en:
          text: "{{{{customer.first_name}}}}, winter teas — 10% off this week."
  - id: holdout
    weight: 10
    control: true
"#
    )
}

async fn generate(store: &Store, recipients: usize) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut writer = store.writer().await?;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..recipients {
        batch.push(CustomerRecord {
            email: Some(
                Email::parse(&format!("bench{i}@example.com")).map_err(anyhow::Error::msg)?,
            ),
            name: Some(format!("Guest{i} Bench")),
            time_zone: Some(ZONES[i % ZONES.len()].into()),
            locale: Some(LOCALES[i % LOCALES.len()].into()),
            identities: vec![(Channel::Telegram, (1_000_000 + i).to_string(), true)],
            consents: vec![Consent {
                channel: Channel::Telegram,
                granted: i % 20 != 0,
                source: "bench".into(),
                at: now,
            }],
            ..Default::default()
        });
        if batch.len() == 10_000 {
            writer.write_customers(&batch, Merge::Overwrite).await?;
            batch.clear();
        }
    }
    writer.write_customers(&batch, Merge::Overwrite).await?;
    writer.commit().await?;
    Ok(())
}

pub async fn run(recipients: usize, deliver_secs: u64, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let (_temp, dir) = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            (None, d)
        }
        None => {
            let t = tempfile::tempdir()?;
            let d = t.path().to_path_buf();
            (Some(t), d)
        }
    };
    let db = dir.join("bench-campaign.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        &ConnectOptions::default(),
    )
    .await?;
    let started = Instant::now();
    generate(&store, recipients).await?;
    eprintln!(
        "generated {recipients} customers in {:.1} s (not timed)",
        started.elapsed().as_secs_f64()
    );

    let now = Utc::now();
    let text = campaign_yaml(&now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let campaign = spec::validate(
        "bench.yaml",
        &text,
        &spec::Known::with_segments(Vec::<String>::new()),
    )
    .map_err(|d| {
        anyhow::anyhow!(
            "{}",
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let mut rates = BTreeMap::new();
    rates.insert(Channel::Telegram, 30.0);
    let settings = PlanSettings {
        shop_name: "Lotus & Pine".into(),
        shop_url: "https://shop.example".into(),
        currency: "USD".into(),
        time_zone: chrono_tz::UTC,
        default_language: "en".into(),
        // An empty quiet window, so the delivery phase has due messages at once.
        quiet_hours: Some(LocalWindow {
            start: hhmm("00:00").map_err(anyhow::Error::msg)?,
            end: hhmm("00:00").map_err(anyhow::Error::msg)?,
        }),
        frequency_cap: FrequencyCap { max: 2, days: 7 },
        rates,
    };
    let t0 = Instant::now();
    let plan = plan::plan(&store, &campaign, &Segments::default(), &settings, now).await?;
    let planned = t0.elapsed().as_secs_f64();
    let templates = Templates::new(&campaign).map_err(|f| {
        anyhow::anyhow!(
            "{}",
            f.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let t1 = Instant::now();
    let written = plan::write(
        &store,
        &campaign,
        &text,
        &plan,
        &templates,
        &settings,
        |_| {},
    )
    .await?;
    let wrote = t1.elapsed().as_secs_f64();
    println!(
        "plan of {} customers: audience {}, {} messages ({} variants, {} left out) — selection, variants, quiet hours and caps {planned:.2} s; rendering and outbox {wrote:.2} s; total {:.2} s ({:.0} recipients/s)",
        recipients,
        plan.audience,
        written,
        plan.by_variant.len(),
        plan.excluded.values().sum::<usize>(),
        planned + wrote,
        written as f64 / (planned + wrote)
    );
    drop(plan);

    if deliver_secs == 0 {
        store.close().await;
        return Ok(());
    }
    let server = TestServer::start_with(TOKEN, test_server::Limits::default()).await?;
    let limiter = Arc::new(Limiter::new(Limits::default()));
    let sender = TelegramSender {
        out: Outbound::new(TOKEN, &server.api_url(), limiter)?,
        store: store.clone(),
    };
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        vec![Arc::new(sender) as Arc<dyn Sender>],
        DispatchOptions {
            owner: "bench".into(),
            in_flight: 1,
            max_attempts: 3,
            lease: Duration::seconds(30),
            links: LinkBase {
                base: "https://shop.example".into(),
                key: b"bench".to_vec(),
            },
        },
    ));
    let counters = dispatcher.counters.clone();
    let begun = Instant::now();
    let secs = deliver_secs;
    dispatcher
        .run(None, tokio::time::sleep(StdDuration::from_secs(secs)))
        .await?;
    let window = StdDuration::from_secs(secs);
    let accepted = server
        .sent()
        .iter()
        .filter(|m| m.at.saturating_duration_since(begun) < window)
        .count();
    let allowed = 30 * secs as usize;
    println!(
        "delivery: {accepted} messages accepted by the Telegram test server in {secs} s = {:.1} % of the allowed 30/s; {} answered 429; {} failed, {} retried",
        accepted as f64 * 100.0 / allowed as f64,
        server.too_many_requests(),
        counters.failed.load(Ordering::Relaxed),
        counters.retried.load(Ordering::Relaxed),
    );
    store.close().await;
    Ok(())
}
