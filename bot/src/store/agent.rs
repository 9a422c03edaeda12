//! What the support agent reads and changes: its memory of a conversation, ratings,
//! handoff summaries, and the order changes customers may ask for (cancel, change the
//! shipping address, request a return). Every change writes its audit entry in the same
//! transaction, so a change never exists without its record.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use super::read::{ORDER_COLUMNS, OrderRow};
use super::records::*;
use super::{Result, Store, StoreError, on_pool};

type ReturnRow = (
    i64,
    i64,
    Option<i64>,
    Json<Vec<ReturnLine>>,
    Option<String>,
    String,
    DateTime<Utc>,
);

fn audit_details(actor: Actor<'_>, mut details: serde_json::Value) -> Json<serde_json::Value> {
    if let (Some(c), Some(obj)) = (actor.conversation_id, details.as_object_mut()) {
        obj.insert("conversation".into(), c.into());
    }
    Json(details)
}

/// Writes an audit entry for an order inside the open transaction `$tx`.
macro_rules! audit_in {
    ($tx:ident, $at:expr, $actor:expr, $action:expr, $order_id:expr, $details:expr) => {
        sqlx::query("INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, $3, $4, $5)")
            .bind($at)
            .bind($actor.name)
            .bind($action)
            .bind(format!("order:{}", $order_id))
            .bind(audit_details($actor, $details))
            .execute(&mut *$tx)
            .await?
    };
}

/// One line of a return request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReturnLine {
    pub sku: Option<String>,
    pub name: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnRequest {
    pub id: i64,
    pub order_id: OrderId,
    pub conversation_id: Option<ConversationId>,
    pub lines: Vec<ReturnLine>,
    pub reason: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// What changed hands in a change: who did it and from which conversation.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// `agent`, `staff:ana@shop.example` …
    pub name: &'a str,
    pub conversation_id: Option<ConversationId>,
}

impl Store {
    /// An order by name (written any way [`Store::order_by_name`] accepts), but only when
    /// it belongs to `customer_id`: the query itself cannot return another customer's
    /// order.
    pub async fn order_of_customer(
        &self,
        customer_id: CustomerId,
        name: &str,
    ) -> Result<Option<Order>> {
        let key = crate::slots::order_key(name);
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE name_key = $1 AND customer_id = $2 \
             ORDER BY CASE WHEN name = $3 THEN 0 ELSE 1 END, id LIMIT 1"
        ));
        let row = on_pool!(self, p => sqlx::query_as::<_, OrderRow>(sql).bind(&key).bind(customer_id).bind(name.trim()).fetch_optional(p).await?);
        match row {
            None => Ok(None),
            Some(row) => {
                let id = row_id(&row);
                let mut lines = self.lines_of(&[id]).await?;
                let lines = lines.remove(&id).unwrap_or_default();
                Ok(Some(row.into_order(lines)))
            }
        }
    }

    /// The most recent conversation of a channel thread, closed or not.
    pub async fn latest_conversation(
        &self,
        channel: crate::shop::Channel,
        thread_id: &str,
    ) -> Result<Option<ConversationId>> {
        on_pool!(self, p => Ok(sqlx::query_scalar(
            "SELECT id FROM conversations WHERE channel = $1 AND thread_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(channel.as_str())
        .bind(thread_id)
        .fetch_optional(p)
        .await?))
    }

    /// The agent's memory of a conversation (JSON, `{}` when new).
    pub async fn conversation_context(&self, id: ConversationId) -> Result<serde_json::Value> {
        let row: Option<Json<serde_json::Value>> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT context FROM conversations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await?);
        Ok(row.map(|j| j.0).unwrap_or_else(|| serde_json::json!({})))
    }

    /// Saves the agent's memory, the conversation's state and language in one statement.
    pub async fn save_conversation(
        &self,
        id: ConversationId,
        state: ConversationState,
        language: &str,
        customer_id: Option<CustomerId>,
        context: &serde_json::Value,
    ) -> Result<()> {
        self.finish_turn(id, &[], state, language, customer_id, context)
            .await
    }

    /// Ends an agent turn in one transaction: the bot's replies and the conversation's
    /// state, language, customer and memory.
    pub async fn finish_turn(
        &self,
        id: ConversationId,
        replies: &[NewMessage],
        state: ConversationState,
        language: &str,
        customer_id: Option<CustomerId>,
        context: &serde_json::Value,
    ) -> Result<()> {
        let now = Utc::now();
        if let Some(direct) = &self.direct
            && let Ok(context) = serde_json::to_string(context)
        {
            let encoded: std::result::Result<Vec<_>, _> = replies
                .iter()
                .map(|m| serde_json::to_string(&m.citations).map(|c| (m, c)))
                .collect();
            if let Ok(replies) = encoded {
                match direct.finish_turn(id, &replies, state, language, customer_id, &context, now)
                {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        tracing::debug!(error = %e, "direct write failed; writing through the pool")
                    }
                }
            }
        }
        let closed_at = (state == ConversationState::Closed).then_some(now);
        on_pool!(self, p => {
            let mut tx = p.begin_with(<Db as super::WriteBegin>::BEGIN).await?;
            for m in replies {
                sqlx::query(
                    "INSERT INTO messages (conversation_id, channel, external_id, role, staff_id, body, citations, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(m.conversation_id)
                .bind(m.channel.as_str())
                .bind(m.external_id.as_deref())
                .bind(m.role.as_str())
                .bind(m.staff_id)
                .bind(&m.body)
                .bind(Json(&m.citations))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE conversations SET state = $1, language = $2, customer_id = COALESCE($3, customer_id), \
                 context = $4, updated_at = $5, closed_at = COALESCE(closed_at, $6) WHERE id = $7",
            )
            .bind(state.as_str())
            .bind(language)
            .bind(customer_id)
            .bind(Json(context))
            .bind(now)
            .bind(closed_at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores a 1–5 satisfaction rating.
    pub async fn set_rating(&self, id: ConversationId, score: u8) -> Result<()> {
        if !(1..=5).contains(&score) {
            return Err(StoreError::Conflict(format!(
                "a rating is 1 to 5, not {score}"
            )));
        }
        on_pool!(self, p => { sqlx::query("UPDATE conversations SET rating = $1 WHERE id = $2")
            .bind(i32::from(score))
            .bind(id)
            .execute(p)
            .await?; });
        Ok(())
    }

    pub async fn rating(&self, id: ConversationId) -> Result<Option<u8>> {
        let r: Option<Option<i32>> = on_pool!(self, p => sqlx::query_scalar("SELECT rating FROM conversations WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await?);
        Ok(r.flatten().and_then(|v| u8::try_from(v).ok()))
    }

    /// Adds LLM token usage to a conversation's running totals.
    pub async fn add_usage(&self, id: ConversationId, prompt: u64, completion: u64) -> Result<()> {
        on_pool!(self, p => { sqlx::query(
            "UPDATE conversations SET prompt_tokens = prompt_tokens + $1, completion_tokens = completion_tokens + $2 WHERE id = $3",
        )
        .bind(i64::try_from(prompt).unwrap_or(i64::MAX))
        .bind(i64::try_from(completion).unwrap_or(i64::MAX))
        .bind(id)
        .execute(p)
        .await?; });
        Ok(())
    }

    /// (prompt, completion) tokens spent on a conversation.
    pub async fn usage(&self, id: ConversationId) -> Result<(u64, u64)> {
        let row: Option<(i64, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT prompt_tokens, completion_tokens FROM conversations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await?);
        let (a, b) = row.unwrap_or((0, 0));
        Ok((a.max(0) as u64, b.max(0) as u64))
    }

    /// Queues a conversation for staff with a summary of what happened so far.
    pub async fn request_handoff_with_summary(
        &self,
        conversation_id: ConversationId,
        reason: &str,
        summary: &str,
    ) -> Result<HandoffId> {
        on_pool!(self, p => Ok(sqlx::query_scalar(
            "INSERT INTO handoffs (conversation_id, reason, summary, requested_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(conversation_id)
        .bind(reason)
        .bind(summary)
        .bind(Utc::now())
        .fetch_one(p)
        .await?))
    }

    pub async fn handoff_summary(&self, id: HandoffId) -> Result<Option<String>> {
        on_pool!(self, p => Ok(sqlx::query_scalar("SELECT summary FROM handoffs WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await?))
    }

    /// Tags of the products that own each SKU (for return eligibility).
    pub async fn product_tags_by_sku(
        &self,
        skus: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
        let mut out = HashMap::new();
        if skus.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(String, Json<Vec<String>>)> = on_pool!(self, p => {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "SELECT v.sku, p.tags FROM product_variants v JOIN products p ON p.id = v.product_id WHERE v.sku IN (",
            );
            let mut list = qb.separated(", ");
            for s in skus {
                list.push_bind(s.as_str());
            }
            qb.push(")");
            qb.build_query_as().fetch_all(p).await?
        });
        for (sku, tags) in rows {
            out.insert(sku, tags.0);
        }
        Ok(out)
    }

    /// Cancels an order that is still open and unfulfilled, as of `now` (the agent's
    /// clock). `false` when it no longer is (shipped or cancelled meanwhile): the check
    /// and the change are one statement.
    pub async fn cancel_order(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
        actor: Actor<'_>,
    ) -> Result<bool> {
        on_pool!(self, p => {
            let mut tx = p.begin_with(<Db as super::WriteBegin>::BEGIN).await?;
            let done = sqlx::query(
                "UPDATE orders SET status = 'cancelled', cancelled_at = $1, updated_at = $1 \
                 WHERE id = $2 AND status = 'open' AND fulfillment_status IN ('unfulfilled', '') \
                 AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = orders.id)",
            )
            .bind(now)
            .bind(order_id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if done {
                audit_in!(tx, now, actor, "order.cancel", order_id, serde_json::json!({}));
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Replaces the shipping address of an order not yet fulfilled, as of `now`. `false`
    /// when it already shipped or was cancelled.
    pub async fn change_shipping_address(
        &self,
        order_id: OrderId,
        address: &Address,
        now: DateTime<Utc>,
        actor: Actor<'_>,
    ) -> Result<bool> {
        on_pool!(self, p => {
            let mut tx = p.begin_with(<Db as super::WriteBegin>::BEGIN).await?;
            let old: Option<Option<Json<Address>>> = sqlx::query_scalar("SELECT shipping_address FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
            let done = sqlx::query(
                "UPDATE orders SET shipping_address = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'open' AND fulfillment_status IN ('unfulfilled', '') \
                 AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = orders.id)",
            )
            .bind(Json(address))
            .bind(now)
            .bind(order_id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if done {
                let details = serde_json::json!({ "from": old.flatten().map(|j| j.0), "to": address });
                audit_in!(tx, now, actor, "order.change_address", order_id, details);
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Records a return request for lines of an order, made at `now`.
    pub async fn create_return_request(
        &self,
        order_id: OrderId,
        lines: &[ReturnLine],
        reason: Option<&str>,
        now: DateTime<Utc>,
        actor: Actor<'_>,
    ) -> Result<i64> {
        on_pool!(self, p => {
            let mut tx = p.begin_with(<Db as super::WriteBegin>::BEGIN).await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO return_requests (order_id, conversation_id, lines, reason, status, created_at) \
                 VALUES ($1, $2, $3, $4, 'requested', $5) RETURNING id",
            )
            .bind(order_id)
            .bind(actor.conversation_id)
            .bind(Json(lines))
            .bind(reason)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let details = serde_json::json!({ "return_request": id, "lines": lines });
            audit_in!(tx, now, actor, "order.return_request", order_id, details);
            tx.commit().await?;
            Ok(id)
        })
    }

    pub async fn return_requests_of(&self, order_id: OrderId) -> Result<Vec<ReturnRequest>> {
        let rows: Vec<ReturnRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, order_id, conversation_id, lines, reason, status, created_at FROM return_requests WHERE order_id = $1 ORDER BY id",
        )
        .bind(order_id)
        .fetch_all(p)
        .await?);
        Ok(rows
            .into_iter()
            .map(
                |(id, order_id, conversation_id, lines, reason, status, created_at)| {
                    ReturnRequest {
                        id,
                        order_id,
                        conversation_id,
                        lines: lines.0,
                        reason,
                        status,
                        created_at,
                    }
                },
            )
            .collect())
    }
}

fn row_id(row: &OrderRow) -> i64 {
    row.id
}
