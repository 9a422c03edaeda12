//! A folder (or one file) of Markdown articles with front matter; see
//! [`kefu_knowledge::document`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kefu_knowledge::Document;

use super::{ImportError, Summary};
use crate::store::{Counts, Store};

/// Reads every `.md` file under `path` (recursively, in name order), or `path` itself.
/// Fails on the first bad document, naming its file and line, or on a duplicate id.
pub fn read_faq_dir(path: &Path) -> Result<Vec<Document>, ImportError> {
    let mut files = Vec::new();
    collect(path, &mut files)?;
    if files.is_empty() {
        return Err(ImportError::file(path, "no Markdown (.md) files found"));
    }
    let mut docs = Vec::with_capacity(files.len());
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ImportError::Io {
            file: file.clone(),
            source,
        })?;
        let doc = kefu_knowledge::parse_markdown(&text).map_err(|e| ImportError::Row {
            file: file.clone(),
            line: e.line as u64,
            field: format!("column {}", e.column),
            message: e.message,
        })?;
        if let Some(first) = seen.insert(doc.id.clone(), file.clone()) {
            return Err(ImportError::file(
                &file,
                format!(
                    "document id `{}` is already used by {}",
                    doc.id,
                    first.display()
                ),
            ));
        }
        docs.push(doc);
    }
    Ok(docs)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        file: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "md")
            && entry.file_name().is_some_and(|n| n != "README.md")
        {
            out.push(entry);
        }
    }
    Ok(())
}

/// Imports the articles under `path` in one transaction, as `source`. With `prune`,
/// documents of the same source that are no longer in the folder are deleted.
pub async fn import_faq(
    store: &Store,
    path: &Path,
    source: &str,
    prune: bool,
) -> Result<Summary, ImportError> {
    let docs = read_faq_dir(path)?;
    let mut writer = store.writer().await.map_err(ImportError::store(path))?;
    let counts = writer
        .write_documents(&docs, source)
        .await
        .map_err(ImportError::store(path))?;
    let mut removed = Counts::default();
    if prune {
        let keep: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        removed.updated = writer
            .prune_documents(source, &keep)
            .await
            .map_err(ImportError::store(path))?;
    }
    writer.commit().await.map_err(ImportError::store(path))?;
    let summary = Summary {
        rows: docs.len() as u64,
        sections: Vec::new(),
    }
    .with("documents", counts);
    Ok(if prune {
        summary.with("documents removed", removed)
    } else {
        summary
    })
}
