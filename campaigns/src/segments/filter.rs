//! Whether a customer matches a filter. Matching is pure and synchronous: what needs the
//! database beyond [`CustomerFacts`] (who bought which products) is loaded beforehand
//! into the [`MatchContext`], once per distinct list, by [`MatchContext::load`].

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use kefu_bot::store::Store;

use super::named::{Segments, references};
use super::rfm::is_group;
use super::{CustomerFacts, Error, Filter};

/// Segment references nest at most this deep; deeper means a cycle slipped past the
/// checks (filters built in code), and the reference does not match.
const MAX_DEPTH: usize = 32;

/// What matching needs besides the customer: the named segments, the customers who
/// bought each product list a filter names, and the currency's minor units per major
/// unit (money ranges in filters are in major units).
#[derive(Debug, Clone)]
pub struct MatchContext<'a> {
    pub segments: &'a Segments,
    bought: HashMap<BoughtKey, HashSet<i64>>,
    pub minor_per_major: f64,
    /// The time the facts were computed for (`last_order_days` counts up to it).
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BoughtKey {
    Products(Vec<String>),
    Categories(Vec<String>),
}

fn key_of(list: &[String], category: bool) -> BoughtKey {
    let mut v = list.to_vec();
    v.sort();
    v.dedup();
    if category {
        BoughtKey::Categories(v)
    } else {
        BoughtKey::Products(v)
    }
}

impl<'a> MatchContext<'a> {
    /// A context without purchase data: `bought` / `bought_category` conditions fail.
    pub fn new(segments: &'a Segments, now: DateTime<Utc>) -> Self {
        Self {
            segments,
            bought: HashMap::new(),
            minor_per_major: 100.0,
            now,
        }
    }

    /// A context with the purchases that `filters` (and the segments they refer to)
    /// ask about: one query per distinct product or category list.
    pub async fn load(
        store: &Store,
        segments: &'a Segments,
        filters: &[&Filter],
        now: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let mut ctx = Self::new(segments, now);
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&Filter> = filters.to_vec();
        while let Some(f) = stack.pop() {
            for (list, category) in [(&f.bought, false), (&f.bought_category, true)] {
                if list.is_empty() {
                    continue;
                }
                let key = key_of(list, category);
                if ctx.bought.contains_key(&key) {
                    continue;
                }
                let ids = if category {
                    store.customers_who_bought(&[], list).await?
                } else {
                    store.customers_who_bought(list, &[]).await?
                };
                ctx.bought.insert(key, ids.into_iter().collect());
            }
            stack.extend(f.any.iter());
            stack.extend(f.not.iter());
            for r in references(f) {
                if seen.insert(r)
                    && let Some(def) = segments.get(r)
                {
                    stack.push(&def.filter);
                }
            }
        }
        Ok(ctx)
    }

    fn bought(&self, customer: i64, list: &[String], category: bool) -> bool {
        self.bought
            .get(&key_of(list, category))
            .is_some_and(|s| s.contains(&customer))
    }
}

/// Whether `facts` satisfies every condition of `filter`.
pub fn matches(filter: &Filter, facts: &CustomerFacts, ctx: &MatchContext<'_>) -> bool {
    matches_at(filter, facts, ctx, 0)
}

/// Whether the customer is in segment `name` (an RFM group or a named segment).
pub fn in_segment(name: &str, facts: &CustomerFacts, ctx: &MatchContext<'_>) -> bool {
    in_segment_at(name, facts, ctx, 0)
}

fn in_segment_at(name: &str, facts: &CustomerFacts, ctx: &MatchContext<'_>, depth: usize) -> bool {
    if is_group(name) {
        return facts.group == Some(name);
    }
    match ctx.segments.get(name) {
        Some(def) if depth < MAX_DEPTH => matches_at(&def.filter, facts, ctx, depth + 1),
        _ => false,
    }
}

fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `zh` matches `zh`, `zh-CN` and `zh-Hant`; `zh-Hant` matches `zh-Hant` and `zh-Hant-TW`.
fn language_matches(locale: &str, wanted: &str) -> bool {
    let locale = locale.replace('_', "-");
    locale.len() >= wanted.len()
        && locale.is_char_boundary(wanted.len())
        && eq_ci(&locale[..wanted.len()], wanted)
        && (locale.len() == wanted.len() || locale[wanted.len()..].starts_with('-'))
}

fn score_in(score: Option<u8>, range: Option<[u8; 2]>) -> bool {
    match range {
        None => true,
        Some([lo, hi]) => score.is_some_and(|s| s >= lo.min(hi) && s <= hi.max(lo)),
    }
}

fn matches_at(filter: &Filter, c: &CustomerFacts, ctx: &MatchContext<'_>, depth: usize) -> bool {
    let f = filter;
    if let Some(name) = &f.segment
        && !in_segment_at(name, c, ctx, depth)
    {
        return false;
    }
    if !f.rfm.is_empty() && !c.group.is_some_and(|g| f.rfm.iter().any(|w| w == g)) {
        return false;
    }
    if !score_in(c.rfm.map(|r| r.r), f.recency)
        || !score_in(c.rfm.map(|r| r.f), f.frequency)
        || !score_in(c.rfm.map(|r| r.m), f.monetary)
    {
        return false;
    }
    if !f.country.is_empty()
        && !c
            .country
            .as_deref()
            .is_some_and(|x| f.country.iter().any(|w| eq_ci(w, x)))
    {
        return false;
    }
    if !f.language.is_empty()
        && !c
            .locale
            .as_deref()
            .is_some_and(|x| f.language.iter().any(|w| language_matches(x, w)))
    {
        return false;
    }
    if !f.time_zone.is_empty()
        && !c
            .time_zone
            .as_deref()
            .is_some_and(|x| f.time_zone.iter().any(|w| w == x))
    {
        return false;
    }
    let has_tag = |t: &String| c.tags.iter().any(|x| eq_ci(x, t));
    if (!f.tags_any.is_empty() && !f.tags_any.iter().any(has_tag))
        || !f.tags_all.iter().all(has_tag)
        || f.tags_none.iter().any(has_tag)
    {
        return false;
    }
    if (!f.bought.is_empty() && !ctx.bought(c.id, &f.bought, false))
        || (!f.bought_category.is_empty() && !ctx.bought(c.id, &f.bought_category, true))
    {
        return false;
    }
    if f.orders.is_some_and(|r| !r.contains(f64::from(c.orders))) {
        return false;
    }
    if let Some(r) = f.last_order_days {
        match c.last_order_at {
            Some(last) if r.contains(((ctx.now - last).num_seconds().max(0) / 86_400) as f64) => {}
            _ => return false,
        }
    }
    let per = ctx.minor_per_major.max(1.0);
    if let Some(r) = f.average_order_value
        && (c.orders == 0 || !r.contains(c.spent_minor as f64 / f64::from(c.orders) / per))
    {
        return false;
    }
    if f.spent
        .is_some_and(|r| !r.contains(c.spent_minor as f64 / per))
    {
        return false;
    }
    if !f.consent.is_empty()
        && !f
            .consent
            .iter()
            .any(|ch| c.consents.get(ch).copied() == Some(true))
    {
        return false;
    }
    if f.open_support_conversation
        .is_some_and(|want| want != c.open_support_conversation)
    {
        return false;
    }
    if f.late_parcel.is_some_and(|want| want != c.late_parcel) {
        return false;
    }
    if f.churn_risk.is_some_and(|r| !r.contains(c.churn_risk)) {
        return false;
    }
    if !f.any.is_empty() && !f.any.iter().any(|a| matches_at(a, c, ctx, depth)) {
        return false;
    }
    !f.not.iter().any(|n| matches_at(n, c, ctx, depth))
}
