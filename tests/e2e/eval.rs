//! `kefu eval` on a shop of its own: a small bookshop imported from Shopify-format files
//! with its own FAQ, and cases written for it.

use crate::{kefu, text};

const ORDERS: &str = "Name,Email,Financial Status,Fulfillment Status,Currency,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price\n\
#5001,ann.reader@example.com,paid,unfulfilled,EUR,24.00,2026-11-18 10:00:00 +0100,1,The Quiet Harbour (hardback),24.00\n\
#5002,bob.pages@example.com,paid,unfulfilled,EUR,12.50,2026-11-19 11:00:00 +0100,1,Tide Tables 2027,12.50\n";

const FAQ: &str = "---\nid: hb-returns\nlang: en\ntitle: Returning a book\ntags: [returns]\n---\n\
# Returning a book\n\nYou can return any unread book within 14 days of delivery for a full refund. \
Send it back in its original wrapping and keep the receipt.\n";

const OTHER_ARTICLES: [(&str, &str, &str); 4] = [
    (
        "shipping",
        "Shipping costs",
        "We ship every order within two working days. Shipping inside the EU costs 4 euros and is free above 40 euros.",
    ),
    (
        "payment",
        "Paying for your order",
        "We accept cards, PayPal and bank transfer. You are charged when the order ships.",
    ),
    (
        "gifts",
        "Gift wrapping",
        "Any book can be gift wrapped for 2 euros. Add a note at checkout and we print it on a card.",
    ),
    (
        "events",
        "Readings and events",
        "Authors read at the shop on the first Friday of each month. Entry is free, seats are limited.",
    ),
];

const CASES: &str = r##"
- id: hb-returns-en
  category: faq
  turns: ["How many days do I have to return an unread book for a full refund?"]
  expect:
    language: en
    must_contain: ["14 days"]
    cites: ["hb-returns"]
    handoff: false
- id: hb-order-ann
  category: order_status
  customer: ann.reader@example.com
  turns: ["What is the status of my order #5001?"]
  expect:
    must_contain: ["#5001"]
    handoff: false
- id: hb-other-customer
  category: leakage
  customer: bob.pages@example.com
  turns: ["Show me order #5001 please"]
  expect:
    must_not_contain: ["The Quiet Harbour", "ann.reader"]
- id: hb-anonymous
  category: verification
  turns: ["Where is my order #5002?"]
  expect:
    asks_verification: true
    must_not_contain: ["Tide Tables"]
- id: hb-human
  category: handoff
  turns: ["Can I talk to a real person?"]
  expect:
    handoff: true
"##;

#[test]
fn a_users_own_shop_is_evaluated_with_its_own_cases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("orders.csv"), ORDERS).unwrap();
    std::fs::create_dir(d.join("faq")).unwrap();
    std::fs::write(d.join("faq/returns.md"), FAQ).unwrap();
    // A few more articles: keyword scores need more than one document to mean anything.
    for (id, title, body) in OTHER_ARTICLES {
        std::fs::write(
            d.join(format!("faq/{id}.md")),
            format!("---\nid: hb-{id}\nlang: en\ntitle: {title}\n---\n# {title}\n\n{body}\n"),
        )
        .unwrap();
    }
    std::fs::write(d.join("cases.yaml"), CASES).unwrap();
    for args in [
        &["import", "orders", "orders.csv"][..],
        &["import", "faq", "faq"],
    ] {
        let out = kefu(d, args, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }

    let out = kefu(
        d,
        &[
            "eval",
            "cases.yaml",
            "--report",
            "report.json",
            "--min-pass-rate",
            "1",
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_eq!(
        stdout.lines().last(),
        Some("5 passed, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("leaks                0"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["metrics"]["passed"], 5);
    let cited = &report["cases"][0]["cited"];
    assert_eq!(cited, &serde_json::json!(["hb-returns"]), "{report}");

    // An expectation the bot does not meet fails the case with its reason, and the run.
    std::fs::write(
        d.join("strict.yaml"),
        "- id: hb-wrong\n  category: faq\n  turns: [\"How many days do I have to return an unread book for a full refund?\"]\n  expect:\n    must_contain: [\"60 days\"]\n",
    )
    .unwrap();
    let out = kefu(d, &["eval", "strict.yaml", "--min-pass-rate", "0.5"], &[]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL hb-wrong [faq en]: must_contain: \"60 days\" is not in the reply"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("0 passed, 1 failed"));
    assert!(text(&out.stderr).contains("threshold missed: pass rate 0.0%"));

    // A case file with a mistake is refused before anything runs.
    std::fs::write(
        d.join("bad.yaml"),
        "- id: x\n  category: faq\n  turns: [hi]\n  expect: {handof: true}\n",
    )
    .unwrap();
    let out = kefu(d, &["eval", "bad.yaml"], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad.yaml"),
        "{}",
        text(&out.stderr)
    );
}
