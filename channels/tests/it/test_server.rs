//! The local Telegram Bot API test server, driven over HTTP with reqwest like a bot would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kefu_channels::telegram::test_server::{
    ChatRef, Limits, PhotoSource, SECRET_TOKEN_HEADER, TestServer, UserRef,
};
use serde_json::{Value, json};

const TOKEN: &str = "123456:test-token";

struct Bot {
    server: TestServer,
    http: reqwest::Client,
}

impl Bot {
    async fn start(limits: Limits) -> Bot {
        let server = TestServer::start_with(TOKEN, limits).await.unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        Bot {
            server,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs JSON params to `method`; returns the HTTP status and the body.
    async fn call(&self, method: &str, params: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.server.method_url(method))
            .json(&params)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    async fn send(&self, chat_id: i64, text: &str) -> (u16, Value) {
        self.call("sendMessage", json!({"chat_id": chat_id, "text": text}))
            .await
    }
}

/// `application/x-www-form-urlencoded` escaping of a value.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap();
    (status, body)
}

fn alice() -> UserRef {
    UserRef::new(42, "Alice")
        .with_username("alice")
        .with_language("de")
}

fn assert_error(answer: &(u16, Value), code: u16, description: &str) {
    assert_eq!(answer.0, code, "{}", answer.1);
    assert_eq!(
        answer.1,
        json!({"ok": false, "error_code": code, "description": description})
    );
}

fn retry_after(answer: &(u16, Value)) -> u64 {
    assert_eq!(answer.0, 429, "{}", answer.1);
    assert_eq!(answer.1["error_code"], 429);
    let secs = answer.1["parameters"]["retry_after"].as_u64().unwrap();
    assert_eq!(
        answer.1["description"],
        format!("Too Many Requests: retry after {secs}")
    );
    secs
}

#[tokio::test]
async fn get_me_answers_the_bot_user_and_a_wrong_token_gets_401() {
    let bot = Bot::start(Limits::default()).await;
    let (status, body) = bot.call("getMe", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], true);
    let me = &body["result"];
    assert_eq!(me["id"], 123456);
    assert_eq!(me["is_bot"], true);
    assert_eq!(me["username"], "kefu_test_bot");
    for field in [
        "can_join_groups",
        "can_read_all_group_messages",
        "supports_inline_queries",
        "has_main_web_app",
    ] {
        assert!(me[field].is_boolean(), "getMe lacks {field}");
    }

    // Method names are case-insensitive on Telegram, and GET works as well as POST.
    let response = bot
        .http
        .get(bot.server.method_url("getme"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.1["result"]["id"], 123456);

    let wrong = format!("{}/bot123456:wrong/getMe", bot.server.api_url());
    let answer = read(bot.http.get(wrong).send().await.unwrap()).await;
    assert_error(&answer, 401, "Unauthorized");

    let answer = bot.call("sendTelepathy", json!({})).await;
    assert_error(&answer, 404, "Not Found");
    let answer = read(
        bot.http
            .get(format!("{}/nothing/here/at/all", bot.server.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&answer, 404, "Not Found");

    let statuses: Vec<u16> = bot
        .server
        .requests()
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [200, 200, 401, 404, 404]);
}

#[tokio::test]
async fn send_message_is_recorded_and_returns_a_message_with_per_chat_ids() {
    let bot = Bot::start(Limits::unlimited()).await;
    let keyboard = json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "order:yes"}]]});
    let (status, body) = bot
        .call("sendMessage", json!({"chat_id": 42, "text": "Hallo!", "parse_mode": "HTML", "reply_markup": keyboard}))
        .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["result"];
    assert_eq!(message["message_id"], 1);
    assert_eq!(message["text"], "Hallo!");
    assert_eq!(message["chat"]["id"], 42);
    assert_eq!(message["chat"]["type"], "private");
    assert_eq!(message["from"]["is_bot"], true);
    assert_eq!(message["from"]["id"], 123456);
    assert!(message["date"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(message["reply_markup"], keyboard);

    // Ids count per chat.
    assert_eq!(bot.send(42, "second").await.1["result"]["message_id"], 2);
    assert_eq!(
        bot.send(-100_777, "in a group").await.1["result"]["message_id"],
        1
    );
    let group = bot.call("getChat", json!({"chat_id": -100_777})).await.1;
    assert_eq!(group["result"]["type"], "group");

    let sent = bot.server.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].method, "sendMessage");
    assert_eq!((sent[0].chat_id, sent[0].message_id), (42, 1));
    assert_eq!(sent[0].text.as_deref(), Some("Hallo!"));
    assert_eq!(sent[0].parse_mode.as_deref(), Some("HTML"));
    assert_eq!(sent[0].reply_markup, Some(keyboard));
    assert_eq!(sent[2].chat_id, -100_777);
    assert!(sent[0].at <= sent[1].at && sent[1].at <= sent[2].at);
    assert_eq!(bot.server.message(42, 2).unwrap()["text"], "second");
}

#[tokio::test]
async fn missing_empty_and_too_long_text_and_chat_are_rejected_like_telegram() {
    let bot = Bot::start(Limits::unlimited()).await;
    assert_error(
        &bot.call("sendMessage", json!({"text": "hi"})).await,
        400,
        "Bad Request: chat_id is empty",
    );
    assert_error(
        &bot.call("sendMessage", json!({"chat_id": 42})).await,
        400,
        "Bad Request: message text is empty",
    );
    assert_error(
        &bot.send(42, "  \n ").await,
        400,
        "Bad Request: message text is empty",
    );
    assert_error(
        &bot.call("sendMessage", json!({"chat_id": "@nobody", "text": "hi"}))
            .await,
        400,
        "Bad Request: chat not found",
    );

    // 2048 emoji are 4096 UTF-16 code units (but 2048 chars and 8192 bytes): just allowed.
    let at_limit = "😀".repeat(2048);
    assert_eq!(bot.send(42, &at_limit).await.0, 200);
    let over = format!("{at_limit}a");
    assert_error(
        &bot.send(42, &over).await,
        400,
        "Bad Request: message is too long",
    );
    assert_error(
        &bot.send(42, &"a".repeat(4097)).await,
        400,
        "Bad Request: message is too long",
    );

    let caption = "c".repeat(1025);
    let answer = bot
        .call(
            "sendPhoto",
            json!({"chat_id": 42, "photo": "https://example.com/a.jpg", "caption": caption}),
        )
        .await;
    assert_error(&answer, 400, "Bad Request: message caption is too long");

    // Nothing rejected was recorded as sent.
    assert_eq!(bot.server.sent().len(), 1);
}

#[tokio::test]
async fn malformed_requests_get_400_not_a_crash() {
    let bot = Bot::start(Limits::unlimited()).await;
    let url = bot.server.method_url("sendMessage");
    let response = bot
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"chat_id\": 42, \"text\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, 400);
    for params in [
        json!({"chat_id": {"id": 42}, "text": "hi"}),
        json!({"chat_id": 42.5, "text": "hi"}),
        json!({"chat_id": 42, "text": "hi", "reply_markup": "not json"}),
        json!({"chat_id": 42, "text": "hi", "reply_markup": [1, 2]}),
        json!({"chat_id": 42, "text": "hi", "reply_markup": {"inline_keyboard": "no"}}),
        json!({"chat_id": 42, "text": "hi", "reply_to_message_id": "x"}),
        json!({"chat_id": 42, "text": "hi", "parse_mode": "LaTeX"}),
        json!({"chat_id": 42, "message_id": 999_999_999_999_i64, "text": "x"}),
    ] {
        let method = if params.get("message_id").is_some() {
            "editMessageText"
        } else {
            "sendMessage"
        };
        let (status, body) = bot.call(method, params.clone()).await;
        assert_eq!(status, 400, "{params} → {body}");
        assert_eq!(body["ok"], false);
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .starts_with("Bad Request: "),
            "{body}"
        );
    }
    assert_error(
        &bot.call(
            "sendMessage",
            json!({"chat_id": 42, "text": "hi", "reply_markup": "{"}),
        )
        .await,
        400,
        "Bad Request: can't parse reply keyboard markup JSON object",
    );
    // The server is still up.
    assert_eq!(bot.send(42, "still here").await.0, 200);
}

#[tokio::test]
async fn form_and_query_parameters_are_accepted_with_numbers_as_strings() {
    let bot = Bot::start(Limits::unlimited()).await;
    bot.server
        .add_chat(ChatRef::channel(-1_001_234_567_890, "Kefu News").with_username("kefu_news"));
    let keyboard = r#"{"inline_keyboard":[[{"text":"Open","url":"https://example.com"}]]}"#;
    let response = bot
        .http
        .post(bot.server.method_url("sendMessage"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "chat_id=%40kefu_news&text=Sale+today&reply_markup={}",
            percent_encode(keyboard)
        ))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["result"];
    assert_eq!(message["chat"]["id"], -1_001_234_567_890_i64);
    assert_eq!(message["chat"]["type"], "channel");
    assert_eq!(message["sender_chat"]["title"], "Kefu News");
    assert!(message.get("from").is_none());
    assert_eq!(
        message["reply_markup"]["inline_keyboard"][0][0]["url"],
        "https://example.com"
    );

    let url = format!(
        "{}?chat_id=42&text=from%20the%20query",
        bot.server.method_url("sendMessage")
    );
    let (status, body) = read(bot.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["text"], "from the query");

    let recorded = bot.server.requests();
    assert_eq!(recorded[0].params["chat_id"], "@kefu_news");
    assert_eq!(recorded[1].params["chat_id"], "42");
}

#[tokio::test]
async fn callback_data_over_64_bytes_is_button_data_invalid() {
    let bot = Bot::start(Limits::unlimited()).await;
    let markup = |data: &str| json!({"inline_keyboard": [[{"text": "Go", "callback_data": data}]]});
    let ok = bot
        .call(
            "sendMessage",
            json!({"chat_id": 42, "text": "hi", "reply_markup": markup(&"d".repeat(64))}),
        )
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    // 22 × "é" (2 bytes each) and 21 ASCII letters: 65 bytes in 43 characters.
    let data = format!("{}{}", "é".repeat(22), "x".repeat(21));
    assert_eq!(data.len(), 65);
    let answer = bot
        .call(
            "sendMessage",
            json!({"chat_id": 42, "text": "hi", "reply_markup": markup(&data)}),
        )
        .await;
    assert_error(&answer, 400, "Bad Request: BUTTON_DATA_INVALID");
    let answer = bot
        .call(
            "sendMessage",
            json!({"chat_id": 42, "text": "hi", "reply_markup": markup("")}),
        )
        .await;
    assert_error(&answer, 400, "Bad Request: BUTTON_DATA_INVALID");
}

#[tokio::test]
async fn edits_of_unknown_or_unchanged_messages_fail_like_telegram() {
    let bot = Bot::start(Limits::unlimited()).await;
    let keyboard = json!({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]});
    bot.call(
        "sendMessage",
        json!({"chat_id": 42, "text": "Price: 10 €", "reply_markup": keyboard}),
    )
    .await;

    let edit = |message_id: i64, text: &str, markup: Option<&Value>| {
        let mut params = json!({"chat_id": 42, "message_id": message_id, "text": text});
        if let Some(markup) = markup {
            params["reply_markup"] = markup.clone();
        }
        bot.call("editMessageText", params)
    };
    assert_error(
        &edit(7, "x", None).await,
        400,
        "Bad Request: message to edit not found",
    );
    assert_error(
        &edit(1, "Price: 10 €", Some(&keyboard)).await,
        400,
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    );
    // Same text without the keyboard removes it: a modification.
    let (status, body) = edit(1, "Price: 10 €", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"].get("reply_markup").is_none());
    assert!(body["result"]["edit_date"].is_i64());
    let (status, body) = edit(1, "Price: 12 €", Some(&keyboard)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["text"], "Price: 12 €");
    assert_eq!(bot.server.message(42, 1).unwrap()["text"], "Price: 12 €");

    let answer = bot
        .call(
            "editMessageReplyMarkup",
            json!({"chat_id": 42, "message_id": 1, "reply_markup": keyboard}),
        )
        .await;
    assert_eq!(
        answer.1["description"].as_str().unwrap().split(':').nth(1),
        Some(" message is not modified")
    );
    let answer = bot
        .call(
            "editMessageReplyMarkup",
            json!({"chat_id": 42, "message_id": 1}),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);

    // A user's message cannot be edited by the bot; a deleted one is gone.
    bot.server
        .push_message(ChatRef::private(42), alice(), "hello");
    assert_error(
        &edit(2, "hijacked", None).await,
        400,
        "Bad Request: message can't be edited",
    );
    assert_eq!(
        bot.call("deleteMessage", json!({"chat_id": 42, "message_id": 1}))
            .await
            .0,
        200
    );
    assert_error(
        &edit(1, "x", None).await,
        400,
        "Bad Request: message to edit not found",
    );
    assert_error(
        &bot.call("deleteMessage", json!({"chat_id": 42, "message_id": 1}))
            .await,
        400,
        "Bad Request: message to delete not found",
    );

    let methods: Vec<String> = bot
        .server
        .sent()
        .into_iter()
        .map(|sent| sent.method)
        .collect();
    assert_eq!(
        methods,
        [
            "sendMessage",
            "editMessageText",
            "editMessageText",
            "editMessageReplyMarkup"
        ]
    );
}

#[tokio::test]
async fn get_updates_long_poll_returns_a_pushed_update_and_an_offset_confirms_it() {
    let bot = Bot::start(Limits::unlimited()).await;
    let poll = bot.call("getUpdates", json!({"timeout": 10}));
    let pusher = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        bot.server
            .push_message(ChatRef::private(42), alice(), "/start shop")
    };
    let started = Instant::now();
    let ((status, body), update_id) = tokio::join!(poll, pusher);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the long poll did not end when the update came"
    );
    assert_eq!(status, 200, "{body}");
    let updates = body["result"].as_array().unwrap();
    assert_eq!(updates.len(), 1);
    let update = &updates[0];
    assert_eq!(update["update_id"], update_id);
    let message = &update["message"];
    assert_eq!(message["text"], "/start shop");
    assert_eq!(message["from"]["username"], "alice");
    assert_eq!(message["from"]["language_code"], "de");
    assert_eq!(message["chat"]["first_name"], "Alice");
    assert_eq!(
        message["entities"],
        json!([{"type": "bot_command", "offset": 0, "length": 6}])
    );

    // Unconfirmed, it comes again; the offset confirms it.
    let again = bot.call("getUpdates", json!({})).await.1;
    assert_eq!(again["result"][0]["update_id"], update_id);
    let second = bot
        .server
        .push_message(ChatRef::private(42), alice(), "second");
    assert_eq!(second, update_id + 1);
    let next = bot
        .call("getUpdates", json!({"offset": update_id + 1}))
        .await
        .1;
    let ids: Vec<i64> = next["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second]);
    assert_eq!(bot.server.pending_updates(), 1);
    let done = bot
        .call("getUpdates", json!({"offset": second + 1, "timeout": 0}))
        .await
        .1;
    assert_eq!(done["result"], json!([]));
    assert_eq!(bot.server.pending_updates(), 0);

    // A poll with nothing to return ends after its timeout with an empty list.
    let started = Instant::now();
    let (status, body) = bot
        .call("getUpdates", json!({"offset": second + 1, "timeout": 1}))
        .await;
    assert_eq!((status, &body["result"]), (200, &json!([])));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn limit_caps_a_batch_and_allowed_updates_filters_new_updates() {
    let bot = Bot::start(Limits::unlimited()).await;
    let ids: Vec<i64> = (0..3)
        .map(|i| {
            bot.server
                .push_message(ChatRef::private(42), alice(), &format!("m{i}"))
        })
        .collect();
    let batch = bot.call("getUpdates", json!({"limit": 2})).await.1;
    assert_eq!(batch["result"].as_array().unwrap().len(), 2);
    assert_eq!(batch["result"][1]["update_id"], ids[1]);

    let only_callbacks = bot
        .call(
            "getUpdates",
            json!({"offset": ids[2] + 1, "allowed_updates": ["callback_query"]}),
        )
        .await;
    assert_eq!(only_callbacks.1["result"], json!([]));
    bot.server
        .push_message(ChatRef::private(42), alice(), "filtered out");
    let callback = bot
        .server
        .push_callback(ChatRef::private(42), alice(), 1, "buy:7");
    let delivered = bot
        .call("getUpdates", json!({"offset": ids[2] + 1}))
        .await
        .1;
    let delivered = delivered["result"].as_array().unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["update_id"], callback);
    let query = &delivered[0]["callback_query"];
    assert_eq!(query["data"], "buy:7");
    assert_eq!(query["message"]["message_id"], 1);
    assert_eq!(query["message"]["text"], "m0");

    let query_id = query["id"].clone();
    assert_eq!(
        bot.call(
            "answerCallbackQuery",
            json!({"callback_query_id": query_id, "text": "Added"})
        )
        .await
        .0,
        200
    );
    assert_error(
        &bot.call(
            "answerCallbackQuery",
            json!({"callback_query_id": query_id}),
        )
        .await,
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    );
}

#[tokio::test]
async fn a_redelivered_update_appears_again_even_after_it_was_confirmed() {
    let bot = Bot::start(Limits::unlimited()).await;
    let first = bot
        .server
        .push_message(ChatRef::private(42), alice(), "order 17");
    let got = bot.call("getUpdates", json!({})).await.1;
    assert_eq!(got["result"][0]["update_id"], first);
    assert_eq!(
        bot.call("getUpdates", json!({"offset": first + 1})).await.1["result"],
        json!([])
    );

    assert!(bot.server.redeliver(first));
    assert!(!bot.server.redeliver(999));
    let again = bot.call("getUpdates", json!({"offset": first + 1})).await.1;
    assert_eq!(again["result"].as_array().unwrap().len(), 1);
    assert_eq!(again["result"][0]["update_id"], first);
    assert_eq!(again["result"][0]["message"]["text"], "order 17");
    // Delivered once, the replay is confirmed by the same offset.
    assert_eq!(
        bot.call("getUpdates", json!({"offset": first + 1})).await.1["result"],
        json!([])
    );

    // A raw replay of an old id behaves the same; a raw update without an id gets the next.
    let replayed = bot
        .server
        .push_update(json!({"update_id": first, "message": {"text": "replayed"}}));
    assert_eq!(replayed, first);
    let fresh = bot
        .server
        .push_update(json!({"edited_message": {"text": "raw"}}));
    assert_eq!(fresh, first + 1);
    let got = bot.call("getUpdates", json!({"offset": first + 1})).await.1;
    let ids: Vec<i64> = got["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [first, fresh]);
}

#[tokio::test]
async fn a_second_long_poll_terminates_the_first_with_409() {
    let bot = Bot::start(Limits::unlimited()).await;
    let older = bot.call("getUpdates", json!({"timeout": 10}));
    let newer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        bot.call("getUpdates", json!({"timeout": 1})).await
    };
    let started = Instant::now();
    let (older, newer) = tokio::join!(older, newer);
    assert_error(
        &older,
        409,
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    );
    assert_eq!(newer.0, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn get_updates_while_a_webhook_is_set_is_a_409_conflict() {
    let bot = Bot::start(Limits::unlimited()).await;
    let answer = bot
        .call(
            "setWebhook",
            json!({"url": "https://example.com/hook", "secret_token": "bad token!"}),
        )
        .await;
    assert_error(
        &answer,
        400,
        "Bad Request: secret token contains unallowed characters",
    );
    assert!(bot.server.webhook().is_none());

    let (status, body) = bot
        .call(
            "setWebhook",
            json!({"url": "https://example.com/hook", "secret_token": "s3cr-et_"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"ok": true, "result": true, "description": "Webhook was set"})
    );
    let webhook = bot.server.webhook().unwrap();
    assert_eq!(webhook.url, "https://example.com/hook");
    assert_eq!(webhook.secret_token.as_deref(), Some("s3cr-et_"));

    let conflict = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
    assert_error(&bot.call("getUpdates", json!({})).await, 409, conflict);
    let info = bot.call("getWebhookInfo", json!({})).await.1;
    assert_eq!(info["result"]["url"], "https://example.com/hook");

    assert_eq!(bot.call("deleteWebhook", json!({})).await.0, 200);
    assert_eq!(bot.call("getUpdates", json!({})).await.0, 200);
    assert_eq!(
        bot.call("getWebhookInfo", json!({})).await.1["result"]["url"],
        ""
    );

    // Setting a webhook ends a waiting long poll with the same conflict.
    let poll = bot.call("getUpdates", json!({"timeout": 10}));
    let set = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        bot.call("setWebhook", json!({"url": "https://example.com/hook"}))
            .await
    };
    let (poll, set) = tokio::join!(poll, set);
    assert_eq!(set.0, 200);
    assert_error(&poll, 409, conflict);
}

#[tokio::test]
async fn post_to_webhook_sends_the_update_with_the_secret_header() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, Value)>();
    let receiver = Router::new().route(
        "/hook",
        post(
            move |headers: HeaderMap, axum::Json(update): axum::Json<Value>| {
                let tx = tx.clone();
                async move {
                    let secret = headers
                        .get(SECRET_TOKEN_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    tx.send((secret, update)).unwrap();
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let bot = Bot::start(Limits::unlimited()).await;
    let update_id = bot
        .server
        .push_message(ChatRef::private(42), alice(), "via webhook");
    assert!(matches!(
        bot.server.post_to_webhook(update_id).await,
        Err(kefu_channels::telegram::test_server::WebhookError::NotSet)
    ));
    let answer = bot
        .call(
            "setWebhook",
            json!({"url": hook_url, "secret_token": "hook-secret"}),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(bot.server.pending_updates(), 1);

    assert_eq!(bot.server.post_to_webhook(update_id).await.unwrap(), 200);
    let (secret, update) = rx.recv().await.unwrap();
    assert_eq!(secret.as_deref(), Some("hook-secret"));
    assert_eq!(update["update_id"], update_id);
    assert_eq!(update["message"]["text"], "via webhook");
    // A 2xx confirms the update.
    assert_eq!(bot.server.pending_updates(), 0);

    // Without a secret, no header.
    bot.call("setWebhook", json!({"url": hook_url})).await;
    assert_eq!(bot.server.post_to_webhook(update_id).await.unwrap(), 200);
    assert_eq!(rx.recv().await.unwrap().0, None);
}

#[tokio::test]
async fn the_31st_send_within_a_second_gets_429_and_its_retry_after_is_honoured() {
    let bot = Bot::start(Limits::default()).await;
    // Thirty different private chats, so only the overall limit applies.
    let sends = futures::future::join_all((1..=30).map(|chat| bot.send(chat, "broadcast"))).await;
    assert!(sends.iter().all(|(status, _)| *status == 200));
    let thirty_first = bot.send(31, "broadcast").await;
    let sent = bot.server.sent();
    let first_at = sent.iter().map(|sent| sent.at).min().unwrap();
    let rejected = bot.server.requests().last().unwrap().clone();
    assert!(
        rejected.at.duration_since(first_at) < Duration::from_secs(1),
        "the machine took over a second for 30 sends"
    );
    let secs = retry_after(&thirty_first);
    assert_eq!(secs, 1);
    assert_eq!(rejected.retry_after, Some(1));
    assert_eq!(bot.server.too_many_requests(), 1);
    assert_eq!(sent.len(), 30);

    tokio::time::sleep(Duration::from_secs(secs)).await;
    assert_eq!(bot.send(31, "broadcast").await.0, 200);
}

#[tokio::test]
async fn a_private_chat_allows_a_burst_then_refills_at_its_rate() {
    let limits = Limits {
        global_per_sec: 0,
        chat_per_sec: 2.0,
        chat_burst: 3,
        group_per_min: 0,
    };
    let bot = Bot::start(limits).await;
    for i in 0..3 {
        assert_eq!(bot.send(42, &format!("burst {i}")).await.0, 200);
    }
    assert_eq!(retry_after(&bot.send(42, "one too many").await), 1);
    // Other chats have their own bucket.
    assert_eq!(bot.send(43, "other chat").await.0, 200);
    // Rejected sends took nothing: after one refill interval (500 ms) exactly one fits.
    assert_eq!(retry_after(&bot.send(42, "still too many").await), 1);
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(bot.send(42, "refilled").await.0, 200);
    assert_eq!(bot.send(42, "bucket empty again").await.0, 429);

    // The accepted sends to chat 42 obey the model: at most 3 at once, then one per 500 ms.
    let times: Vec<Instant> = bot
        .server
        .sent()
        .iter()
        .filter(|s| s.chat_id == 42)
        .map(|s| s.at)
        .collect();
    assert_eq!(times.len(), 4);
    assert!(times[3].duration_since(times[0]) >= Duration::from_millis(500));
}

#[tokio::test]
async fn a_group_allows_20_sends_per_minute() {
    let limits = Limits {
        global_per_sec: 0,
        ..Limits::default()
    };
    let bot = Bot::start(limits).await;
    let group = -1_001_000_000_001;
    bot.server.add_chat(ChatRef::supergroup(group, "Kefu fans"));
    for i in 0..20 {
        let (status, body) = bot.send(group, &format!("news {i}")).await;
        assert_eq!(status, 200, "send {i}: {body}");
    }
    let secs = retry_after(&bot.send(group, "one more").await);
    assert!((59..=60).contains(&secs), "retry_after {secs}");
    // Edits count too; another group and a private chat are unaffected.
    let edit = bot
        .call(
            "editMessageText",
            json!({"chat_id": group, "message_id": 1, "text": "edited"}),
        )
        .await;
    assert_eq!(edit.0, 429);
    assert_eq!(bot.send(-1_001_000_000_002, "other group").await.0, 200);
    assert_eq!(bot.send(42, "private").await.0, 200);
    // Not limited: chat actions and callback answers.
    for _ in 0..5 {
        let action = bot
            .call(
                "sendChatAction",
                json!({"chat_id": group, "action": "typing"}),
            )
            .await;
        assert_eq!(action.0, 200);
    }
}

#[tokio::test]
async fn flood_mode_answers_429_to_sends_until_it_ends() {
    let bot = Bot::start(Limits::default()).await;
    bot.server.flood(Duration::from_millis(400), 7);
    assert_eq!(retry_after(&bot.send(42, "during the storm").await), 7);
    let photo = bot
        .call(
            "sendPhoto",
            json!({"chat_id": 42, "photo": "https://example.com/a.jpg"}),
        )
        .await;
    assert_eq!(retry_after(&photo), 7);
    assert_eq!(bot.call("getMe", json!({})).await.0, 200);
    assert_eq!(
        bot.call("sendChatAction", json!({"chat_id": 42, "action": "typing"}))
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    // The storm took no capacity: the whole burst of 3 is there.
    for _ in 0..3 {
        assert_eq!(bot.send(42, "after the storm").await.0, 200);
    }
    assert_eq!(bot.server.too_many_requests(), 2);
}

#[tokio::test]
async fn a_chat_whose_user_blocked_the_bot_is_answered_403_before_the_rate_limits() {
    // One send per private chat, refilled only after 1,000 s.
    let limits = Limits {
        chat_per_sec: 0.001,
        chat_burst: 1,
        ..Limits::unlimited()
    };
    let bot = Bot::start(limits).await;
    assert_eq!(bot.send(42, "before the block").await.0, 200);
    bot.server.block(42);
    // Chat 42's bucket is empty, yet the answer is the 403.
    let blocked = "Forbidden: bot was blocked by the user";
    assert_error(&bot.send(42, "after the block").await, 403, blocked);
    let photo = bot
        .call(
            "sendPhoto",
            json!({"chat_id": "42", "photo": "https://example.com/a.jpg"}),
        )
        .await;
    assert_error(&photo, 403, blocked);
    let action = bot
        .call("sendChatAction", json!({"chat_id": 42, "action": "typing"}))
        .await;
    assert_error(&action, 403, blocked);
    // Bad parameters are still a 400; another chat is still served and rate limited.
    assert_error(
        &bot.send(42, "").await,
        400,
        "Bad Request: message text is empty",
    );
    assert_eq!(bot.send(43, "to an open chat").await.0, 200);
    assert_eq!(retry_after(&bot.send(43, "one too many").await), 1000);

    assert_eq!(bot.server.blocked_answers(42), 3);
    assert_eq!(bot.server.blocked_answers(43), 0);
    let sent: Vec<(i64, Option<String>)> = bot
        .server
        .sent()
        .into_iter()
        .map(|m| (m.chat_id, m.text))
        .collect();
    assert_eq!(
        sent,
        vec![
            (42, Some("before the block".to_owned())),
            (43, Some("to an open chat".to_owned()))
        ]
    );
    let refused: Vec<(Option<i64>, Option<String>)> = bot
        .server
        .requests()
        .into_iter()
        .filter(|r| r.status == 403)
        .map(|r| (r.chat_id(), r.description))
        .collect();
    assert_eq!(refused, vec![(Some(42), Some(blocked.to_owned())); 3]);
}

#[tokio::test]
async fn wait_for_sent_returns_once_enough_messages_went_out() {
    let bot = Bot::start(Limits::unlimited()).await;
    let sender = async {
        for i in 0..3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            bot.send(42, &format!("m{i}")).await;
        }
    };
    let (sent, ()) = tokio::join!(bot.server.wait_for_sent(3, Duration::from_secs(5)), sender);
    assert_eq!(sent.len(), 3);
    let started = Instant::now();
    assert_eq!(
        bot.server
            .wait_for_sent(4, Duration::from_millis(100))
            .await
            .len(),
        3
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
}

/// A `multipart/form-data` body as teloxide builds one for `sendPhoto`.
fn multipart_body(boundary: &str, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .bytes(),
        );
    }
    let (name, file_name, bytes) = file;
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .bytes(),
    );
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    body
}

#[tokio::test]
async fn multipart_send_photo_records_the_upload_and_the_caption() {
    let bot = Bot::start(Limits::unlimited()).await;
    let boundary = "kefu-boundary-1234";
    let keyboard = r#"{"inline_keyboard":[[{"text":"Buy","callback_data":"buy:teapot"}]]}"#;
    let image = vec![0xFF_u8; 3000];
    let body = multipart_body(
        boundary,
        &[
            ("chat_id", "42"),
            ("caption", "Teapot, 29 €"),
            ("reply_markup", keyboard),
        ],
        ("photo", "teapot.jpg", &image),
    );
    let response = bot
        .http
        .post(bot.server.method_url("sendPhoto"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["result"];
    assert_eq!(message["caption"], "Teapot, 29 €");
    let sizes = message["photo"].as_array().unwrap();
    assert!(!sizes.is_empty());
    assert_eq!(sizes.last().unwrap()["file_size"], 3000);
    assert_eq!(
        message["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "buy:teapot"
    );

    let sent = bot.server.sent();
    let Some(PhotoSource::Upload(file)) = &sent[0].photo else {
        panic!("not an upload: {:?}", sent[0].photo)
    };
    assert_eq!(file.file_name.as_deref(), Some("teapot.jpg"));
    assert_eq!(file.size, 3000);
    assert_eq!(sent[0].caption.as_deref(), Some("Teapot, 29 €"));
    assert_eq!(bot.server.requests()[0].files.len(), 1);

    // The returned file_id can be sent again; an unknown one cannot.
    let file_id = sizes.last().unwrap()["file_id"].clone();
    let again = bot
        .call("sendPhoto", json!({"chat_id": 43, "photo": file_id}))
        .await;
    assert_eq!(again.0, 200, "{}", again.1);
    assert_eq!(again.1["result"]["photo"], message["photo"]);
    assert_error(
        &bot.call("sendPhoto", json!({"chat_id": 43, "photo": "no-such-file"}))
            .await,
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    );
    assert_error(
        &bot.call("sendPhoto", json!({"chat_id": 43})).await,
        400,
        "Bad Request: there is no photo in the request",
    );
}

#[tokio::test]
async fn replies_commands_pins_and_get_chat_work_like_telegram() {
    let bot = Bot::start(Limits::unlimited()).await;
    bot.server
        .push_message(ChatRef::private(42), alice(), "Where is my order?");
    let reply = bot
        .call(
            "sendMessage",
            json!({"chat_id": 42, "text": "On its way", "reply_parameters": {"message_id": 1}}),
        )
        .await;
    assert_eq!(reply.0, 200, "{}", reply.1);
    assert_eq!(
        reply.1["result"]["reply_to_message"]["text"],
        "Where is my order?"
    );
    assert_eq!(bot.server.sent()[0].reply_to_message_id, Some(1));
    assert_error(
        &bot.call(
            "sendMessage",
            json!({"chat_id": 42, "text": "?", "reply_to_message_id": 99}),
        )
        .await,
        400,
        "Bad Request: message to be replied not found",
    );

    let commands = json!([{"command": "start", "description": "Start"}, {"command": "order", "description": "Track"}]);
    assert_eq!(
        bot.call("setMyCommands", json!({"commands": commands}))
            .await
            .0,
        200
    );
    assert_eq!(
        bot.call("getMyCommands", json!({})).await.1["result"],
        commands
    );
    let bad = json!([{"command": "Bad Command", "description": "x"}]);
    assert_error(
        &bot.call("setMyCommands", json!({"commands": bad})).await,
        400,
        "Bad Request: BOT_COMMAND_INVALID",
    );

    assert_eq!(
        bot.call("pinChatMessage", json!({"chat_id": 42, "message_id": 2}))
            .await
            .1["result"],
        true
    );
    let chat = bot.call("getChat", json!({"chat_id": 42})).await.1;
    assert_eq!(chat["result"]["first_name"], "Alice");
    assert_eq!(chat["result"]["pinned_message"]["text"], "On its way");
    assert!(chat["result"]["max_reaction_count"].is_u64());
    assert_error(
        &bot.call(
            "sendChatAction",
            json!({"chat_id": 42, "action": "dancing"}),
        )
        .await,
        400,
        "Bad Request: wrong parameter action in request",
    );
}

/// The answers deserialise into teloxide's types and its errors map to its variants: a
/// teloxide bot can run against the server unchanged.
#[tokio::test]
async fn a_teloxide_bot_works_against_the_server() {
    use teloxide::payloads::setters::*;
    use teloxide::requests::Requester;
    use teloxide::types::{
        ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MaybeInaccessibleMessage,
        MessageId, UpdateKind,
    };
    use teloxide::{ApiError, RequestError};

    let server = Bot::start(Limits::default()).await.server;
    let bot = teloxide::Bot::new(TOKEN).set_api_url(server.api_url().parse().unwrap());

    let me = bot.get_me().await.unwrap();
    assert_eq!(me.username(), "kefu_test_bot");
    assert!(me.is_bot);

    let keyboard =
        InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Track", "track:17")]]);
    let sent = bot
        .send_message(ChatId(42), "Your order")
        .reply_markup(keyboard.clone())
        .await
        .unwrap();
    assert_eq!(sent.id, MessageId(1));
    assert_eq!(sent.text(), Some("Your order"));
    assert_eq!(sent.reply_markup(), Some(&keyboard));
    assert!(sent.from.as_ref().unwrap().is_bot);

    let edited = bot
        .edit_message_text(ChatId(42), sent.id, "Your order #17")
        .reply_markup(keyboard.clone())
        .await
        .unwrap();
    assert_eq!(edited.text(), Some("Your order #17"));
    assert!(edited.edit_date().is_some());
    let unchanged = bot
        .edit_message_text(ChatId(42), sent.id, "Your order #17")
        .reply_markup(keyboard)
        .await;
    assert!(
        matches!(
            unchanged,
            Err(RequestError::Api(ApiError::MessageNotModified))
        ),
        "{unchanged:?}"
    );
    let empty = bot.send_message(ChatId(42), "").await;
    assert!(
        matches!(empty, Err(RequestError::Api(ApiError::MessageTextIsEmpty))),
        "{empty:?}"
    );
    let long = bot.send_message(ChatId(42), "x".repeat(4097)).await;
    assert!(
        matches!(long, Err(RequestError::Api(ApiError::MessageIsTooLong))),
        "{long:?}"
    );

    // teloxide uploads photos as multipart.
    let photo = bot
        .send_photo(
            ChatId(42),
            InputFile::memory(vec![7_u8; 1234]).file_name("teapot.jpg"),
        )
        .caption("Teapot")
        .await
        .unwrap();
    assert_eq!(photo.caption(), Some("Teapot"));
    assert!(photo.photo().is_some_and(|sizes| !sizes.is_empty()));
    let recorded = server.sent();
    let Some(PhotoSource::Upload(file)) = &recorded.last().unwrap().photo else {
        panic!("{recorded:?}")
    };
    assert_eq!(
        (file.file_name.as_deref(), file.size),
        (Some("teapot.jpg"), 1234)
    );

    // The burst of 3 is used up: teloxide sees Telegram's 429.
    let limited = bot.send_message(ChatId(42), "fourth").await;
    assert!(
        matches!(limited, Err(RequestError::RetryAfter(secs)) if secs.seconds() >= 1),
        "{limited:?}"
    );

    server.push_message(ChatRef::private(42), alice(), "/start");
    server.push_callback(ChatRef::private(42), alice(), sent.id.0.into(), "track:17");
    let updates = bot.get_updates().timeout(1).await.unwrap();
    assert_eq!(updates.len(), 2);
    let UpdateKind::Message(message) = &updates[0].kind else {
        panic!("{:?}", updates[0])
    };
    assert_eq!(message.text(), Some("/start"));
    assert_eq!(
        message.from.as_ref().unwrap().username.as_deref(),
        Some("alice")
    );
    let UpdateKind::CallbackQuery(query) = &updates[1].kind else {
        panic!("{:?}", updates[1])
    };
    assert_eq!(query.data.as_deref(), Some("track:17"));
    let Some(MaybeInaccessibleMessage::Regular(pressed)) = &query.message else {
        panic!("{query:?}")
    };
    assert_eq!(pressed.id, sent.id);
    bot.answer_callback_query(query.id.clone())
        .text("On its way")
        .await
        .unwrap();

    let chat = bot.get_chat(ChatId(42)).await.unwrap();
    assert!(chat.is_private());
    assert_eq!(chat.first_name(), Some("Alice"));
    let info = bot.get_webhook_info().await.unwrap();
    assert!(info.url.is_none());
    bot.set_webhook("https://example.com/hook".parse().unwrap())
        .secret_token("s3cret".to_owned())
        .await
        .unwrap();
    assert_eq!(
        bot.get_webhook_info().await.unwrap().url.map(String::from),
        Some("https://example.com/hook".to_owned())
    );
    let conflict = bot.get_updates().await;
    assert!(
        matches!(conflict, Err(RequestError::Api(_))),
        "{conflict:?}"
    );
}
