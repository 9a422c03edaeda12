use std::sync::atomic::Ordering;
use std::time::Duration;

use kefu_knowledge::embed::openai::{OpenAiEmbedder, OpenAiSettings};
use kefu_knowledge::{EmbedError, Embedder, Role};

use crate::embeddings_server::{self, DIM};

fn settings(base_url: &str, key: &str, model: &str) -> OpenAiSettings {
    OpenAiSettings {
        base_url: base_url.to_owned(),
        model: model.to_owned(),
        api_key: Some(key.to_owned()),
        query_prefix: "query: ".into(),
        passage_prefix: "passage: ".into(),
        timeout: Duration::from_secs(5),
        batch: 3,
    }
}

#[tokio::test]
async fn embeds_batches_in_input_order_with_unit_length() {
    let server = embeddings_server::start("sk-test").await;
    let embedder = OpenAiEmbedder::connect(settings(&server.base_url, "sk-test", "test-embed"))
        .await
        .unwrap();
    assert_eq!(embedder.dimension(), DIM);
    assert_eq!(embedder.model(), "openai:test-embed");
    let texts: Vec<String> = [
        "refund policy",
        "shipping times",
        "tea",
        "gift cards",
        "refund",
    ]
    .map(String::from)
    .to_vec();
    let vectors = embedder.embed(&texts, Role::Passage).await.unwrap();
    assert_eq!(vectors.len(), 5);
    for (text, v) in texts.iter().zip(&vectors) {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        // The server reversed its data; the vectors must still follow the inputs.
        let mut want = embeddings_server::vector(&format!("passage: {text}"));
        kefu_knowledge::embed::normalize(&mut want);
        assert_eq!(v, &want, "{text}");
    }
    // One probe request, then 5 inputs in batches of 3.
    assert_eq!(server.behaviour.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let server = embeddings_server::start("sk-test").await;
    let embedder = OpenAiEmbedder::connect(settings(&server.base_url, "sk-test", "test-embed"))
        .await
        .unwrap();
    server.behaviour.fail_first.store(2, Ordering::SeqCst);
    let v = embedder
        .embed(&["hello".into()], Role::Query)
        .await
        .unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(server.behaviour.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn persistent_server_errors_surface_after_the_last_attempt() {
    let server = embeddings_server::start("sk-test").await;
    let embedder = OpenAiEmbedder::connect(settings(&server.base_url, "sk-test", "test-embed"))
        .await
        .unwrap();
    server.behaviour.fail_first.store(100, Ordering::SeqCst);
    let err = embedder
        .embed(&["hello".into()], Role::Query)
        .await
        .unwrap_err();
    assert!(matches!(err, EmbedError::Endpoint { .. }), "{err}");
    assert!(err.to_string().contains("server had an error"), "{err}");
}

#[tokio::test]
async fn a_wrong_key_or_model_fails_at_connect_with_the_servers_reason() {
    let server = embeddings_server::start("sk-test").await;
    let err = OpenAiEmbedder::connect(settings(&server.base_url, "sk-wrong", "test-embed"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Incorrect API key"), "{err}");
    let err = OpenAiEmbedder::connect(settings(&server.base_url, "sk-test", "no-such-model"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    // Neither is retried: they cannot succeed on a second try.
    assert_eq!(server.behaviour.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_an_error_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = OpenAiEmbedder::connect(settings(&format!("http://{addr}/v1"), "k", "test-embed"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
