//! Facts as native events (PRODUCT.md §3, `POST /api/v1/events`), one JSON object per line.
//!
//! This is the inverse of the collector's strict native parser: the field names are exactly the
//! contract's (a commit's sha is its `id`; a deployment lists `commits` as `{sha, committed_at}`),
//! timestamps are RFC 3339 in UTC with `Z`, and unknown values are left out rather than sent as
//! `null`. The generator uses it to feed a running pacer; sources that derive facts (alerts) use
//! it to keep a raw event that `pacer recompute` can parse again.

use std::io::{self, Write};

use pacer_engine::calendar::rfc3339;
use pacer_engine::model::{Fact, Millis};
use serde_json::{Map, Value};

/// The native event of a fact, as one line of NDJSON (without the trailing newline).
pub fn to_ndjson(fact: &Fact) -> String {
    to_event(fact).to_string()
}

/// The native event of a fact, as a JSON object.
pub fn to_event(fact: &Fact) -> Value {
    Value::Object(event(fact).0)
}

/// Writes facts as NDJSON, one event per line; returns how many were written.
///
/// # Errors
/// The first error of `out`.
pub fn write_ndjson<W: Write>(mut out: W, facts: impl IntoIterator<Item = Fact>) -> io::Result<u64> {
    let mut written = 0;
    for fact in facts {
        serde_json::to_writer(&mut out, &Value::Object(event(&fact).0))?;
        out.write_all(b"\n")?;
        written += 1;
    }
    Ok(written)
}

fn event(fact: &Fact) -> Event {
    match fact {
        Fact::Deployment(d) => Event::new("deployment")
            .text("id", &d.id)
            .text("service", &d.service)
            .text("environment", &d.environment)
            .opt_text("version", d.version.as_deref())
            .opt_text("commit_sha", d.commit_sha.as_deref())
            .text("status", d.status.as_str())
            .opt_time("started_at", d.started_at)
            .opt_time("finished_at", d.finished_at)
            .list(
                "commits",
                d.commits
                    .iter()
                    .map(|c| {
                        Event(Map::new())
                            .text("sha", &c.sha)
                            .opt_time("committed_at", c.committed_at)
                            .opt_time("authored_at", c.authored_at)
                            .into_value()
                    })
                    .collect(),
            )
            .opt_text("rollback_of", d.rollback_of.as_deref())
            .flag("unplanned", d.unplanned)
            .opt_text("team", d.team.as_deref())
            .opt_text("url", d.url.as_deref()),
        Fact::Commit(c) => Event::new("commit")
            .text("id", &c.sha)
            .time("committed_at", c.committed_at)
            .opt_text("repository", c.repository.as_deref())
            .opt_text("service", c.service.as_deref())
            .list("parents", c.parents.iter().map(|p| Value::String(p.clone())).collect())
            .opt_time("authored_at", c.authored_at)
            .opt_text("author", c.author.as_deref())
            .opt_text("message", c.message.as_deref()),
        Fact::PullRequest(p) => Event::new("pull_request")
            .text("id", &p.id)
            .text("repository", &p.repository)
            .int("number", Some(p.number))
            .time("opened_at", p.opened_at)
            .opt_text("service", p.service.as_deref())
            .opt_text("author", p.author.as_deref())
            .opt_time("first_commit_at", p.first_commit_at)
            .opt_time("first_review_at", p.first_review_at)
            .opt_time("approved_at", p.approved_at)
            .opt_time("merged_at", p.merged_at)
            .opt_time("closed_at", p.closed_at)
            .opt_text("merge_commit_sha", p.merge_commit_sha.as_deref())
            .int("additions", p.additions)
            .int("deletions", p.deletions),
        Fact::Incident(i) => Event::new("incident")
            .text("id", &i.id)
            .text("service", &i.service)
            .text("environment", &i.environment)
            .time("opened_at", i.opened_at)
            .opt_time("resolved_at", i.resolved_at)
            .opt_text("severity", i.severity.as_deref())
            .opt_text("title", i.title.as_deref())
            .opt_text("url", i.url.as_deref())
            .opt_text("deployment_id", i.deployment_id.as_deref())
            .opt_text("commit_sha", i.commit_sha.as_deref()),
        Fact::CiRun(r) => Event::new("ci_run")
            .text("id", &r.id)
            .text("pipeline", &r.pipeline)
            .text("status", &r.status)
            .time("started_at", r.started_at)
            .time("finished_at", r.finished_at)
            .opt_text("stage", r.stage.as_deref())
            .opt_text("repository", r.repository.as_deref())
            .opt_text("service", r.service.as_deref())
            .opt_text("commit_sha", r.commit_sha.as_deref())
            .opt_text("branch", r.branch.as_deref())
            .opt_time("queued_at", r.queued_at)
            .opt_text("url", r.url.as_deref())
            .int("attempt", r.attempt),
        Fact::Sli(s) => Event::new("sli")
            .text("service", &s.service)
            .time("at", s.at)
            .int("good", Some(s.good))
            .int("total", Some(s.total))
            .text("environment", &s.environment)
            .text("slo", &s.slo),
    }
}

/// A JSON object under construction; absent values are left out.
struct Event(Map<String, Value>);

impl Event {
    fn new(kind: &str) -> Self {
        Self(Map::new()).text("type", kind)
    }

    fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    fn text(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name.to_owned(), Value::String(value.to_owned()));
        self
    }

    fn opt_text(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.text(name, value),
            None => self,
        }
    }

    fn time(self, name: &str, at: Millis) -> Self {
        self.text(name, &rfc3339(at))
    }

    fn opt_time(self, name: &str, at: Option<Millis>) -> Self {
        match at {
            Some(at) => self.time(name, at),
            None => self,
        }
    }

    fn int(mut self, name: &str, value: Option<i64>) -> Self {
        if let Some(value) = value {
            self.0.insert(name.to_owned(), Value::from(value));
        }
        self
    }

    /// A boolean sent only when true: false is the contract's default.
    fn flag(mut self, name: &str, value: bool) -> Self {
        if value {
            self.0.insert(name.to_owned(), Value::Bool(true));
        }
        self
    }

    /// A list sent only when it has items.
    fn list(mut self, name: &str, items: Vec<Value>) -> Self {
        if !items.is_empty() {
            self.0.insert(name.to_owned(), Value::Array(items));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_engine::model::{Commit, DeploymentStatus, ShippedCommit};

    #[test]
    fn a_commit_uses_id_for_its_sha_and_utc_timestamps() {
        let commit = Fact::Commit(Commit {
            sha: "abc".into(),
            committed_at: 1_780_000_000_000,
            repository: Some("acme/checkout".into()),
            service: None,
            parents: vec!["p1".into(), "p2".into()],
            authored_at: None,
            author: None,
            message: None,
        });
        let line: Value = serde_json::from_str(&to_ndjson(&commit)).expect("valid JSON");
        assert_eq!(
            line,
            serde_json::json!({"type": "commit", "id": "abc", "committed_at": "2026-05-28T20:26:40Z",
                               "repository": "acme/checkout", "parents": ["p1", "p2"]})
        );
    }

    #[test]
    fn a_deployment_lists_its_commits_as_sha_and_committed_at() {
        let deployment = Fact::Deployment(pacer_engine::model::Deployment {
            id: "checkout-prod-0001".into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: Some("v1.0.1".into()),
            commit_sha: Some("abc".into()),
            status: DeploymentStatus::Success,
            started_at: Some(0),
            finished_at: Some(60_000),
            commits: vec![ShippedCommit { sha: "abc".into(), committed_at: Some(0), authored_at: None }],
            rollback_of: None,
            unplanned: true,
            team: None,
            url: None,
        });
        let line: Value = serde_json::from_str(&to_ndjson(&deployment)).expect("valid JSON");
        assert_eq!(line["commits"], serde_json::json!([{"sha": "abc", "committed_at": "1970-01-01T00:00:00Z"}]));
        assert_eq!(line["finished_at"], "1970-01-01T00:01:00Z");
        assert_eq!(line["status"], "success");
        assert_eq!(line["unplanned"], true);
        assert!(line.get("rollback_of").is_none(), "absent values are left out: {line}");
    }

    #[test]
    fn write_ndjson_writes_one_line_per_fact() {
        let sli = Fact::Sli(pacer_engine::model::SliSample {
            service: "search".into(),
            environment: "production".into(),
            slo: "availability".into(),
            at: 3_600_000,
            good: 9,
            total: 10,
        });
        let mut out = Vec::new();
        let written = write_ndjson(&mut out, [sli.clone(), sli]).expect("writes to memory");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(written, 2);
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with('\n'));
        assert!(text.lines().all(|l| l.contains(r#""type":"sli""#) && l.contains(r#""at":"1970-01-01T01:00:00Z""#)), "{text}");
    }
}
