//! Approving a rollback that waits under the `manual` policy: its deliveries to the policy's
//! hooks are queued in one transaction and the dispatcher is woken. `POST
//! /api/v1/rollbacks/{id}/approve` and the Slack bot's `approve` both come here, so an approval
//! is the same whoever gives it, and a second approval of the same rollback is a conflict that
//! changes nothing.

use pacer_store::Approval;

use crate::clock::now;
use crate::problem::Problem;
use crate::state::AppState;

/// Approves rollback `id`; `by` names who approved it, recorded with the rollback and logged.
///
/// # Errors
/// No such rollback (404), one not awaiting approval (409), or the database failed.
pub async fn approve(state: &AppState, id: &str, by: &str) -> Result<(), Problem> {
    let row = state.store.rollback(id).await?.ok_or_else(|| Problem::not_found(format!("no rollback with id {id:?}")))?;
    let hooks: Vec<String> =
        state.config.rollback.policy_of(&row.service, &row.environment).map(|p| p.hooks.iter().map(|h| h.url.clone()).collect()).unwrap_or_default();
    match state.store.approve_rollback(id, now(), by, &hooks).await? {
        Approval::Approved => {
            state.origins.remember(id, &tracing::Span::current());
            state.wake.notify_one();
            tracing::warn!(rollback_id = id, by, "rollback approved");
            Ok(())
        }
        Approval::NotFound => Err(Problem::not_found(format!("no rollback with id {id:?}"))),
        Approval::NotAwaiting(state) => Err(Problem::conflict(format!("rollback {id} is {state}, not awaiting approval"))),
    }
}
