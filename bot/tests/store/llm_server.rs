//! A local OpenAI-compatible chat-completions server with scripted replies, over real
//! HTTP: tool calls, plain answers, server errors and stalls, and the requests it got.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Step {
    /// An assistant answer.
    Say(&'static str),
    /// A tool call with raw (possibly malformed) arguments.
    Call(&'static str, &'static str),
    /// An HTTP error with an OpenAI-style error body.
    Fail(u16),
    /// Answer only after this long.
    Stall(Duration),
    /// An answer as server-sent events, a word per chunk, usage last.
    Stream(&'static str),
    /// A tool call as server-sent events, its arguments in two chunks.
    StreamCall(&'static str, &'static str),
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Step>,
    requests: Vec<Value>,
}

#[derive(Clone)]
pub struct LlmServer {
    inner: Arc<Mutex<Inner>>,
    pub base_url: String,
}

impl LlmServer {
    pub async fn start(script: Vec<Step>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            requests: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self {
            inner,
            base_url: format!("http://{addr}/v1"),
        }
    }

    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.clone()
    }

    pub fn left(&self) -> usize {
        self.inner.lock().unwrap().script.len()
    }
}

fn completion(message: Value, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    })
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let v = json!({
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1_764_000_000, "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
    });
    format!("data: {v}\n\n")
}

fn sse(events: Vec<String>) -> Response {
    let mut body: String = events.concat();
    let usage = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1_764_000_000, "model": "scripted",
        "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}});
    body.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        body,
    )
        .into_response()
}

async fn complete(State(inner): State<Arc<Mutex<Inner>>>, Json(body): Json<Value>) -> Response {
    let step = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(body);
        inner.script.pop_front()
    };
    match step {
        None => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": {"message": "script exhausted", "type": "server_error"}}))).into_response(),
        Some(Step::Say(text)) => Json(completion(json!({"role": "assistant", "content": text}), "stop")).into_response(),
        Some(Step::Call(name, args)) => Json(completion(
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("call_{name}"), "type": "function", "function": {"name": name, "arguments": args}}]}),
            "tool_calls",
        ))
        .into_response(),
        Some(Step::Fail(code)) => (
            StatusCode::from_u16(code).unwrap(),
            Json(json!({"error": {"message": "upstream model crashed", "type": "server_error", "param": null, "code": null}})),
        )
            .into_response(),
        Some(Step::Stream(text)) => {
            let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
            for word in text.split_inclusive(' ') {
                events.push(chunk(json!({"content": word}), None));
            }
            events.push(chunk(json!({}), Some("stop")));
            sse(events)
        }
        Some(Step::StreamCall(name, args)) => {
            let (a, b) = args.split_at(args.len() / 2);
            sse(vec![
                chunk(json!({"role": "assistant", "tool_calls": [{"index": 0, "id": format!("call_{name}"), "type": "function", "function": {"name": name, "arguments": a}}]}), None),
                chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": b}}]}), None),
                chunk(json!({}), Some("tool_calls")),
            ])
        }
        Some(Step::Stall(d)) => {
            tokio::time::sleep(d).await;
            Json(completion(json!({"role": "assistant", "content": "too late"}), "stop")).into_response()
        }
    }
}
