//! The knowledge service: keeps the index in step with the shop's documents and answers
//! "which passages answer this?" in the customer's language when the shop has it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::calibrate::{self, Calibration, Sample};
use crate::chunk::{self, ChunkOptions, Source};
use crate::embed::{EmbedError, Embedder, Role};
use crate::fallback::FallbackLanguages;
use crate::index::{
    Filter, Hit, Index, IndexError, IndexQuery, LanguageMeans, Layout, Point, SourceKind,
};

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Below these scores a passage is not good enough to answer from, when the shop's own
/// levels could not be learnt at re-index time ([`crate::calibrate`]: too few article
/// headings) and for products; configurable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Minimum cosine similarity when a model is configured.
    pub dense: f32,
    /// Minimum BM25 score when searching on keywords alone.
    pub sparse: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            dense: 0.85,
            sparse: 10.0,
        }
    }
}

/// What to look for.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub text: String,
    /// The customer's language; passages in it are preferred.
    pub lang: Option<String>,
    /// The language the question is written in, when it is not `lang` (a customer who
    /// chose to be answered in another language): its words are matched by that
    /// language's rules (stop words, stems).
    pub written_in: Option<String>,
    /// Passages wanted, at most one per translation group.
    pub top: usize,
    pub filter: Filter,
}

impl SearchRequest {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            lang: None,
            written_in: None,
            top: 5,
            filter: Filter::default(),
        }
    }
}

/// A search result: the passage to cite, and whether it is in the language asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub hit: Hit,
    /// The passage is in the query's language (or no language was asked for).
    pub in_query_language: bool,
    /// Its scores clear the configured thresholds.
    pub confident: bool,
}

/// Counts from a re-index run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReindexReport {
    pub sources: usize,
    pub chunks: usize,
    /// Chunks new or changed, embedded and written.
    pub written: usize,
    pub unchanged: usize,
    pub deleted: usize,
}

pub struct Knowledge {
    index: Arc<dyn Index>,
    embedder: Option<Arc<dyn Embedder>>,
    chunking: ChunkOptions,
    thresholds: Thresholds,
    dense_products: bool,
    /// The shop's own word groups, added to keyword queries.
    shop_words: crate::synonyms::ShopWords,
    /// Each language's mean passage vector, read from the index.
    means: Arc<MeansCache>,
    /// The languages to quote an article in when the customer's lacks it.
    fallbacks: FallbackLanguages,
    /// The shop's own confidence levels, learnt at the last re-index.
    calibration: std::sync::RwLock<Option<Calibration>>,
    /// Which support topics each article names ([`crate::concepts`]), read at the last
    /// re-index.
    profiles: std::sync::RwLock<Arc<crate::concepts::Profiles>>,
}

/// The index's [`LanguageMeans`], read on the first hybrid search and after every
/// re-index, and re-read in the background once older than [`MEANS_MAX_AGE`] (another
/// process, `kefu knowledge reindex`, may have changed the index meanwhile).
#[derive(Default)]
struct MeansCache {
    state: tokio::sync::Mutex<MeansState>,
}

#[derive(Default)]
struct MeansState {
    means: Option<Arc<LanguageMeans>>,
    read_at: Option<Instant>,
    refreshing: bool,
}

/// The index's language means; on failure search goes on without them.
async fn read_means(index: &dyn Index) -> Option<Arc<LanguageMeans>> {
    match index
        .language_means(crate::index::LANGUAGE_MEANS_SAMPLE)
        .await
    {
        Ok(means) => Some(Arc::new(means)),
        Err(err) => {
            tracing::warn!(error = %err, "could not read the index's language means; ranking without them");
            None
        }
    }
}

impl MeansCache {
    /// Reads the means from the index now.
    async fn refresh(&self, index: &dyn Index) -> Option<Arc<LanguageMeans>> {
        let means = read_means(index).await;
        let mut state = self.state.lock().await;
        state.means = means.clone();
        state.read_at = Some(Instant::now());
        state.refreshing = false;
        means
    }

    /// The means as last read: read now when never read, re-read in the background
    /// when stale.
    async fn get(self: &Arc<Self>, index: &Arc<dyn Index>) -> Option<Arc<LanguageMeans>> {
        let mut state = self.state.lock().await;
        let Some(read_at) = state.read_at else {
            // Held across the read: concurrent first searches wait for one reading.
            let means = read_means(index.as_ref()).await;
            state.means = means.clone();
            state.read_at = Some(Instant::now());
            return means;
        };
        if read_at.elapsed() >= MEANS_MAX_AGE && !state.refreshing {
            state.refreshing = true;
            let (cache, index) = (Arc::clone(self), Arc::clone(index));
            tokio::spawn(async move {
                cache.refresh(index.as_ref()).await;
            });
        }
        state.means.clone()
    }
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("backend", &self.index.backend())
            .field(
                "model",
                &self.embedder.as_ref().map(|e| e.model().to_owned()),
            )
            .finish()
    }
}

/// Dense candidates per search: enough to see several passages of every language.
const DENSE_POOL: usize = 120;
/// Keyword candidates per search.
const KEYWORD_POOL: usize = 40;
/// Top hits per language averaged into that language's baseline.
const BASELINE_TOP: usize = 5;
/// Weight of normalised BM25 evidence against relative cosine (cosines of related
/// passages differ by a few hundredths). With [`STRONG_BM25`] and
/// [`LANGUAGES_AVERAGED`], tuned on the demo question set (`kefu knowledge eval`).
const KEYWORD_WEIGHT: f32 = 0.02;
/// A BM25 score that means a clear keyword match on kefu's chunk sizes.
const STRONG_BM25: f32 = 25.0;
/// Languages whose best relative scores make up a topic's dense evidence.
const LANGUAGES_AVERAGED: usize = 3;
/// At most this many passages of one article are compared with a question at once.
const PASSAGES_PER_ARTICLE: usize = 64;
/// Topics ranked before the question's concepts weigh in ([`Knowledge::weigh_concepts`]).
const CONCEPT_POOL: usize = 8;
/// Weight of a topic's concept score (0 to 1) against hybrid evidence, where related
/// topics differ by a few hundredths: a topic naming the question's concepts in its title
/// beats one that is slightly closer in meaning and names none. With the three below,
/// set on the demo question set and the validation shop's tuning cases.
const CONCEPT_WEIGHT_DENSE: f32 = 0.03;
/// Weight of a topic's concept score against keyword results (ranked on fused ranks), as
/// a multiple of the best one's score: without a model the topics the question names
/// decide, and the keywords order the topics that name them alike. Weights of 0.3 and 1
/// lost 8 and 3 of the validation shop's 85 tuning cases against this one.
const CONCEPT_WEIGHT_SPARSE: f32 = 3.0;
/// A topic the searches did not reach joins the ranking when it names this much of the
/// question's concepts (a heading naming all of them).
const CONCEPT_REACH: f32 = 0.6;
/// A topic is answered from on its concepts alone when it names this much of them and
/// leads every other topic by [`CONCEPT_LEAD`].
const CONCEPT_CONFIDENT: f32 = 0.5;
const CONCEPT_LEAD: f32 = 0.15;
/// How long language means read from the index are used before they are re-read.
const MEANS_MAX_AGE: Duration = Duration::from_secs(600);

/// Batch size for embedding passages during re-indexing.
const EMBED_BATCH: usize = 32;

impl Knowledge {
    pub fn new(index: Arc<dyn Index>, embedder: Option<Arc<dyn Embedder>>) -> Self {
        Self {
            index,
            embedder,
            chunking: ChunkOptions::default(),
            thresholds: Thresholds::default(),
            dense_products: false,
            shop_words: crate::synonyms::ShopWords::default(),
            means: Arc::default(),
            fallbacks: FallbackLanguages::default(),
            calibration: std::sync::RwLock::new(None),
            profiles: std::sync::RwLock::default(),
        }
    }

    /// The languages to quote an article in when the customer's lacks it.
    pub fn with_fallback_languages(mut self, fallbacks: FallbackLanguages) -> Self {
        self.fallbacks = fallbacks;
        self
    }

    /// The confidence levels learnt from the shop's articles at the last re-index
    /// (`None` before one, or when the shop has too few headings to learn from).
    pub fn calibration(&self) -> Option<Calibration> {
        self.calibration.read().ok().and_then(|c| *c)
    }

    /// The shop's own words (product names across languages…), added to keyword queries
    /// like the built-in support vocabulary.
    pub fn with_shop_words(mut self, words: crate::synonyms::ShopWords) -> Self {
        self.shop_words = words;
        self
    }

    /// Whether products get dense vectors too. Off by default: a catalogue has many more
    /// passages than the FAQ, each is already written in every language the shop sells
    /// in (so keyword search in the customer's language finds it), and embedding them
    /// in-process costs minutes on a small machine.
    pub fn with_dense_products(mut self, on: bool) -> Self {
        self.dense_products = on;
        self
    }

    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    pub fn with_chunking(mut self, chunking: ChunkOptions) -> Self {
        self.chunking = chunking;
        self
    }

    /// The layout an index needs for this embedder.
    pub fn layout_for(embedder: Option<&dyn Embedder>) -> Layout {
        Layout {
            model: embedder.map(|e| e.model().to_owned()),
            dimension: embedder.map(|e| e.dimension()),
            bm25: crate::bm25::DEFINITION_VERSION,
        }
    }

    pub fn index(&self) -> &Arc<dyn Index> {
        &self.index
    }

    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.embedder.as_ref()
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Brings the index in line with `sources`: new and changed chunks are embedded and
    /// written, unchanged ones are left alone, chunks of removed documents are deleted.
    pub async fn reindex(&self, sources: &[Source]) -> Result<ReindexReport, KnowledgeError> {
        let mut wanted = BTreeMap::new();
        // A product is embedded once: the model reads every language, so one vector finds
        // it from any (its other translations stay on keywords). The vector goes on the
        // translation with the most to read, and is made of what all of them say
        // ([`product_vector_text`]): a German title ("Stirnlampe") and an English
        // description both reach the vector.
        let vector_texts = if self.dense_products && self.embedder.is_some() {
            product_vector_texts(sources)
        } else {
            HashMap::new()
        };
        // What each passage embeds, where it is not its text.
        let mut embed_texts: HashMap<crate::index::PointId, String> = HashMap::new();
        for source in sources {
            let lead = vector_texts.get(&source.doc_id);
            for mut passage in chunk::chunk(source, self.chunking) {
                let id = chunk::point_id(&passage.doc_id, passage.ordinal);
                if let Some(lead) = lead {
                    let text = format!("{lead}\n{}", passage.text);
                    // The hash covers what is embedded: switching product vectors on or
                    // off, or a translation's new title, embeds the product again.
                    passage.hash = chunk::rehash(&passage.hash, &text);
                    embed_texts.insert(id, text);
                }
                wanted.insert(id, passage);
            }
        }
        let existing = self.index.hashes().await?;
        let mut report = ReindexReport {
            sources: sources.len(),
            chunks: wanted.len(),
            ..ReindexReport::default()
        };
        let stale: Vec<_> = existing
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        let changed: Vec<_> = wanted
            .into_iter()
            .filter(|(id, passage)| existing.get(id) != Some(&passage.hash))
            .collect();
        report.unchanged = report.chunks - changed.len();
        report.written = changed.len();
        report.deleted = stale.len();

        let (dense, plain): (Vec<_>, Vec<_>) = changed.into_iter().partition(|(id, p)| {
            self.embedder.is_some()
                && (p.kind != SourceKind::Product || embed_texts.contains_key(id))
        });
        for batch in plain.chunks(EMBED_BATCH * 8) {
            let points = batch
                .iter()
                .map(|(id, passage)| Point {
                    id: *id,
                    dense: None,
                    passage: passage.clone(),
                })
                .collect();
            self.index.upsert(points).await?;
        }
        if let Some(embedder) = &self.embedder {
            for batch in dense.chunks(EMBED_BATCH) {
                let texts: Vec<String> = batch
                    .iter()
                    .map(|(id, p)| embed_texts.get(id).unwrap_or(&p.text).clone())
                    .collect();
                let vectors = embedder.embed(&texts, Role::Passage).await?;
                let points = batch
                    .iter()
                    .zip(vectors)
                    .map(|((id, passage), dense)| Point {
                        id: *id,
                        dense: Some(dense),
                        passage: passage.clone(),
                    })
                    .collect();
                self.index.upsert(points).await?;
            }
        }
        if !stale.is_empty() {
            self.index.delete(&stale).await?;
        }
        self.index.flush().await?;
        if self.embedder.is_some() && (report.written > 0 || report.deleted > 0) {
            self.means.refresh(self.index.as_ref()).await;
        }
        // Which topics each article names, in what its readers see.
        let readable: Vec<(&Source, Arc<crate::visible::Readable>)> = sources
            .iter()
            .filter(|s| s.kind == SourceKind::Article)
            .map(|s| (s, crate::visible::readable_cached(&s.body)))
            .collect();
        let profiles = crate::concepts::Profiles::build(
            crate::concepts::builtin(),
            readable.iter().map(|(s, r)| crate::concepts::Article {
                group: &s.group,
                title: &s.title,
                body: &r.text,
            }),
        );
        if let Ok(mut slot) = self.profiles.write() {
            *slot = Arc::new(profiles);
        }
        match self.calibrate(sources).await {
            Ok(calibration) => {
                if let Ok(mut slot) = self.calibration.write() {
                    *slot = calibration;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not learn the shop's confidence levels; using the configured thresholds");
            }
        }
        Ok(report)
    }

    /// Asks the index the shop's article titles and headings as questions and learns
    /// from their scores where "confident enough" lies on this shop ([`crate::calibrate`]).
    pub async fn calibrate(
        &self,
        sources: &[Source],
    ) -> Result<Option<Calibration>, KnowledgeError> {
        let questions = calibrate::pseudo_questions(sources);
        if questions.len() < calibrate::MIN_SAMPLES {
            return Ok(None);
        }
        let vectors: Vec<Option<Vec<f32>>> = match &self.embedder {
            Some(embedder) => {
                let mut out = Vec::with_capacity(questions.len());
                for batch in questions.chunks(EMBED_BATCH) {
                    let texts: Vec<String> = batch.iter().map(|(t, _, _)| t.clone()).collect();
                    out.extend(
                        embedder
                            .embed(&texts, Role::Query)
                            .await?
                            .into_iter()
                            .map(Some),
                    );
                }
                out
            }
            None => vec![None; questions.len()],
        };
        let means = match self.embedder {
            Some(_) => self.means.get(&self.index).await,
            None => None,
        };
        let (mut dense, mut sparse) = (Vec::new(), Vec::new());
        for ((text, group, lang), vector) in questions.iter().zip(vectors) {
            let unrelated_cosine = vector
                .as_deref()
                .and_then(|v| means.as_ref().and_then(|m| m.similarity(lang, v)));
            let request = SearchRequest {
                lang: Some(lang.clone()),
                top: 3,
                filter: Filter {
                    kinds: vec![SourceKind::Article],
                    ..Filter::default()
                },
                ..SearchRequest::new(text.clone())
            };
            let found = self.search_once(&request, vector, &[]).await?;
            let sample = |score: fn(&Hit) -> Option<f32>, unrelated: Option<f32>| {
                let own = found.iter().find(|f| &f.hit.passage.group == group);
                let lead = match found.as_slice() {
                    [first, rest @ ..] if &first.hit.passage.group == group => {
                        let next = rest.first().and_then(|f| score(&f.hit)).unwrap_or(0.0);
                        score(&first.hit).map(|s| s - next)
                    }
                    _ => None,
                };
                Sample {
                    own: own.and_then(|f| score(&f.hit)),
                    unrelated,
                    lead,
                }
            };
            if self.embedder.is_some() {
                dense.push(sample(|h| h.dense_score, unrelated_cosine));
            }
            sparse.push(sample(|h| h.sparse_score, Some(0.0)));
        }
        let calibration = Calibration {
            dense: calibrate::level(&dense, calibrate::BETWEEN_COSINE),
            sparse: if self.embedder.is_some() {
                None
            } else {
                calibrate::level(&sparse, calibrate::BETWEEN_BM25)
            },
            samples: questions.len(),
        };
        tracing::info!(
            ?calibration,
            "learnt the shop's confidence levels from its headings"
        );
        Ok(Some(calibration))
    }

    /// Embeds the query (when a model is configured); split out so callers can time it.
    pub async fn embed_query(&self, text: &str) -> Result<Option<Vec<f32>>, KnowledgeError> {
        match &self.embedder {
            Some(embedder) => Ok(embedder
                .embed(&[text.to_owned()], Role::Query)
                .await?
                .into_iter()
                .next()),
            None => Ok(None),
        }
    }

    pub async fn search(&self, request: &SearchRequest) -> Result<Vec<Found>, KnowledgeError> {
        let dense = self.embed_query(&request.text).await?;
        self.search_embedded(request, dense).await
    }

    /// Searches with an already computed query embedding (`None`: keywords only).
    pub async fn search_embedded(
        &self,
        request: &SearchRequest,
        dense: Option<Vec<f32>>,
    ) -> Result<Vec<Found>, KnowledgeError> {
        let articles = request.filter.kinds.as_slice() == [SourceKind::Article];
        let mut found = if articles {
            // A wider pool, so the topics the question names can rise from below the top.
            let wider = SearchRequest {
                top: request.top.max(CONCEPT_POOL),
                ..request.clone()
            };
            let mut found = self.search_ranked(&wider, dense.clone()).await?;
            self.weigh_concepts(request, dense.as_deref(), &mut found)
                .await?;
            found.truncate(request.top.max(1));
            found
        } else {
            self.search_ranked(request, dense.clone()).await?
        };
        self.prefer_readable(request, dense, &mut found).await?;
        self.apply_margin(&mut found);
        Ok(found)
    }

    /// The passages of one translation of a topic (`group` in `lang`), each with its
    /// cosine similarity to the query embedding, best first: which part of an article is
    /// closest in meaning to the question. Empty without vectors.
    pub async fn passages_by_meaning(
        &self,
        group: &str,
        lang: &str,
        dense: Vec<f32>,
    ) -> Result<Vec<Hit>, KnowledgeError> {
        let query = IndexQuery {
            text: String::new(),
            lang: Some(lang.to_owned()),
            dense: Some(dense),
            filter: Filter {
                langs: vec![lang.to_owned()],
                groups: vec![group.to_owned()],
                ..Filter::default()
            },
            limit: PASSAGES_PER_ARTICLE,
        };
        let mut hits = self.index.search(&query).await?;
        hits.retain(|h| h.dense_score.is_some() && h.passage.lang == lang);
        Ok(hits)
    }

    /// Each of the first results not in the customer's language is replaced by the same
    /// topic's passage in the most readable language the shop wrote it in: the
    /// customer's own first, then their fallback languages in order. Ranking pools hold
    /// a limited number of passages per language; this looks the topic up directly.
    async fn prefer_readable(
        &self,
        request: &SearchRequest,
        dense: Option<Vec<f32>>,
        found: &mut [Found],
    ) -> Result<(), KnowledgeError> {
        let Some(lang) = request.lang.as_deref() else {
            return Ok(());
        };
        if !request.filter.langs.is_empty() {
            return Ok(());
        }
        let order = self.fallbacks.order(lang);
        for f in found.iter_mut().take(3) {
            if f.hit.passage.kind == SourceKind::Product || f.in_query_language {
                continue;
            }
            let rank = order
                .iter()
                .position(|l| same_language(l, &f.hit.passage.lang))
                .unwrap_or(order.len());
            for want in &order[..rank] {
                let query = IndexQuery {
                    text: request.text.clone(),
                    lang: request.written_in.clone().or_else(|| request.lang.clone()),
                    dense: dense.clone(),
                    filter: Filter {
                        langs: vec![want.clone()],
                        groups: vec![f.hit.passage.group.clone()],
                        kinds: vec![f.hit.passage.kind],
                        ..Filter::default()
                    },
                    limit: 1,
                };
                let hits = self.index.search(&query).await?;
                let Some(hit) = hits
                    .into_iter()
                    .find(|h| same_language(want, &h.passage.lang))
                else {
                    continue;
                };
                f.hit.id = hit.id;
                f.hit.passage = hit.passage;
                f.in_query_language = same_language(lang, want);
                break;
            }
        }
        Ok(())
    }

    /// A best article below the threshold but above the floor is still answered from
    /// when it leads the next result by the shop's margin ([`crate::calibrate`]).
    fn apply_margin(&self, found: &mut [Found]) {
        let Some(calibration) = self.calibration() else {
            return;
        };
        let dense = self.embedder.is_some();
        let (level, score): (_, fn(&Hit) -> Option<f32>) = if dense {
            (calibration.dense, |h| h.dense_score)
        } else {
            (calibration.sparse, |h| h.sparse_score)
        };
        let Some(level) = level else {
            return;
        };
        let (first, rest) = match found {
            [first, rest @ ..] => (first, rest),
            [] => return,
        };
        if first.confident || first.hit.passage.kind != SourceKind::Article {
            return;
        }
        let Some(best) = score(&first.hit) else {
            return;
        };
        let next = rest
            .iter()
            .filter_map(|f| score(&f.hit))
            .fold(level.floor, f32::max);
        if best >= level.floor && best - next >= level.margin {
            first.confident = true;
        }
    }

    /// Re-ranks article results by the support topics the question names, in any
    /// language ([`crate::concepts`]): each topic gains by how much of the question's
    /// concepts its title, headings and text name. A topic the searches did not reach but
    /// that names them in a heading joins the results, represented by its passage that
    /// names them in the most readable language; a topic that names them clearly better
    /// than any other is confident on that alone. Results stay best first.
    async fn weigh_concepts(
        &self,
        request: &SearchRequest,
        dense: Option<&[f32]>,
        found: &mut Vec<Found>,
    ) -> Result<(), KnowledgeError> {
        let lexicon = crate::concepts::builtin();
        let concepts = lexicon.named_in(&request.text);
        if concepts.is_empty() {
            return Ok(());
        }
        let profiles = self
            .profiles
            .read()
            .map(|p| Arc::clone(&p))
            .unwrap_or_default();
        let scores = profiles.scores(&concepts);
        if scores.is_empty() {
            return Ok(());
        }
        // Topics named clearly enough that the searches left out.
        let mut missing: Vec<(&str, f32)> = scores
            .iter()
            .filter(|(g, s)| {
                **s >= CONCEPT_REACH && !found.iter().any(|f| f.hit.passage.group == **g)
            })
            .map(|(g, s)| (*g, *s))
            .collect();
        missing.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let floor = found
            .iter()
            .map(|f| f.hit.score)
            .fold(f32::INFINITY, f32::min);
        let floor = if floor.is_finite() { floor } else { 0.0 };
        for (group, _) in missing.into_iter().take(CONCEPT_POOL) {
            if let Some(mut f) = self
                .concept_passage(request, dense, group, &concepts)
                .await?
            {
                f.hit.score = floor;
                found.push(f);
            }
        }
        let weight = if dense.is_some() {
            CONCEPT_WEIGHT_DENSE
        } else {
            // Keyword results are ranked on fused ranks: a share of the best one's.
            let best = found.iter().map(|f| f.hit.score).fold(0.0f32, f32::max);
            CONCEPT_WEIGHT_SPARSE * best
        };
        let concept_of = |f: &Found| {
            scores
                .get(f.hit.passage.group.as_str())
                .copied()
                .unwrap_or(0.0)
        };
        for f in found.iter_mut() {
            f.hit.score += weight * concept_of(f);
        }
        found.sort_by(|a, b| b.hit.score.total_cmp(&a.hit.score));
        // Named clearly better than any other topic: confident on the concepts alone.
        let mut by_concept: Vec<f32> = scores.values().copied().collect();
        by_concept.sort_by(|a, b| b.total_cmp(a));
        let (first, second) = (
            by_concept.first().copied().unwrap_or(0.0),
            by_concept.get(1).copied().unwrap_or(0.0),
        );
        if first >= CONCEPT_CONFIDENT && first - second >= CONCEPT_LEAD {
            for f in found.iter_mut() {
                if (concept_of(f) - first).abs() < f32::EPSILON {
                    f.confident = true;
                }
            }
        }
        Ok(())
    }

    /// The passage of `group` that names the question's `concepts` best, in the most
    /// readable language the shop wrote it in.
    async fn concept_passage(
        &self,
        request: &SearchRequest,
        dense: Option<&[f32]>,
        group: &str,
        concepts: &[usize],
    ) -> Result<Option<Found>, KnowledgeError> {
        let lexicon = crate::concepts::builtin();
        // The customer's language and their fallbacks first, then any the lexicon speaks.
        let mut order = match request.lang.as_deref() {
            Some(lang) => self.fallbacks.order(lang),
            None => Vec::new(),
        };
        for concept in concepts.iter().filter_map(|c| lexicon.concepts.get(*c)) {
            for (lang, _) in &concept.words {
                if !order.iter().any(|l| same_language(l, lang)) {
                    order.push(lang.clone());
                }
            }
        }
        for want in &order {
            let words: Vec<&str> = concepts
                .iter()
                .filter_map(|c| lexicon.concepts.get(*c))
                .filter_map(|c| c.words_in(want))
                .flatten()
                .map(String::as_str)
                .collect();
            let query = IndexQuery {
                text: words.join(" "),
                lang: Some(want.clone()),
                dense: dense.map(<[f32]>::to_vec),
                filter: Filter {
                    langs: vec![want.clone()],
                    groups: vec![group.to_owned()],
                    kinds: vec![SourceKind::Article],
                    ..Filter::default()
                },
                limit: 1,
            };
            let Some(mut hit) = self.index.search(&query).await?.into_iter().next() else {
                continue;
            };
            // Its keyword score is the concept words', not the question's.
            hit.sparse_score = None;
            let in_query_language = request
                .lang
                .as_deref()
                .is_none_or(|lang| same_language(lang, &hit.passage.lang));
            let confident = self.confident(&hit);
            return Ok(Some(Found {
                hit,
                in_query_language,
                confident,
            }));
        }
        Ok(None)
    }

    async fn search_ranked(
        &self,
        request: &SearchRequest,
        dense: Option<Vec<f32>>,
    ) -> Result<Vec<Found>, KnowledgeError> {
        // The shop's own words bridge what the question and the passages call the same
        // thing in different words or languages ("camomila" and "manzanilla"). They are
        // a second try: added to a question that already finds good matches, a group's
        // many words would outweigh the question's own.
        if !crate::synonyms::mentions_shop_words(&request.text, &self.shop_words.groups) {
            return self.search_once(request, dense, &[]).await;
        }
        let found = self.search_once(request, dense.clone(), &[]).await?;
        if found.iter().any(|f| f.confident) {
            return Ok(found);
        }
        let again = self
            .search_once(request, dense, &self.shop_words.groups)
            .await?;
        Ok(if again.iter().any(|f| f.confident) {
            again
        } else {
            found
        })
    }

    async fn search_once(
        &self,
        request: &SearchRequest,
        dense: Option<Vec<f32>>,
        shop_words: &[Vec<String>],
    ) -> Result<Vec<Found>, KnowledgeError> {
        match dense {
            Some(dense) => self.hybrid_search(request, dense, shop_words).await,
            None => self.keyword_search(request, None, shop_words).await,
        }
    }

    /// Hybrid search, ranked by topic (translation group).
    ///
    /// Multilingual embedding models score a question higher against passages in its own
    /// language than against equally relevant passages in others: a German question sits
    /// closer to every German article than to the English article that answers it. Raw
    /// cosines, or rank fusion over them, therefore keep the shop's untranslated topics out
    /// of reach of customers writing in another language. So each dense score is taken
    /// relative to a baseline for the passage's language, and a topic's dense evidence is
    /// its best relative scores in its best few languages, averaged.
    ///
    /// The baseline is half the mean of that language's best few hits (the neighbourhood
    /// the question lands in) and half the question's similarity to the language's mean
    /// passage ([`LanguageMeans`]: the pull of the language as a whole). The best hits
    /// alone are a biased yardstick: when the answer has several chunks in a language,
    /// they fill its best few and raise its baseline, so the answer scores low against its
    /// own language; the mean alone carries the mix of topics the shop wrote in that
    /// language. Half and half is what met the goals on the demo question set and held
    /// on the held-out set (`docs/benchmarks.md`).
    ///
    /// BM25 evidence (normalised to the best keyword hit) is added with a small weight: it
    /// settles ties in the customer's own language and rescues typos and product names,
    /// without letting shared everyday words outvote meaning.
    async fn hybrid_search(
        &self,
        request: &SearchRequest,
        dense: Vec<f32>,
        shop_words: &[Vec<String>],
    ) -> Result<Vec<Found>, KnowledgeError> {
        let top = request.top.max(1);
        // Products are found by meaning only by a product search: one across articles and
        // products ranks products on their words, as it does without product vectors, so
        // product vectors never push an article out of a search for articles.
        let mut dense_filter = request.filter.clone();
        if dense_filter.kinds.as_slice() != [SourceKind::Product] {
            dense_filter.kinds = vec![SourceKind::Article];
        }
        let dense_query = IndexQuery {
            text: String::new(),
            lang: request.written_in.clone().or_else(|| request.lang.clone()),
            dense: Some(dense),
            filter: dense_filter,
            limit: DENSE_POOL.max(top * 8),
        };
        let keyword_query = IndexQuery {
            // The shop's words for the topics the question names (the embedding already
            // meets them on meaning; the keywords do not).
            text: crate::synonyms::expand_with(&request.text, shop_words).into_owned(),
            lang: request.written_in.clone().or_else(|| request.lang.clone()),
            dense: None,
            filter: request.filter.clone(),
            limit: KEYWORD_POOL.max(top * 4),
        };
        let (dense_hits, keyword_hits) =
            self.index.search_both(&dense_query, &keyword_query).await?;

        // Typical top score per language: hits arrive best first.
        let mut per_language: HashMap<String, (f32, usize)> = HashMap::new();
        for hit in &dense_hits {
            let slot = per_language
                .entry(hit.passage.lang.clone())
                .or_insert((0.0, 0));
            if slot.1 < BASELINE_TOP {
                slot.0 += hit.dense_score.unwrap_or(0.0);
                slot.1 += 1;
            }
        }
        // Each language's baseline, once per search (not once per hit).
        let means = self.means.get(&self.index).await;
        let query = dense_query.dense.as_deref().unwrap_or_default();
        let baselines: HashMap<String, f32> = per_language
            .into_iter()
            .map(|(lang, (sum, n))| {
                let top = sum / n.max(1) as f32;
                let baseline = match means.as_ref().and_then(|m| m.similarity(&lang, query)) {
                    Some(mean) => (top + mean) / 2.0,
                    None => top,
                };
                (lang, baseline)
            })
            .collect();
        let baseline = |lang: &str| baselines.get(lang).copied().unwrap_or(0.0);

        #[derive(Default)]
        struct Topic {
            relative: Option<f32>,
            /// Best relative score per language.
            languages: HashMap<String, f32>,
            cosine: Option<f32>,
            bm25: Option<f32>,
            /// Best passage overall, and best in the query's language: (evidence, hit).
            best: Option<(f32, Hit)>,
            own: Option<(f32, Hit)>,
        }
        let mut order: Vec<String> = Vec::new();
        let mut topics: HashMap<String, Topic> = HashMap::new();
        let max_bm25 = keyword_hits
            .iter()
            .filter_map(|h| h.sparse_score)
            .fold(0.0f32, f32::max);
        let hits = dense_hits
            .into_iter()
            .map(|h| (true, h))
            .chain(keyword_hits.into_iter().map(|h| (false, h)));
        for (from_dense, hit) in hits {
            let group = hit.passage.group.clone();
            let topic = topics.entry(group.clone()).or_insert_with(|| {
                order.push(group);
                Topic::default()
            });
            let evidence = if from_dense {
                let cosine = hit.dense_score.unwrap_or(0.0);
                let relative = cosine - baseline(&hit.passage.lang);
                topic.relative = Some(topic.relative.map_or(relative, |r| r.max(relative)));
                let best = topic
                    .languages
                    .entry(hit.passage.lang.clone())
                    .or_insert(relative);
                *best = best.max(relative);
                topic.cosine = Some(topic.cosine.map_or(cosine, |c| c.max(cosine)));
                relative
            } else {
                let bm25 = hit.sparse_score.unwrap_or(0.0);
                topic.bm25 = Some(topic.bm25.map_or(bm25, |b| b.max(bm25)));
                KEYWORD_WEIGHT * bm25 / max_bm25.max(f32::EPSILON) - 1.0
            };
            let own_language = request
                .lang
                .as_deref()
                .is_some_and(|lang| same_language(lang, &hit.passage.lang));
            let slot = if own_language {
                &mut topic.own
            } else {
                &mut topic.best
            };
            if slot.as_ref().is_none_or(|(e, _)| evidence > *e) {
                *slot = Some((evidence, hit));
            }
        }
        let floor = topics
            .values()
            .filter_map(|t| t.relative)
            .fold(0.0f32, f32::min);
        let mut ranked: Vec<(f32, Topic)> = order
            .into_iter()
            .filter_map(|g| topics.remove(&g))
            .map(|t| {
                // A topic the dense search did not reach gets the lowest relative score seen.
                // The topic's dense evidence: its best relative scores in its best few
                // languages, averaged — translations of the right article agree, a chance
                // match in one language does not.
                let dense = if t.languages.is_empty() {
                    t.relative.unwrap_or(floor)
                } else {
                    let mut best: Vec<f32> = t.languages.values().copied().collect();
                    best.sort_by(|a, b| b.total_cmp(a));
                    best.truncate(LANGUAGES_AVERAGED);
                    best.iter().sum::<f32>() / best.len() as f32
                };
                // Normalised to the best keyword hit, but never to less than a strong
                // match's score: when nothing matches well (a question in a language the
                // shop has no article in), shared everyday words must not count as evidence.
                let keywords = t.bm25.map_or(0.0, |b| b / max_bm25.max(STRONG_BM25));
                (dense + KEYWORD_WEIGHT * keywords, t)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.truncate(top);
        let mut found: Vec<Found> = ranked
            .into_iter()
            .filter_map(|(score, topic)| {
                let in_query_language = topic.own.is_some() || request.lang.is_none();
                let (_, mut hit) = topic.own.or(topic.best)?;
                hit.score = score;
                hit.dense_score = topic.cosine;
                hit.sparse_score = topic.bm25;
                let confident = self.confident(&hit);
                Some(Found {
                    hit,
                    in_query_language,
                    confident,
                })
            })
            .collect();
        follow_pointers(&mut found);
        Ok(found)
    }

    /// Searches with an already computed query embedding.
    ///
    /// Two index searches: one across all languages (finds the topic even when the shop
    /// has not translated it), and, when the query has a language, one restricted to that
    /// language (finds the customer's own translation of each topic). Topics are ranked by
    /// their best passage; each topic is then represented by its passage in the customer's
    /// language when one was found.
    async fn keyword_search(
        &self,
        request: &SearchRequest,
        dense: Option<Vec<f32>>,
        shop_words: &[Vec<String>],
    ) -> Result<Vec<Found>, KnowledgeError> {
        let top = request.top.max(1);
        let query = IndexQuery {
            // Without a model, words are all there is: add the shop's words for the
            // topics the question names.
            text: crate::synonyms::expand_with(&request.text, shop_words).into_owned(),
            lang: request.written_in.clone().or_else(|| request.lang.clone()),
            dense,
            filter: request.filter.clone(),
            limit: top * 4,
        };
        let all = self.index.search(&query).await?;
        let same = match &request.lang {
            Some(lang) if request.filter.langs.is_empty() => {
                let mut own = query.clone();
                own.filter.langs = vec![lang.clone()];
                own.limit = top * 2;
                self.index.search(&own).await?
            }
            _ => Vec::new(),
        };

        // Best passage per group, and the best passage in the query language per group.
        let mut order: Vec<String> = Vec::new();
        let mut best: HashMap<String, Hit> = HashMap::new();
        let mut own: HashMap<String, Hit> = HashMap::new();
        // Every language's best passage per group, for topics not written in the query's.
        let mut by_language: HashMap<(String, String), Hit> = HashMap::new();
        for hit in all.into_iter().chain(same) {
            let key = (hit.passage.group.clone(), hit.passage.lang.clone());
            if by_language.get(&key).is_none_or(|h| hit.score > h.score) {
                by_language.insert(key, hit.clone());
            }
            let group = hit.passage.group.clone();
            let own_language = request
                .lang
                .as_deref()
                .is_some_and(|lang| same_language(lang, &hit.passage.lang));
            if own_language {
                let slot = own.entry(group.clone()).or_insert_with(|| hit.clone());
                if hit.score > slot.score {
                    *slot = hit.clone();
                }
            }
            match best.get_mut(&group) {
                Some(slot) if slot.score >= hit.score => {}
                Some(slot) => *slot = hit,
                None => {
                    order.push(group.clone());
                    best.insert(group, hit);
                }
            }
        }
        let mut ranked: Vec<(String, Hit)> = order
            .into_iter()
            .filter_map(|g| best.remove(&g).map(|h| (g, h)))
            .collect();
        ranked.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
        ranked.truncate(top);
        let mut found: Vec<Found> = ranked
            .into_iter()
            .map(|(group, best)| {
                let (hit, in_query_language) = match own.remove(&group) {
                    Some(mut translated) => {
                        // Rank by the topic's best evidence, cite the customer's language.
                        translated.score = translated.score.max(best.score);
                        translated.dense_score = max_opt(translated.dense_score, best.dense_score);
                        translated.sparse_score =
                            max_opt(translated.sparse_score, best.sparse_score);
                        (translated, true)
                    }
                    None => {
                        let matches = request
                            .lang
                            .as_deref()
                            .is_none_or(|lang| same_language(lang, &best.passage.lang));
                        // Not in the customer's language: the one they most likely read.
                        let readable = request.lang.as_deref().and_then(|lang| {
                            self.fallbacks.after(lang).into_iter().find_map(|want| {
                                by_language
                                    .iter()
                                    .filter(|((g, l), _)| g == &group && same_language(&want, l))
                                    .map(|(_, h)| h)
                                    .max_by(|a, b| a.score.total_cmp(&b.score))
                            })
                        });
                        match readable {
                            Some(hit) if !matches => {
                                let mut hit = hit.clone();
                                hit.score = hit.score.max(best.score);
                                hit.dense_score = max_opt(hit.dense_score, best.dense_score);
                                hit.sparse_score = max_opt(hit.sparse_score, best.sparse_score);
                                (hit, false)
                            }
                            _ => (best, matches),
                        }
                    }
                };
                let confident = self.confident(&hit);
                Found {
                    hit,
                    in_query_language,
                    confident,
                }
            })
            .collect();
        follow_pointers(&mut found);
        Ok(found)
    }

    /// Whether a hit's evidence clears the thresholds: the dense score when the index has
    /// a model, else the BM25 score.
    pub fn confident(&self, hit: &Hit) -> bool {
        // Articles are judged by the shop's own levels when they could be learnt; so are
        // products on meaning (the same model over the same shop), while their keyword
        // scores keep the configured level (a title's words score unlike an article's).
        let product = hit.passage.kind == SourceKind::Product;
        let learnt = self.calibration();
        let dense_min = learnt
            .and_then(|c| c.dense)
            .map_or(self.thresholds.dense, |l| l.threshold);
        let sparse_min = learnt
            .filter(|_| !product)
            .and_then(|c| c.sparse)
            .map_or(self.thresholds.sparse, |l| l.threshold);
        let dense = hit.dense_score.is_some_and(|s| s >= dense_min);
        let sparse = hit.sparse_score.is_some_and(|s| s >= sparse_min);
        match (self.embedder.is_some(), product) {
            (true, false) => dense,
            // A product is named by its words or described in other ones ("a lamp for
            // my head" for a headlamp, in any language).
            (true, true) if self.dense_products => dense || sparse,
            // Passages without a dense vector can only be judged on their keywords.
            _ => sparse,
        }
    }
}

/// Results in which the best passage only points to another article found for the same
/// question ("… see our page on delayed or lost parcels") lead with that article: the
/// pointer shares the question's words, the article it names answers it.
/// How much a pointer passage may say besides the line that points (its heading path
/// and a sentence or two).
const POINTER_CONTEXT_CHARS: usize = 300;
/// The share of the pointing passage's keyword score the article it names needs for a
/// longer passage's pointer to be followed.
const POINTER_EVIDENCE: f32 = 0.9;

fn follow_pointers(found: &mut [Found]) {
    let Some(first) = found.first() else {
        return;
    };
    if first.hit.passage.kind == SourceKind::Product {
        return;
    }
    let text = first.hit.passage.text.to_lowercase();
    let own_title = first.hit.passage.title.to_lowercase();
    // A pointer closes the passage ("… see our page on delayed or lost parcels.") or links
    // to the article; an article named in passing ("members of our loyalty programme get
    // free shipping:" and then the details) is no pointer.
    let points_to = |title: &str| {
        text.match_indices(title).any(|(at, _)| {
            let after = &text[at + title.len()..];
            after.starts_with("](")
                || after
                    .trim_start_matches(|c: char| c != '\n')
                    .trim()
                    .is_empty()
        })
    };
    // A passage with an answer of its own (a shipping table ending "… see Customs and
    // import duties") is no pointer unless the article it names matched about as well:
    // only a short one whose other lines say little always is.
    let about_as_good =
        |first: &Found, target: &Found| match (first.hit.sparse_score, target.hit.sparse_score) {
            (Some(a), Some(b)) => b >= POINTER_EVIDENCE * a,
            _ => match (first.hit.dense_score, target.hit.dense_score) {
                (Some(a), Some(b)) => b >= a - 0.01,
                _ => false,
            },
        };
    let little_else = |title: &str| {
        let rest: usize = text
            .lines()
            .filter(|line| !line.contains(title))
            .map(|line| line.trim().chars().count())
            .sum();
        rest <= POINTER_CONTEXT_CHARS
    };
    let target = found.iter().enumerate().skip(1).take(2).find_map(|(i, f)| {
        let title = f.hit.passage.title.to_lowercase();
        (f.confident
            && f.hit.passage.kind != SourceKind::Product
            && title.chars().count() >= 6
            && title != own_title
            && points_to(&title)
            && (little_else(&title) || about_as_good(first, f)))
        .then_some(i)
    });
    if let Some(i) = target {
        found[..=i].rotate_right(1);
    }
}

/// Per product, the text its one vector is made of, keyed by the document id of the
/// translation that carries it (the one with the longest text): its title in every
/// language the shop has it in, and its tags. The passage's own text follows.
fn product_vector_texts(sources: &[Source]) -> HashMap<String, String> {
    let mut groups: BTreeMap<&str, Vec<&Source>> = BTreeMap::new();
    for source in sources.iter().filter(|s| s.kind == SourceKind::Product) {
        groups
            .entry(source.group.as_str())
            .or_default()
            .push(source);
    }
    groups
        .into_values()
        .filter_map(|translations| {
            let carrier = translations.iter().copied().reduce(|a, b| {
                if b.body.chars().count() > a.body.chars().count() {
                    b
                } else {
                    a
                }
            })?;
            let mut titles: Vec<&str> = Vec::new();
            for t in &translations {
                let title = t.title.trim();
                if !title.is_empty() && title != carrier.title.trim() && !titles.contains(&title) {
                    titles.push(title);
                }
            }
            let mut lead = titles.join(" / ");
            if !carrier.tags.is_empty() {
                if !lead.is_empty() {
                    lead.push('\n');
                }
                lead.push_str(&carrier.tags.join(", "));
            }
            Some((carrier.doc_id.clone(), lead))
        })
        .collect()
}

fn max_opt(a: Option<f32>, b: Option<f32>) -> Option<f32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `zh-CN` matches `zh-CN`; `pt-BR` matches `pt`; `zh-TW` does not match `zh-CN` (the
/// scripts differ), but matches `zh-Hant`.
pub fn same_language(wanted: &str, have: &str) -> bool {
    if wanted.eq_ignore_ascii_case(have) {
        return true;
    }
    let primary = |tag: &str| {
        tag.split(['-', '_'])
            .next()
            .unwrap_or(tag)
            .to_ascii_lowercase()
    };
    if primary(wanted) != primary(have) {
        return false;
    }
    if primary(wanted) == "zh" {
        return chinese_script(wanted) == chinese_script(have);
    }
    true
}

fn chinese_script(tag: &str) -> &'static str {
    let lower = tag.to_ascii_lowercase();
    if lower.contains("hant")
        || lower.ends_with("-tw")
        || lower.ends_with("-hk")
        || lower.ends_with("-mo")
    {
        "hant"
    } else {
        "hans"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::index::{LanguageMeansBuilder, Passage, PointId};

    /// An index in a map that counts how often its language means are read.
    #[derive(Default)]
    struct CountingIndex {
        points: Mutex<BTreeMap<PointId, Point>>,
        means_read: AtomicUsize,
    }

    const LAYOUT: Layout = Layout {
        model: None,
        dimension: Some(2),
        bm25: 0,
    };

    #[async_trait]
    impl Index for CountingIndex {
        fn backend(&self) -> &'static str {
            "counting"
        }
        fn layout(&self) -> &Layout {
            &LAYOUT
        }
        async fn upsert(&self, points: Vec<Point>) -> Result<(), IndexError> {
            let mut stored = self.points.lock().unwrap();
            stored.extend(points.into_iter().map(|p| (p.id, p)));
            Ok(())
        }
        async fn delete(&self, ids: &[PointId]) -> Result<(), IndexError> {
            let mut stored = self.points.lock().unwrap();
            ids.iter().for_each(|id| drop(stored.remove(id)));
            Ok(())
        }
        async fn hashes(&self) -> Result<BTreeMap<PointId, String>, IndexError> {
            let stored = self.points.lock().unwrap();
            Ok(stored
                .iter()
                .map(|(id, p)| (*id, p.passage.hash.clone()))
                .collect())
        }
        async fn language_means(&self, _: usize) -> Result<LanguageMeans, IndexError> {
            self.means_read.fetch_add(1, Ordering::SeqCst);
            let mut means = LanguageMeansBuilder::default();
            for point in self.points.lock().unwrap().values() {
                if let Some(dense) = &point.dense {
                    means.add(&point.passage.lang, dense);
                }
            }
            Ok(means.finish())
        }
        async fn search(&self, query: &IndexQuery) -> Result<Vec<Hit>, IndexError> {
            let Some(q) = &query.dense else {
                return Ok(Vec::new());
            };
            let stored = self.points.lock().unwrap();
            let mut hits: Vec<Hit> = stored
                .values()
                .filter_map(|p| {
                    let cosine: f32 = p.dense.as_ref()?.iter().zip(q).map(|(a, b)| a * b).sum();
                    Some(Hit {
                        id: p.id,
                        score: cosine,
                        dense_score: Some(cosine),
                        sparse_score: None,
                        passage: Arc::new(p.passage.clone()),
                    })
                })
                .collect();
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            hits.truncate(query.limit);
            Ok(hits)
        }
        async fn count(&self) -> Result<usize, IndexError> {
            Ok(self.points.lock().unwrap().len())
        }
        async fn flush(&self) -> Result<(), IndexError> {
            Ok(())
        }
    }

    /// Embeds every text along the first axis.
    struct FlatEmbedder;

    #[async_trait]
    impl Embedder for FlatEmbedder {
        fn model(&self) -> &str {
            "flat"
        }
        fn dimension(&self) -> usize {
            2
        }
        async fn embed(&self, texts: &[String], _: Role) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
        }
    }

    fn article(id: &str, lang: &str, body: &str) -> Source {
        Source {
            doc_id: id.to_owned(),
            group: id.to_owned(),
            lang: lang.to_owned(),
            title: id.to_owned(),
            url: None,
            tags: Vec::new(),
            kind: SourceKind::Article,
            body: body.to_owned(),
            in_stock: None,
            price: None,
        }
    }

    #[tokio::test]
    async fn language_means_are_read_once_then_again_only_after_a_reindex_that_changed_something() {
        let index = Arc::new(CountingIndex::default());
        let knowledge = Knowledge::new(index.clone(), Some(Arc::new(FlatEmbedder)));
        let reads = || index.means_read.load(Ordering::SeqCst);
        let request = SearchRequest::new("returns");

        // The first search reads them, later ones use what was read.
        knowledge.search(&request).await.unwrap();
        assert_eq!(reads(), 1);
        let shop = [article("returns", "en", "Send it back within 30 days.")];
        knowledge.reindex(&shop).await.unwrap();
        assert_eq!(reads(), 2, "a re-index that wrote chunks reads them again");
        let found = knowledge.search(&request).await.unwrap();
        assert_eq!(found.len(), 1);
        knowledge.search(&request).await.unwrap();
        assert_eq!(reads(), 2);

        // Nothing changed: nothing to read again.
        knowledge.reindex(&shop).await.unwrap();
        assert_eq!(reads(), 2);
        // A deletion changes the means.
        knowledge.reindex(&[]).await.unwrap();
        assert_eq!(reads(), 3);
    }

    fn found(group: &str, title: &str, text: &str) -> Found {
        let passage = chunk::chunk(&article(group, "en", text), ChunkOptions::default())
            .into_iter()
            .next()
            .unwrap();
        let passage = Passage {
            title: title.to_owned(),
            text: format!("{title}\n{text}"),
            ..passage
        };
        Found {
            hit: Hit {
                id: 0,
                score: 1.0,
                dense_score: None,
                sparse_score: Some(20.0),
                passage: Arc::new(passage),
            },
            in_query_language: true,
            confident: true,
        }
    }

    #[test]
    fn a_closing_pointer_is_followed_and_an_article_named_in_passing_is_not() {
        let loyalty = || {
            found(
                "loyalty",
                "Loyalty programme",
                "Silver members get free shipping.",
            )
        };
        let mut results = vec![
            found(
                "shipping-costs",
                "Shipping costs",
                "Shipping is free over $50.\n\nMembers of our loyalty programme get perks:\n\n- free express shipping",
            ),
            loyalty(),
        ];
        follow_pointers(&mut results);
        assert_eq!(results[0].hit.passage.group, "shipping-costs");

        let lost = || found("lost", "Lost parcels", "We reship or refund.");
        let mut results = vec![
            found(
                "shipping-times",
                "Shipping times",
                "Parcels take 3–7 days.\n\nIf yours is late, see our page on lost parcels.",
            ),
            lost(),
        ];
        follow_pointers(&mut results);
        assert_eq!(results[0].hit.passage.group, "lost");

        // A passage that answers on its own, closing with a pointer, keeps its place.
        let mut results = vec![
            found(
                "shipping-zones",
                "Shipping zones",
                &format!(
                    "{}\n\nOrders outside the EU pay duties (see lost parcels).",
                    "| Zone | Countries | Fee | Free from |\n|---|---|---|---|\n| Zone 1 | AT, BE, FR | 8.90 | 149 |\n".repeat(4)
                ),
            ),
            lost(),
        ];
        results[1].hit.sparse_score = Some(12.0);
        follow_pointers(&mut results);
        assert_eq!(results[0].hit.passage.group, "shipping-zones");
        // … unless the article it names matched about as well.
        results[1].hit.sparse_score = Some(19.0);
        follow_pointers(&mut results);
        assert_eq!(results[0].hit.passage.group, "lost");

        let mut results = vec![
            found(
                "faq",
                "FAQ",
                "Read about [lost parcels](https://shop.example/lost) first. Then wait.",
            ),
            lost(),
        ];
        follow_pointers(&mut results);
        assert_eq!(results[0].hit.passage.group, "lost");
    }

    #[test]
    fn language_matching_knows_regions_and_chinese_scripts() {
        assert!(same_language("zh-CN", "zh-CN"));
        assert!(same_language("zh", "zh-CN"));
        assert!(!same_language("zh-TW", "zh-CN"));
        assert!(same_language("zh-TW", "zh-Hant"));
        assert!(same_language("pt-BR", "pt"));
        assert!(!same_language("es", "en"));
    }
}
