//! A local server speaking OpenAI's `POST /v1/embeddings`, as OpenAI documents it: bearer
//! authentication, `{"model", "input": [..]}` in, `{"object":"list","data":[{"index",
//! "embedding"}],"usage"}` out, JSON error bodies with 401/404/500. Vectors are bags of
//! hashed words, so texts sharing words are close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

pub const DIM: usize = 32;

#[derive(Default)]
pub struct Behaviour {
    /// Answer this many requests with 500 before answering properly.
    pub fail_first: AtomicUsize,
    /// Requests seen, for assertions.
    pub requests: AtomicUsize,
    /// Inputs embedded, for assertions.
    pub inputs: AtomicUsize,
}

pub struct Server {
    pub base_url: String,
    pub behaviour: Arc<Behaviour>,
}

pub async fn start(api_key: &'static str) -> Server {
    let behaviour = Arc::new(Behaviour::default());
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state((behaviour.clone(), api_key));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base_url: format!("http://{addr}/v1"),
        behaviour,
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": null}})),
    )
}

pub fn vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = word.bytes().fold(2166136261u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(16777619)
        });
        v[(h as usize) % DIM] += 1.0;
    }
    v
}

async fn embeddings(
    State((behaviour, key)): State<(Arc<Behaviour>, &'static str)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    behaviour.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {key}"))
    {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Incorrect API key provided",
        );
    }
    if behaviour
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server had an error",
        );
    }
    if body["model"] != "test-embed" {
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "The model does not exist",
        );
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "input must be a string or array",
            );
        }
    };
    if inputs.iter().any(String::is_empty) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "input cannot be an empty string",
        );
    }
    behaviour.inputs.fetch_add(inputs.len(), Ordering::SeqCst);
    // Data in reverse order: clients must use `index`, not position.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": vector(text)}))
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
    (
        StatusCode::OK,
        Json(
            json!({"object": "list", "model": "test-embed", "data": data,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
        ),
    )
}
