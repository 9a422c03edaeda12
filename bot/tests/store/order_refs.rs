//! Order references in any shop's format, and changes only after the customer confirms
//! them: a shop whose order names have prefixes and suffixes (and that changed its format
//! once), customers who type them every which way, references that match nothing (never
//! swapped for another order), and cancellations, returns and address changes that wait
//! for a "yes" — in the offline engine and under a scripted LLM.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use kefu_bot::agent::llm::{LlmEngine, LlmSettings};
use kefu_bot::agent::{Agent, Inbound, Outcome};
use kefu_bot::shop::{Channel, Currency, Email, OrderStatus};
use kefu_bot::slots::{self, OrderRef};
use kefu_bot::store::{Address, Buyer, LineRecord, OrderRecord, ShipmentRecord, Store};

use crate::llm_server::{LlmServer, Step};

const ANN: &str = "ann.lee@example.com";
const BOB: &str = "bob.ray@example.com";

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap()
}

/// An order of `email`'s; shipped orders get a delivered parcel.
fn order(name: &str, email: &str, day: u32, shipped: bool) -> OrderRecord {
    OrderRecord {
        name: name.into(),
        external_id: None,
        buyer: Buyer {
            email: Some(Email::parse(email).unwrap()),
            phone: None,
            name: Some(email.split('.').next().unwrap().into()),
            country: Some("DE".into()),
            accepts_email: None,
        },
        currency: Currency::parse("EUR").unwrap(),
        status: OrderStatus::Open,
        financial_status: Some("paid".into()),
        fulfillment_status: if shipped { "fulfilled" } else { "unfulfilled" }.into(),
        subtotal: 4200,
        shipping: 0,
        taxes: 0,
        discount: 0,
        total: 4200,
        refunded: 0,
        discount_codes: vec![],
        shipping_method: None,
        shipping_address: Some(Address {
            address1: Some("Torstraße 1".into()),
            city: Some("Berlin".into()),
            zip: Some("10119".into()),
            country: Some("DE".into()),
            ..Address::default()
        }),
        billing_name: None,
        payment_method: None,
        note: None,
        tags: vec![],
        source: None,
        created_at: at(day),
        paid_at: Some(at(day)),
        fulfilled_at: shipped.then(|| at(day + 1)),
        cancelled_at: None,
        lines: vec![LineRecord {
            sku: Some("MUG-1".into()),
            name: "Stoneware Mug".into(),
            quantity: 2,
            price: 2100,
            compare_at: None,
            discount: 0,
            requires_shipping: true,
            taxable: true,
            fulfillment_status: None,
            vendor: None,
        }],
    }
}

/// A shop that used `#1001` names, then `#TS1001`, and sells under other labels too.
async fn seed(store: &Store) {
    let mut w = store.writer().await.unwrap();
    let orders = [
        order("#1001", ANN, 1, true),
        order("#TS1001", ANN, 10, true),
        order("#TS1002", BOB, 11, false),
        order("SHOP-2001", ANN, 12, false),
        order("3001-EU", ANN, 13, false),
        order("VX-5001-US", ANN, 14, false),
        order("RC-10234-EU", ANN, 15, false),
        order("RC-10235-EU", BOB, 15, false),
    ];
    w.write_orders(&orders).await.unwrap();
    let ids = w.order_ids(&["#TS1001".to_string()]).await.unwrap();
    w.write_shipments(&[ShipmentRecord {
        order_id: ids["#TS1001"],
        carrier: "DHL".into(),
        tracking_number: "00340434161234567890".into(),
        promised_by: Some(at(14)),
        events: vec![kefu_bot::store::TrackingEvent {
            at: at(13),
            status: kefu_bot::shop::TrackingStatus::Delivered,
            location: Some("Berlin".into()),
            description: None,
        }],
    }])
    .await
    .unwrap();
    w.commit().await.unwrap();
}

fn settings() -> kefu_bot::agent::AgentSettings {
    kefu_bot::agent::AgentSettings {
        shop_name: "Tea & Stone".into(),
        clock: std::sync::Arc::new(|| at(20)),
        ..kefu_bot::agent::AgentSettings::default()
    }
}

async fn customer(store: &Store, email: &str) -> i64 {
    store
        .customer_by_email(&Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn say(agent: &Agent, thread: &str, customer: Option<i64>, text: &str) -> Outcome {
    agent
        .handle(&Inbound {
            channel: Channel::Web,
            thread_id: thread.into(),
            external_id: None,
            text: text.into(),
            customer,
            lang_hint: None,
            lang_fixed: false,
            client: None,
        })
        .await
        .unwrap()
}

fn reply(o: &Outcome) -> String {
    o.replies
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn status(store: &Store, name: &str) -> String {
    store.order_by_name(name).await.unwrap().unwrap().status
}

/// What a reference typed in a message finds among all orders.
async fn found(store: &Store, text: &str) -> Option<String> {
    let formats = store.order_formats().await.unwrap();
    let refs = slots::order_refs(text, &formats);
    let [r] = refs.as_slice() else {
        panic!("{text}: {refs:?}");
    };
    store
        .order_by_reference(None, r, &formats)
        .await
        .unwrap()
        .map(|o| o.name)
}

pub async fn order_names_are_found_however_customers_write_them(store: &Store) {
    seed(store).await;
    let formats = store.order_formats().await.unwrap();
    let learned: Vec<(&str, &str, usize)> = formats
        .formats()
        .iter()
        .map(|f| (f.prefix.as_str(), f.suffix.as_str(), f.min_digits))
        .collect();
    assert_eq!(
        learned,
        [
            ("RC", "EU", 5),
            ("TS", "", 4),
            ("", "", 4),
            ("", "EU", 4),
            ("SHOP", "", 4),
            ("VX", "US", 4)
        ]
    );
    for (typed, want) in [
        ("where is ts1001?", "#TS1001"),
        ("TS 1001 please", "#TS1001"),
        ("ＴＳ１００１はどこ", "#TS1001"),
        ("is TD1001 here yet", "#TS1001"),
        ("order 1001", "#1001"),
        ("shop-2001", "SHOP-2001"),
        ("SHOP 2001", "SHOP-2001"),
        ("order 2001", "SHOP-2001"),
        ("what about 3001-eu", "3001-EU"),
        ("order 3001", "3001-EU"),
        ("VX 5001", "VX-5001-US"),
        ("vx5001us", "VX-5001-US"),
        ("VX-5001-US", "VX-5001-US"),
        ("rc 10234 eu", "RC-10234-EU"),
    ] {
        assert_eq!(found(store, typed).await.as_deref(), Some(want), "{typed}");
    }
    // Nothing that is only a number becomes a reference.
    for text in [
        "I need 2 mugs for 4200 cents",
        "my postcode is 10119",
        "since 2026",
        "call 030-1234567",
    ] {
        assert!(slots::order_refs(text, &formats).is_empty(), "{text}");
    }
    // The stored key and the shape counts follow the names; counting again from the
    // orders gives the same formats.
    assert_eq!(store.fill_order_keys().await.unwrap(), 0);
    store.refresh_order_formats().await.unwrap();
    assert_eq!(store.order_formats().await.unwrap(), formats);
    let r = OrderRef::parse("ts-1001").unwrap();
    assert_eq!(r.key, "TS1001");
    let ann = customer(store, ANN).await;
    let bob = customer(store, BOB).await;
    let mine = store
        .order_by_reference(Some(ann), &r, &formats)
        .await
        .unwrap();
    assert_eq!(mine.map(|o| o.name).as_deref(), Some("#TS1001"));
    assert!(
        store
            .order_by_reference(Some(bob), &r, &formats)
            .await
            .unwrap()
            .is_none(),
        "another customer's order is not found"
    );
}

pub async fn a_customer_names_orders_in_the_shops_format(store: &Store) {
    seed(store).await;
    let agent = Agent::new(store.clone(), None, settings()).unwrap();
    let ann = customer(store, ANN).await;
    let o = say(&agent, "a", Some(ann), "where is ts1001?").await;
    let text = reply(&o);
    assert!(
        text.contains("#TS1001") && text.contains("00340434161234567890"),
        "{text}"
    );
    let o = say(&agent, "b", Some(ann), "has order 3001 shipped?").await;
    assert!(reply(&o).contains("3001-EU"), "{}", reply(&o));
    let o = say(&agent, "c", Some(ann), "any news on VX 5001?").await;
    assert!(reply(&o).contains("VX-5001-US"), "{}", reply(&o));
    // The number alone of one of her own orders.
    let o = say(&agent, "d", Some(ann), "10234 shipped yet?").await;
    assert!(reply(&o).contains("RC-10234-EU"), "{}", reply(&o));
    // An anonymous visitor naming such an order is asked to verify, not given an article.
    let o = say(&agent, "e", None, "where is my order ts1001").await;
    assert!(o.awaiting_verification, "{}", reply(&o));
    // … and verifies with the name as typed and the e-mail on the order.
    let o = say(&agent, "e", None, "ts1001, ann.lee@example.com").await;
    assert!(o.verified, "{}", reply(&o));
    assert!(reply(&o).contains("#TS1001"), "{}", reply(&o));
}

pub async fn a_reference_that_matches_nothing_is_never_swapped(store: &Store) {
    seed(store).await;
    let agent = Agent::new(store.clone(), None, settings()).unwrap();
    let ann = customer(store, ANN).await;
    // Bob's order reads exactly like one that does not exist.
    let bobs = reply(&say(&agent, "a", Some(ann), "where is TS1002?").await);
    let none = reply(&say(&agent, "b", Some(ann), "where is TS1999?").await);
    assert_eq!(bobs.replace("TS1002", "X"), none.replace("TS1999", "X"));
    assert!(bobs.contains("TS1002"), "{bobs}");
    for text in [&bobs, &none] {
        for own in [
            "#TS1001",
            "#1001",
            "SHOP-2001",
            "3001-EU",
            "VX-5001-US",
            "RC-10234-EU",
        ] {
            assert!(!text.contains(own), "{text}");
        }
    }
    // A refund question on an unknown order opens nothing, anywhere.
    for (thread, text) in [
        ("c", "how much was refunded on TS1002?"),
        ("d", "how much was refunded on XYZ-777?"),
        ("e", "I want a refund for order 9999"),
    ] {
        let o = say(&agent, thread, Some(ann), text).await;
        let answer = reply(&o);
        assert!(answer.contains("can't find order"), "{text}: {answer}");
        assert!(
            !o.tool_calls.iter().any(|c| c.name == "start_return"),
            "{text}"
        );
    }
    // A refund question on her own order is answered, and opens nothing either.
    let o = say(&agent, "f", Some(ann), "how much was refunded on ts1001?").await;
    assert!(
        reply(&o).contains("Nothing has been refunded on order #TS1001"),
        "{}",
        reply(&o)
    );
    for name in ["#TS1001", "#1001", "#TS1002"] {
        let id = store.order_by_name(name).await.unwrap().unwrap().id;
        assert!(store.return_requests_of(id).await.unwrap().is_empty());
    }
    // Cancelling Bob's order: not found, and a "yes" after it changes nothing.
    let o = say(&agent, "g", Some(ann), "cancel RC-10235-EU").await;
    assert!(
        reply(&o).contains("can't find order RC-10235-EU"),
        "{}",
        reply(&o)
    );
    say(&agent, "g", Some(ann), "yes").await;
    assert_eq!(status(store, "RC-10235-EU").await, "open");
    assert_eq!(status(store, "RC-10234-EU").await, "open");
}

pub async fn a_change_waits_for_the_customers_yes(store: &Store) {
    seed(store).await;
    let agent = Agent::new(store.clone(), None, settings()).unwrap();
    let ann = customer(store, ANN).await;
    // Asked, confirmed with "yes, cancel it": cancelled.
    let o = say(&agent, "a", Some(ann), "please cancel vx5001us").await;
    let ask = reply(&o);
    assert!(
        ask.contains("Shall I cancel order VX-5001-US") && ask.contains("Reply YES"),
        "{ask}"
    );
    assert_eq!(status(store, "VX-5001-US").await, "open");
    let o = say(&agent, "a", Some(ann), "yes, cancel it").await;
    assert!(
        reply(&o).contains("order VX-5001-US is cancelled"),
        "{}",
        reply(&o)
    );
    assert_eq!(status(store, "VX-5001-US").await, "cancelled");
    // A "no" keeps the order, and says so.
    say(&agent, "b", Some(ann), "cancel order 2001").await;
    let o = say(&agent, "b", Some(ann), "no, keep it").await;
    assert!(
        reply(&o).contains("left order SHOP-2001 as it is"),
        "{}",
        reply(&o)
    );
    // Anything else drops the change and is answered as itself; a later "yes" finds
    // nothing pending.
    say(&agent, "c", Some(ann), "cancel order 2001").await;
    let o = say(&agent, "c", Some(ann), "where is ts1001?").await;
    assert!(reply(&o).contains("#TS1001"), "{}", reply(&o));
    say(&agent, "c", Some(ann), "yes").await;
    assert_eq!(status(store, "SHOP-2001").await, "open");
    // A confirmation naming another order does not carry out the pending one.
    say(&agent, "d", Some(ann), "cancel order 2001").await;
    say(&agent, "d", Some(ann), "yes, 3001-EU").await;
    assert_eq!(status(store, "SHOP-2001").await, "open");
    assert_eq!(status(store, "3001-EU").await, "open");
    // "Can I cancel?" offers; nothing changes until the yes.
    let o = say(&agent, "e", Some(ann), "can I still cancel 3001-eu?").await;
    assert!(
        reply(&o).contains("3001-EU"),
        "{} {:?}",
        reply(&o),
        o.tool_calls
    );
    assert_eq!(status(store, "3001-EU").await, "open");
    // A return: asked with the items, opened on "はい".
    let o = say(&agent, "f", Some(ann), "I want to return TS 1001").await;
    assert!(reply(&o).contains("Stoneware Mug"), "{}", reply(&o));
    let ts1001 = store.order_by_name("#TS1001").await.unwrap().unwrap().id;
    assert!(store.return_requests_of(ts1001).await.unwrap().is_empty());
    say(&agent, "f", Some(ann), "はい").await;
    assert_eq!(store.return_requests_of(ts1001).await.unwrap().len(), 1);
    // An address change: the new address is repeated, changed on "oui".
    let o = say(
        &agent,
        "g",
        Some(ann),
        "please change the address of RC-10234-EU to Kastanienallee 7, 10435 Berlin",
    )
    .await;
    assert!(reply(&o).contains("Kastanienallee 7"), "{}", reply(&o));
    let before = store.order_by_name("RC-10234-EU").await.unwrap().unwrap();
    assert_eq!(
        before.shipping_address.unwrap().address1.as_deref(),
        Some("Torstraße 1")
    );
    say(&agent, "g", Some(ann), "oui").await;
    let after = store.order_by_name("RC-10234-EU").await.unwrap().unwrap();
    assert_eq!(
        after.shipping_address.unwrap().address1.as_deref(),
        Some("Kastanienallee 7")
    );
}

/// The LLM engine's change tools only prepare the change; the customer's "yes" carries it
/// out through the same rules, and a reference that matches nothing stays unmatched.
#[tokio::test]
async fn the_model_prepares_a_change_and_the_customers_yes_makes_it() {
    let db = crate::common::TestDb::sqlite().await;
    let store = &db.store;
    seed(store).await;
    let server = LlmServer::start(vec![
        Step::Call("cancel_order", r#"{"order": "vx5001us"}"#),
        Step::Say("Shall I cancel order VX-5001-US? Reply YES to confirm."),
        Step::Call("cancel_order", r#"{"order": "RC-10235-EU"}"#),
        Step::Say("I couldn't find order RC-10235-EU among your orders."),
    ])
    .await;
    let engine = LlmEngine::new(LlmSettings {
        base_url: server.base_url.clone(),
        model: "scripted".into(),
        timeout: Duration::from_secs(10),
        ..LlmSettings::default()
    })
    .unwrap();
    let agent = Agent::new(store.clone(), None, settings())
        .unwrap()
        .with_llm(engine);
    let ann = customer(store, ANN).await;
    let o = say(&agent, "t", Some(ann), "cancel vx5001us please").await;
    assert_eq!(o.engine, "llm", "{:?}", o.fallback);
    assert_eq!(status(store, "VX-5001-US").await, "open");
    let tool_result = server.requests()[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        tool_result.contains("\"needs_confirmation\":true") && tool_result.contains("VX-5001-US"),
        "{tool_result}"
    );
    assert!(!o.tool_calls.iter().any(|c| c.name == "cancel_order"));
    let o = say(&agent, "t", Some(ann), "yes").await;
    assert_eq!(o.engine, "offline");
    assert!(
        reply(&o).contains("order VX-5001-US is cancelled"),
        "{}",
        reply(&o)
    );
    assert_eq!(status(store, "VX-5001-US").await, "cancelled");
    // Bob's order: the tool finds nothing, and the next "yes" changes nothing.
    let o = say(&agent, "u", Some(ann), "cancel RC-10235-EU").await;
    assert_eq!(o.engine, "llm", "{:?}", o.fallback);
    let last = server.requests().last().unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last.contains("no order RC-10235-EU"), "{last}");
    say(&agent, "u", Some(ann), "yes").await;
    assert_eq!(status(store, "RC-10235-EU").await, "open");
    assert_eq!(status(store, "RC-10234-EU").await, "open");
}
