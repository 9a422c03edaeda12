//! End-to-end tests of the `kefu` binary: real processes, real databases, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod campaign;
mod chat;
mod cli;
mod eval;
mod knowledge;
mod model;
mod serve;
mod smtp;
mod widget;

use std::path::Path;
use std::process::{Command, Output};

/// `kefu ARGS` in `dir`, with no KEFU_* settings from the caller's environment and, unless
/// `env` says otherwise, without installing the embedding model at start.
pub fn kefu(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu"));
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("KEFU") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn")
        .env("KEFU__KNOWLEDGE__EMBEDDINGS__AUTO_INSTALL", "false");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run kefu")
}

/// Writes `records` into the database at `db_url` (migrating it first), in one
/// transaction.
pub async fn seed_customers(db_url: &str, records: &[kefu_bot::store::CustomerRecord]) {
    use kefu_bot::store::{ConnectOptions, Merge, Store};
    let store = Store::open(db_url, &ConnectOptions::default())
        .await
        .unwrap();
    let mut writer = store.writer().await.unwrap();
    for chunk in records.chunks(5_000) {
        writer
            .write_customers(chunk, Merge::Overwrite)
            .await
            .unwrap();
    }
    writer.commit().await.unwrap();
    store.close().await;
}

/// A customer with an e-mail address, a name, marketing consent on `channel` and, when
/// given, an identity there.
pub fn customer(
    email: &str,
    name: &str,
    channel: kefu_bot::shop::Channel,
    identity: Option<String>,
) -> kefu_bot::store::CustomerRecord {
    kefu_bot::store::CustomerRecord {
        email: Some(kefu_bot::shop::Email::parse(email).unwrap()),
        name: Some(name.into()),
        identities: identity.into_iter().map(|id| (channel, id, true)).collect(),
        consents: vec![kefu_bot::store::Consent {
            channel,
            granted: true,
            source: "test".into(),
            at: chrono::Utc::now(),
        }],
        ..Default::default()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh PostgreSQL database for one test, dropped at the end.
pub struct PgDb {
    admin: String,
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create() -> Self {
        use sqlx::Connection;
        let admin = std::env::var("KEFU_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!(
            "kefu_e2e_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL must be running for the e2e tests");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Self { admin, name, url }
    }

    pub async fn drop(self) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}
