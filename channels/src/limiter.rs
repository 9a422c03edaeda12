//! The bot's outbound rate limiter, shared by support replies and campaign traffic.
//!
//! Every message the bot sends first waits in [`Limiter::acquire`] so that Telegram (and
//! the local [test server](crate::telegram::test_server), which enforces the same model on
//! request arrival) never sees a limit exceeded:
//!
//! * **Overall**: at most [`Limits::global_per_sec`] sends in any sliding
//!   [`Limits::global_window`] (1 s).
//! * **Private chat** (chat id > 0): a token bucket of capacity [`Limits::chat_burst`],
//!   full at first, refilling continuously at [`Limits::chat_per_sec`] tokens per second.
//!   It is computed as the equivalent GCRA in whole nanoseconds, like the test server.
//! * **Group, supergroup or channel** (chat id < 0): at most [`Limits::group_per_min`] sends
//!   in any sliding [`Limits::group_window`] (60 s).
//! * **429**: [`Limiter::pause`] stops all grants for the answer's `retry_after`, counted
//!   from when the answer arrived.
//!
//! A send needs the overall limit and its chat's limit to allow it. Chat id 0 is not a
//! Telegram chat; it is treated as a private chat.
//!
//! # Safety margin
//!
//! The limiter counts a send at the instant it grants it; the server counts it when the
//! request arrives. So that varying network delays (up to [`Limits::margin`]) never make the
//! server see a violation, each sliding window is [`Limits::margin`] longer than the
//! server's, and each private-chat token becomes available `margin` later than on the
//! server (GCRA tolerance `τ − margin`). At the defaults the overall limit still allows
//! 30 sends per 1.01 s, 99 % of Telegram's rate.
//!
//! # Order of grants
//!
//! Callers wait in one queue ordered by priority, then by arrival:
//!
//! * every [`Priority::Support`] caller comes before every [`Priority::Campaign`] caller;
//!   a Campaign caller is not granted while a Support caller is waiting whose own chat
//!   allows it to be sent within one overall window (`global_window + margin`) — a
//!   Campaign send then could occupy the overall slot that Support caller needs. A Support
//!   caller whose chat stays closed for longer (a group at its per-minute limit) does not
//!   hold up campaigns it cannot be delayed by;
//! * callers for the same chat are granted strictly in queue order;
//! * callers for different chats are granted in queue order as far as their chats allow:
//!   a caller whose chat is still closed does not hold up later callers for open chats
//!   (otherwise one busy chat would stall a campaign to thousands of others).
//!
//! Dropping an [`acquire`](Limiter::acquire) future before it completes leaves the queue
//! (the future is cancel safe).
//!
//! # Implementation
//!
//! One `std::sync::Mutex` holds the windows, the buckets and the queue; it is never held
//! across an `.await`. Grants are decided by a dispatch pass over the queue, run when a
//! caller arrives, when a waiting caller is dropped, and when the earliest instant at which
//! something could be granted comes; only the caller at the head of the queue sleeps until
//! that instant, every other caller sleeps until it is granted (or becomes the head), so a
//! long queue does not wake all its callers on every grant. Per-chat state that no longer
//! restricts anything (full buckets, empty windows) is pruned when the maps grow.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

use crate::telegram::test_server;

/// Instants further away than this are treated as this far away (avoids `Instant`
/// overflow on absurd configurations or pauses).
const MAX_SPAN: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// The per-chat maps are pruned when they hold more entries than this (or than twice
/// their size after the previous pruning).
const MIN_PRUNE_AT: usize = 1024;
/// Safety net: if the head of the queue ever finds no instant to wake at, it re-checks
/// after this long instead of waiting for ever.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// The limits a [`Limiter`] keeps to. A zero count (or a rate that is not a positive
/// finite number) switches that limit off, as in the test server's
/// [`Limits`](test_server::Limits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Sends allowed in any sliding [`global_window`](Self::global_window), all chats
    /// together (Telegram: 30 per second). 0 switches the overall limit off.
    pub global_per_sec: u32,
    /// Length of the overall sliding window (Telegram: 1 s; smaller in tests).
    pub global_window: Duration,
    /// Refill rate of each private chat's token bucket, in sends per second (Telegram:
    /// about 1). Zero, negative or non-finite switches the private-chat limit off.
    pub chat_per_sec: f64,
    /// Capacity of each private chat's token bucket (Telegram: short bursts, 3 here). 0
    /// switches the private-chat limit off.
    pub chat_burst: u32,
    /// Sends allowed to one group, supergroup or channel in any sliding
    /// [`group_window`](Self::group_window) (Telegram: 20 per minute). 0 switches the
    /// group limit off.
    pub group_per_min: u32,
    /// Length of the per-group sliding window (Telegram: 60 s; smaller in tests).
    pub group_window: Duration,
    /// Safety margin for network jitter: added to each sliding window, and private-chat
    /// tokens become available this much later than on the server.
    pub margin: Duration,
}

impl Default for Limits {
    /// Telegram's limits: 30 per second overall, 1 per second per private chat with bursts
    /// of 3, 20 per minute per group; 10 ms margin.
    fn default() -> Self {
        Self {
            global_per_sec: 30,
            global_window: Duration::from_secs(1),
            chat_per_sec: 1.0,
            chat_burst: 3,
            group_per_min: 20,
            group_window: Duration::from_secs(60),
            margin: Duration::from_millis(10),
        }
    }
}

impl Limits {
    /// No limits at all (only [`Limiter::pause`] still holds sends back).
    pub fn unlimited() -> Self {
        Self {
            global_per_sec: 0,
            chat_per_sec: 0.0,
            chat_burst: 0,
            group_per_min: 0,
            ..Self::default()
        }
    }
}

impl From<test_server::Limits> for Limits {
    /// The client-side limits matching a test server's, with the default windows (1 s,
    /// 60 s) and margin.
    fn from(server: test_server::Limits) -> Self {
        Self {
            global_per_sec: server.global_per_sec,
            chat_per_sec: server.chat_per_sec,
            chat_burst: server.chat_burst,
            group_per_min: server.group_per_min,
            ..Self::default()
        }
    }
}

/// Who a send is for. Support replies are served before campaign messages (see the
/// [module docs](self#order-of-grants)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Priority {
    /// A reply to a customer: served first.
    Support,
    /// Marketing traffic: served when no support reply needs the capacity.
    Campaign,
}

impl Priority {
    /// Position in the queue: lower first.
    fn rank(self) -> u8 {
        match self {
            Priority::Support => 0,
            Priority::Campaign => 1,
        }
    }
}

/// Counters for benchmarks and monitoring, from [`Limiter::stats`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Stats {
    /// Support sends granted so far.
    pub support_grants: u64,
    /// Campaign sends granted so far.
    pub campaign_grants: u64,
    /// Calls to [`Limiter::pause`] so far.
    pub pauses: u64,
    /// Callers waiting in [`Limiter::acquire`] right now.
    pub waiting: usize,
}

/// The outbound rate limiter (see the [module docs](self)); share it as `Arc<Limiter>`.
pub struct Limiter {
    limits: Limits,
    config: Config,
    state: Mutex<State>,
}

impl Limiter {
    /// A limiter keeping to `limits`, with nothing sent yet.
    pub fn new(limits: Limits) -> Self {
        let state = State {
            prune_at: MIN_PRUNE_AT,
            ..State::default()
        };
        Self {
            limits,
            config: Config::new(&limits),
            state: Mutex::new(state),
        }
    }

    /// The limits this limiter keeps to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Waits until a message to `chat_id` may be sent, then counts it as sent; returns the
    /// instant it was counted at (send right away). Support callers are served before
    /// Campaign callers, and callers for one chat in arrival order (see the
    /// [module docs](self#order-of-grants)). Cancel safe: dropping the future while it
    /// waits leaves the queue without counting anything.
    pub async fn acquire(&self, chat_id: i64, priority: Priority) -> Instant {
        let notify = Arc::new(Notify::new());
        let (ticket, wake) = {
            let mut state = self.lock();
            let ticket = Ticket {
                rank: priority.rank(),
                seq: state.next_seq,
            };
            state.next_seq = state.next_seq.wrapping_add(1);
            let waiter = Waiter {
                chat: chat_id,
                priority,
                notify: Arc::clone(&notify),
            };
            state.waiters.insert(ticket, waiter);
            let wake = state.dispatch(&self.config, Instant::now());
            (ticket, wake)
        };
        let mut pending = Pending {
            limiter: self,
            ticket,
            armed: true,
        };
        notify_all(wake);
        loop {
            let deadline = {
                let mut state = self.lock();
                if let Some(at) = state.granted.remove(&ticket) {
                    pending.armed = false;
                    return at;
                }
                (state.driver == Some(ticket)).then(|| {
                    state
                        .next_wake
                        .unwrap_or_else(|| later(Instant::now(), FALLBACK_POLL))
                })
            };
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = notify.notified() => {}
                        () = sleep_until(deadline) => self.dispatch_now(),
                    }
                }
                None => notify.notified().await,
            }
        }
    }

    /// A 429 answer with `retry_after` `d` arrived: no grants for `d` from now. Extends an
    /// existing pause, never shortens it. Callers already waiting stay queued in order.
    pub fn pause(&self, d: Duration) {
        let until = later(Instant::now(), d);
        let until = {
            let mut state = self.lock();
            state.pauses += 1;
            if state.paused_until.is_none_or(|current| current < until) {
                state.paused_until = Some(until);
            }
            state.paused_until
        };
        tracing::debug!(retry_after = ?d, ?until, "rate limiter: all sends paused");
    }

    /// Until when sends are paused by [`pause`](Self::pause), if they are now.
    pub fn paused_until(&self) -> Option<Instant> {
        let now = Instant::now();
        self.lock().paused_until.filter(|&until| until > now)
    }

    /// Grants so far by priority, pauses so far and callers waiting now.
    pub fn stats(&self) -> Stats {
        self.lock().stats()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Grants whatever may be granted now, and wakes whom that concerns.
    fn dispatch_now(&self) {
        let wake = self.lock().dispatch(&self.config, Instant::now());
        notify_all(wake);
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Limiter")
            .field("limits", &self.limits)
            .field("stats", &state.stats())
            .field("paused_until", &state.paused_until)
            .field(
                "tracked_chats",
                &(state.privates.len() + state.groups.len()),
            )
            .finish()
    }
}

/// [`Limits`] in the form the checks use.
#[derive(Debug, Clone, Copy)]
struct Config {
    /// `None`: no overall limit.
    global_limit: Option<usize>,
    /// Overall window plus margin.
    global_span: Duration,
    /// GCRA of private chats: emission interval `T` and tolerance `τ = (burst − 1)·T`;
    /// `None`: no private-chat limit.
    private: Option<(Duration, Duration)>,
    /// `None`: no group limit.
    group_limit: Option<usize>,
    /// Group window plus margin.
    group_span: Duration,
    margin: Duration,
}

impl Config {
    fn new(limits: &Limits) -> Self {
        let count = |n: u32| (n > 0).then(|| usize::try_from(n).unwrap_or(usize::MAX));
        let rate = limits.chat_per_sec;
        let private = (limits.chat_burst > 0 && rate.is_finite() && rate > 0.0).then(|| {
            // As in the test server: whole nanoseconds, at least one; `as` saturates.
            let interval =
                Duration::from_nanos((1e9 / rate).round().clamp(1.0, u64::MAX as f64) as u64);
            (interval, interval.saturating_mul(limits.chat_burst - 1))
        });
        Self {
            global_limit: count(limits.global_per_sec),
            global_span: limits.global_window.saturating_add(limits.margin),
            private,
            group_limit: count(limits.group_per_min),
            group_span: limits.group_window.saturating_add(limits.margin),
            margin: limits.margin,
        }
    }
}

/// `t + d`, saturating far in the future instead of overflowing.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(MAX_SPAN))
        .unwrap_or(t)
}

fn notify_all(wake: Vec<Arc<Notify>>) {
    for notify in wake {
        notify.notify_one();
    }
}

/// A place in the queue: by priority, then by arrival.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct Ticket {
    rank: u8,
    seq: u64,
}

struct Waiter {
    chat: i64,
    priority: Priority,
    /// Wakes the waiting caller: granted, or now at the head of the queue.
    notify: Arc<Notify>,
}

#[derive(Default)]
struct State {
    /// Grant instants within the last overall span, oldest first.
    global: VecDeque<Instant>,
    /// GCRA theoretical arrival time per private chat.
    privates: HashMap<i64, Instant>,
    /// Grant instants within the last group span per group, oldest first.
    groups: HashMap<i64, VecDeque<Instant>>,
    paused_until: Option<Instant>,
    /// Callers waiting, in grant order.
    waiters: BTreeMap<Ticket, Waiter>,
    /// Callers granted but not yet returned, with their grant instants.
    granted: HashMap<Ticket, Instant>,
    next_seq: u64,
    /// Earliest instant at which a waiting caller could be granted, from the last dispatch.
    next_wake: Option<Instant>,
    /// The head of the queue as of the last dispatch: it sleeps until `next_wake`.
    driver: Option<Ticket>,
    prune_at: usize,
    support_grants: u64,
    campaign_grants: u64,
    pauses: u64,
}

impl State {
    fn stats(&self) -> Stats {
        Stats {
            support_grants: self.support_grants,
            campaign_grants: self.campaign_grants,
            pauses: self.pauses,
            waiting: self.waiters.len(),
        }
    }

    /// Grants every waiting caller that may be granted at `now`, in queue order; updates
    /// `next_wake` and the head of the queue. Returns whom to wake: the callers granted,
    /// and the head of the queue when it changed or must sleep until a new instant.
    fn dispatch(&mut self, config: &Config, now: Instant) -> Vec<Arc<Notify>> {
        let mut wake = Vec::new();
        let previous = self.next_wake;
        self.next_wake = self.grant(config, now, &mut wake);
        match self.waiters.first_key_value() {
            Some((&ticket, waiter)) => {
                if self.driver != Some(ticket) || self.next_wake != previous {
                    wake.push(Arc::clone(&waiter.notify));
                }
                self.driver = Some(ticket);
            }
            None => self.driver = None,
        }
        if self.privates.len() + self.groups.len() > self.prune_at {
            self.prune(config, now);
        }
        wake
    }

    /// The grant pass of [`dispatch`](Self::dispatch); returns the earliest instant at
    /// which a caller still waiting could be granted.
    fn grant(
        &mut self,
        config: &Config,
        now: Instant,
        wake: &mut Vec<Arc<Notify>>,
    ) -> Option<Instant> {
        expire(&mut self.global, config.global_span, now);
        if let Some(until) = self.paused_until {
            if until > now {
                return (!self.waiters.is_empty()).then_some(until);
            }
            self.paused_until = None;
        }
        let mut available = config
            .global_limit
            .map_or(usize::MAX, |limit| limit.saturating_sub(self.global.len()));
        let mut next: Option<Instant> = None;
        let mut granted = Vec::new();
        if available > 0 {
            // Campaign sends granted now stay in the overall window until `horizon`.
            let horizon = later(now, config.global_span);
            let mut closed = HashSet::new();
            let mut campaigns_held = false;
            for (&ticket, waiter) in &self.waiters {
                if campaigns_held && waiter.priority == Priority::Campaign {
                    break;
                }
                if closed.contains(&waiter.chat) {
                    continue;
                }
                let ready =
                    chat_ready_at(config, &self.privates, &mut self.groups, waiter.chat, now);
                if ready <= now {
                    record(
                        config,
                        &mut self.global,
                        &mut self.privates,
                        &mut self.groups,
                        waiter.chat,
                        now,
                    );
                    match waiter.priority {
                        Priority::Support => self.support_grants += 1,
                        Priority::Campaign => self.campaign_grants += 1,
                    }
                    granted.push(ticket);
                    wake.push(Arc::clone(&waiter.notify));
                    available -= 1;
                    if available == 0 {
                        break;
                    }
                } else {
                    // Later callers for this chat must not overtake this one.
                    closed.insert(waiter.chat);
                    if waiter.priority == Priority::Support && ready <= horizon {
                        campaigns_held = true;
                    }
                    next = Some(next.map_or(ready, |n| n.min(ready)));
                }
            }
        }
        for ticket in granted {
            self.waiters.remove(&ticket);
            self.granted.insert(ticket, now);
        }
        if self.waiters.is_empty() {
            None
        } else if available == 0 {
            self.global_free_at(config)
        } else {
            next
        }
    }

    /// When the overall window next has room (it is full now).
    fn global_free_at(&self, config: &Config) -> Option<Instant> {
        let limit = config.global_limit?;
        let index = self.global.len().checked_sub(limit)?;
        self.global
            .get(index)
            .map(|&t| later(t, config.global_span))
    }

    /// Drops per-chat state that no longer restricts anything.
    fn prune(&mut self, config: &Config, now: Instant) {
        // A bucket that is full again behaves like a chat never sent to.
        self.privates
            .retain(|_, tat| later(*tat, config.margin) > now);
        self.groups.retain(|_, sent| {
            expire(sent, config.group_span, now);
            !sent.is_empty()
        });
        let size = self.privates.len() + self.groups.len();
        self.prune_at = size.saturating_mul(2).max(MIN_PRUNE_AT);
    }
}

/// Drops the instants of `sent` that are out of a window of length `span` ending at `now`.
fn expire(sent: &mut VecDeque<Instant>, span: Duration, now: Instant) {
    while sent.front().is_some_and(|&t| later(t, span) <= now) {
        sent.pop_front();
    }
}

/// The earliest instant `chat`'s own limit allows a send (at or before `now`: allowed now).
fn chat_ready_at(
    config: &Config,
    privates: &HashMap<i64, Instant>,
    groups: &mut HashMap<i64, VecDeque<Instant>>,
    chat: i64,
    now: Instant,
) -> Instant {
    if chat < 0 {
        let (Some(limit), Some(sent)) = (config.group_limit, groups.get_mut(&chat)) else {
            return now;
        };
        expire(sent, config.group_span, now);
        match sent
            .len()
            .checked_sub(limit)
            .and_then(|index| sent.get(index))
        {
            Some(&oldest) => later(oldest, config.group_span),
            None => now,
        }
    } else {
        let (Some((_, tolerance)), Some(&tat)) = (config.private, privates.get(&chat)) else {
            return now;
        };
        // GCRA with tolerance `τ − margin`: allowed at `TAT + margin − τ`. If that
        // underflows it lies before any instant, so allowed now.
        later(tat, config.margin)
            .checked_sub(tolerance)
            .unwrap_or(now)
    }
}

/// Counts a send to `chat` at `now`.
fn record(
    config: &Config,
    global: &mut VecDeque<Instant>,
    privates: &mut HashMap<i64, Instant>,
    groups: &mut HashMap<i64, VecDeque<Instant>>,
    chat: i64,
    now: Instant,
) {
    if config.global_limit.is_some() {
        global.push_back(now);
    }
    if chat < 0 {
        if config.group_limit.is_some() {
            groups.entry(chat).or_default().push_back(now);
        }
    } else if let Some((interval, _)) = config.private {
        let base = privates.get(&chat).map_or(now, |&tat| tat.max(now));
        privates.insert(chat, later(base, interval));
    }
}

/// A caller in [`Limiter::acquire`]: leaves the queue if the future is dropped.
struct Pending<'a> {
    limiter: &'a Limiter,
    ticket: Ticket,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let wake = {
            let mut state = self.limiter.lock();
            // Granted but never returned: the send stays counted (the safe side).
            if state.granted.remove(&self.ticket).is_none()
                && state.waiters.remove(&self.ticket).is_some()
            {
                // Its leaving may open the way for others (same chat, campaigns, head).
                state.dispatch(&self.limiter.config, Instant::now())
            } else {
                Vec::new()
            }
        };
        notify_all(wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Limits with every limit off but the ones a test sets.
    fn off() -> Limits {
        Limits {
            margin: Duration::from_millis(10),
            ..Limits::unlimited()
        }
    }

    /// No more than `limit` of the sorted `grants` in any window of length `span`, i.e.
    /// `grants[i + limit] − grants[i] ≥ span`.
    fn assert_sliding(grants: &[Instant], limit: usize, span: Duration) {
        for (i, pair) in grants.windows(limit + 1).enumerate() {
            let gap = pair[limit].duration_since(pair[0]);
            assert!(
                gap >= span,
                "grants {i} and {} only {gap:?} apart (window {span:?})",
                i + limit
            );
        }
    }

    /// The sorted `grants` pass a token bucket of capacity `burst`, full at first,
    /// refilling at `rate` per second.
    fn assert_bucket(grants: &[Instant], rate: f64, burst: u32) {
        let Some(&first) = grants.first() else { return };
        let (mut tokens, mut last) = (f64::from(burst), first);
        for (i, &at) in grants.iter().enumerate() {
            tokens = (tokens + at.duration_since(last).as_secs_f64() * rate).min(f64::from(burst));
            last = at;
            assert!(tokens >= 1.0 - 1e-9, "grant {i} finds {tokens} tokens");
            tokens -= 1.0;
        }
    }

    /// Waits (bounded) until `n` callers are queued.
    async fn until_waiting(limiter: &Limiter, n: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while limiter.stats().waiting != n {
                tokio::time::sleep(MS).await;
            }
        })
        .await
        .expect("callers never queued");
    }

    fn spawn(
        limiter: &Arc<Limiter>,
        chat: i64,
        priority: Priority,
    ) -> tokio::task::JoinHandle<Instant> {
        let limiter = Arc::clone(limiter);
        tokio::spawn(async move { limiter.acquire(chat, priority).await })
    }

    #[tokio::test]
    async fn default_limits_grant_30_then_hold_the_31st() {
        let limiter = Limiter::new(Limits::default());
        let start = Instant::now();
        for chat in 1..=30 {
            limiter.acquire(chat, Priority::Campaign).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "the first 30 waited"
        );
        let held = tokio::time::timeout(
            Duration::from_millis(100),
            limiter.acquire(31, Priority::Campaign),
        )
        .await;
        assert!(held.is_err(), "the 31st was granted within the second");
        let stats = limiter.stats();
        assert_eq!((stats.campaign_grants, stats.waiting), (30, 0), "{stats:?}");
    }

    #[tokio::test]
    async fn overall_window_holds_on_distinct_chats() {
        let window = Duration::from_millis(200);
        let limiter = Limiter::new(Limits {
            global_per_sec: 5,
            global_window: window,
            ..off()
        });
        let start = Instant::now();
        let mut grants = Vec::new();
        for chat in 1..=12 {
            grants.push(limiter.acquire(chat, Priority::Campaign).await);
        }
        for (i, at) in grants.iter().enumerate().take(5) {
            assert!(
                at.duration_since(start) < Duration::from_millis(100),
                "grant {i} waited"
            );
        }
        let span = window + limiter.limits().margin;
        assert!(
            grants[5].duration_since(grants[0]) >= span,
            "the 6th did not wait a window"
        );
        assert!(grants[5].duration_since(start) >= window);
        assert_sliding(&grants, 5, window);
        assert_sliding(&grants, 5, span);
        // And no needless waiting: three windows for 12 grants, with slack for timers.
        assert!(grants[11].duration_since(grants[0]) < 2 * span + Duration::from_millis(100));
    }

    #[tokio::test]
    async fn private_chat_bursts_then_refills() {
        let limiter = Limiter::new(Limits {
            chat_per_sec: 10.0,
            chat_burst: 3,
            ..off()
        });
        let interval = Duration::from_millis(100);
        let margin = limiter.limits().margin;
        let start = Instant::now();
        let mut grants = Vec::new();
        for _ in 0..3 {
            grants.push(limiter.acquire(7, Priority::Support).await);
        }
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "the burst waited"
        );
        // Another private chat has its own bucket.
        let other = limiter.acquire(8, Priority::Support).await;
        assert!(
            other.duration_since(start) < Duration::from_millis(50),
            "chat 8 waited for chat 7"
        );
        for _ in 0..3 {
            grants.push(limiter.acquire(7, Priority::Support).await);
        }
        assert!(
            grants[3].duration_since(grants[0]) >= interval + margin,
            "4th: {:?}",
            grants[3] - grants[0]
        );
        // Then one per interval, each token `margin` later than on the server. (Pairs of
        // grants may be closer than an interval: a late grant does not delay the refill.)
        for (k, at) in grants.iter().enumerate().skip(3) {
            let refills = u32::try_from(k - 2).expect("small");
            assert!(
                at.duration_since(grants[0]) >= interval * refills + margin,
                "{k}th"
            );
        }
        assert_bucket(&grants, 10.0, 3);
        assert!(
            grants[5].duration_since(grants[0])
                < 3 * interval + margin + Duration::from_millis(150)
        );
    }

    #[tokio::test]
    async fn group_window_holds_per_group() {
        let window = Duration::from_millis(250);
        let limiter = Limiter::new(Limits {
            group_per_min: 3,
            group_window: window,
            chat_burst: 1,
            chat_per_sec: 1.0,
            ..off()
        });
        let span = window + limiter.limits().margin;
        let start = Instant::now();
        let mut grants = Vec::new();
        for _ in 0..3 {
            grants.push(limiter.acquire(-100, Priority::Campaign).await);
        }
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "the first 3 waited"
        );
        // Other groups and private chats are not held by this group.
        let other_group = limiter.acquire(-200, Priority::Campaign).await;
        let private = limiter.acquire(5, Priority::Campaign).await;
        assert!(other_group.max(private).duration_since(start) < Duration::from_millis(50));
        for _ in 0..3 {
            grants.push(limiter.acquire(-100, Priority::Campaign).await);
        }
        assert!(grants[3].duration_since(grants[0]) >= span);
        assert_sliding(&grants, 3, window);
        assert_sliding(&grants, 3, span);
        assert!(grants[5].duration_since(grants[0]) < span + Duration::from_millis(100));
    }

    #[tokio::test]
    async fn pause_holds_every_grant_and_only_extends() {
        let limiter = Arc::new(Limiter::new(Limits {
            global_per_sec: 2,
            global_window: Duration::from_millis(100),
            ..off()
        }));
        assert_eq!(limiter.paused_until(), None);
        limiter.pause(Duration::from_millis(150));
        let until = limiter.paused_until().expect("paused");
        limiter.pause(Duration::from_millis(20));
        assert_eq!(
            limiter.paused_until(),
            Some(until),
            "a shorter pause shortened it"
        );
        let at = limiter.acquire(1, Priority::Support).await;
        assert!(at >= until, "granted during the pause");
        assert_eq!(limiter.paused_until(), None);

        // Callers already waiting are held too, and a longer pause extends.
        let _ = limiter.acquire(2, Priority::Campaign).await;
        let queued = [
            spawn(&limiter, 3, Priority::Campaign),
            spawn(&limiter, 4, Priority::Support),
        ];
        until_waiting(&limiter, 2).await;
        limiter.pause(Duration::from_millis(50));
        limiter.pause(Duration::from_millis(250));
        let until = limiter.paused_until().expect("paused");
        for handle in queued {
            assert!(
                handle.await.expect("task") >= until,
                "a queued caller was granted during the pause"
            );
        }
        assert_eq!(limiter.stats().pauses, 4);
    }

    #[tokio::test]
    async fn support_is_granted_before_queued_campaigns() {
        let limiter = Arc::new(Limiter::new(Limits {
            global_per_sec: 2,
            global_window: Duration::from_millis(150),
            ..off()
        }));
        limiter.acquire(1, Priority::Campaign).await;
        limiter.acquire(2, Priority::Campaign).await;
        let mut campaigns = Vec::new();
        for chat in 3..=5 {
            campaigns.push(spawn(&limiter, chat, Priority::Campaign));
            until_waiting(&limiter, campaigns.len()).await;
        }
        let mut supports = Vec::new();
        for chat in 6..=7 {
            supports.push(spawn(&limiter, chat, Priority::Support));
            until_waiting(&limiter, campaigns.len() + supports.len()).await;
        }
        let mut support_at = Vec::new();
        for handle in supports {
            support_at.push(handle.await.expect("task"));
        }
        let mut campaign_at = Vec::new();
        for handle in campaigns {
            campaign_at.push(handle.await.expect("task"));
        }
        let last_support = support_at.iter().max().expect("supports");
        assert!(
            campaign_at.iter().all(|at| at > last_support),
            "support {support_at:?}, campaign {campaign_at:?}"
        );
        assert!(
            campaign_at.windows(2).all(|pair| pair[0] <= pair[1]),
            "campaigns out of order: {campaign_at:?}"
        );
        let stats = limiter.stats();
        assert_eq!(
            (stats.support_grants, stats.campaign_grants, stats.waiting),
            (2, 5, 0)
        );
    }

    #[tokio::test]
    async fn support_holds_campaigns_only_when_it_could_need_the_slot() {
        let limits = Limits {
            global_per_sec: 100,
            global_window: Duration::from_millis(100),
            chat_per_sec: 10.0,
            chat_burst: 1,
            group_per_min: 1,
            group_window: Duration::from_secs(5),
            ..off()
        };
        let limiter = Arc::new(Limiter::new(limits));
        // A support reply to a group that is closed for ~5 s: campaigns go on meanwhile.
        limiter.acquire(-1, Priority::Campaign).await;
        let far = spawn(&limiter, -1, Priority::Support);
        until_waiting(&limiter, 1).await;
        let start = Instant::now();
        limiter.acquire(50, Priority::Campaign).await;
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "a campaign waited for a far-off support reply"
        );

        // A support reply to a private chat open again in ~110 ms: campaigns wait for it.
        limiter.acquire(9, Priority::Support).await;
        let near = spawn(&limiter, 9, Priority::Support);
        until_waiting(&limiter, 2).await;
        let start = Instant::now();
        let campaign = limiter.acquire(51, Priority::Campaign).await;
        let support = near.await.expect("task");
        assert!(
            campaign >= support,
            "campaign {campaign:?} before support {support:?}"
        );
        assert!(
            campaign.duration_since(start) >= Duration::from_millis(50),
            "the campaign did not wait"
        );

        // Dropping the far-off support reply leaves the queue.
        far.abort();
        assert!(far.await.is_err());
        assert_eq!(limiter.stats().waiting, 0);
    }

    #[tokio::test]
    async fn same_chat_is_served_in_arrival_order() {
        let limiter = Arc::new(Limiter::new(Limits {
            chat_per_sec: 20.0,
            chat_burst: 1,
            ..off()
        }));
        let margin = limiter.limits().margin;
        let first = limiter.acquire(3, Priority::Campaign).await;
        let mut handles = Vec::new();
        for _ in 0..4 {
            handles.push(spawn(&limiter, 3, Priority::Campaign));
            until_waiting(&limiter, handles.len()).await;
        }
        let mut grants = vec![first];
        for handle in handles {
            grants.push(handle.await.expect("task"));
        }
        for pair in grants.windows(2) {
            assert!(
                pair[1].duration_since(pair[0]) >= Duration::from_millis(50) + margin,
                "{grants:?}"
            );
        }
        assert_bucket(&grants, 20.0, 1);
    }

    #[tokio::test]
    async fn dropped_waiter_leaves_the_queue() {
        let limiter = Arc::new(Limiter::new(Limits {
            global_per_sec: 1,
            global_window: Duration::from_millis(100),
            ..off()
        }));
        limiter.acquire(1, Priority::Campaign).await;
        // A support caller gives up; the campaign behind it still gets the next slot.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(20),
            limiter.acquire(2, Priority::Support),
        )
        .await;
        assert!(gave_up.is_err());
        assert_eq!(limiter.stats().waiting, 0);
        let campaign = spawn(&limiter, 3, Priority::Campaign);
        let support = spawn(&limiter, 4, Priority::Support);
        until_waiting(&limiter, 2).await;
        support.abort();
        assert!(support.await.is_err());
        let at = tokio::time::timeout(Duration::from_secs(1), campaign)
            .await
            .expect("campaign stalled")
            .expect("task");
        let stats = limiter.stats();
        assert_eq!(
            (stats.support_grants, stats.campaign_grants, stats.waiting),
            (0, 2, 0),
            "{at:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_callers_complete_within_all_limits() {
        let limits = Limits {
            global_per_sec: 40,
            global_window: Duration::from_millis(100),
            chat_per_sec: 50.0,
            chat_burst: 3,
            group_per_min: 6,
            group_window: Duration::from_millis(100),
            margin: Duration::from_millis(10),
        };
        let limiter = Arc::new(Limiter::new(limits));
        let chats: Vec<i64> = (1..=6).chain(-4..=-1).collect();
        let mut handles = Vec::new();
        for i in 0..160_usize {
            let chat = chats[i % chats.len()];
            let priority = if i % 3 == 0 {
                Priority::Support
            } else {
                Priority::Campaign
            };
            let limiter = Arc::clone(&limiter);
            handles.push(tokio::spawn(async move {
                (chat, limiter.acquire(chat, priority).await)
            }));
        }
        let all = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(handles))
            .await
            .expect("callers stalled");
        let mut grants: Vec<(i64, Instant)> = all.into_iter().map(|r| r.expect("task")).collect();
        grants.sort_by_key(|&(_, at)| at);
        let instants: Vec<Instant> = grants.iter().map(|&(_, at)| at).collect();
        assert_sliding(&instants, 40, Duration::from_millis(110));
        for &chat in &chats {
            let mine: Vec<Instant> = grants
                .iter()
                .filter(|&&(c, _)| c == chat)
                .map(|&(_, at)| at)
                .collect();
            assert_eq!(mine.len(), 16);
            if chat > 0 {
                assert_bucket(&mine, 50.0, 3);
            } else {
                assert_sliding(&mine, 6, Duration::from_millis(110));
            }
        }
        let stats = limiter.stats();
        assert_eq!(stats.support_grants + stats.campaign_grants, 160);
        assert_eq!(stats.waiting, 0);
    }

    #[tokio::test]
    async fn batches_are_released_as_the_window_frees() {
        let window = Duration::from_millis(200);
        let margin = Duration::from_millis(2);
        let limiter = Arc::new(Limiter::new(Limits {
            global_per_sec: 30,
            global_window: window,
            margin,
            ..off()
        }));
        let handles: Vec<_> = (1..=90)
            .map(|chat| spawn(&limiter, chat, Priority::Campaign))
            .collect();
        let mut grants = Vec::new();
        for handle in handles {
            grants.push(handle.await.expect("task"));
        }
        grants.sort();
        assert_sliding(&grants, 30, window + margin);
        // 90 sends in three windows: 99 % of the nominal rate, plus timer slack.
        let total = grants[89].duration_since(grants[0]);
        assert!(
            total < 2 * (window + margin) + Duration::from_millis(40),
            "took {total:?}"
        );
    }

    #[tokio::test]
    async fn unlimited_and_prunes_state() {
        let limiter = Limiter::new(Limits::unlimited());
        for chat in 1..=100 {
            limiter.acquire(chat, Priority::Campaign).await;
            limiter.acquire(-chat, Priority::Campaign).await;
        }
        {
            let state = limiter.lock();
            assert!(
                state.privates.is_empty() && state.groups.is_empty() && state.global.is_empty()
            );
        }

        // Many chats: the maps shrink back once buckets are full again.
        let limiter = Limiter::new(Limits {
            chat_per_sec: 1000.0,
            chat_burst: 1,
            margin: MS,
            ..off()
        });
        for chat in 1..=3000 {
            limiter.acquire(chat, Priority::Campaign).await;
            if chat % 500 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let tracked = limiter.lock().privates.len();
        assert!(tracked <= 2 * MIN_PRUNE_AT, "{tracked} chats tracked");
    }

    #[test]
    fn config_matches_the_test_server() {
        let limits = Limits::from(test_server::Limits::default());
        assert_eq!(limits, Limits::default());
        let config = Config::new(&Limits {
            chat_per_sec: 3.0,
            ..Limits::default()
        });
        assert_eq!(
            config.private,
            Some((
                Duration::from_nanos(333_333_333),
                Duration::from_nanos(666_666_666)
            ))
        );
        let config = Config::new(&Limits {
            chat_per_sec: f64::NAN,
            global_per_sec: 0,
            ..Limits::default()
        });
        assert!(config.private.is_none() && config.global_limit.is_none());
        assert_eq!(config.group_limit, Some(20));
        assert!(format!("{:?}", Limiter::new(Limits::default())).contains("Limiter"));
    }
}
