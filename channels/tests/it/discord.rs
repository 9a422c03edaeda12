//! The Discord REST client against the local Discord server: rate limits it does not
//! know in advance, errors, nonces.

use kefu_channels::discord::test_server::{Limits, TestServer};
use kefu_channels::discord::{Message, Rest, codes};

const TOKEN: &str = "discord-rest-tests";

fn text(s: &str) -> Message {
    Message {
        content: s.into(),
        ..Message::default()
    }
}

#[tokio::test]
async fn two_clients_sharing_a_channel_wait_out_each_429_and_lose_nothing() {
    let server = TestServer::start_with(TOKEN, Limits::default())
        .await
        .unwrap();
    server.add_channel("500");
    // Two processes posting into one channel: neither knows the other's use of the
    // bucket, so some posts get 429 and must be retried after `retry_after`.
    let a = Rest::new(TOKEN, &server.api_url()).unwrap();
    let b = Rest::new(TOKEN, &server.api_url()).unwrap();
    let (ra, rb) = tokio::join!(
        async {
            for i in 0..4 {
                a.post("500", &text(&format!("a{i}")), &format!("a{i}"))
                    .await
                    .unwrap();
            }
        },
        async {
            for i in 0..4 {
                b.post("500", &text(&format!("b{i}")), &format!("b{i}"))
                    .await
                    .unwrap();
            }
        }
    );
    let _ = (ra, rb);
    let posted = server.posted();
    assert_eq!(posted.len(), 8, "every post arrived once: {posted:#?}");
    assert!(
        server.too_many_requests() >= 1,
        "8 posts into a 5-per-5-s channel from two clients must meet a 429"
    );
}

#[tokio::test]
async fn a_wrong_token_and_a_too_long_message_are_refused_with_discords_codes() {
    let server = TestServer::start(TOKEN).await.unwrap();
    server.add_channel("501");
    let wrong = Rest::new("not-the-token", &server.api_url()).unwrap();
    let e = wrong.post("501", &text("hi"), "n1").await.unwrap_err();
    assert!(
        e.is_transient(),
        "a token can be fixed in the settings: {e}"
    );
    let rest = Rest::new(TOKEN, &server.api_url()).unwrap();
    let e = rest
        .post("501", &text(&"x".repeat(2001)), "n2")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_FORM_BODY));
    assert!(!e.is_transient());
    let e = rest.pin("501", "42").await.unwrap_err();
    assert_eq!(e.code(), Some(codes::UNKNOWN_MESSAGE));
    // Discord keeps a bot's nonces whatever the channel: a repeat returns the first
    // message.
    server.add_channel("502");
    let m1 = rest.post("501", &text("one"), "same").await.unwrap();
    assert_eq!(rest.post("502", &text("one"), "same").await.unwrap(), m1);
    assert_eq!(rest.post("501", &text("one"), "same").await.unwrap(), m1);
    assert_eq!(server.posted().len(), 1);
    // After a 401 the client sends nothing more.
    let before = server.requests();
    assert!(wrong.post("501", &text("again"), "n3").await.is_err());
    assert_eq!(
        server.requests(),
        before,
        "no request after the token was refused"
    );
}
