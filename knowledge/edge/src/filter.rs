//! kefu's [`Filter`] as a Qdrant filter over the [`Passage`](kefu_knowledge::Passage)
//! payload. It is the filter a Qdrant server gets too: `must` a match-any per non-empty
//! list, and `must_not in_stock = false` for in-stock-only, which keeps articles (no
//! `in_stock`) and products whose stock is unknown.

use kefu_knowledge::{Filter, IndexError};
use qdrant_edge::{Condition, FieldCondition, JsonPath, Match};

use crate::BACKEND;

/// Payload fields that filters use, and that get a payload index.
pub(crate) const LANG: &str = "lang";
pub(crate) const GROUP: &str = "group";
pub(crate) const TAGS: &str = "tags";
pub(crate) const KIND: &str = "kind";
pub(crate) const IN_STOCK: &str = "in_stock";
/// Read by `hashes`.
pub(crate) const HASH: &str = "hash";

pub(crate) fn path(field: &str) -> Result<JsonPath, IndexError> {
    field
        .parse()
        .map_err(|_| IndexError::backend(BACKEND, format!("invalid payload path {field:?}")))
}

fn any_of(field: &str, values: Vec<String>) -> Result<Option<Condition>, IndexError> {
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(Condition::Field(FieldCondition::new_match(
        path(field)?,
        Match::from(values),
    ))))
}

/// `None` when the filter lets everything through.
pub(crate) fn to_qdrant(filter: &Filter) -> Result<Option<qdrant_edge::Filter>, IndexError> {
    let must: Vec<Condition> = [
        any_of(LANG, filter.langs.clone())?,
        any_of(TAGS, filter.tags.clone())?,
        any_of(
            KIND,
            filter.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        )?,
        any_of(GROUP, filter.groups.clone())?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let must_not: Vec<Condition> = if filter.in_stock_only {
        vec![Condition::Field(FieldCondition::new_match(
            path(IN_STOCK)?,
            Match::from(false),
        ))]
    } else {
        Vec::new()
    };
    if must.is_empty() && must_not.is_empty() {
        return Ok(None);
    }
    Ok(Some(qdrant_edge::Filter {
        should: None,
        min_should: None,
        must: (!must.is_empty()).then_some(must),
        must_not: (!must_not.is_empty()).then_some(must_not),
    }))
}
