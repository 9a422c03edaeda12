//! `kefu campaign validate FILE…` and `kefu campaign schema`: check campaign files
//! against the format, the shop's segments and its catalogue, without writing anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kefu_campaigns::segments::Segments;
use kefu_campaigns::spec::{self, Known};

use crate::config::Settings;

/// Validates each file and prints every problem as `file:line:column: message` on stderr,
/// then `N files valid, M invalid`. Fails when any file is invalid.
pub async fn validate(settings: &Settings, files: &[PathBuf]) -> anyhow::Result<()> {
    if files.is_empty() {
        anyhow::bail!("name at least one campaign file: `kefu campaign validate campaigns/*.yaml`");
    }
    let segments_file = &settings.campaigns.segments_file;
    let segments = Segments::load(segments_file)
        .with_context(|| format!("reading the segments file {}", segments_file.display()))?;
    let mut known = Known::with_segments(segments.names());
    known.products = product_handles(&settings.database.url).await;
    if known.products.is_none() {
        eprintln!("note: the shop database is not available; product handles are not checked");
    }

    let (mut valid, mut invalid) = (0usize, 0usize);
    for path in files {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                invalid += 1;
                continue;
            }
        };
        match spec::validate(&name, &text, &known) {
            Ok(_) => valid += 1,
            Err(diagnostics) => {
                for d in &diagnostics {
                    eprintln!("{d}");
                }
                invalid += 1;
            }
        }
    }
    let plural = |n: usize| if n == 1 { "file" } else { "files" };
    eprintln!("{valid} {} valid, {invalid} invalid", plural(valid));
    if invalid > 0 {
        anyhow::bail!("{invalid} invalid campaign {}", plural(invalid));
    }
    Ok(())
}

/// Prints the campaign file format as JSON Schema on stdout.
pub fn schema() -> anyhow::Result<()> {
    let text =
        serde_json::to_string_pretty(&spec::json_schema()).context("rendering the schema")?;
    println!("{text}");
    Ok(())
}

/// The catalogue's product handles, when the database can be reached without creating or
/// migrating anything; `None` otherwise.
async fn product_handles(url: &str) -> Option<BTreeSet<String>> {
    if let Some(path) = sqlite_path(url)
        && !path.exists()
    {
        return None;
    }
    let store = kefu_bot::store::Store::connect(url, &Default::default())
        .await
        .ok()?;
    let products = store.products().await.ok()?;
    Some(products.into_iter().map(|p| p.handle).collect())
}

/// The file of a `sqlite:` URL (`sqlite://kefu.db?mode=rwc` → `kefu.db`).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| Path::new(path).to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://kefu.db?mode=rwc"),
            Some(PathBuf::from("kefu.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:data/kefu.db"),
            Some(PathBuf::from("data/kefu.db"))
        );
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }
}
