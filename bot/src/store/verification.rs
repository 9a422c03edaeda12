//! Failed verification attempts across conversations, channels and replicas: what the
//! agent's per-order, per-client and shop-wide limits count.

use chrono::{DateTime, Utc};

use super::{Result, Store, WriteBegin, on_pool};

/// Failed attempts since each window's start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts {
    /// On the order (or the typed reference that matches none).
    pub order: i64,
    /// From the client address.
    pub client: i64,
    /// Shop-wide.
    pub all: i64,
}

/// Which failures to count: each key with the start of its window.
#[derive(Debug, Clone, Copy)]
pub struct FailureWindows<'a> {
    pub order: Option<(&'a str, DateTime<Utc>)>,
    pub client: Option<(&'a str, DateTime<Utc>)>,
    pub all_since: DateTime<Utc>,
}

impl Store {
    /// Records one failed verification attempt; deletes the rows from before `forget`
    /// (older than every window) in the same transaction.
    pub async fn record_verification_failure(
        &self,
        order_key: Option<&str>,
        client: Option<&str>,
        at: DateTime<Utc>,
        forget: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = p.begin_with(<Db as WriteBegin>::BEGIN).await?;
            sqlx::query("DELETE FROM verification_failures WHERE at < $1")
                .bind(forget)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO verification_failures (order_key, client, at) VALUES ($1, $2, $3)")
                .bind(order_key)
                .bind(client)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Failed attempts within each window (0 for a key not asked about).
    pub async fn verification_failures(&self, w: &FailureWindows<'_>) -> Result<FailureCounts> {
        let (order_key, order_since) = w.order.unzip();
        let (client, client_since) = w.client.unzip();
        let row: (i64, i64, i64) = on_pool!(self, p => sqlx::query_as(
            "SELECT \
               (SELECT COUNT(*) FROM verification_failures WHERE order_key = $1 AND at >= $2), \
               (SELECT COUNT(*) FROM verification_failures WHERE client = $3 AND at >= $4), \
               (SELECT COUNT(*) FROM verification_failures WHERE at >= $5)",
        )
        .bind(order_key)
        .bind(order_since.unwrap_or(w.all_since))
        .bind(client)
        .bind(client_since.unwrap_or(w.all_since))
        .bind(w.all_since)
        .fetch_one(p)
        .await?);
        Ok(FailureCounts {
            order: row.0,
            client: row.1,
            all: row.2,
        })
    }

    /// Claims the staff handoff of a lockout: true for the first caller since `since`
    /// (that caller opens it), false for every later one. Safe across replicas.
    pub async fn claim_lockout_handoff(
        &self,
        subject: &str,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(
            "INSERT INTO verification_lockouts (subject, at) VALUES ($1, $2) \
             ON CONFLICT (subject) DO UPDATE SET at = excluded.at \
             WHERE verification_lockouts.at < $3",
        )
        .bind(subject)
        .bind(at)
        .bind(since)
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }
}
