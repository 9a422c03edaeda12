//! Storage conformance cases, each run on every backend.

use chrono::{DateTime, Utc};
use kefu_bot::shop::{Channel, Currency, Email, OrderStatus, Phone, Role, TrackingStatus};
use kefu_bot::store::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn email(s: &str) -> Option<Email> {
    Some(Email::parse(s).unwrap())
}

fn customer(mail: &str, name: &str) -> CustomerRecord {
    CustomerRecord {
        email: email(mail),
        name: Some(name.into()),
        ..CustomerRecord::default()
    }
}

pub fn order(name: &str, buyer: &str, lines: &[(&str, i64, i64)]) -> OrderRecord {
    let subtotal = lines.iter().map(|l| l.1 * l.2).sum();
    OrderRecord {
        name: name.into(),
        external_id: None,
        buyer: Buyer {
            email: email(buyer),
            name: Some("Buyer".into()),
            ..Buyer::default()
        },
        currency: Currency::USD,
        status: OrderStatus::Open,
        financial_status: Some("paid".into()),
        fulfillment_status: "unfulfilled".into(),
        subtotal,
        shipping: 595,
        taxes: 0,
        discount: 0,
        total: subtotal + 595,
        refunded: 0,
        discount_codes: vec![],
        shipping_method: Some("Standard".into()),
        shipping_address: Some(Address {
            city: Some("Madrid".into()),
            country: Some("ES".into()),
            ..Address::default()
        }),
        billing_name: None,
        payment_method: None,
        note: None,
        tags: vec![],
        source: None,
        created_at: t("2025-10-07T07:50:26Z"),
        paid_at: None,
        fulfilled_at: None,
        cancelled_at: None,
        lines: lines
            .iter()
            .map(|(sku, qty, price)| LineRecord {
                sku: Some(sku.to_string()),
                name: format!("Item {sku}"),
                quantity: *qty,
                price: *price,
                compare_at: None,
                discount: 0,
                requires_shipping: true,
                taxable: true,
                fulfillment_status: None,
                vendor: None,
            })
            .collect(),
    }
}

pub async fn customers_are_matched_on_email_and_never_duplicated(store: &Store) {
    let mut w = store.writer().await.unwrap();
    let (ids, counts) = w
        .write_customers(
            &[
                customer("Ana@Example.com", "Ana"),
                customer("bo@example.com", "Bo"),
                customer("ana@example.com", "Ana Pérez"),
            ],
            Merge::Overwrite,
        )
        .await
        .unwrap();
    assert_eq!(counts.created, 2);
    assert_eq!(
        ids[0], ids[2],
        "the same e-mail in other case is the same customer"
    );
    w.commit().await.unwrap();

    let mut w = store.writer().await.unwrap();
    let mut again = customer("ana@example.com", "Ana Pérez");
    again.time_zone = Some("Europe/Madrid".into());
    let (ids2, counts) = w
        .write_customers(&[again, customer("bo@example.com", "Bo")], Merge::Overwrite)
        .await
        .unwrap();
    w.commit().await.unwrap();
    assert_eq!(
        counts,
        Counts {
            created: 0,
            updated: 1,
            unchanged: 1
        }
    );
    assert_eq!(ids2[0], ids[0]);
    let ana = store
        .customer_by_email(&Email::parse("ana@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ana.name.as_deref(), Some("Ana Pérez"));
    assert_eq!(ana.time_zone.as_deref(), Some("Europe/Madrid"));
    assert_eq!(store.stats().await.unwrap().customers, 2);
}

pub async fn order_buyers_only_fill_empty_customer_fields(store: &Store) {
    let mut w = store.writer().await.unwrap();
    w.write_customers(
        &[CustomerRecord {
            email: email("li@example.com"),
            name: Some("Li Wei".into()),
            ..Default::default()
        }],
        Merge::Overwrite,
    )
    .await
    .unwrap();
    let mut o = order("#1", "li@example.com", &[("A", 1, 1000)]);
    o.buyer.name = Some("SOMEONE ELSE".into());
    o.buyer.country = Some("CN".into());
    let counts = w.write_orders(&[o]).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(counts.customers.created, 0);
    let li = store
        .customer_by_email(&Email::parse("li@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        li.name.as_deref(),
        Some("Li Wei"),
        "an order never renames a customer"
    );
    assert_eq!(
        li.country.as_deref(),
        Some("CN"),
        "but fills what was empty"
    );
    let orders = store.orders_of(li.id).await.unwrap();
    assert_eq!(orders.len(), 1);
}

pub async fn customers_without_email_are_matched_on_phone(store: &Store) {
    let phone = Phone::parse("+34 600 111 222").unwrap();
    let mut w = store.writer().await.unwrap();
    let rec = CustomerRecord {
        phone: Some(phone.clone()),
        name: Some("Sin Correo".into()),
        ..Default::default()
    };
    let (a, c1) = w
        .write_customers(std::slice::from_ref(&rec), Merge::Overwrite)
        .await
        .unwrap();
    let (b, c2) = w.write_customers(&[rec], Merge::Overwrite).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(c1.created, 1);
    assert_eq!(c2.created, 0);
    assert_eq!(a, b);
    assert_eq!(store.stats().await.unwrap().customers, 1);
}

pub async fn identities_link_relink_and_fall_back_to_email(store: &Store) {
    let mut w = store.writer().await.unwrap();
    let mut rec = customer("tg@example.com", "Tg");
    rec.identities
        .push((Channel::Telegram, "5000000001".into(), true));
    let (ids, _) = w
        .write_customers(
            &[rec, customer("other@example.com", "Other")],
            Merge::Overwrite,
        )
        .await
        .unwrap();
    w.commit().await.unwrap();
    let (tg, other) = (ids[0].unwrap(), ids[1].unwrap());
    let id = store
        .identity(Channel::Telegram, "5000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((id.customer_id, id.verified), (tg, true));
    assert!(
        store
            .identity(Channel::Discord, "5000000001")
            .await
            .unwrap()
            .is_none(),
        "identities are per channel"
    );

    store
        .link_identity(Channel::Web, "visitor-1", other, false)
        .await
        .unwrap();
    store
        .link_identity(Channel::Web, "visitor-1", tg, true)
        .await
        .unwrap();
    let web = store
        .identity(Channel::Web, "visitor-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((web.customer_id, web.verified), (tg, true));
    assert_eq!(store.identities_of(tg).await.unwrap().len(), 2);

    let mail = store
        .identity(Channel::Email, "Other@Example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mail.customer_id, other);
    assert!(
        !mail.verified,
        "an e-mail sender address alone proves nothing"
    );
}

pub async fn a_newer_consent_decision_wins_and_an_older_one_is_ignored(store: &Store) {
    let consent = |granted, at: &str| Consent {
        channel: Channel::Email,
        granted,
        source: "test".into(),
        at: t(at),
    };
    let mut w = store.writer().await.unwrap();
    let mut rec = customer("c@example.com", "C");
    rec.consents = vec![consent(true, "2025-01-01T00:00:00Z")];
    let (ids, _) = w
        .write_customers(&[rec.clone()], Merge::Overwrite)
        .await
        .unwrap();
    rec.consents = vec![consent(false, "2025-06-01T00:00:00Z")];
    w.write_customers(&[rec.clone()], Merge::Overwrite)
        .await
        .unwrap();
    // An old file re-imported must not undo the newer opt-out.
    rec.consents = vec![consent(true, "2025-03-01T00:00:00Z")];
    w.write_customers(&[rec], Merge::Overwrite).await.unwrap();
    w.commit().await.unwrap();
    let id = ids[0].unwrap();
    let stored = store.consents(id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].granted);
    assert_eq!(stored[0].at, t("2025-06-01T00:00:00Z"));

    store
        .set_consent(
            id,
            &Consent {
                channel: Channel::Telegram,
                granted: false,
                source: "/stop".into(),
                at: Utc::now(),
            },
        )
        .await
        .unwrap();
    let stored = store.consents(id).await.unwrap();
    assert_eq!(
        stored.iter().map(|c| c.channel).collect::<Vec<_>>(),
        vec![Channel::Email, Channel::Telegram]
    );
}

pub async fn orders_round_trip_with_lines_and_exact_money(store: &Store) {
    let mut o = order(
        "#1043",
        "wang.fang@example.com",
        &[("TEA", 2, 1999), ("CUP", 1, 123_456_789_012)],
    );
    o.discount_codes = vec!["WELCOME10".into()];
    o.refunded = -0;
    o.cancelled_at = Some(t("2025-10-08T00:00:00Z"));
    o.status = OrderStatus::Cancelled;
    let mut w = store.writer().await.unwrap();
    let counts = w
        .write_orders(&[o.clone(), order("#1044", "x@example.com", &[("TEA", 1, 5)])])
        .await
        .unwrap();
    w.commit().await.unwrap();
    assert_eq!(counts.orders.created, 2);
    assert_eq!(counts.lines, 3);
    assert_eq!(counts.customers.created, 2);

    let stored = store.order_by_name("1043").await.unwrap().unwrap();
    assert_eq!(stored.name, "#1043");
    assert_eq!(stored.subtotal, 2 * 1999 + 123_456_789_012);
    assert_eq!(stored.total, stored.subtotal + 595);
    assert_eq!(stored.status, "cancelled");
    assert_eq!(stored.discount_codes, vec!["WELCOME10"]);
    assert_eq!(stored.created_at, t("2025-10-07T07:50:26Z"));
    assert_eq!(
        stored
            .lines
            .iter()
            .map(|l| l.sku.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["TEA", "CUP"]
    );
    assert_eq!(
        stored.shipping_address.unwrap().city.as_deref(),
        Some("Madrid")
    );
    assert!(store.order_by_name("#9999").await.unwrap().is_none());
}

pub async fn reimporting_an_unchanged_order_writes_nothing_and_a_changed_one_replaces_its_lines(
    store: &Store,
) {
    let first = order("#1", "a@example.com", &[("A", 1, 100), ("B", 1, 200)]);
    let mut w = store.writer().await.unwrap();
    w.write_orders(std::slice::from_ref(&first)).await.unwrap();
    w.commit().await.unwrap();

    let mut w = store.writer().await.unwrap();
    let counts = w.write_orders(std::slice::from_ref(&first)).await.unwrap();
    assert_eq!(
        counts.orders,
        Counts {
            created: 0,
            updated: 0,
            unchanged: 1
        }
    );
    let mut changed = order("#1", "a@example.com", &[("C", 3, 300)]);
    changed.fulfillment_status = "fulfilled".into();
    let counts = w.write_orders(&[changed]).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(counts.orders.updated, 1);
    let stored = store.order_by_name("#1").await.unwrap().unwrap();
    assert_eq!(stored.fulfillment_status, "fulfilled");
    assert_eq!(stored.lines.len(), 1);
    assert_eq!(stored.lines[0].quantity, 3);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.orders, stats.order_lines), (1, 1));
}

pub async fn parcel_status_follows_its_latest_event_and_events_are_deduplicated(store: &Store) {
    let mut w = store.writer().await.unwrap();
    w.write_orders(&[order("#7", "p@example.com", &[("A", 1, 100)])])
        .await
        .unwrap();
    let ids = w.order_ids(&["#7".into(), "#8".into()]).await.unwrap();
    assert_eq!(ids.len(), 1);
    let id = ids["#7"];
    let ev = |at: &str, status| TrackingEvent {
        at: t(at),
        status,
        location: Some("Madrid".into()),
        description: None,
    };
    let parcel = ShipmentRecord {
        order_id: id,
        carrier: "DHL".into(),
        tracking_number: "123".into(),
        promised_by: Some(t("2025-10-12T23:59:59Z")),
        events: vec![
            ev("2025-10-08T10:00:00Z", TrackingStatus::LabelCreated),
            ev("2025-10-09T10:00:00Z", TrackingStatus::InTransit),
        ],
    };
    let c = w
        .write_shipments(std::slice::from_ref(&parcel))
        .await
        .unwrap();
    assert_eq!(c.created, 2);
    let mut later = parcel.clone();
    later
        .events
        .push(ev("2025-10-13T08:00:00Z", TrackingStatus::Delayed));
    let c = w.write_shipments(&[later]).await.unwrap();
    assert_eq!((c.created, c.unchanged), (1, 2));
    w.commit().await.unwrap();
    let shipments = store.shipments_of(id).await.unwrap();
    assert_eq!(shipments.len(), 1);
    let s = &shipments[0];
    assert_eq!(s.status, TrackingStatus::Delayed);
    assert_eq!(s.events.len(), 3);
    assert_eq!(s.shipped_at, Some(t("2025-10-09T10:00:00Z")));
    assert_eq!(s.delivered_at, None);
    assert!(
        s.promised_by.unwrap() < s.events[2].at,
        "the parcel is late"
    );
}

pub async fn documents_are_upserted_skipped_when_unchanged_and_pruned(store: &Store) {
    let doc = |id: &str, body: &str| {
        kefu_knowledge::parse_markdown(&format!(
            "---\nid: {id}\nlang: zh-CN\ntitle: 退货\ngroup: returns\n---\n{body}\n"
        ))
        .unwrap()
    };
    let mut w = store.writer().await.unwrap();
    let c = w
        .write_documents(
            &[doc("returns-zh", "30 天内可退货。"), doc("old", "x")],
            "faq",
        )
        .await
        .unwrap();
    assert_eq!(c.created, 2);
    w.commit().await.unwrap();
    let mut w = store.writer().await.unwrap();
    let c = w
        .write_documents(&[doc("returns-zh", "30 天内可退货。")], "faq")
        .await
        .unwrap();
    assert_eq!(c.unchanged, 1);
    let c = w
        .write_documents(&[doc("returns-zh", "45 天内可退货。")], "faq")
        .await
        .unwrap();
    assert_eq!(c.updated, 1);
    assert_eq!(
        w.prune_documents("faq", &["returns-zh".into()])
            .await
            .unwrap(),
        1
    );
    w.commit().await.unwrap();
    let all = store.documents().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].body, "45 天内可退货。");
    assert_eq!(all[0].group, "returns");
    assert_eq!(all[0].lang, "zh-CN");
    assert!(store.document("old").await.unwrap().is_none());
}

pub async fn a_redelivered_message_is_recorded_once(store: &Store) {
    let conv = store
        .open_conversation(Channel::Telegram, "chat-42", None)
        .await
        .unwrap();
    assert_eq!(conv.state, ConversationState::Bot);
    let msg = NewMessage {
        conversation_id: conv.id,
        channel: Channel::Telegram,
        external_id: Some("update-1001".into()),
        role: Role::Customer,
        staff_id: None,
        body: "¿Dónde está mi pedido?".into(),
        citations: vec![],
    };
    let first = store.record_message(&msg).await.unwrap();
    let Recorded::New(id) = first else {
        panic!("first delivery must be new")
    };
    for _ in 0..2 {
        assert_eq!(
            store.record_message(&msg).await.unwrap(),
            Recorded::Duplicate(id)
        );
    }
    // The same id on another channel is another message.
    let other = store
        .open_conversation(Channel::Discord, "dm-1", None)
        .await
        .unwrap();
    let on_discord = NewMessage {
        conversation_id: other.id,
        channel: Channel::Discord,
        ..msg.clone()
    };
    assert!(matches!(
        store.record_message(&on_discord).await.unwrap(),
        Recorded::New(_)
    ));
    // Messages without a channel id (bot replies) are never deduplicated.
    let reply = NewMessage {
        external_id: None,
        role: Role::Bot,
        body: "Tu pedido está en camino.".into(),
        citations: vec![Citation {
            document_id: "shipping-times-es".into(),
            title: "Plazos".into(),
            url: None,
        }],
        ..msg.clone()
    };
    store.record_message(&reply).await.unwrap();
    store.record_message(&reply).await.unwrap();
    let messages = store.messages(conv.id).await.unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].body, "¿Dónde está mi pedido?");
    assert_eq!(messages[1].citations[0].document_id, "shipping-times-es");
}

pub async fn a_closed_conversation_is_not_reopened(store: &Store) {
    let a = store
        .open_conversation(Channel::Web, "visitor-9", None)
        .await
        .unwrap();
    let again = store
        .open_conversation(Channel::Web, "visitor-9", None)
        .await
        .unwrap();
    assert_eq!(a.id, again.id);
    store
        .set_conversation_state(a.id, ConversationState::Closed)
        .await
        .unwrap();
    let b = store
        .open_conversation(Channel::Web, "visitor-9", None)
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(
        store.conversation(a.id).await.unwrap().unwrap().state,
        ConversationState::Closed
    );
}

pub async fn a_handoff_is_claimed_by_one_staff_member_only(store: &Store) {
    let conv = store
        .open_conversation(Channel::Web, "v", None)
        .await
        .unwrap();
    let ana = store
        .create_staff(&Email::parse("ana@shop.example").unwrap(), "Ana", "agent")
        .await
        .unwrap();
    let ben = store
        .create_staff(&Email::parse("ben@shop.example").unwrap(), "Ben", "agent")
        .await
        .unwrap();
    let h = store
        .request_handoff(conv.id, "customer asked for a human")
        .await
        .unwrap();
    assert_eq!(store.open_handoffs().await.unwrap().len(), 1);
    assert!(store.claim_handoff(h, ana).await.unwrap());
    assert!(!store.claim_handoff(h, ben).await.unwrap());
    assert_eq!(
        store.open_handoffs().await.unwrap()[0].claimed_by,
        Some(ana)
    );
    store.resolve_handoff(h).await.unwrap();
    assert!(store.open_handoffs().await.unwrap().is_empty());
    assert_eq!(store.stats().await.unwrap().open_handoffs, 0);
}

pub async fn staff_emails_are_unique_and_the_audit_log_keeps_order(store: &Store) {
    let mail = Email::parse("ops@shop.example").unwrap();
    store.create_staff(&mail, "Ops", "admin").await.unwrap();
    let err = store
        .create_staff(&mail, "Ops 2", "admin")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(
        store.staff_by_email(&mail).await.unwrap().unwrap().role,
        "admin"
    );
    store
        .audit(
            "ops@shop.example",
            "import.orders",
            Some("orders.csv"),
            serde_json::json!({"created": 3}),
        )
        .await
        .unwrap();
    store
        .audit("system", "demo.load", None, serde_json::json!({}))
        .await
        .unwrap();
    let log = store.audit_log(10).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["demo.load", "import.orders"]
    );
    assert_eq!(log[1].details["created"], 3);
}

pub async fn a_writer_dropped_without_commit_leaves_nothing_behind(store: &Store) {
    {
        let mut w = store.writer().await.unwrap();
        w.write_orders(&[order("#1", "a@example.com", &[("A", 1, 100)])])
            .await
            .unwrap();
    }
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.orders, stats.customers, stats.order_lines),
        (0, 0, 0)
    );
}

pub async fn products_keep_translations_and_variants(store: &Store) {
    let product = ProductRecord {
        handle: "celadon-teacup".into(),
        vendor: Some("Kiln".into()),
        product_type: Some("Teaware".into()),
        tags: vec!["teaware".into()],
        published: true,
        image_url: None,
        translations: vec![
            ProductText {
                lang: "en".into(),
                title: "Celadon Teacup".into(),
                description: "Hand-thrown.".into(),
            },
            ProductText {
                lang: "zh-CN".into(),
                title: "青瓷茶杯".into(),
                description: "手工拉坯。".into(),
            },
        ],
        variants: vec![VariantRecord {
            sku: Some("CUP-1".into()),
            title: "Small".into(),
            price: 1800,
            compare_at: None,
            currency: "USD".into(),
            stock: Some(4),
            grams: Some(120),
        }],
        created_at: None,
    };
    let mut w = store.writer().await.unwrap();
    assert_eq!(
        w.write_products(std::slice::from_ref(&product))
            .await
            .unwrap()
            .created,
        1
    );
    assert_eq!(
        w.write_products(std::slice::from_ref(&product))
            .await
            .unwrap()
            .unchanged,
        1
    );
    let mut thief = product.clone();
    thief.handle = "other".into();
    let err = w.write_products(&[thief]).await.unwrap_err();
    assert!(err.to_string().contains("SKU"), "{err}");
    drop(w);
    let mut w = store.writer().await.unwrap();
    w.write_products(&[product]).await.unwrap();
    w.commit().await.unwrap();
    let stored = store
        .product_by_handle("celadon-teacup")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored
            .translations
            .iter()
            .find(|t| t.lang == "zh-CN")
            .unwrap()
            .title,
        "青瓷茶杯"
    );
    assert_eq!(stored.variants[0].stock, Some(4));
    let listed = store.products().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], stored, "the listing and the lookup agree");
}
