//! Live updates for widget sessions. Every open widget connection subscribes to its
//! thread, and a signed-in customer's also to the customer; whoever adds to a thread (the
//! agent's turn, a staff member in the console, another tab of the same visitor) or to
//! any conversation of a customer (their Telegram chat) tells the hub, and each
//! connection then reads what is new from the database. Messages themselves never
//! travel through the hub, so a connection that lags or reconnects still gets every
//! message exactly once, in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

/// Something a widget connection should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEvent {
    /// The thread has new stored messages.
    Messages,
    /// The bot is writing (or stopped writing) a reply.
    Typing(bool),
    /// A piece of a reply being written (streaming engines).
    Delta { draft: u64, text: String },
    /// The conversation was resolved: ask the customer for a 1–5 rating.
    AskRating,
}

/// Per-thread broadcast channels, created on first subscription and dropped with the
/// last subscriber.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    threads: Arc<Mutex<HashMap<String, broadcast::Sender<HubEvent>>>>,
}

/// The hub key for everything of one customer, on any channel. Widget thread keys start
/// with `v:` or `u:`, so the two never meet.
pub fn customer_key(customer: kefu_bot::store::CustomerId) -> String {
    format!("customer:{customer}")
}

/// Events buffered per connection before it counts as lagging (it then re-reads the
/// thread from the database, which loses only typing and streaming pieces).
const BUFFER: usize = 64;

impl Hub {
    pub fn subscribe(&self, thread: &str) -> broadcast::Receiver<HubEvent> {
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        threads
            .entry(thread.to_string())
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe()
    }

    /// Tells every connection on `thread`; nothing happens when none is open.
    pub fn publish(&self, thread: &str, event: HubEvent) {
        let threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = threads.get(thread) {
            let _ = sender.send(event);
        }
    }

    /// Drops the thread's channel when its last connection has gone.
    pub fn release(&self, thread: &str) {
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        if threads.get(thread).is_some_and(|s| s.receiver_count() == 0) {
            threads.remove(thread);
        }
    }

    /// Threads with at least one open connection.
    pub fn threads(&self) -> usize {
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publish_reaches_subscribers_of_the_thread_only() {
        let hub = Hub::default();
        let mut a = hub.subscribe("v:a");
        let mut b = hub.subscribe("v:b");
        hub.publish("v:a", HubEvent::Messages);
        assert_eq!(a.recv().await.ok(), Some(HubEvent::Messages));
        assert!(b.try_recv().is_err());
        drop(a);
        hub.release("v:a");
        assert_eq!(hub.threads(), 1);
        drop(b);
        hub.release("v:b");
        assert_eq!(hub.threads(), 0);
    }
}
