//! `kefu bench agent`: the offline engine's turn latency with many concurrent
//! conversations on the demo shop, in two parts. Query embeddings are computed first and
//! timed on their own; the turns then run with those vectors looked up, so their figures
//! are everything else: language detection, intent (keyword rules, and with the model the
//! nearest intent examples to the same query vector), retrieval in the index, tools,
//! templates, guard and storage.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use kefu_bot::agent::{Agent, Inbound};
use kefu_bot::demo::DemoConfig;
use kefu_bot::shop::Channel;
use kefu_bot::store::{ConnectOptions, Store};
use kefu_knowledge::Knowledge;
use kefu_knowledge::embed::{EmbedError, Embedder, Role};

use crate::config::Settings;

/// Query vectors computed ahead; passages go to the real model.
struct Precomputed {
    inner: Arc<dyn Embedder>,
    queries: HashMap<String, Vec<f32>>,
}

#[async_trait]
impl Embedder for Precomputed {
    fn model(&self) -> &str {
        self.inner.model()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    async fn embed(&self, texts: &[String], role: Role) -> Result<Vec<Vec<f32>>, EmbedError> {
        if role == Role::Query && texts.iter().all(|t| self.queries.contains_key(t)) {
            return Ok(texts
                .iter()
                .filter_map(|t| self.queries.get(t).cloned())
                .collect());
        }
        self.inner.embed(texts, role).await
    }
}

/// What customers say, by language; `{order}` is one of their orders.
const SCRIPTS: [&[&str]; 6] = [
    &[
        "hello",
        "where is my order {order}?",
        "What is your return policy?",
        "do you have green tea?",
        "list my orders",
        "thanks",
    ],
    &[
        "你好",
        "我的订单 {order} 到哪了？",
        "退货政策是什么？",
        "有没有白茶？",
        "我的订单",
        "谢谢",
    ],
    &[
        "hola",
        "¿Dónde está mi pedido {order}?",
        "¿Cuál es la política de devoluciones?",
        "¿tienen té verde?",
        "mis pedidos",
        "gracias",
    ],
    &[
        "bonjour",
        "Où est ma commande {order} ?",
        "Quelle est votre politique de retour ?",
        "avez-vous du thé vert ?",
        "mes commandes",
        "merci",
    ],
    &[
        "hallo",
        "Wo ist meine Bestellung {order}?",
        "Welche Artikel sind von der Rückgabe ausgeschlossen?",
        "habt ihr grünen Tee?",
        "meine Bestellungen",
        "danke",
    ],
    &[
        "こんにちは",
        "注文 {order} はいつ届きますか？",
        "返品ポリシーを教えてください",
        "緑茶はありますか？",
        "注文履歴",
        "ありがとう",
    ],
];

/// Runs every conversation's turns, one conversation after another or all at once.
async fn phase(
    agent: &Arc<Agent>,
    messages: &[Vec<String>],
    people: &[(i64, String)],
    concurrent: bool,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    // Threads are new on every run, so a kept database (`--dir`) answers every turn again
    // rather than taking the messages for redeliveries.
    let run = chrono::Utc::now().timestamp_millis();
    let label = if concurrent { "together" } else { "alone" };
    let wall = Instant::now();
    let mut tasks = Vec::with_capacity(messages.len());
    let mut times: Vec<Duration> = Vec::new();
    for (i, script) in messages.iter().cloned().enumerate() {
        let agent = agent.clone();
        let customer = people[i % people.len()].0;
        let job = async move {
            let mut times = Vec::with_capacity(script.len());
            for (t, text) in script.into_iter().enumerate() {
                let inbound = Inbound {
                    channel: Channel::Web,
                    thread_id: format!("{run}-{label}-{i}"),
                    external_id: Some(format!("{run}-{label}-{i}-{t}")),
                    text,
                    customer: Some(customer),
                    lang_hint: None,
                    lang_fixed: false,
                    client: None,
                };
                let start = Instant::now();
                agent.handle(&inbound).await?;
                times.push(start.elapsed());
            }
            anyhow::Ok(times)
        };
        if concurrent {
            tasks.push(tokio::spawn(job));
        } else {
            times.extend(job.await?);
        }
    }
    for task in tasks {
        times.extend(task.await??);
    }
    Ok((times, wall.elapsed()))
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

pub async fn run(
    settings: &Settings,
    conversations: usize,
    turns: usize,
    dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        conversations > 0 && turns > 0,
        "--conversations and --turns must be at least 1"
    );
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = Store::open(
        &url,
        &ConnectOptions {
            max_connections: settings.database.max_connections,
            ..ConnectOptions::default()
        },
    )
    .await?;
    let started = Instant::now();
    let demo = DemoConfig::default();
    if store.stats().await?.is_empty_shop() {
        kefu_bot::demo::load(&store, &demo, &|_| {}).await?;
    }
    println!(
        "demo shop loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Who talks: customers with orders, each with one order number.
    let mut people: Vec<(i64, String)> = Vec::new();
    for id in 1..=(demo.customers as i64) {
        if people.len() >= conversations {
            break;
        }
        if let Some(o) = store.orders_of(id).await?.first() {
            people.push((id, o.name.clone()));
        }
    }
    anyhow::ensure!(
        !people.is_empty(),
        "the demo shop has no customers with orders"
    );
    let messages: Vec<Vec<String>> = (0..conversations)
        .map(|i| {
            let (_, order) = &people[i % people.len()];
            let script = SCRIPTS[i % SCRIPTS.len()];
            (0..turns)
                .map(|t| script[t % script.len()].replace("{order}", order))
                .collect()
        })
        .collect();

    // Part one: the query embeddings.
    let model = crate::knowledge::embedder(settings).await?;
    let mut embed_times: Vec<Duration> = Vec::new();
    let embedder: Option<Arc<dyn Embedder>> = match model {
        None => {
            println!(
                "no embedding model: retrieval is BM25 only (run `kefu model install` for the hybrid figures)"
            );
            None
        }
        Some(inner) => {
            let mut distinct: Vec<String> = messages.iter().flatten().cloned().collect();
            distinct.sort();
            distinct.dedup();
            let mut queries = HashMap::new();
            for text in distinct {
                let t = Instant::now();
                let v = inner
                    .embed(std::slice::from_ref(&text), Role::Query)
                    .await?;
                embed_times.push(t.elapsed());
                if let Some(v) = v.into_iter().next() {
                    queries.insert(text, v);
                }
            }
            Some(Arc::new(Precomputed { inner, queries }))
        }
    };
    let layout = Knowledge::layout_for(embedder.as_deref());
    let index = kefu_knowledge_edge::EdgeIndex::open(&dir.join("index"), &layout)?;
    let knowledge = Knowledge::new(Arc::new(index), embedder);
    let sources = kefu_bot::sources::knowledge_sources(&store, None).await?;
    let t = Instant::now();
    let report = knowledge.reindex(&sources).await?;
    println!(
        "knowledge indexed: {} chunks ({} embedded) in {:.1} s",
        report.chunks,
        report.written,
        t.elapsed().as_secs_f64()
    );

    let mut agent_settings = settings.agent_settings().map_err(anyhow::Error::msg)?;
    agent_settings.clock = Arc::new(move || demo.now());
    let agent = Arc::new(Agent::new(
        store.clone(),
        Some(Arc::new(knowledge)),
        agent_settings,
    )?);

    // The intent examples are embedded before the clock starts (a server does it at
    // start); turns then read intents from the same precomputed query vector as search.
    let t = Instant::now();
    if agent.warm_intents().await {
        println!(
            "intent examples embedded in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }

    // Part two, first one conversation at a time (service time), then all at once
    // (throughput, and latency with queueing).
    let (mut alone, alone_wall) = phase(&agent, &messages, &people, false).await?;
    let (mut times, elapsed) = phase(&agent, &messages, &people, true).await?;
    alone.sort();
    times.sort();
    let n = times.len();
    println!();
    println!(
        "everything but the query embedding (language, intent, retrieval, tools, templates, guard, storage):"
    );
    println!(
        "  one turn at a time: {} turns in {:.2} s ({:.0} turns/s), p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        alone.len(),
        alone_wall.as_secs_f64(),
        alone.len() as f64 / alone_wall.as_secs_f64(),
        ms(percentile(&alone, 0.50)),
        ms(percentile(&alone, 0.95)),
        ms(percentile(&alone, 0.99)),
    );
    println!(
        "  {conversations} conversations at once: {n} turns in {:.2} s ({:.0} turns/s), latency with queueing p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
    );
    if !embed_times.is_empty() {
        embed_times.sort();
        println!(
            "query embedding, one message at a time ({} distinct): p50 {:.2} ms, p99 {:.2} ms",
            embed_times.len(),
            ms(percentile(&embed_times, 0.50)),
            ms(percentile(&embed_times, 0.99)),
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
