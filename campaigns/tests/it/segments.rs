//! Segments: RFM on hand-computed fixtures, ties and the window edge, churn factors,
//! filters over the demo shop, the segments file. Storage cases run on SQLite, and on
//! PostgreSQL too when `KEFU_TEST_POSTGRES_URL` is set (each test in its own database).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use kefu_bot::demo::DemoConfig;
use kefu_bot::shop::{Channel, Currency, Email, OrderStatus};
use kefu_bot::store::{
    Buyer, ConnectOptions, CustomerRecord, LineRecord, Merge, OrderHistory, OrderRecord, Store,
};
use kefu_campaigns::segments::churn::{self, ChurnInputs, GapSource};
use kefu_campaigns::segments::rfm::{self, RfmValues};
use kefu_campaigns::segments::{
    self, CustomerFacts, Error, Filter, MatchContext, Range, Rfm, SegmentDef, Segments, matches,
    scores,
};
use sqlx::Connection;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

// ----- RFM, pure -----

#[test]
fn rfm_scores_and_groups_match_a_hand_computed_fixture() {
    let rec = [5, 10, 20, 40, 60, 90, 120, 180, 250, 330];
    let freq = [8, 1, 9, 2, 7, 3, 6, 4, 5, 10];
    let money = [9000, 500, 8000, 1000, 6000, 2000, 7000, 3000, 4000, 10000];
    let values: Vec<RfmValues> = (0..10)
        .map(|i| RfmValues {
            recency_days: rec[i],
            frequency: freq[i],
            monetary_minor: money[i],
        })
        .collect();
    let scores = rfm::score_all(&values);
    let expected = [
        (5, 4, 5, "champions"),
        (5, 1, 1, "new_customers"),
        (4, 5, 4, "loyal"),
        (4, 1, 1, "promising"),
        (3, 4, 3, "need_attention"),
        (3, 2, 2, "about_to_sleep"),
        (2, 3, 4, "at_risk"),
        (2, 2, 2, "hibernating"),
        (1, 3, 3, "at_risk"),
        (1, 5, 5, "cannot_lose_them"),
    ];
    for (i, (r, f, m, group)) in expected.into_iter().enumerate() {
        assert_eq!(scores[i], Rfm { r, f, m }, "customer {i}");
        assert_eq!(rfm::group_of(scores[i]), group, "customer {i}");
    }
    assert_eq!(rfm::group_of(Rfm { r: 1, f: 1, m: 2 }), "lost");
    assert_eq!(
        rfm::group_of(Rfm { r: 5, f: 4, m: 3 }),
        "potential_loyalist"
    );
    // Every cell has a group and every group has a cell.
    let mut seen = std::collections::BTreeSet::new();
    for r in 1..=5 {
        for f in 1..=5 {
            for m in 1..=5 {
                seen.insert(rfm::group_of(Rfm { r, f, m }));
            }
        }
    }
    assert_eq!(seen.len(), segments::RFM_GROUPS.len());
}

#[test]
fn equal_values_get_equal_scores_whatever_the_input_order() {
    let freq = [1, 1, 1, 1, 1, 1, 2, 2, 3, 10];
    let values: Vec<RfmValues> = freq
        .iter()
        .map(|f| RfmValues {
            recency_days: 7,
            frequency: *f,
            monetary_minor: 100,
        })
        .collect();
    let scores = rfm::score_all(&values);
    let f: Vec<u8> = scores.iter().map(|s| s.f).collect();
    assert_eq!(f, [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]);
    // All equal: everyone gets 1 (nobody is strictly better than anyone).
    assert!(scores.iter().all(|s| s.r == 1 && s.m == 1));
    let reversed: Vec<RfmValues> = values.iter().rev().copied().collect();
    let again: Vec<u8> = rfm::score_all(&reversed)
        .iter()
        .rev()
        .map(|s| s.f)
        .collect();
    assert_eq!(again, f);
    assert!(rfm::score_all(&[]).is_empty());
}

// ----- churn, pure -----

#[test]
fn churn_risk_keeps_each_factor_and_says_it_in_plain_words() {
    let inputs = ChurnInputs {
        days_since_last_order: Some(93.0),
        usual_gap_days: Some(30.0),
        gap_source: Some(GapSource::Own { orders: 4 }),
        recent_conversations: 2,
        recent_handoffs: 0,
        late_undelivered: 1,
        delivered_late: 0,
    };
    let factors = churn::factors(&inputs);
    let texts: Vec<String> = factors.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "last order 93 days ago, usually every 30 days (4 orders) → 3.1× the usual gap",
            "2 support conversations in the last 30 days",
            "1 parcel past the promised date and not delivered",
        ]
    );
    let rhythm = 0.85 * (1.0 - 30.0 / 93.0);
    assert!((factors[0].contribution() - rhythm).abs() < 1e-9);
    assert!((factors[1].contribution() - 0.2).abs() < 1e-9);
    let expected = 1.0 - (1.0 - rhythm) * 0.8 * 0.8;
    assert!((churn::score(&inputs) - expected).abs() < 1e-9);
    // Within the usual rhythm and no trouble: no risk.
    let calm = ChurnInputs {
        days_since_last_order: Some(20.0),
        ..inputs
    };
    let calm = ChurnInputs {
        recent_conversations: 0,
        late_undelivered: 0,
        ..calm
    };
    assert_eq!(churn::score(&calm), 0.0);
    assert_eq!(churn::score(&ChurnInputs::default()), 0.0);
}

#[test]
fn usual_gap_is_the_customers_median_and_one_order_customers_use_the_shops() {
    let now = t("2026-06-01T12:00:00Z");
    let day = 86_400;
    let n = now.timestamp();
    let history = |id: i64, days_ago: &[i64]| {
        let mut times: Vec<i64> = days_ago.iter().map(|d| n - d * day).collect();
        times.sort();
        OrderHistory {
            customer_id: id,
            orders: times.len() as i64,
            spent_minor: 1000 * times.len() as i64,
            window_orders: times.len() as i64,
            window_spent_minor: 1000 * times.len() as i64,
            first_order_at: times[0],
            last_order_at: *times.last().unwrap(),
            order_times: times,
        }
    };
    // Gaps 10, 30, 50 days → median 30; last order 93 days ago.
    let a = history(1, &[93, 103, 133, 183]);
    // Gaps 20, 20 → median 20.
    let b = history(2, &[5, 25, 45]);
    let c = history(3, &[40]);
    let set = scores::compute(vec![c, a, b], vec![], vec![], now, 365);
    // Shop-wide gaps: 10, 30, 50, 20, 20 → 20.
    assert_eq!(set.shop_median_gap_days, Some(20.0));
    let a = set.get(1).unwrap();
    assert_eq!(a.churn.usual_gap_days, Some(30.0));
    assert_eq!(a.churn.gap_source, Some(GapSource::Own { orders: 4 }));
    assert_eq!(a.churn.days_since_last_order, Some(93.0));
    let c = set.get(3).unwrap();
    assert_eq!(c.churn.usual_gap_days, Some(20.0));
    assert_eq!(c.churn.gap_source, Some(GapSource::ShopWide));
    assert!((c.churn_risk - 0.85 * 0.5).abs() < 1e-9);
    assert_eq!(set.get(2).unwrap().churn_risk, 0.0);
}

// ----- the segments file -----

#[test]
fn a_missing_segments_file_means_no_named_segments() {
    let s = Segments::load(std::path::Path::new("/nonexistent/segments.yaml")).unwrap();
    assert!(s.names().is_empty());
    assert!(s.is_known("champions"));
}

#[test]
fn segments_file_errors_say_where() {
    let text =
        "- name: vip\n  filter:\n    rfm: [champions]\n- name: eu\n  filter:\n    contry: [DE]\n";
    let err = Segments::parse("segments.yaml", text).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::Yaml {
                line: 6,
                column: 5,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.starts_with("segments.yaml:6:5: "), "{msg}");
    assert!(msg.contains("contry"), "{msg}");

    let dup = "- name: vip\n  filter: {}\n- name: vip\n  filter: {}\n";
    let msg = Segments::parse("s.yaml", dup).unwrap_err().to_string();
    assert!(msg.starts_with("s.yaml:3:"), "{msg}");
    assert!(msg.contains("defined twice"), "{msg}");

    let unknown = "- name: vip\n  filter:\n    segment: nobody\n";
    let msg = Segments::parse("s.yaml", unknown).unwrap_err().to_string();
    assert!(msg.contains("unknown segment `nobody`"), "{msg}");

    let clash = "- name: champions\n  filter: {}\n";
    assert!(Segments::parse("s.yaml", clash).is_err());
}

#[test]
fn segments_that_refer_to_each_other_in_a_cycle_are_refused() {
    let text = "\
- name: a
  filter:
    segment: b
- name: b
  filter:
    any:
      - segment: c
- name: c
  filter:
    not:
      - segment: a
- name: d
  filter:
    segment: a
";
    let msg = Segments::parse("s.yaml", text).unwrap_err().to_string();
    assert!(msg.contains("cycle: a → b → c → a"), "{msg}");
    let ok = "- name: a\n  filter:\n    segment: b\n- name: b\n  filter:\n    rfm: [loyal]\n";
    let s = Segments::parse("s.yaml", ok).unwrap();
    assert_eq!(s.names(), ["a", "b"]);
    let self_ref = vec![SegmentDef {
        name: "me".into(),
        description: None,
        filter: Filter {
            segment: Some("me".into()),
            ..Filter::default()
        },
    }];
    assert!(
        Segments::new(self_ref)
            .unwrap_err()
            .to_string()
            .contains("me → me")
    );
}

#[test]
fn the_example_segments_file_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/segments.yaml");
    let s = Segments::load(&path).unwrap();
    assert!(s.names().len() >= 4);
}

// ----- storage -----

pub(crate) struct Db {
    pub(crate) store: Store,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Db {
    pub(crate) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kefu.db").display());
        let store = Store::open(&url, &ConnectOptions::default()).await.unwrap();
        Self {
            store,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh PostgreSQL database, when `KEFU_TEST_POSTGRES_URL` is set.
    pub(crate) async fn postgres() -> Option<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin = std::env::var("KEFU_TEST_POSTGRES_URL").ok()?;
        let name = format!(
            "kefu_seg_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        let store = Store::open(
            &format!("{base}/{name}"),
            &ConnectOptions {
                max_connections: 4,
                ..ConnectOptions::default()
            },
        )
        .await
        .unwrap();
        Some(Self {
            store,
            _dir: None,
            pg: Some((admin, name)),
        })
    }

    pub(crate) async fn drop(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.pg {
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
}

/// Runs a storage case on SQLite, then on PostgreSQL when configured.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let db = $crate::segments::Db::sqlite().await;
                super::$name(&db.store).await;
                db.drop().await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                if let Some(db) = $crate::segments::Db::postgres().await {
                    super::$name(&db.store).await;
                    db.drop().await;
                }
            })*
        }
    };
}

on_both!(
    the_window_edge_counts_cancelled_orders_do_not_and_refunds_are_subtracted,
    filters_select_the_right_demo_customers,
    recompute_replaces_the_stored_snapshot,
);

fn email(s: &str) -> Option<Email> {
    Some(Email::parse(s).unwrap())
}

pub(crate) fn order(name: &str, buyer: &str, at: DateTime<Utc>, total: i64) -> OrderRecord {
    OrderRecord {
        name: name.into(),
        external_id: None,
        buyer: Buyer {
            email: email(buyer),
            ..Buyer::default()
        },
        currency: Currency::USD,
        status: OrderStatus::Open,
        financial_status: Some("paid".into()),
        fulfillment_status: "fulfilled".into(),
        subtotal: total,
        shipping: 0,
        taxes: 0,
        discount: 0,
        total,
        refunded: 0,
        discount_codes: vec![],
        shipping_method: None,
        shipping_address: None,
        billing_name: None,
        payment_method: None,
        note: None,
        tags: vec![],
        source: None,
        created_at: at,
        paid_at: Some(at),
        fulfilled_at: None,
        cancelled_at: None,
        lines: vec![LineRecord {
            sku: Some("SKU-1".into()),
            name: "Thing".into(),
            quantity: 1,
            price: total,
            compare_at: None,
            discount: 0,
            requires_shipping: true,
            taxable: true,
            fulfillment_status: None,
            vendor: None,
        }],
    }
}

async fn the_window_edge_counts_cancelled_orders_do_not_and_refunds_are_subtracted(store: &Store) {
    let now = t("2026-06-01T12:00:00Z");
    let edge = now - Duration::days(365);
    let mut w = store.writer().await.unwrap();
    w.write_customers(
        &[CustomerRecord {
            email: email("never@example.com"),
            ..CustomerRecord::default()
        }],
        Merge::Overwrite,
    )
    .await
    .unwrap();
    let mut refunded = order("#3", "edge@example.com", now - Duration::days(2), 5000);
    refunded.refunded = 1500;
    let mut cancelled = order("#4", "edge@example.com", now - Duration::days(1), 9999);
    cancelled.status = OrderStatus::Cancelled;
    cancelled.cancelled_at = Some(now - Duration::days(1));
    let future = order("#5", "edge@example.com", now + Duration::days(1), 7777);
    w.write_orders(&[
        order("#1", "edge@example.com", edge, 1000),
        order(
            "#2",
            "before@example.com",
            edge - Duration::seconds(1),
            2000,
        ),
        refunded,
        cancelled,
        future,
    ])
    .await
    .unwrap();
    w.commit().await.unwrap();

    let facts = segments::load_facts(store, now, 365).await.unwrap();
    let by_email = |e: &str| {
        facts
            .iter()
            .find(|f| f.email.as_deref() == Some(e))
            .unwrap()
            .clone()
    };
    let edge_c = by_email("edge@example.com");
    assert_eq!(edge_c.orders, 2);
    assert_eq!(edge_c.spent_minor, 1000 + 3500);
    assert!(edge_c.rfm.is_some());
    assert_eq!(edge_c.last_order_at, Some(now - Duration::days(2)));
    assert_eq!(edge_c.first_order_at, Some(edge));
    let before = by_email("before@example.com");
    assert_eq!(before.rfm, None);
    assert_eq!(before.group, Some("lost"));
    let never = by_email("never@example.com");
    assert_eq!((never.rfm, never.group, never.orders), (None, None, 0));
    assert_eq!(never.churn_risk, 0.0);
    let set = segments::compute_scores(store, now, 365).await.unwrap();
    let v = set.get(edge_c.id).unwrap().values.unwrap();
    assert_eq!(
        v,
        RfmValues {
            recency_days: 2,
            frequency: 2,
            monetary_minor: 4500
        }
    );
}

async fn demo(store: &Store) -> DateTime<Utc> {
    let cfg = DemoConfig {
        seed: 2026,
        customers: 60,
        orders: 300,
        today: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    kefu_bot::demo::load(store, &cfg, &|_| {}).await.unwrap();
    cfg.now()
}

async fn select(store: &Store, named: &Segments, filter: &Filter, now: DateTime<Utc>) -> Vec<i64> {
    segments::audience(store, named, None, Some(filter), now)
        .await
        .unwrap()
        .iter()
        .map(|f| f.id)
        .collect()
}

fn ids(facts: &[CustomerFacts], keep: impl Fn(&CustomerFacts) -> bool) -> Vec<i64> {
    facts.iter().filter(|f| keep(f)).map(|f| f.id).collect()
}

async fn filters_select_the_right_demo_customers(store: &Store) {
    let now = demo(store).await;
    let named = Segments::default();
    let facts = segments::load_facts(store, now, 365).await.unwrap();
    assert_eq!(facts.len(), 60);

    // RFM groups partition the customers who ordered.
    let mut total = 0;
    for g in segments::RFM_GROUPS {
        let members = segments::audience(store, &named, Some(g), None, now)
            .await
            .unwrap();
        assert!(members.iter().all(|m| m.group == Some(g)));
        total += members.len();
    }
    assert_eq!(total, facts.iter().filter(|f| f.group.is_some()).count());
    assert!(total > 40);
    let rfm = Filter {
        rfm: vec!["champions".into(), "loyal".into()],
        ..Filter::default()
    };
    assert_eq!(
        select(store, &named, &rfm, now).await,
        ids(&facts, |f| matches!(f.group, Some("champions" | "loyal")))
    );

    // Country and language.
    let probe = facts
        .iter()
        .find(|f| f.country.is_some() && f.locale.is_some())
        .unwrap();
    let country = probe.country.clone().unwrap();
    let lang = probe.locale.clone().unwrap();
    let primary = lang.split('-').next().unwrap().to_string();
    let f = Filter {
        country: vec![country.to_lowercase()],
        language: vec![primary.clone()],
        ..Filter::default()
    };
    let got = select(store, &named, &f, now).await;
    assert!(got.contains(&probe.id));
    assert_eq!(
        got,
        ids(&facts, |x| x.country.as_deref() == Some(&country)
            && x.locale
                .as_deref()
                .is_some_and(|l| l.split('-').next() == Some(&primary)))
    );

    // Tags.
    let tagged = facts.iter().find(|f| !f.tags.is_empty()).unwrap();
    let tag = tagged.tags[0].clone();
    let f = Filter {
        tags_any: vec![tag.clone()],
        ..Filter::default()
    };
    assert_eq!(
        select(store, &named, &f, now).await,
        ids(&facts, |x| x.tags.contains(&tag))
    );
    let f = Filter {
        tags_none: vec![tag.clone()],
        ..Filter::default()
    };
    assert_eq!(
        select(store, &named, &f, now).await,
        ids(&facts, |x| !x.tags.contains(&tag))
    );

    // Bought a product (by SKU) and a category.
    let buyer = facts.iter().find(|f| f.orders > 0).unwrap();
    let orders = store.orders_of(buyer.id).await.unwrap();
    let sku = orders
        .iter()
        .filter(|o| o.status != "cancelled")
        .flat_map(|o| o.lines.iter())
        .find_map(|l| l.sku.clone())
        .unwrap();
    let f = Filter {
        bought: vec![sku.clone()],
        ..Filter::default()
    };
    let got = select(store, &named, &f, now).await;
    assert!(got.contains(&buyer.id));
    for id in &got {
        let bought = store.orders_of(*id).await.unwrap().iter().any(|o| {
            o.status != "cancelled" && o.lines.iter().any(|l| l.sku.as_deref() == Some(&sku))
        });
        assert!(bought, "customer {id} did not buy {sku}");
    }
    assert!(got.len() < facts.len());
    let nothing = Filter {
        bought: vec!["no-such-product".into()],
        ..Filter::default()
    };
    assert!(select(store, &named, &nothing, now).await.is_empty());

    // Consent per channel.
    let f = Filter {
        consent: vec![Channel::Email],
        ..Filter::default()
    };
    let consenting = ids(&facts, |x| x.consents.get(&Channel::Email) == Some(&true));
    assert!(!consenting.is_empty() && consenting.len() < facts.len());
    assert_eq!(select(store, &named, &f, now).await, consenting);

    // any / not.
    let f = Filter {
        any: vec![
            Filter {
                country: vec![country.clone()],
                ..Filter::default()
            },
            Filter {
                consent: vec![Channel::Email],
                ..Filter::default()
            },
        ],
        not: vec![Filter {
            rfm: vec!["lost".into()],
            ..Filter::default()
        }],
        churn_risk: Some(Range {
            min: None,
            max: Some(0.99),
        }),
        ..Filter::default()
    };
    assert_eq!(
        select(store, &named, &f, now).await,
        ids(&facts, |x| (x.country.as_deref() == Some(&country)
            || x.consents.get(&Channel::Email) == Some(&true))
            && x.group != Some("lost")
            && x.churn_risk <= 0.99)
    );

    // Late parcels: exactly the customers with a parcel past its promised date.
    let f = Filter {
        late_parcel: Some(true),
        ..Filter::default()
    };
    let got = select(store, &named, &f, now).await;
    let mut expected = Vec::new();
    for c in &facts {
        let mut late = false;
        for o in store.orders_of(c.id).await.unwrap() {
            if o.customer_id.is_none() {
                continue;
            }
            for s in store.shipments_of(o.id).await.unwrap() {
                late |= s.delivered_at.is_none()
                    && s.promised_by.is_some_and(|p| p < now)
                    && !matches!(s.status.as_str(), "delivered" | "returned");
            }
        }
        if late {
            expected.push(c.id);
        }
    }
    assert_eq!(got, expected);

    // Open conversations, and the channel last used.
    let who = facts[3].id;
    store
        .open_conversation(Channel::Telegram, "thread-1", Some(who))
        .await
        .unwrap();
    let f = Filter {
        open_support_conversation: Some(true),
        ..Filter::default()
    };
    let now2 = Utc::now();
    let got = segments::audience(store, &named, None, Some(&f), now2)
        .await
        .unwrap();
    assert_eq!(got.iter().map(|f| f.id).collect::<Vec<_>>(), [who]);
    assert_eq!(got[0].last_active_channel, Some(Channel::Telegram));

    // Named segments refer to RFM groups and to each other.
    let named = Segments::parse(
        "s.yaml",
        &format!(
            "- name: good\n  filter:\n    rfm: [champions, loyal]\n\
             - name: good_here\n  filter:\n    segment: good\n    country: [{country}]\n"
        ),
    )
    .unwrap();
    let got = segments::audience(store, &named, Some("good_here"), None, now)
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|f| f.id).collect::<Vec<_>>(),
        ids(&facts, |x| matches!(x.group, Some("champions" | "loyal"))
            && x.country.as_deref() == Some(&country))
    );
    let err = segments::audience(store, &named, Some("nobody"), None, now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown segment `nobody`"));
    // Matching is pure once the context is loaded.
    let ctx = MatchContext::new(&named, now);
    let f = Filter {
        segment: Some("good".into()),
        ..Filter::default()
    };
    assert_eq!(
        ids(&facts, |x| matches(&f, x, &ctx)),
        ids(&facts, |x| matches!(x.group, Some("champions" | "loyal")))
    );
    let counts: BTreeMap<String, usize> = segments::counts(store, &named, &facts, now)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(counts.len(), 13);
}

async fn recompute_replaces_the_stored_snapshot(store: &Store) {
    let now = demo(store).await;
    let r = segments::recompute(store, now, 365).await.unwrap();
    let (rows, at) = store.customer_scores().await.unwrap();
    assert_eq!(rows.len(), r.scored);
    assert_eq!(at, Some(now));
    assert!(r.in_window > 0 && r.in_window <= r.scored);
    let facts = segments::load_facts(store, now, 365).await.unwrap();
    for row in &rows {
        let f = facts.iter().find(|f| f.id == row.customer_id).unwrap();
        assert_eq!(row.group.as_deref(), f.group);
        assert_eq!(row.r, f.rfm.map(|r| i64::from(r.r)));
        assert!((row.churn_risk - f.churn_risk).abs() < 1e-12);
    }
    // A later run replaces, never appends.
    let later = now + Duration::days(400);
    let again = segments::recompute(store, later, 365).await.unwrap();
    let (rows, at) = store.customer_scores().await.unwrap();
    assert_eq!(rows.len(), again.scored);
    assert_eq!(at, Some(later));
    assert!(rows.iter().all(|r| r.group.as_deref() == Some("lost")));
}
