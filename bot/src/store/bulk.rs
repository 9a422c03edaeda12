//! Multi-row statements whose rows travel as one JSON parameter.
//!
//! A bulk insert binds a single text value — a JSON array of rows, each row an array of
//! cells in column order — and the database takes it apart itself (`json_each` on
//! SQLite, `jsonb_array_elements` on PostgreSQL). Compared with one bound parameter per
//! cell this avoids tens of thousands of small allocations and copies per statement,
//! keeps the statement text the same for any number of rows (so it is prepared once),
//! and lifts the bound-parameter limit off the batch size.

use std::fmt::Write as _;

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

/// The rows of one bulk statement, written as JSON as they are added.
pub(super) struct JsonRows {
    buf: Vec<u8>,
    rows: usize,
    cells: usize,
    width: usize,
}

impl JsonRows {
    /// Rows of `columns.len()` cells each.
    pub(super) fn new(columns: &Columns) -> Self {
        Self {
            buf: b"[".to_vec(),
            rows: 0,
            cells: 0,
            width: columns.len(),
        }
    }

    /// Starts the next row; its cells follow in column order.
    pub(super) fn row(&mut self) -> &mut Self {
        self.close_row();
        if self.rows > 0 {
            self.buf.push(b',');
        }
        self.buf.push(b'[');
        self.rows += 1;
        self.cells = 0;
        self
    }

    fn cell(&mut self) {
        if self.cells > 0 {
            self.buf.push(b',');
        }
        self.cells += 1;
    }

    fn close_row(&mut self) {
        if self.rows > 0 {
            debug_assert_eq!(
                self.cells, self.width,
                "row {} has the wrong width",
                self.rows
            );
            self.buf.push(b']');
        }
    }

    pub(super) fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.json(&value)
    }

    pub(super) fn int(&mut self, value: Option<i64>) -> &mut Self {
        self.json(&value)
    }

    pub(super) fn bool(&mut self, value: bool) -> &mut Self {
        self.json(&value)
    }

    /// A time in the text form sqlx uses for `DateTime<Utc>` on SQLite, so bulk-written
    /// and singly-written rows compare and sort alike.
    pub(super) fn time(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        let text = value.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, false));
        self.text(text.as_deref())
    }

    /// Any serialisable value, stored as a JSON cell.
    pub(super) fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        self.cell();
        // Serialising plain data into memory cannot fail; on a failure the cell would be
        // missing, which the database reports as a wrong row rather than storing it.
        if serde_json::to_writer(&mut self.buf, value).is_err() {
            self.buf.extend_from_slice(b"null");
        }
        self
    }

    pub(super) fn len(&self) -> usize {
        self.rows
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The JSON text to bind as `$1`.
    pub(super) fn finish(mut self) -> String {
        self.close_row();
        self.buf.push(b']');
        // Only JSON text (from serde_json and ASCII punctuation) went in.
        String::from_utf8(self.buf).unwrap_or_default()
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
