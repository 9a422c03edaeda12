//! Campaign messages by e-mail: plain text and HTML alternatives, product cards as a
//! table, buttons as links, and — for marketing — a one-click unsubscribe link in the
//! footer and in the `List-Unsubscribe` header (RFC 8058), as the big mailbox providers
//! require of bulk senders.
//!
//! The `Message-ID` is made from the outbox row, so a row sent again after a crash
//! carries the same id as the first copy.

use async_trait::async_trait;
use kefu_bot::shop::Channel;
use kefu_bot::store::{OutboxRow, Store};
use kefu_campaigns::deliver::{Payload, SendError, Sender};
use kefu_channels::email::{MailError, Mailer, Outgoing, build};

#[derive(Debug)]
pub struct EmailSender {
    pub mailer: Mailer,
    pub store: Store,
    /// The `From` address, e.g. `Lotus & Pine <hello@lotus.example>`.
    pub from: String,
    pub shop_name: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn is_web(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// The subject line: the message's subject, else its first line (shortened).
pub fn subject(payload: &Payload, shop: &str) -> String {
    if let Some(s) = payload.subject.as_deref().filter(|s| !s.trim().is_empty()) {
        return s.trim().to_owned();
    }
    let first = payload
        .text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(shop);
    kefu_channels::discord::truncate(first.trim(), 78)
}

/// The buttons as (label, link); RSVP and unsubscribe become their one-click links.
fn buttons(payload: &Payload) -> Vec<(&str, &str)> {
    payload
        .buttons
        .iter()
        .filter_map(|b| {
            let url = payload.button_url(b)?;
            is_web(url).then_some((b.label.as_str(), url))
        })
        .collect()
}

/// The plain-text part.
pub fn text(payload: &Payload, shop: &str, marketing: bool) -> String {
    let mut out = payload.text.trim_end().to_owned();
    if !payload.cards.is_empty() {
        out.push_str("\n\n");
        for c in &payload.cards {
            out.push_str(&format!("* {} — {}\n  {}\n", c.title, c.price, c.url));
        }
    }
    for (label, url) in buttons(payload) {
        out.push_str(&format!("\n\n{label}: {url}"));
    }
    out.push_str(&format!("\n\n-- \n{shop}"));
    if marketing && let Some(u) = &payload.unsubscribe_url {
        out.push_str(&format!("\nUnsubscribe: {u}"));
    }
    out.push('\n');
    out
}

/// The HTML part: one column, inline styles (what mail clients keep).
pub fn html(payload: &Payload, shop: &str, marketing: bool) -> String {
    let mut body = String::new();
    if let Some(image) = payload.image.as_deref().filter(|u| is_web(u)) {
        body.push_str(&format!(
            "<img src=\"{}\" alt=\"\" width=\"560\" style=\"max-width:100%;height:auto;border:0;display:block;margin:0 0 16px\">",
            escape(image)
        ));
    }
    if let Some(s) = &payload.subject {
        body.push_str(&format!(
            "<h1 style=\"font-size:22px;margin:0 0 12px\">{}</h1>",
            escape(s)
        ));
    }
    for para in payload.text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        body.push_str(&format!(
            "<p style=\"margin:0 0 12px;line-height:1.5\">{}</p>",
            escape(para.trim()).replace('\n', "<br>")
        ));
    }
    if !payload.cards.is_empty() {
        body.push_str("<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"width:100%;margin:8px 0 16px\">");
        for c in &payload.cards {
            let image = c
                .image
                .as_deref()
                .filter(|u| is_web(u))
                .map(|u| {
                    format!(
                        "<td width=\"72\" style=\"padding:6px 12px 6px 0\"><img src=\"{}\" alt=\"\" width=\"64\" style=\"border:0;display:block\"></td>",
                        escape(u)
                    )
                })
                .unwrap_or_default();
            body.push_str(&format!(
                "<tr>{image}<td style=\"padding:6px 0\"><a href=\"{}\" style=\"color:#1a5c3a;font-weight:bold\">{}</a><br>{}</td></tr>",
                escape(&c.url),
                escape(&c.title),
                escape(&c.price)
            ));
        }
        body.push_str("</table>");
    }
    for (label, url) in buttons(payload) {
        body.push_str(&format!(
            "<p style=\"margin:16px 0\"><a href=\"{}\" style=\"background:#1a5c3a;color:#ffffff;padding:10px 18px;border-radius:4px;text-decoration:none;display:inline-block\">{}</a></p>",
            escape(url),
            escape(label)
        ));
    }
    let mut footer = escape(shop);
    if marketing && let Some(u) = &payload.unsubscribe_url {
        footer.push_str(&format!(
            " · <a href=\"{}\" style=\"color:#777777\">Unsubscribe</a>",
            escape(u)
        ));
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"margin:0;padding:0;background:#f6f6f3\"><div style=\"max-width:600px;margin:0 auto;padding:24px 20px;background:#ffffff;font-family:Helvetica,Arial,sans-serif;font-size:16px;color:#222222\">\
         {body}<p style=\"margin:24px 0 0;font-size:12px;color:#777777\">{footer}</p></div></body></html>"
    )
}

/// The `Message-ID` of an outbox row's e-mail.
pub fn message_id(row: &OutboxRow, from: &str) -> String {
    let domain = from
        .rsplit('@')
        .next()
        .map(|d| d.trim_end_matches('>').trim())
        .filter(|d| !d.is_empty())
        .unwrap_or("kefu.invalid");
    let campaign: String = row
        .campaign_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("<kefu.{campaign}.{}@{domain}>", row.id)
}

#[async_trait]
impl Sender for EmailSender {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, row: &OutboxRow, payload: &Payload) -> Result<String, SendError> {
        let unsubscribe = if row.marketing {
            payload.unsubscribe_url.as_deref()
        } else {
            None
        };
        let mail = Outgoing {
            from: &self.from,
            to: &row.address,
            subject: &subject(payload, &self.shop_name),
            text: text(payload, &self.shop_name, row.marketing),
            html: html(payload, &self.shop_name, row.marketing),
            message_id: message_id(row, &self.from),
            unsubscribe,
            headers: vec![("X-Kefu-Campaign", row.campaign_id.clone())],
        };
        let message = build(&mail).map_err(|e| SendError::Permanent(e.to_string()))?;
        match self.mailer.send(message).await {
            Ok(reply) => Ok(reply),
            Err(MailError::Permanent(reason)) => Err(SendError::Permanent(reason)),
            Err(MailError::Rejected(reason)) => {
                // A hard bounce: no later campaign writes to this address again.
                if let Err(e) = self
                    .store
                    .set_subscription(Channel::Email, &row.address, false, "hard bounce")
                    .await
                {
                    tracing::warn!(error = %e, "could not record a hard bounce as unsubscribed");
                }
                Err(SendError::Permanent(reason))
            }
            Err(MailError::Transient(reason)) => Err(SendError::Transient(reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use kefu_bot::shop::Channel;
    use kefu_campaigns::deliver::Payload;

    fn payload() -> Payload {
        crate::campaign::test_payload()
    }

    #[test]
    fn both_parts_carry_the_cards_the_links_and_the_unsubscribe_footer() {
        let p = payload();
        let text = super::text(&p, "Lotus & Pine", true);
        assert!(
            text.contains("* Dragon Well — 24.00 USD\n  https://shop.example/l/2"),
            "{text}"
        );
        assert!(
            text.contains("Remind me: https://shop.example/rsvp/9.def"),
            "{text}"
        );
        assert!(
            text.ends_with("Unsubscribe: https://shop.example/u/9.abc\n"),
            "{text}"
        );
        let html = super::html(&p, "Lotus & Pine", true);
        assert!(
            html.contains(
                "<h1 style=\"font-size:22px;margin:0 0 12px\">Spring &lt;*teas*&gt;</h1>"
            )
        );
        assert!(
            text.contains("Shop now: https://shop.example/l/1"),
            "{text}"
        );
        assert!(html.contains("Hi Mei,</p>"), "paragraphs: {html}");
        assert!(html.contains("href=\"https://shop.example/u/9.abc\""));
        assert!(html.contains("Lotus &amp; Pine"));
        // A service message (a community post, a transactional step) has no unsubscribe.
        assert!(!super::text(&p, "Lotus & Pine", false).contains("Unsubscribe"));
        assert_eq!(super::subject(&p, "Lotus & Pine"), "Spring <*teas*>");
        let mut bare = p.clone();
        bare.subject = None;
        assert_eq!(super::subject(&bare, "Lotus & Pine"), "Hi Mei,");
    }

    #[test]
    fn the_message_id_is_the_rows_own() {
        let row = crate::campaign::test_row(77, Channel::Email, "mei@example.com");
        assert_eq!(
            super::message_id(&row, "Lotus & Pine <hello@lotus.example>"),
            "<kefu.spring.77@lotus.example>"
        );
    }
}
