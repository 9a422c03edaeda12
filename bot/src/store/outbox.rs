//! Campaigns and their durable outbox.
//!
//! A campaign's plan is written once, in one transaction: the campaign row and one outbox
//! row per (campaign, step, recipient), unique. A dispatcher claims due rows with a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same row; SQLite
//! has one writer at a time), sends them, and records each result on its row. A row whose
//! lease ran out while `sending` was in flight when its dispatcher stopped: it is sent
//! again, which is the only way a recipient can get a message twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::bulk::{Columns, Dialect, Kind, Rows, bulk_insert_sql};
use super::write::{Tx, on_tx};
use super::{Result, Store, StoreError, on_pool};
use crate::shop::Channel;

/// What a campaign's delivery is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignState {
    /// Planned; due rows are sent.
    Running,
    /// Nothing is sent until it is resumed.
    Paused,
    /// Stopped for good; rows not yet sent were cancelled.
    Cancelled,
    /// Every row is sent, failed, skipped or cancelled.
    Finished,
}

impl CampaignState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Cancelled => "cancelled",
            CampaignState::Finished => "finished",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "running" => CampaignState::Running,
            "paused" => CampaignState::Paused,
            "cancelled" => CampaignState::Cancelled,
            "finished" => CampaignState::Finished,
            other => return Err(StoreError::Corrupt(format!("campaign state `{other}`"))),
        })
    }
}

/// States of an outbox row. `pending` and `sending` are live; the rest are final.
pub mod row_state {
    pub const PENDING: &str = "pending";
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    /// Failed permanently, or too many times: the dead letters.
    pub const FAILED: &str = "failed";
    /// Not sent because the recipient opted out after planning.
    pub const SKIPPED: &str = "skipped";
    /// Not sent because the campaign was cancelled or its deadline passed.
    pub const CANCELLED: &str = "cancelled";
}

/// A campaign as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The campaign file's text, kept so `status` and reports show what was planned.
    pub spec: String,
    pub spec_hash: String,
    pub planned_for: DateTime<Utc>,
    /// Rows still unsent at this instant are cancelled.
    pub deadline: Option<DateTime<Utc>>,
    /// Recurring or triggered: rows keep being added, so it never finishes by itself.
    pub ongoing: bool,
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRecord {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub spec: String,
    pub spec_hash: String,
    pub state: CampaignState,
    pub planned_for: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub ongoing: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One message to send, as the planner writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxRow {
    pub step: String,
    /// Unique within the campaign and step: the customer id, or a community target.
    pub recipient: String,
    pub customer_id: Option<i64>,
    pub channel: Channel,
    /// Where on the channel: a chat id, an e-mail address, a channel id.
    pub address: String,
    pub variant: Option<String>,
    pub language: String,
    /// The rendered message (JSON), sent as it is.
    pub payload: String,
    /// Counts toward the shared frequency cap.
    pub marketing: bool,
    pub due_at: DateTime<Utc>,
}

/// A claimed row, ready to send.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub campaign_id: String,
    pub step: String,
    pub recipient: String,
    pub customer_id: Option<i64>,
    pub channel: String,
    pub address: String,
    pub variant: Option<String>,
    pub language: String,
    pub payload: String,
    pub marketing: bool,
    /// Attempts including this one.
    pub attempts: i64,
    pub due_at: DateTime<Utc>,
}

/// Rows of one campaign by step and state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxCount {
    pub step: String,
    pub state: String,
    pub rows: i64,
}

const OUTBOX_COLUMNS: &Columns = &[
    ("campaign_id", Kind::Text),
    ("step", Kind::Text),
    ("recipient", Kind::Text),
    ("customer_id", Kind::Int),
    ("channel", Kind::Text),
    ("address", Kind::Text),
    ("variant", Kind::Text),
    ("language", Kind::Text),
    ("payload", Kind::Text),
    ("marketing", Kind::Bool),
    ("due_at", Kind::Time),
    ("state", Kind::Text),
];

/// Rows per bulk statement.
const BATCH: usize = 5_000;

/// Writes one campaign's plan in a single transaction: nothing is visible (or sent) until
/// [`PlanWriter::commit`], and dropping it rolls the whole plan back.
///
/// Full batches are executed by a task of their own that owns the transaction, one after
/// the other in push order, so the caller prepares the next batch while the database
/// inserts the previous one.
pub struct PlanWriter {
    campaign: String,
    /// The batch being filled, in the form the backend's statement takes.
    rows: Rows,
    dialect: Dialect,
    /// Rows handed to the inserting task.
    handed: u64,
    progress: Arc<Progress>,
    inserter: Option<Inserter>,
}

/// The task that executes the batches, and the way to it.
struct Inserter {
    /// Each batch: its row count and its rows.
    batches: mpsc::Sender<(u64, Rows)>,
    task: JoinHandle<Result<Tx>>,
}

/// What the inserting task has done so far.
#[derive(Debug, Default)]
struct Progress {
    /// Rows of the batches executed.
    executed: AtomicU64,
    /// Rows the database reported as inserted.
    written: AtomicU64,
}

impl std::fmt::Debug for PlanWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanWriter")
            .field("campaign", &self.campaign)
            .field("written", &self.written())
            .finish_non_exhaustive()
    }
}

/// Executes each batch received with `sql`, in order, inside `tx`; returns the
/// transaction when the sender is gone, or the first error.
async fn insert_batches(
    mut tx: Tx,
    sql: String,
    mut batches: mpsc::Receiver<(u64, Rows)>,
    progress: Arc<Progress>,
) -> Result<Tx> {
    while let Some((count, rows)) = batches.recv().await {
        let done = match &mut tx {
            Tx::Sqlite(t) => super::native::execute(t, &sql, &rows).await?,
            Tx::Postgres(t) => {
                let sql = sqlx::AssertSqlSafe(sql.clone());
                sqlx::query(sql)
                    .bind(rows.finish())
                    .execute(&mut **t)
                    .await?
                    .rows_affected()
            }
        };
        progress.written.fetch_add(done, Ordering::Relaxed);
        progress.executed.fetch_add(count, Ordering::Relaxed);
    }
    Ok(tx)
}

impl PlanWriter {
    fn new(tx: Tx, campaign: String, sql: String) -> Self {
        let dialect = tx.dialect();
        let progress = Arc::new(Progress::default());
        // One batch waits while one executes.
        let (batches, receiver) = mpsc::channel(1);
        let task = tokio::spawn(insert_batches(tx, sql, receiver, progress.clone()));
        PlanWriter {
            campaign,
            rows: Rows::for_dialect(dialect, OUTBOX_COLUMNS),
            dialect,
            handed: 0,
            progress,
            inserter: Some(Inserter { batches, task }),
        }
    }

    pub async fn push(&mut self, row: &NewOutboxRow) -> Result<()> {
        self.rows
            .row()
            .text(Some(&self.campaign))
            .text(Some(&row.step))
            .text(Some(&row.recipient))
            .int(row.customer_id)
            .text(Some(row.channel.as_str()))
            .text(Some(&row.address))
            .text(row.variant.as_deref())
            .text(Some(&row.language))
            .text(Some(&row.payload))
            .bool(row.marketing)
            .time(Some(row.due_at))
            .text(Some(row_state::PENDING));
        if self.rows.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let count = self.rows.len() as u64;
        let rows = std::mem::replace(
            &mut self.rows,
            Rows::for_dialect(self.dialect, OUTBOX_COLUMNS),
        );
        let sent = match &self.inserter {
            Some(i) => i.batches.send((count, rows)).await.is_ok(),
            None => false,
        };
        if !sent {
            // The task stopped: it failed; its error says why.
            self.finish().await?;
            return Err(StoreError::Conflict(
                "the plan's rows could not be written".into(),
            ));
        }
        self.handed += count;
        Ok(())
    }

    /// Waits for every batch handed over to be executed; the transaction.
    async fn finish(&mut self) -> Result<Tx> {
        let Some(Inserter { batches, task }) = self.inserter.take() else {
            return Err(StoreError::Conflict(
                "the plan's rows could not be written".into(),
            ));
        };
        drop(batches);
        task.await
            .map_err(|e| StoreError::Conflict(format!("writing the plan's rows: {e}")))?
    }

    /// Rows written so far.
    pub fn written(&self) -> u64 {
        let executed = self.progress.executed.load(Ordering::Relaxed);
        self.progress.written.load(Ordering::Relaxed)
            + self.handed.saturating_sub(executed)
            + self.rows.len() as u64
    }

    pub async fn commit(mut self) -> Result<u64> {
        self.flush().await?;
        let tx = self.finish().await?;
        tx.commit().await?;
        Ok(self.progress.written.load(Ordering::Relaxed))
    }
}

const CAMPAIGN_COLUMNS: &str = "id, name, kind, spec, spec_hash, state, planned_for, deadline, ongoing, created_at, updated_at, finished_at";

type CampaignTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    bool,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn campaign_record(t: CampaignTuple) -> Result<CampaignRecord> {
    Ok(CampaignRecord {
        id: t.0,
        name: t.1,
        kind: t.2,
        spec: t.3,
        spec_hash: t.4,
        state: CampaignState::parse(&t.5)?,
        planned_for: t.6,
        deadline: t.7,
        ongoing: t.8,
        created_at: t.9,
        updated_at: t.10,
        finished_at: t.11,
    })
}

const ROW_COLUMNS: &str = "id, campaign_id, step, recipient, customer_id, channel, address, variant, language, payload, marketing, attempts, due_at";

impl Store {
    /// Starts writing a campaign's plan. Fails with [`StoreError::Conflict`] when a
    /// campaign with this id exists already.
    pub async fn begin_plan(&self, campaign: &NewCampaign) -> Result<PlanWriter> {
        let mut tx = Tx::begin(&self.pool).await?;
        let now = Utc::now();
        let inserted = on_tx!(&mut tx, c => sqlx::query(
            "INSERT INTO campaigns (id, name, kind, spec, spec_hash, state, planned_for, deadline, ongoing, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&campaign.id)
        .bind(&campaign.name)
        .bind(&campaign.kind)
        .bind(&campaign.spec)
        .bind(&campaign.spec_hash)
        .bind(CampaignState::Running.as_str())
        .bind(campaign.planned_for)
        .bind(campaign.deadline)
        .bind(campaign.ongoing)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected());
        if inserted != 1 {
            return Err(StoreError::Conflict(format!(
                "campaign `{}` has been planned already",
                campaign.id
            )));
        }
        // Uniqueness is the planner's promise; a duplicate is a bug to surface, so there
        // is no ON CONFLICT here.
        let sql = bulk_insert_sql(tx.dialect(), "outbox", OUTBOX_COLUMNS);
        Ok(PlanWriter::new(tx, campaign.id.clone(), sql))
    }

    /// Adds rows to a planned campaign (a recurring campaign's next occurrence, a
    /// triggered campaign's new events), in one transaction. Rows whose (step,
    /// recipient) exists already are left alone, so adding the same event twice sends
    /// it once.
    pub async fn begin_append(&self, campaign: &str) -> Result<PlanWriter> {
        let tx = Tx::begin(&self.pool).await?;
        let sql = format!(
            "{} ON CONFLICT (campaign_id, step, recipient) DO NOTHING",
            bulk_insert_sql(tx.dialect(), "outbox", OUTBOX_COLUMNS)
        );
        Ok(PlanWriter::new(tx, campaign.to_string(), sql))
    }

    /// Orders whose parcels were all delivered between `from` (exclusive) and `to`
    /// (inclusive), with their customer and the last delivery time.
    pub async fn delivered_orders(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, String, DateTime<Utc>)>> {
        on_pool!(self, p => Ok(sqlx::query_as(
            "SELECT o.customer_id, o.name, MAX(s.delivered_at) FROM orders o JOIN shipments s ON s.order_id = o.id \
             WHERE o.customer_id IS NOT NULL \
             AND o.id IN (SELECT order_id FROM shipments WHERE delivered_at > $1 AND delivered_at <= $2) \
             GROUP BY o.id, o.customer_id, o.name \
             HAVING COUNT(*) = COUNT(s.delivered_at) AND MAX(s.delivered_at) > $1 AND MAX(s.delivered_at) <= $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?))
    }

    pub async fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
        let row: Option<CampaignTuple> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
        row.map(campaign_record).transpose()
    }

    /// Every campaign, newest first.
    pub async fn campaigns(&self) -> Result<Vec<CampaignRecord>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY created_at DESC, id");
        let rows: Vec<CampaignTuple> =
            on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?);
        rows.into_iter().map(campaign_record).collect()
    }

    /// Pauses a running campaign or resumes a paused one. `false` when the campaign is
    /// not in a state that allows it.
    pub async fn set_campaign_state(&self, id: &str, to: CampaignState) -> Result<bool> {
        let from = match to {
            CampaignState::Paused => CampaignState::Running,
            CampaignState::Running => CampaignState::Paused,
            CampaignState::Cancelled | CampaignState::Finished => {
                return Err(StoreError::Conflict(format!(
                    "use cancel_campaign or finish_campaign to make a campaign {}",
                    to.as_str()
                )));
            }
        };
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE campaigns SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4",
        )
        .bind(to.as_str())
        .bind(Utc::now())
        .bind(id)
        .bind(from.as_str())
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Cancels a campaign that is not finished: rows not yet sent are cancelled, in the
    /// same transaction. Returns the rows cancelled, or `None` when there was nothing to
    /// cancel.
    pub async fn cancel_campaign(&self, id: &str) -> Result<Option<u64>> {
        let mut tx = Tx::begin(&self.pool).await?;
        let now = Utc::now();
        let done = on_tx!(&mut tx, c => sqlx::query(
            "UPDATE campaigns SET state = 'cancelled', updated_at = $1, finished_at = $1 WHERE id = $2 AND state IN ('running', 'paused')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        if done != 1 {
            return Ok(None);
        }
        let rows = on_tx!(&mut tx, c => sqlx::query(
            "UPDATE outbox SET state = 'cancelled', last_error = 'campaign cancelled', lease_owner = NULL, lease_until = NULL \
             WHERE campaign_id = $1 AND state = 'pending'",
        )
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        tx.commit().await?;
        Ok(Some(rows))
    }

    /// Marks a running campaign finished when none of its rows is pending or in flight.
    pub async fn finish_campaign_if_done(&self, id: &str) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE campaigns SET state = 'finished', updated_at = $1, finished_at = $1 WHERE id = $2 AND state = 'running' AND NOT ongoing \
             AND NOT EXISTS (SELECT 1 FROM outbox WHERE campaign_id = $2 AND state IN ('pending', 'sending'))",
        )
        .bind(Utc::now())
        .bind(id)
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Rows of a campaign by step and state.
    pub async fn outbox_counts(&self, campaign: &str) -> Result<Vec<OutboxCount>> {
        on_pool!(self, p => Ok(sqlx::query_as(
            "SELECT step, state, COUNT(*) AS rows FROM outbox WHERE campaign_id = $1 GROUP BY step, state ORDER BY step, state",
        )
        .bind(campaign)
        .fetch_all(p)
        .await?))
    }

    /// Puts rows whose lease ran out while `sending` back to `pending` (their dispatcher
    /// stopped mid-send), and cancels rows of campaigns whose deadline passed. Returns
    /// (rows recovered, rows expired).
    pub async fn recover_outbox(&self, now: DateTime<Utc>) -> Result<(u64, u64)> {
        let recovered = on_pool!(self, p => sqlx::query(
            "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL \
             WHERE state = 'sending' AND lease_until < $1",
        )
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
        let expired = on_pool!(self, p => sqlx::query(
            "UPDATE outbox SET state = 'cancelled', last_error = 'deadline passed' \
             WHERE state = 'pending' AND campaign_id IN (SELECT id FROM campaigns WHERE deadline < $1 AND state = 'running')",
        )
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
        Ok((recovered, expired))
    }

    /// Claims up to `limit` due rows of running campaigns for `owner` until
    /// `now + lease`, earliest first, and counts the attempt.
    pub async fn claim_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<OutboxRow>> {
        // PostgreSQL: lock the chosen rows in a CTE first. (`WHERE id IN (SELECT … LIMIT
        // n FOR UPDATE SKIP LOCKED)` may run the subquery more than once and claim more
        // than n rows.) SQLite has one writer at a time, so the plain form is exact.
        let sql = match self.backend() {
            super::Backend::Sqlite => format!(
                "UPDATE outbox SET state = 'sending', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT o.id FROM outbox o JOIN campaigns c ON c.id = o.campaign_id \
                 WHERE o.state = 'pending' AND o.due_at <= $3 AND c.state = 'running' \
                 ORDER BY o.due_at, o.id LIMIT $4) \
                 RETURNING {ROW_COLUMNS}"
            ),
            super::Backend::Postgres => format!(
                "WITH chosen AS MATERIALIZED (SELECT o.id FROM outbox o JOIN campaigns c ON c.id = o.campaign_id \
                 WHERE o.state = 'pending' AND o.due_at <= $3 AND c.state = 'running' \
                 ORDER BY o.due_at, o.id LIMIT $4 FOR UPDATE OF o SKIP LOCKED) \
                 UPDATE outbox SET state = 'sending', lease_owner = $1, lease_until = $2, attempts = outbox.attempts + 1 \
                 FROM chosen WHERE outbox.id = chosen.id \
                 RETURNING {}",
                ROW_COLUMNS
                    .split(", ")
                    .map(|c| format!("outbox.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut rows: Vec<OutboxRow> = on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now + lease)
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await?);
        rows.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.id.cmp(&b.id)));
        Ok(rows)
    }

    /// The earliest time a pending row of a running campaign becomes due.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        on_pool!(self, p => Ok(sqlx::query_scalar(
            "SELECT MIN(o.due_at) FROM outbox o JOIN campaigns c ON c.id = o.campaign_id \
             WHERE o.state = 'pending' AND c.state = 'running'",
        )
        .fetch_one(p)
        .await?))
    }

    /// Extends the leases of the rows `owner` is sending right now: a dispatcher that is
    /// alive keeps them, however long a send waits (a long 429 pause).
    pub async fn renew_leases(
        &self,
        owner: &str,
        rows: &[i64],
        until: DateTime<Utc>,
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        // Row ids are integers, so listing them in the statement is safe.
        let ids = rows
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE outbox SET lease_until = $1 WHERE lease_owner = $2 AND state = 'sending' AND id IN ({ids})"
        );
        on_pool!(self, p => Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(until)
            .bind(owner)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// Records a delivered row. `false` when the row's lease was lost to another
    /// dispatcher (the result is then not recorded twice).
    pub async fn outbox_sent(
        &self,
        id: i64,
        owner: &str,
        external_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = $1, external_id = $2, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3 AND lease_owner = $4 AND state = 'sending'",
        )
        .bind(at)
        .bind(external_id)
        .bind(id)
        .bind(owner)
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Gives a row back after a transient failure, due again at `retry_at`.
    pub async fn outbox_retry(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE outbox SET state = 'pending', due_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3 AND lease_owner = $4 AND state = 'sending'",
        )
        .bind(retry_at)
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Ends a row without sending it: `failed` (dead letter) or `skipped`, with why.
    pub async fn outbox_give_up(
        &self,
        id: i64,
        owner: &str,
        state: &str,
        reason: &str,
    ) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE outbox SET state = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3 AND lease_owner = $4 AND state = 'sending'",
        )
        .bind(state)
        .bind(reason)
        .bind(id)
        .bind(owner)
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Dead letters and skipped rows of a campaign with their reasons, grouped.
    pub async fn outbox_problems(&self, campaign: &str) -> Result<Vec<(String, String, i64)>> {
        on_pool!(self, p => Ok(sqlx::query_as(
            "SELECT state, COALESCE(last_error, ''), COUNT(*) FROM outbox WHERE campaign_id = $1 AND state IN ('failed', 'skipped', 'cancelled') \
             GROUP BY state, last_error ORDER BY 3 DESC",
        )
        .bind(campaign)
        .fetch_all(p)
        .await?))
    }

    /// Marketing messages sent or scheduled per customer between `from` and `to`: what
    /// frequency caps count.
    pub async fn marketing_times(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, Vec<DateTime<Utc>>>> {
        let rows: Vec<(i64, DateTime<Utc>)> = on_pool!(self, p => sqlx::query_as(
            "SELECT customer_id, COALESCE(sent_at, due_at) FROM outbox \
             WHERE marketing AND customer_id IS NOT NULL AND state IN ('pending', 'sending', 'sent') \
             AND COALESCE(sent_at, due_at) > $1 AND COALESCE(sent_at, due_at) < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?);
        let mut out: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
        for (customer, at) in rows {
            out.entry(customer).or_default().push(at);
        }
        Ok(out)
    }

    /// Skips the unsent marketing rows to a channel address (after `/stop` or an
    /// unsubscribe link). Returns how many.
    pub async fn skip_unsent_marketing(&self, channel: Channel, address: &str) -> Result<u64> {
        on_pool!(self, p => Ok(sqlx::query(
            "UPDATE outbox SET state = 'skipped', last_error = 'unsubscribed' \
             WHERE channel = $1 AND address = $2 AND marketing AND state = 'pending'",
        )
        .bind(channel.as_str())
        .bind(address)
        .execute(p)
        .await?
        .rows_affected()))
    }

    /// Records a customer's RSVP to a livestream campaign. `false` when they had already.
    pub async fn rsvp(&self, campaign: &str, customer: i64) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(
            "INSERT INTO campaign_rsvps (campaign_id, customer_id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(campaign)
        .bind(customer)
        .bind(Utc::now())
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Whether a customer pressed a livestream campaign's RSVP button.
    pub async fn has_rsvp(&self, campaign: &str, customer: i64) -> Result<bool> {
        let n: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM campaign_rsvps WHERE campaign_id = $1 AND customer_id = $2",
        )
        .bind(campaign)
        .bind(customer)
        .fetch_one(p)
        .await?);
        Ok(n > 0)
    }

    /// One outbox row, by id.
    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM outbox WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(p)
            .await?))
    }

    /// Records a click on link number `link` of an outbox row's message and returns the
    /// row's payload (to find the link's target). `None` for an unknown row.
    pub async fn record_click(&self, outbox_id: i64, link: i64) -> Result<Option<String>> {
        let payload: Option<String> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT payload FROM outbox WHERE id = $1",
        )
        .bind(outbox_id)
        .fetch_optional(p)
        .await?);
        if payload.is_some() {
            on_pool!(self, p => { sqlx::query(
                "INSERT INTO campaign_clicks (outbox_id, link, at) VALUES ($1, $2, $3)",
            )
            .bind(outbox_id)
            .bind(link)
            .bind(Utc::now())
            .execute(p)
            .await?; });
        }
        Ok(payload)
    }
}
