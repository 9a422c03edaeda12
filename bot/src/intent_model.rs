//! Intent recognition by meaning: the customer's message is compared with example
//! messages per intent (`prompts/intents.yaml`, in every answer language) through the
//! knowledge base's embedding model, and the intent of the nearest examples wins when it
//! is clearly ahead of the next one. It recognises an intent in words the keyword rules
//! ([`crate::intent`]) do not list, with typos and across languages, and a product that
//! has become dangerous (overheating, smoke, a swollen battery …).
//!
//! It costs no inference of its own per message: it reads the one query embedding the
//! turn computes for its knowledge search. The examples are embedded once, on first use,
//! and their vectors kept in a file keyed by the model and the examples, so a restart
//! reads them back instead of embedding them again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kefu_knowledge::{Embedder, Role};
use sha2::{Digest, Sha256};

use crate::intent::Intent;

/// The example messages, compiled in.
pub const EXEMPLARS: &str = include_str!("../../prompts/intents.yaml");

/// Nearest examples per intent whose similarities are averaged.
const K: usize = 3;
/// How far the best intent's score must be ahead of the next intent's.
pub const MARGIN: f32 = 0.012;
/// A message that asks how, how long or whether is more often a question about the rules:
/// an order action must be further ahead.
pub const ASKING_MARGIN: f32 = 0.03;
/// A hazard hands the conversation over: it must be further ahead.
pub const HAZARD_MARGIN: f32 = 0.02;
/// Written at the start of a vector file, before the key.
const MAGIC: &[u8; 8] = b"KEFUIV01";
/// A fixed text whose embedding goes into the key: a changed model changes it.
const PROBE: &str = "kefu intent probe: where is my order?";

/// What a message is, as the examples say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// One of the engine's intents ([`Intent::Question`] for questions to the articles).
    Intent(Intent),
    /// A product that is dangerous: a person takes over at once.
    Hazard,
}

impl Label {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "hazard" => Self::Hazard,
            "track_order" => Self::Intent(Intent::TrackOrder),
            "list_orders" => Self::Intent(Intent::ListOrders),
            "return_item" => Self::Intent(Intent::ReturnItem),
            "cancel_order" => Self::Intent(Intent::CancelOrder),
            "change_address" => Self::Intent(Intent::ChangeAddress),
            "find_product" => Self::Intent(Intent::FindProduct),
            "greeting" => Self::Intent(Intent::Greeting),
            "thanks" => Self::Intent(Intent::Thanks),
            "question" => Self::Intent(Intent::Question),
            _ => return None,
        })
    }
}

/// The examples as read from the file: one label per text, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemplars {
    pub labels: Vec<Label>,
    pub texts: Vec<String>,
    /// The languages each label has examples in.
    pub languages: BTreeMap<String, Vec<String>>,
}

#[derive(serde::Deserialize)]
struct File {
    intents: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExemplarError {
    #[error("prompts/intents.yaml: {0}")]
    Yaml(String),
    #[error("prompts/intents.yaml: unknown intent `{0}`")]
    UnknownIntent(String),
    #[error("prompts/intents.yaml: intent `{intent}`, language `{lang}`: empty example")]
    Empty { intent: String, lang: String },
}

impl Exemplars {
    pub fn parse(yaml: &str) -> Result<Self, ExemplarError> {
        let file: File =
            serde_saphyr::from_str(yaml).map_err(|e| ExemplarError::Yaml(e.to_string()))?;
        let mut out = Self {
            labels: Vec::new(),
            texts: Vec::new(),
            languages: BTreeMap::new(),
        };
        for (name, by_lang) in file.intents {
            let label =
                Label::parse(&name).ok_or_else(|| ExemplarError::UnknownIntent(name.clone()))?;
            for (lang, texts) in by_lang {
                for text in texts {
                    if text.trim().is_empty() {
                        return Err(ExemplarError::Empty {
                            intent: name.clone(),
                            lang,
                        });
                    }
                    out.labels.push(label);
                    out.texts.push(text.trim().to_string());
                }
                out.languages
                    .entry(name.clone())
                    .or_default()
                    .push(lang.clone());
            }
        }
        Ok(out)
    }
}

/// The embedded examples: one unit vector per example, in [`Exemplars`] order.
#[derive(Debug)]
struct Table {
    labels: Vec<Label>,
    dimension: usize,
    /// `labels.len() * dimension` values, row after row.
    vectors: Vec<f32>,
}

/// The intent the examples nearest to a message point at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guess {
    pub label: Label,
    /// Mean similarity of the label's `K` nearest examples.
    pub score: f32,
    /// How far `score` is ahead of the next label's.
    pub margin: f32,
    /// The runner-up.
    pub next: Label,
}

impl Guess {
    /// Clear enough to act on: a hazard must be further ahead than other intents.
    pub fn clear(&self) -> bool {
        self.margin
            >= if self.label == Label::Hazard {
                HAZARD_MARGIN
            } else {
                MARGIN
            }
    }
}

/// What the examples change about a message the keyword rules have read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// The intent, when the keyword rules named no action and the examples clearly name
    /// an order action.
    pub intent: Option<Intent>,
    /// The message reports a dangerous product.
    pub hazard: bool,
}

/// How the two readings combine. An action the keyword rules recognised wins, and so does
/// their reading of a question about the rules (`about_the_rules`: "how do I return?").
/// Where the rules found only a question, the examples decide when they clearly point at
/// an order action (tracking, the order list, a return, a cancellation or a new address)
/// or at a product search ("¿tenéis cascos con MIPS?"; the engine still lets an article
/// answer when it matches better). Greetings and questions stay with the rules. `follow_up`: the agent asked the customer something (which
/// order, a code, the new address), so the reply's intent is the rules' alone. A hazard
/// counts whatever the rules say, when the examples are clearly ahead. `asks_how`: the
/// message asks how, how long or whether ("how does tracking work?"), so an order action
/// must be further ahead ([`ASKING_MARGIN`]).
pub fn decide(
    guess: &Guess,
    keyword: Intent,
    about_the_rules: bool,
    asks_how: bool,
    follow_up: bool,
) -> Decision {
    let order_action = |label: Label| match label {
        Label::Intent(
            i @ (Intent::TrackOrder
            | Intent::ListOrders
            | Intent::ReturnItem
            | Intent::CancelOrder
            | Intent::ChangeAddress
            | Intent::FindProduct),
        ) => Some(i),
        _ => None,
    };
    let intent = (keyword == Intent::Question
        && !about_the_rules
        && !follow_up
        && guess.clear()
        && (!asks_how || guess.margin >= ASKING_MARGIN))
        .then(|| order_action(guess.label))
        .flatten();
    Decision {
        intent,
        hazard: guess.label == Label::Hazard && guess.clear(),
    }
}

/// Nearest-example intent recognition over one embedding model.
pub struct IntentModel {
    embedder: Arc<dyn Embedder>,
    exemplars: Exemplars,
    /// Where the examples' vectors are kept between runs (`None`: computed every run).
    cache_dir: Option<PathBuf>,
    table: tokio::sync::OnceCell<Option<Table>>,
}

impl std::fmt::Debug for IntentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentModel")
            .field("model", &self.embedder.model())
            .field("examples", &self.exemplars.texts.len())
            .finish_non_exhaustive()
    }
}

impl IntentModel {
    /// The built-in examples over `embedder`.
    pub fn new(embedder: Arc<dyn Embedder>) -> Result<Self, ExemplarError> {
        Ok(Self::with_exemplars(embedder, Exemplars::parse(EXEMPLARS)?))
    }

    pub fn with_exemplars(embedder: Arc<dyn Embedder>, exemplars: Exemplars) -> Self {
        Self {
            embedder,
            exemplars,
            cache_dir: None,
            table: tokio::sync::OnceCell::new(),
        }
    }

    /// Keeps the examples' vectors in `dir` between runs.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Embeds the examples (or reads their vectors back) now rather than on the first
    /// message; `false` when that failed and the keyword rules decide alone.
    pub async fn warm(&self) -> bool {
        self.table().await.is_some()
    }

    async fn table(&self) -> Option<&Table> {
        self.table
            .get_or_init(|| async {
                match self.load().await {
                    Ok(table) => Some(table),
                    Err(e) => {
                        tracing::error!(error = %e, "intent examples could not be embedded; keyword rules only");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }

    async fn load(&self) -> Result<Table, String> {
        let started = std::time::Instant::now();
        let probe = self
            .embedder
            .embed(&[PROBE.to_string()], Role::Query)
            .await
            .map_err(|e| e.to_string())?;
        let key = self.key(probe.first().map_or(&[][..], Vec::as_slice));
        let path = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("intents-{}.vectors", &key[..16])));
        if let Some(path) = &path {
            match read_table(path, &key, &self.exemplars.labels) {
                Ok(Some(table)) => {
                    tracing::debug!(path = %path.display(), examples = table.labels.len(), "intent example vectors read back");
                    return Ok(table);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "intent example vectors unreadable; embedding again")
                }
            }
        }
        let vectors = self
            .embedder
            .embed(&self.exemplars.texts, Role::Query)
            .await
            .map_err(|e| e.to_string())?;
        let dimension = self.embedder.dimension();
        if vectors.len() != self.exemplars.texts.len()
            || vectors.iter().any(|v| v.len() != dimension)
        {
            return Err(format!(
                "the model returned {} vectors for {} examples",
                vectors.len(),
                self.exemplars.texts.len()
            ));
        }
        let mut flat = Vec::with_capacity(vectors.len() * dimension);
        for mut v in vectors {
            kefu_knowledge::embed::normalize(&mut v);
            flat.extend(v);
        }
        let table = Table {
            labels: self.exemplars.labels.clone(),
            dimension,
            vectors: flat,
        };
        tracing::info!(
            examples = table.labels.len(),
            seconds = started.elapsed().as_secs_f64(),
            "intent examples embedded"
        );
        if let Some(path) = &path
            && let Err(e) = write_table(path, &key, &table)
        {
            tracing::warn!(path = %path.display(), error = %e, "intent example vectors not kept");
        }
        Ok(table)
    }

    /// What the vectors depend on: the model (its name, dimension and what it makes of
    /// a fixed text) and the examples.
    fn key(&self, probe: &[f32]) -> String {
        let mut h = Sha256::new();
        h.update(self.embedder.model().as_bytes());
        h.update(b"\n");
        h.update(self.embedder.dimension().to_le_bytes());
        for x in probe {
            // Rounded: the same model on another CPU may differ in the last bits.
            h.update(((x * 1000.0).round() as i32).to_le_bytes());
        }
        for (label, text) in self.exemplars.labels.iter().zip(&self.exemplars.texts) {
            h.update(format!("{label:?}\t{text}\n").as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The intent of the message whose query embedding is `query`; `None` without the
    /// examples' vectors.
    pub async fn classify(&self, query: &[f32]) -> Option<Guess> {
        let table = self.table().await?;
        classify(table, query)
    }
}

fn classify(table: &Table, query: &[f32]) -> Option<Guess> {
    if query.len() != table.dimension || table.labels.is_empty() {
        return None;
    }
    let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return None;
    }
    // In the order labels first appear, so ties always resolve the same way.
    let mut by_label: Vec<(Label, Vec<f32>)> = Vec::new();
    for (label, row) in table
        .labels
        .iter()
        .zip(table.vectors.chunks_exact(table.dimension))
    {
        let dot: f32 = row.iter().zip(query).map(|(a, b)| a * b).sum();
        match by_label.iter_mut().find(|(l, _)| l == label) {
            Some((_, sims)) => sims.push(dot / norm),
            None => by_label.push((*label, vec![dot / norm])),
        }
    }
    let mut scores: Vec<(Label, f32)> = by_label
        .into_iter()
        .map(|(label, mut sims)| {
            sims.sort_by(|a, b| b.total_cmp(a));
            let k = sims.len().min(K);
            (label, sims[..k].iter().sum::<f32>() / k as f32)
        })
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (label, score) = *scores.first()?;
    let (next, next_score) = scores.get(1).copied().unwrap_or((label, -1.0));
    Some(Guess {
        label,
        score,
        margin: score - next_score,
        next,
    })
}

/// The examples' vectors from `path`, when it was written for `key`; `Ok(None)` when
/// there is no such file or it is for other examples or another model.
fn read_table(path: &Path, key: &str, labels: &[Label]) -> std::io::Result<Option<Table>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let header = MAGIC.len() + 64 + 8;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Ok(None);
    }
    if &bytes[MAGIC.len()..MAGIC.len() + 64] != key.as_bytes() {
        return Ok(None);
    }
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
    };
    let (Some(count), Some(dimension)) = (word(MAGIC.len() + 64), word(MAGIC.len() + 68)) else {
        return Ok(None);
    };
    let (count, dimension) = (count as usize, dimension as usize);
    if count != labels.len() || bytes.len() != header + count * dimension * 4 {
        return Ok(None);
    }
    let vectors = bytes[header..]
        .chunks_exact(4)
        .filter_map(|b| <[u8; 4]>::try_from(b).ok())
        .map(f32::from_le_bytes)
        .collect();
    Ok(Some(Table {
        labels: labels.to_vec(),
        dimension,
        vectors,
    }))
}

/// Writes the vectors next to `path` and renames the file into place, so a crash never
/// leaves half a file behind.
fn write_table(path: &Path, key: &str, table: &Table) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = Vec::with_capacity(MAGIC.len() + 72 + table.vectors.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(key.as_bytes());
    let count = u32::try_from(table.labels.len()).map_err(std::io::Error::other)?;
    let dimension = u32::try_from(table.dimension).map_err(std::io::Error::other)?;
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(&dimension.to_le_bytes());
    for x in &table.vectors {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, &bytes)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_cover_every_intent_in_every_answer_language() {
        let ex = Exemplars::parse(EXEMPLARS).unwrap();
        let mut langs: Vec<String> = crate::agent::templates::LANGUAGES
            .iter()
            .map(|(l, _)| (*l).to_string())
            .collect();
        langs.sort();
        assert_eq!(ex.languages.len(), 10);
        for (intent, have) in &ex.languages {
            assert_eq!(have, &langs, "{intent}");
        }
        assert_eq!(ex.labels.len(), ex.texts.len());
        assert!(ex.texts.len() > 350, "{}", ex.texts.len());
    }

    #[test]
    fn a_broken_examples_file_says_what_is_wrong() {
        let err = Exemplars::parse("intents:\n  chit_chat:\n    en: [\"hi\"]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "prompts/intents.yaml: unknown intent `chit_chat`"
        );
        let err = Exemplars::parse("intents:\n  hazard:\n    en: [\" \"]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "prompts/intents.yaml: intent `hazard`, language `en`: empty example"
        );
    }

    fn table(rows: &[(Label, [f32; 3])]) -> Table {
        Table {
            labels: rows.iter().map(|(l, _)| *l).collect(),
            dimension: 3,
            vectors: rows.iter().flat_map(|(_, v)| *v).collect(),
        }
    }

    #[test]
    fn the_nearest_examples_decide_with_their_margin() {
        let track = Label::Intent(Intent::TrackOrder);
        let question = Label::Intent(Intent::Question);
        let t = table(&[
            (track, [1.0, 0.0, 0.0]),
            (track, [0.8, 0.6, 0.0]),
            (question, [0.0, 1.0, 0.0]),
            (Label::Hazard, [0.0, 0.0, 1.0]),
        ]);
        let g = classify(&t, &[2.0, 0.0, 0.0]).unwrap();
        assert_eq!(g.label, track);
        assert_eq!(g.next, question);
        // Track: mean of 1.0 and 0.8; question 0.0.
        assert!((g.score - 0.9).abs() < 1e-6, "{g:?}");
        assert!((g.margin - 0.9).abs() < 1e-6, "{g:?}");
        assert!(g.clear());
        // Halfway between two intents: no clear winner.
        let g = classify(&t, &[0.0, 1.0, 1.0]).unwrap();
        assert!(!g.clear(), "{g:?}");
        // A vector of another model is not compared.
        assert_eq!(classify(&t, &[1.0, 0.0]), None);
    }

    #[test]
    fn vectors_are_read_back_only_for_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intents.vectors");
        let labels = [Label::Hazard, Label::Intent(Intent::Thanks)];
        let t = Table {
            labels: labels.to_vec(),
            dimension: 2,
            vectors: vec![1.0, 0.0, 0.0, 1.0],
        };
        let key = "a".repeat(64);
        write_table(&path, &key, &t).unwrap();
        let back = read_table(&path, &key, &labels).unwrap().unwrap();
        assert_eq!(back.vectors, t.vectors);
        assert_eq!(back.dimension, 2);
        assert!(
            read_table(&path, &"b".repeat(64), &labels)
                .unwrap()
                .is_none()
        );
        assert!(read_table(&path, &key, &labels[..1]).unwrap().is_none());
        assert!(
            read_table(&dir.path().join("none"), &key, &labels)
                .unwrap()
                .is_none()
        );
        assert!(!path.with_extension("partial").exists());
    }

    /// The real model: messages written for this test, none of them among the examples.
    /// Skipped without `KEFU_E5_MODEL`; `KEFU_REQUIRE_MODEL=1` makes that a failure.
    #[tokio::test]
    async fn unseen_phrasings_are_read_by_meaning() {
        let Some(path) = std::env::var_os("KEFU_E5_MODEL") else {
            assert!(
                std::env::var_os("KEFU_REQUIRE_MODEL").is_none(),
                "KEFU_REQUIRE_MODEL is set but KEFU_E5_MODEL is not"
            );
            eprintln!("KEFU_E5_MODEL is not set: skipping the intent model check");
            return;
        };
        let local = kefu_knowledge::embed::local::LocalEmbedder::load(Path::new(&path)).unwrap();
        let local = Arc::new(local);
        let model = IntentModel::new(local.clone()).unwrap();
        assert!(model.warm().await);
        let track = Some(Intent::TrackOrder);
        let cases: &[(&str, Option<Intent>, bool)] = &[
            // (message, order action it is, hazard)
            ("Où en est ma commande ?", track, false),
            (
                "Bonjour, toujours pas de nouvelles de mon colis, c'est normal ?",
                track,
                false,
            ),
            (
                "Je n'ai rien reçu depuis ma commande de la semaine dernière",
                track,
                false,
            ),
            ("頼んだものはどうなっていますか", track, false),
            ("注文したのにまだ何も来ないんですが", track, false),
            ("荷物って今どこまで来てますか？", track, false),
            ("Como está meu pedido?", track, false),
            ("Cadê minha encomenda? Já faz dez dias", track, false),
            ("Minha compra ainda não apareceu aqui", track, false),
            ("were is my ordr??", track, false),
            ("我的 package 还没来", track, false),
            ("any update on the stuff I bought last week", track, false),
            ("¿Me pueden decir qué pasó con lo que compré?", track, false),
            ("Wann kommt endlich mein Zeug an?", track, false),
            ("我訂的東西到底寄了沒", track, false),
            ("What is your return policy?", None, false),
            ("How long does delivery to Japan take?", None, false),
            (
                "Quels sont les délais de livraison pour la Belgique ?",
                None,
                false,
            ),
            ("配送料はいくらですか", None, false),
            ("Vocês entregam em Portugal?", None, false),
            ("Is the kettle's hot water safe to drink?", None, false),
            ("Does the kettle heat up quickly?", None, false),
            ("Is lapsang souchong very smoky?", None, false),
            (
                "the charging base gets scorching and the casing is deforming",
                None,
                true,
            ),
            (
                "la base se pone tan caliente que huele raro, como a plástico",
                None,
                true,
            ),
            ("充電してたらバッテリーがパンパンに膨れてきた", None, true),
            ("a tomada do aparelho ficou preta e quente", None, true),
        ];
        let mut wrong = Vec::new();
        for (text, want, hazard) in cases {
            let query = local.embed_now(text, Role::Query);
            let guess = model.classify(&query).await.unwrap();
            let d = decide(
                &guess,
                Intent::Question,
                false,
                crate::intent::asks_how(text),
                false,
            );
            eprintln!(
                "{text:<70} {:?} {:.3} over {:?} by {:.3} -> {d:?}",
                guess.label, guess.score, guess.next, guess.margin
            );
            if d.intent != *want || d.hazard != *hazard {
                wrong.push(*text);
            }
        }
        assert!(wrong.is_empty(), "{wrong:?}");
    }
}
