//! Which orders a message names, in the shop's own order-name formats: a verified
//! customer's references are looked up among their own orders (a bare number counts when
//! it is one of theirs); anyone else's are taken as written, so nothing tells a visitor
//! whether an order exists.

use super::{OfflineEngine, Turn, is_order_intent};
use crate::intent::{Intent, Understood, understand_with_orders};
use crate::slots::{self, OrderRef, order_key};
use crate::store::StoreError;

impl OfflineEngine {
    /// The message understood, with the orders it names: each as the shop names it when
    /// it is one of the verified customer's orders, else as the customer wrote it (to be
    /// answered "not found", never replaced by another order).
    pub(super) async fn understand_orders(
        &self,
        turn: &mut Turn<'_, '_>,
    ) -> Result<Understood, StoreError> {
        let refs = slots::order_refs(turn.text, &turn.tools.formats);
        let mut names: Vec<String> = Vec::new();
        let who = turn.memory.verified();
        for r in &refs {
            let name = match who {
                Some(who) => turn
                    .tools
                    .find_order(who, r)
                    .await?
                    .map_or_else(|| r.display.clone(), |o| o.name),
                None => r.display.clone(),
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        // "21961发货了没", "c'est la 17257": a bare number is an order when it is one of
        // the verified customer's own (anyone else's stays a plain number: no oracle).
        if names.is_empty()
            && let Some(who) = who
        {
            let bare = slots::bare_numbers(turn.text);
            if !bare.is_empty() {
                let own = turn.tools.list_orders(who).await?;
                for number in bare {
                    let Some(r) = OrderRef::parse(&number) else {
                        continue;
                    };
                    let keys = turn.tools.formats.candidates(&r);
                    let mine: Vec<&String> = own
                        .iter()
                        .filter(|o| keys.contains(&order_key(&o.name)))
                        .map(|o| &o.name)
                        .collect();
                    if let [only] = mine.as_slice()
                        && !names.contains(only)
                    {
                        names.push((*only).clone());
                    }
                }
            }
        }
        let mut understood = understand_with_orders(turn.text, names);
        // "How much was refunded on XYZ-777?": a word like an order name the shop does
        // not know still names an order when the message is about an order, and is then
        // not found — never replaced by the latest one.
        let unknown = slots::name_like(turn.text);
        if understood.order_numbers.is_empty() && !unknown.is_empty() {
            let with = understand_with_orders(turn.text, unknown.clone());
            let about_order = is_order_intent(understood.intent)
                || matches!(
                    with.intent,
                    Intent::ReturnItem | Intent::CancelOrder | Intent::ChangeAddress
                )
                || (with.intent == Intent::TrackOrder && slots::mentions_order_word(turn.text));
            if about_order {
                understood = with;
            }
        }
        // "How much was refunded on #1001?", "I want a refund for XYZ-777": a refund on a
        // named order is a return question (answered, or offered, never done at once).
        let lower = turn.text.to_lowercase();
        if super::REFUND_WORDS.iter().any(|w| lower.contains(w))
            && matches!(understood.intent, Intent::Question | Intent::TrackOrder)
        {
            if understood.order_numbers.is_empty() {
                understood.order_numbers = unknown;
            }
            if !understood.order_numbers.is_empty() {
                understood.intent = Intent::ReturnItem;
            }
        }
        Ok(understood)
    }
}
