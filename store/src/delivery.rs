//! Webhook deliveries: each stored once under the sender's delivery id, with its payload.
//!
//! A delivery is recorded before its facts are written and marked stored after, so a redelivery
//! (GitHub's "Redeliver", GitLab's retries) of a delivery whose facts are stored is answered as a
//! replay and changes nothing, while one whose facts never were (pacer stopped in between) is
//! processed again. The facts themselves are idempotent, so two copies racing each other store
//! them once. The unique constraint, not a read, decides which copy is first.

use pacer_collector::Collected;
use pacer_engine::Millis;

use crate::{Ingested, Result, Store, StoreError, with_pool};

/// One webhook delivery as received.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The sender (`github`, `gitlab`, `cdevents`, `pagerduty`).
    pub source: &'a str,
    /// The sender's id of the delivery, stable across redeliveries.
    pub delivery_id: &'a str,
    /// The event type the payload is parsed as.
    pub event: &'a str,
    /// The JSON payload.
    pub payload: &'a str,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// First seen: its facts were stored.
    Stored(Ingested),
    /// Seen and stored before: nothing was done.
    Replayed,
}

/// A stored delivery, as `pacer recompute` reads it back.
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    /// Its row id; deliveries are read back in this order.
    pub id: i64,
    /// The sender.
    pub source: String,
    /// The event type.
    pub event: String,
    /// The payload.
    pub payload: serde_json::Value,
}

impl Store {
    /// Stores a delivery and its facts, unless the same delivery was stored before.
    ///
    /// # Errors
    /// The database failed; a redelivery will be processed again.
    pub async fn ingest_delivery(&self, delivery: Delivery<'_>, received_at: Millis, facts: &[Collected]) -> Result<Delivered> {
        const RECORD: &str = "INSERT INTO webhook_deliveries (source, delivery_id, event, received_at, payload)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, delivery_id) DO NOTHING";
        const STORED: &str = "SELECT stored_at FROM webhook_deliveries WHERE source = $1 AND delivery_id = $2";
        const MARK: &str = "UPDATE webhook_deliveries SET stored_at = $3, facts = $4 WHERE source = $1 AND delivery_id = $2";
        let Delivery { source, delivery_id, event, payload } = delivery;
        let first = with_pool!(self, pool => {
            let recorded = sqlx::query(RECORD)
                .bind(source)
                .bind(delivery_id)
                .bind(event)
                .bind(received_at)
                .bind(payload)
                .execute(pool)
                .await
                .map_err(StoreError::classify)?;
            if recorded.rows_affected() > 0 {
                true
            } else {
                let stored: Option<Option<i64>> =
                    sqlx::query_scalar(STORED).bind(source).bind(delivery_id).fetch_optional(pool).await.map_err(StoreError::classify)?;
                stored.flatten().is_none()
            }
        });
        if !first {
            return Ok(Delivered::Replayed);
        }
        // The payload is the raw record (for recompute); the facts need no raw row of their own.
        let outcome = self.restore_facts(received_at, facts).await?;
        with_pool!(self, pool => {
            sqlx::query(MARK)
                .bind(source)
                .bind(delivery_id)
                .bind(received_at)
                .bind(facts.len() as i64)
                .execute(pool)
                .await
                .map_err(StoreError::classify)?;
        });
        Ok(Delivered::Stored(outcome))
    }

    /// Stored deliveries with an id greater than `after`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn deliveries(&self, after: i64, limit: i64) -> Result<Vec<StoredDelivery>> {
        const SQL: &str = "SELECT id, source, event, payload FROM webhook_deliveries
             WHERE id > $1 AND stored_at IS NOT NULL ORDER BY id LIMIT $2";
        let rows: Vec<(i64, String, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(after).bind(limit).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows
            .into_iter()
            .map(|(id, source, event, payload)| StoredDelivery {
                id,
                source,
                event,
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }
}
