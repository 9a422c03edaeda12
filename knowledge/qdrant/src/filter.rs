//! kefu's [`Filter`] as a Qdrant server filter over the [`Passage`](kefu_knowledge::Passage)
//! payload: the same conditions the embedded backend gives qdrant-edge (its `filter.rs`),
//! so a filtered search finds the same passages on both. `must` a match-any per non-empty
//! list, and `must_not in_stock = false` for in-stock-only, which keeps articles (no
//! `in_stock`) and products whose stock is unknown.

use kefu_knowledge::Filter;
use qdrant_client::qdrant::{self, Condition, r#match::MatchValue};

/// Payload fields that filters use, and that get a payload index.
pub const LANG: &str = "lang";
pub const GROUP: &str = "group";
pub const TAGS: &str = "tags";
pub const KIND: &str = "kind";
pub const IN_STOCK: &str = "in_stock";
/// Read by `hashes`.
pub const HASH: &str = "hash";

/// A match-any over keywords. Built as `Keywords` explicitly: the client's `From<String>`
/// turns a value with a space into a full-text match.
fn any_of(field: &str, values: Vec<String>) -> Option<Condition> {
    if values.is_empty() {
        return None;
    }
    Some(Condition::matches(
        field,
        MatchValue::Keywords(qdrant::RepeatedStrings { strings: values }),
    ))
}

/// `None` when the filter lets everything through.
pub fn to_qdrant(filter: &Filter) -> Option<qdrant::Filter> {
    let must: Vec<Condition> = [
        any_of(LANG, filter.langs.clone()),
        any_of(TAGS, filter.tags.clone()),
        any_of(
            KIND,
            filter.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        ),
        any_of(GROUP, filter.groups.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let must_not: Vec<Condition> = if filter.in_stock_only {
        vec![Condition::matches(IN_STOCK, MatchValue::Boolean(false))]
    } else {
        Vec::new()
    };
    if must.is_empty() && must_not.is_empty() {
        return None;
    }
    Some(qdrant::Filter {
        must,
        must_not,
        ..qdrant::Filter::default()
    })
}
