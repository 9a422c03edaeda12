//! Reads and small single-row writes: customers, identities, consents, orders,
//! shipments, products, documents, conversations, handoffs, staff and the audit log.
// Short-lived row tuples are read right where they are declared.
#![allow(clippy::type_complexity)]

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::records::*;
use super::write::CustomerRow;
use super::{Result, Store, StoreError, on_pool};
use crate::shop::{Channel, Email, Role, TrackingStatus};

impl From<CustomerRow> for Customer {
    fn from(r: CustomerRow) -> Self {
        Customer {
            id: r.id,
            email: r.email,
            phone: r.phone,
            name: r.name,
            locale: r.locale,
            time_zone: r.time_zone,
            country: r.country,
            tags: r.tags.0,
            attributes: r.attributes.0,
            created_at: r.created_at,
        }
    }
}

const CUSTOMER_COLUMNS: &str =
    "id, email, phone, name, locale, time_zone, country, tags, attributes, created_at";

#[derive(sqlx::FromRow)]
pub(super) struct OrderRow {
    pub(super) id: i64,
    name: String,
    customer_id: Option<i64>,
    email: Option<String>,
    currency: String,
    status: String,
    financial_status: Option<String>,
    fulfillment_status: String,
    subtotal_minor: i64,
    shipping_minor: i64,
    taxes_minor: i64,
    discount_minor: i64,
    total_minor: i64,
    refunded_minor: i64,
    discount_codes: Json<Vec<String>>,
    shipping_method: Option<String>,
    shipping_address: Option<Json<Address>>,
    created_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    fulfilled_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
}

pub(super) const ORDER_COLUMNS: &str = "id, name, customer_id, email, currency, status, financial_status, fulfillment_status, \
     subtotal_minor, shipping_minor, taxes_minor, discount_minor, total_minor, refunded_minor, discount_codes, \
     shipping_method, shipping_address, created_at, paid_at, fulfilled_at, cancelled_at";

impl OrderRow {
    pub(super) fn into_order(self, lines: Vec<LineRecord>) -> Order {
        Order {
            id: self.id,
            name: self.name,
            customer_id: self.customer_id,
            email: self.email,
            currency: self.currency,
            status: self.status,
            financial_status: self.financial_status,
            fulfillment_status: self.fulfillment_status,
            subtotal: self.subtotal_minor,
            shipping: self.shipping_minor,
            taxes: self.taxes_minor,
            discount: self.discount_minor,
            total: self.total_minor,
            refunded: self.refunded_minor,
            discount_codes: self.discount_codes.0,
            shipping_method: self.shipping_method,
            shipping_address: self.shipping_address.map(|a| a.0),
            created_at: self.created_at,
            paid_at: self.paid_at,
            fulfilled_at: self.fulfilled_at,
            cancelled_at: self.cancelled_at,
            lines,
        }
    }
}

#[derive(sqlx::FromRow)]
struct LineRow {
    order_id: i64,
    sku: Option<String>,
    name: String,
    quantity: i64,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    discount_minor: i64,
    requires_shipping: bool,
    taxable: bool,
    fulfillment_status: Option<String>,
    vendor: Option<String>,
}

impl From<LineRow> for LineRecord {
    fn from(r: LineRow) -> Self {
        LineRecord {
            sku: r.sku,
            name: r.name,
            quantity: r.quantity,
            price: r.price_minor,
            compare_at: r.compare_at_minor,
            discount: r.discount_minor,
            requires_shipping: r.requires_shipping,
            taxable: r.taxable,
            fulfillment_status: r.fulfillment_status,
            vendor: r.vendor,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ShipmentRow {
    id: i64,
    order_id: i64,
    carrier: String,
    tracking_number: String,
    promised_by: Option<DateTime<Utc>>,
    status: String,
    shipped_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    shipment_id: i64,
    event_time: DateTime<Utc>,
    status: String,
    location: Option<String>,
    description: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DocumentRow {
    id: String,
    lang: String,
    group_key: String,
    title: String,
    body: String,
    tags: Json<Vec<String>>,
    url: Option<String>,
    source: String,
    content_hash: String,
}

impl From<DocumentRow> for StoredDocument {
    fn from(r: DocumentRow) -> Self {
        StoredDocument {
            id: r.id,
            lang: r.lang,
            group: r.group_key,
            title: r.title,
            body: r.body,
            tags: r.tags.0,
            url: r.url,
            source: r.source,
            content_hash: r.content_hash,
        }
    }
}

const DOCUMENT_COLUMNS: &str = "id, lang, group_key, title, body, tags, url, source, content_hash";

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: i64,
    channel: String,
    thread_id: String,
    customer_id: Option<i64>,
    state: String,
    language: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OpenConversationRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    context: Option<Json<serde_json::Value>>,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;
    fn try_from(r: ConversationRow) -> Result<Self> {
        Ok(Conversation {
            id: r.id,
            channel: r.channel.parse().map_err(StoreError::Corrupt)?,
            thread_id: r.thread_id,
            customer_id: r.customer_id,
            state: ConversationState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("conversation state `{}`", r.state)))?,
            language: r.language,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    conversation_id: i64,
    channel: String,
    external_id: Option<String>,
    role: String,
    staff_id: Option<i64>,
    body: String,
    citations: Json<Vec<Citation>>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct HandoffRow {
    id: i64,
    conversation_id: i64,
    reason: String,
    requested_at: DateTime<Utc>,
    claimed_by: Option<i64>,
    claimed_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
}

impl From<HandoffRow> for Handoff {
    fn from(r: HandoffRow) -> Self {
        Handoff {
            id: r.id,
            conversation_id: r.conversation_id,
            reason: r.reason,
            requested_at: r.requested_at,
            claimed_by: r.claimed_by,
            claimed_at: r.claimed_at,
            resolved_at: r.resolved_at,
        }
    }
}

fn tracking_status(raw: &str) -> Result<TrackingStatus> {
    raw.parse().map_err(StoreError::Corrupt)
}

/// A product's own columns: id, handle, vendor, type, tags, published, image URL.
type ProductRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Json<Vec<String>>,
    bool,
    Option<String>,
);

impl Store {
    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, p => {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }

    /// Row counts, for the status page and summaries.
    pub async fn stats(&self) -> Result<Stats> {
        on_pool!(self, p => {
            let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM channel_identities), \
                 (SELECT COUNT(*) FROM products), (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM order_lines), \
                 (SELECT COUNT(*) FROM shipments), (SELECT COUNT(*) FROM tracking_events), \
                 (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM conversations), \
                 (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM handoffs WHERE resolved_at IS NULL)",
            )
            .fetch_one(p)
            .await?;
            Ok(Stats {
                customers: row.0,
                identities: row.1,
                products: row.2,
                orders: row.3,
                order_lines: row.4,
                shipments: row.5,
                tracking_events: row.6,
                documents: row.7,
                conversations: row.8,
                messages: row.9,
                open_handoffs: row.10,
            })
        })
    }

    // ----- customers, identities, consents -----

    pub async fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"
        ));
        on_pool!(self, p => Ok(sqlx::query_as::<_, CustomerRow>(sql).bind(id).fetch_optional(p).await?.map(Customer::from)))
    }

    pub async fn customer_by_email(&self, email: &Email) -> Result<Option<Customer>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE email = $1"
        ));
        on_pool!(self, p => Ok(sqlx::query_as::<_, CustomerRow>(sql).bind(email.as_str()).fetch_optional(p).await?.map(Customer::from)))
    }

    /// The identity of a channel user, if linked. For e-mail, an address that is a
    /// customer's own e-mail counts as an (unverified) identity even without a link.
    pub async fn identity(&self, channel: Channel, external_id: &str) -> Result<Option<Identity>> {
        let row: Option<(i64, bool)> = on_pool!(self, p => sqlx::query_as(
            "SELECT customer_id, verified FROM channel_identities WHERE channel = $1 AND external_id = $2",
        )
        .bind(channel.as_str())
        .bind(external_id)
        .fetch_optional(p)
        .await?);
        if let Some((customer_id, verified)) = row {
            return Ok(Some(Identity {
                channel,
                external_id: external_id.to_string(),
                customer_id,
                verified,
            }));
        }
        if channel == Channel::Email
            && let Ok(email) = Email::parse(external_id)
            && let Some(customer) = self.customer_by_email(&email).await?
        {
            return Ok(Some(Identity {
                channel,
                external_id: email.to_string(),
                customer_id: customer.id,
                verified: false,
            }));
        }
        Ok(None)
    }

    pub async fn identities_of(&self, customer_id: CustomerId) -> Result<Vec<Identity>> {
        let rows: Vec<(String, String, bool)> = on_pool!(self, p => sqlx::query_as(
            "SELECT channel, external_id, verified FROM channel_identities WHERE customer_id = $1 ORDER BY channel, external_id",
        )
        .bind(customer_id)
        .fetch_all(p)
        .await?);
        rows.into_iter()
            .map(|(channel, external_id, verified)| {
                Ok(Identity {
                    channel: channel.parse().map_err(StoreError::Corrupt)?,
                    external_id,
                    customer_id,
                    verified,
                })
            })
            .collect()
    }

    /// Links a channel user to a customer (or re-links it), e.g. after verification.
    pub async fn link_identity(
        &self,
        channel: Channel,
        external_id: &str,
        customer_id: CustomerId,
        verified: bool,
    ) -> Result<()> {
        on_pool!(self, p => { sqlx::query(
            "INSERT INTO channel_identities (channel, external_id, customer_id, verified, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (channel, external_id) DO UPDATE SET customer_id = excluded.customer_id, verified = excluded.verified",
        )
        .bind(channel.as_str())
        .bind(external_id)
        .bind(customer_id)
        .bind(verified)
        .bind(Utc::now())
        .execute(p)
        .await?; });
        Ok(())
    }

    pub async fn consents(&self, customer_id: CustomerId) -> Result<Vec<Consent>> {
        let rows: Vec<(String, bool, String, DateTime<Utc>)> = on_pool!(self, p => sqlx::query_as(
            "SELECT channel, granted, source, updated_at FROM customer_consents WHERE customer_id = $1 ORDER BY channel",
        )
        .bind(customer_id)
        .fetch_all(p)
        .await?);
        rows.into_iter()
            .map(|(channel, granted, source, at)| {
                Ok(Consent {
                    channel: channel.parse().map_err(StoreError::Corrupt)?,
                    granted,
                    source,
                    at,
                })
            })
            .collect()
    }

    /// Records a consent decision (e.g. `/stop` on Telegram), effective immediately.
    pub async fn set_consent(&self, customer_id: CustomerId, consent: &Consent) -> Result<()> {
        on_pool!(self, p => { sqlx::query(
            "INSERT INTO customer_consents (customer_id, channel, granted, source, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (customer_id, channel) DO UPDATE SET granted = excluded.granted, source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(customer_id)
        .bind(consent.channel.as_str())
        .bind(consent.granted)
        .bind(&consent.source)
        .bind(consent.at)
        .execute(p)
        .await?; });
        Ok(())
    }

    // ----- orders and shipments -----

    /// An order by its shop name, however it is written (`#1043`, `1043`, `ts-1001` for
    /// `#TS1001`: compared by [`crate::slots::order_key`]; the exact name first when two
    /// names share a key).
    pub async fn order_by_name(&self, name: &str) -> Result<Option<Order>> {
        let key = crate::slots::order_key(name);
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE name_key = $1 \
             ORDER BY CASE WHEN name = $2 THEN 0 ELSE 1 END, id LIMIT 1"
        ));
        let row = on_pool!(self, p => sqlx::query_as::<_, OrderRow>(sql).bind(&key).bind(name.trim()).fetch_optional(p).await?);
        match row {
            None => Ok(None),
            Some(row) => {
                let mut lines = self.lines_of(&[row.id]).await?;
                let lines = lines.remove(&row.id).unwrap_or_default();
                Ok(Some(row.into_order(lines)))
            }
        }
    }

    /// A customer's orders, newest first, with their lines.
    pub async fn orders_of(&self, customer_id: CustomerId) -> Result<Vec<Order>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id DESC"
        ));
        let rows = on_pool!(self, p => sqlx::query_as::<_, OrderRow>(sql).bind(customer_id).fetch_all(p).await?);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut lines = self.lines_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let l = lines.remove(&r.id).unwrap_or_default();
                r.into_order(l)
            })
            .collect())
    }

    pub(super) async fn lines_of(
        &self,
        order_ids: &[i64],
    ) -> Result<BTreeMap<i64, Vec<LineRecord>>> {
        let mut out: BTreeMap<i64, Vec<LineRecord>> = BTreeMap::new();
        for chunk in order_ids.chunks(500) {
            let rows: Vec<LineRow> = on_pool!(self, p => {
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "SELECT order_id, sku, name, quantity, price_minor, compare_at_minor, discount_minor, requires_shipping, \
                     taxable, fulfillment_status, vendor FROM order_lines WHERE order_id IN (",
                );
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(") ORDER BY order_id, position");
                qb.build_query_as::<LineRow>().fetch_all(p).await?
            });
            for row in rows {
                out.entry(row.order_id).or_default().push(row.into());
            }
        }
        Ok(out)
    }

    /// The parcels of an order with their tracking events, oldest event first.
    pub async fn shipments_of(&self, order_id: OrderId) -> Result<Vec<Shipment>> {
        let (rows, events) = on_pool!(self, p => {
            let rows: Vec<ShipmentRow> = sqlx::query_as(
                "SELECT id, order_id, carrier, tracking_number, promised_by, status, shipped_at, delivered_at \
                 FROM shipments WHERE order_id = $1 ORDER BY id",
            )
            .bind(order_id)
            .fetch_all(p)
            .await?;
            let events: Vec<EventRow> = sqlx::query_as(
                "SELECT e.shipment_id, e.event_time, e.status, e.location, e.description FROM tracking_events e \
                 JOIN shipments s ON s.id = e.shipment_id WHERE s.order_id = $1 ORDER BY e.event_time, e.status",
            )
            .bind(order_id)
            .fetch_all(p)
            .await?;
            (rows, events)
        });
        let mut by_shipment: BTreeMap<i64, Vec<TrackingEvent>> = BTreeMap::new();
        for e in events {
            by_shipment
                .entry(e.shipment_id)
                .or_default()
                .push(TrackingEvent {
                    at: e.event_time,
                    status: tracking_status(&e.status)?,
                    location: e.location,
                    description: e.description,
                });
        }
        rows.into_iter()
            .map(|r| {
                Ok(Shipment {
                    id: r.id,
                    order_id: r.order_id,
                    carrier: r.carrier,
                    tracking_number: r.tracking_number,
                    promised_by: r.promised_by,
                    status: tracking_status(&r.status)?,
                    shipped_at: r.shipped_at,
                    delivered_at: r.delivered_at,
                    events: by_shipment.remove(&r.id).unwrap_or_default(),
                })
            })
            .collect()
    }

    // ----- products -----

    pub async fn product_by_handle(&self, handle: &str) -> Result<Option<Product>> {
        let row: Option<ProductRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, handle, vendor, product_type, tags, published, image_url FROM products WHERE handle = $1",
        )
        .bind(handle)
        .fetch_optional(p)
        .await?);
        let Some((id, handle, vendor, product_type, tags, published, image_url)) = row else {
            return Ok(None);
        };
        let (texts, variants) = on_pool!(self, p => {
            let texts: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT lang, title, description FROM product_translations WHERE product_id = $1 ORDER BY lang",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            let variants: Vec<(Option<String>, String, i64, Option<i64>, String, Option<i64>, Option<i64>)> = sqlx::query_as(
                "SELECT sku, title, price_minor, compare_at_minor, currency, stock, grams FROM product_variants \
                 WHERE product_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            (texts, variants)
        });
        Ok(Some(Product {
            id,
            handle,
            vendor,
            product_type,
            tags: tags.0,
            published,
            image_url,
            translations: texts
                .into_iter()
                .map(|(lang, title, description)| ProductText {
                    lang,
                    title,
                    description,
                })
                .collect(),
            variants: variants
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
                .collect(),
        }))
    }

    /// Every published product with its translations and variants, by handle; three
    /// queries whatever the catalogue size.
    pub async fn products(&self) -> Result<Vec<Product>> {
        type VariantRow = (
            i64,
            Option<String>,
            String,
            i64,
            Option<i64>,
            String,
            Option<i64>,
            Option<i64>,
        );
        let (rows, texts, variants) = on_pool!(self, p => {
            let rows: Vec<ProductRow> =
                sqlx::query_as(
                    "SELECT id, handle, vendor, product_type, tags, published, image_url FROM products \
                     WHERE published ORDER BY handle",
                )
                .fetch_all(p)
                .await?;
            let texts: Vec<(i64, String, String, String)> = sqlx::query_as(
                "SELECT product_id, lang, title, description FROM product_translations ORDER BY product_id, lang",
            )
            .fetch_all(p)
            .await?;
            let variants: Vec<VariantRow> = sqlx::query_as(
                "SELECT product_id, sku, title, price_minor, compare_at_minor, currency, stock, grams \
                 FROM product_variants ORDER BY product_id, position",
            )
            .fetch_all(p)
            .await?;
            (rows, texts, variants)
        });
        let mut by_product: HashMap<i64, (Vec<ProductText>, Vec<VariantRecord>)> = HashMap::new();
        for (id, lang, title, description) in texts {
            by_product.entry(id).or_default().0.push(ProductText {
                lang,
                title,
                description,
            });
        }
        for (id, sku, title, price, compare_at, currency, stock, grams) in variants {
            by_product.entry(id).or_default().1.push(VariantRecord {
                sku,
                title,
                price,
                compare_at,
                currency,
                stock,
                grams,
            });
        }
        Ok(rows
            .into_iter()
            .map(
                |(id, handle, vendor, product_type, tags, published, image_url)| {
                    let (translations, variants) = by_product.remove(&id).unwrap_or_default();
                    Product {
                        id,
                        handle,
                        vendor,
                        product_type,
                        tags: tags.0,
                        published,
                        image_url,
                        translations,
                        variants,
                    }
                },
            )
            .collect())
    }

    // ----- documents -----

    pub async fn document(&self, id: &str) -> Result<Option<StoredDocument>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1"
        ));
        on_pool!(self, p => Ok(sqlx::query_as::<_, DocumentRow>(sql).bind(id).fetch_optional(p).await?.map(Into::into)))
    }

    /// All documents, ordered by group then language.
    pub async fn documents(&self) -> Result<Vec<StoredDocument>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents ORDER BY group_key, lang, id"
        ));
        on_pool!(self, p => Ok(sqlx::query_as::<_, DocumentRow>(sql).fetch_all(p).await?.into_iter().map(Into::into).collect()))
    }

    // ----- conversations and messages -----

    /// The open (not closed) conversation of a channel thread, or a new one in `bot` state.
    pub async fn open_conversation(
        &self,
        channel: Channel,
        thread_id: &str,
        customer_id: Option<CustomerId>,
    ) -> Result<Conversation> {
        Ok(self
            .open_conversation_with_context(channel, thread_id, customer_id)
            .await?
            .0)
    }

    /// [`Store::open_conversation`] with the agent's memory of it (`{}` when new), read
    /// in the same statement.
    pub async fn open_conversation_with_context(
        &self,
        channel: Channel,
        thread_id: &str,
        customer_id: Option<CustomerId>,
    ) -> Result<(Conversation, serde_json::Value)> {
        let now = Utc::now();
        if let Some(direct) = &self.direct {
            match direct.open_conversation(channel.as_str(), thread_id, customer_id, now) {
                Ok(row) => {
                    let context = match row.context.as_deref().map(serde_json::from_str) {
                        None => Some(serde_json::json!({})),
                        Some(Ok(json)) => Some(json),
                        // Read again through sqlx, which reports it.
                        Some(Err(_)) => None,
                    };
                    if let Some(context) = context {
                        let conversation = ConversationRow {
                            id: row.id,
                            channel: row.channel,
                            thread_id: row.thread_id,
                            customer_id: row.customer_id,
                            state: row.state,
                            language: row.language,
                            created_at: row.created_at,
                        };
                        return Ok((conversation.try_into()?, context));
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "direct statement failed; running it through the pool")
                }
            }
        }
        let row: OpenConversationRow = on_pool!(self, p => {
            let existing: Option<OpenConversationRow> = sqlx::query_as(
                "SELECT id, channel, thread_id, customer_id, state, language, created_at, context FROM conversations \
                 WHERE channel = $1 AND thread_id = $2 AND state <> 'closed' ORDER BY created_at DESC, id DESC LIMIT 1",
            )
            .bind(channel.as_str())
            .bind(thread_id)
            .fetch_optional(p)
            .await?;
            match existing {
                Some(row) => row,
                None => {
                    sqlx::query_as(
                    "INSERT INTO conversations (channel, thread_id, customer_id, state, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'bot', $4, $4) \
                     RETURNING id, channel, thread_id, customer_id, state, language, created_at, context",
                )
                .bind(channel.as_str())
                .bind(thread_id)
                .bind(customer_id)
                .bind(now)
                .fetch_one(p)
                .await?
                }
            }
        });
        let context = row
            .context
            .map_or_else(|| serde_json::json!({}), |json| json.0);
        Ok((row.conversation.try_into()?, context))
    }

    pub async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>> {
        let row: Option<ConversationRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, channel, thread_id, customer_id, state, language, created_at FROM conversations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await?);
        row.map(TryInto::try_into).transpose()
    }

    pub async fn set_conversation_state(
        &self,
        id: ConversationId,
        state: ConversationState,
    ) -> Result<()> {
        let now = Utc::now();
        let closed_at = (state == ConversationState::Closed).then_some(now);
        on_pool!(self, p => { sqlx::query("UPDATE conversations SET state = $1, updated_at = $2, closed_at = $3 WHERE id = $4")
            .bind(state.as_str())
            .bind(now)
            .bind(closed_at)
            .bind(id)
            .execute(p)
            .await?; });
        Ok(())
    }

    pub async fn set_conversation_customer(
        &self,
        id: ConversationId,
        customer_id: Option<CustomerId>,
    ) -> Result<()> {
        on_pool!(self, p => { sqlx::query("UPDATE conversations SET customer_id = $1, updated_at = $2 WHERE id = $3")
            .bind(customer_id)
            .bind(Utc::now())
            .bind(id)
            .execute(p)
            .await?; });
        Ok(())
    }

    /// Records a message once: a second delivery with the same channel message id is
    /// reported as [`Recorded::Duplicate`] and changes nothing.
    pub async fn record_message(&self, message: &NewMessage) -> Result<Recorded> {
        let recorded = self.insert_message(message).await?;
        if let Recorded::New(_) = recorded {
            on_pool!(self, p => { sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
                .bind(Utc::now())
                .bind(message.conversation_id)
                .execute(p)
                .await?; });
        }
        Ok(recorded)
    }

    /// [`Store::record_message`] without touching the conversation's `updated_at`, for a
    /// caller that updates the conversation itself right after (the agent's turn does).
    pub async fn insert_message(&self, message: &NewMessage) -> Result<Recorded> {
        let now = Utc::now();
        if let Some(direct) = &self.direct
            && let Ok(citations) = serde_json::to_string(&message.citations)
        {
            match direct.insert_message(message, &citations, now) {
                Ok((id, true)) => return Ok(Recorded::New(id)),
                Ok((id, false)) => return Ok(Recorded::Duplicate(id)),
                Err(e) => {
                    tracing::debug!(error = %e, "direct write failed; writing through the pool")
                }
            }
        }
        let inserted: Option<i64> = on_pool!(self, p => sqlx::query_scalar(
            "INSERT INTO messages (conversation_id, channel, external_id, role, staff_id, body, citations, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (channel, external_id) DO NOTHING RETURNING id",
        )
        .bind(message.conversation_id)
        .bind(message.channel.as_str())
        .bind(message.external_id.as_deref())
        .bind(message.role.as_str())
        .bind(message.staff_id)
        .bind(&message.body)
        .bind(Json(&message.citations))
        .bind(now)
        .fetch_optional(p)
        .await?);
        if let Some(id) = inserted {
            return Ok(Recorded::New(id));
        }
        let existing: i64 = on_pool!(self, p => sqlx::query_scalar("SELECT id FROM messages WHERE channel = $1 AND external_id = $2")
            .bind(message.channel.as_str())
            .bind(message.external_id.as_deref())
            .fetch_one(p)
            .await?);
        Ok(Recorded::Duplicate(existing))
    }

    /// A conversation's messages, oldest first.
    pub async fn messages(&self, conversation_id: ConversationId) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, conversation_id, channel, external_id, role, staff_id, body, citations, created_at FROM messages \
             WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(conversation_id)
        .fetch_all(p)
        .await?);
        message_rows(rows)
    }

    /// A channel thread's messages after `after_id` across all its conversations, oldest
    /// first, at most `limit` (the widget's history and resume).
    pub async fn thread_messages(
        &self,
        channel: Channel,
        thread_id: &str,
        after_id: MessageId,
        limit: i64,
    ) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT m.id, m.conversation_id, m.channel, m.external_id, m.role, m.staff_id, m.body, m.citations, m.created_at \
             FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE c.channel = $1 AND c.thread_id = $2 AND m.id > $3 ORDER BY m.id LIMIT $4",
        )
        .bind(channel.as_str())
        .bind(thread_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(p)
        .await?);
        message_rows(rows)
    }

    /// [`Store::thread_messages`] together with the customer's conversations on every
    /// other channel (a customer linked on the widget and on Telegram sees one history).
    pub async fn customer_messages(
        &self,
        channel: Channel,
        thread_id: &str,
        customer_id: CustomerId,
        after_id: MessageId,
        limit: i64,
    ) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT m.id, m.conversation_id, m.channel, m.external_id, m.role, m.staff_id, m.body, m.citations, m.created_at \
             FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE ((c.channel = $1 AND c.thread_id = $2) OR c.customer_id = $3) AND m.id > $4 ORDER BY m.id LIMIT $5",
        )
        .bind(channel.as_str())
        .bind(thread_id)
        .bind(customer_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(p)
        .await?);
        message_rows(rows)
    }

    // ----- handoffs and staff -----

    pub async fn request_handoff(
        &self,
        conversation_id: ConversationId,
        reason: &str,
    ) -> Result<HandoffId> {
        on_pool!(self, p => Ok(sqlx::query_scalar(
            "INSERT INTO handoffs (conversation_id, reason, requested_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(conversation_id)
        .bind(reason)
        .bind(Utc::now())
        .fetch_one(p)
        .await?))
    }

    /// Claims an unclaimed handoff for a staff member. `false` when someone else was faster.
    pub async fn claim_handoff(&self, id: HandoffId, staff_id: StaffId) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE handoffs SET claimed_by = $1, claimed_at = $2 WHERE id = $3 AND claimed_by IS NULL AND resolved_at IS NULL",
        )
        .bind(staff_id)
        .bind(Utc::now())
        .bind(id)
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    pub async fn resolve_handoff(&self, id: HandoffId) -> Result<()> {
        on_pool!(self, p => {
            sqlx::query("UPDATE handoffs SET resolved_at = $1 WHERE id = $2 AND resolved_at IS NULL")
                .bind(Utc::now())
                .bind(id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Unresolved handoffs, oldest request first: the console queue.
    pub async fn open_handoffs(&self) -> Result<Vec<Handoff>> {
        let rows: Vec<HandoffRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, conversation_id, reason, requested_at, claimed_by, claimed_at, resolved_at FROM handoffs \
             WHERE resolved_at IS NULL ORDER BY requested_at, id",
        )
        .fetch_all(p)
        .await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn create_staff(&self, email: &Email, name: &str, role: &str) -> Result<StaffId> {
        let result = on_pool!(self, p => sqlx::query_scalar(
            "INSERT INTO staff_users (email, name, role, active, created_at) VALUES ($1, $2, $3, TRUE, $4) RETURNING id",
        )
        .bind(email.as_str())
        .bind(name)
        .bind(role)
        .bind(Utc::now())
        .fetch_one(p)
        .await);
        match result {
            Ok(id) => Ok(id),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("a staff user with e-mail {email} already exists"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn staff_by_email(&self, email: &Email) -> Result<Option<Staff>> {
        let row: Option<(i64, String, String, String, bool)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, email, name, role, active FROM staff_users WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(p)
        .await?);
        Ok(row.map(|(id, email, name, role, active)| Staff {
            id,
            email,
            name,
            role,
            active,
        }))
    }

    // ----- audit log -----

    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        details: serde_json::Value,
    ) -> Result<()> {
        on_pool!(self, p => { sqlx::query("INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, $3, $4, $5)")
            .bind(Utc::now())
            .bind(actor)
            .bind(action)
            .bind(subject)
            .bind(Json(&details))
            .execute(p)
            .await?; });
        Ok(())
    }

    /// The newest audit entries first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows: Vec<(
            DateTime<Utc>,
            String,
            String,
            Option<String>,
            Json<serde_json::Value>,
        )> = on_pool!(self, p => sqlx::query_as(
            "SELECT at, actor, action, subject, details FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(p)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(at, actor, action, subject, details)| AuditEntry {
                at,
                actor,
                action,
                subject,
                details: details.0,
            })
            .collect())
    }
}

/// `1043`, `#1043` and ` #1043 ` all name order `#1043`.
pub fn normalise_order_name(raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.starts_with('#') || !trimmed.chars().all(|c| c.is_ascii_digit()) {
        trimmed.to_string()
    } else {
        format!("#{trimmed}")
    }
}

fn message_rows(rows: Vec<MessageRow>) -> Result<Vec<Message>> {
    rows.into_iter()
        .map(|r| {
            Ok(Message {
                id: r.id,
                conversation_id: r.conversation_id,
                channel: r.channel.parse().map_err(StoreError::Corrupt)?,
                external_id: r.external_id,
                role: r.role.parse::<Role>().map_err(StoreError::Corrupt)?,
                staff_id: r.staff_id,
                body: r.body,
                citations: r.citations.0,
                created_at: r.created_at,
            })
        })
        .collect()
}
