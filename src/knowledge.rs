//! Wiring for knowledge search: which embedder, which index backend, and the
//! `kefu knowledge …` commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kefu_knowledge::embed::local::LocalEmbedder;
use kefu_knowledge::embed::openai::{OpenAiEmbedder, OpenAiSettings};
use kefu_knowledge::eval::{self, Question};
use kefu_knowledge::synonyms::ShopWords;
use kefu_knowledge::{
    ChunkOptions, Embedder, Filter, Index, Knowledge, SearchRequest, SourceKind, Thresholds,
};
use kefu_knowledge_edge::EdgeIndex;
use kefu_knowledge_qdrant::QdrantIndex;

use crate::cli::{KnowledgeCommand, SearchArgs};
use crate::config::{EmbeddingsProvider, Settings};

/// The demo shop's labelled questions, built in so `kefu knowledge eval` works anywhere.
const DEMO_QUESTIONS: &str = include_str!("../knowledge/eval/questions.yaml");

/// Opens the configured embedder and index. `rebuild` starts the index afresh (needed
/// after changing the embedding model).
pub async fn open(settings: &Settings, rebuild: bool) -> anyhow::Result<Knowledge> {
    let embedder = embedder(settings).await?;
    let layout = Knowledge::layout_for(embedder.as_deref());
    let k = &settings.knowledge;
    let index: Arc<dyn Index> = match &k.qdrant_url {
        Some(url) => {
            let api_key = k.qdrant_api_key.as_ref().map(|key| key.expose());
            let collection = &k.qdrant_collection;
            let index = if rebuild {
                QdrantIndex::recreate(url, api_key, collection, &layout).await
            } else {
                QdrantIndex::connect(url, api_key, collection, &layout).await
            }
            .with_context(|| format!("opening the Qdrant collection {collection} at {url}"))?;
            Arc::new(index)
        }
        None => {
            let dir = k.index_path.clone();
            let layout = layout.clone();
            let index = tokio::task::spawn_blocking(move || {
                if rebuild {
                    EdgeIndex::recreate(&dir, &layout)
                } else {
                    EdgeIndex::open(&dir, &layout)
                }
            })
            .await?
            .with_context(|| {
                format!("opening the knowledge index at {}", k.index_path.display())
            })?;
            Arc::new(index)
        }
    };
    Ok(Knowledge::new(index, embedder)
        .with_shop_words(shop_words(&k.synonyms_path)?)
        .with_thresholds(Thresholds {
            dense: k.min_dense_score,
            sparse: k.min_bm25_score,
        })
        .with_chunking(ChunkOptions {
            max_tokens: k.chunk_tokens,
        })
        .with_dense_products(k.embed_products)
        .with_fallback_languages(kefu_knowledge::FallbackLanguages::with_overrides(
            settings.agent.fallback_languages.clone(),
        )))
}

/// The shop's own word groups from `path`; none when there is no such file.
pub(crate) fn shop_words(path: &Path) -> anyhow::Result<ShopWords> {
    match std::fs::read_to_string(path) {
        Ok(text) => ShopWords::parse(&path.display().to_string(), &text)
            .map_err(|e| anyhow::anyhow!("knowledge.synonyms_path: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ShopWords::default()),
        Err(e) => Err(anyhow::anyhow!(
            "knowledge.synonyms_path: cannot read {}: {e}",
            path.display()
        )),
    }
}

pub(crate) async fn embedder(settings: &Settings) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let e = &settings.knowledge.embeddings;
    Ok(match settings.embeddings_choice() {
        EmbeddingsProvider::Local => {
            let path = e.model_path.clone();
            let model = tokio::task::spawn_blocking(move || LocalEmbedder::load(&path))
                .await?
                .with_context(|| {
                    format!(
                        "loading the embedding model {} (reinstall it with `kefu model install`)",
                        e.model_path.display()
                    )
                })?;
            Some(Arc::new(model))
        }
        EmbeddingsProvider::Openai => {
            let base_url = e
                .base_url
                .clone()
                .context("knowledge.embeddings.base_url is not set")?;
            let model = e
                .model
                .clone()
                .context("knowledge.embeddings.model is not set")?;
            let embedder = OpenAiEmbedder::connect(OpenAiSettings {
                base_url,
                model,
                api_key: e.api_key.as_ref().map(|k| k.expose().to_owned()),
                query_prefix: e.query_prefix.clone(),
                passage_prefix: e.passage_prefix.clone(),
                timeout: Duration::from_secs(e.timeout_secs.max(1)),
                batch: 64,
            })
            .await?;
            Some(Arc::new(embedder))
        }
        EmbeddingsProvider::None | EmbeddingsProvider::Auto => None,
    })
}

/// Brings the index in line with the store, printing what changed.
pub async fn sync(
    store: &kefu_bot::store::Store,
    knowledge: &Knowledge,
    settings: &Settings,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let sources = kefu_bot::sources::knowledge_sources(store, settings.http.public_url.as_deref())
        .await
        .context("reading documents and products")?;
    let report = knowledge.reindex(&sources).await.context("indexing")?;
    println!(
        "knowledge index ({}, {}): {} sources, {} chunks — {} written, {} unchanged, {} deleted in {:.1} s",
        knowledge.index().backend(),
        knowledge.embedder().map_or("BM25 only", |e| e.model()),
        report.sources,
        report.chunks,
        report.written,
        report.unchanged,
        report.deleted,
        started.elapsed().as_secs_f64()
    );
    match knowledge.calibration() {
        Some(c) => {
            let level = |l: Option<kefu_knowledge::calibrate::Level>| {
                l.map_or("—".to_owned(), |l| {
                    format!(
                        "answer from {:.3} (floor {:.3}, lead {:.3}; own {:.3}, unrelated {:.3})",
                        l.threshold, l.floor, l.margin, l.own, l.unrelated
                    )
                })
            };
            println!(
                "confidence learnt from {} article headings: cosine {}; BM25 {}",
                c.samples,
                level(c.dense),
                level(c.sparse)
            );
        }
        None => println!(
            "confidence: too few article headings to learn from; using knowledge.min_dense_score / min_bm25_score"
        ),
    }
    Ok(())
}

pub async fn run(settings: &Settings, command: KnowledgeCommand) -> anyhow::Result<ExitCode> {
    match command {
        KnowledgeCommand::Reindex { rebuild } => {
            let store = crate::commands::open(settings).await?;
            let knowledge = open(settings, rebuild).await?;
            sync(&store, &knowledge, settings).await?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        KnowledgeCommand::Search(args) => {
            let knowledge = open(settings, false).await?;
            if knowledge.index().count().await? == 0 {
                bail!(
                    "the knowledge index is empty: run `kefu knowledge reindex` (or `kefu demo load`) first"
                );
            }
            search(&knowledge, args).await
        }
        KnowledgeCommand::Eval {
            questions,
            json,
            min_recall_at_3,
        } => {
            let knowledge = open(settings, false).await?;
            let (name, text) = match &questions {
                Some(path) => (
                    path.display().to_string(),
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => ("demo questions".to_owned(), DEMO_QUESTIONS.to_owned()),
            };
            let questions: Vec<Question> = eval::parse_questions(&name, &text)?;
            let report = eval::evaluate(&knowledge, &questions).await?;
            for miss in &report.misses {
                println!(
                    "miss [{} {}] {:?}: want {}, got {}",
                    miss.question.lang,
                    miss.question.kind,
                    miss.question.q,
                    miss.question.group,
                    miss.got.join(", ")
                );
            }
            print!("{}", eval::render(&report));
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(min) = min_recall_at_3
                && report.overall.recall_at_3 < min
            {
                println!(
                    "recall@3 {:.3} is below the required {min:.3}",
                    report.overall.recall_at_3
                );
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn search(knowledge: &Knowledge, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let mut kinds = Vec::new();
    if args.products {
        kinds.push(SourceKind::Product);
    }
    if args.articles {
        kinds.push(SourceKind::Article);
    }
    let request = SearchRequest {
        text: args.query.clone(),
        lang: args.lang.clone(),
        written_in: None,
        top: args.top,
        filter: Filter {
            tags: args.tag.clone(),
            kinds,
            in_stock_only: args.in_stock,
            ..Filter::default()
        },
    };
    let started = Instant::now();
    let found = knowledge.search(&request).await?;
    let took = started.elapsed();
    if args.json {
        let rows: Vec<_> = found
            .iter()
            .map(|f| {
                serde_json::json!({
                    "score": f.hit.score,
                    "dense_score": f.hit.dense_score,
                    "bm25_score": f.hit.sparse_score,
                    "confident": f.confident,
                    "in_query_language": f.in_query_language,
                    "passage": f.hit.passage.as_ref(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if found.is_empty() {
        println!("nothing found");
    }
    for (i, f) in found.iter().enumerate() {
        let p = &f.hit.passage;
        let scores = [
            f.hit.dense_score.map(|s| format!("cos {s:.3}")),
            f.hit.sparse_score.map(|s| format!("bm25 {s:.2}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!(
            "{}. [{}] {} ({}, {}){}",
            i + 1,
            p.doc_id,
            if p.section.is_empty() {
                p.title.clone()
            } else {
                format!("{} › {}", p.title, p.section)
            },
            p.lang,
            scores,
            if f.confident {
                ""
            } else {
                " — below the answer threshold"
            }
        );
        if let Some(url) = &p.url {
            println!("   {url}");
        }
        let snippet: String = p.text.lines().skip(1).collect::<Vec<_>>().join(" ");
        let snippet: String = snippet.chars().take(160).collect();
        println!("   {snippet}");
    }
    println!(
        "({} in {:.1} ms)",
        knowledge.index().backend(),
        took.as_secs_f64() * 1e3
    );
    Ok(ExitCode::SUCCESS)
}

/// `kefu bench knowledge`: builds an embedded index of `chunks` synthetic passages (random
/// unit vectors, Zipf-distributed words from a 20,000-word vocabulary, 60 words each) and
/// times hybrid searches through [`Knowledge::search_embedded`], so language preference and
/// fusion are included and only the query embedding is not.
pub async fn bench(
    settings: &Settings,
    chunks: usize,
    queries: usize,
    dimension: usize,
    dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    use kefu_bot::demo::Rng;
    use kefu_knowledge::{Layout, Passage, Point};

    anyhow::ensure!(
        chunks > 0 && queries > 0,
        "--chunks and --queries must be at least 1"
    );
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().join("index"));
    let layout = Layout {
        model: Some(format!("synthetic-{dimension}")),
        dimension: Some(dimension),
        bm25: kefu_knowledge::bm25::DEFINITION_VERSION,
    };
    let edge = {
        let (dir, layout) = (dir.clone(), layout.clone());
        tokio::task::spawn_blocking(move || EdgeIndex::recreate(&dir, &layout)).await??
    };
    let index: Arc<dyn Index> = Arc::new(edge.clone());
    let words: Vec<String> = (0..20_000).map(synthetic_word).collect();
    let langs = ["en", "zh-CN", "es", "ja", "fr", "de"];
    let mut rng = Rng::new(7, 1, 0);
    let vector = |rng: &mut Rng| {
        let mut v: Vec<f32> = (0..dimension).map(|_| (rng.unit() as f32) - 0.5).collect();
        kefu_knowledge::embed::normalize(&mut v);
        v
    };
    let zipf = |rng: &mut Rng| {
        // Inverse-CDF sampling of a Zipf-like rank distribution.
        let u = rng.unit().max(1e-9);
        ((20_000f64).powf(u) as usize).saturating_sub(1).min(19_999)
    };
    let started = Instant::now();
    let mut samples = Vec::new();
    for start in (0..chunks).step_by(1_000) {
        let mut points = Vec::with_capacity(1_000);
        for i in start..(start + 1_000).min(chunks) {
            let text: Vec<&str> = (0..60).map(|_| words[zipf(&mut rng)].as_str()).collect();
            let text = text.join(" ");
            let dense = vector(&mut rng);
            if i % (chunks / queries.clamp(1, chunks)).max(1) == 0 && samples.len() < queries {
                samples.push((
                    text.split(' ').take(6).collect::<Vec<_>>().join(" "),
                    dense.clone(),
                ));
            }
            let lang = langs[i % langs.len()];
            points.push(Point {
                id: i as u64,
                dense: Some(dense),
                passage: Passage {
                    doc_id: format!("doc-{}", i / 4),
                    group: format!("topic-{}", i / 24),
                    lang: lang.to_owned(),
                    title: format!("Topic {}", i / 24),
                    section: String::new(),
                    url: None,
                    tags: vec![format!("tag-{}", i % 17)],
                    kind: SourceKind::Article,
                    text,
                    hash: i.to_string(),
                    in_stock: None,
                    price: None,
                    ordinal: (i % 4) as u32,
                },
            });
        }
        index.upsert(points).await?;
    }
    index.flush().await?;
    println!(
        "indexed {chunks} chunks ({dimension} dims) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Build the vector index (HNSW) the engine only builds on request.
    let started = Instant::now();
    let optimized = edge.optimize().await?;
    println!(
        "optimised (vector index built: {optimized}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Search reads these once when it starts and after each re-index; timed here alone.
    let started = Instant::now();
    let means = index
        .language_means(kefu_knowledge::LANGUAGE_MEANS_SAMPLE)
        .await?;
    println!(
        "language means ({} languages) read in {:.2} s",
        means.languages().count(),
        started.elapsed().as_secs_f64()
    );
    let knowledge = Knowledge::new(Arc::clone(&index), None);
    // Queries: a chunk's vector with noise, and six of its words.
    let mut latencies = Vec::with_capacity(samples.len());
    for round in 0..2 {
        latencies.clear();
        for (i, (text, dense)) in samples.iter().enumerate() {
            let mut q = dense.clone();
            for x in &mut q {
                *x += ((rng.unit() as f32) - 0.5) * 0.02;
            }
            kefu_knowledge::embed::normalize(&mut q);
            let request = SearchRequest {
                lang: Some(langs[i % langs.len()].to_owned()),
                top: 5,
                ..SearchRequest::new(text.clone())
            };
            let t = Instant::now();
            let found = knowledge.search_embedded(&request, Some(q)).await?;
            latencies.push(t.elapsed());
            if found.is_empty() {
                bail!("search for {text:?} found nothing");
            }
        }
        if round == 0 {
            println!("warm-up: {} queries", samples.len());
        }
    }
    latencies.sort();
    let pct = |q: f64| {
        latencies[((latencies.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3
    };
    println!(
        "hybrid search (embedded, query embedding excluded), {} queries: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        pct(0.5),
        pct(0.95),
        pct(0.99)
    );
    if let Some(embedder) = embedder(settings).await? {
        let texts = [
            "how long does shipping take",
            "我的包裹什么时候到",
            "¿puedo devolver un artículo usado?",
            "注文をキャンセルしたい",
        ];
        let mut times = Vec::new();
        for round in 0..50 {
            for text in texts {
                let t = Instant::now();
                embedder
                    .embed(&[text.to_owned()], kefu_knowledge::Role::Query)
                    .await?;
                if round > 0 {
                    times.push(t.elapsed());
                }
            }
        }
        times.sort();
        let p =
            |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
        println!(
            "query embedding ({}): p50 {:.2} ms, p95 {:.2} ms",
            embedder.model(),
            p(0.5),
            p(0.95)
        );
    } else {
        println!("query embedding: no model configured (run `kefu model install`)");
    }
    Ok(ExitCode::SUCCESS)
}

fn synthetic_word(i: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "pi", "an", "qu", "ex", "zo", "ber",
        "ly", "ning",
    ];
    let mut n = i + 16;
    let mut word = String::new();
    while n > 0 {
        word.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    word
}
