//! The pure rules a plan applies to each recipient: when their local day allows a
//! message, which experiment arm they are in, whether the shared frequency cap leaves
//! room, and how long a channel needs to deliver a batch within its limits.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::spec::{FrequencyCap, Variant, Window};

/// A window of the local day; `start > end` wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl LocalWindow {
    pub fn parse(w: &Window) -> Result<Self, String> {
        Ok(Self {
            start: hhmm(&w.start)?,
            end: hhmm(&w.end)?,
        })
    }

    /// Whether a local time of day falls inside the window (start inclusive, end
    /// exclusive). An empty window (`start == end`) contains nothing.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// `HH:MM` (24-hour clock).
pub fn hhmm(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| format!("`{s}` is not a time of day: write HH:MM, e.g. 09:30"))
}

/// When the message may go out: `at` itself, or the first instant after it that is
/// inside `send_window` (when given) and outside `quiet` (when given), in the
/// recipient's time zone. Searches minute by minute over at most two days of local time,
/// which crosses any day boundary and DST change; `None` when no instant qualifies
/// (a send window entirely inside the quiet hours).
pub fn next_allowed(
    at: DateTime<Utc>,
    tz: Tz,
    send_window: Option<LocalWindow>,
    quiet: Option<LocalWindow>,
) -> Option<DateTime<Utc>> {
    let allowed = |t: DateTime<Utc>| {
        let local = t.with_timezone(&tz).time();
        send_window.is_none_or(|w| w.contains(local)) && quiet.is_none_or(|q| !q.contains(local))
    };
    if allowed(at) {
        return Some(at);
    }
    // Jump to the next whole minute, then to window edges: the answer is always an edge
    // (the end of the quiet hours or the start of the send window) converted from local
    // time, but DST gaps make a conversion fail, so step through candidates in order.
    let mut candidates: Vec<DateTime<Utc>> = Vec::new();
    let local_date = at.with_timezone(&tz).date_naive();
    for day in 0..3 {
        let date = local_date + Duration::days(day);
        for edge in [send_window.map(|w| w.start), quiet.map(|q| q.end)]
            .into_iter()
            .flatten()
        {
            let naive = date.and_time(edge);
            // A time skipped by a DST change: take the first instant after the gap.
            let resolved = match tz.from_local_datetime(&naive) {
                chrono::LocalResult::Single(t) => Some(t),
                chrono::LocalResult::Ambiguous(a, _) => Some(a),
                chrono::LocalResult::None => (1..=180).find_map(|m| {
                    tz.from_local_datetime(&(naive + Duration::minutes(m)))
                        .earliest()
                }),
            };
            if let Some(t) = resolved {
                let t = t.with_timezone(&Utc);
                if t > at {
                    candidates.push(t);
                }
            }
        }
    }
    candidates.sort();
    candidates.into_iter().find(|t| allowed(*t))
}

/// The experiment arm of a recipient: a stable hash of campaign and recipient, spread in
/// proportion to the weights. `None` without variants.
pub fn assign_variant<'v>(
    campaign: &str,
    recipient: i64,
    variants: &'v [Variant],
) -> Option<&'v Variant> {
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut hash = Sha256::new();
    hash.update(campaign.as_bytes());
    hash.update(b"\0");
    hash.update(recipient.to_le_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let mut point = u64::from_le_bytes(first) % total;
    for v in variants {
        let w = u64::from(v.weight);
        if point < w {
            return Some(v);
        }
        point -= w;
    }
    variants.last()
}

/// Whether one more marketing message at `at` keeps every `cap.days`-long window at or
/// under `cap.max`, given the customer's other marketing messages (`times`, any order).
pub fn cap_allows(cap: FrequencyCap, times: &[DateTime<Utc>], at: DateTime<Utc>) -> bool {
    if cap.max == 0 {
        return false;
    }
    let span = Duration::days(i64::from(cap.days));
    let mut near: Vec<DateTime<Utc>> = times
        .iter()
        .copied()
        .filter(|t| (*t - at).abs() < span)
        .collect();
    if near.len() < cap.max as usize {
        return true;
    }
    near.push(at);
    near.sort();
    // Every window containing `at`: slide over the sorted times, counting those within
    // `span` of a window start that is not after `at`.
    let max = cap.max as usize;
    for (i, start) in near.iter().enumerate() {
        if *start > at {
            break;
        }
        let count = near[i..].iter().take_while(|t| **t - *start < span).count();
        if count > max {
            return false;
        }
    }
    true
}

/// When each message of a channel goes out if sent in due order at `per_second`: the
/// finishing time of the last one and the largest delay behind its due time.
pub fn simulate_delivery(
    due: &mut [DateTime<Utc>],
    per_second: f64,
) -> Option<(DateTime<Utc>, Duration)> {
    if due.is_empty() || per_second <= 0.0 {
        return None;
    }
    due.sort();
    let gap = Duration::microseconds((1_000_000.0 / per_second).round() as i64);
    let mut clock = due[0];
    let mut worst = Duration::zero();
    for d in due.iter() {
        if *d > clock {
            clock = *d;
        }
        worst = worst.max(clock - *d);
        clock += gap;
    }
    Some((clock, worst))
}

/// A duration as people read it: `45s`, `12m 5s`, `3h 20m`, `2d 4h`.
pub fn human(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn w(a: &str, b: &str) -> LocalWindow {
        LocalWindow {
            start: hhmm(a).unwrap(),
            end: hhmm(b).unwrap(),
        }
    }

    #[test]
    fn quiet_hours_wrap_midnight() {
        let q = w("21:00", "09:00");
        assert!(q.contains(hhmm("23:30").unwrap()));
        assert!(q.contains(hhmm("03:00").unwrap()));
        assert!(!q.contains(hhmm("09:00").unwrap()));
        assert!(!q.contains(hhmm("12:00").unwrap()));
    }

    #[test]
    fn deferred_to_the_end_of_local_quiet_hours() {
        let quiet = Some(w("21:00", "09:00"));
        // 14:00 UTC is 22:00 in Shanghai: deferred to 09:00 the next local day.
        let at = t("2026-12-01T14:00:00Z");
        let shanghai = next_allowed(at, chrono_tz::Asia::Shanghai, None, quiet).unwrap();
        assert_eq!(shanghai, t("2026-12-02T01:00:00Z"));
        // The same instant is 09:00 in New York: sent at once.
        assert_eq!(
            next_allowed(at, chrono_tz::America::New_York, None, quiet),
            Some(at)
        );
        // 03:00 in Los Angeles, still the previous calendar day there: 09:00 that day.
        let la = next_allowed(
            t("2026-12-01T11:00:00Z"),
            chrono_tz::America::Los_Angeles,
            None,
            quiet,
        )
        .unwrap();
        assert_eq!(la, t("2026-12-01T17:00:00Z"));
    }

    #[test]
    fn send_window_and_quiet_hours_together() {
        // Window 10:00-12:00, quiet hours 21:00-09:00: at 13:00 local, next day 10:00.
        let at = t("2026-12-01T13:00:00Z");
        let next = next_allowed(
            at,
            chrono_tz::UTC,
            Some(w("10:00", "12:00")),
            Some(w("21:00", "09:00")),
        )
        .unwrap();
        assert_eq!(next, t("2026-12-02T10:00:00Z"));
        // A window entirely inside the quiet hours never opens.
        assert_eq!(
            next_allowed(
                at,
                chrono_tz::UTC,
                Some(w("22:00", "23:00")),
                Some(w("21:00", "09:00"))
            ),
            None
        );
    }

    #[test]
    fn dst_gap_moves_past_it() {
        // Europe/Berlin springs forward 2026-03-29 02:00 -> 03:00. A send window opening
        // at 02:30 local that day opens when the gap ends: 03:00 local (01:00 UTC).
        let at = t("2026-03-28T23:00:00Z"); // 00:00 local
        let next = next_allowed(
            at,
            chrono_tz::Europe::Berlin,
            Some(w("02:30", "05:00")),
            None,
        )
        .unwrap();
        assert_eq!(next, t("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn variants_follow_weights_and_are_stable() {
        let v = |id: &str, weight| Variant {
            id: id.into(),
            weight,
            control: false,
            content: None,
        };
        let arms = vec![v("a", 3), v("b", 1)];
        let mut a = 0;
        for r in 0..20_000 {
            let got = assign_variant("c1", r, &arms).unwrap();
            assert_eq!(got.id, assign_variant("c1", r, &arms).unwrap().id);
            if got.id == "a" {
                a += 1;
            }
        }
        // 75 % ± 1.5 %.
        assert!((14_700..=15_300).contains(&a), "{a}");
        assert!(assign_variant("c1", 1, &[]).is_none());
    }

    #[test]
    fn frequency_cap_counts_any_window() {
        let cap = FrequencyCap { max: 2, days: 7 };
        let day = |d: u32| t(&format!("2026-12-{d:02}T10:00:00Z"));
        assert!(cap_allows(cap, &[], day(5)));
        assert!(cap_allows(cap, &[day(1)], day(5)));
        assert!(!cap_allows(cap, &[day(1), day(3)], day(5)));
        // Day 1 and day 10 are 9 days apart: day 5 makes two in [1, 8) and two in [5, 12).
        assert!(cap_allows(cap, &[day(1), day(10)], day(5)));
        // Day 4 and 10: day 7 makes three in [4, 11).
        assert!(!cap_allows(cap, &[day(4), day(10)], day(7)));
        assert!(!cap_allows(FrequencyCap { max: 0, days: 7 }, &[], day(5)));
    }

    #[test]
    fn delivery_takes_count_over_rate() {
        let start = t("2026-12-01T10:00:00Z");
        let mut due = vec![start; 300];
        let (end, worst) = simulate_delivery(&mut due, 30.0).unwrap();
        // One every 33,333 µs: the 300th leaves 299 gaps after the first.
        assert_eq!(end, start + Duration::microseconds(300 * 33_333));
        assert_eq!(worst, Duration::microseconds(299 * 33_333));
        assert_eq!(human(Duration::seconds(3 * 3600 + 20 * 60)), "3h 20m");
    }
}
