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
        published: row.boolean("Published")?.unwrap_or(true),
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

/// Product descriptions arrive as HTML; the knowledge base wants text.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(
                    name.as_str(),
                    "p" | "br" | "br/" | "li" | "div" | "h1" | "h2" | "h3" | "h4" | "tr"
                ) {
                    out.push('\n');
                }
            }
            _ if in_tag => tag.push(c),
            _ => out.push(c),
        }
    }
    let text = out
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
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
