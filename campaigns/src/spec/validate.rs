//! Semantic validation: everything a well-formed campaign file can still get wrong (two
//! schedules, an unknown segment, a template with a misspelt variable …). Every problem
//! is collected, each with the line and column of the offending key or value.

use std::collections::{BTreeMap, BTreeSet};

use handlebars::Handlebars;

use super::diag::{Diagnostic, Pos};
use super::model::*;
use super::parse::parse_with_tree;
use super::suggest;
use super::templates::{
    self, ContentSite, Step, Templates, check_template, content_sites, message_fields,
    sample_context,
};
use super::tree::{KeyPath, Locator};
use crate::segments::{Filter, Range};

/// The eleven RFM groups, always known as segment names.
pub use crate::segments::RFM_GROUPS;

/// What the shop knows that a campaign may refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// Every segment name a campaign may use: the RFM groups and the named segments.
    pub segments: Vec<String>,
    /// Product handles; `None` skips checking them (no catalogue at hand).
    pub products: Option<BTreeSet<String>>,
}

impl Known {
    /// The RFM groups plus `named` segments; products unchecked.
    pub fn with_segments<I, S>(named: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut segments: Vec<String> = RFM_GROUPS.iter().map(|s| (*s).to_owned()).collect();
        segments.extend(named.into_iter().map(Into::into));
        Self {
            segments,
            products: None,
        }
    }
}

/// Parses and validates a campaign file: the campaign, or every problem found.
pub fn validate(file: &str, text: &str, known: &Known) -> Result<Campaign, Vec<Diagnostic>> {
    let (campaign, tree) = parse_with_tree(file, text)?;
    let mut cx = Cx {
        file,
        loc: Locator::new(tree.as_ref()),
        known,
        diags: Vec::new(),
        registry: strict_registry(),
    };
    cx.campaign(&campaign);
    let mut diags = cx.diags;
    diags.sort();
    diags.dedup();
    if diags.is_empty() {
        Ok(campaign)
    } else {
        Err(diags)
    }
}

fn strict_registry() -> Handlebars<'static> {
    let mut r = Handlebars::new();
    r.set_strict_mode(true);
    r.register_escape_fn(handlebars::no_escape);
    r
}

struct Cx<'a> {
    file: &'a str,
    loc: Locator<'a>,
    known: &'a Known,
    diags: Vec<Diagnostic>,
    registry: Handlebars<'static>,
}

fn root() -> KeyPath {
    KeyPath::root()
}

/// `HH:MM`, 00:00 to 23:59.
pub fn parse_hhmm(s: &str) -> Option<(u32, u32)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// `^[a-z0-9][a-z0-9-]{0,63}$`
pub fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Looks like a BCP-47 tag: a 2–3 letter lowercase primary subtag, then `-` subtags of
/// 2–8 letters or digits (`en`, `zh-Hans`, `pt-BR`, `es-419`).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

impl Cx<'_> {
    fn err_at(&mut self, pos: Pos, message: String) {
        self.diags.push(Diagnostic {
            file: self.file.to_owned(),
            line: pos.line,
            column: pos.column,
            message,
        });
    }

    /// At the value of `path` (or its nearest present ancestor's key).
    fn err(&mut self, path: &KeyPath, message: String) {
        let pos = self.loc.value(path);
        self.err_at(pos, message);
    }

    /// At the key of `path`.
    fn err_key(&mut self, path: &KeyPath, message: String) {
        let pos = self.loc.key(path);
        self.err_at(pos, message);
    }

    fn campaign(&mut self, c: &Campaign) {
        let r = root();
        if !is_valid_id(&c.id) {
            self.err(
                &r.k("id"),
                format!(
                    "`id` must be lowercase letters, digits and `-`, starting with a letter or digit, at most 64 characters (found `{}`)",
                    c.id
                ),
            );
        }
        if c.name.trim().is_empty() {
            self.err(&r.k("name"), "`name` is empty".to_owned());
        }
        self.kind(c);
        if let Some(a) = &c.audience {
            self.audience(&r.k("audience"), a);
        }
        if c.kind != Kind::Community && c.channels.is_empty() {
            self.err(
                &r.k("channels"),
                "`channels` is empty: nobody could be reached".to_owned(),
            );
        }
        let mut main_has_rsvp = false;
        for site in content_sites(c) {
            main_has_rsvp |= site.step == Step::Main && has_rsvp(site.content);
            self.content(c, &site);
        }
        if let Some(ls) = &c.livestream
            && ls.rsvp
            && !main_has_rsvp
        {
            self.err(
                &r.k("livestream").k("rsvp"),
                "`rsvp: true` but the announcement has no `action: rsvp` button, so nobody could sign up".to_owned(),
            );
        }
        self.schedule(c);
        if let Some(w) = &c.send_window {
            self.window(&r.k("send_window"), w);
        }
        if let Some(w) = &c.quiet_hours {
            self.window(&r.k("quiet_hours"), w);
        }
        if let Some(cap) = &c.frequency_cap {
            let p = r.k("frequency_cap");
            if cap.max == 0 {
                self.err(
                    &p.k("max"),
                    "`max` must be at least 1 (to send nothing, do not schedule the campaign)"
                        .to_owned(),
                );
            }
            if cap.days == 0 {
                self.err(&p.k("days"), "`days` must be at least 1".to_owned());
            }
        }
        self.variants(c);
        if self.diags.is_empty() {
            self.render_all(c);
        }
    }

    fn kind(&mut self, c: &Campaign) {
        let r = root();
        let kind_at = r.k("kind");
        let k = c.kind.as_str();
        match (c.kind, &c.audience) {
            (Kind::Community, Some(_)) => self.err_key(
                &r.k("audience"),
                "a `community` campaign posts to `community.targets` and has no `audience`; remove it".to_owned(),
            ),
            (Kind::Content | Kind::Livestream, None) => self.err(
                &kind_at,
                format!("a `{k}` campaign needs `audience` (a `segment`, a `filter` or both)"),
            ),
            _ => {}
        }
        match (c.kind, &c.livestream) {
            (Kind::Livestream, None) => self.err(
                &kind_at,
                "a `livestream` campaign needs a `livestream` block (`starts_at`, `url`, `reminder`, `live`)".to_owned(),
            ),
            (Kind::Content | Kind::Community, Some(_)) => self.err_key(
                &r.k("livestream"),
                format!("`livestream` is only for `kind: livestream` (this campaign is `{k}`)"),
            ),
            _ => {}
        }
        match (c.kind, &c.community) {
            (Kind::Community, None) => self.err(
                &kind_at,
                "a `community` campaign needs a `community` block with `targets`".to_owned(),
            ),
            (Kind::Content | Kind::Livestream, Some(_)) => self.err_key(
                &r.k("community"),
                format!("`community` is only for `kind: community` (this campaign is `{k}`)"),
            ),
            _ => {}
        }
        if let Some(ls) = &c.livestream {
            let p = r.k("livestream");
            if !is_http_url(ls.url.trim()) {
                self.err(&p.k("url"), format!("`{}` is not an http(s) URL", ls.url));
            }
            let mut seen = BTreeSet::new();
            for (i, span) in ls.reminders.iter().enumerate() {
                if span.seconds <= 0 {
                    self.err(
                        &p.k("reminders").i(i),
                        "a reminder must be some time before the start, e.g. `1h`".to_owned(),
                    );
                } else if !seen.insert(span.seconds) {
                    self.err(
                        &p.k("reminders").i(i),
                        format!("duplicate reminder `{}`", String::from(*span)),
                    );
                }
            }
            if let Some(at) = c.schedule.at
                && at >= ls.starts_at
            {
                self.err(
                    &r.k("schedule").k("at"),
                    "the announcement is scheduled at or after `livestream.starts_at`".to_owned(),
                );
            }
        }
        if let Some(com) = &c.community {
            let p = r.k("community").k("targets");
            if com.targets.is_empty() {
                self.err(
                    &p,
                    "`targets` is empty: name at least one Telegram or Discord chat".to_owned(),
                );
            }
            for (i, t) in com.targets.iter().enumerate() {
                let tp = p.i(i);
                let chat = t.chat.trim();
                match t.channel {
                    ChannelPref::Telegram => {
                        let ok = chat.strip_prefix('@').is_some_and(|n| {
                            n.len() >= 4
                                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        }) || chat
                            .strip_prefix('-')
                            .unwrap_or(chat)
                            .parse::<u64>()
                            .is_ok();
                        if !ok {
                            self.err(&tp.k("chat"), format!("`{chat}` is not a Telegram chat: use `@channelname` or a numeric chat id"));
                        }
                    }
                    ChannelPref::Discord => {
                        if chat.parse::<u64>().is_err() {
                            self.err(
                                &tp.k("chat"),
                                format!("`{chat}` is not a Discord channel id (a number)"),
                            );
                        }
                    }
                    other => self.err(
                        &tp.k("channel"),
                        format!(
                            "community posts go to `telegram` or `discord`, not `{}`",
                            channel_name(other)
                        ),
                    ),
                }
                if let Some(lang) = &t.language
                    && !c.content.languages.contains_key(lang)
                {
                    let hint = suggest::hint(lang, c.content.languages.keys().map(String::as_str));
                    self.err(
                        &tp.k("language"),
                        format!("`{lang}` is not one of `content.languages`{hint}"),
                    );
                }
            }
        }
    }

    fn audience(&mut self, p: &KeyPath, a: &Audience) {
        if a.segment.is_none() && a.filter.is_none() {
            self.err_key(
                p,
                "`audience` needs a `segment`, a `filter` or both".to_owned(),
            );
        }
        if let Some(s) = &a.segment {
            self.segment_name(&p.k("segment"), s);
        }
        if let Some(f) = &a.filter {
            self.filter(&p.k("filter"), f, 0);
        }
        if a.limit == Some(0) {
            self.err(&p.k("limit"), "`limit` must be at least 1".to_owned());
        }
    }

    fn segment_name(&mut self, p: &KeyPath, name: &str) {
        if !self.known.segments.iter().any(|s| s == name) {
            let hint = suggest::hint(name, self.known.segments.iter().map(String::as_str));
            self.err(
                p,
                format!("unknown segment `{name}`{hint} (segments are the RFM groups and those in the segments file)"),
            );
        }
    }

    fn filter(&mut self, p: &KeyPath, f: &Filter, depth: usize) {
        if let Some(s) = &f.segment {
            self.segment_name(&p.k("segment"), s);
        }
        for (i, g) in f.rfm.iter().enumerate() {
            if !RFM_GROUPS.contains(&g.as_str()) {
                let hint = suggest::hint(g, RFM_GROUPS);
                self.err(&p.k("rfm").i(i), format!("unknown RFM group `{g}`{hint}"));
            }
        }
        for (key, score) in [
            ("recency", f.recency),
            ("frequency", f.frequency),
            ("monetary", f.monetary),
        ] {
            if let Some([lo, hi]) = score {
                if !(1..=5).contains(&lo) || !(1..=5).contains(&hi) {
                    self.err(
                        &p.k(key),
                        format!("`{key}` scores run from 1 to 5 (found [{lo}, {hi}])"),
                    );
                } else if lo > hi {
                    self.err(
                        &p.k(key),
                        format!("`{key}`: the lower score comes first (found [{lo}, {hi}])"),
                    );
                }
            }
        }
        let ranges: [(&str, Option<Range>, f64, f64); 5] = [
            ("orders", f.orders, 0.0, f64::MAX),
            ("last_order_days", f.last_order_days, 0.0, f64::MAX),
            ("average_order_value", f.average_order_value, 0.0, f64::MAX),
            ("spent", f.spent, 0.0, f64::MAX),
            ("churn_risk", f.churn_risk, 0.0, 1.0),
        ];
        for (key, range, lo, hi) in ranges {
            let Some(r) = range else { continue };
            let rp = p.k(key);
            for (end, v) in [("min", r.min), ("max", r.max)] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= lo && v <= hi)
                {
                    let limits = if hi == f64::MAX {
                        "0 or more".to_owned()
                    } else {
                        format!("{lo} to {hi}")
                    };
                    self.err(
                        &rp.k(end),
                        format!("`{key}.{end}` must be {limits} (found {v})"),
                    );
                }
            }
            if let (Some(min), Some(max)) = (r.min, r.max)
                && min > max
            {
                self.err(
                    &rp.k("min"),
                    format!("`{key}`: `min` ({min}) is greater than `max` ({max})"),
                );
            }
        }
        for (i, c) in f.country.iter().enumerate() {
            if !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic())) {
                self.err(
                    &p.k("country").i(i),
                    format!("`{c}` is not an ISO country code such as `DE` or `SG`"),
                );
            }
        }
        for (i, l) in f.language.iter().enumerate() {
            if !is_language_tag(l) {
                self.err(
                    &p.k("language").i(i),
                    format!("`{l}` is not a language code such as `en` or `zh`"),
                );
            }
        }
        for (i, tz) in f.time_zone.iter().enumerate() {
            if tz.parse::<chrono_tz::Tz>().is_err() {
                self.err(
                    &p.k("time_zone").i(i),
                    format!("`{tz}` is not an IANA time zone such as `Asia/Singapore`"),
                );
            }
        }
        if depth >= 32 {
            self.err_key(p, "filters are nested too deeply".to_owned());
            return;
        }
        for (i, g) in f.any.iter().enumerate() {
            self.filter(&p.k("any").i(i), g, depth + 1);
        }
        for (i, g) in f.not.iter().enumerate() {
            self.filter(&p.k("not").i(i), g, depth + 1);
        }
    }

    fn product(&mut self, p: &KeyPath, handle: &str) {
        if let Some(products) = &self.known.products
            && !products.contains(handle)
        {
            let hint = suggest::hint(handle, products.iter().map(String::as_str));
            self.err(p, format!("unknown product `{handle}`{hint}"));
        }
    }

    fn content(&mut self, c: &Campaign, site: &ContentSite<'_>) {
        let p = &site.path;
        let content = site.content;
        if content.languages.is_empty() {
            self.err(
                &p.k("languages"),
                "`languages` is empty: add at least one language".to_owned(),
            );
        } else if !content.languages.contains_key(&content.fallback_language) {
            let hint = suggest::hint(
                &content.fallback_language,
                content.languages.keys().map(String::as_str),
            );
            let have = content
                .languages
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.err(
                &p.k("fallback_language"),
                format!(
                    "fallback language `{}` has no message in `languages`{hint} (it has {have})",
                    content.fallback_language
                ),
            );
        }
        let livestream = templates::has_livestream(c.kind) && c.livestream.is_some();
        for (lang, message) in &content.languages {
            let mp = p.k("languages").k(lang);
            if !is_language_tag(lang) {
                self.err_key(&mp, format!("`{lang}` is not a language tag: use a code such as `en`, `zh-Hans` or `pt-BR`"));
            }
            self.message(c, &mp, message, livestream, site.step);
        }
    }

    fn message(&mut self, c: &Campaign, mp: &KeyPath, m: &Message, livestream: bool, step: Step) {
        if m.text.trim().is_empty() {
            self.err(&mp.k("text"), "`text` is empty".to_owned());
        }
        for (i, b) in m.buttons.iter().enumerate() {
            let bp = mp.k("buttons").i(i);
            match (&b.url, b.action) {
                (Some(_), Some(_)) => self.err_key(
                    &bp.k("action"),
                    "a button has `url` or `action`, not both".to_owned(),
                ),
                (None, None) => self.err(
                    &bp,
                    "a button needs `url` (a link) or `action` (`rsvp`, `unsubscribe`)".to_owned(),
                ),
                _ => {}
            }
            if b.action == Some(ButtonAction::Rsvp) && c.kind != Kind::Livestream {
                self.err(
                    &bp.k("action"),
                    format!("an `rsvp` button only makes sense in a livestream campaign (this one is `{}`)", c.kind.as_str()),
                );
            }
            if b.action == Some(ButtonAction::Rsvp) && step != Step::Main {
                self.err(
                    &bp.k("action"),
                    "the `rsvp` button belongs in the announcement (`content`)".to_owned(),
                );
            }
            if b.label.trim().is_empty() {
                self.err(&bp.k("label"), "`label` is empty".to_owned());
            }
        }
        for (i, h) in m.products.iter().enumerate() {
            self.product(&mp.k("products").i(i), h);
        }
        let ls = if livestream {
            c.livestream.as_ref()
        } else {
            None
        };
        let sample = sample_context(ls, &m.products);
        for field in message_fields(mp, m) {
            let problems = check_template(field.source, livestream);
            if !problems.is_empty() {
                for problem in problems {
                    self.err(&field.path, problem);
                }
                continue;
            }
            let Ok(template) = templates::compile(field.source) else {
                continue;
            };
            let name = field.path.to_string();
            self.registry.register_template(&name, template);
            match self.registry.render(&name, &sample) {
                Err(e) => self.err(
                    &field.path,
                    format!("does not render for a sample customer: {e}"),
                ),
                Ok(rendered) => {
                    let key = field.path.last_key();
                    if matches!(key, Some("url" | "image")) && !is_http_url(rendered.trim()) {
                        self.err(
                            &field.path,
                            format!("`{}` is not an http(s) URL", field.source.trim()),
                        );
                    }
                }
            }
        }
    }

    fn schedule(&mut self, c: &Campaign) {
        let p = root().k("schedule");
        let s = &c.schedule;
        let given: Vec<&str> = [
            ("at", s.at.is_some()),
            ("repeat", s.repeat.is_some()),
            ("trigger", s.trigger.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        match given.as_slice() {
            [] => self.err_key(&p, "`schedule` needs one of `at`, `repeat` or `trigger`".to_owned()),
            [_] => {}
            [first, second, ..] => self.err_key(
                &p.k(second),
                format!("`schedule` takes exactly one of `at`, `repeat` or `trigger`, not both `{first}` and `{second}`"),
            ),
        }
        if let Some(r) = &s.repeat {
            let rp = p.k("repeat");
            self.hhmm(&rp.k("time"), &r.time);
            if !r.days.is_empty() && r.every != Every::Week {
                self.err_key(&rp.k("days"), "`days` is only for `every: week`".to_owned());
            }
            if let (Some(from), Some(until)) = (r.from, r.until)
                && until < from
            {
                self.err(
                    &rp.k("until"),
                    format!("`until` ({until}) is before `from` ({from})"),
                );
            }
        }
        if let Some(t) = &s.trigger {
            let tp = p.k("trigger");
            if c.kind == Kind::Community {
                self.err_key(&tp, "a community post goes to chats, not to one customer: schedule it with `at` or `repeat`".to_owned());
            }
            let event = match t.event {
                TriggerEvent::AbandonedCart => "abandoned_cart",
                TriggerEvent::Delivered => "delivered",
                TriggerEvent::ChurnRisk => "churn_risk",
                TriggerEvent::BackInStock => "back_in_stock",
            };
            if matches!(
                t.event,
                TriggerEvent::Delivered | TriggerEvent::AbandonedCart
            ) && t.after.is_none()
            {
                self.err_key(&tp, format!("`event: {event}` needs `after` (how long after the event, e.g. `after: 7d`)"));
            }
            match (t.event, t.threshold) {
                (TriggerEvent::ChurnRisk, None) => self.err_key(
                    &tp,
                    "`event: churn_risk` needs `threshold` (a score from 0 to 1, e.g. `0.7`)"
                        .to_owned(),
                ),
                (TriggerEvent::ChurnRisk, Some(th)) if !(0.0..=1.0).contains(&th) => self.err(
                    &tp.k("threshold"),
                    format!("`threshold` is a score from 0 to 1 (found {th})"),
                ),
                (TriggerEvent::ChurnRisk, _) | (_, None) => {}
                (_, Some(_)) => self.err_key(
                    &tp.k("threshold"),
                    "`threshold` is only for `event: churn_risk`".to_owned(),
                ),
            }
            if !t.products.is_empty() && t.event != TriggerEvent::BackInStock {
                self.err_key(
                    &tp.k("products"),
                    "`products` is only for `event: back_in_stock`".to_owned(),
                );
            }
            for (i, h) in t.products.iter().enumerate() {
                self.product(&tp.k("products").i(i), h);
            }
        }
    }

    fn hhmm(&mut self, p: &KeyPath, s: &str) {
        if parse_hhmm(s).is_none() {
            self.err(
                p,
                format!("`{s}` is not a time of day: write `HH:MM`, from 00:00 to 23:59"),
            );
        }
    }

    fn window(&mut self, p: &KeyPath, w: &Window) {
        self.hhmm(&p.k("start"), &w.start);
        self.hhmm(&p.k("end"), &w.end);
        if parse_hhmm(&w.start).is_some() && w.start == w.end {
            self.err(
                &p.k("end"),
                "the window is empty: `start` and `end` are the same".to_owned(),
            );
        }
    }

    fn variants(&mut self, c: &Campaign) {
        let p = root().k("variants");
        if c.variants.is_empty() {
            return;
        }
        if c.kind == Kind::Community {
            self.err_key(
                &p,
                "community posts have no audience to split: remove `variants`".to_owned(),
            );
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut controls = 0;
        for (i, v) in c.variants.iter().enumerate() {
            let vp = p.i(i);
            let line = self.loc.value(&vp.k("id")).line;
            if let Some(first) = seen.get(v.id.as_str()) {
                self.err(
                    &vp.k("id"),
                    format!(
                        "duplicate variant id `{}` (first used on line {first})",
                        v.id
                    ),
                );
            } else {
                seen.insert(&v.id, line);
            }
            if v.id.is_empty()
                || v.id.len() > 32
                || !v
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                self.err(
                    &vp.k("id"),
                    format!(
                        "variant id `{}` must be 1–32 lowercase letters, digits, `-` or `_`",
                        v.id
                    ),
                );
            }
            if v.weight == 0 {
                self.err(&vp.k("weight"), "`weight` must be at least 1".to_owned());
            }
            if v.control {
                controls += 1;
                if controls > 1 {
                    self.err(
                        &vp.k("control"),
                        "at most one variant can be the control".to_owned(),
                    );
                }
                if v.content.is_some() {
                    self.err_key(
                        &vp.k("content"),
                        "a control arm receives nothing: remove its `content`".to_owned(),
                    );
                }
            }
        }
        if c.variants.iter().all(|v| v.control) {
            self.err_key(
                &p,
                "every variant is a control: nobody would receive the message".to_owned(),
            );
        }
    }

    /// Compiles the whole campaign as the planner will and renders every message of every
    /// step, variant and language for the sample customer.
    fn render_all(&mut self, c: &Campaign) {
        let templates = match Templates::new(c) {
            Ok(t) => t,
            Err(failures) => {
                for f in failures {
                    let pos = self.pos_of_field(c, &f.field);
                    self.err_at(pos, f.message);
                }
                return;
            }
        };
        let ls = if c.kind == Kind::Livestream {
            c.livestream.as_ref()
        } else {
            None
        };
        for site in content_sites(c) {
            for (lang, m) in &site.content.languages {
                let ctx = sample_context(ls, &m.products);
                if let Err(e) = templates.render(site.step, site.variant, lang, &ctx) {
                    let pos = self.pos_of_field(c, &e.field);
                    self.err_at(
                        pos,
                        format!("does not render for a sample customer: {}", e.message),
                    );
                }
            }
        }
    }

    fn pos_of_field(&self, c: &Campaign, field: &str) -> Pos {
        for site in content_sites(c) {
            for (lang, m) in &site.content.languages {
                for f in message_fields(&site.path.k("languages").k(lang), m) {
                    if f.path.to_string() == field {
                        return self.loc.value(&f.path);
                    }
                }
            }
        }
        Pos::START
    }
}

fn has_rsvp(content: &Content) -> bool {
    content.languages.values().any(|m| {
        m.buttons
            .iter()
            .any(|b| b.action == Some(ButtonAction::Rsvp))
    })
}

fn channel_name(c: ChannelPref) -> &'static str {
    match c {
        ChannelPref::Telegram => "telegram",
        ChannelPref::Discord => "discord",
        ChannelPref::Email => "email",
        ChannelPref::Web => "web",
        ChannelPref::Preferred => "preferred",
        ChannelPref::LastActive => "last_active",
    }
}

/// The campaign file format as JSON Schema (draft 2020-12), for editors and CI.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Campaign);
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_times_and_tags() {
        assert!(is_valid_id("spring-tea-2026"));
        assert!(!is_valid_id("Spring"));
        assert!(!is_valid_id("-x"));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert_eq!(parse_hhmm("09:30"), Some((9, 30)));
        assert_eq!(parse_hhmm("24:00"), None);
        assert_eq!(parse_hhmm("9:30"), None);
        assert!(is_language_tag("zh-Hans"));
        assert!(is_language_tag("pt-BR"));
        assert!(is_language_tag("es-419"));
        assert!(!is_language_tag("english"));
        assert!(!is_language_tag("EN"));
        assert!(is_http_url("https://lotusandpine.example/x?y=1"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("https://"));
    }

    #[test]
    fn the_schema_describes_the_top_level_keys() {
        let s = json_schema();
        let props = s.get("properties").and_then(|p| p.as_object());
        assert!(props.is_some_and(|p| p.contains_key("schedule") && p.contains_key("variants")));
    }
}
