//! The widget endpoint in process, with the agent over a small demo shop: what staff do
//! in the console (join, resolve) reaches an open widget at once, the rating prompt
//! follows a resolved conversation, and the rating is stored.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use kefu_bot::conversation::Event;
use kefu_bot::shop::{Channel, Email};
use kefu_channels::web::{HubEvent, Widget, WidgetConfig};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::shop::Shop;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("a frame within 60 s")
            .expect("connection open")
            .unwrap();
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] != "typing" {
                return v;
            }
        }
    }
}

async fn next_bot(ws: &mut Socket) -> Value {
    loop {
        let f = next(ws).await;
        if f["type"] == "message" && f["role"] == "bot" {
            return f;
        }
    }
}

/// The shop's widget served on a free port, and an anonymous visitor's connection past
/// its welcome.
async fn anonymous_widget(shop: &Shop, visitor: &str) -> Socket {
    let widget = Arc::new(Widget::new(shop.agent.clone(), WidgetConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/widget", listener.local_addr().unwrap());
    let app = widget.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let hello = json!({"type": "hello", "visitor": visitor});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["type"], "welcome");
    ws
}

#[tokio::test]
async fn staff_joining_and_the_rating_prompt_reach_an_open_widget() {
    let shop = Shop::new().await;
    let widget = Arc::new(Widget::new(
        shop.agent.clone(),
        WidgetConfig {
            site_key: Some("site-1".into()),
            identity_secret: None,
            allowed_origins: vec![],
            trusted_proxies: vec![],
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/widget", listener.local_addr().unwrap());
    let app = widget.clone().router();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let hello = json!({"type": "hello", "site": "site-1", "visitor": "visitor-rating-1"});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["type"], "welcome");
    let ask = json!({"type": "message", "id": "h1", "text": "I want to talk to a person"});
    ws.send(Message::Text(ask.to_string().into()))
        .await
        .unwrap();
    let ack = next_bot(&mut ws).await;
    assert!(ack["text"].as_str().unwrap().contains("colleague"), "{ack}");

    let thread = "v:visitor-rating-1";
    let store = &shop.store;
    let conversation = store
        .latest_conversation(Channel::Web, thread)
        .await
        .unwrap()
        .unwrap();
    let ana = store
        .create_staff(&Email::parse("ana@shop.example").unwrap(), "Ana", "agent")
        .await
        .unwrap();
    let now = shop.agent.settings().now();

    // Ana claims the conversation in the console: the widget shows her joining.
    shop.agent
        .apply(
            conversation,
            Event::StaffClaimed {
                at: now,
                staff: ana,
            },
            Some("Ana"),
        )
        .await
        .unwrap();
    widget.hub().publish(thread, HubEvent::Messages);
    let joined = next_bot(&mut ws).await;
    assert_eq!(
        joined["text"], "Ana from our team has joined the conversation.",
        "{joined}"
    );

    // She resolves it: the rating question, then the rating buttons.
    let resolved = shop
        .agent
        .apply(conversation, Event::Resolved { at: now }, None)
        .await
        .unwrap();
    assert!(!resolved.replies.is_empty());
    widget.hub().publish(thread, HubEvent::AskRating);
    let question = next_bot(&mut ws).await;
    assert!(
        question["text"].as_str().unwrap().contains("1 (poor) to 5"),
        "{question}"
    );
    assert_eq!(next(&mut ws).await["type"], "rate");

    // The customer taps 5.
    let rate = json!({"type": "message", "id": "r1", "text": "5"});
    ws.send(Message::Text(rate.to_string().into()))
        .await
        .unwrap();
    let thanks = next_bot(&mut ws).await;
    assert!(
        thanks["text"].as_str().unwrap().contains("Thank you"),
        "{thanks}"
    );
    assert_eq!(store.rating(conversation).await.unwrap(), Some(5));
}

#[tokio::test]
async fn a_customer_linked_on_telegram_sees_that_conversation_in_the_widget() {
    let shop = Shop::new().await;
    let emily = shop.customer(crate::shop::EMILY).await;
    // Emily talks to the bot on Telegram (her account is linked there).
    let on_telegram = shop
        .agent
        .handle(&kefu_bot::agent::Inbound {
            channel: Channel::Telegram,
            thread_id: "9001".into(),
            external_id: Some("u1".into()),
            text: "How long does shipping take?".into(),
            customer: Some(emily),
            lang_hint: None,
            lang_fixed: false,
            client: None,
        })
        .await
        .unwrap();
    assert!(!on_telegram.replies.is_empty());
    // Someone else's Telegram conversation must not show.
    shop.agent
        .handle(&kefu_bot::agent::Inbound {
            channel: Channel::Telegram,
            thread_id: "9002".into(),
            external_id: Some("u2".into()),
            text: "Do you sell matcha?".into(),
            customer: None,
            lang_hint: None,
            lang_fixed: false,
            client: None,
        })
        .await
        .unwrap();

    let secret = b"identity-secret".to_vec();
    let widget = Arc::new(Widget::new(
        shop.agent.clone(),
        WidgetConfig {
            site_key: None,
            identity_secret: Some(secret.clone()),
            allowed_origins: vec![],
            trusted_proxies: vec![],
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/widget", listener.local_addr().unwrap());
    let app = widget.clone().router();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let hash = kefu_channels::web::identity::sign(&secret, crate::shop::EMILY);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let hello = json!({"type": "hello", "visitor": "anything", "user_id": crate::shop::EMILY, "user_hash": hash});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["verified"], true, "{welcome}");
    let first = next(&mut ws).await;
    assert_eq!(first["text"], "How long does shipping take?", "{first}");
    assert_eq!(first["channel"], "telegram");
    let reply = next(&mut ws).await;
    assert_eq!(reply["role"], "bot");
    assert_eq!(reply["channel"], "telegram");
    // Then her own widget message, without a channel tag; nothing of the stranger's.
    let ask = json!({"type": "message", "id": "w1", "text": "thanks", "user_id": crate::shop::EMILY, "user_hash": kefu_channels::web::identity::sign(&secret, crate::shop::EMILY)});
    ws.send(Message::Text(ask.to_string().into()))
        .await
        .unwrap();
    let mine = next(&mut ws).await;
    assert_eq!(mine["text"], "thanks", "{mine}");
    assert!(mine.get("channel").is_none(), "{mine}");
    let answer = next_bot(&mut ws).await;
    assert!(answer.get("channel").is_none());
}

#[tokio::test]
async fn a_flood_of_messages_is_slowed_down_not_stored() {
    let shop = Shop::new().await;
    let mut ws = anonymous_widget(&shop, "visitor-flood-1").await;
    for i in 0..12 {
        let m = json!({"type": "message", "id": format!("f{i}"), "text": "hello"});
        ws.send(Message::Text(m.to_string().into())).await.unwrap();
    }
    // Every message is either refused at once or answered.
    let (mut refused, mut answered) = (0, 0);
    while refused + answered < 12 {
        let f = next(&mut ws).await;
        if f["type"] == "error" {
            assert_eq!(f["code"], "slow_down", "{f}");
            refused += 1;
        } else if f["type"] == "message" && f["role"] == "bot" {
            answered += 1;
        }
    }
    assert!((3..=4).contains(&refused), "{refused} refused");
    let conversation = shop
        .store
        .latest_conversation(Channel::Web, "v:visitor-flood-1")
        .await
        .unwrap()
        .unwrap();
    let stored = shop.store.messages(conversation).await.unwrap();
    let from_customer = stored
        .iter()
        .filter(|m| m.role.as_str() == "customer")
        .count();
    assert_eq!(from_customer, answered, "refused messages are not stored");
}

#[tokio::test]
async fn only_allowed_origins_may_open_the_chat() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let shop = Shop::new().await;
    let widget = Arc::new(Widget::new(
        shop.agent.clone(),
        WidgetConfig {
            allowed_origins: vec!["https://shop.example.com".into()],
            ..WidgetConfig::default()
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/widget", listener.local_addr().unwrap());
    let app = widget.clone().router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let with_origin = |origin: Option<&str>| {
        let mut request = url.as_str().into_client_request().unwrap();
        if let Some(o) = origin {
            request.headers_mut().insert("origin", o.parse().unwrap());
        }
        request
    };
    let refused = tokio_tungstenite::connect_async(with_origin(Some("https://evil.example")))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
    assert!(
        tokio_tungstenite::connect_async(with_origin(None))
            .await
            .is_err()
    );
    let (mut ws, _) =
        tokio_tungstenite::connect_async(with_origin(Some("https://SHOP.example.com/")))
            .await
            .unwrap();
    let hello = json!({"type": "hello", "visitor": "visitor-origin-1"});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["type"], "welcome");
}

#[tokio::test]
async fn a_streaming_engine_s_reply_grows_in_the_widget_before_it_is_stored() {
    use crate::llm_server::{LlmServer, Step};

    let llm = LlmServer::start(vec![Step::Stream(
        "Standard shipping takes 3 to 7 business days in the United States. Express parcels arrive sooner.",
    )])
    .await;
    let shop = Shop::with_llm(&llm.base_url).await;
    let mut ws = anonymous_widget(&shop, "visitor-stream-1").await;
    let ask = json!({"type": "message", "id": "s1", "text": "How long does shipping take?"});
    ws.send(Message::Text(ask.to_string().into()))
        .await
        .unwrap();

    // Pieces of the draft first, then the stored reply that replaces them.
    let mut pieces = Vec::new();
    let reply = loop {
        let f = next(&mut ws).await;
        match f["type"].as_str() {
            Some("delta") => pieces.push(f["text"].as_str().unwrap().to_string()),
            Some("message") if f["role"] == "bot" => break f,
            _ => {}
        }
    };
    assert!(!pieces.is_empty(), "no delta before the reply");
    let streamed = pieces.concat();
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.starts_with(streamed.trim()),
        "the draft {streamed:?} is the start of the reply {text:?}"
    );
    assert!(text.contains("3 to 7 business days"), "{text}");
    assert_eq!(llm.left(), 0, "the model was asked once");
}
