//! The command line: configuration, import, demo, migrate.

use crate::{PgDb, kefu, text};

#[test]
fn config_check_redacts_secrets_and_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kefu.toml"),
        "[telegram]\nenabled = true\nmode = \"webhook\"\nbot_token = \"123456:TELEGRAM-TOKEN-VALUE\"\n[email]\nsmtp_password = \"smtp-pass-value\"\n",
    )
    .unwrap();
    let out = kefu(
        dir.path(),
        &["config", "check"],
        &[
            ("KEFU__LLM__API_KEY", "sk-llm-key-value"),
            (
                "KEFU__DATABASE__URL",
                "postgres://kefu:db-pass-value@db.internal/kefu",
            ),
        ],
    );
    let stdout = text(&out.stdout);
    for secret in [
        "TELEGRAM-TOKEN-VALUE",
        "smtp-pass-value",
        "sk-llm-key-value",
        "db-pass-value",
    ] {
        assert!(!stdout.contains(secret), "{secret} leaked:\n{stdout}");
        assert!(!text(&out.stderr).contains(secret));
    }
    assert!(stdout.contains("bot_token = \"[redacted]\""), "{stdout}");
    assert!(
        stdout.contains("postgres://kefu:[redacted]@db.internal/kefu"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MISSING [telegram] telegram.webhook_secret"),
        "{stdout}"
    );
    assert!(
        !out.status.success(),
        "missing settings make the check fail"
    );

    let ok = kefu(
        dir.path(),
        &["config", "check"],
        &[("KEFU__TELEGRAM__ENABLED", "false")],
    );
    assert!(ok.status.success(), "{}", text(&ok.stdout));
    assert!(text(&ok.stdout).contains("configuration OK"));
}

#[test]
fn a_misspelt_setting_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kefu.toml"),
        "[database]\nurll = \"sqlite://x.db\"\n",
    )
    .unwrap();
    let out = kefu(dir.path(), &["config", "check"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("urll"), "{}", text(&out.stderr));
}

#[test]
fn generated_demo_files_import_into_an_empty_database_and_reimport_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let gen_out = kefu(
        p,
        &[
            "demo",
            "generate",
            "--customers",
            "60",
            "--orders",
            "400",
            "--today",
            "2026-11-01",
            "--out",
            "shop",
        ],
        &[],
    );
    assert!(gen_out.status.success(), "{}", text(&gen_out.stderr));
    assert!(text(&gen_out.stdout).contains("400 orders"));
    let steps: [&[&str]; 5] = [
        &[
            "import",
            "products",
            "shop/products.csv",
            "--format",
            "shopify",
        ],
        &["import", "customers", "shop/customers.csv"],
        &["import", "orders", "shop/orders.csv", "--format", "shopify"],
        &["import", "shipments", "shop/shipments.csv"],
        &["import", "faq", "shop/faq"],
    ];
    for args in steps {
        let out = kefu(p, args, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let again = kefu(p, &["import", "orders", "shop/orders.csv"], &[]);
    let summary = text(&again.stdout);
    assert!(
        summary.contains("orders: 0 created, 0 updated, 400 unchanged"),
        "{summary}"
    );
    assert!(summary.contains("customers: 0 created"), "{summary}");
    assert!(
        p.join("kefu-data/kefu.db").is_file(),
        "the default database lives in ./kefu-data"
    );
}

#[test]
fn a_bad_row_fails_the_import_and_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.csv"),
        "email,phone\nok@example.com,\nnot-an-email,\n",
    )
    .unwrap();
    let out = kefu(dir.path(), &["import", "customers", "c.csv"], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("c.csv:3: email: `not-an-email` is not an e-mail address"),
        "{err}"
    );
    assert!(err.contains("nothing from this file was imported"), "{err}");
}

#[tokio::test]
async fn postgres_migrates_and_loads_the_demo_shop_once() {
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("KEFU__DATABASE__URL", db.url.as_str())];
    let migrate = kefu(dir.path(), &["migrate"], &env);
    assert!(migrate.status.success(), "{}", text(&migrate.stderr));
    assert!(
        text(&migrate.stdout).contains("postgres database"),
        "{}",
        text(&migrate.stdout)
    );
    let load = kefu(
        dir.path(),
        &["demo", "load", "--customers", "120", "--orders", "900"],
        &env,
    );
    assert!(load.status.success(), "{}", text(&load.stderr));
    assert!(
        text(&load.stdout).contains("120 customers, 900 orders"),
        "{}",
        text(&load.stdout)
    );
    let twice = kefu(dir.path(), &["demo", "load"], &env);
    assert!(!twice.status.success());
    assert!(
        text(&twice.stderr).contains("already holds a shop"),
        "{}",
        text(&twice.stderr)
    );
    db.drop().await;
}

#[tokio::test]
async fn a_telegram_link_token_is_printed_for_a_customer() {
    let dir = tempfile::tempdir().unwrap();
    let out = super::kefu(
        dir.path(),
        &["demo", "load", "--customers", "40", "--orders", "100"],
        &[],
    );
    assert!(out.status.success(), "{}", super::text(&out.stderr));
    let out = super::kefu(
        dir.path(),
        &["telegram", "link", "emily.johnson@example.com"],
        &[],
    );
    assert!(out.status.success(), "{}", super::text(&out.stderr));
    let line = super::text(&out.stdout);
    let token = line.trim().strip_prefix("/start ").unwrap();
    assert_eq!(token.len(), 32, "{line}");
    // The printed token links that customer, once.
    use kefu_bot::store::{ConnectOptions, Store};
    let db = format!(
        "sqlite://{}",
        dir.path().join("kefu-data/kefu.db").display()
    );
    let store = Store::open(&db, &ConnectOptions::default()).await.unwrap();
    let emily = store
        .customer_by_email(&kefu_bot::shop::Email::parse("emily.johnson@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.redeem_link_token(token).await.unwrap(),
        Some(emily.id)
    );
    assert_eq!(store.redeem_link_token(token).await.unwrap(), None);
    let out = super::kefu(dir.path(), &["telegram", "link", "nobody@example.com"], &[]);
    assert!(!out.status.success());
    assert!(super::text(&out.stderr).contains("no customer"));
}
