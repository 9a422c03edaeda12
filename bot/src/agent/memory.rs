//! What the agent remembers about a conversation between turns (stored as JSON with the
//! conversation), and who the customer is proven to be.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::conversation::Conversation as Machine;
use crate::intent::Intent;
use crate::store::{Address, CustomerId};

/// Proof that the conversation's customer is who they say. Order tools take one; it is
/// made only by [`Memory::verify`] after a passed check, or from a linked identity, so
/// no code path reads orders for an unverified visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    customer: CustomerId,
}

impl Verified {
    pub fn customer(&self) -> CustomerId {
        self.customer
    }
}

/// How the customer was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifiedVia {
    /// A channel identity linked to the customer (imported, or the widget's HMAC).
    LinkedIdentity,
    /// Order number plus the e-mail address or postal code on that order.
    OrderChallenge,
    /// A one-time code sent to the customer's e-mail address.
    EmailCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedRecord {
    pub customer: CustomerId,
    pub via: VerifiedVia,
}

/// A question the agent asked and waits to have answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pending {
    /// Asked the customer to verify, to then carry out `intent`.
    Verify {
        intent: Intent,
        order: Option<String>,
    },
    /// Asked which of these orders the customer means.
    WhichOrder {
        intent: Intent,
        candidates: Vec<String>,
    },
    /// Asked for the new shipping address of an order.
    Address { order: String },
    /// Said exactly what will change on which order and waits for the customer to
    /// confirm it; any other answer drops it.
    Confirm { change: Change },
}

/// A change to one of the verified customer's orders, carried out only once they confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    Cancel {
        order: String,
    },
    Return {
        order: String,
    },
    Address {
        order: String,
        address: Box<Address>,
    },
}

impl Change {
    /// The order the change is about (its name as the shop writes it).
    pub fn order(&self) -> &str {
        match self {
            Change::Cancel { order } | Change::Return { order } | Change::Address { order, .. } => {
                order
            }
        }
    }
}

/// A one-time code sent by e-mail; only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpChallenge {
    pub customer: CustomerId,
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
    pub attempts: u8,
}

/// Most entries kept in [`Memory::tried`].
const TRIED_KEPT: usize = 12;
/// Customer messages with numbers kept for the guard, and their length.
const SAID_KEPT: usize = 20;
const SAID_CHARS: usize = 300;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    pub machine: Option<Machine>,
    pub language: Option<String>,
    pub verified: Option<VerifiedRecord>,
    pub pending: Option<Pending>,
    pub failed_verifications: u8,
    pub otp: Option<OtpChallenge>,
    /// Order numbers the customer asked about (for the handoff summary).
    pub orders_in_question: BTreeSet<String>,
    /// What the agent did, most recent last (for the handoff summary).
    pub tried: Vec<String>,
    /// Facts tool results put on the table; replies may only state these.
    pub facts: super::tools::Facts,
    /// The customer's recent messages that carry numbers (order, tracking, amounts): a
    /// reply may quote them back.
    pub said: Vec<String>,
}

impl Memory {
    pub fn from_json(value: &serde_json::Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "conversation memory unreadable; starting afresh");
            Memory::default()
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }

    pub fn verified(&self) -> Option<Verified> {
        self.verified.map(|r| Verified {
            customer: r.customer,
        })
    }

    /// Marks the customer verified. Only the agent's verification paths call this.
    pub(super) fn verify(&mut self, customer: CustomerId, via: VerifiedVia) -> Verified {
        self.verified = Some(VerifiedRecord { customer, via });
        self.failed_verifications = 0;
        self.otp = None;
        Verified { customer }
    }

    /// Keeps a customer message that carries digits, for the guard.
    pub fn remember_said(&mut self, text: &str) {
        if text.chars().any(|c| c.is_ascii_digit()) {
            self.said.push(text.chars().take(SAID_CHARS).collect());
            if self.said.len() > SAID_KEPT {
                let extra = self.said.len() - SAID_KEPT;
                self.said.drain(..extra);
            }
        }
    }

    /// What the customer said that a reply may quote, with the current message.
    pub fn said_with(&self, current: &str) -> String {
        let mut out = self.said.join("\n");
        out.push('\n');
        out.push_str(current);
        out
    }

    pub fn note(&mut self, what: impl Into<String>) {
        self.tried.push(what.into());
        if self.tried.len() > TRIED_KEPT {
            let extra = self.tried.len() - TRIED_KEPT;
            self.tried.drain(..extra);
        }
    }
}

/// A fresh 6-digit code from the operating system's random source.
pub fn new_code() -> Option<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("{:06}", u64::from_le_bytes(bytes) % 1_000_000))
}

/// The stored form of a code, bound to its conversation so a hash is useless elsewhere.
pub fn code_hash(conversation: i64, code: &str) -> String {
    let digest = Sha256::new()
        .chain_update(conversation.to_le_bytes())
        .chain_update(code.trim().as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trips_through_json_and_survives_garbage() {
        let mut m = Memory::default();
        m.verify(7, VerifiedVia::OrderChallenge);
        m.pending = Some(Pending::WhichOrder {
            intent: Intent::TrackOrder,
            candidates: vec!["#1".into(), "#2".into()],
        });
        let back = Memory::from_json(&m.to_json());
        assert_eq!(back, m);
        assert_eq!(back.verified().map(|v| v.customer()), Some(7));
        assert_eq!(
            Memory::from_json(&serde_json::json!({"pending": 3})),
            Memory::default()
        );
    }

    #[test]
    fn codes_are_six_digits_and_hashes_depend_on_the_conversation() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        assert_ne!(code_hash(1, &code), code_hash(2, &code));
        assert_eq!(code_hash(1, " 123456 "), code_hash(1, "123456"));
    }
}
