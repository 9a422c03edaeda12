//! `kefu eval` on a shop of its own: a small bookshop imported from Shopify-format files
//! with its own FAQ, and cases written for it.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

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

/// The JSON report `kefu eval` wrote to `d/report.json`.
fn report(d: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap()
}

/// The bookshop imported into `d`, with its cases in `d/cases.yaml`.
fn bookshop(d: &std::path::Path) {
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
}

#[test]
fn a_users_own_shop_is_evaluated_with_its_own_cases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bookshop(d);

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
    let report = report(d);
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
    assert_eq!(text(&out.stdout), "", "nothing ran");
    // The file, the line and column, the key and why: `handof` is no expectation.
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some(
            "error: bad.yaml: error: line 4 column 12: unknown field `handof`, expected one of \
             language, must_contain, must_contain_any, must_not_contain, handoff, cites, asks_verification"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("4 |   expect: {handof: true}"), "{stderr}");

    // A value the format does not allow names its case, the key and what is allowed.
    std::fs::write(
        d.join("bad.yaml"),
        "- id: x\n  category: faq\n  channel: sms\n  turns: [hi]\n",
    )
    .unwrap();
    let out = kefu(d, &["eval", "bad.yaml"], &[]);
    assert!(!out.status.success());
    assert_eq!(text(&out.stdout), "", "nothing ran");
    assert_eq!(
        text(&out.stderr).trim_end(),
        "error: bad.yaml: case 1 (`x`): unknown channel `sms` (one of web, telegram, discord, email)"
    );
}

/// An OpenAI-compatible judge: grades a conversation 5 when the bot gave the return
/// window, 4 when it handed over to a person, and answers without a grade otherwise.
async fn judge_reply(
    State(seen): State<Arc<Mutex<Vec<Value>>>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let transcript = body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    seen.lock().unwrap().push(body);
    let content = if transcript.contains("14 days") {
        r#"{"score": 5, "reason": "Gives the return window and cites the policy."}"#
    } else if transcript.contains("handed to a human colleague") {
        r#"{"score": 4, "reason": "Hands over as asked."}"#
    } else {
        "I cannot tell."
    };
    Json(json!({
        "id": "chatcmpl-judge", "object": "chat.completion", "created": 1_764_000_000, "model": "judge-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320},
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_grades_helpfulness_beside_the_checks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(judge_reply))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });

    let (out, no_endpoint) = tokio::task::spawn_blocking(move || {
        bookshop(&d);
        let out = kefu(
            &d,
            &[
                "eval",
                "cases.yaml",
                "--judge",
                "--judge-model",
                "judge-1",
                "--report",
                "report.json",
            ],
            &[
                ("KEFU__LLM__BASE_URL", base.as_str()),
                ("KEFU__LLM__MODEL", "answer-model"),
            ],
        );
        let no_endpoint = kefu(&d, &["eval", "cases.yaml", "--judge"], &[]);
        (out, no_endpoint)
    })
    .await
    .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // The grades do not change what passes.
    assert_eq!(
        stdout.lines().last(),
        Some("5 passed, 0 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("helpfulness (judge)  4.50 / 5 over 2 cases (1: 0, 2: 0, 3: 0, 4: 1, 5: 1; 3 without a grade), judged by judge-1"),
        "{stdout}"
    );

    let report = report(dir.path());
    let case = |id: &str| {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(case("hb-returns-en")["judge"]["score"], 5, "{report}");
    assert_eq!(case("hb-human")["judge"]["score"], 4, "{report}");
    let ungraded = case("hb-anonymous");
    assert_eq!(ungraded["judge"]["score"], Value::Null);
    assert!(
        ungraded["judge"]["reason"]
            .as_str()
            .unwrap()
            .contains("I cannot tell.")
    );
    assert_eq!(report["judge"]["scored"], 2);
    assert_eq!(report["judge"]["unscored"], 3);
    assert_eq!(report["judge"]["usage"]["prompt_tokens"], 1500);

    // One request per case, to the judge's model, asking for the verdict's JSON shape,
    // with the rubric and the conversation.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    for body in seen.iter() {
        assert_eq!(body["model"], "judge-1");
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert!(body.get("tools").is_none(), "{body}");
        assert!(
            body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("from 1 to 5")
        );
    }
    assert!(seen.iter().any(|b| {
        let t = b["messages"][1]["content"].as_str().unwrap();
        t.contains("Customer: How many days do I have to return an unread book")
            && t.contains("Assistant: ")
    }));

    // Without an endpoint to ask, --judge is refused before anything runs.
    assert!(!no_endpoint.status.success());
    assert!(
        text(&no_endpoint.stderr).contains("--judge needs an OpenAI-compatible endpoint"),
        "{}",
        text(&no_endpoint.stderr)
    );
}
