//! Campaigns that keep sending: the next occurrence of a recurring campaign, and the
//! events of a triggered one. `kefu serve` calls [`tick`] every few minutes; each call
//! adds the rows that are due to the outbox, where the unique (campaign, step,
//! recipient) key makes a second call for the same occurrence or event add nothing.

use chrono::{DateTime, Duration, Utc};
use kefu_bot::store::{CampaignState, Store};

use crate::plan::{self, Occasion, PlanError, PlanSettings};
use crate::segments::Segments;
use crate::spec::{Campaign, Templates, TriggerEvent};

/// How far back events are still picked up after a pause (a stopped server): older
/// events are not worth a message any more.
pub const CATCH_UP: Duration = Duration::days(7);

/// The same for carts: a reminder of a cart left days ago is no help any more, so a new
/// abandoned-cart campaign does not write to every cart of the past week.
pub const CART_CATCH_UP: Duration = Duration::days(2);

/// How long before a recurring occurrence its rows are added (so `plan` and `status`
/// show them coming, and quiet-hour deferral starts from the right time).
pub const LEAD: Duration = Duration::minutes(15);

/// The events of a triggered campaign that happened up to `now`, within [`CATCH_UP`].
pub async fn events(
    store: &Store,
    campaign: &Campaign,
    segments: &Segments,
    now: DateTime<Utc>,
) -> Result<Vec<Occasion>, PlanError> {
    let Some(trigger) = &campaign.schedule.trigger else {
        return Ok(Vec::new());
    };
    let after = trigger
        .after
        .map(|a| a.duration())
        .unwrap_or_else(Duration::zero);
    match trigger.event {
        TriggerEvent::Delivered => {
            let to = now - after;
            let orders = store.delivered_orders(to - CATCH_UP, to).await?;
            Ok(orders
                .into_iter()
                .map(|(customer, order, delivered)| Occasion {
                    customer,
                    step: format!("delivered@{order}"),
                    at: delivered + after,
                })
                .collect())
        }
        TriggerEvent::ChurnRisk => {
            let threshold = trigger.threshold.unwrap_or(0.5);
            let facts = crate::segments::load_facts(store, now, segments.rfm_window_days())
                .await
                .map_err(|e| PlanError::Segments(e.to_string()))?;
            Ok(facts
                .into_iter()
                .filter(|f| f.churn_risk >= threshold)
                .map(|f| Occasion {
                    customer: f.id,
                    // Once per customer: crossing the threshold again later is the same
                    // customer at risk, not news.
                    step: "churn-risk".into(),
                    at: now + after,
                })
                .collect())
        }
        TriggerEvent::AbandonedCart => {
            // A cart counts as abandoned `after` its last change without a checkout or
            // an order; each cart is reminded of once.
            let to = now - after;
            let carts = store.abandoned_carts(to - CART_CATCH_UP, to).await?;
            Ok(carts
                .into_iter()
                .map(|(customer, cart, changed)| Occasion {
                    customer,
                    step: format!("{CART_STEP}{cart}"),
                    at: changed + after,
                })
                .collect())
        }
        TriggerEvent::BackInStock => {
            let products = restock_products(campaign);
            let to = now - after;
            let alerts = store.restock_alerts(to - CATCH_UP, to, &products).await?;
            Ok(alerts
                .into_iter()
                .map(|(customer, product, at)| Occasion {
                    customer,
                    step: format!("restock@{product}@{}", at.timestamp()),
                    at: at + after,
                })
                .collect())
        }
    }
}

/// The step key of an abandoned-cart message starts with this, then the cart id.
pub const CART_STEP: &str = "cart@";

/// The products a `back_in_stock` campaign is about: its trigger's `products`, else the
/// products its messages show, else any (empty).
fn restock_products(campaign: &Campaign) -> Vec<String> {
    if let Some(t) = &campaign.schedule.trigger
        && !t.products.is_empty()
    {
        return t.products.clone();
    }
    let mut out: Vec<String> = campaign
        .content
        .languages
        .values()
        .flat_map(|m| m.products.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What one [`tick`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tick {
    /// (campaign, rows added).
    pub added: Vec<(String, u64)>,
    /// (campaign, why nothing could be added).
    pub failed: Vec<(String, String)>,
}

/// Adds the due rows of every running recurring or triggered campaign.
pub async fn tick(
    store: &Store,
    segments: &Segments,
    settings: &PlanSettings,
    now: DateTime<Utc>,
) -> Result<Tick, PlanError> {
    let mut out = Tick::default();
    for record in store.campaigns().await? {
        if record.state != CampaignState::Running || !record.ongoing {
            continue;
        }
        let campaign = match crate::spec::parse(&record.id, &record.spec) {
            Ok(c) => c,
            Err(d) => {
                out.failed.push((
                    record.id.clone(),
                    d.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                ));
                continue;
            }
        };
        match add_due(store, &campaign, segments, settings, now).await {
            Ok(0) => {}
            Ok(n) => out.added.push((record.id.clone(), n)),
            Err(e) => out.failed.push((record.id.clone(), e.to_string())),
        }
    }
    Ok(out)
}

async fn add_due(
    store: &Store,
    campaign: &Campaign,
    segments: &Segments,
    settings: &PlanSettings,
    now: DateTime<Utc>,
) -> Result<u64, PlanError> {
    let plan = if campaign.schedule.trigger.is_some() {
        let events = events(store, campaign, segments, now).await?;
        if events.is_empty() {
            return Ok(0);
        }
        plan::plan_events(store, campaign, segments, settings, now, &events).await?
    } else {
        let start = plan::start_time(campaign, settings.time_zone, now)?;
        if start - now > LEAD {
            return Ok(0);
        }
        plan::plan(store, campaign, segments, settings, now).await?
    };
    if plan.rows.is_empty() {
        return Ok(0);
    }
    let templates = Templates::new(campaign).map_err(|f| {
        PlanError::Invalid(
            f.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    plan::append(store, campaign, &plan, &templates, settings).await
}
