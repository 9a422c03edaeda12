//! The shop's order-name formats as the agent reads them: from the store's few rows of
//! name shapes, at the first message and again when a minute has passed (an import in
//! another process may have brought new formats), never once per message.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::slots::OrderFormats;
use crate::store::Store;

/// How long formats read from the store are used before they are read again.
const FRESH_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct FormatsCache {
    read: RwLock<Option<(Instant, Arc<OrderFormats>)>>,
}

impl FormatsCache {
    /// The formats, read again when stale. A failed read keeps the last ones (or none):
    /// announced order numbers are still recognised without them.
    pub async fn get(&self, store: &Store) -> Arc<OrderFormats> {
        let last = self
            .read
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some((at, formats)) = &last
            && at.elapsed() < FRESH_FOR
        {
            return formats.clone();
        }
        let formats = match store.order_formats().await {
            Ok(f) => Arc::new(f),
            Err(e) => {
                tracing::error!(error = %e, "reading the order-name formats failed");
                return last.map(|(_, f)| f).unwrap_or_default();
            }
        };
        *self
            .read
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), formats.clone()));
        formats
    }

    /// Forgets the formats read, so the next message reads them again (after an import
    /// in this process).
    pub fn invalidate(&self) {
        *self
            .read
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}
