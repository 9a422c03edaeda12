//! Import conformance: fixtures written by the tests in Shopify's and kefu's formats.

use std::path::{Path, PathBuf};

use kefu_bot::import::{self, ImportError, Quiet};
use kefu_bot::shop::{Channel, Currency, Email};
use kefu_bot::store::Store;

const ORDER_HEADER: &str = "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,Billing Name,Shipping Name,Shipping Street,Shipping Address1,Shipping City,Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Notes,Cancelled at,Payment Method,Refunded Amount,Vendor,Id,Tags,Phone,Some Column Shopify Added Later";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        path
    }
}

/// Three orders: a two-line order with quoted commas and a multi-line note (Chinese
/// buyer), a one-line order from an Arabic-named buyer, and a cancelled one.
fn orders_csv() -> String {
    [
        ORDER_HEADER,
        "#1001,wang.fang@example.com,paid,2025-10-07 09:51:02 +0200,fulfilled,2025-10-08 10:00:00 +0200,yes,USD,60.00,0.00,4.20,64.20,WELCOME10,6.00,Standard,2025-10-07 09:50:26 +0200,2,\"Celadon Teacup, large\",20.00,,LP-CUP,true,true,fulfilled,王芳,王芳,\"88 Nanjing Rd, Apt 5\",88 Nanjing Rd,上海,200040,SH,CN,'+86 138 0013 8000,\"Leave at the door,\nring twice\",,Alipay,0.00,Kiln,5600000001,\"gift, vip\",+86 138 0013 8000,x",
        "#1001,wang.fang@example.com,,,,,,,,,,,,,,,1,Sencha,26.00,30.00,LP-SENCHA,true,true,fulfilled,,,,,,,,,,,,,,Misty,,,,",
        "#1002,layla.hassan@example.com,paid,2025-10-09 18:00:00 +0300,unfulfilled,,no,EUR,35.50,5.95,0.00,41.45,,0.00,Standard,2025-10-09 18:00:00 +0300,1,Tea Caddy,35.50,,LP-CADDY,true,true,,ليلى حسن,ليلى حسن,شارع الملك فهد,,الرياض,12211,,SA,,,,Visa,0.00,Kiln,5600000002,,,",
        "#1003,wang.fang@example.com,refunded,2025-10-10 08:00:00 +0200,,,yes,USD,10.00,5.95,0.00,15.95,,0.00,Standard,2025-10-10 08:00:00 +0200,1,Sencha,10.00,,LP-SENCHA,true,true,,王芳,王芳,,,,,,CN,,,2025-10-10 09:00:00 +0200,Alipay,15.95,Misty,5600000003,,,",
    ]
    .join("\n")
        + "\n"
}

pub async fn shopify_orders_with_several_line_items_import_once(store: &Store) {
    let fx = Fixture::new();
    let file = fx.write("orders.csv", &orders_csv());
    let summary = import::import_shopify_orders(store, &file, &Quiet)
        .await
        .unwrap();
    assert_eq!(summary.rows, 4);
    assert_eq!(summary.section("orders").created, 3);
    assert_eq!(summary.section("customers").created, 2);
    assert_eq!(summary.section("order lines").created, 4);

    let o = store.order_by_name("#1001").await.unwrap().unwrap();
    assert_eq!(o.lines.len(), 2);
    assert_eq!(o.lines[0].name, "Celadon Teacup, large");
    assert_eq!(o.lines[1].compare_at, Some(3000));
    assert_eq!(
        (o.subtotal, o.taxes, o.total, o.discount),
        (6000, 420, 6420, 600)
    );
    assert_eq!(o.created_at.to_rfc3339(), "2025-10-07T07:50:26+00:00");
    assert_eq!(o.fulfillment_status, "fulfilled");
    let address = o.shipping_address.unwrap();
    assert_eq!(address.city.as_deref(), Some("上海"));
    assert_eq!(address.address1.as_deref(), Some("88 Nanjing Rd"));

    let layla = store
        .customer_by_email(&Email::parse("layla.hassan@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(layla.name.as_deref(), Some("ليلى حسن"));
    let eur = store.order_by_name("#1002").await.unwrap().unwrap();
    assert_eq!((eur.currency.as_str(), eur.total), ("EUR", 4145));
    let cancelled = store.order_by_name("#1003").await.unwrap().unwrap();
    assert_eq!(
        (cancelled.status.as_str(), cancelled.refunded),
        ("cancelled", 1595)
    );

    let wang = store
        .customer_by_email(&Email::parse("wang.fang@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(wang.phone.as_deref(), Some("+8613800138000"));
    assert_eq!(store.orders_of(wang.id).await.unwrap().len(), 2);
    let consent = store.consents(wang.id).await.unwrap();
    assert!(
        consent
            .iter()
            .any(|c| c.channel == Channel::Email && c.granted)
    );

    // The same file again: nothing new, nothing duplicated.
    let again = import::import_shopify_orders(store, &file, &Quiet)
        .await
        .unwrap();
    assert_eq!(again.section("orders").created, 0);
    assert_eq!(again.section("orders").unchanged, 3);
    assert_eq!(again.section("customers").created, 0);
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.orders, stats.order_lines, stats.customers),
        (3, 4, 2)
    );
}

pub async fn a_bad_date_names_its_line_and_column_and_writes_nothing(store: &Store) {
    let fx = Fixture::new();
    // 700 good one-line orders (more than one write batch), then a bad date on line 702.
    let mut text = String::from(ORDER_HEADER);
    text.push('\n');
    for i in 0..700 {
        text.push_str(&format!(
            "#{},c{i}@example.com,paid,,unfulfilled,,no,USD,1.00,0,0,1.00,,0,Standard,2025-10-07 09:50:26 +0200,1,Tea,1.00,,T,true,true,,,,,,,,,,,,,,,,,,,\n",
            2000 + i
        ));
    }
    text.push_str("#9999,bad@example.com,paid,,unfulfilled,,no,USD,1.00,0,0,1.00,,0,Standard,2025-13-45 09:50:26 +0200,1,Tea,1.00,,T,true,true,,,,,,,,,,,,,,,,,,,\n");
    let file = fx.write("orders.csv", &text);
    let err = import::import_shopify_orders(store, &file, &Quiet)
        .await
        .unwrap_err();
    match &err {
        ImportError::Row {
            line,
            field,
            message,
            ..
        } => {
            assert_eq!(*line, 702, "{err}");
            assert_eq!(field, "Created at");
            assert!(message.contains("2025-13-45"), "{err}");
        }
        other => panic!("expected a row error, got {other}"),
    }
    assert!(
        err.to_string().contains("orders.csv:702: Created at:"),
        "{err}"
    );
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.orders, stats.customers, stats.order_lines),
        (0, 0, 0),
        "nothing from the file is kept"
    );
}

pub async fn orders_rows_that_are_not_adjacent_are_refused(store: &Store) {
    let fx = Fixture::new();
    let row = |name: &str| {
        format!(
            "{name},a@example.com,paid,,unfulfilled,,no,USD,1.00,0,0,1.00,,0,Standard,2025-10-07 09:50:26 +0200,1,Tea,1.00,,T,true,true"
        )
    };
    let text = format!(
        "{ORDER_HEADER}\n{}\n{}\n{}\n",
        row("#1"),
        row("#2"),
        row("#1")
    );
    let file = fx.write("orders.csv", &text);
    let err = import::import_shopify_orders(store, &file, &Quiet)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(":4: Name:"), "{err}");
    assert!(err.to_string().contains("adjacent"), "{err}");
    assert_eq!(store.stats().await.unwrap().orders, 0);
}

pub async fn a_file_with_a_bom_and_missing_optional_columns_imports(store: &Store) {
    let fx = Fixture::new();
    let text = "\u{feff}Name,Email,Currency,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price\r\n#5,min@example.com,jpy,1500,2025-01-02 03:04:05 +0900,3,抹茶,500\r\n";
    let file = fx.write("orders.csv", text);
    let summary = import::import_shopify_orders(store, &file, &Quiet)
        .await
        .unwrap();
    assert_eq!(summary.section("orders").created, 1);
    let o = store.order_by_name("#5").await.unwrap().unwrap();
    assert_eq!(
        (
            o.currency.as_str(),
            o.total,
            o.lines[0].price,
            o.lines[0].quantity
        ),
        ("JPY", 1500, 500, 3)
    );
    assert_eq!(o.fulfillment_status, "unfulfilled");

    let missing = fx.write("no-name.csv", "Email,Total\nx@example.com,1\n");
    let err = import::import_shopify_orders(store, &missing, &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("missing columns `Name`, `Created at`, `Currency`"),
        "{err}"
    );
}

pub async fn shopify_products_group_variants_by_handle(store: &Store) {
    let fx = Fixture::new();
    let text = "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,Variant Grams,Variant Inventory Qty,Variant Price,Variant Compare At Price,Image Src\n\
        gaiwan,Porcelain Gaiwan,\"<p>Thin walls, <b>hand-painted</b> &amp; fired twice.</p>\",Kiln,Teaware,\"teaware, porcelain\",true,Size,Small,GW-S,150,12,24.00,,https://img.example/gw.jpg\n\
        gaiwan,,,,,,,,Large,GW-L,220,0,32.00,36.00,\n\
        gaiwan,,,,,,,,,,,,,,https://img.example/gw-2.jpg\n\
        sencha,Sencha,<p>Steamed green tea.</p>,Misty,Tea,tea,true,Title,Default Title,SEN-50,50,80,12.50,,\n";
    let file = fx.write("products.csv", text);
    let summary = import::import_shopify_products(store, &file, Currency::USD, "en", &Quiet)
        .await
        .unwrap();
    assert_eq!(summary.section("products").created, 2);
    let gaiwan = store.product_by_handle("gaiwan").await.unwrap().unwrap();
    assert_eq!(gaiwan.variants.len(), 2);
    assert_eq!(gaiwan.variants[1].compare_at, Some(3600));
    assert_eq!(gaiwan.variants[1].stock, Some(0));
    assert_eq!(
        gaiwan.translations[0].description,
        "Thin walls, hand-painted & fired twice."
    );
    assert_eq!(gaiwan.tags, vec!["porcelain", "teaware"]);
    // The first image is the product's (campaign product cards show it).
    assert_eq!(
        gaiwan.image_url.as_deref(),
        Some("https://img.example/gw.jpg")
    );
    let sencha = store.product_by_handle("sencha").await.unwrap().unwrap();
    assert_eq!(sencha.variants[0].title, "");
    assert_eq!(sencha.image_url, None);
    let again = import::import_shopify_products(store, &file, Currency::USD, "en", &Quiet)
        .await
        .unwrap();
    assert_eq!(again.section("products").unchanged, 2);
}

pub async fn customers_csv_links_identities_and_consent(store: &Store) {
    let fx = Fixture::new();
    let text = "email,phone,name,locale,time_zone,country,tags,telegram_id,discord_id,accepts_email,accepts_telegram,accepts_discord\n\
        lucia@example.com,+34 600 000 001,Lucía García,es_ES,Europe/Madrid,es,\"vip, madrid\",5000000123,,true,false,\n\
        ,+81 90 0000 0002,田中ゆき,ja,Asia/Tokyo,JP,,,912345678901234567,,,true\n";
    let file = fx.write("customers.csv", text);
    let summary = import::import_customers(store, &file, &Quiet)
        .await
        .unwrap();
    assert_eq!(summary.section("customers").created, 2);
    let lucia = store
        .customer_by_email(&Email::parse("lucia@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (lucia.locale.as_deref(), lucia.country.as_deref()),
        (Some("es-ES"), Some("ES"))
    );
    assert_eq!(lucia.tags, vec!["madrid", "vip"]);
    let tg = store
        .identity(Channel::Telegram, "5000000123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((tg.customer_id, tg.verified), (lucia.id, true));
    let consents = store.consents(lucia.id).await.unwrap();
    assert_eq!(
        consents
            .iter()
            .map(|c| (c.channel, c.granted))
            .collect::<Vec<_>>(),
        vec![(Channel::Telegram, false), (Channel::Email, true)]
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
    );
    assert!(
        store
            .identity(Channel::Discord, "912345678901234567")
            .await
            .unwrap()
            .is_some()
    );
    let again = import::import_customers(store, &file, &Quiet)
        .await
        .unwrap();
    assert_eq!(
        again.section("customers"),
        kefu_bot::store::Counts {
            created: 0,
            updated: 0,
            unchanged: 2
        }
    );

    let bad = fx.write(
        "bad.csv",
        "email,time_zone\nok@example.com,Europe/Madrid\nbad@example.com,Mars/Base\n",
    );
    let err = import::import_customers(store, &bad, &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("bad.csv:3: time_zone: `Mars/Base`"),
        "{err}"
    );
    assert!(
        store
            .customer_by_email(&Email::parse("ok@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn shipments_need_a_known_order(store: &Store) {
    let fx = Fixture::new();
    let orders = fx.write("orders.csv", &orders_csv());
    import::import_shopify_orders(store, &orders, &Quiet)
        .await
        .unwrap();
    let text = "order_name,carrier,tracking_number,promised_by,event_time,status,location,description\n\
        #1001,SF Express,SF1234567890,2025-10-15,2025-10-08 10:00:00 +0200,label_created,Edison NJ,Label created\n\
        1001,SF Express,SF1234567890,2025-10-15,2025-10-09T03:00:00Z,in_transit,\"Shanghai, CN\",Arrived\n\
        #1002,DHL,0034,,2025-10-10 10:00:00 +0300,delayed,Riyadh,Weather\n";
    let file = fx.write("shipments.csv", text);
    let summary = import::import_shipments(store, &file, &Quiet)
        .await
        .unwrap();
    assert_eq!(summary.section("tracking events").created, 3);
    let o = store.order_by_name("#1001").await.unwrap().unwrap();
    let parcels = store.shipments_of(o.id).await.unwrap();
    assert_eq!(parcels.len(), 1);
    assert_eq!(parcels[0].tracking_number, "SF1234567890");
    assert_eq!(parcels[0].status, kefu_bot::shop::TrackingStatus::InTransit);
    assert_eq!(
        parcels[0].promised_by.unwrap().to_rfc3339(),
        "2025-10-15T23:59:59+00:00"
    );
    let again = import::import_shipments(store, &file, &Quiet)
        .await
        .unwrap();
    assert_eq!(again.section("tracking events").unchanged, 3);

    let unknown = fx.write("unknown.csv", "order_name,carrier,tracking_number,promised_by,event_time,status,location,description\n#1002,DHL,1,,2025-10-10,delivered,,\n#4040,DHL,2,,2025-10-10,delivered,,\n");
    let err = import::import_shipments(store, &unknown, &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown.csv:3: order_name: order #4040 is not in the database"),
        "{err}"
    );
    let bad_status = fx.write("status.csv", "order_name,carrier,tracking_number,promised_by,event_time,status,location,description\n#1002,DHL,9,,2025-10-10,lost_in_space,,\n");
    let err = import::import_shipments(store, &bad_status, &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("status.csv:2: status: unknown tracking status `lost_in_space`"),
        "{err}"
    );
    assert_eq!(store.stats().await.unwrap().shipments, 2);
}

pub async fn faq_folder_imports_and_reports_bad_front_matter(store: &Store) {
    let fx = Fixture::new();
    fx.write(
        "faq/en/returns.md",
        "---\nid: returns\nlang: en\ntitle: Returns\ntags: [returns]\n---\n# Returns\n\n30 days.\n",
    );
    fx.write("faq/es/returns.md", "---\nid: returns-es\nlang: es\ntitle: Devoluciones\ngroup: returns\n---\n# Devoluciones\n\n30 días.\n");
    fx.write("faq/README.md", "Not an article.\n");
    let dir = fx.dir.path().join("faq");
    let summary = import::import_faq(store, &dir, "faq", false).await.unwrap();
    assert_eq!(summary.section("documents").created, 2);
    let again = import::import_faq(store, &dir, "faq", false).await.unwrap();
    assert_eq!(again.section("documents").unchanged, 2);
    assert_eq!(
        store.document("returns-es").await.unwrap().unwrap().group,
        "returns"
    );

    fx.write(
        "faq/fr/returns.md",
        "---\nid: returns-fr\nlang: fr\n---\n# Retours\n",
    );
    let err = import::import_faq(store, &dir, "faq", false)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "{}:",
            Path::new("fr").join("returns.md").display()
        )),
        "{text}"
    );
    assert!(text.contains("`title` is required"), "{text}");
    assert_eq!(store.stats().await.unwrap().documents, 2);
}

/// The line of an import error is the one a text editor shows, whatever comes before the
/// bad row: a byte-order mark, Windows line ends, blank lines, a quoted cell spanning
/// two lines.
pub async fn import_errors_name_the_line_an_editor_shows(store: &Store) {
    let fx = Fixture::new();
    let good = |name: &str, notes: &str| {
        format!(
            "{name},a@example.com,paid,,unfulfilled,,no,USD,1.00,0,0,1.00,,0,Standard,2025-10-07 09:50:26 +0200,1,Tea,1.00,,T,true,true,,,,,,,,,,,{notes},,,,,,,,"
        )
    };
    let bad_date = "#1004,a@example.com,paid,,unfulfilled,,no,USD,1.00,0,0,1.00,,0,Standard,2025-02-30 09:50:26 +0200,1,Tea,1.00,,T,true,true";
    for (newline, name) in [("\n", "orders-lf.csv"), ("\r\n", "orders-crlf.csv")] {
        // Line 1 header (after a BOM), lines 2–3 one row whose note spans two lines,
        // line 4 a second item of that order, line 5 blank, line 6 an order, line 7 the
        // bad date.
        let lines = [
            format!("\u{feff}{ORDER_HEADER}"),
            good(
                "#1001",
                &format!("\"Leave at the door,{newline}ring twice\""),
            ),
            good("#1001", ""),
            String::new(),
            good("#1002", ""),
            bad_date.to_owned(),
        ];
        let file = fx.write(name, &(lines.join(newline) + newline));
        let err = import::import_shopify_orders(store, &file, &Quiet)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!("{name}:7: Created at:")),
            "{err}"
        );
    }
    // A bad cell after a two-line cell of the same row is on the row's second line.
    let row = good("#1005", "\"first line\nsecond line\"").replace(
        "\"first line\nsecond line\",,",
        "\"first line\nsecond line\",tomorrow,",
    );
    let file = fx.write("orders-cell.csv", &format!("{ORDER_HEADER}\n\n{row}\n"));
    let err = import::import_shopify_orders(store, &file, &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("orders-cell.csv:4: Cancelled at:"),
        "{err}"
    );

    // Products: a description spanning two lines, then a bad price on line 6.
    let products = "\u{feff}Handle,Title,Body (HTML),Variant SKU,Variant Price\r\n\
        gaiwan,Gaiwan,\"<p>Thin walls,\r\nfired twice.</p>\",GW-S,24.00\r\n\
        gaiwan,,,GW-L,32.00\r\n\
        \r\n\
        sencha,Sencha,,SEN,twelve\r\n";
    let file = fx.write("products.csv", products);
    let err = import::import_shopify_products(store, &file, Currency::USD, "en", &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("products.csv:6: Variant Price:"),
        "{err}"
    );

    // Customers: tags spanning three lines, then a bad time zone on line 7.
    let customers = "\u{feff}email,name,tags,time_zone\n\
        lucia@example.com,Lucía,\"vip,\nmadrid,\nnewsletter\",Europe/Madrid\n\
        \n\
        ok@example.com,Ok,,Asia/Tokyo\n\
        bad@example.com,Bad,,Mars/Base\n";
    let file = fx.write("customers.csv", customers);
    let err = import::import_customers(store, &file, &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("customers.csv:7: time_zone:"),
        "{err}"
    );
    assert_eq!(store.stats().await.unwrap().orders, 0);
}

/// Shopify's `Status`: draft and archived products are stored but not offered to
/// customers (not indexed for search), and a later import that makes them active offers
/// them. `Published` FALSE works the same way.
pub async fn draft_and_archived_products_are_kept_but_not_offered(store: &Store) {
    let fx = Fixture::new();
    let header = "Handle,Title,Body (HTML),Published,Variant SKU,Variant Price,Status";
    let file = fx.write(
        "products.csv",
        &format!(
            "{header}\n\
             sencha,Sencha,<p>Steamed green tea.</p>,TRUE,SEN,12.50,active\n\
             winter-blend,Winter Blend,<p>Spiced black tea.</p>,TRUE,WB,14.00,draft\n\
             old-caddy,Old Caddy,<p>Tin caddy.</p>,TRUE,OC,9.00,archived\n\
             hidden-kettle,Hidden Kettle,<p>Cast iron.</p>,FALSE,HK,60.00,active\n\
             matcha,Matcha,<p>Stone-ground.</p>,TRUE,MA,20.00,\n"
        ),
    );
    let summary = import::import_shopify_products(store, &file, Currency::USD, "en", &Quiet)
        .await
        .unwrap();
    assert_eq!(summary.section("products").created, 5);
    let offered: Vec<String> = store
        .products()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.handle)
        .collect();
    assert_eq!(offered, ["matcha", "sencha"]);
    let draft = store
        .product_by_handle("winter-blend")
        .await
        .unwrap()
        .unwrap();
    assert!(!draft.published);
    assert_eq!(draft.translations[0].description, "Spiced black tea.");
    let indexed: Vec<String> = kefu_bot::sources::knowledge_sources(store, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.doc_id)
        .collect();
    assert_eq!(indexed, ["product:matcha:en", "product:sencha:en"]);

    // The draft goes live: the same product is updated, and now offered.
    let live = fx.write(
        "products-live.csv",
        &format!(
            "{header}\nwinter-blend,Winter Blend,<p>Spiced black tea.</p>,TRUE,WB,14.00,Active\n"
        ),
    );
    let summary = import::import_shopify_products(store, &live, Currency::USD, "en", &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (
            summary.section("products").created,
            summary.section("products").updated
        ),
        (0, 1)
    );
    let offered: Vec<String> = store
        .products()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.handle)
        .collect();
    assert_eq!(offered, ["matcha", "sencha", "winter-blend"]);

    let bad = fx.write(
        "products-bad.csv",
        &format!("{header}\n\nsencha,Sencha,,TRUE,SEN,12.50,paused\n"),
    );
    let err = import::import_shopify_products(store, &bad, Currency::USD, "en", &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("products-bad.csv:3: Status: `paused` is not a product status"),
        "{err}"
    );
}
