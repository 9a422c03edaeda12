//! The shop's rules the agent follows: return policy, support hours, limits.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::conversation::Policy;

/// What the agent reads the time from; tests fix it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// The configured return policy the return tool checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnPolicy {
    /// Days after delivery during which items may be returned.
    pub window_days: i64,
    /// Products carrying one of these tags cannot be returned (final sale, gift cards…).
    pub excluded_tags: Vec<String>,
    /// Refund questions on orders worth at least this much (in the order's minor
    /// units) go to a human.
    pub refund_review_minor: i64,
}

impl Default for ReturnPolicy {
    fn default() -> Self {
        Self {
            window_days: 30,
            excluded_tags: vec![
                "final-sale".into(),
                "gift-card".into(),
                "personalised".into(),
                "hygiene".into(),
            ],
            refund_review_minor: 50_000,
        }
    }
}

/// A return window for items in one condition ("sealed", "opened") or carrying one
/// product tag.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnWindow {
    /// The condition as the shop names it to customers.
    pub condition: Option<String>,
    /// A product tag the window applies to.
    pub tag: Option<String>,
    pub days: i64,
}

/// Policy facts that replies state: what the shop configured (`[policy]`), never what a
/// reply template assumes. A fact left unset is not stated as a number: the reply quotes
/// the shop's own article on it instead.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShopPolicy {
    /// Return windows by condition or product tag; empty: `ReturnPolicy::window_days`
    /// for everything.
    pub returns: Vec<ReturnWindow>,
    /// Business days within which a refund is issued (after a return arrives, or after
    /// a cancellation).
    pub refund_days: Option<u32>,
    /// Days a customer has to send items back once a return is opened.
    pub return_ship_days: Option<u32>,
}

impl ShopPolicy {
    /// Days to return an order whose products carry `tags`: a window for one of the tags
    /// (the longest), else the longest window by condition (the customer is told each
    /// condition's), else `default_days`.
    pub fn window_days(&self, tags: &[String], default_days: i64) -> i64 {
        let by_tag = self
            .returns
            .iter()
            .filter(|w| {
                w.tag
                    .as_ref()
                    .is_some_and(|t| tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
            })
            .map(|w| w.days)
            .max();
        let by_condition = self
            .returns
            .iter()
            .filter(|w| w.condition.is_some())
            .map(|w| w.days)
            .max();
        by_tag.or(by_condition).unwrap_or(default_days)
    }

    /// The windows by condition, for replies.
    pub fn conditions(&self) -> Vec<(&str, i64)> {
        self.returns
            .iter()
            .filter_map(|w| w.condition.as_deref().map(|c| (c, w.days)))
            .collect()
    }
}

/// When humans answer, in the shop's time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct SupportHours {
    pub time_zone: Tz,
    /// Open days, Monday first.
    pub days: [bool; 7],
    pub open: NaiveTime,
    pub close: NaiveTime,
    /// What to tell a queued customer during opening hours.
    pub expected_wait_minutes: u32,
}

impl Default for SupportHours {
    fn default() -> Self {
        Self {
            time_zone: Tz::UTC,
            days: [true, true, true, true, true, false, false],
            open: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            close: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
            expected_wait_minutes: 10,
        }
    }
}

impl SupportHours {
    /// Parses `mon-fri`, `mon,wed,fri`, `mon-sun` …
    pub fn parse_days(raw: &str) -> Result<[bool; 7], String> {
        let day = |s: &str| -> Result<usize, String> {
            let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let s = s.trim().to_ascii_lowercase();
            names.iter().position(|n| s.starts_with(n)).ok_or_else(|| {
                format!("unknown day `{s}` in `{raw}` (use mon, tue, wed, thu, fri, sat, sun)")
            })
        };
        let mut days = [false; 7];
        for part in raw.split(',').filter(|p| !p.trim().is_empty()) {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    let mut d = a;
                    loop {
                        days[d] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days[day(part)?] = true,
            }
        }
        if !days.iter().any(|d| *d) {
            return Err(format!("`{raw}` names no day"));
        }
        Ok(days)
    }

    fn is_open_at(&self, local: DateTime<Tz>) -> bool {
        let idx = local.weekday().num_days_from_monday() as usize;
        self.days[idx] && local.time() >= self.open && local.time() < self.close
    }

    /// `None` while support is open; otherwise when it opens next, in the shop's zone.
    pub fn next_open(&self, now: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let local = now.with_timezone(&self.time_zone);
        if self.is_open_at(local) {
            return None;
        }
        for ahead in 0..8 {
            let date = local.date_naive() + Duration::days(ahead);
            let idx = date.weekday().num_days_from_monday() as usize;
            if !self.days[idx] {
                continue;
            }
            let Some(open) = self
                .time_zone
                .from_local_datetime(&date.and_time(self.open))
                .earliest()
            else {
                continue;
            };
            if open > local {
                return Some(open);
            }
        }
        None
    }
}

/// Failed verification attempts allowed before verification by order details pauses,
/// counted across every conversation, channel and replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyLimits {
    /// Failures on one order (or on one typed reference that matches no order) within
    /// `order_window`; then that order can be verified only by e-mail code.
    pub per_order: u32,
    pub order_window: Duration,
    /// Failures from one client address (the web widget's visitor) within
    /// `client_window`.
    pub per_client: u32,
    pub client_window: Duration,
    /// Failures shop-wide within `shop_window`: past it, no challenge is checked until
    /// the window has room again.
    pub shop_wide: u32,
    pub shop_window: Duration,
}

impl Default for VerifyLimits {
    fn default() -> Self {
        Self {
            per_order: 5,
            order_window: Duration::hours(24),
            per_client: 10,
            client_window: Duration::hours(1),
            shop_wide: 50,
            shop_window: Duration::minutes(10),
        }
    }
}

impl VerifyLimits {
    /// The longest window: older failures no longer count anywhere.
    pub fn longest(&self) -> Duration {
        self.order_window
            .max(self.client_window)
            .max(self.shop_window)
    }
}

/// Everything the agent needs to know about the shop.
#[derive(Clone)]
pub struct AgentSettings {
    pub shop_name: String,
    /// The shop's URL, for citations of product pages.
    pub shop_url: Option<String>,
    /// Language of a conversation before the customer says anything telling.
    pub default_language: String,
    pub returns: ReturnPolicy,
    /// Refund timing, return windows by condition or tag ([`ShopPolicy`]).
    pub shop_policy: ShopPolicy,
    pub support: SupportHours,
    pub policy: Policy,
    /// Longer messages are not processed; the customer is asked to shorten them.
    pub max_message_chars: usize,
    /// Wrong verification attempts before the challenge locks for the conversation.
    pub max_verification_attempts: u8,
    /// Failed verification attempts allowed per order, per client address and shop-wide.
    pub verify_limits: VerifyLimits,
    pub clock: Clock,
}

impl std::fmt::Debug for AgentSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSettings")
            .field("shop_name", &self.shop_name)
            .field("default_language", &self.default_language)
            .field("returns", &self.returns)
            .field("support", &self.support)
            .finish_non_exhaustive()
    }
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            shop_name: "our shop".into(),
            shop_url: None,
            default_language: "en".into(),
            returns: ReturnPolicy::default(),
            shop_policy: ShopPolicy::default(),
            support: SupportHours::default(),
            policy: Policy::default(),
            max_message_chars: 4_000,
            max_verification_attempts: 5,
            verify_limits: VerifyLimits::default(),
            clock: system_clock(),
        }
    }
}

impl AgentSettings {
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_windows_follow_tags_then_conditions_then_the_default() {
        let window = |condition: Option<&str>, tag: Option<&str>, days| ReturnWindow {
            condition: condition.map(str::to_owned),
            tag: tag.map(str::to_owned),
            days,
        };
        let policy = ShopPolicy {
            returns: vec![
                window(Some("sealed"), None, 30),
                window(Some("opened"), None, 14),
                window(None, Some("teaware"), 60),
            ],
            ..ShopPolicy::default()
        };
        assert_eq!(policy.window_days(&["Teaware".into()], 30), 60);
        assert_eq!(policy.window_days(&["tea".into()], 45), 30);
        assert_eq!(policy.conditions(), [("sealed", 30), ("opened", 14)]);
        assert_eq!(ShopPolicy::default().window_days(&[], 21), 21);
    }

    #[test]
    fn days_parse_ranges_lists_and_wraparound() {
        assert_eq!(
            SupportHours::parse_days("mon-fri").unwrap(),
            [true, true, true, true, true, false, false]
        );
        assert_eq!(
            SupportHours::parse_days("sat,sun").unwrap(),
            [false, false, false, false, false, true, true]
        );
        assert_eq!(
            SupportHours::parse_days("fri-mon").unwrap(),
            [true, false, false, false, true, true, true]
        );
        assert!(
            SupportHours::parse_days("funday")
                .unwrap_err()
                .contains("funday")
        );
    }

    #[test]
    fn next_open_is_none_during_hours_and_the_next_morning_after() {
        let hours = SupportHours::default();
        let wednesday_noon = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        assert_eq!(hours.next_open(wednesday_noon), None);
        let friday_evening = Utc.with_ymd_and_hms(2026, 11, 27, 19, 0, 0).unwrap();
        let next = hours.next_open(friday_evening).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-30T09:00:00+00:00");
    }
}
