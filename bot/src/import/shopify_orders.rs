//! Shopify's "Export orders" CSV: one row per line item; rows of one order are adjacent
//! and share `Name`; only an order's first row carries the order-level fields.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use super::csvfile::{CsvFile, Row};
use super::{ImportError, Progress, Summary};
use crate::shop::{Currency, Email, OrderStatus, Phone, split_tags};
use crate::store::{Address, Buyer, LineRecord, OrderCounts, OrderRecord, Store};

/// Orders per write batch: a few multi-row statements per 500 orders.
const BATCH: usize = 1024;

pub use super::csvfile::parse_time as parse_shopify_time;

const REQUIRED: &[&str] = &["Name", "Created at", "Currency"];

/// A batch of parsed orders and how far into the file it reaches.
struct Parsed {
    orders: Vec<OrderRecord>,
    fingerprints: Vec<String>,
    rows: u64,
    bytes: u64,
}

/// Reads the file and sends batches of orders; stops at the first error (sent as the
/// last message) or when the receiver is gone.
fn parse_file(path: &Path, sender: &tokio::sync::mpsc::Sender<Result<Parsed, ImportError>>) {
    if let Err(e) = parse_batches(path, sender) {
        let _ = sender.blocking_send(Err(e));
    }
}

fn parse_batches(
    path: &Path,
    sender: &tokio::sync::mpsc::Sender<Result<Parsed, ImportError>>,
) -> Result<(), ImportError> {
    let mut csv = CsvFile::open(path, REQUIRED, &super::Quiet)?;
    let mut batch: Vec<OrderRecord> = Vec::with_capacity(BATCH);
    let mut current: Option<OrderRecord> = None;
    // Hashes of the names of finished orders: a name that comes back later means the
    // file's rows are not grouped by order, which would silently drop line items.
    let mut finished: HashSet<u64> = HashSet::new();
    let send = |orders: Vec<OrderRecord>, csv: &CsvFile<'_>| {
        let fingerprints = orders.iter().map(OrderRecord::fingerprint).collect();
        let parsed = Parsed {
            orders,
            fingerprints,
            rows: csv.rows(),
            bytes: csv.bytes_read(),
        };
        // A closed channel means the writer failed; it reports its own error.
        sender.blocking_send(Ok(parsed)).is_ok()
    };
    while let Some(row) = csv.next_row()? {
        let name = row.required("Name")?;
        if current.as_ref().is_some_and(|o| o.name == name) {
            if let Some(order) = current.as_mut() {
                let line = parse_line(&row, order.currency)?;
                order.lines.push(line);
            }
            continue;
        }
        if finished.contains(&name_hash(name)) {
            return Err(row.err(
                "Name",
                format!(
                    "order {name} appeared earlier in the file; rows of one order must be adjacent"
                ),
            ));
        }
        let next = parse_order(&row)?;
        if let Some(done) = current.replace(next) {
            finished.insert(name_hash(&done.name));
            batch.push(done);
            if batch.len() >= BATCH
                && !send(
                    std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                    &csv,
                )
            {
                return Ok(());
            }
        }
    }
    batch.extend(current.take());
    if !batch.is_empty() {
        send(batch, &csv);
    }
    Ok(())
}

/// Imports a Shopify orders export. See the module docs and `docs/import.md`.
///
/// Parsing runs on a blocking thread and hands batches to the writer through a small
/// channel, so reading the file and writing the database overlap.
pub async fn import_shopify_orders(
    store: &Store,
    path: &Path,
    progress: &dyn Progress,
) -> Result<Summary, ImportError> {
    // Open here so that a missing file or column fails before a transaction starts.
    drop(CsvFile::open(path, REQUIRED, &super::Quiet)?);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    progress.start(size);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Parsed, ImportError>>(2);
    let owned = path.to_path_buf();
    let parser = tokio::task::spawn_blocking(move || parse_file(&owned, &sender));
    let mut writer = store.writer().await.map_err(ImportError::store(path))?;
    let mut counts = OrderCounts::default();
    let mut rows = 0;
    while let Some(parsed) = receiver.recv().await {
        let parsed = parsed?;
        counts.add(
            writer
                .write_fingerprinted_orders(&parsed.orders, &parsed.fingerprints)
                .await
                .map_err(ImportError::store(path))?,
        );
        rows = parsed.rows;
        progress.advance(parsed.bytes);
    }
    // The parser ends by closing the channel; a panic there must not pass as success.
    parser
        .await
        .map_err(|e| ImportError::file(path, format!("the CSV reader failed: {e}")))?;
    progress.finish();
    writer.commit().await.map_err(ImportError::store(path))?;
    Ok(Summary {
        rows,
        sections: Vec::new(),
    }
    .with("orders", counts.orders)
    .with("customers", counts.customers)
    .with(
        "order lines",
        crate::store::Counts {
            created: counts.lines,
            ..Default::default()
        },
    ))
}

fn name_hash(name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

fn parse_order(row: &Row<'_>) -> Result<OrderRecord, ImportError> {
    let name = row.required("Name")?.to_string();
    let currency = row
        .parse("Currency", Currency::parse)?
        .ok_or_else(|| row.err("Currency", "is empty on the order's first row"))?;
    let created_at = row.time("Created at")?.ok_or_else(|| {
        row.err(
            "Created at",
            "is empty: the first row of each order must carry the order-level fields",
        )
    })?;
    let email = row.parse("Email", Email::parse)?;
    // Phones in exports are often free text; one that cannot be read is kept in the
    // address but not used to match the customer.
    let phone = [
        row.get("Phone"),
        row.get("Billing Phone"),
        row.get("Shipping Phone"),
    ]
    .into_iter()
    .find_map(|raw| Phone::parse(raw).ok());
    let cancelled_at = row.time("Cancelled at")?;
    let money = |column: &'static str| -> Result<i64, ImportError> {
        Ok(row.money(column, currency)?.unwrap_or(0))
    };
    let shipping_address = Address {
        name: row.opt("Shipping Name"),
        company: row.opt("Shipping Company"),
        address1: row
            .opt("Shipping Address1")
            .or_else(|| row.opt("Shipping Street")),
        address2: row.opt("Shipping Address2"),
        city: row.opt("Shipping City"),
        zip: row
            .opt("Shipping Zip")
            .map(|z| z.trim_start_matches('\'').to_string()),
        province: row.opt("Shipping Province"),
        country: row.opt("Shipping Country"),
        phone: row
            .opt("Shipping Phone")
            .map(|p| p.trim_start_matches('\'').to_string()),
    };
    let billing_name = row.opt("Billing Name");
    let mut order = OrderRecord {
        name,
        external_id: row.opt("Id"),
        buyer: Buyer {
            email,
            phone,
            name: billing_name
                .clone()
                .or_else(|| shipping_address.name.clone()),
            country: shipping_address
                .country
                .clone()
                .or_else(|| row.opt("Billing Country")),
            accepts_email: row.boolean("Accepts Marketing")?,
        },
        currency,
        status: if cancelled_at.is_some() {
            OrderStatus::Cancelled
        } else {
            OrderStatus::Open
        },
        financial_status: row.opt("Financial Status").map(|s| s.to_lowercase()),
        fulfillment_status: row
            .opt("Fulfillment Status")
            .map(|s| s.to_lowercase())
            .unwrap_or_else(|| "unfulfilled".into()),
        subtotal: money("Subtotal")?,
        shipping: money("Shipping")?,
        taxes: money("Taxes")?,
        discount: money("Discount Amount")?,
        total: money("Total")?,
        refunded: money("Refunded Amount")?,
        discount_codes: split_tags(row.get("Discount Code")),
        shipping_method: row.opt("Shipping Method"),
        shipping_address: (shipping_address != Address::default()).then_some(shipping_address),
        billing_name,
        payment_method: row.opt("Payment Method"),
        note: row.opt("Notes"),
        tags: split_tags(row.get("Tags")),
        source: row.opt("Source"),
        created_at,
        paid_at: row.time("Paid at")?,
        fulfilled_at: row.time("Fulfilled at")?,
        cancelled_at,
        lines: Vec::new(),
    };
    order.lines.push(parse_line(row, currency)?);
    Ok(order)
}

fn parse_line(row: &Row<'_>, currency: Currency) -> Result<LineRecord, ImportError> {
    let quantity = row.integer("Lineitem quantity")?.unwrap_or(1);
    if quantity < 0 {
        return Err(row.err("Lineitem quantity", format!("`{quantity}` is negative")));
    }
    Ok(LineRecord {
        sku: row.opt("Lineitem sku"),
        name: row.opt("Lineitem name").unwrap_or_default(),
        quantity,
        price: row.money("Lineitem price", currency)?.unwrap_or(0),
        compare_at: row.money("Lineitem compare at price", currency)?,
        discount: row.money("Lineitem discount", currency)?.unwrap_or(0),
        requires_shipping: row.boolean("Lineitem requires shipping")?.unwrap_or(true),
        taxable: row.boolean("Lineitem taxable")?.unwrap_or(true),
        fulfillment_status: row
            .opt("Lineitem fulfillment status")
            .map(|s| s.to_lowercase()),
        vendor: row.opt("Vendor"),
    })
}
