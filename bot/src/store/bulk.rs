//! Bulk statements: many rows written by one statement call.
//!
//! Rows are built cell by cell in column order ([`Rows`]) and leave in one of two forms:
//! - **JSON** (PostgreSQL, and SQLite statements that run through sqlx): one text
//!   parameter, a JSON array of rows, that the database takes apart itself
//!   (`jsonb_each` on SQLite, `jsonb_array_elements` on PostgreSQL). Compared with one
//!   bound parameter per cell this avoids tens of thousands of small allocations and
//!   copies per statement, keeps the statement text the same for any number of rows (so
//!   it is prepared once), and lifts the bound-parameter limit off the batch size.
//! - **Cells** (SQLite bulk writes): typed cells that [`super::native`] binds to a
//!   single-row prepared `INSERT … VALUES`, run once per row on the connection itself.
//!   On SQLite that is cheaper still: nothing is encoded as JSON and parsed back, which
//!   was about a third of the database's time in a large import.

use std::fmt::Write as _;
use std::ops::Range;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// The SQL dialect a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

/// How a cell is stored, which decides how it is read back out of the JSON row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Int,
    Bool,
    Time,
    /// A JSON document (`TEXT` on SQLite, `JSONB` on PostgreSQL); JSON `null` is SQL NULL.
    Json,
}

/// A table's columns as a bulk insert writes them.
pub(super) type Columns = [(&'static str, Kind)];

/// The bulk insert for `dialect` in the form [`Rows::for_dialect`] builds: `INSERT …
/// VALUES (?1, …)` for native cells on SQLite, else [`insert_sql`]. The caller may append
/// `ON CONFLICT …` and `RETURNING …`.
pub(super) fn bulk_insert_sql(dialect: Dialect, table: &str, columns: &Columns) -> String {
    match dialect {
        Dialect::Sqlite => values_sql(table, columns),
        Dialect::Postgres => insert_sql(dialect, table, columns),
    }
}

/// `INSERT INTO table (columns) VALUES (?1, …, ?n)`: one row of native cells.
pub(super) fn values_sql(table: &str, columns: &Columns) -> String {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let slots: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        slots.join(", ")
    )
}

/// `INSERT INTO table (columns) SELECT … FROM <the rows in $1> WHERE true`, to which the
/// caller may append `ON CONFLICT …` and `RETURNING …`. (SQLite needs the `WHERE` to
/// tell an upsert's `ON CONFLICT` from a join constraint.)
pub(super) fn insert_sql(dialect: Dialect, table: &str, columns: &Columns) -> String {
    let mut sql = format!("INSERT INTO {table} (");
    for (i, (name, _)) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(name);
    }
    sql.push_str(") SELECT ");
    for (i, (_, kind)) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = match (dialect, kind) {
            (Dialect::Sqlite, Kind::Json) => write!(sql, "nullif(value->{i}, 'null')"),
            (Dialect::Sqlite, _) => write!(sql, "value->>{i}"),
            (Dialect::Postgres, Kind::Text) => write!(sql, "value->>{i}"),
            (Dialect::Postgres, Kind::Int) => write!(sql, "(value->>{i})::bigint"),
            (Dialect::Postgres, Kind::Bool) => write!(sql, "(value->>{i})::boolean"),
            (Dialect::Postgres, Kind::Time) => write!(sql, "(value->>{i})::timestamptz"),
            (Dialect::Postgres, Kind::Json) => write!(sql, "nullif(value->{i}, 'null'::jsonb)"),
        };
    }
    sql.push_str(match dialect {
        Dialect::Sqlite => " FROM jsonb_each($1) WHERE true",
        Dialect::Postgres => " FROM jsonb_array_elements($1::jsonb) AS r(value) WHERE true",
    });
    sql
}

/// One cell of a row in the cells form; text points into the rows' shared buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cell {
    Null,
    Int(i64),
    Text(Range<usize>),
}

/// How [`Rows`] keeps what has been added.
enum Form {
    /// The JSON text so far.
    Json(Vec<u8>),
    /// Every cell in order, and the bytes of all text cells one after another.
    Cells { cells: Vec<Cell>, text: Vec<u8> },
}

/// The rows of one bulk statement, encoded as they are added.
pub(super) struct Rows {
    form: Form,
    rows: usize,
    cells: usize,
    width: usize,
}

/// The name most callers know the JSON form by.
pub(super) type JsonRows = Rows;

impl Rows {
    /// Rows of `columns.len()` cells each, as one JSON parameter.
    pub(super) fn new(columns: &Columns) -> Self {
        Self::with_form(Form::Json(b"[".to_vec()), columns)
    }

    /// Rows of `columns.len()` cells each, as typed cells for [`super::native`].
    pub(super) fn cells(columns: &Columns) -> Self {
        Self::with_form(
            Form::Cells {
                cells: Vec::new(),
                text: Vec::new(),
            },
            columns,
        )
    }

    /// The form [`bulk_insert_sql`] expects for `dialect`.
    pub(super) fn for_dialect(dialect: Dialect, columns: &Columns) -> Self {
        match dialect {
            Dialect::Sqlite => Self::cells(columns),
            Dialect::Postgres => Self::new(columns),
        }
    }

    fn with_form(form: Form, columns: &Columns) -> Self {
        Self {
            form,
            rows: 0,
            cells: 0,
            width: columns.len(),
        }
    }

    /// Starts the next row; its cells follow in column order.
    pub(super) fn row(&mut self) -> &mut Self {
        self.close_row();
        if let Form::Json(buf) = &mut self.form {
            if self.rows > 0 {
                buf.push(b',');
            }
            buf.push(b'[');
        }
        self.rows += 1;
        self.cells = 0;
        self
    }

    fn close_row(&mut self) {
        if self.rows > 0 {
            debug_assert_eq!(
                self.cells, self.width,
                "row {} has the wrong width",
                self.rows
            );
            if let Form::Json(buf) = &mut self.form {
                buf.push(b']');
            }
        }
    }

    /// Adds a cell: `json` writes it as JSON, `cell` as a native cell (given the text
    /// buffer, into which it may write its bytes).
    fn push(
        &mut self,
        json: impl FnOnce(&mut Vec<u8>),
        cell: impl FnOnce(&mut Vec<u8>) -> Cell,
    ) -> &mut Self {
        match &mut self.form {
            Form::Json(buf) => {
                if self.cells > 0 {
                    buf.push(b',');
                }
                json(buf);
            }
            Form::Cells { cells, text } => cells.push(cell(text)),
        }
        self.cells += 1;
        self
    }

    pub(super) fn text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.push(|buf| buf.extend_from_slice(b"null"), |_| Cell::Null),
            Some(value) => self.push(
                |buf| write_json(buf, &value),
                |text| {
                    let start = text.len();
                    text.extend_from_slice(value.as_bytes());
                    Cell::Text(start..text.len())
                },
            ),
        }
    }

    pub(super) fn int(&mut self, value: Option<i64>) -> &mut Self {
        self.push(
            |buf| write_json(buf, &value),
            |_| value.map_or(Cell::Null, Cell::Int),
        )
    }

    /// Booleans are integers 0 and 1 in SQLite, as sqlx binds them.
    pub(super) fn bool(&mut self, value: bool) -> &mut Self {
        self.push(
            |buf| write_json(buf, &value),
            |_| Cell::Int(i64::from(value)),
        )
    }

    /// A time in the text form sqlx uses for `DateTime<Utc>` on SQLite, so bulk-written
    /// and singly-written rows compare and sort alike.
    pub(super) fn time(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        let text = value.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, false));
        self.text(text.as_deref())
    }

    /// Any serialisable value, stored as a JSON document; JSON `null` is SQL NULL.
    pub(super) fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        self.push(
            |buf| write_json(buf, value),
            |text| {
                let start = text.len();
                write_json(text, value);
                if &text[start..] == b"null" {
                    text.truncate(start);
                    Cell::Null
                } else {
                    Cell::Text(start..text.len())
                }
            },
        )
    }

    pub(super) fn len(&self) -> usize {
        self.rows
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The JSON text to bind as `$1` (JSON form; the cells form gives `[]`).
    pub(super) fn finish(mut self) -> String {
        self.close_row();
        match self.form {
            Form::Json(mut buf) => {
                buf.push(b']');
                // Only JSON text (from serde_json and ASCII punctuation) went in.
                String::from_utf8(buf).unwrap_or_default()
            }
            Form::Cells { .. } => "[]".to_string(),
        }
    }

    /// The rows' cells, `width` per row, and the text they point into (cells form; the
    /// JSON form has none).
    pub(super) fn cell_rows(&self) -> (std::slice::ChunksExact<'_, Cell>, &[u8]) {
        match &self.form {
            Form::Cells { cells, text } => (cells.chunks_exact(self.width.max(1)), text),
            Form::Json(_) => ([].chunks_exact(1), &[]),
        }
    }
}

/// Serialises `value` as JSON onto `buf`. Serialising plain data into memory cannot
/// fail; on a failure the cell is `null`, which the database refuses where a value is
/// required rather than storing something wrong.
fn write_json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, value).is_err() {
        buf.truncate(start);
        buf.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &Columns = &[
        ("a", Kind::Text),
        ("b", Kind::Int),
        ("c", Kind::Bool),
        ("d", Kind::Json),
        ("e", Kind::Time),
    ];

    #[test]
    fn rows_are_json_arrays_in_column_order() {
        let mut rows = JsonRows::new(COLUMNS);
        let t = DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        rows.row()
            .text(Some("say \"hi\"\n"))
            .int(Some(-42))
            .bool(true)
            .json(&vec!["x"])
            .time(Some(t));
        rows.row()
            .text(None)
            .int(None)
            .bool(false)
            .json(&None::<u8>)
            .time(None);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows.finish(),
            r#"[["say \"hi\"\n",-42,true,["x"],"2026-11-01T10:00:00+00:00"],[null,null,false,null,null]]"#
        );
        assert_eq!(JsonRows::new(COLUMNS).finish(), "[]");
    }

    #[test]
    fn cells_hold_typed_values_and_text_in_one_buffer() {
        let mut rows = Rows::cells(COLUMNS);
        let t = DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        rows.row()
            .text(Some("say \"hi\"\n"))
            .int(Some(-42))
            .bool(true)
            .json(&vec!["x"])
            .time(Some(t));
        rows.row()
            .text(None)
            .int(None)
            .bool(false)
            .json(&None::<u8>)
            .time(None);
        let (chunks, text) = rows.cell_rows();
        let text_of = |c: &Cell| match c {
            Cell::Text(r) => String::from_utf8(text[r.clone()].to_vec()).unwrap(),
            other => format!("{other:?}"),
        };
        let got: Vec<Vec<String>> = chunks
            .map(|row| row.iter().map(text_of).collect())
            .collect();
        assert_eq!(
            got,
            [
                vec![
                    "say \"hi\"\n",
                    "Int(-42)",
                    "Int(1)",
                    r#"["x"]"#,
                    "2026-11-01T10:00:00+00:00"
                ],
                vec!["Null", "Null", "Int(0)", "Null", "Null"],
            ]
        );
        assert_eq!(
            values_sql("t", COLUMNS),
            "INSERT INTO t (a, b, c, d, e) VALUES (?1, ?2, ?3, ?4, ?5)"
        );
    }

    #[test]
    fn statements_read_each_cell_by_position_and_kind() {
        assert_eq!(
            insert_sql(Dialect::Sqlite, "t", COLUMNS),
            "INSERT INTO t (a, b, c, d, e) SELECT value->>0, value->>1, value->>2, \
             nullif(value->3, 'null'), value->>4 FROM jsonb_each($1) WHERE true"
        );
        assert_eq!(
            insert_sql(Dialect::Postgres, "t", COLUMNS),
            "INSERT INTO t (a, b, c, d, e) SELECT value->>0, (value->>1)::bigint, \
             (value->>2)::boolean, nullif(value->3, 'null'::jsonb), (value->>4)::timestamptz \
             FROM jsonb_array_elements($1::jsonb) AS r(value) WHERE true"
        );
    }
}
