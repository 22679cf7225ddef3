//! Paged listings of deployments, incidents and rollback decisions, newest first, with keyset cursors so that a page
//! never repeats or skips a row while new facts arrive.

use std::collections::HashMap;
use std::fmt;

use sqlx::Row;

use pacer_engine::Millis;
use pacer_engine::model::{Deployment, Incident, ShippedCommit};

use crate::history::{DeploymentTuple, IncidentTuple, deployment, deployment_columns, incident, incident_columns};
use crate::outbox::{RollbackTuple, rollback, rollback_columns};
use crate::{Result, RollbackRow, Store, StoreError, in_list, with_pool};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// The environment.
    pub environment: String,
    /// Only these services, when set.
    pub services: Option<Vec<String>>,
    /// Only rows at or after this time (deployments: finish, else start; incidents: opening;
    /// rollbacks: the decision).
    pub from: Option<Millis>,
    /// Only rows before this time.
    pub to: Option<Millis>,
    /// Only deployments with this status.
    pub status: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
}

/// A position in a listing: the time and id of the last row of a page. Its text form is
/// `<millis>:<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The row's listing time.
    pub at: Millis,
    /// The row's id.
    pub id: String,
}

impl Cursor {
    /// Parses the text form.
    pub fn parse(text: &str) -> Option<Self> {
        let (at, id) = text.split_once(':')?;
        Some(Self { at: at.parse().ok()?, id: id.to_owned() })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.at, self.id)
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows, newest first.
    pub items: Vec<T>,
    /// The cursor of the next page, when there is one.
    pub next: Option<Cursor>,
}

/// A listed deployment.
pub type DeploymentRow = Deployment;
/// A listed incident.
pub type IncidentRow = Incident;

/// Appends ` AND service IN (…)` for `services` (nothing without a list; a condition no row
/// meets for an empty one, a team and services that do not meet, since PostgreSQL refuses `IN ()`).
pub(crate) fn push_services<DB: sqlx::Database>(sql: &mut sqlx::QueryBuilder<DB>, services: Option<&[String]>)
where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match services {
        Some([]) => {
            sql.push(" AND 1 = 0");
        }
        Some(services) => {
            sql.push(" AND service IN (");
            let mut list = sql.separated(", ");
            for service in services {
                list.push_bind(service.clone());
            }
            sql.push(")");
        }
        None => {}
    }
}

/// Appends the filters shared by the listings; `time` is the listing time column.
fn push_filters<DB: sqlx::Database>(sql: &mut sqlx::QueryBuilder<DB>, query: &ListQuery, time: &'static str)
where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    sql.push(" WHERE environment = ").push_bind(query.environment.clone());
    push_services(sql, query.services.as_deref());
    if let Some(from) = query.from {
        sql.push(format_args!(" AND {time} >= ")).push_bind(from);
    }
    if let Some(to) = query.to {
        sql.push(format_args!(" AND {time} < ")).push_bind(to);
    }
    if let Some(cursor) = &query.cursor {
        sql.push(format_args!(" AND ({time} < ")).push_bind(cursor.at);
        sql.push(format_args!(" OR ({time} = ")).push_bind(cursor.at);
        sql.push(" AND id < ").push_bind(cursor.id.clone()).push("))");
    }
}

pub(crate) fn page<T>(mut items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(&cursor_of)
    });
    Page { items, next: next.flatten() }
}

impl Store {
    /// A page of deployments, newest first, each with its explicit commit list.
    ///
    /// # Errors
    /// The database failed.
    pub async fn deployments(&self, query: &ListQuery) -> Result<Page<DeploymentRow>> {
        let rows: Vec<(i64, DeploymentTuple)> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(concat!("SELECT ", deployment_columns!(), ", listed_at FROM deployments"));
            push_filters(&mut sql, query, "listed_at");
            if let Some(status) = &query.status {
                sql.push(" AND status = ").push_bind(status.clone());
            }
            sql.push(" ORDER BY listed_at DESC, id DESC LIMIT ").push_bind(query.limit + 1);
            let rows = sql.build().fetch_all(pool).await.map_err(StoreError::classify)?;
            rows.iter()
                // The tuple reads the first twelve columns; the listing time comes last.
                .map(|row| Ok((row.try_get(12)?, sqlx::FromRow::from_row(row)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::classify)?
        });
        let mut listed_at: HashMap<String, i64> = HashMap::new();
        let mut items: Vec<Deployment> = rows
            .into_iter()
            .map(|(at, row)| {
                let d = deployment(row);
                listed_at.insert(d.id.clone(), at);
                d
            })
            .collect();
        let ids: Vec<String> = items.iter().map(|d| d.id.clone()).collect();
        let mut explicit = self.shipped_commits(&ids).await?;
        for d in &mut items {
            d.commits = explicit.remove(&d.id).unwrap_or_default();
        }
        Ok(page(items, query.limit, |d| Cursor { at: listed_at.get(&d.id).copied().unwrap_or_default(), id: d.id.clone() }))
    }

    /// The newest rollback decisions `query` selects (its environment and services, its window
    /// on the decision time), newest first, without deliveries; `status` does not apply. Filtered
    /// in the database, so a service whose decisions are older than every other service's newest
    /// still lists them.
    ///
    /// # Errors
    /// The database failed.
    pub async fn rollbacks_in(&self, query: &ListQuery) -> Result<Page<RollbackRow>> {
        let rows: Vec<RollbackTuple> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(concat!("SELECT ", rollback_columns!(), " FROM rollbacks"));
            push_filters(&mut sql, query, "created_at");
            sql.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(query.limit + 1);
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(page(rows.into_iter().map(rollback).collect(), query.limit, |r| Cursor { at: r.created_at, id: r.id.clone() }))
    }

    /// One deployment by id.
    ///
    /// # Errors
    /// The database failed.
    pub async fn deployment(&self, id: &str) -> Result<Option<Deployment>> {
        Ok(self.deployments_by_id(&[id.to_owned()]).await?.pop())
    }

    /// The deployments among `ids` that exist, each with its list, in no particular order.
    ///
    /// # Errors
    /// The database failed.
    pub async fn deployments_by_id(&self, ids: &[String]) -> Result<Vec<Deployment>> {
        const SQL: &str = concat!("SELECT ", deployment_columns!(), " FROM deployments WHERE id IN (");
        let rows: Vec<DeploymentTuple> = with_pool!(self, pool => in_list(pool, SQL, ids, "").await?);
        let mut shipped = self.shipped_commits(ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut d = deployment(row);
                d.commits = shipped.remove(&d.id).unwrap_or_default();
                d
            })
            .collect())
    }

    /// The deployments that roll back `deployment_id`, earliest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn rollbacks_of(&self, deployment_id: &str) -> Result<Vec<Deployment>> {
        const SQL: &str = concat!("SELECT ", deployment_columns!(), " FROM deployments WHERE rollback_of = $1 ORDER BY finished_at, id");
        let rows: Vec<DeploymentTuple> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(deployment_id).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(deployment).collect())
    }

    /// The commits each of `ids` lists, in its order, by deployment id.
    async fn shipped_commits(&self, ids: &[String]) -> Result<HashMap<String, Vec<ShippedCommit>>> {
        const SQL: &str = "SELECT deployment_id, sha, committed_at, authored_at FROM deployment_commits WHERE deployment_id IN (";
        // A deployment's rows are in one chunk of ids, so its order holds.
        let rows: Vec<(String, String, Option<i64>, Option<i64>)> = with_pool!(self, pool => in_list(pool, SQL, ids, " ORDER BY deployment_id, position").await?);
        let mut shipped: HashMap<String, Vec<ShippedCommit>> = HashMap::new();
        for (id, sha, committed_at, authored_at) in rows {
            shipped.entry(id).or_default().push(ShippedCommit { sha, committed_at, authored_at });
        }
        Ok(shipped)
    }

    /// One incident by id.
    ///
    /// # Errors
    /// The database failed.
    pub async fn incident(&self, id: &str) -> Result<Option<IncidentRow>> {
        const SQL: &str = concat!("SELECT ", incident_columns!(), " FROM incidents WHERE id = $1");
        let row: Option<IncidentTuple> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(id).fetch_optional(pool).await.map_err(StoreError::classify)?
        });
        Ok(row.map(incident))
    }

    /// A page of incidents, newest first by opening time.
    ///
    /// # Errors
    /// The database failed.
    pub async fn incidents(&self, query: &ListQuery) -> Result<Page<IncidentRow>> {
        let rows: Vec<IncidentTuple> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(concat!("SELECT ", incident_columns!(), " FROM incidents"));
            push_filters(&mut sql, query, "opened_at");
            sql.push(" ORDER BY opened_at DESC, id DESC LIMIT ").push_bind(query.limit + 1);
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        let items = rows.into_iter().map(incident).collect();
        Ok(page(items, query.limit, |i: &Incident| Cursor { at: i.opened_at, id: i.id.clone() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_text_even_when_the_id_has_colons() {
        let c = Cursor { at: 1_795_334_400_000, id: "gh:acme/api:42".into() };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        assert_eq!(Cursor::parse("nope"), None);
    }
}
