//! The campaign file format: what a marketer writes. Documented in `docs/campaigns.md`;
//! `kefu campaign schema` prints it as JSON Schema.
//!
//! Every struct refuses unknown keys, so a misspelt key is an error (with a "did you
//! mean") rather than a silently ignored setting.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::segments::Filter;

/// One campaign file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Stable identifier: lowercase letters, digits and `-`, at most 64 characters. It
    /// keys the outbox, so a campaign is never sent twice under the same id.
    pub id: String,
    /// Human-readable name shown in reports and the console.
    pub name: String,
    pub kind: Kind,
    #[serde(default)]
    pub description: Option<String>,
    /// Who receives it. Required for `content` and `livestream`; `community` posts go to
    /// [`Community::targets`] instead.
    #[serde(default)]
    pub audience: Option<Audience>,
    /// Channels in order of preference. The first one the customer is reachable and
    /// consenting on wins. `preferred` is the customer's own choice (their
    /// `preferred_channel` attribute), `last_active` the channel they last wrote on.
    #[serde(default = "default_channels")]
    pub channels: Vec<ChannelPref>,
    pub content: Content,
    pub schedule: Schedule,
    /// Only deliver inside this window of the recipient's local day (their time zone,
    /// else the shop's). Messages that fall outside are deferred to the next opening.
    #[serde(default)]
    pub send_window: Option<Window>,
    /// Never deliver inside this window of the recipient's local day. Defaults to the
    /// shop-wide `campaigns.quiet_hours` setting (21:00–09:00).
    #[serde(default)]
    pub quiet_hours: Option<Window>,
    /// Overrides the shop-wide cap shared across campaigns (`campaigns.frequency_cap`).
    #[serde(default)]
    pub frequency_cap: Option<FrequencyCap>,
    /// Who to leave out even when in the audience.
    #[serde(default)]
    pub exclude: Exclusions,
    /// Experiment arms. Without variants everyone gets `content`.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Required when `kind: livestream`.
    #[serde(default)]
    pub livestream: Option<Livestream>,
    /// Required when `kind: community`.
    #[serde(default)]
    pub community: Option<Community>,
}

fn default_channels() -> Vec<ChannelPref> {
    vec![ChannelPref::Preferred, ChannelPref::LastActive]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A product or content push to a segment.
    Content,
    /// An announcement, reminders before the start and a "live now" message.
    Livestream,
    /// Posts into Telegram groups/channels and Discord channels.
    Community,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Content => "content",
            Kind::Livestream => "livestream",
            Kind::Community => "community",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelPref {
    Telegram,
    Discord,
    Email,
    Web,
    /// The customer's own choice (`preferred_channel` attribute).
    Preferred,
    /// The channel the customer last wrote on.
    LastActive,
}

/// A named segment, an inline filter, or both (both must match).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// A segment by name: an RFM group (`champions`, `at_risk`, …) or one defined in the
    /// segments file.
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub filter: Option<Filter>,
    /// Send to at most this many (the highest monetary value first).
    #[serde(default)]
    pub limit: Option<u64>,
}

/// Message templates per language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// Used when the recipient's language has no template. Must be one of `languages`.
    pub fallback_language: String,
    /// Language tag (`en`, `zh-Hans`, `es`, …) → message.
    pub languages: BTreeMap<String, Message>,
}

/// One message. Text fields are handlebars templates; see `docs/campaigns.md` for the
/// variables (`customer.*`, `last_order.*`, `products`, `shop.*`, `livestream.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// E-mail subject line.
    #[serde(default)]
    pub subject: Option<String>,
    pub text: String,
    /// Image URL shown above the text.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub buttons: Vec<Button>,
    /// Product handles shown as product cards (title, price, link).
    #[serde(default)]
    pub products: Vec<String>,
}

/// A button: a link (tracked) or an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Button {
    pub label: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub action: Option<ButtonAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ButtonAction {
    /// Subscribes the customer to the livestream's reminders.
    Rsvp,
    /// Unsubscribes the customer from marketing on this channel.
    Unsubscribe,
}

/// When: exactly one of `at`, `repeat` or `trigger`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Send once, at this instant (RFC 3339, e.g. `2026-12-01T10:00:00+08:00`).
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub repeat: Option<Recurrence>,
    #[serde(default)]
    pub trigger: Option<Trigger>,
    /// Every message must be delivered within this long after its planned time (a flash
    /// sale that ends). `plan` refuses a campaign the channels' limits cannot deliver in
    /// time, and rows still unsent at the deadline are cancelled.
    #[serde(default)]
    pub deliver_within: Option<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    pub every: Every,
    /// Local time of day in the shop's time zone, `HH:MM`.
    pub time: String,
    /// For `every: week`: which days (`mon` … `sun`); default Monday.
    #[serde(default)]
    pub days: Vec<Weekday>,
    #[serde(default)]
    pub from: Option<NaiveDate>,
    #[serde(default)]
    pub until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// An event that sends the campaign to one customer when it happens to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub event: TriggerEvent,
    /// How long after the event (`30m`, `2h`, `3d`).
    #[serde(default)]
    pub after: Option<Span>,
    /// `churn_risk`: the score (0–1) that must be crossed.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// `back_in_stock`: which products (handles); empty means any in the message.
    #[serde(default)]
    pub products: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEvent {
    AbandonedCart,
    /// N days (`after`) after an order was delivered.
    Delivered,
    ChurnRisk,
    BackInStock,
}

/// A duration written as a number and a unit: `45s`, `30m`, `2h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct Span {
    pub seconds: i64,
}

impl Span {
    pub fn duration(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.seconds)
    }
}

impl TryFrom<String> for Span {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{s}` has no unit: write e.g. `30m`, `2h` or `7d`"))?;
        let (n, unit) = t.split_at(split);
        let n: i64 = n
            .parse()
            .map_err(|_| format!("`{s}` does not start with a number: write e.g. `2h`"))?;
        let mult = match unit.trim() {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{s}`: use s, m, h, d or w"
                ));
            }
        };
        Ok(Span {
            seconds: n.saturating_mul(mult),
        })
    }
}

impl From<Span> for String {
    fn from(s: Span) -> String {
        let n = s.seconds;
        if n % 86_400 == 0 && n != 0 {
            format!("{}d", n / 86_400)
        } else if n % 3600 == 0 && n != 0 {
            format!("{}h", n / 3600)
        } else if n % 60 == 0 && n != 0 {
            format!("{}m", n / 60)
        } else {
            format!("{n}s")
        }
    }
}

/// A window of the local day, `HH:MM` to `HH:MM`; it may wrap past midnight
/// (`21:00`–`09:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub start: String,
    pub end: String,
}

/// At most `max` marketing messages per customer in any `days` days, counted across all
/// campaigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    pub max: u32,
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exclusions {
    /// Leave out customers with a support conversation that is not closed.
    #[serde(default = "yes")]
    pub open_support_conversation: bool,
    /// Leave out customers with a parcel past its promised date.
    #[serde(default)]
    pub late_parcel: bool,
    /// Leave out customers who ordered within this many days.
    #[serde(default)]
    pub ordered_within_days: Option<u32>,
}

impl Default for Exclusions {
    fn default() -> Self {
        Self {
            open_support_conversation: true,
            late_parcel: false,
            ordered_within_days: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// One arm of an experiment. Customers are assigned by a stable hash of the campaign id
/// and the customer, in proportion to `weight`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Short name: `a`, `b`, `short-subject` …
    pub id: String,
    #[serde(default = "one")]
    pub weight: u32,
    /// A control (hold-out) arm receives nothing; it measures what the message adds.
    #[serde(default)]
    pub control: bool,
    /// This arm's messages; the campaign's `content` when omitted.
    #[serde(default)]
    pub content: Option<Content>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Livestream {
    pub starts_at: DateTime<Utc>,
    /// Where to watch.
    pub url: String,
    /// Reminders before the start (`24h`, `1h`, `10m`).
    #[serde(default)]
    pub reminders: Vec<Span>,
    /// Only customers who pressed the RSVP button get the reminders and the live-now
    /// message; without `rsvp` everyone in the audience does.
    #[serde(default)]
    pub rsvp: bool,
    pub reminder: Content,
    pub live: Content,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Community {
    pub targets: Vec<Target>,
    /// Pin the post in each group or channel.
    #[serde(default)]
    pub pin: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub channel: ChannelPref,
    /// Telegram chat id or `@channelname`; Discord channel id.
    pub chat: String,
    /// The language of the post.
    #[serde(default)]
    pub language: Option<String>,
}
