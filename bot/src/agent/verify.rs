//! Verification by order details, shared by both engines: one candidate per attempt, and
//! failed attempts limited per order, per client address and shop-wide across every
//! conversation, channel and replica (the per-conversation limit lives in the memory).
//!
//! An order reference that matches no order is counted under its normalised name exactly
//! like an order under its id, so the replies never tell whether an order exists.

use std::net::IpAddr;

use super::offline::Turn;
use crate::slots;
use crate::store::{CustomerId, FailureWindows, StoreError, normalise_order_name};

/// What made verification by order details pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lock {
    /// Too many failures on this order (or reference).
    Order,
    /// Too many failures from this client address.
    Client,
    /// Too many failures shop-wide.
    Shop,
}

/// What checking an order challenge came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Challenge {
    Passed(CustomerId),
    Failed,
    /// Verification by order details is paused. `handoff`: this attempt is the one that
    /// opens the lockout's staff handoff (one per locked order and window).
    Locked {
        lock: Lock,
        handoff: bool,
    },
}

/// One attempt at the order challenge.
pub(super) struct OrderProof<'a> {
    /// The order reference as the customer typed it.
    pub name: &'a str,
    /// The e-mail addresses in the attempt (more than one proves nothing).
    pub emails: &'a [String],
    /// The text holding the postal code (more than one candidate proves nothing).
    pub postal_text: &'a str,
    /// Order references in `postal_text`, which are not postal codes.
    pub exclude: &'a [String],
    /// When the order is locked, the caller will send an e-mail code instead: the
    /// attempt is not counted.
    pub code_instead: bool,
}

/// The limit key of a client address: an IPv4 address, or the /64 network of an IPv6
/// address (what one subscriber gets); anything else as given.
pub fn client_key(raw: &str) -> String {
    match raw.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => raw.trim().to_string(),
    }
}

/// Checks an order challenge within the limits, recording a failure.
pub(super) async fn challenge(
    turn: &mut Turn<'_, '_>,
    proof: OrderProof<'_>,
) -> Result<Challenge, StoreError> {
    let store = turn.tools.store().clone();
    let order = store
        .order_named(None, proof.name, &turn.tools.formats)
        .await?;
    let key = match &order {
        Some(o) => format!("order:{}", o.id),
        None => format!("ref:{}", normalise_order_name(proof.name).to_lowercase()),
    };
    if let Some(lock) = locked(turn, Some(&key)).await? {
        if proof.code_instead {
            return Ok(Challenge::Locked {
                lock,
                handoff: false,
            });
        }
        record_failure(turn, Some(&key)).await?;
        let handoff = lock == Lock::Order && claim_handoff(turn, &key).await?;
        return Ok(Challenge::Locked { lock, handoff });
    }
    let passed = order.as_ref().and_then(|o| {
        let email_ok = match proof.emails {
            [one] => o
                .email
                .as_deref()
                .is_some_and(|e| one.eq_ignore_ascii_case(e)),
            _ => false,
        };
        let zip_ok = o
            .shipping_address
            .as_ref()
            .and_then(|a| a.zip.as_deref())
            .is_some_and(|z| slots::proves_postal_code(proof.postal_text, z, proof.exclude));
        // Several addresses are a list of guesses, whatever else the message holds.
        (proof.emails.len() <= 1 && (email_ok || zip_ok))
            .then_some(o.customer_id)
            .flatten()
    });
    if let Some(customer) = passed {
        return Ok(Challenge::Passed(customer));
    }
    record_failure(turn, Some(&key)).await?;
    if locked(turn, Some(&key)).await? == Some(Lock::Order) {
        let handoff = claim_handoff(turn, &key).await?;
        return Ok(Challenge::Locked {
            lock: Lock::Order,
            handoff,
        });
    }
    Ok(Challenge::Failed)
}

/// Whether attempts are paused for this order key (`None`: no order, e.g. a one-time
/// code), this client or the whole shop.
pub(super) async fn locked(
    turn: &Turn<'_, '_>,
    order_key: Option<&str>,
) -> Result<Option<Lock>, StoreError> {
    let limits = turn.tools.settings().verify_limits;
    let now = turn.tools.settings().now();
    let counts = turn
        .tools
        .store()
        .verification_failures(&FailureWindows {
            order: order_key.map(|k| (k, now - limits.order_window)),
            client: turn
                .client
                .as_deref()
                .map(|c| (c, now - limits.client_window)),
            all_since: now - limits.shop_window,
        })
        .await?;
    let over = |count: i64, limit: u32| count >= i64::from(limit);
    Ok(
        if order_key.is_some() && over(counts.order, limits.per_order) {
            Some(Lock::Order)
        } else if turn.client.is_some() && over(counts.client, limits.per_client) {
            Some(Lock::Client)
        } else if over(counts.all, limits.shop_wide) {
            Some(Lock::Shop)
        } else {
            None
        },
    )
}

/// Records a failed attempt on this order key (if any), from this turn's client.
pub(super) async fn record_failure(
    turn: &Turn<'_, '_>,
    order_key: Option<&str>,
) -> Result<(), StoreError> {
    let settings = turn.tools.settings();
    let now = settings.now();
    turn.tools
        .store()
        .record_verification_failure(
            order_key,
            turn.client.as_deref(),
            now,
            now - settings.verify_limits.longest(),
        )
        .await
}

async fn claim_handoff(turn: &Turn<'_, '_>, key: &str) -> Result<bool, StoreError> {
    let settings = turn.tools.settings();
    let now = settings.now();
    turn.tools
        .store()
        .claim_lockout_handoff(key, now, now - settings.verify_limits.order_window)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_keys_group_an_ipv6_subscriber_and_unmap_ipv4() {
        assert_eq!(super::client_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(super::client_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            super::client_key("2001:db8:1:2:aaaa::1"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(super::client_key(" not-an-ip "), "not-an-ip");
    }
}
