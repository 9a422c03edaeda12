//! Importers for shop data: Shopify's order and product exports, kefu's own customer
//! and shipment CSVs, and a folder of Markdown FAQ articles.
//!
//! Every importer streams its file (memory stays bounded whatever its size), writes the
//! whole file in one transaction (a bad row names its file, line and column, and nothing
//! from the file is kept), and is idempotent: importing the same file twice updates,
//! never duplicates.

mod csvfile;
mod customers;
mod events;
mod faq;
mod shipments;
mod shopify_orders;
mod shopify_products;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use customers::import_customers;
pub use events::{EventReader, import_events};
pub use faq::{import_faq, read_faq_dir};
pub use shipments::import_shipments;
pub use shopify_orders::{import_shopify_orders, parse_shopify_time};
pub use shopify_products::import_shopify_products;

use crate::store::{Counts, StoreError};

/// Why an import failed. Nothing from the file was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A row (or a front-matter field) is wrong.
    #[error("{}:{line}: {field}: {message}", file.display())]
    Row {
        file: PathBuf,
        line: u64,
        field: String,
        message: String,
    },
    /// The file as a whole is wrong (a required column is missing, not a CSV…).
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", file.display())]
    Store { file: PathBuf, source: StoreError },
}

impl ImportError {
    pub(crate) fn row(file: &Path, line: u64, field: &str, message: impl Into<String>) -> Self {
        Self::Row {
            file: file.to_path_buf(),
            line,
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn file(file: &Path, message: impl Into<String>) -> Self {
        Self::File {
            file: file.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn store(file: &Path) -> impl FnOnce(StoreError) -> Self + '_ {
        move |source| Self::Store {
            file: file.to_path_buf(),
            source,
        }
    }
}

/// Reports how far an import is: called with bytes read so far and the file's size.
pub trait Progress: Sync {
    fn start(&self, _total_bytes: u64) {}
    fn advance(&self, _bytes_read: u64) {}
    fn finish(&self) {}
}

/// No progress display (tests, small files).
#[derive(Debug, Default)]
pub struct Quiet;
impl Progress for Quiet {}

/// What an import did: rows read and, per kind of record, created/updated/unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub rows: u64,
    pub sections: Vec<(String, Counts)>,
}

impl Summary {
    pub fn section(&self, name: &str) -> Counts {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }

    pub(crate) fn with(mut self, name: &str, counts: Counts) -> Self {
        self.sections.push((name.to_string(), counts));
        self
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} rows read", self.rows)?;
        for (name, c) in &self.sections {
            writeln!(
                f,
                "{name}: {} created, {} updated, {} unchanged",
                c.created, c.updated, c.unchanged
            )?;
        }
        Ok(())
    }
}
