//! pacer's collector: turns what senders post into validated, normalized [`Fact`]s.
//!
//! It owns parsing, validation and normalization (environment aliases, fingerprints for
//! idempotency), and nothing about storage or HTTP: the api hands it bytes, gets back either
//! facts ready to store or every problem found, each with the event index and a JSON pointer.
//! Sources live in their own modules; [`native`] is pacer's own strict JSON API, [`sources`]
//! the third-party webhooks (GitHub, GitLab, CDEvents, PagerDuty).

pub mod alerts;
pub mod body;
pub mod config;
pub mod fields;
pub mod future;
pub mod native;
pub mod normalize;
pub mod render;
pub mod signature;
pub mod sources;

use pacer_engine::model::Fact;
use sha2::{Digest, Sha256};

pub use fields::FieldError;
pub use normalize::Normalizer;

/// A fact with what the store needs to keep it idempotently.
#[derive(Debug, Clone)]
pub struct Collected {
    /// The normalized fact.
    pub fact: Fact,
    /// A hash of the fact's content: the same fact re-sent has the same fingerprint.
    pub fingerprint: String,
    /// The payload the fact came from, kept so facts can be rebuilt.
    pub raw: serde_json::Value,
}

impl Collected {
    /// Wraps a fact with its fingerprint.
    pub fn new(fact: Fact, raw: serde_json::Value) -> Self {
        Self { fingerprint: fingerprint(&fact), fact, raw }
    }
}

/// The idempotency key of a fact: its type and id (for SLI samples, the series and time).
pub fn key(fact: &Fact) -> (&'static str, String) {
    match fact {
        Fact::Deployment(d) => ("deployment", d.id.clone()),
        Fact::Commit(c) => ("commit", c.sha.clone()),
        Fact::PullRequest(p) => ("pull_request", p.id.clone()),
        Fact::Incident(i) => ("incident", i.id.clone()),
        Fact::CiRun(r) => ("ci_run", r.id.clone()),
        Fact::Sli(s) => ("sli", format!("{}/{}/{}@{}", s.service, s.environment, s.slo, s.at)),
    }
}

/// A stable hash of a fact's content (hex SHA-256 of its JSON form).
pub fn fingerprint(fact: &Fact) -> String {
    let json = serde_json::to_vec(fact).unwrap_or_default();
    Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
}
