//! The [`Layout`] record kept beside the shard (`layout.json`), so an index built for one
//! model is never searched with another's vectors.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use kefu_knowledge::{IndexError, Layout};

use crate::BACKEND;

pub(crate) const FILE: &str = "layout.json";

pub(crate) fn read(dir: &Path) -> Result<Option<Layout>, IndexError> {
    let path = dir.join(FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(&path, err)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|err| {
        IndexError::backend(BACKEND, format!("{} is unreadable: {err}", path.display()))
    })
}

/// Written to a temporary file and renamed over, so a crash leaves the old or the new
/// record, never half of one.
pub(crate) fn write(dir: &Path, layout: &Layout) -> Result<(), IndexError> {
    let path = dir.join(FILE);
    let temporary = dir.join(format!("{FILE}.tmp"));
    let json =
        serde_json::to_vec_pretty(layout).map_err(|err| IndexError::backend(BACKEND, err))?;
    fs::write(&temporary, json).map_err(|err| io_error(&temporary, err))?;
    fs::rename(&temporary, &path).map_err(|err| io_error(&path, err))
}

/// How a layout reads in an error message. Public (as [`crate::describe_layout`]) so every
/// backend words a layout mismatch the same way.
pub fn describe(layout: &Layout) -> String {
    let vectors = match (&layout.model, layout.dimension) {
        (Some(model), Some(dimension)) => format!("model {model} ({dimension} dimensions)"),
        (Some(model), None) => format!("model {model} (no dense vectors)"),
        (None, Some(dimension)) => format!("an unnamed model ({dimension} dimensions)"),
        (None, None) => "BM25 only".to_owned(),
    };
    format!("{vectors}, BM25 definition {}", layout.bm25)
}

pub(crate) fn io_error(path: &Path, err: std::io::Error) -> IndexError {
    IndexError::backend(BACKEND, format!("{}: {err}", path.display()))
}
