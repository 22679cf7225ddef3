//! The names of generated things: services, teams, authors, commit messages and incident
//! titles, so the demo reads like a real organisation's history.
//!
//! Services and teams beyond the named lists get numbered names (`svc-0042`, `team-07`), so a
//! benchmark can ask for a thousand services.

/// Service names, in the order services are created; adjacent services share a team.
const SERVICES: [&str; 20] = [
    "checkout",
    "payments",
    "cart",
    "search",
    "catalog",
    "recommendations",
    "identity",
    "notifications",
    "inventory",
    "shipping",
    "pricing",
    "reviews",
    "billing",
    "orders",
    "gateway",
    "accounts",
    "media",
    "fraud",
    "analytics",
    "emails",
];

const TEAMS: [&str; 8] = ["commerce", "discovery", "platform", "fulfillment", "growth", "core", "data", "trust"];

/// Each team's working-hours offset from UTC, in hours.
const TEAM_UTC_OFFSETS: [f64; 8] = [0.0, 1.0, -5.0, 5.5, -8.0, 2.0, 9.0, -3.0];

const AUTHORS: [&str; 40] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy",
    "rupert", "sybil", "trent", "victor", "walter", "yara", "zoe", "amir", "bea", "chen", "dmitri", "elif", "farah", "goran",
    "hana", "ines", "jonas", "kemal", "lena", "marco", "noor", "oskar", "priya", "quinn", "rosa", "sven",
];

const VERBS: [&str; 10] = ["Fix", "Add", "Update", "Refactor", "Remove", "Improve", "Handle", "Simplify", "Tune", "Document"];

const SUBJECTS: [&str; 20] = [
    "retry logic",
    "request validation",
    "cache invalidation",
    "pagination",
    "error handling",
    "metrics labels",
    "feature flag cleanup",
    "database indexes",
    "timeout handling",
    "structured logging",
    "dependency versions",
    "rate limiting",
    "API docs",
    "config loading",
    "health checks",
    "integration tests",
    "connection pooling",
    "background jobs",
    "serialization",
    "access checks",
];

const SYMPTOMS: [&str; 8] = [
    "elevated 5xx rate",
    "p99 latency above SLO",
    "requests timing out",
    "error spike after deploy",
    "background jobs failing",
    "partial outage in one region",
    "queue backlog growing",
    "dependency calls failing",
];

/// The name of the service at `index`.
pub(crate) fn service(index: usize) -> String {
    SERVICES.get(index).map_or_else(|| format!("svc-{index:04}"), |name| (*name).to_owned())
}

/// The index of the team owning the service at `index`: services are split into contiguous
/// blocks, one per team.
pub(crate) fn team_index(index: usize, services: usize, teams: usize) -> usize {
    let teams = teams.max(1);
    index * teams / services.max(1)
}

/// The name of the team at `index`.
pub(crate) fn team(index: usize) -> String {
    TEAMS.get(index).map_or_else(|| format!("team-{index:02}"), |name| (*name).to_owned())
}

/// The team's working-hours offset from UTC, in hours.
pub(crate) fn utc_offset_hours(team: usize) -> f64 {
    TEAM_UTC_OFFSETS[team % TEAM_UTC_OFFSETS.len()]
}

/// The engineers of a team: seven handles, overlapping a little with the neighbouring teams.
pub(crate) fn authors(team: usize) -> Vec<&'static str> {
    (0..7).map(|k| AUTHORS[(team * 6 + k) % AUTHORS.len()]).collect()
}

/// A commit message or pull-request title.
pub(crate) fn message(verb: usize, subject: usize) -> String {
    format!("{} {}", VERBS[verb % VERBS.len()], SUBJECTS[subject % SUBJECTS.len()])
}

/// How many distinct messages [`message`] makes.
pub(crate) const MESSAGES: (usize, usize) = (VERBS.len(), SUBJECTS.len());

/// An incident symptom.
pub(crate) fn symptom(index: usize) -> &'static str {
    SYMPTOMS[index % SYMPTOMS.len()]
}

/// How many symptoms [`symptom`] knows.
pub(crate) const SYMPTOM_COUNT: usize = SYMPTOMS.len();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_services_come_first_then_numbered_ones() {
        assert_eq!(service(0), "checkout");
        assert_eq!(service(19), "emails");
        assert_eq!(service(42), "svc-0042");
        assert_eq!(team(2), "platform");
        assert_eq!(team(8), "team-08");
    }

    #[test]
    fn teams_own_contiguous_blocks_of_services() {
        let teams: Vec<usize> = (0..8).map(|i| team_index(i, 8, 3)).collect();
        assert_eq!(teams, [0, 0, 0, 1, 1, 1, 2, 2]);
        assert_eq!(team_index(5, 6, 0), 0, "zero teams means one team");
    }
}
