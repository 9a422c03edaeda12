//! What the storage API reads and writes: plain data, no SQL.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::shop::{Channel, Currency, Email, OrderStatus, Phone, Role, TrackingStatus};

pub type CustomerId = i64;
pub type OrderId = i64;
pub type ProductId = i64;
pub type ConversationId = i64;
pub type MessageId = i64;
pub type StaffId = i64;
pub type HandoffId = i64;

/// Created / updated / unchanged counts of one write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }

    pub fn total(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }
}

/// A marketing consent statement for one channel, with when and where it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub channel: Channel,
    pub granted: bool,
    pub source: String,
    pub at: DateTime<Utc>,
}

/// How a customer write treats fields the customer already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The record is authoritative (a customer list): its non-empty fields win.
    Overwrite,
    /// The record is incidental (an order's buyer): it only fills empty fields.
    FillBlanks,
}

/// A customer as an import or the demo writes it. Matched on e-mail, then phone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerRecord {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub name: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub country: Option<String>,
    pub tags: Vec<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Channel identities to link: (channel, the channel's own user id, verified).
    pub identities: Vec<(Channel, String, bool)>,
    pub consents: Vec<Consent>,
    pub created_at: Option<DateTime<Utc>>,
}

/// A stored customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub country: Option<String>,
    pub tags: Vec<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A channel identity: this user on this channel is that customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub channel: Channel,
    pub external_id: String,
    pub customer_id: CustomerId,
    pub verified: bool,
}

/// A postal address as the shop platform gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The buyer named on an order, used to find or create the customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buyer {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub name: Option<String>,
    pub country: Option<String>,
    /// Shopify's "Accepts Marketing": e-mail marketing consent.
    pub accepts_email: Option<bool>,
}

/// An order with its lines, as an import or the demo writes it. Keyed on `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub name: String,
    pub external_id: Option<String>,
    pub buyer: Buyer,
    pub currency: Currency,
    pub status: OrderStatus,
    pub financial_status: Option<String>,
    pub fulfillment_status: String,
    pub subtotal: i64,
    pub shipping: i64,
    pub taxes: i64,
    pub discount: i64,
    pub total: i64,
    pub refunded: i64,
    pub discount_codes: Vec<String>,
    pub shipping_method: Option<String>,
    pub shipping_address: Option<Address>,
    pub billing_name: Option<String>,
    pub payment_method: Option<String>,
    pub note: Option<String>,
    pub tags: Vec<String>,
    pub source: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub lines: Vec<LineRecord>,
}

impl OrderRecord {
    /// A digest of everything a re-import could change (SHA-256, hex). Stored with the
    /// order so that importing the same file again can skip it without a write.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(&FingerprintView(self)).unwrap_or_default();
        kefu_knowledge::document::content_hash(&[&json])
    }
}

/// The parts of an order that decide whether a re-import changes it.
struct FingerprintView<'a>(&'a OrderRecord);

impl Serialize for FingerprintView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let o = self.0;
        (
            (
                &o.name,
                &o.external_id,
                o.buyer.email.as_ref(),
                o.buyer.phone.as_ref(),
                o.currency.as_str(),
                o.status.as_str(),
            ),
            (
                &o.financial_status,
                &o.fulfillment_status,
                o.subtotal,
                o.shipping,
                o.taxes,
                o.discount,
                o.total,
                o.refunded,
            ),
            (
                &o.discount_codes,
                &o.shipping_method,
                &o.shipping_address,
                &o.billing_name,
                &o.payment_method,
                &o.note,
                &o.tags,
                &o.source,
            ),
            (o.created_at, o.paid_at, o.fulfilled_at, o.cancelled_at),
            &o.lines,
        )
            .serialize(s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineRecord {
    pub sku: Option<String>,
    pub name: String,
    pub quantity: i64,
    pub price: i64,
    pub compare_at: Option<i64>,
    pub discount: i64,
    pub requires_shipping: bool,
    pub taxable: bool,
    pub fulfillment_status: Option<String>,
    pub vendor: Option<String>,
}

/// A stored order. Amounts are minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub id: OrderId,
    pub name: String,
    pub customer_id: Option<CustomerId>,
    pub email: Option<String>,
    pub currency: String,
    pub status: String,
    pub financial_status: Option<String>,
    pub fulfillment_status: String,
    pub subtotal: i64,
    pub shipping: i64,
    pub taxes: i64,
    pub discount: i64,
    pub total: i64,
    pub refunded: i64,
    pub discount_codes: Vec<String>,
    pub shipping_method: Option<String>,
    pub shipping_address: Option<Address>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub lines: Vec<LineRecord>,
}

/// A product with its translations and variants. Keyed on `handle`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductRecord {
    pub handle: String,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Vec<String>,
    /// Offered to customers (searchable, suggested, in campaign product cards): Shopify's
    /// `Published` and `Status` `active`. Unpublished products stay stored.
    pub published: bool,
    pub image_url: Option<String>,
    pub translations: Vec<ProductText>,
    pub variants: Vec<VariantRecord>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductText {
    pub lang: String,
    pub title: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantRecord {
    pub sku: Option<String>,
    pub title: String,
    pub price: i64,
    pub compare_at: Option<i64>,
    pub currency: String,
    pub stock: Option<i64>,
    pub grams: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub id: ProductId,
    pub handle: String,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Vec<String>,
    /// Offered to customers (searchable, suggested, in campaign product cards): Shopify's
    /// `Published` and `Status` `active`. Unpublished products stay stored.
    pub published: bool,
    /// The product's main image (Shopify's `Image Src`).
    pub image_url: Option<String>,
    pub translations: Vec<ProductText>,
    pub variants: Vec<VariantRecord>,
}

/// One parcel of an order and its tracking events. Keyed on (carrier, tracking number).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShipmentRecord {
    pub order_id: OrderId,
    pub carrier: String,
    pub tracking_number: String,
    pub promised_by: Option<DateTime<Utc>>,
    pub events: Vec<TrackingEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingEvent {
    pub at: DateTime<Utc>,
    pub status: TrackingStatus,
    pub location: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shipment {
    pub id: i64,
    pub order_id: OrderId,
    pub carrier: String,
    pub tracking_number: String,
    pub promised_by: Option<DateTime<Utc>>,
    /// The latest event's status.
    pub status: TrackingStatus,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Oldest first.
    pub events: Vec<TrackingEvent>,
}

/// A stored knowledge document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredDocument {
    pub id: String,
    pub lang: String,
    pub group: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub source: String,
    pub content_hash: String,
}

/// Where a conversation stands. The agent's state machine owns the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    Bot,
    WaitingForHuman,
    Human,
    Closed,
}

impl ConversationState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConversationState::Bot => "bot",
            ConversationState::WaitingForHuman => "waiting_for_human",
            ConversationState::Human => "human",
            ConversationState::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Bot, Self::WaitingForHuman, Self::Human, Self::Closed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub channel: Channel,
    pub thread_id: String,
    pub customer_id: Option<CustomerId>,
    pub state: ConversationState,
    pub language: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A citation attached to a bot message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    pub document_id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    pub channel: Channel,
    /// The channel's own id of the message (Telegram update id, e-mail Message-ID…);
    /// unique per channel, so a redelivered message is recorded once.
    pub external_id: Option<String>,
    pub role: Role,
    pub staff_id: Option<StaffId>,
    pub body: String,
    pub citations: Vec<Citation>,
}

impl NewMessage {
    /// What a customer wrote; `external_id` is the channel's id for it (dedup key).
    pub fn customer(
        conversation_id: ConversationId,
        channel: Channel,
        external_id: Option<String>,
        body: String,
    ) -> Self {
        Self {
            conversation_id,
            channel,
            external_id,
            role: Role::Customer,
            staff_id: None,
            body,
            citations: vec![],
        }
    }

    /// What the bot said, with the sources it cited.
    pub fn bot(
        conversation_id: ConversationId,
        channel: Channel,
        body: String,
        citations: Vec<Citation>,
    ) -> Self {
        Self {
            conversation_id,
            channel,
            external_id: None,
            role: Role::Bot,
            staff_id: None,
            body,
            citations,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// The channel the message was written or sent on.
    pub channel: Channel,
    pub external_id: Option<String>,
    pub role: Role,
    pub staff_id: Option<StaffId>,
    pub body: String,
    pub citations: Vec<Citation>,
    pub created_at: DateTime<Utc>,
}

/// Whether a message was new or a redelivery of one already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New(MessageId),
    Duplicate(MessageId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    pub id: HandoffId,
    pub conversation_id: ConversationId,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    pub claimed_by: Option<StaffId>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    pub id: StaffId,
    pub email: String,
    pub name: String,
    pub role: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub details: serde_json::Value,
}

/// Row counts for the status page and `kefu demo load`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub customers: i64,
    pub identities: i64,
    pub products: i64,
    pub orders: i64,
    pub order_lines: i64,
    pub shipments: i64,
    pub tracking_events: i64,
    pub documents: i64,
    pub conversations: i64,
    pub messages: i64,
    pub open_handoffs: i64,
}

impl Stats {
    pub fn is_empty_shop(&self) -> bool {
        self.customers == 0 && self.orders == 0 && self.products == 0 && self.documents == 0
    }
}
