//! pacer's native event API (`POST /api/v1/events`): strict validation of the six event types.
//!
//! Unknown fields are errors here, to catch typos; third-party webhooks are parsed leniently
//! elsewhere. Every problem of every event is reported, each with its JSON pointer, and a batch
//! with any problem yields no facts at all.

use serde_json::Value;

use pacer_engine::model::{
    CiRun, Commit, Deployment, DeploymentStatus, Fact, Incident, PullRequest, ShippedCommit, SliSample,
};

use crate::fields::{FieldError, Reader, kind};
use crate::normalize::{Normalizer, PRODUCTION};
use crate::{Collected, body};

/// The event types the native API accepts.
pub const TYPES: [&str; 6] = ["deployment", "commit", "pull_request", "incident", "ci_run", "sli"];

/// Outcomes a CI run may report.
pub const CI_STATUSES: [&str; 6] = ["success", "failure", "cancelled", "skipped", "timed_out", "error"];

/// Parses a request body into facts.
///
/// # Errors
/// Every problem found in the body, with pointers; nothing is returned when there is one.
pub fn parse_body(body: &[u8], ndjson: bool, normalizer: &Normalizer) -> Result<Vec<Collected>, Vec<FieldError>> {
    parse_values(body::split(body, ndjson)?, normalizer)
}

/// Parses the events of a body already split ([`body::split_at_most`]) into facts.
///
/// # Errors
/// Every problem found, with pointers; nothing is returned when there is one.
pub fn parse_values(values: Vec<Value>, normalizer: &Normalizer) -> Result<Vec<Collected>, Vec<FieldError>> {
    let mut facts = Vec::with_capacity(values.len());
    let mut errors = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        match parse_event(&value, &format!("/{index}"), normalizer) {
            Ok(fact) => facts.push(Collected::new(fact, value)),
            Err(mut problems) => errors.append(&mut problems),
        }
    }
    if errors.is_empty() { Ok(facts) } else { Err(errors) }
}

/// Parses one native event at `pointer` of the body.
///
/// # Errors
/// Every problem with the event.
pub fn parse_event(value: &Value, pointer: &str, normalizer: &Normalizer) -> Result<Fact, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(pointer, format!("expected an event object but found {}", kind(value)))]);
    };
    let mut r = Reader::new(object, pointer);
    let types: Vec<(&str, &str)> = TYPES.iter().map(|t| (*t, *t)).collect();
    let fact = match r.one_of("type", true, &types) {
        Some("deployment") => deployment(&mut r, normalizer).map(Fact::Deployment),
        Some("commit") => commit(&mut r).map(Fact::Commit),
        Some("pull_request") => pull_request(&mut r).map(Fact::PullRequest),
        Some("incident") => incident(&mut r, normalizer).map(Fact::Incident),
        Some("ci_run") => ci_run(&mut r).map(Fact::CiRun),
        Some("sli") => sli(&mut r, normalizer).map(Fact::Sli),
        // An unknown type: its fields cannot be judged, so report only the type.
        _ => return Err(r.errors),
    };
    let errors = r.finish();
    match fact {
        Some(fact) if errors.is_empty() => Ok(fact),
        _ => Err(errors),
    }
}

fn environment(r: &mut Reader<'_>, normalizer: &Normalizer) -> String {
    r.opt_str("environment").map_or_else(|| PRODUCTION.to_owned(), |e| normalizer.environment(&e))
}

fn deployment(r: &mut Reader<'_>, normalizer: &Normalizer) -> Option<Deployment> {
    let id = r.req_str("id");
    let service = r.req_str("service");
    let environment = environment(r, normalizer);
    let version = r.opt_str("version");
    let commit_sha = r.opt_str("commit_sha");
    let status = r.one_of("status", true, &DeploymentStatus::ALL);
    let started_at = r.opt_time("started_at");
    let finished_at = r.opt_time("finished_at");
    let commits = shipped_commits(r);
    let rollback_of = r.opt_str("rollback_of");
    let unplanned = r.opt_bool("unplanned").unwrap_or(false);
    let team = r.opt_str("team");
    let url = r.opt_text("url");
    let finished_read = !r.errors.iter().any(|e| e.pointer == r.pointer("finished_at"));
    if finished_at.is_none() && finished_read && status.is_some_and(|s| s != DeploymentStatus::InProgress) {
        let detail = format!("expected finished_at for a deployment with status {:?} but the field is missing", status.map(|s| s.as_str()).unwrap_or_default());
        r.error("finished_at", detail);
    }
    r.check_order(("started_at", started_at), ("finished_at", finished_at));
    if rollback_of.is_some() && rollback_of == id {
        r.error("rollback_of", "expected the id of another deployment but found this deployment's own id");
    }
    Some(Deployment {
        id: id?,
        service: service?,
        environment,
        version,
        commit_sha,
        status: status?,
        started_at,
        finished_at,
        commits,
        rollback_of,
        unplanned,
        team,
        url,
    })
}

fn shipped_commits(r: &mut Reader<'_>) -> Vec<ShippedCommit> {
    let mut commits = Vec::new();
    for (pointer, value) in r.opt_array("commits") {
        let Some(object) = value.as_object() else {
            r.errors.push(FieldError::new(pointer, format!("expected a commit object but found {}", kind(value))));
            continue;
        };
        let mut c = Reader::new(object, pointer);
        let sha = c.req_str("sha");
        let committed_at = c.req_time("committed_at");
        let authored_at = c.opt_time("authored_at");
        r.errors.extend(c.finish());
        if let Some(sha) = sha {
            commits.push(ShippedCommit { sha, committed_at, authored_at });
        }
    }
    commits
}

fn commit(r: &mut Reader<'_>) -> Option<Commit> {
    let sha = r.req_str("id");
    let committed_at = r.req_time("committed_at");
    let repository = r.opt_str("repository");
    let service = r.opt_str("service");
    let parents = r.opt_str_list("parents");
    let authored_at = r.opt_time("authored_at");
    let author = r.opt_str("author");
    let message = r.opt_text("message");
    Some(Commit { sha: sha?, committed_at: committed_at?, repository, service, parents, authored_at, author, message })
}

fn pull_request(r: &mut Reader<'_>) -> Option<PullRequest> {
    let id = r.req_str("id");
    let repository = r.req_str("repository");
    let number = r.req_count("number");
    let opened_at = r.req_time("opened_at");
    let service = r.opt_str("service");
    let author = r.opt_str("author");
    let first_commit_at = r.opt_time("first_commit_at");
    let first_review_at = r.opt_time("first_review_at");
    let approved_at = r.opt_time("approved_at");
    let merged_at = r.opt_time("merged_at");
    let closed_at = r.opt_time("closed_at");
    let merge_commit_sha = r.opt_str("merge_commit_sha");
    let additions = r.opt_count("additions");
    let deletions = r.opt_count("deletions");
    r.check_order(("opened_at", opened_at), ("merged_at", merged_at));
    r.check_order(("opened_at", opened_at), ("closed_at", closed_at));
    Some(PullRequest {
        id: id?,
        repository: repository?,
        number: number?,
        opened_at: opened_at?,
        service,
        author,
        first_commit_at,
        first_review_at,
        approved_at,
        merged_at,
        closed_at,
        merge_commit_sha,
        additions,
        deletions,
        head_sha: None,
        base_sha: None,
    })
}

fn incident(r: &mut Reader<'_>, normalizer: &Normalizer) -> Option<Incident> {
    let id = r.req_str("id");
    let service = r.req_str("service");
    let opened_at = r.req_time("opened_at");
    let environment = environment(r, normalizer);
    let resolved_at = r.opt_time("resolved_at");
    let severity = r.opt_str("severity");
    let title = r.opt_text("title");
    let url = r.opt_text("url");
    let deployment_id = r.opt_str("deployment_id");
    let commit_sha = r.opt_str("commit_sha");
    r.check_order(("opened_at", opened_at), ("resolved_at", resolved_at));
    Some(Incident {
        id: id?,
        service: service?,
        environment,
        opened_at: opened_at?,
        resolved_at,
        severity,
        title,
        url,
        deployment_id,
        commit_sha,
    })
}

fn ci_run(r: &mut Reader<'_>) -> Option<CiRun> {
    let id = r.req_str("id");
    let pipeline = r.req_str("pipeline");
    let statuses: Vec<(&str, &str)> = CI_STATUSES.iter().map(|s| (*s, *s)).collect();
    let status = r.one_of("status", true, &statuses);
    let started_at = r.req_time("started_at");
    let finished_at = r.req_time("finished_at");
    let stage = r.opt_str("stage");
    let repository = r.opt_str("repository");
    let service = r.opt_str("service");
    let commit_sha = r.opt_str("commit_sha");
    let branch = r.opt_str("branch");
    let queued_at = r.opt_time("queued_at");
    let url = r.opt_text("url");
    let attempt = r.opt_count("attempt");
    if attempt == Some(0) {
        r.error("attempt", "expected an attempt number of at least 1 but found 0".to_owned());
    }
    r.check_order(("started_at", started_at), ("finished_at", finished_at));
    r.check_order(("queued_at", queued_at), ("started_at", started_at));
    Some(CiRun {
        id: id?,
        pipeline: pipeline?,
        status: status?.to_owned(),
        started_at: started_at?,
        finished_at: finished_at?,
        stage,
        repository,
        service,
        commit_sha,
        branch,
        queued_at,
        url,
        attempt,
    })
}

fn sli(r: &mut Reader<'_>, normalizer: &Normalizer) -> Option<SliSample> {
    let service = r.req_str("service");
    let at = r.req_time("at");
    let good = r.req_count("good");
    let total = r.req_count("total");
    let environment = environment(r, normalizer);
    let slo = r.opt_str("slo").unwrap_or_else(|| "default".to_owned());
    if let (Some(g), Some(t)) = (good, total)
        && g > t
    {
        r.error("good", format!("expected good at most total ({t}) but found {g}"));
    }
    Some(SliSample { service: service?, environment, slo, at: at?, good: good?, total: total? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(body: &str) -> Vec<FieldError> {
        parse_body(body.as_bytes(), false, &Normalizer::default()).expect_err("invalid")
    }

    #[test]
    fn a_valid_deployment_is_normalized() {
        let body = r#"{"type":"deployment","id":"d1","service":"api","environment":"prod","status":"success",
            "finished_at":"2026-11-22T09:00:00+01:00","commits":[{"sha":"a","committed_at":"2026-11-22T07:00:00Z"}]}"#;
        let facts = parse_body(body.as_bytes(), false, &Normalizer::default()).expect("valid");
        let Fact::Deployment(d) = &facts[0].fact else { panic!("not a deployment") };
        assert_eq!(d.environment, "production");
        assert_eq!(d.finished_at, Some(1_795_334_400_000));
        assert_eq!(d.commits[0].committed_at, Some(1_795_330_800_000));
    }

    #[test]
    fn every_problem_of_every_event_is_reported_with_its_pointer() {
        let body = r#"[{"type":"deployment","id":"d1","service":"api","status":"success"},
                       {"type":"incident","id":"i","service":"api","opened_at":"2026-11-22T08:00:00","colour":1}]"#;
        let pointers: Vec<String> = problems(body).into_iter().map(|e| e.pointer).collect();
        assert_eq!(pointers, vec!["/0/finished_at", "/1/opened_at", "/1/colour"]);
    }

    #[test]
    fn a_name_of_only_whitespace_is_refused() {
        // Found by fuzzing: it was stored, and its environment normalized to "".
        let errors = problems(r#"{"type":"incident","id":"i","service":" \t\n","environment":"  ","opened_at":"2026-11-22T08:00:00Z"}"#);
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/0/service", "/0/environment"]);
    }

    #[test]
    fn an_unknown_type_is_named() {
        let errors = problems(r#"{"type":"deploy","id":"x"}"#);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pointer, "/0/type");
    }

    #[test]
    fn the_same_fact_has_the_same_fingerprint() {
        let body = r#"{"type":"commit","id":"a","committed_at":"2026-11-22T07:00:00Z"}"#;
        let a = parse_body(body.as_bytes(), false, &Normalizer::default()).expect("valid");
        let b = parse_body(body.as_bytes(), false, &Normalizer::default()).expect("valid");
        assert_eq!(a[0].fingerprint, b[0].fingerprint);
    }
}
