//! Which `[[notify]]` rules hear an event: its kind, environment, service, and team (the
//! deployment's own, or the `[teams]` the service belongs to). Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{ChatConfig, Rule};
use crate::event::Event;

/// Routes events to rules.
#[derive(Debug, Clone)]
pub struct Router {
    /// Each team's services, as configured.
    teams: BTreeMap<String, BTreeSet<String>>,
}

impl Router {
    /// A router that knows each team's services.
    pub fn new(teams: BTreeMap<String, BTreeSet<String>>) -> Self {
        Self { teams }
    }

    /// The rules of `config` that hear `event`.
    pub fn rules<'c>(&self, config: &'c ChatConfig, event: &Event) -> Vec<&'c Rule> {
        config.rules.iter().filter(|rule| self.hears(rule, event)).collect()
    }

    fn hears(&self, rule: &Rule, event: &Event) -> bool {
        let team_of = |team: &String| event.team.as_ref() == Some(team) || self.teams.get(team).is_some_and(|s| s.contains(&event.service));
        rule.events.contains(&event.kind)
            && rule.environments.contains(&event.environment)
            && (rule.services.is_empty() || rule.services.contains(&event.service))
            && (rule.teams.is_empty() || rule.teams.iter().any(team_of))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pacer_engine::model::Incident;

    use super::*;
    use crate::config::Channel;
    use crate::event::Kind;

    fn rule(name: &str, teams: &[&str], services: &[&str]) -> Rule {
        Rule {
            name: name.into(),
            channel: Channel::Slack,
            url: "https://example.com".into(),
            secret: None,
            events: [Kind::IncidentOpened].into(),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            teams: teams.iter().map(|s| (*s).to_owned()).collect(),
            environments: ["production".to_owned()].into(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_rule_hears_its_teams_services_in_its_environments() {
        let config = ChatConfig {
            base_url: String::new(),
            max_age: 0,
            max_attempts: 1,
            rules: vec![rule("all", &[], &[]), rule("payments", &["payments"], &[]), rule("web", &[], &["web"])],
        };
        let router = Router::new([("payments".to_owned(), ["checkout".to_owned()].into())].into());
        let incident = |service: &str, environment: &str| {
            Event::of_incident(&Incident {
                id: "i".into(),
                service: service.into(),
                environment: environment.into(),
                opened_at: 0,
                resolved_at: None,
                severity: None,
                title: None,
                url: None,
                deployment_id: None,
                commit_sha: None,
            })
        };
        let names = |event: &Event| router.rules(&config, event).iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&incident("checkout", "production")), ["all", "payments"]);
        assert_eq!(names(&incident("web", "production")), ["all", "web"]);
        assert!(names(&incident("checkout", "staging")).is_empty(), "production only by default");
    }
}
