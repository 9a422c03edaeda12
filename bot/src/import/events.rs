//! Shop events for triggered campaigns, as JSON: carts, checkouts, restocks and stock
//! alerts. A file holds one event per line (`kefu import events FILE`); `POST
//! /api/events` takes one event or a list.
//!
//! ```json
//! {"type": "cart", "id": "c-1001", "customer": "mei@example.com", "url": "https://shop.example/cart/c-1001",
//!  "total": "48.00", "currency": "USD", "items": [{"product": "dragon-well", "quantity": 2}], "at": "2026-12-01T10:00:00Z"}
//! {"type": "checkout", "cart": "c-1001", "at": "2026-12-01T10:20:00Z"}
//! {"type": "restock", "product": "dragon-well", "at": "2026-12-03T08:00:00Z"}
//! {"type": "stock_alert", "customer": "mei@example.com", "product": "dragon-well", "at": "2026-12-02T09:00:00Z"}
//! ```

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{ImportError, Progress, Summary};
use crate::shop::{Currency, Email, parse_money};
use crate::store::{CartItem, Counts, ShopEvent, Store};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Raw {
    Cart {
        id: String,
        #[serde(default)]
        customer: Option<String>,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        total: Option<String>,
        #[serde(default)]
        currency: Option<String>,
        #[serde(default)]
        items: Vec<CartItem>,
        at: DateTime<Utc>,
    },
    Checkout {
        cart: String,
        at: DateTime<Utc>,
    },
    Restock {
        product: String,
        at: DateTime<Utc>,
    },
    StockAlert {
        customer: String,
        product: String,
        at: DateTime<Utc>,
    },
}

impl Raw {
    fn kind(&self) -> &'static str {
        match self {
            Raw::Cart { .. } => "carts",
            Raw::Checkout { .. } => "checkouts",
            Raw::Restock { .. } => "restocks",
            Raw::StockAlert { .. } => "stock alerts",
        }
    }
}

/// Reads events, resolving customers by e-mail. An error names the event (its line, or
/// its place in a list, from 1) and why.
pub struct EventReader<'a> {
    store: &'a Store,
    customers: HashMap<String, Option<i64>>,
    pub counts: Vec<(&'static str, u64)>,
}

impl<'a> EventReader<'a> {
    pub fn new(store: &'a Store) -> Self {
        EventReader {
            store,
            customers: HashMap::new(),
            counts: Vec::new(),
        }
    }

    async fn customer(&mut self, raw: &str) -> Result<Option<i64>, String> {
        let email = Email::parse(raw).map_err(|e| format!("customer: {e}"))?;
        if let Some(id) = self.customers.get(email.as_str()) {
            return Ok(*id);
        }
        let id = self
            .store
            .customer_by_email(&email)
            .await
            .map_err(|e| e.to_string())?
            .map(|c| c.id);
        self.customers.insert(email.as_str().to_owned(), id);
        Ok(id)
    }

    /// One event, already parsed as JSON.
    pub async fn event(&mut self, value: serde_json::Value) -> Result<ShopEvent, String> {
        let raw: Raw = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let kind = raw.kind();
        let event = match raw {
            Raw::Cart {
                id,
                customer,
                url,
                total,
                currency,
                items,
                at,
            } => {
                if id.trim().is_empty() {
                    return Err("id: empty".into());
                }
                if let Some(u) = &url
                    && !(u.starts_with("https://") || u.starts_with("http://"))
                {
                    return Err(format!("url: `{u}` is not an http(s) link"));
                }
                let total_minor = match (&total, &currency) {
                    (Some(t), Some(c)) => {
                        let currency = Currency::parse(c).map_err(|e| format!("currency: {e}"))?;
                        parse_money(t, currency).map_err(|e| format!("total: {e}"))?
                    }
                    (Some(_), None) => return Err("total: needs a `currency`".into()),
                    _ => None,
                };
                // A cart of a visitor kefu does not know is kept, but nobody can be
                // reminded of it.
                let customer = match customer {
                    Some(c) => self.customer(&c).await?,
                    None => None,
                };
                ShopEvent::Cart {
                    id,
                    customer,
                    url,
                    total_minor,
                    currency: currency.map(|c| c.to_uppercase()),
                    items,
                    at,
                }
            }
            Raw::Checkout { cart, at } => ShopEvent::Checkout { cart, at },
            Raw::Restock { product, at } => {
                if product.trim().is_empty() {
                    return Err("product: empty".into());
                }
                ShopEvent::Restock { product, at }
            }
            Raw::StockAlert {
                customer,
                product,
                at,
            } => {
                let Some(customer) = self.customer(&customer).await? else {
                    return Err(format!(
                        "customer: no customer with the e-mail `{customer}` (import customers or orders first)"
                    ));
                };
                ShopEvent::StockAlert {
                    customer,
                    product,
                    at,
                }
            }
        };
        match self.counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((kind, 1)),
        }
        Ok(event)
    }
}

/// Imports a JSON Lines file of events in one transaction.
pub async fn import_events(
    store: &Store,
    file: &Path,
    progress: &dyn Progress,
) -> Result<Summary, ImportError> {
    let text = std::fs::read_to_string(file).map_err(|source| ImportError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    progress.start(text.len() as u64);
    let mut reader = EventReader::new(store);
    let mut events = Vec::new();
    let mut read = 0u64;
    for (n, line) in text.lines().enumerate() {
        read += line.len() as u64 + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let line_no = n as u64 + 1;
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| ImportError::row(file, line_no, "json", e.to_string()))?;
        let event = reader
            .event(value)
            .await
            .map_err(|e| ImportError::row(file, line_no, "event", e))?;
        events.push(event);
        progress.advance(read);
    }
    store
        .record_events(&events)
        .await
        .map_err(ImportError::store(file))?;
    let mut summary = Summary {
        rows: events.len() as u64,
        sections: Vec::new(),
    };
    for (kind, n) in reader.counts {
        summary = summary.with(
            kind,
            Counts {
                created: n,
                ..Counts::default()
            },
        );
    }
    Ok(summary)
}
