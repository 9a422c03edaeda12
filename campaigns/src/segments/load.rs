//! Segments over the database: scores for every customer, the facts campaigns plan
//! with, audiences, the stored score snapshot, and one customer's explanation.
//!
//! Audiences are computed afresh each time (always current, and fast: a million
//! customers take a few seconds); `recompute` writes a snapshot to `customer_scores`
//! for reports and SQL users, which nothing in kefu reads back for decisions.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use kefu_bot::shop::Channel;
use kefu_bot::store::{CustomerScoreRow, SegmentCustomer, Store, SupportSummary};

use super::churn::{self, Factor, LATE_DELIVERY_DAYS, SUPPORT_DAYS};
use super::filter::{MatchContext, in_segment, matches};
use super::named::Segments;
use super::rfm::{self, RfmValues};
use super::scores::{self, CustomerScore, ScoreSet};
use super::{CustomerFacts, Error, Filter, Rfm};

/// Scores every customer who ordered, as of `now`, over a window of `window_days`.
pub async fn compute_scores(
    store: &Store,
    now: DateTime<Utc>,
    window_days: u32,
) -> Result<ScoreSet, Error> {
    Ok(score_with_support(store, now, window_days).await?.0)
}

/// Scores, and the support summaries (by customer id) they were computed from.
async fn score_with_support(
    store: &Store,
    now: DateTime<Utc>,
    window_days: u32,
) -> Result<(ScoreSet, Vec<SupportSummary>), Error> {
    let start = scores::window_start(now, window_days);
    // Three independent reads, each on its own pooled connection.
    let (histories, support, parcels) = tokio::try_join!(
        store.order_histories(now, start),
        store.support_summaries(now - Duration::days(SUPPORT_DAYS)),
        store.parcel_summaries(now, now - Duration::days(LATE_DELIVERY_DAYS)),
    )?;
    let set = scores::compute(histories, support.clone(), parcels, now, window_days);
    Ok((set, support))
}

/// The primary language subtag of a locale (`zh-CN` → `zh`), or the language and script
/// when the script matters (`zh-Hant-TW` → `zh-Hant`).
fn language_of(locale: &str) -> String {
    let mut parts = locale.split(['-', '_']);
    let lang = parts.next().unwrap_or_default().to_ascii_lowercase();
    match parts.next() {
        Some(script) if script.len() == 4 && script.chars().all(|c| c.is_ascii_alphabetic()) => {
            let mut s = script.to_ascii_lowercase();
            s[..1].make_ascii_uppercase();
            format!("{lang}-{s}")
        }
        _ => lang,
    }
}

/// The facts of every customer as of `now` (RFM over `window_days`), by id.
pub async fn load_facts(
    store: &Store,
    now: DateTime<Utc>,
    window_days: u32,
) -> Result<Vec<CustomerFacts>, Error> {
    // Independent reads, each on its own pooled connection.
    let ((scores, open), customers, mut identities, mut consents) = tokio::try_join!(
        score_with_support(store, now, window_days),
        async { Ok::<_, Error>(store.segment_customers().await?) },
        async { Ok::<_, Error>(store.all_identities().await?) },
        async { Ok::<_, Error>(store.all_consents().await?) },
    )?;
    identities.sort_by_key(|(c, _, _)| *c);
    consents.sort_by_key(|(c, _, _)| *c);
    let (mut ii, mut ci, mut oi, mut si) = (0usize, 0usize, 0usize, 0usize);
    let mut out = Vec::with_capacity(customers.len());
    for c in customers {
        let id = c.id;
        let mut ids = Vec::new();
        while identities.get(ii).is_some_and(|x| x.0 < id) {
            ii += 1;
        }
        while let Some((_, ch, ext)) = identities.get(ii).filter(|x| x.0 == id) {
            ids.push((*ch, ext.clone()));
            ii += 1;
        }
        if !ids.iter().any(|(ch, _)| *ch == Channel::Email)
            && let Some(e) = &c.email
        {
            ids.push((Channel::Email, e.clone()));
        }
        let mut cons = BTreeMap::new();
        while consents.get(ci).is_some_and(|x| x.0 < id) {
            ci += 1;
        }
        while let Some((_, ch, granted)) = consents.get(ci).filter(|x| x.0 == id) {
            cons.insert(*ch, *granted);
            ci += 1;
        }
        while open.get(oi).is_some_and(|x| x.customer_id < id) {
            oi += 1;
        }
        let support = open.get(oi).filter(|x| x.customer_id == id);
        while scores.scores.get(si).is_some_and(|x| x.customer_id < id) {
            si += 1;
        }
        let score = scores.scores.get(si).filter(|x| x.customer_id == id);
        out.push(facts_of(
            c,
            cons,
            ids,
            support.and_then(|s| s.last_channel),
            support.is_some_and(|s| s.open_conversations > 0),
            score,
        ));
    }
    Ok(out)
}

fn facts_of(
    c: SegmentCustomer,
    consents: BTreeMap<Channel, bool>,
    identities: Vec<(Channel, String)>,
    last_active_channel: Option<Channel>,
    open_support_conversation: bool,
    score: Option<&CustomerScore>,
) -> CustomerFacts {
    CustomerFacts {
        id: c.id,
        name: c.name,
        email: c.email,
        locale: c.locale.as_deref().map(language_of),
        time_zone: c.time_zone,
        country: c.country,
        tags: c.tags,
        consents,
        identities,
        preferred_channel: c
            .preferred_channel
            .and_then(|p| p.trim().to_ascii_lowercase().parse().ok()),
        last_active_channel,
        orders: score.map_or(0, |s| s.orders),
        spent_minor: score.map_or(0, |s| s.spent_minor),
        first_order_at: score.map(|s| s.first_order_at),
        last_order_at: score.map(|s| s.last_order_at),
        open_support_conversation,
        late_parcel: score.is_some_and(|s| s.churn.late_undelivered > 0),
        rfm: score.and_then(|s| s.rfm),
        group: score.and_then(|s| s.group),
        churn_risk: score.map_or(0.0, |s| s.churn_risk),
    }
}

/// The customers in `segment` (an RFM group or a named segment; `None`: everyone) who
/// also match `filter`, as of `now`, by id. Unknown segment names, here or inside the
/// filter, are an error.
pub async fn audience(
    store: &Store,
    segments: &Segments,
    segment: Option<&str>,
    filter: Option<&Filter>,
    now: DateTime<Utc>,
) -> Result<Vec<CustomerFacts>, Error> {
    if let Some(name) = segment
        && !segments.is_known(name)
    {
        return Err(segments.unknown(name));
    }
    if let Some(f) = filter {
        segments.check_filter(f)?;
    }
    let by_name = segment.map(|name| Filter {
        segment: Some(name.to_owned()),
        ..Filter::default()
    });
    let filters: Vec<&Filter> = by_name.iter().chain(filter).collect();
    let ctx = MatchContext::load(store, segments, &filters, now).await?;
    let facts = load_facts(store, now, segments.rfm_window_days()).await?;
    Ok(facts
        .into_iter()
        .filter(|c| filters.iter().all(|f| matches(f, c, &ctx)))
        .collect())
}

/// Member counts of every RFM group and named segment, in [`Segments::all_names`] order,
/// from facts already loaded.
pub async fn counts(
    store: &Store,
    segments: &Segments,
    facts: &[CustomerFacts],
    now: DateTime<Utc>,
) -> Result<Vec<(String, usize)>, Error> {
    let filters: Vec<&Filter> = segments.defs().iter().map(|d| &d.filter).collect();
    let ctx = MatchContext::load(store, segments, &filters, now).await?;
    Ok(segments
        .all_names()
        .into_iter()
        .map(|name| {
            let n = facts.iter().filter(|c| in_segment(name, c, &ctx)).count();
            (name.to_owned(), n)
        })
        .collect())
}

/// What `recompute` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recomputed {
    /// Customers with a score row (everyone who ever ordered).
    pub scored: usize,
    /// Of them, those with RFM scores (an order in the window).
    pub in_window: usize,
}

/// Recomputes every score and replaces the `customer_scores` snapshot in one transaction.
pub async fn recompute(
    store: &Store,
    now: DateTime<Utc>,
    window_days: u32,
) -> Result<Recomputed, Error> {
    let set = compute_scores(store, now, window_days).await?;
    let rows: Vec<CustomerScoreRow> = set
        .scores
        .iter()
        .map(|s| CustomerScoreRow {
            customer_id: s.customer_id,
            r: s.rfm.map(|r| i64::from(r.r)),
            f: s.rfm.map(|r| i64::from(r.f)),
            m: s.rfm.map(|r| i64::from(r.m)),
            group: s.group.map(str::to_owned),
            recency_days: s.values.map(|v| v.recency_days),
            orders: i64::from(s.orders),
            monetary_minor: s.values.map_or(0, |v| v.monetary_minor),
            churn_risk: s.churn_risk,
        })
        .collect();
    store.replace_customer_scores(&rows, now).await?;
    Ok(Recomputed {
        scored: rows.len(),
        in_window: set.scores.iter().filter(|s| s.rfm.is_some()).count(),
    })
}

/// Why a customer is where they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub facts: CustomerFacts,
    pub window_days: u32,
    pub values: Option<RfmValues>,
    /// The grid cell: (r, ⌊(f+m)/2⌋).
    pub cell: Option<(u8, u8)>,
    pub churn_risk: f64,
    pub factors: Vec<Factor>,
    /// Named segments the customer is in.
    pub segments: Vec<String>,
}

/// Explains one customer (by email, case-insensitive); `None` when there is no such customer.
pub async fn explain(
    store: &Store,
    segments: &Segments,
    email: &str,
    now: DateTime<Utc>,
) -> Result<Option<Explanation>, Error> {
    let Some(customer) = store.segment_customer_by_email(email).await? else {
        return Ok(None);
    };
    let id = customer.id;
    // RFM scores are relative to everyone else: score the whole shop, keep one.
    let facts = load_facts(store, now, segments.rfm_window_days()).await?;
    let Some(facts) = facts.into_iter().find(|f| f.id == id) else {
        return Ok(None);
    };
    let set = compute_scores(store, now, segments.rfm_window_days()).await?;
    let score = set.get(id);
    let filters: Vec<&Filter> = segments.defs().iter().map(|d| &d.filter).collect();
    let ctx = MatchContext::load(store, segments, &filters, now).await?;
    let named = segments
        .names()
        .into_iter()
        .filter(|n| in_segment(n, &facts, &ctx))
        .map(str::to_owned)
        .collect();
    Ok(Some(Explanation {
        window_days: segments.rfm_window_days(),
        values: score.and_then(|s| s.values),
        cell: facts.rfm.map(|r: Rfm| (r.r, rfm::fm(r))),
        churn_risk: score.map_or(0.0, |s| s.churn_risk),
        factors: score.map(|s| churn::factors(&s.churn)).unwrap_or_default(),
        segments: named,
        facts,
    }))
}
