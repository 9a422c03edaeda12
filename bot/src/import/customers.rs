//! kefu's customer CSV: `email,phone,name,locale,time_zone,country,tags,telegram_id,
//! discord_id,accepts_email,accepts_telegram,accepts_discord`.

use std::path::Path;

use chrono::Utc;

use super::csvfile::{CsvFile, Row};
use super::{ImportError, Progress, Summary};
use crate::shop::{Channel, Email, Phone, parse_time_zone, split_tags};
use crate::store::{Consent, Counts, CustomerRecord, Merge, Store};

const BATCH: usize = 1_000;

/// Imports customers, matched on e-mail then phone; the file's non-empty fields win.
/// Telegram and Discord ids become verified channel identities.
pub async fn import_customers(
    store: &Store,
    path: &Path,
    progress: &dyn Progress,
) -> Result<Summary, ImportError> {
    let mut csv = CsvFile::open(path, &["email"], progress)?;
    let mut writer = store.writer().await.map_err(ImportError::store(path))?;
    let mut counts = Counts::default();
    let mut batch = Vec::with_capacity(BATCH);
    let source = format!(
        "import {}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("customers.csv")
    );
    while let Some(row) = csv.next_row()? {
        batch.push(parse_customer(&row, &source)?);
        if batch.len() >= BATCH {
            counts.add(
                writer
                    .write_customers(&batch, Merge::Overwrite)
                    .await
                    .map_err(ImportError::store(path))?
                    .1,
            );
            batch.clear();
        }
    }
    counts.add(
        writer
            .write_customers(&batch, Merge::Overwrite)
            .await
            .map_err(ImportError::store(path))?
            .1,
    );
    let rows = csv.rows();
    writer.commit().await.map_err(ImportError::store(path))?;
    Ok(Summary {
        rows,
        sections: Vec::new(),
    }
    .with("customers", counts))
}

fn parse_customer(row: &Row<'_>, source: &str) -> Result<CustomerRecord, ImportError> {
    let email = row.parse("email", Email::parse)?;
    let phone = row.parse("phone", Phone::parse)?;
    if email.is_none() && phone.is_none() {
        return Err(row.err(
            "email",
            "a customer needs an e-mail address or a phone number",
        ));
    }
    let locale = row.parse("locale", |v| {
        kefu_knowledge::LanguageTag::parse(v).map(|t| t.to_string())
    })?;
    let country = row.parse("country", |v| {
        if v.len() == 2 && v.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(v.to_ascii_uppercase())
        } else {
            Err(format!(
                "`{v}` is not a two-letter country code (ISO 3166-1, e.g. ES)"
            ))
        }
    })?;
    let mut identities = Vec::new();
    for (column, channel) in [
        ("telegram_id", Channel::Telegram),
        ("discord_id", Channel::Discord),
    ] {
        if let Some(id) = row.parse(column, |v| {
            if v.chars().all(|c| c.is_ascii_digit()) && v.len() <= 20 {
                Ok(v.to_string())
            } else {
                Err(format!("`{v}` is not a {channel} user id (digits only)"))
            }
        })? {
            identities.push((channel, id, true));
        }
    }
    let now = Utc::now();
    let mut consents = Vec::new();
    for (column, channel) in [
        ("accepts_email", Channel::Email),
        ("accepts_telegram", Channel::Telegram),
        ("accepts_discord", Channel::Discord),
    ] {
        if let Some(granted) = row.boolean(column)? {
            consents.push(Consent {
                channel,
                granted,
                source: source.to_string(),
                at: now,
            });
        }
    }
    Ok(CustomerRecord {
        email,
        phone,
        name: row.opt("name"),
        locale,
        time_zone: row.parse("time_zone", parse_time_zone)?,
        country,
        tags: split_tags(row.get("tags")),
        identities,
        consents,
        ..CustomerRecord::default()
    })
}
