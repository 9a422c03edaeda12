//! Orders by the names customers type: look-ups by the normalised key (`orders.name_key`,
//! indexed), and the shapes of the shop's order names from which the agent learns its
//! formats (`order_name_shapes`, a few rows kept up to date by the order import).

use std::collections::BTreeMap;

use super::read::{ORDER_COLUMNS, OrderRow};
use super::{CustomerId, Order, Result, Store, on_pool};
use crate::slots::{OrderFormats, OrderRef, order_key};

/// Shapes of order names kept (the most common); a shop has a handful.
pub(super) const SHAPES_KEPT: i64 = 200;

/// An order name's shape: every digit written as 9 (`#TS-1001` → `#TS-9999`), as the
/// migration and [`Store::refresh_order_formats`] compute it in SQL.
pub fn order_shape(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect()
}

/// The SQL for an order name's shape, the same as [`order_shape`].
const SHAPE_SQL: &str = "replace(replace(replace(replace(replace(replace(replace(replace(replace(name, \
     '0', '9'), '1', '9'), '2', '9'), '3', '9'), '4', '9'), '5', '9'), '6', '9'), '7', '9'), '8', '9')";

/// Keys filled per statement when keying stored names.
const KEY_BATCH: i64 = 5_000;

impl Store {
    /// The shop's order-name formats, from the stored shapes of its order names.
    pub async fn order_formats(&self) -> Result<OrderFormats> {
        let rows: Vec<(String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT example, orders FROM order_name_shapes ORDER BY orders DESC, shape",
        )
        .fetch_all(p)
        .await?);
        Ok(OrderFormats::from_examples(
            rows.iter().map(|(name, n)| (name.as_str(), *n)),
        ))
    }

    /// Counts the shapes of all order names again (the import keeps them up to date;
    /// this is for orders written some other way).
    pub async fn refresh_order_formats(&self) -> Result<()> {
        let insert = sqlx::AssertSqlSafe(format!(
            "INSERT INTO order_name_shapes (shape, example, orders) \
             SELECT shape, min(name), count(*) FROM (SELECT {SHAPE_SQL} AS shape, name FROM orders) AS named \
             GROUP BY shape ORDER BY count(*) DESC, shape LIMIT {SHAPES_KEPT}"
        ));
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM order_name_shapes").execute(&mut *tx).await?;
            sqlx::query(insert).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Keys the stored order names that have none yet (names the migration could not key
    /// in SQL, or orders written without one). Returns how many it keyed.
    pub async fn fill_order_keys(&self) -> Result<u64> {
        let mut filled = 0;
        loop {
            let rows: Vec<(i64, String)> = on_pool!(self, p => sqlx::query_as(
                "SELECT id, name FROM orders WHERE name_key IS NULL ORDER BY id LIMIT $1",
            )
            .bind(KEY_BATCH)
            .fetch_all(p)
            .await?);
            if rows.is_empty() {
                return Ok(filled);
            }
            on_pool!(self, p => {
                let mut tx = p.begin().await?;
                for (id, name) in &rows {
                    sqlx::query("UPDATE orders SET name_key = $1 WHERE id = $2")
                        .bind(order_key(name))
                        .bind(*id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            });
            filled += rows.len() as u64;
        }
    }

    /// The order a reference names: the one whose key is what was typed, else the one
    /// order the shop's formats complete it to (`order 1001` → `#TS1001`). Several orders
    /// it could complete to name none. `customer`: only that customer's orders (another
    /// customer's order then reads exactly like a missing one).
    pub async fn order_by_reference(
        &self,
        customer: Option<CustomerId>,
        reference: &OrderRef,
        formats: &OrderFormats,
    ) -> Result<Option<Order>> {
        let keys = formats.candidates(reference);
        let mut found = self.orders_keyed(customer, &keys).await?;
        if let Some(i) = found
            .iter()
            .position(|o| order_key(&o.name) == reference.key)
        {
            return Ok(Some(found.swap_remove(i)));
        }
        Ok(if found.len() == 1 { found.pop() } else { None })
    }

    /// [`Store::order_by_reference`] for a name as a customer or a model wrote it.
    pub async fn order_named(
        &self,
        customer: Option<CustomerId>,
        name: &str,
        formats: &OrderFormats,
    ) -> Result<Option<Order>> {
        match OrderRef::parse(name) {
            Some(reference) => self.order_by_reference(customer, &reference, formats).await,
            None => Ok(None),
        }
    }

    /// Orders whose names have one of these keys ([`order_key`]), any customer's: only
    /// for verification, which checks the e-mail or postal code on the order found.
    pub async fn orders_by_keys(&self, keys: &[String]) -> Result<Vec<Order>> {
        self.orders_keyed(None, keys).await
    }

    /// One customer's orders whose names have one of these keys: the query itself cannot
    /// return another customer's order.
    pub async fn orders_of_customer_by_keys(
        &self,
        customer_id: CustomerId,
        keys: &[String],
    ) -> Result<Vec<Order>> {
        self.orders_keyed(Some(customer_id), keys).await
    }

    async fn orders_keyed(
        &self,
        customer_id: Option<CustomerId>,
        keys: &[String],
    ) -> Result<Vec<Order>> {
        let keys: Vec<&String> = keys.iter().filter(|k| !k.is_empty()).take(50).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<OrderRow> = on_pool!(self, p => {
            let mut qb = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE name_key IN ("
            ));
            let mut list = qb.separated(", ");
            for key in &keys {
                list.push_bind((*key).clone());
            }
            qb.push(")");
            if let Some(customer) = customer_id {
                qb.push(" AND customer_id = ").push_bind(customer);
            }
            qb.push(" ORDER BY id LIMIT 20");
            qb.build_query_as::<OrderRow>().fetch_all(p).await?
        });
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut lines = self.lines_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let l = lines.remove(&r.id).unwrap_or_default();
                r.into_order(l)
            })
            .collect())
    }
}

/// Counts of new order names per shape, for the import to add to `order_name_shapes`.
pub(super) fn shape_counts<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, (String, i64)> {
    let mut out: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for name in names {
        let entry = out
            .entry(order_shape(name))
            .or_insert_with(|| (name.to_string(), 0));
        if name < entry.0.as_str() {
            entry.0 = name.to_string();
        }
        entry.1 += 1;
    }
    out
}
