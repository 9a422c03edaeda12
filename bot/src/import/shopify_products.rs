//! Shopify's products export: one row per variant (or extra image); rows of one product
//! share `Handle`, and the first carries the product fields.

use std::path::Path;

use super::csvfile::{CsvFile, Row};
use super::{ImportError, Progress, Summary};
use crate::shop::{Currency, split_tags};
use crate::store::{Counts, ProductRecord, ProductText, Store, VariantRecord};

const BATCH: usize = 200;

/// Imports a Shopify products export. Prices are in `currency`; titles and descriptions
/// are stored as the `lang` translation.
pub async fn import_shopify_products(
    store: &Store,
    path: &Path,
    currency: Currency,
    lang: &str,
    progress: &dyn Progress,
) -> Result<Summary, ImportError> {
    let mut csv = CsvFile::open(path, &["Handle"], progress)?;
    let mut writer = store.writer().await.map_err(ImportError::store(path))?;
    let mut counts = Counts::default();
    let mut batch: Vec<ProductRecord> = Vec::new();
    let mut current: Option<ProductRecord> = None;
    while let Some(row) = csv.next_row()? {
        let handle = row.required("Handle")?;
        if current.as_ref().is_none_or(|p| p.handle != handle) {
            batch.extend(current.take());
            if batch.len() >= BATCH {
                counts.add(
                    writer
                        .write_products(&batch)
                        .await
                        .map_err(ImportError::store(path))?,
                );
                batch.clear();
            }
            current = Some(parse_product(&row, lang)?);
        }
        if let (Some(product), Some(variant)) = (current.as_mut(), parse_variant(&row, currency)?) {
            product.variants.push(variant);
        }
    }
    batch.extend(current.take());
    counts.add(
        writer
            .write_products(&batch)
            .await
            .map_err(ImportError::store(path))?,
    );
    let rows = csv.rows();
    writer.commit().await.map_err(ImportError::store(path))?;
    Ok(Summary {
        rows,
        sections: Vec::new(),
    }
    .with("products", counts))
}

fn parse_product(row: &Row<'_>, lang: &str) -> Result<ProductRecord, ImportError> {
    let title = row.required("Title")?.to_string();
    Ok(ProductRecord {
        handle: row.required("Handle")?.to_string(),
        vendor: row.opt("Vendor"),
        product_type: row.opt("Type").or_else(|| row.opt("Product Category")),
        tags: split_tags(row.get("Tags")),
        published: row.boolean("Published")?.unwrap_or(true) && status_is_active(row)?,
        image_url: row.opt("Image Src"),
        translations: vec![ProductText {
            lang: lang.to_string(),
            title,
            description: html_to_text(row.get("Body (HTML)")),
        }],
        variants: Vec::new(),
        created_at: None,
    })
}

/// Shopify's `Status`: `active` products are on sale; `draft` and `archived` ones are
/// kept (a later import that makes them active offers them again) but not offered to
/// customers. An export without the column (older Shopify versions) means active.
fn status_is_active(row: &Row<'_>) -> Result<bool, ImportError> {
    match row.get("Status").to_ascii_lowercase().as_str() {
        "" | "active" => Ok(true),
        "draft" | "archived" => Ok(false),
        other => Err(row.err(
            "Status",
            format!("`{other}` is not a product status (expected active, draft or archived)"),
        )),
    }
}

/// A row without a price is an extra image of the product, not a variant.
fn parse_variant(row: &Row<'_>, currency: Currency) -> Result<Option<VariantRecord>, ImportError> {
    let Some(price) = row.money("Variant Price", currency)? else {
        return Ok(None);
    };
    let options: Vec<&str> = ["Option1 Value", "Option2 Value", "Option3 Value"]
        .into_iter()
        .map(|c| row.get(c))
        .filter(|v| !v.is_empty() && *v != "Default Title")
        .collect();
    Ok(Some(VariantRecord {
        sku: row
            .opt("Variant SKU")
            .map(|s| s.trim_start_matches('\'').to_string()),
        title: options.join(" / "),
        price,
        compare_at: row.money("Variant Compare At Price", currency)?,
        currency: currency.as_str().to_string(),
        stock: row.integer("Variant Inventory Qty")?,
        grams: row.parse("Variant Grams", |v| {
            v.parse::<f64>()
                .map(|g| g.round() as i64)
                .map_err(|_| format!("`{v}` is not a weight in grams"))
        })?,
    }))
}

/// Product descriptions arrive as HTML; the knowledge base wants the text a shopper sees
/// (hidden elements, comments and invisible characters go).
pub(crate) fn html_to_text(html: &str) -> String {
    kefu_knowledge::visible::html_to_text(html)
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_descriptions_become_plain_text() {
        assert_eq!(
            super::html_to_text(
                "<p>Hand-made <b>celadon</b> &amp; glaze.</p><ul><li>200 ml</li></ul>"
            ),
            "Hand-made celadon & glaze.\n200 ml"
        );
    }
}
