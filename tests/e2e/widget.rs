//! The web chat widget's WebSocket against a real `kefu serve`: answers with citations,
//! resume after a dropped connection and after a server restart (nothing lost, nothing
//! twice), and the logged-in user's HMAC checked on every message.

use std::path::Path;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use kefu_channels::web::identity;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::serve::{Server, spawn_with};

const SITE: &str = "site-e2e";
const SECRET: &str = "widget-secret-for-tests";
const EMILY: &str = "emily.johnson@example.com";

/// The demo shop's answer to "How long does shipping take?": the section of its
/// "Shipping times" article (`shipping-times`, at this URL) that holds the answer.
pub(crate) const SHIPPING_TIMES_ANSWER: &str = "How long will my order take to arrive?\n\
     Standard shipping usually takes:\n\
     • United States: 3–7 business days\n\
     • European Union: 5–10 business days\n\
     • Rest of the world: 7–14 business days\n\
     Express shipping takes 1–3 business days to most destinations.";
pub(crate) const SHIPPING_TIMES_URL: &str = "https://lotusandpine.example/pages/shipping-times";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A small demo shop in `dir`.
fn shop(dir: &Path) {
    let out = super::kefu(
        dir,
        &[
            "demo",
            "load",
            "--customers",
            "80",
            "--orders",
            "400",
            "--today",
            "2026-11-20",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", super::text(&out.stderr));
}

fn serve(dir: &Path) -> Server {
    spawn_with(
        dir,
        &[],
        &[
            ("KEFU__WEB__SITE_KEY", SITE),
            ("KEFU__WEB__IDENTITY_SECRET", SECRET),
        ],
    )
}

async fn connect(server: &Server) -> Socket {
    let url = format!("{}/ws/widget", server.base.replacen("http://", "ws://", 1));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Socket, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON frame (close frames and pings skipped); `None` when the server closed.
async fn next(ws: &mut Socket) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("no frame from the server within 60 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Frames up to and including the first that `done` accepts (typing frames dropped).
async fn until(ws: &mut Socket, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut frames = vec![];
    loop {
        let f = next(ws).await.expect("connection closed early");
        let stop = done(&f);
        if f["type"] != "typing" {
            frames.push(f);
        }
        if stop {
            return frames;
        }
    }
}

fn is_bot_message(f: &Value) -> bool {
    f["type"] == "message" && f["role"] == "bot"
}

async fn hello(ws: &mut Socket, visitor: &str, after: i64, user: Option<(&str, &str)>) -> Value {
    let (user_id, user_hash) =
        user.map_or((Value::Null, Value::Null), |(u, h)| (json!(u), json!(h)));
    send(
        ws,
        json!({"type": "hello", "site": SITE, "visitor": visitor, "lang": "en", "after": after,
               "user_id": user_id, "user_hash": user_hash}),
    )
    .await;
    next(ws).await.expect("no answer to hello")
}

/// Messages sent after a ping are answered after its pong: frames before the pong are
/// everything the server had queued.
async fn drain(ws: &mut Socket) -> Vec<Value> {
    send(ws, json!({"type": "ping"})).await;
    let mut frames = until(ws, |f| f["type"] == "pong").await;
    frames.pop();
    frames
}

fn ids(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_widget_answers_with_sources_and_resumes_without_loss_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    shop(dir.path());
    let server = serve(dir.path());
    let visitor = "visitor-e2e-resume-1";

    let mut tab = connect(&server).await;
    let welcome = hello(&mut tab, visitor, 0, None).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["verified"], false);
    send(
        &mut tab,
        json!({"type": "message", "id": "m1", "text": "How long does shipping take?"}),
    )
    .await;
    let first = until(&mut tab, is_bot_message).await;
    let echo = &first[0];
    assert_eq!(echo["role"], "customer", "{first:?}");
    assert_eq!(echo["client_id"], "m1");
    // The section of the demo FAQ's "Shipping times" article that answers it, cited.
    let answer = first.last().unwrap();
    assert_eq!(answer["text"], SHIPPING_TIMES_ANSWER, "{answer}");
    assert_eq!(
        answer["citations"],
        json!([{
            "document_id": "shipping-times",
            "title": "Shipping times",
            "url": SHIPPING_TIMES_URL
        }]),
        "{answer}"
    );

    // The same message again (a client resending what it had no confirmation for) is
    // neither stored nor answered twice.
    send(
        &mut tab,
        json!({"type": "message", "id": "m1", "text": "How long does shipping take?"}),
    )
    .await;
    send(
        &mut tab,
        json!({"type": "message", "id": "m2", "text": "Can I pay with PayPal?"}),
    )
    .await;
    let second = until(&mut tab, is_bot_message).await;
    assert!(
        second.iter().all(|f| f["client_id"] != "m1"),
        "m1 shown twice: {second:?}"
    );
    assert_eq!(second[0]["client_id"], "m2", "{second:?}");
    let seen = [ids(&first), ids(&second)].concat();
    let last = *seen.iter().max().unwrap();
    drop(tab);

    // A second tab of the same visitor writes while the first is away.
    let mut other = connect(&server).await;
    let history = {
        assert_eq!(
            hello(&mut other, visitor, last, None).await["type"],
            "welcome"
        );
        drain(&mut other).await
    };
    assert!(history.is_empty(), "nothing new yet: {history:?}");
    send(
        &mut other,
        json!({"type": "message", "id": "m3", "text": "Do you ship to Canada?"}),
    )
    .await;
    until(&mut other, is_bot_message).await;
    drop(other);

    // The first tab comes back: it gets exactly what it missed.
    let mut back = connect(&server).await;
    hello(&mut back, visitor, last, None).await;
    let missed = drain(&mut back).await;
    let missed_ids = ids(&missed);
    assert_eq!(
        missed.first().map(|f| f["client_id"].clone()),
        Some(json!("m3")),
        "{missed:?}"
    );
    assert!(missed_ids.iter().all(|id| *id > last), "{missed:?}");
    assert!(missed.iter().any(is_bot_message));
    let all_before_restart = [seen.clone(), missed_ids.clone()].concat();
    let newest = *all_before_restart.iter().max().unwrap();
    drop(back);

    // The server restarts: history is intact, and a client that saw everything gets
    // nothing again.
    drop(server);
    let server = serve(dir.path());
    let mut after_restart = connect(&server).await;
    hello(&mut after_restart, visitor, newest, None).await;
    assert!(drain(&mut after_restart).await.is_empty());
    let mut reload = connect(&server).await;
    hello(&mut reload, visitor, 0, None).await;
    let history = drain(&mut reload).await;
    let mut history_ids = ids(&history);
    assert_eq!(history_ids, {
        let mut sorted = all_before_restart.clone();
        sorted.sort();
        sorted
    });
    history_ids.dedup();
    assert_eq!(
        history_ids.len(),
        all_before_restart.len(),
        "no message twice"
    );
    let customer_texts: Vec<&str> = history
        .iter()
        .filter(|f| f["role"] == "customer")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        customer_texts,
        [
            "How long does shipping take?",
            "Can I pay with PayPal?",
            "Do you ship to Canada?"
        ]
    );
}

#[tokio::test]
async fn a_logged_in_user_is_verified_by_hmac_on_every_message() {
    let dir = tempfile::tempdir().unwrap();
    shop(dir.path());
    let server = serve(dir.path());
    let good = identity::sign(SECRET.as_bytes(), EMILY);

    // A valid hash: the agent knows the customer and answers about their orders.
    let mut ws = connect(&server).await;
    let welcome = hello(&mut ws, "visitor-e2e-hmac-1", 0, Some((EMILY, &good))).await;
    assert_eq!(welcome["verified"], true, "{welcome}");
    send(
        &mut ws,
        json!({"type": "message", "id": "o1", "text": "Show me my orders", "user_id": EMILY, "user_hash": good}),
    )
    .await;
    let frames = until(&mut ws, is_bot_message).await;
    let reply = frames.last().unwrap()["text"].as_str().unwrap().to_string();
    // Her most recent orders, newest first, and no one else's.
    let hers = orders_of(dir.path(), EMILY).await;
    assert!(
        reply.starts_with("Here are your most recent orders:\n"),
        "{reply}"
    );
    assert_eq!(order_names(&reply), hers[..hers.len().min(5)], "{reply}");

    // The same connection, a message whose hash is wrong: refused, not stored.
    send(
        &mut ws,
        json!({"type": "message", "id": "o2", "text": "cancel everything", "user_id": EMILY, "user_hash": "00ff"}),
    )
    .await;
    let refused = next(&mut ws).await.unwrap();
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "bad_identity");
    assert!(next(&mut ws).await.is_none(), "the connection is closed");

    // Another user's id with Emily's hash on Emily's connection: refused too.
    let mut ws = connect(&server).await;
    hello(&mut ws, "visitor-e2e-hmac-1", 0, Some((EMILY, &good))).await;
    drain(&mut ws).await;
    send(
        &mut ws,
        json!({"type": "message", "id": "o3", "text": "hi", "user_id": "someone@example.com", "user_hash": good}),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["code"], "bad_identity");

    // A bad hash at hello: refused before anything is stored.
    let mut bad = connect(&server).await;
    let refused = hello(&mut bad, "visitor-e2e-hmac-2", 0, Some((EMILY, "deadbeef"))).await;
    assert_eq!(refused["code"], "bad_identity", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("user_hash"));

    // A wrong site key.
    let mut wrong = connect(&server).await;
    send(
        &mut wrong,
        json!({"type": "hello", "site": "other", "visitor": "visitor-e2e-hmac-3"}),
    )
    .await;
    assert_eq!(next(&mut wrong).await.unwrap()["code"], "bad_site");

    // Emily's history holds the verified exchange and nothing from the refused frames.
    let mut ws = connect(&server).await;
    hello(&mut ws, "any-visitor-id", 0, Some((EMILY, &good))).await;
    let history = drain(&mut ws).await;
    let texts: Vec<&str> = history.iter().filter_map(|f| f["text"].as_str()).collect();
    assert_eq!(texts.first(), Some(&"Show me my orders"), "{texts:?}");
    assert!(
        !texts.contains(&"cancel everything") && !texts.contains(&"hi"),
        "{texts:?}"
    );
}

/// The names of the orders of the customer with this e-mail address in the shop in
/// `dir`, newest first.
pub(crate) async fn orders_of(dir: &Path, email: &str) -> Vec<String> {
    use kefu_bot::store::{ConnectOptions, Store};
    let url = format!("sqlite://{}", dir.join("kefu-data/kefu.db").display());
    let store = Store::open(&url, &ConnectOptions::default()).await.unwrap();
    let customer = store
        .customer_by_email(&kefu_bot::shop::Email::parse(email).unwrap())
        .await
        .unwrap()
        .expect("the customer is in the shop")
        .id;
    let names: Vec<String> = store
        .orders_of(customer)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    store.close().await;
    assert!(!names.is_empty(), "{email} has orders");
    names
}

/// Order names (`#` and digits) a reply mentions, in order.
pub(crate) fn order_names(text: &str) -> Vec<String> {
    text.split(|c: char| !(c == '#' || c.is_ascii_digit()))
        .filter(|w| w.len() > 1 && w.starts_with('#') && !w[1..].contains('#'))
        .map(str::to_owned)
        .collect()
}

/// One message from a new anonymous visitor; the bot's answer.
async fn ask_once(server: &Server, visitor: &str, text: &str) -> String {
    let mut ws = connect(server).await;
    assert_eq!(hello(&mut ws, visitor, 0, None).await["type"], "welcome");
    send(
        &mut ws,
        json!({"type": "message", "id": "m1", "text": text}),
    )
    .await;
    let frames = until(&mut ws, is_bot_message).await;
    frames.last().unwrap()["text"].as_str().unwrap().to_string()
}

/// The one-time code goes out through the configured SMTP server (a real one, aiosmtpd)
/// and typing it in the widget verifies the visitor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_code_arrives_over_smtp_and_verifies_the_visitor() {
    let Some(smtp) = crate::smtp::Smtp::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    shop(dir.path());
    let port = smtp.port.to_string();
    let server = spawn_with(
        dir.path(),
        &[],
        &[
            ("KEFU__WEB__SITE_KEY", SITE),
            ("KEFU__WEB__IDENTITY_SECRET", SECRET),
            ("KEFU__HTTP__PUBLIC_URL", "https://shop.example"),
            ("KEFU__SHOP__NAME", "Lotus & Pine"),
            ("KEFU__EMAIL__ENABLED", "true"),
            ("KEFU__EMAIL__FROM", "Lotus & Pine <hello@lotus.example>"),
            ("KEFU__EMAIL__SMTP_HOST", "127.0.0.1"),
            ("KEFU__EMAIL__SMTP_PORT", &port),
            ("KEFU__EMAIL__SMTP_SECURITY", "none"),
        ],
    );
    let mut ws = connect(&server).await;
    assert_eq!(
        hello(&mut ws, "visitor-otp", 0, None).await["type"],
        "welcome"
    );
    send(
        &mut ws,
        json!({"type": "message", "id": "m1", "text": "where is my parcel?"}),
    )
    .await;
    let ask = until(&mut ws, is_bot_message).await;
    let ask = ask.last().unwrap()["text"].as_str().unwrap().to_string();
    assert!(ask.contains("one-time code"), "{ask}");
    send(
        &mut ws,
        json!({"type": "message", "id": "m2", "text": EMILY}),
    )
    .await;
    let sent = until(&mut ws, is_bot_message).await;
    let sent = sent.last().unwrap()["text"].as_str().unwrap().to_string();
    assert!(sent.contains("6-digit code"), "{sent}");

    let started = std::time::Instant::now();
    let mail = loop {
        if let Some(m) = smtp.messages().into_iter().next() {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no code e-mail arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        crate::smtp::header(&mail, "X-RcptTo").as_deref(),
        Some(EMILY)
    );
    assert_eq!(
        crate::smtp::header(&mail, "Subject").as_deref(),
        Some("Your Lotus & Pine verification code")
    );
    let at = mail
        .find("Your verification code is ")
        .expect("the code in the body")
        + "Your verification code is ".len();
    let code = &mail[at..at + 6];
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    assert!(mail.contains("valid for 10 minutes"), "{mail}");

    send(
        &mut ws,
        json!({"type": "message", "id": "m3", "text": code}),
    )
    .await;
    let done = until(&mut ws, is_bot_message).await;
    let done = done.last().unwrap()["text"].as_str().unwrap().to_string();
    assert!(done.contains("you're verified"), "{done}");
    assert_eq!(smtp.messages().len(), 1, "one code, one e-mail");
}

/// Failed attempts from one address count together, whatever visitor id each tab
/// claims: the widget hands the connection's address to the agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_visitor_ids_do_not_reset_the_attempts_from_one_address() {
    let dir = tempfile::tempdir().unwrap();
    shop(dir.path());
    let server = serve(dir.path());
    for i in 0..10 {
        let answer = ask_once(
            &server,
            &format!("visitor-guess-{i}"),
            &format!("order #9990{i} postal code 12345"),
        )
        .await;
        assert!(
            answer.starts_with("Sorry, I couldn't verify that."),
            "attempt {i}: {answer}"
        );
    }
    let answer = ask_once(
        &server,
        "visitor-guess-new",
        "order #99911 postal code 12345",
    )
    .await;
    assert_eq!(
        answer,
        "For your security, I can't check order details right now."
    );
}
