//! The agent's tools, the same for both engines. Order tools take a [`Verified`] and read
//! only that customer's records (the SQL itself filters on the customer), so no prompt,
//! model output or message can reach another customer's data. Every tool call is traced,
//! and every fact a tool returns is recorded for the guard.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use kefu_knowledge::Knowledge;
use kefu_knowledge::index::{Filter, SourceKind};
use kefu_knowledge::search::{Found, SearchRequest};

use super::memory::Verified;
use super::settings::AgentSettings;
use crate::shop::{Currency, TrackingStatus};
use crate::slots::{OrderFormats, OrderRef};
use crate::store::{
    Actor, Address, ConversationId, Order, ReturnLine, Shipment, Store, StoreError, TrackingEvent,
};

/// One tool call, for `kefu chat`'s side line, the eval reports and the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCall {
    pub name: &'static str,
    pub input: String,
    pub output: String,
}

/// Facts tool results put on the table this conversation: the only order numbers,
/// tracking numbers and amounts a reply may contain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Facts {
    pub orders: BTreeSet<String>,
    pub tracking: BTreeSet<String>,
    /// Amounts as their digits (`12.50 USD` → `1250`).
    pub amounts: BTreeSet<String>,
    /// Calendar days (UTC) of the times in tool results: order, payment, shipping,
    /// tracking events, promised and delivery dates, return deadlines.
    #[serde(default)]
    pub dates: BTreeSet<chrono::NaiveDate>,
    /// Shipping addresses of the orders looked up, and new ones set, in the guard's
    /// compared form ([`super::guard::address_key`]).
    #[serde(default)]
    pub addresses: BTreeSet<String>,
}

impl Facts {
    pub fn amount(&mut self, formatted: &str) {
        self.amounts.insert(digits(formatted));
    }

    pub fn date(&mut self, at: DateTime<Utc>) {
        self.dates.insert(at.date_naive());
    }

    /// An address: whole, and each street line with its city (a reply may leave out
    /// the lines between).
    pub fn address(&mut self, a: &Address) {
        fn part(p: &Option<String>) -> &str {
            p.as_deref().unwrap_or_default()
        }
        let city = part(&a.city);
        let whole = [
            part(&a.address1),
            part(&a.address2),
            city,
            part(&a.province),
            part(&a.zip),
            part(&a.country),
        ]
        .join(" ");
        let mut keys = vec![super::guard::address_key(&whole)];
        for line in [&a.address1, &a.address2].into_iter().flatten() {
            keys.push(super::guard::address_key(&format!("{line} {city}")));
        }
        self.addresses
            .extend(keys.into_iter().filter(|k| !k.is_empty()));
    }

    fn parcel(&mut self, parcel: &Parcel) {
        self.tracking.insert(parcel.tracking_number.clone());
        let event = parcel.last_event.as_ref().map(|e| e.at);
        for at in [parcel.promised_by, parcel.delivered_at, event]
            .into_iter()
            .flatten()
        {
            self.date(at);
        }
    }

    pub fn extend(&mut self, other: &Facts) {
        self.orders.extend(other.orders.iter().cloned());
        self.tracking.extend(other.tracking.iter().cloned());
        self.amounts.extend(other.amounts.iter().cloned());
        self.dates.extend(other.dates.iter().copied());
    }
}

pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// An order's amount for people.
pub fn money(minor: i64, currency: &str) -> String {
    Currency::parse(currency)
        .map(|c| c.format(minor))
        .unwrap_or_else(|_| format!("{minor} {currency}"))
}

/// Where a parcel stands, with what a customer needs to know when it is late or stuck.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parcel {
    pub carrier: String,
    pub tracking_number: String,
    pub status: TrackingStatus,
    pub last_event: Option<TrackingEvent>,
    pub promised_by: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Days past the promised date, for a parcel not yet delivered.
    pub late_days: Option<i64>,
    /// Days since the last tracking event, when that is unusually long.
    pub stuck_days: Option<i64>,
    /// The carrier's words for a delay or an exception.
    pub problem: Option<String>,
}

/// Days without a tracking event after which a parcel in transit counts as stuck.
const STUCK_AFTER_DAYS: i64 = 4;

impl Parcel {
    pub fn of(shipment: &Shipment, now: DateTime<Utc>) -> Self {
        let last_event = shipment.events.last().cloned();
        let delivered =
            shipment.delivered_at.is_some() || shipment.status == TrackingStatus::Delivered;
        let moving = !delivered && shipment.status != TrackingStatus::Returned;
        let late_days = match shipment.promised_by {
            Some(p) if moving && now > p => Some(((now - p).num_hours() + 23) / 24),
            _ => None,
        };
        let stuck_days = last_event
            .as_ref()
            .map(|e| (now - e.at).num_days())
            .filter(|d| moving && *d >= STUCK_AFTER_DAYS);
        let problem = shipment
            .events
            .iter()
            .rev()
            .find(|e| {
                matches!(
                    e.status,
                    TrackingStatus::Delayed | TrackingStatus::Exception
                )
            })
            .filter(|_| moving)
            .and_then(|e| e.description.clone());
        Self {
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
            status: shipment.status,
            last_event,
            promised_by: shipment.promised_by,
            delivered_at: shipment.delivered_at,
            late_days,
            stuck_days,
            problem,
        }
    }
}

/// What happened to a return request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReturnOutcome {
    Created {
        id: i64,
        lines: Vec<ReturnLine>,
        excluded: Vec<String>,
    },
    AlreadyRequested {
        id: i64,
    },
    Cancelled,
    NotDelivered,
    WindowPassed {
        delivered: DateTime<Utc>,
        deadline: DateTime<Utc>,
    },
    /// Nothing in the order can be returned under the policy.
    Excluded {
        items: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChangeOutcome {
    Done,
    AlreadyCancelled {
        at: Option<DateTime<Utc>>,
    },
    /// Shipped already; the parcel, if any, for redirect advice.
    AlreadyShipped {
        parcel: Option<Parcel>,
    },
}

/// At most this many variants of a product are listed.
const OPTIONS_MAX: usize = 12;

/// A product found for a customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductHit {
    pub title: String,
    /// The variant the customer named ("size S"), when exactly one matches; `price` and
    /// `in_stock` are then that variant's.
    pub variant: Option<String>,
    pub price: Option<String>,
    pub in_stock: bool,
    pub url: Option<String>,
    pub doc_id: String,
    /// Its variants with price and stock, when the customer asked which there are
    /// ("which sizes?"); empty otherwise.
    pub options: Vec<ProductOption>,
}

/// One variant of a product as shown to a customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductOption {
    pub title: String,
    pub price: Option<String>,
    pub in_stock: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductResults {
    /// Products that clearly match.
    pub matches: Vec<ProductHit>,
    /// Closest products when nothing matches clearly.
    pub suggestions: Vec<ProductHit>,
    /// The best product's keyword (BM25) score, to weigh against the articles'.
    #[serde(skip)]
    pub best_keyword_score: Option<f32>,
}

/// The tools of one agent turn.
pub struct Tools<'a> {
    store: &'a Store,
    knowledge: Option<&'a Knowledge>,
    settings: &'a AgentSettings,
    conversation: ConversationId,
    pub calls: Vec<ToolCall>,
    pub facts: Facts,
    /// Documents retrieved this turn: the only ones a reply may cite.
    pub retrieved: BTreeSet<String>,
    /// Query embeddings computed this turn: the products and the articles are searched
    /// with the same words, and one embedding is a model inference.
    query_vectors: std::sync::Mutex<HashMap<String, Option<Vec<f32>>>>,
    /// The language the customer's message is written in, when replies go out in
    /// another one they chose: searches read the message by its own language's rules.
    pub written_in: Option<String>,
    /// The shop's order-name formats, to read the orders customers name.
    pub formats: std::sync::Arc<OrderFormats>,
}

impl<'a> Tools<'a> {
    pub fn new(
        store: &'a Store,
        knowledge: Option<&'a Knowledge>,
        settings: &'a AgentSettings,
        conversation: ConversationId,
    ) -> Self {
        Self {
            store,
            knowledge,
            settings,
            conversation,
            calls: Vec::new(),
            facts: Facts::default(),
            retrieved: BTreeSet::new(),
            query_vectors: std::sync::Mutex::default(),
            written_in: None,
            formats: std::sync::Arc::default(),
        }
    }

    pub fn settings(&self) -> &AgentSettings {
        self.settings
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    fn call(&mut self, name: &'static str, input: impl Into<String>, output: impl Into<String>) {
        self.calls.push(ToolCall {
            name,
            input: input.into(),
            output: output.into(),
        });
    }

    fn learn_order(&mut self, order: &Order) {
        self.facts.orders.insert(order.name.clone());
        if let Some(address) = &order.shipping_address {
            self.facts.address(address);
        }
        for amount in [
            order.total,
            order.subtotal,
            order.shipping,
            order.taxes,
            order.refunded,
        ] {
            self.facts.amount(&money(amount, &order.currency));
        }
        let times = [
            Some(order.created_at),
            order.paid_at,
            order.fulfilled_at,
            order.cancelled_at,
        ];
        for at in times.into_iter().flatten() {
            self.facts.date(at);
        }
    }

    /// The verified customer's orders, newest first.
    pub async fn list_orders(&mut self, who: Verified) -> Result<Vec<Order>, StoreError> {
        let orders = self.store.orders_of(who.customer()).await?;
        for o in &orders {
            self.learn_order(o);
        }
        self.call("list_orders", "", format!("{} orders", orders.len()));
        Ok(orders)
    }

    /// The verified customer's order a reference names (see
    /// [`Store::order_by_reference`]); `None` when it names none of theirs.
    pub async fn find_order(
        &self,
        who: Verified,
        reference: &OrderRef,
    ) -> Result<Option<Order>, StoreError> {
        self.store
            .order_by_reference(Some(who.customer()), reference, &self.formats)
            .await
    }

    /// One of the verified customer's orders, by its name however written. Another
    /// customer's order is reported exactly like one that does not exist.
    pub async fn order(&mut self, who: Verified, name: &str) -> Result<Option<Order>, StoreError> {
        let order = self
            .store
            .order_named(Some(who.customer()), name, &self.formats)
            .await?;
        match &order {
            Some(o) => {
                self.learn_order(o);
                self.call(
                    "order_details",
                    name,
                    format!("{} {}", o.status, o.fulfillment_status),
                );
            }
            None => self.call("order_details", name, "not found"),
        }
        Ok(order)
    }

    /// The parcels of one of the verified customer's orders.
    pub async fn tracking(
        &mut self,
        who: Verified,
        name: &str,
    ) -> Result<Option<(Order, Vec<Parcel>)>, StoreError> {
        let found = self
            .store
            .order_named(Some(who.customer()), name, &self.formats)
            .await?;
        let Some(order) = found else {
            self.call("track_shipment", name, "not found");
            return Ok(None);
        };
        self.learn_order(&order);
        let now = self.settings.now();
        let parcels: Vec<Parcel> = self
            .store
            .shipments_of(order.id)
            .await?
            .iter()
            .map(|s| Parcel::of(s, now))
            .collect();
        for p in &parcels {
            self.facts.parcel(p);
        }
        let summary = parcels
            .iter()
            .map(|p| format!("{} {} {}", p.carrier, p.tracking_number, p.status.as_str()))
            .collect::<Vec<_>>()
            .join("; ");
        self.call(
            "track_shipment",
            name,
            if summary.is_empty() {
                "no parcel".into()
            } else {
                summary
            },
        );
        Ok(Some((order, parcels)))
    }

    /// Opens a return for the eligible lines of a delivered order, within the policy.
    pub async fn start_return(
        &mut self,
        who: Verified,
        order: &Order,
    ) -> Result<ReturnOutcome, StoreError> {
        debug_assert_eq!(order.customer_id, Some(who.customer()));
        if order.customer_id != Some(who.customer()) {
            return Ok(ReturnOutcome::NotDelivered);
        }
        let outcome = self.decide_return(order).await?;
        let outcome = match outcome {
            ReturnOutcome::Created {
                lines, excluded, ..
            } => {
                let actor = Actor {
                    name: "agent",
                    conversation_id: Some(self.conversation),
                };
                let id = self
                    .store
                    .create_return_request(order.id, &lines, None, self.settings.now(), actor)
                    .await?;
                ReturnOutcome::Created {
                    id,
                    lines,
                    excluded,
                }
            }
            other => other,
        };
        self.call("start_return", &order.name, outcome_name(&outcome));
        Ok(outcome)
    }

    /// What opening a return for the order would come to, without opening it
    /// (`Created` with id 0: it can be opened).
    pub async fn check_return(
        &mut self,
        who: Verified,
        order: &Order,
    ) -> Result<ReturnOutcome, StoreError> {
        if order.customer_id != Some(who.customer()) {
            return Ok(ReturnOutcome::NotDelivered);
        }
        let outcome = self.decide_return(order).await?;
        self.call("check_return", &order.name, outcome_name(&outcome));
        Ok(outcome)
    }

    async fn decide_return(&mut self, order: &Order) -> Result<ReturnOutcome, StoreError> {
        if order.status == "cancelled" || order.cancelled_at.is_some() {
            return Ok(ReturnOutcome::Cancelled);
        }
        if let Some(existing) = self.store.return_requests_of(order.id).await?.last() {
            return Ok(ReturnOutcome::AlreadyRequested { id: existing.id });
        }
        let shipments = self.store.shipments_of(order.id).await?;
        let delivered = shipments.iter().filter_map(|s| s.delivered_at).max();
        let Some(delivered) = delivered else {
            return Ok(ReturnOutcome::NotDelivered);
        };
        let skus: Vec<String> = order.lines.iter().filter_map(|l| l.sku.clone()).collect();
        let tags = self.store.product_tags_by_sku(&skus).await?;
        let order_tags: Vec<String> = tags.values().flatten().cloned().collect();
        let window = self
            .settings
            .shop_policy
            .window_days(&order_tags, self.settings.returns.window_days);
        let deadline = delivered + Duration::days(window);
        self.facts.date(delivered);
        self.facts.date(deadline);
        if self.settings.now() > deadline {
            return Ok(ReturnOutcome::WindowPassed {
                delivered,
                deadline,
            });
        }
        let excluded_tags = &self.settings.returns.excluded_tags;
        let (mut lines, mut excluded) = (Vec::new(), Vec::new());
        for line in &order.lines {
            let blocked = line
                .sku
                .as_ref()
                .and_then(|s| tags.get(s))
                .is_some_and(|t| {
                    t.iter()
                        .any(|tag| excluded_tags.iter().any(|x| x.eq_ignore_ascii_case(tag)))
                });
            if blocked {
                excluded.push(line.name.clone());
            } else {
                lines.push(ReturnLine {
                    sku: line.sku.clone(),
                    name: line.name.clone(),
                    quantity: line.quantity,
                });
            }
        }
        if lines.is_empty() {
            return Ok(ReturnOutcome::Excluded { items: excluded });
        }
        Ok(ReturnOutcome::Created {
            id: 0,
            lines,
            excluded,
        })
    }

    /// Whether the order can still be cancelled or sent elsewhere: `None` when it can,
    /// else why not (the same rules the change itself applies), without changing it.
    pub async fn check_change(
        &mut self,
        who: Verified,
        order: &Order,
    ) -> Result<Option<ChangeOutcome>, StoreError> {
        let refused = self.refuse_change(who, order).await?;
        let label = refused.as_ref().map_or("possible", change_name);
        self.call("check_change", &order.name, label);
        Ok(refused)
    }

    async fn refuse_change(
        &mut self,
        who: Verified,
        order: &Order,
    ) -> Result<Option<ChangeOutcome>, StoreError> {
        if order.customer_id != Some(who.customer()) {
            return Ok(Some(ChangeOutcome::AlreadyCancelled { at: None }));
        }
        if order.status == "cancelled" || order.cancelled_at.is_some() {
            return Ok(Some(ChangeOutcome::AlreadyCancelled {
                at: order.cancelled_at,
            }));
        }
        let now = self.settings.now();
        let shipments = self.store.shipments_of(order.id).await?;
        let unshipped = order.status == "open"
            && matches!(order.fulfillment_status.as_str(), "unfulfilled" | "")
            && shipments.is_empty();
        if unshipped {
            return Ok(None);
        }
        let parcel = shipments.first().map(|s| Parcel::of(s, now));
        if let Some(p) = &parcel {
            self.facts.parcel(p);
        }
        Ok(Some(ChangeOutcome::AlreadyShipped { parcel }))
    }

    /// Cancels an order that has not shipped.
    pub async fn cancel(
        &mut self,
        who: Verified,
        order: &Order,
    ) -> Result<ChangeOutcome, StoreError> {
        let outcome = self.change(who, order, None).await?;
        self.call("cancel_order", &order.name, change_name(&outcome));
        Ok(outcome)
    }

    /// Sends an order that has not shipped to a new address.
    pub async fn change_address(
        &mut self,
        who: Verified,
        order: &Order,
        address: &Address,
    ) -> Result<ChangeOutcome, StoreError> {
        let outcome = self.change(who, order, Some(address)).await?;
        self.call("change_address", &order.name, change_name(&outcome));
        Ok(outcome)
    }

    async fn change(
        &mut self,
        who: Verified,
        order: &Order,
        address: Option<&Address>,
    ) -> Result<ChangeOutcome, StoreError> {
        if order.customer_id != Some(who.customer()) {
            return Ok(ChangeOutcome::AlreadyCancelled { at: None });
        }
        if order.status == "cancelled" || order.cancelled_at.is_some() {
            return Ok(ChangeOutcome::AlreadyCancelled {
                at: order.cancelled_at,
            });
        }
        let actor = Actor {
            name: "agent",
            conversation_id: Some(self.conversation),
        };
        let done = match address {
            None => {
                self.store
                    .cancel_order(order.id, self.settings.now(), actor)
                    .await?
            }
            Some(a) => {
                self.store
                    .change_shipping_address(order.id, a, self.settings.now(), actor)
                    .await?
            }
        };
        if done {
            if let Some(a) = address {
                self.facts.address(a);
            }
            return Ok(ChangeOutcome::Done);
        }
        let now = self.settings.now();
        let parcel = self
            .store
            .shipments_of(order.id)
            .await?
            .first()
            .map(|s| Parcel::of(s, now));
        if let Some(p) = &parcel {
            self.facts.parcel(p);
        }
        Ok(ChangeOutcome::AlreadyShipped { parcel })
    }

    /// Passages of the shop's articles that answer `text`, best first.
    pub async fn search_knowledge(&mut self, text: &str, lang: &str) -> Vec<Found> {
        let mut found = self.search(text, lang, SourceKind::Article, 3).await;
        // Documents are data: a passage that still carries hidden text or an instruction
        // to an assistant (an index built by an older kefu) is never quoted or prompted.
        found.retain(|f| {
            let carries = kefu_knowledge::planted::carries_instruction(&f.hit.passage.text);
            if carries {
                tracing::warn!(document = %f.hit.passage.doc_id, "left out a passage that carries an instruction to an assistant; run `kefu knowledge reindex`");
            }
            !carries
        });
        for f in &found {
            self.retrieved.insert(f.hit.passage.doc_id.clone());
        }
        let summary = found
            .iter()
            .map(|f| {
                format!(
                    "{}{}",
                    f.hit.passage.doc_id,
                    if f.confident { "" } else { "?" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        self.call("search_knowledge", text, summary);
        found
    }

    /// Records that the verified customer wants to be told when the product `text` names
    /// is back in stock (a `back_in_stock` campaign tells them). `None` when no product
    /// matches clearly.
    pub async fn notify_back_in_stock(
        &mut self,
        who: Verified,
        text: &str,
        lang: &str,
    ) -> Result<Option<(ProductHit, bool)>, StoreError> {
        let found = self.search_products(text, lang).await;
        let Some(product) = found.matches.into_iter().next() else {
            return Ok(None);
        };
        let recorded = self.stock_alert(who, &product).await?;
        Ok(Some((product, recorded)))
    }

    /// Records a stock alert for `product` when it is sold out; `false` when it is in
    /// stock (or is not a catalogue product).
    pub async fn stock_alert(
        &mut self,
        who: Verified,
        product: &ProductHit,
    ) -> Result<bool, StoreError> {
        let Some(handle) = product_handle(&product.doc_id).map(str::to_owned) else {
            return Ok(false);
        };
        if product.in_stock {
            return Ok(false);
        }
        self.store
            .record_events(&[crate::store::ShopEvent::StockAlert {
                customer: who.customer(),
                product: handle,
                at: self.settings.now(),
            }])
            .await?;
        Ok(true)
    }

    /// Products matching `text`; the closest ones as suggestions when none match well.
    pub async fn search_products(&mut self, text: &str, lang: &str) -> ProductResults {
        let found = self.search(text, lang, SourceKind::Product, 5).await;
        let hit = |f: &Found| ProductHit {
            title: f.hit.passage.title.clone(),
            variant: None,
            price: f.hit.passage.price.clone(),
            in_stock: f.hit.passage.in_stock.unwrap_or(true),
            url: f.hit.passage.url.clone(),
            doc_id: f.hit.passage.doc_id.clone(),
            options: Vec::new(),
        };
        let mut matches: Vec<ProductHit> = found.iter().filter(|f| f.confident).map(hit).collect();
        let mut suggestions: Vec<ProductHit> = if matches.is_empty() {
            found.iter().take(3).map(hit).collect()
        } else {
            Vec::new()
        };
        // "Cast iron teapots", "抹茶を点てる茶筅": results that never name the thing asked
        // for matched its qualifiers only. They become suggestions, and the thing itself
        // is looked up alone.
        if let Some(subject) = crate::intent::product_subject(text, lang) {
            let names = |f: &Found| names_subject(&f.hit.passage.text, &subject);
            let shown: Vec<&Found> = if matches.is_empty() {
                found.iter().take(3).collect()
            } else {
                found.iter().filter(|f| f.confident).collect()
            };
            if !shown.into_iter().any(names) {
                // On keywords only: a product is named by its words.
                let alone: Vec<ProductHit> = self
                    .search_keywords(&subject, lang, SourceKind::Product, 5)
                    .await
                    .iter()
                    .filter(|f| names(f))
                    .map(hit)
                    .collect();
                if !alone.is_empty() && !matches.is_empty() {
                    // The qualifiers were only context ("緑茶用の急須"): these are it.
                    matches = alone;
                } else if !alone.is_empty() {
                    // Nothing like it ("cast iron"): the closest kind instead.
                    suggestions = alone.into_iter().take(3).collect();
                } else if !matches.is_empty() {
                    suggestions = std::mem::take(&mut matches).into_iter().take(3).collect();
                }
            }
        }
        self.show_in_language(lang, &mut matches).await;
        self.show_in_language(lang, &mut suggestions).await;
        // Variant titles are listed in each product passage ("- S: 129.00 EUR"): only a
        // product whose listed variants the message names is read from the store.
        let listed: HashMap<String, String> = found
            .iter()
            .filter_map(|f| {
                let handle = product_handle(&f.hit.passage.doc_id)?;
                Some((handle.to_owned(), f.hit.passage.text.clone()))
            })
            .collect();
        self.name_variants(text, &listed, &mut matches).await;
        self.name_variants(text, &listed, &mut suggestions).await;
        // "Which sizes do the Thermo insoles come in?": the one product the message
        // names (or the only match) with its variants.
        if crate::slots::asks_for_options(text) {
            let words = crate::slots::words(text);
            let named: Vec<usize> = (0..matches.len())
                .filter(|i| names_whole_title(&words, &matches[*i].title))
                .collect();
            let pick = match (named.as_slice(), matches.len()) {
                ([one], _) => Some(*one),
                (_, 1) => Some(0),
                _ => None,
            };
            if let Some(hit) = pick.and_then(|i| matches.get_mut(i))
                && hit.variant.is_none()
            {
                self.list_options(hit).await;
            }
        }
        for p in matches.iter().chain(&suggestions) {
            self.retrieved.insert(p.doc_id.clone());
            let prices = p
                .price
                .iter()
                .chain(p.options.iter().filter_map(|o| o.price.as_ref()));
            for price in prices {
                for part in price.split('–') {
                    self.facts.amount(part);
                }
            }
        }
        self.call(
            "search_products",
            text,
            format!(
                "{} matches, {} suggestions",
                matches.len(),
                suggestions.len()
            ),
        );
        ProductResults {
            matches,
            suggestions,
            best_keyword_score: found
                .iter()
                .filter_map(|f| f.hit.sparse_score)
                .reduce(f32::max),
        }
    }

    /// "Which sizes are there?": the product's variants, at most [`OPTIONS_MAX`].
    async fn list_options(&self, hit: &mut ProductHit) {
        let Some(variants) = self.variants_of(&hit.doc_id).await else {
            return;
        };
        hit.options = variants
            .iter()
            .take(OPTIONS_MAX)
            .map(|v| ProductOption {
                title: v.title.clone(),
                price: variant_price(v),
                in_stock: v.stock.is_none_or(|n| n > 0),
            })
            .collect();
    }

    /// The variants of the product a product passage's document id names, when it has
    /// more than one; `None` otherwise (a failed read is logged).
    async fn variants_of(&self, doc_id: &str) -> Option<Vec<crate::store::VariantRecord>> {
        let handle = product_handle(doc_id)?;
        match self.store.product_by_handle(handle).await {
            Ok(Some(product)) if product.variants.len() >= 2 => Some(product.variants),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, handle, "reading a product's variants failed");
                None
            }
        }
    }

    /// "The Vertex helmet in size S": each product whose variants the message names
    /// exactly one of is shown as that variant, with its own price and stock.
    async fn name_variants(
        &self,
        text: &str,
        listed: &HashMap<String, String>,
        hits: &mut [ProductHit],
    ) {
        let words = crate::slots::words(text);
        if words.is_empty() {
            return;
        }
        for hit in hits {
            let names_a_listed_variant = product_handle(&hit.doc_id)
                .and_then(|handle| listed.get(handle))
                .is_some_and(|passage| {
                    passage.lines().any(|line| {
                        line.strip_prefix("- ")
                            .and_then(|rest| rest.rsplit_once(": "))
                            .is_some_and(|(title, _)| crate::slots::names_variant(&words, title))
                    })
                });
            if !names_a_listed_variant {
                continue;
            }
            let Some(variants) = self.variants_of(&hit.doc_id).await else {
                continue;
            };
            let named: Vec<_> = variants
                .iter()
                .filter(|v| crate::slots::names_variant(&words, &v.title))
                .collect();
            if let [variant] = named.as_slice() {
                hit.variant = Some(variant.title.clone());
                hit.in_stock = variant.stock.is_none_or(|n| n > 0);
                if let Some(price) = variant_price(variant) {
                    hit.price = Some(price);
                }
            }
        }
    }

    /// The query embedding of `text` (`None` without a model), computed once per turn:
    /// intent recognition reads the same vector the searches use.
    pub async fn query_embedding(&self, text: &str) -> Option<Vec<f32>> {
        let knowledge = self.knowledge?;
        match self.query_vector(knowledge, text).await {
            Ok(vector) => vector,
            Err(e) => {
                tracing::error!(error = %e, "query embedding failed");
                None
            }
        }
    }

    /// Titles and cites each product in the customer's language (or its fallback, see
    /// [`crate::translations::pick`]): a product found through another language's
    /// passage, such as an English customer asking for it by its Japanese name, is still
    /// shown by the name the customer reads.
    async fn show_in_language(&self, lang: &str, hits: &mut [ProductHit]) {
        for hit in hits {
            // `product:{handle}:{lang}`
            let Some((handle, found_in)) = hit
                .doc_id
                .strip_prefix("product:")
                .and_then(|rest| rest.rsplit_once(':'))
                .map(|(h, l)| (h.to_owned(), l.to_owned()))
            else {
                continue;
            };
            if kefu_knowledge::search::same_language(lang, &found_in) {
                continue;
            }
            let product = match self.store.product_by_handle(&handle).await {
                Ok(Some(product)) => product,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a found product's translations");
                    continue;
                }
            };
            if let Some(text) = product.text_for(lang, &self.settings.default_language) {
                hit.title = text.title.clone();
                hit.doc_id = format!("product:{handle}:{}", text.lang);
            }
        }
    }

    async fn search(&self, text: &str, lang: &str, kind: SourceKind, top: usize) -> Vec<Found> {
        self.search_with(text, lang, kind, top, true).await
    }

    /// The passages of the article `passage` belongs to (in its language), each with its
    /// similarity in meaning to `text`, best first; empty without a model.
    pub async fn passages_by_meaning(
        &self,
        passage: &kefu_knowledge::index::Passage,
        text: &str,
    ) -> Vec<kefu_knowledge::index::Hit> {
        let Some(knowledge) = self.knowledge else {
            return Vec::new();
        };
        let Ok(Some(vector)) = self.query_vector(knowledge, text).await else {
            return Vec::new();
        };
        knowledge
            .passages_by_meaning(&passage.group, &passage.lang, vector)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading an article's passages failed");
                Vec::new()
            })
    }

    /// The query's embedding (`None` without a model), computed once per turn.
    async fn query_vector(
        &self,
        knowledge: &Knowledge,
        text: &str,
    ) -> Result<Option<Vec<f32>>, kefu_knowledge::KnowledgeError> {
        let known = self
            .query_vectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(text)
            .cloned();
        if let Some(vector) = known {
            return Ok(vector);
        }
        let vector = knowledge.embed_query(text).await?;
        self.query_vectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(text.to_string(), vector.clone());
        Ok(vector)
    }

    async fn search_keywords(
        &self,
        text: &str,
        lang: &str,
        kind: SourceKind,
        top: usize,
    ) -> Vec<Found> {
        self.search_with(text, lang, kind, top, false).await
    }

    async fn search_with(
        &self,
        text: &str,
        lang: &str,
        kind: SourceKind,
        top: usize,
        dense: bool,
    ) -> Vec<Found> {
        let Some(knowledge) = self.knowledge else {
            return Vec::new();
        };
        let request = SearchRequest {
            text: text.to_string(),
            lang: Some(lang.to_string()),
            written_in: self.written_in.clone().filter(|w| w != lang),
            top,
            filter: Filter {
                kinds: vec![kind],
                ..Filter::default()
            },
        };
        let result = if dense {
            match self.query_vector(knowledge, text).await {
                Ok(vector) => knowledge.search_embedded(&request, vector).await,
                Err(e) => Err(e),
            }
        } else {
            knowledge.search_embedded(&request, None).await
        };
        match result {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "knowledge search failed");
                Vec::new()
            }
        }
    }
}

/// A variant's price as shown to customers ("129.00 EUR"); `None` for an unknown currency.
fn variant_price(variant: &crate::store::VariantRecord) -> Option<String> {
    Currency::parse(&variant.currency)
        .ok()
        .map(|c| c.format(variant.price))
}

/// Whether the message's `words` name every word of a product title of three letters or
/// more, inflected or not ("beheizbaren Einlegesohlen" names "Thermo beheizbare
/// Einlegesohlen" only with "Thermo" too).
fn names_whole_title(words: &[String], title: &str) -> bool {
    let title_words: Vec<String> = crate::slots::words(title)
        .into_iter()
        .filter(|w| w.chars().count() >= 3)
        .collect();
    let same = |a: &str, b: &str| {
        a == b || {
            let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
            common >= 5
        }
    };
    !title_words.is_empty() && title_words.iter().all(|t| words.iter().any(|w| same(w, t)))
}

/// Whether a product passage names the subject of a question, singular or plural.
fn names_subject(passage: &str, subject: &str) -> bool {
    let passage = passage.to_lowercase();
    let subject = subject.to_lowercase();
    let singular = subject
        .strip_suffix("es")
        .filter(|s| s.ends_with(['s', 'x', 'h']))
        .or_else(|| subject.strip_suffix('s'))
        .unwrap_or(&subject);
    passage.contains(&subject) || (singular.chars().count() >= 3 && passage.contains(singular))
}

fn outcome_name(o: &ReturnOutcome) -> String {
    match o {
        ReturnOutcome::Created { id: 0, .. } => "can be opened".into(),
        ReturnOutcome::Created { id, .. } => format!("created R-{id}"),
        ReturnOutcome::AlreadyRequested { id } => format!("already requested R-{id}"),
        ReturnOutcome::Cancelled => "order cancelled".into(),
        ReturnOutcome::NotDelivered => "not delivered".into(),
        ReturnOutcome::WindowPassed { .. } => "window passed".into(),
        ReturnOutcome::Excluded { .. } => "items excluded".into(),
    }
}

fn change_name(o: &ChangeOutcome) -> &'static str {
    match o {
        ChangeOutcome::Done => "done",
        ChangeOutcome::AlreadyCancelled { .. } => "already cancelled",
        ChangeOutcome::AlreadyShipped { .. } => "already shipped",
    }
}

/// The product handle in a product passage's document id (`product:{handle}:{lang}`).
fn product_handle(doc_id: &str) -> Option<&str> {
    doc_id
        .strip_prefix("product:")
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(handle, _)| handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_named_by_all_its_words_inflected_or_not() {
        let words = |t: &str| crate::slots::words(t);
        let q = words("Welche Größen gibt es bei den Thermo beheizbaren Einlegesohlen?");
        assert!(names_whole_title(&q, "Thermo beheizbare Einlegesohlen"));
        assert!(!names_whole_title(&q, "Thermo beheizbare Handschuhe"));
        assert!(crate::slots::asks_for_options("Welche Größen gibt es?"));
        assert!(crate::slots::asks_for_options(
            "which colours does it come in"
        ));
        assert!(!crate::slots::asks_for_options("where is my order?"));
    }
}
