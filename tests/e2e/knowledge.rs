//! Knowledge search through the binary: the demo shop indexed on load, searched from the
//! command line, and — with the in-process model — its retrieval quality gated.

use crate::{kefu, text};

fn small_demo(dir: &std::path::Path, env: &[(&str, &str)]) {
    let out = kefu(
        dir,
        &[
            "demo",
            "load",
            "--customers",
            "40",
            "--orders",
            "200",
            "--today",
            "2026-11-01",
        ],
        env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("knowledge index (embedded, BM25 only)"),
        "{stdout}"
    );
}

#[test]
fn the_demo_shop_is_indexed_on_load_and_searchable_in_its_languages() {
    let dir = tempfile::tempdir().unwrap();
    small_demo(dir.path(), &[]);
    let out = kefu(
        dir.path(),
        &[
            "knowledge",
            "search",
            "退货 政策",
            "--lang",
            "zh-CN",
            "--json",
            "--articles",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &hits[0]["passage"];
    assert_eq!(first["lang"], "zh-CN", "{hits:#}");
    assert_eq!(first["group"], "returns-policy", "{hits:#}");
    assert!(first["url"].as_str().unwrap().starts_with("https://"));

    // Products are found in the customer's language, and out-of-stock ones can be left out:
    // the demo shop's Moon White Round Porcelain Teapot is sold out. Asked for by name, it
    // comes first; with --in-stock it is gone and the other hits keep their order.
    let products = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec![
            "knowledge",
            "search",
            "Moon White Round Porcelain Teapot",
            "--lang",
            "en",
            "--products",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = kefu(dir.path(), &args, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        hits.as_array().unwrap().clone()
    };
    let group = |hit: &serde_json::Value| hit["passage"]["group"].as_str().unwrap().to_owned();
    let sold_out = "product:round-teapot-moon-white";
    let all = products(&[]);
    assert_eq!(all.len(), 5, "{all:#?}");
    assert_eq!(group(&all[0]), sold_out, "{all:#?}");
    assert_eq!(
        all[0]["passage"]["title"], "Moon White Round Porcelain Teapot",
        "{all:#?}"
    );
    assert_eq!(all[0]["passage"]["in_stock"], false, "{all:#?}");
    let in_stock = products(&["--in-stock"]);
    assert_eq!(in_stock.len(), 5, "{in_stock:#?}");
    assert!(
        in_stock.iter().all(|h| group(h) != sold_out),
        "{in_stock:#?}"
    );
    assert_eq!(
        in_stock[..4].iter().map(group).collect::<Vec<_>>(),
        all[1..].iter().map(group).collect::<Vec<_>>()
    );
    for hit in all[1..].iter().chain(&in_stock) {
        assert_eq!(hit["passage"]["kind"], "product", "{hit:#}");
        assert_eq!(hit["passage"]["in_stock"], true, "{hit:#}");
    }

    // Re-indexing an unchanged shop writes nothing.
    let out = kefu(dir.path(), &["knowledge", "reindex"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(" 0 written"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn searching_before_anything_is_indexed_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = kefu(dir.path(), &["knowledge", "search", "refund"], &[]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim_end(),
        "error: the knowledge index is empty: run `kefu knowledge reindex` (or `kefu demo load`) first"
    );
}

/// The retrieval quality gate: the demo question set through the in-process model.
/// Needs the model file (`kefu model install`); `.ci/run` installs it and sets
/// `KEFU_E5_MODEL`, and `KEFU_REQUIRE_MODEL=1` turns its absence into a failure.
#[test]
fn demo_questions_are_answered_from_the_right_article_with_the_in_process_model() {
    let Some(model) = std::env::var_os("KEFU_E5_MODEL") else {
        assert!(
            std::env::var_os("KEFU_REQUIRE_MODEL").is_none(),
            "KEFU_REQUIRE_MODEL is set but KEFU_E5_MODEL is not"
        );
        eprintln!("KEFU_E5_MODEL is not set: skipping the retrieval quality gate");
        return;
    };
    let model = model.to_string_lossy().into_owned();
    let dir = tempfile::tempdir().unwrap();
    let env = [("KEFU__KNOWLEDGE__EMBEDDINGS__MODEL_PATH", model.as_str())];
    let out = kefu(
        dir.path(),
        &[
            "demo",
            "load",
            "--customers",
            "40",
            "--orders",
            "200",
            "--today",
            "2026-11-01",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("multilingual-e5-small-q4"),
        "{}",
        text(&out.stdout)
    );
    let out = kefu(
        dir.path(),
        &[
            "knowledge",
            "eval",
            "--min-recall-at-3",
            "0.90",
            "--json",
            "eval.json",
        ],
        &env,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("eval.json")).unwrap()).unwrap();
    // The goals, in every language: recall@3 at least 0.95 where the shop has an article
    // in the question's language, at least 0.85 where it does not.
    for (scope, goal) in [("same-language", 0.95), ("cross-language", 0.85)] {
        let by_language = report["by_scope_language"][scope].as_object().unwrap();
        assert!(by_language.len() >= 5, "{scope}: {by_language:?}");
        for (lang, scores) in by_language {
            let recall = scores["recall_at_3"].as_f64().unwrap();
            assert!(
                recall >= goal,
                "{scope} recall@3 in {lang} is {recall}, below {goal}\n{stdout}"
            );
        }
    }
}

#[test]
fn an_unreachable_qdrant_server_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = kefu(
        dir.path(),
        &["knowledge", "search", "refund"],
        &[("KEFU__KNOWLEDGE__QDRANT_URL", url.as_str())],
    );
    assert!(!out.status.success());
    // Where (the collection and the server's address) and why (nothing listens there).
    let stderr = text(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "error: opening the Qdrant collection kefu at {url}: qdrant: {url}: "
        )),
        "{stderr}"
    );
    assert!(first.contains("Connection refused"), "{stderr}");
}
