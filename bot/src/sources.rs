//! What the knowledge index is built from: the shop's stored articles and its published
//! catalogue, turned into [`kefu_knowledge::Source`]s (one per product translation, so a
//! customer finds a product in their own language).

use std::fmt::Write as _;

use kefu_knowledge::{Source, SourceKind};

use crate::shop::Currency;
use crate::store::{Product, Store, StoredDocument};

/// Everything indexable in the store.
pub async fn knowledge_sources(
    store: &Store,
    shop_url: Option<&str>,
) -> crate::store::Result<Vec<Source>> {
    let mut sources: Vec<Source> = store.documents().await?.iter().map(article).collect();
    for product in store.products().await? {
        sources.extend(product_sources(&product, shop_url));
    }
    Ok(sources)
}

pub fn article(doc: &StoredDocument) -> Source {
    Source {
        doc_id: doc.id.clone(),
        group: doc.group.clone(),
        lang: doc.lang.clone(),
        title: doc.title.clone(),
        url: doc.url.clone(),
        tags: doc.tags.clone(),
        kind: SourceKind::Article,
        body: doc.body.clone(),
        in_stock: None,
        price: None,
    }
}

/// One source per translation. The body lists what a customer asks about a product:
/// description, type, variants with price and availability.
pub fn product_sources(product: &Product, shop_url: Option<&str>) -> Vec<Source> {
    let in_stock = product
        .variants
        .iter()
        .any(|v| v.stock.is_none_or(|s| s > 0));
    let price = price_range(product);
    let url =
        shop_url.map(|base| format!("{}/products/{}", base.trim_end_matches('/'), product.handle));
    product
        .translations
        .iter()
        .map(|text| {
            let mut body = text.description.trim().to_owned();
            let mut facts = String::new();
            if let Some(kind) = &product.product_type {
                let _ = writeln!(facts, "- {kind}");
            }
            if let Some(vendor) = &product.vendor {
                let _ = writeln!(facts, "- {vendor}");
            }
            for variant in &product.variants {
                let amount = Currency::parse(&variant.currency)
                    .map(|c| c.format(variant.price))
                    .unwrap_or_else(|_| format!("{} {}", variant.price, variant.currency));
                let stock = match variant.stock {
                    Some(n) if n <= 0 => " (out of stock)",
                    _ => "",
                };
                let _ = writeln!(facts, "- {}: {amount}{stock}", variant.title);
            }
            if !facts.is_empty() {
                body.push_str("\n\n");
                body.push_str(facts.trim_end());
            }
            Source {
                doc_id: format!("product:{}:{}", product.handle, text.lang),
                group: format!("product:{}", product.handle),
                lang: text.lang.clone(),
                title: text.title.clone(),
                url: url.clone(),
                tags: product.tags.clone(),
                kind: SourceKind::Product,
                body,
                in_stock: Some(in_stock),
                price: price.clone(),
            }
        })
        .collect()
}

fn price_range(product: &Product) -> Option<String> {
    let first = product.variants.first()?;
    let currency = Currency::parse(&first.currency).ok()?;
    let min = product.variants.iter().map(|v| v.price).min()?;
    let max = product.variants.iter().map(|v| v.price).max()?;
    Some(if min == max {
        currency.format(min)
    } else {
        format!("{} – {}", currency.format(min), currency.format(max))
    })
}
