//! The analysis a read request names, with its filters, who owns which service, and the values
//! the filters take (environments, teams, services): what every route that reads the DORA
//! analysis starts from.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pacer_engine::dora::Analysis;

use crate::clock::now;
use crate::problem::Problem;
use crate::query::{Filters, Params};
use crate::state::AppState;

/// The analysis of the environment a request names, and its filters.
pub async fn analyze(state: &AppState, params: &Params) -> Result<(Arc<Analysis>, Filters), Problem> {
    let config = &state.config;
    let environment = params.one("environment")?.map_or_else(|| "production".to_owned(), |e| config.normalizer.environment(e));
    let analysis = state.analyses.get(&state.store, &environment, config.attribution_window, config.analysis_wait).await?;
    let filters = Filters::parse(params, config, now(), |team| team_services(state, &analysis, team))?;
    Ok((analysis, filters))
}

/// The services of a team: configured, or named as the team by their deployments.
pub fn team_services(state: &AppState, analysis: &Analysis, team: &str) -> BTreeSet<String> {
    let mut services = state.config.teams.get(team).cloned().unwrap_or_default();
    services.extend(analysis.team_services(team).into_iter().flatten().cloned());
    services
}

/// Service → its team: configured teams first, then the teams deployments name.
pub fn team_of_services(state: &AppState, analysis: &Analysis) -> BTreeMap<String, String> {
    let mut teams: Vec<String> = state.config.teams.keys().cloned().collect();
    teams.extend(analysis.teams().into_iter().map(str::to_owned).filter(|t| !state.config.teams.contains_key(t)));
    let mut owner = BTreeMap::new();
    for team in teams {
        for service in team_services(state, analysis, &team) {
            owner.entry(service).or_insert_with(|| team.clone());
        }
    }
    owner
}

/// The values a filter takes, sorted: `teams` (configured, or named by production deployments),
/// `environments` (every environment with data), and otherwise `services` (with a deployment or
/// an incident in any environment). Grafana's variables list them.
pub async fn scope_values(state: &AppState, name: &str) -> Result<Vec<String>, Problem> {
    let config = &state.config;
    Ok(match name {
        "teams" | "team" => {
            let environment = config.normalizer.environment("production");
            let analysis = state.analyses.get(&state.store, &environment, config.attribution_window, config.analysis_wait).await?;
            let mut teams: BTreeSet<String> = config.teams.keys().cloned().collect();
            teams.extend(analysis.teams().into_iter().map(str::to_owned));
            teams.into_iter().collect()
        }
        "environments" | "environment" => state.store.environments().await?,
        _ => {
            let mut services = BTreeSet::new();
            for environment in state.store.environments().await? {
                let analysis = state.analyses.get(&state.store, &environment, config.attribution_window, config.analysis_wait).await?;
                services.extend(analysis.services().into_iter().map(str::to_owned));
            }
            services.into_iter().collect()
        }
    })
}
