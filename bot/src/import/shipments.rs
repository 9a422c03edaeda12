//! kefu's shipment CSV: one row per tracking event,
//! `order_name,carrier,tracking_number,promised_by,event_time,status,location,description`.

use std::collections::HashMap;
use std::path::Path;

use super::csvfile::CsvFile;
use super::{ImportError, Progress, Summary};
use crate::shop::TrackingStatus;
use crate::store::{Counts, ShipmentRecord, Store, TrackingEvent, normalise_order_name};

const BATCH: usize = 2_000;

struct Pending {
    line: u64,
    order_name: String,
    record: ShipmentRecord,
}

/// Imports tracking events; parcels are keyed on (carrier, tracking number) and must
/// belong to an order that is already imported.
pub async fn import_shipments(
    store: &Store,
    path: &Path,
    progress: &dyn Progress,
) -> Result<Summary, ImportError> {
    let mut csv = CsvFile::open(
        path,
        &[
            "order_name",
            "carrier",
            "tracking_number",
            "event_time",
            "status",
        ],
        progress,
    )?;
    let mut writer = store.writer().await.map_err(ImportError::store(path))?;
    let mut counts = Counts::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut events = 0usize;
    loop {
        let row = csv.next_row()?;
        let flush = row.is_none() || events >= BATCH;
        if flush && !pending.is_empty() {
            let names: Vec<String> = pending.iter().map(|p| p.order_name.clone()).collect();
            let ids = writer
                .order_ids(&names)
                .await
                .map_err(ImportError::store(path))?;
            for p in &mut pending {
                match ids.get(&p.order_name) {
                    Some(id) => p.record.order_id = *id,
                    None => {
                        return Err(ImportError::row(
                            path,
                            p.line,
                            "order_name",
                            format!(
                                "order {} is not in the database; import the orders first",
                                p.order_name
                            ),
                        ));
                    }
                }
            }
            let records: Vec<ShipmentRecord> = pending.drain(..).map(|p| p.record).collect();
            counts.add(
                writer
                    .write_shipments(&records)
                    .await
                    .map_err(ImportError::store(path))?,
            );
            index.clear();
            events = 0;
        }
        let Some(row) = row else { break };
        let order_name = normalise_order_name(row.required("order_name")?);
        let carrier = row.required("carrier")?.to_string();
        let tracking_number = row.required("tracking_number")?.to_string();
        let status: TrackingStatus = row
            .parse("status", |v| v.parse())?
            .ok_or_else(|| row.err("status", "is empty but required"))?;
        let at = row
            .time("event_time")?
            .ok_or_else(|| row.err("event_time", "is empty but required"))?;
        // A promise is a day: "by 2025-10-10" means by the end of that day.
        let promised_by = row.time("promised_by")?.map(|t| {
            if row.get("promised_by").len() == 10 {
                t + chrono::Duration::seconds(86_399)
            } else {
                t
            }
        });
        let event = TrackingEvent {
            at,
            status,
            location: row.opt("location"),
            description: row.opt("description"),
        };
        let key = (carrier.clone(), tracking_number.clone());
        match index.get(&key) {
            Some(&i) => {
                let p = &mut pending[i];
                if p.order_name != order_name {
                    return Err(row.err("order_name", format!(
                        "parcel {carrier} {tracking_number} belongs to order {} (line {}), not {order_name}", p.order_name, p.line
                    )));
                }
                p.record.promised_by = p.record.promised_by.or(promised_by);
                p.record.events.push(event);
            }
            None => {
                index.insert(key, pending.len());
                pending.push(Pending {
                    line: row.line,
                    order_name,
                    record: ShipmentRecord {
                        order_id: 0,
                        carrier,
                        tracking_number,
                        promised_by,
                        events: vec![event],
                    },
                });
            }
        }
        events += 1;
    }
    let rows = csv.rows();
    writer.commit().await.map_err(ImportError::store(path))?;
    Ok(Summary {
        rows,
        sections: Vec::new(),
    }
    .with("tracking events", counts))
}
