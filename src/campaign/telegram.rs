//! Campaign messages on Telegram: the outbox's [`Payload`] as Telegram HTML with an
//! inline keyboard, through the bot's shared limiter at campaign priority.

use async_trait::async_trait;
use kefu_bot::shop::Channel;
use kefu_bot::store::{OutboxRow, Store};
use kefu_campaigns::deliver::{Payload, SendError, Sender};
use kefu_channels::limiter::Priority;
use kefu_channels::telegram::{ChatId, Outbound, TelegramError, caption_fits, escape_html};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use teloxide::{ApiError, RequestError};

/// Callback data of an RSVP button: `rsvp:{campaign}`.
pub const RSVP_PREFIX: &str = "rsvp:";

#[derive(Debug)]
pub struct TelegramSender {
    pub out: Outbound,
    pub store: Store,
}

/// The message's image, when it can be shown (an http or https URL).
fn image(message: &Payload) -> Option<url::Url> {
    let raw = message.image.as_deref()?;
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
}

/// The message as Telegram HTML: the text, then one line per product card. The image is
/// a link at the end when it is not sent as a photo.
pub fn html(message: &Payload) -> String {
    let mut out = text_html(message);
    if let Some(image) = image(message) {
        out.push_str(&format!(
            "\n\n<a href=\"{}\">🖼</a>",
            escape_html(image.as_str())
        ));
    }
    out
}

/// The message as Telegram HTML without its image.
fn text_html(message: &Payload) -> String {
    let mut out = String::new();
    if let Some(subject) = &message.subject {
        out.push_str(&format!("<b>{}</b>\n\n", escape_html(subject)));
    }
    out.push_str(&escape_html(&message.text));
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
        let buttons = keyboard(message, &row.campaign_id);
        // One message per recipient: the image as a photo with the text as its caption
        // when the text fits one, otherwise the text with the image as a link.
        let caption = text_html(message);
        let sent = match image(message) {
            Some(url) if caption_fits(&caption) => {
                self.out
                    .send_photo(chat, url, &caption, buttons, Priority::Campaign)
                    .await
            }
            _ => {
                self.out
                    .send(chat, &html(message), buttons, Priority::Campaign)
                    .await
            }
        };
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kefu_bot::shop::Channel;
    use kefu_bot::store::{ConnectOptions, OutboxRow, Store};
    use kefu_campaigns::deliver::{Payload, PayloadButton, SendError, Sender};
    use kefu_channels::limiter::{Limiter, Limits};
    use kefu_channels::telegram::Outbound;
    use kefu_channels::telegram::test_server::{PhotoSource, TestServer};

    use super::TelegramSender;

    const TOKEN: &str = "4242:campaign-sender-tests";

    fn row(chat: i64) -> OutboxRow {
        crate::campaign::test_row(1, kefu_bot::shop::Channel::Telegram, &chat.to_string())
    }

    fn payload(text: &str) -> Payload {
        Payload {
            subject: Some("Spring teas".into()),
            text: text.into(),
            image: Some("https://shop.example/spring.jpg".into()),
            buttons: vec![PayloadButton {
                label: "Shop now".into(),
                url: Some("https://shop.example/l/1".into()),
                action: None,
            }],
            ..Payload::default()
        }
    }

    async fn sender(server: &TestServer) -> (TelegramSender, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kefu.db").display());
        let store = Store::open(&url, &ConnectOptions::default()).await.unwrap();
        let limiter = Arc::new(Limiter::new(Limits::default()));
        let out = Outbound::new(TOKEN, &server.api_url(), limiter).unwrap();
        (TelegramSender { out, store }, dir)
    }

    #[tokio::test]
    async fn an_image_goes_as_a_photo_with_the_text_as_its_caption() {
        let server = TestServer::start(TOKEN).await.unwrap();
        let (sender, _dir) = sender(&server).await;
        sender
            .send(&row(701), &payload("New <harvest> is in."))
            .await
            .unwrap();
        let sent = server.sent();
        assert_eq!(sent.len(), 1, "one message per recipient: {sent:#?}");
        let photo = &sent[0];
        assert_eq!(photo.method, "sendPhoto");
        assert_eq!(
            photo.photo,
            Some(PhotoSource::Url("https://shop.example/spring.jpg".into()))
        );
        let caption = photo.caption.as_deref().unwrap();
        assert!(
            caption.starts_with("<b>Spring teas</b>")
                && caption.contains("New &lt;harvest&gt; is in."),
            "{caption}"
        );
        assert!(
            photo
                .reply_markup
                .as_ref()
                .unwrap()
                .to_string()
                .contains("Shop now")
        );
    }

    #[tokio::test]
    async fn a_chat_that_blocked_the_bot_is_unsubscribed_and_the_row_skipped() {
        let server = TestServer::start(TOKEN).await.unwrap();
        server.block(704);
        let (sender, _dir) = sender(&server).await;
        let refused = sender.send(&row(704), &payload("New teas.")).await;
        assert_eq!(
            refused,
            Err(SendError::OptedOut(
                "bot blocked: Forbidden: bot was blocked by the user".into()
            ))
        );
        assert_eq!(server.blocked_answers(704), 1, "a 403 is not retried");
        assert!(server.sent().is_empty());
        let subscription = sender
            .store
            .subscription(Channel::Telegram, "704")
            .await
            .unwrap()
            .unwrap();
        assert!(!subscription.subscribed);
        assert_eq!(subscription.source, "blocked");
    }

    #[tokio::test]
    async fn a_text_too_long_for_a_caption_goes_as_text_with_the_image_linked() {
        let server = TestServer::start(TOKEN).await.unwrap();
        let (sender, _dir) = sender(&server).await;
        let long = "Oolong season. ".repeat(80);
        sender.send(&row(702), &payload(&long)).await.unwrap();
        let sent = server.sent();
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(sent[0].method, "sendMessage");
        let text = sent[0].text.as_deref().unwrap();
        assert!(
            text.ends_with("<a href=\"https://shop.example/spring.jpg\">🖼</a>"),
            "{text}"
        );
    }
}
