//! Reading CSV by header name: columns are matched by name (case- and space-insensitive),
//! missing optional columns read as empty, unknown ones are ignored, a UTF-8 BOM is skipped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::{ImportError, Progress};
use crate::shop::{Currency, parse_bool, parse_money};

pub(crate) struct CsvFile<'p> {
    path: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    columns: HashMap<String, usize>,
    /// Column positions by the names the importers ask for, resolved once.
    resolved: RefCell<HashMap<&'static str, Option<usize>>>,
    record: csv::StringRecord,
    progress: &'p dyn Progress,
    rows: u64,
}

fn key(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'p> CsvFile<'p> {
    pub fn open(
        path: &Path,
        required: &[&str],
        progress: &'p dyn Progress,
    ) -> Result<Self, ImportError> {
        let file = File::open(path).map_err(|source| ImportError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 16, file));
        let headers = reader
            .headers()
            .map_err(|e| ImportError::file(path, format!("not a CSV file: {e}")))?
            .clone();
        let mut columns = HashMap::new();
        for (i, name) in headers.iter().enumerate() {
            columns.entry(key(name)).or_insert(i);
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|c| !columns.contains_key(&key(c)))
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::file(
                path,
                format!(
                    "missing column{} {} in the header line",
                    if missing.len() > 1 { "s" } else { "" },
                    missing
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        progress.start(size);
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            columns,
            resolved: RefCell::default(),
            record: csv::StringRecord::new(),
            progress,
            rows: 0,
        })
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    /// Reads the next row; `Ok(None)` at the end. Blank lines are skipped.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>, ImportError> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => {
                    self.progress.finish();
                    return Ok(None);
                }
                Ok(true) => {
                    if self.record.iter().all(|f| f.trim().is_empty()) {
                        continue;
                    }
                    self.rows += 1;
                    if self.rows.is_multiple_of(4096) {
                        self.progress
                            .advance(self.record.position().map(|p| p.byte()).unwrap_or(0));
                    }
                    let line = self.record.position().map(|p| p.line()).unwrap_or(0);
                    return Ok(Some(Row {
                        file: &self.path,
                        line,
                        record: &self.record,
                        columns: &self.columns,
                        resolved: &self.resolved,
                    }));
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    let message = match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => {
                            "the row is not valid UTF-8 text".to_string()
                        }
                        _ => e.to_string(),
                    };
                    return Err(ImportError::row(&self.path, line, "row", message));
                }
            }
        }
    }
}

/// One CSV row with lookup by column name.
pub(crate) struct Row<'a> {
    pub file: &'a Path,
    pub line: u64,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
    resolved: &'a RefCell<HashMap<&'static str, Option<usize>>>,
}

impl Row<'_> {
    /// The trimmed cell of `column`, empty when the column or cell is absent.
    pub fn get(&self, column: &'static str) -> &str {
        let index = *self
            .resolved
            .borrow_mut()
            .entry(column)
            .or_insert_with(|| self.columns.get(&key(column)).copied());
        index
            .and_then(|i| self.record.get(i))
            .map(str::trim)
            .unwrap_or("")
    }

    pub fn opt(&self, column: &'static str) -> Option<String> {
        let v = self.get(column);
        (!v.is_empty()).then(|| v.to_string())
    }

    pub fn err(&self, column: &'static str, message: impl Into<String>) -> ImportError {
        ImportError::row(self.file, self.line, column, message)
    }

    pub fn required(&self, column: &'static str) -> Result<&str, ImportError> {
        match self.get(column) {
            "" => Err(self.err(column, "is empty but required")),
            v => Ok(v),
        }
    }

    pub fn parse<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ImportError> {
        match self.get(column) {
            "" => Ok(None),
            v => parse(v).map(Some).map_err(|m| self.err(column, m)),
        }
    }

    pub fn money(
        &self,
        column: &'static str,
        currency: Currency,
    ) -> Result<Option<i64>, ImportError> {
        parse_money(self.get(column), currency).map_err(|m| self.err(column, m))
    }

    pub fn boolean(&self, column: &'static str) -> Result<Option<bool>, ImportError> {
        parse_bool(self.get(column)).map_err(|m| self.err(column, m))
    }

    pub fn time(&self, column: &'static str) -> Result<Option<DateTime<Utc>>, ImportError> {
        self.parse(column, parse_time)
    }

    pub fn integer(&self, column: &'static str) -> Result<Option<i64>, ImportError> {
        self.parse(column, |v| {
            v.parse::<i64>()
                .map_err(|_| format!("`{v}` is not a whole number"))
        })
    }
}

/// Accepts Shopify's `2025-10-07 09:50:26 +0200`, RFC 3339, `2025-10-07 09:50:26` (UTC)
/// and a bare date (midnight UTC).
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S %z") {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "`{raw}` is not a date and time (expected e.g. 2025-10-07 09:50:26 +0200)"
    ))
}
