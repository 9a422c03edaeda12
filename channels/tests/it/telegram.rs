//! The Telegram adapter against the local Bot API test server, with a real agent over a
//! small demo shop: conversations end to end, commands, deep-link linking, once-only
//! processing of redelivered updates, the webhook's secret, opt-out, and a 429 storm.

use std::sync::Arc;
use std::time::Duration;

use kefu_bot::shop::Channel;
use kefu_channels::limiter::{Limiter, Limits};
use kefu_channels::telegram::test_server::{
    ChatRef, SECRET_TOKEN_HEADER, SentMessage, TestServer, UserRef,
};
use kefu_channels::telegram::{CampaignSend, Mode, Telegram, TelegramConfig, WEBHOOK_PATH};
use teloxide::types::ChatId;

use crate::shop::{EMILY, Shop};

const TOKEN: &str = "4242:telegram-adapter-tests";
const WAIT: Duration = Duration::from_secs(60);

struct Bot {
    server: TestServer,
    telegram: Arc<Telegram>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Bot {
    /// The adapter in polling mode against a fresh test server.
    async fn polling(shop: &Shop) -> Self {
        let server = TestServer::start(TOKEN).await.unwrap();
        let telegram = connect(shop, &server, Mode::Polling, true).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(telegram.clone().poll(async move {
            let _ = stopped.await;
        }));
        Self {
            server,
            telegram,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("polling stops on shutdown")
                .unwrap();
        }
    }

    /// Sends and waits until the bot has sent `n` messages in all.
    async fn say(&self, chat: i64, text: &str, n: usize) -> Vec<SentMessage> {
        self.server
            .push_message(ChatRef::private(chat), user(chat), text);
        let sent = self.server.wait_for_sent(n, WAIT).await;
        assert!(sent.len() >= n, "expected {n} sends, got {sent:#?}");
        sent
    }
}

fn user(id: i64) -> UserRef {
    UserRef::new(id, "Test").with_language("en")
}

async fn connect(shop: &Shop, server: &TestServer, mode: Mode, groups: bool) -> Arc<Telegram> {
    let limiter = Arc::new(Limiter::new(Limits::default()));
    Telegram::connect(
        shop.agent.clone(),
        limiter,
        TelegramConfig {
            token: TOKEN.into(),
            api_url: server.api_url(),
            mode,
            answer_in_groups: groups,
        },
    )
    .await
    .unwrap()
}

fn text(m: &SentMessage) -> &str {
    m.text.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn a_private_chat_from_start_to_an_answer_with_its_source() {
    let shop = Shop::new().await;
    let bot = Bot::polling(&shop).await;
    assert_eq!(bot.telegram.username(), "kefu_test_bot");

    let sent = bot.say(501, "/start", 1).await;
    let greeting = &sent[0];
    assert_eq!(greeting.chat_id, 501);
    assert!(text(greeting).contains("Lotus &amp; Pine"), "{greeting:?}");
    let buttons = greeting.reply_markup.as_ref().unwrap().to_string();
    assert!(
        buttons.contains("q:track") && buttons.contains("q:human"),
        "{buttons}"
    );

    let sent = bot.say(501, "How long does shipping take?", 2).await;
    let answer = &sent[1];
    assert_eq!(answer.parse_mode.as_deref(), Some("HTML"));
    assert!(text(answer).contains("business days"), "{answer:?}");
    assert!(
        text(answer).contains("<a href=\"https://"),
        "the source is a link: {answer:?}"
    );

    // A quick-reply button goes through the agent like typed text.
    let prompt = bot.server.sent()[0].message_id;
    bot.server
        .push_callback(ChatRef::private(501), user(501), prompt, "q:human");
    let sent = bot.server.wait_for_sent(3, WAIT).await;
    assert!(
        text(&sent[2]).contains("colleague"),
        "the button hands over to a person: {:?}",
        sent[2]
    );
    let conversation = shop
        .store
        .latest_conversation(Channel::Telegram, "501")
        .await
        .unwrap()
        .unwrap();
    let state = shop
        .store
        .conversation(conversation)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state.as_str(), "waiting_for_human");
    bot.shutdown().await;
}

#[tokio::test]
async fn a_language_chosen_with_lang_holds_until_lang_auto() {
    let shop = Shop::new().await;
    let bot = Bot::polling(&shop).await;

    // Buttons without a code, "Automatic" among them.
    let sent = bot.say(511, "/lang", 1).await;
    let buttons = sent[0].reply_markup.as_ref().unwrap().to_string();
    assert!(
        buttons.contains("lang:de") && buttons.contains("lang:auto"),
        "{buttons}"
    );

    let sent = bot.say(511, "/lang de", 2).await;
    assert!(text(&sent[1]).contains("Deutsch"), "{:?}", sent[1]);
    // Written in English, answered in the chosen German. On keywords alone (no model)
    // the English words find the English article, quoted under a German note.
    let sent = bot.say(511, "How long does shipping take?", 3).await;
    let answer = text(&sent[2]);
    assert!(
        answer.contains("Werktage") || answer.contains("nur auf Englisch verfügbar"),
        "{answer}"
    );
    // An order question in English: the request to verify comes in German.
    bot.server
        .push_message(ChatRef::private(512), user(512), "/lang de");
    bot.server.wait_for_sent(4, WAIT).await;
    bot.server
        .push_message(ChatRef::private(512), user(512), "Where is my order?");
    let sent = bot.server.wait_for_sent(5, WAIT).await;
    let ask = sent.iter().rfind(|m| m.chat_id == 512).unwrap();
    assert!(text(ask).contains("Bestellnummer"), "{ask:?}");

    // Back to following the customer's own language.
    let sent = bot.say(511, "/lang auto", 6).await;
    assert!(
        text(&sent[5]).contains("whichever language"),
        "{:?}",
        sent[5]
    );
    let sent = bot.say(511, "How many days does delivery take?", 7).await;
    assert!(text(&sent[6]).contains("business days"), "{:?}", sent[6]);
    bot.shutdown().await;
}

#[tokio::test]
async fn an_update_delivered_three_times_gets_one_reply() {
    let shop = Shop::new().await;
    let bot = Bot::polling(&shop).await;
    let question =
        bot.server
            .push_message(ChatRef::private(502), user(502), "Can I return a teapot?");
    bot.server.wait_for_sent(1, WAIT).await;
    let stop = bot
        .server
        .push_message(ChatRef::private(502), user(502), "/stop");
    bot.server.wait_for_sent(2, WAIT).await;
    for _ in 0..2 {
        assert!(bot.server.redeliver(question));
        assert!(bot.server.redeliver(stop));
    }
    // A later message's reply proves the redeliveries were processed before it.
    bot.say(502, "Thanks!", 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = bot.server.sent();
    assert_eq!(sent.len(), 3, "one reply per update: {sent:#?}");
    let stored = shop
        .store
        .messages(
            shop.store
                .latest_conversation(Channel::Telegram, "502")
                .await
                .unwrap()
                .unwrap(),
        )
        .await
        .unwrap();
    let customer_messages = stored
        .iter()
        .filter(|m| m.role.as_str() == "customer")
        .count();
    assert_eq!(
        customer_messages, 2,
        "the question and the thanks, once each"
    );
    bot.shutdown().await;

    // A restart resumes after the saved offset: nothing is answered again.
    let offset = shop.store.cursor(Channel::Telegram).await.unwrap().unwrap();
    assert!(offset > question);
}

#[tokio::test]
async fn stop_ends_marketing_at_once_and_start_brings_it_back() {
    let shop = Shop::new().await;
    let bot = Bot::polling(&shop).await;
    let chat = ChatId(503);
    assert!(matches!(
        bot.telegram
            .send_campaign(chat, "New teas are in!", None)
            .await
            .unwrap(),
        CampaignSend::Sent(_)
    ));
    let sent = bot.say(503, "/stop", 2).await;
    assert!(text(&sent[1]).contains("/start"), "{:?}", sent[1]);
    assert_eq!(
        bot.telegram
            .send_campaign(chat, "Autumn sale!", None)
            .await
            .unwrap(),
        CampaignSend::OptedOut
    );
    // Support still answers after /stop.
    bot.say(503, "How long does shipping take?", 3).await;
    bot.say(503, "/start", 5).await;
    assert!(matches!(
        bot.telegram
            .send_campaign(chat, "Welcome back!", None)
            .await
            .unwrap(),
        CampaignSend::Sent(_)
    ));
    let texts: Vec<String> = bot
        .server
        .sent()
        .iter()
        .map(|m| text(m).to_string())
        .collect();
    assert!(!texts.iter().any(|t| t == "Autumn sale!"), "{texts:#?}");
    assert_eq!(texts.last().map(String::as_str), Some("Welcome back!"));
    bot.shutdown().await;
}

#[tokio::test]
async fn a_deep_link_token_links_the_telegram_user_to_their_customer_account() {
    let shop = Shop::new().await;
    let bot = Bot::polling(&shop).await;
    let emily = shop.customer(EMILY).await;
    let token = shop
        .store
        .create_link_token(emily, chrono::Duration::minutes(30))
        .await
        .unwrap();
    let sent = bot.say(504, &format!("/start {token}"), 1).await;
    assert!(text(&sent[0]).contains("linked"), "{:?}", sent[0]);
    let identity = shop
        .store
        .identity(Channel::Telegram, "504")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.customer_id, emily);
    assert!(identity.verified);
    let sent = bot.say(504, "Show me my orders", 2).await;
    // Her orders, newest first, and no one else's.
    let reply = text(&sent[1]);
    let hers: Vec<String> = shop
        .store
        .orders_of(emily)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert!(!hers.is_empty());
    assert!(reply.contains(&hers[0]), "{reply}");
    let named: Vec<&str> = reply
        .split(|c: char| !(c == '#' || c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with('#') && w.len() > 1)
        .collect();
    assert!(!named.is_empty(), "{reply}");
    assert!(
        named.iter().all(|n| hers.iter().any(|h| h == n)),
        "{reply} vs {hers:?}"
    );

    // The token works once.
    let sent = bot.say(505, &format!("/start {token}"), 3).await;
    assert!(text(&sent[2]).contains("expired"), "{:?}", sent[2]);
    assert!(
        shop.store
            .identity(Channel::Telegram, "505")
            .await
            .unwrap()
            .is_none()
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn the_webhook_needs_the_secret_token() {
    let shop = Shop::new().await;
    let server = TestServer::start(TOKEN).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{WEBHOOK_PATH}", listener.local_addr().unwrap());
    let secret = "s3cret-Token_1".to_string();
    let telegram = connect(
        &shop,
        &server,
        Mode::Webhook {
            url: url.clone(),
            secret: secret.clone(),
        },
        false,
    )
    .await;
    let registered = server.webhook().unwrap();
    assert_eq!(registered.url, url);
    assert_eq!(registered.secret_token.as_deref(), Some(secret.as_str()));
    tokio::spawn(async move { axum::serve(listener, telegram.webhook_router()).await });

    // Telegram's own delivery (with the secret): answered.
    let update = server.push_message(ChatRef::private(506), user(506), "Hello!");
    assert_eq!(server.post_to_webhook(update).await.unwrap(), 200);
    assert_eq!(server.wait_for_sent(1, WAIT).await.len(), 1);
    // Delivered again: 200, no second reply.
    assert_eq!(server.post_to_webhook(update).await.unwrap(), 200);

    // Forged requests: refused before anything is stored.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let forged = serde_json::json!({"update_id": 999_001, "message": {
        "message_id": 1, "date": 1_764_000_000, "chat": {"id": 507, "type": "private", "first_name": "Eve"},
        "from": {"id": 507, "is_bot": false, "first_name": "Eve"}, "text": "hello"}});
    for header in [Some("wrong"), Some(""), None] {
        let mut req = http.post(&url).json(&forged);
        if let Some(h) = header {
            req = req.header(SECRET_TOKEN_HEADER, h);
        }
        assert_eq!(req.send().await.unwrap().status(), 403, "header {header:?}");
    }
    // Not an update, with the right secret: 400.
    let bad = http
        .post(&url)
        .header(SECRET_TOKEN_HEADER, &secret)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.sent().len(), 1);
    assert!(
        shop.store
            .latest_conversation(Channel::Telegram, "507")
            .await
            .unwrap()
            .is_none(),
        "nothing stored for a forged update"
    );
}

#[tokio::test]
async fn a_429_storm_pauses_every_send_and_loses_none() {
    let shop = Shop::new().await;
    let bot = Bot::polling(&shop).await;
    bot.server.flood(Duration::from_millis(2500), 1);
    let sends = (0..12).map(|i| {
        let telegram = bot.telegram.clone();
        async move {
            telegram
                .send(
                    ChatId(600 + i),
                    &format!("notice {i}"),
                    None,
                    kefu_channels::limiter::Priority::Support,
                )
                .await
        }
    });
    let results = futures::future::join_all(sends).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let sent = bot.server.sent();
    let mut texts: Vec<&str> = sent.iter().map(text).collect();
    texts.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("notice {i}")).collect();
    expected.sort();
    assert_eq!(texts, expected, "each exactly once");
    let rejected = bot.server.too_many_requests();
    assert!(rejected >= 1, "the storm was felt");
    // Paused sends are not retried in a loop: a few rounds of the waiting senders at most.
    assert!(
        rejected <= 12 * 4,
        "{rejected} rejected sends: the pause did not hold"
    );
    assert!(bot.telegram.limiter().stats().pauses >= 1);
    bot.shutdown().await;
}

#[tokio::test]
async fn in_a_group_the_bot_answers_when_mentioned_and_keeps_orders_private() {
    let shop = Shop::new().await;
    let bot = Bot::polling(&shop).await;
    let group = ChatRef::group(-7001, "Tea lovers");
    bot.server
        .push_message(group.clone(), user(508), "anyone tried the oolong?");
    bot.server.push_message(
        group.clone(),
        user(508),
        "@kefu_test_bot how long does shipping take?",
    );
    let sent = bot.server.wait_for_sent(1, WAIT).await;
    assert_eq!(sent[0].chat_id, -7001);
    assert!(text(&sent[0]).contains("business days"), "{:?}", sent[0]);
    bot.server
        .push_message(group, user(508), "@kefu_test_bot where is my order #1001?");
    let sent = bot.server.wait_for_sent(2, WAIT).await;
    assert!(text(&sent[1]).contains("privately"), "{:?}", sent[1]);
    assert_eq!(
        bot.server.sent().len(),
        2,
        "the unmentioned message got no reply"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_linked_customers_telegram_chat_shows_live_in_their_open_widget() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let shop = Shop::new().await;
    let emily = shop.customer(EMILY).await;
    shop.store
        .link_identity(Channel::Telegram, "521", emily, true)
        .await
        .unwrap();
    let bot = Bot::polling(&shop).await;

    // Emily's widget is open on the shop's site, sharing the Telegram adapter's hub.
    let secret = b"identity-secret".to_vec();
    let widget = Arc::new(
        kefu_channels::web::Widget::new(
            shop.agent.clone(),
            kefu_channels::web::WidgetConfig {
                identity_secret: Some(secret.clone()),
                ..Default::default()
            },
        )
        .with_hub(bot.telegram.hub().clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/widget", listener.local_addr().unwrap());
    let app = widget.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let hash = kefu_channels::web::identity::sign(&secret, EMILY);
    let hello = serde_json::json!({"type": "hello", "visitor": "anything", "user_id": EMILY, "user_hash": hash});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let mut next = async || loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("connection open")
            .unwrap();
        if let Message::Text(t) = frame {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] != "typing" {
                return v;
            }
        }
    };
    assert_eq!(next().await["verified"], true);

    // She writes on Telegram; the open widget shows question and answer without a reload.
    bot.say(521, "How long does shipping take?", 1).await;
    let question = next().await;
    assert_eq!(
        question["text"], "How long does shipping take?",
        "{question}"
    );
    assert_eq!(question["channel"], "telegram");
    let answer = next().await;
    assert_eq!(answer["role"], "bot", "{answer}");
    assert_eq!(answer["channel"], "telegram");
    assert!(
        answer["text"].as_str().unwrap().contains("business days"),
        "{answer}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_streaming_engine_s_reply_shows_as_a_draft_edited_into_the_answer() {
    use crate::llm_server::{LlmServer, Step};

    let llm = LlmServer::start(vec![Step::Stream(
        "Standard shipping takes 3 to 7 business days in the United States. Express parcels arrive sooner.",
    )])
    .await;
    let shop = Shop::with_llm(&llm.base_url).await;
    let bot = Bot::polling(&shop).await;
    let sent = bot.say(531, "How long does shipping take?", 2).await;
    let (draft, answer) = (&sent[0], &sent[1]);
    assert_eq!(draft.method, "sendMessage");
    assert!(
        text(draft).starts_with("Standard shipping takes 3 to 7 business days")
            && text(draft).ends_with(" …"),
        "{draft:?}"
    );
    assert_eq!(answer.method, "editMessageText");
    assert_eq!(
        answer.message_id, draft.message_id,
        "the draft is edited, not repeated"
    );
    assert_eq!(
        text(answer),
        "Standard shipping takes 3 to 7 business days in the United States. Express parcels arrive sooner."
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bot.server.sent().len(), 2, "{:#?}", bot.server.sent());
    bot.shutdown().await;
}
