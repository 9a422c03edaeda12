//! Planning and delivery against a real store: quiet hours in each recipient's time zone
//! (across a day boundary), consent per channel, frequency caps shared by two campaigns,
//! the outbox written once, and the dispatcher's results per row (sent, retried, dead
//! letter, skipped after an opt-out).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use kefu_bot::shop::{Channel, Email, TrackingStatus};
use kefu_bot::store::{
    Consent, CustomerRecord, Merge, OutboxRow, ShipmentRecord, Store, TrackingEvent, row_state,
};
use kefu_campaigns::deliver::{
    DispatchOptions, Dispatcher, LinkBase, Payload, SendError, Sender, backoff,
};
use kefu_campaigns::plan::{self, Plan, PlanSettings};
use kefu_campaigns::rules::{LocalWindow, hhmm};
use kefu_campaigns::segments::Segments;
use kefu_campaigns::spec::{self, Campaign, FrequencyCap, Templates};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn settings() -> PlanSettings {
    let mut rates = BTreeMap::new();
    rates.insert(Channel::Telegram, 30.0);
    rates.insert(Channel::Email, 10.0);
    PlanSettings {
        shop_name: "Lotus & Pine".into(),
        shop_url: "https://shop.example".into(),
        currency: "USD".into(),
        time_zone: chrono_tz::UTC,
        default_language: "en".into(),
        quiet_hours: Some(LocalWindow {
            start: hhmm("21:00").unwrap(),
            end: hhmm("09:00").unwrap(),
        }),
        frequency_cap: FrequencyCap { max: 1, days: 7 },
        rates,
    }
}

fn consent(channel: Channel, granted: bool) -> Consent {
    Consent {
        channel,
        granted,
        source: "test".into(),
        at: t("2026-11-01T00:00:00Z"),
    }
}

/// Four customers: Shanghai and Los Angeles on Telegram with consent, Berlin who said
/// no to Telegram but yes to e-mail, and one who never said anything about Telegram.
async fn customers(store: &Store) -> Vec<i64> {
    let people = [
        (
            "shanghai@example.com",
            "Wang Fang",
            "Asia/Shanghai",
            "zh-CN",
            vec![(Channel::Telegram, "101")],
            vec![consent(Channel::Telegram, true)],
        ),
        (
            "la@example.com",
            "Ana Lopez",
            "America/Los_Angeles",
            "es",
            vec![(Channel::Telegram, "102")],
            vec![consent(Channel::Telegram, true)],
        ),
        (
            "berlin@example.com",
            "Jonas Weber",
            "Europe/Berlin",
            "de",
            vec![(Channel::Telegram, "103")],
            vec![
                consent(Channel::Telegram, false),
                consent(Channel::Email, true),
            ],
        ),
        (
            "quiet@example.com",
            "Sam Quiet",
            "Europe/London",
            "en",
            vec![(Channel::Telegram, "104")],
            vec![consent(Channel::Email, true)],
        ),
    ];
    let records: Vec<CustomerRecord> = people
        .into_iter()
        .map(|(email, name, tz, locale, ids, consents)| CustomerRecord {
            email: Some(Email::parse(email).unwrap()),
            name: Some(name.into()),
            time_zone: Some(tz.into()),
            locale: Some(locale.into()),
            identities: ids
                .into_iter()
                .map(|(c, id)| (c, id.to_string(), true))
                .collect(),
            consents,
            ..Default::default()
        })
        .collect();
    let mut w = store.writer().await.unwrap();
    let (ids, _) = w.write_customers(&records, Merge::Overwrite).await.unwrap();
    w.commit().await.unwrap();
    ids.into_iter().map(Option::unwrap).collect()
}

fn campaign(id: &str, at: &str, channels: &str) -> (Campaign, String) {
    let text = format!(
        r#"id: {id}
name: Test {id}
kind: content
audience:
  filter:
    tags_none: [never]
channels: {channels}
schedule:
  at: {at}
content:
  fallback_language: en
  languages:
    en:
      text: "Hi {{{{customer.first_name}}}}, new teas."
      buttons:
        - label: Shop
          url: https://shop.example/new
    zh-Hans:
      text: "{{{{customer.name}}}}，新茶上市。"
"#
    );
    (spec::parse("test.yaml", &text).unwrap(), text)
}

async fn plan_of(store: &Store, c: &Campaign, now: &str) -> Plan {
    plan::plan(store, c, &Segments::default(), &settings(), t(now))
        .await
        .unwrap()
}

fn due_of(plan: &Plan, customer: i64) -> Option<DateTime<Utc>> {
    plan.rows
        .iter()
        .find(|r| r.recipient == customer.to_string())
        .map(|r| r.due_at)
}

async fn write(store: &Store, c: &Campaign, text: &str, plan: &Plan) -> u64 {
    let templates = Templates::new(c).unwrap();
    plan::write(store, c, text, plan, &templates, &settings(), |_| {})
        .await
        .unwrap()
}

async fn quiet_hours_consent_and_caps(store: &Store) {
    let ids = customers(store).await;
    let (shanghai, la, berlin, quiet) = (ids[0], ids[1], ids[2], ids[3]);

    // 14:00 UTC: 22:00 in Shanghai (quiet until 09:00 the next local day, which is the
    // next UTC day too), 06:00 in Los Angeles (quiet until 09:00 the same day).
    let (a, a_text) = campaign("autumn-a", "2026-12-01T14:00:00Z", "[telegram]");
    let plan_a = plan_of(store, &a, "2026-12-01T13:00:00Z").await;
    assert_eq!(due_of(&plan_a, shanghai), Some(t("2026-12-02T01:00:00Z")));
    assert_eq!(due_of(&plan_a, la), Some(t("2026-12-01T17:00:00Z")));
    assert_eq!(plan_a.deferred, 2);
    assert_eq!(
        plan_a.excluded.get("no marketing consent"),
        Some(&1),
        "{:?}",
        plan_a.excluded
    );
    assert_eq!(
        plan_a.excluded.get("consent not given"),
        Some(&1),
        "{:?}",
        plan_a.excluded
    );
    assert!(due_of(&plan_a, berlin).is_none() && due_of(&plan_a, quiet).is_none());
    let zh = plan_a
        .rows
        .iter()
        .find(|r| r.recipient == shanghai.to_string())
        .unwrap();
    assert_eq!(zh.language, "zh-Hans");
    assert_eq!(write(store, &a, &a_text, &plan_a).await, 2);

    // The outbox holds the rendered message, links untouched until sending.
    let counts = store.outbox_counts("autumn-a").await.unwrap();
    assert_eq!(counts.iter().map(|c| c.rows).sum::<i64>(), 2);
    // Planning the same id again is refused: a campaign is written once.
    let again = plan::write(
        store,
        &a,
        &a_text,
        &plan_a,
        &Templates::new(&a).unwrap(),
        &settings(),
        |_| {},
    )
    .await;
    assert!(again.is_err());

    // A second campaign two days later: the shared cap (1 per 7 days) leaves out both
    // Telegram recipients; e-mail consent reaches Berlin and the one who never answered
    // about Telegram.
    let (b, _) = campaign("autumn-b", "2026-12-03T10:00:00Z", "[telegram, email]");
    let plan_b = plan_of(store, &b, "2026-12-03T09:00:00Z").await;
    assert_eq!(
        plan_b.excluded.get("frequency cap"),
        Some(&2),
        "{:?}",
        plan_b.excluded
    );
    let channels: Vec<(String, Channel)> = plan_b
        .rows
        .iter()
        .map(|r| (r.recipient.clone(), r.channel))
        .collect();
    assert!(
        channels.contains(&(berlin.to_string(), Channel::Email)),
        "{channels:?}"
    );
    assert!(
        channels.contains(&(quiet.to_string(), Channel::Email)),
        "{channels:?}"
    );
    assert_eq!(plan_b.by_channel.get("email"), Some(&2));

    // Eight days after the first, the cap has room again.
    let (c, _) = campaign("autumn-c", "2026-12-10T10:00:00Z", "[telegram]");
    let plan_c = plan_of(store, &c, "2026-12-10T09:00:00Z").await;
    assert!(due_of(&plan_c, shanghai).is_some() && due_of(&plan_c, la).is_some());
}

/// Records what it sends; fails chat 102 once in campaign `now` (transient, the row's id
/// kept in `failed_once`) and chat 666 for good.
#[derive(Default)]
struct FakeTelegram {
    sent: Mutex<Vec<(String, Payload)>>,
    failed_once: Mutex<Option<i64>>,
}

#[async_trait]
impl Sender for FakeTelegram {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    async fn send(&self, row: &OutboxRow, message: &Payload) -> Result<String, SendError> {
        if row.address == "102" && row.campaign_id == "now" {
            let mut once = self.failed_once.lock().unwrap();
            if once.is_none() {
                *once = Some(row.id);
                return Err(SendError::Transient("connection reset".into()));
            }
        }
        if row.address == "666" {
            return Err(SendError::Permanent("Bad Request: chat not found".into()));
        }
        self.sent
            .lock()
            .unwrap()
            .push((row.address.clone(), message.clone()));
        Ok(format!("m{}", row.id))
    }
}

fn dispatcher(store: &Store, owner: &str) -> (Arc<FakeTelegram>, LinkBase, Dispatcher) {
    let fake = Arc::new(FakeTelegram::default());
    let links = LinkBase {
        base: "https://shop.example".into(),
        key: b"key".to_vec(),
    };
    let d = Dispatcher::new(
        store.clone(),
        vec![fake.clone() as Arc<dyn Sender>],
        DispatchOptions {
            owner: owner.into(),
            in_flight: 1,
            max_attempts: 3,
            lease: Duration::seconds(30),
            links: links.clone(),
        },
    );
    (fake, links, d)
}

async fn dispatcher_records_every_result(store: &Store) {
    let ids = customers(store).await;
    let now = Utc::now();
    let at = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (a, text) = campaign("now", &at, "[telegram]");
    let mut s = settings();
    s.quiet_hours = None;
    let mut p = plan::plan(store, &a, &Segments::default(), &s, now)
        .await
        .unwrap();
    // A recipient whose chat no longer exists.
    let mut ghost = p
        .rows
        .iter()
        .find(|r| r.recipient == ids[1].to_string())
        .unwrap()
        .clone();
    ghost.recipient = "ghost".into();
    ghost.address = "666".into();
    p.rows.push(ghost);
    plan::write(
        store,
        &a,
        &text,
        &p,
        &Templates::new(&a).unwrap(),
        &s,
        |_| {},
    )
    .await
    .unwrap();
    // Shanghai opts out after planning: their row is skipped.
    store
        .set_subscription(Channel::Telegram, "101", false, "telegram /stop")
        .await
        .unwrap();

    let (fake, links, d) = dispatcher(store, "test");
    let before = Utc::now();
    while d.step().await.unwrap() {}
    let after = Utc::now();
    let sent = fake.sent.lock().unwrap().clone();
    assert!(
        sent.is_empty(),
        "the opted-out row was skipped and 102 failed once: {sent:?}"
    );
    let counts: BTreeMap<String, i64> = store
        .outbox_counts("now")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.state, c.rows))
        .collect();
    assert_eq!(counts.get(row_state::SKIPPED), Some(&1), "{counts:?}");
    assert_eq!(counts.get(row_state::FAILED), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get(row_state::PENDING),
        Some(&1),
        "the transient failure waits for its retry: {counts:?}"
    );
    assert!(!store.finish_campaign_if_done("now").await.unwrap());

    // The dispatcher put the row back due after its back-off, and sends nothing before.
    let retry = fake.failed_once.lock().unwrap().expect("102 was tried");
    let row = store.outbox_row(retry).await.unwrap().unwrap();
    assert_eq!((row.address.as_str(), row.attempts), ("102", 1));
    let wait = backoff(1, retry);
    assert!(
        // (The database keeps microseconds at most.)
        row.due_at >= before + wait - Duration::milliseconds(1) && row.due_at <= after + wait,
        "due {} for a back-off of {wait} after {before}..{after}",
        row.due_at
    );
    assert_eq!(store.next_due().await.unwrap(), Some(row.due_at));
    assert!(!d.step().await.unwrap(), "nothing is due yet");

    // When it is due, another replica claims it: only that replica's lease can record a
    // result. It fails too, and gives the row back due at once.
    let rows = store
        .claim_outbox("other", row.due_at, Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id, rows[0].attempts), (retry, 2));
    assert!(
        !store
            .outbox_sent(retry, "test", "m1", row.due_at)
            .await
            .unwrap()
    );
    assert!(
        store
            .outbox_retry(retry, "other", "connection reset", Utc::now())
            .await
            .unwrap()
    );

    // The dispatcher sends it, with tracked links: Los Angeles reads Spanish, which falls
    // back to the English message.
    assert!(d.step().await.unwrap());
    assert!(!d.step().await.unwrap(), "nothing else is due");
    let sent = fake.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (address, message) = &sent[0];
    assert_eq!(address, "102");
    assert_eq!(message.text, "Hi Ana, new teas.");
    let url = message.buttons[0].url.clone().unwrap();
    assert!(url.starts_with("https://shop.example/l/"), "{url}");
    assert_eq!(
        links.parse(url.rsplit('/').next().unwrap()),
        Some((retry, 0))
    );
    let counts: BTreeMap<String, i64> = store
        .outbox_counts("now")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.state, c.rows))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            (row_state::SENT.to_string(), 1),
            (row_state::FAILED.to_string(), 1),
            (row_state::SKIPPED.to_string(), 1),
        ])
    );
    assert_eq!(store.outbox_row(retry).await.unwrap().unwrap().attempts, 3);
    assert!(store.finish_campaign_if_done("now").await.unwrap());
    let problems = store.outbox_problems("now").await.unwrap();
    assert!(
        problems
            .iter()
            .any(|(state, reason, _)| state == "failed" && reason.contains("chat not found")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|(state, reason, _)| state == "skipped" && reason.contains("unsubscribed")),
        "{problems:?}"
    );
}

/// Plans and writes `campaign` at `now` without quiet hours, then delivers every due row
/// into a fake Telegram; what was sent, and the link base of its tracked links.
async fn deliver_now(
    store: &Store,
    campaign: &Campaign,
    text: &str,
    now: DateTime<Utc>,
) -> (Vec<(String, Payload)>, LinkBase) {
    let mut s = settings();
    s.quiet_hours = None;
    let p = plan::plan(store, campaign, &Segments::default(), &s, now)
        .await
        .unwrap();
    let templates = Templates::new(campaign).unwrap();
    plan::write(store, campaign, text, &p, &templates, &s, |_| {})
        .await
        .unwrap();
    let (fake, links, d) = dispatcher(store, "t");
    while d.step().await.unwrap() {}
    let sent = fake.sent.lock().unwrap().clone();
    (sent, links)
}

async fn tracked_links_point_back_to_their_row(store: &Store) {
    customers(store).await;
    let now = Utc::now();
    let (a, text) = campaign(
        "links",
        &now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "[telegram]",
    );
    let (sent, links) = deliver_now(store, &a, &text, now).await;
    // Los Angeles reads Spanish, which falls back to the English message with a button.
    let (_, message) = sent.iter().find(|(addr, _)| addr == "102").unwrap();
    let url = message.buttons[0].url.clone().unwrap();
    assert!(url.starts_with("https://shop.example/l/"), "{url}");
    let (row, n) = links.parse(url.rsplit('/').next().unwrap()).unwrap();
    let payload: Payload =
        serde_json::from_str(&store.record_click(row, n as i64).await.unwrap().unwrap()).unwrap();
    assert_eq!(payload.links()[n], "https://shop.example/new");
}

async fn delivered(store: &Store, order: &str, buyer: &str, at: DateTime<Utc>) {
    let mut w = store.writer().await.unwrap();
    w.write_orders(&[crate::segments::order(
        order,
        buyer,
        at - Duration::days(3),
        4_200,
    )])
    .await
    .unwrap();
    w.commit().await.unwrap();
    let o = store.order_by_name(order).await.unwrap().unwrap();
    let mut w = store.writer().await.unwrap();
    w.write_shipments(&[ShipmentRecord {
        order_id: o.id,
        carrier: "SF Express".into(),
        tracking_number: format!("SF{order}"),
        promised_by: None,
        events: vec![TrackingEvent {
            at,
            status: TrackingStatus::Delivered,
            location: None,
            description: None,
        }],
    }])
    .await
    .unwrap();
    w.commit().await.unwrap();
}

async fn triggered_campaign_sends_each_delivery_once(store: &Store) {
    customers(store).await;
    let now = Utc::now();
    delivered(store, "#9001", "la@example.com", now - Duration::days(8)).await;
    // Delivered only 2 days ago: not yet due (7 days after delivery).
    delivered(
        store,
        "#9002",
        "shanghai@example.com",
        now - Duration::days(2),
    )
    .await;
    let text = r#"id: review-ask
name: How was it?
kind: content
audience:
  filter:
    tags_none: [never]
channels: [telegram]
schedule:
  trigger:
    event: delivered
    after: 7d
content:
  fallback_language: en
  languages:
    en:
      text: "How are you enjoying your tea, {{customer.first_name}}?"
"#;
    let c = spec::parse("review.yaml", text).unwrap();
    let mut s = settings();
    s.quiet_hours = None;
    let events = kefu_campaigns::triggers::events(store, &c, &Segments::default(), now)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].step, "delivered@#9001");
    let p = plan::plan_events(store, &c, &Segments::default(), &s, now, &events)
        .await
        .unwrap();
    assert_eq!(
        plan::write(
            store,
            &c,
            text,
            &p,
            &Templates::new(&c).unwrap(),
            &s,
            |_| {}
        )
        .await
        .unwrap(),
        1
    );

    // Nothing new: a tick adds nothing.
    let tick = kefu_campaigns::triggers::tick(store, &Segments::default(), &s, now)
        .await
        .unwrap();
    assert!(tick.added.is_empty() && tick.failed.is_empty(), "{tick:?}");
    // Five days later the second order is due; the first is not sent again.
    let later = now + Duration::days(5) + Duration::hours(1);
    let tick = kefu_campaigns::triggers::tick(store, &Segments::default(), &s, later)
        .await
        .unwrap();
    assert_eq!(tick.added, vec![("review-ask".to_string(), 1)], "{tick:?}");
    let rows: i64 = store
        .outbox_counts("review-ask")
        .await
        .unwrap()
        .iter()
        .map(|c| c.rows)
        .sum();
    assert_eq!(rows, 2);
    // An ongoing campaign does not finish when its rows are done.
    assert!(!store.finish_campaign_if_done("review-ask").await.unwrap());
}

/// `last_order.*` shows each recipient's own latest order, dated in their time zone;
/// someone who never ordered gets the `{{else}}` branch.
async fn templates_show_each_recipients_last_order(store: &Store) {
    customers(store).await;
    let mut w = store.writer().await.unwrap();
    let mut later =
        crate::segments::order("#7002", "la@example.com", t("2026-02-01T07:00:00Z"), 6_400);
    later.lines[0].name = "Dragon Well".into();
    later.lines[0].quantity = 2;
    w.write_orders(&[
        crate::segments::order("#7001", "la@example.com", t("2026-01-10T12:00:00Z"), 1_000),
        later,
        crate::segments::order(
            "#7003",
            "shanghai@example.com",
            t("2025-12-24T20:00:00Z"),
            2_500,
        ),
    ])
    .await
    .unwrap();
    w.commit().await.unwrap();
    let now = Utc::now();
    let text = format!(
        r#"id: last-order
name: Last order
kind: content
audience:
  filter:
    tags_none: [never]
channels: [telegram]
schedule:
  at: {}
content:
  fallback_language: en
  languages:
    en:
      text: "{{{{#if last_order.name}}}}Thanks for {{{{last_order.name}}}} on {{{{last_order.date}}}} ({{{{last_order.total}}}}):{{{{#each last_order.items}}}} {{{{name}}}} x{{{{quantity}}}}{{{{/each}}}}{{{{else}}}}Welcome{{{{/if}}}}"
"#,
        now.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let a = spec::parse("test.yaml", &text).unwrap();
    let (sent, _) = deliver_now(store, &a, &text, now).await;
    let text_to = |addr: &str| {
        sent.iter()
            .find(|(a, _)| a == addr)
            .map(|(_, m)| m.text.clone())
            .unwrap_or_else(|| panic!("nothing sent to {addr}: {sent:?}"))
    };
    // Los Angeles: 07:00 UTC on 1 February is still 31 January there.
    assert_eq!(
        text_to("102"),
        "Thanks for #7002 on 2026-01-31 (64.00 USD): Dragon Well x2"
    );
    // Shanghai: 20:00 UTC on 24 December is already the 25th there.
    assert_eq!(
        text_to("101"),
        "Thanks for #7003 on 2025-12-25 (25.00 USD): Thing x1"
    );
}

/// Writes a triggered campaign's events so far and delivers them into a fake Telegram.
async fn deliver_events(
    store: &Store,
    campaign: &Campaign,
    text: &str,
    now: DateTime<Utc>,
) -> Vec<(String, Payload)> {
    let mut s = settings();
    s.quiet_hours = None;
    let events = kefu_campaigns::triggers::events(store, campaign, &Segments::default(), now)
        .await
        .unwrap();
    let p = plan::plan_events(store, campaign, &Segments::default(), &s, now, &events)
        .await
        .unwrap();
    plan::write(
        store,
        campaign,
        text,
        &p,
        &Templates::new(campaign).unwrap(),
        &s,
        |_| {},
    )
    .await
    .unwrap();
    let (fake, _, d) = dispatcher(store, "t");
    while d.step().await.unwrap() {}
    fake.sent.lock().unwrap().clone()
}

/// A cart left an hour without checkout or order gets one reminder showing the cart;
/// a checked-out cart, a fresh one, an anonymous one and one followed by an order do not.
async fn abandoned_carts_get_one_reminder_each(store: &Store) {
    let ids = customers(store).await;
    let now = Utc::now();
    let mut reader = kefu_bot::import::EventReader::new(store);
    let mut events = Vec::new();
    let cart = |id: &str, who: Option<&str>, minutes_ago: i64| {
        serde_json::json!({
            "type": "cart", "id": id, "customer": who,
            "url": format!("https://shop.example/cart/{id}"),
            "total": "48.00", "currency": "usd",
            "items": [{"product": "dragon-well", "quantity": 2}, {"product": "gaiwan"}],
            "at": (now - Duration::minutes(minutes_ago)).to_rfc3339(),
        })
    };
    for value in [
        cart("c-1", Some("la@example.com"), 180),
        cart("c-2", Some("shanghai@example.com"), 180),
        serde_json::json!({"type": "checkout", "cart": "c-2", "at": (now - Duration::minutes(170)).to_rfc3339()}),
        cart("c-3", Some("shanghai@example.com"), 10),
        cart("c-4", None, 180),
        cart("c-5", Some("quiet@example.com"), 300),
    ] {
        events.push(reader.event(value).await.unwrap());
    }
    // Unknown event types and bad amounts are refused with the reason.
    let bad = reader
        .event(serde_json::json!({"type": "cart", "id": "x", "total": "4.8.0", "currency": "USD", "at": now.to_rfc3339()}))
        .await
        .unwrap_err();
    assert!(bad.starts_with("total:"), "{bad}");
    assert!(
        reader
            .event(serde_json::json!({"type": "wishlist", "at": now.to_rfc3339()}))
            .await
            .unwrap_err()
            .contains("unknown variant")
    );
    store.record_events(&events).await.unwrap();
    // Quiet bought something after leaving the cart.
    let mut w = store.writer().await.unwrap();
    w.write_orders(&[crate::segments::order(
        "#8001",
        "quiet@example.com",
        now - Duration::minutes(100),
        4_800,
    )])
    .await
    .unwrap();
    w.commit().await.unwrap();

    let text = r#"id: cart-reminder
name: You left something
kind: content
audience:
  filter:
    tags_none: [never]
channels: [telegram]
schedule:
  trigger:
    event: abandoned_cart
    after: 1h
content:
  fallback_language: en
  languages:
    en:
      text: "{{customer.first_name}}, your cart ({{cart.count}} items, {{cart.total}}) is waiting."
      buttons:
        - label: Back to my cart
          url: "{{cart.url}}"
"#;
    let c = spec::parse("cart.yaml", text).unwrap();
    let sent = deliver_events(store, &c, text, now).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (to, message) = &sent[0];
    assert_eq!(to, "102");
    assert_eq!(
        message.text,
        "Ana, your cart (3 items, 48.00 USD) is waiting."
    );
    // The button's link is tracked; its target is the cart.
    let links = LinkBase {
        base: "https://shop.example".into(),
        key: b"key".to_vec(),
    };
    let tracked = message.buttons[0].url.as_deref().unwrap();
    let (row, n) = links.parse(tracked.rsplit('/').next().unwrap()).unwrap();
    let stored: Payload =
        serde_json::from_str(&store.outbox_row(row).await.unwrap().unwrap().payload).unwrap();
    assert_eq!(stored.links()[n], "https://shop.example/cart/c-1");
    let rows = store.outbox_counts("cart-reminder").await.unwrap();
    assert_eq!(rows.iter().map(|r| r.rows).sum::<i64>(), 1);
    // The fresh cart comes due an hour after its last change: one more, once.
    let later = now + Duration::minutes(55);
    let tick = kefu_campaigns::triggers::tick(store, &Segments::default(), &settings(), later)
        .await
        .unwrap();
    assert_eq!(
        tick.added,
        vec![("cart-reminder".to_string(), 1)],
        "{tick:?}"
    );
    let tick = kefu_campaigns::triggers::tick(store, &Segments::default(), &settings(), later)
        .await
        .unwrap();
    assert!(tick.added.is_empty(), "{tick:?}");
    let _ = ids;
}

/// A restock tells the customers who asked since the product's previous restock, once.
async fn back_in_stock_tells_who_asked_once(store: &Store) {
    customers(store).await;
    let now = Utc::now();
    let mut reader = kefu_bot::import::EventReader::new(store);
    let at = |minutes_ago: i64| (now - Duration::minutes(minutes_ago)).to_rfc3339();
    let mut events = Vec::new();
    for value in [
        // Ana asked before the first restock: told about it, not about the second.
        serde_json::json!({"type": "stock_alert", "customer": "la@example.com", "product": "dragon-well", "at": at(600)}),
        serde_json::json!({"type": "restock", "product": "dragon-well", "at": at(300)}),
        // Wang asked after the first restock: told about the second.
        serde_json::json!({"type": "stock_alert", "customer": "shanghai@example.com", "product": "dragon-well", "at": at(200)}),
        serde_json::json!({"type": "restock", "product": "dragon-well", "at": at(30)}),
        // Another product, not in this campaign.
        serde_json::json!({"type": "stock_alert", "customer": "la@example.com", "product": "gaiwan", "at": at(200)}),
        serde_json::json!({"type": "restock", "product": "gaiwan", "at": at(20)}),
    ] {
        events.push(reader.event(value).await.unwrap());
    }
    let unknown = reader
        .event(serde_json::json!({"type": "stock_alert", "customer": "nobody@example.com", "product": "gaiwan", "at": at(1)}))
        .await
        .unwrap_err();
    assert!(unknown.contains("no customer"), "{unknown}");
    store.record_events(&events).await.unwrap();
    let text = r#"id: restock
name: Back in stock
kind: content
audience:
  filter:
    tags_none: [never]
channels: [telegram]
schedule:
  trigger:
    event: back_in_stock
    products: [dragon-well]
content:
  fallback_language: en
  languages:
    en:
      text: "Dragon Well is back, {{customer.first_name}}."
"#;
    let c = spec::parse("restock.yaml", text).unwrap();
    let sent = deliver_events(store, &c, text, now).await;
    let mut to: Vec<&str> = sent.iter().map(|(a, _)| a.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["101", "102"], "{sent:?}");
    // The same events again add nothing.
    let tick = kefu_campaigns::triggers::tick(store, &Segments::default(), &settings(), now)
        .await
        .unwrap();
    assert!(tick.added.is_empty(), "{tick:?}");
}

on_both!(
    abandoned_carts_get_one_reminder_each,
    back_in_stock_tells_who_asked_once,
    templates_show_each_recipients_last_order,
    triggered_campaign_sends_each_delivery_once,
    quiet_hours_consent_and_caps,
    dispatcher_records_every_result,
    tracked_links_point_back_to_their_row,
);
