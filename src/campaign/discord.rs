//! Campaign messages on Discord: a direct message to the customer's Discord user, or a
//! post in a server channel (community campaigns), optionally pinned.
//!
//! Each outbox row posts with the nonce `{installation}-{row}` and `enforce_nonce`, so a
//! row sent again within Discord's nonce window (a few minutes) — after a timeout, or
//! after a crash before the result was recorded (the lease is 30 s) — finds the message
//! Discord made the first time instead of making a second one.

use async_trait::async_trait;
use kefu_bot::shop::Channel;
use kefu_bot::store::{OutboxRow, Store};
use kefu_campaigns::deliver::{Payload, SendError, Sender};
use kefu_channels::discord::{
    ActionRow, Button, DiscordError, Embed, EmbedImage, MAX_CONTENT, MAX_EMBEDS, Message, Rest,
    escape_markdown, truncate,
};

#[derive(Debug)]
pub struct DiscordSender {
    pub rest: Rest,
    pub store: Store,
    /// This installation's part of every nonce.
    pub nonce_prefix: String,
}

impl DiscordSender {
    /// The nonce of an outbox row's message (at most 25 characters).
    pub fn nonce(&self, row: i64) -> String {
        format!("{}-{row}", self.nonce_prefix)
    }
}

/// The message as Discord shows it: the subject in bold, the text, the image and one
/// embed per product card; link buttons, RSVP and unsubscribe as links.
pub fn message(payload: &Payload, marketing: bool) -> Message {
    let mut content = String::new();
    if let Some(subject) = &payload.subject {
        content.push_str(&format!("**{}**\n\n", escape_markdown(subject)));
    }
    content.push_str(&escape_markdown(&payload.text));
    let mut embeds = Vec::new();
    if let Some(image) = payload.image.as_deref().filter(|u| is_web(u)) {
        embeds.push(Embed {
            image: Some(EmbedImage {
                url: image.to_owned(),
            }),
            ..Embed::default()
        });
    }
    for card in &payload.cards {
        embeds.push(Embed {
            title: Some(truncate(&card.title, 256)),
            description: Some(card.price.clone()),
            url: Some(card.url.clone()),
            image: card
                .image
                .as_deref()
                .filter(|u| is_web(u))
                .map(|u| EmbedImage { url: u.to_owned() }),
        });
    }
    embeds.truncate(MAX_EMBEDS);
    let mut buttons = Vec::new();
    for b in &payload.buttons {
        if let Some(url) = payload.button_url(b).filter(|u| is_web(u)) {
            buttons.push(Button::link(&b.label, url));
        }
    }
    // A marketing DM always says how to stop them, even when the campaign has no button
    // for it.
    if marketing
        && !payload
            .buttons
            .iter()
            .any(|b| b.action.as_deref() == Some("unsubscribe"))
        && let Some(url) = &payload.unsubscribe_url
    {
        let line = format!("\n\n-# [Unsubscribe]({url})");
        // The way out is never cut off: the text gives way instead.
        content = truncate(&content, MAX_CONTENT.saturating_sub(line.chars().count()));
        content.push_str(&line);
    }
    Message {
        content: truncate(&content, MAX_CONTENT),
        embeds,
        components: ActionRow::rows(buttons),
    }
}

fn is_web(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

fn send_error(e: DiscordError) -> SendError {
    if e.is_transient() {
        SendError::Transient(e.to_string())
    } else {
        SendError::Permanent(e.to_string())
    }
}

#[async_trait]
impl Sender for DiscordSender {
    fn channel(&self) -> Channel {
        Channel::Discord
    }

    async fn send(&self, row: &OutboxRow, payload: &Payload) -> Result<String, SendError> {
        if row.address.is_empty() || row.address.parse::<u64>().is_err() {
            return Err(SendError::Permanent(format!(
                "`{}` is not a Discord id",
                row.address
            )));
        }
        // A customer is written to in a DM; a community post goes to the channel itself.
        let channel = if row.customer_id.is_some() {
            self.rest
                .dm_channel(&row.address)
                .await
                .map_err(send_error)?
        } else {
            row.address.clone()
        };
        let message = message(payload, row.marketing);
        match self
            .rest
            .post(&channel, &message, &self.nonce(row.id))
            .await
        {
            Ok(id) => {
                if payload.pin
                    && let Err(e) = self.rest.pin(&channel, &id).await
                {
                    tracing::warn!(error = %e, channel, "campaign post sent but not pinned");
                }
                Ok(format!("{channel}:{id}"))
            }
            Err(e) if e.cannot_message_user() => {
                // They take no DMs from the bot any more: no later campaign tries again.
                if let Err(e) = self
                    .store
                    .set_subscription(Channel::Discord, &row.address, false, "DMs closed")
                    .await
                {
                    tracing::warn!(error = %e, "could not record closed DMs as unsubscribed");
                }
                Err(SendError::OptedOut(e.to_string()))
            }
            Err(e) => Err(send_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use kefu_bot::shop::Channel;
    use kefu_bot::store::{ConnectOptions, Store};
    use kefu_campaigns::deliver::{Payload, SendError, Sender};
    use kefu_channels::discord::Rest;
    use kefu_channels::discord::test_server::{Limits, TestServer};

    use super::DiscordSender;

    const TOKEN: &str = "discord-campaign-tests";

    fn payload() -> Payload {
        crate::campaign::test_payload()
    }

    async fn sender(server: &TestServer) -> (DiscordSender, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kefu.db").display());
        let store = Store::open(&url, &ConnectOptions::default()).await.unwrap();
        let rest = Rest::new(TOKEN, &server.api_url()).unwrap();
        (
            DiscordSender {
                rest,
                store,
                nonce_prefix: "k1a2b3c4".into(),
            },
            dir,
        )
    }

    fn dm_row(id: i64, user: &str) -> kefu_bot::store::OutboxRow {
        let mut row = crate::campaign::test_row(id, Channel::Discord, user);
        row.customer_id = Some(1);
        row
    }

    #[tokio::test]
    async fn a_dm_carries_text_cards_and_link_buttons_and_a_repeat_makes_no_second_message() {
        let server = TestServer::start(TOKEN).await.unwrap();
        let (sender, _dir) = sender(&server).await;
        let row = dm_row(31, "200000000000000001");
        let first = sender.send(&row, &payload()).await.unwrap();
        // The same row again (a crash before its result was recorded): the nonce makes
        // Discord return the first message.
        let again = sender.send(&row, &payload()).await.unwrap();
        assert_eq!(first, again);
        let posted = server.posted();
        assert_eq!(posted.len(), 1, "{posted:#?}");
        let m = &posted[0];
        assert_eq!(m.user_id.as_deref(), Some("200000000000000001"));
        assert_eq!(m.nonce.as_deref(), Some("k1a2b3c4-31"));
        assert!(
            m.content
                .starts_with("**Spring <\\*teas\\*\\>**\n\nHi Mei,\n\nThe first flush is in."),
            "{}",
            m.content
        );
        assert!(
            m.content
                .ends_with("[Unsubscribe](https://shop.example/u/9.abc)"),
            "a marketing DM says how to stop: {}",
            m.content
        );
        assert_eq!(m.embeds.len(), 2, "the image and one card: {:#?}", m.embeds);
        assert_eq!(m.embeds[1]["title"], "Dragon Well");
        let buttons = &m.components[0]["components"];
        assert_eq!(buttons[0]["url"], "https://shop.example/l/1");
        assert_eq!(buttons[1]["label"], "Remind me");
        assert_eq!(buttons[1]["url"], "https://shop.example/rsvp/9.def");
    }

    #[tokio::test]
    async fn closed_dms_unsubscribe_and_an_unknown_channel_is_a_dead_letter() {
        let server = TestServer::start(TOKEN).await.unwrap();
        let (sender, _dir) = sender(&server).await;
        server.close_dms("200000000000000002");
        let err = sender
            .send(&dm_row(32, "200000000000000002"), &payload())
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::OptedOut(_)), "{err:?}");
        let s = sender
            .store
            .subscription(Channel::Discord, "200000000000000002")
            .await
            .unwrap()
            .unwrap();
        assert!(!s.subscribed);

        // A community post to a channel the bot cannot see.
        let mut post = crate::campaign::test_row(33, Channel::Discord, "300000000000000003");
        post.marketing = false;
        let err = sender.send(&post, &payload()).await.unwrap_err();
        match err {
            SendError::Permanent(reason) => assert!(reason.contains("10003"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sender
                .send(&dm_row(34, "not-an-id"), &payload())
                .await
                .unwrap_err(),
            SendError::Permanent(_)
        ));
    }

    #[tokio::test]
    async fn a_community_post_is_pinned_and_rate_limits_are_kept() {
        let server = TestServer::start_with(TOKEN, Limits::default())
            .await
            .unwrap();
        let (sender, _dir) = sender(&server).await;
        server.add_channel("300000000000000004");
        // Seven posts into one channel: Discord allows 5 per 5 s there; the client waits
        // instead of failing.
        for id in 40..47 {
            let mut post = crate::campaign::test_row(id, Channel::Discord, "300000000000000004");
            post.marketing = false;
            let mut p = payload();
            p.pin = id == 40;
            sender.send(&post, &p).await.unwrap();
        }
        let posted = server.posted();
        assert_eq!(posted.len(), 7);
        assert!(
            posted.iter().all(|m| !m.content.contains("Unsubscribe")),
            "community posts carry no unsubscribe line"
        );
        assert_eq!(
            server.pins(),
            vec![(
                "300000000000000004".to_owned(),
                posted[0].message_id.clone()
            )]
        );
        assert_eq!(
            server.too_many_requests(),
            0,
            "the announced bucket is kept without a 429"
        );
    }
}
