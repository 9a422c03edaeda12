//! Shop events for triggered campaigns: carts, checkouts, restocks and stock alerts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::CustomerId;
use super::{Result, Store, WriteBegin, on_pool};

/// One item of a cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartItem {
    /// The product's handle.
    pub product: String,
    #[serde(default = "one")]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

/// A shop event, as `kefu import events` and `POST /api/events` take it (customers
/// already resolved to ids).
#[derive(Debug, Clone, PartialEq)]
pub enum ShopEvent {
    /// A cart was created or changed.
    Cart {
        id: String,
        customer: Option<CustomerId>,
        url: Option<String>,
        total_minor: Option<i64>,
        currency: Option<String>,
        items: Vec<CartItem>,
        at: DateTime<Utc>,
    },
    /// A cart was checked out: it is no longer abandoned.
    Checkout { cart: String, at: DateTime<Utc> },
    /// A product is back in stock.
    Restock { product: String, at: DateTime<Utc> },
    /// A customer asked to be told when a product is back in stock.
    StockAlert {
        customer: CustomerId,
        product: String,
        at: DateTime<Utc>,
    },
}

/// A cart as a campaign message shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CartRecord {
    pub id: String,
    pub customer_id: Option<i64>,
    pub url: Option<String>,
    pub total_minor: Option<i64>,
    pub currency: Option<String>,
    pub items: sqlx::types::Json<Vec<CartItem>>,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Records events in one transaction: all of them or none. Carts are upserted (the
    /// latest change wins); a checkout of an unknown cart records the cart as completed.
    /// Importing the same events again changes nothing.
    pub async fn record_events(&self, events: &[ShopEvent]) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = p.begin_with(<Db as WriteBegin>::BEGIN).await?;
            for e in events {
                match e {
                    ShopEvent::Cart { id, customer, url, total_minor, currency, items, at } => {
                        sqlx::query(
                            "INSERT INTO carts (id, customer_id, url, total_minor, currency, items, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7) \
                             ON CONFLICT (id) DO UPDATE SET customer_id = COALESCE(excluded.customer_id, carts.customer_id), \
                             url = COALESCE(excluded.url, carts.url), total_minor = excluded.total_minor, \
                             currency = excluded.currency, items = excluded.items, updated_at = excluded.updated_at \
                             WHERE excluded.updated_at >= carts.updated_at",
                        )
                        .bind(id)
                        .bind(customer)
                        .bind(url.as_deref())
                        .bind(total_minor)
                        .bind(currency.as_deref())
                        .bind(sqlx::types::Json(items))
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    ShopEvent::Checkout { cart, at } => {
                        sqlx::query(
                            "INSERT INTO carts (id, updated_at, completed_at) VALUES ($1, $2, $2) \
                             ON CONFLICT (id) DO UPDATE SET completed_at = COALESCE(carts.completed_at, excluded.completed_at)",
                        )
                        .bind(cart)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    ShopEvent::Restock { product, at } => {
                        sqlx::query(
                            "INSERT INTO restocks (product_handle, at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        )
                        .bind(product)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    ShopEvent::StockAlert { customer, product, at } => {
                        sqlx::query(
                            "INSERT INTO stock_alerts (customer_id, product_handle, created_at) VALUES ($1, $2, $3) \
                             ON CONFLICT (customer_id, product_handle) DO UPDATE SET created_at = excluded.created_at \
                             WHERE excluded.created_at > stock_alerts.created_at",
                        )
                        .bind(customer)
                        .bind(product)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Carts of known customers last changed in `(from, to]`, never checked out, and
    /// with no order by that customer since: (customer, cart, last change).
    pub async fn abandoned_carts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, String, DateTime<Utc>)>> {
        on_pool!(self, p => Ok(sqlx::query_as(
            "SELECT c.customer_id, c.id, c.updated_at FROM carts c \
             WHERE c.customer_id IS NOT NULL AND c.completed_at IS NULL \
             AND c.updated_at > $1 AND c.updated_at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id AND o.created_at >= c.updated_at) \
             ORDER BY c.updated_at, c.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?))
    }

    /// Restocks in `(from, to]` with the customers waiting for them: those who asked
    /// before the restock and after the product's previous restock (told once per
    /// request). `products` narrows to those handles; empty means any.
    pub async fn restock_alerts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        products: &[String],
    ) -> Result<Vec<(i64, String, DateTime<Utc>)>> {
        let rows: Vec<(i64, String, DateTime<Utc>)> = on_pool!(self, p => sqlx::query_as(
            "SELECT a.customer_id, r.product_handle, r.at FROM restocks r \
             JOIN stock_alerts a ON a.product_handle = r.product_handle AND a.created_at <= r.at \
             WHERE r.at > $1 AND r.at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM restocks e WHERE e.product_handle = r.product_handle \
                             AND e.at < r.at AND e.at >= a.created_at) \
             ORDER BY r.at, a.customer_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?);
        Ok(rows
            .into_iter()
            .filter(|(_, handle, _)| products.is_empty() || products.contains(handle))
            .collect())
    }

    /// This installation's secret `name`: made (32 random bytes, hex) the first time it is
    /// asked for, the same for every replica afterwards.
    pub async fn instance_secret(&self, name: &str) -> Result<String> {
        let read = || async {
            Ok::<Option<String>, super::StoreError>(on_pool!(self, p => sqlx::query_scalar(
                "SELECT value FROM instance_secrets WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(p)
            .await?))
        };
        if let Some(secret) = read().await? {
            return Ok(secret);
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            super::StoreError::Conflict(format!("no randomness for a new secret: {e}"))
        })?;
        let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // Another replica may make it at the same moment: the first one written wins.
        on_pool!(self, p => { sqlx::query(
            "INSERT INTO instance_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&fresh)
        .execute(p)
        .await?; });
        read()
            .await?
            .ok_or_else(|| super::StoreError::Conflict(format!("secret `{name}` vanished")))
    }

    /// Carts by id.
    pub async fn carts(&self, ids: &[String]) -> Result<Vec<CartRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT id, customer_id, url, total_minor, currency, items, updated_at FROM carts WHERE id IN ({list})"
            );
            let rows: Vec<CartRecord> = on_pool!(self, p => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }
}
