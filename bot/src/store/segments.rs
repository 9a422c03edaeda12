//! What customer segments read in bulk: every customer's profile, order history,
//! support contacts, parcels, identities and consents, each in one set-based query
//! (`GROUP BY`, never one query per customer), plus the stored score snapshot
//! (`customer_scores`) and a generator of large synthetic shops for `kefu bench rfm`.
//!
//! Times cross this API as Unix seconds (`i64`): the scoring code does arithmetic on
//! millions of them and has no use for calendar types per row.
// Short-lived row tuples are read right where they are declared.
#![allow(clippy::type_complexity)]

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::Row;
use sqlx::types::Json;

use super::bulk::JsonRows;
use super::{Backend, Result, Store, StoreError, WriteBegin, on_pool};
use crate::shop::Channel;

/// A customer's profile as segments see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentCustomer {
    pub id: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub country: Option<String>,
    pub tags: Vec<String>,
    /// The `preferred_channel` attribute as written (not validated here).
    pub preferred_channel: Option<String>,
}

/// One customer's non-cancelled orders up to `now`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderHistory {
    pub customer_id: i64,
    /// All orders up to `now`.
    pub orders: i64,
    /// Totals minus refunds of all orders, minor units.
    pub spent_minor: i64,
    /// Orders placed at or after the window start.
    pub window_orders: i64,
    /// Totals minus refunds of the orders in the window.
    pub window_spent_minor: i64,
    pub first_order_at: i64,
    pub last_order_at: i64,
    /// Every order's time (Unix seconds), ascending.
    pub order_times: Vec<i64>,
}

/// A customer's support contacts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SupportSummary {
    pub customer_id: i64,
    /// Conversations in any state but `closed`.
    pub open_conversations: i64,
    /// Conversations started at or after `since`.
    pub recent_conversations: i64,
    /// Handoffs to a person requested at or after `since`.
    pub recent_handoffs: i64,
    /// The channel of the customer's most recent conversation.
    pub last_channel: Option<Channel>,
}

/// A customer's parcels that were or are late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParcelSummary {
    pub customer_id: i64,
    /// Parcels past their promised date and not delivered (nor returned).
    pub late_undelivered: i64,
    /// Parcels delivered after their promised date, delivered at or after `since`.
    pub delivered_late: i64,
}

/// One row of the `customer_scores` snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerScoreRow {
    pub customer_id: i64,
    pub r: Option<i64>,
    pub f: Option<i64>,
    pub m: Option<i64>,
    pub group: Option<String>,
    pub recency_days: Option<i64>,
    pub orders: i64,
    pub monetary_minor: i64,
    pub churn_risk: f64,
}

/// What [`Store::generate_rfm_bench`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BenchShop {
    pub customers: i64,
    pub orders: i64,
    pub order_lines: i64,
    pub shipments: i64,
    pub conversations: i64,
}

/// `expr` as Unix seconds, in the backend's dialect.
fn epoch(backend: Backend, expr: &str) -> String {
    match backend {
        Backend::Sqlite => format!("unixepoch({expr})"),
        Backend::Postgres => format!("floor(extract(epoch from {expr}))::bigint"),
    }
}

/// `IN (the strings of the JSON array bound as $n)`, in the backend's dialect.
fn in_json_list(backend: Backend, n: u32) -> String {
    match backend {
        Backend::Sqlite => format!("IN (SELECT value FROM json_each(${n}))"),
        Backend::Postgres => format!("IN (SELECT jsonb_array_elements_text(${n}::jsonb))"),
    }
}

/// Statements are built from the constant fragments above only; no input reaches the text.
fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// One customer's history from their `time/amount` pairs (comma separated; times as
/// stored text or Unix seconds), counting orders up to `now`; `None` when none count.
/// Times that cannot be read are skipped, as `unixepoch()` of them is NULL.
fn history_of(customer_id: i64, pairs: &str, now: i64, start: i64) -> Result<Option<OrderHistory>> {
    let mut h = OrderHistory {
        customer_id,
        first_order_at: i64::MAX,
        last_order_at: i64::MIN,
        ..OrderHistory::default()
    };
    for pair in pairs.split(',') {
        let Some((time, amount)) = pair.rsplit_once('/') else {
            return Err(StoreError::Corrupt(format!(
                "order `{pair}` of customer {customer_id}"
            )));
        };
        let amount: i64 = amount.trim().parse().map_err(|_| {
            StoreError::Corrupt(format!("order amount `{amount}` of customer {customer_id}"))
        })?;
        let Some(t) = unix_seconds(time.trim()) else {
            continue;
        };
        if t > now {
            continue;
        }
        h.orders += 1;
        h.spent_minor += amount;
        if t >= start {
            h.window_orders += 1;
            h.window_spent_minor += amount;
        }
        h.first_order_at = h.first_order_at.min(t);
        h.last_order_at = h.last_order_at.max(t);
        h.order_times.push(t);
    }
    if h.orders == 0 {
        return Ok(None);
    }
    h.order_times.sort_unstable();
    Ok(Some(h))
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A time as Unix seconds (fractions dropped, like `unixepoch()`): Unix seconds as
/// digits, or a date and time as SQLite stores them, `YYYY-MM-DD[T| ]HH:MM[:SS[.fff]]`
/// followed by `Z`, `±HH:MM` or nothing (UTC). `None` for anything else.
fn unix_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' {
        return s.parse().ok();
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        let mut n = 0i64;
        for &c in d {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[7] != b'-' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut i = 10;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
            return None;
        }
        let (hh, mm) = (num(11..13)?, num(14..16)?);
        if hh > 24 || mm > 59 {
            return None;
        }
        secs += hh * 3600 + mm * 60;
        i = 16;
        if b.get(i) == Some(&b':') {
            let ss = num(17..19)?;
            if ss > 60 {
                return None;
            }
            secs += ss;
            i = 19;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                i += digits;
            }
        }
    }
    match &b[i..] {
        [] | [b'Z' | b'z'] => Some(secs),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let off = match rest {
                [_, _, b':', _, _] => num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60,
                [_, _, _, _] => num(i + 1..i + 3)? * 3600 + num(i + 3..i + 5)? * 60,
                [_, _] => num(i + 1..i + 3)? * 3600,
                _ => return None,
            };
            Some(if *sign == b'+' {
                secs - off
            } else {
                secs + off
            })
        }
        _ => None,
    }
}

/// Rows per chunk of the SQLite bulk reads below.
const READ_CHUNK: usize = 20_000;

/// Reads every row of `table` on SQLite in rowid order, `columns` of each. Rows come in
/// chunks of [`READ_CHUNK`], each chunk one JSON text (an array of rows, each an array of
/// the columns) that is taken apart here: moving a million rows one by one through the
/// driver costs several microseconds each, a chunk costs about as much as one row.
async fn sqlite_chunks<T: serde::de::DeserializeOwned>(
    p: &sqlx::SqlitePool,
    table: &str,
    columns: &str,
) -> Result<Vec<T>> {
    let q = format!(
        "SELECT max(r), '[' || coalesce(group_concat(j, ','), '') || ']' FROM \
         (SELECT rowid AS r, json_array({columns}) AS j FROM {table} \
         WHERE rowid > $1 ORDER BY rowid LIMIT {READ_CHUNK})"
    );
    let mut out = Vec::new();
    let mut after = i64::MIN;
    // One read transaction: every chunk sees the same snapshot of the table.
    let mut tx = p.begin().await?;
    loop {
        let (last, rows): (Option<i64>, String) = sqlx::query_as(sql(q.clone()))
            .bind(after)
            .fetch_one(&mut *tx)
            .await?;
        let Some(last) = last else { break };
        let mut chunk: Vec<T> = serde_json::from_str(&rows)
            .map_err(|e| StoreError::Corrupt(format!("{table} rows: {e}")))?;
        out.append(&mut chunk);
        after = last;
    }
    tx.commit().await?;
    Ok(out)
}

/// A customer's profile as the chunked SQLite read returns it: id, email, name, locale,
/// time zone, country, tags (the JSON text) and the `preferred_channel` attribute (any
/// JSON value; only text is kept, as text is all a channel name can be).
type CustomerCells = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    serde_json::Value,
);

/// [`Store::segment_customers`] on SQLite, in chunks (see [`sqlite_chunks`]).
async fn sqlite_segment_customers(p: &sqlx::SqlitePool) -> Result<Vec<SegmentCustomer>> {
    let rows: Vec<CustomerCells> = sqlite_chunks(
        p,
        "customers",
        "id, email, name, locale, time_zone, country, tags, attributes->'preferred_channel'",
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, email, name, locale, time_zone, country, tags, preferred) in rows {
        let tags: Vec<String> = serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("tags of customer {id}: {e}")))?;
        let preferred_channel = match preferred {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s),
            other => Some(other.to_string()),
        };
        out.push(SegmentCustomer {
            id,
            email,
            name,
            locale,
            time_zone,
            country,
            tags,
            preferred_channel,
        });
    }
    // Rowid order is id order (`id INTEGER PRIMARY KEY`); sorting keeps the promise
    // without relying on it.
    out.sort_by_key(|c| c.id);
    Ok(out)
}

/// A customer's most recent order, for campaign templates (`last_order.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastOrder {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub total_minor: i64,
    pub currency: String,
    /// Line items in order: product name and quantity.
    pub items: Vec<(String, i64)>,
}

/// Customers (or orders) per look-up in [`Store::last_orders`].
const LAST_ORDERS_CHUNK: usize = 5_000;

impl Store {
    /// The most recent order of each of `customers` who has one, with its line items.
    /// Of two orders placed at the same instant, the later-written one counts.
    pub async fn last_orders(&self, customers: &[i64]) -> Result<HashMap<i64, LastOrder>> {
        let (ids_sql, lines_sql) = match self.backend() {
            Backend::Sqlite => (
                "SELECT o.customer_id, o.id, o.name, o.created_at, o.total_minor, o.currency FROM orders o \
                 WHERE o.customer_id IN (SELECT value FROM json_each($1)) \
                 AND o.created_at = (SELECT max(l.created_at) FROM orders l WHERE l.customer_id = o.customer_id) \
                 ORDER BY o.id",
                "SELECT order_id, name, quantity FROM order_lines \
                 WHERE order_id IN (SELECT value FROM json_each($1)) ORDER BY order_id, position",
            ),
            Backend::Postgres => (
                "SELECT o.customer_id, o.id, o.name, o.created_at, o.total_minor, o.currency FROM orders o \
                 WHERE o.customer_id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) \
                 AND o.created_at = (SELECT max(l.created_at) FROM orders l WHERE l.customer_id = o.customer_id) \
                 ORDER BY o.id",
                "SELECT order_id, name, quantity::bigint FROM order_lines \
                 WHERE order_id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) ORDER BY order_id, position",
            ),
        };
        let mut out: HashMap<i64, (i64, LastOrder)> = HashMap::new();
        for chunk in customers.chunks(LAST_ORDERS_CHUNK) {
            let ids = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".into());
            let rows: Vec<(i64, i64, String, DateTime<Utc>, i64, String)> = on_pool!(self, p => {
                sqlx::query_as(ids_sql).bind(&ids).fetch_all(p).await?
            });
            // Rows come in id order: a later one at the same instant replaces the earlier.
            for (customer, id, name, created_at, total_minor, currency) in rows {
                let order = LastOrder {
                    name,
                    created_at,
                    total_minor,
                    currency,
                    items: Vec::new(),
                };
                out.insert(customer, (id, order));
            }
        }
        let by_order: HashMap<i64, i64> = out.iter().map(|(c, (o, _))| (*o, *c)).collect();
        let order_ids: Vec<i64> = by_order.keys().copied().collect();
        for chunk in order_ids.chunks(LAST_ORDERS_CHUNK) {
            let ids = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".into());
            let rows: Vec<(i64, String, i64)> = on_pool!(self, p => {
                sqlx::query_as(lines_sql).bind(&ids).fetch_all(p).await?
            });
            for (order, name, quantity) in rows {
                if let Some(last) = by_order.get(&order).and_then(|c| out.get_mut(c)) {
                    last.1.items.push((name, quantity));
                }
            }
        }
        Ok(out.into_iter().map(|(c, (_, o))| (c, o)).collect())
    }

    /// Every customer's profile, by id.
    pub async fn segment_customers(&self) -> Result<Vec<SegmentCustomer>> {
        if let super::Pool::Sqlite(p) = &self.pool {
            return sqlite_segment_customers(p).await;
        }
        let q = "SELECT id, email, name, locale, time_zone, country, tags, attributes->>'preferred_channel' \
                 FROM customers ORDER BY id";
        let rows: Vec<(
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Json<Vec<String>>,
            Option<String>,
        )> = on_pool!(self, p => sqlx::query_as(q).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|r| SegmentCustomer {
                id: r.0,
                email: r.1,
                name: r.2,
                locale: r.3,
                time_zone: r.4,
                country: r.5,
                tags: r.6.0,
                preferred_channel: r.7,
            })
            .collect())
    }

    /// One customer's profile by email (exact, as stored), for explanations.
    pub async fn segment_customer_by_email(&self, email: &str) -> Result<Option<SegmentCustomer>> {
        let q = "SELECT id FROM customers WHERE lower(email) = lower($1)";
        let id: Option<i64> =
            on_pool!(self, p => sqlx::query_scalar(q).bind(email).fetch_optional(p).await?);
        let Some(id) = id else { return Ok(None) };
        let q = "SELECT id, email, name, locale, time_zone, country, tags, attributes->>'preferred_channel' \
                 FROM customers WHERE id = $1";
        let r: (
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Json<Vec<String>>,
            Option<String>,
        ) = on_pool!(self, p => sqlx::query_as(q).bind(id).fetch_one(p).await?);
        Ok(Some(SegmentCustomer {
            id: r.0,
            email: r.1,
            name: r.2,
            locale: r.3,
            time_zone: r.4,
            country: r.5,
            tags: r.6.0,
            preferred_channel: r.7,
        }))
    }

    /// Every customer's non-cancelled orders up to `now`, in one grouped pass over the
    /// orders table; customers without such orders are absent. The window starts at
    /// `window_start`.
    ///
    /// The pass walks the covering index `orders_segments` in (customer, time) order, so
    /// it needs no sort and never touches the table; each customer comes back as one text
    /// of `time/amount` pairs that is taken apart here. SQLite sends the stored RFC 3339
    /// text as is (parsed below, much cheaper than `unixepoch()` per row), PostgreSQL sends
    /// Unix seconds.
    pub async fn order_histories(
        &self,
        now: DateTime<Utc>,
        window_start: DateTime<Utc>,
    ) -> Result<Vec<OrderHistory>> {
        let backend = self.backend();
        let pairs = match backend {
            Backend::Sqlite => {
                "group_concat(created_at || '/' || (total_minor - refunded_minor), ',')"
            }
            Backend::Postgres => {
                "string_agg(floor(extract(epoch from created_at))::bigint::text || '/' || \
                 (total_minor - refunded_minor)::text, ',')"
            }
        };
        let q = sql(format!(
            "SELECT customer_id, {pairs} FROM orders \
             WHERE customer_id IS NOT NULL AND status <> 'cancelled' AND cancelled_at IS NULL \
             GROUP BY customer_id ORDER BY customer_id"
        ));
        let (now, start) = (now.timestamp(), window_start.timestamp());
        let mut out = Vec::new();
        on_pool!(self, p => {
            let mut rows = sqlx::query::<Db>(q).fetch(p);
            while let Some(row) = rows.try_next().await? {
                let customer_id: i64 = row.try_get(0)?;
                let pairs: &str = row.try_get(1)?;
                if let Some(h) = history_of(customer_id, pairs, now, start)? {
                    out.push(h);
                }
            }
        });
        Ok(out)
    }

    /// Every customer's support contacts: open conversations, conversations and handoffs
    /// since `since`, and the channel of the latest conversation.
    pub async fn support_summaries(&self, since: DateTime<Utc>) -> Result<Vec<SupportSummary>> {
        let backend = self.backend();
        let q = sql(format!(
            "SELECT c.id, c.customer_id, c.channel, c.state, {ct}, COUNT(h.id) \
             FROM conversations c LEFT JOIN handoffs h ON h.conversation_id = c.id AND {ht} >= $1 \
             WHERE c.customer_id IS NOT NULL \
             GROUP BY c.id, c.customer_id, c.channel, c.state, c.created_at",
            ct = epoch(backend, "c.created_at"),
            ht = epoch(backend, "h.requested_at"),
        ));
        let since = since.timestamp();
        // customer → (summary, (time, id) of the latest conversation)
        let mut by_customer: HashMap<i64, (SupportSummary, (i64, i64))> = HashMap::new();
        on_pool!(self, p => {
            let mut rows = sqlx::query_as::<Db, (i64, i64, String, String, i64, i64)>(q)
                .bind(since)
                .fetch(p);
            while let Some((id, customer, channel, state, at, handoffs)) = rows.try_next().await? {
                let (s, latest) = by_customer.entry(customer).or_insert_with(|| {
                    (SupportSummary { customer_id: customer, ..SupportSummary::default() }, (i64::MIN, i64::MIN))
                });
                if state != "closed" {
                    s.open_conversations += 1;
                }
                if at >= since {
                    s.recent_conversations += 1;
                }
                s.recent_handoffs += handoffs;
                if (at, id) > *latest {
                    *latest = (at, id);
                    // An unknown channel name is old data, not a reason to fail a segment.
                    s.last_channel = channel.parse().ok();
                }
            }
        });
        let mut out: Vec<SupportSummary> = by_customer.into_values().map(|(s, _)| s).collect();
        out.sort_unstable_by_key(|s| s.customer_id);
        Ok(out)
    }

    /// Every customer's late parcels as of `now`; deliveries that came late count when
    /// they arrived at or after `since`.
    pub async fn parcel_summaries(
        &self,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<Vec<ParcelSummary>> {
        let backend = self.backend();
        let (promised, delivered) = (
            epoch(backend, "s.promised_by"),
            epoch(backend, "s.delivered_at"),
        );
        let q = sql(format!(
            "SELECT o.customer_id, \
             CAST(SUM(CASE WHEN s.delivered_at IS NULL AND s.status NOT IN ('delivered', 'returned') AND {promised} < $1 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN s.delivered_at IS NOT NULL AND {delivered} > {promised} AND {delivered} >= $2 AND {delivered} <= $1 THEN 1 ELSE 0 END) AS BIGINT) \
             FROM shipments s JOIN orders o ON o.id = s.order_id \
             WHERE o.customer_id IS NOT NULL AND s.promised_by IS NOT NULL \
             GROUP BY o.customer_id",
        ));
        let rows: Vec<(i64, i64, i64)> = on_pool!(self, p => sqlx::query_as(q)
            .bind(now.timestamp())
            .bind(since.timestamp())
            .fetch_all(p)
            .await?);
        Ok(rows
            .into_iter()
            .filter(|r| r.1 > 0 || r.2 > 0)
            .map(|r| ParcelSummary {
                customer_id: r.0,
                late_undelivered: r.1,
                delivered_late: r.2,
            })
            .collect())
    }

    /// Every channel identity: (customer, channel, the channel's own id). Rows with a
    /// channel this version does not know are skipped.
    pub async fn all_identities(&self) -> Result<Vec<(i64, Channel, String)>> {
        if let super::Pool::Sqlite(p) = &self.pool {
            let mut rows: Vec<(i64, String, String)> =
                sqlite_chunks(p, "channel_identities", "customer_id, channel, external_id").await?;
            // The order of `ORDER BY customer_id, channel, external_id` (BINARY collation
            // compares bytes, as `str` does).
            rows.sort_unstable();
            return Ok(rows
                .into_iter()
                .filter_map(|(c, ch, ext)| Some((c, ch.parse().ok()?, ext)))
                .collect());
        }
        let q = "SELECT customer_id, channel, external_id FROM channel_identities \
                 ORDER BY customer_id, channel, external_id";
        let rows: Vec<(i64, String, String)> =
            on_pool!(self, p => sqlx::query_as(q).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .filter_map(|(c, ch, ext)| Some((c, ch.parse().ok()?, ext)))
            .collect())
    }

    /// Every marketing consent decision: (customer, channel, granted).
    pub async fn all_consents(&self) -> Result<Vec<(i64, Channel, bool)>> {
        if let super::Pool::Sqlite(p) = &self.pool {
            // Table order, as the plain scan below reads it.
            let rows: Vec<(i64, String, i64)> =
                sqlite_chunks(p, "customer_consents", "customer_id, channel, granted").await?;
            return Ok(rows
                .into_iter()
                .filter_map(|(c, ch, g)| Some((c, ch.parse().ok()?, g != 0)))
                .collect());
        }
        let q = "SELECT customer_id, channel, granted FROM customer_consents";
        let rows: Vec<(i64, String, bool)> =
            on_pool!(self, p => sqlx::query_as(q).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .filter_map(|(c, ch, g)| Some((c, ch.parse().ok()?, g)))
            .collect())
    }

    /// Customers with a non-cancelled order containing any of `products` (product handle
    /// or variant SKU, exact) or any product whose type is one of `categories`
    /// (case-insensitive). Ascending, without duplicates.
    pub async fn customers_who_bought(
        &self,
        products: &[String],
        categories: &[String],
    ) -> Result<Vec<i64>> {
        if products.is_empty() && categories.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.backend();
        let q = sql(format!(
            "SELECT DISTINCT o.customer_id FROM order_lines l \
             JOIN orders o ON o.id = l.order_id \
             LEFT JOIN product_variants v ON v.sku = l.sku \
             LEFT JOIN products pr ON pr.id = v.product_id \
             WHERE o.customer_id IS NOT NULL AND o.status <> 'cancelled' \
             AND (l.sku {a} OR pr.handle {a} OR lower(pr.product_type) {b}) \
             ORDER BY o.customer_id",
            a = in_json_list(backend, 1),
            b = in_json_list(backend, 2),
        ));
        let products = serde_json::to_string(products)
            .map_err(|e| StoreError::Corrupt(format!("product list: {e}")))?;
        let categories: Vec<String> = categories.iter().map(|c| c.to_lowercase()).collect();
        let categories = serde_json::to_string(&categories)
            .map_err(|e| StoreError::Corrupt(format!("category list: {e}")))?;
        on_pool!(self, p => Ok(sqlx::query_scalar(q)
            .bind(products)
            .bind(categories)
            .fetch_all(p)
            .await?))
    }

    /// Replaces the `customer_scores` snapshot with `rows`, in one transaction: readers
    /// see the old snapshot or the new one, never a mix.
    pub async fn replace_customer_scores(
        &self,
        rows: &[CustomerScoreRow],
        computed_at: DateTime<Utc>,
    ) -> Result<()> {
        let insert = match self.backend() {
            Backend::Sqlite => {
                "INSERT INTO customer_scores (customer_id, r, f, m, rfm_group, recency_days, orders, \
                 monetary_minor, churn_risk, computed_at) \
                 SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, \
                 value->>7, value->>8, $2 FROM json_each($1)"
            }
            Backend::Postgres => {
                "INSERT INTO customer_scores (customer_id, r, f, m, rfm_group, recency_days, orders, \
                 monetary_minor, churn_risk, computed_at) \
                 SELECT (value->>0)::bigint, (value->>1)::smallint, (value->>2)::smallint, (value->>3)::smallint, \
                 value->>4, (value->>5)::bigint, (value->>6)::bigint, (value->>7)::bigint, \
                 (value->>8)::double precision, $2 FROM jsonb_array_elements($1::jsonb) AS r(value)"
            }
        };
        const WIDTH: [(&str, super::bulk::Kind); 9] = [("", super::bulk::Kind::Int); 9];
        on_pool!(self, p => {
            let mut tx = p.begin_with(<Db as WriteBegin>::BEGIN).await?;
            sqlx::query("DELETE FROM customer_scores").execute(&mut *tx).await?;
            for chunk in rows.chunks(20_000) {
                let mut json = JsonRows::new(&WIDTH);
                for r in chunk {
                    json.row()
                        .int(Some(r.customer_id))
                        .int(r.r)
                        .int(r.f)
                        .int(r.m)
                        .text(r.group.as_deref())
                        .int(r.recency_days)
                        .int(Some(r.orders))
                        .int(Some(r.monetary_minor))
                        .json(&r.churn_risk);
                }
                sqlx::query(insert).bind(json.finish()).bind(computed_at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The `customer_scores` snapshot, by customer, and when it was computed.
    pub async fn customer_scores(&self) -> Result<(Vec<CustomerScoreRow>, Option<DateTime<Utc>>)> {
        let q = "SELECT customer_id, CAST(r AS BIGINT), CAST(f AS BIGINT), CAST(m AS BIGINT), rfm_group, \
                 recency_days, orders, monetary_minor, churn_risk FROM customer_scores ORDER BY customer_id";
        let rows: Vec<(
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<i64>,
            i64,
            i64,
            f64,
        )> = on_pool!(self, p => sqlx::query_as(q).fetch_all(p).await?);
        let at: Option<DateTime<Utc>> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT MAX(computed_at) FROM customer_scores",
        ).fetch_one(p).await?);
        Ok((
            rows.into_iter()
                .map(|r| CustomerScoreRow {
                    customer_id: r.0,
                    r: r.1,
                    f: r.2,
                    m: r.3,
                    group: r.4,
                    recency_days: r.5,
                    orders: r.6,
                    monetary_minor: r.7,
                    churn_risk: r.8,
                })
                .collect(),
            at,
        ))
    }

    /// Fills an empty SQLite database with a synthetic shop for `kefu bench rfm`:
    /// `customers` customers, `lines` order lines (three per order), some parcels
    /// (a few late) and conversations, all generated inside SQLite by recursive
    /// queries so generation takes seconds, not minutes. Deterministic: the same sizes
    /// and `now` give the same shop. Customers' order counts are skewed (a few buy
    /// often, most once or twice) and spread over the two years before `now`.
    pub async fn generate_rfm_bench(
        &self,
        customers: i64,
        lines: i64,
        now: DateTime<Utc>,
    ) -> Result<BenchShop> {
        let Store {
            pool: super::Pool::Sqlite(p),
            ..
        } = self
        else {
            return Err(StoreError::Conflict(
                "the RFM benchmark generates its data on SQLite only".into(),
            ));
        };
        let customers = customers.max(1);
        // Three lines per order; the last order takes what is left over (one or two).
        let orders = ((lines + 2) / 3).max(1);
        let now_s = now.timestamp();
        let stamp = "strftime('%Y-%m-%dT%H:%M:%S+00:00', {}, 'unixepoch')";
        let ts = |e: &str| stamp.replace("{}", e);
        let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
        let statements: Vec<(String, i64)> = vec![
            (
                format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                     INSERT INTO customers (id, email, name, locale, country, tags, attributes, created_at, updated_at) \
                     SELECT i, 'c' || i || '@bench.example', 'Customer ' || i, \
                     CASE i % 4 WHEN 0 THEN 'en' WHEN 1 THEN 'zh-CN' WHEN 2 THEN 'de' ELSE 'ja' END, \
                     CASE i % 5 WHEN 0 THEN 'US' WHEN 1 THEN 'CN' WHEN 2 THEN 'DE' WHEN 3 THEN 'JP' ELSE 'GB' END, \
                     '[]', '{{}}', {c}, {c} FROM n",
                    c = ts(&format!("{now_s} - 800 * 86400")),
                ),
                customers,
            ),
            (
                // Order j goes to a skewed customer: the product of two uniform draws
                // favours low ids, so some customers order dozens of times. Hash mixing
                // by multiplication keeps it deterministic.
                format!(
                    "WITH RECURSIVE n(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM n WHERE j < $1), \
                     h(j, a, b, d) AS (SELECT j, (j * 2654435761) % 4294967291, (j * 40503 + 12345) % 65521, \
                       (j * 2246822519) % 63072000 FROM n) \
                     INSERT INTO orders (id, name, name_key, customer_id, currency, status, fulfillment_status, subtotal_minor, \
                       shipping_minor, taxes_minor, discount_minor, total_minor, refunded_minor, created_at, \
                       cancelled_at, content_hash, updated_at) \
                     SELECT j, '#B' || j, 'B' || j, 1 + (a % {customers}) * b / 65521, 'USD', \
                       CASE WHEN j % 50 = 0 THEN 'cancelled' ELSE 'open' END, 'fulfilled', \
                       1000 + (a % 20000), 0, 0, 0, 1000 + (a % 20000), CASE WHEN j % 40 = 0 THEN 500 ELSE 0 END, \
                       {created}, CASE WHEN j % 50 = 0 THEN {created} END, '', {created} FROM h",
                    created = ts(&format!("{now_s} - d")),
                ),
                orders,
            ),
            (
                format!(
                    "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < $1) \
                     INSERT INTO order_lines (order_id, position, sku, name, quantity, price_minor, discount_minor, \
                       requires_shipping, taxable) \
                     SELECT 1 + k / 3, k % 3, 'SKU-' || ((k * 7919) % 400), 'Item', 1, 1000, 0, 1, 1 FROM n \
                     WHERE 1 + k / 3 <= {orders}"
                ),
                lines,
            ),
            (
                // A parcel for each order of the last 30 days; one in eight is late.
                format!(
                    "INSERT INTO shipments (order_id, carrier, tracking_number, promised_by, status, shipped_at, \
                       delivered_at, updated_at) \
                     SELECT id, 'bench', 'T' || id, {promised}, \
                       CASE WHEN id % 8 = 0 THEN 'in_transit' ELSE 'delivered' END, created_at, \
                       CASE WHEN id % 8 = 0 THEN NULL ELSE {delivered} END, created_at \
                     FROM orders WHERE unixepoch(created_at) > {now_s} - 30 * 86400 AND $1 > 0",
                    promised = ts("unixepoch(created_at) + 5 * 86400 - (id % 8 = 0) * 20 * 86400"),
                    delivered = ts("unixepoch(created_at) + 3 * 86400"),
                ),
                1,
            ),
            (
                // One customer in ten talked to support in the last two months.
                format!(
                    "WITH RECURSIVE n(i) AS (SELECT 10 UNION ALL SELECT i + 10 FROM n WHERE i + 10 <= $1) \
                     INSERT INTO conversations (channel, thread_id, customer_id, state, created_at, updated_at, closed_at) \
                     SELECT CASE i % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'telegram' ELSE 'email' END, 'b' || i, i, \
                       CASE WHEN i % 7 = 0 THEN 'bot' ELSE 'closed' END, {at}, {at}, \
                       CASE WHEN i % 7 = 0 THEN NULL ELSE {at} END FROM n",
                    at = ts(&format!("{now_s} - (i % 60) * 86400")),
                ),
                customers,
            ),
        ];
        for (statement, bound) in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(bound)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM order_name_shapes")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO order_name_shapes (shape, example, orders) \
             SELECT '#B' || replace(hex(zeroblob(length(CAST(id AS TEXT)))), '00', '9'), min(name), count(*) \
             FROM orders GROUP BY length(CAST(id AS TEXT))",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM orders), \
             (SELECT COUNT(*) FROM order_lines), (SELECT COUNT(*) FROM shipments), \
             (SELECT COUNT(*) FROM conversations)",
        )
        .fetch_one(p)
        .await?;
        sqlx::query("ANALYZE").execute(p).await?;
        Ok(BenchShop {
            customers: counts.0,
            orders: counts.1,
            order_lines: counts.2,
            shipments: counts.3,
            conversations: counts.4,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite's `unixepoch()` gives for the same text.
    fn chrono_seconds(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp())
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                    .map(|t| t.and_utc().timestamp())
            })
            .expect(s)
    }

    #[test]
    fn reads_stored_times_like_unixepoch() {
        for s in [
            "2026-11-01T10:00:00+00:00",
            "2026-11-01T10:00:00.123456+00:00",
            "2026-11-01T10:00:00Z",
            "2024-02-29T23:59:59+08:00",
            "2024-03-01T00:30:00-05:30",
            "1969-12-31T23:59:59+00:00",
            "2000-01-01 00:00:00",
            "2100-12-31T12:00:00.5Z",
        ] {
            assert_eq!(unix_seconds(s), Some(chrono_seconds(s)), "{s}");
        }
        assert_eq!(
            unix_seconds("2026-11-01T10:00+01:00"),
            Some(chrono_seconds("2026-11-01T09:00:00Z"))
        );
        assert_eq!(
            unix_seconds("2026-11-01"),
            Some(chrono_seconds("2026-11-01T00:00:00Z"))
        );
        assert_eq!(unix_seconds("1762000000"), Some(1_762_000_000));
        assert_eq!(unix_seconds("-86400"), Some(-86_400));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-01T10:00:00+0",
            "2026-11-01X10:00:00",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn history_skips_future_and_unreadable_orders() {
        let t = |s: &str| chrono_seconds(s);
        let pairs = "2026-01-02T00:00:00+00:00/500,2026-01-01T00:00:00+00:00/1000,garbage/7,2026-12-01T00:00:00+00:00/9";
        let h = history_of(
            4,
            pairs,
            t("2026-06-01T00:00:00Z"),
            t("2026-01-02T00:00:00Z"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            h,
            OrderHistory {
                customer_id: 4,
                orders: 2,
                spent_minor: 1500,
                window_orders: 1,
                window_spent_minor: 500,
                first_order_at: t("2026-01-01T00:00:00Z"),
                last_order_at: t("2026-01-02T00:00:00Z"),
                order_times: vec![t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z")],
            }
        );
        assert_eq!(
            history_of(4, "2027-01-01T00:00:00Z/5", t("2026-06-01T00:00:00Z"), 0).unwrap(),
            None
        );
        assert!(history_of(4, "2026-01-01T00:00:00Z", 0, 0).is_err());
    }
}
