//! The conversation and handoff state machine. Pure: [`Conversation::handle`] takes an
//! event and returns effects as data; a driver performs them (runs the agent, sends
//! messages, stores state) and feeds results back as events. Nothing here does I/O.
//!
//! The rule it exists to enforce: the bot never speaks while a human owns the
//! conversation or while it waits in the human queue — except one acknowledgement when
//! the customer is queued.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{ConversationState, StaffId};

/// Why a conversation goes to a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The customer asked for a person.
    Requested,
    /// The agent could not give a grounded answer several times in a row.
    RepeatedFailure,
    /// Anger, abuse, legal threats, chargebacks, safety: decided by the agent.
    Sensitive(String),
    /// Staff took the conversation over from the console without being asked.
    StaffTakeover,
}

/// Where the conversation stands, with what each state needs to remember.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Bot,
    WaitingForHuman {
        reason: HandoffReason,
        since: DateTime<Utc>,
    },
    Human {
        staff: StaffId,
    },
    /// `resolved`: closed by staff or the agent as done, not by idling out.
    Closed {
        resolved: bool,
    },
}

impl State {
    /// The state as stored.
    pub fn stored(&self) -> ConversationState {
        match self {
            State::Bot => ConversationState::Bot,
            State::WaitingForHuman { .. } => ConversationState::WaitingForHuman,
            State::Human { .. } => ConversationState::Human,
            State::Closed { .. } => ConversationState::Closed,
        }
    }
}

/// Something that happened to the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The customer wrote.
    CustomerMessage { at: DateTime<Utc> },
    /// The agent finished a turn. `grounded`: it could answer from knowledge or tools.
    /// `handoff`: it decided the conversation needs a human.
    AgentAnswered {
        at: DateTime<Utc>,
        grounded: bool,
        handoff: Option<HandoffReason>,
    },
    /// The customer or the agent asked for a human.
    HandoffRequested {
        at: DateTime<Utc>,
        reason: HandoffReason,
    },
    /// A staff member claimed the conversation in the console.
    StaffClaimed { at: DateTime<Utc>, staff: StaffId },
    /// A staff member wrote to the customer.
    StaffMessage { at: DateTime<Utc>, staff: StaffId },
    /// Staff gave the conversation back to the bot.
    HandedBack { at: DateTime<Utc> },
    /// Staff (or the agent, for a finished bot conversation) marked it resolved.
    Resolved { at: DateTime<Utc> },
    /// Time passed; the driver sends this periodically.
    Tick { now: DateTime<Utc> },
    /// The customer answered the satisfaction question.
    Rated { at: DateTime<Utc>, score: u8 },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Let the agent answer the customer's latest message.
    RunAgent,
    /// Tell the customer a human will take over, and the expected wait.
    AcknowledgeHandoff { reason: HandoffReason },
    /// Put the conversation in the console queue.
    Enqueue { reason: HandoffReason },
    /// Show the customer's message to staff (queue or owner).
    ForwardToStaff,
    /// Tell the customer that a named staff member has joined.
    AnnounceStaff { staff: StaffId },
    /// Send the staff member's message to the customer.
    DeliverStaffMessage { staff: StaffId },
    /// Tell the customer the assistant is back.
    AnnounceBotBack,
    /// Ask for a 1–5 satisfaction rating.
    AskRating,
    /// Store the customer's rating.
    StoreRating { score: u8 },
    /// Persist the new state.
    Persist(ConversationState),
}

impl Effect {
    /// Whether this effect makes the bot itself say something to the customer.
    pub fn bot_speaks(&self) -> bool {
        matches!(
            self,
            Effect::RunAgent
                | Effect::AcknowledgeHandoff { .. }
                | Effect::AnnounceBotBack
                | Effect::AskRating
        )
    }
}

/// The shop's settings for the machine.
#[derive(Debug, Clone)]
pub struct Policy {
    /// A conversation with no activity for this long closes.
    pub idle_timeout: Duration,
    /// Ungrounded agent turns in a row before a handoff.
    pub max_failures: u8,
    /// Ask for a rating after a resolved conversation.
    pub ask_rating: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::hours(24),
            max_failures: 2,
            ask_rating: true,
        }
    }
}

/// One conversation's machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    state: State,
    last_activity: DateTime<Utc>,
    failures: u8,
    rating_asked: bool,
    rating: Option<u8>,
}

impl Conversation {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            state: State::Bot,
            last_activity: at,
            failures: 0,
            rating_asked: false,
            rating: None,
        }
    }

    /// Rebuilds the machine from stored state (e.g. after a restart).
    pub fn resume(state: State, last_activity: DateTime<Utc>) -> Self {
        Self {
            state,
            last_activity,
            failures: 0,
            rating_asked: false,
            rating: None,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn rating(&self) -> Option<u8> {
        self.rating
    }

    /// Closed, asked for a rating, and not rated yet.
    pub fn awaits_rating(&self) -> bool {
        matches!(self.state, State::Closed { .. }) && self.rating_asked && self.rating.is_none()
    }

    /// Applies one event and returns what to do. Events that make no sense in the
    /// current state (a staff message to a bot conversation, say) change nothing.
    pub fn handle(&mut self, event: Event, policy: &Policy) -> Vec<Effect> {
        let before = self.state.stored();
        let mut effects = self.transition(event, policy);
        let after = self.state.stored();
        if before != after {
            effects.push(Effect::Persist(after));
        }
        effects
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.last_activity = self.last_activity.max(at);
    }

    fn hand_off(&mut self, at: DateTime<Utc>, reason: HandoffReason) -> Vec<Effect> {
        self.failures = 0;
        self.state = State::WaitingForHuman {
            reason: reason.clone(),
            since: at,
        };
        vec![
            Effect::Enqueue {
                reason: reason.clone(),
            },
            Effect::AcknowledgeHandoff { reason },
        ]
    }

    fn transition(&mut self, event: Event, policy: &Policy) -> Vec<Effect> {
        match (&self.state, event) {
            // A closed conversation only takes its rating; a new message starts a new
            // conversation, which is the driver's business.
            (State::Closed { .. }, Event::Rated { score, .. }) => {
                if self.rating_asked && self.rating.is_none() && (1..=5).contains(&score) {
                    self.rating = Some(score);
                    vec![Effect::StoreRating { score }]
                } else {
                    vec![]
                }
            }
            (State::Closed { .. }, _) => vec![],

            (_, Event::Tick { now }) => {
                if now - self.last_activity >= policy.idle_timeout {
                    self.state = State::Closed { resolved: false };
                }
                vec![]
            }

            (State::Bot, Event::CustomerMessage { at }) => {
                self.touch(at);
                vec![Effect::RunAgent]
            }
            (
                State::Bot,
                Event::AgentAnswered {
                    at,
                    grounded,
                    handoff,
                },
            ) => {
                self.touch(at);
                if let Some(reason) = handoff {
                    return self.hand_off(at, reason);
                }
                if grounded {
                    self.failures = 0;
                    return vec![];
                }
                self.failures = self.failures.saturating_add(1);
                if self.failures >= policy.max_failures {
                    return self.hand_off(at, HandoffReason::RepeatedFailure);
                }
                vec![]
            }
            (State::Bot, Event::HandoffRequested { at, reason }) => {
                self.touch(at);
                self.hand_off(at, reason)
            }
            (State::Bot, Event::StaffClaimed { at, staff }) => {
                // A takeover from the console: the customer learns who joined.
                self.touch(at);
                self.state = State::Human { staff };
                vec![Effect::AnnounceStaff { staff }]
            }

            (State::WaitingForHuman { .. }, Event::CustomerMessage { at }) => {
                self.touch(at);
                vec![Effect::ForwardToStaff]
            }
            (State::WaitingForHuman { .. }, Event::StaffClaimed { at, staff }) => {
                self.touch(at);
                self.state = State::Human { staff };
                vec![Effect::AnnounceStaff { staff }]
            }

            (State::Human { .. }, Event::CustomerMessage { at }) => {
                self.touch(at);
                vec![Effect::ForwardToStaff]
            }
            (State::Human { staff: owner }, Event::StaffMessage { at, staff }) => {
                let owner = *owner;
                self.touch(at);
                if staff == owner {
                    vec![Effect::DeliverStaffMessage { staff }]
                } else {
                    vec![]
                }
            }
            (State::Human { .. } | State::WaitingForHuman { .. }, Event::HandedBack { at }) => {
                self.touch(at);
                self.failures = 0;
                self.state = State::Bot;
                vec![Effect::AnnounceBotBack]
            }
            (_, Event::Resolved { at }) => {
                self.touch(at);
                self.state = State::Closed { resolved: true };
                if policy.ask_rating && !self.rating_asked {
                    self.rating_asked = true;
                    vec![Effect::AskRating]
                } else {
                    vec![]
                }
            }

            // Everything else is out of place in its state and ignored: a late agent
            // answer after a handoff, a second claim, a staff message without an owner,
            // a rating nobody asked for yet.
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::Rng;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::minutes(minutes)
    }

    #[test]
    fn a_customer_message_in_bot_mode_runs_the_agent() {
        let mut c = Conversation::new(t(0));
        assert_eq!(
            c.handle(Event::CustomerMessage { at: t(1) }, &Policy::default()),
            vec![Effect::RunAgent]
        );
    }

    #[test]
    fn asking_for_a_human_queues_and_acknowledges_once_then_the_bot_is_silent() {
        let p = Policy::default();
        let mut c = Conversation::new(t(0));
        let effects = c.handle(
            Event::HandoffRequested {
                at: t(1),
                reason: HandoffReason::Requested,
            },
            &p,
        );
        assert_eq!(
            effects,
            vec![
                Effect::Enqueue {
                    reason: HandoffReason::Requested
                },
                Effect::AcknowledgeHandoff {
                    reason: HandoffReason::Requested
                },
                Effect::Persist(ConversationState::WaitingForHuman),
            ]
        );
        assert_eq!(
            c.handle(Event::CustomerMessage { at: t(2) }, &p),
            vec![Effect::ForwardToStaff]
        );
        assert_eq!(
            c.handle(
                Event::HandoffRequested {
                    at: t(3),
                    reason: HandoffReason::Requested
                },
                &p
            ),
            vec![]
        );
        assert_eq!(
            c.handle(
                Event::AgentAnswered {
                    at: t(3),
                    grounded: true,
                    handoff: None
                },
                &p
            ),
            vec![]
        );
    }

    #[test]
    fn staff_claims_talks_and_hands_back() {
        let p = Policy::default();
        let mut c = Conversation::new(t(0));
        c.handle(
            Event::HandoffRequested {
                at: t(1),
                reason: HandoffReason::Requested,
            },
            &p,
        );
        assert_eq!(
            c.handle(Event::StaffClaimed { at: t(2), staff: 7 }, &p),
            vec![
                Effect::AnnounceStaff { staff: 7 },
                Effect::Persist(ConversationState::Human)
            ]
        );
        assert_eq!(
            c.handle(Event::StaffClaimed { at: t(2), staff: 8 }, &p),
            vec![],
            "a second claim changes nothing"
        );
        assert_eq!(
            c.handle(Event::StaffMessage { at: t(3), staff: 7 }, &p),
            vec![Effect::DeliverStaffMessage { staff: 7 }]
        );
        assert_eq!(
            c.handle(Event::StaffMessage { at: t(3), staff: 8 }, &p),
            vec![],
            "only the owner speaks"
        );
        assert_eq!(
            c.handle(Event::CustomerMessage { at: t(4) }, &p),
            vec![Effect::ForwardToStaff]
        );
        assert_eq!(
            c.handle(Event::HandedBack { at: t(5) }, &p),
            vec![
                Effect::AnnounceBotBack,
                Effect::Persist(ConversationState::Bot)
            ]
        );
        assert_eq!(
            c.handle(Event::CustomerMessage { at: t(6) }, &p),
            vec![Effect::RunAgent]
        );
    }

    #[test]
    fn repeated_ungrounded_answers_hand_off() {
        let p = Policy {
            max_failures: 2,
            ..Policy::default()
        };
        let mut c = Conversation::new(t(0));
        assert_eq!(
            c.handle(
                Event::AgentAnswered {
                    at: t(1),
                    grounded: false,
                    handoff: None
                },
                &p
            ),
            vec![]
        );
        // A grounded answer in between resets the count.
        c.handle(
            Event::AgentAnswered {
                at: t(2),
                grounded: true,
                handoff: None,
            },
            &p,
        );
        assert_eq!(
            c.handle(
                Event::AgentAnswered {
                    at: t(3),
                    grounded: false,
                    handoff: None
                },
                &p
            ),
            vec![]
        );
        let effects = c.handle(
            Event::AgentAnswered {
                at: t(4),
                grounded: false,
                handoff: None,
            },
            &p,
        );
        assert!(
            effects.contains(&Effect::Enqueue {
                reason: HandoffReason::RepeatedFailure
            }),
            "{effects:?}"
        );
        assert_eq!(c.state().stored(), ConversationState::WaitingForHuman);
    }

    #[test]
    fn the_agent_can_hand_off_a_sensitive_conversation() {
        let p = Policy::default();
        let mut c = Conversation::new(t(0));
        let reason = HandoffReason::Sensitive("chargeback".into());
        let effects = c.handle(
            Event::AgentAnswered {
                at: t(1),
                grounded: true,
                handoff: Some(reason.clone()),
            },
            &p,
        );
        assert!(effects.contains(&Effect::AcknowledgeHandoff { reason }));
    }

    #[test]
    fn idle_conversations_close_and_stay_closed() {
        let p = Policy {
            idle_timeout: Duration::minutes(30),
            ..Policy::default()
        };
        let mut c = Conversation::new(t(0));
        c.handle(Event::CustomerMessage { at: t(1) }, &p);
        assert_eq!(
            c.handle(Event::Tick { now: t(30) }, &p),
            vec![],
            "29 minutes is not idle yet"
        );
        assert_eq!(
            c.handle(Event::Tick { now: t(31) }, &p),
            vec![Effect::Persist(ConversationState::Closed)]
        );
        assert_eq!(c.state(), &State::Closed { resolved: false });
        assert_eq!(c.handle(Event::CustomerMessage { at: t(40) }, &p), vec![]);
    }

    #[test]
    fn a_resolved_conversation_asks_for_one_rating_and_stores_it() {
        let p = Policy::default();
        let mut c = Conversation::new(t(0));
        c.handle(Event::StaffClaimed { at: t(1), staff: 3 }, &p);
        assert_eq!(
            c.handle(Event::Resolved { at: t(2) }, &p),
            vec![
                Effect::AskRating,
                Effect::Persist(ConversationState::Closed)
            ]
        );
        assert_eq!(
            c.handle(Event::Rated { at: t(3), score: 9 }, &p),
            vec![],
            "out of range"
        );
        assert_eq!(
            c.handle(Event::Rated { at: t(3), score: 4 }, &p),
            vec![Effect::StoreRating { score: 4 }]
        );
        assert_eq!(
            c.handle(Event::Rated { at: t(4), score: 1 }, &p),
            vec![],
            "rated once"
        );
        assert_eq!(c.rating(), Some(4));
    }

    #[test]
    fn no_rating_is_asked_when_the_shop_turned_it_off() {
        let p = Policy {
            ask_rating: false,
            ..Policy::default()
        };
        let mut c = Conversation::new(t(0));
        assert_eq!(
            c.handle(Event::Resolved { at: t(1) }, &p),
            vec![Effect::Persist(ConversationState::Closed)]
        );
        assert_eq!(c.handle(Event::Rated { at: t(2), score: 5 }, &p), vec![]);
    }

    fn random_event(rng: &mut Rng, at: DateTime<Utc>) -> Event {
        let reason = || HandoffReason::Requested;
        match rng.range(0, 9) {
            0 | 1 => Event::CustomerMessage { at },
            2 => Event::AgentAnswered {
                at,
                grounded: rng.chance(0.5),
                handoff: rng
                    .chance(0.2)
                    .then(|| HandoffReason::Sensitive("anger".into())),
            },
            3 => Event::HandoffRequested {
                at,
                reason: reason(),
            },
            4 => Event::StaffClaimed {
                at,
                staff: rng.range(1, 3),
            },
            5 => Event::StaffMessage {
                at,
                staff: rng.range(1, 3),
            },
            6 => Event::HandedBack { at },
            7 => Event::Tick {
                now: at + Duration::hours(rng.range(0, 30)),
            },
            8 => Event::Resolved { at },
            _ => Event::Rated {
                at,
                score: rng.range(0, 6) as u8,
            },
        }
    }

    /// Property: whatever happens, the bot never speaks while a human owns or awaits the
    /// conversation — the only exception is the acknowledgement on entering the queue.
    #[test]
    fn the_bot_never_speaks_while_a_human_owns_or_awaits_the_conversation() {
        let p = Policy {
            idle_timeout: Duration::hours(12),
            ..Policy::default()
        };
        for seed in 0..5_000u64 {
            let mut rng = Rng::new(seed, 99, 0);
            let mut c = Conversation::new(t(0));
            for step in 0..60 {
                let event = random_event(&mut rng, t(step));
                let before = c.state().clone();
                let effects = c.handle(event.clone(), &p);
                let after = c.state().clone();
                if matches!(before, State::WaitingForHuman { .. } | State::Human { .. }) {
                    let spoke: Vec<&Effect> = effects
                        .iter()
                        .filter(|e| e.bot_speaks())
                        .filter(|e| !(matches!(e, Effect::AnnounceBotBack) && after == State::Bot))
                        .filter(|e| {
                            !(matches!(e, Effect::AskRating)
                                && matches!(after, State::Closed { .. }))
                        })
                        .collect();
                    assert!(
                        spoke.is_empty(),
                        "seed {seed} step {step}: {before:?} + {event:?} -> {effects:?}"
                    );
                }
                if effects
                    .iter()
                    .any(|e| matches!(e, Effect::AcknowledgeHandoff { .. }))
                {
                    assert!(
                        matches!(before, State::Bot),
                        "an acknowledgement only on entering the queue"
                    );
                    assert!(matches!(after, State::WaitingForHuman { .. }));
                }
                if effects.contains(&Effect::RunAgent) {
                    assert_eq!(before, State::Bot);
                }
            }
        }
    }
}
