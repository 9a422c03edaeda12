//! Delivery: the dispatcher takes due outbox rows one at a time per worker, sends them
//! through the channel's [`Sender`] (which keeps the channel's limits, support first),
//! and records each result on its row before taking the next. A row is marked `sending`
//! only while its message is on its way, so a crash can repeat at most the messages in
//! flight at that instant: `campaigns.in_flight` of them (1 by default).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{Duration, Utc};
use kefu_bot::shop::Channel;
use kefu_bot::store::{CampaignState, OutboxRow, Store, StoreError, row_state};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where `{{unsubscribe_url}}` stands in a rendered message until it is sent: the
/// link names the outbox row, whose id is only known once the row is written.
pub const UNSUBSCRIBE_MARK: &str = "\u{E000}unsubscribe_url\u{E000}";

/// A rendered message as the outbox keeps it. Links are the original targets; the
/// dispatcher rewrites them to tracked links when it sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<PayloadButton>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<Card>,
    /// Only sent to customers who pressed the campaign's RSVP button.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_rsvp: bool,
    /// Pin the post (community posts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin: bool,
    /// Set when sending ([`Payload::tracked`]): the recipient's one-click unsubscribe
    /// link, and their RSVP link when the message has an RSVP button, for channels
    /// whose buttons cannot call the bot (e-mail, Discord, the widget).
    #[serde(skip)]
    pub unsubscribe_url: Option<String>,
    #[serde(skip)]
    pub rsvp_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadButton {
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `rsvp` or `unsubscribe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// A product card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub title: String,
    pub price: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Payload {
    /// The message's links in a fixed order (buttons, then cards): a tracked link names
    /// its target by this position.
    pub fn links(&self) -> Vec<&str> {
        self.buttons
            .iter()
            .filter_map(|b| b.url.as_deref())
            .filter(|u| !u.contains(UNSUBSCRIBE_MARK))
            .chain(self.cards.iter().map(|c| c.url.as_str()))
            .collect()
    }

    /// Where a button leads on a channel whose buttons are links: its own link, or the
    /// one-click link of its action (RSVP, unsubscribe) once [`Payload::tracked`] set it.
    pub fn button_url<'a>(&'a self, button: &'a PayloadButton) -> Option<&'a str> {
        match (button.url.as_deref(), button.action.as_deref()) {
            (Some(url), _) => Some(url),
            (None, Some("rsvp")) => self.rsvp_url.as_deref(),
            (None, Some("unsubscribe")) => self.unsubscribe_url.as_deref(),
            _ => None,
        }
    }

    /// The same message with every link replaced by a tracked link for outbox row `row`.
    /// A message to one customer (`personal`) also gets their one-click links, which
    /// stand wherever the campaign wrote `{{unsubscribe_url}}`; a post in a group or
    /// channel gets none (anyone there could press them).
    pub fn tracked(&self, row: i64, personal: bool, links: &LinkBase) -> Payload {
        let mut out = self.clone();
        let unsubscribe = personal.then(|| links.action_url(Action::Unsubscribe, row));
        let put = |text: &mut String| {
            if text.contains(UNSUBSCRIBE_MARK) {
                *text = text.replace(UNSUBSCRIBE_MARK, unsubscribe.as_deref().unwrap_or(""));
            }
        };
        put(&mut out.text);
        if let Some(subject) = &mut out.subject {
            put(subject);
        }
        let mut n = 0usize;
        out.buttons.retain_mut(|b| match &mut b.url {
            // An unsubscribe button written as a link: the recipient's own, not tracked.
            Some(url) if url.contains(UNSUBSCRIBE_MARK) => match &unsubscribe {
                Some(u) => {
                    *url = u.clone();
                    true
                }
                None => false,
            },
            Some(url) => {
                *url = links.url(row, n);
                n += 1;
                true
            }
            None => true,
        });
        for c in out.cards.iter_mut() {
            c.url = links.url(row, n);
            n += 1;
        }
        out.unsubscribe_url = unsubscribe;
        if personal
            && out
                .buttons
                .iter()
                .any(|b| b.action.as_deref() == Some("rsvp"))
        {
            out.rsvp_url = Some(links.action_url(Action::Rsvp, row));
        }
        out
    }
}

/// Where tracked links point: `{base}/l/{row}.{n}.{tag}`, the tag a keyed hash so
/// links cannot be made up by counting.
#[derive(Debug, Clone)]
pub struct LinkBase {
    pub base: String,
    pub key: Vec<u8>,
}

impl LinkBase {
    pub fn url(&self, row: i64, n: usize) -> String {
        format!(
            "{}/l/{row}.{n}.{}",
            self.base.trim_end_matches('/'),
            self.tag(row, n)
        )
    }

    fn tag(&self, row: i64, n: usize) -> String {
        let mut h = Sha256::new();
        h.update(&self.key);
        h.update(row.to_le_bytes());
        h.update((n as u64).to_le_bytes());
        h.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The link that does `action` for outbox row `row`: `{base}/{path}/{row}.{tag}`.
    pub fn action_url(&self, action: Action, row: i64) -> String {
        format!(
            "{}/{}/{row}.{}",
            self.base.trim_end_matches('/'),
            action.path(),
            self.action_tag(action, row)
        )
    }

    fn action_tag(&self, action: Action, row: i64) -> String {
        let mut h = Sha256::new();
        h.update(&self.key);
        h.update(action.path().as_bytes());
        h.update(row.to_le_bytes());
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The outbox row of an action link's last path segment, when its tag is right.
    pub fn parse_action(&self, action: Action, segment: &str) -> Option<i64> {
        let (row, tag) = segment.split_once('.')?;
        let row: i64 = row.parse().ok()?;
        (tag == self.action_tag(action, row)).then_some(row)
    }

    /// The row and link number of a tracked link's last path segment, when its tag is
    /// right.
    pub fn parse(&self, segment: &str) -> Option<(i64, usize)> {
        let mut parts = segment.split('.');
        let row: i64 = parts.next()?.parse().ok()?;
        let n: usize = parts.next()?.parse().ok()?;
        let tag = parts.next()?;
        (parts.next().is_none() && tag == self.tag(row, n)).then_some((row, n))
    }
}

/// What a one-click link in a campaign message does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stops marketing messages to this address on this channel.
    Unsubscribe,
    /// Signs the customer up for a livestream's reminders.
    Rsvp,
}

impl Action {
    /// The link's first path segment.
    pub fn path(self) -> &'static str {
        match self {
            Action::Unsubscribe => "u",
            Action::Rsvp => "rsvp",
        }
    }
}

/// Why a send did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying later (network, 5xx, timeouts).
    Transient(String),
    /// Will never work (chat not found, bot blocked, bad address): a dead letter.
    Permanent(String),
    /// The recipient opted out: skipped.
    OptedOut(String),
}

/// One channel's outbound side, within its limits. Implemented by the channel adapters.
#[async_trait]
pub trait Sender: Send + Sync {
    fn channel(&self) -> Channel;
    /// Sends one message; returns the channel's id for it.
    async fn send(&self, row: &OutboxRow, message: &Payload) -> Result<String, SendError>;
}

/// What the dispatcher did, for progress displays.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
}

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// Names this process in leases (unique per replica).
    pub owner: String,
    pub in_flight: usize,
    pub max_attempts: u32,
    /// How long a claimed row stays ours without renewal. Renewed every third of it
    /// while the process lives; after a crash, its row is sent again once this passes.
    pub lease: Duration,
    pub links: LinkBase,
}

/// Sends due outbox rows.
pub struct Dispatcher {
    store: Store,
    /// Rows on their way right now: only their leases are renewed, so a row whose
    /// worker failed is recovered once its lease runs out.
    in_flight: std::sync::Mutex<std::collections::HashSet<i64>>,
    senders: HashMap<Channel, Arc<dyn Sender>>,
    options: DispatchOptions,
    pub counters: Arc<Counters>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("channels", &self.senders.keys().collect::<Vec<_>>())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    pub fn new(store: Store, senders: Vec<Arc<dyn Sender>>, options: DispatchOptions) -> Self {
        Self {
            store,
            in_flight: std::sync::Mutex::new(std::collections::HashSet::new()),
            senders: senders.into_iter().map(|s| (s.channel(), s)).collect(),
            options,
            counters: Arc::new(Counters::default()),
        }
    }

    /// Runs until `stop` resolves, or — with `until_finished` — until that campaign is no
    /// longer running (finished, cancelled or paused).
    pub async fn run(
        self: Arc<Self>,
        until_finished: Option<String>,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), StoreError> {
        tokio::pin!(stop);
        self.store.recover_outbox(Utc::now()).await?;
        let workers: Vec<_> = (0..self.options.in_flight.max(1))
            .map(|_| {
                let me = self.clone();
                tokio::spawn(async move { me.work().await })
            })
            .collect();
        let watch = async {
            let mut last_recovery = Utc::now();
            let mut last_renewal = Utc::now();
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let now = Utc::now();
                if now - last_renewal > self.options.lease / 3 {
                    let rows: Vec<i64> = self.sending().iter().copied().collect();
                    self.store
                        .renew_leases(&self.options.owner, &rows, now + self.options.lease)
                        .await?;
                    last_renewal = now;
                }
                if now - last_recovery > self.options.lease / 3 {
                    self.store.recover_outbox(now).await?;
                    last_recovery = now;
                }
                if let Some(id) = &until_finished {
                    self.store.finish_campaign_if_done(id).await?;
                    match self.store.campaign(id).await? {
                        Some(c) if c.state == CampaignState::Running => {}
                        _ => return Ok::<(), StoreError>(()),
                    }
                } else {
                    self.finish_done().await?;
                }
            }
        };
        let result = tokio::select! {
            r = watch => r,
            () = &mut stop => Ok(()),
        };
        for w in &workers {
            w.abort();
        }
        // A worker stopped mid-send leaves its row `sending`; its lease runs out and the
        // next dispatcher sends it (the one case of a possible duplicate).
        result
    }

    fn sending(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<i64>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn finish_done(&self) -> Result<(), StoreError> {
        for c in self.store.campaigns().await? {
            if c.state == CampaignState::Running {
                self.store.finish_campaign_if_done(&c.id).await?;
            }
        }
        Ok(())
    }

    async fn work(&self) {
        loop {
            match self.step().await {
                Ok(true) => {}
                Ok(false) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                Err(e) => {
                    tracing::error!(error = %e, "campaign delivery: storage failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Claims and sends one due row. `false` when none was due.
    pub async fn step(&self) -> Result<bool, StoreError> {
        let now = Utc::now();
        let rows = self
            .store
            .claim_outbox(&self.options.owner, now, self.options.lease, 1)
            .await?;
        if rows.is_empty() {
            return Ok(false);
        }
        for row in rows {
            let id = row.id;
            self.sending().insert(id);
            let result = self.deliver(row).await;
            self.sending().remove(&id);
            result?;
        }
        Ok(true)
    }

    async fn deliver(&self, row: OutboxRow) -> Result<(), StoreError> {
        let owner = &self.options.owner;
        let payload: Payload = match serde_json::from_str(&row.payload) {
            Ok(p) => p,
            Err(e) => {
                self.store
                    .outbox_give_up(
                        row.id,
                        owner,
                        row_state::FAILED,
                        &format!("unreadable message: {e}"),
                    )
                    .await?;
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        };
        if let Some(reason) = self.opted_out(&row, &payload).await? {
            self.store
                .outbox_give_up(row.id, owner, row_state::SKIPPED, &reason)
                .await?;
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let sender = row
            .channel
            .parse::<Channel>()
            .ok()
            .and_then(|c| self.senders.get(&c));
        let Some(sender) = sender else {
            let reason = format!("channel {} is not enabled", row.channel);
            self.store
                .outbox_give_up(row.id, owner, row_state::FAILED, &reason)
                .await?;
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let personal = row.marketing && row.customer_id.is_some();
        let message = payload.tracked(row.id, personal, &self.options.links);
        match sender.send(&row, &message).await {
            Ok(external) => {
                if !self
                    .store
                    .outbox_sent(row.id, owner, &external, Utc::now())
                    .await?
                {
                    tracing::warn!(
                        row = row.id,
                        "campaign delivery: lease lost before the result was recorded"
                    );
                }
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(SendError::OptedOut(reason)) => {
                self.store
                    .outbox_give_up(row.id, owner, row_state::SKIPPED, &reason)
                    .await?;
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            }
            Err(SendError::Permanent(reason)) => {
                self.store
                    .outbox_give_up(row.id, owner, row_state::FAILED, &reason)
                    .await?;
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(SendError::Transient(reason)) => {
                if row.attempts >= i64::from(self.options.max_attempts) {
                    let reason = format!("{reason} (gave up after {} attempts)", row.attempts);
                    self.store
                        .outbox_give_up(row.id, owner, row_state::FAILED, &reason)
                        .await?;
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                } else {
                    let retry_at = Utc::now() + backoff(row.attempts, row.id);
                    self.store
                        .outbox_retry(row.id, owner, &reason, retry_at)
                        .await?;
                    self.counters.retried.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Why a row must not be sent any more: the recipient unsubscribed or withdrew
    /// consent after planning, or did not RSVP.
    async fn opted_out(
        &self,
        row: &OutboxRow,
        payload: &Payload,
    ) -> Result<Option<String>, StoreError> {
        let Ok(channel) = row.channel.parse::<Channel>() else {
            return Ok(None);
        };
        if row.marketing {
            if let Some(s) = self.store.subscription(channel, &row.address).await?
                && !s.subscribed
            {
                return Ok(Some(format!("unsubscribed ({})", s.source)));
            }
            if let Some(customer) = row.customer_id {
                let consents = self.store.consents(customer).await?;
                if consents.iter().any(|c| c.channel == channel && !c.granted) {
                    return Ok(Some("consent withdrawn".into()));
                }
            }
        }
        if payload.requires_rsvp
            && let Some(customer) = row.customer_id
            && !self.store.has_rsvp(&row.campaign_id, customer).await?
        {
            return Ok(Some("no RSVP".into()));
        }
        Ok(None)
    }
}

/// Wait before attempt `attempts + 1`: 30 s doubling per attempt, at most an hour, with
/// up to 20 % jitter (spread by row so retries do not arrive together).
pub fn backoff(attempts: i64, row: i64) -> Duration {
    let base = 30i64 << attempts.clamp(1, 8).saturating_sub(1);
    let base = base.min(3600);
    let jitter = (row.rem_euclid(1000) * base) / 5000;
    Duration::seconds(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracked_links_round_trip_and_refuse_made_up_ones() {
        let links = LinkBase {
            base: "https://shop.example/".into(),
            key: b"k".to_vec(),
        };
        let url = links.url(42, 1);
        let segment = url.rsplit('/').next().unwrap();
        assert_eq!(links.parse(segment), Some((42, 1)));
        assert_eq!(links.parse(&segment.replace("42.", "43.")), None);
        assert_eq!(links.parse("42.1"), None);
        let p = Payload {
            text: format!("hi; stop: {UNSUBSCRIBE_MARK}"),
            buttons: vec![PayloadButton {
                label: "Shop".into(),
                url: Some("https://a.example/x".into()),
                action: None,
            }],
            cards: vec![Card {
                title: "Tea".into(),
                price: "$5.00".into(),
                url: "https://a.example/tea".into(),
                image: None,
            }],
            ..Default::default()
        };
        assert_eq!(
            p.links(),
            vec!["https://a.example/x", "https://a.example/tea"]
        );
        let t = p.tracked(7, true, &links);
        assert_eq!(t.buttons[0].url.as_deref(), Some(links.url(7, 0).as_str()));
        assert_eq!(t.cards[0].url, links.url(7, 1));
        assert_eq!(t.rsvp_url, None, "no RSVP button");
        let unsubscribe = t.unsubscribe_url.unwrap();
        assert_eq!(t.text, format!("hi; stop: {unsubscribe}"));
        let segment = unsubscribe.strip_prefix("https://shop.example/u/").unwrap();
        assert_eq!(links.parse_action(Action::Unsubscribe, segment), Some(7));
        assert_eq!(links.parse_action(Action::Rsvp, segment), None);
        assert_eq!(
            links.parse_action(Action::Unsubscribe, &segment.replace("7.", "8.")),
            None
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1, 0), Duration::seconds(30));
        assert_eq!(backoff(2, 0), Duration::seconds(60));
        assert_eq!(backoff(20, 0), Duration::seconds(3600));
        assert!(backoff(1, 999) <= Duration::seconds(36));
    }
}
