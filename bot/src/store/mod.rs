//! The storage API: the one place that knows SQL. One [`Store`] serves SQLite (the
//! embedded default, WAL mode) and PostgreSQL (scale-out); both run the same queries
//! where the dialects agree, and the same conformance suite (`bot/tests`).
//!
//! Queries are written once and compiled for each backend by the `on_pool!`/`on_tx!`
//! macros, so no code path exists for one backend only by accident.

mod agent;
mod bulk;
mod channels;
mod direct;
mod events;
mod native;
mod order_names;
mod outbox;
mod read;
pub mod records;
mod segments;
mod verification;
mod write;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use agent::{Actor, ReturnLine, ReturnRequest};
pub use channels::Subscription;
pub use events::{CartItem, CartRecord, ShopEvent};
pub use order_names::order_shape;
pub use outbox::{
    CampaignRecord, CampaignState, NewCampaign, NewOutboxRow, OutboxCount, OutboxRow, PlanWriter,
    row_state,
};
pub use read::normalise_order_name;
pub use records::*;
pub use segments::{
    BenchShop, CustomerScoreRow, LastOrder, OrderHistory, ParcelSummary, SegmentCustomer,
    SupportSummary,
};
pub use verification::{FailureCounts, FailureWindows};
pub use write::{OrderCounts, Writer};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Storage failures. Database errors keep their source; the rest say what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// From a bulk write made on the SQLite connection directly (`store::native`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool; `Db` names its database type.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                $body
            }
            $crate::store::Pool::Postgres($p) => {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// How each backend starts a transaction that will write. SQLite takes the write lock at
/// once (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later
/// fails with "database is locked" when another connection wrote in between, instead of
/// waiting its turn.
pub(crate) trait WriteBegin {
    const BEGIN: &'static str;
}

impl WriteBegin for sqlx::Sqlite {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
}

impl WriteBegin for sqlx::Postgres {
    const BEGIN: &'static str = "BEGIN";
}

/// Connection settings that are not part of the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The storage handle. Cheap to clone: clones share the pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// On SQLite: the agent's per-turn statements run on connections of their own,
    /// without sqlx's worker threads (see `direct`).
    direct: Option<Arc<direct::Direct>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path/kefu.db`, `sqlite::memory:` is refused because
    /// every pooled connection would see its own database; `postgres://…`). Creates the
    /// SQLite file and its directory when missing. Does not migrate.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            return Ok(Self {
                pool: Pool::Postgres(pool),
                direct: None,
            });
        }
        if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        if let Some(dir) = connect.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let direct = Arc::new(direct::Direct::new(connect.get_filename()));
        // An embedded file cannot hang up: no ping before each use of a pooled connection,
        // which on SQLite costs a round trip to the connection's worker thread.
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(connect)
            .await?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
            direct: Some(direct),
        })
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<Self> {
        let store = Self::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        let applied = self.run_migrations().await?;
        // Order names SQL could not key (unusual characters) are keyed here.
        self.fill_order_keys().await?;
        Ok(applied)
    }

    async fn run_migrations(&self) -> Result<usize> {
        on_pool!(self, p => {
            let migrator = match self.backend() {
                Backend::Sqlite => &SQLITE_MIGRATIONS,
                Backend::Postgres => &POSTGRES_MIGRATIONS,
            };
            // The bookkeeping table does not exist before the first run: count 0 then.
            let count = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
            let before: i64 = sqlx::query_scalar(count).fetch_one(p).await.unwrap_or(0);
            migrator.run(p).await?;
            let after: i64 = sqlx::query_scalar(count).fetch_one(p).await.unwrap_or(0);
            Ok((after - before).max(0) as usize)
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every pooled connection (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// Starts a transaction for bulk writes. Dropping the [`Writer`] without
    /// [`Writer::commit`] rolls everything back.
    pub async fn writer(&self) -> Result<Writer> {
        Writer::begin(&self.pool).await
    }
}
