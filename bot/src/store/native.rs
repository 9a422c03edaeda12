//! SQLite bulk writes on the connection itself: a single-row prepared statement bound and
//! stepped once per row, inside the transaction sqlx has open on that connection.
//!
//! sqlx runs each statement on the connection's worker thread and hands rows over
//! through a channel, so a multi-row statement must carry its rows as one JSON parameter
//! that SQLite parses and takes apart again (see [`super::bulk`]). For the largest writes
//! kefu makes — an import of a million order lines — that round trip was about a third of
//! the database's time. Here the rows are bound cell by cell instead: sqlx lends out the
//! connection's handle ([`sqlx::SqliteConnection::lock_handle`], meant for direct SQLite
//! calls), and rusqlite prepares and runs the statement on it.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::Result;
use super::bulk::{Cell, Rows};

/// What a bulk statement's `RETURNING` clause gives per row.
pub(super) trait Returned: Sized {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl Returned for () {
    fn read(_: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(())
    }
}

impl Returned for (i64, String) {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl Returned for (i64, Option<String>, Option<String>) {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    }
}

/// Runs `sql` (one row's `INSERT … VALUES (?1, …)`, see [`super::bulk::values_sql`]) once
/// for each row of `rows` (cells form), and collects what each run returns.
pub(super) async fn run<T: Returned>(
    conn: &mut sqlx::SqliteConnection,
    sql: &str,
    rows: &Rows,
) -> Result<Vec<T>> {
    let mut handle = conn.lock_handle().await?;
    let db = borrow_connection(&mut handle)?;
    let mut statement = db.prepare(sql)?;
    let (chunks, text) = rows.cell_rows();
    let mut out = Vec::new();
    for row in chunks {
        bind(&mut statement, row, text)?;
        let mut results = statement.raw_query();
        while let Some(result) = results.next()? {
            out.push(T::read(result)?);
        }
    }
    Ok(out)
}

/// Runs `sql` (one row's statement, returning nothing) once for each row of `rows`
/// (cells form), and returns how many rows it changed in all: fewer than the rows given
/// when an `ON CONFLICT … DO NOTHING` skipped some.
pub(super) async fn execute(
    conn: &mut sqlx::SqliteConnection,
    sql: &str,
    rows: &Rows,
) -> Result<u64> {
    let mut handle = conn.lock_handle().await?;
    let db = borrow_connection(&mut handle)?;
    let mut statement = db.prepare(sql)?;
    let (chunks, text) = rows.cell_rows();
    let mut changed = 0;
    for row in chunks {
        bind(&mut statement, row, text)?;
        changed += statement.raw_execute()? as u64;
    }
    Ok(changed)
}

/// Binds one row's cells to the statement's parameters `?1`, `?2`, ….
fn bind(statement: &mut rusqlite::Statement<'_>, row: &[Cell], text: &[u8]) -> Result<()> {
    for (i, cell) in row.iter().enumerate() {
        let value = match cell {
            Cell::Null => ValueRef::Null,
            Cell::Int(v) => ValueRef::Integer(*v),
            Cell::Text(range) => ValueRef::Text(text.get(range.clone()).unwrap_or_default()),
        };
        statement.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(value))?;
    }
    Ok(())
}

/// A rusqlite view of the connection whose handle `handle` holds locked. The view never
/// closes the connection, and the borrow keeps it from outliving the lock.
#[allow(unsafe_code)]
fn borrow_connection<'h>(
    handle: &'h mut sqlx::sqlite::LockedSqliteHandle<'_>,
) -> Result<Borrowed<'h>> {
    let raw = handle.as_raw_handle();
    // SAFETY: `raw` is the open connection sqlx owns. The guard `handle` keeps sqlx's
    // worker thread away from it, and the returned value borrows the guard, so every use
    // of the view ends before the lock is given back. `from_handle` makes a view that
    // does not close the connection when dropped, and changes none of its settings.
    let connection = unsafe { rusqlite::Connection::from_handle(raw.as_ptr()) }?;
    Ok(Borrowed {
        connection,
        _lock: std::marker::PhantomData,
    })
}

/// A [`rusqlite::Connection`] valid while the lock it was made under is held.
struct Borrowed<'h> {
    connection: rusqlite::Connection,
    _lock: std::marker::PhantomData<&'h mut ()>,
}

impl std::ops::Deref for Borrowed<'_> {
    type Target = rusqlite::Connection;

    fn deref(&self) -> &rusqlite::Connection {
        &self.connection
    }
}
