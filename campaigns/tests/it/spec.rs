//! Campaign files: every example validates, every broken file reports exactly the
//! diagnostics it announces, malformed input gets a diagnostic that says where and why,
//! and no input makes the parser panic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kefu_campaigns::spec::{
    self, ButtonTarget, Diagnostic, Known, Step, Templates, pick_language, sample_context,
};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo_handles() -> BTreeSet<String> {
    kefu_bot::demo::products(0)
        .into_iter()
        .map(|p| p.record.handle)
        .collect()
}

/// RFM groups, one named segment (`tea-lovers`) and the demo catalogue.
fn known() -> Known {
    let mut known = Known::with_segments(["tea-lovers"]);
    known.products = Some(demo_handles());
    known
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn show(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("  {d}\n")).collect()
}

#[test]
fn every_example_campaign_is_valid() {
    let files = yaml_files(&crate_dir().join("examples"));
    assert!(
        files.len() >= 5,
        "expected the example campaigns, found {files:?}"
    );
    let known = known();
    for file in files {
        let name = file.display().to_string();
        if let Err(diags) = spec::validate(&name, &read(&file), &known) {
            panic!("{name} should be valid:\n{}", show(&diags));
        }
    }
}

/// `# expect: LINE:COLUMN: message fragment` lines at the top of a broken file.
fn expectations(text: &str) -> Vec<(usize, usize, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .filter_map(|rest| {
            let mut parts = rest.splitn(3, ':');
            let line = parts.next()?.trim().parse().ok()?;
            let column = parts.next()?.trim().parse().ok()?;
            Some((line, column, parts.next()?.trim().to_owned()))
        })
        .collect()
}

#[test]
fn every_broken_campaign_reports_exactly_its_expected_diagnostics() {
    let files = yaml_files(&crate_dir().join("tests/broken"));
    assert!(
        files.len() >= 15,
        "expected the broken corpus, found {} files",
        files.len()
    );
    let known = known();
    let mut failures = String::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = read(&file);
        let expected = expectations(&text);
        if expected.is_empty() {
            failures += &format!("{name}: no `# expect:` lines\n");
        }
        let diags = match spec::validate(&name, &text, &known) {
            Ok(_) => {
                failures += &format!("{name}: validated, but expected errors\n");
                continue;
            }
            Err(d) => d,
        };
        for d in &diags {
            assert!(
                d.to_string()
                    .starts_with(&format!("{name}:{}:{}: ", d.line, d.column))
            );
        }
        let mut unmatched: Vec<&Diagnostic> = diags.iter().collect();
        for (line, column, fragment) in &expected {
            match unmatched.iter().position(|d| {
                d.line == *line && d.column == *column && d.message.contains(fragment.as_str())
            }) {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => failures += &format!("{name}: missing {line}:{column}: {fragment}\n"),
            }
        }
        for d in unmatched {
            failures += &format!("{name}: unexpected {d}\n");
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
}

#[test]
fn validation_collects_every_problem_not_only_the_first() {
    let text = read(&crate_dir().join("tests/broken/filter-values.yaml"));
    let diags = spec::validate("f.yaml", &text, &known())
        .err()
        .unwrap_or_default();
    assert_eq!(diags.len(), 3, "{}", show(&diags));
}

#[test]
fn unknown_products_are_not_checked_without_a_catalogue() {
    let text = read(&crate_dir().join("tests/broken/unknown-product-handle.yaml"));
    let known = Known::with_segments(Vec::<String>::new());
    assert!(spec::validate("f.yaml", &text, &known).is_ok());
}

/// Malformed files, each with the one diagnostic it gets: where and why.
#[test]
fn malformed_input_gets_a_diagnostic_that_says_where_and_why() {
    let known = known();
    let cases: Vec<(String, &str)> = vec![
        (
            String::new(),
            "fuzz.yaml:1:1: the file is empty; a campaign needs at least `id`, `name`, `kind`, `content` and `schedule`",
        ),
        (
            "---".into(),
            "fuzz.yaml:1:4: expected a mapping (`key: value` lines), found `~`",
        ),
        (
            "[".into(),
            "fuzz.yaml:1:1: YAML syntax error: unclosed bracket '['",
        ),
        (
            "{{{".into(),
            "fuzz.yaml:1:3: YAML syntax error: unclosed bracket '{'",
        ),
        ("id: [".into(), "fuzz.yaml:1:5: expected text"),
        (
            "- a\n- b".into(),
            "fuzz.yaml:1:1: expected a mapping (`key: value` lines), found a list",
        ),
        (
            "&a [*a]".into(),
            "fuzz.yaml:1:4: expected a mapping (`key: value` lines), found a list",
        ),
        (
            "id: x\nname: y\nkind: content\ncontent: *nope".into(),
            "fuzz.yaml:4:10: YAML error: alias references unknown anchor",
        ),
        (
            "\t\u{feff}id: 1".into(),
            "fuzz.yaml:1:2: YAML syntax error: a BOM must not appear inside a document",
        ),
        (
            "[".repeat(10_000),
            "fuzz.yaml:1:256: YAML syntax error: recursion limit exceeded",
        ),
        (
            "a:\n".repeat(2000),
            "fuzz.yaml:1:1: unknown key `a` at the top level; expected one of `id`, `name`, `kind`, \
             `description`, `audience`, `channels`, `content`, `schedule`, `send_window`, \
             `quiet_hours`, `frequency_cap`, `exclude`, `variants`, `livestream`, `community`",
        ),
    ];
    for (input, expected) in &cases {
        let shown: String = input.chars().take(40).collect();
        match spec::validate("fuzz.yaml", input, &known) {
            Ok(_) => panic!("{shown:?} validated"),
            Err(diags) => assert_eq!(
                diags.iter().map(ToString::to_string).collect::<Vec<_>>(),
                [expected.to_string()],
                "{shown:?}"
            ),
        }
    }
}

/// Every prefix of every example (sampled) and two mangled copies: no panic, and what
/// does not validate gets diagnostics at a place inside the file, each with a reason.
#[test]
fn no_input_makes_the_validator_panic() {
    let known = known();
    let mut inputs: Vec<String> = vec![];
    for file in yaml_files(&crate_dir().join("examples")) {
        let text = read(&file);
        // Every prefix cut at a character boundary, sampled.
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(5).collect();
        inputs.extend(cuts.into_iter().map(|i| text[..i].to_owned()));
        inputs.push(text.replace("{{", "{{#each "));
        inputs.push(text.replace(": ", ":\n"));
    }
    let mut refused = 0;
    for input in &inputs {
        let Err(diags) = spec::validate("fuzz.yaml", input, &known) else {
            continue;
        };
        refused += 1;
        assert!(!diags.is_empty(), "refused without a reason: {input:?}");
        let lines: Vec<&str> = input.lines().collect();
        for d in &diags {
            let inside = d.line >= 1
                && d.column >= 1
                && match lines.get(d.line - 1) {
                    Some(line) => d.column <= line.chars().count() + 1,
                    None => d.line <= lines.len() + 1,
                };
            assert!(inside, "{d} is not in the file:\n{input}");
            assert!(!d.message.trim().is_empty(), "{d}: no reason");
            assert_eq!(
                d.to_string(),
                format!("fuzz.yaml:{}:{}: {}", d.line, d.column, d.message)
            );
        }
    }
    // Cut short, most files lack a required key or end inside a value.
    assert!(refused * 2 > inputs.len(), "{refused} of {}", inputs.len());
}

#[test]
fn templates_render_each_step_variant_and_language() {
    let text = read(&crate_dir().join("examples/livestream-tea-tasting.yaml"));
    let campaign =
        spec::validate("l.yaml", &text, &known()).unwrap_or_else(|d| panic!("{}", show(&d)));
    let templates = Templates::new(&campaign).unwrap_or_else(|f| panic!("{f:?}"));
    let handles = &campaign.content.languages["en"].products;
    let ctx = sample_context(campaign.livestream.as_ref(), handles);

    let main = templates
        .render(Step::Main, None, "zh-Hant-TW", &ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(main.language, "zh-Hans");
    assert!(main.text.contains("Mei"), "{}", main.text);
    assert_eq!(
        main.buttons[0].1,
        ButtonTarget::Action(spec::ButtonAction::Rsvp)
    );

    let reminder = templates
        .render(Step::Reminder, None, "fr", &ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reminder.language, "en");
    assert!(
        reminder.text.contains("(Asia/Singapore)"),
        "{}",
        reminder.text
    );
    assert_eq!(
        reminder.buttons[0].1,
        ButtonTarget::Url("https://live.lotusandpine.example/oolong-tasting".into())
    );

    // Strict: a context without the customer is an error, not an empty greeting.
    let err = templates.render(Step::Main, None, "en", &serde_json::json!({}));
    assert!(err.is_err());
}

#[test]
fn variants_with_their_own_content_render_it_and_others_fall_back() {
    let text = read(&crate_dir().join("examples/spring-tea-push.yaml"));
    let campaign =
        spec::validate("s.yaml", &text, &known()).unwrap_or_else(|d| panic!("{}", show(&d)));
    let templates = Templates::new(&campaign).unwrap_or_else(|f| panic!("{f:?}"));
    let ctx = sample_context(None, &campaign.content.languages["en"].products);
    let a = templates
        .render(Step::Main, Some("a"), "en", &ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    let b = templates
        .render(Step::Main, Some("short-subject"), "en", &ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a.subject, b.subject);
    // HTML escaping is off: the shop name keeps its ampersand.
    assert!(a.text.contains("Lotus & Pine"), "{}", a.text);
    // short-subject has no German message: its fallback (en) is used.
    let de = templates
        .render(Step::Main, Some("short-subject"), "de-AT", &ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(de.language, "en");
    assert_eq!(
        templates.languages(Step::Main, None),
        vec!["de", "en", "es", "zh-Hans"]
    );
}

#[test]
fn language_resolution_prefers_exact_then_primary_then_sibling_then_fallback() {
    let available = ["en", "pt", "zh-Hans"];
    assert_eq!(pick_language(available, "pt-BR", "en"), "pt");
    assert_eq!(pick_language(available, "zh", "en"), "zh-Hans");
    assert_eq!(pick_language(available, "ja", "en"), "en");
}

#[test]
fn the_json_schema_is_an_object_schema_for_campaigns() {
    let schema = spec::json_schema();
    assert_eq!(schema["type"], "object");
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    for key in ["id", "name", "kind", "content", "schedule"] {
        assert!(
            required.iter().any(|r| r == key),
            "{key} should be required"
        );
    }
}
