//! The support agent: takes a customer's message from any channel, runs the conversation
//! state machine, lets the engine answer with the tools, checks the answer with the guard,
//! stores everything, and returns what to send. Channels, `kefu chat` and the evals all
//! go through [`Agent::handle`], so they behave the same.

pub mod formats;
pub mod guard;
pub mod llm;
pub mod memory;
pub mod offline;
pub mod passages;
pub mod settings;
pub mod templates;
pub mod tools;
mod verify;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use kefu_knowledge::Knowledge;

use crate::conversation::{Conversation as Machine, Effect, Event, HandoffReason};
use crate::language::ConversationLanguage;
use crate::shop::{Channel, Role};
use crate::store::{
    Citation, ConversationId, ConversationState, CustomerId, HandoffId, NewMessage, Recorded,
    Store, StoreError,
};
pub use guard::Violation;
pub use memory::{Memory, Verified, VerifiedVia};
use offline::{OfflineEngine, Turn};
pub use settings::{
    AgentSettings, Clock, ReturnPolicy, ReturnWindow, ShopPolicy, SupportHours, VerifyLimits,
};
pub use templates::{Answers, TemplateError};
pub use tools::ToolCall;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error(transparent)]
    Intents(#[from] crate::intent_model::ExemplarError),
}

/// An engine's answer to one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub citations: Vec<Citation>,
    /// Backed by knowledge or tool results (not a fallback).
    pub grounded: bool,
    /// The conversation should go to a person.
    pub handoff: Option<HandoffReason>,
    /// Text of the passages the answer quotes (the guard lets their facts through).
    pub passages: String,
}

impl Answer {
    pub fn grounded(text: String) -> Self {
        Self {
            text,
            grounded: true,
            ..Self::default()
        }
    }

    pub fn ungrounded(text: String) -> Self {
        Self {
            text,
            ..Self::default()
        }
    }

    pub fn handoff(text: String, reason: HandoffReason) -> Self {
        Self {
            text,
            grounded: true,
            handoff: Some(reason),
            ..Self::default()
        }
    }
}

/// Sends one-time verification codes by e-mail (the e-mail channel implements it).
#[async_trait::async_trait]
pub trait CodeSender: Send + Sync {
    async fn send_code(&self, to: &str, code: &str, lang: &str) -> Result<(), String>;
}

/// A customer's message as a channel hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub channel: Channel,
    /// The channel's conversation thread (chat id, widget visitor, e-mail thread…).
    pub thread_id: String,
    /// The channel's id of this message, so a redelivery is answered once.
    pub external_id: Option<String>,
    pub text: String,
    /// The customer the channel has verified (a linked identity or a valid widget HMAC).
    pub customer: Option<CustomerId>,
    /// The language the channel suggests (browser, Telegram client language…).
    pub lang_hint: Option<String>,
    /// `lang_hint` is the customer's own choice (Telegram `/lang`): every reply is in
    /// it, whatever language a message is written in. Otherwise the conversation follows
    /// the language the customer writes in.
    pub lang_fixed: bool,
    /// The network address the message came from, when the channel knows it (the web
    /// widget's visitor): failed verification attempts are limited per address.
    pub client: Option<String>,
}

/// What a reply is, for channels that render them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    Answer,
    HandoffAcknowledgement,
    StaffJoined,
    BotBack,
    AskRating,
    RatingThanks,
    TooLong,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub kind: ReplyKind,
    pub text: String,
    pub citations: Vec<Citation>,
}

/// The result of handling one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub conversation_id: ConversationId,
    pub replies: Vec<Reply>,
    pub state: ConversationState,
    pub language: String,
    pub tool_calls: Vec<ToolCall>,
    /// The handoff created by this message, if any.
    pub handoff: Option<HandoffId>,
    /// The message was a redelivery and was not answered again.
    pub duplicate: bool,
    /// Facts the guard removed from the engine's first answer.
    pub violations: Vec<Violation>,
    pub verified: bool,
    /// The agent asked the customer to prove who they are and waits for it.
    pub awaiting_verification: bool,
    /// Which engine wrote the answer: `offline` or `llm`.
    pub engine: &'static str,
    /// Why the LLM engine's answer was not used, when it was not.
    pub fallback: Option<String>,
    /// What was streamed to the customer while the answer was written. When it differs
    /// from the final reply (the reply failed a later check), the channel replaces it.
    pub streamed: Option<String>,
    /// Model tokens spent on this message, and their cost.
    pub usage: llm::Usage,
}

impl Outcome {
    fn new(
        conversation_id: ConversationId,
        state: ConversationState,
        language: &str,
        verified: bool,
    ) -> Self {
        Self {
            conversation_id,
            replies: vec![],
            state,
            language: language.to_string(),
            tool_calls: vec![],
            handoff: None,
            duplicate: false,
            violations: vec![],
            verified,
            awaiting_verification: false,
            engine: "offline",
            fallback: None,
            streamed: None,
            usage: llm::Usage::default(),
        }
    }
}

pub struct Agent {
    store: Store,
    knowledge: Option<Arc<Knowledge>>,
    settings: AgentSettings,
    offline: OfflineEngine,
    llm: Option<llm::LlmEngine>,
    code_sender: Option<Arc<dyn CodeSender>>,
    order_formats: formats::FormatsCache,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Agent {
    pub fn new(
        store: Store,
        knowledge: Option<Arc<Knowledge>>,
        settings: AgentSettings,
    ) -> Result<Self, AgentError> {
        // With an embedding model, intents are recognised by meaning too.
        let intents = match knowledge.as_ref().and_then(|k| k.embedder()) {
            Some(embedder) => Some(crate::intent_model::IntentModel::new(embedder.clone())?),
            None => None,
        };
        Ok(Self {
            store,
            knowledge,
            settings,
            offline: OfflineEngine::new(Answers::builtin()?).with_intents(intents),
            llm: None,
            code_sender: None,
            order_formats: formats::FormatsCache::default(),
        })
    }

    /// Keeps the intent examples' vectors in `dir`, so a restart reads them back.
    pub fn with_intent_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.offline.keep_intent_vectors_in(dir.into());
        self
    }

    /// Embeds the intent examples now rather than in the first customer's turn; `false`
    /// without a model (or when that failed: keyword rules decide alone).
    pub async fn warm_intents(&self) -> bool {
        match self.offline.intents() {
            Some(model) => model.warm().await,
            None => false,
        }
    }

    /// Lets an LLM answer, with the offline engine as the fallback.
    pub fn with_llm(mut self, engine: llm::LlmEngine) -> Self {
        self.llm = Some(engine);
        self
    }

    /// Enables verification by one-time e-mail code.
    pub fn with_code_sender(mut self, sender: Arc<dyn CodeSender>) -> Self {
        self.code_sender = Some(sender);
        self
    }

    pub fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads the shop's order-name formats again at the next message (after an import).
    pub fn forget_order_formats(&self) {
        self.order_formats.invalidate();
    }

    /// The model tokens a conversation has used so far, and their cost at the configured
    /// prices (zero cost without an LLM engine).
    pub async fn usage(&self, id: ConversationId) -> Result<llm::Usage, AgentError> {
        let (prompt, completion) = self.store.usage(id).await?;
        Ok(match &self.llm {
            Some(llm) => llm.settings().usage(prompt, completion),
            None => llm::Usage {
                prompt_tokens: prompt,
                completion_tokens: completion,
                cost: 0.0,
            },
        })
    }

    /// Handles one customer message end to end.
    pub async fn handle(&self, inbound: &Inbound) -> Result<Outcome, AgentError> {
        self.handle_streaming(inbound, None).await
    }

    /// [`Agent::handle`], giving an LLM answer's sentences to `sink` as they are written
    /// and pass the guard (channels that can show a reply growing use this).
    pub async fn handle_streaming(
        &self,
        inbound: &Inbound,
        sink: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<Outcome, AgentError> {
        let now = self.settings.now();
        let text = inbound.text.trim();

        // A rating for the thread's last, closed conversation.
        if let Some(outcome) = self.take_rating(inbound, text).await? {
            return Ok(outcome);
        }

        let (id, mut memory, mut machine) = self.open(inbound, now).await?;
        if let Some(customer) = inbound.customer
            && memory.verified.is_none_or(|v| v.customer != customer)
        {
            memory.verify(customer, VerifiedVia::LinkedIdentity);
        }
        // With a language the customer chose, replies are in it whatever the message's
        // own language, which searches still read the message by.
        let (lang, written_in) = match (&inbound.lang_hint, inbound.lang_fixed) {
            (Some(chosen), true) => {
                let written = ConversationLanguage::new(chosen.clone())
                    .observe(text)
                    .to_string();
                (chosen.clone(), Some(written))
            }
            _ => {
                let start = memory
                    .language
                    .clone()
                    .or_else(|| inbound.lang_hint.clone())
                    .unwrap_or_else(|| self.settings.default_language.clone());
                (
                    ConversationLanguage::new(start).observe(text).to_string(),
                    None,
                )
            }
        };

        let too_long = text.chars().count() > self.settings.max_message_chars;
        let body: String = text.chars().take(self.settings.max_message_chars).collect();
        // The conversation's `updated_at` is set when the turn is stored.
        let recorded = self
            .store
            .insert_message(&NewMessage::customer(
                id,
                inbound.channel,
                inbound.external_id.clone(),
                body,
            ))
            .await?;
        let mut outcome = Outcome::new(
            id,
            machine.state().stored(),
            &lang,
            memory.verified.is_some(),
        );
        outcome.duplicate = matches!(recorded, Recorded::Duplicate(_));
        if outcome.duplicate {
            return Ok(outcome);
        }
        tracing::debug!(conversation = id, channel = %inbound.channel, lang = %lang, text = %guard::redact(text), "customer message");

        let effects = machine.handle(Event::CustomerMessage { at: now }, &self.settings.policy);
        let mut pending: std::collections::VecDeque<Effect> = effects.into();
        let customer_text = memory.said_with(text);
        while let Some(effect) = pending.pop_front() {
            match effect {
                Effect::RunAgent => {
                    let answer = if too_long {
                        Answer::grounded(self.offline.answers().render(
                            &lang,
                            "too_long",
                            &json!({ "max": self.settings.max_message_chars }),
                        ))
                    } else {
                        self.run_engine(
                            id,
                            &mut memory,
                            text,
                            (&lang, written_in.as_deref(), inbound.client.as_deref()),
                            &customer_text,
                            sink,
                            &mut outcome,
                        )
                        .await?
                    };
                    let kind = if too_long {
                        ReplyKind::TooLong
                    } else {
                        ReplyKind::Answer
                    };
                    if !answer.text.trim().is_empty() {
                        outcome.replies.push(Reply {
                            kind,
                            text: answer.text.clone(),
                            citations: answer.citations.clone(),
                        });
                    }
                    let event = Event::AgentAnswered {
                        at: now,
                        grounded: answer.grounded,
                        handoff: answer.handoff.clone(),
                    };
                    pending.extend(machine.handle(event, &self.settings.policy));
                }
                Effect::Enqueue { reason } => {
                    let summary = self
                        .handoff_summary(id, &memory, &reason, inbound, text)
                        .await?;
                    let handoff = self
                        .store
                        .request_handoff_with_summary(id, &reason_label(&reason), &summary)
                        .await?;
                    tracing::info!(conversation = id, handoff, reason = %reason_label(&reason), "handed over to staff");
                    outcome.handoff = Some(handoff);
                }
                Effect::AcknowledgeHandoff { .. } => {
                    outcome.replies.push(Reply {
                        kind: ReplyKind::HandoffAcknowledgement,
                        text: self.handoff_acknowledgement(&lang, now),
                        citations: vec![],
                    });
                }
                other => self.side_effect(id, &lang, other, &mut outcome).await?,
            }
        }

        outcome.state = machine.state().stored();
        outcome.verified = memory.verified.is_some();
        outcome.awaiting_verification =
            matches!(memory.pending, Some(memory::Pending::Verify { .. }));
        memory.language = Some(lang);
        memory.machine = Some(machine);
        memory.remember_said(text);
        let customer = memory.verified.map(|v| v.customer);
        let replies: Vec<NewMessage> = outcome
            .replies
            .iter()
            .map(|reply| {
                NewMessage::bot(
                    id,
                    inbound.channel,
                    reply.text.clone(),
                    reply.citations.clone(),
                )
            })
            .collect();
        // The replies and the conversation's new state are stored together.
        self.store
            .finish_turn(
                id,
                &replies,
                outcome.state,
                &outcome.language,
                customer,
                &memory.to_json(),
            )
            .await?;
        Ok(outcome)
    }

    /// The thread's open conversation with the agent's memory of it. One idle for longer
    /// than the policy allows is closed first, and a new one starts.
    async fn open(
        &self,
        inbound: &Inbound,
        now: DateTime<Utc>,
    ) -> Result<(ConversationId, Memory, Machine), AgentError> {
        for _ in 0..2 {
            let (conversation, context) = self
                .store
                .open_conversation_with_context(
                    inbound.channel,
                    &inbound.thread_id,
                    inbound.customer,
                )
                .await?;
            let id = conversation.id;
            let mut memory = Memory::from_json(&context);
            let mut machine = memory.machine.take().unwrap_or_else(|| Machine::new(now));
            machine.handle(Event::Tick { now }, &self.settings.policy);
            if machine.state().stored() != ConversationState::Closed {
                return Ok((id, memory, machine));
            }
            tracing::debug!(conversation = id, "idle conversation closed");
            let lang = memory
                .language
                .clone()
                .unwrap_or_else(|| self.settings.default_language.clone());
            memory.machine = Some(machine);
            self.store
                .save_conversation(
                    id,
                    ConversationState::Closed,
                    &lang,
                    None,
                    &memory.to_json(),
                )
                .await?;
        }
        Err(AgentError::Store(StoreError::Conflict(format!(
            "the conversation of {} thread {} closed twice while opening",
            inbound.channel, inbound.thread_id
        ))))
    }

    // The turn's parts travel separately: they are borrowed from different owners.
    #[allow(clippy::too_many_arguments)]
    async fn run_engine(
        &self,
        id: ConversationId,
        memory: &mut Memory,
        text: &str,
        (lang, written_in, client): (&str, Option<&str>, Option<&str>),
        customer_text: &str,
        sink: Option<&(dyn Fn(&str) + Send + Sync)>,
        outcome: &mut Outcome,
    ) -> Result<Answer, AgentError> {
        let mut tools =
            tools::Tools::new(&self.store, self.knowledge.as_deref(), &self.settings, id);
        tools.written_in = written_in.map(str::to_string);
        tools.facts = memory.facts.clone();
        // Read from the store at most once a minute (see `formats`).
        tools.formats = self.order_formats.get(&self.store).await;
        // A pending change is carried out only when this message confirms it; anything
        // else drops it and the message is answered like any other.
        let unconfirmed = match &memory.pending {
            Some(memory::Pending::Confirm { change })
                if !offline::confirms(text) && !offline::declines(text) =>
            {
                Some(change.order().to_string())
            }
            _ => None,
        };
        if let Some(order) = unconfirmed {
            memory.note(format!("dropped the unconfirmed change of {order}"));
            memory.pending = None;
        }
        // Handoff triggers and the agent's own follow-up questions (verification, which
        // order, the new address) are rules: the offline engine handles them either way.
        let use_llm = self.llm.is_some()
            && memory.pending.is_none()
            && crate::triggers::triggers(text).is_empty();
        let history = if use_llm {
            self.history(id).await?
        } else {
            Vec::new()
        };
        let mut turn = Turn {
            tools: &mut tools,
            memory,
            text,
            lang,
            conversation: id,
            code_sender: self.code_sender.as_deref(),
            client: client.map(verify::client_key),
        };
        let mut answer = None;
        if let (true, Some(llm)) = (use_llm, &self.llm) {
            let mut feedback: Option<String> = None;
            for attempt in 0..2 {
                // Only the first attempt streams; a regenerated answer is sent whole.
                let stream = sink.filter(|_| attempt == 0).map(|sink| llm::StreamTo {
                    sink,
                    customer_text,
                    today: self.settings.now().date_naive(),
                });
                let result = llm
                    .answer(&mut turn, &history, feedback.as_deref(), stream.as_ref())
                    .await;
                if let Ok(got) = &result
                    && !got.streamed.is_empty()
                {
                    outcome.streamed = Some(got.streamed.clone());
                }
                match result {
                    Ok(got) => {
                        self.store
                            .add_usage(id, got.prompt_tokens, got.completion_tokens)
                            .await?;
                        outcome.usage.add(
                            llm.settings()
                                .usage(got.prompt_tokens, got.completion_tokens),
                        );
                        let mut violations = self.check(&got.answer, turn.tools, customer_text);
                        if let Some(line) = llm::prompt_leak(&got.answer.text) {
                            violations.push(Violation::PromptLeak(line));
                        }
                        if violations.is_empty() {
                            outcome.engine = "llm";
                            answer = Some(got.answer);
                            break;
                        }
                        tracing::warn!(
                            conversation = id,
                            attempt,
                            ?violations,
                            "LLM answer failed the guard"
                        );
                        outcome.violations.extend(violations.iter().cloned());
                        let listed: Vec<String> =
                            violations.iter().map(ToString::to_string).collect();
                        feedback = Some(format!(
                            "Your previous reply was not sent: {}. Rewrite it stating only facts from tool results and citing only the numbered sources.",
                            listed.join("; ")
                        ));
                        if attempt == 1 {
                            outcome.fallback = Some("the answer failed the guard twice".into());
                        }
                    }
                    Err(e) => {
                        tracing::warn!(conversation = id, error = %e, "LLM engine failed; the offline engine answers");
                        outcome.fallback = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        let answer = match answer {
            Some(a) => a,
            None => {
                let a = self.offline.answer(&mut turn).await?;
                let violations = self.check(&a, turn.tools, customer_text);
                if !violations.is_empty() {
                    // The offline engine only says what its tools returned; reaching this
                    // is a bug, and a person is safer than a wrong fact.
                    tracing::error!(
                        conversation = id,
                        ?violations,
                        "offline answer failed the guard"
                    );
                    outcome.violations.extend(violations);
                    Answer::handoff(
                        String::new(),
                        HandoffReason::Sensitive("unverifiable answer".into()),
                    )
                } else {
                    a
                }
            }
        };
        memory.facts = tools.facts.clone();
        outcome.tool_calls.extend(tools.calls);
        Ok(answer)
    }

    fn check(
        &self,
        answer: &Answer,
        tools: &tools::Tools<'_>,
        customer_text: &str,
    ) -> Vec<Violation> {
        let citations: Vec<String> = answer
            .citations
            .iter()
            .map(|c| c.document_id.clone())
            .collect();
        let grounds = guard::Grounds {
            facts: Some(&tools.facts),
            customer_text,
            retrieved: Some(&tools.retrieved),
            passages: &answer.passages,
            today: Some(self.settings.now().date_naive()),
        };
        guard::check(&answer.text, &citations, &grounds)
    }

    /// The conversation before the current message, for the LLM.
    async fn history(&self, id: ConversationId) -> Result<Vec<(Role, String)>, StoreError> {
        let mut messages: Vec<(Role, String)> = self
            .store
            .messages(id)
            .await?
            .into_iter()
            .map(|m| (m.role, m.body))
            .collect();
        // The last one is the message being answered.
        messages.pop();
        Ok(messages)
    }

    async fn take_rating(
        &self,
        inbound: &Inbound,
        text: &str,
    ) -> Result<Option<Outcome>, AgentError> {
        let score = match text.trim_end_matches(['.', '!', '⭐']).trim() {
            s if s.len() == 1 => s.parse::<u8>().ok().filter(|n| (1..=5).contains(n)),
            s if !s.is_empty() && s.chars().all(|c| c == '⭐') => {
                u8::try_from(s.chars().count()).ok().filter(|n| *n <= 5)
            }
            _ => None,
        };
        let Some(score) = score else { return Ok(None) };
        let Some(id) = self
            .store
            .latest_conversation(inbound.channel, &inbound.thread_id)
            .await?
        else {
            return Ok(None);
        };
        let Some(conversation) = self.store.conversation(id).await? else {
            return Ok(None);
        };
        if conversation.state != ConversationState::Closed {
            return Ok(None);
        }
        let mut memory = Memory::from_json(&self.store.conversation_context(id).await?);
        let Some(mut machine) = memory.machine.take().filter(Machine::awaits_rating) else {
            return Ok(None);
        };
        let lang = memory
            .language
            .clone()
            .unwrap_or_else(|| self.settings.default_language.clone());
        let mut outcome = Outcome::new(
            id,
            ConversationState::Closed,
            &lang,
            memory.verified.is_some(),
        );
        // The rating and the thanks belong to the conversation's record, and a redelivered
        // rating is recognised like any other message.
        let recorded = self
            .store
            .insert_message(&NewMessage::customer(
                id,
                inbound.channel,
                inbound.external_id.clone(),
                text.to_string(),
            ))
            .await?;
        if matches!(recorded, Recorded::Duplicate(_)) {
            outcome.duplicate = true;
            return Ok(Some(outcome));
        }
        for effect in machine.handle(
            Event::Rated {
                at: self.settings.now(),
                score,
            },
            &self.settings.policy,
        ) {
            self.side_effect(id, &lang, effect, &mut outcome).await?;
        }
        self.record_replies(id, inbound.channel, &outcome.replies)
            .await?;
        memory.machine = Some(machine);
        self.store
            .save_conversation(
                id,
                ConversationState::Closed,
                &lang,
                None,
                &memory.to_json(),
            )
            .await?;
        Ok(Some(outcome))
    }

    /// Applies a staff or system event (claim, hand back, resolve, tick) to a conversation
    /// and returns the replies to send the customer. `staff_name` names whoever joined.
    pub async fn apply(
        &self,
        id: ConversationId,
        event: Event,
        staff_name: Option<&str>,
    ) -> Result<Outcome, AgentError> {
        let mut memory = Memory::from_json(&self.store.conversation_context(id).await?);
        let mut machine = memory
            .machine
            .take()
            .unwrap_or_else(|| Machine::new(self.settings.now()));
        let lang = memory
            .language
            .clone()
            .unwrap_or_else(|| self.settings.default_language.clone());
        let conversation = self.store.conversation(id).await?;
        let mut outcome = Outcome::new(
            id,
            machine.state().stored(),
            &lang,
            memory.verified.is_some(),
        );
        for effect in machine.handle(event, &self.settings.policy) {
            match effect {
                Effect::AnnounceStaff { .. } => outcome.replies.push(Reply {
                    kind: ReplyKind::StaffJoined,
                    text: self.offline.answers().render(
                        &lang,
                        "staff_joined",
                        &json!({ "name": staff_name.unwrap_or("") }),
                    ),
                    citations: vec![],
                }),
                other => self.side_effect(id, &lang, other, &mut outcome).await?,
            }
        }
        if let Some(conversation) = conversation {
            self.record_replies(id, conversation.channel, &outcome.replies)
                .await?;
        }
        outcome.state = machine.state().stored();
        memory.machine = Some(machine);
        self.store
            .save_conversation(id, outcome.state, &lang, None, &memory.to_json())
            .await?;
        Ok(outcome)
    }

    /// Stores replies given outside a customer's turn (staff events, ratings).
    async fn record_replies(
        &self,
        id: ConversationId,
        channel: Channel,
        replies: &[Reply],
    ) -> Result<(), AgentError> {
        for reply in replies {
            self.store
                .record_message(&NewMessage::bot(
                    id,
                    channel,
                    reply.text.clone(),
                    reply.citations.clone(),
                ))
                .await?;
        }
        Ok(())
    }

    async fn side_effect(
        &self,
        id: ConversationId,
        lang: &str,
        effect: Effect,
        outcome: &mut Outcome,
    ) -> Result<(), AgentError> {
        let answers = self.offline.answers();
        let shop = json!({ "shop": self.settings.shop_name });
        match effect {
            Effect::AskRating => outcome.replies.push(Reply {
                kind: ReplyKind::AskRating,
                text: answers.render(lang, "rating_ask", &shop),
                citations: vec![],
            }),
            Effect::StoreRating { score } => {
                self.store.set_rating(id, score).await?;
                outcome.replies.push(Reply {
                    kind: ReplyKind::RatingThanks,
                    text: answers.render(lang, "rating_thanks", &shop),
                    citations: vec![],
                });
            }
            Effect::AnnounceBotBack => outcome.replies.push(Reply {
                kind: ReplyKind::BotBack,
                text: answers.render(lang, "bot_back", &shop),
                citations: vec![],
            }),
            Effect::AcknowledgeHandoff { .. } => outcome.replies.push(Reply {
                kind: ReplyKind::HandoffAcknowledgement,
                text: self.handoff_acknowledgement(lang, self.settings.now()),
                citations: vec![],
            }),
            // Staff see customer messages in the console; staff messages are delivered by
            // the console's own path; state is saved by the caller.
            Effect::ForwardToStaff
            | Effect::DeliverStaffMessage { .. }
            | Effect::AnnounceStaff { .. }
            | Effect::Persist(_)
            | Effect::RunAgent
            | Effect::Enqueue { .. } => {}
        }
        Ok(())
    }

    fn handoff_acknowledgement(&self, lang: &str, now: DateTime<Utc>) -> String {
        let answers = self.offline.answers();
        let support = &self.settings.support;
        match support.next_open(now) {
            None => answers.render(
                lang,
                "handoff",
                &json!({ "wait": support.expected_wait_minutes }),
            ),
            Some(open) => {
                let date = answers.date(lang, open.with_timezone(&Utc), support.time_zone);
                let when = format!(
                    "{date} {} ({})",
                    open.format("%H:%M"),
                    support.time_zone.name()
                );
                answers.render(lang, "handoff_closed", &json!({ "next_open": when }))
            }
        }
    }

    /// A few lines for the staff member who picks the conversation up.
    async fn handoff_summary(
        &self,
        _id: ConversationId,
        memory: &Memory,
        reason: &HandoffReason,
        inbound: &Inbound,
        text: &str,
    ) -> Result<String, StoreError> {
        let mut lines = vec![format!("Reason: {}", reason_label(reason))];
        let who = match memory.verified {
            Some(v) => {
                let customer = self.store.customer(v.customer).await?;
                let name = customer
                    .map(|c| {
                        format!(
                            "{} <{}>",
                            c.name.unwrap_or_default(),
                            c.email.unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                format!("Customer: {name} (verified by {})", via_label(v.via))
            }
            None => format!(
                "Customer: not verified ({} {})",
                inbound.channel, inbound.thread_id
            ),
        };
        lines.push(who);
        if !memory.orders_in_question.is_empty() {
            let orders: Vec<&str> = memory
                .orders_in_question
                .iter()
                .map(String::as_str)
                .collect();
            lines.push(format!("Orders in question: {}", orders.join(", ")));
        }
        if !memory.tried.is_empty() {
            lines.push(format!("Bot tried: {}", memory.tried.join("; ")));
        }
        let last: String = text.chars().take(300).collect();
        lines.push(format!("Last message: {last}"));
        Ok(lines.join("\n"))
    }
}

fn via_label(via: VerifiedVia) -> &'static str {
    match via {
        VerifiedVia::LinkedIdentity => "linked channel identity",
        VerifiedVia::OrderChallenge => "order number and e-mail or postal code",
        VerifiedVia::EmailCode => "e-mail code",
    }
}

pub fn reason_label(reason: &HandoffReason) -> String {
    match reason {
        HandoffReason::Requested => "customer asked for a person".into(),
        HandoffReason::RepeatedFailure => "the bot could not answer".into(),
        HandoffReason::Sensitive(what) => format!("sensitive: {what}"),
        HandoffReason::StaffTakeover => "staff took over".into(),
    }
}
