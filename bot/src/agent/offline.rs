//! The offline engine: kefu's default, no LLM needed. It recognises what the customer
//! wants ([`crate::intent`]), finds the facts with the agent's tools, and answers from
//! per-language templates: order status and parcels with delay explanations, returns,
//! cancellations and address changes within the shop's rules, product search with
//! suggestions, FAQ answers quoted from the best passage with its source. It asks which
//! order when that is unclear, asks unverified visitors to verify before any order
//! question, and hands over when it has nothing grounded to say.

use chrono::Duration;
use serde_json::{Value, json};

mod confirm;
mod references;

pub use confirm::{confirms, declines, describe};

use super::memory::{Change, Memory, Pending, Verified, VerifiedVia, code_hash, new_code};
use super::templates::Answers;
use super::tools::{ChangeOutcome, Parcel, ReturnOutcome, Tools, money};
use super::{Answer, CodeSender, verify};
use crate::conversation::HandoffReason;
use crate::intent::{Intent, Understood, about_the_rules, asks_how, is_question};
use crate::intent_model::{self, IntentModel};
use crate::shop::TrackingStatus;
use crate::slots;
use crate::store::{Address, Citation, Order, StoreError};
use crate::triggers::{Trigger, triggers};
use kefu_knowledge::Found;

/// Orders listed at most in a list or a clarifying question.
const LIST_MAX: usize = 5;
/// Characters of a passage quoted in an FAQ answer.
const QUOTE_CHARS: usize = 700;
/// In another language than the question's, a passage that states the duration or price
/// asked for is quoted instead of the nearest one when its cosine is at most this much
/// lower.
const STATING_LEEWAY: f32 = 0.03;
/// One-time codes expire after this long.
pub const CODE_TTL_MINUTES: i64 = 10;
/// Wrong tries of one code before it is void.
const CODE_ATTEMPTS: u8 = 3;

/// Words that make a return question a refund question.
const REFUND_WORDS: &[&str] = &[
    "refund",
    "money back",
    "退款",
    "退钱",
    "退錢",
    "返金",
    "reembolso",
    "remboursement",
    "rembourser",
    "erstattung",
    "rückerstattung",
    "geld zurück",
    "reembolso",
    "estorno",
    "devolvisteis",
    "devolvieron",
    "rimborso",
    "rimborsat",
    "terugbetaling",
    "terugbetaald",
    "환불",
];

/// Whether a lowercased message asks what was refunded rather than for a refund.
fn asks_what_was_refunded(lower: &str) -> bool {
    REFUND_WORDS.iter().any(|w| lower.contains(w))
        && REFUND_STATUS.iter().any(|w| lower.contains(w))
}

/// Words that ask what was refunded rather than for a refund.
const REFUND_STATUS: &[&str] = &[
    "how much",
    "refunded",
    "when will",
    "where is my refund",
    "wann",
    "quand",
    "cuándo",
    "quando",
    "什么时候",
    "什麼時候",
    "いつ",
    "was the refund",
    "has the refund",
    "wie viel",
    "wieviel",
    "erstattet",
    "combien",
    "remboursé",
    "cuánto",
    "cuanto",
    "reembolsado",
    "quanto",
    "estornado",
    "rimborsato",
    "hoeveel",
    "얼마",
    "多少",
    "退了",
    "退款了",
    "いくら",
    "返金され",
];

/// One turn of the offline engine.
pub struct Turn<'t, 'a> {
    pub tools: &'t mut Tools<'a>,
    pub memory: &'t mut Memory,
    pub text: &'t str,
    pub lang: &'t str,
    pub conversation: i64,
    pub code_sender: Option<&'t dyn CodeSender>,
    /// The client's address, as a limit key (see [`super::verify::client_key`]).
    pub client: Option<String>,
}

pub struct OfflineEngine {
    answers: Answers,
    /// Intent recognition by meaning, with an embedding model.
    intents: Option<IntentModel>,
}

impl std::fmt::Debug for OfflineEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OfflineEngine")
    }
}

/// What a verification attempt in a message came to.
enum Verification {
    /// `consumed`: the message was only the proof (a code), not a question.
    Passed(Verified, bool),
    Failed,
    /// Verification by order details is paused (order, client or shop-wide limit);
    /// `handoff`: this attempt opens the lockout's one staff handoff.
    Locked {
        handoff: bool,
    },
    /// An e-mail address alone, but no e-mail server to send a code with.
    NoCodes,
    CodeSent,
    NotAttempted,
}

impl OfflineEngine {
    pub fn new(answers: Answers) -> Self {
        Self {
            answers,
            intents: None,
        }
    }

    /// Recognises intents by meaning too ([`crate::intent_model`]).
    pub fn with_intents(mut self, model: Option<IntentModel>) -> Self {
        self.intents = model;
        self
    }

    pub fn intents(&self) -> Option<&IntentModel> {
        self.intents.as_ref()
    }

    pub fn keep_intent_vectors_in(&mut self, dir: std::path::PathBuf) {
        self.intents = self.intents.take().map(|m| m.with_cache_dir(dir));
    }

    pub fn answers(&self) -> &Answers {
        &self.answers
    }

    fn say(&self, turn: &Turn<'_, '_>, key: &str, mut data: Value) -> String {
        if let Some(obj) = data.as_object_mut() {
            obj.insert(
                "shop".into(),
                Value::String(turn.tools.settings().shop_name.clone()),
            );
        }
        self.answers.render(turn.lang, key, &data)
    }

    fn cancelled(
        &self,
        turn: &Turn<'_, '_>,
        order: &str,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        let date = at.map(|d| self.date(turn, d)).unwrap_or_default();
        self.say(
            turn,
            "cancelled_already",
            json!({ "order": order, "date": date }),
        )
    }

    fn date(&self, turn: &Turn<'_, '_>, at: chrono::DateTime<chrono::Utc>) -> String {
        self.answers
            .date(turn.lang, at, turn.tools.settings().support.time_zone)
    }

    /// Answers one customer message.
    pub async fn answer(&self, turn: &mut Turn<'_, '_>) -> Result<Answer, StoreError> {
        let mut understood = self.understand_orders(turn).await?;
        let hazard = self.by_meaning(turn, &mut understood).await;
        // An order named together with a full new address ("Bitte liefern Sie RC-1 an
        // Mariahilfer Straße 88, 1070 Wien") asks to send it there, in any language.
        if matches!(understood.intent, Intent::TrackOrder | Intent::Question)
            && understood.order_numbers.len() == 1
            && turn.memory.pending.is_none()
            && address_in_request(turn.text, None).is_some()
        {
            understood.intent = Intent::ChangeAddress;
        }
        turn.memory
            .orders_in_question
            .extend(understood.order_numbers.iter().cloned());

        if let Some(mut answer) = self.triggered(turn, understood.intent, hazard) {
            // An upset customer asking where their order is gets its status with the
            // apology, so the colleague who takes over starts from the facts too.
            if answer.handoff == Some(HandoffReason::Sensitive("anger".into()))
                && understood.intent == Intent::TrackOrder
                && !understood.order_numbers.is_empty()
                && turn.memory.verified().is_some()
            {
                let status = self
                    .order_question(turn, understood.intent, &understood)
                    .await?;
                if status.handoff.is_none() && !status.text.is_empty() {
                    answer.text = [answer.text, status.text]
                        .into_iter()
                        .filter(|t| !t.is_empty())
                        .collect::<Vec<_>>()
                        .join("\n\n");
                    answer.citations.extend(status.citations);
                    answer.passages = status.passages;
                }
            }
            return Ok(answer);
        }

        let mut preface = Vec::new();
        match turn.memory.pending.take() {
            Some(Pending::Verify { intent, order }) => match self
                .try_verify(turn, &understood, order.as_deref())
                .await?
            {
                Verification::Passed(who, consumed) => {
                    preface.push(self.verified_line(turn, who).await?);
                    if consumed {
                        understood.intent = intent;
                        understood.order_numbers = order.into_iter().collect();
                    } else if !is_order_intent(understood.intent)
                        || understood.intent == Intent::TrackOrder
                            && understood.order_numbers.len() <= 1
                    {
                        // The message was the verification itself: carry on with the
                        // question it answered.
                        let order = order.or_else(|| understood.order_numbers.first().cloned());
                        understood.intent = intent;
                        understood.order_numbers = order.into_iter().collect();
                    }
                }
                Verification::Failed => return Ok(self.verification_failed(turn, intent, order)),
                Verification::Locked { handoff } => {
                    return Ok(self.verification_paused(turn, intent, order, handoff));
                }
                Verification::NoCodes => {
                    turn.memory.pending = Some(Pending::Verify { intent, order });
                    return Ok(Answer::grounded(self.say(
                        turn,
                        "otp_unavailable",
                        json!({}),
                    )));
                }
                Verification::CodeSent => {
                    turn.memory.pending = Some(Pending::Verify { intent, order });
                    return Ok(Answer::grounded(self.say(turn, "otp_sent", json!({}))));
                }
                Verification::NotAttempted => {}
            },
            Some(Pending::WhichOrder { intent, candidates }) => {
                if let Some(picked) = pick(turn.text, &understood, &candidates) {
                    understood.intent = intent;
                    understood.order_numbers = vec![picked];
                } else if understood.intent == Intent::Question
                    && understood.order_numbers.is_empty()
                    && turn.text.trim().chars().count() < 12
                {
                    // A short reply that names nothing on the list: ask again.
                    turn.memory.pending = Some(Pending::WhichOrder {
                        intent,
                        candidates: candidates.clone(),
                    });
                    if let Some(who) = turn.memory.verified() {
                        return self.which_order(turn, who, intent, &candidates).await;
                    }
                }
            }
            Some(Pending::Confirm { change }) => {
                if let Some(answer) = self.answer_pending_change(turn, change).await? {
                    return Ok(answer);
                }
            }
            Some(Pending::Address { order }) => {
                if matches!(understood.intent, Intent::Question | Intent::ChangeAddress)
                    && let Some(who) = turn.memory.verified()
                {
                    return self.receive_address(turn, who, &order).await;
                }
            }
            None => {}
        }

        let mut answer = match understood.intent {
            Intent::Greeting => Answer::grounded(self.say(turn, "greeting", json!({}))),
            Intent::Thanks => Answer::grounded(self.say(turn, "thanks", json!({}))),
            Intent::OutOfScope => Answer::grounded(self.say(turn, "out_of_scope", json!({}))),
            Intent::AboutBot => Answer::grounded(self.say(turn, "about_bot", json!({}))),
            Intent::Instructions => {
                Answer::grounded(self.say(turn, "instructions_private", json!({})))
            }
            intent @ (Intent::FindProduct | Intent::Question) if asks_for_restock(turn.text) => {
                match self.restock(turn).await? {
                    Some(answer) => answer,
                    // "How do I know when an item is back in stock?" names no product:
                    // the shop's article answers it.
                    None if intent == Intent::FindProduct => {
                        self.products(turn, understood.by_meaning).await
                    }
                    None => self.question(turn).await,
                }
            }
            Intent::FindProduct => self.products(turn, understood.by_meaning).await,
            Intent::Question => self.question(turn).await,
            intent => self.order_question(turn, intent, &understood).await?,
        };
        if !preface.is_empty() {
            preface.push(answer.text);
            answer.text = preface.join("\n\n");
        }
        Ok(answer)
    }

    /// What the message means by the intent examples ([`crate::intent_model`]), read from
    /// the turn's one query embedding (the searches reuse it): an order action where the
    /// keyword rules named none, and whether it reports a dangerous product. Without a
    /// model, and for messages the rules have settled (greetings, a trigger), nothing.
    async fn by_meaning(&self, turn: &mut Turn<'_, '_>, understood: &mut Understood) -> bool {
        let Some(model) = &self.intents else {
            return false;
        };
        if matches!(
            understood.intent,
            Intent::Greeting
                | Intent::Thanks
                | Intent::Instructions
                | Intent::AboutBot
                | Intent::OutOfScope
        ) || !triggers(turn.text).is_empty()
        {
            return false;
        }
        let Some(query) = turn.tools.query_embedding(turn.text).await else {
            return false;
        };
        let Some(guess) = model.classify(&query).await else {
            return false;
        };
        let decision = intent_model::decide(
            &guess,
            understood.intent,
            about_the_rules(turn.text),
            asks_how(turn.text),
            turn.memory.pending.is_some(),
        );
        tracing::debug!(?guess, ?decision, "intent by meaning");
        if let Some(intent) = decision.intent {
            understood.intent = intent;
            understood.by_meaning = true;
        }
        // A question about using a product safely ("can I charge it overnight?") sits
        // close to a hazard report in meaning; one put as a question hands over on the
        // hazard words themselves ([`triggers`]), not on meaning alone.
        decision.hazard && !is_question(turn.text)
    }

    /// Safety, legal, chargeback, anger and explicit requests go to a person at once;
    /// so does a dangerous product the intent examples recognised (`hazard`).
    fn triggered(&self, turn: &mut Turn<'_, '_>, intent: Intent, hazard: bool) -> Option<Answer> {
        let mut found = triggers(turn.text);
        if hazard && !found.contains(&Trigger::Safety) {
            found.insert(0, Trigger::Safety);
        }
        let first = *found.first()?;
        // "Are you a human?" asks what the assistant is; it is answered, and the answer
        // says how to reach a person.
        if intent == Intent::AboutBot && found == [Trigger::Explicit] {
            return None;
        }
        let (reason, preface) = match first {
            Trigger::Explicit => (HandoffReason::Requested, None),
            Trigger::Safety => (HandoffReason::Sensitive("safety".into()), Some("safety")),
            Trigger::Legal => (HandoffReason::Sensitive("legal".into()), Some("sorry")),
            Trigger::Chargeback => (HandoffReason::Sensitive("chargeback".into()), Some("sorry")),
            Trigger::Anger => (HandoffReason::Sensitive("anger".into()), Some("sorry")),
        };
        turn.memory.note(format!("handoff trigger: {first:?}"));
        let text = preface
            .map(|k| self.say(turn, k, json!({})))
            .unwrap_or_default();
        Some(Answer::handoff(text, reason))
    }

    // ----- verification -----

    /// `asked_about`: the order the customer named when they were asked to verify, so
    /// "the e-mail is …" in the next message is checked against that order.
    async fn try_verify(
        &self,
        turn: &mut Turn<'_, '_>,
        understood: &Understood,
        asked_about: Option<&str>,
    ) -> Result<Verification, StoreError> {
        let now = turn.tools.settings().now();
        // A one-time code.
        if let Some(otp) = turn.memory.otp.clone() {
            let code: String = turn.text.chars().filter(char::is_ascii_digit).collect();
            if code.len() == 6 && turn.text.trim().chars().count() <= 12 {
                // Codes are guessed from one address or shop-wide like order details.
                if verify::locked(turn, None).await?.is_some() {
                    verify::record_failure(turn, None).await?;
                    self.failed_attempt(turn);
                    return Ok(Verification::Locked { handoff: false });
                }
                if now <= otp.expires_at
                    && otp.attempts < CODE_ATTEMPTS
                    && code_hash(turn.conversation, &code) == otp.code_hash
                {
                    turn.memory.note("verified by e-mail code");
                    return Ok(Verification::Passed(
                        turn.memory.verify(otp.customer, VerifiedVia::EmailCode),
                        true,
                    ));
                }
                if let Some(o) = turn.memory.otp.as_mut() {
                    o.attempts += 1;
                }
                verify::record_failure(turn, None).await?;
                return Ok(self.failed_attempt(turn));
            }
        }
        // Order number plus the e-mail or postal code on it.
        // What reads as proof: an e-mail address, or enough digits for a postal code.
        let proof_only = !understood.emails.is_empty()
            || turn.text.chars().filter(char::is_ascii_digit).count() >= 4;
        let named = understood
            .order_numbers
            .first()
            .map(String::as_str)
            .or(asked_about.filter(|_| proof_only));
        // When order details cannot be checked, an address alone gets a code.
        let mut code_instead = false;
        if let Some(name) = named {
            let from_before = understood.order_numbers.is_empty();
            // More digits than the order name holds ("RC-11671-EU, BS1 4DJ"): a postal
            // code came with it.
            let digits = |t: &str| t.chars().filter(char::is_ascii_digit).count();
            let attempted =
                !understood.emails.is_empty() || from_before || digits(turn.text) > digits(name);
            if !attempted {
                return Ok(Verification::NotAttempted);
            }
            let mut exclude = understood.order_numbers.clone();
            exclude.extend(asked_about.map(str::to_string));
            let can_send = understood.emails.len() == 1 && turn.code_sender.is_some();
            let text = turn.text;
            let challenge = verify::challenge(
                turn,
                verify::OrderProof {
                    name,
                    emails: &understood.emails,
                    postal_text: text,
                    exclude: &exclude,
                    code_instead: can_send,
                },
            )
            .await?;
            match challenge {
                verify::Challenge::Passed(customer) => {
                    turn.memory.note(format!("verified with order {name}"));
                    return Ok(Verification::Passed(
                        turn.memory.verify(customer, VerifiedVia::OrderChallenge),
                        false,
                    ));
                }
                verify::Challenge::Failed => return Ok(self.failed_attempt(turn)),
                verify::Challenge::Locked { handoff, .. } => {
                    if !can_send {
                        self.failed_attempt(turn);
                        return Ok(Verification::Locked { handoff });
                    }
                    code_instead = true;
                }
            }
        }
        // An e-mail address alone: send a code, saying the same whether or not it is known.
        if let Some(email) = understood.emails.first()
            && (named.is_none() || code_instead)
        {
            let Some(sender) = turn.code_sender else {
                turn.memory
                    .note("cannot send e-mail codes (no e-mail server configured)");
                return Ok(Verification::NoCodes);
            };
            if understood.emails.len() > 1 {
                return Ok(self.failed_attempt(turn));
            }
            turn.memory.note("sent an e-mail code");
            if let Ok(parsed) = crate::shop::Email::parse(email)
                && let Some(customer) = turn.tools.store().customer_by_email(&parsed).await?
                && let Some(code) = new_code()
            {
                turn.memory.otp = Some(super::memory::OtpChallenge {
                    customer: customer.id,
                    code_hash: code_hash(turn.conversation, &code),
                    expires_at: now + Duration::minutes(CODE_TTL_MINUTES),
                    attempts: 0,
                });
                if let Err(e) = sender.send_code(email, &code, turn.lang).await {
                    tracing::error!(error = %e, "sending a verification code failed");
                }
            }
            return Ok(Verification::CodeSent);
        }
        Ok(Verification::NotAttempted)
    }

    fn failed_attempt(&self, turn: &mut Turn<'_, '_>) -> Verification {
        turn.memory.failed_verifications = turn.memory.failed_verifications.saturating_add(1);
        turn.memory.note("verification failed");
        Verification::Failed
    }

    fn verification_failed(
        &self,
        turn: &mut Turn<'_, '_>,
        intent: Intent,
        order: Option<String>,
    ) -> Answer {
        if turn.memory.failed_verifications >= turn.tools.settings().max_verification_attempts {
            let text = self.say(turn, "verify_locked", json!({}));
            return Answer::handoff(text, HandoffReason::Sensitive("verification failed".into()));
        }
        turn.memory.pending = Some(Pending::Verify { intent, order });
        Answer::grounded(self.say(turn, "verify_failed", json!({})))
    }

    /// Verification by order details is paused: the same reply whatever paused it and
    /// whether or not the order exists; the e-mail code still works. The first attempt
    /// on a locked order opens one staff handoff; later ones do not.
    fn verification_paused(
        &self,
        turn: &mut Turn<'_, '_>,
        intent: Intent,
        order: Option<String>,
        handoff: bool,
    ) -> Answer {
        turn.memory
            .note("verification by order details paused (too many failed attempts)");
        let text = self.say(
            turn,
            "verify_paused",
            json!({ "otp": turn.code_sender.is_some() }),
        );
        if handoff {
            return Answer::handoff(text, HandoffReason::Sensitive("verification locked".into()));
        }
        turn.memory.pending = Some(Pending::Verify { intent, order });
        Answer::grounded(text)
    }

    async fn verified_line(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
    ) -> Result<String, StoreError> {
        let name = turn
            .tools
            .store()
            .customer(who.customer())
            .await?
            .and_then(|c| c.name)
            .and_then(|n| n.split_whitespace().next().map(str::to_owned));
        Ok(self.say(turn, "verified", json!({ "name": name })))
    }

    // ----- orders -----

    async fn order_question(
        &self,
        turn: &mut Turn<'_, '_>,
        intent: Intent,
        understood: &Understood,
    ) -> Result<Answer, StoreError> {
        let order_slot = understood.order_numbers.first().cloned();
        let who = match turn.memory.verified() {
            Some(who) => who,
            None => {
                // The message may carry its own proof ("#1043, wang@example.com").
                match self.try_verify(turn, understood, None).await? {
                    Verification::Passed(who, _) => {
                        let line = self.verified_line(turn, who).await?;
                        let mut answer =
                            Box::pin(self.run_order_intent(turn, who, intent, order_slot)).await?;
                        answer.text = format!("{line}\n\n{}", answer.text);
                        return Ok(answer);
                    }
                    Verification::Failed => {
                        return Ok(self.verification_failed(turn, intent, order_slot));
                    }
                    Verification::Locked { handoff } => {
                        return Ok(self.verification_paused(turn, intent, order_slot, handoff));
                    }
                    Verification::NoCodes => {
                        turn.memory.pending = Some(Pending::Verify {
                            intent,
                            order: order_slot,
                        });
                        return Ok(Answer::grounded(self.say(
                            turn,
                            "otp_unavailable",
                            json!({}),
                        )));
                    }
                    Verification::CodeSent => {
                        turn.memory.pending = Some(Pending::Verify {
                            intent,
                            order: order_slot,
                        });
                        return Ok(Answer::grounded(self.say(turn, "otp_sent", json!({}))));
                    }
                    Verification::NotAttempted => {
                        let names_nothing =
                            order_slot.is_none() && understood.tracking_numbers.is_empty();
                        turn.memory.pending = Some(Pending::Verify {
                            intent,
                            order: order_slot,
                        });
                        turn.memory.note("asked the customer to verify");
                        let otp = turn.code_sender.is_some();
                        let ask = self.say(turn, "ask_verification", json!({ "otp": otp }));
                        // "What is deducted when I return an opened item?" names no order:
                        // the shop's policy answers it, and the invitation to verify
                        // follows for acting on one of their orders. "Where is my
                        // order?" asks about theirs alone: only the invitation.
                        if names_nothing
                            && matches!(
                                intent,
                                Intent::ReturnItem | Intent::CancelOrder | Intent::ChangeAddress
                            )
                        {
                            let found = turn.tools.search_knowledge(turn.text, turn.lang).await;
                            if let Some(best) = found.iter().find(|f| f.confident) {
                                let mut answer = self.article_answer(turn, best).await;
                                answer.text = format!("{}\n\n{ask}", answer.text);
                                return Ok(answer);
                            }
                        }
                        return Ok(Answer::grounded(ask));
                    }
                }
            }
        };
        self.run_order_intent(turn, who, intent, order_slot).await
    }

    async fn run_order_intent(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        intent: Intent,
        order_slot: Option<String>,
    ) -> Result<Answer, StoreError> {
        if intent == Intent::ListOrders {
            return self.list_orders(turn, who).await;
        }
        let name = match order_slot {
            Some(name) => name,
            None => {
                let orders = turn.tools.list_orders(who).await?;
                // "The order I placed on November 14": the order of that day.
                let now = turn.tools.settings().now();
                let tz = turn.tools.settings().support.time_zone;
                let days = slots::dates(turn.text, now.with_timezone(&tz).date_naive());
                let dated: Vec<&Order> = orders
                    .iter()
                    .filter(|o| days.contains(&o.created_at.with_timezone(&tz).date_naive()))
                    .collect();
                if let [only] = dated.as_slice() {
                    let name = only.name.clone();
                    turn.memory.orders_in_question.insert(name.clone());
                    return Box::pin(self.run_order_intent(turn, who, intent, Some(name))).await;
                }
                let candidates = candidates(intent, &orders, turn.tools.settings().now());
                // "Where is my jacket?", "my latest parcel": the message itself may say
                // which of them.
                if candidates.len() > 1
                    && let Some(meant) = meant_among(turn.text, intent, &candidates, &orders)
                {
                    let name = meant.name.clone();
                    turn.memory.orders_in_question.insert(name.clone());
                    return Box::pin(self.run_order_intent(turn, who, intent, Some(name))).await;
                }
                match candidates.as_slice() {
                    // Nothing under way: the latest order that was not cancelled.
                    [] => match orders
                        .iter()
                        .find(|o| o.status != "cancelled")
                        .or(orders.first())
                    {
                        Some(latest) => latest.name.clone(),
                        None => {
                            return Ok(Answer::grounded(self.say(turn, "orders_none", json!({}))));
                        }
                    },
                    [only] => only.name.clone(),
                    many => {
                        let names: Vec<String> =
                            many.iter().take(LIST_MAX).map(|o| o.name.clone()).collect();
                        turn.memory.pending = Some(Pending::WhichOrder {
                            intent,
                            candidates: names.clone(),
                        });
                        turn.memory
                            .note(format!("asked which order: {}", names.join(", ")));
                        return self.which_order(turn, who, intent, &names).await;
                    }
                }
            }
        };
        turn.memory.orders_in_question.insert(name.clone());
        match intent {
            // "How much did you refund on RC-11497-EU?" reads as a status question: the
            // return flow answers what was refunded, and opens nothing.
            Intent::ReturnItem | Intent::TrackOrder
                if asks_what_was_refunded(&turn.text.to_lowercase()) =>
            {
                self.return_item(turn, who, &name).await
            }
            Intent::ReturnItem => self.return_item(turn, who, &name).await,
            Intent::CancelOrder => self.cancel(turn, who, &name).await,
            Intent::ChangeAddress => self.ask_address(turn, who, &name).await,
            _ => self.track(turn, who, &name).await,
        }
    }

    fn order_line(&self, turn: &Turn<'_, '_>, o: &Order) -> Value {
        let status = if o.status == "open" {
            self.answers.fulfillment(turn.lang, &o.fulfillment_status)
        } else {
            self.answers.order_status(turn.lang, &o.status)
        };
        json!({
            "name": o.name,
            "date": self.date(turn, o.created_at),
            "total": money(o.total, &o.currency),
            "status": status,
        })
    }

    async fn list_orders(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
    ) -> Result<Answer, StoreError> {
        let orders = turn.tools.list_orders(who).await?;
        if orders.is_empty() {
            return Ok(Answer::grounded(self.say(turn, "orders_none", json!({}))));
        }
        let lines: Vec<Value> = orders
            .iter()
            .take(LIST_MAX)
            .map(|o| self.order_line(turn, o))
            .collect();
        turn.memory.note("listed the customer's orders");
        Ok(Answer::grounded(self.say(
            turn,
            "orders_list",
            json!({ "orders": lines }),
        )))
    }

    async fn which_order(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        _intent: Intent,
        names: &[String],
    ) -> Result<Answer, StoreError> {
        let mut lines = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if let Some(o) = turn.tools.order(who, name).await? {
                let mut line = self.order_line(turn, &o);
                if let Some(obj) = line.as_object_mut() {
                    obj.insert("index".into(), json!(i + 1));
                }
                lines.push(line);
            }
        }
        Ok(Answer::grounded(self.say(
            turn,
            "which_order",
            json!({ "orders": lines }),
        )))
    }

    async fn not_found(&self, turn: &mut Turn<'_, '_>, name: &str) -> Answer {
        turn.memory
            .note(format!("order {name} not found on the account"));
        Answer::grounded(self.say(turn, "order_not_found", json!({ "order": name })))
    }

    async fn track(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        name: &str,
    ) -> Result<Answer, StoreError> {
        let Some((order, parcels)) = turn.tools.tracking(who, name).await? else {
            return Ok(self.not_found(turn, name).await);
        };
        turn.memory
            .note(format!("looked up tracking for {}", order.name));
        if order.status == "cancelled" {
            return Ok(Answer::grounded(self.cancelled(
                turn,
                &order.name,
                order.cancelled_at,
            )));
        }
        if parcels.is_empty() {
            let key = if order.fulfillment_status == "fulfilled" {
                "order_summary"
            } else {
                "not_shipped"
            };
            return Ok(Answer::grounded(self.say(
                turn,
                key,
                self.order_facts(turn, &order),
            )));
        }
        let mut parts = Vec::new();
        let mut trouble = false;
        for p in &parcels {
            parts.push(self.parcel_text(turn, &order, p));
            trouble |= p.late_days.is_some()
                || p.stuck_days.is_some()
                || p.status == TrackingStatus::Exception;
        }
        if trouble {
            parts.push(self.say(turn, "delay_next_steps", json!({})));
        }
        Ok(Answer::grounded(parts.join("\n\n")))
    }

    fn order_facts(&self, turn: &Turn<'_, '_>, order: &Order) -> Value {
        let items: Vec<Value> = order
            .lines
            .iter()
            .map(|l| json!({ "name": l.name, "quantity": l.quantity }))
            .collect();
        let status = if order.status == "open" {
            self.answers
                .fulfillment(turn.lang, &order.fulfillment_status)
        } else {
            self.answers.order_status(turn.lang, &order.status)
        };
        json!({
            "order": order.name,
            "date": self.date(turn, order.created_at),
            "total": money(order.total, &order.currency),
            "status": status,
            "items": items,
        })
    }

    fn parcel_text(&self, turn: &Turn<'_, '_>, order: &Order, p: &Parcel) -> String {
        let base =
            json!({ "order": order.name, "carrier": p.carrier, "tracking": p.tracking_number });
        let with = |extra: Value| {
            let mut v = base.clone();
            if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
                obj.extend(more.clone());
            }
            v
        };
        if let Some(delivered) = p
            .delivered_at
            .filter(|_| p.status != TrackingStatus::Returned)
        {
            return self.say(
                turn,
                "tracking_delivered",
                with(json!({ "delivered": self.date(turn, delivered) })),
            );
        }
        if p.status == TrackingStatus::Returned {
            return self.say(turn, "tracking_returned", base);
        }
        let (event, location, event_date) = match &p.last_event {
            Some(e) => (
                self.answers.tracking_status(turn.lang, e.status.as_str()),
                e.location.clone(),
                self.date(turn, e.at),
            ),
            None => (
                self.answers.tracking_status(turn.lang, p.status.as_str()),
                None,
                String::new(),
            ),
        };
        let promised = p.promised_by.map(|d| self.date(turn, d));
        // A late parcel's due date is said once, in the delay explanation.
        let expected = if p.late_days.is_some() {
            None
        } else {
            promised.clone()
        };
        let mut out = vec![self.say(
            turn,
            "tracking",
            with(json!({ "event": event, "location": location, "event_date": event_date, "promised": expected })),
        )];
        // The carrier's words, led by what they mean in the customer's language when kefu
        // recognises the kind of problem ("beim Zoll festgehalten: Held by customs …").
        let reason = p
            .problem
            .as_deref()
            .map(|text| match crate::shop::carrier_reason(text) {
                Some(kind) if !turn.lang.starts_with("en") => {
                    let colon = if matches!(&turn.lang[..2.min(turn.lang.len())], "ja" | "zh") {
                        "："
                    } else {
                        ": "
                    };
                    format!(
                        "{}{colon}{text}",
                        self.answers.carrier_reason(turn.lang, kind)
                    )
                }
                _ => text.to_owned(),
            });
        if p.status == TrackingStatus::Exception {
            out.push(self.say(turn, "tracking_exception", json!({ "reason": reason })));
        } else if let Some(days) = p.late_days {
            out.push(self.say(
                turn,
                "tracking_late",
                json!({ "promised": promised, "days": days, "reason": reason }),
            ));
        }
        if let Some(days) = p.stuck_days {
            out.push(self.say(turn, "tracking_stuck", json!({ "days": days })));
        }
        out.join(sentence_gap(turn.lang))
    }

    async fn return_item(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        name: &str,
    ) -> Result<Answer, StoreError> {
        let Some(order) = turn.tools.order(who, name).await? else {
            return Ok(self.not_found(turn, name).await);
        };
        let lower = turn.text.to_lowercase();
        // "How much was refunded on #1001?" asks what happened: it is answered, and
        // nothing is opened.
        if asks_what_was_refunded(&lower) {
            turn.memory
                .note(format!("told what was refunded on {}", order.name));
            let refunded = (order.refunded > 0).then(|| money(order.refunded, &order.currency));
            return Ok(Answer::grounded(self.say(
                turn,
                "refund_status",
                json!({ "order": order.name, "total": money(order.total, &order.currency), "refunded": refunded }),
            )));
        }
        if REFUND_WORDS.iter().any(|w| lower.contains(w))
            && order.total >= turn.tools.settings().returns.refund_review_minor
        {
            turn.memory.note(format!(
                "refund question on {} over the review amount",
                order.name
            ));
            let text = self.say(turn, "refund_review", json!({}));
            return Ok(Answer::handoff(
                text,
                HandoffReason::Sensitive("refund over review amount".into()),
            ));
        }
        let outcome = turn.tools.check_return(who, &order).await?;
        if let ReturnOutcome::Created { lines, .. } = &outcome {
            let change = Change::Return {
                order: order.name.clone(),
            };
            return Ok(self.ask_to_confirm(turn, &order, change, lines));
        }
        Ok(Answer::grounded(self.return_text(turn, &order, outcome)))
    }

    async fn cancel(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        name: &str,
    ) -> Result<Answer, StoreError> {
        let Some(order) = turn.tools.order(who, name).await? else {
            return Ok(self.not_found(turn, name).await);
        };
        if let Some(refused) = turn.tools.check_change(who, &order).await? {
            return Ok(Answer::grounded(self.cancel_text(turn, &order, refused)));
        }
        let change = Change::Cancel {
            order: order.name.clone(),
        };
        Ok(self.ask_to_confirm(turn, &order, change, &[]))
    }

    async fn ask_address(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        name: &str,
    ) -> Result<Answer, StoreError> {
        let Some((order, parcels)) = turn.tools.tracking(who, name).await? else {
            return Ok(self.not_found(turn, name).await);
        };
        if order.status == "cancelled" {
            return Ok(Answer::grounded(self.cancelled(
                turn,
                &order.name,
                order.cancelled_at,
            )));
        }
        if order.fulfillment_status != "unfulfilled" || !parcels.is_empty() {
            let parcel = parcels.first();
            return Ok(Answer::grounded(self.say(
                turn,
                "address_not_allowed",
                json!({ "order": order.name, "carrier": parcel.map(|p| &p.carrier), "tracking": parcel.map(|p| &p.tracking_number) }),
            )));
        }
        if let Some(address) = address_in_request(turn.text, order.shipping_address.as_ref()) {
            return self.change_address(turn, who, &order, address).await;
        }
        turn.memory.pending = Some(Pending::Address {
            order: order.name.clone(),
        });
        turn.memory
            .note(format!("asked for the new address of {}", order.name));
        Ok(Answer::grounded(self.say(
            turn,
            "address_ask",
            json!({ "order": order.name }),
        )))
    }

    async fn receive_address(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        name: &str,
    ) -> Result<Answer, StoreError> {
        let Some(order) = turn.tools.order(who, name).await? else {
            return Ok(self.not_found(turn, name).await);
        };
        let Some(address) = parse_address(turn.text, order.shipping_address.as_ref()) else {
            turn.memory.pending = Some(Pending::Address {
                order: order.name.clone(),
            });
            return Ok(Answer::grounded(self.say(
                turn,
                "address_invalid",
                json!({}),
            )));
        };
        self.change_address(turn, who, &order, address).await
    }

    async fn change_address(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        order: &Order,
        address: Address,
    ) -> Result<Answer, StoreError> {
        if let Some(refused) = turn.tools.check_change(who, order).await? {
            return Ok(Answer::grounded(
                self.address_text(turn, order, &address, refused),
            ));
        }
        let change = Change::Address {
            order: order.name.clone(),
            address: Box::new(address),
        };
        Ok(self.ask_to_confirm(turn, order, change, &[]))
    }

    // ----- knowledge and products -----

    async fn question(&self, turn: &mut Turn<'_, '_>) -> Answer {
        // "Gibt es das Faltschloss Fold 900 noch?" names a product by its model: the
        // question is about that product, whatever an article says about locks.
        let words = crate::slots::words(turn.text);
        let mut products = None;
        if words.iter().any(|w| is_model_word(w)) {
            let mut found = turn.tools.search_products(turn.text, turn.lang).await;
            if let Some(named) = found
                .matches
                .iter()
                .chain(&found.suggestions)
                .find(|p| names_model(&words, &p.title))
                .cloned()
            {
                // A question about the product that one of the shop's articles answers
                // ("is the Lumen 1600 legal on the road?", "my Lumen 800 won't charge")
                // is answered from the article that names it; asking whether the shop
                // has it, or for its price, stays with the catalogue.
                let lower = turn.text.to_lowercase();
                let about_buying = HAVE_PHRASES.iter().any(|p| lower.contains(p))
                    || asks_for_restock(turn.text)
                    || super::passages::asks_for_price(turn.text);
                if !about_buying {
                    let articles = turn.tools.search_knowledge(turn.text, turn.lang).await;
                    if let Some(best) = articles.iter().find(|f| {
                        f.confident
                            && names_model(&crate::slots::words(&f.hit.passage.text), &named.title)
                    }) {
                        return self.article_answer(turn, best).await;
                    }
                }
                found.matches.retain(|p| p.doc_id == named.doc_id);
                if found.matches.is_empty() {
                    found.matches.push(named);
                }
                found.suggestions.clear();
                return self.product_answer(turn, found);
            }
            products = Some(found);
        }
        let found = turn.tools.search_knowledge(turn.text, turn.lang).await;
        if let Some(best) = found.iter().find(|f| f.confident) {
            return self.article_answer(turn, best).await;
        }
        // Perhaps a product question in other words.
        let products = match products {
            Some(products) => products,
            None => turn.tools.search_products(turn.text, turn.lang).await,
        };
        if !products.matches.is_empty() {
            return self.product_answer(turn, products);
        }
        turn.memory.note("found no grounded answer");
        Answer::ungrounded(self.say(turn, "unknown", json!({})))
    }

    /// The answer from an article's passage, in the customer's language when the shop has
    /// it, else with a note saying which language it is in.
    async fn article_answer(&self, turn: &mut Turn<'_, '_>, best: &Found) -> Answer {
        let passage = &best.hit.passage;
        turn.memory
            .note(format!("answered from {}", passage.doc_id));
        let mut text = String::new();
        if !best.in_query_language {
            text.push_str(&self.say(
                turn,
                "faq_other_language",
                json!({ "language": self.answers.language_name(turn.lang, &passage.lang) }),
            ));
            text.push('\n');
        }
        let (excerpt, quoted_from) = self.excerpt(turn, passage, best.in_query_language).await;
        text.push_str(&excerpt);
        let mut answer = Answer::grounded(text);
        answer.passages = quoted_from;
        answer.citations.push(Citation {
            document_id: passage.doc_id.clone(),
            title: passage.title.clone(),
            url: passage.url.clone(),
        });
        answer
    }

    /// What to quote from the article a passage belongs to, and the text it was taken
    /// from (for the guard): the section that answers the question
    /// ([`super::passages`]), else the retrieved passage, never the page's furniture.
    async fn excerpt(
        &self,
        turn: &Turn<'_, '_>,
        passage: &kefu_knowledge::index::Passage,
        same_language: bool,
    ) -> (String, String) {
        let body = match turn.tools.store().document(&passage.doc_id).await {
            // Never the sentences the index left out as planted instructions.
            Ok(Some(doc)) => Some(
                kefu_knowledge::visible::readable_cached(&doc.body)
                    .text
                    .clone(),
            ),
            _ => None,
        };
        // How close in meaning each of the article's passages is to the question (with
        // a model).
        let by_meaning = turn.tools.passages_by_meaning(passage, turn.text).await;
        tracing::debug!(
            passages = ?by_meaning
                .iter()
                .map(|h| (h.passage.section.as_str(), h.dense_score.unwrap_or(0.0)))
                .collect::<Vec<_>>(),
            "the article's passages by meaning"
        );
        // Words tell sections apart only in the question's own language; in another,
        // the passages' meaning does.
        if let Some(body) = body.as_ref().filter(|_| same_language) {
            let meaning: Vec<super::passages::Meaning> = by_meaning
                .iter()
                .filter_map(|h| {
                    super::passages::Meaning::of(
                        &h.passage.section,
                        &h.passage.text,
                        h.dense_score.unwrap_or(0.0),
                    )
                })
                .collect();
            if let Some(section) = super::passages::answering_passage(
                body,
                &passage.title,
                turn.text,
                &passage.text,
                &meaning,
                QUOTE_CHARS,
            ) {
                return (quote(&section, &passage.title), body.clone());
            }
        }
        // In another language: the passage the search found, unless the question asks
        // for a duration or a price it does not state and one nearly as close does.
        let passage = match super::passages::states_what_is_asked(turn.text, &passage.text) {
            Some(false) => {
                let nearest = by_meaning
                    .first()
                    .and_then(|h| h.dense_score)
                    .unwrap_or(0.0);
                by_meaning
                    .iter()
                    .take_while(|h| h.dense_score.unwrap_or(0.0) >= nearest - STATING_LEEWAY)
                    .find(|h| {
                        super::passages::states_what_is_asked(turn.text, &h.passage.text)
                            == Some(true)
                    })
                    .map_or(passage, |h| h.passage.as_ref())
            }
            _ => passage,
        };
        let page_headings: Vec<String> = body
            .as_deref()
            .map(super::passages::headings)
            .unwrap_or_default();
        let excerpt = quote(
            &super::passages::clean_chunk_of(&passage.text, &page_headings),
            &passage.title,
        );
        match body {
            // The article as a whole matched (its outline passage): quote its opening.
            Some(body) if is_outline(&excerpt) || excerpt.is_empty() => {
                let opening = super::passages::sections(&body)
                    .iter()
                    .map(super::passages::Section::text)
                    .collect::<Vec<_>>()
                    .join("\n\n");
                (quote(&opening, &passage.title), body)
            }
            _ => (excerpt, passage.text.clone()),
        }
    }

    /// " Return windows: sealed 30 days, opened 14 days." when the shop's windows depend
    /// on the item's condition; empty otherwise.
    fn return_windows(&self, turn: &Turn<'_, '_>) -> String {
        let windows: Vec<Value> = turn
            .tools
            .settings()
            .shop_policy
            .conditions()
            .into_iter()
            .map(|(condition, days)| json!({ "condition": condition, "days": days }))
            .collect();
        if windows.is_empty() {
            return String::new();
        }
        format!(
            "{}{}",
            sentence_gap(turn.lang),
            self.say(turn, "return_windows", json!({ "windows": windows }))
        )
    }

    /// The shop's own words on a policy fact kefu has no setting for: the section of the
    /// shop's article that answers the template `key`'s question, in the customer's
    /// language.
    async fn policy_quote(&self, turn: &mut Turn<'_, '_>, key: &str) -> Option<PolicyQuote> {
        let question = self.say(turn, key, json!({}));
        if question.trim().is_empty() {
            return None;
        }
        let found = turn.tools.search_knowledge(&question, turn.lang).await;
        let best = found.iter().find(|f| f.confident)?;
        let passage = &best.hit.passage;
        let doc = turn.tools.store().document(&passage.doc_id).await.ok()??;
        let body = kefu_knowledge::visible::readable_cached(&doc.body)
            .text
            .clone();
        let section = super::passages::answering_passage(
            &body,
            &passage.title,
            &question,
            &passage.text,
            &[],
            QUOTE_CHARS,
        )?;
        Some(PolicyQuote {
            text: quote(&section, &passage.title),
            passages: body,
            citation: Citation {
                document_id: passage.doc_id.clone(),
                title: passage.title.clone(),
                url: passage.url.clone(),
            },
        })
    }

    /// `by_meaning`: the message was taken for a product search by the intent examples,
    /// not by the rules' words, so an article that answers it better still may.
    async fn products(&self, turn: &mut Turn<'_, '_>, by_meaning: bool) -> Answer {
        let products = turn.tools.search_products(turn.text, turn.lang).await;
        // "Do you have a warranty?" asks about a policy in a product question's words:
        // when an article answers it on more keyword evidence than any product, answer
        // from the article.
        let lower = turn.text.to_lowercase();
        if by_meaning || HAVE_PHRASES.iter().any(|p| lower.contains(p)) {
            let found = turn.tools.search_knowledge(turn.text, turn.lang).await;
            // Clear product matches keep the question unless it names the article's topic
            // or the article wins by a margin ("有没有龙井茶？想买点送人" is about tea, not
            // gift cards; "¿Las teteras tienen garantía?" is about the warranty).
            // An article the customer cannot read in their language does not push a
            // matching product aside.
            if let Some(best) = found.iter().find(|f| f.confident)
                && (best.in_query_language || products.matches.is_empty())
                && best.hit.sparse_score.unwrap_or(0.0)
                    > products.best_keyword_score.unwrap_or(0.0)
                        * if products.matches.is_empty()
                            || names_title(&lower, &best.hit.passage.title)
                        {
                            1.0
                        } else {
                            1.25
                        }
            {
                return self.article_answer(turn, best).await;
            }
        }
        self.product_answer(turn, products)
    }

    /// "Let me know when the bamboo tray is back": a sold-out product the customer names
    /// gets a stock alert (a `back_in_stock` campaign writes to them); one in stock is
    /// shown. `None` when the message names no product.
    async fn restock(&self, turn: &mut Turn<'_, '_>) -> Result<Option<Answer>, StoreError> {
        let products = turn.tools.search_products(turn.text, turn.lang).await;
        // The sentence around the product ("let me know when … is back") weakens the
        // match: a closest product the customer names by its title counts too.
        let lower = turn.text.to_lowercase();
        let named = |p: &&super::tools::ProductHit| names_product(&lower, &p.title);
        let first = products
            .matches
            .first()
            .or_else(|| products.suggestions.iter().find(named))
            .cloned();
        let Some(first) = first else {
            return Ok(None);
        };
        if first.in_stock {
            // Nothing to wait for: show it.
            return Ok(Some(self.product_answer(turn, products)));
        }
        let cite = Citation {
            document_id: first.doc_id.clone(),
            title: first.title.clone(),
            url: first.url.clone(),
        };
        let data = json!({ "product": first.title });
        let text = match turn.memory.verified() {
            Some(who) => {
                turn.tools.stock_alert(who, &first).await?;
                turn.memory.note(format!("stock alert for {}", first.title));
                self.say(turn, "restock_alert_set", data)
            }
            None => self.say(turn, "restock_alert_verify", data),
        };
        let mut answer = Answer::grounded(text);
        answer.citations = vec![cite];
        Ok(Some(answer))
    }

    fn product_answer(
        &self,
        turn: &mut Turn<'_, '_>,
        products: super::tools::ProductResults,
    ) -> Answer {
        let view = |p: &super::tools::ProductHit| json!({ "title": p.title, "variant": p.variant, "price": p.price, "in_stock": p.in_stock, "url": p.url, "options": p.options });
        let cite = |p: &super::tools::ProductHit| Citation {
            document_id: p.doc_id.clone(),
            title: p.title.clone(),
            url: p.url.clone(),
        };
        if products.matches.is_empty() {
            turn.memory.note("no product matched");
            let suggestions: Vec<Value> = products.suggestions.iter().map(view).collect();
            let text = self.say(
                turn,
                "products_none",
                json!({ "query": turn.text.trim(), "suggestions": suggestions }),
            );
            let mut answer = Answer::grounded(text);
            answer.citations = products.suggestions.iter().map(cite).collect();
            return answer;
        }
        turn.memory
            .note(format!("found {} products", products.matches.len()));
        let list: Vec<Value> = products.matches.iter().map(view).collect();
        let mut answer =
            Answer::grounded(self.say(turn, "products_found", json!({ "products": list })));
        answer.citations = products.matches.iter().map(cite).collect();
        answer
    }
}

/// A passage of the shop's article quoted for a policy fact.
struct PolicyQuote {
    text: String,
    passages: String,
    citation: Citation,
}

/// An answer whose text quotes a policy passage: grounded on it, citing it.
fn quoted_with(text: String, quoted: PolicyQuote) -> Answer {
    let mut answer = Answer::grounded(text);
    answer.passages = quoted.passages;
    answer.citations.push(quoted.citation);
    answer
}

/// "Tell me when it is back in stock", in the supported languages.
const RESTOCK_PHRASES: &[&str] = &[
    "let me know when",
    "notify me",
    "tell me when",
    "message me when",
    "email me when",
    "back in stock",
    "到货通知",
    "到貨通知",
    "有货了",
    "有貨了",
    "到货了",
    "到貨了",
    "补货",
    "補貨",
    "再入荷",
    "入荷したら",
    "avísame cuando",
    "avíseme cuando",
    "avisadme cuando",
    "cuando vuelva",
    "prévenez-moi",
    "préviens-moi",
    "quand il sera de retour",
    "de nouveau disponible",
    "benachrichtig",
    "wieder verfügbar",
    "wieder vorrätig",
    "wieder da ist",
    "wieder auf lager",
    "me avise quando",
    "me avisa quando",
    "quando voltar",
];

/// Whether a lowercased message names a product by its title: every word of three or
/// more letters (or, in Chinese and Japanese, the whole title) appears in it.
fn names_product(message: &str, title: &str) -> bool {
    let title = title.to_lowercase();
    if title.chars().any(|c| c > '\u{2E80}') {
        return message.contains(&title);
    }
    let words: Vec<&str> = title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && !w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    !words.is_empty() && words.iter().all(|w| message.contains(w))
}

/// Whether a message's words ([`crate::slots::words`]) name a product by its model: a
/// word of the title with a digit in it ("900", "3P", "20000") and another of its words
/// of three or more letters ("Fold 900", "PowerPack 625").
fn names_model(words: &[String], title: &str) -> bool {
    let title = crate::slots::words(title);
    let has = |w: &String| words.contains(w);
    title.iter().any(|w| is_model_word(w) && has(w))
        && title
            .iter()
            .any(|w| w.chars().count() >= 3 && w.chars().all(char::is_alphabetic) && has(w))
}

/// A word that can name a model: two characters or more, one of them a digit.
fn is_model_word(word: &str) -> bool {
    word.chars().count() >= 2 && word.chars().any(|c| c.is_ascii_digit())
}

/// Whether the customer asks to be told when something is back in stock.
fn asks_for_restock(text: &str) -> bool {
    let lower = text.to_lowercase();
    RESTOCK_PHRASES.iter().any(|p| lower.contains(p))
}

/// Product-question phrases that also ask about the shop's services ("do you have a
/// warranty?", "有没有发票？").
const HAVE_PHRASES: &[&str] = &[
    "do you have",
    "do you offer",
    "is there",
    "有没有",
    "有沒有",
    "ありますか",
    "tienen",
    "hay ",
    "avez-vous",
    "vous avez",
    "habt ihr",
    "haben sie",
    "gibt es",
    "vocês têm",
    "voces tem",
    "tenéis",
    "tem algum",
    "tem alguma",
    "avete",
    "hebben jullie",
    "있나요",
];

/// Whether a lowercased question names an article's title or a long word of it
/// ("¿tienen garantía?" names "Garantía").
fn names_title(question: &str, title: &str) -> bool {
    let title = title.to_lowercase();
    let topic = title.split(" › ").next().unwrap_or(&title);
    question.contains(topic)
        || topic
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.chars().count() >= 5 && question.contains(w))
}

fn is_order_intent(intent: Intent) -> bool {
    matches!(
        intent,
        Intent::TrackOrder
            | Intent::ListOrders
            | Intent::ReturnItem
            | Intent::CancelOrder
            | Intent::ChangeAddress
    )
}

fn change_label(o: &ChangeOutcome) -> &'static str {
    match o {
        ChangeOutcome::Done => "done",
        ChangeOutcome::AlreadyCancelled { .. } => "already cancelled",
        ChangeOutcome::AlreadyShipped { .. } => "already shipped",
    }
}

/// The orders an intent without an order number may be about, most recent first.
fn candidates(intent: Intent, orders: &[Order], now: chrono::DateTime<chrono::Utc>) -> Vec<Order> {
    let open = |o: &&Order| o.status == "open";
    let unshipped = |o: &&Order| o.fulfillment_status != "fulfilled";
    let recent = |days: i64| {
        move |o: &&Order| {
            o.fulfilled_at
                .is_none_or(|f| now - f <= Duration::days(days))
        }
    };
    let picked: Vec<&Order> = match intent {
        Intent::CancelOrder | Intent::ChangeAddress => {
            orders.iter().filter(open).filter(unshipped).collect()
        }
        Intent::ReturnItem => orders
            .iter()
            .filter(open)
            .filter(|o| o.fulfillment_status == "fulfilled")
            .filter(recent(45))
            .collect(),
        _ => orders.iter().filter(open).filter(recent(14)).collect(),
    };
    picked.into_iter().cloned().collect()
}

/// Which of several orders under way (`orders`, newest first) a message means without
/// naming it: the only one with an item the message names ("where is my jacket?"), also
/// among all the customer's orders (`all`), or the latest when it asks for the latest
/// ("my last parcel": for a parcel, the latest that was shipped).
fn meant_among<'a>(
    text: &str,
    intent: Intent,
    orders: &'a [Order],
    all: &'a [Order],
) -> Option<&'a Order> {
    let words: Vec<String> = crate::slots::words(text)
        .into_iter()
        .filter(|w| w.chars().count() >= 4 && w.chars().all(char::is_alphabetic))
        .collect();
    let names_item = |o: &&Order| {
        o.lines.iter().any(|line| {
            let item = crate::slots::words(&line.name);
            words.iter().any(|w| {
                item.iter()
                    .any(|i| i == w || i.strip_suffix('s') == Some(w.as_str()))
            })
        })
    };
    // Among the orders under way first, then among all of them ("ordered it ages ago").
    for pool in [orders, all] {
        let with_item: Vec<&Order> = pool.iter().filter(names_item).collect();
        match with_item.as_slice() {
            [only] => return Some(only),
            [] => {}
            _ => break,
        }
    }
    let lower = text.to_lowercase();
    if !LATEST_WORDS
        .iter()
        .any(|w| crate::intent::has_phrase(&lower, w))
    {
        return None;
    }
    let parcel = PARCEL_WORDS
        .iter()
        .any(|w| crate::intent::has_phrase(&lower, w));
    if intent == Intent::TrackOrder
        && parcel
        && let Some(shipped) = orders.iter().find(|o| o.fulfillment_status == "fulfilled")
    {
        return Some(shipped);
    }
    orders.first()
}

/// "The latest", "my last order", in the supported languages.
const LATEST_WORDS: &[&str] = &[
    "latest",
    "last",
    "most recent",
    "newest",
    "letzte",
    "letzten",
    "letztes",
    "neueste",
    "neuesten",
    "dernière",
    "dernier",
    "plus récente",
    "último",
    "última",
    "ultimo",
    "ultima",
    "más reciente",
    "mais recente",
    "più recente",
    "laatste",
    "nieuwste",
    "最新",
    "最近",
    "上一个",
    "上一個",
    "直近",
    "前回",
    "최근",
    "마지막",
];

/// Words for a parcel (as against an order), in the supported languages.
const PARCEL_WORDS: &[&str] = &[
    "parcel",
    "package",
    "paket",
    "päckchen",
    "sendung",
    "colis",
    "paquete",
    "pacote",
    "pacco",
    "pakket",
    "pakje",
    "包裹",
    "快递",
    "快遞",
    "荷物",
    "小包",
    "택배",
    "소포",
];

/// The order a customer picked from a list: by its number, or by its position ("2",
/// "the second", "第二个" …).
fn pick(text: &str, understood: &Understood, candidates: &[String]) -> Option<String> {
    if let Some(n) = understood
        .order_numbers
        .iter()
        .find(|n| candidates.contains(n))
    {
        return Some(n.clone());
    }
    let t = text.trim().to_lowercase();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    if !digits.is_empty() && digits.len() <= 2 && t.chars().count() <= 8 {
        let i: usize = digits.parse().ok()?;
        return candidates.get(i.checked_sub(1)?).cloned();
    }
    // Bare numbers without "#" that end one of the candidates ("1043").
    if let Some(c) = candidates
        .iter()
        .find(|c| digits.len() >= 3 && c.trim_start_matches('#') == digits)
    {
        return Some(c.clone());
    }
    const ORDINALS: [&[&str]; 5] = [
        &[
            "first", "第一", "最初", "primer", "premi", "erste", "primeir", "1st",
        ],
        &[
            "second",
            "第二",
            "二番目",
            "segund",
            "deuxième",
            "zweite",
            "2nd",
        ],
        &[
            "third",
            "第三",
            "三番目",
            "tercer",
            "troisième",
            "dritte",
            "terceir",
            "3rd",
        ],
        &[
            "fourth",
            "第四",
            "cuarto",
            "quatrième",
            "vierte",
            "quart",
            "4th",
        ],
        &["fifth", "第五", "quinto", "cinquième", "fünfte", "5th"],
    ];
    ORDINALS
        .iter()
        .position(|words| words.iter().any(|w| t.contains(w)))
        .and_then(|i| candidates.get(i).cloned())
}

/// A new shipping address from a message: street line first, then postal code and city,
/// optionally a country; name and phone carry over from the old address.
pub fn parse_address(text: &str, old: Option<&Address>) -> Option<Address> {
    let parts: Vec<&str> = text
        .split(['\n', ',', '，', '、'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() < 2 || !text.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let is_zip = |w: &str| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-');
        (3..=10).contains(&w.len())
            && w.chars().any(|c| c.is_ascii_digit())
            && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let mut address = Address {
        name: old.and_then(|a| a.name.clone()),
        phone: old.and_then(|a| a.phone.clone()),
        country: old.and_then(|a| a.country.clone()),
        address1: Some(parts[0].to_string()),
        ..Address::default()
    };
    for part in &parts[1..] {
        let words: Vec<&str> = part.split_whitespace().collect();
        if address.zip.is_none()
            && let Some(pos) = words.iter().position(|w| is_zip(w))
        {
            address.zip = Some(words[pos].to_string());
            let rest: Vec<&str> = words
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != pos)
                .map(|(_, w)| *w)
                .collect();
            if !rest.is_empty() {
                // "Chicago, IL 60613": after the city, the words beside the postal
                // code are the state or province.
                if address.city.is_none() {
                    address.city = Some(rest.join(" "));
                } else {
                    address.province = Some(rest.join(" "));
                }
            }
        } else if address.city.is_none() {
            address.city = Some(part.to_string());
        } else {
            address.country = Some(part.to_string());
        }
    }
    (address.city.is_some() || address.zip.is_some()).then_some(address)
}

/// Words that introduce the new address inside a change request ("ship it to …",
/// "改成…", "neue Adresse: …").
const ADDRESS_MARKERS: &[&str] = &[
    " to ",
    "new address ",
    "address is ",
    "address:",
    " nach ",
    " an ",
    "adresse:",
    "adresse ist ",
    " à ",
    " au ",
    "adresse est ",
    " a ",
    "dirección:",
    "dirección es ",
    " para ",
    "endereço:",
    "改成",
    "改为",
    "改為",
    "寄到",
    "送到",
    "新地址",
    "：",
    ": ",
];

/// "Instead of", before the address a new one replaces.
const INSTEAD_OF: &[&str] = &[
    " instead of ",
    " statt ",
    " anstatt ",
    " anstelle ",
    " au lieu de ",
    " en lugar de ",
    " en vez de ",
    " em vez de ",
    " invece di ",
    " anziché ",
    " in plaats van ",
    " i.p.v. ",
];

/// Words after an address that are not part of it.
const ADDRESS_TAIL: &[&str] = &[
    "instead",
    "please",
    "pls",
    "thanks",
    "thank you",
    "bitte",
    "danke",
    "merci",
    "svp",
    "por favor",
    "gracias",
    "obrigado",
    "obrigada",
    "谢谢",
    "謝謝",
];

/// A new address given in the same message as the request to change it ("wrong address
/// on #21996, ship it to 88 Pine St, Seattle, WA 98101 instead"). Only an address with a
/// street line and a postal code counts, so a request without one is asked for it.
pub fn address_in_request(text: &str, old: Option<&Address>) -> Option<Address> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return None;
    }
    // The last marker the rest of the message parses after is the nearest to the address.
    let mut starts: Vec<usize> = ADDRESS_MARKERS
        .iter()
        .flat_map(|m| lower.match_indices(m).map(move |(i, _)| i + m.len()))
        .collect();
    starts.sort_unstable();
    starts.into_iter().rev().find_map(|start| {
        let mut tail = text.get(start..)?.trim();
        // "… an Mariahilfer Straße 88, 1070 Wien statt Neubaugasse 12": the old address
        // after "instead of" is not the new one.
        let tail_lower = tail.to_lowercase();
        if tail_lower.len() == tail.len()
            && let Some(cut) = INSTEAD_OF.iter().filter_map(|w| tail_lower.find(w)).min()
        {
            tail = tail[..cut].trim();
        }
        loop {
            let trimmed = tail.trim_end_matches(|c: char| {
                c.is_whitespace() || matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | ',' | '，')
            });
            let lowered = trimmed.to_lowercase();
            match ADDRESS_TAIL
                .iter()
                .find(|w| lowered.ends_with(*w))
                .and_then(|w| trimmed.get(..trimmed.len().checked_sub(w.len())?))
            {
                Some(rest) => tail = rest,
                None => {
                    tail = trimmed;
                    break;
                }
            }
        }
        let address = parse_address(tail, old)?;
        let street_ok = address
            .address1
            .as_deref()
            .is_some_and(|a| a.chars().any(|c| c.is_ascii_digit()) && a.chars().count() <= 60);
        (street_ok && address.zip.is_some()).then_some(address)
    })
}

pub fn format_address(a: &Address) -> String {
    let mut lines = Vec::new();
    for line in [&a.name, &a.address1, &a.address2].into_iter().flatten() {
        lines.push(line.clone());
    }
    let city = [a.zip.as_deref(), a.city.as_deref(), a.province.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !city.is_empty() {
        lines.push(city);
    }
    if let Some(c) = &a.country {
        lines.push(c.clone());
    }
    lines.join("\n")
}

/// Between sentences of one answer: nothing in Chinese and Japanese, a space elsewhere.
fn sentence_gap(lang: &str) -> &'static str {
    if lang.starts_with("zh") || lang.starts_with("ja") {
        ""
    } else {
        " "
    }
}

/// The outline passage of an article: nothing but its headings as a list.
fn is_outline(excerpt: &str) -> bool {
    let lines: Vec<&str> = excerpt.lines().filter(|l| !l.trim().is_empty()).collect();
    !lines.is_empty() && lines.iter().all(|l| l.trim_start().starts_with("- "))
}

/// Markdown for a chat bubble: headings become plain lines, emphasis marks go.
fn markdown_to_text(md: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in md.lines() {
        let heading = line.starts_with('#');
        let text = line
            .trim_start_matches('#')
            .trim()
            .replace("**", "")
            .replace("__", "");
        // One blank line at most, and none between a heading and its text.
        if text.is_empty()
            && (out.last().is_none_or(String::is_empty)
                || out.last().is_some_and(|l| l.ends_with(['?', '？', ':'])))
        {
            continue;
        }
        if heading && out.last().is_some_and(|l| !l.is_empty()) {
            out.push(String::new());
        }
        out.push(text);
    }
    out.join("\n")
}

/// The passage to quote: without its heading path, cut at a sentence near the limit.
fn quote(text: &str, title: &str) -> String {
    let mut lines = text.lines();
    let first = lines.clone().next().unwrap_or("");
    let body: String = if first.starts_with(title) || first.contains(" › ") {
        lines.next();
        lines.collect::<Vec<_>>().join("\n")
    } else {
        text.to_string()
    };
    let body = markdown_to_text(&body);
    let body = body.trim();
    if body.chars().count() <= QUOTE_CHARS {
        return body.to_string();
    }
    let cut: String = body.chars().take(QUOTE_CHARS).collect();
    let end = cut
        .rfind(['.', '。', '!', '?', '！', '？', '\n'])
        .map_or(cut.len(), |i| {
            i + cut[i..].chars().next().map_or(1, char::len_utf8)
        });
    format!("{}…", cut[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::understand;

    #[test]
    fn addresses_are_read_from_one_message() {
        let old = Address {
            name: Some("Emily Johnson".into()),
            country: Some("US".into()),
            ..Address::default()
        };
        let a = parse_address("742 Evergreen Terrace, 97403 Springfield", Some(&old)).unwrap();
        assert_eq!(a.address1.as_deref(), Some("742 Evergreen Terrace"));
        assert_eq!(a.zip.as_deref(), Some("97403"));
        assert_eq!(a.city.as_deref(), Some("Springfield"));
        assert_eq!(a.name.as_deref(), Some("Emily Johnson"));
        assert_eq!(
            format_address(&a),
            "Emily Johnson\n742 Evergreen Terrace\n97403 Springfield\nUS"
        );
        assert_eq!(parse_address("yes please", None), None);
        assert_eq!(parse_address("Hauptstraße 5", None), None);
    }

    fn order(name: &str, day: u32, shipped: bool, items: &[&str]) -> Order {
        use chrono::TimeZone;
        Order {
            id: i64::from(day),
            name: name.into(),
            customer_id: Some(1),
            email: None,
            currency: "EUR".into(),
            status: "open".into(),
            financial_status: Some("paid".into()),
            fulfillment_status: if shipped { "fulfilled" } else { "unfulfilled" }.into(),
            subtotal: 1000,
            shipping: 0,
            taxes: 0,
            discount: 0,
            total: 1000,
            refunded: 0,
            discount_codes: Vec::new(),
            shipping_method: None,
            shipping_address: None,
            created_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, day, 10, 0, 0)
                .unwrap(),
            paid_at: None,
            fulfilled_at: None,
            cancelled_at: None,
            lines: items
                .iter()
                .map(|name| crate::store::LineRecord {
                    sku: None,
                    name: (*name).into(),
                    quantity: 1,
                    price: 1000,
                    compare_at: None,
                    discount: 0,
                    requires_shipping: true,
                    taxable: true,
                    fulfillment_status: None,
                    vendor: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_order_meant_is_found_by_its_item_or_as_the_latest() {
        let older = order("RC-11609-EU", 2, true, &["Stormshell Rain Jacket"]);
        let shipped = order("RC-11632-EU", 10, true, &["Beacon Rear Light"]);
        let newest = order("RC-11695-EU", 23, false, &["Chain Lube"]);
        let under_way = vec![newest.clone(), shipped.clone()];
        let all = vec![newest.clone(), shipped.clone(), older.clone()];
        let meant = |text: &str| {
            meant_among(text, Intent::TrackOrder, &under_way, &all).map(|o| o.name.clone())
        };
        // An item named: among the orders under way, else among all of them.
        assert_eq!(
            meant("where is my rear light?").as_deref(),
            Some("RC-11632-EU")
        );
        assert_eq!(
            meant("where is my jacket?? ordered it ages ago").as_deref(),
            Some("RC-11609-EU")
        );
        // The latest: for a parcel, the latest that was shipped.
        assert_eq!(
            meant("where's my latest parcel?").as_deref(),
            Some("RC-11632-EU")
        );
        assert_eq!(
            meant("status of my last order").as_deref(),
            Some("RC-11695-EU")
        );
        // Nothing that tells them apart: the customer is asked.
        assert_eq!(meant("where is my order?"), None);
        assert_eq!(meant("where is my stuff"), None);
    }

    #[test]
    fn an_address_can_come_with_the_request() {
        let a = address_in_request(
            "wrong address on #21996!! pls ship it to 88 Pine St, Seattle, WA 98101 instead",
            None,
        )
        .unwrap();
        assert_eq!(a.address1.as_deref(), Some("88 Pine St"));
        assert_eq!(a.city.as_deref(), Some("Seattle"));
        assert_eq!(a.province.as_deref(), Some("WA"));
        assert_eq!(a.zip.as_deref(), Some("98101"));
        let b = address_in_request(
            "I need to change the address to 1450 W Addison St, Chicago, IL 60613 please",
            None,
        )
        .unwrap();
        assert_eq!(b.address1.as_deref(), Some("1450 W Addison St"));
        assert_eq!(format_address(&b), "1450 W Addison St\n60613 Chicago IL");
        let c = address_in_request(
            "Bitte ändern Sie die Lieferadresse von 21998, neue Adresse: Bergmannstraße 12, 10961 Berlin",
            None,
        )
        .unwrap();
        assert_eq!(c.address1.as_deref(), Some("Bergmannstraße 12"));
        assert_eq!(c.city.as_deref(), Some("Berlin"));
        // The old address after "statt" / "instead of" is not the new one.
        let d = address_in_request(
            "Bitte liefern Sie RC-11703-EU an Mariahilfer Straße 88, 1070 Wien statt Neubaugasse 12",
            None,
        )
        .unwrap();
        assert_eq!(d.address1.as_deref(), Some("Mariahilfer Straße 88"));
        assert_eq!(d.zip.as_deref(), Some("1070"));
        // A request without the new address is asked for it.
        assert_eq!(
            address_in_request(
                "I need to change the shipping address for order #21991",
                None
            ),
            None
        );
        assert_eq!(
            address_in_request(
                "can i change the delivery address on 21966? im moving next week",
                None
            ),
            None
        );
    }

    #[test]
    fn picks_follow_numbers_positions_and_ordinals() {
        let c = vec![
            "#1043".to_string(),
            "#1050".to_string(),
            "#1061".to_string(),
        ];
        let u = |t: &str| understand(t);
        assert_eq!(pick("2", &u("2"), &c).as_deref(), Some("#1050"));
        assert_eq!(pick("#1061", &u("#1061"), &c).as_deref(), Some("#1061"));
        assert_eq!(pick("1043", &u("1043"), &c).as_deref(), Some("#1043"));
        assert_eq!(
            pick("the second one", &u("the second one"), &c).as_deref(),
            Some("#1050")
        );
        assert_eq!(pick("第三个", &u("第三个"), &c).as_deref(), Some("#1061"));
        assert_eq!(pick("7", &u("7"), &c), None);
        assert_eq!(pick("#9999", &u("#9999"), &c), None);
    }

    #[test]
    fn quotes_drop_the_heading_path_and_end_at_a_sentence() {
        let text = format!(
            "Returns › Window\nYou can return items within 30 days. {}",
            "More words here. ".repeat(80)
        );
        let q = quote(&text, "Returns");
        assert!(q.starts_with("You can return"), "{q}");
        assert!(q.ends_with(".…"), "{q}");
        assert!(q.chars().count() <= QUOTE_CHARS + 1);
    }
}
