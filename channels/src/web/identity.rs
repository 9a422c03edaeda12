//! Who a widget visitor is: an anonymous visitor id, or a shop's logged-in user proven by
//! `user_hash` = HMAC-SHA256(identity secret, user_id), hex-encoded (the convention of
//! Intercom and Chatwoot). The hash is checked on every message, in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a visitor's identity was refused. The messages are shown to the shop's developer
/// (in the browser console), never to the customer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("visitor id must be 8–64 characters of A-Z a-z 0-9 _ -")]
    BadVisitor,
    #[error("user_id must be 1–128 characters without control characters")]
    BadUserId,
    #[error("user_id given without user_hash")]
    MissingHash,
    #[error(
        "user_hash does not match user_id (it must be the hex HMAC-SHA256 of user_id with the site's identity secret)"
    )]
    BadHash,
    #[error("this site does not accept logged-in users: web.identity_secret is not set")]
    NoSecret,
}

/// A visitor as the widget presents them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visitor {
    Anonymous { visitor: String },
    User { user_id: String },
}

impl Visitor {
    /// The conversation thread: one per anonymous browser, one per logged-in user
    /// across browsers and devices.
    pub fn thread(&self) -> String {
        match self {
            Visitor::Anonymous { visitor } => format!("v:{visitor}"),
            Visitor::User { user_id } => format!("u:{user_id}"),
        }
    }
}

/// Checks what a widget frame claims about its sender.
pub fn check(
    secret: Option<&[u8]>,
    visitor: &str,
    user_id: Option<&str>,
    user_hash: Option<&str>,
) -> Result<Visitor, IdentityError> {
    let Some(user_id) = user_id.filter(|u| !u.is_empty()) else {
        if !valid_visitor(visitor) {
            return Err(IdentityError::BadVisitor);
        }
        return Ok(Visitor::Anonymous {
            visitor: visitor.to_string(),
        });
    };
    if user_id.chars().count() > 128 || user_id.chars().any(char::is_control) {
        return Err(IdentityError::BadUserId);
    }
    let secret = secret.ok_or(IdentityError::NoSecret)?;
    let hash = user_hash
        .filter(|h| !h.is_empty())
        .ok_or(IdentityError::MissingHash)?;
    if !verify(secret, user_id, hash) {
        return Err(IdentityError::BadHash);
    }
    Ok(Visitor::User {
        user_id: user_id.to_string(),
    })
}

fn valid_visitor(v: &str) -> bool {
    (8..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `user_hash` for a user id: what the shop's server computes (and the demo page).
pub fn sign(secret: &[u8], user_id: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this branch cannot run.
        return String::new();
    };
    mac.update(user_id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn verify(secret: &[u8], user_id: &str, hash_hex: &str) -> bool {
    let Some(bytes) = from_hex(hash_hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(user_id.as_bytes());
    mac.verify_slice(&bytes).is_ok()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn checks() {
        let secret = b"s3cret";
        let good = sign(secret, "42");
        assert_eq!(
            check(Some(secret), "ignored", Some("42"), Some(&good)),
            Ok(Visitor::User {
                user_id: "42".into()
            })
        );
        assert_eq!(
            check(Some(secret), "x", Some("42"), Some(&good.to_uppercase())),
            Ok(Visitor::User {
                user_id: "42".into()
            })
        );
        assert_eq!(
            check(Some(secret), "x", Some("43"), Some(&good)),
            Err(IdentityError::BadHash)
        );
        assert_eq!(
            check(Some(secret), "x", Some("42"), Some("zz")),
            Err(IdentityError::BadHash)
        );
        assert_eq!(
            check(Some(secret), "x", Some("42"), None),
            Err(IdentityError::MissingHash)
        );
        assert_eq!(
            check(None, "x", Some("42"), Some(&good)),
            Err(IdentityError::NoSecret)
        );
        assert_eq!(
            check(Some(secret), "abcdefgh12", None, None).map(|v| v.thread()),
            Ok("v:abcdefgh12".to_string())
        );
        assert_eq!(
            check(Some(secret), "short", None, None),
            Err(IdentityError::BadVisitor)
        );
        assert_eq!(
            check(Some(secret), "../../etc/passwd", None, None),
            Err(IdentityError::BadVisitor)
        );
    }
}
