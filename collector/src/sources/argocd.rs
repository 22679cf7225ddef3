//! Argo CD notifications: the Application a notification's template renders, turned into
//! deployments and incidents.
//!
//! Argo CD defines no webhook payload: its webhook service posts whatever the operator's template
//! renders (<https://argo-cd.readthedocs.io/en/stable/operator-manual/notifications/services/webhook/>).
//! pacer publishes its template (README, "Argo CD"): a JSON body `{"app": {…}, "context":
//! {"argocdUrl": …}}` whose `app` keeps the Application's own field paths, each value rendered
//! with Sprig's `toJson` so it is escaped. The whole Application (`"app": {{toJson .app}}`), or a
//! bare Application as the body, reads the same. The meaning comes from the Application's state,
//! not from the trigger that sent it, so one template serves every trigger:
//!
//! | state | facts |
//! |---|---|
//! | `status.operationState.phase` `Succeeded` | a `success` deployment of the synced revision, finished at `operationState.finishedAt` |
//! | phase `Failed` or `Error` | a `failure` deployment |
//! | phase `Running` or `Terminating` | ignored: a sync is recorded when it ends |
//! | `status.health.status` `Degraded` since the sync finished | also an incident naming that deployment (`deployment_id`) |
//!
//! The deployment id is `argocd:<app namespace>/<app name>/<revision>@<operationState.startedAt>`:
//! one per sync operation, so `on-sync-succeeded` and `on-deployed` of one sync, and Argo CD's
//! retries, are one deployment. The incident id is the deployment id with `/degraded`.
//!
//! A notification of health back to `Healthy` resolves nothing: it does not say the application
//! was degraded before, and a resolution of an incident pacer never saw would create one. Resolve
//! the incident by sending it with `resolved_at` to `POST /api/v1/events` under the same id.
//!
//! The service is the value of the configured `service_label`, else the application's name; the
//! environment the value of `environment_label`, else the destination namespace, else the
//! destination cluster's name or server; both then go through the configured [`Mapping`]s.

use serde_json::Value;

use pacer_engine::Millis;
use pacer_engine::model::{Deployment, DeploymentStatus, Fact, Incident};

use super::{Context, Doc, Mapping, Outcome, Parsed, ignored, is_sha};

/// What `[argocd]` configures for the parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgocdConfig {
    /// The Application label naming the service; the application's name when absent.
    pub service_label: Option<String>,
    /// The Application label naming the environment; the destination namespace when absent.
    pub environment_label: Option<String>,
    /// Application (or label value) → service, namespace (or label value) → environment.
    pub mapping: Mapping,
}

/// Parses one notification; `_event` is unused (the meaning is in the Application's state).
pub(crate) fn parse(_event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    // pacer's template nests the Application under `app`; a bare Application is read as is.
    let at = if payload.get("app").is_some() { "/app" } else { "" };
    let mut d = Doc::new(payload);
    let p = |path: &str| format!("{at}{path}");
    let name = d.req_str(&p("/metadata/name"));
    let phase = d.str(&p("/status/operationState/phase"));
    let health = d.str(&p("/status/health/status"));
    // The sync's outcome; none while it runs or without one (then only degraded health counts).
    let status = match phase {
        Some("Succeeded") => Some(DeploymentStatus::Success),
        Some("Failed" | "Error") => Some(DeploymentStatus::Failure),
        _ if health == Some("Degraded") => None,
        Some(other) => return ignored(format!("a sync in phase {other:?}: a sync is recorded when it ends")),
        None => return ignored("an application without a sync operation or degraded health"),
    };
    let revision = revision(&d, at);
    let Some(name) = name else { return Err(d.errors) };
    let app = App { namespace: d.str(&p("/metadata/namespace")).unwrap_or("argocd"), name: &name };
    let (service, environment) = place(&d, at, &app, cx);
    let mut facts = Vec::new();
    let deployment = if let Some(status) = status {
        let Some(revision) = revision.clone().or_else(|| d.req_str(&p("/status/operationState/syncResult/revision"))) else { return Err(d.errors) };
        let finished_at = d.req_time(&p("/status/operationState/finishedAt"));
        let started = d.str(&p("/status/operationState/startedAt"));
        let deployment = finished_at.map(|finished_at| Deployment {
            id: deployment_id(&app, &revision, started),
            service: service.clone(),
            environment: environment.clone(),
            commit_sha: is_sha(&revision).then(|| revision.to_ascii_lowercase()),
            version: (!is_sha(&revision)).then(|| revision.clone()),
            status,
            started_at: d.time(&p("/status/operationState/startedAt")),
            finished_at: Some(finished_at),
            commits: Vec::new(),
            rollback_of: None,
            unplanned: false,
            team: None,
            url: app_url(&d, &name),
        });
        let Some(deployment) = deployment else { return Err(d.errors) };
        facts.push(Fact::Deployment(deployment.clone()));
        Some(deployment)
    } else {
        None
    };
    if health == Some("Degraded") {
        // Degraded before the sync ended: the sync did not cause it.
        let since = d.time(&p("/status/health/lastTransitionTime"));
        let after_sync = match (since, deployment.as_ref().and_then(|d| d.finished_at)) {
            (Some(since), Some(finished)) => since >= finished,
            _ => true,
        };
        if after_sync {
            let opened_at = since.or_else(|| d.time(&p("/status/reconciledAt"))).or_else(|| d.req_time(&p("/status/health/lastTransitionTime")));
            let Some(revision) = revision.or_else(|| d.req_str(&p("/status/sync/revision"))) else { return Err(d.errors) };
            let Some(opened_at) = opened_at else { return Err(d.errors) };
            facts.push(Fact::Incident(degraded(&app, &revision, deployment.as_ref(), opened_at, service, environment, &d)));
        }
    }
    d.finish(Some(Parsed::Facts(facts)))
}

/// The application a notification is about.
struct App<'a> {
    namespace: &'a str,
    name: &'a str,
}

/// The revision synced: the operation's result, else what it was asked to sync, else the
/// application's synced revision (the first of several sources).
fn revision(d: &Doc<'_>, at: &str) -> Option<String> {
    [
        "/status/operationState/syncResult/revision",
        "/status/operationState/syncResult/revisions/0",
        "/status/operationState/operation/sync/revision",
        "/status/sync/revision",
        "/status/sync/revisions/0",
    ]
    .iter()
    .find_map(|path| d.string(&format!("{at}{path}")))
}

/// The application's page in Argo CD, when the template sends `context.argocdUrl`.
fn app_url(d: &Doc<'_>, name: &str) -> Option<String> {
    d.str("/context/argocdUrl").map(|base| format!("{}/applications/{name}", base.trim_end_matches('/')))
}

/// One deployment per application, revision and sync operation (its start time as sent).
fn deployment_id(app: &App<'_>, revision: &str, started: Option<&str>) -> String {
    let operation = started.map(|s| format!("@{s}")).unwrap_or_default();
    format!("argocd:{}/{}/{revision}{operation}", app.namespace, app.name)
}

/// The service and environment of the application (see the module docs).
fn place(d: &Doc<'_>, at: &str, app: &App<'_>, cx: &Context<'_>) -> (String, String) {
    let config = &cx.config.argocd;
    let label = |key: &Option<String>| {
        let key = key.as_deref()?;
        d.value(&format!("{at}/metadata/labels"))?.get(key)?.as_str().map(str::trim).filter(|v| !v.is_empty())
    };
    let service = label(&config.service_label).unwrap_or(app.name);
    let environment = label(&config.environment_label)
        .or_else(|| ["namespace", "name", "server"].iter().find_map(|field| d.str(&format!("{at}/spec/destination/{field}"))))
        .unwrap_or("production");
    (config.mapping.service(service), config.mapping.environment(environment, cx.normalizer))
}

/// The incident of a degraded application, naming the sync's deployment when there is one.
fn degraded(app: &App<'_>, revision: &str, deployment: Option<&Deployment>, opened_at: Millis, service: String, environment: String, d: &Doc<'_>) -> Incident {
    let cause = deployment.map(|dep| dep.id.clone());
    let id = format!("{}/degraded", cause.clone().unwrap_or_else(|| deployment_id(app, revision, None)));
    Incident {
        id,
        service,
        environment,
        opened_at,
        resolved_at: None,
        severity: None,
        title: Some(format!("Argo CD application {} is degraded", app.name)),
        url: app_url(d, app.name),
        deployment_id: cause,
        commit_sha: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::Normalizer;
    use crate::sources::{Source, SourceConfig};

    const SHA: &str = "ea8759964626a583667a2bfd08f334ec2070040a";

    fn app(phase: Option<&str>, health: &str, since: Option<&str>) -> Value {
        let mut status = json!({"sync": {"revision": SHA}, "health": {"status": health}, "reconciledAt": "2024-03-05T07:40:00Z"});
        if let Some(phase) = phase {
            status["operationState"] = json!({"phase": phase, "startedAt": "2024-03-05T07:33:03Z", "finishedAt": "2024-03-05T07:33:04Z",
                                               "syncResult": {"revision": SHA}});
        }
        if let Some(since) = since {
            status["health"]["lastTransitionTime"] = json!(since);
        }
        json!({"app": {"metadata": {"name": "checkout", "namespace": "argocd", "labels": {"team": "pay", "env": "prod"}},
                       "spec": {"destination": {"name": "gke", "namespace": "shop-staging"}}, "status": status},
               "context": {"argocdUrl": "https://argocd.example.com/"}})
    }

    fn parse_with(payload: &Value, config: &SourceConfig) -> Outcome {
        let normalizer = Normalizer::default();
        crate::sources::parse(Source::Argocd, "application", payload, &Context { normalizer: &normalizer, config })
    }

    fn facts(payload: &Value) -> Vec<Fact> {
        match parse_with(payload, &SourceConfig::default()) {
            Ok(Parsed::Facts(facts)) => facts,
            other => panic!("{other:?}"),
        }
    }

    fn only_deployment(payload: &Value) -> Deployment {
        match facts(payload).as_slice() {
            [Fact::Deployment(d)] => d.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sync_phase_maps_to_a_deployment_status_and_the_id_is_per_operation() {
        let ok = only_deployment(&app(Some("Succeeded"), "Healthy", None));
        assert_eq!(ok.id, format!("argocd:argocd/checkout/{SHA}@2024-03-05T07:33:03Z"));
        assert_eq!((ok.status, ok.commit_sha.as_deref(), ok.environment.as_str()), (DeploymentStatus::Success, Some(SHA), "shop-staging"));
        assert_eq!(ok.url.as_deref(), Some("https://argocd.example.com/applications/checkout"));
        // on-sync-succeeded (still progressing) and on-deployed (healthy) of one sync: one deployment.
        assert_eq!(facts(&app(Some("Succeeded"), "Progressing", None)), vec![Fact::Deployment(ok.clone())]);
        let failed = only_deployment(&app(Some("Error"), "Healthy", None));
        assert_eq!((failed.status, &failed.id), (DeploymentStatus::Failure, &ok.id));
        assert!(matches!(parse_with(&app(Some("Running"), "Progressing", None), &SourceConfig::default()), Ok(Parsed::Ignored(_))));
    }

    #[test]
    fn degraded_health_after_the_sync_opens_an_incident_naming_its_deployment() {
        let facts = facts(&app(Some("Succeeded"), "Degraded", Some("2024-03-05T07:35:00Z")));
        let [Fact::Deployment(d), Fact::Incident(i)] = facts.as_slice() else { panic!("{facts:?}") };
        assert_eq!((i.deployment_id.as_ref(), i.id.clone()), (Some(&d.id), format!("{}/degraded", d.id)));
        assert_eq!(i.opened_at, 1_709_624_100_000, "opened when the health changed");
        // Degraded already before the sync ended: no incident blamed on it.
        let before = self::facts(&app(Some("Succeeded"), "Degraded", Some("2024-03-05T07:00:00Z")));
        assert!(matches!(before.as_slice(), [Fact::Deployment(_)]), "{before:?}");
    }

    #[test]
    fn labels_and_mappings_choose_the_service_and_environment() {
        let mapping = Mapping { services: [("pay".to_owned(), "payments".to_owned())].into(), environments: Default::default() };
        let argocd = ArgocdConfig { service_label: Some("team".into()), environment_label: Some("env".into()), mapping };
        let config = SourceConfig { argocd, ..SourceConfig::default() };
        let Ok(Parsed::Facts(facts)) = parse_with(&app(Some("Succeeded"), "Healthy", None), &config) else { panic!("facts") };
        let Fact::Deployment(d) = &facts[0] else { panic!("a deployment") };
        assert_eq!((d.service.as_str(), d.environment.as_str()), ("payments", "production"), "label prod is an alias of production");
    }

    #[test]
    fn a_chart_version_is_a_version_not_a_commit() {
        let mut payload = app(Some("Succeeded"), "Healthy", None);
        payload["app"]["status"]["operationState"]["syncResult"]["revision"] = json!("6.6.1");
        let Fact::Deployment(d) = &facts(&payload)[0] else { panic!("a deployment") };
        assert_eq!((d.commit_sha.as_deref(), d.version.as_deref()), (None, Some("6.6.1")));
    }
}
