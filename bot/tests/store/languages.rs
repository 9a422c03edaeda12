//! A catalogue exported once per storefront language (Shopify Markets: the same handles,
//! titles and descriptions in that language) and imported file by file: every language
//! is kept, the stock survives exports that leave it blank, and customers find products
//! by their name in any language and are shown them in their own.

use std::path::PathBuf;

use kefu_bot::agent::{Agent, Inbound, Outcome};
use kefu_bot::import::{self, Quiet};
use kefu_bot::shop::{Channel, Currency};
use kefu_bot::store::{Product, Store};

const HEADER: &str = "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,Variant Grams,Variant Inventory Qty,Variant Price,Image Src";

/// The storefront exports, with stock in the English one only.
const ENGLISH: &[&str] = &[
    "nambu-kettle,Cast Iron Kettle,<p>Nambu ironware kettle from Iwate.</p>,Iwachu,Teaware,teaware,true,Size,0.6 l,NK-06,1200,7,98.00,",
    "nambu-kettle,,,,,,,,1.2 l,NK-12,1900,3,128.00,",
    "bamboo-whisk,Bamboo Matcha Whisk,<p>A hundred-prong whisk for frothing matcha.</p>,Kiln,Teaware,teaware,true,Title,Default Title,BW-100,30,25,18.00,",
];
const JAPANESE: &[&str] = &[
    "nambu-kettle,南部鉄瓶,<p>岩手の南部鉄器の鉄瓶です。</p>,Iwachu,Teaware,teaware,true,Size,0.6 l,NK-06,1200,,98.00,",
    "nambu-kettle,,,,,,,,1.2 l,NK-12,1900,,128.00,",
    "bamboo-whisk,茶筅,<p>抹茶を点てる百本立の茶筅です。</p>,Kiln,Teaware,teaware,true,Title,Default Title,BW-100,30,,18.00,",
];
/// Titles only: no variant rows at all.
const GERMAN: &[&str] = &[
    "nambu-kettle,Gusseisen-Teekessel,<p>Nambu-Eisenwaren aus Iwate.</p>,Iwachu,Teaware,teaware,true,,,,,,,",
];

struct Exports {
    dir: tempfile::TempDir,
}

impl Exports {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, rows: &[&str]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
        path
    }
}

/// (created, updated, unchanged) products of importing `file` in `lang`.
async fn import(store: &Store, file: &std::path::Path, lang: &str) -> (u64, u64, u64) {
    let summary = import::import_shopify_products(store, file, Currency::USD, lang, &Quiet)
        .await
        .unwrap();
    let c = summary.section("products");
    (c.created, c.updated, c.unchanged)
}

async fn kettle(store: &Store) -> Product {
    store
        .product_by_handle("nambu-kettle")
        .await
        .unwrap()
        .unwrap()
}

fn titles(p: &Product) -> Vec<(&str, &str)> {
    p.translations
        .iter()
        .map(|t| (t.lang.as_str(), t.title.as_str()))
        .collect()
}

fn stock(p: &Product) -> Vec<(Option<&str>, &str, i64, Option<i64>)> {
    p.variants
        .iter()
        .map(|v| (v.sku.as_deref(), v.title.as_str(), v.price, v.stock))
        .collect()
}

pub async fn each_language_export_adds_its_translation_and_keeps_the_others(store: &Store) {
    let exports = Exports::new();
    let en = exports.file("en.csv", ENGLISH);
    let ja = exports.file("ja.csv", JAPANESE);
    let de = exports.file("de.csv", GERMAN);
    assert_eq!(import(store, &en, "en").await, (2, 0, 0));
    assert_eq!(import(store, &ja, "ja").await, (0, 2, 0));
    assert_eq!(import(store, &de, "de").await, (0, 1, 0));

    let product = kettle(store).await;
    assert_eq!(
        titles(&product),
        [
            ("de", "Gusseisen-Teekessel"),
            ("en", "Cast Iron Kettle"),
            ("ja", "南部鉄瓶")
        ]
    );
    assert_eq!(
        product.translations[2].description,
        "岩手の南部鉄器の鉄瓶です。"
    );
    // The Japanese export's blank quantities and the German one's missing variant rows
    // leave the English export's stock alone.
    assert_eq!(
        stock(&product),
        [
            (Some("NK-06"), "0.6 l", 9800, Some(7)),
            (Some("NK-12"), "1.2 l", 12800, Some(3))
        ]
    );
    let whisk = store
        .product_by_handle("bamboo-whisk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        titles(&whisk),
        [("en", "Bamboo Matcha Whisk"), ("ja", "茶筅")]
    );
    assert_eq!(whisk.variants[0].stock, Some(25));

    // Every file again, in any order: nothing to write.
    assert_eq!(import(store, &en, "en").await, (0, 0, 2));
    assert_eq!(import(store, &de, "de").await, (0, 0, 1));
    assert_eq!(import(store, &ja, "ja").await, (0, 0, 2));
    assert_eq!(kettle(store).await, product);

    // A newer English export with new stock and a new title: only English and the stock
    // change.
    let newer: Vec<String> = ENGLISH
        .iter()
        .map(|row| {
            row.replace(",7,98.00", ",5,98.00")
                .replace("Cast Iron Kettle", "Nambu Cast Iron Kettle")
        })
        .collect();
    let newer = exports.file(
        "en-2.csv",
        &newer.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(import(store, &newer, "en").await, (0, 1, 1));
    let product = kettle(store).await;
    assert_eq!(
        titles(&product),
        [
            ("de", "Gusseisen-Teekessel"),
            ("en", "Nambu Cast Iron Kettle"),
            ("ja", "南部鉄瓶")
        ]
    );
    assert_eq!(
        stock(&product)
            .iter()
            .map(|(_, _, _, s)| *s)
            .collect::<Vec<_>>(),
        [Some(5), Some(3)]
    );
}

async fn ask(agent: &Agent, thread: &str, text: &str, chosen: Option<&str>) -> Outcome {
    agent
        .handle(&Inbound {
            channel: Channel::Web,
            thread_id: thread.into(),
            external_id: None,
            text: text.into(),
            customer: None,
            lang_hint: chosen.map(str::to_owned),
            lang_fixed: chosen.is_some(),
            client: None,
        })
        .await
        .unwrap()
}

fn cited(o: &Outcome) -> Vec<&str> {
    o.replies
        .iter()
        .flat_map(|r| &r.citations)
        .map(|c| c.document_id.as_str())
        .collect()
}

pub async fn customers_find_a_product_by_any_of_its_names_and_read_their_own(store: &Store) {
    let exports = Exports::new();
    import(store, &exports.file("en.csv", ENGLISH), "en").await;
    import(store, &exports.file("ja.csv", JAPANESE), "ja").await;
    import(store, &exports.file("de.csv", GERMAN), "de").await;
    let dir = tempfile::tempdir().unwrap();
    let knowledge = crate::shop::knowledge(store, dir.path()).await;
    // The Japanese name finds the product's Japanese passage.
    let mut by_name = kefu_knowledge::SearchRequest::new("南部鉄瓶");
    by_name.lang = Some("ja".into());
    let found = knowledge.search_embedded(&by_name, None).await.unwrap();
    assert_eq!(
        found.first().map(|f| f.hit.passage.doc_id.as_str()),
        Some("product:nambu-kettle:ja")
    );
    let agent = Agent::new(store.clone(), Some(knowledge), crate::shop::settings()).unwrap();

    let en = ask(&agent, "en", "Do you sell a cast iron kettle?", None).await;
    let text = &en.replies[0].text;
    assert!(
        text.contains("Cast Iron Kettle") && !text.contains("南部鉄瓶"),
        "{text}"
    );
    assert_eq!(cited(&en), ["product:nambu-kettle:en"]);

    let ja = ask(&agent, "ja", "南部鉄瓶はありますか？", None).await;
    assert_eq!(ja.language, "ja");
    let text = &ja.replies[0].text;
    assert!(
        text.contains("南部鉄瓶") && !text.contains("Cast Iron Kettle"),
        "{text}"
    );
    assert_eq!(cited(&ja), ["product:nambu-kettle:ja"]);

    // A customer who chose English, asking by the Japanese name: found through the
    // Japanese passage, shown and cited in English (the reply quotes their question).
    let by_name = ask(&agent, "en-ja", "南部鉄瓶はありますか？", Some("en")).await;
    let text = &by_name.replies[0].text;
    assert!(
        text.contains("Cast Iron Kettle — 98.00 USD") && !text.contains("南部鉄瓶 —"),
        "{text}"
    );
    assert_eq!(cited(&by_name), ["product:nambu-kettle:en"]);

    // A French customer: the shop has no French, so the shop's default language (English).
    let fr = ask(
        &agent,
        "fr",
        "Vous avez le Gusseisen-Teekessel ?",
        Some("fr"),
    )
    .await;
    let text = &fr.replies[0].text;
    assert!(text.contains("Cast Iron Kettle"), "{text}");
    assert_eq!(cited(&fr), ["product:nambu-kettle:en"]);
}
