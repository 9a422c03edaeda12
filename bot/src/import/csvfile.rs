//! Reading CSV by header name: columns are matched by name (case- and space-insensitive),
//! missing optional columns read as empty, unknown ones are ignored, a UTF-8 BOM is skipped.
//!
//! Errors name the line a text editor shows: the csv crate's own line counter sits on the
//! blank lines before a row and, in CRLF files, on the line before it, so the reader
//! counts line breaks (`\n`, `\r\n` and a lone `\r`) itself as the bytes stream past.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::{ImportError, Progress};
use crate::shop::{Currency, parse_bool, parse_money};

pub(crate) struct CsvFile<'p> {
    path: PathBuf,
    reader: csv::Reader<LineCounter<BufReader<File>>>,
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
            .from_reader(LineCounter::new(BufReader::with_capacity(1 << 16, file)));
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
                    let start = self.record.position().map(|p| p.byte()).unwrap_or(0);
                    let line = self.reader.get_mut().line_at(start);
                    return Ok(Some(Row {
                        file: &self.path,
                        line,
                        record: &self.record,
                        columns: &self.columns,
                        resolved: &self.resolved,
                    }));
                }
                Err(e) => {
                    let start = e.position().map(|p| p.byte()).unwrap_or(0);
                    let line = self.reader.get_mut().line_at(start);
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

/// Counts line breaks in the bytes it hands to the CSV parser, so that a row's byte
/// offset (which the parser reports exactly) can be turned into the line an editor shows.
/// It keeps the offsets of the line-break bytes not yet passed: at most the parser's
/// read-ahead and the current row.
struct LineCounter<R> {
    inner: R,
    /// Bytes handed out so far.
    offset: u64,
    /// Offsets and values of the `\r` and `\n` bytes handed out and not yet counted.
    breaks: VecDeque<(u64, u8)>,
    /// Line breaks counted before the bytes still in `breaks`.
    counted: u64,
    /// Offset of the last counted `\r`: a `\n` right after it ends the same line.
    last_cr: Option<u64>,
}

impl<R> LineCounter<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            counted: 0,
            last_cr: None,
        }
    }

    fn count(&mut self, at: u64, byte: u8) {
        if byte == b'\r' {
            self.counted += 1;
            self.last_cr = Some(at);
        } else if self.last_cr.is_none_or(|cr| cr + 1 != at) {
            self.counted += 1;
        }
    }

    /// The 1-based line of the first character of the row whose bytes start at `start`
    /// (rows are read in order): line breaks before `start` and the blank lines from
    /// `start` on (which the parser skips) come before it.
    fn line_at(&mut self, start: u64) -> u64 {
        let mut at = start;
        while let Some(&(offset, byte)) = self.breaks.front() {
            if offset < at {
                self.count(offset, byte);
            } else if offset == at {
                self.count(offset, byte);
                at += 1;
            } else {
                break;
            }
            self.breaks.pop_front();
        }
        self.counted + 1
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.breaks.push_back((self.offset + i as u64, b));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Line breaks in a field's text (`\r\n` counts once).
fn line_breaks(text: &str) -> u64 {
    let mut n = 0;
    let mut after_cr = false;
    for b in text.bytes() {
        match b {
            b'\r' => {
                n += 1;
                after_cr = true;
            }
            b'\n' => {
                n += u64::from(!after_cr);
                after_cr = false;
            }
            _ => after_cr = false,
        }
    }
    n
}

/// One CSV row with lookup by column name.
pub(crate) struct Row<'a> {
    pub file: &'a Path,
    /// The line the row starts on, as a text editor numbers it.
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

    /// An error in `column`, on the line its cell starts on (a quoted cell before it may
    /// span several lines).
    pub fn err(&self, column: &'static str, message: impl Into<String>) -> ImportError {
        ImportError::row(self.file, self.line_of(column), column, message)
    }

    /// The editor line `column`'s cell starts on: the row's first line plus the line
    /// breaks inside the cells before it.
    fn line_of(&self, column: &'static str) -> u64 {
        let index = *self
            .resolved
            .borrow_mut()
            .entry(column)
            .or_insert_with(|| self.columns.get(&key(column)).copied());
        let before: u64 = self
            .record
            .iter()
            .take(index.unwrap_or(0))
            .map(line_breaks)
            .sum();
        self.line + before
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The editor line of every row after the header.
    fn lines(data: &str) -> Vec<u64> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(LineCounter::new(data.as_bytes()));
        reader.headers().unwrap();
        let mut record = csv::StringRecord::new();
        let mut out = Vec::new();
        while reader.read_record(&mut record).unwrap() {
            let start = record.position().unwrap().byte();
            out.push(reader.get_mut().line_at(start));
        }
        out
    }

    #[test]
    fn rows_are_numbered_as_an_editor_numbers_lines() {
        assert_eq!(lines("h1,h2\na,1\nb,2\n"), [2, 3]);
        assert_eq!(lines("h1,h2\r\na,1\r\nb,2\r\n"), [2, 3]);
        assert_eq!(lines("\u{feff}h1,h2\r\na,1\r\n\r\n\r\nb,2"), [2, 5]);
        assert_eq!(lines("h1,h2\n\n\na,1\n\nb,\"x\ny\"\nc,3\n"), [4, 6, 8]);
        assert_eq!(lines("h1,h2\r\nb,\"x\r\ny\r\nz\"\r\nc,3\r\n"), [2, 5]);
        // Old Mac line ends.
        assert_eq!(lines("h1,h2\ra,1\rb,2\r"), [2, 3]);
        // A header spanning two lines.
        assert_eq!(lines("h1,\"h\n2\"\na,1\n"), [3]);
    }

    #[test]
    fn line_breaks_in_a_cell_count_once_each() {
        assert_eq!(line_breaks("a\r\nb\nc\rd"), 3);
        assert_eq!(line_breaks("abc"), 0);
    }
}
