//! The demo shop "Lotus & Pine": a realistic, deterministic (seeded) shop with FAQ
//! articles in six languages, a catalogue of 385 products, customers across eleven
//! countries with channel identities, two years of orders with repeat-purchase rhythms
//! (so RFM segments mean something), and parcels with tracking events, some delayed.
//!
//! The same generator feeds `kefu demo load` (straight into the database) and
//! `kefu demo generate` (Shopify-format CSV files of any size, for benchmarks).

pub mod catalog;
mod csv_out;
mod faq_files;
pub mod people;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};

pub use csv_out::{GenerateSummary, write_csv};
pub use faq_files::FAQ_FILES;

use crate::shop::{Channel, Currency, Email, OrderStatus, Phone, TrackingStatus};
use crate::store::{
    Address, Buyer, Consent, Counts, CustomerRecord, LineRecord, Merge, OrderCounts, OrderRecord,
    ProductRecord, ProductText, ShipmentRecord, Store, StoreError, TrackingEvent, VariantRecord,
};
use people::{COUNTRIES, Country, PERSONAS};

/// How big a demo shop to make, and from which seed.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub seed: u64,
    pub customers: usize,
    pub orders: usize,
    /// The shop's "today": orders span the two years before it.
    pub today: NaiveDate,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 2026,
            customers: 2_400,
            orders: 21_000,
            today: Utc::now().date_naive(),
        }
    }
}

impl DemoConfig {
    /// The moment the data describes: noon UTC of `today`. Nothing happens after it.
    pub fn now(&self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.today.and_hms_opt(12, 0, 0).unwrap_or_default())
    }

    fn start(&self) -> DateTime<Utc> {
        self.now() - Duration::days(730)
    }
}

/// SplitMix64: tiny, fast, and stable forever, so a seed always gives the same shop.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64, index: u64) -> Self {
        let mut r = Rng(seed
            ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len().max(1) as u64) as usize]
    }

    /// Index drawn with the given relative weights.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| *w as u64).sum();
        let mut x = self.next_u64() % total.max(1);
        for (i, w) in weights.iter().enumerate() {
            if x < *w as u64 {
                return i;
            }
            x -= *w as u64;
        }
        weights.len().saturating_sub(1)
    }
}

const STREAM_CUSTOMER: u64 = 1;
const STREAM_ORDER: u64 = 2;
const STREAM_PRODUCT: u64 = 3;

/// One sellable product of the demo catalogue (one item in one variant).
#[derive(Debug, Clone)]
pub struct DemoProduct {
    pub sku: String,
    pub title_en: String,
    pub price: i64,
    pub vendor: &'static str,
    pub popularity: u32,
    pub grams: i64,
    pub record: ProductRecord,
}

/// The catalogue: every item of every category in every variant, with texts in six
/// languages. Stock is seeded; a few products are sold out.
pub fn products(seed: u64) -> Vec<DemoProduct> {
    let mut out = Vec::new();
    for category in catalog::CATEGORIES {
        for item in category.items {
            for variant in category.variants {
                let index = out.len() as u64;
                let mut rng = Rng::new(seed, STREAM_PRODUCT, index);
                let translations: Vec<ProductText> = catalog::LANGS
                    .iter()
                    .enumerate()
                    .map(|(l, lang)| {
                        let title = category.title_pattern[l]
                            .replace("{item}", item.names[l])
                            .replace("{variant}", variant.names[l]);
                        let description = category.description_pattern[l]
                            .replace("{title}", &title)
                            .replace("{feature}", item.feature[l]);
                        ProductText {
                            lang: lang.to_string(),
                            title,
                            description,
                        }
                    })
                    .collect();
                let title_en = translations
                    .first()
                    .map(|t| t.title.clone())
                    .unwrap_or_default();
                let price = (item.base_price_cents + variant.price_delta_cents).max(100);
                let sku = format!("LP-{}-{}", item.key, variant.key).to_uppercase();
                let stock = if rng.chance(0.05) {
                    0
                } else {
                    rng.range(3, 240)
                };
                let mut tags: Vec<String> = category.tags.iter().map(|t| t.to_string()).collect();
                tags.push(category.key.to_string());
                tags.sort();
                tags.dedup();
                let record = ProductRecord {
                    handle: format!("{}-{}", item.key, variant.key),
                    vendor: Some(category.vendor.to_string()),
                    product_type: Some(category.product_type.to_string()),
                    tags,
                    published: true,
                    image_url: Some(format!(
                        "https://lotusandpine.example/images/{}-{}.jpg",
                        item.key, variant.key
                    )),
                    translations,
                    variants: vec![VariantRecord {
                        sku: Some(sku.clone()),
                        title: variant.names[0].to_string(),
                        price,
                        compare_at: rng.chance(0.12).then_some(price + price / 5),
                        currency: "USD".into(),
                        stock: Some(stock),
                        grams: Some(item.grams),
                    }],
                    created_at: None,
                };
                // A long tail: a few best-sellers, many occasional products.
                let popularity = (1000.0 / (1.0 + (rng.unit() * 60.0))).round() as u32 + 1;
                out.push(DemoProduct {
                    sku,
                    title_en,
                    price,
                    vendor: category.vendor,
                    popularity,
                    grams: item.grams,
                    record,
                });
            }
        }
    }
    out
}

/// One demo customer and their buying pattern.
#[derive(Debug, Clone)]
pub struct DemoCustomer {
    pub index: usize,
    pub record: CustomerRecord,
    pub name: String,
    pub address: Address,
    pub country: &'static Country,
    /// Relative share of the shop's orders (0 for customers who never ordered).
    pub weight: f64,
    /// Bought exactly once.
    pub one_time: bool,
    /// When this customer's orders fall: first order to last (churned customers stop early).
    pub window: (DateTime<Utc>, DateTime<Utc>),
    pub accepts_email: bool,
}

/// Customer `i` of the demo shop: a pure function of the seed and `i`.
pub fn customer(cfg: &DemoConfig, i: usize) -> DemoCustomer {
    let mut rng = Rng::new(cfg.seed, STREAM_CUSTOMER, i as u64);
    let persona = PERSONAS.get(i);
    let country = match persona {
        Some(p) => COUNTRIES
            .iter()
            .find(|c| c.code == p.country)
            .unwrap_or(&COUNTRIES[0]),
        None => &COUNTRIES[rng.weighted(&COUNTRIES.iter().map(|c| c.share).collect::<Vec<_>>())],
    };
    let (name, email_local) = match persona {
        Some(p) => (p.name.to_string(), p.email_local.to_string()),
        None => {
            let (given, given_latin) = *rng.pick(country.given);
            let (family, family_latin) = *rng.pick(country.family);
            let name = if country.family_first {
                format!("{family}{given}")
            } else {
                format!("{given} {family}")
            };
            (
                name,
                format!(
                    "{}.{}{}",
                    ascii_fold(given_latin),
                    ascii_fold(family_latin),
                    i
                ),
            )
        }
    };
    let domain = ["example.com", "example.net", "example.org"][i % 3];
    let email = Email::parse(&format!(
        "{email_local}@{}",
        if persona.is_some() {
            "example.com"
        } else {
            domain
        }
    ))
    .ok();
    let phone = Phone::parse(&format!(
        "{}{}",
        country.dial,
        200_000_000 + rng.range(0, 699_999_999)
    ))
    .ok();
    let city = rng.pick(country.cities);
    let address = Address {
        name: Some(name.clone()),
        company: None,
        address1: Some(format!("{} {}", rng.range(1, 240), city.street)),
        address2: rng.chance(0.2).then(|| format!("Apt {}", rng.range(1, 40))),
        city: Some(city.name.to_string()),
        zip: Some(city.zip.to_string()),
        province: (!city.province.is_empty()).then(|| city.province.to_string()),
        country: Some(country.code.to_string()),
        phone: phone.as_ref().map(|p| p.as_str().to_string()),
    };
    let now = cfg.now();
    let start = cfg.start();
    let span = (now - start).num_seconds();
    // Buying intensity: ~8% never ordered, ~40% bought once, the rest repeat with a
    // log-normal intensity (a loyal core buys far more often than most).
    let (weight, one_time) = match persona {
        Some(p) => (p.weight, false),
        None if rng.chance(0.08) => (0.0, false),
        None if rng.chance(0.43) => (0.0, true),
        None => {
            let z = (-2.0 * (1.0 - rng.unit()).ln()).sqrt()
                * (std::f64::consts::TAU * rng.unit()).cos();
            ((1.1 * z).exp().min(5.0), false)
        }
    };
    let first = match persona {
        Some(_) => start + Duration::days(rng.range(20, 200)),
        None => start + Duration::seconds((span as f64 * rng.unit().powf(0.8) * 0.97) as i64),
    };
    // A third of customers drift away at some point; the rest stay active until now.
    let last = if persona.is_none() && rng.chance(0.33) {
        first + Duration::seconds(((now - first).num_seconds() as f64 * rng.unit()) as i64)
    } else if persona.is_some() {
        now - Duration::hours(30)
    } else {
        now - Duration::hours(rng.range(2, 24 * 20))
    };
    let created = first - Duration::days(rng.range(0, 20));
    let mut identities = Vec::new();
    let telegram = persona.is_some() || rng.chance(country.telegram_share);
    if telegram {
        identities.push((
            Channel::Telegram,
            (5_000_000_000u64 + rng.next_u64() % 2_000_000_000).to_string(),
            true,
        ));
    }
    if persona.is_some() || rng.chance(0.12) {
        identities.push((
            Channel::Discord,
            (900_000_000_000_000_000u64 + rng.next_u64() % 90_000_000_000_000_000).to_string(),
            true,
        ));
    }
    let accepts_email = persona.is_some() || rng.chance(0.55);
    let mut consents = vec![Consent {
        channel: Channel::Email,
        granted: accepts_email,
        source: "checkout".into(),
        at: created,
    }];
    if telegram {
        consents.push(Consent {
            channel: Channel::Telegram,
            granted: rng.chance(0.7),
            source: "telegram /start".into(),
            at: created + Duration::days(1),
        });
    }
    let mut tags = Vec::new();
    if weight > 2.5 {
        tags.push("vip".to_string());
    }
    if rng.chance(0.1) {
        tags.push("newsletter".to_string());
    }
    let record = CustomerRecord {
        email,
        phone,
        name: Some(name.clone()),
        locale: Some(country.locale.to_string()),
        time_zone: Some(rng.pick(country.time_zones).to_string()),
        country: Some(country.code.to_string()),
        tags,
        attributes: serde_json::Map::new(),
        identities,
        consents,
        created_at: Some(created),
    };
    DemoCustomer {
        index: i,
        record,
        name,
        address,
        country,
        weight,
        one_time,
        window: (first, last.max(first)),
        accepts_email,
    }
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' => Some('a'),
            'é' | 'è' | 'ê' | 'ë' => Some('e'),
            'í' | 'ì' | 'î' | 'ï' => Some('i'),
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => Some('o'),
            'ú' | 'ù' | 'û' | 'ü' => Some('u'),
            'ñ' => Some('n'),
            'ç' => Some('c'),
            'ß' => Some('s'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// When each order happens and whose it is: (time, customer index, n-th order of that
/// customer), sorted by time. Exactly `cfg.orders` entries.
#[allow(clippy::type_complexity)]
pub fn schedule(cfg: &DemoConfig) -> Vec<(DateTime<Utc>, u32, u32)> {
    let customers: Vec<(f64, bool, (DateTime<Utc>, DateTime<Utc>))> = (0..cfg.customers)
        .map(|i| {
            let c = customer(cfg, i);
            (c.weight, c.one_time, c.window)
        })
        .collect();
    let one_timers = customers.iter().filter(|c| c.1).count().min(cfg.orders);
    let repeat_orders = cfg.orders - one_timers;
    let total: f64 = customers.iter().map(|c| c.0).sum();
    let mut out = Vec::with_capacity(cfg.orders);
    // One-time buyers get one order each (while orders last); repeat buyers share the rest
    // by systematic allocation: customer i gets floor(R*C_i/W) - floor(R*C_(i-1)/W), which
    // sums to exactly R.
    let mut cumulative = 0.0;
    let mut allocated = 0usize;
    let mut singles = 0usize;
    let last_weighted = customers.iter().rposition(|c| c.0 > 0.0);
    for (i, (weight, one_time, (first, last))) in customers.iter().enumerate() {
        let n = if *one_time {
            if singles < one_timers {
                singles += 1;
                1
            } else {
                0
            }
        } else if total > 0.0 {
            cumulative += weight;
            let upto = ((repeat_orders as f64) * cumulative / total).floor() as usize;
            let upto = if Some(i) == last_weighted {
                repeat_orders
            } else {
                upto.min(repeat_orders)
            };
            let n = upto.saturating_sub(allocated);
            allocated += n;
            n
        } else {
            0
        };
        let mut rng = Rng::new(cfg.seed, STREAM_ORDER, i as u64);
        let span = (*last - *first).num_seconds().max(1) as f64;
        // A regular rhythm with some jitter: what churn scoring looks for.
        for k in 0..n {
            let base = if n == 1 {
                0.0
            } else {
                k as f64 / (n - 1) as f64
            };
            let jitter = if n == 1 {
                0.0
            } else {
                (rng.unit() - 0.5) * 0.6 / (n - 1) as f64
            };
            let t = *first + Duration::seconds((span * (base + jitter).clamp(0.0, 1.0)) as i64);
            out.push((t.min(cfg.now() - Duration::minutes(5)), i as u32, k as u32));
        }
    }
    out.sort();
    out
}

/// A parcel of a demo order, before it has an order id.
#[derive(Debug, Clone)]
pub struct DemoShipment {
    pub order_name: String,
    pub carrier: &'static str,
    pub tracking_number: String,
    pub promised_by: DateTime<Utc>,
    pub events: Vec<TrackingEvent>,
}

/// The `seq`-th order of the shop (named `#1001 + seq`), placed at `at` by `buyer`.
pub fn order(
    cfg: &DemoConfig,
    catalogue: &[DemoProduct],
    popularity: &[u32],
    buyer: &DemoCustomer,
    seq: usize,
    at: DateTime<Utc>,
    nth: u32,
) -> (OrderRecord, Option<DemoShipment>) {
    let mut rng = Rng::new(cfg.seed, STREAM_ORDER ^ 0xABCD, seq as u64);
    let name = format!("#{}", 1001 + seq);
    let now = cfg.now();
    let line_count =
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5][rng.range(0, 19) as usize];
    let mut lines: Vec<LineRecord> = Vec::with_capacity(line_count);
    let mut chosen: Vec<usize> = Vec::with_capacity(line_count);
    for _ in 0..line_count {
        let p = rng.weighted(popularity);
        if chosen.contains(&p) {
            continue;
        }
        chosen.push(p);
        let product = &catalogue[p];
        let quantity = [1, 1, 1, 1, 1, 1, 2, 2, 3, 1][rng.range(0, 9) as usize];
        lines.push(LineRecord {
            sku: Some(product.sku.clone()),
            name: product.title_en.clone(),
            quantity,
            price: product.price,
            compare_at: None,
            discount: 0,
            requires_shipping: true,
            taxable: true,
            fulfillment_status: None,
            vendor: Some(product.vendor.to_string()),
        });
    }
    let subtotal: i64 = lines.iter().map(|l| l.price * l.quantity).sum();
    let is_live_day = matches!(at.weekday(), Weekday::Thu | Weekday::Fri) && rng.chance(0.25);
    let (codes, discount) = if nth == 0 && rng.chance(0.4) {
        (vec!["WELCOME10".to_string()], subtotal / 10)
    } else if is_live_day {
        (vec!["LIVE15".to_string()], subtotal * 15 / 100)
    } else if subtotal > 3000 && rng.chance(0.08) {
        (vec!["PINE5".to_string()], 500)
    } else {
        (Vec::new(), 0)
    };
    let express = rng.chance(0.1);
    let shipping = if express {
        1490
    } else if subtotal - discount >= 5000 {
        0
    } else {
        595
    };
    let taxes = if buyer.country.code == "US" {
        (subtotal - discount) * 7 / 100
    } else {
        0
    };
    let total = subtotal - discount + shipping + taxes;

    let age = now - at;
    let cancelled = age > Duration::hours(6) && rng.chance(0.015);
    let pending_payment = !cancelled && age < Duration::hours(20) && rng.chance(0.05);
    let processing = Duration::minutes(rng.range(30, 60 * 30));
    let fulfilled_at =
        (!cancelled && !pending_payment && age > processing).then_some(at + processing);
    let mut refunded = 0;
    let mut financial = if pending_payment { "pending" } else { "paid" };
    if cancelled {
        financial = "refunded";
        refunded = total;
    } else if fulfilled_at.is_some() && age > Duration::days(12) && rng.chance(0.03) {
        financial = "partially_refunded";
        refunded = lines.first().map(|l| l.price).unwrap_or(0);
    }
    let fulfillment = if fulfilled_at.is_some() {
        "fulfilled"
    } else {
        "unfulfilled"
    };
    for line in &mut lines {
        line.fulfillment_status = fulfilled_at.map(|_| "fulfilled".to_string());
    }
    let record = OrderRecord {
        name: name.clone(),
        external_id: Some((5_600_000_000_000u64 + seq as u64 * 7919).to_string()),
        buyer: Buyer {
            email: buyer.record.email.clone(),
            phone: buyer.record.phone.clone(),
            name: Some(buyer.name.clone()),
            country: Some(buyer.country.code.to_string()),
            accepts_email: Some(buyer.accepts_email),
        },
        currency: Currency::USD,
        status: if cancelled {
            OrderStatus::Cancelled
        } else {
            OrderStatus::Open
        },
        financial_status: Some(financial.to_string()),
        fulfillment_status: fulfillment.to_string(),
        subtotal,
        shipping,
        taxes,
        discount,
        total,
        refunded,
        discount_codes: codes,
        shipping_method: Some(if express { "Express" } else { "Standard" }.to_string()),
        shipping_address: Some(buyer.address.clone()),
        billing_name: Some(buyer.name.clone()),
        payment_method: Some(rng.pick(buyer.country.payment_methods).to_string()),
        note: rng.chance(0.03).then(|| "Please gift wrap.".to_string()),
        tags: Vec::new(),
        source: Some(
            if rng.chance(0.7) {
                "web"
            } else {
                "shopify_draft_order"
            }
            .to_string(),
        ),
        created_at: at,
        paid_at: (!pending_payment).then_some(at + Duration::seconds(rng.range(2, 90))),
        fulfilled_at,
        cancelled_at: cancelled.then(|| at + Duration::hours(rng.range(1, 5))),
        lines,
    };
    let shipment =
        fulfilled_at.map(|shipped| parcel(&mut rng, buyer.country, &name, shipped, express, now));
    (record, shipment)
}

/// A parcel's journey up to `now`: label, transit, perhaps a delay or an exception,
/// out for delivery, delivered.
fn parcel(
    rng: &mut Rng,
    country: &Country,
    order_name: &str,
    shipped: DateTime<Utc>,
    express: bool,
    now: DateTime<Utc>,
) -> DemoShipment {
    let carrier = *rng.pick(country.carriers);
    let tracking_number = match carrier {
        "UPS" => format!(
            "1Z{:06X}{:010}",
            rng.next_u64() % 0xFF_FFFF,
            rng.next_u64() % 10_000_000_000
        ),
        "USPS" => format!("9400{:018}", rng.next_u64() % 1_000_000_000_000_000_000),
        "SF Express" => format!("SF{:012}", rng.next_u64() % 1_000_000_000_000),
        "Correos" => format!("PK{:09}ES", rng.next_u64() % 1_000_000_000),
        _ => format!("{:010}", rng.next_u64() % 10_000_000_000),
    };
    let (lo, hi) = if express {
        (1, 3)
    } else {
        country.transit_days
    };
    // Business days to calendar days, roughly.
    let promised_by = shipped + Duration::days(hi * 7 / 5 + 1);
    let mut arrive = shipped + Duration::hours(rng.range(lo * 24, hi * 24) * 7 / 5);
    let warehouse = if country.eu_warehouse {
        "Rotterdam, NL"
    } else {
        "Edison, NJ, US"
    };
    let destination = format!(
        "{}, {}",
        country.cities.first().map(|c| c.name).unwrap_or(""),
        country.code
    );
    let mut events = vec![
        TrackingEvent {
            at: shipped,
            status: TrackingStatus::LabelCreated,
            location: Some(warehouse.into()),
            description: Some("Shipping label created".into()),
        },
        TrackingEvent {
            at: shipped + Duration::hours(rng.range(6, 20)),
            status: TrackingStatus::InTransit,
            location: Some(warehouse.into()),
            description: Some("Departed facility".into()),
        },
    ];
    let trouble = rng.unit();
    let mut returned = false;
    if trouble < 0.07 {
        let at = promised_by - Duration::hours(rng.range(12, 48));
        let reason = *rng.pick(&[
            "Weather delay",
            "Carrier capacity delay",
            "Missed connection at hub",
        ]);
        events.push(TrackingEvent {
            at,
            status: TrackingStatus::Delayed,
            location: Some(destination.clone()),
            description: Some(reason.into()),
        });
        arrive = promised_by + Duration::days(rng.range(3, 8));
    } else if trouble < 0.09 {
        let at = shipped + Duration::days(rng.range(2, 4));
        let reason = *rng.pick(&[
            "Address incomplete, contact the carrier",
            "Held at customs",
            "Recipient not available",
        ]);
        events.push(TrackingEvent {
            at,
            status: TrackingStatus::Exception,
            location: Some(destination.clone()),
            description: Some(reason.into()),
        });
        arrive = at + Duration::days(rng.range(5, 10));
        returned = rng.chance(0.35);
    }
    if returned {
        events.push(TrackingEvent {
            at: arrive,
            status: TrackingStatus::Returned,
            location: Some(warehouse.into()),
            description: Some("Returned to sender".into()),
        });
    } else {
        let mid = shipped + (arrive - shipped) / 2;
        events.push(TrackingEvent {
            at: mid,
            status: TrackingStatus::InTransit,
            location: Some(destination.clone()),
            description: Some("Arrived at sort facility".into()),
        });
        events.push(TrackingEvent {
            at: arrive - Duration::hours(6),
            status: TrackingStatus::OutForDelivery,
            location: Some(destination.clone()),
            description: Some("Out for delivery".into()),
        });
        events.push(TrackingEvent {
            at: arrive,
            status: TrackingStatus::Delivered,
            location: Some(destination),
            description: Some("Delivered".into()),
        });
    }
    events.retain(|e| e.at <= now);
    events.sort_by_key(|e| e.at);
    DemoShipment {
        order_name: order_name.to_string(),
        carrier,
        tracking_number,
        promised_by,
        events,
    }
}

/// The demo FAQ articles, parsed.
pub fn faq_documents() -> Result<Vec<kefu_knowledge::Document>, String> {
    FAQ_FILES
        .iter()
        .map(|(path, text)| {
            kefu_knowledge::parse_markdown(text).map_err(|e| format!("demo/faq/{path}:{e}"))
        })
        .collect()
}

/// What `kefu demo load` wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadSummary {
    pub documents: Counts,
    pub products: Counts,
    pub customers: Counts,
    pub orders: OrderCounts,
    pub tracking_events: Counts,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "the database already holds a shop ({customers} customers, {orders} orders); the demo only fills an empty database"
    )]
    NotEmpty { customers: i64, orders: i64 },
    #[error("demo data is broken: {0}")]
    Data(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Fills an empty database with the demo shop, in one transaction. `progress` is told
/// each step as it starts.
pub async fn load(
    store: &Store,
    cfg: &DemoConfig,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<LoadSummary, DemoError> {
    let stats = store.stats().await?;
    if !stats.is_empty_shop() {
        return Err(DemoError::NotEmpty {
            customers: stats.customers,
            orders: stats.orders,
        });
    }
    let mut summary = LoadSummary::default();
    let mut writer = store.writer().await?;
    progress("knowledge base");
    let docs = faq_documents().map_err(DemoError::Data)?;
    summary.documents = writer.write_documents(&docs, "demo").await?;
    progress("products");
    let catalogue = products(cfg.seed);
    let records: Vec<ProductRecord> = catalogue.iter().map(|p| p.record.clone()).collect();
    summary.products = writer.write_products(&records).await?;
    progress("customers");
    let customers: Vec<DemoCustomer> = (0..cfg.customers).map(|i| customer(cfg, i)).collect();
    for chunk in customers.chunks(1_000) {
        let batch: Vec<CustomerRecord> = chunk.iter().map(|c| c.record.clone()).collect();
        summary
            .customers
            .add(writer.write_customers(&batch, Merge::Overwrite).await?.1);
    }
    progress("orders and parcels");
    let popularity: Vec<u32> = catalogue.iter().map(|p| p.popularity).collect();
    let plan = schedule(cfg);
    for (chunk_no, chunk) in plan.chunks(500).enumerate() {
        let mut orders = Vec::with_capacity(chunk.len());
        let mut parcels = Vec::new();
        for (offset, (at, who, nth)) in chunk.iter().enumerate() {
            let buyer = &customers[*who as usize];
            let (order, parcel) = order(
                cfg,
                &catalogue,
                &popularity,
                buyer,
                chunk_no * 500 + offset,
                *at,
                *nth,
            );
            orders.push(order);
            parcels.extend(parcel);
        }
        summary.orders.add(writer.write_orders(&orders).await?);
        let names: Vec<String> = parcels.iter().map(|p| p.order_name.clone()).collect();
        let ids = writer.order_ids(&names).await?;
        let shipments: Vec<ShipmentRecord> = parcels
            .into_iter()
            .filter_map(|p| {
                ids.get(&p.order_name).map(|id| ShipmentRecord {
                    order_id: *id,
                    carrier: p.carrier.to_string(),
                    tracking_number: p.tracking_number,
                    promised_by: Some(p.promised_by),
                    events: p.events,
                })
            })
            .collect();
        summary
            .tracking_events
            .add(writer.write_shipments(&shipments).await?);
    }
    writer.commit().await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faq_list_matches_the_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/faq");
        let mut on_disk = Vec::new();
        for lang in std::fs::read_dir(&dir).unwrap() {
            let lang = lang.unwrap().path();
            if lang.is_dir() {
                for f in std::fs::read_dir(&lang).unwrap() {
                    let f = f.unwrap().path();
                    on_disk.push(f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let listed: Vec<String> = FAQ_FILES.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn faq_covers_the_required_languages() {
        let docs = faq_documents().unwrap();
        assert!(docs.len() >= 60);
        for lang in ["en", "zh-CN", "es", "ja", "fr", "de"] {
            assert!(
                docs.iter().any(|d| d.lang.as_str() == lang),
                "no {lang} article"
            );
        }
        let groups: std::collections::BTreeSet<&str> =
            docs.iter().map(|d| d.group.as_str()).collect();
        for group in groups {
            assert!(
                docs.iter()
                    .any(|d| d.group == group && d.lang.as_str() == "en"),
                "{group} has no English article"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_shop() {
        let cfg = DemoConfig {
            seed: 7,
            customers: 50,
            orders: 300,
            today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        };
        let a = schedule(&cfg);
        let b = schedule(&cfg);
        assert_eq!(a, b);
        assert_eq!(a.len(), 300);
        assert_eq!(customer(&cfg, 17).record, customer(&cfg, 17).record);
        let other = DemoConfig {
            seed: 8,
            ..cfg.clone()
        };
        assert_ne!(
            customer(&cfg, 17).record.email,
            customer(&other, 17).record.email
        );
    }

    #[test]
    fn repeat_purchases_look_like_a_real_shop() {
        let cfg = DemoConfig {
            today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            ..DemoConfig::default()
        };
        let plan = schedule(&cfg);
        assert_eq!(plan.len(), cfg.orders);
        let mut per_customer = std::collections::HashMap::new();
        for (_, who, _) in &plan {
            *per_customer.entry(*who).or_insert(0u32) += 1;
        }
        let buyers = per_customer.len() as f64;
        let once = per_customer.values().filter(|n| **n == 1).count() as f64;
        let loyal = per_customer.values().filter(|n| **n >= 10).count() as f64;
        assert!(
            buyers > 0.85 * cfg.customers as f64,
            "most customers bought something"
        );
        assert!(once / buyers > 0.3, "many buy once: {once}/{buyers}");
        assert!(loyal / buyers > 0.15, "a loyal core: {loyal}/{buyers}");
        assert!(
            per_customer.values().all(|n| *n <= 120),
            "nobody orders every few days for two years"
        );
        // Orders span the two years, with recent ones (parcels in transit) and old ones.
        let first = plan.first().unwrap().0;
        let last = plan.last().unwrap().0;
        assert!(cfg.now() - last < Duration::days(1));
        assert!(cfg.now() - first > Duration::days(650));
    }

    #[test]
    fn catalogue_has_over_300_products_with_unique_skus() {
        let products = products(1);
        assert!(products.len() >= 300);
        let skus: std::collections::HashSet<&str> =
            products.iter().map(|p| p.sku.as_str()).collect();
        assert_eq!(skus.len(), products.len());
        assert!(products.iter().all(|p| p.record.translations.len() == 6));
    }

    #[test]
    fn orders_add_up() {
        let cfg = DemoConfig {
            seed: 3,
            customers: 40,
            orders: 200,
            today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        };
        let catalogue = products(cfg.seed);
        let popularity: Vec<u32> = catalogue.iter().map(|p| p.popularity).collect();
        for (seq, (at, who, nth)) in schedule(&cfg).into_iter().enumerate() {
            let buyer = customer(&cfg, who as usize);
            let (o, parcel) = order(&cfg, &catalogue, &popularity, &buyer, seq, at, nth);
            let subtotal: i64 = o.lines.iter().map(|l| l.price * l.quantity).sum();
            assert_eq!(o.subtotal, subtotal);
            assert_eq!(o.total, o.subtotal - o.discount + o.shipping + o.taxes);
            assert!(o.created_at <= cfg.now());
            if let Some(p) = parcel {
                assert!(p.events.iter().all(|e| e.at <= cfg.now()));
                assert_eq!(o.fulfillment_status, "fulfilled");
            }
        }
    }
}
