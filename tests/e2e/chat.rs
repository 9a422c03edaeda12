//! `kefu chat` through the binary: a scripted conversation on piped input against the
//! demo shop, as a chosen customer and as an anonymous visitor.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{kefu, text};

fn chat(dir: &std::path::Path, args: &[&str], input: &str) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu"));
    cmd.current_dir(dir).arg("chat").args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("KEFU") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run kefu chat");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn customer_with_orders(dir: &std::path::Path) -> (String, String) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", dir.join("kefu-data/kefu.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query_as(
        "SELECT c.email, o.name FROM customers c JOIN orders o ON o.customer_id = c.id \
         WHERE o.status = 'open' ORDER BY o.created_at DESC LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_customer_chats_about_their_orders_on_piped_input() {
    let dir = tempfile::tempdir().unwrap();
    let load = kefu(
        dir.path(),
        &["demo", "load", "--customers", "40", "--orders", "200"],
        &[],
    );
    assert!(load.status.success(), "{}", text(&load.stderr));
    let (email, order) = customer_with_orders(dir.path()).await;

    let out = chat(
        dir.path(),
        &["--as", &email, "--json"],
        &format!("hello\nwhere is order {order}?\nI want to talk to a human\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let turns: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(turns.len(), 3, "{}", text(&out.stdout));
    // The greeting word for word (prompts/answers/en.yaml), with the default `shop.name`:
    // the test writes no kefu.toml.
    assert_eq!(
        turns[0]["replies"][0]["text"],
        "Hi! I'm the My shop assistant. I can track your orders, help with returns, \
         cancellations and address changes, and answer questions about our products and \
         policies. How can I help?"
    );
    assert_eq!(turns[1]["verified"], true);
    let status = turns[1]["replies"][0]["text"].as_str().unwrap();
    assert!(status.contains(&order), "{status}");
    assert!(
        turns[1]["tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "track_shipment")
    );
    assert_eq!(turns[2]["state"], "waiting_for_human");

    // Plain text: replies, then dim side lines with tools and the state.
    let out = chat(
        dir.path(),
        &["--as", &email],
        &format!("where is order {order}?\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&order) && stdout.contains("track_shipment"),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_anonymous_visitor_is_asked_to_verify_and_bad_flags_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let load = kefu(
        dir.path(),
        &["demo", "load", "--customers", "40", "--orders", "200"],
        &[],
    );
    assert!(load.status.success(), "{}", text(&load.stderr));
    let out = chat(dir.path(), &["--json"], "where is my order?\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let turn: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(turn["verified"], false);
    assert!(
        turn["replies"][0]["text"]
            .as_str()
            .unwrap()
            .contains("order number"),
        "{turn}"
    );
    assert!(turn["tool_calls"].as_array().unwrap().is_empty());

    let out = chat(dir.path(), &["--as", "nobody@example.com"], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no customer with this e-mail address"),
        "{}",
        text(&out.stderr)
    );
    let out = chat(dir.path(), &["--engine", "llm"], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("llm.base_url"),
        "{}",
        text(&out.stderr)
    );
}
