//! `kefu serve`: a real server on a free port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &std::path::Path, extra: &[&str]) -> Server {
    spawn_with(dir, extra, &[])
}

/// `kefu serve` on a free port in `dir`, with only the given KEFU_* settings (and, unless
/// they say otherwise, without installing the embedding model at start).
pub fn spawn_with(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEFU") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir).arg("serve");
    if !extra.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    let mut child = cmd
        .args(extra)
        .env("RUST_LOG", "warn")
        .env("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "false")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kefu serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("kefu exited before listening")
            .expect("read stdout");
        if let Some(rest) = line.strip_prefix("kefu listening on ") {
            break rest.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

#[tokio::test]
async fn serve_reports_health_and_what_is_running() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path(), &[]);
    let health = get(format!("{}/healthz", server.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&health.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "sqlite");
    let page = get(&server.base).await.unwrap().text().await.unwrap();
    assert!(page.contains("kefu") && page.contains("Running"), "{page}");
    assert!(page.contains("offline answer engine"), "{page}");
    let missing = get(format!("{}/nope", server.base)).await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn serve_demo_fills_an_empty_database_and_shows_the_shop() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path(), &["--demo"]);
    let home = get(&server.base).await.unwrap().text().await.unwrap();
    assert!(home.contains("Lotus &amp; Pine"), "{home}");
    assert!(
        home.contains(r#"<script src="/widget.js" data-site="demo" data-lang="en" async>"#),
        "{home}"
    );
    let signed = get(format!(
        "{}/?as=emily.johnson@example.com&lang=ar",
        server.base
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(signed.contains(r#"<html lang="ar" dir="rtl">"#), "{signed}");
    assert!(
        signed.contains(r#"data-user-id="emily.johnson@example.com" data-user-hash=""#),
        "{signed}"
    );
    let script = get(format!("{}/widget.js", server.base)).await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.text().await.unwrap().contains("/ws/widget"));
    let page = get(format!("{}/status", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Lotus &amp; Pine"), "{page}");
    assert!(
        page.contains("<th scope=\"row\">Orders</th><td>21000</td>"),
        "{page}"
    );
    assert!(
        page.contains("<th scope=\"row\">FAQ and policy articles</th><td>111</td>"),
        "{page}"
    );
}

/// A GET with reqwest, which needs a process-wide TLS crypto provider even for plain HTTP.
pub async fn get(url: impl reqwest::IntoUrl) -> reqwest::Result<reqwest::Response> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::get(url).await
}
