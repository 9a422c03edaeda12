//! One-time verification codes by e-mail, through the shop's SMTP server (`[email]`, the
//! same transport campaign e-mail uses), in the customer's language.

use std::sync::Arc;

use async_trait::async_trait;
use kefu_bot::agent::offline::CODE_TTL_MINUTES;
use kefu_bot::agent::{Agent, Answers, CodeSender};
use kefu_channels::email::{Mailer, Outgoing, build};
use serde_json::json;

use crate::config::Settings;

pub struct MailCodeSender {
    mailer: Mailer,
    /// The `From` address, e.g. `Lotus & Pine <hello@lotus.example>`.
    from: String,
    shop_name: String,
    answers: Answers,
}

impl std::fmt::Debug for MailCodeSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailCodeSender")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl MailCodeSender {
    /// The sender over `[email]`'s SMTP server; `None` when e-mail is off.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let Some((smtp, from)) = settings
            .smtp_config()
            .map_err(|e| anyhow::anyhow!("kefu.toml [email]: {e}"))?
        else {
            return Ok(None);
        };
        Ok(Some(Self {
            mailer: Mailer::new(&smtp)?,
            from,
            shop_name: settings.shop.name.clone(),
            answers: Answers::builtin()?,
        }))
    }

    /// Subject and plain-text body of the code's e-mail in `lang`.
    pub fn render(&self, code: &str, lang: &str) -> (String, String) {
        let data = json!({ "shop": self.shop_name, "code": code, "minutes": CODE_TTL_MINUTES });
        let subject = self.answers.render(lang, "otp_email_subject", &data);
        let body = self.answers.render(lang, "otp_email_body", &data);
        (subject, format!("{body}\n\n-- \n{}\n", self.shop_name))
    }
}

/// Gives the agent an e-mail code sender when `[email]` is configured; without one, the
/// agent says it cannot send codes.
pub fn with_code_sender(agent: Agent, settings: &Settings) -> anyhow::Result<Agent> {
    Ok(match MailCodeSender::from_settings(settings)? {
        Some(sender) => agent.with_code_sender(Arc::new(sender)),
        None => agent,
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[async_trait]
impl CodeSender for MailCodeSender {
    async fn send_code(&self, to: &str, code: &str, lang: &str) -> Result<(), String> {
        let (subject, text) = self.render(code, lang);
        let html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"></head><body style=\"font-family:Helvetica,Arial,sans-serif;font-size:16px;color:#222222\">{}</body></html>",
            text.split("\n\n")
                .filter(|p| !p.trim().is_empty())
                .map(|p| format!("<p>{}</p>", escape(p.trim()).replace('\n', "<br>")))
                .collect::<String>()
        );
        let mut id = [0u8; 12];
        getrandom::fill(&mut id).map_err(|e| format!("no randomness: {e}"))?;
        let domain = self
            .from
            .rsplit('@')
            .next()
            .map(|d| d.trim_end_matches('>').trim())
            .filter(|d| !d.is_empty())
            .unwrap_or("kefu.invalid");
        let mail = Outgoing {
            from: &self.from,
            to,
            subject: &subject,
            text,
            html,
            message_id: format!(
                "<kefu.code.{}@{domain}>",
                id.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
            unsubscribe: None,
            headers: vec![("Auto-Submitted", "auto-generated".into())],
        };
        let message = build(&mail).map_err(|e| e.to_string())?;
        self.mailer
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    // The mailer's connection pool needs a runtime.
    #[tokio::test]
    async fn the_code_mail_is_short_and_in_the_customers_language() {
        let mut settings = crate::config::Settings::default();
        settings.shop.name = "Lotus & Pine".into();
        settings.email.enabled = true;
        settings.email.from = Some("Lotus & Pine <hello@lotus.example>".into());
        settings.email.smtp_host = Some("127.0.0.1".into());
        settings.email.smtp_security = "none".into();
        let sender = super::MailCodeSender::from_settings(&settings)
            .unwrap()
            .unwrap();
        let (subject, body) = sender.render("042917", "de");
        assert_eq!(subject, "Ihr Bestätigungscode von Lotus & Pine");
        assert!(
            body.starts_with("Ihr Bestätigungscode lautet 042917. Er ist 10 Minuten gültig."),
            "{body}"
        );
        let (subject, _) = sender.render("042917", "ru");
        assert_eq!(subject, "Your Lotus & Pine verification code");
        settings.email.enabled = false;
        assert!(
            super::MailCodeSender::from_settings(&settings)
                .unwrap()
                .is_none()
        );
    }
}
