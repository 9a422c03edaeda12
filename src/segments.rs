//! `kefu segments …`: RFM groups, churn risk and named segments; `kefu bench rfm`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use kefu_bot::store::{ConnectOptions, Store};
use kefu_campaigns::segments::{self, CustomerFacts, Segments};

use crate::cli::{SegmentFormat, SegmentsCommand};
use crate::config::Settings;

fn load_segments(settings: &Settings) -> anyhow::Result<Segments> {
    Ok(Segments::load(&settings.campaigns.segments_file)?
        .with_rfm_window_days(settings.campaigns.rfm_window_days))
}

pub async fn run(settings: &Settings, command: SegmentsCommand) -> anyhow::Result<()> {
    let named = load_segments(settings)?;
    let store = crate::commands::open(settings).await?;
    let now = Utc::now();
    let result = match command {
        SegmentsCommand::List => list(&store, &named, now).await,
        SegmentsCommand::Show { name, limit } => show(&store, &named, &name, limit, now).await,
        SegmentsCommand::Export { name, format, out } => {
            export(&store, &named, &name, format, out, now).await
        }
        SegmentsCommand::Explain { email } => explain(&store, &named, &email, now).await,
        SegmentsCommand::Recompute => {
            let started = Instant::now();
            let r = segments::recompute(&store, now, named.rfm_window_days()).await?;
            println!(
                "scored {} customers ({} with an order in the last {} days) in {:.2} s",
                r.scored,
                r.in_window,
                named.rfm_window_days(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    };
    store.close().await;
    result
}

async fn list(store: &Store, named: &Segments, now: DateTime<Utc>) -> anyhow::Result<()> {
    let facts = segments::load_facts(store, now, named.rfm_window_days()).await?;
    let counts = segments::counts(store, named, &facts, now).await?;
    let width = counts
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(7)
        .max(7);
    println!(
        "{:<width$}  {:>9}  {:>6}  kind",
        "segment", "customers", "share"
    );
    let total = facts.len().max(1) as f64;
    for (i, (name, n)) in counts.iter().enumerate() {
        let kind = if i < segments::RFM_GROUPS.len() {
            "rfm"
        } else {
            "named"
        };
        println!(
            "{name:<width$}  {n:>9}  {:>5.1}%  {kind}",
            100.0 * *n as f64 / total
        );
    }
    let none = facts.iter().filter(|f| f.group.is_none()).count();
    println!(
        "{:<width$}  {none:>9}  {:>5.1}%  never ordered",
        "(no group)",
        100.0 * none as f64 / total
    );
    println!("{} customers in all", facts.len());
    Ok(())
}

fn breakdown<'a>(
    members: &'a [CustomerFacts],
    key: impl Fn(&'a CustomerFacts) -> String,
) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in members {
        *counts.entry(key(m)).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rfm_text(f: &CustomerFacts) -> String {
    f.rfm
        .map_or_else(|| "-".into(), |r| format!("{}{}{}", r.r, r.f, r.m))
}

async fn show(
    store: &Store,
    named: &Segments,
    name: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let members = segments::audience(store, named, Some(name), None, now).await?;
    if let Some(def) = named.get(name)
        && let Some(d) = &def.description
    {
        println!("{name}: {d}");
    }
    println!("{} customers", members.len());
    if members.is_empty() {
        return Ok(());
    }
    let unknown = || "?".to_string();
    println!(
        "by country:  {}",
        breakdown(&members, |m| m.country.clone().unwrap_or_else(unknown))
    );
    println!(
        "by language: {}",
        breakdown(&members, |m| m.locale.clone().unwrap_or_else(unknown))
    );
    println!(
        "by channel:  {}",
        breakdown(&members, |m| {
            m.preferred_channel
                .or(m.last_active_channel)
                .map_or_else(|| "email".into(), |c| c.as_str().to_string())
        })
    );
    println!();
    println!(
        "{:>8}  {:<36}  {:>3}  {:<18}  {:>6}  {:>5}",
        "id", "email", "rfm", "group", "orders", "churn"
    );
    for m in members.iter().take(limit) {
        println!(
            "{:>8}  {:<36}  {:>3}  {:<18}  {:>6}  {:>5.2}",
            m.id,
            m.email.as_deref().unwrap_or("-"),
            rfm_text(m),
            m.group.unwrap_or("-"),
            m.orders,
            m.churn_risk
        );
    }
    if members.len() > limit {
        println!("… and {} more", members.len() - limit);
    }
    Ok(())
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

async fn export(
    store: &Store,
    named: &Segments,
    name: &str,
    format: SegmentFormat,
    out: Option<PathBuf>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let SegmentFormat::Csv = format;
    let members = segments::audience(store, named, Some(name), None, now).await?;
    let mut w: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    writeln!(
        w,
        "id,email,name,country,language,r,f,m,group,churn_risk,orders,spent"
    )?;
    for m in &members {
        let (r, f, mm) = m
            .rfm
            .map_or((String::new(), String::new(), String::new()), |s| {
                (s.r.to_string(), s.f.to_string(), s.m.to_string())
            });
        writeln!(
            w,
            "{},{},{},{},{},{r},{f},{mm},{},{:.3},{},{:.2}",
            m.id,
            csv_field(m.email.as_deref().unwrap_or("")),
            csv_field(m.name.as_deref().unwrap_or("")),
            csv_field(m.country.as_deref().unwrap_or("")),
            csv_field(m.locale.as_deref().unwrap_or("")),
            m.group.unwrap_or(""),
            m.churn_risk,
            m.orders,
            m.spent_minor as f64 / 100.0
        )?;
    }
    w.flush()?;
    if let Some(path) = out {
        eprintln!("wrote {} customers to {}", members.len(), path.display());
    }
    Ok(())
}

async fn explain(
    store: &Store,
    named: &Segments,
    email: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(e) = segments::explain(store, named, email, now).await? else {
        anyhow::bail!("no customer with email {email}");
    };
    let f = &e.facts;
    println!(
        "{} <{}>  (customer {})",
        f.name.as_deref().unwrap_or("-"),
        f.email.as_deref().unwrap_or("-"),
        f.id
    );
    println!(
        "orders: {} in all, {:.2} spent",
        f.orders,
        f.spent_minor as f64 / 100.0
    );
    match (e.values, f.rfm, e.cell) {
        (Some(v), Some(r), Some((row, col))) => {
            println!("RFM over the last {} days:", e.window_days);
            println!(
                "  recency   {:>4} days since the last order  → R {}",
                v.recency_days, r.r
            );
            println!(
                "  frequency {:>4} orders                    → F {}",
                v.frequency, r.f
            );
            println!(
                "  monetary  {:>9.2} spent (after refunds)  → M {}",
                v.monetary_minor as f64 / 100.0,
                r.m
            );
            println!(
                "group: {} — grid cell R {row} × (F+M)/2 = ⌊({} + {}) / 2⌋ = {col}",
                f.group.unwrap_or("-"),
                r.f,
                r.m
            );
        }
        _ if f.orders > 0 => println!(
            "group: lost — no order in the last {} days (last order {})",
            e.window_days,
            f.last_order_at
                .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d").to_string())
        ),
        _ => println!("group: none — never ordered"),
    }
    println!("churn risk: {:.2}", e.churn_risk);
    for factor in &e.factors {
        println!("  +{:.2}  {factor}", factor.contribution());
    }
    if e.factors.len() > 1 {
        println!("  (factors combine like independent chances: 1 − Π(1 − each))");
    }
    if !e.segments.is_empty() {
        println!("named segments: {}", e.segments.join(", "));
    }
    Ok(())
}

/// Generates a synthetic shop in a fresh SQLite database and times the scoring of every
/// customer (RFM, groups, churn) over it: the median of three runs.
pub async fn bench(
    settings: &Settings,
    customers: usize,
    lines: usize,
    dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let temp;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            temp = tempfile::tempdir().context("creating a temporary folder")?;
            temp.path().to_path_buf()
        }
    };
    let db = dir.join("rfm-bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        &ConnectOptions::default(),
    )
    .await?;
    let now = Utc::now();
    let window = settings.campaigns.rfm_window_days;
    let started = Instant::now();
    let shop = store
        .generate_rfm_bench(
            i64::try_from(customers).unwrap_or(i64::MAX),
            i64::try_from(lines).unwrap_or(i64::MAX),
            now,
        )
        .await?;
    println!(
        "generated {} customers, {} orders, {} order lines, {} parcels, {} conversations in {:.1} s (not timed below)",
        shop.customers,
        shop.orders,
        shop.order_lines,
        shop.shipments,
        shop.conversations,
        started.elapsed().as_secs_f64()
    );
    let mut score_times = Vec::new();
    let mut fact_times = Vec::new();
    for run in 1..=3 {
        let started = Instant::now();
        let set = segments::compute_scores(&store, now, window).await?;
        let scores = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let facts = segments::load_facts(&store, now, window).await?;
        let all = started.elapsed().as_secs_f64();
        let in_window = set.scores.iter().filter(|s| s.rfm.is_some()).count();
        println!(
            "run {run}: scores of {} customers ({in_window} in the window) in {scores:.2} s; \
             full facts of {} customers in {all:.2} s",
            set.scores.len(),
            facts.len()
        );
        score_times.push(scores);
        fact_times.push(all);
    }
    let started = Instant::now();
    let r = segments::recompute(&store, now, window).await?;
    let write = started.elapsed().as_secs_f64();
    store.close().await;
    score_times.sort_by(f64::total_cmp);
    fact_times.sort_by(f64::total_cmp);
    println!(
        "RFM + churn + groups (read from SQLite and computed): median {:.2} s over 3 runs",
        score_times[1]
    );
    println!(
        "facts for campaign planning (profiles, identities, consents too): median {:.2} s",
        fact_times[1]
    );
    println!(
        "recompute with the snapshot written ({} rows): {write:.2} s",
        r.scored
    );
    Ok(())
}
