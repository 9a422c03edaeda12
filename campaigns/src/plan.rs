//! Plan before send: who gets which message on which channel in which language and arm,
//! when (quiet hours, send windows, frequency caps), who is left out and why, and how
//! long the channels' limits need to deliver it. `kefu campaign plan` prints a plan;
//! `kefu campaign run` writes the same plan into the outbox.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use kefu_bot::shop::Channel;
use kefu_bot::store::{LastOrder, NewCampaign, NewOutboxRow, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::deliver::{Card, Payload, PayloadButton};
use crate::rules::{
    LocalWindow, assign_variant, cap_allows, human, next_allowed, simulate_delivery,
};
use crate::segments::{CustomerFacts, Segments};
use crate::spec::templates::{MessageTemplates, Vars};
use crate::spec::{
    ButtonTarget, Campaign, ChannelPref, Content, Every, FrequencyCap, Kind, Message,
    RenderFailure, RenderedMessage, Step, Templates, pick_language,
};

/// Shop-wide rules and what the channels can do.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub shop_name: String,
    /// The shop's own site, for product links.
    pub shop_url: String,
    pub currency: String,
    pub time_zone: Tz,
    pub default_language: String,
    pub quiet_hours: Option<LocalWindow>,
    pub frequency_cap: FrequencyCap,
    /// Enabled channels and how many marketing messages per second each may send.
    pub rates: BTreeMap<Channel, f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Segments(String),
    #[error("{0}")]
    Invalid(String),
}

/// One message the plan will write.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub step: String,
    /// Index into [`Plan::facts`]; `None` for community posts.
    pub member: Option<usize>,
    pub recipient: String,
    pub channel: Channel,
    pub address: String,
    pub variant: Option<String>,
    pub language: String,
    pub due_at: DateTime<Utc>,
    pub marketing: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepSummary {
    pub step: String,
    pub messages: usize,
    pub first_due: Option<DateTime<Utc>>,
    pub last_due: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelEstimate {
    pub channel: Channel,
    pub messages: usize,
    pub per_second: f64,
    pub finishes_at: DateTime<Utc>,
    /// The longest any message waits behind its due time for the channel's limits.
    pub longest_wait: String,
}

/// What a campaign would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub campaign: String,
    pub name: String,
    pub kind: Kind,
    pub planned_at: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    /// Customers the audience (segment and filter) selects.
    pub audience: usize,
    /// Customers who get at least one message.
    pub recipients: usize,
    pub messages: usize,
    /// Left out, by reason.
    pub excluded: BTreeMap<String, usize>,
    /// Moved later by quiet hours or the send window.
    pub deferred: usize,
    pub by_segment: BTreeMap<String, usize>,
    pub by_channel: BTreeMap<String, usize>,
    pub by_language: BTreeMap<String, usize>,
    pub by_variant: BTreeMap<String, usize>,
    pub steps: Vec<StepSummary>,
    pub delivery: Vec<ChannelEstimate>,
    pub deadline: Option<DateTime<Utc>>,
    /// Why the plan cannot be run, when it cannot.
    pub refusal: Option<String>,
    #[serde(skip)]
    pub rows: Vec<Planned>,
    #[serde(skip)]
    pub facts: Vec<CustomerFacts>,
}

/// The first instant the schedule sends at, from `now` on.
pub fn start_time(
    campaign: &Campaign,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, PlanError> {
    let s = &campaign.schedule;
    if let Some(live) = &campaign.livestream
        && live.starts_at <= now
    {
        return Err(PlanError::Invalid(format!(
            "the livestream started at {} — plan a livestream campaign before it starts",
            live.starts_at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    if let Some(at) = s.at {
        if now - at > Duration::hours(24) {
            return Err(PlanError::Invalid(format!(
                "schedule.at ({}) is more than a day in the past: set the time you want it sent",
                at.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        return Ok(at.max(now));
    }
    if let Some(r) = &s.repeat {
        let time = NaiveTime::parse_from_str(&r.time, "%H:%M").map_err(|_| {
            PlanError::Invalid(format!("schedule.repeat.time `{}` is not HH:MM", r.time))
        })?;
        let mut date = now.with_timezone(&tz).date_naive();
        if let Some(from) = r.from {
            date = date.max(from);
        }
        for _ in 0..400 {
            let day_ok = match r.every {
                Every::Day => true,
                Every::Week => {
                    let wd = date.weekday().num_days_from_monday() as usize;
                    if r.days.is_empty() {
                        wd == 0
                    } else {
                        r.days.iter().any(|d| *d as usize == wd)
                    }
                }
                Every::Month => r.from.map_or(date.day() == 1, |f| date.day() == f.day()),
            };
            if day_ok && let Some(t) = tz.from_local_datetime(&date.and_time(time)).earliest() {
                let t = t.with_timezone(&Utc);
                if t >= now {
                    if r.until.is_some_and(|u| date > u) {
                        break;
                    }
                    return Ok(t);
                }
            }
            date += Duration::days(1);
        }
        return Err(PlanError::Invalid(
            "schedule.repeat has no occurrence left".into(),
        ));
    }
    Err(PlanError::Invalid(
        "triggered campaigns are sent by `kefu serve` as their events happen; `plan` and `run` need `schedule.at` or `schedule.repeat`".into(),
    ))
}

/// The step key of a recurring campaign's occurrence, so each occurrence is its own
/// outbox step (one message per recipient per occurrence).
fn occurrence_step(campaign: &Campaign, base: &str, start: DateTime<Utc>) -> String {
    if campaign.schedule.repeat.is_some() {
        format!("{base}@{}", start.format("%Y-%m-%d"))
    } else {
        base.to_string()
    }
}

struct StepDef {
    key: String,
    at: DateTime<Utc>,
    marketing: bool,
    /// The first message of a campaign may be deferred; later ones (reminders, live now)
    /// are dropped when their moment falls in the recipient's quiet hours.
    deferrable: bool,
}

fn steps(campaign: &Campaign, start: DateTime<Utc>, now: DateTime<Utc>) -> Vec<StepDef> {
    let mut out = Vec::new();
    match (&campaign.kind, &campaign.livestream) {
        (Kind::Livestream, Some(live)) => {
            out.push(StepDef {
                key: "announce".into(),
                at: start,
                marketing: true,
                deferrable: true,
            });
            for r in &live.reminders {
                let at = live.starts_at - r.duration();
                if at >= now && at > start {
                    out.push(StepDef {
                        key: format!("reminder-{}", String::from(*r)),
                        at,
                        marketing: !live.rsvp,
                        deferrable: false,
                    });
                }
            }
            out.push(StepDef {
                key: "live".into(),
                at: live.starts_at.max(start),
                marketing: !live.rsvp,
                deferrable: false,
            });
        }
        _ => out.push(StepDef {
            key: occurrence_step(campaign, "main", start),
            at: start,
            marketing: campaign.kind != Kind::Community,
            deferrable: true,
        }),
    }
    out
}

/// Where a customer can be reached on `channel`: the address and whether they consent.
fn reach(facts: &CustomerFacts, channel: Channel) -> Option<String> {
    if let Some((_, id)) = facts.identities.iter().find(|(c, _)| *c == channel) {
        return Some(id.clone());
    }
    match channel {
        Channel::Email => facts.email.clone(),
        _ => None,
    }
}

/// The first channel of the campaign's preference the customer is reachable and
/// consenting on, or why there is none.
fn choose_channel(
    prefs: &[ChannelPref],
    facts: &CustomerFacts,
    enabled: &BTreeMap<Channel, f64>,
) -> Result<(Channel, String), &'static str> {
    let mut reason = "no reachable channel";
    for pref in prefs {
        let channel = match pref {
            ChannelPref::Telegram => Some(Channel::Telegram),
            ChannelPref::Discord => Some(Channel::Discord),
            ChannelPref::Email => Some(Channel::Email),
            ChannelPref::Web => Some(Channel::Web),
            ChannelPref::Preferred => facts.preferred_channel,
            ChannelPref::LastActive => facts.last_active_channel,
        };
        let Some(channel) = channel else { continue };
        let Some(address) = reach(facts, channel) else {
            continue;
        };
        match facts.consents.get(&channel) {
            Some(true) => {}
            Some(false) => {
                reason = "no marketing consent";
                continue;
            }
            None => {
                if reason != "no marketing consent" {
                    reason = "consent not given";
                }
                continue;
            }
        }
        if !enabled.contains_key(&channel) {
            reason = "channel not enabled";
            continue;
        }
        return Ok((channel, address));
    }
    Err(reason)
}

fn tz_of(facts: &CustomerFacts, shop: Tz) -> Tz {
    facts
        .time_zone
        .as_deref()
        .and_then(|z| Tz::from_str(z).ok())
        .unwrap_or(shop)
}

fn bump(map: &mut BTreeMap<String, usize>, key: impl Into<String>) {
    *map.entry(key.into()).or_default() += 1;
}

/// The steps each recipient gets: the same for all (a scheduled campaign), or per
/// customer for the events that happened to them (a triggered campaign).
enum Occasions {
    Same(Vec<StepDef>),
    PerCustomer(HashMap<i64, Vec<StepDef>>),
}

/// Makes the plan of a scheduled campaign (`schedule.at` or the next occurrence of
/// `schedule.repeat`). Reads only.
pub async fn plan(
    store: &Store,
    campaign: &Campaign,
    segments: &Segments,
    settings: &PlanSettings,
    now: DateTime<Utc>,
) -> Result<Plan, PlanError> {
    let start = start_time(campaign, settings.time_zone, now)?;
    let steps = steps(campaign, start, now);
    plan_occasions(
        store,
        campaign,
        segments,
        settings,
        now,
        start,
        Occasions::Same(steps),
    )
    .await
}

/// An event that makes a triggered campaign send to one customer: the step key (unique
/// per customer, e.g. `delivered@#1043`) and when the message is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occasion {
    pub customer: i64,
    pub step: String,
    pub at: DateTime<Utc>,
}

/// Makes the plan of a triggered campaign for the events given: each customer in the
/// audience with an event gets one message per event, under the same rules (consent,
/// quiet hours, caps, variants). Reads only.
pub async fn plan_events(
    store: &Store,
    campaign: &Campaign,
    segments: &Segments,
    settings: &PlanSettings,
    now: DateTime<Utc>,
    events: &[Occasion],
) -> Result<Plan, PlanError> {
    let mut per: HashMap<i64, Vec<StepDef>> = HashMap::new();
    for e in events {
        per.entry(e.customer).or_default().push(StepDef {
            key: e.step.clone(),
            at: e.at.max(now),
            marketing: true,
            deferrable: true,
        });
    }
    plan_occasions(
        store,
        campaign,
        segments,
        settings,
        now,
        now,
        Occasions::PerCustomer(per),
    )
    .await
}

async fn plan_occasions(
    store: &Store,
    campaign: &Campaign,
    segments: &Segments,
    settings: &PlanSettings,
    now: DateTime<Utc>,
    start: DateTime<Utc>,
    occasions: Occasions,
) -> Result<Plan, PlanError> {
    let steps = match &occasions {
        Occasions::Same(s) => s.as_slice(),
        Occasions::PerCustomer(_) => &[],
    };
    let mut plan = Plan {
        campaign: campaign.id.clone(),
        name: campaign.name.clone(),
        kind: campaign.kind,
        planned_at: now,
        starts_at: start,
        audience: 0,
        recipients: 0,
        messages: 0,
        excluded: BTreeMap::new(),
        deferred: 0,
        by_segment: BTreeMap::new(),
        by_channel: BTreeMap::new(),
        by_language: BTreeMap::new(),
        by_variant: BTreeMap::new(),
        steps: Vec::new(),
        delivery: Vec::new(),
        deadline: campaign
            .schedule
            .deliver_within
            .map(|d| steps.last().map_or(start, |s| s.at) + d.duration()),
        refusal: None,
        rows: Vec::new(),
        facts: Vec::new(),
    };

    if campaign.kind == Kind::Community {
        let community = campaign.community.as_ref().ok_or_else(|| {
            PlanError::Invalid("a community campaign needs `community.targets`".into())
        })?;
        for target in &community.targets {
            let channel = match target.channel {
                ChannelPref::Telegram => Channel::Telegram,
                ChannelPref::Discord => Channel::Discord,
                other => {
                    return Err(PlanError::Invalid(format!(
                        "community posts go to telegram or discord, not {other:?}"
                    )));
                }
            };
            if !settings.rates.contains_key(&channel) {
                bump(&mut plan.excluded, "channel not enabled");
                continue;
            }
            let language = target
                .language
                .clone()
                .unwrap_or_else(|| campaign.content.fallback_language.clone());
            let Some(step) = steps.first() else {
                return Err(PlanError::Invalid(
                    "community posts are scheduled, not triggered".into(),
                ));
            };
            plan.rows.push(Planned {
                step: step.key.clone(),
                member: None,
                recipient: format!("{}:{}", channel.as_str(), target.chat),
                channel,
                address: target.chat.clone(),
                variant: None,
                language,
                due_at: step.at,
                marketing: false,
            });
        }
        return finish(plan, campaign, settings);
    }

    let audience = campaign
        .audience
        .as_ref()
        .ok_or_else(|| PlanError::Invalid("this campaign needs an `audience`".into()))?;
    let mut members = crate::segments::audience(
        store,
        segments,
        audience.segment.as_deref(),
        audience.filter.as_ref(),
        now,
    )
    .await
    .map_err(|e| PlanError::Segments(e.to_string()))?;
    if let Occasions::PerCustomer(per) = &occasions {
        members.retain(|m| per.contains_key(&m.id));
    }
    if let Some(limit) = audience.limit {
        members.sort_by(|a, b| b.spent_minor.cmp(&a.spent_minor).then(a.id.cmp(&b.id)));
        members.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    plan.audience = members.len();

    let cap = campaign.frequency_cap.unwrap_or(settings.frequency_cap);
    let span = Duration::days(i64::from(cap.days));
    let last = match &occasions {
        Occasions::Same(s) => s.last().map_or(start, |s| s.at),
        Occasions::PerCustomer(per) => per.values().flatten().map(|s| s.at).max().unwrap_or(start),
    };
    let mut sent_times = store
        .marketing_times(start - span, last + span + Duration::days(2))
        .await?;
    let send_window = campaign
        .send_window
        .as_ref()
        .map(LocalWindow::parse)
        .transpose()
        .map_err(PlanError::Invalid)?;
    let quiet = match &campaign.quiet_hours {
        Some(w) => Some(LocalWindow::parse(w).map_err(PlanError::Invalid)?),
        None => settings.quiet_hours,
    };
    let exclude = &campaign.exclude;

    for (index, facts) in members.iter().enumerate() {
        if exclude.open_support_conversation && facts.open_support_conversation {
            bump(&mut plan.excluded, "open support conversation");
            continue;
        }
        if exclude.late_parcel && facts.late_parcel {
            bump(&mut plan.excluded, "late parcel");
            continue;
        }
        if let Some(days) = exclude.ordered_within_days
            && facts
                .last_order_at
                .is_some_and(|t| now - t < Duration::days(i64::from(days)))
        {
            bump(&mut plan.excluded, format!("ordered within {days} days"));
            continue;
        }
        let (channel, address) = match choose_channel(&campaign.channels, facts, &settings.rates) {
            Ok(c) => c,
            Err(reason) => {
                bump(&mut plan.excluded, reason);
                continue;
            }
        };
        let variant = assign_variant(&campaign.id, facts.id, &campaign.variants);
        let content = content_of(campaign, Step::Main, variant.map(|v| v.id.as_str()));
        let language = pick_language(
            content.languages.keys().map(String::as_str),
            facts
                .locale
                .as_deref()
                .unwrap_or(&settings.default_language),
            &content.fallback_language,
        )
        .to_string();
        let tz = tz_of(facts, settings.time_zone);
        let mut rows = Vec::new();
        let mut deferred = false;
        let mut refused: Option<&'static str> = None;
        let times = sent_times.entry(facts.id).or_default();
        let steps = match &occasions {
            Occasions::Same(s) => s.as_slice(),
            Occasions::PerCustomer(per) => per.get(&facts.id).map_or(&[][..], Vec::as_slice),
        };
        for step in steps {
            let Some(due) = next_allowed(step.at, tz, send_window, quiet) else {
                refused = Some("send window inside quiet hours");
                break;
            };
            if due != step.at {
                if !step.deferrable {
                    continue;
                }
                deferred = true;
            }
            if step.marketing && !cap_allows(cap, times, due) {
                if step.deferrable {
                    refused = Some("frequency cap");
                    break;
                }
                continue;
            }
            if step.marketing {
                times.push(due);
            }
            rows.push(Planned {
                step: step.key.clone(),
                member: Some(index),
                recipient: facts.id.to_string(),
                channel,
                address: address.clone(),
                variant: variant.map(|v| v.id.clone()),
                language: language.clone(),
                due_at: due,
                marketing: step.marketing,
            });
        }
        if let Some(reason) = refused {
            bump(&mut plan.excluded, reason);
            continue;
        }
        if variant.is_some_and(|v| v.control) {
            bump(&mut plan.excluded, "control group (receives nothing)");
            if let Some(v) = variant {
                bump(&mut plan.by_variant, v.id.clone());
            }
            continue;
        }
        if rows.is_empty() {
            continue;
        }
        if deferred {
            plan.deferred += 1;
        }
        plan.recipients += 1;
        bump(&mut plan.by_segment, facts.group.unwrap_or("no orders"));
        bump(&mut plan.by_channel, channel.as_str());
        bump(&mut plan.by_language, language.clone());
        if let Some(v) = variant {
            bump(&mut plan.by_variant, v.id.clone());
        }
        plan.rows.extend(rows);
    }
    plan.facts = members;
    finish(plan, campaign, settings)
}

/// Step summaries, delivery estimates per channel and the deadline check.
fn finish(mut plan: Plan, campaign: &Campaign, settings: &PlanSettings) -> Result<Plan, PlanError> {
    plan.messages = plan.rows.len();
    if campaign.kind == Kind::Community {
        plan.recipients = plan.rows.len();
        for r in &plan.rows {
            bump(&mut plan.by_channel, r.channel.as_str());
            bump(&mut plan.by_language, r.language.clone());
        }
    }
    // Per step: messages, first and last due time.
    type Span = (usize, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let mut by_step: BTreeMap<&str, Span> = BTreeMap::new();
    let mut by_channel: BTreeMap<Channel, Vec<DateTime<Utc>>> = BTreeMap::new();
    for r in &plan.rows {
        let e = by_step.entry(r.step.as_str()).or_default();
        e.0 += 1;
        e.1 = Some(e.1.map_or(r.due_at, |t| t.min(r.due_at)));
        e.2 = Some(e.2.map_or(r.due_at, |t| t.max(r.due_at)));
        by_channel.entry(r.channel).or_default().push(r.due_at);
    }
    plan.steps = by_step
        .into_iter()
        .map(|(step, (messages, first_due, last_due))| StepSummary {
            step: step.to_string(),
            messages,
            first_due,
            last_due,
        })
        .collect();
    plan.steps.sort_by_key(|s| s.first_due);
    for (channel, mut due) in by_channel {
        let per_second = settings.rates.get(&channel).copied().unwrap_or(1.0);
        let Some((finishes_at, wait)) = simulate_delivery(&mut due, per_second) else {
            continue;
        };
        if let Some(within) = campaign.schedule.deliver_within
            && wait > within.duration()
            && plan.refusal.is_none()
        {
            plan.refusal = Some(format!(
                "{} allows {per_second} messages/s: {} messages take {}, so some would wait {} \
                 behind their time, longer than deliver_within ({}). Narrow the audience, \
                 spread the schedule or allow longer.",
                channel.as_str(),
                due.len(),
                human(finishes_at - due[0]),
                human(wait),
                human(within.duration())
            ));
        }
        plan.delivery.push(ChannelEstimate {
            channel,
            messages: due.len(),
            per_second,
            finishes_at,
            longest_wait: human(wait),
        });
    }
    Ok(plan)
}

/// A hash of the campaign file that identifies what was planned.
pub fn spec_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Product cards and prices, loaded once per plan.
#[derive(Debug, Default)]
pub struct Catalog {
    products: HashMap<String, kefu_bot::store::Product>,
}

impl Catalog {
    pub async fn load(store: &Store, campaign: &Campaign) -> Result<Self, StoreError> {
        let mut products = HashMap::new();
        for handle in campaign_products(campaign) {
            // A draft, archived or unpublished product is not pushed to customers.
            if let Some(p) = store.product_by_handle(&handle).await?
                && p.published
            {
                products.insert(handle, p);
            }
        }
        Ok(Self { products })
    }

    /// The product's card in `language`, or the translation a reader of it is shown
    /// instead (the shop's default language, then English).
    fn card(&self, handle: &str, language: &str, settings: &PlanSettings) -> Option<Card> {
        let p = self.products.get(handle)?;
        let text = p.text_for(language, &settings.default_language)?;
        let shop_url = &settings.shop_url;
        let price = p
            .variants
            .first()
            .map(|v| kefu_bot::agent::tools::money(v.price, &v.currency))
            .unwrap_or_default();
        Some(Card {
            title: text.title.clone(),
            price,
            url: format!("{}/products/{}", shop_url.trim_end_matches('/'), p.handle),
            image: p.image_url.clone(),
        })
    }
}

fn campaign_products(campaign: &Campaign) -> Vec<String> {
    let mut contents = vec![&campaign.content];
    contents.extend(campaign.variants.iter().filter_map(|v| v.content.as_ref()));
    if let Some(l) = &campaign.livestream {
        contents.push(&l.reminder);
        contents.push(&l.live);
    }
    let mut out: Vec<String> = contents
        .iter()
        .flat_map(|c| c.languages.values())
        .flat_map(|m| m.products.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The template variables of one recipient.
pub fn context(
    facts: Option<&CustomerFacts>,
    campaign: &Campaign,
    settings: &PlanSettings,
    catalog: &Catalog,
    language: &str,
    products: &[String],
    last_order: Option<&LastOrder>,
) -> serde_json::Value {
    let cards: Vec<serde_json::Value> = products
        .iter()
        .filter_map(|h| catalog.card(h, language, settings).map(|c| (h, c)))
        .map(|(h, c)| json!({"handle": h, "title": c.title, "price": c.price, "url": c.url, "image": c.image}))
        .collect();
    let tz = facts.map_or(settings.time_zone, |f| tz_of(f, settings.time_zone));
    let livestream = campaign.livestream.as_ref().map(|l| {
        json!({
            "starts_at": l.starts_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
            "url": l.url,
        })
    });
    let customer = facts.map(|f| {
        let name = f.name.clone().unwrap_or_default();
        let first = name.split_whitespace().next().unwrap_or("").to_string();
        json!({
            "first_name": first,
            "name": name,
            "email": f.email,
            "country": f.country,
            "language": language,
            "orders": f.orders,
            "spent": kefu_bot::agent::tools::money(f.spent_minor, &settings.currency),
            "segment": f.group,
        })
    });
    // Empty for a customer without orders (or when no template asks for it), so strict
    // rendering never fails.
    let last_order = match last_order {
        Some(o) => json!({
            "name": o.name,
            "date": last_order_date(o, tz),
            "total": kefu_bot::agent::tools::money(o.total_minor, &o.currency),
            "items": o.items.iter().map(|(name, quantity)| json!({"name": name, "quantity": quantity})).collect::<Vec<_>>(),
        }),
        None => json!({"name": "", "date": "", "total": "", "items": []}),
    };
    json!({
        "customer": customer,
        "last_order": last_order,
        "products": cards,
        "shop": {"name": settings.shop_name, "url": settings.shop_url},
        "livestream": livestream,
        "unsubscribe_url": crate::deliver::UNSUBSCRIBE_MARK,
    })
}

/// The day of an order in the recipient's time zone (`2026-03-02`).
fn last_order_date(order: &LastOrder, tz: Tz) -> String {
    order
        .created_at
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string()
}

/// Whether any of the campaign's templates mentions `last_order`: only then are the
/// recipients' last orders read.
fn uses_last_order(campaign: &Campaign) -> bool {
    serde_json::to_string(campaign).is_ok_and(|text| text.contains("last_order"))
}

/// The outbox message for a rendered template.
pub fn payload(
    rendered: RenderedMessage,
    catalog: &Catalog,
    settings: &PlanSettings,
    language: &str,
    requires_rsvp: bool,
    pin: bool,
) -> Payload {
    let cards = rendered
        .products
        .iter()
        .filter_map(|h| catalog.card(h, language, settings))
        .collect();
    payload_with(rendered, cards, requires_rsvp, pin)
}

/// [`payload`] with its product cards made already.
fn payload_with(
    rendered: RenderedMessage,
    cards: Vec<Card>,
    requires_rsvp: bool,
    pin: bool,
) -> Payload {
    Payload {
        subject: rendered.subject,
        text: rendered.text,
        image: rendered.image,
        buttons: rendered
            .buttons
            .into_iter()
            .map(|(label, target)| match target {
                ButtonTarget::Url(url) => PayloadButton {
                    label,
                    url: Some(url),
                    action: None,
                },
                ButtonTarget::Action(a) => PayloadButton {
                    label,
                    url: None,
                    action: Some(format!("{a:?}").to_lowercase()),
                },
            })
            .collect(),
        cards,
        requires_rsvp,
        pin,
        ..Payload::default()
    }
}

/// The template variables of one recipient, as [`context`] makes them, looked up one by
/// one: most messages use a few plain variables, which then render without building the
/// whole context.
struct RowVars<'a> {
    facts: Option<&'a CustomerFacts>,
    last_order: Option<&'a LastOrder>,
    /// The abandoned cart a row is about.
    cart: Option<&'a kefu_bot::store::CartRecord>,
    campaign: &'a Campaign,
    settings: &'a PlanSettings,
    catalog: &'a Catalog,
    language: &'a str,
    products: &'a [String],
}

impl RowVars<'_> {
    /// The recipient's time zone, else the shop's.
    fn time_zone(&self) -> Tz {
        let shop = self.settings.time_zone;
        self.facts.map_or(shop, |f| tz_of(f, shop))
    }
}

impl Vars for RowVars<'_> {
    fn write(&self, path: &[String], out: &mut String) -> bool {
        let [first, rest @ ..] = path else {
            return false;
        };
        let field = match rest {
            [] => None,
            [f] => Some(f.as_str()),
            _ => return false,
        };
        let settings = self.settings;
        match (first.as_str(), field) {
            ("customer", Some(field)) => {
                let Some(f) = self.facts else { return false };
                let name = f.name.as_deref().unwrap_or("");
                match field {
                    "first_name" => out.push_str(name.split_whitespace().next().unwrap_or("")),
                    "name" => out.push_str(name),
                    // `null` prints as nothing.
                    "email" => out.push_str(f.email.as_deref().unwrap_or("")),
                    "country" => out.push_str(f.country.as_deref().unwrap_or("")),
                    "language" => out.push_str(self.language),
                    "orders" => {
                        // Writing to a String cannot fail.
                        let _ = write!(out, "{}", f.orders);
                    }
                    "spent" => out.push_str(&kefu_bot::agent::tools::money(
                        f.spent_minor,
                        &settings.currency,
                    )),
                    "segment" => out.push_str(f.group.unwrap_or("")),
                    _ => return false,
                }
            }
            ("shop", Some("name")) => out.push_str(&settings.shop_name),
            ("shop", Some("url")) => out.push_str(&settings.shop_url),
            // The recipient's own one-click link, put in when the row is sent (its id
            // is not known before).
            ("unsubscribe_url", None) => out.push_str(crate::deliver::UNSUBSCRIBE_MARK),
            ("last_order", Some(field @ ("name" | "date" | "total"))) => {
                let Some(o) = self.last_order else {
                    return true;
                };
                match field {
                    "name" => out.push_str(&o.name),
                    "date" => out.push_str(&last_order_date(o, self.time_zone())),
                    _ => out.push_str(&kefu_bot::agent::tools::money(o.total_minor, &o.currency)),
                }
            }
            ("cart", Some(field @ ("url" | "total" | "count"))) => {
                // Empty outside abandoned-cart messages, like `last_order` without orders.
                let Some(c) = self.cart else {
                    return true;
                };
                match field {
                    "url" => out.push_str(c.url.as_deref().unwrap_or(&settings.shop_url)),
                    "total" => out.push_str(&cart_total(c)),
                    _ => {
                        let _ = write!(out, "{}", cart_count(c));
                    }
                }
            }
            ("livestream", Some(field)) => {
                let Some(l) = &self.campaign.livestream else {
                    return false;
                };
                match field {
                    "url" => out.push_str(&l.url),
                    "starts_at" => {
                        let tz = self.time_zone();
                        let _ = write!(
                            out,
                            "{}",
                            l.starts_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
                        );
                    }
                    _ => return false,
                }
            }
            _ => return false,
        }
        true
    }

    fn context(&self) -> serde_json::Value {
        let mut ctx = context(
            self.facts,
            self.campaign,
            self.settings,
            self.catalog,
            self.language,
            self.products,
            self.last_order,
        );
        let cart = match self.cart {
            Some(c) => json!({
                "url": c.url.as_deref().unwrap_or(&self.settings.shop_url),
                "total": cart_total(c),
                "count": cart_count(c),
            }),
            None => json!({"url": "", "total": "", "count": 0}),
        };
        if let Some(obj) = ctx.as_object_mut() {
            obj.insert("cart".into(), cart);
        }
        ctx
    }
}

fn cart_total(c: &kefu_bot::store::CartRecord) -> String {
    match (c.total_minor, c.currency.as_deref()) {
        (Some(minor), Some(currency)) => kefu_bot::agent::tools::money(minor, currency),
        _ => String::new(),
    }
}

fn cart_count(c: &kefu_bot::store::CartRecord) -> u64 {
    c.items.iter().map(|i| u64::from(i.quantity)).sum()
}

/// What every row of one (step, variant, language) shares: the message's templates,
/// the content's products and the product cards.
struct Prepared<'a> {
    step: Step,
    variant: Option<&'a str>,
    language: &'a str,
    message: MessageTemplates<'a>,
    /// The content's products, for [`context`].
    products: &'a [String],
    cards: Vec<Card>,
}

/// Writes a plan into the outbox, rendering each message: all of it in one transaction,
/// or nothing. Returns the rows written. Fails when the campaign id was planned before.
pub async fn write(
    store: &Store,
    campaign: &Campaign,
    spec_text: &str,
    plan: &Plan,
    templates: &Templates,
    settings: &PlanSettings,
    progress: impl FnMut(u64),
) -> Result<u64, PlanError> {
    if let Some(refusal) = &plan.refusal {
        return Err(PlanError::Invalid(refusal.clone()));
    }
    let writer = store
        .begin_plan(&NewCampaign {
            id: campaign.id.clone(),
            name: campaign.name.clone(),
            kind: campaign.kind.as_str().to_string(),
            spec: spec_text.to_string(),
            spec_hash: spec_hash(spec_text),
            planned_for: plan.starts_at,
            deadline: plan.deadline,
            ongoing: campaign.schedule.repeat.is_some() || campaign.schedule.trigger.is_some(),
        })
        .await?;
    fill(store, writer, campaign, plan, templates, settings, progress).await
}

/// Adds a plan's rows to a campaign planned before (the next occurrence of a recurring
/// campaign, new events of a triggered one). Rows that exist already are skipped.
/// Returns the rows added.
pub async fn append(
    store: &Store,
    campaign: &Campaign,
    plan: &Plan,
    templates: &Templates,
    settings: &PlanSettings,
) -> Result<u64, PlanError> {
    let writer = store.begin_append(&campaign.id).await?;
    fill(store, writer, campaign, plan, templates, settings, |_| {}).await
}

async fn fill(
    store: &Store,
    mut writer: kefu_bot::store::PlanWriter,
    campaign: &Campaign,
    plan: &Plan,
    templates: &Templates,
    settings: &PlanSettings,
    mut progress: impl FnMut(u64),
) -> Result<u64, PlanError> {
    let catalog = Catalog::load(store, campaign).await?;
    let last_orders = if uses_last_order(campaign) {
        let mut ids: Vec<i64> = plan
            .rows
            .iter()
            .filter_map(|row| row.member.and_then(|m| plan.facts.get(m)))
            .map(|f| f.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        store.last_orders(&ids).await?
    } else {
        HashMap::new()
    };
    let carts: HashMap<String, kefu_bot::store::CartRecord> = {
        let mut ids: Vec<String> = plan
            .rows
            .iter()
            .filter_map(|r| r.step.strip_prefix(crate::triggers::CART_STEP))
            .map(str::to_owned)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            HashMap::new()
        } else {
            store
                .carts(&ids)
                .await?
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect()
        }
    };
    let rsvp = campaign.livestream.as_ref().is_some_and(|l| l.rsvp);
    let pin = campaign.community.as_ref().is_some_and(|c| c.pin);
    let mut prepared: Vec<Prepared<'_>> = Vec::new();
    for (i, row) in plan.rows.iter().enumerate() {
        let facts = row.member.and_then(|m| plan.facts.get(m));
        let step = template_step(&row.step);
        let variant = row.variant.as_deref();
        let language = row.language.as_str();
        let failed = |e: RenderFailure| {
            PlanError::Invalid(format!(
                "the {} message in {} did not render for recipient {}: {e}",
                step.as_str(),
                row.language,
                row.recipient
            ))
        };
        let at = match prepared
            .iter()
            .position(|p| p.step == step && p.variant == variant && p.language == language)
        {
            Some(at) => at,
            None => {
                let message = templates.message(step, variant, language).map_err(failed)?;
                let cards = message
                    .products()
                    .iter()
                    .filter_map(|h| catalog.card(h, language, settings))
                    .collect();
                prepared.push(Prepared {
                    step,
                    variant,
                    language,
                    message,
                    products: &message_of(campaign, step, variant, language).products,
                    cards,
                });
                prepared.len() - 1
            }
        };
        let p = &prepared[at];
        let vars = RowVars {
            facts,
            last_order: facts.and_then(|f| last_orders.get(&f.id)),
            cart: row
                .step
                .strip_prefix(crate::triggers::CART_STEP)
                .and_then(|id| carts.get(id)),
            campaign,
            settings,
            catalog: &catalog,
            language,
            products: p.products,
        };
        let rendered = p.message.render(&vars).map_err(failed)?;
        let requires_rsvp = rsvp && step != Step::Main;
        let message = payload_with(rendered, p.cards.clone(), requires_rsvp, pin);
        let payload =
            serde_json::to_string(&message).map_err(|e| PlanError::Invalid(e.to_string()))?;
        writer
            .push(&NewOutboxRow {
                step: row.step.clone(),
                recipient: row.recipient.clone(),
                customer_id: facts.map(|f| f.id),
                channel: row.channel,
                address: row.address.clone(),
                variant: row.variant.clone(),
                language: row.language.clone(),
                payload,
                marketing: row.marketing,
                due_at: row.due_at,
            })
            .await?;
        if i % 10_000 == 0 {
            progress(i as u64);
        }
    }
    let written = writer.commit().await?;
    progress(written);
    Ok(written)
}

/// Which template a step uses: `announce` and occurrences use the main content,
/// `reminder-…` the livestream reminder, `live` the live-now message.
pub fn template_step(step: &str) -> Step {
    if step.starts_with("reminder-") {
        Step::Reminder
    } else if step == "live" {
        Step::Live
    } else {
        Step::Main
    }
}

/// The content a step (and variant) uses.
pub fn content_of<'c>(campaign: &'c Campaign, step: Step, variant: Option<&str>) -> &'c Content {
    match (step, &campaign.livestream) {
        (Step::Reminder, Some(l)) => &l.reminder,
        (Step::Live, Some(l)) => &l.live,
        _ => variant
            .and_then(|v| campaign.variants.iter().find(|x| x.id == v))
            .and_then(|v| v.content.as_ref())
            .unwrap_or(&campaign.content),
    }
}

/// The message a recipient reading `language` gets for a step.
pub fn message_of<'c>(
    campaign: &'c Campaign,
    step: Step,
    variant: Option<&str>,
    language: &str,
) -> &'c Message {
    let content = content_of(campaign, step, variant);
    let picked = pick_language(
        content.languages.keys().map(String::as_str),
        language,
        &content.fallback_language,
    );
    content
        .languages
        .get(picked)
        .or_else(|| content.languages.values().next())
        .unwrap_or(&EMPTY_MESSAGE)
}

static EMPTY_MESSAGE: Message = Message {
    subject: None,
    text: String::new(),
    image: None,
    buttons: Vec::new(),
    products: Vec::new(),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Known, validate};

    const CAMPAIGN: &str = r#"id: render-check
name: Render check
kind: livestream
audience:
  filter:
    consent: [telegram]
channels: [telegram]
livestream:
  starts_at: 2027-05-16T12:00:00Z
  url: https://live.example/tasting
  reminders: [1h]
  reminder:
    fallback_language: en
    languages:
      en:
        text: "Starts {{livestream.starts_at}} at {{livestream.url}} — {{customer.first_name}}"
  live:
    fallback_language: en
    languages:
      en:
        text: "{{#if customer.orders}}Welcome back{{else}}Hello{{/if}} {{customer.name}}"
        buttons:
          - label: "Watch {{shop.name}}"
            url: "{{livestream.url}}?c={{customer.segment}}"
content:
  fallback_language: en
  languages:
    en:
      subject: "{{customer.first_name}} ({{customer.email}}, {{customer.country}})"
      text: "Hi {{customer.first_name}} {{customer.name}}: {{customer.language}} {{customer.orders}} {{customer.spent}} {{customer.segment}} {{shop.name}} {{shop.url}} {{unsubscribe_url}} [{{last_order.name}}|{{last_order.date}}|{{last_order.total}}] {{{customer.first_name}}}"
      image: "{{shop.url}}/img/{{customer.segment}}.jpg"
      buttons:
        - label: RSVP
          action: rsvp
        - label: "{{customer.first_name}}'s link"
          url: "{{shop.url}}/x?l={{customer.language}}"
    de:
      text: "{{#each products}}{{title}}{{/each}}Hallo {{customer.first_name}}, {{livestream.starts_at}}"
schedule:
  at: 2027-05-09T10:00:00+08:00
"#;

    fn facts(full: bool) -> CustomerFacts {
        CustomerFacts {
            id: 7,
            name: full.then(|| "Mei  Lin Wong".to_owned()),
            email: full.then(|| "mei@example.com".to_owned()),
            locale: Some("en".into()),
            time_zone: full.then(|| "Asia/Tokyo".to_owned()),
            country: full.then(|| "SG".to_owned()),
            tags: Vec::new(),
            consents: BTreeMap::new(),
            identities: Vec::new(),
            preferred_channel: None,
            last_active_channel: None,
            orders: if full { 3 } else { 0 },
            spent_minor: if full { 18_250 } else { 0 },
            first_order_at: None,
            last_order_at: None,
            open_support_conversation: false,
            late_parcel: false,
            rfm: None,
            group: full.then_some("loyal"),
            churn_risk: 0.0,
        }
    }

    /// Rendering row by row from the recipient's variables gives exactly what handlebars
    /// gives with the whole context: the same text, and the same error.
    #[test]
    fn row_variables_render_like_the_context() {
        let campaign = match validate(
            "render-check.yaml",
            CAMPAIGN,
            &Known::with_segments(Vec::<String>::new()),
        ) {
            Ok(c) => c,
            Err(d) => panic!("{d:?}"),
        };
        let templates = Templates::new(&campaign).unwrap();
        let settings = PlanSettings {
            shop_name: "Lotus & Pine".into(),
            shop_url: "https://shop.example/".into(),
            currency: "USD".into(),
            time_zone: chrono_tz::Europe::Berlin,
            default_language: "en".into(),
            quiet_hours: None,
            frequency_cap: FrequencyCap { max: 2, days: 7 },
            rates: BTreeMap::new(),
        };
        let catalog = Catalog::default();
        let (full, bare) = (facts(true), facts(false));
        let mut compared = 0;
        let order = LastOrder {
            name: "#1042".into(),
            // 23:30 UTC is already the next day in Berlin.
            created_at: DateTime::parse_from_rfc3339("2026-03-01T23:30:00Z")
                .unwrap()
                .with_timezone(&Utc),
            total_minor: 6400,
            currency: "USD".into(),
            items: vec![("Dragon Well".into(), 2)],
        };
        let mut with_order = 0;
        for (facts, last_order) in [
            (Some(&full), Some(&order)),
            (Some(&full), None),
            (Some(&bare), None),
            (None, None),
        ] {
            for step in [Step::Main, Step::Reminder, Step::Live] {
                for language in ["en", "de", "zh-Hans", ""] {
                    let products = &message_of(&campaign, step, None, language).products;
                    let ctx = context(
                        facts, &campaign, &settings, &catalog, language, products, last_order,
                    );
                    let expected = templates.render(step, None, language, &ctx);
                    if let (Some(_), Ok(text)) = (last_order, &expected)
                        && text.text.contains("[#1042|2026-03-02|64.00 USD]")
                    {
                        with_order += 1;
                    }
                    let vars = RowVars {
                        facts,
                        last_order,
                        cart: None,
                        campaign: &campaign,
                        settings: &settings,
                        catalog: &catalog,
                        language,
                        products,
                    };
                    let got = templates
                        .message(step, None, language)
                        .and_then(|m| m.render(&vars));
                    assert_eq!(got, expected, "{step:?} {language} {facts:?}");
                    compared += usize::from(expected.is_ok());
                }
            }
        }
        assert!(compared >= 16, "{compared}");
        assert!(with_order >= 1, "no message showed the last order");
    }
}
