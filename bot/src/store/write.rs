//! Bulk writes inside one transaction: what imports and the demo loader use. Each
//! `write_*` takes a batch, makes a handful of multi-row statements, and reports
//! created / updated / unchanged. Nothing is visible to others until [`Writer::commit`];
//! dropping the writer rolls back, so a bad row leaves the database as it was.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Sqlite, Transaction};

use super::bulk::{Columns, Dialect, Kind, Rows, bulk_insert_sql};
use super::records::*;
use super::{Pool, Result};
use crate::shop::{Channel, Email, Phone};

/// Splits `items` into chunks of `max` (a power of two) and then, for the rest, of
/// descending powers of two. Multi-row statements thus come in at most log2(max)+1
/// shapes, all of which stay in the prepared-statement cache, instead of one new
/// statement to parse for every odd batch size. Callers keep `max` × columns under
/// SQLite's 32,766 bind parameters (PostgreSQL allows 65,535).
fn shaped_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() >= max {
            max
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

pub(super) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the transaction's connection; `Db` names its type.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                let $c = &mut **t;
                $body
            }
            Tx::Postgres(t) => {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(super) use on_tx;

impl Tx {
    /// A write transaction (SQLite takes the write lock at once).
    pub(super) async fn begin(pool: &Pool) -> Result<Self> {
        Ok(match pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub(super) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub(super) fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

const CUSTOMER_COLUMNS: &Columns = &[
    ("email", Kind::Text),
    ("phone", Kind::Text),
    ("name", Kind::Text),
    ("locale", Kind::Text),
    ("time_zone", Kind::Text),
    ("country", Kind::Text),
    ("tags", Kind::Json),
    ("attributes", Kind::Json),
    ("created_at", Kind::Time),
    ("updated_at", Kind::Time),
];

const IDENTITY_COLUMNS: &Columns = &[
    ("channel", Kind::Text),
    ("external_id", Kind::Text),
    ("customer_id", Kind::Int),
    ("verified", Kind::Bool),
    ("created_at", Kind::Time),
];

const CONSENT_COLUMNS: &Columns = &[
    ("customer_id", Kind::Int),
    ("channel", Kind::Text),
    ("granted", Kind::Bool),
    ("source", Kind::Text),
    ("updated_at", Kind::Time),
];

const ORDER_COLUMNS: &Columns = &[
    ("name", Kind::Text),
    ("name_key", Kind::Text),
    ("external_id", Kind::Text),
    ("customer_id", Kind::Int),
    ("email", Kind::Text),
    ("phone", Kind::Text),
    ("currency", Kind::Text),
    ("status", Kind::Text),
    ("financial_status", Kind::Text),
    ("fulfillment_status", Kind::Text),
    ("subtotal_minor", Kind::Int),
    ("shipping_minor", Kind::Int),
    ("taxes_minor", Kind::Int),
    ("discount_minor", Kind::Int),
    ("total_minor", Kind::Int),
    ("refunded_minor", Kind::Int),
    ("discount_codes", Kind::Json),
    ("shipping_method", Kind::Text),
    ("shipping_address", Kind::Json),
    ("billing_name", Kind::Text),
    ("payment_method", Kind::Text),
    ("note", Kind::Text),
    ("tags", Kind::Json),
    ("source", Kind::Text),
    ("created_at", Kind::Time),
    ("paid_at", Kind::Time),
    ("fulfilled_at", Kind::Time),
    ("cancelled_at", Kind::Time),
    ("content_hash", Kind::Text),
    ("updated_at", Kind::Time),
];

const LINE_COLUMNS: &Columns = &[
    ("order_id", Kind::Int),
    ("position", Kind::Int),
    ("sku", Kind::Text),
    ("name", Kind::Text),
    ("quantity", Kind::Int),
    ("price_minor", Kind::Int),
    ("compare_at_minor", Kind::Int),
    ("discount_minor", Kind::Int),
    ("requires_shipping", Kind::Bool),
    ("taxable", Kind::Bool),
    ("fulfillment_status", Kind::Text),
    ("vendor", Kind::Text),
];

/// Rows per bulk statement: the statement text does not depend on it, so this only
/// bounds the size of one JSON parameter.
const BULK_ROWS: usize = 4096;

/// A write transaction. See the module docs.
pub struct Writer {
    tx: Tx,
    now: DateTime<Utc>,
    /// Customers this transaction has read or written, as they now stand, so a large
    /// import asks the database about each customer once. Bounded by [`CACHE_LIMIT`].
    customers: HashMap<CustomerKey, CustomerRow>,
    /// The current consent decision per customer and channel (`None`: no decision yet).
    consents: HashMap<(CustomerId, Channel), Option<Decision>>,
    /// Whether the orders table was empty when this transaction first wrote orders: then
    /// every order it writes is new and needs no look-up.
    orders_were_empty: Option<bool>,
    /// Whether every stored customer is in `customers`: the table was empty when this
    /// transaction first wrote customers and the cache has not been emptied since. A
    /// customer missing from the cache is then new and needs no look-up.
    customers_all_cached: Option<bool>,
    /// Secondary indexes dropped for a bulk load into empty tables, as `(name, CREATE
    /// statement)`, re-created by [`Writer::commit`]. Building an index once from the
    /// loaded rows is much cheaper than keeping it up to date row by row; a rollback
    /// brings the dropped indexes back with everything else.
    deferred_indexes: Vec<(String, String)>,
}

/// A stored consent decision: granted or not, and when.
type Decision = (bool, DateTime<Utc>);

/// Entries kept in each of the writer's caches before they are dropped and refilled.
const CACHE_LIMIT: usize = 250_000;

/// What [`Writer::write_orders`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OrderCounts {
    pub orders: Counts,
    pub customers: Counts,
    pub lines: u64,
}

impl OrderCounts {
    pub fn add(&mut self, other: OrderCounts) {
        self.orders.add(other.orders);
        self.customers.add(other.customers);
        self.lines += other.lines;
    }
}

fn sha256_json<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_string(value).unwrap_or_default();
    kefu_knowledge::document::content_hash(&[&json])
}

/// The hash of a product as stored besides its translations (those are compared one by
/// one), with `variants` as they are after the write: re-importing a file writes nothing.
fn product_hash(r: &ProductRecord, variants: &[VariantRecord]) -> String {
    sha256_json(&(
        &r.handle,
        &r.vendor,
        &r.product_type,
        &r.tags,
        r.published,
        &r.image_url,
        variants,
    ))
}

/// A record's translations with one per language (the last one given wins).
fn one_per_language(texts: &[ProductText]) -> Vec<&ProductText> {
    let mut out: Vec<&ProductText> = Vec::with_capacity(texts.len());
    for t in texts {
        match out.iter_mut().find(|o| o.lang == t.lang) {
            Some(slot) => *slot = t,
            None => out.push(t),
        }
    }
    out
}

/// Identifies a customer within a batch: e-mail first, phone otherwise.
#[derive(Clone, PartialEq, Eq, Hash)]
enum CustomerKey {
    Email(String),
    Phone(String),
}

fn customer_key(email: Option<&Email>, phone: Option<&Phone>) -> Option<CustomerKey> {
    match (email, phone) {
        (Some(e), _) => Some(CustomerKey::Email(e.as_str().to_string())),
        (None, Some(p)) => Some(CustomerKey::Phone(p.as_str().to_string())),
        (None, None) => None,
    }
}

impl Writer {
    pub(super) async fn begin(pool: &Pool) -> Result<Self> {
        let tx = Tx::begin(pool).await?;
        Ok(Self {
            tx,
            now: Utc::now(),
            customers: HashMap::new(),
            consents: HashMap::new(),
            orders_were_empty: None,
            customers_all_cached: None,
            deferred_indexes: Vec::new(),
        })
    }

    pub async fn commit(mut self) -> Result<()> {
        for (_, create) in std::mem::take(&mut self.deferred_indexes) {
            let sql = sqlx::AssertSqlSafe(create);
            on_tx!(&mut self.tx, c => sqlx::query(sql).execute(&mut *c).await.map(|_| ())?);
        }
        self.tx.commit().await
    }

    /// Drops the secondary indexes of `tables` until [`Writer::commit`], which builds them
    /// again. Only for tables this transaction found empty and will fill in bulk, and only
    /// on SQLite: there the transaction holds the write lock and readers keep their own
    /// snapshot, while PostgreSQL would lock readers out of the table until the commit.
    /// Unique indexes (constraints the writes rely on) and indexes the import's own
    /// look-ups use stay in place; callers name only tables whose look-ups go through
    /// their primary or unique keys.
    async fn defer_indexes(&mut self, tables: &[&str]) -> Result<()> {
        let Tx::Sqlite(t) = &mut self.tx else {
            return Ok(());
        };
        for table in tables {
            let indexes: Vec<(String, String)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
                 AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name",
            )
            .bind(*table)
            .fetch_all(&mut **t)
            .await?;
            for (name, create) in indexes {
                let drop =
                    sqlx::AssertSqlSafe(format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")));
                sqlx::query(drop).execute(&mut **t).await?;
                self.deferred_indexes.push((name, create));
            }
        }
        Ok(())
    }

    // ----- customers -----

    /// Finds or creates each record's customer and returns their ids, aligned with
    /// `records` (`None` for a record with neither e-mail nor phone).
    pub async fn write_customers(
        &mut self,
        records: &[CustomerRecord],
        merge: Merge,
    ) -> Result<(Vec<Option<CustomerId>>, Counts)> {
        let mut counts = Counts::default();
        // Merge duplicates within the batch so each key is written once.
        let mut order: Vec<CustomerKey> = Vec::new();
        let mut merged: HashMap<CustomerKey, CustomerRecord> = HashMap::new();
        for r in records {
            let Some(key) = customer_key(r.email.as_ref(), r.phone.as_ref()) else {
                continue;
            };
            match merged.get_mut(&key) {
                Some(existing) => merge_record(existing, r, merge),
                None => {
                    order.push(key.clone());
                    merged.insert(key, r.clone());
                }
            }
        }
        if self.customers.len() > CACHE_LIMIT {
            self.customers.clear();
            self.customers_all_cached = Some(false);
        }
        if self.customers_all_cached.is_none() {
            let any: Option<i64> = on_tx!(&mut self.tx, c => sqlx::query_scalar("SELECT id FROM customers LIMIT 1").fetch_optional(&mut *c).await?);
            self.customers_all_cached = Some(any.is_none());
        }
        let misses: Vec<&CustomerKey> = order
            .iter()
            .filter(|k| !self.customers.contains_key(*k))
            .collect();
        let first_seen: HashSet<CustomerKey> = misses.iter().map(|k| (*k).clone()).collect();
        if self.customers_all_cached != Some(true) {
            let emails: Vec<&str> = misses
                .iter()
                .filter_map(|k| match k {
                    CustomerKey::Email(e) => Some(e.as_str()),
                    _ => None,
                })
                .collect();
            let phones: Vec<&str> = misses
                .iter()
                .filter_map(|k| match k {
                    CustomerKey::Phone(p) => Some(p.as_str()),
                    _ => None,
                })
                .collect();
            for row in self.stored_customers("email IN (", &emails).await? {
                if let Some(email) = row.email.clone() {
                    self.customers.insert(CustomerKey::Email(email), row);
                }
            }
            for row in self
                .stored_customers("email IS NULL AND phone IN (", &phones)
                .await?
            {
                if let Some(phone) = row.phone.clone() {
                    // The oldest customer with that phone wins (rows come oldest first).
                    self.customers
                        .entry(CustomerKey::Phone(phone))
                        .or_insert(row);
                }
            }
        }
        let mut ids: HashMap<CustomerKey, CustomerId> = order
            .iter()
            .filter_map(|k| self.customers.get(k).map(|c| (k.clone(), c.id)))
            .collect();

        let (existing, new): (Vec<&CustomerKey>, Vec<&CustomerKey>) =
            order.iter().partition(|k| ids.contains_key(*k));
        // Existing customers: decide here whether the merge rule changes anything, so the
        // common case (nothing to change) costs no statement.
        for key in &existing {
            let (Some(stored), Some(r)) = (self.customers.get(*key), merged.get(*key)) else {
                continue;
            };
            let id = stored.id;
            if stored.would_change(r, merge) && self.update_customer(id, r, merge).await? {
                counts.updated += 1;
                if let Some(stored) = self.customers.get_mut(*key) {
                    stored.apply(r, merge);
                }
            } else if first_seen.contains(*key) {
                // Counted once per transaction, not once per batch it appears in.
                counts.unchanged += 1
            }
        }
        // New customers: one bulk insert per chunk, ids mapped back by key.
        let now = self.now;
        let dialect = self.tx.dialect();
        let insert = format!(
            "{} RETURNING id, email, phone",
            bulk_insert_sql(dialect, "customers", CUSTOMER_COLUMNS)
        );
        for chunk in new.chunks(BULK_ROWS) {
            let mut rows = Rows::for_dialect(dialect, CUSTOMER_COLUMNS);
            for r in chunk.iter().filter_map(|k| merged.get(*k)) {
                rows.row()
                    .text(r.email.as_ref().map(Email::as_str))
                    .text(r.phone.as_ref().map(Phone::as_str))
                    .text(r.name.as_deref())
                    .text(r.locale.as_deref())
                    .text(r.time_zone.as_deref())
                    .text(r.country.as_deref())
                    .json(&r.tags)
                    .json(&r.attributes)
                    .time(Some(r.created_at.unwrap_or(now)))
                    .time(Some(now));
            }
            let created: Vec<(i64, Option<String>, Option<String>)> =
                self.bulk_fetch(&insert, rows).await?;
            for (id, email, phone) in created {
                let key = match (email, phone) {
                    (Some(e), _) => CustomerKey::Email(e),
                    (None, Some(p)) => CustomerKey::Phone(p),
                    (None, None) => continue,
                };
                if let Some(r) = merged.get(&key) {
                    self.customers
                        .insert(key.clone(), CustomerRow::from_record(id, r, now));
                    // A new customer has no consent decisions yet.
                    for channel in Channel::ALL {
                        self.consents.insert((id, channel), None);
                    }
                }
                ids.insert(key, id);
                counts.created += 1;
            }
        }

        // Identities and consents of every record in the batch.
        let mut identities: HashMap<(Channel, String), (CustomerId, bool)> = HashMap::new();
        let mut consents: HashMap<(CustomerId, Channel), &Consent> = HashMap::new();
        for key in &order {
            let (Some(id), Some(r)) = (ids.get(key), merged.get(key)) else {
                continue;
            };
            for (channel, external, verified) in &r.identities {
                identities.insert((*channel, external.clone()), (*id, *verified));
            }
            for consent in &r.consents {
                let slot = consents.entry((*id, consent.channel)).or_insert(consent);
                if consent.at > slot.at {
                    *slot = consent;
                }
            }
        }
        let identities: Vec<_> = identities.into_iter().collect();
        let upsert = format!(
            "{} ON CONFLICT (channel, external_id) DO UPDATE SET customer_id = excluded.customer_id, verified = excluded.verified \
             WHERE channel_identities.customer_id <> excluded.customer_id OR channel_identities.verified <> excluded.verified",
            bulk_insert_sql(dialect, "channel_identities", IDENTITY_COLUMNS)
        );
        for chunk in identities.chunks(BULK_ROWS) {
            let mut rows = Rows::for_dialect(dialect, IDENTITY_COLUMNS);
            for ((channel, external), (id, verified)) in chunk {
                rows.row()
                    .text(Some(channel.as_str()))
                    .text(Some(external))
                    .int(Some(*id))
                    .bool(*verified)
                    .time(Some(now));
            }
            self.bulk_execute(&upsert, rows).await?;
        }
        let consents = self.consents_to_write(consents).await?;
        // A decision only replaces an older, different one: re-importing an old file
        // never undoes a newer opt-out.
        let upsert = format!(
            "{} ON CONFLICT (customer_id, channel) DO UPDATE SET granted = excluded.granted, source = excluded.source, \
             updated_at = excluded.updated_at WHERE customer_consents.granted <> excluded.granted \
             AND customer_consents.updated_at < excluded.updated_at",
            bulk_insert_sql(dialect, "customer_consents", CONSENT_COLUMNS)
        );
        for chunk in consents.chunks(BULK_ROWS) {
            let mut rows = Rows::for_dialect(dialect, CONSENT_COLUMNS);
            for ((id, channel), consent) in chunk {
                rows.row()
                    .int(Some(*id))
                    .text(Some(channel.as_str()))
                    .bool(consent.granted)
                    .text(Some(&consent.source))
                    .time(Some(consent.at));
            }
            self.bulk_execute(&upsert, rows).await?;
        }

        let out = records
            .iter()
            .map(|r| {
                customer_key(r.email.as_ref(), r.phone.as_ref()).and_then(|k| ids.get(&k).copied())
            })
            .collect();
        Ok((out, counts))
    }

    /// Runs a bulk statement (see [`super::bulk`]) with `rows` as its `$1`.
    async fn bulk_execute(&mut self, sql: &str, rows: Rows) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if let Tx::Sqlite(t) = &mut self.tx {
            super::native::run::<()>(t, sql, &rows).await?;
            return Ok(());
        }
        let rows = rows.finish();
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        on_tx!(&mut self.tx, c => sqlx::query(sql).bind(rows).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Runs a bulk statement that returns rows.
    async fn bulk_fetch<T>(&mut self, sql: &str, rows: Rows) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + super::native::Returned
            + Send
            + Unpin,
    {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        if let Tx::Sqlite(t) = &mut self.tx {
            return super::native::run(t, sql, &rows).await;
        }
        let rows = rows.finish();
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        Ok(on_tx!(&mut self.tx, c => sqlx::query_as(sql).bind(rows).fetch_all(&mut *c).await?))
    }

    /// The consent decisions that change something: new ones, and ones that replace an
    /// older, different decision. Unknown current decisions are read once and cached.
    async fn consents_to_write<'c>(
        &mut self,
        wanted: HashMap<(CustomerId, Channel), &'c Consent>,
    ) -> Result<Vec<((CustomerId, Channel), &'c Consent)>> {
        if self.consents.len() > CACHE_LIMIT {
            self.consents.clear();
        }
        let mut unknown: Vec<i64> = wanted
            .keys()
            .filter(|k| !self.consents.contains_key(*k))
            .map(|k| k.0)
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        for chunk in shaped_chunks(&unknown, 4096) {
            let rows: Vec<(i64, String, bool, DateTime<Utc>)> = on_tx!(&mut self.tx, c => {
                let mut qb = QueryBuilder::<Db>::new(
                    "SELECT customer_id, channel, granted, updated_at FROM customer_consents WHERE customer_id IN (",
                );
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(&mut *c).await?
            });
            for id in chunk {
                for channel in Channel::ALL {
                    self.consents.insert((*id, channel), None);
                }
            }
            for (id, channel, granted, at) in rows {
                if let Ok(channel) = channel.parse::<Channel>() {
                    self.consents.insert((id, channel), Some((granted, at)));
                }
            }
        }
        let mut out = Vec::new();
        for (key, consent) in wanted {
            let write = match self.consents.get(&key).copied().flatten() {
                None => true,
                Some((granted, at)) => granted != consent.granted && at < consent.at,
            };
            if write {
                self.consents
                    .insert(key, Some((consent.granted, consent.at)));
                out.push((key, consent));
            }
        }
        Ok(out)
    }

    /// Customers matching `condition` (which ends in `IN (`) for `keys`, oldest first.
    async fn stored_customers(
        &mut self,
        condition: &'static str,
        keys: &[&str],
    ) -> Result<Vec<CustomerRow>> {
        let mut out = Vec::new();
        for chunk in shaped_chunks(keys, 4096) {
            let rows: Vec<CustomerRow> = on_tx!(&mut self.tx, c => {
                let mut qb = QueryBuilder::<Db>::new(
                    "SELECT id, email, phone, name, locale, time_zone, country, tags, attributes, created_at FROM customers WHERE ",
                );
                qb.push(condition);
                let mut list = qb.separated(", ");
                for key in chunk {
                    list.push_bind(key.to_string());
                }
                qb.push(")");
                qb.build_query_as().fetch_all(&mut *c).await?
            });
            out.extend(rows);
        }
        // Sorted here, not in SQL: `ORDER BY id` could tempt SQLite into a table scan.
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// `SELECT id, key … WHERE key IN (keys)` in chunks.
    async fn lookup(&mut self, prefix: &'static str, keys: &[&str]) -> Result<Vec<(i64, String)>> {
        let mut out = Vec::new();
        for chunk in shaped_chunks(keys, 4096) {
            let rows: Vec<(i64, String)> = on_tx!(&mut self.tx, c => {
                let mut qb = QueryBuilder::<Db>::new(prefix);
                let mut list = qb.separated(", ");
                for key in chunk {
                    list.push_bind(key.to_string());
                }
                qb.push(")");
                qb.build_query_as().fetch_all(&mut *c).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    async fn update_customer(
        &mut self,
        id: CustomerId,
        r: &CustomerRecord,
        merge: Merge,
    ) -> Result<bool> {
        let sql = match merge {
            // The record's non-empty fields win; tags and attributes are replaced when given.
            Merge::Overwrite => {
                "UPDATE customers SET email = COALESCE($2, email), phone = COALESCE($3, phone), name = COALESCE($4, name), \
                 locale = COALESCE($5, locale), time_zone = COALESCE($6, time_zone), country = COALESCE($7, country), \
                 tags = CASE WHEN $10 THEN $8 ELSE tags END, attributes = CASE WHEN $11 THEN $9 ELSE attributes END, updated_at = $12 \
                 WHERE id = $1 AND (email IS DISTINCT FROM COALESCE($2, email) OR phone IS DISTINCT FROM COALESCE($3, phone) \
                 OR name IS DISTINCT FROM COALESCE($4, name) OR locale IS DISTINCT FROM COALESCE($5, locale) \
                 OR time_zone IS DISTINCT FROM COALESCE($6, time_zone) OR country IS DISTINCT FROM COALESCE($7, country) \
                 OR ($10 AND tags <> $8) OR ($11 AND attributes <> $9))"
            }
            // Only empty fields are filled.
            Merge::FillBlanks => {
                "UPDATE customers SET phone = COALESCE(phone, $3), name = COALESCE(name, $4), locale = COALESCE(locale, $5), \
                 time_zone = COALESCE(time_zone, $6), country = COALESCE(country, $7), updated_at = $12 \
                 WHERE id = $1 AND ((phone IS NULL AND $3 IS NOT NULL) OR (name IS NULL AND $4 IS NOT NULL) \
                 OR (locale IS NULL AND $5 IS NOT NULL) OR (time_zone IS NULL AND $6 IS NOT NULL) \
                 OR (country IS NULL AND $7 IS NOT NULL) OR ($8 = $8 AND $9 = $9 AND $10 AND $11 AND FALSE))"
            }
        };
        let affected = on_tx!(&mut self.tx, c => sqlx::query(sql)
            .bind(id)
            .bind(r.email.as_ref().map(|e| e.as_str()))
            .bind(r.phone.as_ref().map(|p| p.as_str()))
            .bind(r.name.as_deref())
            .bind(r.locale.as_deref())
            .bind(r.time_zone.as_deref())
            .bind(r.country.as_deref())
            .bind(Json(&r.tags))
            .bind(Json(&r.attributes))
            .bind(!r.tags.is_empty())
            .bind(!r.attributes.is_empty())
            .bind(self.now)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(affected > 0)
    }

    // ----- orders -----

    /// Upserts orders by name with their lines and buyers. Orders whose content is
    /// unchanged since the last import are skipped without a write.
    pub async fn write_orders(&mut self, records: &[OrderRecord]) -> Result<OrderCounts> {
        let fingerprints: Vec<String> = records.iter().map(OrderRecord::fingerprint).collect();
        self.write_fingerprinted_orders(records, &fingerprints)
            .await
    }

    /// [`Writer::write_orders`] with each order's [`OrderRecord::fingerprint`] computed
    /// by the caller, e.g. on the thread that parses the file, off the writer's path.
    pub async fn write_fingerprinted_orders(
        &mut self,
        records: &[OrderRecord],
        fingerprints: &[String],
    ) -> Result<OrderCounts> {
        if fingerprints.len() != records.len() {
            return Err(super::StoreError::Corrupt(format!(
                "{} fingerprints for {} orders",
                fingerprints.len(),
                records.len()
            )));
        }
        let mut counts = OrderCounts::default();
        let buyers: Vec<CustomerRecord> = records
            .iter()
            .map(|o| CustomerRecord {
                email: o.buyer.email.clone(),
                phone: o.buyer.phone.clone(),
                name: o.buyer.name.clone(),
                country: o.buyer.country.clone(),
                consents: o
                    .buyer
                    .accepts_email
                    .map(|granted| Consent {
                        channel: Channel::Email,
                        granted,
                        source: "order import".into(),
                        at: o.created_at,
                    })
                    .into_iter()
                    .collect(),
                created_at: Some(o.created_at),
                ..CustomerRecord::default()
            })
            .collect();
        let (customer_ids, customer_counts) =
            self.write_customers(&buyers, Merge::FillBlanks).await?;
        counts.customers = customer_counts;

        let hashes = fingerprints;
        let names: Vec<&str> = records.iter().map(|o| o.name.as_str()).collect();
        let mut known: HashMap<String, (i64, String, Option<i64>)> = HashMap::new();
        if self.orders_were_empty.is_none() {
            let any: Option<i64> = on_tx!(&mut self.tx, c => sqlx::query_scalar("SELECT id FROM orders LIMIT 1").fetch_optional(&mut *c).await?);
            self.orders_were_empty = Some(any.is_none());
            if any.is_none() {
                // Order look-ups go by the unique name only (kept); lines by primary key.
                self.defer_indexes(&["orders", "order_lines"]).await?;
            }
        }
        let all_new = self.orders_were_empty == Some(true);
        let lookups = if all_new { &names[..0] } else { &names[..] };
        for chunk in shaped_chunks(lookups, 4096) {
            let rows: Vec<(i64, String, String, Option<i64>)> = on_tx!(&mut self.tx, c => {
                let mut qb = QueryBuilder::<Db>::new("SELECT id, name, content_hash, customer_id FROM orders WHERE name IN (");
                let mut list = qb.separated(", ");
                for name in chunk {
                    list.push_bind(name.to_string());
                }
                qb.push(")");
                qb.build_query_as().fetch_all(&mut *c).await?
            });
            for (id, name, hash, customer) in rows {
                known.insert(name, (id, hash, customer));
            }
        }
        // Later duplicates of a name within the batch win, as a re-import would.
        let mut seen = HashSet::new();
        let mut todo: Vec<usize> = Vec::new();
        for i in (0..records.len()).rev() {
            if !seen.insert(records[i].name.as_str()) {
                continue;
            }
            match known.get(&records[i].name) {
                // Unchanged: same content, and the buyer still resolves to the same customer.
                Some((_, hash, customer)) if *hash == hashes[i] && *customer == customer_ids[i] => {
                    counts.orders.unchanged += 1
                }
                Some(_) => {
                    counts.orders.updated += 1;
                    todo.push(i);
                }
                None => {
                    counts.orders.created += 1;
                    todo.push(i);
                }
            }
        }
        todo.reverse();
        if todo.is_empty() {
            return Ok(counts);
        }
        let now = self.now;
        let dialect = self.tx.dialect();
        // Into a table that was empty, every order is new: a plain insert is cheaper.
        let insert = if all_new {
            format!(
                "{} RETURNING id, name",
                bulk_insert_sql(dialect, "orders", ORDER_COLUMNS)
            )
        } else {
            format!(
                "{} ON CONFLICT (name) DO UPDATE SET external_id = excluded.external_id, customer_id = excluded.customer_id, \
                 email = excluded.email, phone = excluded.phone, currency = excluded.currency, status = excluded.status, \
                 financial_status = excluded.financial_status, fulfillment_status = excluded.fulfillment_status, \
                 subtotal_minor = excluded.subtotal_minor, shipping_minor = excluded.shipping_minor, \
                 taxes_minor = excluded.taxes_minor, discount_minor = excluded.discount_minor, \
                 total_minor = excluded.total_minor, refunded_minor = excluded.refunded_minor, \
                 discount_codes = excluded.discount_codes, shipping_method = excluded.shipping_method, \
                 shipping_address = excluded.shipping_address, billing_name = excluded.billing_name, \
                 payment_method = excluded.payment_method, note = excluded.note, tags = excluded.tags, \
                 source = excluded.source, created_at = excluded.created_at, paid_at = excluded.paid_at, \
                 fulfilled_at = excluded.fulfilled_at, cancelled_at = excluded.cancelled_at, \
                 content_hash = excluded.content_hash, updated_at = excluded.updated_at RETURNING id, name",
                bulk_insert_sql(dialect, "orders", ORDER_COLUMNS)
            )
        };
        let mut order_ids: HashMap<String, i64> = HashMap::with_capacity(todo.len());
        for chunk in todo.chunks(BULK_ROWS) {
            let mut rows = Rows::for_dialect(dialect, ORDER_COLUMNS);
            for &i in chunk {
                let o = &records[i];
                rows.row()
                    .text(Some(&o.name))
                    .text(Some(&crate::slots::order_key(&o.name)))
                    .text(o.external_id.as_deref())
                    .int(customer_ids[i])
                    .text(o.buyer.email.as_ref().map(Email::as_str))
                    .text(o.buyer.phone.as_ref().map(Phone::as_str))
                    .text(Some(o.currency.as_str()))
                    .text(Some(o.status.as_str()))
                    .text(o.financial_status.as_deref())
                    .text(Some(&o.fulfillment_status))
                    .int(Some(o.subtotal))
                    .int(Some(o.shipping))
                    .int(Some(o.taxes))
                    .int(Some(o.discount))
                    .int(Some(o.total))
                    .int(Some(o.refunded))
                    .json(&o.discount_codes)
                    .text(o.shipping_method.as_deref())
                    .json(&o.shipping_address)
                    .text(o.billing_name.as_deref())
                    .text(o.payment_method.as_deref())
                    .text(o.note.as_deref())
                    .json(&o.tags)
                    .text(o.source.as_deref())
                    .time(Some(o.created_at))
                    .time(o.paid_at)
                    .time(o.fulfilled_at)
                    .time(o.cancelled_at)
                    .text(Some(&hashes[i]))
                    .time(Some(now));
            }
            let written: Vec<(i64, String)> = self.bulk_fetch(&insert, rows).await?;
            order_ids.extend(written.into_iter().map(|(id, name)| (name, id)));
        }
        self.count_order_shapes(
            todo.iter()
                .filter(|&&i| !known.contains_key(&records[i].name))
                .map(|&i| records[i].name.as_str()),
        )
        .await?;
        let changed: Vec<i64> = todo
            .iter()
            .filter(|&&i| known.contains_key(&records[i].name))
            .filter_map(|&i| order_ids.get(&records[i].name).copied())
            .collect();
        self.delete_in("DELETE FROM order_lines WHERE order_id IN (", &changed)
            .await?;
        let insert = bulk_insert_sql(dialect, "order_lines", LINE_COLUMNS);
        let mut rows = Rows::for_dialect(dialect, LINE_COLUMNS);
        for &i in &todo {
            let Some(id) = order_ids.get(&records[i].name) else {
                continue;
            };
            for (pos, l) in records[i].lines.iter().enumerate() {
                rows.row()
                    .int(Some(*id))
                    .int(Some(pos as i64 + 1))
                    .text(l.sku.as_deref())
                    .text(Some(&l.name))
                    .int(Some(l.quantity))
                    .int(Some(l.price))
                    .int(l.compare_at)
                    .int(Some(l.discount))
                    .bool(l.requires_shipping)
                    .bool(l.taxable)
                    .text(l.fulfillment_status.as_deref())
                    .text(l.vendor.as_deref());
                counts.lines += 1;
                if rows.len() >= BULK_ROWS {
                    let full =
                        std::mem::replace(&mut rows, Rows::for_dialect(dialect, LINE_COLUMNS));
                    self.bulk_execute(&insert, full).await?;
                }
            }
        }
        self.bulk_execute(&insert, rows).await?;
        Ok(counts)
    }

    /// Adds new order names to the counts of their shapes (`order_name_shapes`, from
    /// which the agent learns the shop's order-name formats), keeping the most common.
    async fn count_order_shapes<'n>(&mut self, names: impl Iterator<Item = &'n str>) -> Result<()> {
        let counts = super::order_names::shape_counts(names);
        if counts.is_empty() {
            return Ok(());
        }
        for (shape, (example, orders)) in &counts {
            on_tx!(&mut self.tx, c => sqlx::query(
                "INSERT INTO order_name_shapes (shape, example, orders) VALUES ($1, $2, $3) \
                 ON CONFLICT (shape) DO UPDATE SET orders = order_name_shapes.orders + excluded.orders, \
                 example = CASE WHEN excluded.example < order_name_shapes.example THEN excluded.example \
                 ELSE order_name_shapes.example END",
            )
            .bind(shape)
            .bind(example)
            .bind(*orders)
            .execute(&mut *c)
            .await
            .map(|_| ())?);
        }
        let prune = sqlx::AssertSqlSafe(format!(
            "DELETE FROM order_name_shapes WHERE shape NOT IN \
             (SELECT shape FROM order_name_shapes ORDER BY orders DESC, shape LIMIT {})",
            super::order_names::SHAPES_KEPT
        ));
        on_tx!(&mut self.tx, c => sqlx::query(prune).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Order ids by name, for files that refer to orders (shipments).
    pub async fn order_ids(&mut self, names: &[String]) -> Result<HashMap<String, OrderId>> {
        let keys: Vec<&str> = names.iter().map(String::as_str).collect();
        Ok(self
            .lookup("SELECT id, name FROM orders WHERE name IN (", &keys)
            .await?
            .into_iter()
            .map(|(id, n)| (n, id))
            .collect())
    }

    async fn delete_in(&mut self, prefix: &'static str, ids: &[i64]) -> Result<()> {
        for chunk in shaped_chunks(ids, 4096) {
            on_tx!(&mut self.tx, c => {
                let mut qb = QueryBuilder::<Db>::new(prefix);
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(")");
                qb.build().execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    // ----- products -----

    /// Upserts products by handle. Each translation in a record is upserted on its own
    /// (one import per storefront language adds its language and keeps the others'). A
    /// record's variants replace the stored ones, except that a record without variants
    /// keeps them and a variant without stock or weight keeps the stored variant's (same
    /// SKU, or same position without one). A product is unchanged, and not written, when
    /// its fields, its variants so merged and the record's translations are as stored.
    pub async fn write_products(&mut self, records: &[ProductRecord]) -> Result<Counts> {
        let mut counts = Counts::default();
        let now = self.now;
        for r in records {
            let translations = one_per_language(&r.translations);
            let existing: Option<(i64, String)> = on_tx!(&mut self.tx, c => sqlx::query_as("SELECT id, content_hash FROM products WHERE handle = $1")
                .bind(&r.handle)
                .fetch_optional(&mut *c)
                .await?);
            let Some((id, old)) = existing else {
                counts.created += 1;
                let hash = product_hash(r, &r.variants);
                let id: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
                    "INSERT INTO products (handle, vendor, product_type, tags, published, image_url, content_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
                    .bind(&r.handle).bind(&r.vendor).bind(&r.product_type).bind(Json(&r.tags)).bind(r.published)
                    .bind(&r.image_url).bind(&hash).bind(r.created_at.unwrap_or(now)).bind(now)
                    .fetch_one(&mut *c).await?);
                self.upsert_translations(id, &translations).await?;
                self.insert_variants(id, r, &r.variants).await?;
                continue;
            };
            let variants = self.merged_variants(id, &r.variants).await?;
            let hash = product_hash(r, &variants);
            let stored: Vec<(String, String, String)> = on_tx!(&mut self.tx, c => sqlx::query_as(
                "SELECT lang, title, description FROM product_translations WHERE product_id = $1")
                .bind(id).fetch_all(&mut *c).await?);
            let changed: Vec<&ProductText> = translations
                .into_iter()
                .filter(|t| {
                    !stored.iter().any(|(lang, title, description)| {
                        *lang == t.lang && *title == t.title && *description == t.description
                    })
                })
                .collect();
            if old == hash && changed.is_empty() {
                counts.unchanged += 1;
                continue;
            }
            counts.updated += 1;
            if old == hash {
                on_tx!(&mut self.tx, c => sqlx::query("UPDATE products SET updated_at = $2 WHERE id = $1")
                    .bind(id).bind(now).execute(&mut *c).await.map(|_| ())?);
            } else {
                on_tx!(&mut self.tx, c => sqlx::query("UPDATE products SET vendor = $2, product_type = $3, tags = $4, published = $5, image_url = $6, \
                             content_hash = $7, updated_at = $8 WHERE id = $1")
                    .bind(id).bind(&r.vendor).bind(&r.product_type).bind(Json(&r.tags)).bind(r.published)
                    .bind(&r.image_url).bind(&hash).bind(now)
                    .execute(&mut *c).await.map(|_| ())?);
                if !r.variants.is_empty() {
                    on_tx!(&mut self.tx, c => sqlx::query("DELETE FROM product_variants WHERE product_id = $1").bind(id).execute(&mut *c).await.map(|_| ())?);
                    self.insert_variants(id, r, &variants).await?;
                }
            }
            self.upsert_translations(id, &changed).await?;
        }
        Ok(counts)
    }

    /// Writes the given translations of product `id`, replacing stored ones in the same
    /// languages.
    async fn upsert_translations(&mut self, id: i64, texts: &[&ProductText]) -> Result<()> {
        if texts.is_empty() {
            return Ok(());
        }
        on_tx!(&mut self.tx, c => {
            let mut qb = QueryBuilder::<Db>::new("INSERT INTO product_translations (product_id, lang, title, description) ");
            qb.push_values(texts, |mut b, t| {
                b.push_bind(id).push_bind(t.lang.clone()).push_bind(t.title.clone()).push_bind(t.description.clone());
            });
            qb.push(" ON CONFLICT (product_id, lang) DO UPDATE SET title = excluded.title, description = excluded.description");
            qb.build().execute(&mut *c).await?;
        });
        Ok(())
    }

    /// The variants product `id` has once `variants` are written: the stored ones when
    /// `variants` is empty; else `variants`, each missing stock or weight taken from the
    /// stored variant with the same SKU (or, without SKU, at the same position), so an
    /// export that leaves quantities blank does not lose the stock another one brought.
    async fn merged_variants(
        &mut self,
        id: i64,
        variants: &[VariantRecord],
    ) -> Result<Vec<VariantRecord>> {
        let mut variants = variants.to_vec();
        if !variants.is_empty()
            && variants
                .iter()
                .all(|v| v.stock.is_some() && v.grams.is_some())
        {
            return Ok(variants);
        }
        type Row = (
            Option<String>,
            String,
            i64,
            Option<i64>,
            String,
            Option<i64>,
            Option<i64>,
        );
        let stored: Vec<Row> = on_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT sku, title, price_minor, compare_at_minor, currency, stock, grams FROM product_variants \
             WHERE product_id = $1 ORDER BY position")
            .bind(id).fetch_all(&mut *c).await?);
        let stored: Vec<VariantRecord> = stored
            .into_iter()
            .map(
                |(sku, title, price, compare_at, currency, stock, grams)| VariantRecord {
                    sku,
                    title,
                    price,
                    compare_at,
                    currency,
                    stock,
                    grams,
                },
            )
            .collect();
        if variants.is_empty() {
            return Ok(stored);
        }
        for (pos, v) in variants.iter_mut().enumerate() {
            let same = match &v.sku {
                Some(_) => stored.iter().find(|s| s.sku == v.sku),
                None => stored.get(pos).filter(|s| s.sku.is_none()),
            };
            if let Some(same) = same {
                v.stock = v.stock.or(same.stock);
                v.grams = v.grams.or(same.grams);
            }
        }
        Ok(variants)
    }

    async fn insert_variants(
        &mut self,
        id: i64,
        r: &ProductRecord,
        variants: &[VariantRecord],
    ) -> Result<()> {
        if variants.is_empty() {
            return Ok(());
        }
        on_tx!(&mut self.tx, c => {
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO product_variants (product_id, position, sku, title, price_minor, compare_at_minor, currency, stock, grams) ",
            );
            qb.push_values(variants.iter().enumerate(), |mut b, (pos, v)| {
                b.push_bind(id).push_bind(pos as i64 + 1).push_bind(v.sku.clone()).push_bind(v.title.clone())
                    .push_bind(v.price).push_bind(v.compare_at).push_bind(v.currency.clone()).push_bind(v.stock).push_bind(v.grams);
            });
            if let Err(e) = qb.build().execute(&mut *c).await {
                return Err(match e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => super::StoreError::Conflict(format!(
                        "product `{}`: a variant SKU is already used by another product", r.handle
                    )),
                    other => other.into(),
                });
            }
        });
        Ok(())
    }

    // ----- shipments -----

    /// Upserts shipments by (carrier, tracking number) and adds their tracking events;
    /// events already stored are skipped. Counts are of events.
    pub async fn write_shipments(&mut self, records: &[ShipmentRecord]) -> Result<Counts> {
        let mut counts = Counts::default();
        let now = self.now;
        let mut touched = Vec::with_capacity(records.len());
        for r in records {
            let id: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
                "INSERT INTO shipments (order_id, carrier, tracking_number, promised_by, status, updated_at) \
                 VALUES ($1, $2, $3, $4, 'label_created', $5) \
                 ON CONFLICT (carrier, tracking_number) DO UPDATE SET order_id = excluded.order_id, \
                 promised_by = COALESCE(excluded.promised_by, shipments.promised_by), updated_at = excluded.updated_at RETURNING id")
                .bind(r.order_id).bind(&r.carrier).bind(&r.tracking_number).bind(r.promised_by).bind(now)
                .fetch_one(&mut *c).await?);
            touched.push(id);
            for chunk in shaped_chunks(&r.events, 4096) {
                let inserted = on_tx!(&mut self.tx, c => {
                    let mut qb = QueryBuilder::<Db>::new("INSERT INTO tracking_events (shipment_id, event_time, status, location, description) ");
                    qb.push_values(chunk, |mut b, e| {
                        b.push_bind(id).push_bind(e.at).push_bind(e.status.as_str()).push_bind(e.location.clone()).push_bind(e.description.clone());
                    });
                    qb.push(" ON CONFLICT (shipment_id, event_time, status) DO NOTHING");
                    qb.build().execute(&mut *c).await?.rows_affected()
                });
                counts.created += inserted;
                counts.unchanged += chunk.len() as u64 - inserted;
            }
        }
        // The parcel's status is its latest event; shipped/delivered times follow from events.
        for chunk in shaped_chunks(&touched, 4096) {
            on_tx!(&mut self.tx, c => {
                let mut qb = QueryBuilder::<Db>::new(
                    "UPDATE shipments SET \
                     status = COALESCE((SELECT e.status FROM tracking_events e WHERE e.shipment_id = shipments.id \
                       ORDER BY e.event_time DESC, e.status DESC LIMIT 1), status), \
                     shipped_at = (SELECT MIN(e.event_time) FROM tracking_events e WHERE e.shipment_id = shipments.id \
                       AND e.status <> 'label_created'), \
                     delivered_at = (SELECT MAX(e.event_time) FROM tracking_events e WHERE e.shipment_id = shipments.id \
                       AND e.status = 'delivered') \
                     WHERE id IN (",
                );
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(")");
                qb.build().execute(&mut *c).await?;
            });
        }
        Ok(counts)
    }

    // ----- documents -----

    /// Upserts knowledge documents by id; unchanged ones (same content hash) are skipped.
    pub async fn write_documents(
        &mut self,
        docs: &[kefu_knowledge::Document],
        source: &str,
    ) -> Result<Counts> {
        let mut counts = Counts::default();
        let now = self.now;
        for d in docs {
            let old: Option<String> = on_tx!(&mut self.tx, c => sqlx::query_scalar("SELECT content_hash FROM documents WHERE id = $1")
                .bind(&d.id).fetch_optional(&mut *c).await?);
            match &old {
                Some(hash) if *hash == d.content_hash => {
                    counts.unchanged += 1;
                    continue;
                }
                Some(_) => counts.updated += 1,
                None => counts.created += 1,
            }
            on_tx!(&mut self.tx, c => {
                sqlx::query(
                "INSERT INTO documents (id, lang, group_key, title, body, tags, url, source, content_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (id) DO UPDATE SET lang = excluded.lang, \
                 group_key = excluded.group_key, title = excluded.title, body = excluded.body, tags = excluded.tags, \
                 url = excluded.url, source = excluded.source, content_hash = excluded.content_hash, updated_at = excluded.updated_at")
                .bind(&d.id).bind(d.lang.as_str()).bind(&d.group).bind(&d.title).bind(&d.body).bind(Json(&d.tags))
                .bind(&d.url).bind(source).bind(&d.content_hash).bind(now)
                .execute(&mut *c).await?;
            });
        }
        Ok(counts)
    }

    /// Deletes the documents of `source` whose ids are not in `keep`; returns how many.
    pub async fn prune_documents(&mut self, source: &str, keep: &[String]) -> Result<u64> {
        let ids: Vec<String> = on_tx!(&mut self.tx, c => sqlx::query_scalar("SELECT id FROM documents WHERE source = $1")
            .bind(source).fetch_all(&mut *c).await?);
        let keep: HashSet<&str> = keep.iter().map(String::as_str).collect();
        let mut removed = 0;
        for id in ids.iter().filter(|id| !keep.contains(id.as_str())) {
            removed += on_tx!(&mut self.tx, c => sqlx::query("DELETE FROM documents WHERE id = $1").bind(id).execute(&mut *c).await?.rows_affected());
        }
        Ok(removed)
    }
}

/// A customer row as stored: read by the store, and kept by writers to decide whether a
/// write would change it.
#[derive(sqlx::FromRow, Clone)]
pub(super) struct CustomerRow {
    pub id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub country: Option<String>,
    pub tags: Json<Vec<String>>,
    pub attributes: Json<serde_json::Map<String, serde_json::Value>>,
    pub created_at: DateTime<Utc>,
}

impl CustomerRow {
    fn from_record(id: CustomerId, r: &CustomerRecord, now: DateTime<Utc>) -> Self {
        Self {
            created_at: r.created_at.unwrap_or(now),
            id,
            email: r.email.as_ref().map(|e| e.as_str().to_string()),
            phone: r.phone.as_ref().map(|p| p.as_str().to_string()),
            name: r.name.clone(),
            locale: r.locale.clone(),
            time_zone: r.time_zone.clone(),
            country: r.country.clone(),
            tags: Json(r.tags.clone()),
            attributes: Json(r.attributes.clone()),
        }
    }

    /// What [`Writer::update_customer`] did to the row, done to this copy.
    fn apply(&mut self, r: &CustomerRecord, merge: Merge) {
        fn set(stored: &mut Option<String>, new: Option<&str>, merge: Merge) {
            match (merge, new) {
                (_, None) => {}
                (Merge::Overwrite, Some(v)) => *stored = Some(v.to_string()),
                (Merge::FillBlanks, Some(v)) => {
                    stored.get_or_insert_with(|| v.to_string());
                }
            }
        }
        if merge == Merge::Overwrite {
            set(&mut self.email, r.email.as_ref().map(|e| e.as_str()), merge);
            if !r.tags.is_empty() {
                self.tags = Json(r.tags.clone());
            }
            if !r.attributes.is_empty() {
                self.attributes = Json(r.attributes.clone());
            }
        }
        set(&mut self.phone, r.phone.as_ref().map(|p| p.as_str()), merge);
        set(&mut self.name, r.name.as_deref(), merge);
        set(&mut self.locale, r.locale.as_deref(), merge);
        set(&mut self.time_zone, r.time_zone.as_deref(), merge);
        set(&mut self.country, r.country.as_deref(), merge);
    }

    /// Mirrors the `UPDATE` statements of [`Writer::update_customer`].
    fn would_change(&self, r: &CustomerRecord, merge: Merge) -> bool {
        fn differs(stored: &Option<String>, new: Option<&str>, merge: Merge) -> bool {
            match (merge, new) {
                (_, None) => false,
                (Merge::Overwrite, Some(v)) => stored.as_deref() != Some(v),
                (Merge::FillBlanks, Some(_)) => stored.is_none(),
            }
        }
        let email = r.email.as_ref().map(|e| e.as_str());
        let phone = r.phone.as_ref().map(|p| p.as_str());
        (merge == Merge::Overwrite && differs(&self.email, email, merge))
            || differs(&self.phone, phone, merge)
            || differs(&self.name, r.name.as_deref(), merge)
            || differs(&self.locale, r.locale.as_deref(), merge)
            || differs(&self.time_zone, r.time_zone.as_deref(), merge)
            || differs(&self.country, r.country.as_deref(), merge)
            || (merge == Merge::Overwrite && !r.tags.is_empty() && r.tags != self.tags.0)
            || (merge == Merge::Overwrite
                && !r.attributes.is_empty()
                && r.attributes != self.attributes.0)
    }
}

/// Folds a later record for the same customer into an earlier one.
fn merge_record(into: &mut CustomerRecord, from: &CustomerRecord, merge: Merge) {
    fn pick<T: Clone>(a: &mut Option<T>, b: &Option<T>, merge: Merge) {
        match merge {
            Merge::Overwrite if b.is_some() => *a = b.clone(),
            Merge::FillBlanks if a.is_none() => *a = b.clone(),
            _ => {}
        }
    }
    pick(&mut into.phone, &from.phone, merge);
    pick(&mut into.name, &from.name, merge);
    pick(&mut into.locale, &from.locale, merge);
    pick(&mut into.time_zone, &from.time_zone, merge);
    pick(&mut into.country, &from.country, merge);
    if merge == Merge::Overwrite && !from.tags.is_empty() {
        into.tags = from.tags.clone();
    }
    into.identities.extend(from.identities.iter().cloned());
    into.consents.extend(from.consents.iter().cloned());
    if let (Some(a), Some(b)) = (into.created_at, from.created_at) {
        into.created_at = Some(a.min(b));
    }
}

#[cfg(test)]
mod tests {
    use super::shaped_chunks;

    #[test]
    fn chunks_come_in_power_of_two_shapes() {
        let items: Vec<u32> = (0..2_500).collect();
        let sizes: Vec<usize> = shaped_chunks(&items, 1024).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![1024, 1024, 256, 128, 64, 4]);
        assert_eq!(shaped_chunks(&items[..0], 8).count(), 0);
        let all: Vec<u32> = shaped_chunks(&items, 64).flatten().copied().collect();
        assert_eq!(all, items);
    }
}
