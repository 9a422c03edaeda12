//! `kefu demo generate`: the demo shop as files — Shopify-format `orders.csv` and
//! `products.csv`, kefu's `customers.csv` and `shipments.csv`, and the `faq/` folder —
//! streamed, so any size can be written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::America::New_York;

use super::{DemoConfig, FAQ_FILES, customer, order, products, schedule};
use crate::shop::{Channel, Currency};
use crate::store::OrderRecord;

/// What `generate` wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenerateSummary {
    pub customers: u64,
    pub products: u64,
    pub orders: u64,
    pub order_lines: u64,
    pub tracking_events: u64,
    pub documents: u64,
}

/// The columns of Shopify's orders export, in its order.
pub const SHOPIFY_ORDER_COLUMNS: &[&str] = &[
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Employee",
    "Location",
    "Device ID",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Phone",
    "Receipt Number",
    "Duties",
    "Billing Province Name",
    "Shipping Province Name",
    "Payment ID",
    "Payment Terms Name",
    "Next Payment Due At",
    "Payment References",
];

const SHOPIFY_PRODUCT_COLUMNS: &[&str] = &[
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Image Src",
    "Image Position",
    "Status",
];

/// Times as Shopify writes them: the shop's time zone with its offset.
fn shop_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&New_York)
        .format("%Y-%m-%d %H:%M:%S %z")
        .to_string()
}

fn money(minor: i64) -> String {
    Currency::USD
        .format(minor)
        .trim_end_matches(" USD")
        .to_string()
}

fn csv_err(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Writes the demo shop described by `cfg` into `dir` (created if missing).
pub fn write_csv(
    cfg: &DemoConfig,
    dir: &Path,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> std::io::Result<GenerateSummary> {
    std::fs::create_dir_all(dir)?;
    let mut summary = GenerateSummary::default();
    let catalogue = products(cfg.seed);

    let mut w = csv::Writer::from_writer(BufWriter::new(File::create(dir.join("products.csv"))?));
    w.write_record(SHOPIFY_PRODUCT_COLUMNS).map_err(csv_err)?;
    for p in &catalogue {
        let r = &p.record;
        let en = r.translations.first();
        for v in &r.variants {
            let body = en
                .map(|t| format!("<p>{}</p>", t.description))
                .unwrap_or_default();
            let row = [
                r.handle.as_str(),
                en.map(|t| t.title.as_str()).unwrap_or(""),
                &body,
                r.vendor.as_deref().unwrap_or(""),
                "",
                r.product_type.as_deref().unwrap_or(""),
                &r.tags.join(", "),
                "true",
                "Variant",
                &v.title,
                v.sku.as_deref().unwrap_or(""),
                &v.grams.unwrap_or(0).to_string(),
                "shopify",
                &v.stock.unwrap_or(0).to_string(),
                "deny",
                "manual",
                &money(v.price),
                &v.compare_at.map(money).unwrap_or_default(),
                "true",
                "true",
                r.image_url.as_deref().unwrap_or(""),
                "1",
                "active",
            ];
            w.write_record(row).map_err(csv_err)?;
        }
        summary.products += 1;
    }
    w.flush()?;

    let mut w = csv::Writer::from_writer(BufWriter::new(File::create(dir.join("customers.csv"))?));
    w.write_record([
        "email",
        "phone",
        "name",
        "locale",
        "time_zone",
        "country",
        "tags",
        "telegram_id",
        "discord_id",
        "accepts_email",
        "accepts_telegram",
        "accepts_discord",
    ])
    .map_err(csv_err)?;
    for i in 0..cfg.customers {
        let c = customer(cfg, i).record;
        let id = |ch: Channel| {
            c.identities
                .iter()
                .find(|x| x.0 == ch)
                .map(|x| x.1.clone())
                .unwrap_or_default()
        };
        let consent = |ch: Channel| {
            c.consents
                .iter()
                .find(|x| x.channel == ch)
                .map(|x| x.granted.to_string())
                .unwrap_or_default()
        };
        w.write_record([
            c.email
                .as_ref()
                .map(|e| e.as_str().to_string())
                .unwrap_or_default(),
            c.phone
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            c.name.clone().unwrap_or_default(),
            c.locale.clone().unwrap_or_default(),
            c.time_zone.clone().unwrap_or_default(),
            c.country.clone().unwrap_or_default(),
            c.tags.join(", "),
            id(Channel::Telegram),
            id(Channel::Discord),
            consent(Channel::Email),
            consent(Channel::Telegram),
            consent(Channel::Discord),
        ])
        .map_err(csv_err)?;
        summary.customers += 1;
        if i % 100_000 == 0 {
            progress("customers", i as u64);
        }
    }
    w.flush()?;

    let popularity: Vec<u32> = catalogue.iter().map(|p| p.popularity).collect();
    let plan = schedule(cfg);
    let mut orders = csv::Writer::from_writer(BufWriter::with_capacity(
        1 << 20,
        File::create(dir.join("orders.csv"))?,
    ));
    orders
        .write_record(SHOPIFY_ORDER_COLUMNS)
        .map_err(csv_err)?;
    let mut parcels =
        csv::Writer::from_writer(BufWriter::new(File::create(dir.join("shipments.csv"))?));
    parcels
        .write_record([
            "order_name",
            "carrier",
            "tracking_number",
            "promised_by",
            "event_time",
            "status",
            "location",
            "description",
        ])
        .map_err(csv_err)?;
    let mut cached: Option<(u32, super::DemoCustomer)> = None;
    let mut row: Vec<String> = vec![String::new(); SHOPIFY_ORDER_COLUMNS.len()];
    for (seq, (at, who, nth)) in plan.iter().enumerate() {
        if cached.as_ref().is_none_or(|(i, _)| i != who) {
            cached = Some((*who, customer(cfg, *who as usize)));
        }
        let Some((_, buyer)) = cached.as_ref() else {
            continue;
        };
        let (o, parcel) = order(cfg, &catalogue, &popularity, buyer, seq, *at, *nth);
        summary.order_lines += write_order(&mut orders, &mut row, &o)?;
        summary.orders += 1;
        if let Some(p) = parcel {
            for e in &p.events {
                parcels
                    .write_record([
                        p.order_name.as_str(),
                        p.carrier,
                        &p.tracking_number,
                        &p.promised_by.format("%Y-%m-%d").to_string(),
                        &e.at.to_rfc3339(),
                        e.status.as_str(),
                        e.location.as_deref().unwrap_or(""),
                        e.description.as_deref().unwrap_or(""),
                    ])
                    .map_err(csv_err)?;
                summary.tracking_events += 1;
            }
        }
        if seq % 100_000 == 0 {
            progress("orders", seq as u64);
        }
    }
    orders.flush()?;
    parcels.flush()?;

    for (path, text) in FAQ_FILES {
        let target = dir.join("faq").join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        File::create(target)?.write_all(text.as_bytes())?;
        summary.documents += 1;
    }
    Ok(summary)
}

/// One order as Shopify writes it: the first row carries the order, every row a line item.
fn write_order<W: Write>(
    w: &mut csv::Writer<W>,
    row: &mut [String],
    o: &OrderRecord,
) -> std::io::Result<u64> {
    let col = |name: &str| {
        SHOPIFY_ORDER_COLUMNS
            .iter()
            .position(|c| *c == name)
            .unwrap_or(0)
    };
    for (i, line) in o.lines.iter().enumerate() {
        row.iter_mut().for_each(String::clear);
        row[col("Name")] = o.name.clone();
        row[col("Email")] = o
            .buyer
            .email
            .as_ref()
            .map(|e| e.as_str().to_string())
            .unwrap_or_default();
        if i == 0 {
            let a = o.shipping_address.clone().unwrap_or_default();
            let t = |x: Option<DateTime<Utc>>| x.map(shop_time).unwrap_or_default();
            let set = |row: &mut [String], name: &str, value: String| row[col(name)] = value;
            set(
                row,
                "Financial Status",
                o.financial_status.clone().unwrap_or_default(),
            );
            set(row, "Paid at", t(o.paid_at));
            set(row, "Fulfillment Status", o.fulfillment_status.clone());
            set(row, "Fulfilled at", t(o.fulfilled_at));
            set(
                row,
                "Accepts Marketing",
                if o.buyer.accepts_email == Some(true) {
                    "yes"
                } else {
                    "no"
                }
                .into(),
            );
            set(row, "Currency", o.currency.as_str().into());
            set(row, "Subtotal", money(o.subtotal));
            set(row, "Shipping", money(o.shipping));
            set(row, "Taxes", money(o.taxes));
            set(row, "Total", money(o.total));
            set(row, "Discount Code", o.discount_codes.join(", "));
            set(row, "Discount Amount", money(o.discount));
            set(
                row,
                "Shipping Method",
                o.shipping_method.clone().unwrap_or_default(),
            );
            set(row, "Created at", shop_time(o.created_at));
            set(
                row,
                "Billing Name",
                o.billing_name.clone().unwrap_or_default(),
            );
            set(
                row,
                "Billing Address1",
                a.address1.clone().unwrap_or_default(),
            );
            set(row, "Billing City", a.city.clone().unwrap_or_default());
            set(row, "Billing Zip", a.zip.clone().unwrap_or_default());
            set(
                row,
                "Billing Country",
                a.country.clone().unwrap_or_default(),
            );
            set(row, "Shipping Name", a.name.clone().unwrap_or_default());
            set(
                row,
                "Shipping Street",
                [a.address1.clone(), a.address2.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            set(
                row,
                "Shipping Address1",
                a.address1.clone().unwrap_or_default(),
            );
            set(
                row,
                "Shipping Address2",
                a.address2.clone().unwrap_or_default(),
            );
            set(row, "Shipping City", a.city.clone().unwrap_or_default());
            set(row, "Shipping Zip", a.zip.clone().unwrap_or_default());
            set(
                row,
                "Shipping Province",
                a.province.clone().unwrap_or_default(),
            );
            set(
                row,
                "Shipping Country",
                a.country.clone().unwrap_or_default(),
            );
            set(row, "Shipping Phone", a.phone.clone().unwrap_or_default());
            set(row, "Notes", o.note.clone().unwrap_or_default());
            set(row, "Cancelled at", t(o.cancelled_at));
            set(
                row,
                "Payment Method",
                o.payment_method.clone().unwrap_or_default(),
            );
            set(row, "Refunded Amount", money(o.refunded));
            set(row, "Outstanding Balance", money(0));
            set(row, "Id", o.external_id.clone().unwrap_or_default());
            set(row, "Tags", o.tags.join(", "));
            set(row, "Risk Level", "Low".into());
            set(row, "Source", o.source.clone().unwrap_or_default());
            set(
                row,
                "Phone",
                o.buyer
                    .phone
                    .as_ref()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
            );
        }
        row[col("Lineitem quantity")] = line.quantity.to_string();
        row[col("Lineitem name")] = line.name.clone();
        row[col("Lineitem price")] = money(line.price);
        row[col("Lineitem compare at price")] = line.compare_at.map(money).unwrap_or_default();
        row[col("Lineitem sku")] = line.sku.clone().unwrap_or_default();
        row[col("Lineitem requires shipping")] = line.requires_shipping.to_string();
        row[col("Lineitem taxable")] = line.taxable.to_string();
        row[col("Lineitem fulfillment status")] = line
            .fulfillment_status
            .clone()
            .unwrap_or_else(|| "pending".into());
        row[col("Lineitem discount")] = money(line.discount);
        row[col("Vendor")] = line.vendor.clone().unwrap_or_default();
        w.write_record(&*row).map_err(csv_err)?;
    }
    Ok(o.lines.len() as u64)
}
