//! kefu's knowledge base: the shop's FAQ and policy documents and its catalogue, from
//! Markdown with front matter to hybrid search with citations. This crate is a leaf: it
//! knows nothing of storage, channels or the agent; index engines plug in through
//! [`Index`].

pub mod addressed;
pub mod bm25;
pub mod calibrate;
pub mod chunk;
pub mod concepts;
pub mod document;
pub mod embed;
pub mod eval;
pub mod fallback;
pub mod index;
pub mod planted;
pub mod search;
pub mod synonyms;
pub mod visible;

pub use calibrate::Calibration;
pub use chunk::{ChunkOptions, Source};
pub use document::{Document, DocumentError, LanguageTag, parse_markdown};
pub use embed::{EmbedError, Embedder, Role};
pub use fallback::FallbackLanguages;
pub use index::{
    Filter, Hit, Index, IndexError, IndexQuery, LANGUAGE_MEANS_SAMPLE, LanguageMeans,
    LanguageMeansBuilder, Layout, Passage, Point, PointId, SourceKind,
};
pub use search::{Found, Knowledge, KnowledgeError, ReindexReport, SearchRequest, Thresholds};
