//! Campaign messages in the web chat widget: stored as the shop's message in the signed-in
//! customer's widget conversation (thread `u:{user_id}`), shown at once in an open widget
//! and in the history when the widget opens next. Buttons and product cards become the
//! message's links.
//!
//! Each outbox row is stored once: the row id is the message's channel id, so a row sent
//! again after a crash finds its message already there.

use async_trait::async_trait;
use kefu_bot::shop::Channel;
use kefu_bot::store::{Citation, NewMessage, Recorded, Store};
use kefu_campaigns::deliver::{Payload, SendError, Sender};
use kefu_channels::hub::{Hub, HubEvent};

#[derive(Debug)]
pub struct WebSender {
    pub store: Store,
    /// The widget's hub, when the widget is served by this process.
    pub hub: Option<Hub>,
}

/// The message's text: subject, then text.
fn body(message: &Payload) -> String {
    match &message.subject {
        Some(subject) => format!("{subject}\n\n{}", message.text),
        None => message.text.clone(),
    }
}

/// Buttons and product cards, as the links under the message; RSVP and unsubscribe
/// buttons become their one-click links.
fn links(message: &Payload) -> Vec<Citation> {
    let buttons = message.buttons.iter().filter_map(|b| {
        message.button_url(b).map(|url| Citation {
            document_id: "campaign".into(),
            title: b.label.clone(),
            url: Some(url.to_owned()),
        })
    });
    let cards = message.cards.iter().map(|c| Citation {
        document_id: "campaign".into(),
        title: format!("{} — {}", c.title, c.price),
        url: Some(c.url.clone()),
    });
    buttons.chain(cards).collect()
}

#[async_trait]
impl Sender for WebSender {
    fn channel(&self) -> Channel {
        Channel::Web
    }

    async fn send(
        &self,
        row: &kefu_bot::store::OutboxRow,
        message: &Payload,
    ) -> Result<String, SendError> {
        if row.address.is_empty() {
            return Err(SendError::Permanent("no widget user id".into()));
        }
        let thread = format!("u:{}", row.address);
        let conversation = self
            .store
            .open_conversation(Channel::Web, &thread, row.customer_id)
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let mut stored =
            NewMessage::bot(conversation.id, Channel::Web, body(message), links(message));
        stored.external_id = Some(format!("campaign:{}", row.id));
        let id = match self
            .store
            .insert_message(&stored)
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?
        {
            Recorded::New(id) | Recorded::Duplicate(id) => id,
        };
        if let Some(hub) = &self.hub {
            hub.publish(&thread, HubEvent::Messages);
        }
        Ok(id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use kefu_bot::store::{ConnectOptions, OutboxRow, Store};
    use kefu_campaigns::deliver::{Card, Payload, PayloadButton, Sender};
    use kefu_channels::hub::{Hub, HubEvent};

    use super::WebSender;
    use kefu_bot::shop::Channel;

    fn row(id: i64) -> OutboxRow {
        crate::campaign::test_row(id, Channel::Web, "user-42")
    }

    #[tokio::test]
    async fn a_campaign_message_lands_once_in_the_customers_widget_thread() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kefu.db").display());
        let store = Store::open(&url, &ConnectOptions::default()).await.unwrap();
        let hub = Hub::default();
        let mut open_widget = hub.subscribe("u:user-42");
        let sender = WebSender {
            store: store.clone(),
            hub: Some(hub.clone()),
        };
        let message = Payload {
            subject: Some("Spring teas".into()),
            text: "The first flush is in.".into(),
            buttons: vec![PayloadButton {
                label: "Shop now".into(),
                url: Some("https://shop.example/l/1".into()),
                action: None,
            }],
            cards: vec![Card {
                title: "Dragon Well".into(),
                price: "24.00 USD".into(),
                url: "https://shop.example/l/2".into(),
                image: None,
            }],
            ..Payload::default()
        };
        let first = sender.send(&row(7), &message).await.unwrap();
        assert_eq!(open_widget.try_recv().ok(), Some(HubEvent::Messages));
        // Sent again (a crash before the row was marked sent): stored once.
        let again = sender.send(&row(7), &message).await.unwrap();
        assert_eq!(first, again);

        let shown = store
            .thread_messages(Channel::Web, "u:user-42", 0, 50)
            .await
            .unwrap();
        assert_eq!(shown.len(), 1, "{shown:#?}");
        assert_eq!(shown[0].body, "Spring teas\n\nThe first flush is in.");
        let links: Vec<_> = shown[0]
            .citations
            .iter()
            .map(|c| (c.title.as_str(), c.url.as_deref()))
            .collect();
        assert_eq!(
            links,
            [
                ("Shop now", Some("https://shop.example/l/1")),
                ("Dragon Well — 24.00 USD", Some("https://shop.example/l/2"))
            ]
        );
    }
}
