//! The agent's per-turn statements on SQLite, run on connections of our own in the
//! calling thread.
//!
//! sqlx runs every SQLite statement on the connection's worker thread: each statement
//! is a hand-off there and back, and a turn has six of them (read the conversation,
//! store the message, then begin, store the reply, update the conversation, commit).
//! With a thousand conversations at once those hand-offs cost more than the statements
//! themselves, which take tens of microseconds. Here the same statements run directly on
//! a writer connection (one: SQLite takes one writer at a time anyway) and a few reader
//! connections, each behind a lock held only while a statement runs.
//!
//! Nothing here waits for SQLite's lock: the connections do not retry when the database
//! is busy (another process, an import in progress). Any failure — busy, or a value that
//! does not read back as expected — returns an error, and the caller runs the same work
//! through sqlx, which waits on its own thread.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{ConversationId, ConversationState, CustomerId, NewMessage};

/// Reader connections kept open; more readers at once open extra ones for the moment.
const READERS: usize = 4;

/// The direct connections of one SQLite database.
#[derive(Debug)]
pub(crate) struct Direct {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
}

/// A conversation row as [`super::Store::open_conversation_with_context`] reads it.
pub(crate) struct OpenRow {
    pub id: ConversationId,
    pub channel: String,
    pub thread_id: String,
    pub customer_id: Option<CustomerId>,
    pub state: String,
    pub language: Option<String>,
    pub created_at: DateTime<Utc>,
    pub context: Option<String>,
}

fn open_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OpenRow> {
    let created: String = row.get(6)?;
    let created_at = DateTime::parse_from_rfc3339(&created)
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
        })?
        .with_timezone(&Utc);
    Ok(OpenRow {
        id: row.get(0)?,
        channel: row.get(1)?,
        thread_id: row.get(2)?,
        customer_id: row.get(3)?,
        state: row.get(4)?,
        language: row.get(5)?,
        created_at,
        context: row.get(7)?,
    })
}

/// Binds a message's columns to an `INSERT INTO messages (conversation_id, channel,
/// external_id, role, staff_id, body, citations, created_at)` statement.
fn bind_message(
    statement: &mut rusqlite::Statement<'_>,
    m: &NewMessage,
    citations: &str,
    at: &str,
) -> rusqlite::Result<()> {
    statement.raw_bind_parameter(1, m.conversation_id)?;
    statement.raw_bind_parameter(2, m.channel.as_str())?;
    statement.raw_bind_parameter(3, m.external_id.as_deref())?;
    statement.raw_bind_parameter(4, m.role.as_str())?;
    statement.raw_bind_parameter(5, m.staff_id)?;
    statement.raw_bind_parameter(6, &m.body)?;
    statement.raw_bind_parameter(7, citations)?;
    statement.raw_bind_parameter(8, at)
}

/// Time as sqlx writes it on SQLite, so both sort and read back alike.
fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The same settings as the sqlx pool's (`synchronous` is per connection), and no
    // waiting when the database is locked.
    connection.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 0; \
         PRAGMA cache_size = -16384; PRAGMA temp_store = memory;",
    )?;
    Ok(connection)
}

impl Direct {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            writer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
        }
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let connection = match writer.as_mut() {
            Some(c) => c,
            None => writer.insert(open(&self.path)?),
        };
        f(connection)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let taken = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let connection = match taken {
            Some(c) => c,
            None => open(&self.path)?,
        };
        let result = f(&connection);
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < READERS {
            readers.push(connection);
        }
        result
    }

    /// The thread's open conversation with its memory; a new one (for `customer_id`)
    /// when it has none. The check and the creation are one step for this process.
    pub(crate) fn open_conversation(
        &self,
        channel: &str,
        thread_id: &str,
        customer_id: Option<CustomerId>,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<OpenRow> {
        macro_rules! columns {
            () => {
                "id, channel, thread_id, customer_id, state, language, created_at, context"
            };
        }
        const SELECT: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM conversations WHERE channel = ?1 AND thread_id = ?2 AND state <> 'closed' \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        const INSERT: &str = concat!(
            "INSERT INTO conversations (channel, thread_id, customer_id, state, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'bot', ?4, ?4) RETURNING ",
            columns!()
        );
        let found = self.read(|c| {
            c.prepare_cached(SELECT)?
                .query_row(params![channel, thread_id], open_row)
                .optional()
        })?;
        if let Some(row) = found {
            return Ok(row);
        }
        self.write(|c| {
            let again = c
                .prepare_cached(SELECT)?
                .query_row(params![channel, thread_id], open_row)
                .optional()?;
            if let Some(row) = again {
                return Ok(row);
            }
            c.prepare_cached(INSERT)?.query_row(
                params![channel, thread_id, customer_id, time_text(now)],
                open_row,
            )
        })
    }

    /// Stores a message once: its id, and whether it is new (a redelivery is not).
    pub(crate) fn insert_message(
        &self,
        message: &NewMessage,
        citations: &str,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<(i64, bool)> {
        self.write(|c| {
            let mut insert = c.prepare_cached(
                "INSERT INTO messages (conversation_id, channel, external_id, role, staff_id, body, citations, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (channel, external_id) DO NOTHING RETURNING id",
            )?;
            bind_message(&mut insert, message, citations, &time_text(now))?;
            let inserted: Option<i64> = match insert.raw_query().next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            };
            drop(insert);
            if let Some(id) = inserted {
                return Ok((id, true));
            }
            let existing: i64 = c
                .prepare_cached("SELECT id FROM messages WHERE channel = ?1 AND external_id = ?2")?
                .query_row(
                    params![message.channel.as_str(), message.external_id.as_deref()],
                    |row| row.get(0),
                )?;
            Ok((existing, false))
        })
    }

    /// [`super::Store::finish_turn`]: the replies and the conversation's new state in one
    /// transaction. `replies` pairs each message with its citations as JSON.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish_turn(
        &self,
        id: ConversationId,
        replies: &[(&NewMessage, String)],
        state: ConversationState,
        language: &str,
        customer_id: Option<CustomerId>,
        context: &str,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<()> {
        let closed_at = (state == ConversationState::Closed).then(|| time_text(now));
        let now = time_text(now);
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO messages (conversation_id, channel, external_id, role, staff_id, body, citations, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for (m, citations) in replies {
                    bind_message(&mut insert, m, citations, &now)?;
                    insert.raw_execute()?;
                }
                tx.prepare_cached(
                    "UPDATE conversations SET state = ?1, language = ?2, customer_id = COALESCE(?3, customer_id), \
                     context = ?4, updated_at = ?5, closed_at = COALESCE(closed_at, ?6) WHERE id = ?7",
                )?
                .execute(params![
                    state.as_str(),
                    language,
                    customer_id,
                    context,
                    &now,
                    closed_at,
                    id,
                ])?;
            }
            tx.commit()
        })
    }
}
