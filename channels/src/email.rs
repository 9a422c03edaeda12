//! Outgoing e-mail over SMTP: pooled connections, STARTTLS (port 587), implicit TLS
//! (port 465) or plain SMTP for a relay on the same host, and errors sorted into "try
//! again later" (4xx replies, network trouble) and "will never work" (5xx replies such as
//! an unknown mailbox).

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

impl std::str::FromStr for Security {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            "none" => Ok(Security::None),
            other => Err(format!(
                "`{other}` is not an SMTP security mode: starttls, tls or none"
            )),
        }
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Connections kept open at most.
    pub connections: u32,
    /// Messages per second at most (the provider's sending rate).
    pub per_second: u32,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later: a 4xx reply, a timeout, a lost connection.
    #[error("{0}")]
    Transient(String),
    /// Will not work: a 5xx reply, a message that cannot be built.
    #[error("{0}")]
    Permanent(String),
    /// The mailbox does not exist or refuses mail (550, 551, 553): a hard bounce.
    #[error("{0}")]
    Rejected(String),
}

/// A pool of SMTP connections, sending at most a set number of messages per second.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The earliest instant the next message may start.
    next: std::sync::Arc<tokio::sync::Mutex<tokio::time::Instant>>,
    gap: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> Result<Self, MailError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = match config.security {
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
            }
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host),
            Security::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &config.host,
            )),
        }
        .map_err(|e| MailError::Permanent(format!("SMTP server {}: {e}", config.host)))?;
        let mut builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_secs(30)))
            .pool_config(PoolConfig::new().max_size(config.connections.max(1)));
        if let Some(user) = &config.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                config.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            next: std::sync::Arc::new(tokio::sync::Mutex::new(tokio::time::Instant::now())),
            gap: Duration::from_secs_f64(1.0 / f64::from(config.per_second.max(1))),
        })
    }

    /// Waits for this message's slot: messages start at most `per_second` a second.
    async fn pace(&self) {
        let start = {
            let mut next = self.next.lock().await;
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + self.gap;
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// Sends one message; returns the server's reply (e.g. "250 2.0.0 Ok: queued as …").
    pub async fn send(&self, message: Message) -> Result<String, MailError> {
        self.pace().await;
        match self.transport.send(message).await {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// The enhanced status code (RFC 3463, `5.1.1`) at the start of a reply's text, if any.
fn enhanced_code(reply: &str) -> Option<&str> {
    let code = reply.split_whitespace().next()?;
    let parts: Vec<&str> = code.split('.').collect();
    (parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
    .then_some(code)
}

/// Sorts a failed send: only a reply that names the recipient's mailbox as unknown or
/// disabled is a hard bounce; a refusal of the sender, the relay or the login is the
/// shop's settings (tried again, so fixing them lets the messages go); other 5xx replies
/// are permanent for this message only.
fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    let text = format!("SMTP: {e}");
    if !e.is_permanent() {
        return MailError::Transient(text);
    }
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    // lettre writes "permanent error (550): 5.1.1 <…>: Recipient address rejected".
    let reply = text.split_once("): ").map_or("", |(_, r)| r);
    let enhanced = enhanced_code(reply).unwrap_or("");
    if matches!(
        enhanced,
        "5.1.1" | "5.1.2" | "5.1.3" | "5.1.6" | "5.1.10" | "5.2.1"
    ) {
        return MailError::Rejected(text);
    }
    let settings = matches!(code.as_str(), "530" | "534" | "535" | "538")
        || matches!(
            enhanced,
            "5.1.7" | "5.1.8" | "5.7.0" | "5.7.8" | "5.7.9" | "5.7.11" | "5.7.26"
        )
        || reply.to_ascii_lowercase().contains("relay");
    if settings {
        MailError::Transient(format!(
            "{text} (the server refuses the sender, relay or login: check [email] in kefu.toml)"
        ))
    } else {
        MailError::Permanent(text)
    }
}

/// One e-mail to build.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: String,
    pub html: String,
    /// A stable id, so a message sent twice carries the same `Message-ID`.
    pub message_id: String,
    /// One-click unsubscribe (RFC 8058): `List-Unsubscribe` with
    /// `List-Unsubscribe-Post`.
    pub unsubscribe: Option<&'a str>,
    /// Extra headers (name, value).
    pub headers: Vec<(&'static str, String)>,
}

/// Builds the message: plain text and HTML alternatives, UTF-8.
pub fn build(mail: &Outgoing<'_>) -> Result<Message, MailError> {
    let from: Mailbox = mail
        .from
        .parse()
        .map_err(|e| MailError::Permanent(format!("email.from `{}`: {e}", mail.from)))?;
    let to: Mailbox = mail.to.parse().map_err(|e| {
        MailError::Permanent(format!("`{}` is not an e-mail address: {e}", mail.to))
    })?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject)
        .message_id(Some(mail.message_id.clone()))
        .date_now();
    let mut headers = mail.headers.clone();
    if let Some(url) = mail.unsubscribe {
        headers.push(("List-Unsubscribe", format!("<{url}>")));
        headers.push(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()));
    }
    for (name, value) in headers {
        let name = HeaderName::new_from_ascii(name.to_owned())
            .map_err(|e| MailError::Permanent(format!("header {name}: {e}")))?;
        builder = builder.raw_header(HeaderValue::new(name, value));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn enhanced_codes_are_read_from_the_reply() {
        assert_eq!(
            super::enhanced_code("5.1.1 <x@example.com>: Recipient address rejected"),
            Some("5.1.1")
        );
        assert_eq!(super::enhanced_code("5.7.26 DMARC"), Some("5.7.26"));
        assert_eq!(super::enhanced_code("No such user"), None);
        assert_eq!(super::enhanced_code("1.2 x"), None);
    }
}
