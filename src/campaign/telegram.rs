//! Campaign messages on Telegram: the outbox's [`Payload`] as Telegram HTML with an
//! inline keyboard, through the bot's shared limiter at campaign priority.

use async_trait::async_trait;
use kefu_bot::shop::Channel;
use kefu_bot::store::{OutboxRow, Store};
use kefu_campaigns::deliver::{Payload, SendError, Sender};
use kefu_channels::limiter::Priority;
use kefu_channels::telegram::{ChatId, Outbound, TelegramError, escape_html};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use teloxide::{ApiError, RequestError};

/// Callback data of an RSVP button: `rsvp:{campaign}`.
pub const RSVP_PREFIX: &str = "rsvp:";

#[derive(Debug)]
pub struct TelegramSender {
    pub out: Outbound,
    pub store: Store,
}

/// The message as Telegram HTML: the text, then one line per product card.
pub fn html(message: &Payload) -> String {
    let mut out = String::new();
    if let Some(subject) = &message.subject {
        out.push_str(&format!("<b>{}</b>\n\n", escape_html(subject)));
    }
    out.push_str(&escape_html(&message.text));
    if let Some(image) = &message.image
        && (image.starts_with("https://") || image.starts_with("http://"))
    {
        out.push_str(&format!("\n\n<a href=\"{}\">🖼</a>", escape_html(image)));
    }
    if !message.cards.is_empty() {
        out.push('\n');
    }
    for card in &message.cards {
        out.push_str(&format!(
            "\n• <a href=\"{}\">{}</a> — {}",
            escape_html(&card.url),
            escape_html(&card.title),
            escape_html(&card.price)
        ));
    }
    out
}

/// Buttons: links open the tracked link, RSVP and unsubscribe are callbacks.
pub fn keyboard(message: &Payload, campaign: &str) -> Option<InlineKeyboardMarkup> {
    let mut rows = Vec::new();
    for b in &message.buttons {
        let button = match (&b.url, b.action.as_deref()) {
            (Some(url), _) => match url::Url::parse(url) {
                Ok(u) => InlineKeyboardButton::url(b.label.clone(), u),
                Err(_) => continue,
            },
            (None, Some("rsvp")) => {
                InlineKeyboardButton::callback(b.label.clone(), format!("{RSVP_PREFIX}{campaign}"))
            }
            (None, Some("unsubscribe")) => InlineKeyboardButton::callback(b.label.clone(), "stop"),
            _ => continue,
        };
        rows.push(vec![button]);
    }
    (!rows.is_empty()).then(|| InlineKeyboardMarkup::new(rows))
}

#[async_trait]
impl Sender for TelegramSender {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    async fn send(&self, row: &OutboxRow, message: &Payload) -> Result<String, SendError> {
        let chat = row.address.parse::<i64>().map(ChatId).map_err(|_| {
            SendError::Permanent(format!("`{}` is not a Telegram chat id", row.address))
        })?;
        let sent = self
            .out
            .send(
                chat,
                &html(message),
                keyboard(message, &row.campaign_id),
                Priority::Campaign,
            )
            .await;
        match sent {
            Ok(id) => {
                if message.pin
                    && let Err(e) = self.out.pin(chat, id).await
                {
                    tracing::warn!(error = %e, chat = chat.0, "campaign post sent but not pinned");
                }
                Ok(format!("{}:{id}", chat.0))
            }
            Err(TelegramError::Api(RequestError::Api(api))) => {
                if matches!(
                    api,
                    ApiError::BotBlocked
                        | ApiError::UserDeactivated
                        | ApiError::BotKicked
                        | ApiError::BotKickedFromSupergroup
                ) {
                    // They blocked the bot: treat it as an unsubscribe, so no later
                    // campaign tries again.
                    if let Err(e) = self
                        .store
                        .set_subscription(Channel::Telegram, &row.address, false, "blocked")
                        .await
                    {
                        tracing::warn!(error = %e, "could not record a blocked bot as unsubscribed");
                    }
                    return Err(SendError::OptedOut(format!("bot blocked: {api}")));
                }
                Err(SendError::Permanent(api.to_string()))
            }
            Err(TelegramError::Api(
                e @ (RequestError::Network(_) | RequestError::Io(_) | RequestError::RetryAfter(_)),
            )) => Err(SendError::Transient(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}
